"""The ``contentgen`` command line.

Exit codes: 0 success, 2 invalid input or usage, 1 any other failure (an unreachable
database or broker, a model that cannot load, prompt templates never synced, a schedule
slot without its batch), 3 a batch waited for with ``--wait`` finished with failed requests.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from typer.core import TyperGroup

from contentgen import __version__, db
from contentgen.batches import (
    BatchProgress,
    batch_progress,
    cancel_batch,
    get_batch,
    list_batches,
    reset_failed,
    resubmit_command,
)
from contentgen.cleared_fields import ClearedFields
from contentgen.cli_logging import configure_logging
from contentgen.cli_progress import (
    print_check_summary,
    print_failures,
    run_with_progress,
    wait_with_progress,
)
from contentgen.cli_schedules import schedules_app
from contentgen.cli_tables import draft_slot, plural, print_table, utc_cell
from contentgen.cli_usage import UsageTyper
from contentgen.counting import Counting
from contentgen.dispatch import (
    SubmissionPlan,
    dry_run_submit,
    import_files,
    read_progress,
    resume,
    send_chunks,
    should_send,
    submit,
    sweep_stalled_batches,
)
from contentgen.drafts import QUEUE_STATUSES, DraftOrder, draft_details, list_drafts
from contentgen.errors import (
    EXIT_BATCH_CANCELLED,
    EXIT_FAILURE,
    EXIT_INVALID_INPUT,
    EXIT_REQUESTS_FAILED,
    ContentgenError,
    InvalidInput,
    NotSetUp,
)
from contentgen.generation import get_generator
from contentgen.models import (
    BatchStatus,
    Campaign,
    DraftStatus,
    PromptTemplate,
    RequestStatus,
    utc_iso,
)
from contentgen.review import history
from contentgen.segments import label
from contentgen.settings import get_settings
from contentgen.templates import sync_templates

# soft_wrap: long lines (commands to copy, file paths) are never broken in the middle.
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)


class _ErrorBoundary(TyperGroup):
    """Turn contentgen's errors into one "Error: ..." line and the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NotSetUp as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_FAILURE) from None
        except InvalidInput as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_INVALID_INPUT) from None
        except ContentgenError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_FAILURE) from None


def _group(help_text: str) -> typer.Typer:
    return UsageTyper(help=help_text, no_args_is_help=True, pretty_exceptions_enable=False)


app = UsageTyper(
    cls=_ErrorBoundary,
    help="Generate marketing copy in batches and review every draft.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = _group("Create or migrate the database schema.")
templates_app = _group("Sync and list prompt templates.")
campaigns_app = _group("Import and list campaigns.")
batch_app = _group("Submit batches and follow them.")
drafts_app = _group("Read generated drafts.")
app.add_typer(db_app, name="db")
app.add_typer(templates_app, name="templates")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(batch_app, name="batch")
app.add_typer(drafts_app, name="drafts")
app.add_typer(schedules_app, name="schedules")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# Ids have no upper bound here, because the lookups report an id beyond any row's as not found.
BatchId = Annotated[int, typer.Argument(help="Batch id.", metavar="BATCH_ID", min=1)]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        help="With --wait: give up after this many seconds (exit code 1). Without a broker, "
        "the chunk running at that moment finishes first.",
        min=1,
    ),
]


def _print_version(requested: bool) -> None:
    if requested:
        console.print(f"contentgen {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def configure(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Log progress at INFO level, and errors with their full tracebacks."
        ),
    ] = False,
    # Eager, so that it prints and exits before any command runs or is required.
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version of contentgen and exit.", callback=_print_version,
                     is_eager=True),
    ] = False,
) -> None:
    configure_logging(verbose)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


