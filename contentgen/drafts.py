"""Reading drafts with what produced them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from contentgen.batches import get_batch
from contentgen.errors import NotFound
from contentgen.models import Draft, DraftStatus, GenerationRequest


def list_drafts(
    session: Session, batch_id: int, status: DraftStatus | None = None
) -> list[dict[str, Any]]:
    """Return a batch's drafts in request order, optionally only those with ``status``.

    Raises:
        NotFound: if the batch does not exist.
    """
    get_batch(session, batch_id)
    query = (
        select(Draft)
        .join(Draft.request)
        .options(joinedload(Draft.request).joinedload(GenerationRequest.campaign))
        .where(Draft.batch_id == batch_id)
        .order_by(GenerationRequest.id)
    )
    if status is not None:
        query = query.where(Draft.status == status)
    return [_summary(draft) for draft in session.scalars(query)]


def _summary(draft: Draft) -> dict[str, Any]:
    request = draft.request
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
        "characters": len(draft.text),
    }


def draft_details(session: Session, draft_id: int) -> dict[str, Any]:
    """Return one draft with its prompt and provenance.

    Raises:
        NotFound: if no draft has that id.
    """
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"draft {draft_id} not found; list drafts with: contentgen drafts list --batch ID")
    return {
        **_summary(draft),
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
