"""Text generation backends behind one interface.

A backend takes a list of prompts and returns one output per prompt, in order, from a
single batched call. ``create_generator`` picks the backend the settings name.
"""

from __future__ import annotations

import importlib
import logging

from contentgen.errors import InfrastructureError
from contentgen.generation.base import (
    GenerationInput,
    GenerationOutput,
    Generator,
    OutOfMemory,
)
from contentgen.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "GenerationInput",
    "GenerationOutput",
    "Generator",
    "OutOfMemory",
    "create_generator",
    "get_generator",
]


def create_generator(settings: Settings) -> Generator:
    """Load the backend and model the settings name; this can take seconds.

    Raises:
        InfrastructureError: if they cannot be loaded, with the reason and the settings to
            check; an unexpected error of torch or of a custom factory included.
    """
    try:
        return _create(settings)
    except InfrastructureError:
        raise
    except Exception as error:
        # torch raises AssertionError for CONTENTGEN_DEVICE=cuda on a build without CUDA,
        # and a custom factory may raise anything.
        logger.debug("loading generator %s failed", settings.generator, exc_info=True)
        raise InfrastructureError(
            f"loading the generator failed ({type(error).__name__}: {error}); check "
            f"CONTENTGEN_GENERATOR ({settings.generator}), CONTENTGEN_MODEL and "
            f"CONTENTGEN_DEVICE ({settings.device})"
        ) from error


def _create(settings: Settings) -> Generator:
    if settings.generator == "null":
        from contentgen.generation.null import NullGenerator

        return NullGenerator()
    if ":" in settings.generator:
        return _import_factory(settings.generator)(settings)

    from contentgen.generation.transformers import TransformersGenerator

    return TransformersGenerator.load(settings)


_process_generators: dict[tuple[str, ...], Generator] = {}


def get_generator(settings: Settings) -> Generator:
    """Return this process's generator for ``settings``, loading the model on first use.

    A worker keeps one model for its lifetime; loading it per task would cost seconds.
    """
    key = (settings.generator, settings.model, settings.device, settings.dtype)
    if key not in _process_generators:
        _process_generators[key] = create_generator(settings)
    return _process_generators[key]


def _import_factory(path: str):
    module_name, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InfrastructureError(
            f'generator "{path}" cannot be imported ({error}); set CONTENTGEN_GENERATOR to '
            '"transformers", "null" or an importable "package.module:factory"'
        ) from None
