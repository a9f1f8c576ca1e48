"""Generation throughput on a GPU with a Qwen2.5-0.5B-sized model of random weights.

Usage (on a machine with CUDA; see bench/gpu.sh):
    python bench/gpu.py [--chunk-sizes 16,32,64,128,256] [--max-new-tokens 64]

No weights are downloaded: the model is built from a Qwen2 configuration with the sizes
of Qwen2.5-0.5B (24 layers, hidden size 896, 14 attention heads, 2 key/value heads) and
random weights, in bfloat16. It uses the default model's tokenizer, so the vocabulary is
SmolLM2's 49,152 tokens instead of Qwen's 151,936: the embedding and output layers are
smaller than Qwen2.5-0.5B's. Random weights rarely produce an end-of-turn token, so rows
mostly run to max_new_tokens; the figure is decode throughput, not the length mix of real
copy. The worker's own generation path (continuous batching) does the work.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from contentgen.generation import GenerationInput  # noqa: E402
from contentgen.generation.transformers import (  # noqa: E402
    ModelSource,
    TransformersGenerator,
    converted_folder,
    resolve_model,
)
from contentgen.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-sizes", default="16,32,64,128,256")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    arguments = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine")

    settings = Settings()
    tokenizer = AutoTokenizer.from_pretrained(converted_folder(resolve_model(settings.model), settings.model_cache_dir))
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device="cuda", dtype=torch.bfloat16).eval()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters, bfloat16")

    prompt = "Write one Google Ads headline for a waterproof hiking boot. Reply with the headline only."
    source = ModelSource(folder="", name="qwen2.5-0.5b-sized-random", revision="random")
    for chunk_size in (int(size) for size in arguments.chunk_sizes.split(",")):
        generator = TransformersGenerator(model, tokenizer, source, torch.device("cuda"), batch_width=chunk_size)
        inputs = [GenerationInput(f"{index}. {prompt}", arguments.max_new_tokens) for index in range(chunk_size)]
        generator.generate(inputs[:4])  # warm-up
        torch.cuda.synchronize()
        started = time.perf_counter()
        outputs = generator.generate(inputs)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        tokens = sum(output.output_tokens for output in outputs)
        print(f"chunk {chunk_size:4d}: {tokens / elapsed:9.0f} tokens/s ({tokens} tokens in {elapsed:.2f} s)")


if __name__ == "__main__":
    main()
