"""``contentgen review`` and ``contentgen export``: review decisions and approved copy from a
terminal, through the same code as the pages and the API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from contentgen import db
from contentgen.cli import JsonOption, _group, _print_json, console
from contentgen.cli_tables import draft_slot, plural
from contentgen.drafts import QUEUE_STATUSES, SORTS, DraftFilter, get_draft, queue_page
from contentgen.errors import EXIT_INVALID_INPUT, ContentgenError, InvalidInput
from contentgen.export import FORMATS, check_format, export_batch
from contentgen.review import (
    RESULT_STATUS,
    AlreadyDecided,
    ApprovalBlocked,
    Decision,
    actor_by_name,
    decide,
)
from contentgen.users import Permission

review_app = _group("List the review queue and approve or reject drafts.")

UserOption = Annotated[
    str,
    typer.Option(
        "--user", "-u", help="Your username, recorded in the audit trail; needs the reviewer or admin role."
    ),
]
DraftIds = Annotated[list[int], typer.Argument(help="Draft ids.", metavar="DRAFT_ID")]


@review_app.command("list")
def review_list(
    batch: Annotated[int | None, typer.Option("--batch", "-b", help="Batch id.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign key.")] = None,
    channel: Annotated[str | None, typer.Option(help="Channel key.")] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Segment key or name; a name must belong to one key only (within --campaign "
            "and --batch, if given)."
        ),
    ] = None,
    status: Annotated[
        str, typer.Option(help=f"One of: {', '.join(QUEUE_STATUSES)}; open is pending_review and flagged.")
    ] = "open",
    check: Annotated[
        str | None, typer.Option(help="passed, failed, or failed:NAME for one check.")
    ] = None,
    sort: Annotated[str, typer.Option(help=f"One of: {', '.join(SORTS)}.")] = "score",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Show at most this many drafts.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List drafts waiting for review (or any status), best score first."""
    draft_filter = DraftFilter.from_params(
        batch_id=batch, campaign=campaign, channel=channel, segment=segment,
        status=status, check=check, sort=sort,
    )  # fmt: skip
    db.check_schema()
    with db.session_scope() as session:
        page = queue_page(session, draft_filter, page=1, page_size=limit)
    if as_json:
        _print_json({"total": page.total, "items": page.items})
        return
    for item in page.items:
        slot = draft_slot(item)
        # As in drafts list: a failed blocking check is "failed", an advisory one "warning".
        failed = [check["name"] for check in item["check_failures"] if check["blocking"]]
        warnings = [check["name"] for check in item["check_failures"] if not check["blocking"]]
        checks = "".join(
            f"  {kind}: {', '.join(names)}" for kind, names in (("failed", failed), ("warning", warnings)) if names
        )
        console.print(
            Text.assemble((f"{item['id']:>5}  ", "bold"), f"{item['status']:<15} ", slot, checks),
            highlight=False,
        )
        console.print(Text("       " + " ".join(item["text"].split())), no_wrap=True,
                      overflow="ellipsis", highlight=False)  # fmt: skip
    console.print(f"{len(page.items)} of {plural(page.total, 'draft')} shown.")


def _decide_each(draft_ids: list[int], user: str, decision: Decision) -> None:
    """Apply the decision to each draft in its own transaction and report each outcome.

    A draft whose newest review event is this user making the same decision (with the same
    reason, for a rejection) counts as done and changes nothing. An error message's
    "Nothing was changed." becomes "Draft N was not changed.", so that each draft's line
    reads the same however many drafts the command names. With several drafts, a summary
    line counts the drafts decided, those already decided so and the others.
    """
    db.check_schema()
    with db.session_scope() as session:
        actor = actor_by_name(session, user)
    # Checked once, because a user without the role would fail on every draft the same way.
    actor.require(Permission.REVIEW)
    status = RESULT_STATUS[decision.action].value
    decided = 0
    already = 0
    failed: list[int] = []
    # An id given twice is decided once, in the place it is first given.
    draft_ids = list(dict.fromkeys(draft_ids))
    for draft_id in draft_ids:
        try:
            with db.session_scope() as session:
                decide(session, actor, draft_id, decision)
        except AlreadyDecided:
            already += 1
            reason = " with this reason" if decision.action == "reject" else ""
            console.print(f"Draft {draft_id} was already {status} by you ({user}){reason}; nothing changed.",
                          highlight=False)  # fmt: skip
            continue
        except ApprovalBlocked as error:
            message = f"{error} {_edit_hint(draft_id, _current_version(draft_id))}"
        except ContentgenError as error:
            message = str(error)
        else:
            decided += 1
            console.print(f"Draft {draft_id}: {status}.")
            continue
        failed.append(draft_id)
        message = message.replace("Nothing was changed.", f"Draft {draft_id} was not changed.")
        typer.echo(f"Error: {message}", err=True)
    if len(draft_ids) > 1:
        console.print(_decision_summary(status, decided, already, failed), highlight=False)
    if failed:
        raise typer.Exit(EXIT_INVALID_INPUT)


