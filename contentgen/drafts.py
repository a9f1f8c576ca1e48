"""Reading drafts with what produced them, and the review queue: drafts filtered and sorted."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from math import ceil
from typing import Any, NoReturn

from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from contentgen import segments
from contentgen._limits import measure
from contentgen.batches import get_batch
from contentgen.campaign_snapshots import read_snapshot
from contentgen.channels import CHANNELS
from contentgen.channels import measure as measure_for_channel
from contentgen.checks import CHECK_NAMES
from contentgen.errors import InvalidInput, NotFound, shorten
from contentgen.i18n import N_, Message
from contentgen.models import (
    Campaign,
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    id_in_range,
    utc_iso,
)

# "open" is every draft still waiting for a decision; "all" is every draft.
QUEUE_STATUSES = ("open", *(status.value for status in DraftStatus), "all")
OPEN_STATUSES = (DraftStatus.PENDING_REVIEW, DraftStatus.FLAGGED)
# The sort orders, each with the direction in which DraftFilter.order_by sorts its column
# on the queue page. "score" puts the best score first, and "newest" the highest id.
SORT_DIRECTIONS = {
    "score": "descending",
    "oldest": "ascending",
    "newest": "descending",
    "campaign": "ascending",
    "length": "ascending",
}
SORTS = tuple(SORT_DIRECTIONS)
PAGE_SIZE = 50

# Messages that name a command as the fix. The web app words them for its readers in
# contentgen.web._errors.
CAMPAIGN_NOT_FOUND = N_('campaign "{key}" not found; list campaigns with: contentgen campaigns list')
DRAFT_NOT_FOUND = N_("draft {draft_id} not found; check the id, or find the draft in the review queue (the /queue page, or: contentgen review list)")


@dataclass(frozen=True)
class DraftFilter:
    """The review queue's filter and sort order.

    ``check`` is "passed" (no check failed), "failed" (at least one failed) or
    "failed:NAME" (the check NAME failed). ``sort`` "score" puts the best score first and
    unscored drafts last. ``segment`` is a segment key, or a segment's name until
    ``resolve_filter`` replaces it with the key.
    """

    batch_id: int | None = None
    campaign: str | None = None
    channel: str | None = None
    segment: str | None = None
    status: str = "open"
    check: str | None = None
    sort: str = "score"

    def __post_init__(self) -> None:
        for field in ("campaign", "channel", "segment", "status", "check", "sort"):
            value = getattr(self, field)
            # PostgreSQL rejects a NUL in a query parameter, and no stored key or name has one.
            if value is not None and "\x00" in value:
                raise InvalidInput.from_template(
                    N_("the {field} filter contains a NUL character (0x00), which no "
                       "{field} can contain; remove it"),
                    field=field,
                )  # fmt: skip
        if self.batch_id is not None and self.batch_id < 1:
            _reject_batch_id(self.batch_id)
        _require_one_of("status", self.status, QUEUE_STATUSES)
        _require_one_of("sort", self.sort, SORTS)
        if self.channel is not None:
            _require_one_of("channel", self.channel, tuple(CHANNELS))
        named_check = self.check is not None and self.check.startswith("failed:") and self.check != "failed:"
        if self.check is not None and self.check not in ("passed", "failed") and not named_check:
            raise InvalidInput.from_template(
                    N_('check filter "{value}" is not valid; use passed, failed or failed:NAME'),
                    value=shorten(self.check),
                )
        if named_check and self.check.removeprefix("failed:") not in CHECK_NAMES:
            raise InvalidInput.from_template(
                N_('check filter "{value}" names no check; use failed: with one of: {names}'),
                value=shorten(self.check),
                names=", ".join(CHECK_NAMES),
            )

    @classmethod
    def from_params(cls, **values: Any) -> DraftFilter:
        """Build a filter from query-string values, where an empty string means "any"."""
        cleaned = {name: value for name, value in values.items() if value not in (None, "")}
        batch_id = cleaned.get("batch_id")
        if isinstance(batch_id, str):
            # Only ASCII digits: str.isdigit also accepts "²", which int() rejects.
            if not re.fullmatch(r"[0-9]+", batch_id):
                _reject_batch_id(batch_id)
            cleaned["batch_id"] = int(batch_id)
        return cls(**cleaned)

    def as_params(self) -> dict[str, str]:
        """Return the values that differ from the defaults, as query-string values."""
        defaults = asdict(DraftFilter())
        return {
            name: str(value)
            for name, value in asdict(self).items()
            if value is not None and value != defaults[name]
        }

    def conditions(self) -> list[Any]:
        """SQL conditions on Draft joined with its request and campaign."""
        conditions: list[Any] = []
        if self.batch_id is not None:
            # No batch has an id out of range, and PostgreSQL rejects comparing with one.
            in_range = id_in_range(self.batch_id)
            conditions.append(Draft.batch_id == self.batch_id if in_range else false())
        if self.campaign is not None:
            conditions.append(Campaign.key == self.campaign)
        if self.channel is not None:
            conditions.append(GenerationRequest.channel == self.channel)
        if self.segment is not None:
            conditions.append(GenerationRequest.segment == self.segment)
        if self.status == "open":
            conditions.append(Draft.status.in_(OPEN_STATUSES))
        elif self.status != "all":
            conditions.append(Draft.status == DraftStatus(self.status))
        if self.check is not None:
            conditions.append(self._check_condition())
        return conditions

    def _check_condition(self) -> Any:
        failed = exists().where(DraftCheck.draft_id == Draft.id, DraftCheck.passed.is_(False))
        if self.check == "passed":
            return ~failed
        if self.check == "failed":
            return failed
        name = self.check.removeprefix("failed:")
        return exists().where(
            DraftCheck.draft_id == Draft.id, DraftCheck.passed.is_(False), DraftCheck.name == name
        )

    def order_by(self) -> list[Any]:
        if self.sort == "score":
            return [Draft.score.desc().nulls_last(), Draft.id]
        if self.sort == "newest":
            return [Draft.id.desc()]
        if self.sort == "campaign":
            return [
                Campaign.key, GenerationRequest.segment, GenerationRequest.channel,
                GenerationRequest.variant, Draft.id,
            ]  # fmt: skip
        if self.sort == "length":
            return [func.length(Draft.text), Draft.id]
        return [Draft.id]


def _reject_batch_id(value: object) -> NoReturn:
    raise InvalidInput.from_template(
        N_('batch id "{value}" is not valid; use a positive whole number, the id of a batch '
           "in the batches list"),
        value=shorten(value),
    )  # fmt: skip


def _require_one_of(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput.from_template(
            N_('{field} "{value}" is not known; use one of: {allowed}'),
            field=field,
            value=shorten(value),
            allowed=", ".join(allowed),
        )


def _select(draft_filter: DraftFilter, *columns: Any) -> Select:
    """Select ``columns`` from the drafts, joined with their requests and campaigns only when
    the filter or the sort order reads them, because the join makes a large queue's page
    about 15% slower on PostgreSQL (bench/review_queue.py)."""
    query = select(*columns)
    if draft_filter.campaign or draft_filter.channel or draft_filter.segment or draft_filter.sort == "campaign":
        query = query.join(Draft.request).join(GenerationRequest.campaign)
    return query


@dataclass(frozen=True)
class QueuePage:
    items: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    # The ``selection_digest`` of every matching draft, on every page.
    digest: str
    # The filter as ``resolve_filter`` returned it, with a segment's key for its name.
    filter: DraftFilter


def queue_page(
    session: Session,
    draft_filter: DraftFilter,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    clamp: bool = True,
) -> QueuePage:
    """Return one page of the drafts that match ``draft_filter``, with the total count.

    A page past the last one gives the last page when ``clamp`` is true (the review pages,
    after a bulk action shortened the queue), or no items (the API, whose clients page on
    until a page is empty).

    Raises:
        NotFound: if the filter names a batch, campaign or segment that does not exist.
        InvalidInput: if the filter's segment is a name that several segment keys have.
    """
    draft_filter = resolve_filter(session, draft_filter)
    versions = _matching_versions(session, draft_filter)
    total = len(versions)
    digest = selection_digest(versions)
    pages = max(1, ceil(total / page_size))
    page = max(page, 1)
    if page > pages:
        if not clamp:
            return QueuePage([], total, page, pages, digest, draft_filter)
        page = pages
    query = (
        _select(draft_filter, Draft)
        .options(
            joinedload(Draft.request).joinedload(GenerationRequest.campaign).joinedload(Campaign.brand),
            selectinload(Draft.checks),
        )
        .where(*draft_filter.conditions())
        .order_by(*draft_filter.order_by())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    items = [summarize(draft) for draft in session.scalars(query)]
    return QueuePage(items, total, page, pages, digest, draft_filter)


def matching_versions(session: Session, draft_filter: DraftFilter) -> dict[int, int]:
    """Return the current version of every draft that matches ``draft_filter``, by draft id.

    Raises:
        NotFound: if the filter names a batch, campaign or segment that does not exist.
        InvalidInput: if the filter's segment is a name that several segment keys have.
    """
    return _matching_versions(session, resolve_filter(session, draft_filter))


def _matching_versions(session: Session, draft_filter: DraftFilter) -> dict[int, int]:
    query = _select(draft_filter, Draft.id, Draft.version).where(*draft_filter.conditions())
    return {draft_id: version for draft_id, version in session.execute(query)}


def selection_digest(versions: Mapping[int, int]) -> str:
    """Return the SHA-256 hex digest of drafts' ids and versions, whatever their order.

    The review queue and ``GET /api/v1/drafts`` give it for the drafts a filter matches,
    and a bulk action on the filter compares it with the matching drafts of the moment.
    Equal digests mean the same drafts, each at the same version. Equal counts alone would
    let drafts that arrived in place of decided ones be approved unseen.
    """
    canonical = ",".join(f"{draft_id}:{version}" for draft_id, version in sorted(versions.items()))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def resolve_filter(session: Session, draft_filter: DraftFilter) -> DraftFilter:
    """Check the batch, campaign and segment that the filter names, and return the filter
    with the key of a campaign or segment that it names by its name (see ``campaign_key``
    and ``segments.segment_key``).

    Raises:
        NotFound: if the filter names a batch, campaign or segment that does not exist.
        InvalidInput: if the filter's campaign or segment is a name that several keys have.
    """
    if draft_filter.batch_id is not None:
        get_batch(session, draft_filter.batch_id)
    if draft_filter.campaign is not None:
        key = campaign_key(session, draft_filter.campaign, draft_filter.batch_id)
        draft_filter = replace(draft_filter, campaign=key)
    if draft_filter.segment is None:
        return draft_filter
    key = segments.segment_key(
        session, draft_filter.segment, draft_filter.campaign, draft_filter.batch_id
    )
    return replace(draft_filter, segment=key)


def campaign_key(session: Session, value: str, batch_id: int | None = None) -> str:
    """Find the key of the campaign that a filter's ``value`` names, by key or by name.

    A name is compared as ``segments.fold`` does, so "Spring Launch" finds the campaign named
    "spring launch". When several campaigns have the name, those with requests in batch
    ``batch_id`` are kept, if any are.

    Raises:
        InvalidInput: if the name belongs to more than one campaign, listing their keys.
        NotFound: if no campaign has ``value`` as its key or its name.
    """
    if session.scalar(select(Campaign.id).where(Campaign.key == value)) is not None:
        return value
    folded = segments.fold(value)
    named = sorted(key for key, name in session.execute(select(Campaign.key, Campaign.name))
                   if segments.fold(name) == folded)  # fmt: skip
    if len(named) > 1 and batch_id is not None and id_in_range(batch_id):
        in_batch = session.scalars(
            select(Campaign.key)
            .join(GenerationRequest, GenerationRequest.campaign_id == Campaign.id)
            .where(GenerationRequest.batch_id == batch_id, Campaign.key.in_(named))
            .distinct()
        ).all()
        named = sorted(in_batch) or named
    if len(named) == 1:
        return named[0]
    if named:
        raise InvalidInput.from_template(
            N_('campaign name "{name}" belongs to {count} campaigns; filter by the key of one of '
               "them instead: {keys}"),
            name=shorten(value),
            count=len(named),
            keys=", ".join(named),
        )  # fmt: skip
    raise NotFound.from_template(CAMPAIGN_NOT_FOUND, key=shorten(value))


def _count(session: Session, draft_filter: DraftFilter) -> int:
    query = _select(draft_filter, func.count(Draft.id)).where(*draft_filter.conditions())
    return session.scalar(query) or 0


def matching_ids(session: Session, draft_filter: DraftFilter, include: int | None = None) -> list[int]:
    """Return the ids of every matching draft in queue order, plus ``include`` in its place."""
    condition = and_(True, *draft_filter.conditions())
    if include is not None:
        condition = or_(condition, Draft.id == include)
    query = _select(draft_filter, Draft.id).where(condition).order_by(*draft_filter.order_by())
    return list(session.scalars(query))


@dataclass(frozen=True)
class QueuePosition:
    """A draft's place in the queue: its neighbours and its 1-based position among ``total``."""

    previous_id: int | None
    next_id: int | None
    position: int
    total: int
    # False when the draft does not match the queue's filter (a rejected draft opened from
    # the open queue): it is placed among the queue's drafts only to find its neighbours.
    in_queue: bool = True


