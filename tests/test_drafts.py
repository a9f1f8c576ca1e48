import pytest
from sqlalchemy import select

from contentgen import db
from contentgen.drafts import DraftFilter, queue_page, queue_position, selection_digest
from contentgen.errors import InvalidInput, NotFound
from contentgen.models import Campaign

from .seeding import draft_ids, seed_batch


@pytest.fixture
def batch(synced):
    return seed_batch(synced)


def page_ids(draft_filter: DraftFilter, page: int = 1, page_size: int = 50) -> list[int]:
    with db.session_scope() as session:
        return [item["id"] for item in queue_page(session, draft_filter, page, page_size).items]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"status": "done"}, 'status "done" is not known'),
        ({"sort": "random"}, 'sort "random" is not known'),
        ({"channel": "tiktok"}, 'channel "tiktok" is not known'),
        ({"check": "broken"}, 'check filter "broken" is not valid'),
        ({"check": "failed:lenght"}, 'check filter "failed:lenght" names no check; use failed: with one of: empty'),
    ],
    ids=["status", "sort", "channel", "check", "check-name"],
)
def test_drafts_filter_rejects_unknown_values(values, message):
    with pytest.raises(InvalidInput, match=message):
        DraftFilter(**values)


def test_drafts_queue_unknown_campaign_not_found(batch):
    with pytest.raises(NotFound, match='campaign "nope" not found; list campaigns with'):
        page_ids(DraftFilter(campaign="nope"))


def test_drafts_queue_unknown_segment_not_found(batch):
    with pytest.raises(NotFound, match='segment "climbers" not found in any campaign; the segments are: hikers, runners'):
        page_ids(DraftFilter(segment="climbers"))
    with pytest.raises(NotFound, match='segment "climbers" not found in campaign "ridgeline"; its segments are: hikers, runners'):
        page_ids(DraftFilter(campaign="ridgeline", segment="climbers"))


def test_drafts_queue_segment_without_campaigns(synced):
    with pytest.raises(NotFound, match='segment "hikers" not found: no campaign is imported yet'):
        page_ids(DraftFilter(segment="hikers"))


def test_drafts_queue_removed_segment_still_found(batch):
    # A new campaign file dropped "runners"; its earlier drafts stay listed.
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.spec = {**campaign.spec, "segments": [{"key": "hikers", "name": "Hikers"}]}

    assert page_ids(DraftFilter(segment="runners"))
    with pytest.raises(NotFound, match="its segments are: hikers$"):
        page_ids(DraftFilter(campaign="ridgeline", segment="climbers"))


def test_drafts_filter_params_round_trip():
    draft_filter = DraftFilter(batch_id=3, channel="email_subject", check="failed:length", sort="newest")
    assert DraftFilter.from_params(**draft_filter.as_params()) == draft_filter


def test_drafts_queue_sorts_best_score_first(batch):
    # Seeded scores fall as the id grows.
    assert page_ids(DraftFilter()) == draft_ids(batch)


def test_drafts_queue_unscored_drafts_last(batch):
    from contentgen.models import Draft

    first = draft_ids(batch)[0]
    with db.session_scope() as session:
        session.get(Draft, first).score = None
    assert page_ids(DraftFilter())[-1] == first


def test_drafts_queue_filters_segment_and_check(batch):
    passed = page_ids(DraftFilter(segment="hikers", check="passed", sort="oldest"))
    failed = page_ids(DraftFilter(segment="hikers", check="failed", sort="oldest"))
    assert passed
    assert failed
    assert all(draft_id % 3 != 0 for draft_id in passed)
    assert all(draft_id % 3 == 0 for draft_id in failed)
    assert len(passed) + len(failed) == 6


def test_drafts_queue_pages(batch):
    first = page_ids(DraftFilter(sort="oldest"), page=1, page_size=5)
    third = page_ids(DraftFilter(sort="oldest"), page=3, page_size=5)
    assert first == draft_ids(batch)[:5]
    assert third == draft_ids(batch)[10:]


def test_drafts_queue_unknown_batch_not_found(batch):
    with pytest.raises(NotFound, match="batch 99 not found"), db.session_scope() as session:
        queue_page(session, DraftFilter(batch_id=99))


def test_drafts_position_keeps_draft_that_left_filter(batch):
    ids = draft_ids(batch)
    from contentgen.models import Draft, DraftStatus

    with db.session_scope() as session:
        session.get(Draft, ids[1]).status = DraftStatus.APPROVED
    with db.session_scope() as session:
        position = queue_position(session, DraftFilter(sort="oldest"), ids[1])
    assert (position.previous_id, position.next_id) == (ids[0], ids[2])
    assert position.total == len(ids) - 1
    assert position.in_queue is False
    with db.session_scope() as session:
        assert queue_position(session, DraftFilter(sort="oldest"), ids[0]).in_queue is True


def test_selection_digest_ignores_order_not_versions():
    digest = selection_digest({1: 1, 2: 3})
    assert selection_digest({2: 3, 1: 1}) == digest
    assert selection_digest({1: 1, 2: 4}) != digest
    assert selection_digest({1: 1, 3: 3}) != digest
    assert len(digest) == 64
