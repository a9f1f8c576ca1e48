"""Security headers on pages, API responses and errors."""

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
