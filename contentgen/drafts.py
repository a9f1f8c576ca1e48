"""Reading drafts with what produced them."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from contentgen.batches import get_batch
from contentgen.channels import measure
from contentgen.errors import NotFound
from contentgen.models import Campaign, Draft, DraftStatus, GenerationRequest

class DraftOrder(str, enum.Enum):
    """The sort order of a list of drafts."""

    REQUEST = "request"
    # Highest quality score first: the review queue's order.
    SCORE = "score"


def list_drafts(
    session: Session,
    batch_id: int,
    status: DraftStatus | None = None,
    order: DraftOrder = DraftOrder.REQUEST,
) -> list[dict[str, Any]]:
    """Return a batch's drafts, optionally only those with ``status``.

    Args:
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
    if status is not None:
        query = query.where(Draft.status == status)
    if order is DraftOrder.SCORE:
        query = query.order_by(Draft.score.desc().nulls_last(), GenerationRequest.id)
    else:
        query = query.order_by(GenerationRequest.id)
    return [_summary(draft) for draft in session.scalars(query)]


def _summary(draft: Draft) -> dict[str, Any]:
    request = draft.request
    measurement = measure(draft.text, request.channel, request.campaign.brand.channel_limits)
    return {
        "id": draft.id,
        "batch_id": draft.batch_id,
        "request_id": request.id,
        "campaign": request.campaign.key,
        "segment": request.segment,
        "channel": request.channel,
        "variant": request.variant,
        "status": draft.status.value,
        "text": draft.text,
        # Counted as the channel's platform counts: the same number the review page shows.
        "characters": measurement.length,
        "limit": measurement.limit,
        "score": draft.score,
        "regenerations": draft.regenerations,
        "failed_checks": [
            {"name": check.name, "blocking": check.blocking, "detail": check.detail}
            for check in draft.checks
            if not check.passed
        ],
    }


def draft_details(session: Session, draft_id: int) -> dict[str, Any]:
    """Return one draft with its prompt, provenance and every check result.

    Raises:
        NotFound: if no draft has that id.
    """
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"draft {draft_id} not found; list drafts with: contentgen drafts list --batch ID")
    request = draft.request
    measurement = measure(draft.text, request.channel, request.campaign.brand.channel_limits)
    return {
        **_summary(draft),
        "counting": measurement.as_dict(),
        "checks": [
            {
                "name": check.name,
                "passed": check.passed,
                "blocking": check.blocking,
                "detail": check.detail,
            }
            for check in draft.checks
        ],
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
        "created_at": draft.created_at.isoformat(),
        "prompt": draft.request.prompt,
    }
