"""The decode loop on tiny random models that the tests build: other architectures than the
default model's, a sliding-window cache, and prompts that share a long prefix."""

import pytest
import torch
from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

from contentgen.generation._continuous import MIN_SHARED_PREFIX, generate_continuous

STOP = 0
PAD = 1


def greedy(rows, logits):
    return logits.argmax(dim=-1)


def tiny(model_class, config_class, **extra):
    torch.manual_seed(0)
    config = config_class(
        vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        initializer_range=0.5, attn_implementation="sdpa", **extra,
    )  # fmt: skip
    return model_class(config).eval()


def prompts_with_shared_prefix() -> list[list[int]]:
    prefix = [(7 * position) % 60 + 2 for position in range(MIN_SHARED_PREFIX + 8)]
    return [prefix + [5, 9, 11], prefix + [13], prefix + [17, 19, 23, 29, 31], prefix + [37, 41]]


def run(model, prompts, limits, width):
    with torch.inference_mode():
        return generate_continuous(model, prompts, limits, greedy, {STOP}, PAD, width=width)


MODELS = {
    "qwen2": lambda: tiny(Qwen2ForCausalLM, Qwen2Config),
    "mistral sliding window": lambda: tiny(MistralForCausalLM, MistralConfig, sliding_window=8),
}


@pytest.mark.parametrize("name", MODELS)
def test_tiny_model_batch_equals_single(name):
    model = MODELS[name]()
    prompts = prompts_with_shared_prefix()
    limits = [6, 12, 9, 4]

    together = run(model, prompts, limits, width=2)
    alone = [
        run(model, [prompt], [limit], width=1)[0]
        for prompt, limit in zip(prompts, limits, strict=True)
    ]

    for index, (batched, single) in enumerate(zip(together, alone, strict=True)):
        assert batched.tokens == single.tokens, f"{name}, prompt {index}"
        assert batched.finish_reason == single.finish_reason, f"{name}, prompt {index}"
        assert len(batched.tokens) <= limits[index]


def test_tiny_model_rows_reach_their_limits():
    model = MODELS["qwen2"]()
    prompts = prompts_with_shared_prefix()
    limits = [3, 7, 1, 5]
    results = run(model, prompts, limits, width=4)
    for result, limit in zip(results, limits, strict=True):
        assert len(result.tokens) == limit or result.finish_reason == "stop"
        assert len(result.logprobs) == len(result.tokens)


def test_row_ends_finishes_only_that_row():
    model = MODELS["qwen2"]()
    prompts = prompts_with_shared_prefix()
    limits = [12, 12, 12, 12]
    counts = [0] * len(prompts)

    def third_token_of_row_1(row, token):
        counts[row] += 1
        return "line" if row == 1 and counts[row] == 3 else None

    with torch.inference_mode():
        free = generate_continuous(model, prompts, limits, greedy, {STOP}, PAD, width=4)
        ended = generate_continuous(model, prompts, limits, greedy, {STOP}, PAD, width=4,
                                    row_ends=third_token_of_row_1)  # fmt: skip
    assert len(free[1].tokens) > 3
    assert ended[1].tokens == free[1].tokens[:3]
    assert ended[1].finish_reason == "line"
    for row in (0, 2, 3):
        assert ended[row].tokens == free[row].tokens


def test_looping_row_stops_early():
    model = MODELS["qwen2"]()

    def always_five(rows, logits):
        return torch.full((len(rows),), 5)

    with torch.inference_mode():
        [result] = generate_continuous(model, [[2, 3, 4]], [40], always_five, {STOP}, PAD, width=1)
    assert result.tokens == [5] * 12
    assert result.finish_reason == "repetition"
