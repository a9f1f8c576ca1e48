import json
import logging
import os
import re
import shutil
import socket
import threading
import uuid

import pytest
import redis
import yaml
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from typer.testing import CliRunner

import contentgen
from contentgen import chunks, cli, cli_progress, db
from contentgen.cli import app
from contentgen.models import Batch, Brand, Campaign, GenerationRequest, User
from contentgen.users import authenticate

from .conftest import EXAMPLES, apply_settings
from .seeding import NEW_CUSTOMERS, OLD_CUSTOMERS, make_user, write_chinese_segment_files

runner = CliRunner()
# A backend whose every output is an error, so that requests fail.
ERRORING = "tests.integration.faulty_generators:erroring"
# The null generator taking two seconds per call.
SLOW = "tests.integration.faulty_generators:slow"
# A backend that raises for the prompts of one segment of examples/outdoor-boot-launch.yaml.
FAILING_SEGMENT = "tests.integration.faulty_generators:failing_segment"


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def copy_example(folder, name="outdoor-boot-launch.yaml"):
    target = folder / name
    shutil.copy(EXAMPLES / name, target)
    return target


def count_rows(model) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def ready(sqlite_settings):
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("templates", "sync").exit_code == 0
    return sqlite_settings


def test_cli_submit_wait_runs_in_process(ready):
    path = copy_example(ready)
    result = invoke("batch", "submit", str(path), "--wait", "--json")

    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["status"] == "completed"
    assert status["requests"] == {"done": 24, "pending": 0, "failed": 0, "cancelled": 0}
    # The null generator writes one fixed 41-character text: over the 30 units of the 8
    # headlines, and a near-duplicate in variants 2 to 4 of the other 4 slots.
    assert status["drafts"] == {"pending_review": 4, "flagged": 20, "approved": 0, "rejected": 0}
    assert status["checks"]["regenerations"] == 40


def test_cli_status_list_and_drafts(ready):
    path = copy_example(ready)
    invoke("batch", "submit", str(path), "--wait")

    status = json.loads(invoke("batch", "status", "1", "--json").stdout)
    batches = json.loads(invoke("batch", "list", "--json").stdout)
    drafts = json.loads(invoke("drafts", "list", "--batch", "1", "--json").stdout)
    shown = json.loads(invoke("drafts", "show", str(drafts[0]["id"]), "--json").stdout)

    assert status["request_count"] == 24
    assert [batch["id"] for batch in batches] == [1]
    assert len(drafts) == 24
    assert {draft["channel"] for draft in drafts} == {
        "google_ads_headline", "google_ads_description", "meta_primary_text",
    }  # fmt: skip
    assert shown["template"].endswith(".j2 v1")
    assert shown["model"] == "null"
    assert "Ridgeline GTX" in shown["prompt"]


def test_cli_tables_print(ready):
    path = copy_example(ready)
    invoke("batch", "submit", str(path), "--wait")

    status = invoke("batch", "status", "1")
    listing = invoke("drafts", "list", "--batch", "1")
    shown = invoke("drafts", "show", "1")

    assert "Batch 1: completed" in status.stdout
    assert "google_ads_headline" in listing.stdout
    assert "Placeholder copy" in shown.stdout


def test_cli_campaigns_list_shows_segment_names(ready):
    assert invoke("campaigns", "import", *map(str, write_chinese_segment_files(ready))).exit_code == 0

    table = invoke("campaigns", "list")
    listed = json.loads(invoke("campaigns", "list", "--json").stdout)

    rows = [line.split("│")[1:-1] for line in table.stdout.splitlines() if "│" in line]
    segments = {row[0].strip(): row[2].strip() for row in rows}
    assert segments == {
        "autumn": "老客户 (loyal)",
        "spring": f"老客户 ({OLD_CUSTOMERS}), 新客户 ({NEW_CUSTOMERS})",
    }
    spring = next(item for item in listed if item["key"] == "spring")
    assert spring["segments"] == [OLD_CUSTOMERS, NEW_CUSTOMERS]
    assert spring["segment_names"] == {OLD_CUSTOMERS: "老客户", NEW_CUSTOMERS: "新客户"}
    assert spring["name"] == "春季上新"


def test_cli_drafts_list_shows_segment_names(ready):
    invoke("batch", "submit", *map(str, write_chinese_segment_files(ready)), "--wait")

    listing = invoke("drafts", "list", "--batch", "1")

    assert "autumn / 老客户 (loyal) / email_subject / v1" in listing.stdout
    assert f"spring / 老客户 ({OLD_CUSTOMERS}) / email_subject / v1" in listing.stdout
    assert f"spring / 新客户 ({NEW_CUSTOMERS}) / email_subject / v1" in listing.stdout


def test_cli_submit_all_examples_together(ready):
    paths = [str(path) for path in sorted(EXAMPLES.glob("*.yaml"))] + [str(EXAMPLES / "products.csv")]
    result = invoke("batch", "submit", *paths, "--json")
    assert result.exit_code == 0, result.output
    assert 44 <= json.loads(result.stdout)["request_count"] <= 60


def test_cli_submit_without_broker_or_wait_explains(ready):
    result = invoke("batch", "submit", str(copy_example(ready)))
    assert result.exit_code == 0
    assert "contentgen batch resume 1 --wait" in result.stdout
    assert count_rows(GenerationRequest) == 24

    resumed = invoke("batch", "resume", "1", "--wait")
    assert resumed.exit_code == 0
    assert "Batch 1 completed" in resumed.stdout


def test_cli_submit_without_broker_agrees_in_number(ready):
    path = copy_example(ready)
    many = invoke("batch", "submit", str(path))
    data = yaml.safe_load(path.read_text())
    campaign = data["campaigns"][0]
    campaign["segments"], campaign["channels"], campaign["variants"] = campaign["segments"][:1], ["sms"], 1
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    one = invoke("batch", "submit", str(path))

    assert "so 24 requests wait. Run them in this process with: contentgen batch resume 1 --wait" in many.stdout
    assert "so 1 request waits. Run it in this process with: contentgen batch resume 2 --wait" in one.stdout


def test_cli_submit_wait_one_draft_singular(ready):
    path = copy_example(ready)
    data = yaml.safe_load(path.read_text())
    campaign = data["campaigns"][0]
    campaign["segments"], campaign["channels"], campaign["variants"] = campaign["segments"][:1], ["sms"], 1
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    result = invoke("batch", "submit", str(path), "--wait")

    assert result.exit_code == 0, result.output
    assert "Checks: 1 of 1 draft passed (100%), 1 on the first try (100%); 0 regenerations." in result.stdout


def test_cli_idempotency_key_returns_same_batch(ready):
    path = str(copy_example(ready))
    first = json.loads(invoke("batch", "submit", path, "--idempotency-key", "k1", "--json").stdout)
    second = json.loads(invoke("batch", "submit", path, "--idempotency-key", "k1", "--json").stdout)
    assert first["created"] is True
    assert second["created"] is False
    assert second["id"] == first["id"]
    assert count_rows(Batch) == 1


