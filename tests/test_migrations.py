from sqlalchemy import inspect

from contentgen import db

TABLES = {
    "brands", "campaigns", "prompt_templates", "batches", "generation_requests", "drafts",
    "review_events", "users", "schedule_runs",
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
