"""Test data: users and a batch of drafts made through the real pipeline with the null
generator, then given distinct texts, scores and check results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from sqlalchemy import select

from contentgen import db
from contentgen.campaigns import import_campaign_file, load_campaign_file
from contentgen.dispatch import run_inline, submit
from contentgen.models import Draft, DraftCheck, DraftStatus, GenerationRequest
from contentgen.users import Actor, Role, create_api_token, create_user

PASSWORD = "correct horse battery"


def write_campaign_file(
    folder: Path,
    key: str = "ridgeline",
    channels: tuple[str, ...] = ("google_ads_headline", "google_ads_description", "email_subject"),
    segments: tuple[str, ...] = ("hikers", "runners"),
    variants: int = 2,
    url: str | None = "https://example.com/ridgeline",
) -> Path:
    product = {"name": "Ridgeline GTX", "description": "A waterproof hiking boot"}
    if url is not None:
        product["url"] = url
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain words."}],
        "campaigns": [
            {
                "key": key,
                "brand": "trailpeak",
                "name": f"{key.title()} launch",
                "product": product,
                "segments": [{"key": segment, "name": segment.title()} for segment in segments],
                "channels": list(channels),
                "variants": variants,
            }
        ],
    }
    path = folder / f"{key}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def seed_batch(folder: Path, **campaign: object) -> int:
    """Submit and run a batch with the null generator; give every draft its own text.

    Texts are "<channel> copy <id>", scores fall with the id, and every third draft has a
    failed "length" check.
    """
    return seed_files([write_campaign_file(folder, **campaign)])


# The keys that a CSV file's segments "老客户" and "新客户" get: the hash of the name, since
# the names have no Latin letters.
OLD_CUSTOMERS = "segment-68897fd8"
NEW_CUSTOMERS = "segment-689c5245"


def write_chinese_segment_files(folder: Path) -> list[Path]:
    """Write a YAML file with the brand and the campaign "autumn", whose segment "loyal" is
    named "老客户", and a CSV file with the campaign "spring", whose segments are named
    "老客户" and "新客户". Each campaign writes one email subject per segment."""
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain words."}],
        "campaigns": [
            {
                "key": "autumn",
                "brand": "trailpeak",
                "name": "秋季促销",
                "product": {"name": "Ridgeline GTX", "description": "A waterproof hiking boot"},
                "segments": [{"key": "loyal", "name": "老客户"}],
                "channels": ["email_subject"],
            }
        ],
    }
    yaml_path = folder / "autumn.yaml"
    yaml_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    csv_path = folder / "spring.csv"
    csv_path.write_text(
        "key,brand,name,product_name,product_description,segments,channels,locale\n"
        "spring,trailpeak,春季上新,Ridgeline GTX,防水登山靴,老客户；新客户,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    return [yaml_path, csv_path]


def seed_chinese_segments(folder: Path) -> int:
    """Submit and run a batch of the files of ``write_chinese_segment_files``, with texts,
    scores and checks as ``seed_batch`` gives them."""
    return seed_files(write_chinese_segment_files(folder))


def seed_files(files: list[Path], campaign_keys: Sequence[str] = ()) -> int:
    """Submit and run a batch of ``files`` and stored campaigns, with texts, scores and
    checks as ``seed_batch`` gives them."""
    submission = submit(files, campaign_keys)
    run_inline(submission.batch_id)
    with db.session_scope() as session:
        drafts = session.scalars(
            select(Draft).where(Draft.batch_id == submission.batch_id).order_by(Draft.id)
        ).all()
        for draft in drafts:
            channel = session.get(GenerationRequest, draft.request_id).channel
            draft.text = f"{channel} copy {draft.id}"
            draft.score = 1000.0 - draft.id
            failed = draft.id % 3 == 0
            # The real checks flag the null generator's fixed text (too long for a headline,
            # the same for every variant), so these tests set the check results themselves.
            draft.status = DraftStatus.PENDING_REVIEW
            draft.checks.clear()
            draft.checks.append(
                DraftCheck(name="length", passed=not failed, blocking=True,
                           detail="too long" if failed else "")
            )  # fmt: skip
    return submission.batch_id


# The values that ``import_changed_campaign`` gives the campaign of ``seed_batch``.
CHANGED_URL = "https://example.com/de/ridgeline"
CHANGED_NAME = "Ridgeline Start"
CHANGED_SEGMENT_NAME = "Wanderer"


def import_changed_campaign(folder: Path) -> None:
    """Import the campaign of ``seed_batch`` again with locale de-DE, ``CHANGED_URL``,
    ``CHANGED_NAME``, and its segment "hikers" named ``CHANGED_SEGMENT_NAME``."""
    path = write_campaign_file(folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    campaign = data["campaigns"][0]
    campaign["locale"] = "de-DE"
    campaign["name"] = CHANGED_NAME
    campaign["product"]["url"] = CHANGED_URL
    campaign["segments"][0]["name"] = CHANGED_SEGMENT_NAME
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))


def draft_ids(batch_id: int, channel: str | None = None) -> list[int]:
    query = select(Draft.id).join(Draft.request).where(Draft.batch_id == batch_id)
    if channel is not None:
        query = query.where(GenerationRequest.channel == channel)
    with db.session_scope() as session:
        return list(session.scalars(query.order_by(Draft.id)))


def make_user(username: str, role: str, password: str = PASSWORD) -> Actor:
    with db.session_scope() as session:
        return Actor.of(create_user(session, username, password, Role(role)))


def make_token(username: str) -> str:
    with db.session_scope() as session:
        return create_api_token(session, username, "tests")