def queue_position(session: Session, draft_filter: DraftFilter, draft_id: int) -> QueuePosition:
    """Find the drafts before and after ``draft_id`` in the queue.

    The draft counts as part of the queue even when it no longer matches (a reviewer just
    approved it in an "open" queue), so that "next" continues from where it was.
    """
    # No checks: with an unknown batch, campaign or segment in the filter, the draft page
    # shows the draft alone in its queue. A segment's name still finds its key.
    draft_filter = _with_segment_key(session, draft_filter)
    ids = matching_ids(session, draft_filter, include=draft_id)
    index = ids.index(draft_id)
    matching = _count(session, draft_filter)
    return QueuePosition(
        previous_id=ids[index - 1] if index > 0 else None,
        next_id=ids[index + 1] if index + 1 < len(ids) else None,
        position=index + 1,
        total=matching,
        in_queue=len(ids) == matching,
    )


def _with_segment_key(session: Session, draft_filter: DraftFilter) -> DraftFilter:
    """Return the filter with the key of the segment that it names by name, or unchanged
    when its segment is unknown or a name of several keys."""
    if draft_filter.segment is None:
        return draft_filter
    try:
        key = segments.segment_key(
            session, draft_filter.segment, draft_filter.campaign, draft_filter.batch_id
        )
    except InvalidInput:  # NotFound too, which is a subclass
        return draft_filter
    return replace(draft_filter, segment=key)


