"""A backend that returns a fixed text at once, for measuring everything around the model."""

from __future__ import annotations

from collections.abc import Sequence

from contentgen.generation.base import GenerationInput, GenerationOutput

NULL_TEXT = "Placeholder copy from the null generator."


class NullGenerator:
    model_name = "null"
    model_revision = "0"

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        return [
            GenerationOutput(
                text=NULL_TEXT,
                prompt_tokens=len(item.prompt.split()),
                output_tokens=len(NULL_TEXT.split()),
            )
            for item in inputs
        ]
