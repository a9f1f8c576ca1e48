import logging

from sqlalchemy.exc import OperationalError

from workers import tasks


def database_down(*_args, **_kwargs):
    raise OperationalError(
        "SELECT 1", {}, Exception('connection to "127.0.0.1", port 1 failed: refused')
    )


def test_chunk_retry_logs_warning(sqlite_settings, monkeypatch, caplog):
    monkeypatch.setattr(tasks, "run_chunk", database_down)
    caplog.set_level(logging.WARNING, logger="workers.tasks")

    # apply() runs the task in this process; each retry runs again at once, without a broker.
    result = tasks.generate_chunk.apply(args=[[5, 3, 4]], kwargs={"batch_id": 7})

    warnings = [record.getMessage() for record in caplog.records if record.name == "workers.tasks"]
    assert isinstance(result.result, OperationalError)
    assert len(warnings) == tasks.generate_chunk.max_retries
    assert warnings[0].startswith("chunk of 3 requests (ids 3 to 5, batch 7, task ")
    assert "failed, retry 1 of 10: " in warnings[0]
    assert "port 1 failed: refused" in warnings[0]
    assert "retry 10 of 10" in warnings[-1]


def test_chunk_retry_without_batch_id(sqlite_settings, monkeypatch, caplog):
    monkeypatch.setattr(tasks, "run_chunk", database_down)
    caplog.set_level(logging.WARNING, logger="workers.tasks")

    tasks.generate_chunk.apply(args=[[9]])

    assert "(ids 9 to 9, batch unknown, task " in caplog.records[0].getMessage()


def test_chunk_other_error_logs_no_retry(sqlite_settings, monkeypatch, caplog):
    failure = ValueError("not a database error")

    def broken(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(tasks, "run_chunk", broken)
    caplog.set_level(logging.WARNING, logger="workers.tasks")

    result = tasks.generate_chunk.apply(args=[[1]], kwargs={"batch_id": 2})

    assert result.result is failure
    assert [record for record in caplog.records if record.name == "workers.tasks"] == []


def test_broker_socket_timeouts_default_and_override():
    from contentgen.settings import Settings
    from workers.app import BROKER_SOCKET_TIMEOUT, create_app

    default = create_app(Settings(broker_url="redis://127.0.0.1:6379/0")).conf.broker_transport_options
    custom = create_app(
        Settings(broker_url="redis://127.0.0.1:6379/0", broker_transport_options={"socket_timeout": 5})
    ).conf.broker_transport_options

    assert default["socket_timeout"] == BROKER_SOCKET_TIMEOUT
    assert default["socket_connect_timeout"] == BROKER_SOCKET_TIMEOUT
    assert custom["socket_timeout"] == 5
    assert custom["socket_connect_timeout"] == BROKER_SOCKET_TIMEOUT


def test_broker_transport_options_from_environment(monkeypatch):
    from contentgen.settings import Settings

    monkeypatch.setenv("CONTENTGEN_BROKER_TRANSPORT_OPTIONS", '{"visibility_timeout": 7200}')
    assert Settings().broker_transport_options == {"visibility_timeout": 7200}


def test_beat_tasks_expire_when_not_taken():
    from contentgen.settings import Settings
    from workers.app import create_app

    schedule = create_app(Settings(broker_url="redis://127.0.0.1:6379/0")).conf.beat_schedule

    for entry in schedule.values():
        assert entry["options"]["expires"] == entry["schedule"]
