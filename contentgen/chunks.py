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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from contentgen._bulk import bulk_insert
from contentgen._draft_context import SlotKey, check_contexts, slot_of, stored_siblings
from contentgen.channels import CHANNELS, measure, normalize_line_breaks
from contentgen.checks import (
    CheckContext,
    CheckResult,
    Sibling,
    check_near_duplicate,
    is_blocked,
    run_text_checks,
    score_draft,
    with_near_duplicate,
)
from contentgen.db import session_scope
from contentgen.errors import InfrastructureError, describe_error
from contentgen.generation import GenerationInput, GenerationOutput, Generator, OutOfMemory
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
)
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)


# A request with temperature 0 (greedy decoding) gives the same text for any seed, so a
# regenerated row samples at this temperature at least. It is low enough that the default
# model (SmolLM2-135M) stays coherent, which it stops being above about 0.5.
REGENERATION_MIN_TEMPERATURE = 0.3


@dataclass
class ChunkResult:
    drafts: int = 0
    # Drafts stored as flagged because a blocking check still failed after regenerating.
    flagged: int = 0
    failed: int = 0
    # Requests that were done, locked by another run, or not pending when the chunk started.
    skipped: int = 0
    # Outputs generated again because they failed a blocking check.
    regenerations: int = 0
    batch_ids: set[int] = field(default_factory=set)

    def add(self, other: ChunkResult) -> None:
        self.drafts += other.drafts
        self.flagged += other.flagged
        self.failed += other.failed
        self.skipped += other.skipped
        self.regenerations += other.regenerations
        self.batch_ids |= other.batch_ids


@dataclass
class _Row:
    """A request's latest output within a chunk run, with its check results."""

    request: GenerationRequest
    context: CheckContext
    input: GenerationInput
    output: GenerationOutput
    text: str
    # Wall time and row count of the generate call that produced ``output``.
    elapsed_ms: int
    call_size: int
    regenerations: int = 0
    results: list[CheckResult] = field(default_factory=list)
    # The results of every check but near_duplicate, and the output and text they were
    # computed for.
    text_results: list[CheckResult] = field(default_factory=list)
    checked: tuple[GenerationOutput, str] | None = None

    @property
    def blocked(self) -> bool:
        return is_blocked(self.results)


def run_chunk(request_ids: Sequence[int], generator: Generator) -> ChunkResult:
    """Generate, check and store drafts for the pending requests among ``request_ids``.

    Outputs that fail a blocking check are generated again, as one smaller batch, up to
    ``Settings.max_regenerations`` times. Drafts, check results, request states and batch
    completion are written in one transaction, so a worker killed at any point leaves each
    request either untouched or finished.

    A chunk whose earlier run never finished (its worker died) runs one request per
    transaction instead. If one request kills the worker every time, the requests before
    it are kept, and only its own attempt count grows until it is marked failed.

    A chunk whose run raised an error (the generator's or a bug's, not a lost database)
    also runs one request at a time. A request that fails alone is tried up to
    ``Settings.max_attempts`` times and then marked failed with the last error. When every
    request of the chunk fails alone and a one-word prompt fails too, the fault is taken to
    be the worker's (a CUDA error can leave a process unable to run anything), so the
    requests stay pending and ``InfrastructureError`` is raised for the task to retry later.
    """
    request_ids = sorted(set(request_ids))
    if not _count_attempt(request_ids):
        logger.warning(
            "chunk %s ran before without finishing; running its requests one by one", request_ids
        )
        return _run_each_alone(request_ids, generator)
    try:
        return _run_counted(request_ids, generator)
    except (OperationalError, InfrastructureError):
        raise
    except Exception as error:  # noqa: BLE001 - any error of a run is handled per request
        if len(request_ids) == 1:
            # _run_alone logs the error with the request's attempt number.
            return _run_alone(request_ids[0], generator, error)
        logger.exception(
            "chunk %s failed with %s; running its requests one by one", request_ids, describe_error(error)
        )
        # Each request is counted again on its own, so the one at fault pays.
        _uncount_attempt(request_ids)
        return _run_each_alone(request_ids, generator)


