"""Fixtures for tests in real headless Chromium: Debian's /usr/bin/chromium driven by
Playwright, and `contentgen serve` running in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contentgen import db
from contentgen.templates import sync_templates

from ..conftest import apply_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SECRET_KEY = "browser-test-secret-key"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found; install Debian's Chromium with: apt-get install -y chromium, "
            'or leave the browser tests out with -m "not browser"'
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot_dir(request, tmp_path) -> Path:
    folder = request.config.getoption("--screenshot-dir")
    # Relative to where pytest was started: other fixtures change the working folder.
    path = request.config.invocation_params.dir / folder if folder else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def database_ready(tmp_path, monkeypatch):
    """An SQLite database at the latest schema with templates synced, for the server."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'contentgen.db'}"
    apply_settings(monkeypatch, database_url=url, broker_url=None, generator="null", secret_key=SECRET_KEY)
    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
    yield url
    db.reset_engine()


@pytest.fixture
def server(database_ready, tmp_path) -> Iterator[Server]:
    """`contentgen serve` in a subprocess; stopped after the test."""
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONTENTGEN_")}
    env.update(CONTENTGEN_DATABASE_URL=database_ready, CONTENTGEN_SECRET_KEY=SECRET_KEY,
               CONTENTGEN_GENERATOR="null", HF_HUB_OFFLINE="1")  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "contentgen", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"contentgen serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"contentgen serve did not answer within 60 s:\n{log.read_text()}")
