"""Printing the command line's tables without cutting values short."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from contentgen.segments import label

# Width to measure a table against when the output is not a terminal. No table here
# comes near it, so the measurement is the table's natural width.
MEASURE_WIDTH = 10_000


def plural(count: int, noun: str) -> str:
    """Return "1 request" or "2 requests" for a noun whose plural adds "s"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def draft_slot(item: dict[str, Any]) -> str:
    """Return what a draft of ``drafts.summarize`` was made for: "campaign / segment / channel /
    vN", with the segment's name and, where the name is not the key, the key after it."""
    segment = label(item["segment"], item["segment_name"])
    return f"{item['campaign']} / {segment} / {item['channel']} / v{item['variant']}"


def utc_cell(timestamp: str | None) -> str:
    """Show an ISO 8601 UTC timestamp as "2026-12-05 07:14:45", for a column headed (UTC).

    A space instead of the ISO "T" lets a narrow terminal fold the time onto a line of its own.
    """
    return timestamp[:19].replace("T", " ") if timestamp else ""


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` with every value in full, never ended early with "…".

    On a terminal narrower than the table, long values fold onto more lines. Output that is
    not a terminal (a pipe or a file) gets the table at the width its longest row needs, so
    each row stays on one line whatever the 80-column default of such output.
    """
    for column in table.columns:
        column.overflow = "fold"
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(MEASURE_WIDTH), table).maximum
    wide = Console(file=console.file, width=max(needed, console.width), soft_wrap=console.soft_wrap)
    wide.print(table)
