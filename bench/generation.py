"""Compare the naive way of generating with the worker's generation path, side by side.

Usage:
    python bench/generation.py [--prompts 128] [--max-new-tokens 64]
                               [--configs 32:32,64:32,64:64] [--dtypes float32,bfloat16]
                               [--naive-prompts 16]

Both ways use the same prompts (ad copy rendered from the shipped templates for the example
boot-launch campaign, with more audience segments), greedy decoding and natural stopping at
the end-of-turn token. "Useful tokens" are the tokens before the stop token, the text a
draft keeps.

- naive: one prompt at a time through ``model.generate`` in float32.
- worker: ``TransformersGenerator.generate`` on chunks of one channel each, as a worker
  gets them from ``pending_chunks``, for each dtype and each CHUNK_SIZE:BATCH_WIDTH pair.

Each way first runs once untimed (one prompt, or the first chunk of a configuration), as a
long-running worker has done, so one-time kernel setup is not counted. The naive way runs
on the first ``--naive-prompts`` prompts only (it is slow); its rate is tokens per second
either way. Prints one line per configuration and the ratio to naive.
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
EXAMPLE = REPOSITORY / "examples" / "outdoor-boot-launch.yaml"
CHANNELS = ["google_ads_headline", "meta_primary_text"]
VARIANTS = 4
AUDIENCES = [
    "Weekend hikers", "Long-distance hikers", "Trail runners", "Parents hiking with kids",
    "Dog walkers on rural paths", "Hunters and anglers", "Scout leaders", "Hiking beginners",
    "Peak baggers", "Rainy-city commuters", "Festival campers", "Retired walkers",
    "Mountain guides", "Photographers on location", "Gap-year backpackers", "Birdwatchers",
]  # fmt: skip


def build_chunks(
    count: int, chunk_sizes: list[int]
) -> tuple[list[str], dict[int, list[list[int]]]]:
    """Render ``count`` ad-copy prompts and split them into chunks the way a worker gets them.

    The campaign is the shipped boot-launch example with more audience segments: two
    channels x 4 variants per segment. Chunks come from ``pending_chunks``, so each contains one
    channel, as on a worker. Returns the prompts in request order and, for each chunk size,
    the chunks as indexes into that list.
    """
    import tempfile

    import yaml
    from sqlalchemy import select

    from contentgen import db
    from contentgen.batches import pending_chunks
    from contentgen.dispatch import submit
    from contentgen.models import GenerationRequest
    from contentgen.settings import get_settings
    from contentgen.templates import sync_templates

    data = yaml.safe_load(EXAMPLE.read_text())
    campaign = data["campaigns"][0]
    segments = -(-count // (len(CHANNELS) * VARIANTS))
    campaign.pop("schedule", None)
    campaign["channels"] = CHANNELS
    campaign["variants"] = VARIANTS
    campaign["segments"] = [
        {"key": f"segment-{index}", "name": AUDIENCES[index % len(AUDIENCES)]}
        for index in range(segments)
    ]

    folder = Path(tempfile.mkdtemp(prefix="contentgen-bench-"))
    (folder / "campaign.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    os.environ["CONTENTGEN_DATABASE_URL"] = f"sqlite:///{folder}/bench.db"
    get_settings.cache_clear()
    db.reset_engine()
    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
    submit([folder / "campaign.yaml"])

    with db.session_scope() as session:
        rows = session.execute(
            select(GenerationRequest.id, GenerationRequest.prompt, GenerationRequest.batch_id)
            .order_by(GenerationRequest.id)
            .limit(count)
        ).all()
        index_of = {row.id: index for index, row in enumerate(rows)}
        chunks = {
            size: [
                [index_of[request_id] for request_id in chunk if request_id in index_of]
                for chunk in pending_chunks(session, rows[0].batch_id, size)
            ]
            for size in chunk_sizes
        }
    prompts = [row.prompt for row in rows]
    return prompts, {size: [chunk for chunk in found if chunk] for size, found in chunks.items()}


def run_naive(
    generator: TransformersGenerator, prompts: list[str], max_new_tokens: int
) -> tuple[int, float]:
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
            (
                position
                for position, token in enumerate(new_tokens)
                if token in generator.stop_token_ids
            ),
            len(new_tokens),
        )
    return useful, time.perf_counter() - started


def run_worker_path(
    generator: TransformersGenerator,
    prompts: list[str],
    chunks: list[list[int]],
    max_new_tokens: int,
) -> tuple[int, float]:
    useful = 0
    started = time.perf_counter()
    for chunk in chunks:
        outputs = generator.generate(
            [GenerationInput(prompts[index], max_new_tokens) for index in chunk]
        )
        useful += sum(output.output_tokens for output in outputs)
    return useful, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--naive-prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--configs", default="32:32,64:32,64:64", help="CHUNK_SIZE:BATCH_WIDTH pairs"
    )
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--device", default="auto")
    arguments = parser.parse_args()

    configs = [
        tuple(int(part) for part in pair.split(":")) for pair in arguments.configs.split(",")
    ]
    prompts, chunks_by_size = build_chunks(arguments.prompts, sorted({size for size, _ in configs}))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(prompts)} prompts, "
        f"max_new_tokens={arguments.max_new_tokens}, greedy, natural stopping"
    )

    started = time.perf_counter()
    baseline_generator = TransformersGenerator.load(
        Settings(device=arguments.device, dtype="float32")
    )
    print(f"model load from the converted cache: {time.perf_counter() - started:.1f} s")
    run_naive(baseline_generator, prompts[:1], arguments.max_new_tokens)
    useful, elapsed = run_naive(
        baseline_generator, prompts[: arguments.naive_prompts], arguments.max_new_tokens
    )
    naive_rate = useful / elapsed
    print(
        f"naive, one prompt at a time, float32: {naive_rate:7.1f} useful tokens/s "
        f"({useful} tokens in {elapsed:.1f} s, {arguments.naive_prompts} prompts)"
    )

    for dtype in arguments.dtypes.split(","):
        generator = (
            baseline_generator if dtype == "float32"
            else TransformersGenerator.load(Settings(device=arguments.device, dtype=dtype))
        )  # fmt: skip
        for chunk_size, width in configs:
            generator.batch_width = width
            chunks = chunks_by_size[chunk_size]
            run_worker_path(generator, prompts, chunks[:1], arguments.max_new_tokens)
            useful, elapsed = run_worker_path(generator, prompts, chunks, arguments.max_new_tokens)
            rate = useful / elapsed
            print(
                f"worker path, {dtype:8s} chunk {chunk_size:3d} width {width:3d}: {rate:7.1f} "
                f"useful tokens/s ({useful} tokens in {elapsed:.1f} s) = {rate / naive_rate:5.1f}x naive"
            )


if __name__ == "__main__":
    main()
