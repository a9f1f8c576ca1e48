import pytest
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


# Neither dialect reflects an index on an expression, so the comparison skips the index
# on lower(username); test_usernames_unique_regardless_of_case covers it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_models(sqlite_settings):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from contentgen.models import Base

    db.upgrade()
    with db.get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migration_0004_starts_imported_schedules(sqlite_settings):
    from datetime import UTC, datetime

    from sqlalchemy import text

    from contentgen.schedule_runs import stored_utc

    db.upgrade("0002")
    insert_campaign = text(
        "INSERT INTO campaigns (id, key, brand_id, name, spec, created_at, updated_at) "
        "VALUES (:id, :key, 1, :key, :spec, '2026-01-01', '2026-01-01')"
    )
    with db.get_engine().begin() as connection:
        connection.execute(
            text("INSERT INTO brands (id, key, name, voice, banned_terms, required_terms, "
                 "created_at, updated_at) VALUES (1, 'b', 'B', '', '[]', '[]', "
                 "'2026-01-01', '2026-01-01')")
        )  # fmt: skip
        nightly = '{"schedule": {"cron": "0 2 * * *"}}'
        connection.execute(insert_campaign, {"id": 1, "key": "nightly", "spec": nightly})
        manual = '{"schedule": null}'
        connection.execute(insert_campaign, {"id": 2, "key": "manual", "spec": manual})
    before = datetime.now(UTC).replace(microsecond=0)

    db.upgrade()

    with db.get_engine().connect() as connection:
        since = dict(connection.execute(text("SELECT key, schedule_since FROM campaigns")).all())
    assert since["nightly"] is not None
    assert stored_utc(datetime.fromisoformat(since["nightly"])) >= before
    assert since["manual"] is None


def test_usernames_unique_regardless_of_case(sqlite_settings):
    from sqlalchemy.exc import IntegrityError

    from contentgen.models import User

    db.upgrade()
    with db.session_scope() as session:
        session.add(User(username="rita", password_hash="x", role="reviewer"))
    with pytest.raises(IntegrityError), db.session_scope() as session:
        session.add(User(username="RITA", password_hash="x", role="reviewer"))
        session.flush()


def test_migration_0012_adds_import_warnings(sqlite_settings):
    from sqlalchemy import text

    db.upgrade("0011")
    with db.get_engine().begin() as connection:
        connection.execute(
            text("INSERT INTO batches (id, trigger, status, request_count, created_at) "
                 "VALUES (1, 'manual', 'completed', 0, '2026-01-01')")
        )  # fmt: skip

    db.upgrade("0012")
    with db.get_engine().connect() as connection:
        assert connection.execute(text("SELECT import_warnings FROM batches")).all() == [(None,)]

    db.downgrade("0011")
    columns = {column["name"] for column in inspect(db.get_engine()).get_columns("batches")}
    assert "import_warnings" not in columns
    with db.get_engine().connect() as connection:
        assert connection.execute(text("SELECT id FROM batches")).all() == [(1,)]


def test_migration_0013_cases_stored_locales(sqlite_settings):
    import json

    from sqlalchemy import text

    db.upgrade("0012")
    insert_campaign = text(
        "INSERT INTO campaigns (id, key, brand_id, name, spec, created_at, updated_at) "
        "VALUES (:id, :key, 1, :key, :spec, '2026-01-01', '2026-01-01')"
    )
    with db.get_engine().begin() as connection:
        connection.execute(
            text("INSERT INTO brands (id, key, name, voice, banned_terms, required_terms, "
                 "created_at, updated_at) VALUES (1, 'b', 'B', '', '[]', '[]', "
                 "'2026-01-01', '2026-01-01')")
        )  # fmt: skip
        for campaign_id, locale in enumerate(["zh-cn", "ZH-hant-tw", "en-US", "de-ch-x-phonebk"], start=1):
            spec = json.dumps({"locale": locale, "variants": 2})
            connection.execute(insert_campaign, {"id": campaign_id, "key": f"c{campaign_id}", "spec": spec})

    db.upgrade("0013")

    with db.get_engine().connect() as connection:
        specs = [json.loads(spec) for (spec,) in connection.execute(text("SELECT spec FROM campaigns ORDER BY id"))]
    assert [spec["locale"] for spec in specs] == ["zh-CN", "zh-Hant-TW", "en-US", "de-CH-x-phonebk"]
    assert all(spec["variants"] == 2 for spec in specs)
