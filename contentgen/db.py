"""Database engine, sessions and schema migrations.

The engine is created lazily and per process: a Celery prefork child must not reuse the
connections its parent opened, so ``reset_engine`` is called after every fork.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from contentgen.errors import InfrastructureError, InvalidInput
from contentgen.resources import migrations_dir
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)

# Seconds libpq waits for PostgreSQL to accept a connection and finish its start-up.
DATABASE_CONNECT_TIMEOUT = 10

_engine: Engine | None = None
_engine_pid: int | None = None
_session_factory: sessionmaker[Session] | None = None


def display_url(url: str) -> str:
    """Return the database URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def parse_database_url(url: str) -> URL:
    """Parse a SQLAlchemy database URL.

    Raises:
        InvalidInput: if the URL cannot be parsed, for example an empty value or a plain word.
    """
    try:
        return make_url(url)
    except ArgumentError as error:
        raise InvalidInput(
            f'database URL "{url}" is not valid: {error}; '
            "set CONTENTGEN_DATABASE_URL to e.g. sqlite:///contentgen.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from None


def create_db_engine(url: str) -> Engine:
    """Create an engine for ``url``.

    Raises:
        InvalidInput: if the URL cannot be parsed or names a driver that is not installed.
    """
    parsed = parse_database_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not Path(database).parent.exists():
        raise InvalidInput(
            f'database URL "{url}": the folder "{Path(database).parent}" does not exist; '
            "create it or change CONTENTGEN_DATABASE_URL"
        )

    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _configure_sqlite)
        else:
            # libpq waits forever for a server that accepts the connection but never
            # replies. A connect_timeout given in the URL takes precedence.
            timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": DATABASE_CONNECT_TIMEOUT}
            engine = create_engine(url, pool_pre_ping=True, connect_args=timeout)
    except Exception as error:
        raise InvalidInput(
            f'database URL "{display_url(url)}" cannot be used: {error}; '
            "use sqlite:/// or postgresql+psycopg:// URLs"
        ) from None
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers (batch status) see progress while a chunk is being written.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def get_engine() -> Engine:
    """Return this process's engine for the configured database, creating it on first use."""
    global _engine, _engine_pid, _session_factory
    if _engine is None or _engine_pid != os.getpid():
        _engine = create_db_engine(get_settings().database_url)
        _engine_pid = os.getpid()
        _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Forget the engine so the next use opens new connections (call after a fork)."""
    global _engine, _engine_pid, _session_factory
    if _engine is not None and _engine_pid == os.getpid():
        _engine.dispose()
    elif _engine is not None:
        # Inherited from the parent: close nothing the parent may still be using.
        _engine.dispose(close=False)
    _engine = None
    _engine_pid = None
    _session_factory = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """Open a session in a transaction that commits on success and rolls back on error.

    Raises:
        InfrastructureError: if the database cannot be reached.
    """
    get_engine()
    assert _session_factory is not None
    try:
        with _session_factory() as session, session.begin():
            yield session
    except OperationalError as error:
        raise unreachable_database(error) from error


def unreachable_database(error: Exception) -> InfrastructureError:
    url = display_url(get_settings().database_url)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return InfrastructureError(
        f"database {url} is unreachable or failed: {reason}; "
        "check that the server is running and CONTENTGEN_DATABASE_URL is right"
    )


def alembic_config(url: str | None = None) -> Config:
    """Build the Alembic configuration for ``url`` (default: the configured database)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = url or get_settings().database_url
    return config


def upgrade(revision: str = "head", url: str | None = None) -> tuple[str | None, str | None]:
    """Migrate the database up to ``revision``.

    Returns:
        The revision before and after; None before means the database had no tables.

    Raises:
        InvalidInput: if no migration has that revision.
        InfrastructureError: if the database cannot be reached or is not a database.
    """
    config = alembic_config(url)
    _check_revision(config, revision)
    engine = create_db_engine(url) if url else get_engine()
    try:
        before = _checked_revision(engine, config)
        command.upgrade(config, revision)
        return before, current_revision(engine)
    except DatabaseError as error:
        raise unreachable_database(error) from error
    finally:
        if url:
            engine.dispose()


def downgrade(
    revision: str,
    url: str | None = None,
    confirm: Callable[[str, str | None], None] | None = None,
) -> tuple[str | None, str | None]:
    """Migrate the database down to ``revision`` ("base" removes every table).

    Args:
        revision: "base", a known revision, or one relative to a revision ("-1" for one
            step down from the database's revision, "0010-2", "head-1").
        url: the database; default: the configured one.
        confirm: called with the revision before and the target (None for base) once the
            target is known to be older, before anything is dropped. It raises to stop,
            and the database is then left as it is. Not called when there is nothing to do.

    Returns:
        The revision before and after; None after "base".

    Raises:
        InvalidInput: if no migration has that revision, or it is not older than the
            database's revision.
        InfrastructureError: if the database cannot be reached or is not a database.
    """
    config = alembic_config(url)
    _check_revision(config, revision)
    engine = create_db_engine(url) if url else get_engine()
    try:
        before = _checked_revision(engine, config)
        target = _downgrade_target(revision, before)
        if target == before:
            return before, before
        if confirm is not None:
            confirm(before, target)
        try:
            command.downgrade(config, target or "base")
        except CommandError as error:
            raise InvalidInput(f'cannot migrate down to revision "{revision}": {error}') from None
        return before, current_revision(engine)
    except DatabaseError as error:
        raise unreachable_database(error) from error
    finally:
        if url:
            engine.dispose()


