from sqlalchemy import inspect

from contentgen import db

TABLES = {
    "brands", "campaigns", "prompt_templates", "batches", "generation_requests", "drafts",
    "review_events", "users", "schedule_runs", "api_tokens",
}  # fmt: skip


def table_names() -> set[str]:
    db.reset_engine()
    return set(inspect(db.get_engine()).get_table_names())


def test_migrations_upgrade_downgrade_upgrade(sqlite_settings):
    db.upgrade()
    assert TABLES <= table_names()

    db.downgrade("base")
    assert table_names() & TABLES == set()

    db.upgrade()
    assert TABLES <= table_names()
    db.check_schema()


def test_migrations_match_models(sqlite_settings):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from contentgen.models import Base

    db.upgrade()
    with db.get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
