"""Batches: expanding campaigns into generation requests, and reading batch progress.

Submitting is one transaction: the batch and every request, each with its rendered prompt,
exist together or not at all. Chunks are sent to workers only after the commit (see
``contentgen.dispatch``), and messages carry request ids, never prompts.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import Session

from contentgen._names import closest
from contentgen.campaign_snapshots import read_snapshot, take_snapshots
from contentgen.campaigns import CampaignSpec, campaign_spec, language_name
from contentgen.channels import CHANNELS
from contentgen.errors import Conflict, InvalidInput, NotFound, NotSetUp, shorten
from contentgen.i18n import N_, Message
from contentgen.models import (
    Batch,
    BatchStatus,
    Brand,
    Campaign,
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    PromptTemplate,
    RequestStatus,
    Trigger,
    id_in_range,
    stored_utc,
    utc_iso,
)
from contentgen.rules import RULE_PACKS, rules_for_brand
from contentgen.settings import get_settings
from contentgen.templates import ContextValue, latest_template, render_prompt

logger = logging.getLogger(__name__)

# Messages that name a command or a file's section as the fix. The web app words them for
# its readers in contentgen.web._errors.
NO_CAMPAIGNS = N_('campaign file "{path}" defines no campaigns, so there is nothing to submit; '
                  'add at least one campaign under "campaigns"')  # fmt: skip
BATCH_NOT_FOUND = N_("batch {batch_id} not found; list batches with: contentgen batch list")

# One instruction per variant, so that variants of a slot differ even under greedy
# decoding; variant n takes ANGLES[(n - 1) % len(ANGLES)].
ANGLES = (
    "lead with the main benefit",
    "ask a question the audience cares about",
    "give one concrete fact or number from the product facts",
    "name a problem the audience has, then how the product solves it",
    "create urgency with a real reason to act now",
    "keep it light and playful",
)


@dataclass(frozen=True)
class Slot:
    """One draft to write within a campaign."""

    segment: str
    channel: str
    variant: int


def expand_slots(spec: CampaignSpec) -> Iterator[Slot]:
    """Yield every segment x channel x variant of a campaign, in file order."""
    for segment in spec.segments:
        for channel in spec.channels:
            for variant in range(1, spec.variants + 1):
                yield Slot(segment.key, channel, variant)


def count_slots(spec: CampaignSpec) -> int:
    return len(spec.segments) * len(spec.channels) * spec.variants


def request_seed(campaign_seed: int, campaign_key: str, slot: Slot) -> int:
    """Derive a stable per-request seed, so that variants of a slot sample differently."""
    label = f"{campaign_key}/{slot.segment}/{slot.channel}/{slot.variant}".encode()
    return (campaign_seed + zlib.crc32(label)) % 2**31


def context_builder(campaign: Campaign, spec: CampaignSpec) -> Callable[[Slot], dict[str, Any]]:
    """Return a function that builds the template variables for one slot of ``campaign``.

    The brand, campaign, product, segment and channel values are built once and shared by
    the slots that use them. Templates render in an immutable sandbox, so no template can
    change a shared value for the slots after it.
    """
    brand = campaign.brand
    # The prompt lists the same banned terms the checks look for: the brand's own and those
    # of the rule packs for this locale.
    rules = rules_for_brand(brand, spec.locale)
    shared = {
        "brand": ContextValue(
            "brand",
            {
                "key": brand.key,
                "name": brand.name,
                "voice": brand.voice,
                "banned_terms": [term.text for term in rules.banned],
                "required_terms": list(brand.required_terms),
            },
        ),
        "campaign": ContextValue(
            "campaign",
            {
                "key": campaign.key,
                "name": spec.display_name,
                "goal": spec.goal,
                "call_to_action": spec.call_to_action,
            },
        ),
        "product": ContextValue("product", spec.product.model_dump()),
        "locale": spec.locale,
        "language": language_name(spec.locale),
        "variants": spec.variants,
    }
    segments = {
        segment.key: ContextValue("segment", segment.model_dump()) for segment in spec.segments
    }
    limits = brand.channel_limits or {}
    channels = {}
    for key in spec.channels:
        channel = CHANNELS[key]
        max_chars = channel.prompt_limit(spec.locale, limits.get(key))
        channels[key] = ContextValue(
            "channel", {"key": key, "label": channel.label, "max_chars": max_chars}
        )

    def build(slot: Slot) -> dict[str, Any]:
        return {
            **shared,
            "segment": segments[slot.segment],
            "channel": channels[slot.channel],
            "variant": slot.variant,
            "angle": ANGLES[(slot.variant - 1) % len(ANGLES)],
        }

    return build


# The template variables that a campaign file may leave empty, as ``sample_context`` takes
# them. campaign.name is optional too, but takes the campaign's key when left out.
OPTIONAL_TEMPLATE_FIELDS = (
    "brand.voice", "brand.banned_terms", "brand.required_terms", "campaign.goal",
    "campaign.call_to_action", "product.description", "product.features", "product.price",
    "product.url", "product.offer", "segment.description",
)  # fmt: skip


def sample_context(channel: str, empty_fields: Collection[str] = ()) -> dict[str, Any]:
    """Build the template context of ``channel`` for a sample campaign with every optional
    field set, except ``empty_fields`` (names from ``OPTIONAL_TEMPLATE_FIELDS``), which it
    leaves out."""
    values = {
        "campaign": {"goal": "Sample goal", "call_to_action": "Buy now"},
        "product": {
            "name": "Sample product", "description": "Sample description",
            "features": ["First feature", "Second feature"], "price": "$10",
            "url": "https://example.com/", "offer": "Sample offer",
        },
        "segment": {"key": "everyone", "name": "Everyone", "description": "Everybody"},
        "brand": {"voice": "Plain words", "banned_terms": ["banned"], "required_terms": ["required"]},
    }  # fmt: skip
    for field in empty_fields:
        section, name = field.split(".")
        del values[section][name]

    spec = CampaignSpec.model_validate(
        {
            "key": "sample",
            "brand": "sample-brand",
            "name": "Sample campaign",
            **values["campaign"],
            "product": values["product"],
            "segments": [values["segment"]],
            "channels": [channel],
            "variants": 2,
        }
    )
    # A stored brand has these defaults, but a Brand that was never flushed has None.
    brand_values = {"voice": "", "banned_terms": [], "required_terms": [], **values["brand"]}
    # The rule packs add banned terms of their own, so the list is empty only without them.
    disabled_rule_packs = list(RULE_PACKS) if "brand.banned_terms" in empty_fields else []
    brand = Brand(key="sample-brand", name="Sample brand", disabled_rule_packs=disabled_rule_packs, **brand_values)
    campaign = Campaign(key=spec.key, name=spec.display_name, brand=brand)
    slot = next(expand_slots(spec))
    return context_builder(campaign, spec)(slot)


def approved_slots(session: Session, campaign: Campaign) -> set[Slot]:
    """Return the campaign's slots that have an approved draft in any batch."""
    rows = session.execute(
        select(GenerationRequest.segment, GenerationRequest.channel, GenerationRequest.variant)
        .join(Draft, Draft.request_id == GenerationRequest.id)
        .where(
            GenerationRequest.campaign_id == campaign.id,
            Draft.status == DraftStatus.APPROVED,
        )
        .distinct()
    ).all()
    return {Slot(row.segment, row.channel, row.variant) for row in rows}


