"""The ``contentgen schedules`` commands: list, pause, resume, forget and run-due."""

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
from contentgen.batches import campaigns_by_key
from contentgen.cli_progress import run_with_progress, wait_with_progress
from contentgen.cli_tables import plural, print_table
from contentgen.cli_usage import UsageTyper
from contentgen.dispatch import BrokerUnreachable, read_progress
from contentgen.errors import (
    EXIT_BATCH_CANCELLED,
    EXIT_FAILURE,
    EXIT_REQUESTS_FAILED,
    ContentgenError,
    InfrastructureError,
    InvalidInput,
)
from contentgen.models import BatchStatus, ScheduleRunStatus, utcnow
from contentgen.schedule_runs import (
    MAX_COUNTED_MISSED_SLOTS,
    SlotOutcome,
    created_run_batch_ids,
    forget_runs,
    list_schedules,
    pause_schedule,
    resume_schedule,
    run_created_runs,
    run_due,
    schedule_of,
    send_next_created_run,
)
from contentgen.schedules import to_utc
from contentgen.settings import get_settings

# soft_wrap: long lines (commands to copy) are never broken in the middle.
console = Console(soft_wrap=True)

schedules_app = UsageTyper(
    help="List, pause and resume campaign schedules, run the slots that are due, and forget "
    "slots recorded ahead of the clock.",
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
CampaignKey = Annotated[
    str, typer.Argument(help="Key of an imported campaign with a schedule.", metavar="CAMPAIGN_KEY")
]


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


def parse_now(value: str | None, option: str = "--now") -> datetime:
    """Parse a ``--now`` value (or another ``option``'s) into an aware UTC datetime; None
    reads the clock.

    Raises:
        InvalidInput: if the value is not ISO 8601, has no UTC offset or is out of range.
    """
    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f'{option} "{value}" is not an ISO 8601 time; use e.g. 2026-03-29T02:31+02:00'
        ) from None
    if moment.tzinfo is None:
        # Written out in full, since "2026-12-06" + "Z" is no ISO 8601 time.
        example = moment.isoformat(timespec="minutes" if not moment.second and not moment.microsecond else "auto")
        raise InvalidInput(
            f'{option} "{value}" has no UTC offset, so it names no single instant; '
            f"add one, e.g. {example}+02:00 or {example}Z"
        )
    try:
        moment = to_utc(moment)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST_NOW <= moment < LATEST_NOW:
        raise InvalidInput(
            f'{option} "{value}" is out of range; use a time from {EARLIEST_NOW:%Y-%m-%d} '
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


@schedules_app.command("forget")
def schedules_forget(
    campaign: CampaignKey,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Forget the slots from this time on: ISO 8601 with a UTC offset, after the "
            "clock. Default: every slot after the clock.",
        ),
    ] = None,
) -> None:
    """Forget the runs recorded for slots after the clock, so that they run at their time.

    run-due --now with a time ahead of the clock records such runs.
    A forgotten slot's batch stays as it is.
    """
    clock = utcnow()
    first = None if start is None else parse_now(start, option="--from")
    if first is not None and first <= clock:
        raise InvalidInput(
            f'--from "{start}" is not after the clock ({clock.isoformat(timespec="seconds")}); '
            "the runs of earlier slots record what happened and stay. Pass a later time, or "
            "leave --from out to forget every slot after the clock"
        )
    db.check_schema()
    with db.session_scope() as session:
        forgotten = forget_runs(session, campaign, clock, first)
        scheduled = schedule_of(campaigns_by_key(session, [campaign])[0]) is not None

    if not forgotten:
        after = (first or clock).isoformat(timespec="seconds")
        console.print(f"{campaign} has no recorded slot after {after}; nothing to forget.")
        return
    if scheduled:
        then = f"{'it runs' if len(forgotten) == 1 else 'they run'} when due"
    else:
        pronoun = "it runs" if len(forgotten) == 1 else "they run"
        then = f"the campaign has no schedule now, so {pronoun} only if one is added again"
    console.print(f"Forgot {plural(len(forgotten), 'recorded slot')} of {campaign}; {then}:")
    for run in forgotten:
        line = f"  {run.slot_at.isoformat()} (was {run.status.value}"
        if run.batch_id is not None:
            line += f", batch {run.batch_id}, {run.batch_status.value}"
        console.print(line + ")", highlight=False)
    unfinished = [
        run.batch_id for run in forgotten if run.batch_status in (BatchStatus.PENDING, BatchStatus.RUNNING)
    ]
    for batch_id in unfinished:
        console.print(
            f"Batch {batch_id} still has requests to run; if it should not, cancel them with: "
            f"contentgen batch cancel {batch_id}",
            highlight=False,
        )


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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List the slots that are due and what each would get, and record nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create one batch per due schedule slot, as the dispatcher under Celery beat does.

    Running it again, or at the same time as beat, creates no second batch for a slot.
    """
    if timeout is not None and not wait:
        raise InvalidInput("--timeout applies only with --wait; add --wait or leave --timeout out")
    if dry_run and wait:
        raise InvalidInput("--dry-run creates no batch to wait for; leave out --wait or --dry-run")
    deadline = None if timeout is None else time.monotonic() + timeout
    moment = parse_now(now)
    db.check_schema()
    if dry_run:
        _preview_due(moment, as_json)
        return

    clock = utcnow()
    warning = _future_now_warning(moment, clock)
    if warning and not as_json:
        # On standard output, first, so that it comes before the slot lines however the
        # output is captured.
        console.print(warning, markup=False, highlight=False)
    outcomes = run_due(moment, clock=clock)
    forget_commands = _forget_commands(outcomes, clock) if warning else []
    broker = bool(get_settings().broker_url)

    def print_json_report(handed_over: list[int]) -> None:
        if as_json:
            json_warning = warning
            if forget_commands:
                json_warning += f" {FORGET_ADVICE} {'; '.join(forget_commands)}"
            _print_json({"now": moment.isoformat(), "dry_run": False, "warning": json_warning,
                         "slots": [o.as_dict() for o in outcomes], "handed_over": handed_over})  # fmt: skip

    # The slots are listed before any sending or waiting: sending can fail, and waiting can
    # take many minutes.
    handed_over: list[int] = []
    send_error = None
    if broker:
        handed_over, send_error = _send_created_runs()
    if not as_json:
        _print_outcomes(outcomes, handed_over, wait)
        _print_forget_commands(forget_commands)
    if send_error is not None:
        print_json_report(handed_over)
        raise send_error

    waited: list[int] = []
    if broker and wait:
        created = [outcome.batch_id for outcome in outcomes if outcome.batch_id is not None]
        _wait_for_batches(created, as_json, deadline)
        waited = created
    elif wait:
        def run_batch(batch_id: int) -> None:
            run_with_progress(batch_id, quiet=as_json, timeout=_remaining(deadline))

        handed_over = waited = run_created_runs(run_batch)
    print_json_report(handed_over)

    if any(outcome.status is ScheduleRunStatus.FAILED for outcome in outcomes):
        # A slot whose batch could not be created (a campaign input error) is a failure of
        # this run, which a cron job or CI step has to see.
        raise typer.Exit(EXIT_FAILURE)
    # Each waited-for batch's summary above names its failed requests.
    finals = [read_progress(batch_id) for batch_id in waited]
    if any(final.requests["failed"] for final in finals):
        raise typer.Exit(EXIT_REQUESTS_FAILED)
    if any(final.batch.status == BatchStatus.CANCELLED for final in finals):
        raise typer.Exit(EXIT_BATCH_CANCELLED)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(1.0, deadline - time.monotonic())


def _send_created_runs() -> tuple[list[int], ContentgenError | None]:
    """Send the chunks of every schedule batch whose run is ``created``.

    Returns:
        The ids of the batches sent, and the error that stopped the sending, if any. A
        broker that is unreachable gets an error that names every batch left unsent.
    """
    sent: list[int] = []
    try:
        while (batch_id := send_next_created_run()) is not None:
            sent.append(batch_id)
    except BrokerUnreachable as error:
        with db.session_scope() as session:
            unsent = created_run_batch_ids(session)
        return sent, InfrastructureError(_unsent_message(error.problem, unsent))
    except ContentgenError as error:
        return sent, error
    return sent, None


def _unsent_message(problem: str, batch_ids: list[int]) -> str:
    if len(batch_ids) == 1:
        unsent = f"The chunks of batch {batch_ids[0]} were not sent and its requests stay pending"
        command = f"run: contentgen batch resume {batch_ids[0]}"
    else:
        listed = ", ".join(map(str, batch_ids))
        unsent = f"The chunks of batches {listed} were not sent and their requests stay pending"
        command = "run for each: contentgen batch resume ID"
    return (
        f"{problem}. {unsent}. Check that the broker runs and CONTENTGEN_BROKER_URL is right: "
        "the next dispatch, by Celery beat or by contentgen schedules run-due, sends them. To "
        f"send them at once instead, {command}"
    )


def _wait_for_batches(batch_ids: list[int], as_json: bool, deadline: float | None) -> None:
    """Wait until each batch finishes, one after the other.

    Raises:
        InfrastructureError: if the time runs out; the message names the batches not
            waited for.
    """
    for index, batch_id in enumerate(batch_ids):
        try:
            wait_with_progress(batch_id, quiet=as_json, timeout=_remaining(deadline))
        except InfrastructureError as error:
            later = batch_ids[index + 1:]
            if len(later) == 1:
                rest = (f"Batch {later[0]} was not waited for either; follow it with: "
                        f"contentgen batch status {later[0]} --wait")
            else:
                rest = (f"Batches {', '.join(map(str, later))} were not waited for "
                        "either; follow each with: contentgen batch status ID --wait")
            if later:
                error.args = (f"{error.args[0]}. {rest}", *error.args[1:])
            raise


def _future_now_warning(moment: datetime, clock: datetime) -> str | None:
    """Return the warning for a --now ahead of the clock, whose runs are recorded like real ones."""
    ahead = moment - clock
    if ahead <= FUTURE_NOW_WARNING:
        return None
    return (
        f"Warning: --now is {_duration(ahead)} after the clock. The slots due by then are "
        "recorded as run, or as skipped where a later slot replaces them, and will not run "
        "again when their time comes. --dry-run lists them without recording anything."
    )


# Printed after the slot lines of a run-due ahead of the clock, before the commands.
FORGET_ADVICE = "To have the slots after the clock run at their time after all, run:"


def _forget_commands(outcomes: list[SlotOutcome], clock: datetime) -> list[str]:
    """Return one ``schedules forget`` command for each campaign with a slot recorded after
    ``clock``."""
    keys = dict.fromkeys(outcome.campaign for outcome in outcomes if outcome.slot_at > clock)
    return [f"contentgen schedules forget {key}" for key in keys]


def _print_forget_commands(commands: list[str]) -> None:
    if len(commands) == 1:
        console.print(f"{FORGET_ADVICE} {commands[0]}", markup=False, highlight=False)
    elif commands:
        lines = "\n".join(f"  {command}" for command in commands)
        console.print(f"{FORGET_ADVICE}\n{lines}", markup=False, highlight=False)


def _preview_due(moment: datetime, as_json: bool) -> None:
    outcomes = run_due(moment, dry_run=True, clock=utcnow())
    if as_json:
        _print_json({"now": moment.isoformat(), "dry_run": True, "warning": None,
                     "slots": [o.as_dict() for o in outcomes], "handed_over": []})  # fmt: skip
        return
    console.print(f"Dry run at {moment.isoformat()}: nothing is recorded and no batch is created.")
    _print_outcomes(outcomes, [], wait=False, dry_run=True)


def _print_outcomes(
    outcomes: list[SlotOutcome], handed_over: list[int], wait: bool, dry_run: bool = False
) -> None:
    # Skipped outcomes in a row of one campaign with the same reason share a line. Each can
    # cover many missed slots, and those before and after the clock are recorded apart.
    for (campaign, status, detail), group in groupby(
        outcomes, key=lambda outcome: (outcome.campaign, outcome.status, outcome.detail)
    ):
        runs = list(group)
        if status is ScheduleRunStatus.SKIPPED and (len(runs) > 1 or runs[0].first_slot_at):
            console.print(_skipped_range_line(campaign, runs, detail, dry_run), highlight=False)
            continue
        for outcome in runs:
            console.print(_outcome_line(outcome, dry_run), highlight=False)
    if not outcomes:
        console.print("No schedule slot is due.")
    if dry_run:
        return
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


def _skipped_range_line(
    campaign: str, outcomes: list[SlotOutcome], detail: str | None, dry_run: bool
) -> str:
    counts = [outcome.slot_count for outcome in outcomes]
    count = f"more than {MAX_COUNTED_MISSED_SLOTS}" if None in counts else str(sum(counts))
    verb = "would be skipped" if dry_run else ScheduleRunStatus.SKIPPED.value
    first, last = outcomes[0].first_slot.isoformat(), outcomes[-1].slot_at.isoformat()
    line = f"{campaign} {first} to {last}: {count} slots {verb}"
    return line + (f" ({detail})" if detail else "")


# Dry-run wording of each slot status but created.
_WOULD = {ScheduleRunStatus.SKIPPED: "would be skipped", ScheduleRunStatus.FAILED: "would fail"}


def _outcome_line(outcome: SlotOutcome, dry_run: bool) -> str:
    if not dry_run:
        text = outcome.status.value
        if outcome.batch_id is not None:
            text += f", batch {outcome.batch_id} with {plural(outcome.request_count, 'request')}"
    elif outcome.status is ScheduleRunStatus.CREATED:
        text = f"would create a batch with {plural(outcome.request_count, 'request')}"
    else:
        text = _WOULD[outcome.status]
    if outcome.detail:
        text += f" ({outcome.detail})"
    return f"{outcome.campaign} {outcome.slot_at.isoformat()}: {text}"
