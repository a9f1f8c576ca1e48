"""Restarting Redis or PostgreSQL during a batch: the batch still completes, once per request.

Each test starts a private server on a free port, so restarting it disturbs nothing else.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, make_url, text

from contentgen import db
from contentgen.settings import get_settings

from ..conftest import EXAMPLES
from .conftest import REPOSITORY, Beat, Worker

pytestmark = pytest.mark.integration

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
SLOW = "tests.integration.faulty_generators:slow"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class PostgresServer:
    """A throwaway PostgreSQL cluster run as the postgres user (root may not run it)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="contentgen-pg-"))
        shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"
        self._as_postgres(POSTGRES_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            POSTGRES_BIN / "pg_ctl", "-D", self.data, "-o", options, "-m", "fast", "-w",
            "-l", self.folder / "log", action,
        )  # fmt: skip

    def remove(self) -> None:
        try:
            self.pg_ctl("stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def write_campaign(folder: Path, variants: int) -> Path:
    data = {
        "brands": [{"key": "acme", "name": "Acme"}],
        "campaigns": [
            {
                "key": "launch",
                "brand": "acme",
                "product": {"name": "Widget"},
                "segments": [{"key": "all", "name": "Everyone"}],
                "channels": ["email_subject"],
                "variants": variants,
            }
        ],
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "contentgen", *args],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def counts(database_url: str) -> dict[str, int]:
    """Read request states and drafts per request, tolerating a server that is restarting."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            states = dict(
                connection.execute(text("SELECT status, count(*) FROM generation_requests GROUP BY status")).all()
            )
            most = connection.execute(
                text("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM drafts GROUP BY request_id) AS per")
            ).scalar()
            drafts = connection.execute(text("SELECT count(*) FROM drafts")).scalar()
        return {**states, "drafts": drafts, "most_drafts_per_request": most}
    finally:
        engine.dispose()


def wait_for(condition, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - the server may be restarting
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError("timed out")


def test_redis_restart_during_batch(service_env, tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    env = {**service_env, "CONTENTGEN_BROKER_URL": redis_server.url, "CONTENTGEN_GENERATOR": SLOW}
    worker = Worker(env, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        assert cli(env, "batch", "submit", str(write_campaign(tmp_path, 12))).returncode == 0
        url = env["CONTENTGEN_DATABASE_URL"]
        wait_for(lambda: counts(url)["drafts"] >= 4)

        # No persistence: the restart loses every queued message.
        redis_server.kill()
        redis_server.start()
        wait_for(lambda: cli(env, "batch", "sweep", "--stalled-after", "0").returncode == 0, timeout=60)
        final = wait_for(lambda: (found := counts(url)).get("pending", 0) == 0 and found, timeout=240)
    finally:
        worker.stop()
        redis_server.kill()

    assert final["done"] == 12
    assert final["drafts"] == 12
    assert final["most_drafts_per_request"] == 1


@pytest.mark.skipif(not (POSTGRES_BIN / "initdb").exists() or os.geteuid() != 0,
                    reason="needs PostgreSQL 15's server binaries and root to run them as postgres")
def test_postgres_restart_during_batch(service_env, tmp_path, monkeypatch):
    server = PostgresServer()
    try:
        server.pg_ctl("start")
        monkeypatch.setenv("CONTENTGEN_DATABASE_URL", server.url)
        get_settings.cache_clear()
        db.reset_engine()
        db.upgrade()
        env = {**service_env, "CONTENTGEN_DATABASE_URL": server.url, "CONTENTGEN_GENERATOR": SLOW}
        assert cli(env, "templates", "sync").returncode == 0
        worker = Worker(env, tmp_path / "worker.log")
        try:
            worker.wait_ready()
            assert cli(env, "batch", "submit", str(write_campaign(tmp_path, 12))).returncode == 0
            wait_for(lambda: counts(server.url)["drafts"] >= 4)

            server.pg_ctl("restart")
            final = wait_for(lambda: (found := counts(server.url)).get("pending", 0) == 0 and found, timeout=240)
        finally:
            worker.stop()
        assert final["done"] == 12, worker.output()
        assert final["drafts"] == 12
        assert final["most_drafts_per_request"] == 1
    finally:
        db.reset_engine()
        server.remove()


def test_dropped_database_connections_fail_no_request(service_env, tmp_path):
    """A connection that PostgreSQL drops mid-chunk (failover, restart, idle timeout) makes
    the chunk retry. That is no crash, so it must not use up a request's attempts."""
    url = service_env["CONTENTGEN_DATABASE_URL"]
    database = make_url(url).database
    env = {**service_env, "CONTENTGEN_GENERATOR": SLOW, "CONTENTGEN_MAX_ATTEMPTS": "2"}
    worker = Worker(env, tmp_path / "worker.log")
    admin = create_engine(url)
    try:
        worker.wait_ready()
        assert cli(env, "batch", "submit", str(write_campaign(tmp_path, 4))).returncode == 0
        # Four drops, each while the worker's generate call keeps its connection open, are
        # more than CONTENTGEN_MAX_ATTEMPTS if each counted as an attempt.
        for _ in range(4):
            time.sleep(1.5)
            with admin.connect() as connection:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = :database AND pid <> pg_backend_pid()"),
                    {"database": database},
                )  # fmt: skip
        final = wait_for(lambda: (found := counts(url)).get("pending", 0) == 0 and found, timeout=240)
    finally:
        worker.stop()
        admin.dispose()

    assert final.get("failed", 0) == 0, worker.output()
    assert final["done"] == 4
    assert final["most_drafts_per_request"] == 1
    assert "retry 1 of 10" in worker.output()