def test_cli_idempotency_key_with_other_file_exits_2(ready):
    path = copy_example(ready)
    invoke("batch", "submit", str(path), "--idempotency-key", "k1")
    path.write_text(path.read_text(encoding="utf-8").replace("variants: 4", "variants: 3"), encoding="utf-8")

    result = invoke("batch", "submit", str(path), "--idempotency-key", "k1")

    assert result.exit_code == 2
    assert 'idempotency key "k1" already made batch 1 from other campaign content' in result.stderr
    assert count_rows(Batch) == 1


def test_cli_invalid_file_exits_2_and_writes_nothing(ready):
    path = ready / "bad.yaml"
    path.write_text(
        (EXAMPLES / "outdoor-boot-launch.yaml").read_text().replace("meta_primary_text", "tiktok")
    )
    result = invoke("batch", "submit", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert '"tiktok" is not a known channel' in result.stderr
    assert count_rows(Batch) == 0


def write_brand_file(folder, name, **brand_fields):
    path = folder / name
    brand = {"key": "trailpeak", "name": "TrailPeak", **brand_fields}
    path.write_text(json.dumps({"brands": [brand]}), encoding="utf-8")
    return path


def test_cli_import_warns_about_cleared_fields(ready):
    invoke("campaigns", "import", str(write_brand_file(ready, "full.yaml", voice="Plain.", banned_terms=["cheap"])))
    short = write_brand_file(ready, "short.yaml", channel_limits={"email_subject": 50})

    result = invoke("campaigns", "import", str(short))

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f'Warning: {short}: brand "trailpeak": this import clears voice, banned_terms, which the file leaves out\n'
    )
    with db.session_scope() as session:
        stored = session.scalars(select(Brand)).one()
        assert (stored.voice, stored.banned_terms) == ("", [])