def _run_each_alone(request_ids: list[int], generator: Generator) -> ChunkResult:
    result = ChunkResult()
    errors: dict[int, Exception] = {}
    for request_id in request_ids:
        _count_attempt([request_id])
        try:
            result.add(_run_counted([request_id], generator))
        except (OperationalError, InfrastructureError):
            raise
        except Exception as error:  # noqa: BLE001 - tried again below, or raised for all
            errors[request_id] = error

    if len(request_ids) > 1 and len(errors) == len(request_ids) and not _generator_works(generator):
        _uncount_attempt(request_ids)
        for request_id, error in errors.items():
            logger.error("request %d failed with %s", request_id, describe_error(error), exc_info=error)
        last = errors[request_ids[-1]]
        raise InfrastructureError(
            f"every request of chunk {request_ids} failed when run alone, the last with "
            f"{type(last).__name__}: {last}; the generator or its device is likely broken, so "
            "the requests stay pending. Restart the worker if this repeats"
        )
    for request_id, error in errors.items():
        result.add(_run_alone(request_id, generator, error))
    return result


# A prompt that any working generator answers, to tell a broken worker from a chunk whose
# every request fails on its own (a chunk of the failed requests of retry-failed).
CANARY = GenerationInput(prompt="Reply with one word.", max_new_tokens=1)


def _generator_works(generator: Generator) -> bool:
    try:
        generator.generate([CANARY])
    except Exception:  # noqa: BLE001 - any error means the generator cannot run anything
        logger.exception("the generator failed on a one-word prompt as well")
        return False
    return True


# Seconds between two tries of a request whose run raised an error.
FAILED_RUN_PAUSE_SECONDS = 1.0


def _run_alone(request_id: int, generator: Generator, error: Exception | None = None) -> ChunkResult:
    """Run one request whose attempt is counted, trying again after an error until the
    request is out of attempts. ``error`` is the error of a run that already failed."""
    while True:
        if error is None:
            try:
                return _run_counted([request_id], generator)
            except (OperationalError, InfrastructureError):
                raise
            except Exception as raised:  # noqa: BLE001 - recorded on the request below
                error = raised
        outcome = _record_failed_attempt(request_id, error)
        if outcome is not None:
            return outcome
        time.sleep(FAILED_RUN_PAUSE_SECONDS)
        error = None
        _count_attempt([request_id])


def _record_failed_attempt(request_id: int, error: Exception) -> ChunkResult | None:
    """Log a request's failed attempt, and mark the request failed if it has no attempts left.

    Each attempt gets one log record, with the traceback attached. Returns None while the
    request has attempts left, so that the caller tries it again.
    """
    reason = describe_error(error)
    max_attempts = get_settings().max_attempts
    with session_scope() as session:
        request = session.get(GenerationRequest, request_id, with_for_update=True)
        if request is None or request.status != RequestStatus.PENDING:
            state = "deleted" if request is None else request.status.value
            logger.warning(
                "request %d failed with %s, but it is %s now and no longer pending, so it is left as it is",
                request_id, reason, state, exc_info=error,
            )  # fmt: skip
            return ChunkResult(skipped=1)
        attempt = request.attempts
        if attempt < max_attempts:
            logger.warning(
                "request %d failed on attempt %d of %d with %s; trying again in %g s",
                request_id, attempt, max_attempts, reason, FAILED_RUN_PAUSE_SECONDS, exc_info=error,
            )  # fmt: skip
            return None
        times = "once" if attempt == 1 else f"{attempt} times"
        _mark_failed(request, f"generation failed {times}; the last error was {reason}")
        batch_id = request.batch_id
        complete_finished_batches(session, {batch_id})
    logger.error(
        "request %d failed on attempt %d of %d with %s; no attempts are left, so it is marked failed",
        request_id, attempt, max_attempts, reason, exc_info=error,
    )  # fmt: skip
    return ChunkResult(failed=1, batch_ids={batch_id})


def _run_counted(request_ids: list[int], generator: Generator) -> ChunkResult:
    # The attempt count is for runs that kill their worker. A lost database connection or
    # an unusable model raises here instead, in a worker that lives on and retries the
    # chunk, and Ctrl+C stops a run that was not at fault, so those attempts are taken back.
    try:
        return _run_once(request_ids, generator)
    except (OperationalError, InfrastructureError, KeyboardInterrupt):
        _uncount_attempt(request_ids)
        raise


def _run_once(request_ids: list[int], generator: Generator) -> ChunkResult:
    result = ChunkResult()
    with session_scope() as session:
        requests = claim_requests(session, request_ids)
        result.skipped = len(request_ids) - len(requests)
        runnable = _fail_exhausted(requests, result)

        if runnable:
            rows = _generate_rows(generator, runnable, result)
            _check_and_regenerate(session, generator, rows, result)
            _store_drafts(session, rows, generator, result)

        result.batch_ids = {request.batch_id for request in requests}
        session.flush()
        complete_finished_batches(session, result.batch_ids)

    logger.info(
        "chunk of %d requests: %d drafts (%d flagged), %d regenerations, %d failed, "
        "%d skipped (batches %s)",
        len(request_ids), result.drafts, result.flagged, result.regenerations, result.failed,
        result.skipped, sorted(result.batch_ids),
    )  # fmt: skip
    return result