def find_batch_by_key(session: Session, idempotency_key: str) -> Batch | None:
    return session.scalars(select(Batch).where(Batch.idempotency_key == idempotency_key)).one_or_none()


def create_batch(
    session: Session,
    campaigns: Sequence[Campaign],
    idempotency_key: str | None = None,
    trigger: Trigger = Trigger.MANUAL,
    skip_slots: Mapping[int, AbstractSet[Slot]] | None = None,
) -> Batch:
    """Create a batch with one rendered request per slot of each campaign; the caller commits.

    Args:
        skip_slots: slots to leave out, by campaign id (e.g. those already approved).

    Raises:
        InvalidInput: if there are no campaigns, the batch would exceed the request limit, a
            channel has no synced template, a template fails to render, or ``skip_slots``
            leaves no slot at all. Nothing is added to the session then.
    """
    if not campaigns:
        raise InvalidInput.from_template(N_("no campaigns to submit; pass a campaign file or --campaign KEY"))
    specs = [campaign_spec(campaign) for campaign in campaigns]
    _check_size(campaigns, specs)

    templates = _templates_for(session, {channel for spec in specs for channel in spec.channels})
    rows = []
    for campaign, spec in zip(campaigns, specs, strict=True):
        skipped = (skip_slots or {}).get(campaign.id, frozenset())
        rows.extend(_request_rows(campaign, spec, templates, skipped))
    if not rows:
        raise InvalidInput(
            "every slot of the campaigns is left out, so the batch would be empty; "
            "submit it without leaving slots out"
        )

    batch = Batch(
        idempotency_key=idempotency_key,
        trigger=trigger,
        status=BatchStatus.PENDING,
        request_count=len(rows),
    )
    session.add(batch)
    session.flush()
    for row in rows:
        row["batch_id"] = batch.id
    session.execute(insert(GenerationRequest), rows)
    logger.info(
        "batch %d created with %d requests from campaigns %s",
        batch.id, len(rows), ", ".join(campaign.key for campaign in campaigns),
    )  # fmt: skip
    return batch