# --- db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the tables, or migrate them to the latest schema."""
    before, after = db.upgrade(revision)
    shown_url = db.display_url(get_settings().database_url)
    if before is None:
        console.print(f"Created the tables of database {shown_url} at revision {after}.")
    elif before == after:
        console.print(f"Database {shown_url} is already at revision {after}; nothing to do.")
    else:
        console.print(f"Migrated database {shown_url} from revision {before} to {after}.")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="Target revision: base (drops every table), a revision such as 0008, or one "
            "relative to a revision, such as head-1. For one below the database's, write "
            "options first, then -- -1: contentgen db downgrade --yes -- -1."
        ),
    ],
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Drop the tables and columns without asking; needed without a terminal."),
    ] = False,
) -> None:
    """Migrate the schema down to an older revision, dropping what later revisions added.

    Stop every worker, beat and server process that uses the database first.
    """
    shown_url = db.display_url(get_settings().database_url)

    def confirm(before: str, target: str | None) -> None:
        if not yes and not _stdin_is_terminal():
            raise InvalidInput(
                f"migrating database {shown_url} down from revision {before} to "
                f"{target or 'base'} drops data, and there is no terminal to confirm it on; "
                f"stop the workers, beat and contentgen serve, then run: contentgen db "
                f"downgrade {revision} --yes"
            )
        console.print(_downgrade_warning(shown_url, before, target), highlight=False)
        if not yes and not typer.confirm("Migrate the database down?", default=False):
            console.print("Nothing was changed.")
            raise typer.Exit(EXIT_FAILURE)

    before, after = db.downgrade(revision, confirm=confirm)
    if before == after:
        console.print(f"Database {shown_url} is already at revision {after or 'base'}; nothing to do.")
    elif after is None:
        console.print(f"Dropped every table of database {shown_url} (it was at revision {before}).")
    else:
        console.print(
            f"Migrated database {shown_url} down from revision {before} to {after}; the columns and "
            f"tables added after {after} are dropped with their data. Run contentgen db upgrade "
            "to add them back, empty."
        )


def _downgrade_warning(shown_url: str, before: str, target: str | None) -> str:
    if target is None:
        dropped = (
            f"This drops every table of database {shown_url} (now at revision {before}) with all "
            "its data: campaigns, batches, drafts, reviews and users."
        )
    else:
        dropped = (
            f"This migrates database {shown_url} down from revision {before} to {target} and "
            f"drops the tables and columns added after {target}, with their data."
        )
    return (
        f"{dropped} Stop every Celery worker, celery beat and contentgen serve process that uses "
        "this database first. They expect the latest schema, so their tasks and requests fail "
        "against an older one, and a worker logs an error every minute for the tasks that beat "
        "sends."
    )


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


# --- templates --------------------------------------------------------------------------


@templates_app.command("sync")
def templates_sync(
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder of *.j2 files; default: the shipped templates."),
    ] = None,
) -> None:
    """Store each template file whose text changed as a new version."""
    db.check_schema()
    with db.session_scope() as session:
        results = sync_templates(session, folder)
    for result in results:
        state = "new version" if result.changed else "unchanged"
        console.print(f"{result.name}: version {result.version} ({state})")


@templates_app.command("list")
def templates_list(as_json: JsonOption = False) -> None:
    """List every template version in the database."""
    db.check_schema()
    with db.session_scope() as session:
        rows = session.scalars(
            select(PromptTemplate).order_by(PromptTemplate.name, PromptTemplate.version)
        ).all()
        items = [
            {"name": row.name, "version": row.version, "sha256": row.sha256,
             "created_at": utc_iso(row.created_at)}
            for row in rows
        ]  # fmt: skip
    if as_json:
        _print_json(items)
        return
    table = Table("name", "version", "sha256", "created (UTC)")
    for item in items:
        table.add_row(item["name"], str(item["version"]), item["sha256"][:12], utc_cell(item["created_at"]))
    print_table(console, table)


# --- campaigns --------------------------------------------------------------------------

# An import names at most this many of its campaigns; ``campaigns list`` shows them all.
LISTED_CAMPAIGNS = 20


@campaigns_app.command("import")
def campaigns_import(
    files: Annotated[
        list[Path],
        typer.Argument(help="Campaign files (.yaml, .yml or .csv), imported together: a brand "
                       "that one file defines counts for the others.", metavar="FILE"),
    ],
) -> None:
    """Validate campaign files as a whole, then create or update their brands and campaigns."""
    result = import_files(files)
    _print_warnings(result.warnings)
    keys = result.campaign_keys
    if len(keys) > LISTED_CAMPAIGNS:
        listed = f": {', '.join(keys[:LISTED_CAMPAIGNS])} and {len(keys) - LISTED_CAMPAIGNS} more."
    else:
        listed = f": {', '.join(keys)}." if keys else "."
    console.print(
        f"Imported {plural(result.brands, 'brand')} and {plural(len(keys), 'campaign')}"
        f"{listed}"
    )
    for change in result.schedule_changes:
        console.print(str(change), markup=False, highlight=False)