def _count_attempt(request_ids: list[int]) -> bool:
    """Add one to the attempt count of the pending requests among ``request_ids``.

    Count nothing and return False when the chunk has several requests and one of them was
    attempted before. That earlier run never finished, so the caller then runs and counts
    the requests one by one.
    """
    # Committed before generation starts, so a worker that dies mid-chunk still counts.
    # Rows that another worker holds block the UPDATE until that run commits. By then they
    # are no longer pending, so they are left alone.
    pending = (
        GenerationRequest.id.in_(request_ids),
        GenerationRequest.status == RequestStatus.PENDING,
    )
    with session_scope() as session:
        if len(request_ids) > 1:
            highest = session.scalar(select(func.max(GenerationRequest.attempts)).where(*pending))
            if highest:
                return False
        session.execute(
            update(GenerationRequest)
            .where(*pending)
            .values(attempts=GenerationRequest.attempts + 1)
        )
        # The batch shows as running from its first chunk's start, not its first commit,
        # which with a real model can be minutes later.
        batch_ids = select(GenerationRequest.batch_id).where(GenerationRequest.id.in_(request_ids))
        session.execute(
            update(Batch)
            .where(Batch.id.in_(batch_ids), Batch.status == BatchStatus.PENDING)
            .values(status=BatchStatus.RUNNING)
        )
    return True


# Tries, and seconds between them, to take an attempt back after a lost connection; a
# database that is restarting may need a few seconds.
UNCOUNT_TRIES = 5
UNCOUNT_PAUSE_SECONDS = 1.0


def _uncount_attempt(request_ids: list[int]) -> None:
    """Subtract the attempt that ``_count_attempt`` added to the still pending requests.

    When the database stays unreachable, the count stays too. That costs one of the
    ``max_attempts`` of each request, never a lost or duplicated draft.
    """
    for attempt in range(1, UNCOUNT_TRIES + 1):
        try:
            with session_scope() as session:
                session.execute(
                    update(GenerationRequest)
                    .where(
                        GenerationRequest.id.in_(request_ids),
                        GenerationRequest.status == RequestStatus.PENDING,
                        GenerationRequest.attempts > 0,
                    )
                    .values(attempts=GenerationRequest.attempts - 1)
                )
            return
        except InfrastructureError as error:
            # session_scope reports a lost or refused connection this way.
            if attempt == UNCOUNT_TRIES:
                logger.warning("could not take back the attempt of requests %s: %s", request_ids, error)
                return
            time.sleep(UNCOUNT_PAUSE_SECONDS)


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
        single_line=CHANNELS[request.channel].single_line,
    )


def regeneration_seed(seed: int, attempt: int) -> int:
    """Derive the seed for regeneration ``attempt`` (1, 2, ...) of a request with ``seed``."""
    return (seed + zlib.crc32(f"regeneration/{attempt}".encode())) % 2**31


def regeneration_input(request: GenerationRequest, attempt: int) -> GenerationInput:
    """Build the input for regenerating a request: a new seed, and sampling even if greedy."""
    first = _input_of(request)
    return GenerationInput(
        prompt=first.prompt,
        max_new_tokens=first.max_new_tokens,
        temperature=max(first.temperature, REGENERATION_MIN_TEMPERATURE),
        top_p=first.top_p,
        seed=regeneration_seed(first.seed, attempt),
        single_line=first.single_line,
    )


def _timed_generate(
    generator: Generator, inputs: list[GenerationInput]
) -> tuple[list[GenerationOutput], int]:
    started = time.perf_counter()
    outputs = generate_split_on_oom(generator, inputs)
    return outputs, round((time.perf_counter() - started) * 1000)


def _generate_rows(
    generator: Generator,
    requests: list[GenerationRequest],
    result: ChunkResult,
) -> list[_Row]:
    """Run the first batched generate call; requests whose output is an error fail here."""
    contexts = check_contexts(requests)
    inputs = [_input_of(request) for request in requests]
    outputs, elapsed_ms = _timed_generate(generator, inputs)

    rows = []
    for request, item, output in zip(requests, inputs, outputs, strict=True):
        if output.error:
            _mark_failed(request, output.error)
            logger.error("request %d failed: %s", request.id, output.error)
            result.failed += 1
            continue
        text = clean_output(output.text, CHANNELS[request.channel].single_line)
        rows.append(
            _Row(request, contexts[request.id], item, output, text, elapsed_ms, len(inputs))
        )
    return rows