def _check_size(campaigns: Sequence[Campaign], specs: Sequence[CampaignSpec]) -> None:
    limit = get_settings().max_requests_per_batch
    total = sum(count_slots(spec) for spec in specs)
    if total > limit:
        raise InvalidInput(
            f"the batch would have {total} requests, more than the limit of {limit}; "
            "submit fewer campaigns, segments, channels or variants at a time, "
            "or raise CONTENTGEN_MAX_REQUESTS_PER_BATCH"
        )


def _templates_for(session: Session, channels: set[str]) -> dict[str, PromptTemplate]:
    templates = {}
    missing = []
    for channel in sorted(channels):
        template = latest_template(session, CHANNELS[channel].template_name)
        if template is None:
            missing.append(CHANNELS[channel].template_name)
        else:
            templates[channel] = template
    if missing:
        raise NotSetUp(
            f"no prompt template in the database for: {', '.join(missing)}; "
            "run: contentgen templates sync"
        )
    return templates


def _request_rows(
    campaign: Campaign,
    spec: CampaignSpec,
    templates: dict[str, PromptTemplate],
    skipped: AbstractSet[Slot],
) -> list[dict[str, Any]]:
    generation = spec.generation
    build_context = context_builder(campaign, spec)
    snapshots = take_snapshots(campaign, spec)
    channel_limits = campaign.brand.channel_limits or {}
    rows = []
    for slot in expand_slots(spec):
        if slot in skipped:
            continue
        template = templates[slot.channel]
        try:
            prompt = render_prompt(template, build_context(slot))
        except InvalidInput as error:
            raise InvalidInput.from_template(
                N_('campaign "{campaign}", channel "{channel}": {error}'),
                campaign=campaign.key,
                channel=slot.channel,
                error=Message(error.template, error.params or {}) if error.template else str(error),
            ) from None
        max_new_tokens = generation.max_new_tokens or CHANNELS[slot.channel].token_budget(
            spec.locale, channel_limits.get(slot.channel)
        )
        rows.append(
            {
                "campaign_id": campaign.id,
                "segment": slot.segment,
                "channel": slot.channel,
                "variant": slot.variant,
                "template_id": template.id,
                "prompt": prompt,
                "params": {
                    "temperature": generation.temperature,
                    "top_p": generation.top_p,
                    "max_new_tokens": max_new_tokens,
                    "seed": request_seed(generation.seed, campaign.key, slot),
                },
                "campaign_snapshot": snapshots[slot.segment],
                "status": RequestStatus.PENDING,
                "attempts": 0,
            }
        )
    return rows


