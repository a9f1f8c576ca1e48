"""Faults with real PostgreSQL, Redis and worker processes: nothing lost, nothing twice."""

import subprocess
import sys
import time

import pytest
import yaml
from sqlalchemy import func, select

from contentgen import db
from contentgen.models import Draft, GenerationRequest, RequestStatus

from .conftest import REPOSITORY

pytestmark = pytest.mark.integration


def write_campaigns(folder, campaigns):
    data = {
        "brands": [{"key": "acme", "name": "Acme"}],
        "campaigns": [
            {
                "key": key,
                "brand": "acme",
                "product": {"name": product},
                "segments": [{"key": "all", "name": "Everyone"}],
                "channels": ["email_subject"],
                "variants": variants,
            }
            for key, product, variants in campaigns
        ],
    }
    path = folder / "campaigns.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(env, *args, timeout=300):
    result = subprocess.run(
        [sys.executable, "-m", "contentgen", *args],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return result


def request_states():
    with db.session_scope() as session:
        return {
            request.id: (request.status, request.attempts, request.error)
            for request in session.scalars(select(GenerationRequest))
        }


def drafts_per_request():
    with db.session_scope() as session:
        rows = session.execute(select(Draft.request_id, func.count()).group_by(Draft.request_id)).all()
    return dict(rows)


def wait_until(condition, timeout=120, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise TimeoutError(f"timed out waiting for {message}")


def test_worker_killed_mid_chunk_loses_nothing(service_env, start_worker, tmp_path):
    env = {**service_env, "CONTENTGEN_GENERATOR": "tests.integration.faulty_generators:slow"}
    first = start_worker(**env)
    submitted = cli(env, "batch", "submit", str(write_campaigns(tmp_path, [("launch", "Widget", 8)])))
    assert submitted.returncode == 0, submitted.stderr

    wait_until(lambda: any(attempts for _, attempts, _ in request_states().values()), message="a claim")
    first.process.kill()
    first.process.wait()

    start_worker(**env)
    wait_until(lambda: len(drafts_per_request()) >= 4, message="the second chunk")
    swept = cli(env, "batch", "sweep", "--stalled-after", "0")
    assert swept.returncode == 0, swept.stderr
    waited = cli(env, "batch", "status", "1", "--wait", "--timeout", "120")
    assert waited.returncode == 0, waited.stderr

    states = request_states()
    assert len(states) == 8
    assert {status for status, _, _ in states.values()} == {RequestStatus.DONE}
    assert drafts_per_request() == {request_id: 1 for request_id in states}


def test_request_that_kills_worker_ends_failed(service_env, start_worker, tmp_path):
    env = {
        **service_env,
        "CONTENTGEN_GENERATOR": "tests.integration.faulty_generators:poison",
        "CONTENTGEN_MAX_ATTEMPTS": "2",
    }
    path = write_campaigns(tmp_path, [("good", "Widget", 3), ("bad", "POISON pill", 1)])
    worker = start_worker(**env)
    assert cli(env, "batch", "submit", str(path)).returncode == 0

    for _ in range(6):
        wait_until(
            lambda process=worker.process: process.poll() is not None
            or all(status != RequestStatus.PENDING for status, _, _ in request_states().values()),
            message="the worker to die or the batch to finish",
        )
        if worker.process.poll() is None:
            break
        worker = start_worker(**env)
        assert cli(env, "batch", "sweep", "--stalled-after", "0").returncode == 0

    states = request_states()
    failed = [error for status, _, error in states.values() if status == RequestStatus.FAILED]
    done = [request_id for request_id, (status, _, _) in states.items() if status == RequestStatus.DONE]
    assert len(failed) == 1
    assert "gave up after 2 attempts" in failed[0]
    assert len(done) == 3
    assert drafts_per_request() == {request_id: 1 for request_id in done}


def test_out_of_memory_splits_chunk(service_env, start_worker, tmp_path):
    env = {
        **service_env,
        "CONTENTGEN_GENERATOR": "tests.integration.faulty_generators:out_of_memory_above_two",
        "CONTENTGEN_CHUNK_SIZE": "8",
    }
    worker = start_worker(**env)
    path = write_campaigns(tmp_path, [("launch", "Widget", 8)])
    result = cli(env, "batch", "submit", str(path), "--wait", "--timeout", "120")

    assert result.returncode == 0, result.stderr + worker.output()
    states = request_states()
    assert {status for status, _, _ in states.values()} == {RequestStatus.DONE}
    assert drafts_per_request() == {request_id: 1 for request_id in states}
    assert "out of memory on 8 requests; retrying in halves" in worker.output()


def test_short_visibility_timeout_gives_no_second_draft(service_env, start_worker, tmp_path):
    env = {
        **service_env,
        "CONTENTGEN_GENERATOR": "tests.integration.faulty_generators:very_slow",
        "CONTENTGEN_BROKER_VISIBILITY_TIMEOUT": "1",
        # Scan for overdue messages every second instead of every 100 s.
        "CONTENTGEN_BROKER_TRANSPORT_OPTIONS": '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}',
    }
    workers = [start_worker(**env), start_worker(**env)]
    path = write_campaigns(tmp_path, [("launch", "Widget", 4)])
    result = cli(env, "batch", "submit", str(path), "--wait", "--timeout", "120")

    assert result.returncode == 0, result.stderr
    states = request_states()
    assert {status for status, _, _ in states.values()} == {RequestStatus.DONE}
    assert drafts_per_request() == {request_id: 1 for request_id in states}
    # The chunk outlived the visibility timeout, so Redis handed it out a second time;
    # the second run found its rows done and skipped them.
    logs = "".join(worker.output() for worker in workers)
    assert "{'drafts': 0, 'failed': 0, 'skipped': 4}" in logs


@pytest.mark.model
def test_prompt_over_context_fails_alone(service_env, start_worker, tmp_path):
    # Chinese takes about 2.4 of SmolLM2's tokens a character, so 10 features of about 950
    # characters make a prompt far over its 8,192-token context, yet under the 20,000
    # characters that a rendered prompt may have.
    huge_features = [f"Feature {index}: " + "防水透气抓地力强" * 117 for index in range(10)]
    data = {
        "brands": [{"key": "acme", "name": "Acme"}],
        "campaigns": [
            {
                "key": "normal",
                "brand": "acme",
                "product": {"name": "Widget", "description": "A small useful widget"},
                "segments": [{"key": f"segment-{index}", "name": f"Segment {index}"} for index in range(7)],
                "channels": ["email_subject"],
                "variants": 7,
                "generation": {"temperature": 0, "max_new_tokens": 6},
            },
            {
                "key": "huge",
                "brand": "acme",
                "product": {"name": "Widget", "features": huge_features},
                "segments": [{"key": "all", "name": "Everyone"}],
                # This channel's template lists every feature.
                "channels": ["product_description"],
                "generation": {"temperature": 0, "max_new_tokens": 6},
            },
        ],
    }
    path = tmp_path / "fifty.yaml"
    path.write_text(yaml.safe_dump(data))
    # Regenerating drafts that fail a check is beside the point here and costs minutes.
    worker = start_worker(CONTENTGEN_MAX_REGENERATIONS="0")
    result = cli(service_env, "batch", "submit", str(path), "--wait", "--timeout", "600", timeout=660)

    # Exit code 3: the batch finished, with a failed request.
    assert result.returncode == 3, result.stderr + worker.output()
    states = request_states()
    assert len(states) == 50
    failed = [error for status, _, error in states.values() if status == RequestStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].startswith("prompt too long")
    drafts = drafts_per_request()
    assert len(drafts) == 49
    assert set(drafts.values()) == {1}
    with db.session_scope() as session:
        texts = session.scalars(select(Draft.text)).all()
    assert all(text.strip() for text in texts)


def test_two_workers_finish_one_batch_without_deadlock(service_env, start_worker, tmp_path):
    # Many small chunks of one batch finish at the same moments on two workers. Each
    # completion locks the batch row while draft inserts hold key-share locks on it.
    env = {**service_env, "CONTENTGEN_GENERATOR": "null", "CONTENTGEN_MAX_REGENERATIONS": "0",
           "CONTENTGEN_CHUNK_SIZE": "2"}  # fmt: skip
    workers = [start_worker(**env), start_worker(**env)]
    path = write_campaigns(tmp_path, [("launch", "Widget", 40), ("relaunch", "Gadget", 40)])
    result = cli(env, "batch", "submit", str(path), "--wait", "--timeout", "200")

    assert result.returncode == 0, result.stderr
    states = request_states()
    assert {status for status, _, _ in states.values()} == {RequestStatus.DONE}
    assert drafts_per_request() == {request_id: 1 for request_id in states}
    logs = "".join(worker.log_path.read_text(errors="replace") for worker in workers)
    assert "deadlock detected" not in logs
