"""Oversized and malformed requests, which get a 4xx with a message naming the value and
the fix and change nothing, and the size of the export warnings header."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from contentgen.export import Export
from contentgen.i18n import Message
from contentgen.web import api as api_routes
from contentgen.web._body_limit import MAX_REQUEST_BYTES

from ..seeding import write_campaign_file
from .conftest import snapshot
from .test_pages import alert_of

MIB = 1024 * 1024
TOO_LARGE = "the request is larger than 6 MiB; upload a campaign file of at most 5 MiB"


def post_chunked(app, path: str, headers: dict[str, str]) -> tuple[int, bytes, int]:
    """POST a multipart body whose file part never ends, in 1 MiB chunks without a
    Content-Length header, straight to the ASGI app.

    Returns:
        The response status, the response body and the number of chunks the app read.
    """
    part_header = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.yaml"\r\n\r\n'
    chunks_read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal chunks_read
        chunks_read += 1
        body = b"x" * MIB if chunks_read > 1 else part_header + b"x" * (MIB - len(part_header))
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"), (b"transfer-encoding", b"chunked"),
            (b"content-type", b"multipart/form-data; boundary=b"),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
    }  # fmt: skip
    # A thread of its own: a test that ran before may leave an event loop running in this one
    # (Playwright's sync API does), and asyncio.run refuses to start inside it.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, app(scope, receive, send)).result()
    status = next(message["status"] for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return status, body, chunks_read


def test_limit_chunked_body_stops_reading_past_limit(app, seeded):
    before = snapshot()
    status, body, chunks_read = post_chunked(
        app, "/api/v1/batches", {"Authorization": f"Bearer {seeded.tokens['marketer']}"}
    )
    assert status == 413
    assert json.loads(body)["detail"].startswith(TOO_LARGE)
    # 7 chunks of 1 MiB are the first to pass the 6 MiB limit.
    assert chunks_read == 7
    assert snapshot() == before


def test_limit_chunked_page_form_stops_reading_past_limit(app):
    status, body, chunks_read = post_chunked(app, "/batches", {})
    assert status == 413
    assert alert_of(body.decode()).startswith(TOO_LARGE)
    assert chunks_read == 7


def test_limit_page_form_over_limit_is_413_page(client_for):
    client, token = client_for("marketer")
    content = b"x" * (MAX_REQUEST_BYTES + 1)
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("big.yaml", content, "application/x-yaml")})  # fmt: skip
    assert response.status_code == 413
    assert alert_of(response.text).startswith(TOO_LARGE)


def test_limit_message_follows_accept_language(api):
    response = api(None).post("/api/v1/batches", content=b"x" * (MAX_REQUEST_BYTES + 1),
                              headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 413
    assert response.json()["detail"].startswith("请求大于 6 MiB")


def test_limit_file_under_limit_still_accepted(api, tmp_path):
    content = write_campaign_file(tmp_path, key="padded").read_bytes()
    # A comment line makes the file 5 MiB, the largest accepted upload.
    padded = content + b"#" * (5 * MIB - len(content) - 1) + b"\n"
    assert len(padded) == 5 * MIB
    response = api("marketer").post("/api/v1/batches", files={"file": ("padded.yaml", padded)})
    assert response.status_code == 201, response.text


def test_upload_text_field_is_422(api):
    before = snapshot()
    response = api("marketer").post("/api/v1/batches", files={"idempotency_key": (None, "k")},
                                    data={"file": "examples/products.csv"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "file: expected an uploaded file but got a text field"
    )
    assert response.json()["errors"] == [{
        "loc": ["body", "file"], "type": "value_error",
        "msg": response.json()["detail"].removeprefix("file: "),
    }]  # fmt: skip
    assert snapshot() == before


def test_page_upload_text_field_is_422(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches", files={"csrf_token": (None, token)},
                           data={"file": "examples/products.csv"})  # fmt: skip
    assert response.status_code == 422
    assert "expected an uploaded file but got a text field" in alert_of(response.text)


def test_upload_long_file_name_accepted(api, tmp_path):
    content = write_campaign_file(tmp_path, key="long-name").read_bytes()
    name = "n" * 300 + ".yaml"
    response = api("marketer").post("/api/v1/batches", files={"file": (name, content)})
    assert response.status_code == 201, response.text


def test_upload_invalid_file_names_short_upload_name(api):
    before = snapshot()
    name = "n" * 300 + ".yaml"
    response = api("marketer").post("/api/v1/batches", files={"file": (name, b"brands: [unclosed\n")})
    detail = response.json()["detail"]
    assert response.status_code == 422
    assert detail.startswith(f'campaign file "{"n" * 99}…", line 2')
    assert "upload.yaml" not in detail
    assert "/tmp" not in detail
    assert snapshot() == before


def test_upload_recursive_alias_is_422(api):
    before = snapshot()
    response = api("marketer").post("/api/v1/batches", files={"file": ("loop.yaml", b"brands: &x [*x]\n")})
    assert response.status_code == 422
    assert 'campaign file "loop.yaml", line 1, column 13: the alias "*x"' in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("k" * 201, 'idempotency key "' + "k" * 39 + '…" has 201 characters; use at most 200'),
        ("spring\x00launch", 'idempotency key "spring\\x00launch" contains a control character'),
        ("   ", 'idempotency key "   " is empty'),
        ("schedule:boots:2026-12-08T01:30:00Z", 'idempotency key "schedule:boots:2026-12-08T01:30:00Z" '
         'starts with "schedule:", which names the batches that schedules create'),
    ],
    ids=["too-long", "nul", "blank", "schedule-namespace"],
)
def test_upload_invalid_idempotency_key_is_422(api, client_for, tmp_path, key, message):
    content = write_campaign_file(tmp_path, key="keyed").read_bytes()
    before = snapshot()
    response = api("marketer").post("/api/v1/batches", files={"file": ("keyed.yaml", content)},
                                    data={"idempotency_key": key})  # fmt: skip
    client, token = client_for("marketer")
    page = client.post("/batches", data={"csrf_token": token, "idempotency_key": key},
                       files={"file": ("keyed.yaml", content, "application/x-yaml")})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    assert page.status_code == 422
    assert alert_of(page.text).startswith(message)
    assert snapshot() == before


def fake_export(warning_count: int):
    def export_batch(session, batch_id, format):
        warnings = [Message(f"warning {number}") for number in range(1, warning_count + 1)]
        return Export(b"[]", "application/json", "batch.json", 1, warnings)

    return export_batch


def test_export_warnings_header_capped(api, seeded, monkeypatch):
    monkeypatch.setattr(api_routes, "export_batch", fake_export(999))
    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export", params={"format": "json"})
    warnings = json.loads(response.headers["x-contentgen-warnings"])

    assert response.status_code == 200
    assert response.headers["x-contentgen-warning-count"] == "999"
    assert len(response.headers["x-contentgen-warnings"]) < 2000
    assert warnings[:20] == [f"warning {number}" for number in range(1, 21)]
    assert warnings[20] == (
        "979 more warnings are not listed here; to see them all, run: "
        f"contentgen export --batch {seeded.batch_id} --format json"
    )
    assert len(warnings) == 21


@pytest.mark.parametrize("count", [0, 1, 20], ids=["none", "one", "twenty"])
def test_export_few_warnings_all_listed(api, seeded, monkeypatch, count):
    monkeypatch.setattr(api_routes, "export_batch", fake_export(count))
    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export", params={"format": "json"})
    assert response.headers["x-contentgen-warning-count"] == str(count)
    listed = json.loads(response.headers.get("x-contentgen-warnings", "[]"))
    assert listed == [f"warning {number}" for number in range(1, count + 1)]


def test_limit_login_over_limit_names_no_upload(client_for):
    client, _ = client_for(None)
    response = client.post("/login", data={"username": "x" * (MAX_REQUEST_BYTES + 1)})
    assert response.status_code == 413
    assert alert_of(response.text) == "the request is larger than 6 MiB; send less text"

