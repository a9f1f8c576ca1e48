"""Generators for fault tests, loaded by real worker processes through CONTENTGEN_GENERATOR."""

from __future__ import annotations

import os
import signal
import time

from contentgen.generation import GenerationOutput
from contentgen.generation.null import NullGenerator


class SlowGenerator(NullGenerator):
    """The null generator, taking two seconds per call so a test can kill a worker mid-chunk."""

    def generate(self, inputs):
        time.sleep(2)
        return super().generate(inputs)


class PoisonGenerator(NullGenerator):
    """Kills its own process whenever a prompt contains POISON, like a crash in native code."""

    def generate(self, inputs):
        if any("POISON" in item.prompt for item in inputs):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().generate(inputs)


class InterruptedGenerator(NullGenerator):
    """Raises KeyboardInterrupt on its second call, as Ctrl+C in the middle of a batch would."""

    def __init__(self):
        self.calls = 0

    def generate(self, inputs):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return super().generate(inputs)


def interrupted(_settings):
    return InterruptedGenerator()


def slow(_settings):
    return SlowGenerator()


def poison(_settings):
    return PoisonGenerator()


class OutOfMemoryAboveTwo(NullGenerator):
    """Raises torch's CUDA out-of-memory error for any call with more than two prompts."""

    def generate(self, inputs):
        import torch

        if len(inputs) > 2:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory with {len(inputs)} rows (simulated)")
        return super().generate(inputs)


def out_of_memory_above_two(_settings):
    return OutOfMemoryAboveTwo()


class VerySlowGenerator(NullGenerator):
    def generate(self, inputs):
        time.sleep(6)
        return super().generate(inputs)


def very_slow(_settings):
    return VerySlowGenerator()


class ErroringGenerator(NullGenerator):
    """Returns an error for every input, as a backend does for a prompt it cannot run."""

    def generate(self, inputs):
        return [GenerationOutput(error="simulated backend failure") for _ in inputs]


def erroring(_settings):
    return ErroringGenerator()


def broken(_settings):
    """A factory with a bug of its own, as a custom backend may have."""
    raise TypeError("unsupported option 'temperatur'")


class SegmentFailingGenerator(NullGenerator):
    """Raises a chained error for every call with a prompt for the segment "Long-distance
    hikers" of examples/outdoor-boot-launch.yaml, as a backend with a bug does."""

    def generate(self, inputs):
        if any("Long-distance hikers" in item.prompt for item in inputs):
            try:
                raise KeyError("stop_sequences")
            except KeyError as error:
                raise RuntimeError("backend cannot run this prompt") from error
        return super().generate(inputs)


def failing_segment(_settings):
    return SegmentFailingGenerator()


class CancellingGenerator(NullGenerator):
    """Cancels every unfinished batch on its first call, as someone running contentgen batch
    cancel while the batch generates would."""

    def __init__(self):
        self.called = False

    def generate(self, inputs):
        if not self.called:
            self.called = True
            from sqlalchemy import select

            from contentgen import db
            from contentgen.batches import cancel_batch
            from contentgen.models import Batch, BatchStatus

            with db.session_scope() as session:
                unfinished = (BatchStatus.PENDING, BatchStatus.RUNNING)
                for batch_id in session.scalars(select(Batch.id).where(Batch.status.in_(unfinished))).all():
                    cancel_batch(session, batch_id)
        return super().generate(inputs)


def cancelling(_settings):
    return CancellingGenerator()