def _check_and_regenerate(
    session: Session, generator: Generator, rows: list[_Row], result: ChunkResult
) -> None:
    """Check every row, regenerate the blocked ones, and repeat until all pass or the
    regeneration limit is reached. Rows are checked again each round because a changed
    variant can make another variant of its slot a near-duplicate."""
    stored = stored_siblings(session, [row.request for row in rows])
    limit = get_settings().max_regenerations
    for attempt in range(1, limit + 2):
        _check_rows(rows, stored)
        blocked = [row for row in rows if row.blocked]
        if not blocked or attempt > limit:
            return
        logger.info(
            "regenerating requests %s (attempt %d of %d)",
            [row.request.id for row in blocked], attempt, limit,
        )  # fmt: skip
        _regenerate(generator, blocked, attempt)
        result.regenerations += len(blocked)


def _check_rows(rows: list[_Row], stored: dict[SlotKey, list[Sibling]]) -> None:
    # Rows come in request order, so within a slot a row is compared with the variants
    # before it in this chunk and with every variant stored by earlier chunks.
    earlier: dict[SlotKey, list[Sibling]] = {}
    for row in rows:
        slot = slot_of(row.request)
        siblings = stored.get(slot, []) + earlier.get(slot, [])
        # Only near_duplicate depends on the other variants, so the other checks run again
        # only when a regeneration changed the output.
        if row.checked != (row.output, row.text):
            single_line = CHANNELS[row.request.channel].single_line
            cut_at_tokens = row.input.max_new_tokens if is_cut_off(row.output, single_line) else None
            context = replace(row.context, cut_at_tokens=cut_at_tokens)
            row.text_results = run_text_checks(row.text, context)
            row.checked = (row.output, row.text)
        near_duplicate = check_near_duplicate(row.text, siblings)
        row.results = with_near_duplicate(row.text_results, near_duplicate)
        earlier.setdefault(slot, []).append(Sibling(row.request.variant, row.text))


def _regenerate(generator: Generator, rows: list[_Row], attempt: int) -> None:
    inputs = [regeneration_input(row.request, attempt) for row in rows]
    outputs, elapsed_ms = _timed_generate(generator, inputs)
    for row, item, output in zip(rows, inputs, outputs, strict=True):
        row.regenerations += 1
        if output.error:
            # The earlier output stays; it failed a check but is better than none.
            logger.warning(
                "request %d: regeneration %d failed: %s", row.request.id, attempt, output.error
            )
            continue
        row.input = item
        row.output = output
        row.text = clean_output(output.text, CHANNELS[row.request.channel].single_line)
        row.elapsed_ms = elapsed_ms
        row.call_size = len(inputs)


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


def _store_drafts(
    session: Session, rows: list[_Row], generator: Generator, result: ChunkResult
) -> None:
    """Insert the rows' drafts and check results, and mark their requests done.

    Each table gets one INSERT, and the requests one UPDATE, whatever the row count. A
    request that is no longer pending (cancelled while its chunk was generating) keeps its
    state and gets no draft.
    """
    if not rows:
        return
    # On PostgreSQL the claim's row locks keep a cancel out until this chunk commits. SQLite
    # has no row locks, so this UPDATE, which takes its write lock, decides which requests
    # are still this chunk's.
    still_pending = set(
        session.scalars(
            update(GenerationRequest)
            .where(
                GenerationRequest.id.in_([row.request.id for row in rows]),
                GenerationRequest.status == RequestStatus.PENDING,
            )
            .values(status=RequestStatus.DONE, error=None, finished_at=datetime.now(UTC))
            .returning(GenerationRequest.id)
        )
    )
    if len(still_pending) < len(rows):
        dropped = sorted(row.request.id for row in rows if row.request.id not in still_pending)
        logger.warning(
            "requests %s stopped being pending while they were generated (cancelled, or stored "
            "by another run of the chunk); their new drafts are dropped",
            dropped,
        )
        result.skipped += len(dropped)
        rows = [row for row in rows if row.request.id in still_pending]
        if not rows:
            return
    drafts = Draft.__table__
    inserted = bulk_insert(
        session,
        drafts,
        [_draft_values(row, generator) for row in rows],
        returning=(drafts.c.id, drafts.c.request_id),
    )
    draft_ids = {request_id: draft_id for draft_id, request_id in inserted}
    # Inserted in the order the checks ran, so ordering by id keeps the order of checks.py's
    # table: on PostgreSQL, COPY reads its rows one after another and takes their ids in turn.
    checks = [
        {
            "draft_id": draft_ids[row.request.id],
            "name": check.name,
            "passed": check.passed,
            "blocking": check.blocking,
            "detail": check.detail,
            "detail_message": None if check.message is None else check.message.to_json(),
        }
        for row in rows
        for check in row.results
    ]
    bulk_insert(session, DraftCheck.__table__, checks)

    result.drafts += len(rows)
    flagged = [row for row in rows if row.blocked]
    result.flagged += len(flagged)
    _log_flagged(flagged)