def pending_chunks(session: Session, batch_id: int, chunk_size: int) -> list[list[int]]:
    """Group a batch's pending request ids into chunks of at most ``chunk_size``.

    A chunk contains one channel and one ``max_new_tokens``, so its rows produce outputs of
    similar length and no short headline waits for a long email body.
    """
    rows = session.execute(
        select(GenerationRequest.id, GenerationRequest.channel, GenerationRequest.params)
        .where(
            GenerationRequest.batch_id == batch_id,
            GenerationRequest.status == RequestStatus.PENDING,
        )
        .order_by(GenerationRequest.id)
    ).all()

    def group_key(row) -> tuple[str, int]:
        return row.channel, row.params["max_new_tokens"]

    chunks = []
    for _, group in groupby(sorted(rows, key=group_key), key=group_key):
        ids = [row.id for row in group]
        chunks.extend(ids[start : start + chunk_size] for start in range(0, len(ids), chunk_size))
    return chunks


def get_batch(session: Session, batch_id: int) -> Batch:
    """Look a batch up by id.

    Raises:
        NotFound: if no batch has that id, also for an id that no id column can contain.
    """
    batch = session.get(Batch, batch_id) if id_in_range(batch_id) else None
    if batch is None:
        raise NotFound.from_template(BATCH_NOT_FOUND, batch_id=shorten(batch_id))
    return batch