def test_cli_submit_warns_about_cleared_fields(ready):
    path = copy_example(ready)
    invoke("campaigns", "import", str(path))
    data = yaml.safe_load(path.read_text())
    del data["campaigns"][0]["schedule"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    result = invoke("batch", "submit", str(path))

    assert result.exit_code == 0, result.output
    key = data["campaigns"][0]["key"]
    assert f'Warning: {path}: campaign "{key}": this import clears schedule, which the file leaves out' in result.stderr


def test_cli_submit_dry_run_prints_plan(ready, monkeypatch):
    # Nothing listens on port 1, so any attempt to reach the broker fails the command.
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:1/0")
    path = copy_example(ready)

    result = invoke("batch", "submit", str(path), "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "This dry run wrote nothing. Submitting would create a batch with 24 requests:"
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["trailpeak-ridgeline-launch", "google_ads_headline", "24", "8"],
        ["trailpeak-ridgeline-launch", "google_ads_description", "48", "8"],
        ["trailpeak-ridgeline-launch", "meta_primary_text", "64", "8"],
    ]
    assert result.stderr == ""
    for model in (Batch, GenerationRequest, Campaign, Brand):
        assert count_rows(model) == 0


def test_cli_submit_dry_run_json(ready):
    path = copy_example(ready)
    invoke("campaigns", "import", str(path))
    data = yaml.safe_load(path.read_text())
    del data["campaigns"][0]["schedule"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    result = invoke("batch", "submit", str(path), "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["dry_run"], plan["written"], plan["request_count"]) == (True, False, 24)
    assert plan["matched_batch_id"] is None
    assert plan["requests"][0] == {
        "campaign": "trailpeak-ridgeline-launch", "channel": "google_ads_headline", "max_new_tokens": 24,
        "requests": 8,
    }  # fmt: skip
    assert plan["warnings"] == [{
        "path": str(path), "kind": "campaign", "key": "trailpeak-ridgeline-launch",
        "detail": "this import clears schedule, which the file leaves out",
    }]  # fmt: skip
    assert "Warning: " in result.stderr
    assert count_rows(Batch) == 0
    with db.session_scope() as session:
        assert session.scalars(select(Campaign)).one().spec["schedule"] is not None


def test_cli_submit_dry_run_matched_key(ready):
    path = str(copy_example(ready))
    invoke("batch", "submit", path, "--idempotency-key", "k1")

    result = invoke("batch", "submit", path, "--idempotency-key", "k1", "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        'This dry run wrote nothing. Idempotency key "k1" already made batch 1 from the same content, '
        "so submitting would return that batch (24 requests) and create nothing."
    )
    assert count_rows(Batch) == 1


def test_cli_submit_dry_run_matched_key_warnings(ready):
    path = copy_example(ready)
    invoke("campaigns", "import", str(path))
    data = yaml.safe_load(path.read_text())
    del data["campaigns"][0]["schedule"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    first = invoke("batch", "submit", str(path), "--idempotency-key", "k1")
    assert "this import clears schedule" in first.stderr

    result = invoke("batch", "submit", str(path), "--idempotency-key", "k1", "--dry-run")

    assert result.exit_code == 0, result.output
    # The warnings come from the import that created batch 1, because this run imports nothing.
    assert result.stderr == ""
    assert result.stdout.endswith(
        "Batch 1's import warned:\n"
        '  campaign "trailpeak-ridgeline-launch": the import cleared schedule, which the file left out\n'
    )


def test_cli_submit_dry_run_invalid_file_exits_2(ready):
    path = ready / "bad.yaml"
    path.write_text((EXAMPLES / "outdoor-boot-launch.yaml").read_text().replace("meta_primary_text", "tiktok"))

    real = invoke("batch", "submit", str(path))
    dry_run = invoke("batch", "submit", str(path), "--dry-run")

    assert dry_run.exit_code == real.exit_code == 2
    assert dry_run.stderr == real.stderr
    assert '"tiktok" is not a known channel' in dry_run.stderr
    assert dry_run.stdout == ""


def test_cli_submit_dry_run_with_wait_exits_2(ready):
    result = invoke("batch", "submit", str(copy_example(ready)), "--dry-run", "--wait")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --wait and --dry-run cannot be combined, because a dry run creates no batch to "
        "wait for; leave one of them out\n"
    )
    assert count_rows(Campaign) == 0


def test_cli_malformed_yaml_exits_2(ready):
    path = ready / "bad.yaml"
    path.write_text("campaigns: [\n")
    result = invoke("campaigns", "import", str(path))
    assert result.exit_code == 2
    assert "malformed YAML" in result.stderr


def test_cli_unknown_campaign_exits_2(ready):
    result = invoke("batch", "submit", "--campaign", "ghost")
    assert result.exit_code == 2
    assert 'campaign "ghost" not found' in result.stderr


def test_cli_unknown_ids_exit_2(ready):
    assert invoke("batch", "status", "42").exit_code == 2
    result = invoke("drafts", "show", "42")
    assert result.exit_code == 2
    assert "draft 42 not found" in result.stderr


def test_cli_user_password_without_terminal_exits_2(ready):
    # CliRunner's standard input is not a terminal, as in a script or a CI job.
    result = runner.invoke(app, ["users", "create", "rob", "--role", "reviewer"], input="")

    assert result.exit_code == 2
    assert "no terminal to ask for the password on; pipe it to --password-stdin" in result.stderr
    assert count_rows(User) == 0


def test_cli_users_set_password(ready):
    runner.invoke(app, ["users", "create", "Rob", "--role", "reviewer", "--password-stdin"], input="first password\n")

    result = runner.invoke(app, ["users", "set-password", "rob", "--password-stdin"], input="second password\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Changed the password of user Rob and ended their page sessions.\n"
    with db.session_scope() as session:
        assert authenticate(session, "rob", "second password") is not None


def test_cli_users_set_password_unknown_user_exits_2(ready):
    result = runner.invoke(app, ["users", "set-password", "nobody"], input="")
    assert result.exit_code == 2
    assert 'user "nobody" not found' in result.stderr


def test_cli_ctrl_c_inline_run_resume_hint(ready, monkeypatch):
    apply_settings(monkeypatch, chunk_size="4", max_regenerations="0",
                   generator="tests.integration.faulty_generators:interrupted")  # fmt: skip
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait")
    progress = json.loads(invoke("batch", "status", "1", "--json").stdout)
    with db.session_scope() as session:
        attempts = set(session.scalars(select(GenerationRequest.attempts).where(
            GenerationRequest.status == "pending")))  # fmt: skip

    assert result.exit_code == 130
    assert "Stopped. Batch 1 is saved" in result.stderr
    assert "contentgen batch resume 1 --wait" in result.stderr
    assert progress["requests"]["done"] == 4
    assert progress["requests"]["pending"] == 20
    assert attempts == {0}


def test_cli_ctrl_c_waiting_keeps_batch(ready, monkeypatch):
    invoke("batch", "submit", str(copy_example(ready)))
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:6379/15")

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("contentgen.cli_progress.wait_for_batch", interrupted)
    result = invoke("batch", "status", "1", "--wait")

    assert result.exit_code == 130
    assert "Batch 1 keeps running on the workers; follow it with: contentgen batch status 1 --wait" in result.stderr


def test_cli_sweep_logs_one_chunk_singular(ready, monkeypatch, caplog):
    path = ready / "one-request.yaml"
    path.write_text(
        "brands: [{key: trailpeak, name: TrailPeak}]\n"
        "campaigns:\n"
        "  - {key: one, brand: trailpeak, product: {name: Ridgeline GTX},\n"
        "     segments: [{key: weekend, name: Weekend hikers}], channels: [email_subject]}\n",
        encoding="utf-8",
    )
    invoke("batch", "submit", str(path))
    queue = f"contentgen-test-{uuid.uuid4().hex[:8]}"
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:6379/15", queue=queue)
    caplog.set_level(logging.INFO, logger="contentgen.dispatch")
    try:
        # Nothing was ever sent, so the batch is stalled and its queue empty.
        result = invoke("batch", "sweep", "--stalled-after", "0")
    finally:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").delete(queue)

    assert result.exit_code == 0, result.output
    assert "Sent the pending requests of batch 1 again." in result.stdout
    assert f"batch 1: sent 1 chunk to queue {queue}" in caplog.messages
    assert "batch 1 stalled: sent its pending requests again as 1 chunk" in caplog.messages


def test_cli_timeout_without_wait_exits_2(ready):
    result = invoke("batch", "submit", str(copy_example(ready)), "--timeout", "5")
    assert result.exit_code == 2
    assert "--timeout applies only with --wait" in result.stderr
    assert count_rows(Batch) == 0


def test_cli_token_for_disabled_user_exits_2(ready):
    assert runner.invoke(app, ["users", "create", "rob", "--role", "reviewer", "--password-stdin"],
                         input="long enough password\n").exit_code == 0  # fmt: skip
    assert invoke("users", "disable", "rob").exit_code == 0

    result = invoke("users", "token", "rob")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "user rob is disabled, so it cannot get an API token" in result.stderr
    assert "contentgen users enable rob" in result.stderr


def test_cli_usage_error_exits_2(ready):
    result = runner.invoke(app, ["batch", "status", "not-a-number"])
    assert result.exit_code == 2


def test_cli_schema_missing_exits_1(sqlite_settings):
    result = invoke("batch", "list")
    assert result.exit_code == 1
    assert "run: contentgen db upgrade" in result.stderr


@pytest.mark.parametrize("dry_run", [False, True], ids=["submit", "dry-run"])
def test_cli_submit_without_templates_exits_1(sqlite_settings, dry_run):
    assert invoke("db", "upgrade").exit_code == 0
    options = ["--dry-run"] if dry_run else []

    result = invoke("batch", "submit", str(copy_example(sqlite_settings)), *options)

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no prompt template in the database for: google_ads_description.j2, "
        "google_ads_headline.j2, meta_primary_text.j2; run: contentgen templates sync\n"
    )
    assert count_rows(Batch) == 0


def test_cli_unreachable_database_exits_1(sqlite_settings, monkeypatch):
    apply_settings(monkeypatch, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = invoke("batch", "list")
    assert result.exit_code == 1
    assert "database postgresql+psycopg://nobody@127.0.0.1:1/none is unreachable" in result.stderr
    assert "CONTENTGEN_DATABASE_URL" in result.stderr


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 whose server accepts connections and never replies."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept_forever():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_forever, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in accepted:
        connection.close()


def test_cli_silent_database_times_out(sqlite_settings, monkeypatch, silent_port):
    monkeypatch.setattr(db, "DATABASE_CONNECT_TIMEOUT", 2)
    url = f"postgresql+psycopg://nobody@127.0.0.1:{silent_port}/none"
    apply_settings(monkeypatch, database_url=url)

    result = invoke("batch", "list")

    assert result.exit_code == 1
    assert f"database {url} is unreachable" in result.stderr


def test_cli_silent_broker_times_out(ready, monkeypatch, silent_port):
    apply_settings(monkeypatch, broker_url=f"redis://127.0.0.1:{silent_port}/0",
                   broker_transport_options='{"socket_timeout": 1, "socket_connect_timeout": 1}')  # fmt: skip

    result = invoke("batch", "submit", str(copy_example(ready)))

    assert result.exit_code == 1
    assert f"broker redis://127.0.0.1:{silent_port}/0 is unreachable" in result.stderr
    assert "contentgen batch resume 1" in result.stderr


def test_cli_invalid_database_url_exits_2(sqlite_settings, monkeypatch):
    apply_settings(monkeypatch, database_url="not a url")
    result = invoke("db", "upgrade")
    assert result.exit_code == 2
    assert 'database URL "not a url" is not valid' in result.stderr


def test_cli_unreachable_broker_keeps_requests_pending(ready, monkeypatch):
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:1/0")
    result = invoke("batch", "submit", str(copy_example(ready)))

    assert result.exit_code == 1
    assert "broker redis://127.0.0.1:1/0 is unreachable" in result.stderr
    assert "contentgen batch resume 1" in result.stderr
    with db.session_scope() as session:
        states = set(session.scalars(select(GenerationRequest.status)))
    assert {state.value for state in states} == {"pending"}
    assert count_rows(GenerationRequest) == 24


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("chunk_size", "abc", "CONTENTGEN_CHUNK_SIZE='abc'"),
        ("schedule_lookback_hours", "100000", "CONTENTGEN_SCHEDULE_LOOKBACK_HOURS='100000'"),
        ("broker_transport_options", "notjson", "CONTENTGEN_BROKER_TRANSPORT_OPTIONS='notjson': not valid JSON"),
        ("broker_transport_options", "[1, 2]", "CONTENTGEN_BROKER_TRANSPORT_OPTIONS='[1, 2]': give a JSON object"),
        ("schedule_interval_seconds", "inf", "CONTENTGEN_SCHEDULE_INTERVAL_SECONDS='inf': Input should be a finite"),
        ("schedule_interval_seconds", "0.001", "CONTENTGEN_SCHEDULE_INTERVAL_SECONDS='0.001': Input should be greater"),
        ("queue", "", "CONTENTGEN_QUEUE='': a queue name must not be empty or contain white space"),
        ("schedule_queue", "a b", "CONTENTGEN_SCHEDULE_QUEUE='a b': a queue name must not be empty"),
    ],
    ids=["not-a-number", "lookback-too-long", "options-not-json", "options-not-object", "interval-infinite",
         "interval-tiny", "queue-empty", "queue-space"],
)  # fmt: skip
def test_cli_invalid_setting_exits_2(sqlite_settings, monkeypatch, setting, value, message):
    apply_settings(monkeypatch, **{setting: value})
    result = invoke("batch", "list")
    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_huge_id_is_usage_error(ready):
    result = runner.invoke(app, ["batch", "status", "99999999999999999999"])
    assert result.exit_code == 2


def test_cli_empty_idempotency_key_exits_2(ready):
    result = invoke("batch", "submit", str(copy_example(ready)), "--idempotency-key", " ")
    assert result.exit_code == 2
    assert "idempotency key" in result.stderr
    assert count_rows(Batch) == 0


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("k" * 201, "has 201 characters; use at most 200"),
        ("spring\x00launch", 'idempotency key "spring\\x00launch" contains a control character'),
    ],
    ids=["too-long", "nul"],
)
def test_cli_invalid_idempotency_key_exits_2(ready, key, message):
    result = invoke("batch", "submit", str(copy_example(ready)), "--idempotency-key", key)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert count_rows(Batch) == 0


