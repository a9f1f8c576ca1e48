"""The batch page's export links: a download, or first a page listing the export's warnings."""

import re
from html import unescape

import pytest

from contentgen import db
from contentgen.models import Draft
from contentgen.review import Decision, decide
from contentgen.users import Actor, Role
from contentgen.web import pages

from ..seeding import draft_ids
from .conftest import alert_of

ADMIN = Actor(3, "adam", Role.ADMIN, None)


def approve(*ids: int) -> None:
    with db.session_scope() as session:
        for draft_id in ids:
            decide(session, ADMIN, draft_id, Decision("approve"))


def listed_warnings(html: str) -> list[str]:
    block = re.search(r'<ul id="export-warnings">(.*?)</ul>', html, re.S)
    assert block, "the page lists no warnings"
    return [unescape(item) for item in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)]


def test_export_without_warnings_downloads(client_for, seeded):
    approve(seeded.draft_ids[0])
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=csv")

    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"\xef\xbb\xbf")


def test_export_with_warnings_lists_them_first(client_for, seeded):
    headline = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    approve(headline)
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=google-ads")

    assert response.status_code == 200
    assert "content-disposition" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    [warning] = listed_warnings(response.text)
    assert "1 headline and 0 descriptions; Google Ads needs at least 3 and 2" in warning
    assert f'href="/batches/{seeded.batch_id}/export?format=google-ads&amp;warnings=accepted"' in response.text


def test_export_warnings_accepted_downloads(client_for, seeded):
    approve(draft_ids(seeded.batch_id, "google_ads_headline")[0])
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=google-ads&warnings=accepted")

    assert response.status_code == 200
    assert 'filename="batch-1-google-ads-editor.csv"' in response.headers["content-disposition"]


def test_export_warnings_page_caps_list(client_for, seeded, monkeypatch):
    headlines = draft_ids(seeded.batch_id, "google_ads_headline")
    descriptions = draft_ids(seeded.batch_id, "google_ads_description")
    # One headline in one segment and one description in another: two ads short of the minimum.
    approve(headlines[0], descriptions[-1])
    monkeypatch.setattr(pages, "SHOWN_EXPORT_WARNINGS", 1)
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=google-ads")

    assert len(listed_warnings(response.text)) == 1
    assert "1 of 2 are shown; contentgen export --batch 1 --format google-ads prints them all." in unescape(
        response.text
    )


def test_export_warnings_page_in_chinese(client_for, seeded):
    approve(draft_ids(seeded.batch_id, "google_ads_headline")[0])
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=google-ads",
                          headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert "<h1>导出警告</h1>" in response.text
    assert "批次 1 的导出有 1 条警告。" in response.text
    assert listed_warnings(response.text) == [
        "活动“Ridgeline launch”，广告组“Hikers”：1 条标题和 0 条描述；"
        "Google Ads 至少需要 3 条标题和 2 条描述，请再通过一些"
    ]


def test_export_warnings_value_must_be_accepted(client_for, seeded):
    client, _ = client_for("marketer")
    response = client.get(f"/batches/{seeded.batch_id}/export?format=csv&warnings=yes")
    assert response.status_code == 422
    assert "warnings" in unescape(response.text)


@pytest.mark.parametrize("format", ["csv", "json", "google-ads"])
def test_export_without_approved_drafts_says_so(client_for, seeded, format):
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format={format}")

    assert response.status_code == 200
    assert "content-disposition" not in response.headers
    assert "<h1>Nothing to export</h1>" in response.text
    assert alert_of(response.text) == (
        f"Batch {seeded.batch_id} has no approved drafts, so there is nothing to export. Review "
        "its drafts and approve the ones to export."
    )
    assert f'<a class="button" href="/queue?batch_id={seeded.batch_id}" id="review-batch">' in response.text
    assert "Review the batch&#39;s drafts" in response.text
    assert "Fix the drafts" not in response.text
    assert "Review the approved drafts" not in response.text
    assert 'id="export-anyway"' not in response.text


def test_export_without_approved_drafts_in_chinese(client_for, seeded):
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=csv", headers={"Accept-Language": "zh-CN"})

    assert "<h1>没有可导出的内容</h1>" in response.text
    assert alert_of(response.text) == (
        f"批次 {seeded.batch_id} 没有已通过的草稿，因此没有可导出的内容。请审核它的草稿，通过要导出的草稿。"
    )
    assert "审核该批次的草稿" in response.text


def test_export_ads_without_ad_drafts_warns(client_for, seeded):
    approve(draft_ids(seeded.batch_id, "email_subject")[0])
    client, _ = client_for("marketer")

    response = client.get(f"/batches/{seeded.batch_id}/export?format=google-ads")

    assert "<h1>Export warnings</h1>" in response.text
    assert 'id="export-anyway"' in response.text
    assert "the batch has no approved google_ads_headline or google_ads_description drafts" in unescape(
        response.text
    )


def test_export_repeated_parameter_is_422(client_for, seeded):
    client, _ = client_for("marketer")
    response = client.get(f"/batches/{seeded.batch_id}/export?format=csv&format=json")
    assert response.status_code == 422
    assert "content-disposition" not in response.headers
    assert alert_of(response.text) == "This address gives format more than once; give each parameter once."


def test_export_unknown_parameter_is_422(client_for, seeded):
    client, _ = client_for("marketer")
    response = client.get(f"/batches/{seeded.batch_id}/export?fromat=json")
    assert response.status_code == 422
    assert "content-disposition" not in response.headers
    assert alert_of(response.text) == (
        "This address has parameters that the export does not take: fromat; it takes format, "
        "warnings. Correct or remove them."
    )


def test_export_parameter_errors_in_chinese(client_for, seeded):
    client, _ = client_for("marketer")
    chinese = {"Accept-Language": "zh-CN"}
    repeated = client.get(f"/batches/{seeded.batch_id}/export?format=csv&format=json", headers=chinese)
    unknown = client.get(f"/batches/{seeded.batch_id}/export?fromat=json", headers=chinese)
    assert alert_of(repeated.text) == "此地址中 format 出现了不止一次；每个参数只给一次。"
    assert alert_of(unknown.text) == "此地址含有导出不接受的参数：fromat；可用的参数是 format, warnings。请更正或删除这些参数。"


def test_export_warnings_page_lists_invisible_characters(client_for, seeded):
    subject = draft_ids(seeded.batch_id, "email_subject")[0]
    with db.session_scope() as session:
        session.get(Draft, subject).text = "Dry\u200bfeet"
    approve(subject)
    client, _ = client_for("marketer")

    english = client.get(f"/batches/{seeded.batch_id}/export?format=csv")
    chinese = client.get(f"/batches/{seeded.batch_id}/export?format=csv", headers={"Accept-Language": "zh-CN"})

    assert listed_warnings(english.text) == [
        f"draft {subject} (email_subject) contains invisible characters (U+200B×1), which do "
        "not show but are part of the text; edit it to remove them before you upload it"
    ]
    assert listed_warnings(chinese.text) == [
        f"草稿 {subject}（email_subject）含有不可见字符（U+200B×1），它们不会显示，但属于文案的一部分；请先删除它们再上传"
    ]
