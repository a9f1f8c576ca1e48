"""The chunk runner's bulk writes on PostgreSQL, where they take the unnest() path."""

from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from contentgen import db
from contentgen._bulk import bulk_insert
from contentgen.batches import CANCEL_LOCK_NAMESPACE, cancel_batch
from contentgen.checks import CheckContext, run_checks
from contentgen.chunks import run_chunk
from contentgen.errors import Conflict
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


def test_bulk_insert_postgres_copies_text_as_given(service_env, tmp_path):
    (draft_id, _), _ = insert_two_drafts(tmp_path)
    details = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", '{"quoted": "\\u00e9"}', "中文，“引号”", "\\."]
    rows = [
        {"draft_id": draft_id, "name": f"check-{index}", "passed": index % 2 == 0, "blocking": True,
         "detail": detail, "detail_message": None if index == 0 else detail}
        for index, detail in enumerate(details)
    ]  # fmt: skip

    with db.session_scope() as session:
        bulk_insert(session, DraftCheck.__table__, rows)
    with db.session_scope() as session:
        stored = session.execute(
            select(DraftCheck.detail, DraftCheck.detail_message, DraftCheck.passed).order_by(DraftCheck.id)
        ).all()

    assert [tuple(row) for row in stored] == [
        (row["detail"], row["detail_message"], row["passed"]) for row in rows
    ]


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


def hold_requests(ids: list[int]):
    """Lock the requests' rows from another connection, as a worker's chunk does while it
    generates them; return the connection and its open transaction."""
    connection = db.get_engine().connect()
    transaction = connection.begin()
    connection.execute(select(GenerationRequest.id).where(GenerationRequest.id.in_(ids)).with_for_update()).all()
    return connection, transaction


def states_of(ids: list[int]) -> list[RequestStatus]:
    with db.session_scope() as session:
        states = dict(session.execute(select(GenerationRequest.id, GenerationRequest.status)).all())
    return [states[request_id] for request_id in ids]


def test_cancel_counts_requests_of_running_chunk(service_env, tmp_path):
    batch_id, ids = submit_small(tmp_path, variants=4)
    # A worker generating the first two requests holds their rows locked.
    holder, transaction = hold_requests(ids[:2])
    waits: list[int] = []

    def finish_chunk(running: int) -> None:
        waits.append(running)
        holder.execute(
            GenerationRequest.__table__.update()
            .where(GenerationRequest.id.in_(ids[:2]))
            .values(status=RequestStatus.DONE)
        )
        transaction.commit()

    with db.session_scope() as session:
        cancelled = cancel_batch(session, batch_id, on_wait=finish_chunk).cancelled
    holder.close()

    assert waits == [2]
    assert cancelled == 2
    assert states_of(ids) == [RequestStatus.DONE] * 2 + [RequestStatus.CANCELLED] * 2


def test_cancel_nowait_leaves_running_chunk(service_env, tmp_path):
    batch_id, ids = submit_small(tmp_path, variants=4)
    holder, transaction = hold_requests(ids[:2])

    with db.session_scope() as session:
        # Fails instead of hanging if the cancel waits for the held rows.
        session.execute(text("SET LOCAL lock_timeout = '5s'"))
        cancellation = cancel_batch(session, batch_id, wait=False)
    # The worker's chunk stores its two drafts after the cancel.
    holder.execute(
        GenerationRequest.__table__.update()
        .where(GenerationRequest.id.in_(ids[:2]))
        .values(status=RequestStatus.DONE)
    )
    transaction.commit()
    holder.close()

    assert cancellation == (2, 2)
    assert states_of(ids) == [RequestStatus.DONE] * 2 + [RequestStatus.CANCELLED] * 2
    with db.session_scope() as session:
        assert session.get(Batch, batch_id).status == BatchStatus.CANCELLED


def test_cancel_conflicts_with_other_cancel(service_env, tmp_path):
    batch_id, ids = submit_small(tmp_path, variants=2)
    other = db.get_engine().connect()
    # Another cancel of the batch, waiting for a worker's chunk, holds the batch's lock.
    transaction = other.begin()
    other.execute(select(func.pg_advisory_xact_lock(CANCEL_LOCK_NAMESPACE, batch_id)))

    with pytest.raises(Conflict, match=f"batch {batch_id} is being cancelled by another request"):
        with db.session_scope() as session:
            cancel_batch(session, batch_id, wait=False)
    transaction.rollback()
    other.close()

    with db.session_scope() as session:
        states = session.scalars(select(GenerationRequest.status)).all()
        assert session.get(Batch, batch_id).status == BatchStatus.PENDING
    assert states == [RequestStatus.PENDING] * 2
    with db.session_scope() as session:
        assert cancel_batch(session, batch_id, wait=False) == (2, 0)
