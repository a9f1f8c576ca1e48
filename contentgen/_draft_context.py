"""Check inputs for the requests of a chunk: each campaign's rules and values, and the texts
of the other variants of each slot that earlier chunks stored."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from contentgen.campaigns import CampaignSpec, campaign_spec
from contentgen.checks import CheckContext, Sibling
from contentgen.models import Campaign, Draft, GenerationRequest
from contentgen.rules import rules_for_brand

# batch id, campaign id, segment, channel: the variants of one slot share these.
SlotKey = tuple[int, int, str, str]


def slot_of(request: GenerationRequest) -> SlotKey:
    return (request.batch_id, request.campaign_id, request.segment, request.channel)


def check_contexts(requests: Sequence[GenerationRequest]) -> dict[int, CheckContext]:
    """Build each request's check context, by request id."""
    specs: dict[int, CampaignSpec] = {}
    contexts = {}
    for request in requests:
        campaign = request.campaign
        if campaign.id not in specs:
            specs[campaign.id] = campaign_spec(campaign)
        contexts[request.id] = _context(request, campaign, specs[campaign.id])
    return contexts


def _context(request: GenerationRequest, campaign: Campaign, spec: CampaignSpec) -> CheckContext:
    brand = campaign.brand
    product = spec.product
    segment = next((item for item in spec.segments if item.key == request.segment), None)
    names = [brand.name, brand.key, product.name, product.url or "", product.price or ""]
    values = [
        *names,
        product.description,
        *product.features,
        product.offer or "",
        spec.display_name,
        spec.goal or "",
        spec.call_to_action or "",
        *brand.banned_terms,
        *brand.required_terms,
    ]
    if segment is not None:
        values += [segment.name, segment.description]
    return CheckContext(
        channel=request.channel,
        locale=spec.locale,
        rules=rules_for_brand(brand, spec.locale),
        channel_limits=dict(brand.channel_limits or {}),
        prompt=request.prompt,
        campaign_values=tuple(value for value in values if value),
        names=tuple(name for name in names if name),
        region=region_of(spec.locale),
    )


@lru_cache(maxsize=256)
def region_of(locale: str) -> str:
    """Return the ISO 3166 region of a locale, or its language's most likely one, or "US"."""
    try:
        parsed = Locale.parse(locale, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return "US"
    if parsed.territory:
        return parsed.territory
    likely = get_global("likely_subtags").get(parsed.language, "")
    territory = likely.split("_")[-1]
    return territory if len(territory) == 2 and territory.isupper() else "US"


def stored_siblings(
    session: Session, requests: Sequence[GenerationRequest]
) -> dict[SlotKey, list[Sibling]]:
    """Return the stored drafts of other variants of the requests' slots, by slot.

    NOTE: a variant that a concurrent chunk is generating right now is not stored yet, so
    near-duplicates between two chunks that run at the same time go unnoticed. Chunks
    group requests by channel in request order, so the variants of a slot share a chunk
    unless the slot straddles a chunk boundary.
    """
    slots = {slot_of(request) for request in requests}
    if not slots:
        return {}
    own_ids = [request.id for request in requests]
    rows = session.execute(
        select(
            GenerationRequest.batch_id,
            GenerationRequest.campaign_id,
            GenerationRequest.segment,
            GenerationRequest.channel,
            GenerationRequest.variant,
            Draft.text,
        )
        .join(Draft, Draft.request_id == GenerationRequest.id)
        .where(
            tuple_(
                GenerationRequest.batch_id,
                GenerationRequest.campaign_id,
                GenerationRequest.segment,
                GenerationRequest.channel,
            ).in_(list(slots)),
            GenerationRequest.id.not_in(own_ids),
        )
        .order_by(GenerationRequest.variant)
    ).all()

    siblings: dict[SlotKey, list[Sibling]] = {}
    for batch_id, campaign_id, segment, channel, variant, text in rows:
        slot = (batch_id, campaign_id, segment, channel)
        siblings.setdefault(slot, []).append(Sibling(variant, text))
    return siblings