@dataclass(frozen=True)
class CheckSummary:
    """Counts of a batch's drafts that passed or failed the automated checks.

    They measure the model's output, so drafts whose text a reviewer replaced are left out
    of every count but ``edited``: their check results are those of the edited text.
    """

    drafts: int = 0
    # Drafts with no failed blocking check, and those of them that passed on the first try.
    passed: int = 0
    passed_first_try: int = 0
    # Outputs generated again because they failed a blocking check, over all drafts.
    regenerations: int = 0
    # Check name to the number of drafts whose final text failed it.
    failures: dict[str, int] | None = None
    # Drafts that a reviewer edited, left out of the counts above.
    edited: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.drafts if self.drafts else None

    @property
    def first_try_pass_rate(self) -> float | None:
        return self.passed_first_try / self.drafts if self.drafts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "drafts": self.drafts,
            "passed": self.passed,
            "passed_first_try": self.passed_first_try,
            "pass_rate": _rounded(self.pass_rate),
            "first_try_pass_rate": _rounded(self.first_try_pass_rate),
            "regenerations": self.regenerations,
            "failures": self.failures or {},
            "edited": self.edited,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class BatchProgress:
    batch: Batch
    requests: dict[str, int]
    drafts: dict[str, int]
    # The first failed requests with their errors, for `batch status`.
    failures: list[dict[str, Any]]
    checks: CheckSummary = CheckSummary()

    @property
    def finished(self) -> int:
        """Requests that will not run again: done, failed or cancelled."""
        return sum(self.requests.get(state, 0) for state in ("done", "failed", "cancelled"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.batch.id,
            "status": self.batch.status.value,
            "trigger": self.batch.trigger.value,
            "idempotency_key": self.batch.idempotency_key,
            "created_at": utc_iso(self.batch.created_at),
            "finished_at": utc_iso(self.batch.finished_at),
            "request_count": self.batch.request_count,
            "requests": self.requests,
            "drafts": self.drafts,
            "failures": self.failures,
            "checks": self.checks.as_dict(),
        }


def batch_progress(session: Session, batch_id: int) -> BatchProgress:
    """Count a batch's requests by state and its drafts by review status."""
    # Each SELECT sees what was committed before it ran (PostgreSQL's READ COMMITTED, and
    # SQLite's driver, which starts no transaction for reads). The transaction that
    # finishes a batch's last pending request also sets the batch's final status, so the
    # counts are read first: a batch read after counting no pending request is finished,
    # never still "running". An id that no id column can hold is not looked up at all.
    if not id_in_range(batch_id):
        get_batch(session, batch_id)
    counted_requests = _counts(session, GenerationRequest.status, GenerationRequest.batch_id, batch_id)
    batch = get_batch(session, batch_id)
    counted_drafts = _counts(session, Draft.status, Draft.batch_id, batch_id)
    # Every state and status, zeros included and in the enums' order, so that readers need
    # no defaults and tables and JSON list them the same way every time.
    requests = {state.value: counted_requests.get(state.value, 0) for state in RequestStatus}
    drafts = {status.value: counted_drafts.get(status.value, 0) for status in DraftStatus}
    failures = _failures(session, batch_id) if requests["failed"] else []
    return BatchProgress(batch, requests, drafts, failures, check_summary(session, batch_id))


# How many failed requests, with their errors, ``batch_progress`` lists.
LISTED_FAILURES = 20


def _failures(session: Session, batch_id: int) -> list[dict[str, Any]]:
    failed = session.scalars(
        select(GenerationRequest)
        .where(
            GenerationRequest.batch_id == batch_id,
            GenerationRequest.status == RequestStatus.FAILED,
        )
        .order_by(GenerationRequest.id)
        .limit(LISTED_FAILURES)
    )
    return [
        {
            "request_id": request.id,
            "campaign": request.campaign.key,
            "segment": request.segment,
            "segment_name": _segment_name(request),
            "channel": request.channel,
            "variant": request.variant,
            "error": request.error,
        }
        for request in failed
    ]


def _segment_name(request: GenerationRequest) -> str:
    return read_snapshot(request.campaign_snapshot, request.campaign, request.segment)["segment_name"]


def check_summary(session: Session, batch_id: int) -> CheckSummary:
    """Count a batch's model-written drafts that passed the checks, and its regenerations."""
    generated = (Draft.batch_id == batch_id, Draft.original_text.is_(None))
    total, regenerations = session.execute(
        select(func.count(Draft.id), func.coalesce(func.sum(Draft.regenerations), 0)).where(*generated)
    ).one()
    edited = session.scalar(
        select(func.count(Draft.id)).where(Draft.batch_id == batch_id, Draft.original_text.is_not(None))
    )
    blocked = exists().where(
        DraftCheck.draft_id == Draft.id,
        DraftCheck.passed.is_(False),
        DraftCheck.blocking.is_(True),
    )
    passed = session.execute(
        select(
            func.count(Draft.id),
            func.count(Draft.id).filter(Draft.regenerations == 0),
        ).where(*generated, ~blocked)
    ).one()
    failures = session.execute(
        select(DraftCheck.name, func.count(DraftCheck.id))
        .join(Draft, Draft.id == DraftCheck.draft_id)
        .where(*generated, DraftCheck.passed.is_(False))
        .group_by(DraftCheck.name)
        .order_by(DraftCheck.name)
    ).all()
    return CheckSummary(
        drafts=total,
        passed=passed[0],
        passed_first_try=passed[1],
        regenerations=int(regenerations),
        failures={name: count for name, count in failures},
        edited=edited or 0,
    )



def _counts(session: Session, status_column, batch_column, batch_id: int) -> dict[str, int]:
    rows = session.execute(
        select(status_column, func.count()).where(batch_column == batch_id).group_by(status_column)
    ).all()
    return {status.value: count for status, count in rows}


def list_batches(session: Session, limit: int = 50) -> list[BatchProgress]:
    batch_ids = session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(limit)).all()
    return [batch_progress(session, batch_id) for batch_id in batch_ids]


def campaigns_by_key(session: Session, keys: Sequence[str]) -> list[Campaign]:
    """Look campaigns up by key, in the order given.

    Raises:
        NotFound: naming every key that no imported campaign has.
    """
    found = {
        campaign.key: campaign
        for campaign in session.scalars(select(Campaign).where(Campaign.key.in_(keys)))
    }
    missing = [key for key in keys if key not in found]
    if missing:
        raise _no_campaign(session, missing[0])
    return [found[key] for key in dict.fromkeys(keys)]


