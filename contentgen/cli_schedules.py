"""The ``contentgen schedules`` commands: list, pause, resume and run-due."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from contentgen import db
from contentgen.cli_progress import run_with_progress, wait_with_progress
from contentgen.cli_tables import plural, print_table
from contentgen.dispatch import read_progress
from contentgen.errors import EXIT_FAILURE, EXIT_REQUESTS_FAILED, InfrastructureError, InvalidInput
from contentgen.models import ScheduleRunStatus, utcnow
from contentgen.schedule_runs import (
    list_schedules,
    pause_schedule,
    resume_schedule,
    run_created_runs,
    run_due,
    send_created_runs,
)
from contentgen.schedules import to_utc
from contentgen.settings import get_settings

# soft_wrap: long lines (commands to copy) are never broken in the middle.
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)

schedules_app = typer.Typer(
    help="List, pause and resume campaign schedules, and run the slots that are due.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as if this were the time: ISO 8601 with a UTC offset, "
        "e.g. 2026-03-29T02:31+02:00 or 2026-03-29T00:31Z. Default: the clock.",
    ),
]
CampaignKey = Annotated[str, typer.Argument(help="Key of an imported campaign with a schedule.")]


# A --now this far past the clock gets a warning from run-due.
FUTURE_NOW_WARNING = timedelta(minutes=1)


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.0f} days"


# The range of --now. Python's datetime ends with the year 9999, and the next slot after
# --now of a daily or yearly cron can be up to a year later, so the range ends a year
# earlier. Times before the Unix epoch have no use for a schedule.
EARLIEST_NOW = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_NOW = datetime(9999, 1, 1, tzinfo=UTC)


def parse_now(value: str | None) -> datetime:
    """Parse a ``--now`` value into an aware UTC datetime; None reads the clock.

    Raises:
        InvalidInput: if the value is not ISO 8601, has no UTC offset or is out of range.
    """
    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f'--now "{value}" is not an ISO 8601 time; use e.g. 2026-03-29T02:31+02:00'
        ) from None
    if moment.tzinfo is None:
        # Written out in full, since "2026-12-06" + "Z" is no ISO 8601 time.
        example = moment.isoformat(timespec="minutes" if not moment.second and not moment.microsecond else "auto")
        raise InvalidInput(
            f'--now "{value}" has no UTC offset, so it names no single instant; '
            f"add one, e.g. {example}+02:00 or {example}Z"
        )
    try:
        moment = to_utc(moment)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST_NOW <= moment < LATEST_NOW:
        raise InvalidInput(
            f'--now "{value}" is out of range; use a time from {EARLIEST_NOW:%Y-%m-%d} '
            f"up to but not including {LATEST_NOW:%Y-%m-%d}"
        )
    return moment


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _short(iso_time: str | None, zone: str) -> str:
    """Format an ISO time in ``zone`` as e.g. "2026-03-29 03:00 CEST" for the tables."""
    if iso_time is None:
        return "-"
    return datetime.fromisoformat(iso_time).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@schedules_app.command("list")
def schedules_list(now: NowOption = None, as_json: JsonOption = False) -> None:
    """Show each scheduled campaign with its next run, in its own zone and in UTC."""
    moment = parse_now(now)
    db.check_schema()
    with db.session_scope() as session:
        items = list_schedules(session, moment)
    if as_json:
        _print_json(items)
        return

    if not items:
        console.print('No campaign has a schedule; add a "schedule" block to a campaign file.')
        return
    table = Table("campaign", "cron", "zone", "paused", "next run (local)", "next run (UTC)",
                  "last run")  # fmt: skip
    for item in items:
        last = item["last_run"]
        last_text = "-"
        if last:
            last_text = f"{_short(last['slot_utc'], item['timezone'])} {last['status']}"
            if last["batch_id"] is not None:
                last_text += f" (batch {last['batch_id']})"
        table.add_row(
            item["campaign"], item["cron"], item["timezone"], "yes" if item["paused"] else "no",
            _short(item["next_run_utc"], item["timezone"]), _short(item["next_run_utc"], "UTC"),
            last_text,
        )  # fmt: skip
    print_table(console, table)


@schedules_app.command("pause")
def schedules_pause(campaign: CampaignKey) -> None:
    """Stop creating batches for a campaign's schedule until it is resumed."""
    db.check_schema()
    with db.session_scope() as session:
        changed = pause_schedule(session, campaign)
    console.print(f"Schedule of {campaign} {'paused' if changed else 'was already paused'}.")


@schedules_app.command("resume")
def schedules_resume(campaign: CampaignKey) -> None:
    """Resume a paused schedule from now on; slots missed while paused do not run."""
    db.check_schema()
    with db.session_scope() as session:
        changed = resume_schedule(session, campaign, utcnow())
    console.print(f"Schedule of {campaign} {'resumed' if changed else 'was not paused'}.")


