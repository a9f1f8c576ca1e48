"""Every route x every role: the status code, and no change in the database when denied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from contentgen import db
from contentgen.drafts import DraftFilter, matching_versions, selection_digest
from contentgen.web import admin_pages, api, pages, review_pages

from ..seeding import PASSWORD, write_campaign_file
from .conftest import snapshot

ANONYMOUS = None
ALL_ROLES = (ANONYMOUS, "marketer", "reviewer", "admin")
# Which roles each permission admits; "login" is any logged-in user, "public" anyone.
ADMITTED = {
    "public": set(ALL_ROLES),
    "login": {"marketer", "reviewer", "admin"},
    "view": {"marketer", "reviewer", "admin"},
    "export": {"marketer", "reviewer", "admin"},
    "submit": {"marketer", "admin"},
    "review": {"reviewer", "admin"},
    "admin": {"admin"},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: str
    allowed_status: int
    form: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    upload: bool = False

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def responds_json(self) -> bool:
        """The API and the pages' JSON routes, which return 401 to a request without a login."""
        return self.api or self.path.replace("{batch}", "{batch_id}") in pages.JSON_ROUTE_PATHS

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


# Stands for the digest of the open drafts, which _send computes.
OPEN_DIGEST = "{open_digest}"

ROUTES = [
    # pages
    Route("GET", "/login", "public", 200),
    Route("GET", "/static/app.js", "public", 200),
    Route("GET", "/", "view", 303),
    Route("POST", "/logout", "login", 303, form={}),
    Route("GET", "/settings", "login", 200),
    Route("POST", "/settings", "login", 303, form={"locale": "zh-CN"}),
    Route("POST", "/settings/password", "login", 303,
          form={"current_password": PASSWORD, "new_password": "a new passphrase", "new_password_again": "a new passphrase"}),
    Route("GET", "/batches", "view", 200),
    Route("GET", "/batches/progress", "view", 200),
    Route("GET", "/batches/new", "submit", 200),
    Route("POST", "/batches", "submit", 303, form={"idempotency_key": "k1"}, upload=True),
    Route("GET", "/batches/{batch}", "view", 200),
    Route("GET", "/batches/{batch}/progress", "view", 200),
    Route("POST", "/batches/{batch}/retry-failed", "submit", 303, form={}),
    Route("POST", "/batches/{batch}/cancel", "submit", 303, form={}),
    Route("GET", "/batches/{batch}/export", "export", 200),
    Route("GET", "/queue", "view", 200),
    Route("POST", "/queue/bulk", "review", 303,
          form={"op": "approve:filter", "expected_count": "12", "expected_digest": OPEN_DIGEST}),
    Route("GET", "/drafts/{draft}", "view", 200),
    # A GET on a form's address, as a reload after a failed form sends it, opens the draft.
    Route("GET", "/drafts/{draft}/approve", "view", 303),
    Route("GET", "/drafts/{draft}/reject", "view", 303),
    Route("GET", "/drafts/{draft}/edit", "view", 303),
    Route("POST", "/drafts/{draft}/approve", "review", 303, form={}),
    Route("POST", "/drafts/{draft}/reject", "review", 303, form={"reason": "Off brand"}),
    Route("POST", "/drafts/{draft}/edit", "review", 303, form={"text": "Dry feet"}),
    Route("GET", "/users", "admin", 200),
    Route("POST", "/users", "admin", 303,
          form={"username": "newbie", "password": "long enough", "role": "marketer"}),
    Route("POST", "/users/mia/role", "admin", 303, form={"role": "reviewer"}),
    Route("POST", "/users/mia/active", "admin", 303, form={"active": "0"}),
    Route("GET", "/templates", "admin", 200),
    Route("POST", "/templates/sync", "admin", 303, form={}),
    # API
    Route("GET", "/api/v1/openapi.json", "public", 200),
    Route("GET", "/api/v1/docs", "public", 200),
    Route("GET", "/api/v1/health", "public", 200),
    Route("GET", "/api/v1/me", "login", 200),
    Route("PATCH", "/api/v1/me", "login", 200, json={"locale": "zh-CN"}),
    Route("GET", "/api/v1/batches", "view", 200),
    Route("POST", "/api/v1/batches", "submit", 201, form={}, upload=True),
    Route("POST", "/api/v1/batches/{batch}/retry-failed", "submit", 200),
    Route("POST", "/api/v1/batches/{batch}/cancel", "submit", 200),
    Route("GET", "/api/v1/batches/{batch}", "view", 200),
    Route("GET", "/api/v1/batches/{batch}/export", "export", 200),
    Route("GET", "/api/v1/drafts", "view", 200),
    Route("GET", "/api/v1/drafts/{draft}", "view", 200),
    Route("POST", "/api/v1/drafts/{draft}/approve", "review", 200, json={}),
    Route("POST", "/api/v1/drafts/{draft}/reject", "review", 200, json={"reason": "Off brand"}),
    Route("POST", "/api/v1/drafts/{draft}/edit", "review", 200, json={"text": "Dry feet"}),
    Route("POST", "/api/v1/drafts/bulk", "review", 200,
          json={"action": "approve", "filter": {"status": "open"}, "expected_count": 12}),
    Route("GET", "/api/v1/users", "admin", 200),
    Route("POST", "/api/v1/users", "admin", 201,
          json={"username": "newbie", "password": "long enough", "role": "marketer"}),
    Route("PATCH", "/api/v1/users/{user}", "admin", 200, json={"role": "reviewer"}),
    Route("GET", "/api/v1/users/{user}/tokens", "admin", 200),
    # Token 1 is mia's, the first one the seeding made.
    Route("DELETE", "/api/v1/users/{user}/tokens/1", "admin", 200),
    Route("GET", "/api/v1/templates", "admin", 200),
    Route("POST", "/api/v1/templates/sync", "admin", 200),
]  # fmt: skip

