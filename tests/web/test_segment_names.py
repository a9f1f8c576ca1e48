"""Segments and campaigns by name on the review pages and in the API, with campaigns whose
segments are named in Chinese: "老客户" in two campaigns, under two keys."""

import re
from html import unescape

import pytest
from sqlalchemy import select

from contentgen import db
from contentgen.models import Campaign

from ..seeding import NEW_CUSTOMERS, OLD_CUSTOMERS, seed_chinese_segments
from .conftest import snapshot
from .test_pages import alert_of, bulk_fields

CHINESE = {"Accept-Language": "zh-CN"}
SHARED_NAME_MESSAGE = (
    'segment name "老客户" belongs to 2 segments; choose the campaign too, or filter by the key of one of them instead: '
    f"loyal (campaign autumn); {OLD_CUSTOMERS} (campaign spring)"
)


@pytest.fixture
def chinese(seeded, tmp_path) -> int:
    return seed_chinese_segments(tmp_path)


@pytest.fixture
def reviewer(client_for):
    client, _ = client_for("reviewer")
    return client


def options_of(html: str, name: str) -> list[tuple[str, str, bool]]:
    """Return the value, label and selected state of each option of the select ``name``."""
    select_element = re.search(rf'<select name="{name}">(.*?)</select>', html, re.S)
    assert select_element, f"the page has no select {name}"
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?>([^<]*)</option>', select_element.group(1))
    return [(value, unescape(label), bool(selected)) for value, selected, label in options]


def shown_segments(html: str) -> list[str]:
    return [unescape(title).split(" / ")[1] for title in re.findall(r'<td title="([^"]*)">', html)]


def test_queue_segment_options_show_names(reviewer, chinese):
    html = reviewer.get("/queue").text

    assert options_of(html, "segment") == [
        ("", "Any", False),
        ("hikers", "Hikers", False),
        ("runners", "Runners", False),
        (NEW_CUSTOMERS, f"\u2068新客户\u2069 ({NEW_CUSTOMERS})", False),
        ("loyal", "\u2068老客户\u2069 (loyal)", False),
        (OLD_CUSTOMERS, f"\u2068老客户\u2069 ({OLD_CUSTOMERS})", False),
    ]


def test_queue_campaign_options_show_names(reviewer, chinese):
    html = reviewer.get("/queue").text

    assert options_of(html, "campaign") == [
        ("", "Any", False),
        ("ridgeline", "\u2068Ridgeline launch\u2069 (ridgeline)", False),
        ("spring", "\u2068春季上新\u2069 (spring)", False),
        ("autumn", "\u2068秋季促销\u2069 (autumn)", False),
    ]


def test_queue_segment_by_name_selects_key(reviewer, chinese):
    response = reviewer.get("/queue", params={"segment": "新客户", "status": "all"})

    assert response.status_code == 200
    selected = [option for option in options_of(response.text, "segment") if option[2]]
    assert selected == [(NEW_CUSTOMERS, f"\u2068新客户\u2069 ({NEW_CUSTOMERS})", True)]
    assert shown_segments(response.text) == [NEW_CUSTOMERS]
    # The page's links and forms send the key, not the name.
    assert f'action="/queue/bulk?segment={NEW_CUSTOMERS}&amp;status=all"' in response.text


def test_queue_campaign_by_name_selects_key(reviewer, chinese):
    response = reviewer.get("/queue", params={"campaign": "春季上新", "status": "all"})

    assert response.status_code == 200
    selected = [option for option in options_of(response.text, "campaign") if option[2]]
    assert selected == [("spring", "\u2068春季上新\u2069 (spring)", True)]
    assert 'action="/queue/bulk?campaign=spring&amp;status=all"' in response.text


def test_api_drafts_campaign_by_name(api, chinese):
    by_name = api("reviewer").get("/api/v1/drafts", params={"campaign": " RIDGELINE  Launch"}).json()
    by_key = api("reviewer").get("/api/v1/drafts", params={"campaign": "ridgeline"}).json()

    assert by_name["total"] == by_key["total"] > 0
    assert by_name["digest"] == by_key["digest"]


def test_api_drafts_shared_campaign_name_is_422(api, chinese):
    with db.session_scope() as session:
        session.scalars(select(Campaign).where(Campaign.key == "autumn")).one().name = "春季上新"

    response = api("reviewer").get("/api/v1/drafts", params={"campaign": "春季上新"})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'campaign name "春季上新" belongs to 2 campaigns; filter by the key of one of them instead: '
        "autumn, spring"
    )


def test_api_shared_campaign_name_within_batch(api, seeded, chinese):
    with db.session_scope() as session:
        session.scalars(select(Campaign).where(Campaign.key == "ridgeline")).one().name = "春季上新"

    response = api("reviewer").get("/api/v1/drafts", params={"campaign": "春季上新", "batch_id": seeded.batch_id})

    assert response.status_code == 200
    assert {item["campaign"] for item in response.json()["items"]} == {"ridgeline"}


def test_queue_shared_segment_name_within_campaign(reviewer, chinese):
    response = reviewer.get("/queue", params={"campaign": "spring", "segment": "老客户"})

    assert response.status_code == 200
    assert [option[0] for option in options_of(response.text, "segment") if option[2]] == [OLD_CUSTOMERS]
    assert [option[0] for option in options_of(response.text, "campaign") if option[2]] == ["spring"]
    assert shown_segments(response.text) == [OLD_CUSTOMERS]


