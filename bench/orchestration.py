"""Measure everything around the model: submit -> Redis -> Celery workers -> PostgreSQL.

Usage:
    python bench/orchestration.py [--requests 5000] [--workers 2] [--chunk-size 64]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--broker-url redis://127.0.0.1:6379/14]

Workers run the null generator (a fixed text at once), so the figures are the cost of
submitting, queueing, claiming, writing drafts and completing the batch. The benchmark
creates and drops its own PostgreSQL database and uses its own queue name.

The first figure is the wall time of `batch submit --wait`, which includes the command's
start-up and its polling every 0.25 s. The second is the time from the batch's creation
to its completion, as stored in the database. The third is the CPU time the worker
processes spent per draft, read from /proc (Linux only). CPU time varies less than wall
time when other programs load the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "bench"))

from submit import write_campaign  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    arguments = parser.parse_args()

    name = f"contentgen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(arguments.admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = arguments.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    env = {
        **os.environ,
        "CONTENTGEN_DATABASE_URL": f"{base}/{name}",
        "CONTENTGEN_BROKER_URL": arguments.broker_url,
        "CONTENTGEN_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "CONTENTGEN_GENERATOR": "null",
        "CONTENTGEN_CHUNK_SIZE": str(arguments.chunk_size),
    }
    workers = []
    try:
        run([sys.executable, "-m", "contentgen", "db", "upgrade"], env)
        run([sys.executable, "-m", "contentgen", "templates", "sync"], env)
        folder = Path(tempfile.mkdtemp(prefix="contentgen-bench-"))
        path, expected = write_campaign(folder, arguments.requests)

        workers = [start_worker(env, folder / f"worker-{index}.log") for index in range(arguments.workers)]
        cpu_before = [cpu_seconds(worker.pid) for worker in workers]
        started = time.perf_counter()
        run([sys.executable, "-m", "contentgen", "batch", "submit", str(path), "--wait"], env)
        elapsed = time.perf_counter() - started
        cpu_after = [cpu_seconds(worker.pid) for worker in workers]
        batch_seconds = batch_run_seconds(f"{arguments.admin_url.rsplit('/', 1)[0]}/{name}")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
        with psycopg.connect(arguments.admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"requests: {expected}, workers: {arguments.workers} (solo pool, null generator), "
          f"chunk size: {arguments.chunk_size}")
    print(f"submit to last draft: {elapsed:.1f} s = {expected / elapsed:,.0f} drafts/s, "
          f"{elapsed * 1000 / expected:.2f} ms per draft")
    print(f"batch created to completed: {batch_seconds:.1f} s = "
          f"{expected / batch_seconds:,.0f} drafts/s")
    if None not in cpu_before + cpu_after:
        worker_cpu = sum(cpu_after) - sum(cpu_before)
        print(f"worker CPU time: {worker_cpu:.1f} s = "
              f"{worker_cpu * 1000 / expected:.2f} ms per draft")


def cpu_seconds(pid: int) -> float | None:
    """Return the user + system CPU seconds of process ``pid``, or None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of proc(5), counted from the pid.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_run_seconds(database_url: str) -> float:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM finished_at - created_at) FROM batches"
        ).fetchone()
    return float(row[0])


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, cwd=REPOSITORY, check=True, stdout=subprocess.DEVNULL)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool=solo",
         "-Q", env["CONTENTGEN_QUEUE"], "--without-gossip", "--without-mingle", "--loglevel=INFO",
         "--hostname", f"bench-{uuid.uuid4().hex[:6]}@%h"],
        env=env, cwd=REPOSITORY, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while b"ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return process


if __name__ == "__main__":
    main()