def check_names(session: Session) -> list[str]:
    """Return every check name that has a result, for the queue's check filter."""
    return list(session.scalars(select(DraftCheck.name).distinct().order_by(DraftCheck.name)))


@dataclass(frozen=True)
class Choice:
    """A value of one of the queue's filters, with the name that people know it by."""

    key: str
    # The names that campaigns give the key, joined with " / ", or the key where it has none.
    name: str

    @property
    def shows_key(self) -> bool:
        """Whether a label needs the key after the name, as ``segments.shows_key`` decides."""
        return segments.shows_key(self.key, self.name)

    @property
    def label(self) -> str:
        return segments.label(self.key, self.name)


def queue_choices(
    session: Session, batch_id: int | None = None, selected: DraftFilter | None = None
) -> dict[str, list[Choice]]:
    """Return the campaigns and segments that drafts exist for, to fill the queue's filters,
    each in the order of their names.

    Args:
        batch_id: only the campaigns and segments of this batch's drafts.
        selected: a filter as ``resolve_filter`` returned it. Its campaign and segment are
            among the choices even without drafts, so that the filter shows what it filters by.
    """
    query = (
        select(GenerationRequest.campaign_id, GenerationRequest.segment)
        .select_from(Draft)
        .join(Draft.request)
    )
    if batch_id is not None:
        query = query.where(Draft.batch_id == batch_id)
    pairs = session.execute(query.distinct()).all()
    with_drafts = select(Campaign).where(Campaign.id.in_({campaign_id for campaign_id, _ in pairs}))
    campaigns = {campaign.id: campaign for campaign in session.scalars(with_drafts)}

    campaign_names = {campaign.key: campaign.name for campaign in campaigns.values()}
    segment_names: dict[str, set[str]] = {}
    for campaign_id, key in pairs:
        name = _defined_segment_name(campaigns[campaign_id].spec, key)
        segment_names.setdefault(key, set()).update([name] if name else [])
    if selected is not None:
        _add_selected(session, selected, campaign_names, segment_names)

    return {
        "campaigns": _sorted_choices((key, name or key) for key, name in campaign_names.items()),
        "segments": _sorted_choices(
            (key, segments.joined_names(names) if names else key)
            for key, names in segment_names.items()
        ),
    }


