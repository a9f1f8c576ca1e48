"""`contentgen serve` as a real server process: what depends on uvicorn's settings."""

import httpx

from ..seeding import make_user


def failed_logins(url: str, count: int, forwarded_for=None) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url) as client:
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        for number in range(count):
            headers = {"X-Forwarded-For": forwarded_for(number)} if forwarded_for else {}
            response = client.post("/login", headers=headers,
                                   data={"csrf_token": token, "username": "rita", "password": "wrong"})  # fmt: skip
            statuses.append(response.status_code)
    return statuses


def test_serve_ignores_forwarded_for_by_default(server):
    make_user("rita", "reviewer")

    # A client that names another address on every try is still one client.
    statuses = failed_logins(server.url, 11, forwarded_for=lambda number: f"10.0.0.{number}")

    assert statuses == [401] * 10 + [429]
    log = server.log.read_text()
    assert "failed login for user 'rita' from 127.0.0.1" in log
    assert "10.0.0." not in log