def _log_flagged(rows: list[_Row]) -> None:
    # One line per distinct outcome rather than per request, because a chunk often flags
    # many requests for the same reasons.
    groups: dict[tuple[int, str], list[int]] = {}
    for row in rows:
        reasons = ", ".join(check.name for check in row.results if check.blocks)
        groups.setdefault((row.regenerations, reasons), []).append(row.request.id)
    for (regenerations, reasons), request_ids in groups.items():
        logger.info(
            "requests %s flagged after %d regenerations: %s", request_ids, regenerations, reasons
        )


def _draft_values(row: _Row, generator: Generator) -> dict[str, Any]:
    request = row.request
    measurement = measure(row.text, request.channel, row.context.channel_limits)
    return {
        "request_id": request.id,
        "batch_id": request.batch_id,
        "status": DraftStatus.FLAGGED if row.blocked else DraftStatus.PENDING_REVIEW,
        "text": row.text,
        "template_id": request.template_id,
        "model_name": generator.model_name,
        "model_revision": generator.model_revision,
        # The parameters that produced this text, which differ from the request's after a
        # regeneration.
        "params": {**request.params, "temperature": row.input.temperature, "seed": row.input.seed},
        "seed": row.input.seed,
        "prompt_tokens": row.output.prompt_tokens,
        "output_tokens": row.output.output_tokens,
        "finish_reason": row.output.finish_reason,
        "generation_ms": row.elapsed_ms,
        "chunk_size": row.call_size,
        "score": score_draft(row.results, measurement, row.output.mean_logprob),
        "mean_logprob": row.output.mean_logprob,
        "regenerations": row.regenerations,
    }


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
    headline with a second attempt or an explanation. A trailing U+FFFD is dropped too: it
    is the decoded start of a character whose bytes max_new_tokens cut off. NUL characters
    are removed, because PostgreSQL text columns reject them.
    """
    text = normalize_line_breaks(text.replace("\x00", "")).rstrip("\ufffd").strip()
    if single_line:
        text = text.split("\n", 1)[0].strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1].strip()
        # Only when the quotes wrap the whole text: '"Fast" and "cheap"' keeps its quotes.
        if text[0] not in inner and text[-1] not in inner:
            text = inner
    return text


def is_cut_off(output: GenerationOutput, single_line: bool = False) -> bool:
    """Tell whether max_new_tokens stopped the model where the cleaned text ends.

    On a single-line channel the text is the first line, which is whole when another line
    follows it.
    """
    if output.finish_reason != "length":
        return False
    # Leading blank lines come before the first line; a line break after it, even a
    # trailing one, shows that the model ended that line.
    raw = normalize_line_breaks(output.text.replace("\x00", "")).lstrip()
    return not (single_line and "\n" in raw)


def complete_finished_batches(session: Session, batch_ids: set[int]) -> None:
    """Move each batch to running, or to completed once none of its requests is pending
    (cancelled, if any of them was cancelled).

    The batch row is locked first: two chunks finishing at once would otherwise each see
    the other's requests as still pending, and neither would complete the batch. On
    PostgreSQL the lock is FOR NO KEY UPDATE. Each chunk's draft inserts already hold a
    key-share lock on the batch row (drafts reference it), so two chunks of one batch
    asking for FOR UPDATE would wait on each other forever.
    """
    for batch_id in sorted(batch_ids):
        batch = session.scalars(
            select(Batch).where(Batch.id == batch_id).with_for_update(key_share=True)
        ).one()
        status = GenerationRequest.status
        pending, cancelled = session.execute(
            select(
                func.count().filter(status == RequestStatus.PENDING),
                func.count().filter(status == RequestStatus.CANCELLED),
            ).where(GenerationRequest.batch_id == batch_id)
        ).one()
        if pending == 0 and batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            # A cancelled batch whose failed requests ran again stays cancelled: its
            # cancelled requests never ran.
            batch.status = BatchStatus.CANCELLED if cancelled else BatchStatus.COMPLETED
            batch.finished_at = datetime.now(UTC)
            logger.info("batch %d %s", batch_id, batch.status.value)
        elif pending and batch.status == BatchStatus.PENDING:
            batch.status = BatchStatus.RUNNING