def _add_selected(
    session: Session,
    selected: DraftFilter,
    campaign_names: dict[str, str | None],
    segment_names: dict[str, set[str]],
) -> None:
    """Add the campaign and segment of the filter to the choices, named as campaigns define them."""
    if selected.campaign is not None and selected.campaign not in campaign_names:
        query = select(Campaign.name).where(Campaign.key == selected.campaign)
        campaign_names[selected.campaign] = session.scalar(query)
    if selected.segment is not None and selected.segment not in segment_names:
        defined = segments.defined_segments(session, selected.campaign)
        segment_names[selected.segment] = {item.name for item in defined if item.key == selected.segment}


def _sorted_choices(pairs: Iterable[tuple[str, str]]) -> list[Choice]:
    choices = [Choice(key, name) for key, name in pairs]
    return sorted(choices, key=lambda choice: (segments.fold(choice.name), choice.key))


class DraftOrder(str, enum.Enum):
    """The sort order of a list of drafts."""

    REQUEST = "request"
    # Highest quality score first: the review queue's order.
    SCORE = "score"


def list_drafts(
    session: Session,
    batch_id: int,
    status: str = "all",
    order: DraftOrder = DraftOrder.REQUEST,
) -> list[dict[str, Any]]:
    """Return a batch's drafts, optionally only those with ``status``.

    Args:
        status: a review status, "open" for pending_review and flagged, or "all", as
            QUEUE_STATUSES lists them.
        order: request order, or the highest quality score first.

    Raises:
        NotFound: if the batch does not exist.
    """
    get_batch(session, batch_id)
    query = (
        select(Draft)
        .join(Draft.request)
        .options(
            joinedload(Draft.request)
            .joinedload(GenerationRequest.campaign)
            .joinedload(Campaign.brand),
            selectinload(Draft.checks),
        )
        .where(Draft.batch_id == batch_id)
    )
    _require_one_of("status", status, QUEUE_STATUSES)
    if status == "open":
        query = query.where(Draft.status.in_(OPEN_STATUSES))
    elif status != "all":
        query = query.where(Draft.status == DraftStatus(status))
    if order is DraftOrder.SCORE:
        query = query.order_by(Draft.score.desc().nulls_last(), GenerationRequest.id)
    else:
        query = query.order_by(GenerationRequest.id)
    return [summarize(draft) for draft in session.scalars(query)]


