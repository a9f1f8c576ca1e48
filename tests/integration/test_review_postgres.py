"""Review decisions on PostgreSQL: row locks keep two reviewers apart, and the queue and
export queries run on PostgreSQL as they do on SQLite."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from fastapi.testclient import TestClient

from contentgen import db
from contentgen.drafts import DraftFilter, queue_page
from contentgen.errors import Conflict
from contentgen.export import export_batch
from contentgen.models import Draft, DraftStatus
from contentgen.review import Decision, decide, decide_many
from contentgen.web import create_app

from ..seeding import draft_ids, make_token, make_user, seed_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def batch(service_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CONTENTGEN_GENERATOR", "null")
    monkeypatch.delenv("CONTENTGEN_BROKER_URL")
    from contentgen.settings import get_settings

    get_settings.cache_clear()
    return seed_batch(tmp_path)


def test_review_postgres_second_decision_waits_then_conflicts(batch):
    rita = make_user("rita", "reviewer")
    otto = make_user("otto", "reviewer")
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        seen = session.get(Draft, draft_id).version
    outcome: list[object] = []

    def second_reviewer() -> None:
        try:
            with db.session_scope() as session:
                decide(session, otto, draft_id, Decision("reject", note="No"), expected_version=seen)
            outcome.append("saved")
        except Conflict as error:
            outcome.append(error)

    with db.session_scope() as session:
        decide(session, rita, draft_id, Decision("approve"), expected_version=seen)
        thread = threading.Thread(target=second_reviewer)
        thread.start()
        # The second decision is blocked on the row lock until this transaction commits.
        time.sleep(1)
        assert thread.is_alive()
    thread.join(timeout=30)

    assert len(outcome) == 1
    assert isinstance(outcome[0], Conflict)
    assert "was approved by rita after you opened it" in str(outcome[0])
    with db.session_scope() as session:
        assert session.get(Draft, draft_id).status == DraftStatus.APPROVED


def test_review_postgres_queue_bulk_and_export(batch):
    rita = make_user("rita", "reviewer")
    with db.session_scope() as session:
        page = queue_page(session, DraftFilter(check="failed:length", sort="score"))
        result = decide_many(session, rita, Decision("approve"), draft_filter=DraftFilter(channel="email_subject"))
    with db.session_scope() as session:
        exported = export_batch(session, batch, "csv")

    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert page.total == 4
    assert len(result.changed) == 4
    assert sorted(int(row["draft_id"]) for row in rows) == sorted(result.changed)


def test_review_postgres_api_approve(batch):
    make_user("rita", "reviewer")
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {make_token('rita')}"})
    draft_id = draft_ids(batch)[0]
    version = client.get(f"/api/v1/drafts/{draft_id}").json()["version"]
    approved = client.post(f"/api/v1/drafts/{draft_id}/approve", json={"version": version})
    stale = client.post(f"/api/v1/drafts/{draft_id}/reject", json={"version": version, "reason": "No"})
    assert approved.status_code == 200
    assert stale.status_code == 409
