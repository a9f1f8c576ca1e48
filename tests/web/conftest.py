"""Fixtures for the web app: a seeded SQLite database copied per test, users of every role,
and test clients that log in through the real login form."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from contentgen import db
from contentgen.models import Draft, DraftCheck, DraftStatus, GenerationRequest, ReviewEvent, User
from contentgen.templates import sync_templates
from contentgen.web import create_app

from ..conftest import apply_settings
from ..seeding import PASSWORD, make_token, make_user, seed_batch

ROLES = ("marketer", "reviewer", "admin")
USERNAMES = {"marketer": "mia", "reviewer": "rita", "admin": "adam"}
SECRET_KEY = "test-secret-key-for-signing-cookies"


@dataclass(frozen=True)
class Seeded:
    batch_id: int
    draft_ids: list[int]
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory) -> tuple[Path, Seeded]:
    """Build one seeded database for the whole session; each test gets a copy."""
    folder = tmp_path_factory.mktemp("seeded")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        apply_settings(monkeypatch, database_url=f"sqlite:///{folder / 'seed.db'}",
                       broker_url=None, generator="null")  # fmt: skip
        db.upgrade()
        with db.session_scope() as session:
            sync_templates(session)
        batch_id = seed_batch(folder)
        tokens = {}
        for role, username in USERNAMES.items():
            make_user(username, role)
            tokens[role] = make_token(username)
        with db.session_scope() as session:
            ids = list(session.scalars(select(Draft.id).order_by(Draft.id)))
        db.reset_engine()
    return folder / "seed.db", Seeded(batch_id, ids, tokens)


@pytest.fixture
def seeded(seeded_file, tmp_path, monkeypatch) -> Seeded:
    source, data = seeded_file
    shutil.copy(source, tmp_path / "contentgen.db")
    monkeypatch.chdir(tmp_path)
    apply_settings(monkeypatch, database_url=f"sqlite:///{tmp_path / 'contentgen.db'}",
                   broker_url=None, generator="null", secret_key=SECRET_KEY)  # fmt: skip
    return data


@pytest.fixture
def app(seeded):
    return create_app()


@pytest.fixture
def api(app, seeded):
    """Return a function that gives an API client with a role's bearer token (none for None)."""

    def client(role: str | None) -> TestClient:
        headers = {"Authorization": f"Bearer {seeded.tokens[role]}"} if role else {}
        return TestClient(app, headers=headers)

    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def alert_of(html: str) -> str:
    match = re.search(r'role="alert">([^<]*)<', html)
    assert match, "the page shows no error message"
    return unescape(match.group(1))


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the login form and return the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/settings").text)


@pytest.fixture
def client_for(app):
    """Return a function that gives a client logged in as a role (or anonymous for None)."""

    def make(role: str | None) -> tuple[TestClient, str]:
        client = TestClient(app)
        token = log_in(client, USERNAMES[role]) if role else ""
        return client, token

    return make


def snapshot() -> dict[str, object]:
    """Everything a request could change, to compare before and after a denied request."""
    with db.session_scope() as session:
        return {
            "drafts": session.execute(
                select(Draft.id, Draft.status, Draft.text, Draft.version).order_by(Draft.id)
            ).all(),
            "events": session.execute(select(ReviewEvent.id)).all(),
            "users": session.execute(
                select(User.username, User.role, User.is_active, User.locale).order_by(User.id)
            ).all(),
            "requests": session.execute(select(GenerationRequest.id)).all(),
            "checks": session.execute(select(DraftCheck.id)).all(),
            "tables": {
                table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("batches", "campaigns", "brands", "prompt_templates", "api_tokens")
            },
        }


def status_of(draft_id: int) -> DraftStatus:
    with db.session_scope() as session:
        return session.get(Draft, draft_id).status


def version_of(draft_id: int) -> int:
    with db.session_scope() as session:
        return session.get(Draft, draft_id).version