def test_cli_import_several_files_brand_from_one(ready):
    csv_path = ready / "products.csv"
    shutil.copy(EXAMPLES / "products.csv", csv_path)
    result = invoke("campaigns", "import", str(copy_example(ready)), str(csv_path))
    assert result.exit_code == 0, result.stderr
    assert "Imported 1 brand and " in result.stdout
    assert "trailpeak-ridgeline-launch" in result.stdout
    assert "trailpeak-summit-24-daypack" in result.stdout


def test_cli_import_several_files_one_invalid_imports_nothing(ready):
    broken = ready / "broken.csv"
    broken.write_text("key,brand\nx,trailpeak\n", encoding="utf-8")
    result = invoke("campaigns", "import", str(copy_example(ready)), str(broken))
    assert result.exit_code == 2
    assert "broken.csv" in result.stderr
    assert count_rows(Brand) == 0


@pytest.mark.parametrize("text", ["campaigns: []\n", "x-base: &base {variants: 2}\n"], ids=["empty-list", "x-key-only"])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["submit", "dry-run"])
def test_cli_submit_file_without_campaigns_exits_2(ready, text, dry_run):
    path = ready / "empty.yaml"
    path.write_text(text)
    result = invoke("batch", "submit", str(path), *dry_run)
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f'Error: campaign file "{path}" defines no campaigns, so there is nothing to submit; add at least '
        'one campaign under "campaigns"'
    )
    assert count_rows(Batch) == 0


def test_cli_submit_brand_files_without_campaigns_exits_2(ready):
    first = write_brand_file(ready, "first.yaml")
    second = write_brand_file(ready, "second.yaml")
    result = invoke("batch", "submit", str(first), str(second))
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f'Error: the campaign files "{first}", "{second}" define no campaigns, so there is nothing to submit; '
        'add at least one campaign under "campaigns" in one of them'
    )
    assert count_rows(Brand) == 0


@pytest.mark.parametrize("command", [["campaigns", "import"], ["batch", "submit"]], ids=["import", "submit"])
def test_cli_file_defining_nothing_exits_2(ready, command):
    empty = ready / "empty.yaml"
    empty.write_text("brands: []\ncampaigns: []\n")
    result = invoke(*command, str(copy_example(ready)), str(empty))
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f'Error: campaign file "{empty}" defines no brands and no campaigns; add them under "brands" and '
        '"campaigns"'
    )
    assert count_rows(Brand) == 0
    assert count_rows(Batch) == 0


@pytest.mark.parametrize("text", ["{}\n", "brands: []\n", "x-base: &base {variants: 2}\n"],
                         ids=["empty-mapping", "empty-brands", "x-key-only"])  # fmt: skip
def test_cli_import_file_defining_nothing_exits_2(ready, text):
    path = ready / "empty.yaml"
    path.write_text(text)
    result = invoke("campaigns", "import", str(path))
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f'Error: campaign file "{path}" defines no brands and no campaigns; add them under "brands" and '
        '"campaigns"'
    )
    assert "Imported" not in result.stdout


def test_cli_import_files_defining_nothing_exits_2(ready):
    first, second = ready / "first.yaml", ready / "second.yaml"
    first.write_text("campaigns: []\n")
    second.write_text("x-base: &base {variants: 2}\n")
    result = invoke("campaigns", "import", str(first), str(second))
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f'Error: the campaign files "{first}", "{second}" define no brands and no campaigns; add them under '
        '"brands" and "campaigns"'
    )
    assert "Imported" not in result.stdout


def test_cli_recursive_alias_exits_2(ready):
    path = ready / "loop.yaml"
    path.write_text("brands: &x [*x]\n")
    result = invoke("campaigns", "import", str(path))
    assert result.exit_code == 2
    assert "would contain itself" in " ".join(result.stderr.split())


def test_cli_before_upgrade_creates_no_file(sqlite_settings):
    result = invoke("batch", "list")
    assert result.exit_code == 1
    assert not (sqlite_settings / "contentgen.db").exists()


def test_cli_sqlite_folder_missing_exits_2(sqlite_settings, monkeypatch):
    apply_settings(monkeypatch, database_url=f"sqlite:///{sqlite_settings}/missing/x.db")
    result = invoke("db", "upgrade")
    assert result.exit_code == 2
    assert "does not exist; create it" in result.stderr


def test_cli_status_lists_failed_requests(ready, monkeypatch):
    apply_settings(monkeypatch, generator=ERRORING)
    invoke("batch", "submit", str(copy_example(ready)), "--wait")

    status = invoke("batch", "status", "1")
    payload = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert "Failed requests (24):" in status.stdout
    assert "simulated backend failure" in status.stdout
    assert len(payload["failures"]) == 20
    assert payload["failures"][0]["error"] == "simulated backend failure"


def test_cli_status_wait_without_broker_explains(ready):
    invoke("batch", "submit", str(copy_example(ready)))
    result = invoke("batch", "status", "1", "--wait")
    assert result.exit_code == 2
    assert "contentgen batch resume 1 --wait" in result.stderr