def _defined_segment_name(spec: dict[str, Any], key: str) -> str | None:
    """Return the name that the campaign gives the segment, or None after a newer campaign
    file removed it."""
    for segment in spec.get("segments", []):
        if segment.get("key") == key:
            return segment.get("name") or None
    return None


def _segment_name(spec: dict[str, Any], key: str) -> str:
    # A segment that a newer campaign file removed keeps only its key.
    return _defined_segment_name(spec, key) or key


def summarize(draft: Draft) -> dict[str, Any]:
    """Return the fields of a draft that lists show."""
    request = draft.request
    count = measure(draft.text, request.channel, request.campaign.brand.channel_limits)
    return {
        "id": draft.id,
        "batch_id": draft.batch_id,
        "request_id": request.id,
        "campaign": request.campaign.key,
        "campaign_name": request.campaign.name,
        "segment": request.segment,
        "segment_name": _segment_name(request.campaign.spec, request.segment),
        "channel": request.channel,
        "variant": request.variant,
        "status": draft.status.value,
        "text": draft.text,
        # Counted as the channel's platform counts, see contentgen._limits.
        "characters": count.count,
        "hard_limit": count.hard,
        "limit_source": count.source,
        "limit": count.limit,
        "score": draft.score,
        "regenerations": draft.regenerations,
        "check_failures": [
            {"name": check.name, "blocking": check.blocking, "detail": check.detail}
            for check in draft.checks
            if not check.passed
        ],
        "edited": draft.original_text is not None,
        "version": draft.version,
    }