def _print_warnings(warnings: Sequence[ClearedFields]) -> None:
    for warning in warnings:
        typer.echo(f"Warning: {warning}", err=True)


@campaigns_app.command("list")
def campaigns_list(as_json: JsonOption = False) -> None:
    """List imported campaigns."""
    db.check_schema()
    with db.session_scope() as session:
        items = [
            {
                "key": campaign.key,
                "brand": campaign.brand.key,
                "name": campaign.name,
                "segments": [segment["key"] for segment in campaign.spec["segments"]],
                "segment_names": {segment["key"]: segment["name"] for segment in campaign.spec["segments"]},
                "channels": campaign.spec["channels"],
                "variants": campaign.spec["variants"],
                "locale": campaign.spec["locale"],
                "schedule": campaign.spec.get("schedule"),
            }
            for campaign in session.scalars(select(Campaign).order_by(Campaign.key))
        ]
    if as_json:
        _print_json(items)
        return
    # Segments by name, each with its key after it where the key is not the name.
    table = Table("key", "brand", "segments", "channels", "variants", "locale")
    for item in items:
        segments = ", ".join(label(key, name) for key, name in item["segment_names"].items())
        table.add_row(
            item["key"], item["brand"], segments, ", ".join(item["channels"]),
            str(item["variants"]), item["locale"],
        )  # fmt: skip
    print_table(console, table)


# --- batch ------------------------------------------------------------------------------


@batch_app.command("submit")
def batch_submit(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Campaign files to import and submit together as one batch.", metavar="FILE"),
    ] = None,
    campaign: Annotated[
        list[str] | None,
        typer.Option("--campaign", "-c", help="Key of an imported campaign; repeatable."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every request has finished.")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Submitting the same content again with this key returns the first batch; "
            "other content with it is refused."
        ),
    ] = None,
    timeout: TimeoutOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Validate the files, import them and render every prompt in a transaction "
            "that is rolled back, then print the requests the batch would have. Writes "
            "nothing and contacts no broker.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a batch (one request per campaign x segment x channel x variant).

    With a broker the workers run it; without one, --wait runs it in this process.
    --dry-run prints the requests the batch would have and writes nothing.
    """
    if dry_run and wait:
        raise InvalidInput(
            "--wait and --dry-run cannot be combined, because a dry run creates no batch to "
            "wait for; leave one of them out"
        )
    _check_timeout(timeout, wait)
    if dry_run:
        plan = dry_run_submit(files or [], campaign or [], idempotency_key)
        # A matched batch's warnings come from the import that created it, and this run
        # imports nothing, so _print_plan shows them under that batch's id.
        if plan.matched_batch_id is None:
            _print_warnings(plan.warnings)
        _print_plan(plan, idempotency_key, as_json)
        return
    _load_generator_if_inline(wait)
    submission = submit(files or [], campaign or [], idempotency_key)
    _print_warnings(submission.warnings)
    if not as_json:
        if submission.created:
            console.print(
                f"Created batch {submission.batch_id} with "
                f"{plural(submission.request_count, 'request')}."
            )
        else:
            note = _cancelled_note(submission.batch_id, read_progress(submission.batch_id))
            console.print(
                f'Idempotency key "{idempotency_key}" already made batch {submission.batch_id} '
                f"({plural(submission.request_count, 'request')}); nothing new was submitted.{note}",
                highlight=False,
            )

    progress = _start(submission.batch_id, wait, send=should_send(submission), quiet=as_json, timeout=timeout)
    if as_json:
        _print_json({"created": submission.created, **(progress or read_progress(submission.batch_id)).as_dict()})
    _exit_if_not_completed(progress)


def _print_plan(plan: SubmissionPlan, idempotency_key: str | None, as_json: bool) -> None:
    if as_json:
        _print_json(_plan_json(plan))
        return

    requests = plural(plan.request_count, "request")
    if plan.matched_batch_id is None:
        console.print(f"This dry run wrote nothing. Submitting would create a batch with {requests}:")
    else:
        console.print(
            f'This dry run wrote nothing. Idempotency key "{idempotency_key}" already made batch '
            f"{plan.matched_batch_id} from the same content, so submitting would return that batch "
            f"({requests}) and create nothing. Its requests:",
            markup=False,
            highlight=False,
        )
    table = Table("campaign", "channel", "max new tokens", "requests")
    for group in plan.requests:
        table.add_row(group.campaign, group.channel, str(group.max_new_tokens), str(group.requests))
    print_table(console, table)
    if plan.matched_batch_id is not None and plan.warnings:
        console.print(f"Batch {plan.matched_batch_id}'s import warned:")
        for warning in plan.warnings:
            console.print(Text(f"  {warning}"), highlight=False)


def _plan_json(plan: SubmissionPlan) -> dict[str, Any]:
    return {
        "dry_run": True,
        "written": False,
        "request_count": plan.request_count,
        "matched_batch_id": plan.matched_batch_id,
        "requests": [group.as_dict() for group in plan.requests],
        "warnings": [
            {"path": warning.path, "kind": warning.kind, "key": warning.key, "detail": warning.message}
            for warning in plan.warnings
        ],
    }


@batch_app.command("resume")
def batch_resume(
    batch_id: BatchId,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every request has finished.")] = False,
    timeout: TimeoutOption = None,
) -> None:
    """Send a batch's pending requests again (after a broker outage or lost messages)."""
    _check_timeout(timeout, wait)
    db.check_schema()
    # A batch id that does not exist is the error to report, whatever the broker settings.
    with db.session_scope() as session:
        get_batch(session, batch_id)
    progress = read_progress(batch_id)
    if progress.requests["pending"] == 0:
        message = f"Batch {batch_id} is {progress.batch.status.value} and has no pending requests; nothing to run."
        if progress.requests["failed"]:
            message += f" Run its failed requests again with: contentgen batch retry-failed {batch_id}"
        console.print(message + _cancelled_note(batch_id, progress), highlight=False)
        if wait:
            _exit_if_not_completed(progress)
        return
    if get_settings().broker_url:
        chunks = resume(batch_id)
        console.print(f"Sent {plural(chunks, 'chunk')} of batch {batch_id}.")
        if wait:
            _exit_if_not_completed(wait_with_progress(batch_id, timeout=timeout))
    elif wait:
        _exit_if_not_completed(run_with_progress(batch_id, timeout=timeout))
    else:
        raise InvalidInput(
            "no broker configured, so nothing would run the requests; "
            f"add --wait to run them in this process: contentgen batch resume {batch_id} --wait"
        )


