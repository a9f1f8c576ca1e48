"""`contentgen schedules` through Typer's runner, on SQLite without a broker."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
import yaml
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from contentgen import cli_schedules, db
from contentgen.cli import app
from contentgen.dispatch import run_inline, wait_for_batch
from contentgen.errors import InfrastructureError
from contentgen.models import (
    Batch,
    Campaign,
    Draft,
    PromptTemplate,
    ScheduleRun,
    ScheduleRunStatus,
    stored_utc,
)

from .conftest import apply_settings

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def count_rows(model) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def campaign(key: str, cron: str | None, zone: str = "UTC") -> dict:
    value = {
        "key": key,
        "brand": "trailpeak",
        "product": {"name": "Ridgeline GTX", "description": "A waterproof boot."},
        "segments": [{"key": "weekend", "name": "Weekend hikers"}],
        "channels": ["google_ads_headline"],
        "variants": 2,
    }
    if cron:
        value["schedule"] = {"cron": cron, "timezone": zone}
    return value


@pytest.fixture
def imported(sqlite_settings):
    """Three campaigns imported: nightly in Berlin, nightly in New York, and unscheduled."""
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("templates", "sync").exit_code == 0
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak"}],
        "campaigns": [
            campaign("berlin-nightly", "30 2 * * *", "Europe/Berlin"),
            campaign("new-york-nightly", "0 3 * * *", "America/New_York"),
            campaign("manual-only", None),
        ],
    }
    path = sqlite_settings / "campaigns.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert invoke("campaigns", "import", str(path)).exit_code == 0
    # The schedules start on 2026-03-27 instead of the day the test runs.
    with db.session_scope() as session:
        for row in session.scalars(select(Campaign).where(Campaign.schedule_since.is_not(None))):
            row.schedule_since = datetime(2026, 3, 27, tzinfo=UTC)
    return sqlite_settings


def test_cli_schedules_list_json(imported):
    result = invoke("schedules", "list", "--now", "2026-03-28T12:00Z", "--json")

    assert result.exit_code == 0, result.output
    items = {item["campaign"]: item for item in json.loads(result.stdout)}
    assert set(items) == {"berlin-nightly", "new-york-nightly"}
    assert items["berlin-nightly"]["next_run_local"] == "2026-03-29T03:00:00+02:00"
    assert items["berlin-nightly"]["next_run_utc"] == "2026-03-29T01:00:00+00:00"
    assert items["new-york-nightly"]["next_run_local"] == "2026-03-29T03:00:00-04:00"
    assert items["new-york-nightly"]["next_run_utc"] == "2026-03-29T07:00:00+00:00"


def test_cli_schedules_list_table(imported):
    result = runner.invoke(
        app, ["schedules", "list", "--now", "2026-03-28T12:00Z"], env={"COLUMNS": "200"}
    )

    assert result.exit_code == 0, result.output
    assert "2026-03-29 03:00 CEST" in result.stdout
    assert "2026-03-29 01:00 UTC" in result.stdout
    assert "manual-only" not in result.stdout


def test_cli_schedules_night_simulation(imported):
    # 08:00 UTC on 29 March: after 02:30 in Berlin and 03:00 in New York.
    first = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--wait", "--json")
    again = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--wait", "--json")

    assert first.exit_code == 0, first.output
    slots = json.loads(first.stdout)["slots"]
    created = {slot["campaign"]: slot for slot in slots if slot["status"] == "created"}
    assert set(created) == {"berlin-nightly", "new-york-nightly"}
    assert created["berlin-nightly"]["slot_at"] == "2026-03-29T01:00:00+00:00"
    assert created["new-york-nightly"]["slot_at"] == "2026-03-29T07:00:00+00:00"
    assert json.loads(again.stdout)["slots"] == []
    assert count_rows(Batch) == 2
    assert count_rows(Draft) == 4


def test_cli_schedules_cron_nickname_runs(imported):
    path = imported / "daily.yaml"
    path.write_text(yaml.safe_dump({"campaigns": [campaign("daily-deals", "@daily", "Asia/Shanghai")]}))
    assert invoke("campaigns", "import", str(path)).exit_code == 0
    with db.session_scope() as session:
        session.scalars(select(Campaign).where(Campaign.key == "daily-deals")).one().schedule_since = (
            datetime(2026, 3, 28, tzinfo=UTC)
        )

    listed = invoke("schedules", "list", "--now", "2026-03-28T12:00Z", "--json")
    ran = invoke("schedules", "run-due", "--now", "2026-03-28T16:00Z", "--wait", "--json")

    items = {item["campaign"]: item for item in json.loads(listed.stdout)}
    assert items["daily-deals"]["cron"] == "@daily"
    assert items["daily-deals"]["next_run_local"] == "2026-03-29T00:00:00+08:00"
    assert ran.exit_code == 0, ran.output
    daily = [slot for slot in json.loads(ran.stdout)["slots"] if slot["campaign"] == "daily-deals"]
    assert [(slot["slot_at"], slot["status"]) for slot in daily] == [("2026-03-28T16:00:00+00:00", "created")]


def test_cli_schedules_list_not_cut_when_piped(imported):
    result = invoke("schedules", "list", "--now", "2026-03-28T12:00Z")

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "Europe/Berlin" in result.stdout
    assert "America/New_York" in result.stdout
    assert "2026-03-29 03:00 CEST" in result.stdout
    assert "2026-03-29 07:00 UTC" in result.stdout


def test_cli_schedules_list_latest_now(imported):
    result = invoke("schedules", "list", "--now", "9998-12-31T23:59Z", "--json")

    assert result.exit_code == 0, result.output
    items = {item["campaign"]: item for item in json.loads(result.stdout)}
    assert items["berlin-nightly"]["next_run_utc"] == "9999-01-01T01:30:00+00:00"


def test_cli_run_due_wait_failed_requests_exit_3(imported, monkeypatch):
    apply_settings(monkeypatch, generator="tests.integration.faulty_generators:erroring")
    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--wait")

    assert result.exit_code == 3, result.output
    assert count_rows(Batch) == 2
    # Missed slots in a row share one line.
    assert ("berlin-nightly 2026-03-27T01:30:00+00:00 to 2026-03-28T01:30:00+00:00: 2 slots skipped "
            "(missed, because with CONTENTGEN_SCHEDULE_CATCH_UP=latest only the latest due slot") in result.stdout  # fmt: skip
    # The slots come first, then each batch's summary as it finishes.
    slots = result.stdout.index("berlin-nightly 2026-03-29T01:00:00+00:00: created, batch 1")
    summary = result.stdout.index("Batch 1 completed: 0 drafts, 2 failed.")
    assert slots < summary
    assert "request 1 (berlin-nightly / " in result.stdout


def test_cli_run_due_wait_cancelled_batch_exits_4(imported, monkeypatch):
    apply_settings(monkeypatch, generator="tests.integration.faulty_generators:cancelling")
    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--wait")

    assert result.exit_code == 4, result.output
    assert "Batch 1 cancelled: 0 drafts, 0 failed, 2 cancelled." in result.stdout


def test_cli_run_due_failed_slot_exits_1(imported):
    with db.session_scope() as session:
        session.execute(delete(PromptTemplate))
    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z")

    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout
    assert "contentgen templates sync" in result.stdout
    assert count_rows(Batch) == 0


def test_cli_run_due_without_wait_pending(imported):
    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z")

    assert result.exit_code == 0, result.output
    assert "contentgen schedules run-due --wait" in result.stdout
    assert count_rows(Batch) == 2
    assert count_rows(Draft) == 0


def test_cli_run_due_future_now_warns(imported):
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%MZ")
    past = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z")
    ahead = invoke("schedules", "run-due", "--now", future)

    assert "Warning" not in past.output
    assert ahead.stdout.startswith("Warning: --now is 30 days after the clock")
    assert "will not run again when their time comes" in ahead.stdout
    assert "--dry-run lists them without recording anything" in ahead.stdout
    assert "CAMPAIGN" not in ahead.stdout
    # One command for each campaign with a slot recorded after the clock, after the slot lines.
    assert ahead.stdout.endswith(
        "To have the slots after the clock run at their time after all, run:\n"
        "  contentgen schedules forget berlin-nightly\n"
        "  contentgen schedules forget new-york-nightly\n"
    )
    # On standard output before the slot lines, so any capture shows it first.
    assert ahead.stdout.index("Warning") < ahead.stdout.index("berlin-nightly ")
    assert "Warning" not in ahead.stderr


def test_cli_run_due_dry_run_records_nothing(imported):
    preview = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--dry-run")
    preview_json = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--dry-run", "--json")

    assert preview.exit_code == 0, preview.output
    assert preview.stdout.startswith("Dry run at 2026-03-29T08:00:00+00:00: nothing is recorded")
    assert "berlin-nightly 2026-03-29T01:00:00+00:00: would create a batch with 2 requests" in preview.stdout
    assert ("berlin-nightly 2026-03-27T01:30:00+00:00 to 2026-03-28T01:30:00+00:00: 2 slots would be "
            "skipped (missed, because") in preview.stdout  # fmt: skip
    assert "No broker" not in preview.stdout
    assert count_rows(ScheduleRun) == 0
    assert count_rows(Batch) == 0

    real = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--json")
    previewed = json.loads(preview_json.stdout)
    recorded = json.loads(real.stdout)
    assert previewed["dry_run"] is True
    assert all(slot["batch_id"] is None for slot in previewed["slots"])
    # The preview is what the real dispatch then did, batch ids aside.
    assert [{**slot, "batch_id": None} for slot in recorded["slots"]] == previewed["slots"]


def test_cli_run_due_dry_run_failed_slot(imported):
    with db.session_scope() as session:
        session.execute(delete(PromptTemplate))

    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "berlin-nightly 2026-03-29T01:00:00+00:00: would fail (" in result.stdout
    assert "contentgen templates sync" in result.stdout
    assert count_rows(ScheduleRun) == 0


def test_cli_run_due_dry_run_with_wait_rejected(imported):
    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--dry-run", "--wait")

    assert result.exit_code == 2
    assert "--dry-run creates no batch to wait for" in result.stderr
    assert count_rows(ScheduleRun) == 0


# The clock for the forget tests: the slots of 29 and 30 March are ahead of it.
CLOCK = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(cli_schedules, "utcnow", lambda: CLOCK)
    return CLOCK


def recorded_slots(campaign_key: str) -> list[str]:
    with db.session_scope() as session:
        rows = session.scalars(
            select(ScheduleRun.slot_at)
            .join(Campaign, Campaign.id == ScheduleRun.campaign_id)
            .where(Campaign.key == campaign_key)
            .order_by(ScheduleRun.slot_at)
        )
        return [stored_utc(slot).isoformat() for slot in rows]


def test_cli_schedules_forget_slots_after_clock(imported, clock):
    invoke("schedules", "run-due", "--now", "2026-03-30T08:00Z")

    result = invoke("schedules", "forget", "berlin-nightly")
    listed = json.loads(invoke("schedules", "list", "--json").stdout)
    again = invoke("schedules", "run-due", "--now", "2026-03-30T08:00Z", "--json")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Forgot 2 recorded slots of berlin-nightly; they run when due:\n")
    assert "  2026-03-29T01:00:00+00:00 (was skipped)\n" in result.stdout
    assert "  2026-03-30T00:30:00+00:00 (was created, batch 1, pending)\n" in result.stdout
    assert "Batch 1 still has requests to run; if it should not, cancel them with: contentgen batch cancel 1" in result.stdout
    # The slots up to the clock stay recorded, as one skipped row for the missed slots of
    # 27 and 28 March, and New York's are untouched. The second run-due recorded the others.
    assert recorded_slots("berlin-nightly") == [
        "2026-03-28T01:30:00+00:00", "2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00",
    ]  # fmt: skip
    assert recorded_slots("new-york-nightly")[-1] == "2026-03-30T07:00:00+00:00"
    berlin = next(item for item in listed if item["campaign"] == "berlin-nightly")
    assert berlin["next_run_utc"] == "2026-03-29T01:00:00+00:00"
    with db.session_scope() as session:
        assert session.get(Batch, 1).idempotency_key is None
    # The forgotten slot gets a batch of its own when it is dispatched again.
    created = [slot for slot in json.loads(again.stdout)["slots"] if slot["status"] == "created"]
    assert [(slot["campaign"], slot["slot_at"]) for slot in created] == [
        ("berlin-nightly", "2026-03-30T00:30:00+00:00")
    ]
    assert created[0]["batch_id"] == 3


def test_cli_schedules_forget_from_time(imported, clock):
    invoke("schedules", "run-due", "--now", "2026-03-30T08:00Z")

    result = invoke("schedules", "forget", "berlin-nightly", "--from", "2026-03-30T02:30+02:00")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Forgot 1 recorded slot of berlin-nightly; it runs when due:\n")
    assert recorded_slots("berlin-nightly")[-1] == "2026-03-29T01:00:00+00:00"


def test_cli_schedules_forget_nothing_recorded(imported, clock):
    invoke("schedules", "run-due", "--now", "2026-03-28T08:00Z")

    result = invoke("schedules", "forget", "berlin-nightly")

    assert result.exit_code == 0, result.output
    assert "berlin-nightly has no recorded slot after 2026-03-28T12:00:00+00:00; nothing to forget." in result.stdout
    assert recorded_slots("berlin-nightly") == ["2026-03-27T01:30:00+00:00", "2026-03-28T01:30:00+00:00"]


def test_cli_schedules_forget_after_schedule_removed(imported, clock, tmp_path):
    invoke("schedules", "run-due", "--now", "2026-03-30T08:00Z")
    path = tmp_path / "unscheduled.yaml"
    unscheduled = campaign("berlin-nightly", None)
    path.write_text(yaml.safe_dump({"brands": [{"key": "trailpeak", "name": "TrailPeak"}], "campaigns": [unscheduled]}),
                    encoding="utf-8")
    assert invoke("campaigns", "import", str(path)).exit_code == 0

    result = invoke("schedules", "forget", "berlin-nightly")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "Forgot 2 recorded slots of berlin-nightly; the campaign has no schedule now, so they run only if "
        "one is added again:\n"
    )
    assert recorded_slots("berlin-nightly") == ["2026-03-28T01:30:00+00:00"]
    again = invoke("schedules", "forget", "berlin-nightly")
    assert again.exit_code == 0, again.output
    assert "berlin-nightly has no recorded slot after 2026-03-28T12:00:00+00:00; nothing to forget." in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["berlin-nightly", "--from", "2026-03-28T01:30Z"], '--from "2026-03-28T01:30Z" is not after the clock'),
        (["berlin-nightly", "--from", "2026-03-30"], '--from "2026-03-30" has no UTC offset'),
        (["manual-only"], "has no schedule"),
        (["missing"], "not found"),
    ],
    ids=["past-from", "naive-from", "unscheduled", "unknown"],
)
def test_cli_schedules_forget_rejected(imported, clock, args, message):
    invoke("schedules", "run-due", "--now", "2026-03-30T08:00Z")
    before = recorded_slots("berlin-nightly")

    result = invoke("schedules", "forget", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert recorded_slots("berlin-nightly") == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-03-29T02:30", "has no UTC offset"),
        ("2026-12-06", "add one, e.g. 2026-12-06T00:00+02:00 or 2026-12-06T00:00Z"),
        ("2026-03-29T02:30:15", "add one, e.g. 2026-03-29T02:30:15+02:00 or 2026-03-29T02:30:15Z"),
        ("tomorrow", "is not an ISO 8601 time"),
        ("9999-12-31T23:59Z", '"9999-12-31T23:59Z" is out of range; use a time from 1970-01-01'),
        ("0001-01-01T00:00+02:00", "is out of range"),
        ("1969-12-31T23:59Z", "is out of range"),
    ],
    ids=["naive", "date-only", "seconds", "not-iso", "year-9999", "year-1", "before-1970"],
)
def test_cli_schedules_run_due_bad_now_rejected(imported, value, message):
    result = invoke("schedules", "run-due", "--now", value)

    assert result.exit_code == 2
    assert message in result.stderr
    assert count_rows(ScheduleRun) == 0


def test_cli_schedules_pause_and_resume(imported):
    paused = invoke("schedules", "pause", "berlin-nightly")
    listed = json.loads(invoke("schedules", "list", "--json").stdout)
    night = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z", "--json")
    resumed = invoke("schedules", "resume", "berlin-nightly")

    assert paused.exit_code == 0
    assert "paused" in paused.stdout
    assert [item["paused"] for item in listed if item["campaign"] == "berlin-nightly"] == [True]
    assert {slot["campaign"] for slot in json.loads(night.stdout)["slots"]} == {"new-york-nightly"}
    assert resumed.exit_code == 0
    assert "resumed" in resumed.stdout


@pytest.mark.parametrize(
    ("key", "message"),
    [("manual-only", "has no schedule"), ("missing", "not found")],
    ids=["unscheduled", "unknown"],
)
def test_cli_schedules_pause_rejected(imported, key, message):
    result = invoke("schedules", "pause", key)

    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_schedules_pause_unscheduled_names_fix(imported):
    result = invoke("schedules", "pause", "manual-only")

    assert result.stderr == (
        'Error: campaign "manual-only" has no schedule; add a "schedule" block with a "cron" '
        'expression, and optionally a "timezone" (UTC if left out), to its file and import it again\n'
    )


def test_cli_run_due_lists_slots_before_waiting(imported, monkeypatch):
    queue = f"contentgen-test-{uuid.uuid4().hex[:8]}"
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:6379/15", queue=queue)
    try:
        # No worker consumes the queue, so the wait ends at the timeout.
        result = invoke("schedules", "run-due", "--now", "2026-03-29T02:00Z", "--wait", "--timeout", "1")
    finally:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").delete(queue)

    assert result.exit_code == 1
    assert "berlin-nightly 2026-03-29T01:00:00+00:00: created, batch 1 with 2 requests" in result.stdout
    assert "Sent the chunks of batches 1, 2." in result.stdout
    assert "Waiting for the workers to finish batch 1 (0 of 2 requests finished)" in result.stderr
    assert "still has 2 pending requests after 1 s" in result.stderr
    assert "Batch 2 was not waited for either; follow it with: contentgen batch status 2 --wait" in result.stderr
    with db.session_scope() as session:
        # The sweeper counts from when the chunks were sent.
        assert all(batch.sent_at is not None for batch in session.scalars(select(Batch)))


def test_cli_run_due_timeout_without_wait_exits_2(imported):
    result = invoke("schedules", "run-due", "--now", "2026-03-29T02:00Z", "--timeout", "5")
    assert result.exit_code == 2
    assert "--timeout applies only with --wait" in result.stderr
    assert count_rows(Batch) == 0


def import_campaign(folder, value: dict, name: str = "changed.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump({"campaigns": [value]}), encoding="utf-8")
    result = invoke("campaigns", "import", str(path))
    assert result.exit_code == 0, result.output
    return result


def listed_paused(campaign_key: str) -> bool:
    items = json.loads(invoke("schedules", "list", "--json").stdout)
    return next(item["paused"] for item in items if item["campaign"] == campaign_key)


def test_cli_import_changed_cron_says_when(imported):
    changed = import_campaign(imported, campaign("berlin-nightly", "0 5 * * *", "Europe/Berlin"))
    again = import_campaign(imported, campaign("berlin-nightly", "0 5 * * *", "Europe/Berlin"))

    assert changed.stdout.startswith("Imported 0 brands and 1 campaign: berlin-nightly.\n")
    assert re.search(
        r'^Schedule of berlin-nightly is now "0 5 \* \* \*" in Europe/Berlin\. It takes effect from '
        r"the import \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\), so earlier slots do not run; its first "
        r"slot is \d{4}-\d\d-\d\dT05:00:00\+0[12]:00\.$",
        changed.stdout,
        re.M,
    )
    # Once: an import that leaves the cron and zone as they are prints no note.
    assert "Schedule of" not in again.stdout


def test_cli_import_time_zone_change_noted(imported):
    result = import_campaign(imported, campaign("berlin-nightly", "30 2 * * *", "Asia/Shanghai"))

    assert 'Schedule of berlin-nightly is now "30 2 * * *" in Asia/Shanghai. It takes effect' in result.stdout


def test_cli_import_new_campaign_no_schedule_note(imported):
    result = import_campaign(imported, campaign("weekly-digest", "0 8 * * 1"))

    assert result.stdout == "Imported 0 brands and 1 campaign: weekly-digest.\n"


def test_cli_import_cron_held_back_names_forget(imported):
    ahead = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%MZ")
    assert invoke("schedules", "run-due", "--now", ahead).exit_code == 0
    newest = recorded_slots("berlin-nightly")[-1]

    result = import_campaign(imported, campaign("berlin-nightly", "0 5 * * *", "Europe/Berlin"))

    newest_local = datetime.fromisoformat(newest).astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    assert (f"Slots are recorded up to {newest_local}, ahead of the clock, so it takes effect after "
            "that; its first slot is ") in result.stdout  # fmt: skip
    assert result.stdout.endswith(
        "To run its slots before then, forget the recorded ones with: contentgen schedules forget berlin-nightly\n"
    )


def test_cli_import_changed_cron_keeps_pause(imported):
    invoke("schedules", "pause", "berlin-nightly")

    result = import_campaign(imported, campaign("berlin-nightly", "0 5 * * *", "Europe/Berlin"))

    assert result.stdout.endswith(
        'Schedule of berlin-nightly is now "0 5 * * *" in Europe/Berlin. It is paused, so it runs '
        "from the time it is resumed with: contentgen schedules resume berlin-nightly\n"
    )
    assert listed_paused("berlin-nightly") is True


def test_cli_import_schedule_added_back_unpaused(imported):
    invoke("schedules", "pause", "berlin-nightly")
    import_campaign(imported, campaign("berlin-nightly", None))

    added = import_campaign(imported, campaign("berlin-nightly", "0 6 * * *", "Europe/Berlin"))
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")
    ran = json.loads(invoke("schedules", "run-due", "--now", ahead, "--json").stdout)

    assert 'Schedule of berlin-nightly is now "0 6 * * *" in Europe/Berlin. It takes effect' in added.stdout
    assert "paused" not in added.stdout
    assert listed_paused("berlin-nightly") is False
    berlin = [slot for slot in ran["slots"] if slot["campaign"] == "berlin-nightly"]
    assert berlin[-1]["status"] == "created"


# Nothing listens on port 1, so connecting fails at once.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def test_cli_run_due_broker_down_lists_slots_first(imported, monkeypatch):
    apply_settings(monkeypatch, broker_url=UNREACHABLE_BROKER)

    result = invoke("schedules", "run-due", "--now", "2026-03-29T08:00Z")

    assert result.exit_code == 1
    assert ("berlin-nightly 2026-03-27T01:30:00+00:00 to 2026-03-28T01:30:00+00:00: 2 slots skipped "
            "(missed, because") in result.stdout  # fmt: skip
    assert "berlin-nightly 2026-03-29T01:00:00+00:00: created, batch 1 with 2 requests" in result.stdout
    assert "new-york-nightly 2026-03-29T07:00:00+00:00: created, batch 2 with 2 requests" in result.stdout
    assert "Sent the chunks" not in result.stdout
    assert result.stderr.startswith(f"Error: broker {UNREACHABLE_BROKER} is unreachable or rejected the connection (")
    assert result.stderr.endswith(
        "). The chunks of batches 1, 2 were not sent and their requests stay pending. Check that the "
        "broker runs and CONTENTGEN_BROKER_URL is right: the next dispatch, by Celery beat or by "
        "contentgen schedules run-due, sends them. To send them at once instead, run for each: "
        "contentgen batch resume ID\n"
    )
    with db.session_scope() as session:
        assert set(session.scalars(select(ScheduleRun.status).where(ScheduleRun.batch_id.is_not(None)))) == {
            ScheduleRunStatus.CREATED
        }


def test_cli_run_due_broker_down_json_one_batch(imported, monkeypatch):
    apply_settings(monkeypatch, broker_url=UNREACHABLE_BROKER)

    # Only Berlin's slot of 27 March is due by 02:00 UTC.
    result = invoke("schedules", "run-due", "--now", "2026-03-27T02:00Z", "--json")

    assert result.exit_code == 1
    output = json.loads(result.stdout)
    assert [(slot["campaign"], slot["status"], slot["batch_id"]) for slot in output["slots"]] == [
        ("berlin-nightly", "created", 1)
    ]
    assert output["handed_over"] == []
    assert result.stderr.endswith(
        "The chunks of batch 1 were not sent and its requests stay pending. Check that the broker "
        "runs and CONTENTGEN_BROKER_URL is right: the next dispatch, by Celery beat or by contentgen "
        "schedules run-due, sends them. To send them at once instead, run: contentgen batch resume 1\n"
    )


def test_cli_run_due_long_gap_one_line(imported, monkeypatch):
    apply_settings(monkeypatch, schedule_lookback_hours="8784")
    import_campaign(imported, campaign("every-minute", "* * * * *"))
    with db.session_scope() as session:
        row = session.scalars(select(Campaign).where(Campaign.key == "every-minute")).one()
        row.schedule_since = datetime(2024, 1, 1, tzinfo=UTC)

    result = invoke("schedules", "run-due", "--now", "2026-03-01T12:00Z", "--dry-run")

    assert result.exit_code == 0, result.output
    assert ("every-minute 2025-02-28T12:01:00+00:00 to 2026-03-01T11:59:00+00:00: more than 1440 "
            "slots would be skipped (missed, because") in result.stdout  # fmt: skip
    assert "every-minute 2026-03-01T12:00:00+00:00: would create a batch with 2 requests" in result.stdout


def one_request_batch(folder) -> int:
    single = {**campaign("single", "0 3 * * *"), "variants": 1}
    import_campaign(folder, single, name="single.yaml")
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")
    slots = json.loads(invoke("schedules", "run-due", "--now", ahead, "--json").stdout)["slots"]
    (batch_id,) = [slot["batch_id"] for slot in slots if slot["campaign"] == "single" and slot["batch_id"]]
    return batch_id


def test_wait_timeout_one_pending_request_singular(imported):
    batch_id = one_request_batch(imported)

    message = f"batch {batch_id} still has 1 pending request after 0 s;"
    with pytest.raises(InfrastructureError, match=re.escape(message)):
        wait_for_batch(batch_id, poll_seconds=0.01, timeout=0.01)


def test_inline_timeout_one_pending_request_singular(imported):
    batch_id = one_request_batch(imported)

    message = f"with 1 request of batch {batch_id} still pending. Pending requests stay saved"
    with pytest.raises(InfrastructureError, match=re.escape(message)):
        run_inline(batch_id, timeout=1e-9)
