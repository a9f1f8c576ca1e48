"""Submitting batches and getting their chunks run: by Celery workers, or in this process.

The database commit comes first and the messages second. If the broker is down, the
requests stay pending in the database and ``contentgen batch resume`` sends them later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contentgen.batches import (
    NO_CAMPAIGNS,
    BatchProgress,
    RequestGroup,
    batch_progress,
    campaigns_by_key,
    create_batch,
    find_batch_by_key,
    get_batch,
    pending_chunks,
    request_groups,
    stalled_batches,
)
from contentgen.campaigns import (
    CampaignFile,
    InvalidCampaignFile,
    defined_brand_keys,
    import_campaign_file,
    load_campaign_file,
    stored_brand_keys,
    undefined_brands,
)
from contentgen.chunks import run_chunk
from contentgen.cleared_fields import ClearedFields, batch_warnings, cleared_fields, to_stored
from contentgen.cli_tables import plural
from contentgen.db import check_schema, session_scope
from contentgen.errors import ContentgenError, InfrastructureError, InvalidInput
from contentgen.generation import get_generator
from contentgen.i18n import N_
from contentgen.models import Batch, BatchStatus, Campaign, Trigger, utcnow
from contentgen.schedule_changes import ScheduleChange, schedule_changes, stored_schedules
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    batch_id: int
    request_count: int
    # False when the idempotency key matched a batch submitted earlier.
    created: bool
    # Stored fields that the files' import cleared because the files leave them out. Empty
    # when the key matched an earlier batch, since nothing is imported then. The warnings of
    # that batch's own import are stored with it (``Batch.import_warnings``).
    warnings: tuple[ClearedFields, ...] = ()


def submit(
    campaign_files: Sequence[Path] = (),
    campaign_keys: Sequence[str] = (),
    idempotency_key: str | None = None,
    trigger: Trigger = Trigger.MANUAL,
) -> Submission:
    """Import the files' campaigns (if any) and create one batch for them, in one transaction.

    Raises:
        InvalidInput: for an invalid idempotency key or file, unknown campaign keys or
            templates that fail to render; nothing is written then.
    """
    parsed_files, digest = _check_submission(campaign_files, campaign_keys, idempotency_key)
    try:
        with session_scope() as session:
            if idempotency_key and (existing := find_batch_by_key(session, idempotency_key)):
                return _earlier_submission(existing, idempotency_key, digest)
            batch, warnings = _import_and_create_batch(
                session, parsed_files, campaign_keys, idempotency_key, trigger
            )
            batch.submission_digest = digest
            batch.import_warnings = to_stored(warnings)
            submission = Submission(batch.id, batch.request_count, created=True, warnings=tuple(warnings))
    except IntegrityError:
        # Another submit with the same idempotency key committed first.
        if not idempotency_key:
            raise
        with session_scope() as session:
            existing = find_batch_by_key(session, idempotency_key)
            if existing is None:
                raise
            return _earlier_submission(existing, idempotency_key, digest)
    return submission


@dataclass(frozen=True)
class SubmissionPlan:
    """The batch that ``submit`` would create or return for the same arguments, as found
    by a dry run."""

    request_count: int
    # The requests by campaign, channel and max_new_tokens, in the order of the batch.
    requests: tuple[RequestGroup, ...]
    # The stored fields that the import would clear; see ``Submission.warnings``. For a
    # matched batch, the warnings stored with it.
    warnings: tuple[ClearedFields, ...] = ()
    # The batch that the idempotency key made earlier from the same content. A real submit
    # returns that batch and creates nothing, so ``requests`` are that batch's. None when
    # a real submit would create a new batch.
    matched_batch_id: int | None = None


class _DryRunDone(Exception):
    """Raised to roll back a dry run's transaction, with the plan it found and the id of the
    batch it created there (None when the idempotency key matched an earlier batch)."""

    def __init__(self, plan: SubmissionPlan, batch_id: int | None = None) -> None:
        super().__init__("dry run")
        self.plan = plan
        self.batch_id = batch_id


def dry_run_submit(
    campaign_files: Sequence[Path] = (),
    campaign_keys: Sequence[str] = (),
    idempotency_key: str | None = None,
) -> SubmissionPlan:
    """Check what ``submit`` would do, and write nothing.

    The files are validated as ``submit`` validates them. Then their campaigns are imported
    and the batch is created, with every prompt rendered, in a transaction that is rolled
    back. The batch gets no idempotency key there, so the key's unique index cannot make
    a dry run wait for, or fail on, a submission with the same key.

    NOTE: on PostgreSQL the rolled-back inserts use up sequence values, so the ids of the
    next batch, requests and new campaigns skip some numbers. No row is written.

    Raises:
        InvalidInput: for what ``submit`` raises it for, with the same message.
    """
    parsed_files, digest = _check_submission(campaign_files, campaign_keys, idempotency_key)
    try:
        with session_scope() as session:
            if idempotency_key and (existing := find_batch_by_key(session, idempotency_key)):
                earlier = _earlier_submission(existing, idempotency_key, digest)
                groups = tuple(request_groups(session, earlier.batch_id))
                stored = tuple(batch_warnings(existing))
                raise _DryRunDone(SubmissionPlan(earlier.request_count, groups, stored, earlier.batch_id))
            batch, warnings = _import_and_create_batch(
                session, parsed_files, campaign_keys, None, Trigger.MANUAL
            )
            groups = tuple(request_groups(session, batch.id))
            raise _DryRunDone(SubmissionPlan(batch.request_count, groups, tuple(warnings)), batch.id)
    except _DryRunDone as done:
        if done.batch_id is not None:
            # create_batch has logged "batch N created" by now; this line records the rollback.
            logger.info("dry run: rolled back batch %d with %d requests and the import",
                        done.batch_id, done.plan.request_count)  # fmt: skip
        return done.plan


def _check_submission(
    campaign_files: Sequence[Path], campaign_keys: Sequence[str], idempotency_key: str | None
) -> tuple[list[tuple[Path, CampaignFile]], str | None]:
    """Validate a submission's arguments and every file before anything is written.

    Returns:
        The parsed files, and the submission's digest when it has an idempotency key.
    """
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    if not campaign_files and not campaign_keys:
        raise InvalidInput("nothing to submit; pass a campaign file or --campaign KEY")
    if campaign_files and campaign_keys:
        raise InvalidInput("pass either campaign files or --campaign KEY, not both")

    parsed_files = _load_files(campaign_files)
    if parsed_files and not any(parsed.campaigns for _, parsed in parsed_files):
        _raise_no_campaigns([path for path, _ in parsed_files])
    _check_defines_something(parsed_files)
    _check_same_definitions(parsed_files)
    digest = _submission_digest(parsed_files, campaign_keys) if idempotency_key else None
    check_schema()
    return parsed_files, digest


def _import_and_create_batch(
    session: Session,
    parsed_files: Sequence[tuple[Path, CampaignFile]],
    campaign_keys: Sequence[str],
    idempotency_key: str | None,
    trigger: Trigger,
) -> tuple[Batch, list[ClearedFields]]:
    """Import the parsed files, then create the batch of their campaigns, or of the stored
    campaigns ``campaign_keys`` names. The caller commits or rolls back.

    Returns:
        The batch, and the stored fields that the import cleared.
    """
    # A campaign key in several files has the same definition in each
    # (``_check_same_definitions``), and the batch contains it once.
    imported: dict[str, Campaign] = {}
    warnings: list[ClearedFields] = []
    for path, parsed in parsed_files:
        warnings += cleared_fields(session, path, parsed)
        imported.update((campaign.key, campaign) for campaign in import_campaign_file(session, path, parsed))
    campaigns = list(imported.values())
    if campaign_keys:
        campaigns = campaigns_by_key(session, campaign_keys)
    batch = create_batch(session, campaigns, idempotency_key, trigger)
    return batch, warnings


@dataclass(frozen=True)
class Import:
    """The brands and campaigns that ``import_files`` created or updated."""

    brands: int
    campaign_keys: tuple[str, ...]
    warnings: tuple[ClearedFields, ...] = ()
    # The stored campaigns whose cron or time zone the import set or changed.
    schedule_changes: tuple[ScheduleChange, ...] = ()


def import_files(campaign_files: Sequence[Path]) -> Import:
    """Validate every file, then create or update their brands and campaigns in one
    transaction, without a batch. A brand that one file defines counts for the others.

    Raises:
        InvalidInput: for an invalid file, or a key that two files define differently;
            nothing is written then.
    """
    parsed_files = _load_files(campaign_files)
    _check_defines_something(parsed_files)
    _check_same_definitions(parsed_files)
    check_schema()
    with session_scope() as session:
        keys: dict[str, None] = {}
        warnings: list[ClearedFields] = []
        changes: list[ScheduleChange] = []
        for path, parsed in parsed_files:
            warnings += cleared_fields(session, path, parsed)
            before = stored_schedules(session, [spec.key for spec in parsed.campaigns])
            campaigns = import_campaign_file(session, path, parsed)
            changes += schedule_changes(session, before, campaigns)
            keys.update((campaign.key, None) for campaign in campaigns)
    brands = {brand.key for _, parsed in parsed_files for brand in parsed.brands}
    return Import(len(brands), tuple(keys), tuple(warnings), tuple(changes))


def should_send(submission: Submission) -> bool:
    """Tell whether a submitted batch's chunks go to the workers.

    Those of a new batch do. So do those of a batch that the idempotency key matched while
    none of its chunks has started, since the client may be retrying after the broker was
    down. A chunk that runs twice writes nothing the second time.
    """
    if submission.created:
        return True
    with session_scope() as session:
        return get_batch(session, submission.batch_id).status is BatchStatus.PENDING


def _submission_digest(
    parsed_files: Sequence[tuple[Path, CampaignFile]], campaign_keys: Sequence[str]
) -> str:
    """Return a SHA-256 of what is submitted: the definitions in the files, whatever their
    names, layout or order, with a CSV file's columns, or the set of campaign keys."""
    if campaign_keys:
        content: dict[str, Any] = {"campaign_keys": sorted(set(campaign_keys))}
    else:
        content = {"brands": {}, "campaigns": {}}
        for _, parsed in parsed_files:
            content["brands"].update((brand.key, brand.model_dump(mode="json")) for brand in parsed.brands)
            # A CSV file sets only its columns' fields and keeps the stored campaign's others,
            # so the same values from files with other columns import differently.
            columns = None if parsed.csv_columns is None else sorted(parsed.csv_columns)
            content["campaigns"].update(
                (campaign.key, {"fields": campaign.model_dump(mode="json"), "csv_columns": columns})
                for campaign in parsed.campaigns
            )
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _earlier_submission(batch: Batch, idempotency_key: str, digest: str | None) -> Submission:
    """Return the batch that ``idempotency_key`` made if it was submitted with the same
    content. A batch from before digests were recorded has none and matches anything.

    Raises:
        InvalidInput: if the key made its batch from other campaigns; nothing is written.
    """
    if batch.submission_digest is not None and batch.submission_digest != digest:
        raise InvalidInput.from_template(
            N_('idempotency key "{key}" already made batch {batch} from other campaign content; '
               "use a new key for this submission, or submit the same content to get batch {batch}"),
            key=_shorten(idempotency_key),
            batch=batch.id,
        )  # fmt: skip
    return Submission(batch.id, batch.request_count, created=False)