def _no_campaign(session: Session, key: str) -> NotFound:
    """Return the error for a campaign key that no imported campaign has, naming the key
    that was probably meant: that of a campaign with this name, or the closest key."""
    same_letters = session.scalar(select(Campaign.key).where(func.lower(Campaign.key) == key.lower()))
    if same_letters:
        return NotFound.from_template(
            N_('campaign "{key}" not found; did you mean "{close}"?'), key=shorten(key), close=same_letters
        )
    named = session.scalars(select(Campaign.key).where(func.lower(Campaign.name) == key.lower()).limit(2)).all()
    if len(named) == 1:
        return NotFound.from_template(
            N_('"{value}" is the name of campaign "{key}", and commands take its key; use "{key}"'),
            value=shorten(key),
            key=named[0],
        )
    close = closest(key, session.scalars(select(Campaign.key)).all())
    if close:
        return NotFound.from_template(
            N_('campaign "{key}" not found; did you mean "{close}"?'), key=shorten(key), close=close
        )
    return NotFound.from_template(
        N_('campaign "{key}" not found; list the imported campaigns with: contentgen campaigns list, '
           "or import it with: contentgen campaigns import FILE"),
        key=shorten(key),
    )  # fmt: skip


def stalled_batches(session: Session, stalled_after: float) -> list[int]:
    """Return unfinished batches where no request finished and no chunk was sent in the
    last ``stalled_after`` seconds."""
    cutoff = datetime.now(UTC) - timedelta(seconds=stalled_after)
    last_finished = (
        select(GenerationRequest.batch_id, func.max(GenerationRequest.finished_at).label("at"))
        .group_by(GenerationRequest.batch_id)
        .subquery()
    )
    candidates = session.execute(
        select(Batch.id, Batch.created_at, Batch.sent_at, last_finished.c.at)
        .outerjoin(last_finished, last_finished.c.batch_id == Batch.id)
        .where(Batch.status.in_([BatchStatus.PENDING, BatchStatus.RUNNING]))
        .order_by(Batch.id)
    ).all()
    return [
        batch_id
        for batch_id, *times in candidates
        if max(stored_utc(time) for time in times if time is not None) < cutoff
    ]


# The first key of the PostgreSQL advisory lock that a cancel holds on a batch ("cgn1").
CANCEL_LOCK_NAMESPACE = 0x63676E31
CANCEL_IN_PROGRESS = N_("batch {batch_id} is being cancelled by another request, which waits "
                        "for a chunk that a worker is generating; nothing was changed. Try "
                        "again once that chunk has been stored.")  # fmt: skip


class Cancellation(NamedTuple):
    """The outcome of cancelling a batch."""

    cancelled: int
    """Pending requests now cancelled."""
    generating: int
    """Requests that a worker was generating, which finish as their chunk ends."""


