"""Submitting on PostgreSQL: a dry run rolls back every write and sends no message."""

from __future__ import annotations

import json

import pytest
import redis
import yaml
from typer.testing import CliRunner

from contentgen.cli import app
from contentgen.dispatch import submit

from ..conftest import all_rows
from ..seeding import write_campaign_file
from .conftest import REDIS_URL

pytestmark = pytest.mark.integration


def test_dry_run_postgres_writes_and_sends_nothing(service_env, tmp_path):
    submit([write_campaign_file(tmp_path, key="launch")], idempotency_key="first")
    path = write_campaign_file(tmp_path, key="launch")
    data = yaml.safe_load(path.read_text())
    del data["brands"][0]["voice"]
    data["campaigns"].append({**data["campaigns"][0], "key": "socks", "variants": 1})
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    before = all_rows()

    result = CliRunner().invoke(app, ["batch", "submit", str(path), "--dry-run", "--json"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["written"], plan["request_count"]) == (False, 12 + 6)
    assert [warning["key"] for warning in plan["warnings"]] == ["trailpeak"]
    assert all_rows() == before
    assert len(before["generation_requests"]) == 12
    assert redis.Redis.from_url(REDIS_URL).llen(service_env["CONTENTGEN_QUEUE"]) == 0