@batch_app.command("cancel")
def batch_cancel(batch_id: BatchId) -> None:
    """Cancel every request of a batch that has not started; running chunks finish.

    Cancelled requests cannot run again: batch submit --campaign KEY makes a new batch.
    """
    db.check_schema()

    def report_wait(running: int) -> None:
        error_console.print(
            f"A worker is generating {plural(running, 'request')} of batch {batch_id} now; "
            "waiting for that chunk to be stored before cancelling the rest. Press Ctrl+C to "
            "stop waiting: nothing is cancelled then.",
            highlight=False,
        )

    with db.session_scope() as session:
        cancelled = cancel_batch(session, batch_id, on_wait=report_wait).cancelled
    if not cancelled:
        status = read_progress(batch_id).batch.status.value
        console.print(f"Batch {batch_id} is {status} and has no pending requests; nothing to cancel.")
        return
    console.print(f"Cancelled {plural(cancelled, 'pending request')} of batch {batch_id}.")


@batch_app.command("retry-failed")
def batch_retry_failed(
    batch_id: BatchId,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every request has finished.")] = False,
    timeout: TimeoutOption = None,
) -> None:
    """Run a batch's failed requests again, and only those."""
    _check_timeout(timeout, wait)
    db.check_schema()
    _load_generator_if_inline(wait)
    with db.session_scope() as session:
        reset = reset_failed(session, batch_id)
    if not reset:
        progress = read_progress(batch_id)
        note = _cancelled_note(batch_id, progress)
        pending = progress.requests["pending"]
        if pending:
            # Left by a retry-failed without a broker or --wait, or by a run that stopped early.
            console.print(
                f"Batch {batch_id} has no failed requests, but {plural(pending, 'request')} "
                f"{'is' if pending == 1 else 'are'} pending; run {'it' if pending == 1 else 'them'} "
                f"with: contentgen batch resume {batch_id} --wait{note}",
                highlight=False,
            )
            return
        console.print(f"Batch {batch_id} has no failed requests; nothing to run.{note}", highlight=False)
        return
    console.print(f"{plural(reset, 'failed request')} of batch {batch_id} will run again.")
    _exit_if_requests_failed(_start(batch_id, wait, send=True, quiet=False, timeout=timeout))