def test_cli_cancel_stops_pending_requests(ready):
    invoke("batch", "submit", str(copy_example(ready)))
    result = invoke("batch", "cancel", "1")
    resumed = invoke("batch", "resume", "1", "--wait")
    resumed_without_wait = invoke("batch", "resume", "1")
    waited = invoke("batch", "status", "1", "--wait")
    listed = invoke("batch", "list")
    status = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert result.exit_code == 0
    assert "Cancelled 24 pending requests" in result.stdout
    # The batch that resume --wait waited for is cancelled.
    assert (resumed.exit_code, resumed_without_wait.exit_code) == (4, 0)
    for run in (resumed, resumed_without_wait):
        assert "Batch 1 is cancelled and has no pending requests; nothing to run." in run.stdout
        assert "Its 24 cancelled requests cannot run again, because no command resumes" in run.stdout
        assert run.stdout.endswith(
            "submit the campaigns again as a new batch, which creates all of their requests from "
            "the campaigns as imported now: contentgen batch submit --campaign trailpeak-ridgeline-launch\n"
        )
    assert waited.exit_code == 4
    assert "Waiting for the workers" not in waited.stderr
    assert waited.stdout.startswith("Batch 1: cancelled (manual), 24 requests")
    assert "Its 24 cancelled requests cannot run again" in waited.stdout
    assert "contentgen batch submit --campaign trailpeak-ridgeline-launch\n" in waited.stdout
    assert re.search(r"│\s*1\s*│\s*cancelled\s*│.*│\s*24\s*│\s*0\s*│", listed.stdout)
    assert status["status"] == "cancelled"
    assert status["requests"]["cancelled"] == 24
    assert status["drafts"] == {"pending_review": 0, "flagged": 0, "approved": 0, "rejected": 0}


def test_cli_cancel_without_pending_requests(ready):
    path = str(copy_example(ready))
    invoke("batch", "submit", path, "--wait")
    invoke("batch", "submit", path)
    invoke("batch", "cancel", "2")

    completed = invoke("batch", "cancel", "1")
    cancelled_again = invoke("batch", "cancel", "2")

    assert completed.exit_code == 0
    assert completed.stdout == "Batch 1 is completed and has no pending requests; nothing to cancel.\n"
    assert cancelled_again.exit_code == 0
    assert cancelled_again.stdout == "Batch 2 is cancelled and has no pending requests; nothing to cancel.\n"


def test_cli_batch_list_empty_says_how_to_submit(ready):
    result = invoke("batch", "list")
    listed = invoke("batch", "list", "--json")

    assert result.exit_code == 0
    assert result.stdout == "No batches yet; submit one with: contentgen batch submit FILE\n"
    assert json.loads(listed.stdout) == []


def test_cli_retry_failed_after_cancel_names_submit(ready):
    invoke("batch", "submit", str(copy_example(ready)))
    invoke("batch", "cancel", "1")

    result = invoke("batch", "retry-failed", "1")
    resubmitted = invoke("batch", "submit", "--campaign", "trailpeak-ridgeline-launch")

    assert result.exit_code == 0
    assert result.stdout.startswith("Batch 1 has no failed requests; nothing to run. Its 24 cancelled requests")
    assert "contentgen batch submit --campaign trailpeak-ridgeline-launch\n" in result.stdout
    # The command it names works and makes a new batch of the same requests.
    assert resubmitted.exit_code == 0, resubmitted.output
    assert "Created batch 2 with 24 requests." in resubmitted.stdout


def test_cli_retry_failed_reruns_only_failed(ready, monkeypatch):
    path = copy_example(ready)
    apply_settings(monkeypatch, generator=ERRORING)
    invoke("batch", "submit", str(path), "--wait")
    apply_settings(monkeypatch, generator="null")

    result = invoke("batch", "retry-failed", "1", "--wait")
    status = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert result.exit_code == 0, result.output
    assert "24 failed requests of batch 1 will run again" in result.stdout
    assert status["status"] == "completed"
    assert status["requests"] == {"done": 24, "failed": 0, "pending": 0, "cancelled": 0}
    assert count_rows(GenerationRequest) == 24


def test_cli_retry_cancelled_batch_stays_cancelled(ready, monkeypatch):
    invoke("batch", "submit", str(copy_example(ready)))
    with db.session_scope() as session:
        first_half = select(GenerationRequest.id).order_by(GenerationRequest.id).limit(12).scalar_subquery()
        session.execute(
            GenerationRequest.__table__.update()
            .where(GenerationRequest.id.in_(first_half))
            .values(status="failed", error="simulated")
        )
    invoke("batch", "cancel", "1")
    apply_settings(monkeypatch, generator="null")

    result = invoke("batch", "retry-failed", "1", "--wait")
    status = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert result.exit_code == 0, result.output
    assert "12 failed requests of batch 1 will run again" in result.stdout
    assert status["requests"] == {"done": 12, "failed": 0, "pending": 0, "cancelled": 12}
    assert status["status"] == "cancelled"


def test_cli_submit_wait_cancelled_exits_4(ready):
    path = copy_example(ready)
    invoke("batch", "submit", str(path), "--idempotency-key", "k1")
    invoke("batch", "cancel", "1")

    again = invoke("batch", "submit", str(path), "--idempotency-key", "k1", "--wait")
    without_wait = invoke("batch", "status", "1")

    assert again.exit_code == 4, again.output
    assert 'Idempotency key "k1" already made batch 1 (24 requests); nothing new was submitted. Its 24 cancelled' in again.stdout
    assert "Batch 1 cancelled: 0 drafts, 0 failed, 24 cancelled.\n" in again.stdout
    assert "See the drafts" not in again.stdout
    assert without_wait.exit_code == 0


def test_cli_retry_failed_names_pending_requests(ready, monkeypatch):
    apply_settings(monkeypatch, generator=ERRORING)
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    apply_settings(monkeypatch, generator="null")
    # Without a broker or --wait, the failed requests become pending and nothing runs them.
    invoke("batch", "retry-failed", "1")

    result = invoke("batch", "retry-failed", "1", "--wait")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Batch 1 has no failed requests, but 24 requests are pending; run them with: "
        "contentgen batch resume 1 --wait\n"
    )
    assert invoke("batch", "resume", "1", "--wait").exit_code == 0
    assert count_rows(GenerationRequest) == 24


