import pytest
from sqlalchemy import select

from contentgen import db
from contentgen.drafts import (
    Choice,
    DraftFilter,
    matching_versions,
    queue_choices,
    queue_page,
    queue_position,
    selection_digest,
)
from contentgen.errors import InvalidInput, NotFound
from contentgen.models import Campaign

from .seeding import NEW_CUSTOMERS, OLD_CUSTOMERS, draft_ids, seed_batch, seed_chinese_segments


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
    with pytest.raises(NotFound, match='segment "climbers" not found in any campaign, as a key or as a name; the segments are: Hikers, Runners$'):
        page_ids(DraftFilter(segment="climbers"))
    with pytest.raises(NotFound, match='segment "climbers" not found in campaign "ridgeline", as a key or as a name; its segments are: Hikers, Runners$'):
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
    with pytest.raises(NotFound, match="its segments are: Hikers$"):
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


@pytest.fixture
def chinese(synced):
    """A batch of the campaigns "autumn" and "spring", which both have a segment "老客户"."""
    return seed_chinese_segments(synced)


def test_drafts_queue_segment_name_finds_key(chinese):
    with db.session_scope() as session:
        by_name = queue_page(session, DraftFilter(segment="新客户"))
        by_key = queue_page(session, DraftFilter(segment=NEW_CUSTOMERS))

    assert by_name.filter == DraftFilter(segment=NEW_CUSTOMERS)
    assert [item["segment"] for item in by_name.items] == [NEW_CUSTOMERS]
    assert by_name.digest == by_key.digest


def test_drafts_queue_shared_segment_name_within_campaign(chinese):
    with db.session_scope() as session:
        page = queue_page(session, DraftFilter(campaign="spring", segment="老客户"))

    assert page.filter.segment == OLD_CUSTOMERS
    assert [item["segment_name"] for item in page.items] == ["老客户"]


def test_drafts_queue_shared_segment_name_is_invalid(chinese):
    with pytest.raises(InvalidInput) as raised:
        page_ids(DraftFilter(segment="老客户"))

    assert not isinstance(raised.value, NotFound)
    assert str(raised.value).endswith(f"loyal (campaign autumn); {OLD_CUSTOMERS} (campaign spring)")


def test_drafts_matching_versions_by_segment_name(chinese):
    with db.session_scope() as session:
        by_name = matching_versions(session, DraftFilter(segment="新客户"))
        by_key = matching_versions(session, DraftFilter(segment=NEW_CUSTOMERS))

    assert by_name == by_key
    assert len(by_name) == 1


def test_drafts_position_by_segment_name(chinese):
    draft_id = page_ids(DraftFilter(segment=NEW_CUSTOMERS))[0]

    with db.session_scope() as session:
        position = queue_position(session, DraftFilter(segment="新客户"), draft_id)
        shared = queue_position(session, DraftFilter(segment="老客户"), draft_id)

    assert (position.position, position.total, position.in_queue) == (1, 1, True)
    # A name of several segments matches no draft, so the draft is alone in its queue.
    assert (shared.total, shared.in_queue) == (0, False)


def test_drafts_queue_choices_have_names(chinese):
    with db.session_scope() as session:
        choices = queue_choices(session)

    assert choices["campaigns"] == [Choice("spring", "春季上新"), Choice("autumn", "秋季促销")]
    assert choices["segments"] == [
        Choice(NEW_CUSTOMERS, "新客户"), Choice("loyal", "老客户"), Choice(OLD_CUSTOMERS, "老客户"),
    ]  # fmt: skip
    assert [choice.label for choice in choices["segments"]] == [
        f"新客户 ({NEW_CUSTOMERS})", "老客户 (loyal)", f"老客户 ({OLD_CUSTOMERS})",
    ]  # fmt: skip


def test_drafts_queue_choices_label_without_key(batch):
    with db.session_scope() as session:
        choices = queue_choices(session)

    assert [choice.label for choice in choices["segments"]] == ["Hikers", "Runners"]
    assert [choice.label for choice in choices["campaigns"]] == ["Ridgeline launch (ridgeline)"]


def test_drafts_queue_choices_join_names_of_one_key(batch, tmp_path):
    seed_batch(tmp_path, key="autumn", channels=("email_subject",), segments=("hikers",), variants=1)
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.key == "autumn")).one()
        campaign.spec = {**campaign.spec, "segments": [{"key": "hikers", "name": "Hiking fans"}]}

    with db.session_scope() as session:
        choices = queue_choices(session)

    assert choices["segments"][0] == Choice("hikers", "Hikers / Hiking fans")
    assert choices["segments"][0].label == "Hikers / Hiking fans (hikers)"


def test_drafts_queue_choices_add_selected_segment(batch):
    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign)).one()
        climbers = {"key": "climbers", "name": "Climbers"}
        campaign.spec = {**campaign.spec, "segments": [*campaign.spec["segments"], climbers]}

    with db.session_scope() as session:
        choices = queue_choices(session, selected=DraftFilter(segment="climbers"))

    assert Choice("climbers", "Climbers") in choices["segments"]


def test_selection_digest_ignores_order_not_versions():
    digest = selection_digest({1: 1, 2: 3})
    assert selection_digest({2: 3, 1: 1}) == digest
    assert selection_digest({1: 1, 2: 4}) != digest
    assert selection_digest({1: 1, 3: 3}) != digest
    assert len(digest) == 64