def cancel_batch(
    session: Session,
    batch_id: int,
    on_wait: Callable[[int], None] | None = None,
    *,
    wait: bool = True,
) -> Cancellation:
    """Cancel the batch's pending requests.

    On PostgreSQL, the requests that a worker is generating right now are locked. With
    ``wait``, this statement waits for that chunk to commit. By then those requests are
    done, so they stay done. ``on_wait`` is called first with their number, when there are
    any. Without ``wait``, the others are cancelled at once and the chunk finishes its own.
    SQLite has no row locks, so there every pending request is cancelled, and a chunk that
    is generating some of them stores no draft for those.

    Raises:
        NotFound: if the batch does not exist.
        Conflict: without ``wait``, on PostgreSQL, if another cancel of the batch is running.
    """
    batch = get_batch(session, batch_id)
    pending = (GenerationRequest.batch_id == batch_id, GenerationRequest.status == RequestStatus.PENDING)
    generating = 0
    if session.get_bind().dialect.name == "postgresql":
        # One cancel of a batch at a time: a second one would count the rows that the first
        # has locked as rows that a worker is generating.
        lock = (CANCEL_LOCK_NAMESPACE, batch_id)
        if wait:
            session.execute(select(func.pg_advisory_xact_lock(*lock)))
        elif not session.scalar(select(func.pg_try_advisory_xact_lock(*lock))):
            raise Conflict.from_template(CANCEL_IN_PROGRESS, batch_id=batch_id)
        total = session.scalar(select(func.count()).where(*pending)) or 0
        # Locks the rows no chunk holds, which this transaction cancels next anyway. In id
        # order, as chunks claim theirs, so that the two take locks in the same order.
        unheld = (
            select(GenerationRequest.id)
            .where(*pending)
            .order_by(GenerationRequest.id)
            .with_for_update(skip_locked=True)
        )
        generating = total - len(session.scalars(unheld).all())
        if generating and wait and on_wait is not None:
            on_wait(generating)
        if not wait:
            # The rows this transaction locked above are the ones SKIP LOCKED returns again.
            pending = (*pending, GenerationRequest.id.in_(unheld.order_by(None)))
    cancelled = session.execute(
        update(GenerationRequest)
        .where(*pending)
        .values(status=RequestStatus.CANCELLED, finished_at=datetime.now(UTC))
    ).rowcount
    if cancelled:
        batch.status = BatchStatus.CANCELLED
        batch.finished_at = datetime.now(UTC)
    logger.info("batch %d: cancelled %d pending requests", batch_id, cancelled)
    return Cancellation(cancelled, 0 if wait else generating)


def resubmit_command(session: Session, batch_id: int) -> str | None:
    """Return the command that makes a new batch of the campaigns of the batch's cancelled
    requests, or None when it has none."""
    keys = campaign_keys_of(session, batch_id, RequestStatus.CANCELLED)
    if not keys:
        return None
    return "contentgen batch submit " + " ".join(f"--campaign {key}" for key in keys)


def campaign_keys_of(session: Session, batch_id: int, status: RequestStatus) -> list[str]:
    """Return the keys of the campaigns that have requests in ``status`` in the batch, sorted."""
    return list(
        session.scalars(
            select(Campaign.key)
            .join(GenerationRequest, GenerationRequest.campaign_id == Campaign.id)
            .where(GenerationRequest.batch_id == batch_id, GenerationRequest.status == status)
            .distinct()
            .order_by(Campaign.key)
        )
    )


@dataclass(frozen=True)
class RequestGroup:
    """A batch's requests of one campaign and channel that share ``max_new_tokens``."""

    campaign: str
    channel: str
    max_new_tokens: int
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def request_groups(session: Session, batch_id: int) -> list[RequestGroup]:
    """Count a batch's requests by campaign, channel and ``max_new_tokens``, in the order
    the batch created them."""
    rows = session.execute(
        select(Campaign.key, GenerationRequest.channel, GenerationRequest.params)
        .join(Campaign, Campaign.id == GenerationRequest.campaign_id)
        .where(GenerationRequest.batch_id == batch_id)
        .order_by(GenerationRequest.id)
    )
    counts = Counter((key, channel, params["max_new_tokens"]) for key, channel, params in rows)
    return [RequestGroup(*group, requests=count) for group, count in counts.items()]


def reset_failed(session: Session, batch_id: int) -> int:
    """Make the batch's failed requests pending again; return how many."""
    batch = get_batch(session, batch_id)
    reset = session.execute(
        update(GenerationRequest)
        .where(
            GenerationRequest.batch_id == batch_id,
            GenerationRequest.status == RequestStatus.FAILED,
        )
        .values(status=RequestStatus.PENDING, attempts=0, error=None, finished_at=None)
    ).rowcount
    if reset:
        batch.status = BatchStatus.RUNNING
        batch.finished_at = None
    logger.info("batch %d: %d failed requests are pending again", batch_id, reset)
    return reset