@schedules_app.command("run-due")
def schedules_run_due(
    now: NowOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait until the new batches finish; without a broker, run them here.",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="With --wait: give up after this many seconds for all the batches together "
            "(exit code 1).",
            min=1,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create one batch per due schedule slot, as the dispatcher under Celery beat does.

    Running it again, or at the same time as beat, creates no second batch for a slot.
    """
    if timeout is not None and not wait:
        raise InvalidInput("--timeout applies only with --wait; add --wait or leave --timeout out")
    deadline = None if timeout is None else time.monotonic() + timeout
    moment = parse_now(now)
    db.check_schema()
    ahead = moment - utcnow()
    if ahead > FUTURE_NOW_WARNING and not as_json:
        # Runs are recorded like real ones, so these slots will not run at their real time.
        error_console.print(
            f"Warning: --now is {_duration(ahead)} after the clock. The slots due by then are "
            "recorded as run, or as skipped where a later slot replaces them, and will not "
            "run again when their time comes.",
            markup=False,
            highlight=False,
        )
    outcomes = run_due(moment)
    created = [outcome.batch_id for outcome in outcomes if outcome.batch_id is not None]

    def remaining() -> float | None:
        return None if deadline is None else max(1.0, deadline - time.monotonic())

    # The slots are listed before any waiting, which can take many minutes.
    waited: list[int] = []
    if get_settings().broker_url:
        handed_over = send_created_runs()
        if not as_json:
            _print_outcomes(outcomes, handed_over, wait)
        if wait:
            for index, batch_id in enumerate(created):
                try:
                    wait_with_progress(batch_id, quiet=as_json, timeout=remaining())
                except InfrastructureError as error:
                    later = created[index + 1:]
                    if len(later) == 1:
                        rest = (f"Batch {later[0]} was not waited for either; follow it with: "
                                f"contentgen batch status {later[0]} --wait")
                    else:
                        rest = (f"Batches {', '.join(map(str, later))} were not waited for "
                                "either; follow each with: contentgen batch status ID --wait")
                    if later:
                        error.args = (f"{error.args[0]}. {rest}", *error.args[1:])
                    raise
            waited = created
    elif wait:
        if not as_json:
            _print_outcomes(outcomes, [], wait)
        handed_over = waited = run_created_runs(
            lambda batch_id: run_with_progress(batch_id, quiet=as_json, timeout=remaining())
        )
    else:
        handed_over = []
        if not as_json:
            _print_outcomes(outcomes, handed_over, wait)

    if as_json:
        _print_json({"now": moment.isoformat(), "slots": [o.as_dict() for o in outcomes],
                     "handed_over": handed_over})  # fmt: skip
    if any(outcome.status is ScheduleRunStatus.FAILED for outcome in outcomes):
        # A slot whose batch could not be created (a campaign input error) is a failure of
        # this run, which a cron job or CI step has to see.
        raise typer.Exit(EXIT_FAILURE)
    # Each waited-for batch's summary above names its failed requests.
    if any(read_progress(batch_id).requests["failed"] for batch_id in waited):
        raise typer.Exit(EXIT_REQUESTS_FAILED)


def _print_outcomes(outcomes, handed_over: list[int], wait: bool) -> None:
    # Skipped slots in a row of one campaign with the same reason share a line: a schedule
    # every few minutes can miss hundreds while the dispatcher is down.
    for (campaign, status, detail), group in groupby(
        outcomes, key=lambda outcome: (outcome.campaign, outcome.status, outcome.detail)
    ):
        runs = list(group)
        if status is ScheduleRunStatus.SKIPPED and len(runs) > 1:
            line = (f"{campaign} {runs[0].slot_at.isoformat()} to {runs[-1].slot_at.isoformat()}: "
                    f"{len(runs)} slots {status.value}")  # fmt: skip
            console.print(line + (f" ({detail})" if detail else ""), highlight=False)
            continue
        for outcome in runs:
            line = f"{outcome.campaign} {outcome.slot_at.isoformat()}: {outcome.status.value}"
            if outcome.batch_id is not None:
                line += f", batch {outcome.batch_id} with {plural(outcome.request_count, 'request')}"
            if outcome.detail:
                line += f" ({outcome.detail})"
            console.print(line, highlight=False)
    if not outcomes:
        console.print("No schedule slot is due.")
    if handed_over:
        verb = "Sent the chunks of" if get_settings().broker_url else "Ran"
        noun = "batch" if len(handed_over) == 1 else "batches"
        console.print(f"{verb} {noun} {', '.join(map(str, handed_over))}.")

    waiting = [
        outcome.batch_id
        for outcome in outcomes
        if outcome.status == ScheduleRunStatus.CREATED and outcome.batch_id not in handed_over
    ]
    if waiting and not get_settings().broker_url and not wait:
        console.print(
            "No broker is configured (CONTENTGEN_BROKER_URL), so the batches wait. "
            "Run them in this process with: contentgen schedules run-due --wait"
        )