def get_draft(session: Session, draft_id: int) -> Draft:
    """Look a draft up by id.

    Raises:
        NotFound: if no draft has that id, also for an id that no id column can contain.
    """
    draft = session.get(Draft, draft_id) if id_in_range(draft_id) else None
    if draft is None:
        raise NotFound.from_template(DRAFT_NOT_FOUND, draft_id=shorten(draft_id))
    return draft


def draft_details(session: Session, draft_id: int, messages: bool = False) -> dict[str, Any]:
    """Return one draft with its prompt, provenance and check results.

    With ``messages``, each check result also has its detail as a ``Message`` to translate
    (None where the result has no stored message).

    Raises:
        NotFound: if no draft has that id.
    """
    draft = get_draft(session, draft_id)
    request = draft.request
    measurement = measure_for_channel(draft.text, request.channel, request.campaign.brand.channel_limits)
    snapshot = read_snapshot(request.campaign_snapshot, request.campaign, request.segment)
    return {
        **summarize(draft),
        # The locale the draft was generated in, which a later import of the campaign may change.
        "locale": snapshot["locale"],
        "counting": measurement.as_dict(),
        "checks": [_check_details(check, messages) for check in draft.checks],
        "mean_logprob": draft.mean_logprob,
        "original_text": draft.original_text,
        "template": f"{draft.template.name} v{draft.template.version}",
        "model": draft.model_name,
        "model_revision": draft.model_revision,
        "params": draft.params,
        "seed": draft.seed,
        "prompt_tokens": draft.prompt_tokens,
        "output_tokens": draft.output_tokens,
        "finish_reason": draft.finish_reason,
        "generation_ms": draft.generation_ms,
        "chunk_size": draft.chunk_size,
        "regenerations": draft.regenerations,
        "created_at": utc_iso(draft.created_at),
        "updated_at": utc_iso(draft.updated_at),
        "prompt": draft.request.prompt,
    }


def _check_details(check: DraftCheck, messages: bool) -> dict[str, Any]:
    details: dict[str, Any] = {
        "name": check.name,
        "passed": check.passed,
        "blocking": check.blocking,
        "detail": check.detail,
    }
    if messages:
        stored = check.detail_message
        details["message"] = None if stored is None else Message.from_json(stored)
    return details
