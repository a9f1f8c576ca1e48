"""Progress while the command line waits for a batch: a bar on a terminal, plain lines
elsewhere, and the summary when it finishes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from contentgen.batches import BatchProgress
from contentgen.cli_tables import plural
from contentgen.dispatch import read_progress, run_inline, wait_for_batch
from contentgen.errors import EXIT_INTERRUPTED
from contentgen.settings import get_settings

# soft_wrap: long lines (commands to copy) are never broken in the middle.
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)


def progress_bar(quiet: bool) -> Progress:
    return Progress(
        TextColumn("batch {task.fields[batch_id]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=error_console,
        disable=quiet,
        transient=False,
    )


# Seconds between two progress lines on a standard error that is not a terminal, where
# rich draws the progress bar only once, when it stops.
PROGRESS_LINE_SECONDS = 30.0


class ProgressLines:
    """A batch's progress as a plain line every PROGRESS_LINE_SECONDS, printed when enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = self.last_line = time.monotonic()

    def update(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last_line < PROGRESS_LINE_SECONDS:
            return
        self.last_line = now
        error_console.print(
            f"Batch {progress.batch.id}: {progress.finished} of "
            f"{plural(progress.batch.request_count, 'request')} finished, {progress.requests['failed']} failed, "
            f"after {now - self.started:.0f} s.",
            highlight=False,
        )


def plain_progress(quiet: bool) -> ProgressLines:
    return ProgressLines(enabled=not quiet and not error_console.is_terminal)


@contextmanager
def exit_on_interrupt(message: str) -> Iterator[None]:
    """Turn Ctrl+C into ``message`` on standard error and exit code 130."""
    try:
        yield
    except KeyboardInterrupt:
        error_console.print(message, markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def run_with_progress(batch_id: int, quiet: bool = False, timeout: float | None = None) -> BatchProgress:
    start = read_progress(batch_id)
    lines = plain_progress(quiet)
    with progress_bar(quiet) as bar:
        task = bar.add_task(
            "run", total=start.batch.request_count, completed=start.finished,
            batch_id=batch_id, failed=start.requests["failed"],
        )  # fmt: skip

        def update(progress: BatchProgress) -> None:
            bar.update(task, completed=progress.finished, failed=progress.requests["failed"])
            lines.update(progress)

        # The running chunk's transaction rolls back, so its requests stay pending too.
        stopped = (
            f"Stopped. Batch {batch_id} is saved and its unfinished requests stay pending; "
            f"continue with: contentgen batch resume {batch_id} --wait"
        )
        with exit_on_interrupt(stopped):
            final = run_inline(batch_id, on_progress=update, timeout=timeout)
        update(final)
    print_summary(final, quiet)
    return final


def wait_with_progress(
    batch_id: int, quiet: bool = False, timeout: float | None = None, summary: bool = True
) -> BatchProgress:
    """Wait for the workers to finish a batch, showing its progress unless ``quiet``, and
    print its summary at the end unless ``summary`` is False.

    Raises:
        InfrastructureError: if ``timeout`` seconds pass first.
    """
    start = read_progress(batch_id)
    if start.requests["pending"] == 0:
        # Nothing is left to wait for: the batch is finished or cancelled.
        print_summary(start, quiet or not summary)
        return start
    lines = plain_progress(quiet)
    if lines.enabled:
        error_console.print(
            f"Waiting for the workers to finish batch {batch_id} ({start.finished} of "
            f"{plural(start.batch.request_count, 'request')} finished); a progress line follows every "
            f"{PROGRESS_LINE_SECONDS:.0f} s. Press Ctrl+C to stop waiting: the batch keeps running.",
            highlight=False,
        )
    with progress_bar(quiet) as bar:
        task = bar.add_task(
            "wait", total=start.batch.request_count, completed=start.finished,
            batch_id=batch_id, failed=start.requests["failed"],
        )  # fmt: skip

        def update(progress: BatchProgress) -> None:
            bar.update(task, completed=progress.finished, failed=progress.requests["failed"])
            lines.update(progress)

        def warn_stalled(seconds: float) -> None:
            queue = get_settings().queue
            error_console.print(
                f"No request has finished for {seconds:.0f} s. Are workers running on queue "
                f'"{queue}"? Start one with: celery -A workers worker --pool=solo -Q {queue}',
                markup=False,
            )

        stopped = (
            f"Stopped waiting. Batch {batch_id} keeps running on the workers; follow it with: "
            f"contentgen batch status {batch_id} --wait"
        )
        with exit_on_interrupt(stopped):
            final = wait_for_batch(batch_id, on_progress=update, timeout=timeout, on_stall=warn_stalled)
    print_summary(final, quiet or not summary)
    return final


def print_summary(progress: BatchProgress, quiet: bool) -> None:
    if quiet:
        return
    batch_id = progress.batch.id
    cancelled = progress.requests.get("cancelled", 0)
    done = progress.requests["done"]
    console.print(
        f"Batch {batch_id} {progress.batch.status.value}: "
        f"{plural(done, 'draft')}, {progress.requests['failed']} failed"
        f"{f', {cancelled} cancelled' if cancelled else ''}."
        f"{f' See the drafts with: contentgen drafts list --batch {batch_id}' if done else ''}"
    )
    print_failures(progress)
    print_check_summary(progress)


def print_failures(progress: BatchProgress) -> None:
    if not progress.failures:
        return
    console.print(f"Failed requests ({progress.requests['failed']}):")
    for failure in progress.failures:
        slot = f"{failure['campaign']} / {failure['segment']} / {failure['channel']} / v{failure['variant']}"
        console.print(Text(f"  request {failure['request_id']} ({slot}): {failure['error']}"))
    hidden = progress.requests["failed"] - len(progress.failures)
    if hidden > 0:
        console.print(f"  and {hidden} more; see them with: contentgen batch status {progress.batch.id} --json")


def print_check_summary(progress: BatchProgress) -> None:
    checks = progress.checks
    edited = f" Left out: {plural(checks.edited, 'draft')} that reviewers edited." if checks.edited else ""
    if not checks.drafts:
        if edited:
            console.print(f"Checks:{edited}")
        return
    console.print(
        f"Checks: {checks.passed} of {plural(checks.drafts, 'draft')} passed ({checks.pass_rate:.0%}), "
        f"{checks.passed_first_try} on the first try ({checks.first_try_pass_rate:.0%}); "
        f"{plural(checks.regenerations, 'regeneration')}.{edited}"
    )
    if checks.failures:
        failures = ", ".join(f"{name} {count}" for name, count in checks.failures.items())
        console.print(f"Failed checks (drafts): {failures}", highlight=False)
