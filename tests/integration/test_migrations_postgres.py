import pytest
from sqlalchemy import inspect

from contentgen import db

pytestmark = pytest.mark.integration


def test_migrations_round_trip_on_postgres(service_env):
    db.downgrade("base")
    assert set(inspect(db.get_engine()).get_table_names()) == {"alembic_version"}

    db.upgrade()
    tables = set(inspect(db.get_engine()).get_table_names())
    assert {"brands", "campaigns", "prompt_templates", "batches", "generation_requests",
            "drafts", "review_events", "users", "schedule_runs"} <= tables  # fmt: skip
    db.check_schema()
