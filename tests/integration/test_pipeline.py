"""The whole path with real parts: CLI submit -> Redis -> Celery worker -> model -> PostgreSQL."""

import json
import subprocess
import sys

import pytest
import yaml
from sqlalchemy import func, select

from contentgen import db
from contentgen.models import Batch, BatchStatus, Draft, GenerationRequest, RequestStatus

from .conftest import REPOSITORY

pytestmark = [pytest.mark.integration, pytest.mark.model]

SPECIAL_MARKERS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|", "|>", "<s>", "</s>")


def small_campaign(folder):
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain words."}],
        "campaigns": [
            {
                "key": "boot-launch",
                "brand": "trailpeak",
                "product": {
                    "name": "Ridgeline GTX",
                    "description": "A waterproof mid-height hiking boot",
                    "features": ["Breathable membrane", "Grippy outsole"],
                },
                "segments": [
                    {"key": "weekend", "name": "Weekend hikers"},
                    {"key": "thru", "name": "Thru-hikers"},
                ],
                "channels": ["google_ads_headline", "email_subject"],
                "variants": 2,
                "generation": {"temperature": 0.3, "seed": 5},
            }
        ],
    }
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_cli(env, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "contentgen", *args],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_batch_runs_on_celery_worker_with_real_model(service_env, start_worker, tmp_path):
    worker = start_worker()
    result = run_cli(service_env, "batch", "submit", str(small_campaign(tmp_path)), "--wait", "--json")
    assert result.returncode == 0, result.stderr + worker.output()
    status = json.loads(result.stdout)

    assert status["status"] == "completed"
    assert status["requests"] == {"done": 8, "pending": 0, "failed": 0, "cancelled": 0}
    with db.session_scope() as session:
        requests = session.scalars(select(GenerationRequest)).all()
        drafts = session.scalars(select(Draft)).all()
        batch = session.get(Batch, status["id"])
        assert batch.status == BatchStatus.COMPLETED

    assert all(request.status == RequestStatus.DONE for request in requests)
    drafts_per_request = {request.id: 0 for request in requests}
    for draft in drafts:
        drafts_per_request[draft.request_id] += 1
    assert set(drafts_per_request.values()) == {1}
    for draft in drafts:
        assert draft.text.strip()
        assert not any(marker in draft.text for marker in SPECIAL_MARKERS), draft.text
        assert draft.model_name.startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
        assert draft.output_tokens > 0
        assert draft.prompt_tokens > 0


def test_submit_with_broker_down_then_resume(service_env, start_worker, tmp_path):
    # The null generator: the model's own path is the first test's.
    null = {**service_env, "CONTENTGEN_GENERATOR": "null"}
    down = {**null, "CONTENTGEN_BROKER_URL": "redis://127.0.0.1:1/0"}
    failed = run_cli(down, "batch", "submit", str(small_campaign(tmp_path)))

    assert failed.returncode == 1
    assert "contentgen batch resume 1" in failed.stderr
    with db.session_scope() as session:
        pending = session.scalar(
            select(func.count()).where(GenerationRequest.status == RequestStatus.PENDING)
        )
    assert pending == 8

    worker = start_worker(CONTENTGEN_GENERATOR="null")
    resumed = run_cli(null, "batch", "resume", "1", "--wait")
    assert resumed.returncode == 0, resumed.stderr + worker.output()
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 8


def test_resubmit_key_after_broker_down(service_env, start_worker, tmp_path):
    null = {**service_env, "CONTENTGEN_GENERATOR": "null"}
    campaign = str(small_campaign(tmp_path))
    down = {**null, "CONTENTGEN_BROKER_URL": "redis://127.0.0.1:1/0"}
    failed = run_cli(down, "batch", "submit", campaign, "--idempotency-key", "retry-me")
    assert failed.returncode == 1

    worker = start_worker(CONTENTGEN_GENERATOR="null")
    again = run_cli(null, "batch", "submit", campaign, "--idempotency-key", "retry-me", "--wait", "--json")

    assert again.returncode == 0, again.stderr + worker.output()
    status = json.loads(again.stdout)
    assert (status["id"], status["created"], status["status"]) == (1, False, "completed")
    assert status["requests"]["done"] == 8