def test_queue_shared_segment_name_is_422(reviewer, chinese):
    response = reviewer.get("/queue", params={"segment": "老客户"})
    in_chinese = reviewer.get("/queue", params={"segment": "老客户"}, headers=CHINESE)

    assert response.status_code == 422
    assert alert_of(response.text) == SHARED_NAME_MESSAGE
    assert alert_of(in_chinese.text) == (
        "分群名称“老客户”对应 2 个分群；请同时选择活动，或改用其中一个分群的键筛选："
        f"loyal（活动“autumn”）；{OLD_CUSTOMERS}（活动“spring”）"
    )


def test_queue_unknown_segment_lists_names(reviewer, chinese):
    response = reviewer.get("/queue", params={"segment": "回头客"})

    assert response.status_code == 404
    assert alert_of(response.text) == (
        'segment "回头客" not found in any campaign, as a key or as a name; the segments are: '
        f"Hikers, Runners, 新客户 ({NEW_CUSTOMERS}), 老客户 (loyal), 老客户 ({OLD_CUSTOMERS})"
    )


def test_queue_selected_segment_without_drafts_is_shown(reviewer, chinese):
    with db.session_scope() as session:
        spring = session.scalars(select(Campaign).where(Campaign.key == "spring")).one()
        returning = {"key": "segment-returning", "name": "回头客"}
        spring.spec = {**spring.spec, "segments": [*spring.spec["segments"], returning]}

    response = reviewer.get("/queue", params={"segment": "回头客"})

    assert response.status_code == 200
    selected = [option for option in options_of(response.text, "segment") if option[2]]
    assert selected == [("segment-returning", "\u2068回头客\u2069 (segment-returning)", True)]
    assert "No drafts match this filter." in response.text


def test_draft_page_segment_by_name_places_draft(reviewer, chinese):
    html = reviewer.get("/queue", params={"segment": NEW_CUSTOMERS}).text
    draft_id = re.search(r'data-draft="(\d+)"', html).group(1)

    page = reviewer.get(f"/drafts/{draft_id}", params={"segment": "新客户"}).text

    assert "1 of 1 in this queue" in page


def test_batch_page_links_campaigns_by_name(reviewer, chinese):
    html = reviewer.get(f"/batches/{chinese}").text

    assert f'<a href="/queue?batch_id={chinese}&amp;campaign=spring"><bdi>春季上新</bdi></a> (<code>spring</code>)' in html
    assert f'<a href="/queue?batch_id={chinese}&amp;campaign=autumn"><bdi>秋季促销</bdi></a> (<code>autumn</code>)' in html


def test_api_drafts_segment_by_name(api, chinese):
    by_name = api("reviewer").get("/api/v1/drafts", params={"segment": "新客户"}).json()
    by_key = api("reviewer").get("/api/v1/drafts", params={"segment": NEW_CUSTOMERS}).json()

    assert [item["segment"] for item in by_name["items"]] == [NEW_CUSTOMERS]
    assert by_name["digest"] == by_key["digest"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"segment": "老客户"}, 422, SHARED_NAME_MESSAGE),
        ({"segment": "新客户", "campaign": "autumn"}, 404,
         'segment "新客户" not found in campaign "autumn", as a key or as a name; its segments are: '
         "老客户 (loyal)"),
    ],
    ids=["shared-name", "name-in-other-campaign"],
)  # fmt: skip
def test_api_drafts_segment_name_errors(api, chinese, params, status, message):
    response = api("reviewer").get("/api/v1/drafts", params=params)

    assert response.status_code == status
    assert response.json()["detail"] == message


def test_api_bulk_filter_segment_by_name(api, chinese):
    reviewer = api("reviewer")
    listed = reviewer.get("/api/v1/drafts", params={"campaign": "spring", "segment": "老客户"}).json()

    response = reviewer.post("/api/v1/drafts/bulk", json={
        "action": "approve", "filter": {"campaign": "spring", "segment": "老客户"},
        "expected_digest": listed["digest"],
    })  # fmt: skip

    assert response.status_code == 200
    assert response.json()["changed"] == 1
    approved = reviewer.get("/api/v1/drafts", params={"status": "approved"}).json()
    assert [item["id"] for item in approved["items"]] == [item["id"] for item in listed["items"]]
    assert [item["segment"] for item in approved["items"]] == [OLD_CUSTOMERS]


def test_api_bulk_filter_shared_segment_name_changes_nothing(api, chinese):
    before = snapshot()

    response = api("reviewer").post("/api/v1/drafts/bulk", json={
        "action": "approve", "filter": {"segment": "老客户"}, "expected_count": 2,
    })  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == SHARED_NAME_MESSAGE
    assert snapshot() == before


def test_pages_bulk_filter_by_segment_name(client_for, chinese):
    client, token = client_for("reviewer")
    html = client.get("/queue", params={"segment": "新客户"}).text

    response = client.post("/queue/bulk", params={"segment": "新客户"}, follow_redirects=False,
                           data={"csrf_token": token, "op": "reject:filter", "reason": "Off brand",
                                 **bulk_fields(html)})  # fmt: skip

    assert response.status_code == 303
    assert "changed=1" in response.headers["location"]