def _load_files(paths: Sequence[Path]) -> list[tuple[Path, CampaignFile]]:
    """Load and validate every file, reporting the problems of all of them together.

    A brand counts as defined when one of the files defines it or it is imported.

    Raises:
        InvalidCampaignFile: listing the problems of every invalid file.
        InvalidInput: for a file that cannot be read at all.
    """
    defined: set[str] | None = None

    def known_brands(keys: set[str]) -> set[str]:
        nonlocal defined
        if defined is None:
            defined = {key for path in paths for key in defined_brand_keys(path)}
        found = keys & defined
        return found | stored_brand_keys(keys - found) if keys - found else found

    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append((path, load_campaign_file(path, known_brands)))
        except InvalidCampaignFile as error:
            problems += error.details
    if not problems:
        return loaded
    # The valid files' undefined brands would otherwise come up only after these are fixed.
    try:
        for path, parsed in loaded:
            problems += undefined_brands(path, parsed, known_brands)
    except ContentgenError:
        pass
    raise InvalidCampaignFile(problems)


def _raise_no_campaigns(paths: Sequence[Path]) -> None:
    """Raise the error for submitted files of which none defines a campaign."""
    if len(paths) == 1:
        raise InvalidInput.from_template(NO_CAMPAIGNS, path=str(paths[0]))
    raise InvalidInput.from_template(
        N_("the campaign files {paths} define no campaigns, so there is nothing to submit; add at "
           'least one campaign under "campaigns" in one of them'),
        paths=_quoted_paths(paths),
    )  # fmt: skip


