"""Compare the naive way of generating with the worker's generation path, side by side.

Usage:
    python bench/generation.py [--prompts 64] [--max-new-tokens 64] [--chunk-sizes 16,32,64]
                               [--dtypes float32,bfloat16] [--naive-prompts 16]

Both ways use the same prompts (ad copy rendered from the shipped templates and the example
campaigns), greedy decoding and natural stopping at the end-of-turn token. "Useful tokens"
are the tokens before the stop token, the text a draft keeps.

- naive: one prompt at a time through ``model.generate`` in float32.
- worker: ``TransformersGenerator.generate`` on chunks, exactly as a worker calls it, for
  each dtype and chunk size given.

The naive way runs on the first ``--naive-prompts`` prompts only (it is slow); its rate is
tokens per second either way. Prints one line per configuration and the ratio to naive.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from contentgen.generation import GenerationInput  # noqa: E402
from contentgen.generation.transformers import TransformersGenerator  # noqa: E402
from contentgen.settings import Settings  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
CHANNELS = ("google_ads_headline", "google_ads_description", "meta_primary_text", "email_subject")


def build_prompts(count: int) -> list[str]:
    """Render ``count`` ad-copy prompts from the example campaigns and shipped templates."""
    import tempfile

    from contentgen import db
    from contentgen.dispatch import submit
    from contentgen.models import GenerationRequest
    from contentgen.settings import get_settings
    from contentgen.templates import sync_templates

    folder = tempfile.mkdtemp(prefix="contentgen-bench-")
    os.environ["CONTENTGEN_DATABASE_URL"] = f"sqlite:///{folder}/bench.db"
    get_settings.cache_clear()
    db.reset_engine()
    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
    submit([REPOSITORY / "examples" / "outdoor-boot-launch.yaml"])

    from sqlalchemy import select

    with db.session_scope() as session:
        prompts = list(
            session.scalars(
                select(GenerationRequest.prompt)
                .where(GenerationRequest.channel.in_(CHANNELS))
                .order_by(GenerationRequest.id)
            )
        )
    # The example has 24 requests; later copies get a distinct first line, so every
    # prompt is a different sequence.
    return [
        prompts[index % len(prompts)] if index < len(prompts)
        else f"Variant {index // len(prompts) + 1}.\n{prompts[index % len(prompts)]}"
        for index in range(count)
    ]  # fmt: skip


def run_naive(generator: TransformersGenerator, prompts: list[str], max_new_tokens: int) -> tuple[int, float]:
    """Generate one prompt at a time, the way a first script would."""
    model, tokenizer = generator.model, generator.tokenizer
    useful = 0
    started = time.perf_counter()
    for prompt in prompts:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False,
                eos_token_id=generator.stop_token_ids, pad_token_id=generator.pad_token_id,
            )  # fmt: skip
        new_tokens = output[0, encoded["input_ids"].shape[1] :].tolist()
        useful += next(
            (position for position, token in enumerate(new_tokens) if token in generator.stop_token_ids),
            len(new_tokens),
        )
    return useful, time.perf_counter() - started


def run_worker_path(
    generator: TransformersGenerator, prompts: list[str], max_new_tokens: int, chunk_size: int
) -> tuple[int, float]:
    inputs = [GenerationInput(prompt, max_new_tokens) for prompt in prompts]
    useful = 0
    started = time.perf_counter()
    for start in range(0, len(inputs), chunk_size):
        outputs = generator.generate(inputs[start : start + chunk_size])
        useful += sum(output.output_tokens for output in outputs)
    return useful, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--naive-prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--chunk-sizes", default="16,32,64")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--device", default="auto")
    arguments = parser.parse_args()

    prompts = build_prompts(arguments.prompts)
    chunk_sizes = [int(size) for size in arguments.chunk_sizes.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(prompts)} prompts, "
          f"max_new_tokens={arguments.max_new_tokens}, greedy, natural stopping")

    started = time.perf_counter()
    baseline_generator = TransformersGenerator.load(Settings(device=arguments.device, dtype="float32"))
    print(f"model load from the converted cache: {time.perf_counter() - started:.1f} s")
    useful, elapsed = run_naive(baseline_generator, prompts[: arguments.naive_prompts], arguments.max_new_tokens)
    naive_rate = useful / elapsed
    print(f"naive, one prompt at a time, float32: {naive_rate:7.1f} useful tokens/s "
          f"({useful} tokens in {elapsed:.1f} s, {arguments.naive_prompts} prompts)")

    for dtype in arguments.dtypes.split(","):
        generator = (
            baseline_generator if dtype == "float32"
            else TransformersGenerator.load(Settings(device=arguments.device, dtype=dtype))
        )  # fmt: skip
        run_worker_path(generator, prompts[:4], 8, 4)  # warm-up
        for chunk_size in chunk_sizes:
            useful, elapsed = run_worker_path(generator, prompts, arguments.max_new_tokens, chunk_size)
            rate = useful / elapsed
            print(f"worker path, {dtype:8s} chunk {chunk_size:3d}: {rate:7.1f} useful tokens/s "
                  f"({useful} tokens in {elapsed:.1f} s) = {rate / naive_rate:5.1f}x naive")


if __name__ == "__main__":
    main()
