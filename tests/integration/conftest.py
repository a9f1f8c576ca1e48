"""Fixtures for tests against real PostgreSQL, Redis and Celery worker processes.

Each test session creates its own PostgreSQL database and uses its own Redis database
number and queue name, so runs never see each other's rows or messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from contentgen import db
from contentgen.settings import get_settings
from contentgen.templates import sync_templates

POSTGRES_ADMIN_URL = os.environ.get(
    "CONTENTGEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CONTENTGEN_TEST_REDIS", "redis://127.0.0.1:6379/15")
REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _require_services() -> None:
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except (psycopg.OperationalError, redis.ConnectionError) as error:
        pytest.fail(
            f"integration tests need PostgreSQL at {POSTGRES_ADMIN_URL} and Redis at "
            f"{REDIS_URL}: {error}; start them or set CONTENTGEN_TEST_POSTGRES / "
            "CONTENTGEN_TEST_REDIS"
        )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test session."""
    _require_services()
    name = f"contentgen_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def service_env(postgres_url, monkeypatch) -> dict[str, str]:
    """Settings for PostgreSQL + Redis with a queue of this test's own; schema at head."""
    queue = f"contentgen-test-{uuid.uuid4().hex[:8]}"
    schedule_queue = f"{queue}-schedules"
    values = {
        "CONTENTGEN_DATABASE_URL": postgres_url,
        "CONTENTGEN_BROKER_URL": REDIS_URL,
        "CONTENTGEN_QUEUE": queue,
        "CONTENTGEN_SCHEDULE_QUEUE": schedule_queue,
        "CONTENTGEN_CHUNK_SIZE": "4",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CONTENTGEN_GENERATOR", raising=False)
    get_settings.cache_clear()
    db.reset_engine()

    db.downgrade("base")
    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
    yield {**os.environ, **values, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    redis.Redis.from_url(REDIS_URL).delete(queue, schedule_queue)
    get_settings.cache_clear()
    db.reset_engine()


class CeleryProcess:
    """A `celery -A workers ...` subprocess with its output in a log file."""

    def __init__(self, arguments: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", *arguments],
            cwd=REPOSITORY, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_for_log(self, marker: bytes, timeout: float) -> None:
        """Wait until ``marker`` appears in the log; raise if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery {self.kind} exited early:\n{self.output()}")
            if marker in self.log_path.read_bytes():
                return
            time.sleep(0.5)
        raise TimeoutError(f"celery {self.kind} logged no {marker!r} after {timeout} s:\n{self.output()}")

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Worker(CeleryProcess):
    def __init__(
        self, env: dict[str, str], log_path: Path, pool: str = "solo", queues: str | None = None
    ) -> None:
        arguments = [
            "worker", f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
            "-Q", queues or env["CONTENTGEN_QUEUE"], "--without-gossip", "--without-mingle",
            "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        super().__init__(arguments, env, log_path)

    def wait_ready(self, timeout: float = 180) -> None:
        self.wait_for_log(b"ready.", timeout)


@pytest.fixture
def start_worker(service_env, tmp_path) -> Iterator:
    workers: list[Worker] = []

    def start(pool: str = "solo", queues: str | None = None, **extra_env: str) -> Worker:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker({**service_env, **extra_env}, log_path, pool, queues)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


class Beat(CeleryProcess):
    """Celery beat with its own schedule file."""

    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        arguments = [
            "beat", "--loglevel=INFO", "--schedule", str(folder / f"{name}-schedule"),
            "--pidfile", str(folder / f"{name}.pid"),
        ]  # fmt: skip
        super().__init__(arguments, env, folder / f"{name}.log")

    def wait_sending(self, timeout: float = 60) -> None:
        """Wait until beat has sent its first due task."""
        self.wait_for_log(b"Sending due task", timeout)


@pytest.fixture
def start_beat(service_env, tmp_path) -> Iterator:
    beats: list[Beat] = []

    def start(**extra_env: str) -> Beat:
        beat = Beat({**service_env, **extra_env}, tmp_path, f"beat-{len(beats)}")
        beats.append(beat)
        return beat

    yield start
    for beat in beats:
        beat.stop()
