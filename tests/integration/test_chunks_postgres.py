"""The chunk runner's bulk writes on PostgreSQL, where they take the unnest() path."""

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from contentgen import db
from contentgen._bulk import bulk_insert
from contentgen.checks import CheckContext, run_checks
from contentgen.chunks import run_chunk
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
)

from ..test_bulk import insert_two_drafts
from ..test_chunks import RecordingGenerator, submit_small

pytestmark = pytest.mark.integration


def test_bulk_insert_postgres_fills_defaults(service_env, tmp_path):
    returned = insert_two_drafts(tmp_path)

    with db.session_scope() as session:
        drafts = session.scalars(select(Draft)).all()
        assert dict(returned) == {draft.id: draft.request_id for draft in drafts}
        for draft in drafts:
            assert draft.version == 1
            assert draft.regenerations == 0
            assert isinstance(draft.created_at, datetime)
            assert draft.status == DraftStatus.PENDING_REVIEW
            assert draft.params == {"seed": draft.request_id}


def test_bulk_insert_postgres_keeps_list_order(service_env, tmp_path):
    (draft_id, _), _ = insert_two_drafts(tmp_path)
    names = [f"check-{index}" for index in range(40)]

    rows = [
        {"draft_id": draft_id, "name": name, "passed": True, "blocking": False} for name in names
    ]
    with db.session_scope() as session:
        bulk_insert(session, DraftCheck.__table__, rows)
    with db.session_scope() as session:
        stored = session.scalars(select(DraftCheck.name).order_by(DraftCheck.id)).all()
    assert stored == names


def test_run_chunk_postgres_stores_drafts_and_checks(service_env, tmp_path):
    batch_id, ids = submit_small(tmp_path, variants=4, brand={"banned_terms": ["cheap"]})
    generator = RecordingGenerator()
    generator.texts = {2: "Cheap widgets for everyone"}

    result = run_chunk(ids, generator)

    assert result.drafts == 4
    assert result.regenerations == 1
    with db.session_scope() as session:
        drafts = session.scalars(
            select(Draft).options(selectinload(Draft.checks)).order_by(Draft.request_id)
        ).all()
        assert [draft.request_id for draft in drafts] == ids
        for draft in drafts:
            expected = run_checks(draft.text, CheckContext("email_subject"))
            assert [check.name for check in draft.checks] == [check.name for check in expected]
            assert draft.status == DraftStatus.PENDING_REVIEW
            assert draft.version == 1
            assert draft.mean_logprob == -0.5
        assert [draft.regenerations for draft in drafts] == [0, 0, 1, 0]
        states = session.execute(select(GenerationRequest.status, GenerationRequest.error)).all()
        assert set(states) == {(RequestStatus.DONE, None)}
        assert session.get(Batch, batch_id).status == BatchStatus.COMPLETED


def test_run_chunk_postgres_redelivery_adds_nothing(service_env, tmp_path):
    _, ids = submit_small(tmp_path, variants=3)
    run_chunk(ids, RecordingGenerator())

    again = run_chunk(ids, RecordingGenerator())

    assert again.drafts == 0
    assert again.skipped == 3
    with db.session_scope() as session:
        assert len(session.scalars(select(Draft.id)).all()) == 3