def test_cli_retry_failed_keeps_done_requests(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    result = invoke("batch", "retry-failed", "1")
    assert result.stdout == "Batch 1 has no failed requests; nothing to run.\n"
    with db.session_scope() as session:
        from contentgen.models import Draft

        assert session.scalar(select(func.count()).select_from(Draft)) == 24


def test_cli_drafts_list_flagged_shows_reasons(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")

    listed = json.loads(invoke("drafts", "list", "--batch", "1", "--flagged", "--json").stdout)
    table = invoke("drafts", "list", "--batch", "1", "--flagged")

    assert len(listed) == 20
    assert all(draft["status"] == "flagged" for draft in listed)
    assert all(draft["check_failures"] for draft in listed)
    assert "failed: length: 41 of 30 Google Ads units" in table.stdout


def test_cli_drafts_list_sorts_by_score(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    listed = json.loads(invoke("drafts", "list", "-b", "1", "--sort", "score", "--json").stdout)
    scores = [draft["score"] for draft in listed]
    assert scores == sorted(scores, reverse=True)


def test_cli_drafts_list_flagged_contradicts_status(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    result = invoke("drafts", "list", "-b", "1", "--flagged", "--status", "approved")
    assert result.exit_code == 2
    assert "--flagged and --status approved" in result.stderr


def test_cli_drafts_show_prints_every_check(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    listed = json.loads(invoke("drafts", "list", "-b", "1", "--json").stdout)
    headline = next(draft for draft in listed if draft["channel"] == "google_ads_headline")

    shown = invoke("drafts", "show", str(headline["id"]))
    details = json.loads(invoke("drafts", "show", str(headline["id"]), "--json").stdout)

    assert "characters: 41 of 30 Google Ads units" in shown.stdout
    assert "hard limit: 30 Google Ads units (set by the platform)\n" in shown.stdout
    assert "FAILED   length" in shown.stdout
    assert "passed   banned_terms" in shown.stdout
    assert details["counting"] == {
        "length": 41, "limit": 30, "shown": None, "counting": "google_ads", "encoding": None,
        "source": "platform",
    }  # fmt: skip
    assert len(details["checks"]) >= 11


def test_cli_drafts_show_readable_values(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")

    shown = invoke("drafts", "show", "1")

    lines = shown.stdout.splitlines()
    fields = dict(line.split(": ", 1) for line in lines[: lines.index("checks:")])
    assert re.fullmatch(r"temperature=0.3, top_p=0.95, max_new_tokens=\d+, seed=\d+", fields["params"])
    assert "hard_limit" not in fields
    assert "limit_source" not in fields
    assert re.fullmatch(r"\d+ (Google Ads units|characters) \(set by the platform\)", fields["hard limit"])
    assert fields["edited"] == "no"
    # The null generator reports no token probabilities.
    assert fields["mean_logprob"] == "-"
    for value in fields.values():
        assert value not in ("None", "True", "False")
        assert not value.startswith("{")


def test_cli_drafts_show_lists_review_history(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    make_user("rita", "reviewer")
    make_user("otto", "reviewer")
    before = invoke("drafts", "show", "1")
    invoke("review", "approve", "1", "--user", "rita")
    # Square brackets would be rich markup if the note were printed as a plain string.
    invoke("review", "reject", "1", "--user", "otto", "--reason", "[bold]Off[/bold] brand")

    after = invoke("drafts", "show", "1")
    details = json.loads(invoke("drafts", "show", "1", "--json").stdout)

    assert "\nhistory: -\n" in before.stdout
    lines = after.stdout.splitlines()
    header = lines.index("history:")
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines[header:] if line.startswith("│")]
    assert [row[1:] for row in rows] == [
        ["rita", "approve", "pending_review → approved", ""],
        ["otto", "reject", "approved → rejected", "[bold]Off[/bold] brand"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in rows)
    assert lines.index("checks:") < header < lines.index("text:")
    assert [(event["actor"], event["action"], event["note"]) for event in details["history"]] == [
        ("rita", "approve", None), ("otto", "reject", "[bold]Off[/bold] brand"),
    ]  # fmt: skip


def test_cli_batch_status_shows_pass_rate(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    table = invoke("batch", "status", "1")
    status = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert "Checks: 4 of 24 drafts passed (17%)" in table.stdout
    assert "40 regenerations" in table.stdout
    assert status["checks"]["pass_rate"] == round(4 / 24, 4)
    assert status["checks"]["failures"] == {"length": 8, "near_duplicate": 18}


def test_cli_batch_status_request_states_in_enum_order(ready, monkeypatch):
    # Done requests, then failed ones that retry-failed without --wait makes pending and
    # cancel then cancels. The database groups these states in an order of its own.
    apply_settings(monkeypatch, generator=FAILING_SEGMENT, max_attempts="1")
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    invoke("batch", "retry-failed", "1")
    invoke("batch", "cancel", "1")

    table = invoke("batch", "status", "1")
    status = json.loads(invoke("batch", "status", "1", "--json").stdout)

    rows = [line.split("│")[1:-1] for line in table.stdout.splitlines() if line.startswith("│")]
    assert [row[0].strip() for row in rows] == ["pending", "done", "failed", "cancelled"]
    assert list(status["requests"]) == ["pending", "done", "failed", "cancelled"]
    assert status["requests"]["done"] > 0
    assert status["requests"]["cancelled"] > 0


def test_cli_submit_wait_all_failed_exits_3(ready, monkeypatch):
    apply_settings(monkeypatch, generator=ERRORING)
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait")

    assert result.exit_code == 3, result.output
    assert "Batch 1 completed: 0 drafts, 24 failed." in result.stdout


@pytest.fixture
def empty_root_logger(monkeypatch):
    """Return a function that removes the root logger's handlers, as in a new process, so
    that the command line adds its own. Call it in the test body, because pytest adds its
    log capture handler after the fixtures have run."""
    level = logging.root.level
    yield lambda: monkeypatch.setattr(logging.root, "handlers", [])
    logging.root.setLevel(level)


def test_cli_inline_errors_log_one_line_each(ready, monkeypatch, empty_root_logger):
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    apply_settings(monkeypatch, generator=FAILING_SEGMENT, max_attempts="2")
    empty_root_logger()

    result = invoke("batch", "submit", str(copy_example(ready)), "--wait")

    assert result.exit_code == 3, result.output
    assert "Batch 1 completed: 12 drafts, 12 failed." in result.stdout
    error = "RuntimeError: backend cannot run this prompt"
    log_lines = [line for line in result.stderr.splitlines() if " contentgen.chunks: " in line]
    # The 12 requests of segment "long-distance-hikers" fail twice each, in 3 chunks.
    assert len(log_lines) == 3 + 12 * 2
    assert sum(f"failed with {error}; running its requests one by one" in line for line in log_lines) == 3
    assert sum(f"on attempt 1 of 2 with {error}; trying again in 0 s" in line for line in log_lines) == 12
    assert sum(f"on attempt 2 of 2 with {error}; no attempts are left" in line for line in log_lines) == 12
    assert "Traceback" not in result.stderr
    assert "KeyError" not in result.stderr


def test_cli_verbose_logs_tracebacks(ready, monkeypatch, empty_root_logger):
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    apply_settings(monkeypatch, generator=FAILING_SEGMENT, max_attempts="2")
    empty_root_logger()

    result = invoke("--verbose", "batch", "submit", str(copy_example(ready)), "--wait")

    assert result.exit_code == 3, result.output
    assert "INFO contentgen.chunks: chunk of " in result.stderr
    assert "Traceback (most recent call last):" in result.stderr
    assert "KeyError: 'stop_sequences'" in result.stderr


def test_cli_submit_wait_json_failed_exits_3(ready, monkeypatch):
    apply_settings(monkeypatch, generator=ERRORING)
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait", "--json")

    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["requests"]["failed"] == 24


def test_cli_status_and_resume_wait_failed_exit_3(ready, monkeypatch):
    invoke("batch", "submit", str(copy_example(ready)))
    apply_settings(monkeypatch, generator=ERRORING)

    resumed = invoke("batch", "resume", "1", "--wait")
    status = invoke("batch", "status", "1")
    status_wait = invoke("batch", "status", "1", "--wait")
    retried = invoke("batch", "retry-failed", "1", "--wait")

    assert resumed.exit_code == 3, resumed.output
    assert status.exit_code == 0, status.output
    assert status_wait.exit_code == 3, status_wait.output
    assert retried.exit_code == 3, retried.output


def test_cli_submit_wait_without_failures_exits_0(ready):
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait")
    assert result.exit_code == 0, result.output


def test_cli_export_output_unwritable_exits_2(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    missing = ready / "missing" / "x.csv"

    no_folder = invoke("export", "--batch", "1", "--format", "csv", "--output", str(missing))
    folder = invoke("export", "--batch", "1", "--format", "csv", "--output", str(ready))

    assert no_folder.exit_code == 2
    assert f'--output "{missing}": the folder "{missing.parent}" does not exist' in no_folder.stderr
    assert folder.exit_code == 2
    assert f'--output "{ready}" is a folder; pass the path of a file' in folder.stderr
    assert not missing.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only folder")
def test_cli_export_output_without_permission_exits_2(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    locked = ready / "locked"
    locked.mkdir(mode=0o500)

    result = invoke("export", "--batch", "1", "--output", str(locked / "x.csv"))

    assert result.exit_code == 2
    assert "cannot be written: Permission denied" in result.stderr


@pytest.mark.parametrize("url", ["notaurl", ""], ids=["word", "empty"])
def test_cli_unparsable_database_url_exits_2(sqlite_settings, monkeypatch, url):
    apply_settings(monkeypatch, database_url=url)
    result = invoke("batch", "list")
    assert result.exit_code == 2
    assert f'database URL "{url}" is not valid' in result.stderr
    assert "set CONTENTGEN_DATABASE_URL to e.g. sqlite:///contentgen.db" in result.stderr


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_cli_serve_port_out_of_range_exits_2(ready, port):
    result = invoke("serve", "--port", port)
    assert result.exit_code == 2
    assert f"--port {port} is out of range; pass a port from 1 to 65535" in result.stderr


def test_cli_serve_port_in_use_exits_1(ready):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("serve", "--host", "127.0.0.1", "--port", str(port))

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_cli_resume_unknown_batch_without_broker(ready):
    result = invoke("batch", "resume", "999")
    assert result.exit_code == 2
    assert "batch 999 not found" in result.stderr
    assert "broker" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/", '"http" is not a broker transport'),
        ("127.0.0.1:6379", "has no scheme"),
        ("redis://127.0.0.1:port/0", "broker URL is not valid"),
    ],
    ids=["http", "no-scheme", "bad-port"],
)
def test_cli_unusable_broker_url_writes_nothing(ready, monkeypatch, url, message):
    apply_settings(monkeypatch, broker_url=url)
    result = invoke("batch", "submit", str(copy_example(ready)))

    assert result.exit_code == 2
    assert "CONTENTGEN_BROKER_URL" in result.stderr
    assert message in result.stderr
    apply_settings(monkeypatch, broker_url=None)
    assert count_rows(Batch) == 0


def test_cli_broker_url_error_masks_password(ready, monkeypatch):
    apply_settings(monkeypatch, broker_url="http://user:hunter2@127.0.0.1:1/")
    result = invoke("batch", "list")
    assert result.exit_code == 2
    assert "hunter2" not in result.stderr


def test_cli_status_wait_prints_progress_lines(ready, monkeypatch):
    invoke("batch", "submit", str(copy_example(ready)))
    # A broker URL that nothing listens on: status --wait only reads the database.
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(cli_progress, "PROGRESS_LINE_SECONDS", 0.3)

    result = invoke("batch", "status", "1", "--wait", "--timeout", "1")

    assert result.exit_code == 1
    assert result.stderr.startswith("Waiting for the workers to finish batch 1 (0 of 24 requests")
    assert "Press Ctrl+C to stop waiting" in result.stderr
    assert re.search(r"^Batch 1: 0 of 24 requests finished, 0 failed, after \d s\.$", result.stderr, re.M)
    assert "still has 24 pending requests after 1 s" in result.stderr


def test_cli_batch_list_not_cut_when_piped(ready):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    result = invoke("batch", "list")

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "completed" in result.stdout
    assert "requests" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "completed" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("model", "/nonexistent/model", 'model folder "/nonexistent/model" not found'),
        ("generator", "nomodule:factory", 'generator "nomodule:factory" cannot be imported'),
        ("generator", "tests.integration.faulty_generators:broken",
         "loading the generator failed (TypeError: unsupported option 'temperatur'); check"),
    ],
    ids=["model", "generator", "factory-raises"],
)
def test_cli_unloadable_model_creates_no_batch(ready, monkeypatch, setting, value, message):
    if setting == "model":
        apply_settings(monkeypatch, generator="transformers")
    apply_settings(monkeypatch, **{setting: value})
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait")
    assert result.exit_code == 1
    assert message in result.stderr
    assert count_rows(Batch) == 0


def test_cli_inline_timeout_stops_between_chunks(ready, monkeypatch):
    apply_settings(monkeypatch, chunk_size="1", max_regenerations="0", generator=SLOW)
    result = invoke("batch", "submit", str(copy_example(ready)), "--wait", "--timeout", "1")
    progress = json.loads(invoke("batch", "status", "1", "--json").stdout)

    assert result.exit_code == 1
    assert "timed out after 1 s with" in result.stderr
    assert "contentgen batch resume 1 --wait" in result.stderr
    assert 0 < progress["requests"]["done"] < 24
    assert progress["requests"]["pending"] == 24 - progress["requests"]["done"]


def test_cli_db_unknown_revision_is_invalid(sqlite_settings):
    result = invoke("db", "upgrade", "nonsense")
    assert result.exit_code == 2
    assert 'revision "nonsense" is not known; use head, base or one of: 0001, 0002' in result.output
    assert not (sqlite_settings / "contentgen.db").exists() or count_tables() == 0

    invoke("db", "upgrade")
    result = invoke("db", "downgrade", "0000")
    assert result.exit_code == 2
    assert 'revision "0000" is not known' in result.output
    assert "--yes" not in result.output


def test_cli_db_upgrade_says_what_it_did(sqlite_settings):
    created = invoke("db", "upgrade", "0008")
    migrated = invoke("db", "upgrade")
    again = invoke("db", "upgrade")

    head = db.head_revision()
    assert created.stdout.startswith("Created the tables of database sqlite:///")
    assert created.stdout.endswith(" at revision 0008.\n")
    assert migrated.stdout.endswith(f" from revision 0008 to {head}.\n")
    assert again.stdout.endswith(f" is already at revision {head}; nothing to do.\n")


def test_cli_db_downgrade_says_what_it_dropped(sqlite_settings):
    invoke("db", "upgrade")
    head = db.head_revision()

    down = invoke("db", "downgrade", "0008", "--yes")
    again = invoke("db", "downgrade", "0008")
    base = invoke("db", "downgrade", "base", "--yes")

    assert down.exit_code == 0, down.output
    assert f"This migrates database sqlite:///{sqlite_settings / 'contentgen.db'} down from revision {head} to 0008" in down.stdout
    assert "Stop every Celery worker, celery beat and contentgen serve process" in down.stdout
    assert down.stdout.endswith(
        f" down from revision {head} to 0008; the columns and tables added after 0008 are dropped "
        "with their data. Run contentgen db upgrade to add them back, empty.\n"
    )
    # Nothing to drop: no confirmation is needed, so no --yes either.
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(" is already at revision 0008; nothing to do.\n")
    assert "This drops every table of database sqlite:///" in base.stdout
    assert "Dropped every table of database sqlite:///" in base.stdout


def test_cli_db_downgrade_without_terminal_needs_yes(sqlite_settings):
    invoke("db", "upgrade")
    head = db.head_revision()

    result = invoke("db", "downgrade", "base")

    assert result.exit_code == 2
    assert f"migrating database sqlite:///{sqlite_settings / 'contentgen.db'} down from revision {head} to base drops data" in result.stderr
    assert "run: contentgen db downgrade base --yes" in result.stderr
    assert db.current_revision(db.get_engine()) == head
    assert count_tables() > 1


@pytest.mark.parametrize(("answer", "exit_code", "revision"), [("n\n", 1, "head"), ("y\n", 0, "0008")], ids=["no", "yes"])
def test_cli_db_downgrade_asks_on_terminal(sqlite_settings, monkeypatch, answer, exit_code, revision):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    invoke("db", "upgrade")
    expected = db.head_revision() if revision == "head" else revision

    result = runner.invoke(app, ["db", "downgrade", "0008"], input=answer, catch_exceptions=False)

    assert result.exit_code == exit_code, result.output
    assert "Stop every Celery worker, celery beat and contentgen serve process" in result.stdout
    assert "Migrate the database down? [y/N]" in result.stdout
    assert db.current_revision(db.get_engine()) == expected


def test_cli_db_downgrade_declined_says_nothing_changed(sqlite_settings, monkeypatch):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    invoke("db", "upgrade")

    result = runner.invoke(app, ["db", "downgrade", "base"], input="\n", catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stdout.endswith("Nothing was changed.\n")
    assert count_tables() > 1


def test_cli_db_downgrade_relative_revision(sqlite_settings):
    invoke("db", "upgrade", "0009")

    down = invoke("db", "downgrade", "--yes", "--", "-1")
    outside = invoke("db", "downgrade", "0001-5", "--yes")
    unknown = invoke("db", "downgrade", "nope-1", "--yes")

    assert down.exit_code == 0, down.output
    assert "down from revision 0009 to 0008" in down.stdout
    assert outside.exit_code == 2
    assert 'revision "0001-5" lies outside the migrations (0001 to ' in outside.stderr
    assert unknown.exit_code == 2
    assert 'revision "nope-1" is not known' in unknown.stderr
    assert db.current_revision(db.get_engine()) == "0008"


def test_cli_database_from_newer_version_is_named(sqlite_settings):
    invoke("db", "upgrade")
    with db.get_engine().begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")

    upgraded = invoke("db", "upgrade")
    listed = invoke("batch", "list")

    for result in (upgraded, listed):
        assert result.exit_code == 1
        assert "is at schema revision 0099, which this version of contentgen does not have" in result.stderr
        assert "a newer contentgen probably migrated it" in result.stderr
        assert "Traceback" not in result.output


def test_cli_tables_without_revision_are_named(sqlite_settings):
    invoke("db", "upgrade")
    with db.get_engine().begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")

    for result in (invoke("db", "upgrade"), invoke("db", "downgrade", "base", "--yes")):
        assert result.exit_code == 1
        assert "has contentgen's tables but no schema revision (no alembic_version row)" in result.stderr
    assert count_tables() > 1


@pytest.mark.parametrize("target", ["head", "0011", "0010"])
def test_cli_db_downgrade_newer_target(sqlite_settings, target):
    invoke("db", "upgrade", "0009")

    result = invoke("db", "downgrade", target, "--yes")

    assert result.exit_code == 2
    assert f'revision "{target}" is not older than the database\'s revision 0009' in result.stderr
    assert "Traceback" not in result.output


def count_tables() -> int:
    with db.get_engine().connect() as connection:
        return len(sa_inspect(connection).get_table_names())


def test_cli_file_that_is_not_sqlite(sqlite_settings):
    (sqlite_settings / "contentgen.db").write_text("garbage")

    listed = invoke("batch", "list")
    upgraded = invoke("db", "upgrade")

    for result in (listed, upgraded):
        assert result.exit_code == 1
        assert "contentgen.db is unreachable or failed: file is not a database" in result.output
        assert "Traceback" not in result.output


def test_cli_missing_database_names_full_path(sqlite_settings):
    result = invoke("batch", "list")
    assert result.exit_code == 1
    assert f'database file "{sqlite_settings / "contentgen.db"}" does not exist' in result.output
    assert "Or set CONTENTGEN_DATABASE_URL" in result.output


def test_cli_version_prints_package_version():
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.stdout == f"contentgen {contentgen.__version__}\n"


def test_cli_short_v_stays_verbose():
    help_lines = invoke("--help").stdout.splitlines()

    verbose_line = next(line for line in help_lines if "--verbose" in line)
    version_line = next(line for line in help_lines if "--version" in line)
    assert "-v " in verbose_line
    assert "-v " not in version_line


def test_cli_help_shows_no_value_after_flags():
    result = invoke("batch", "submit", "--help")
    wait_line = next(line for line in result.stdout.splitlines() if "--wait" in line)
    assert "<bool>" not in result.stdout
    assert "BOOLEAN" not in wait_line


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (("batch", "status"), "batch status [OPTIONS] BATCH_ID"),
        (("drafts", "show"), "drafts show [OPTIONS] DRAFT_ID"),
        (("review", "approve"), "review approve [OPTIONS] DRAFT_ID..."),
        (("batch", "submit"), "batch submit [OPTIONS] [FILE]..."),
        (("db", "downgrade"), "db downgrade [OPTIONS] REVISION"),
        (("schedules", "forget"), "schedules forget [OPTIONS] CAMPAIGN_KEY"),
        (("users", "set-role"), "users set-role [OPTIONS] USERNAME ROLE"),
    ],
)
def test_cli_usage_names_arguments_in_capitals(command, usage):
    result = invoke(*command, "--help")
    assert usage in result.stdout
    assert "{" not in result.stdout


def test_cli_id_range_has_no_upper_bound():
    help_text = invoke("drafts", "list", "--help").stdout
    result = runner.invoke(app, ["drafts", "show", "0"], env={"COLUMNS": "200"})

    assert "[x>=1]" in help_text
    assert "9223372036854775807" not in help_text
    assert result.exit_code == 2
    assert "drafts show [OPTIONS] DRAFT_ID\n" in result.stderr
    assert "Invalid value for 'DRAFT_ID': 0 is not in the range x>=1." in result.stderr


def test_cli_huge_draft_id_not_found(ready):
    result = invoke("drafts", "show", "99999999999999999999")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: draft 99999999999999999999 not found")


def test_cli_forget_help_keeps_sentences_whole():
    result = runner.invoke(app, ["schedules", "forget", "--help"], env={"COLUMNS": "200"})
    assert "A forgotten slot's batch stays as it is." in result.stdout


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", {"pending_review", "flagged"}),
        ("all", {"pending_review", "flagged", "approved"}),
        ("approved", {"approved"}),
    ],
)
def test_cli_drafts_list_takes_queue_statuses(ready, status, expected):
    invoke("batch", "submit", str(copy_example(ready)), "--wait")
    runner.invoke(app, ["users", "create", "rita", "--role", "reviewer", "--password-stdin"],
                  input="correct horse battery\n")  # fmt: skip
    listed = json.loads(invoke("drafts", "list", "-b", "1", "--json").stdout)
    approved = next(item["id"] for item in listed if item["status"] == "pending_review")
    assert invoke("review", "approve", str(approved), "--user", "rita").exit_code == 0

    result = invoke("drafts", "list", "-b", "1", "--status", status, "--json")

    assert result.exit_code == 0, result.output
    assert {item["status"] for item in json.loads(result.stdout)} == expected
