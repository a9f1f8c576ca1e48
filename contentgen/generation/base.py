"""The generator interface and the values that cross it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class GenerationInput:
    """One prompt and the sampling parameters for it."""

    prompt: str
    max_new_tokens: int
    # 0 means greedy decoding, and seed and top_p are then unused.
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    # One-line copy, of which only the first line is kept: a backend may end the output at
    # the first line break that follows text, instead of generating lines that are discarded.
    single_line: bool = False


@dataclass(frozen=True)
class GenerationOutput:
    """The text for one input, or the reason there is none."""

    text: str = ""
    prompt_tokens: int = 0
    output_tokens: int = 0
    # "stop" when the model ended its turn, "length" when max_new_tokens cut it off, "line"
    # when one-line copy reached the end of its first line, "repetition" when the output
    # started repeating itself and was stopped.
    finish_reason: str = "stop"
    # Why this input has no text, e.g. a prompt too long for the model's context. The other
    # inputs of the same call are unaffected.
    error: str | None = None
    # Mean natural-log probability of the output tokens under the model's own distribution
    # (before temperature and top-p); None when the backend does not report it.
    mean_logprob: float | None = None


class OutOfMemory(Exception):
    """The device ran out of memory during a batched call; a smaller batch may fit."""


class Generator(Protocol):
    """A loaded model that writes text for prompts in batches."""

    model_name: str
    model_revision: str

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        """Generate one output per input, in the same order, in one batched call.

        Raises:
            OutOfMemory: if the batch did not fit on the device.
        """
        ...
