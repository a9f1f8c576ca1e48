"""Generation throughput on a GPU with a Qwen2.5-0.5B-sized model of random weights.

Usage (on a machine with CUDA; see bench/gpu.sh, which also sets up the packages):
    python bench/gpu.py [--chunk-sizes 16,32,64,128,256] [--max-new-tokens 64]
        [--tokenizer FOLDER] [--device cuda] [--layers 24]

No weights are downloaded: the model is built from a Qwen2 configuration with the sizes
of Qwen2.5-0.5B (24 layers, hidden size 896, 14 attention heads, 2 key/value heads) and
random weights, in bfloat16. It uses the default model's tokenizer, so the vocabulary is
SmolLM2's 49,152 tokens instead of Qwen's 151,936: the embedding and output layers are
smaller than Qwen2.5-0.5B's. Random weights rarely produce an end-of-turn token, so rows
mostly run to max_new_tokens; the figure is decode throughput, not the length mix of real
copy. The worker's own generation path (continuous batching) does the work.

``--device cpu --layers 2`` runs the same code on a CPU in seconds, to check the script
itself; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from contentgen.generation import GenerationInput
from contentgen.generation.transformers import (
    ModelSource,
    TransformersGenerator,
    converted_folder,
    resolve_model,
)
from contentgen.settings import Settings

PROMPT = (
    "Write one Google Ads headline for a waterproof hiking boot for weekend hikers. "
    "Reply with the headline only."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-sizes", default="16,32,64,128,256")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--tokenizer",
        help="folder with tokenizer.json and tokenizer_config.json "
        "(default: the converted default model in CONTENTGEN_MODEL_CACHE_DIR)",
    )
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--layers", type=int, default=24, help="decoder layers (default 24)")
    arguments = parser.parse_args()
    chunk_sizes = [int(size) for size in arguments.chunk_sizes.split(",")]
    device = torch.device(arguments.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"torch {torch.__version__} sees no CUDA device: run this on a GPU machine, "
            "or pass --device cpu to check the script"
        )

    tokenizer = AutoTokenizer.from_pretrained(arguments.tokenizer or default_tokenizer_folder())
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=896, intermediate_size=4864,
        num_hidden_layers=arguments.layers, num_attention_heads=14, num_key_value_heads=2,
        max_position_embeddings=32768, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=torch.bfloat16).eval()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    parameters = sum(parameter.numel() for parameter in model.parameters())
    print(
        f"{name}, torch {torch.__version__}, {arguments.layers} layers, "
        f"{parameters / 1e6:.0f} M parameters, bfloat16, max_new_tokens={arguments.max_new_tokens}"
    )

    source = ModelSource(folder="", name="qwen2.5-0.5b-sized-random", revision="random")
    for chunk_size in chunk_sizes:
        generator = TransformersGenerator(model, tokenizer, source, device, batch_width=chunk_size)
        # Distinct prompts that share their first tokens, as a chunk of one channel does.
        inputs = [
            GenerationInput(f"{PROMPT} Variant {index + 1}.", arguments.max_new_tokens)
            for index in range(chunk_size)
        ]
        generator.generate(inputs[: min(4, chunk_size)])  # warm-up
        synchronize(device)
        started = time.perf_counter()
        outputs = generator.generate(inputs)
        synchronize(device)
        elapsed = time.perf_counter() - started
        tokens = sum(output.output_tokens for output in outputs)
        print(f"chunk {chunk_size:4d}: {tokens / elapsed:9.0f} tokens/s ({tokens} tokens in {elapsed:.2f} s)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def default_tokenizer_folder() -> str:
    settings = Settings()
    return str(converted_folder(resolve_model(settings.model), settings.model_cache_dir))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
