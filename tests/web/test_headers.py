"""Security headers on pages, API responses and errors."""

import re

import pytest

from contentgen.web._body_limit import MAX_REQUEST_BYTES
from contentgen.web._headers import SECURITY_HEADERS


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/login", 200),
        ("get", "/api/v1/openapi.json", 200),
        ("get", "/no-such-page", 404),
        ("get", "/api/v1/drafts", 401),
        ("post", "/api/v1/batches", 413),
    ],
    ids=["page", "api", "page-404", "api-401", "body-limit-413"],
)
def test_headers_forbid_framing(client_for, method, path, status):
    client, _ = client_for(None)
    body = {"content": b"x" * (MAX_REQUEST_BYTES + 1)} if method == "post" else {}
    response = getattr(client, method)(path, **body)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/login", 200), ("/api/v1/health", 200), ("/api/v1/drafts", 401), ("/no-such-page", 404)],
    ids=["page", "health", "api-401", "page-404"],
)
def test_head_answers_like_get_without_body(client_for, path, status):
    client, _ = client_for(None)
    head = client.head(path)
    get = client.get(path)

    assert head.status_code == status
    assert get.status_code == status
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["x-frame-options"] == "DENY"


def test_head_on_post_only_route_is_405(client_for):
    client, _ = client_for(None)
    assert client.head("/logout").status_code == 405


def test_api_explorer_loads_nothing_from_other_hosts(client_for):
    client, _ = client_for(None)
    page = client.get("/api/v1/docs").text

    assets = re.findall(r"(?:src|href)=['\"]([^'\"]+)", page)

    assert len(assets) >= 3
    assert not [url for url in re.findall(r"https?://[^'\" ]+", page)]
    for url in assets:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "path", ["/login", "/api/v1/openapi.json", "/api/v1/drafts", "/no-such-page"],
    ids=["page", "api", "api-401", "page-404"],
)  # fmt: skip
def test_private_responses_are_not_stored(client_for, path):
    client, _ = client_for(None)
    assert client.get(path).headers["cache-control"] == "no-store"


def test_static_files_may_be_cached(client_for):
    client, _ = client_for(None)
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert "cache-control" not in response.headers


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/login", "GET, HEAD, POST"), ("/logout", "POST"), ("/api/v1/batches", "GET, HEAD, POST"),
     ("/static/app.css", "GET, HEAD")],
    ids=["page-get-and-post", "page-post", "api", "static"],
)
def test_405_names_every_allowed_method(client_for, path, allowed):
    client, _ = client_for(None)
    response = client.put(path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/static/nope.css", 404), ("post", "/static/app.css", 405),
     ("get", "/api/v1/docs/static/nope.js", 404)],
    ids=["missing-file", "wrong-method", "missing-docs-file"],
)  # fmt: skip
def test_static_path_errors_are_not_stored(client_for, method, path, status):
    client, _ = client_for("reviewer")
    response = client.request(method.upper(), path)
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"


def test_static_404_page_is_private(client_for):
    client, token = client_for("reviewer")
    response = client.get("/static/nope.css")
    # The error page shows who is logged in and carries the session's CSRF token.
    assert "rita" in response.text
    assert token in response.text
    assert response.headers["cache-control"] == "no-store"
