"""Segment keys and the names that campaigns give them: labels for lists and filters, and
finding a segment's key from its name.

A segment defined in a CSV file gets its key from its name, and a name without Latin
letters gets a hash ("老客户" is segment-68897fd8), so people know segments by name.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from contentgen.errors import InvalidInput, NotFound, shorten
from contentgen.i18n import N_, Message
from contentgen.models import Campaign, GenerationRequest, id_in_range

# Separator of the names of a segment key that campaigns name differently.
NAME_SEPARATOR = " / "


def fold(name: str) -> str:
    """Return ``name`` as lookups by name compare it: NFKC-normalised and case-folded, with
    each run of whitespace as one space, so that "ＶＩＰ" and "vip" are the same name."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def shows_key(key: str, name: str) -> bool:
    """Return whether a label needs the key after the name to identify the segment.

    Keys are lower case, so the name "Hikers" of the key "hikers" needs no key after it, but
    "老客户" (segment-68897fd8) and "Day trippers" (day-trippers) do.
    """
    return fold(name) != key


def label(key: str, name: str) -> str:
    """Return "name (key)", or the name alone where it is the key (see ``shows_key``)."""
    return f"{name} ({key})" if shows_key(key, name) else name


def joined_names(names: Iterable[str]) -> str:
    """Join the distinct names of one key, in alphabetical order, with " / "."""
    return NAME_SEPARATOR.join(sorted(set(names), key=lambda name: (fold(name), name)))


@dataclass(frozen=True)
class DefinedSegment:
    """A segment as a campaign defines it now."""

    campaign: str
    key: str
    name: str


def defined_segments(session: Session, campaign: str | None = None) -> list[DefinedSegment]:
    """Return the segments that the imported campaigns define, or that one campaign defines.

    Segments that a newer campaign file removed are not among them: only their requests
    keep their keys.
    """
    query = select(Campaign.key, Campaign.spec).order_by(Campaign.key)
    if campaign is not None:
        query = query.where(Campaign.key == campaign)
    return [
        DefinedSegment(campaign_key, item["key"], item.get("name") or item["key"])
        for campaign_key, spec in session.execute(query)
        for item in spec.get("segments", [])
    ]


def names_by_key(segments: Iterable[DefinedSegment]) -> dict[str, str]:
    """Return the names of each segment key, joined as ``joined_names`` does."""
    names: dict[str, set[str]] = defaultdict(set)
    for segment in segments:
        names[segment.key].add(segment.name)
    return {key: joined_names(values) for key, values in names.items()}


def keys_named(segments: Iterable[DefinedSegment], name: str) -> dict[str, list[str]]:
    """Return the keys of the segments called ``name`` (compared as ``fold`` does), each
    with the keys of the campaigns that give it that name."""
    folded = fold(name)
    campaigns: dict[str, set[str]] = defaultdict(set)
    for segment in segments:
        if fold(segment.name) == folded:
            campaigns[segment.key].add(segment.campaign)
    return {key: sorted(campaigns[key]) for key in sorted(campaigns)}


# Messages that name a command as the fix. The web app words them for its readers in
# contentgen.web._errors.
NO_CAMPAIGN_FOR_SEGMENT = N_(
    'segment "{segment}" not found: no campaign is imported yet; import one with: '
    "contentgen campaigns import FILE"
)

# A segment filter's error lists at most this many segments.
LISTED_SEGMENTS = 20


