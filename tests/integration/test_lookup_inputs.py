"""Ids that no id column can hold and filters with a NUL character, on SQLite and PostgreSQL.

PostgreSQL rejects comparing an INTEGER column with a value above 2,147,483,647 and a text
parameter with a NUL byte, where SQLite finds no row, and neither driver can send an integer
above 64 bits. Every backend returns "not found" or a clear error, never a crash.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from contentgen import db
from contentgen.cli import app as cli_app
from contentgen.models import Batch, Draft, ReviewEvent
from contentgen.settings import get_settings
from contentgen.web import create_app

from ..seeding import PASSWORD, draft_ids, make_token, make_user, seed_batch, seed_chinese_segments

# Above PostgreSQL's INTEGER maximum, inside the CLI's and SQLite's 64-bit range.
BIG_ID = 3_000_000_000
# Above every integer type of both databases; only the HTTP routes accept it.
HUGE_ID = 10**20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def seeded(request, monkeypatch, tmp_path) -> int:
    """A database on each backend with one reviewed batch, a reviewer and an admin."""
    if request.param == "sqlite":
        request.getfixturevalue("synced")
    else:
        request.getfixturevalue("service_env")
        monkeypatch.setenv("CONTENTGEN_GENERATOR", "null")
        monkeypatch.delenv("CONTENTGEN_BROKER_URL")
    monkeypatch.setenv("CONTENTGEN_SECRET_KEY", "test-secret-key-for-signing-cookies")
    get_settings.cache_clear()
    batch_id = seed_batch(tmp_path)
    make_user("rita", "reviewer")
    make_user("ana", "admin")
    return batch_id


def row_counts() -> dict[str, int]:
    with db.session_scope() as session:
        return {
            "batches": session.query(Batch).count(),
            "drafts": session.query(Draft).count(),
            "events": session.query(ReviewEvent).count(),
        }


def logged_in_client(username: str) -> TestClient:
    client = TestClient(create_app())
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    return client


def csrf_token(client: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/settings").text).group(1)


BATCH_NOT_FOUND = f"batch {BIG_ID} not found; list batches with: contentgen batch list"
DRAFT_NOT_FOUND = (
    f"draft {BIG_ID} not found; check the id, or find the draft in the review queue "
    "(the /queue page, or: contentgen review list)"
)
CLI_CASES = [
    (["batch", "status", str(BIG_ID)], BATCH_NOT_FOUND),
    (["batch", "cancel", str(BIG_ID)], BATCH_NOT_FOUND),
    (["batch", "retry-failed", str(BIG_ID)], BATCH_NOT_FOUND),
    (["batch", "resume", str(BIG_ID), "--wait"], BATCH_NOT_FOUND),
    (["drafts", "list", "--batch", str(BIG_ID)], BATCH_NOT_FOUND),
    (["drafts", "show", str(BIG_ID)], DRAFT_NOT_FOUND),
    (["export", "--batch", str(BIG_ID)], BATCH_NOT_FOUND),
    (["review", "list", "--batch", str(BIG_ID)], BATCH_NOT_FOUND),
    (["review", "approve", str(BIG_ID), "--user", "rita"], DRAFT_NOT_FOUND),
    (["review", "reject", str(BIG_ID), "--user", "rita", "--reason", "No"], DRAFT_NOT_FOUND),
]


def test_cli_out_of_range_id_not_found(seeded):
    runner = CliRunner()
    before = row_counts()
    for arguments, message in CLI_CASES:
        result = runner.invoke(cli_app, arguments)
        assert result.exit_code == 2, (arguments, result.output)
        assert message in result.stderr, arguments
    assert row_counts() == before


@pytest.mark.parametrize("record_id", [BIG_ID, HUGE_ID])
def test_pages_out_of_range_id_not_found(seeded, record_id):
    client = logged_in_client("rita")
    token = csrf_token(client)
    before = row_counts()

    assert client.get(f"/batches/{record_id}").status_code == 404
    assert client.get(f"/batches/{record_id}/export").status_code == 404
    page = client.get(f"/drafts/{record_id}")
    assert page.status_code == 404
    assert f"draft {record_id} not found" in page.text
    approve = client.post(f"/drafts/{record_id}/approve", data={"csrf_token": token})
    assert approve.status_code == 404
    queue = client.get("/queue", params={"batch_id": str(record_id), "status": "all"})
    assert queue.status_code == 404
    assert f"batch {record_id} not found" in queue.text
    assert row_counts() == before


@pytest.mark.parametrize("record_id", [BIG_ID, HUGE_ID])
def test_api_out_of_range_id_not_found(seeded, record_id):
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {make_token('ana')}"})
    before = row_counts()

    batch = client.get(f"/api/v1/batches/{record_id}")
    assert batch.status_code == 404
    assert batch.json()["detail"].startswith(f"batch {record_id} not found")
    assert client.get(f"/api/v1/batches/{record_id}/export").status_code == 404
    draft = client.get(f"/api/v1/drafts/{record_id}")
    assert draft.status_code == 404
    assert draft.json()["detail"].startswith(f"draft {record_id} not found")
    assert client.post(f"/api/v1/drafts/{record_id}/approve", json={}).status_code == 404
    bulk = client.post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": [{"id": record_id}]})
    assert bulk.status_code == 404
    assert bulk.json()["detail"] == f"drafts not found: {record_id}; nothing was changed"
    listed = client.get("/api/v1/drafts", params={"batch_id": record_id, "status": "all"})
    assert listed.status_code == 404
    assert listed.json()["detail"].startswith(f"batch {record_id} not found")
    by_filter = client.post("/api/v1/drafts/bulk",
                            json={"action": "approve", "filter": {"batch_id": record_id},
                                  "expected_count": 0})  # fmt: skip
    assert by_filter.status_code == 404
    assert by_filter.json()["detail"].startswith(f"batch {record_id} not found")
    assert row_counts() == before


def test_draft_page_segment_name_out_of_range_batch(seeded, tmp_path):
    # "老客户" is the name of two segment keys, so the name lookup queries which of them the
    # batch has, with a batch id that PostgreSQL rejects in a comparison.
    seed_chinese_segments(tmp_path)
    draft_id = draft_ids(seeded)[0]
    params = {"batch_id": str(BIG_ID), "segment": "老客户"}

    page = logged_in_client("rita").get(f"/drafts/{draft_id}", params=params)

    assert page.status_code == 200
    assert "Not in this queue, which has 0 drafts" in page.text


@pytest.mark.parametrize("field", ["campaign", "segment", "check"])
def test_nul_in_queue_filter_is_422(seeded, field):
    value = "failed:\x00" if field == "check" else "a\x00b"
    message = f"the {field} filter contains a NUL character (0x00)"
    page = logged_in_client("rita").get("/queue", params={field: value})
    api = TestClient(create_app(), headers={"Authorization": f"Bearer {make_token('rita')}"})
    listed = api.get("/api/v1/drafts", params={field: value})
    before = row_counts()
    bulk = api.post("/api/v1/drafts/bulk",
                    json={"action": "approve", "filter": {field: value}, "expected_count": 0})

    assert page.status_code == 422
    assert message in page.text
    assert listed.status_code == 422
    assert listed.json()["detail"].startswith(message)
    assert bulk.status_code == 422
    assert bulk.json()["detail"].startswith(message)
    assert row_counts() == before


def test_nul_in_username_not_found(seeded):
    client = TestClient(create_app())
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    login = client.post("/login", data={"username": "ana\x00", "password": PASSWORD, "csrf_token": token})
    admin = logged_in_client("ana")
    before = row_counts()
    disable = admin.post("/users/rita%00/active", data={"csrf_token": csrf_token(admin), "active": "0"})
    api = TestClient(create_app(), headers={"Authorization": f"Bearer {make_token('ana')}"})
    patch = api.patch("/api/v1/users/rita%00", json={"active": False})

    assert login.status_code == 401
    assert "Wrong username or password" in login.text
    assert disable.status_code == 404
    assert "not found; the users page lists every user" in disable.text
    assert patch.status_code == 404
    assert patch.json()["detail"].startswith('user "rita\x00" not found')
    assert row_counts() == before
