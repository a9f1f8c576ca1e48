"""Schedules with real parts: PostgreSQL, Redis, `celery beat` and Celery workers."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import func, select

from contentgen import db
from contentgen.campaigns import import_campaign_file, load_campaign_file
from contentgen.dispatch import wait_for_batch
from contentgen.models import (
    Batch,
    BatchStatus,
    Campaign,
    Draft,
    ScheduleRun,
    ScheduleRunStatus,
    Trigger,
)
from contentgen.schedule_runs import schedule_batch_key, stored_utc

from .conftest import REPOSITORY

pytestmark = pytest.mark.integration


def import_campaigns(
    folder,
    schedules: dict[str, dict],
    channels: tuple[str, ...] = ("google_ads_headline", "email_subject"),
    variants: int = 2,
) -> None:
    campaigns = [
        {
            "key": key,
            "brand": "trailpeak",
            "product": {"name": "Ridgeline GTX", "description": "A waterproof hiking boot"},
            "segments": [{"key": "weekend", "name": "Weekend hikers"}],
            "channels": list(channels),
            "variants": variants,
            "generation": {"temperature": 0.3, "seed": 5},
            "schedule": schedule,
        }
        for key, schedule in schedules.items()
    ]
    data = {"brands": [{"key": "trailpeak", "name": "TrailPeak"}], "campaigns": campaigns}
    path = folder / "scheduled.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))


def schedule_state() -> tuple[list[ScheduleRun], list[Batch]]:
    with db.session_scope() as session:
        runs = session.scalars(select(ScheduleRun).order_by(ScheduleRun.id)).all()
        batches = session.scalars(select(Batch).where(Batch.trigger == Trigger.SCHEDULE)).all()
    return runs, batches


def assert_one_batch_per_slot(runs: list[ScheduleRun], batches: list[Batch]) -> None:
    slots = [(run.campaign_id, stored_utc(run.slot_at)) for run in runs]
    assert len(slots) == len(set(slots))
    with_batch = [run for run in runs if run.batch_id is not None]
    assert sorted(run.batch_id for run in with_batch) == sorted(batch.id for batch in batches)
    with db.session_scope() as session:
        campaign_keys = dict(session.execute(select(Campaign.id, Campaign.key)).all())
    batch_keys = {batch.id: batch.idempotency_key for batch in batches}
    for run in with_batch:
        expected = schedule_batch_key(campaign_keys[run.campaign_id], stored_utc(run.slot_at))
        assert batch_keys[run.batch_id] == expected


def test_concurrent_run_due_one_batch_per_slot(service_env, start_worker, tmp_path):
    import_campaigns(
        tmp_path,
        {
            "berlin-0230": {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
            "berlin-midnight": {"cron": "0 0 * * *", "timezone": "Europe/Berlin"},
            "new-york-0230": {"cron": "30 2 * * *", "timezone": "America/New_York"},
            "shanghai-0230": {"cron": "30 2 * * *", "timezone": "Asia/Shanghai"},
            "utc-noon": {"cron": "0 12 * * *", "timezone": "UTC"},
            "hourly": {"cron": "15 * * * *", "timezone": "America/New_York"},
        },
    )
    worker = start_worker(CONTENTGEN_GENERATOR="null")
    # Two nights after the import: every campaign has due slots, the older ones skipped.
    night = (datetime.now(UTC) + timedelta(days=2)).isoformat()

    command = [sys.executable, "-m", "contentgen", "schedules", "run-due", "--now", night, "--json"]
    dispatchers = [
        subprocess.Popen(command, cwd=REPOSITORY, env=service_env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    results = [(process.communicate(timeout=300), process.returncode) for process in dispatchers]

    reported = []
    for (stdout, stderr), returncode in results:
        assert returncode == 0, stderr
        reported.extend(json.loads(stdout)["slots"])
    runs, batches = schedule_state()
    created = [slot for slot in reported if slot["status"] == "created"]
    assert len(reported) == len(runs)
    assert sorted(slot["campaign"] for slot in created) == [
        "berlin-0230", "berlin-midnight", "hourly", "new-york-0230", "shanghai-0230", "utc-noon",
    ]  # fmt: skip
    assert len(batches) == 6
    assert_one_batch_per_slot(runs, batches)

    for batch in batches:
        progress = wait_for_batch(batch.id, timeout=120)
        assert progress.requests == {"done": 4, "pending": 0, "failed": 0, "cancelled": 0}, worker.output()
    runs, _ = schedule_state()
    assert {run.status for run in runs if run.batch_id} == {ScheduleRunStatus.DISPATCHED}
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 24


@pytest.mark.model
def test_two_beats_one_batch_per_slot(service_env, start_worker, start_beat, tmp_path):
    import_campaigns(
        tmp_path,
        {"every-minute": {"cron": "* * * * *", "timezone": "UTC"}},
        channels=("google_ads_headline",),
        variants=1,
    )
    # Started two minutes ago, so the slot at the last whole minute is due at once and both
    # beats ask for it straight away.
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.key == "every-minute")).one()
        campaign.schedule_since = datetime.now(UTC) - timedelta(minutes=2)
    # The dispatcher worker consumes only the schedule queue, so it must not load a model:
    # with a model path that does not exist, loading one would fail in its start-up.
    dispatcher = start_worker(
        queues=service_env["CONTENTGEN_SCHEDULE_QUEUE"], CONTENTGEN_MODEL="/nonexistent/model"
    )
    generator = start_worker()
    beats = [start_beat(CONTENTGEN_SCHEDULE_INTERVAL_SECONDS="1") for _ in range(2)]
    for beat in beats:
        beat.wait_sending()

    # The slot's batch has one request.
    deadline = time.monotonic() + 150
    finished = []
    while not finished and time.monotonic() < deadline:
        _, batches = schedule_state()
        finished = [batch for batch in batches if batch.status == BatchStatus.COMPLETED]
        time.sleep(1)
    for beat in beats:
        beat.stop()
    time.sleep(3)

    assert finished, dispatcher.output() + generator.output()
    runs, batches = schedule_state()
    assert_one_batch_per_slot(runs, batches)
    assert "Signal handler" not in dispatcher.output()
    assert "contentgen.dispatch_due_schedules[" in dispatcher.log_path.read_text()
    assert "contentgen.dispatch_due_schedules[" not in generator.log_path.read_text()
    with db.session_scope() as session:
        draft = session.scalars(select(Draft).where(Draft.batch_id == finished[0].id)).one()
        assert draft.text.strip()
        assert draft.model_name.startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