def _decision_summary(status: str, decided: int, already: int, failed: list[int]) -> str:
    """Return e.g. "2 approved, 1 already approved by you, 1 not approved (draft 17)." for a
    command on several drafts."""
    parts = [f"{decided} {status}"]
    if already:
        parts.append(f"{already} already {status} by you")
    if failed:
        noun = "draft" if len(failed) == 1 else "drafts"
        parts.append(f"{len(failed)} not {status} ({noun} {', '.join(map(str, failed))})")
    return ", ".join(parts) + "."


def _current_version(draft_id: int) -> int:
    with db.session_scope() as session:
        return get_draft(session, draft_id).version


def _edit_hint(draft_id: int, version: int) -> str:
    # The shared error message tells the user to edit the draft, which the pages and the API
    # can do and this command line cannot. The body carries the version, so that the API
    # rejects the edit (409) if someone acts on the draft first.
    return (
        "The command line has no edit command: edit the text on the draft's page in the "
        f"review app (contentgen serve, then /drafts/{draft_id}), which approves it on "
        f"saving, or send it to the API: POST /api/v1/drafts/{draft_id}/edit with the JSON "
        f'body {{"version": {version}, "text": "..."}}.'
    )


@review_app.command("approve")
def review_approve(draft_ids: DraftIds, user: UserOption) -> None:
    """Approve drafts. Each is decided on its own; the exit code is 2 if any failed.

    A draft whose newest decision is your own approval is left as it is and does not count as failed.
    """
    _decide_each(draft_ids, user, Decision("approve"))


@review_app.command("reject")
def review_reject(
    draft_ids: DraftIds,
    user: UserOption,
    reason: Annotated[str, typer.Option(help="Why the drafts are rejected; kept in the audit trail.")],
) -> None:
    """Reject drafts with a reason. Each is decided on its own; the exit code is 2 if any failed.

    A draft whose newest decision is your own rejection with the same reason is left as it is and
    does not count as failed.
    """
    _decide_each(draft_ids, user, Decision("reject", note=reason))


def export_command(
    batch: Annotated[int, typer.Option("--batch", "-b", help="Batch id.")],
    format: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "csv",
    # A str, not a Path, because Path("./-") reads as "-" and would lose the way to name a
    # file called "-".
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File to write, or - for standard output (the default)."),
    ] = None,
) -> None:
    """Export a batch's approved drafts as CSV, JSON or a Google Ads Editor CSV."""
    check_format(format)
    db.check_schema()
    with db.session_scope() as session:
        exported = export_batch(session, batch, format)
    for warning in exported.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    # "-" names standard output, as it does for most command-line tools; "./-" names a file.
    if output is None or output == "-":
        try:
            sys.stdout.buffer.write(exported.content)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early, as `| head` does, which is no error of the export.
            raise typer.Exit(0) from None
        except OSError as error:
            raise InvalidInput(
                f"could not write the export to standard output ({error.strerror}); free space "
                "where it goes, or write it to a file with --output FILE"
            ) from None
        return
    _write_output(Path(output), exported.content)
    typer.echo(f"Wrote {output}.", err=True)


def _write_output(output: Path, content: bytes) -> None:
    """Write the export to ``output``.

    Raises:
        InvalidInput: naming the path and the fix when the file cannot be written.
    """
    try:
        output.write_bytes(content)
    except IsADirectoryError:
        raise InvalidInput(
            f'--output "{output}" is a folder; pass the path of a file, e.g. {output / "export.csv"}'
        ) from None
    except FileNotFoundError:
        raise InvalidInput(
            f'--output "{output}": the folder "{output.parent}" does not exist; create it or '
            "choose a file in an existing folder"
        ) from None
    except OSError as error:
        raise InvalidInput(
            f'--output "{output}" cannot be written: {error.strerror or error}; '
            "choose a file in a folder you may write to"
        ) from None