# A revision relative to another, as Alembic writes them: "-1" (from the database's
# revision), "0010-2", "head-1", "base+3".
_RELATIVE_REVISION = re.compile(r"(?P<anchor>[^+-]*)(?P<steps>[+-][0-9]+)")


def _downgrade_target(revision: str, before: str | None) -> str | None:
    """Resolve a downgrade target to a known revision, or None for base.

    Raises:
        InvalidInput: if the target is not older than ``before``, or lies outside the
            migrations.
    """
    known = known_revisions()
    if revision == "base":
        return None

    if revision in ("head", "heads"):
        index = len(known) - 1
    elif revision in known:
        index = known.index(revision)
    else:
        match = _RELATIVE_REVISION.fullmatch(revision)
        anchor = match["anchor"] if match else None
        anchors = {"": before, "head": known[-1], "heads": known[-1], "base": None}
        if anchor in anchors:
            start = anchors[anchor]
        elif anchor in known:
            start = anchor
        else:
            raise InvalidInput(
                f'revision "{revision}" is not known; use head, base, one of: '
                f"{', '.join(known)}, or one of them with -N, e.g. -1"
            )
        index = (-1 if start is None else known.index(start)) + int(match["steps"])
        if not -1 <= index < len(known):
            raise InvalidInput(
                f'revision "{revision}" lies outside the migrations ({known[0]} to '
                f"{known[-1]}); use base or one of them"
            )

    before_index = -1 if before is None else known.index(before)
    if index > before_index:
        raise InvalidInput(
            f'revision "{revision}" is not older than the database\'s revision '
            f"{before or 'none'}; to move forward, run: contentgen db upgrade {revision}"
        )
    return None if index == -1 else known[index]


def _checked_revision(engine: Engine, config: Config) -> str | None:
    """Return the database's revision, refusing one this code does not know and tables that
    no migration made.

    Raises:
        InfrastructureError: for either.
    """
    current = current_revision(engine)
    if current is not None and current not in known_revisions():
        raise _unknown_revision(current)
    if current is None and "batches" in inspect(engine).get_table_names():
        raise InfrastructureError(
            f"database {display_url(config.attributes['database_url'])} has contentgen's "
            "tables but no schema revision (no alembic_version row), so no migration made it "
            "and contentgen cannot tell what to change; use an empty database"
        )
    return current


def _check_revision(config: Config, revision: str) -> None:
    # Alembic also takes relative targets ("-1", "head-1"), which it checks itself.
    known = known_revisions()
    if revision in ("head", "heads", "base") or revision in known or any(sign in revision for sign in "+-"):
        return
    raise InvalidInput(
        f'revision "{revision}" is not known; use head, base or one of: {", ".join(known)}'
    )


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@cache
def head_revision() -> str:
    # Cached: reading the migration scripts takes milliseconds, and they do not change
    # while a process runs.
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def check_schema() -> None:
    """Make sure the database exists and is at the latest migration.

    Raises:
        InvalidInput: if CONTENTGEN_DATABASE_URL cannot be parsed.
        InfrastructureError: if the database is unreachable or its schema is out of date.
    """
    parsed = parse_database_url(get_settings().database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # Connecting would create an empty file, so name the command to run instead.
        if not Path(parsed.database).exists():
            raise InfrastructureError(
                f'database file "{Path(parsed.database).resolve()}" does not exist; to create it '
                "there, run: contentgen db upgrade. Or set CONTENTGEN_DATABASE_URL to the "
                "database you mean"
            )
    engine = get_engine()
    try:
        current = current_revision(engine)
    except DatabaseError as error:
        raise unreachable_database(error) from error

    head = head_revision()
    if current is not None and current not in known_revisions():
        raise _unknown_revision(current)
    if current != head:
        raise InfrastructureError(
            f"database {display_url(get_settings().database_url)} is at schema revision "
            f"{current or 'none'}, not the latest ({head}); run: contentgen db upgrade"
        )


@cache
def known_revisions() -> tuple[str, ...]:
    """Return every migration's revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return tuple(item.revision for item in reversed(list(script.walk_revisions())))


def _unknown_revision(revision: str) -> InfrastructureError:
    return InfrastructureError(
        f"database {display_url(get_settings().database_url)} is at schema revision "
        f"{revision}, which this version of contentgen does not have (it knows "
        f"{known_revisions()[0]} to {known_revisions()[-1]}); a newer contentgen probably "
        "migrated it. Run that version, or set CONTENTGEN_DATABASE_URL to another database"
    )