def _check_defines_something(parsed_files: Sequence[tuple[Path, CampaignFile]]) -> None:
    """Reject files that define no brand and no campaign, such as one with only
    ``campaigns: []`` or only ``x-`` keys. Passing one is a mistake, likely the wrong file."""
    empty = [path for path, parsed in parsed_files if not parsed.brands and not parsed.campaigns]
    if len(empty) == 1:
        raise InvalidInput.from_template(
            N_('campaign file "{path}" defines no brands and no campaigns; add them under "brands" '
               'and "campaigns"'),
            path=str(empty[0]),
        )  # fmt: skip
    if empty:
        raise InvalidInput.from_template(
            N_('the campaign files {paths} define no brands and no campaigns; add them under "brands" '
               'and "campaigns"'),
            paths=_quoted_paths(empty),
        )  # fmt: skip


def _quoted_paths(paths: Sequence[Path]) -> str:
    return ", ".join(f'"{path}"' for path in paths)


def _check_same_definitions(parsed_files: Sequence[tuple[Path, CampaignFile]]) -> None:
    """Reject a campaign or brand key that two files define differently: either version
    would silently replace the other."""
    seen: dict[tuple[str, str], tuple[Path, dict[str, Any]]] = {}
    conflicts = []
    for path, parsed in parsed_files:
        for kind, items in (("brand", parsed.brands), ("campaign", parsed.campaigns)):
            for item in items:
                definition = item.model_dump(mode="json")
                first = seen.setdefault((kind, item.key), (path, definition))
                if first[1] != definition:
                    conflicts.append(f'{kind} "{item.key}" differs between "{first[0]}" and "{path}"')
    if conflicts:
        raise InvalidInput(
            "the campaign files define the same key differently; keep one definition, "
            "nothing was imported:",
            conflicts,
        )


