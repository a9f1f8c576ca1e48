"""Shared fixtures: a fresh SQLite database per test, with settings read from the env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

# Nothing in the tests may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from contentgen import db  # noqa: E402
from contentgen.settings import get_settings  # noqa: E402
from contentgen.templates import sync_templates  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLES = REPOSITORY / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshot-dir",
        default=None,
        help="Folder for the browser tests' screenshots of the review pages, e.g. docs; "
        "default: a temporary folder.",
    )


def apply_settings(monkeypatch: pytest.MonkeyPatch, **values: str | None) -> None:
    """Set CONTENTGEN_* variables for one test and make the next read see them."""
    for name, value in values.items():
        variable = f"CONTENTGEN_{name.upper()}"
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    db.reset_engine()


def all_rows() -> dict[str, list[tuple]]:
    """Return every row of every table, the schema's version included."""
    with db.session_scope() as session:
        names = inspect(session.get_bind()).get_table_names()
        return {
            name: sorted((tuple(row) for row in session.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in names
        }


@pytest.fixture
def sqlite_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point contentgen at an empty SQLite file, no broker and the null generator."""
    monkeypatch.chdir(tmp_path)
    apply_settings(
        monkeypatch,
        database_url=f"sqlite:///{tmp_path / 'contentgen.db'}",
        broker_url=None,
        generator="null",
    )
    yield tmp_path
    get_settings.cache_clear()
    db.reset_engine()


@pytest.fixture
def database(sqlite_settings):
    """An SQLite database at the latest schema."""
    db.upgrade()
    return sqlite_settings


@pytest.fixture
def synced(database):
    """A database with the shipped prompt templates synced."""
    with db.session_scope() as session:
        sync_templates(session)
    return database
