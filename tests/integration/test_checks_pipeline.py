"""Checks and regeneration with real parts: CLI submit -> Redis -> Celery worker -> model."""

import json

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from contentgen import db
from contentgen.channels import measure
from contentgen.models import Draft, DraftStatus
from contentgen.rules import Term, find_terms

from .test_pipeline import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.model]


def write_campaign(folder, brand: dict, channels: list[str], variants: int, generation: dict):
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain words.", **brand}],
        "campaigns": [
            {
                "key": "boot-launch",
                "brand": "trailpeak",
                "product": {
                    "name": "Waterproof Ridgeline Boot",
                    "description": "A waterproof mid-height hiking boot",
                    "features": ["Waterproof, breathable membrane", "Grippy outsole"],
                },
                "segments": [{"key": "weekend", "name": "Weekend hikers"}],
                "channels": channels,
                "variants": variants,
                "generation": generation,
            }
        ],
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def stored_drafts() -> list[Draft]:
    with db.session_scope() as session:
        drafts = session.scalars(
            select(Draft).options(selectinload(Draft.checks), selectinload(Draft.request))
        ).all()
        session.expunge_all()
    return list(drafts)


def submit_and_wait(env, worker, path) -> dict:
    result = run_cli(env, "batch", "submit", str(path), "--wait", "--json")
    assert result.returncode == 0, result.stderr + worker.output()
    return json.loads(result.stdout)


def test_banned_word_from_brief_ends_flagged(service_env, start_worker, tmp_path):
    worker = start_worker()
    path = write_campaign(
        tmp_path,
        brand={"banned_terms": ["waterproof"]},
        channels=["google_ads_headline", "email_subject"],
        variants=2,
        # Greedy first, so regeneration must switch these rows to sampling.
        generation={"temperature": 0, "seed": 3},
    )
    status = submit_and_wait(service_env, worker, path)
    drafts = stored_drafts()
    banned = Term("waterproof", "brand")

    flagged = [draft for draft in drafts if draft.status == DraftStatus.FLAGGED]
    naming_word = [
        draft
        for draft in flagged
        for check in draft.checks
        if check.name == "banned_terms" and not check.passed and '"waterproof"' in check.detail
    ]
    assert status["requests"]["done"] == 4
    assert naming_word, [draft.text for draft in drafts]
    for draft in drafts:
        if draft.status == DraftStatus.PENDING_REVIEW:
            assert not find_terms(draft.text, [banned]), draft.text
    for draft in flagged:
        assert any(check.blocking and not check.passed for check in draft.checks), draft.text
        assert draft.regenerations == 2


def test_headline_over_30_units_never_pending_review(service_env, start_worker, tmp_path):
    worker = start_worker()
    path = write_campaign(
        tmp_path,
        brand={},
        channels=["google_ads_headline"],
        variants=4,
        generation={"temperature": 0.3, "seed": 8},
    )
    status = submit_and_wait(service_env, worker, path)
    drafts = stored_drafts()

    assert status["requests"]["done"] == 4
    assert len(drafts) == 4
    for draft in drafts:
        length = measure(draft.text, "google_ads_headline").length
        if draft.status == DraftStatus.PENDING_REVIEW:
            assert length <= 30, draft.text
        if length > 30:
            assert draft.status == DraftStatus.FLAGGED
            assert any(check.name == "length" and not check.passed for check in draft.checks)
    checks = status["checks"]
    assert checks["drafts"] == 4
    assert checks["regenerations"] == sum(draft.regenerations for draft in drafts)
    assert checks["pass_rate"] == checks["passed"] / 4