@batch_app.command("sweep")
def batch_sweep(
    stalled_after: Annotated[
        float | None,
        typer.Option(help="Seconds without a finished request; default CONTENTGEN_RESEND_STALLED_AFTER.", min=0),
    ] = None,
) -> None:
    """Send stalled batches' pending requests again (beat does this every minute)."""
    db.check_schema()
    if not get_settings().broker_url:
        raise InvalidInput("no broker configured; set CONTENTGEN_BROKER_URL to sweep its queue")
    batch_ids = sweep_stalled_batches(stalled_after)
    if batch_ids:
        noun = "batch" if len(batch_ids) == 1 else "batches"
        console.print(f"Sent the pending requests of {noun} {', '.join(map(str, batch_ids))} again.")
    else:
        console.print("No stalled batch.")


def _cancelled_note(batch_id: int, progress: BatchProgress) -> str:
    """Build the hint on generating a batch's cancelled requests; "" when it has none."""
    cancelled = progress.requests["cancelled"]
    if not cancelled:
        return ""
    with db.session_scope() as session:
        command = resubmit_command(session, batch_id)
    return (
        f" Its {plural(cancelled, 'cancelled request')} cannot run again, because no command "
        "resumes cancelled requests. To generate that copy, submit the campaigns again as a "
        f"new batch, which creates all of their requests from the campaigns as imported now: {command}"
    )


def _check_timeout(timeout: float | None, wait: bool) -> None:
    if timeout is not None and not wait:
        raise InvalidInput("--timeout applies only with --wait; add --wait or leave --timeout out")


def _load_generator_if_inline(wait: bool) -> None:
    """Load the model now when this process is to run the batch, so that a model, device or
    generator setting that cannot load fails before anything is written."""
    settings = get_settings()
    if wait and not settings.broker_url:
        get_generator(settings)


def _start(
    batch_id: int, wait: bool, send: bool, quiet: bool, timeout: float | None
) -> BatchProgress | None:
    """Hand a new batch to workers, or run it here when there is no broker."""
    if get_settings().broker_url:
        if send:
            chunks = send_chunks(batch_id)
            if not quiet:
                console.print(f"Sent {plural(chunks, 'chunk')} to the workers.")
        return wait_with_progress(batch_id, quiet, timeout) if wait else None

    if wait:
        return run_with_progress(batch_id, quiet, timeout)
    pending = read_progress(batch_id).requests["pending"]
    if pending and not quiet:
        waiting = f"{pending} request waits. Run it" if pending == 1 else f"{pending} requests wait. Run them"
        console.print(
            f"No broker is configured (CONTENTGEN_BROKER_URL), so {waiting} in this process with: "
            f"contentgen batch resume {batch_id} --wait"
        )
    return None


def _exit_if_requests_failed(progress: BatchProgress | None) -> None:
    """Exit with EXIT_REQUESTS_FAILED if a batch that the command waited for has failed requests.

    ``progress`` is None when the command did not wait, and then the exit code stays 0.
    """
    if progress is not None and progress.requests["failed"]:
        raise typer.Exit(EXIT_REQUESTS_FAILED)


def _exit_if_not_completed(progress: BatchProgress | None) -> None:
    """Exit as ``_exit_if_requests_failed`` does, or with EXIT_BATCH_CANCELLED if the batch
    that the command waited for to finish was cancelled."""
    _exit_if_requests_failed(progress)
    if progress is not None and progress.batch.status == BatchStatus.CANCELLED:
        raise typer.Exit(EXIT_BATCH_CANCELLED)