CASES = [(route, role) for route in ROUTES for role in ALL_ROLES]


def _expected(route: Route, role: str | None) -> int:
    if role in ADMITTED[route.needs]:
        return route.allowed_status
    if role is None:
        return 401 if route.responds_json else 303
    return 403


def _open_digest() -> str:
    with db.session_scope() as session:
        return selection_digest(matching_versions(session, DraftFilter()))


def _send(client, route: Route, seeded, csrf: str, token: str | None, tmp_path):
    path = route.path.format(batch=seeded.batch_id, draft=seeded.draft_ids[0], user="mia")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if route.form is not None:
        form = {name: _open_digest() if value == OPEN_DIGEST else value for name, value in route.form.items()}
        kwargs["data"] = {**form, "csrf_token": csrf} if not route.api else form
    if route.json is not None:
        kwargs["json"] = route.json
    if route.upload:
        content = write_campaign_file(tmp_path, key="uploaded").read_bytes()
        kwargs["files"] = {"file": ("uploaded.yaml", content, "application/x-yaml")}
    return client.request(route.method, path, **kwargs)


@pytest.mark.parametrize(
    ("route", "role"), CASES, ids=[f"{route.id} as {role or 'anonymous'}" for route, role in CASES]
)
def test_routes_status_by_role(route, role, seeded, client_for, tmp_path):
    client, csrf = client_for(role if not route.api else None)
    token = seeded.tokens[role] if route.api and role else None
    before = snapshot()

    response = _send(client, route, seeded, csrf, token, tmp_path)

    expected = _expected(route, role)
    assert response.status_code == expected, response.text[:500]
    if expected == 303 and role is None and route.needs != "public":
        assert response.headers["location"].startswith("/login?next=")
    if expected in (401, 403, 303) and role not in ADMITTED[route.needs]:
        assert snapshot() == before


POSTED_PAGES = [route for route in ROUTES if route.method == "POST" and not route.api]


@pytest.mark.parametrize("route", POSTED_PAGES, ids=[route.id for route in POSTED_PAGES])
def test_routes_login_returns_to_page_not_post(route, seeded, client_for, tmp_path):
    anonymous, _ = client_for(None)
    admin, _ = client_for("admin")

    response = _send(anonymous, route, seeded, "", None, tmp_path)
    [after_login] = parse_qs(urlsplit(response.headers["location"]).query)["next"]

    assert response.status_code == 303
    assert admin.get(after_login, follow_redirects=False).status_code in (200, 303)


def test_routes_table_covers_every_route(app):
    table = {(route.method, route.path.replace("{batch}", "{batch_id}")
              .replace("{draft}", "{draft_id}").replace("/mia/", "/{username}/")
              .replace("{user}", "{username}").replace("/tokens/1", "/tokens/{token_id}"))
             for route in ROUTES}  # fmt: skip
    served = {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")}
    routers = [(pages.router, ""), (review_pages.router, ""), (admin_pages.router, ""), (api.router, "/api/v1")]
    for router, prefix in routers:
        for route in router.routes:
            served |= {(method, prefix + route.path) for method in route.methods}
    # The login form is tested with good and bad credentials in test_pages.py.
    served.discard(("POST", "/login"))
    assert served - table == set()
