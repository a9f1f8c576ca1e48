from datetime import datetime
from pathlib import Path

from sqlalchemy import Row, select

from contentgen import db
from contentgen._bulk import bulk_insert
from contentgen.models import Draft, DraftCheck, GenerationRequest

from .test_chunks import submit_small


def draft_row(request_id: int, batch_id: int, template_id: int) -> dict:
    return {
        "request_id": request_id,
        "batch_id": batch_id,
        "status": "pending_review",
        "text": f"Copy for request {request_id}",
        "template_id": template_id,
        "model_name": "test",
        "model_revision": "1",
        "params": {"seed": request_id},
        "seed": request_id,
        "prompt_tokens": 5,
        "output_tokens": 4,
        "finish_reason": "stop",
        "generation_ms": 1,
        "chunk_size": 2,
        "score": None,
        "mean_logprob": None,
    }


def insert_two_drafts(folder: Path) -> list[Row]:
    """Submit two requests, insert a draft for each and return each draft's (id, request_id)."""
    batch_id, ids = submit_small(folder, variants=2)
    with db.session_scope() as session:
        template_id = session.scalar(select(GenerationRequest.template_id).limit(1))
        table = Draft.__table__
        returned = bulk_insert(
            session,
            table,
            [draft_row(request_id, batch_id, template_id) for request_id in ids],
            returning=(table.c.id, table.c.request_id),
        )
    return returned


def test_bulk_insert_returns_requested_columns(synced):
    returned = insert_two_drafts(synced)

    with db.session_scope() as session:
        stored = dict(session.execute(select(Draft.id, Draft.request_id)).all())
    assert len(returned) == 2
    assert dict(returned) == stored


def test_bulk_insert_fills_python_defaults(synced):
    insert_two_drafts(synced)

    with db.session_scope() as session:
        drafts = session.scalars(select(Draft)).all()
    for draft in drafts:
        assert draft.version == 1
        assert draft.regenerations == 0
        assert isinstance(draft.created_at, datetime)
        assert isinstance(draft.updated_at, datetime)
        assert draft.original_text is None


def test_bulk_insert_keeps_list_order(synced):
    (draft_id, _), _ = insert_two_drafts(synced)
    names = [f"check-{index}" for index in range(12)]

    rows = [
        {"draft_id": draft_id, "name": name, "passed": True, "blocking": False} for name in names
    ]
    with db.session_scope() as session:
        bulk_insert(session, DraftCheck.__table__, rows)
    with db.session_scope() as session:
        stored = session.scalars(select(DraftCheck).order_by(DraftCheck.id)).all()
    assert [check.name for check in stored] == names
    assert all(check.detail == "" for check in stored)


def test_bulk_insert_of_no_rows_returns_nothing(synced):
    with db.session_scope() as session:
        table = DraftCheck.__table__
        assert bulk_insert(session, table, [], returning=(table.c.id,)) == []
