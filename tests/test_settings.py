"""Reading settings: unknown CONTENTGEN_ names are reported, not silently ignored."""

import logging

from contentgen.settings import get_settings

from .conftest import apply_settings


def test_misspelt_variable_is_named_with_its_likely_setting(sqlite_settings, monkeypatch, caplog):
    monkeypatch.setenv("CONTENTGEN_DATABSE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    apply_settings(monkeypatch)

    with caplog.at_level(logging.WARNING, logger="contentgen.settings"):
        settings = get_settings()

    assert settings.database_url.startswith("sqlite:")
    assert caplog.messages == [
        "CONTENTGEN_DATABSE_URL is not a contentgen setting and is ignored; "
        "did you mean CONTENTGEN_DATABASE_URL?"
    ]


def test_unknown_variable_in_env_file_is_named(sqlite_settings, monkeypatch, caplog):
    (sqlite_settings / ".env").write_text("CONTENTGEN_QUEUES=fast\nOTHER_TOOL=1\n", encoding="utf-8")
    apply_settings(monkeypatch)

    with caplog.at_level(logging.WARNING, logger="contentgen.settings"):
        get_settings()

    assert caplog.messages == [
        "CONTENTGEN_QUEUES is not a contentgen setting and is ignored; did you mean CONTENTGEN_QUEUE?"
    ]


def test_known_and_test_suite_variables_are_not_reported(sqlite_settings, monkeypatch, caplog):
    monkeypatch.setenv("contentgen_chunk_size", "8")
    monkeypatch.setenv("CONTENTGEN_TEST_REDIS", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("CONTENTGEN_SOMETHING_ELSE", "1")
    apply_settings(monkeypatch)

    with caplog.at_level(logging.WARNING, logger="contentgen.settings"):
        settings = get_settings()

    assert settings.chunk_size == 8
    assert caplog.messages == [
        "CONTENTGEN_SOMETHING_ELSE is not a contentgen setting and is ignored; "
        "see the settings table in README.md"
    ]
