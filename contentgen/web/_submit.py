"""Submitting an uploaded campaign file as a batch, or checking it in a dry run, for the
upload page and the API.

A web request never runs the model. With a broker configured, the batch's chunks go to the
workers. Without one, the batch is saved with its requests pending, and the response gives
the command that runs it (``contentgen batch resume ID --wait``) or points to a worker.
Running the model inside the web server would hold a request open for minutes and load the
model into every server process.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi import UploadFile
from sqlalchemy import select

from contentgen.batches import reset_failed
from contentgen.campaigns import SPREADSHEET_MESSAGE, SPREADSHEET_SUFFIXES
from contentgen.db import session_scope
from contentgen.dispatch import (
    Submission,
    SubmissionPlan,
    dry_run_submit,
    send_chunks,
    should_send,
    submit,
)
from contentgen.errors import InfrastructureError, InvalidInput
from contentgen.i18n import N_
from contentgen.models import GenerationRequest, RequestStatus
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".csv")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    submission: Submission
    # "sent": chunks went to the workers; "queued": no broker, run it by hand;
    # "broker_down": the broker was unreachable, resume the batch later; "finished": the
    # key matched a batch with nothing left to run.
    dispatch: str


def submit_upload(upload: UploadFile | None, idempotency_key: str | None) -> UploadResult:
    """Validate an uploaded campaign file, import it and create one batch.

    Raises:
        InvalidInput: for a missing file, an unknown suffix, a file over 5 MiB, an invalid
            idempotency key, or an invalid campaign file (``InvalidCampaignFile`` with the
            problems one by one).
    """
    with _saved_upload(upload) as (path, _):
        submission = submit([path], idempotency_key=idempotency_key)
    return UploadResult(submission, _dispatch(submission))


def dry_run_upload(upload: UploadFile | None, idempotency_key: str | None) -> SubmissionPlan:
    """Check what ``submit_upload`` would do with the same file and key, and write nothing.

    The warnings name the uploaded file instead of the temporary file it was saved as.

    Raises:
        InvalidInput: for what ``submit_upload`` raises it for, with the same message.
    """
    with _saved_upload(upload) as (path, name):
        plan = dry_run_submit([path], idempotency_key=idempotency_key)
    return replace(plan, warnings=tuple(replace(warning, path=name) for warning in plan.warnings))


@contextmanager
def _saved_upload(upload: UploadFile | None) -> Iterator[tuple[Path, str]]:
    """Check the upload's name and size, save it as a temporary file and yield that file's
    path with the name to show for it. An ``InvalidInput`` raised in the block gets the
    uploaded file's name in place of the temporary path."""
    if upload is None or not upload.filename:
        raise InvalidInput.from_template(N_("no file was uploaded; choose a campaign file"))
    suffix = Path(upload.filename).suffix.lower()
    name = display_name(upload.filename)
    if not suffix:
        raise InvalidInput.from_template(
            N_('file "{name}" has no file name extension; upload a .yaml, .yml or .csv campaign file'),
            name=name,
        )
    if suffix in SPREADSHEET_SUFFIXES:
        raise InvalidInput.from_template(SPREADSHEET_MESSAGE, name=name, suffix=display_name(suffix))
    if suffix not in SUFFIXES:
        raise InvalidInput.from_template(
            N_('file "{name}" has the type "{suffix}"; upload a .yaml, .yml or .csv campaign file'),
            name=name,
            suffix=display_name(suffix),
        )
    content = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidInput.from_template(
            N_('file "{name}" is larger than 5 MiB; split it into several files'), name=name
        )

    # The loader picks the parser by suffix. The client's name is never part of the path,
    # since it may be too long for the file system or contain a NUL or a slash.
    with tempfile.TemporaryDirectory(prefix="contentgen-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            yield path, name
        except InvalidInput as error:
            _show_uploaded_name(error, str(path), name)
            raise


def display_name(filename: str) -> str:
    """Return the uploaded file's own name (without folders) shortened for messages."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(character if character.isprintable() else "?" for character in name)
    return name if len(name) <= 100 else name[:99] + "…"


def _show_uploaded_name(error: InvalidInput, path: str, name: str) -> None:
    """Show the uploaded file's name in messages, not the temporary file it was saved as."""
    error.args = tuple(arg.replace(path, name) if isinstance(arg, str) else arg for arg in error.args)
    if error.params is not None and error.params.get("path") == path:
        error.params = {**error.params, "path": name}
    error.problems = [problem.replace(path, name) for problem in error.problems]
    details = getattr(error, "details", None)
    if details:
        error.details = [replace(detail, path=detail.path.replace(path, name)) for detail in details]


def retry_failed(batch_id: int) -> tuple[int, str | None]:
    """Make the batch's failed requests pending again, with no attempts counted, and send
    them to the workers when a broker is configured.

    Returns:
        How many requests failed before, and where they stand now as in
        ``UploadResult.dispatch``; None when the batch had no failed requests.

    Raises:
        NotFound: if the batch does not exist.
    """
    with session_scope() as session:
        retried = reset_failed(session, batch_id)
    if not retried:
        return 0, None
    return retried, _send_pending(batch_id, send=True)


def _dispatch(submission: Submission) -> str:
    """Send the batch's chunks to the workers if they should go, and return where they stand."""
    return _send_pending(submission.batch_id, send=should_send(submission))


def _send_pending(batch_id: int, send: bool) -> str:
    with session_scope() as session:
        pending = session.scalar(
            select(GenerationRequest.id).where(
                GenerationRequest.batch_id == batch_id,
                GenerationRequest.status == RequestStatus.PENDING,
            ).limit(1)
        ) is not None  # fmt: skip
    if not pending:
        return "finished"
    if not get_settings().broker_url:
        return "queued"
    if not send:
        return "sent"
    try:
        send_chunks(batch_id)
    except InfrastructureError:
        logger.warning("batch %d: pending requests saved, but their chunks could not be sent", batch_id,
                       exc_info=True)  # fmt: skip
        return "broker_down"
    return "sent"