def segment_key(
    session: Session, value: str, campaign: str | None = None, batch_id: int | None = None
) -> str:
    """Find the key of the segment that a filter's ``value`` names, by key or by name.

    ``value`` is a key if a campaign (``campaign`` alone, when given) defines a segment with
    that key, or if requests were made for it before a new campaign file renamed or removed
    the segment. There is one exception: when batch ``batch_id`` has no requests for that key
    but has them for exactly one segment named ``value``, that segment's key is returned.

    Any other ``value`` is looked up as the name that campaigns give a segment, compared as
    ``fold`` does. When several keys have that name, the keys with requests in batch
    ``batch_id`` are kept, if any are.

    Raises:
        InvalidInput: if the name belongs to more than one segment key, listing them.
        NotFound: if no segment has ``value`` as its key or its name.
    """
    defined = defined_segments(session, campaign)
    named = keys_named(defined, value)
    if value in {segment.key for segment in defined} or _requested(session, value, campaign):
        # A key that batch ``batch_id`` has no requests for gives way to the one key of that
        # batch with this name, if there is one.
        if batch_id is None or not named or _keys_in_batch(session, [value], batch_id):
            return value
        in_batch = _keys_in_batch(session, list(named), batch_id)
        return in_batch.pop() if len(in_batch) == 1 else value

    if len(named) > 1 and batch_id is not None:
        in_batch = _keys_in_batch(session, list(named), batch_id)
        named = {key: campaigns for key, campaigns in named.items() if key in in_batch} or named
    if len(named) == 1:
        return next(iter(named))
    if named:
        _raise_ambiguous(value, named)
    _raise_not_found(value, campaign, defined)


def _requested(session: Session, key: str, campaign: str | None) -> bool:
    requested = select(GenerationRequest.id).where(GenerationRequest.segment == key)
    if campaign is not None:
        requested = requested.join(GenerationRequest.campaign).where(Campaign.key == campaign)
    return session.scalar(requested.limit(1)) is not None


def _keys_in_batch(session: Session, keys: list[str], batch_id: int) -> set[str]:
    # No batch has an id out of range, and PostgreSQL rejects comparing with one.
    if not id_in_range(batch_id):
        return set()
    query = (
        select(GenerationRequest.segment)
        .where(GenerationRequest.batch_id == batch_id, GenerationRequest.segment.in_(keys))
        .distinct()
    )
    return set(session.scalars(query))


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    listed = ", ".join(items[:LISTED_SEGMENTS])
    return listed + ", …" if len(items) > LISTED_SEGMENTS else listed


def _raise_ambiguous(name: str, named: dict[str, list[str]]) -> NoReturn:
    items: list[object] = []
    for key, campaigns in named.items():
        if len(campaigns) == 1:
            items.append(Message(N_("{key} (campaign {campaign})"), {"key": key, "campaign": campaigns[0]}))
        else:
            items.append(Message(N_("{key} (campaigns {campaigns})"),
                                 {"key": key, "campaigns": ", ".join(campaigns)}))  # fmt: skip
    if len(items) > LISTED_SEGMENTS:
        items = [*items[:LISTED_SEGMENTS], "…"]
    raise InvalidInput.from_template(
        N_('segment name "{name}" belongs to {count} segments; choose the campaign too, or filter '
           "by the key of one of them instead: {segments}"),
        name=shorten(name),
        count=len(named),
        segments=Message("{items}", {"items": items}),
    )  # fmt: skip


def _raise_not_found(value: str, campaign: str | None, defined: list[DefinedSegment]) -> NoReturn:
    labels = sorted(
        (label(key, name) for key, name in names_by_key(defined).items()),
        key=lambda text: (fold(text), text),
    )
    if campaign is not None:
        raise NotFound.from_template(
            N_('segment "{segment}" not found in campaign "{campaign}", as a key or as a name; '
               "its segments are: {segments}"),
            segment=shorten(value),
            campaign=shorten(campaign),
            segments=_listed(labels),
        )  # fmt: skip
    if not defined:
        raise NotFound.from_template(NO_CAMPAIGN_FOR_SEGMENT, segment=shorten(value))
    raise NotFound.from_template(
        N_('segment "{segment}" not found in any campaign, as a key or as a name; the segments '
           "are: {segments}"),
        segment=shorten(value),
        segments=_listed(labels),
    )  # fmt: skip