# The size of the batches.idempotency_key column.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Scheduled batches have the keys "schedule:<campaign>:<slot>", so that a slot makes one
# batch. A submitted key there would take the slot's place.
SCHEDULE_KEY_PREFIX = "schedule:"


def check_idempotency_key(key: str) -> None:
    """Raise ``InvalidInput`` unless ``key`` fits its column and has no control characters.

    PostgreSQL text cannot store NUL, and a longer key fails the insert there (SQLite
    stores anything), so both are rejected before the database is touched.
    """
    displayed_key = _shorten("".join(
        character.encode("unicode_escape").decode("ascii")
        if unicodedata.category(character) == "Cc" else character
        for character in key[:100]
    ))  # fmt: skip
    if not key.strip():
        raise InvalidInput.from_template(
            N_('idempotency key "{key}" is empty; leave it out or use 1 to {limit} characters'),
            key=displayed_key,
            limit=MAX_IDEMPOTENCY_KEY_LENGTH,
        )
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInput.from_template(
            N_('idempotency key "{key}" has {length} characters; use at most {limit}'),
            key=displayed_key,
            length=len(key),
            limit=MAX_IDEMPOTENCY_KEY_LENGTH,
        )
    if key.casefold().startswith(SCHEDULE_KEY_PREFIX):
        raise InvalidInput.from_template(
            N_('idempotency key "{key}" starts with "schedule:", which names the batches that '
               "schedules create; use a key that starts otherwise"),
            key=displayed_key,
        )  # fmt: skip
    if any(unicodedata.category(character) == "Cc" for character in key):
        raise InvalidInput.from_template(
            N_('idempotency key "{key}" contains a control character such as NUL or a line '
               "break; use letters, digits and punctuation"),
            key=displayed_key,
        )  # fmt: skip


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BrokerUnreachable(InfrastructureError):
    """The broker did not take a batch's chunks, so the batch's requests stay pending.

    Attributes:
        problem: the broker and its error, without the advice that the message adds.
        batch_id: the batch whose chunks were not sent.
    """

    def __init__(self, problem: str, batch_id: int) -> None:
        super().__init__(
            f"{problem}; batch {batch_id} is saved and its requests stay pending. Check that "
            "the broker runs and CONTENTGEN_BROKER_URL is right, then run: contentgen batch "
            f"resume {batch_id}"
        )
        self.problem = problem
        self.batch_id = batch_id


