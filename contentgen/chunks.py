"""Running one chunk of generation requests: claim, generate, store drafts.

The same function runs inside a Celery worker and, with no broker configured, in the
submitting process. Chunks are delivered at least once (``acks_late``), so running one twice
must be harmless: claimed rows are locked for the whole run, rows that already have a draft
are skipped, and ``drafts.request_id`` is unique as the last line of defence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contentgen.channels import CHANNELS
from contentgen.db import session_scope
from contentgen.generation import GenerationInput, GenerationOutput, Generator, OutOfMemory
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
)
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)


@dataclass
class ChunkResult:
    drafts: int = 0
    failed: int = 0
    # Requests that were done, locked by another run, or not pending when the chunk started.
    skipped: int = 0
    batch_ids: set[int] = field(default_factory=set)

    def add(self, other: ChunkResult) -> None:
        self.drafts += other.drafts
        self.failed += other.failed
        self.skipped += other.skipped
        self.batch_ids |= other.batch_ids


def run_chunk(request_ids: Sequence[int], generator: Generator) -> ChunkResult:
    """Generate drafts for the pending requests among ``request_ids``.

    Drafts, request states and batch completion are written in one transaction, so a
    worker killed at any point leaves each request either untouched or finished.

    A chunk whose earlier run never finished (its worker died) runs one request per
    transaction instead: if one request kills the worker every time, the requests before
    it are kept, and only its own attempt count grows until it is marked failed.
    """
    request_ids = sorted(set(request_ids))
    if len(request_ids) > 1 and _earlier_attempts(request_ids) > 0:
        logger.warning("chunk %s ran before without finishing; running its requests one by one", request_ids)
        result = ChunkResult()
        for request_id in request_ids:
            result.add(_run_once([request_id], generator))
        return result
    return _run_once(request_ids, generator)


def _run_once(request_ids: list[int], generator: Generator) -> ChunkResult:
    _count_attempt(request_ids)

    result = ChunkResult()
    with session_scope() as session:
        requests = claim_requests(session, request_ids)
        result.skipped = len(request_ids) - len(requests)
        runnable = _fail_exhausted(requests, result)

        if runnable:
            started = time.perf_counter()
            outputs = generate_split_on_oom(generator, [_input_of(request) for request in runnable])
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            for request, output in zip(runnable, outputs, strict=True):
                _store_output(session, request, output, generator, elapsed_ms, len(runnable), result)

        result.batch_ids = {request.batch_id for request in requests}
        session.flush()
        complete_finished_batches(session, result.batch_ids)

    logger.info(
        "chunk of %d requests: %d drafts, %d failed, %d skipped (batches %s)",
        len(request_ids), result.drafts, result.failed, result.skipped, sorted(result.batch_ids),
    )  # fmt: skip
    return result


def _earlier_attempts(request_ids: list[int]) -> int:
    """Return the highest attempt count among the chunk's pending requests."""
    with session_scope() as session:
        highest = session.scalar(
            select(func.max(GenerationRequest.attempts)).where(
                GenerationRequest.id.in_(request_ids),
                GenerationRequest.status == RequestStatus.PENDING,
            )
        )
    return highest or 0


def _count_attempt(request_ids: list[int]) -> None:
    # Committed before generation starts, so a worker that dies mid-chunk still counts.
    # Rows another worker holds block this statement until that run commits; they are then
    # no longer pending and are left alone.
    with session_scope() as session:
        session.execute(
            update(GenerationRequest)
            .where(
                GenerationRequest.id.in_(request_ids),
                GenerationRequest.status == RequestStatus.PENDING,
            )
            .values(attempts=GenerationRequest.attempts + 1)
        )


def claim_requests(session: Session, request_ids: Sequence[int]) -> list[GenerationRequest]:
    """Lock and return the requests that still need a draft.

    On PostgreSQL, ``SKIP LOCKED`` leaves rows that a concurrent run of the same chunk has locked
    (a redelivery while the first run is alive). A pending request that already has a draft
    is marked done and skipped.
    """
    rows = session.execute(
        select(GenerationRequest, Draft.id)
        .outerjoin(Draft, Draft.request_id == GenerationRequest.id)
        .where(
            GenerationRequest.id.in_(request_ids),
            GenerationRequest.status == RequestStatus.PENDING,
        )
        .order_by(GenerationRequest.id)
        .with_for_update(skip_locked=True, of=GenerationRequest)
    ).all()

    claimed = []
    for request, draft_id in rows:
        if draft_id is None:
            claimed.append(request)
        else:
            request.status = RequestStatus.DONE
    return claimed


