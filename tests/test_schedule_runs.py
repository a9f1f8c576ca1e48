"""The schedule dispatcher on SQLite, with the clock passed in as ``now``."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select

from contentgen import db
from contentgen.campaigns import import_campaign_file, load_campaign_file
from contentgen.errors import InvalidInput
from contentgen.models import (
    Batch,
    BatchStatus,
    Campaign,
    Draft,
    DraftStatus,
    GenerationRequest,
    ScheduleRun,
    ScheduleRunStatus,
    Trigger,
)
from contentgen.schedule_runs import (
    _find_due_slots,
    _record,
    forget_runs,
    list_schedules,
    pause_schedule,
    resume_schedule,
    run_created_runs,
    run_due,
    stored_utc,
)

from .conftest import apply_settings


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scheduled_campaign(
    folder: Path,
    key: str = "boot-nightly",
    cron: str = "30 2 * * *",
    zone: str = "Europe/Berlin",
    since: str = "2026-03-20T00:00",
    **schedule_options: str,
) -> None:
    """Import a one-segment campaign with a schedule that started at ``since`` (UTC)."""
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak"}],
        "campaigns": [
            {
                "key": key,
                "brand": "trailpeak",
                "product": {"name": "Ridgeline GTX", "description": "A waterproof boot."},
                "segments": [{"key": "weekend", "name": "Weekend hikers"}],
                "channels": ["google_ads_headline", "email_subject"],
                "variants": 2,
                "schedule": {"cron": cron, "timezone": zone, **schedule_options},
            }
        ],
    }
    path = folder / f"{key}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with db.session_scope() as session:
        (campaign,) = import_campaign_file(session, path, load_campaign_file(path))
        campaign.schedule_since = utc(since)


def runs() -> list[ScheduleRun]:
    with db.session_scope() as session:
        return session.scalars(select(ScheduleRun).order_by(ScheduleRun.slot_at)).all()


def count_rows(model) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_run_due_creates_batch_for_due_slot(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")

    (outcome,) = run_due(utc("2026-03-23T01:31"))

    assert outcome.status == ScheduleRunStatus.CREATED
    assert outcome.slot_at == utc("2026-03-23T01:30")
    assert outcome.request_count == 4
    with db.session_scope() as session:
        batch = session.get(Batch, outcome.batch_id)
        assert batch.trigger == Trigger.SCHEDULE
        assert batch.idempotency_key == "schedule:boot-nightly:2026-03-23T01:30:00Z"
    (run,) = runs()
    assert run.batch_id == outcome.batch_id
    assert stored_utc(run.slot_at) == utc("2026-03-23T01:30")


def test_run_due_nothing_before_slot(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")

    assert run_due(utc("2026-03-23T01:29")) == []
    assert count_rows(ScheduleRun) == 0


def test_run_due_repeated_creates_no_second_batch(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")
    now = utc("2026-03-23T01:31")

    first = run_due(now)
    second = run_due(now)
    later = run_due(now + timedelta(hours=3))

    assert len(first) == 1
    assert second == []
    assert later == []
    assert count_rows(Batch) == 1


def test_run_due_dry_run_writes_nothing(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")

    (outcome,) = run_due(utc("2026-03-23T01:31"), dry_run=True)

    assert outcome.status == ScheduleRunStatus.CREATED
    assert outcome.request_count == 4
    assert outcome.batch_id is None
    assert count_rows(ScheduleRun) == 0
    assert count_rows(Batch) == 0
    assert count_rows(GenerationRequest) == 0


def test_forget_runs_keeps_slots_up_to_now(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")
    run_due(utc("2026-03-23T01:31"))
    run_due(utc("2026-03-25T01:31"))
    now = utc("2026-03-24T12:00")

    with db.session_scope() as session:
        forgotten = forget_runs(session, "boot-nightly", now, start=utc("2026-03-20T00:00"))

    # A start before now forgets nothing up to now: the skipped slot of the 24th stays.
    assert [run.slot_at for run in forgotten] == [utc("2026-03-25T01:30")]
    assert forgotten[0].status is ScheduleRunStatus.CREATED
    assert forgotten[0].batch_status is BatchStatus.PENDING
    assert [stored_utc(run.slot_at) for run in runs()] == [utc("2026-03-23T01:30"), utc("2026-03-24T01:30")]
    with db.session_scope() as session:
        assert session.get(Batch, forgotten[0].batch_id).idempotency_key is None


def test_run_due_losing_dispatcher_writes_nothing(synced):
    scheduled_campaign(synced, since="2026-03-23T00:00")
    now = utc("2026-03-23T01:31")
    # A second dispatcher that found the same slot due before the first one committed.
    with db.session_scope() as session:
        (late,) = _find_due_slots(session, now)

    run_due(now)

    assert _record(late) == []
    assert count_rows(Batch) == 1
    assert count_rows(GenerationRequest) == 4
    assert count_rows(ScheduleRun) == 1


def test_run_due_dispatcher_overtaken_writes_nothing(synced):
    scheduled_campaign(synced, cron="0 * * * *", zone="UTC", since="2026-03-23T00:00")
    # A dispatcher that found slots 01:00 to 03:00 due, and another one that recorded
    # slots 01:00 to 05:00 before the first committed. Their rows have no slot in common:
    # the first would write 02:00 (skipped) and 03:00, the second 04:00 and 05:00.
    with db.session_scope() as session:
        (late,) = _find_due_slots(session, utc("2026-03-23T03:30"))

    run_due(utc("2026-03-23T05:30"))

    assert _record(late) == []
    assert count_rows(Batch) == 1
    assert [stored_utc(run.slot_at) for run in runs()] == [utc("2026-03-23T04:00"), utc("2026-03-23T05:00")]


def test_run_due_ignores_slots_before_schedule_start(synced):
    # Imported at 02:00 UTC: that night's 02:30 Berlin (01:30 UTC) had passed already.
    scheduled_campaign(synced, since="2026-03-23T02:00")

    assert run_due(utc("2026-03-23T12:00")) == []
    assert count_rows(ScheduleRun) == 0


def test_run_due_catch_up_latest_skips_older_slots(synced):
    scheduled_campaign(synced, since="2026-03-20T00:00")

    skipped, created = run_due(utc("2026-03-23T12:00"))

    assert skipped.status == ScheduleRunStatus.SKIPPED
    assert skipped.first_slot_at == utc("2026-03-20T01:30")
    assert skipped.slot_at == utc("2026-03-22T01:30")
    assert skipped.slot_count == 3
    assert created.status == ScheduleRunStatus.CREATED
    assert created.slot_at == utc("2026-03-23T01:30")
    # One row for the three missed slots, at the newest of them.
    assert [stored_utc(run.slot_at) for run in runs()] == [utc("2026-03-22T01:30"), utc("2026-03-23T01:30")]
    assert "CONTENTGEN_SCHEDULE_CATCH_UP=latest" in runs()[0].detail
    assert "the 3 missed slots from 2026-03-20T01:30:00+00:00 to 2026-03-22T01:30:00+00:00" in runs()[0].detail
    assert count_rows(Batch) == 1


def test_run_due_long_gap_one_skipped_row(synced, monkeypatch):
    apply_settings(monkeypatch, schedule_lookback_hours="8784")
    scheduled_campaign(synced, cron="* * * * *", zone="UTC", since="2024-01-01T00:00")
    now = utc("2026-03-01T12:00")

    skipped, created = run_due(now)

    # The lookback bound is 8784 hours, 366 days, before now.
    assert skipped.first_slot_at == utc("2025-02-28T12:01")
    assert skipped.slot_at == utc("2026-03-01T11:59")
    assert skipped.slot_count is None
    assert skipped.as_dict()["slot_count"] is None
    assert created.slot_at == now
    (skipped_row, created_row) = runs()
    assert skipped_row.status == ScheduleRunStatus.SKIPPED
    assert ("This row records every missed slot from 2025-02-28T12:01:00+00:00 to "
            "2026-03-01T11:59:00+00:00, more than 1440") in skipped_row.detail  # fmt: skip
    assert created_row.status == ScheduleRunStatus.CREATED
    assert count_rows(Batch) == 1
    # The newest recorded slot bounds the next dispatch, so the skipped slots never run.
    (next_outcome,) = run_due(now + timedelta(minutes=1))
    assert next_outcome.slot_at == now + timedelta(minutes=1)


def test_run_due_missed_slots_split_at_clock(synced):
    scheduled_campaign(synced, since="2026-03-20T00:00")

    outcomes = run_due(utc("2026-03-25T12:00"), clock=utc("2026-03-22T12:00"))

    # The slots of 20 to 22 March are before the clock, those of 23 and 24 after it.
    assert [(o.first_slot, o.slot_at, o.slot_count, o.status) for o in outcomes] == [
        (utc("2026-03-20T01:30"), utc("2026-03-22T01:30"), 3, ScheduleRunStatus.SKIPPED),
        (utc("2026-03-23T01:30"), utc("2026-03-24T01:30"), 2, ScheduleRunStatus.SKIPPED),
        (utc("2026-03-25T01:30"), utc("2026-03-25T01:30"), 1, ScheduleRunStatus.CREATED),
    ]  # fmt: skip
    assert count_rows(ScheduleRun) == 3


def test_run_due_one_missed_slot_has_no_range(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00")

    skipped, _ = run_due(utc("2026-03-23T12:00"))

    assert skipped.first_slot_at is None
    assert skipped.slot_count == 1
    assert runs()[0].detail == skipped.detail


def test_run_due_catch_up_all_runs_every_slot(synced, monkeypatch):
    apply_settings(monkeypatch, schedule_catch_up="all")
    scheduled_campaign(synced, since="2026-03-20T00:00")

    outcomes = run_due(utc("2026-03-23T12:00"))

    assert [outcome.status for outcome in outcomes] == [ScheduleRunStatus.CREATED] * 4
    assert count_rows(Batch) == 4


def test_run_due_lookback_bounds_missed_slots(synced, monkeypatch):
    apply_settings(monkeypatch, schedule_catch_up="all", schedule_lookback_hours="48")
    scheduled_campaign(synced, since="2026-03-01T00:00")

    outcomes = run_due(utc("2026-03-23T12:00"))

    assert [outcome.slot_at for outcome in outcomes] == [
        utc("2026-03-22T01:30"), utc("2026-03-23T01:30"),
    ]  # fmt: skip
    assert count_rows(ScheduleRun) == 2


def test_run_due_naive_now_rejected(synced):
    with pytest.raises(ValueError, match="has no UTC offset"):
        run_due(datetime(2026, 3, 23, 2, 0))


@pytest.mark.parametrize(
    ("zone", "cron", "first_day", "change_slot"),
    [
        ("Europe/Berlin", "30 2 * * *", "2026-03-27", "2026-03-29T01:00"),
        ("Europe/Berlin", "30 2 * * *", "2026-10-23", "2026-10-25T00:30"),
        ("America/New_York", "30 2 * * *", "2026-03-06", "2026-03-08T07:00"),
        ("America/New_York", "30 1 * * *", "2026-10-30", "2026-11-01T05:30"),
        ("Asia/Shanghai", "30 2 * * *", "2026-03-27", "2026-03-28T18:30"),
    ],
    ids=["berlin-spring", "berlin-autumn", "new-york-spring", "new-york-autumn", "shanghai"],
)
def test_run_due_one_batch_per_night(synced, zone, cron, first_day, change_slot):
    local = ZoneInfo(zone)
    start = datetime.fromisoformat(first_day).replace(tzinfo=local)
    since = start.astimezone(UTC).replace(tzinfo=None).isoformat()
    scheduled_campaign(synced, cron=cron, zone=zone, since=since)

    # Four local days, dispatching every ten minutes as beat would (it runs every minute).
    for step in range(4 * 24 * 6):
        run_due(start + timedelta(minutes=10 * step))

    slots = [stored_utc(run.slot_at) for run in runs()]
    nights = Counter(slot.astimezone(local).date() for slot in slots)
    assert {run.status for run in runs()} == {ScheduleRunStatus.CREATED}
    assert len(nights) == 4
    assert set(nights.values()) == {1}
    assert utc(change_slot) in slots
    assert count_rows(Batch) == 4


def test_run_due_paused_campaign_creates_nothing(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00")
    with db.session_scope() as session:
        assert pause_schedule(session, "boot-nightly") is True

    assert run_due(utc("2026-03-23T12:00")) == []
    assert count_rows(ScheduleRun) == 0


def test_resume_skips_slots_missed_while_paused(synced):
    scheduled_campaign(synced, since="2026-03-20T00:00")
    with db.session_scope() as session:
        pause_schedule(session, "boot-nightly")
    with db.session_scope() as session:
        assert resume_schedule(session, "boot-nightly", utc("2026-03-23T12:00")) is True

    assert run_due(utc("2026-03-23T12:00")) == []
    (outcome,) = run_due(utc("2026-03-24T01:30"))
    assert outcome.slot_at == utc("2026-03-24T01:30")


def test_resume_not_paused_keeps_start(synced):
    scheduled_campaign(synced, since="2026-03-20T00:00")
    with db.session_scope() as session:
        assert resume_schedule(session, "boot-nightly", utc("2026-03-23T12:00")) is False
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert stored_utc(campaign.schedule_since) == utc("2026-03-20T00:00")


def test_pause_campaign_without_schedule_rejected(synced):
    scheduled_campaign(synced)
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.spec = {**campaign.spec, "schedule": None}

    with pytest.raises(InvalidInput, match='campaign "boot-nightly" has no schedule'):
        with db.session_scope() as session:
            pause_schedule(session, "boot-nightly")


def approve_drafts(channel: str) -> None:
    with db.session_scope() as session:
        drafts = session.scalars(
            select(Draft).join(GenerationRequest).where(GenerationRequest.channel == channel)
        ).all()
        for draft in drafts:
            draft.status = DraftStatus.APPROVED


def test_run_due_refresh_unapproved_leaves_out_approved_slots(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00", refresh="unapproved")
    run_due(utc("2026-03-22T02:00"))
    run_created_runs()
    approve_drafts("email_subject")

    (outcome,) = run_due(utc("2026-03-23T02:00"))

    with db.session_scope() as session:
        channels = session.scalars(
            select(GenerationRequest.channel).where(GenerationRequest.batch_id == outcome.batch_id)
        ).all()
    assert outcome.request_count == 2
    assert channels == ["google_ads_headline", "google_ads_headline"]


def test_run_due_refresh_all_regenerates_approved_slots(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00")
    run_due(utc("2026-03-22T02:00"))
    run_created_runs()
    approve_drafts("email_subject")

    (outcome,) = run_due(utc("2026-03-23T02:00"))

    assert outcome.request_count == 4


def test_run_due_refresh_unapproved_everything_approved_skips(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00", refresh="unapproved")
    run_due(utc("2026-03-22T02:00"))
    run_created_runs()
    approve_drafts("email_subject")
    approve_drafts("google_ads_headline")

    (outcome,) = run_due(utc("2026-03-23T02:00"))

    assert outcome.status == ScheduleRunStatus.SKIPPED
    assert outcome.batch_id is None
    assert "already has an approved draft" in outcome.detail
    assert count_rows(Batch) == 1


def test_run_due_without_templates_records_failure(database):
    scheduled_campaign(database, since="2026-03-22T00:00")

    (outcome,) = run_due(utc("2026-03-22T02:00"))

    assert outcome.status == ScheduleRunStatus.FAILED
    assert "contentgen templates sync" in outcome.detail
    assert count_rows(Batch) == 0
    assert run_due(utc("2026-03-22T02:10")) == []


def test_run_created_runs_generates_drafts(synced):
    scheduled_campaign(synced, since="2026-03-22T00:00")
    (outcome,) = run_due(utc("2026-03-22T02:00"))

    ran = run_created_runs()

    assert ran == [outcome.batch_id]
    assert count_rows(Draft) == 4
    assert [run.status for run in runs()] == [ScheduleRunStatus.DISPATCHED]
    assert run_created_runs() == []


def test_list_schedules_next_and_last_run(synced):
    scheduled_campaign(synced, since="2026-03-27T00:00")
    run_due(utc("2026-03-28T02:00"))

    with db.session_scope() as session:
        (item,) = list_schedules(session, utc("2026-03-28T12:00"))

    assert item["campaign"] == "boot-nightly"
    assert item["paused"] is False
    assert item["next_run_local"] == "2026-03-29T03:00:00+02:00"
    assert item["next_run_utc"] == "2026-03-29T01:00:00+00:00"
    assert item["last_run"]["slot_local"] == "2026-03-28T02:30:00+01:00"
    assert item["last_run"]["status"] == "created"


def test_list_schedules_paused_has_no_next_run(synced):
    scheduled_campaign(synced, since="2026-03-27T00:00")
    with db.session_scope() as session:
        pause_schedule(session, "boot-nightly")

    with db.session_scope() as session:
        (item,) = list_schedules(session, utc("2026-03-28T12:00"))

    assert item["paused"] is True
    assert item["next_run_utc"] is None


def test_run_due_invalid_stored_schedule_left_out(synced):
    scheduled_campaign(synced, key="broken", since="2026-03-22T00:00")
    scheduled_campaign(synced, key="working", since="2026-03-22T00:00")
    with db.session_scope() as session:
        broken = session.scalars(select(Campaign).where(Campaign.key == "broken")).one()
        broken.spec = {**broken.spec, "schedule": {"cron": "0 0 30 2 *", "timezone": "UTC"}}

    outcomes = run_due(utc("2026-03-22T02:00"))

    assert [outcome.campaign for outcome in outcomes] == ["working"]