def send_chunks(batch_id: int) -> int:
    """Send one Celery task per chunk of the batch's pending requests.

    Returns:
        The number of chunks sent.

    Raises:
        InvalidInput: if no broker is configured or its URL or options are unusable.
        BrokerUnreachable: if the broker is unreachable. The requests stay pending, and
            the message gives the command that resumes them.
    """
    settings = get_settings()
    if not settings.broker_url:
        raise InvalidInput(
            "no broker configured; set CONTENTGEN_BROKER_URL (e.g. redis://127.0.0.1:6379/0) "
            "or run the batch in this process with: contentgen batch resume "
            f"{batch_id} --wait"
        )
    with session_scope() as session:
        chunks = pending_chunks(session, batch_id, settings.chunk_size)

    from workers.app import GENERATE_CHUNK, create_app

    app = create_app(settings)
    try:
        with app.producer_or_acquire() as producer:
            for chunk in chunks:
                app.send_task(
                    GENERATE_CHUNK,
                    args=[chunk],
                    kwargs={"batch_id": batch_id},
                    queue=settings.queue,
                    producer=producer,
                    retry=False,
                )
    except (BrokerError, OSError) as error:
        logger.debug("sending batch %d failed", batch_id, exc_info=True)
        raise BrokerUnreachable(
            f"broker {_display_broker(settings.broker_url)} is unreachable or rejected the "
            f"connection ({error})",
            batch_id,
        ) from None
    except (KeyError, ValueError) as error:
        # The URL was checked when the settings were read, so a transport option is the
        # likelier cause, but either can be. Only the options' names are shown, because
        # their values can be passwords (Redis Sentinel's sentinel_kwargs).
        options = ", ".join(settings.broker_transport_options) or "none"
        raise InvalidInput(
            f'broker URL "{_display_broker(settings.broker_url)}" with the transport options '
            f"({options}) is not usable ({error}); batch {batch_id} is saved and its "
            "requests stay pending. Fix CONTENTGEN_BROKER_TRANSPORT_OPTIONS or "
            f"CONTENTGEN_BROKER_URL (redis://host:port/db), then run: contentgen batch resume {batch_id}"
        ) from None
    with session_scope() as session:
        session.execute(update(Batch).where(Batch.id == batch_id).values(sent_at=utcnow()))
    logger.info(
        "batch %d: sent %d %s to queue %s",
        batch_id, len(chunks), "chunk" if len(chunks) == 1 else "chunks", settings.queue,
    )  # fmt: skip
    return len(chunks)


