"""Shared fixtures: a fresh SQLite database per test, with settings read from the env."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def database_files(tmp_path_factory) -> dict[str, Path]:
    """Build, once per test session, an SQLite file at the latest schema ("schema") and one
    with the shipped prompt templates synced as well ("synced"), for tests to copy: migrating
    and syncing took about 0.25 s per test."""
    folder = tmp_path_factory.mktemp("database-files")
    files = {"schema": folder / "schema.db", "synced": folder / "synced.db"}
    with pytest.MonkeyPatch.context() as monkeypatch:
        apply_settings(monkeypatch, database_url=f"sqlite:///{files['schema']}", broker_url=None, generator="null")
        db.upgrade()
        db.reset_engine()
        shutil.copy(files["schema"], files["synced"])
        apply_settings(monkeypatch, database_url=f"sqlite:///{files['synced']}")
        with db.session_scope() as session:
            sync_templates(session)
        # Closing the last connection writes the WAL back into the file, so a copy is whole.
        db.reset_engine()
    get_settings.cache_clear()
    return files


@pytest.fixture
def database(sqlite_settings, database_files):
    """An SQLite database at the latest schema."""
    shutil.copy(database_files["schema"], sqlite_settings / "contentgen.db")
    return sqlite_settings


@pytest.fixture
def synced(sqlite_settings, database_files):
    """A database with the shipped prompt templates synced."""
    shutil.copy(database_files["synced"], sqlite_settings / "contentgen.db")
    return sqlite_settings