def _fail_exhausted(requests: list[GenerationRequest], result: ChunkResult) -> list[GenerationRequest]:
    max_attempts = get_settings().max_attempts
    runnable = []
    for request in requests:
        if request.attempts > max_attempts:
            _mark_failed(
                request,
                f"gave up after {max_attempts} attempts: the worker stopped while generating "
                "this request each time",
            )
            result.failed += 1
        else:
            runnable.append(request)
    return runnable


def _input_of(request: GenerationRequest) -> GenerationInput:
    params = request.params
    return GenerationInput(
        prompt=request.prompt,
        max_new_tokens=params["max_new_tokens"],
        temperature=params["temperature"],
        top_p=params["top_p"],
        seed=params["seed"],
    )


def generate_split_on_oom(
    generator: Generator, inputs: list[GenerationInput]
) -> list[GenerationOutput]:
    """Generate for ``inputs``, halving the batch while the device runs out of memory.

    A single input that still does not fit gets an output with an error instead.
    """
    try:
        return generator.generate(inputs)
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        if len(inputs) == 1:
            logger.error("out of memory on a single request: %s", error)
            return [GenerationOutput(error=f"out of memory even alone: {error}")]
        middle = len(inputs) // 2
        logger.warning("out of memory on %d requests; retrying in halves", len(inputs))
        return generate_split_on_oom(generator, inputs[:middle]) + generate_split_on_oom(
            generator, inputs[middle:]
        )


def _is_out_of_memory(error: Exception) -> bool:
    # torch.cuda.OutOfMemoryError (torch.OutOfMemoryError in newer releases) is matched by
    # name, so that this module does not import torch for backends that do not use it.
    return isinstance(error, OutOfMemory) or type(error).__name__ == "OutOfMemoryError"


def _store_output(
    session: Session,
    request: GenerationRequest,
    output: GenerationOutput,
    generator: Generator,
    elapsed_ms: int,
    chunk_size: int,
    result: ChunkResult,
) -> None:
    text = clean_output(output.text, CHANNELS[request.channel].single_line)
    if output.error or not text:
        _mark_failed(request, output.error or "the model returned no text")
        logger.error("request %d failed: %s", request.id, request.error)
        result.failed += 1
        return

    session.add(
        Draft(
            request_id=request.id,
            batch_id=request.batch_id,
            status=DraftStatus.PENDING_REVIEW,
            text=text,
            template_id=request.template_id,
            model_name=generator.model_name,
            model_revision=generator.model_revision,
            params=request.params,
            seed=request.params["seed"],
            prompt_tokens=output.prompt_tokens,
            output_tokens=output.output_tokens,
            finish_reason=output.finish_reason,
            generation_ms=elapsed_ms,
            chunk_size=chunk_size,
        )
    )
    request.status = RequestStatus.DONE
    request.error = None
    request.finished_at = datetime.now(UTC)
    result.drafts += 1


def _mark_failed(request: GenerationRequest, error: str) -> None:
    request.status = RequestStatus.FAILED
    request.error = error
    request.finished_at = datetime.now(UTC)


# A label small models often put before the copy itself, e.g. 'Subject: "..."'.
_LABEL = re.compile(
    r"^(subject line|subject|headline|description|primary text|post|title|caption)\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "「": "」", "『": "』", "«": "»"}


def clean_output(text: str, single_line: bool = False) -> str:
    """Strip whitespace, one leading label such as "Subject:", and one pair of wrapping quotes.

    With ``single_line``, keep only the first non-empty line: small models often follow a
    headline with a second attempt or an explanation.
    """
    text = text.strip()
    if single_line:
        text = text.split("\n", 1)[0].strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1].strip()
        # Only when the quotes wrap the whole text: '"Fast" and "cheap"' keeps its quotes.
        if text[0] not in inner and text[-1] not in inner:
            text = inner
    return text


def complete_finished_batches(session: Session, batch_ids: set[int]) -> None:
    """Move each batch to running, or to completed once none of its requests is pending.

    The batch row is locked first: two chunks finishing at once would otherwise each see
    the other's requests as still pending, and neither would complete the batch.
    """
    for batch_id in sorted(batch_ids):
        batch = session.scalars(select(Batch).where(Batch.id == batch_id).with_for_update()).one()
        pending = session.scalar(
            select(func.count())
            .select_from(GenerationRequest)
            .where(
                GenerationRequest.batch_id == batch_id,
                GenerationRequest.status == RequestStatus.PENDING,
            )
        )
        if pending == 0 and batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            batch.status = BatchStatus.COMPLETED
            batch.finished_at = datetime.now(UTC)
            logger.info("batch %d completed", batch_id)
        elif pending and batch.status == BatchStatus.PENDING:
            batch.status = BatchStatus.RUNNING