def _display_broker(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


ProgressCallback = Callable[[BatchProgress], None]


def run_inline(
    batch_id: int, on_progress: ProgressCallback | None = None, timeout: float | None = None
) -> BatchProgress:
    """Run every pending chunk of a batch in this process, through the worker's code path.

    Raises:
        InfrastructureError: if the model cannot load, or if ``timeout`` seconds pass. A
            chunk is never interrupted, so the time is checked between chunks.
    """
    settings = get_settings()
    deadline = None if timeout is None else time.monotonic() + timeout
    with session_scope() as session:
        chunks = pending_chunks(session, batch_id, settings.chunk_size)
    if not chunks:
        return read_progress(batch_id)

    try:
        generator = get_generator(settings)
    except ContentgenError as error:
        raise _with_resume_hint(error, batch_id) from None
    for chunk in chunks:
        if deadline is not None and time.monotonic() > deadline:
            pending = read_progress(batch_id).requests["pending"]
            raise InfrastructureError(
                f"timed out after {timeout:g} s with {plural(pending, 'request')} of batch "
                f"{batch_id} still pending. Pending requests stay saved; run them with: "
                f"contentgen batch resume {batch_id} --wait"
            )
        try:
            run_chunk(chunk, generator)
            if on_progress:
                on_progress(read_progress(batch_id))
        except ContentgenError as error:
            raise _with_resume_hint(error, batch_id) from None
    return read_progress(batch_id)


def _with_resume_hint(error: ContentgenError, batch_id: int) -> ContentgenError:
    return type(error)(
        f"{error}\nBatch {batch_id} is saved and its unfinished requests stay pending; "
        f"fix the problem, then run: contentgen batch resume {batch_id} --wait"
    )


def read_progress(batch_id: int) -> BatchProgress:
    with session_scope() as session:
        return batch_progress(session, batch_id)


def wait_for_batch(
    batch_id: int,
    on_progress: ProgressCallback | None = None,
    poll_seconds: float = 0.25,
    timeout: float | None = None,
    on_stall: Callable[[float], None] | None = None,
    stall_seconds: float = 60.0,
) -> BatchProgress:
    """Poll the database until no request of the batch is pending.

    Args:
        on_stall: called once, with the seconds waited, when nothing has finished for
            ``stall_seconds`` (no worker running, or a chunk much slower than usual).

    Raises:
        InfrastructureError: if ``timeout`` seconds pass first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    last_change = time.monotonic()
    last_finished = -1
    stall_reported = False
    while True:
        progress = read_progress(batch_id)
        if on_progress:
            on_progress(progress)
        if progress.requests.get("pending", 0) == 0:
            return progress

        now = time.monotonic()
        if progress.finished != last_finished:
            last_finished, last_change = progress.finished, now
        elif on_stall and not stall_reported and now - last_change >= stall_seconds:
            on_stall(now - last_change)
            stall_reported = True
        if deadline is not None and time.monotonic() > deadline:
            raise InfrastructureError(
                f"batch {batch_id} still has "
                f"{plural(progress.requests['pending'], 'pending request')} after "
                f"{timeout:.0f} s; check that workers are running (celery -A workers worker) "
                f"and see: contentgen batch status {batch_id}"
            )
        time.sleep(poll_seconds)


def resume(batch_id: int) -> int:
    """Send the batch's pending requests to the workers again; returns the chunk count."""
    with session_scope() as session:
        get_batch(session, batch_id)
    return send_chunks(batch_id)


def sweep_stalled_batches(stalled_after: float | None = None) -> list[int]:
    """Send the pending requests of stalled batches again; return those batches' ids.

    A batch is stalled when it has pending requests, none of its requests finished and none
    of its chunks were sent in the last ``stalled_after`` seconds (default: the
    ``resend_stalled_after`` setting), and the queue is empty, so no message for it is
    waiting. Since a send restarts the count (``Batch.sent_at``), sweeps send a batch again no
    more than once per ``stalled_after``, even while its earlier copies wait in a worker for a
    retry. Messages of a worker killed mid-chunk
    are otherwise held by Redis until its visibility timeout, an hour by default. A chunk
    sent twice is harmless: its rows are locked while it runs and done rows are skipped.
    """
    settings = get_settings()
    stalled_after = settings.resend_stalled_after if stalled_after is None else stalled_after
    if _queue_length(settings) > 0:
        return []
    with session_scope() as session:
        batch_ids = stalled_batches(session, stalled_after)
    for batch_id in batch_ids:
        chunks = send_chunks(batch_id)
        logger.warning(
            "batch %d stalled: sent its pending requests again as %d %s",
            batch_id, chunks, "chunk" if chunks == 1 else "chunks",
        )  # fmt: skip
    return batch_ids


def _queue_length(settings) -> int:
    from workers.app import create_app

    try:
        with create_app(settings).connection_for_read() as connection:
            return connection.default_channel.queue_declare(settings.queue, passive=True).message_count
    except BrokerError as error:
        raise InfrastructureError(f"broker unreachable while checking the queue: {error}") from None
    except Exception as error:  # noqa: BLE001 - a missing queue is reported differently per transport
        logger.debug("queue %s not found (%s); treating it as empty", settings.queue, error)
        return 0