@pytest.mark.parametrize("problem", ["unreachable", "old-schema", "no-broker", "other-queue"])
def test_worker_without_usable_settings_does_not_start(service_env, tmp_path, problem):
    env = dict(service_env)
    queues = None
    if problem == "unreachable":
        env["CONTENTGEN_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
        expected = b"is unreachable or failed"
    elif problem == "old-schema":
        db.downgrade("0008")
        expected = b"is at schema revision 0008, not the latest"
    elif problem == "no-broker":
        env["CONTENTGEN_BROKER_URL"] = ""
        expected = b"CONTENTGEN_BROKER_URL is not set, so no task would reach this worker"
    else:
        queues = "contentgn"
        expected = b"this worker consumes contentgn, but contentgen sends chunks to"
    worker = Worker({**env, "CONTENTGEN_GENERATOR": "null"}, tmp_path / "worker.log", queues=queues)
    try:
        exit_code = worker.process.wait(timeout=120)
    finally:
        worker.stop()

    log = (tmp_path / "worker.log").read_bytes()
    assert exit_code != 0
    assert b"worker cannot start: " in log
    assert expected in log
    assert b"ready." not in log


def test_bad_transport_option_named_in_error(service_env):
    env = {**service_env, "CONTENTGEN_BROKER_TRANSPORT_OPTIONS": '{"socket_timeout": -1}'}
    campaign = EXAMPLES / "outdoor-boot-launch.yaml"

    result = subprocess.run([sys.executable, "-m", "contentgen", "batch", "submit", str(campaign)],
                            cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    assert result.returncode == 2
    assert "with the transport options (socket_timeout) is not usable" in result.stderr
    assert "-1" not in result.stderr.split("is not usable")[0]
    assert "Fix CONTENTGEN_BROKER_TRANSPORT_OPTIONS or CONTENTGEN_BROKER_URL" in result.stderr


def test_beat_without_broker_does_not_start(service_env, tmp_path):
    beat = Beat({**service_env, "CONTENTGEN_BROKER_URL": ""}, tmp_path, "beat")
    try:
        exit_code = beat.process.wait(timeout=120)
    finally:
        beat.stop()

    log = (tmp_path / "beat.log").read_bytes()
    assert exit_code != 0
    assert b"beat cannot start: CONTENTGEN_BROKER_URL is not set" in log