@batch_app.command("status")
def batch_status(
    batch_id: BatchId,
    wait: Annotated[bool, typer.Option("--wait", help="Show a progress bar until the batch finishes.")] = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a batch's requests by state, its drafts by review status and its failures."""
    _check_timeout(timeout, wait)
    db.check_schema()
    if wait and not get_settings().broker_url and read_progress(batch_id).requests["pending"]:
        raise InvalidInput(
            "no broker configured, so no worker will run this batch; run it in this process "
            f"with: contentgen batch resume {batch_id} --wait"
        )
    if wait:
        # The status below has the summary.
        progress = wait_with_progress(batch_id, quiet=as_json, timeout=timeout, summary=False)
    else:
        with db.session_scope() as session:
            progress = batch_progress(session, batch_id)
    if as_json:
        _print_json(progress.as_dict())
    else:
        _print_status(progress)
    if wait:
        _exit_if_not_completed(progress)


def _print_status(progress: BatchProgress) -> None:
    batch = progress.batch
    console.print(f"Batch {batch.id}: {batch.status.value} ({batch.trigger.value}), "
                  f"{plural(batch.request_count, 'request')}, "
                  f"created {batch.created_at:%Y-%m-%d %H:%M:%S} UTC")
    table = Table("requests", "count", "drafts", "count")
    request_rows = [(state.value, progress.requests.get(state.value, 0)) for state in RequestStatus]
    draft_rows = [(status.value, progress.drafts.get(status.value, 0)) for status in DraftStatus]
    for index in range(max(len(request_rows), len(draft_rows))):
        left = request_rows[index] if index < len(request_rows) else ("", "")
        right = draft_rows[index] if index < len(draft_rows) else ("", "")
        table.add_row(left[0], str(left[1]), right[0], str(right[1]))
    print_table(console, table)
    print_failures(progress)
    note = _cancelled_note(batch.id, progress)
    if note:
        console.print(note.lstrip(), highlight=False)
    print_check_summary(progress)


@batch_app.command("list")
def batch_list(
    limit: Annotated[int, typer.Option(min=1, help="Show this many of the newest batches.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the newest batches with their request counts."""
    db.check_schema()
    with db.session_scope() as session:
        items = [progress.as_dict() for progress in list_batches(session, limit)]
    if as_json:
        _print_json(items)
        return
    if not items:
        console.print("No batches yet; submit one with: contentgen batch submit FILE")
        return
    table = Table("id", "status", "trigger", "requests", "done", "failed", "cancelled", "pending")
    table.add_column("created (UTC)")
    for item in items:
        counts = item["requests"]
        table.add_row(
            str(item["id"]), item["status"], item["trigger"], str(item["request_count"]),
            str(counts["done"]), str(counts["failed"]), str(counts["cancelled"]), str(counts["pending"]),
            utc_cell(item["created_at"]),
        )  # fmt: skip
    print_table(console, table)


# --- drafts -----------------------------------------------------------------------------

# The values of drafts list --status, the same as review list --status takes.
QueueStatus = enum.Enum("QueueStatus", {value.upper(): value for value in QUEUE_STATUSES}, type=str)


@drafts_app.command("list")
def drafts_list(
    batch: Annotated[int, typer.Option("--batch", "-b", help="Batch id.", min=1)],
    status: Annotated[
        QueueStatus | None,
        typer.Option(
            help="Show only drafts with this review status; open is pending_review and flagged. "
            "Default: all."
        ),
    ] = None,
    flagged: Annotated[
        bool, typer.Option("--flagged", help="Show only flagged drafts (same as --status flagged).")
    ] = False,
    sort: Annotated[
        DraftOrder, typer.Option(help="Order: request order, or the highest score first.")
    ] = DraftOrder.REQUEST,
    as_json: JsonOption = False,
) -> None:
    """List a batch's drafts with their length, score and failed checks."""
    if flagged and status not in (None, QueueStatus.FLAGGED):
        raise InvalidInput(f"--flagged and --status {status.value} contradict each other; pass one")
    if flagged:
        status = QueueStatus.FLAGGED
    db.check_schema()
    with db.session_scope() as session:
        items = list_drafts(session, batch, status.value if status else "all", order=sort)
    if as_json:
        _print_json(items)
        return
    # Two lines per draft, so that any terminal width works: the slot, then the start of
    # the text, and one more line per failed check. `drafts show ID` or --json give all.
    for item in items:
        slot = draft_slot(item)
        score = "-" if item["score"] is None else f"{item['score']:.2f}"
        console.print(
            Text.assemble(
                (f"{item['id']:>5}  ", "bold"), f"{item['status']:<15} ", slot,
                f"  {item['characters']}/{item['limit']}  score {score}",
            ),
            highlight=False,
        )  # fmt: skip
        text = Text("       " + " ".join(item["text"].split()))
        console.print(text, no_wrap=True, overflow="ellipsis", highlight=False)
        for check in item["check_failures"]:
            kind = "failed" if check["blocking"] else "warning"
            line = f"       {kind}: {check['name']}: {check['detail']}"
            console.print(Text(line), highlight=False)
    if not items:
        console.print(f"Batch {batch} has no drafts to show; see: contentgen batch status {batch}")


@drafts_app.command("show")
def drafts_show(
    draft_id: Annotated[int, typer.Argument(help="Draft id.", metavar="DRAFT_ID", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Show one draft with its checks, its review history, its prompt and everything that
    produced it."""
    db.check_schema()
    with db.session_scope() as session:
        details = draft_details(session, draft_id)
        events = history(session, draft_id)
    if as_json:
        _print_json({**details, "history": events})
        return
    # Generated text and campaign values are untrusted: Text objects are never read as markup.
    skipped = (
        "text", "prompt", "original_text", "checks", "check_failures", "counting", "characters",
        "limit", "hard_limit", "limit_source",
    )  # fmt: skip
    for key, value in details.items():
        if key not in skipped:
            console.print(Text.assemble((key, "bold"), f": {_display_value(value)}"), highlight=False)
    length = _describe_length(details["counting"])
    console.print(Text.assemble(("characters", "bold"), f": {length}"), highlight=False)
    console.print(_describe_limit(details), highlight=False)
    console.print(Text("checks:", style="bold"))
    for check in details["checks"]:
        if check["passed"]:
            state = "passed"
        elif check["blocking"]:
            state = "FAILED"
        else:
            state = "warning"
        line = f"  {state:<8} {check['name']:<15} {check['detail']}"
        console.print(Text(line.rstrip()), highlight=False)
    _print_history(events)
    for key in ("text", "original_text", "prompt"):
        if details[key] is not None:
            console.print(Text(f"{key}:", style="bold"))
            console.print(Text(details[key]), highlight=False)


def _display_value(value: Any) -> str:
    """Format a value of ``drafts show`` for reading: "-" for none, yes or no, and a
    mapping as key=value pairs."""
    if value is None or value == {} or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_display_value(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_display_value(item) for item in value)
    return str(value)


# Phrases for who set a draft's limit, by the ``limit_source`` of ``drafts.summarize``.
LIMIT_SOURCES = {
    "platform": "set by the platform",
    "brand": "set by the brand's channel_limits",
    "contentgen": "chosen by contentgen",
}


def _describe_limit(details: dict[str, Any]) -> Text:
    """Return e.g. "hard limit: 30 Google Ads units (set by the platform)"."""
    label = "hard limit" if details["hard_limit"] else "limit"
    unit = Counting(details["counting"]["counting"]).unit
    source = LIMIT_SOURCES.get(details["limit_source"], details["limit_source"])
    return Text.assemble((label, "bold"), f": {details['limit']} {unit} ({source})")


def _print_history(events: list[dict[str, Any]]) -> None:
    """Print a draft's review events (``review.history``) as a table, oldest first."""
    if not events:
        console.print(Text.assemble(("history", "bold"), ": -"), highlight=False)
        return
    console.print(Text("history:", style="bold"))
    table = Table("time (UTC)", "user", "action", "status", "note")
    for event in events:
        # Usernames and notes are Text, so that rich never reads them as markup.
        table.add_row(
            utc_cell(event["created_at"]), Text(event["actor"] or "-"), event["action"],
            f"{event['status_before']} → {event['status_after']}", Text(event["note"] or ""),
        )  # fmt: skip
    print_table(console, table)


def _describe_length(counting: dict[str, Any]) -> str:
    unit = Counting(counting["counting"])
    text = f"{counting['length']} of {counting['limit']} {unit.unit}"
    if counting["encoding"]:
        text += f" in {counting['encoding']}"
    if counting["shown"]:
        text += f", {counting['shown']} shown before the platform cuts it"
    return f"{text}. {unit.description}"


def main() -> None:
    app()


# Command groups in modules of their own; imported last because they use the helpers above.
from contentgen.cli_review import export_command, review_app  # noqa: E402
from contentgen.cli_users import users_app  # noqa: E402
from contentgen.cli_web import serve_command  # noqa: E402

app.add_typer(users_app, name="users")
app.add_typer(review_app, name="review")
app.command("export")(export_command)
app.command("serve")(serve_command)
