"""Pages and API responses in Simplified Chinese, the values inside messages included."""

import re
from html import unescape

import pytest
import yaml
from fastapi.testclient import TestClient

from contentgen import db
from contentgen.models import Draft, DraftStatus

from ..seeding import draft_ids, write_campaign_file
from .conftest import snapshot, version_of
from .test_pages import (
    alert_of,
    broken_template_folder,
    import_warnings_of,
    planned_rows_of,
    post_dry_run,
    upload_without_banned_terms,
)

CHINESE = {"Accept-Language": "zh-CN"}


@pytest.fixture
def reviewer(client_for):
    return client_for("reviewer")


@pytest.fixture
def api_token(app, seeded):
    """Return a function that gives an API client with the bearer token of a role."""

    def client(role: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {seeded.tokens[role]}"})

    return client


def test_languages_admin_role_stays_as_named(client_for, api_token):
    client, _ = client_for("marketer")
    page = client.get("/users", headers=CHINESE)
    response = api_token("marketer").get("/api/v1/users", headers=CHINESE)

    assert page.status_code == 403
    assert "无权执行“管理用户和模板”；此操作需要角色：admin" in alert_of(page.text)
    assert response.status_code == 403
    assert response.json()["detail"].endswith("此操作需要角色：admin")


def test_languages_review_role_list_is_one_language(api_token, seeded):
    response = api_token("marketer").post(f"/api/v1/drafts/{seeded.draft_ids[0]}/approve", json={},
                                          headers=CHINESE)  # fmt: skip
    assert response.status_code == 403
    assert response.json()["detail"].endswith("此操作需要角色：“reviewer”或“admin”")


def test_languages_allowed_statuses_use_page_labels(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    # Rejected with no review event, so no reviewer's rejection is named.
    with db.session_scope() as session:
        session.get(Draft, draft_id).status = DraftStatus.REJECTED

    response = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token}, headers=CHINESE)

    assert response.status_code == 409
    assert "只有状态为“已标记”或“待审核”的草稿可以" in alert_of(response.text)


def test_languages_change_without_actor_is_chinese(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    seen = version_of(draft_id)
    # A change that records no review event leaves no name to show.
    with db.session_scope() as session:
        session.get(Draft, draft_id).text = "Changed outside the review pages"

    response = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token, "version": seen},
                           headers=CHINESE)  # fmt: skip

    assert response.status_code == 409
    message = alert_of(response.text)
    assert f"您打开草稿 {draft_id} 后，它已被修改" in message
    assert "someone" not in message


def test_languages_unknown_path_has_menu_and_user_language(reviewer):
    client, token = reviewer
    client.post("/settings", data={"csrf_token": token, "locale": "zh-CN"})

    response = client.get("/nonexistent", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert "页面不存在。" in alert_of(response.text)
    assert '<a href="/queue">审核队列</a>' in response.text
    assert "rita (reviewer)" in response.text


def test_languages_unknown_path_anonymous_has_no_menu(app):
    response = TestClient(app).get("/nonexistent", headers=CHINESE)
    assert response.status_code == 404
    assert "页面不存在。" in alert_of(response.text)
    assert '<a href="/queue">' not in response.text


def test_languages_unknown_batch_is_chinese(reviewer, api_token):
    client, _ = reviewer
    page = client.get("/queue?batch_id=999", headers=CHINESE)
    response = api_token("reviewer").get("/api/v1/batches/999", headers=CHINESE)

    assert page.status_code == 404
    assert alert_of(page.text).startswith("找不到批次 999")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("找不到批次 999")


def test_languages_queue_sort_labels(reviewer):
    client, _ = reviewer
    page = client.get("/queue?sort=oldest", headers=CHINESE).text
    options = re.search(r'<select name="sort">(.*?)</select>', page, re.S).group(1)
    labels = [unescape(label) for label in re.findall(r">([^<]+)</option>", options)]
    assert labels == ["评分从高到低", "最早的在前", "最新的在前", "活动 / 分群 / 渠道", "最短的在前"]
    assert '<option value="oldest" selected>' in options


def test_languages_draft_channel_and_history(reviewer, seeded):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "email_subject")[0]
    client.post(f"/drafts/{draft_id}/edit", data={"csrf_token": token, "text": "Dry feet, all day"})

    page = client.get(f"/drafts/{draft_id}", headers=CHINESE).text

    assert "邮件主题（email_subject）" in page
    history = re.search(r'<table class="grid" id="history">(.*?)</table>', page, re.S).group(1)
    assert "<td>修改</td>" in history
    assert "edit" not in history


@pytest.mark.parametrize(
    ("op", "changed", "expected"),
    [("approve:selected", 1, "1 draft approved."), ("approve:selected", 2, "2 drafts approved."),
     ("reject:selected", 1, "1 draft rejected."), ("reject:selected", 2, "2 drafts rejected.")],
    ids=["approve-one", "approve-two", "reject-one", "reject-two"],
)  # fmt: skip
def test_languages_bulk_notice_plural(reviewer, seeded, op, changed, expected):
    client, token = reviewer
    selection = [f"{draft_id}:{version_of(draft_id)}" for draft_id in seeded.draft_ids[:changed]]

    response = client.post("/queue/bulk", data={"csrf_token": token, "op": op, "reason": "Off brand",
                                                "draft": selection})  # fmt: skip

    assert re.search(r'role="status">([^<]*)<', response.text).group(1) == expected


@pytest.mark.parametrize(
    ("op", "expected"),
    [("approve:selected", "已通过 1 条草稿。"), ("reject:selected", "已驳回 1 条草稿。")],
    ids=["approve", "reject"],
)
def test_languages_bulk_notice_chinese_has_one_form(reviewer, seeded, op, expected):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    response = client.post("/queue/bulk", headers=CHINESE,
                           data={"csrf_token": token, "op": op, "reason": "Off brand",
                                 "draft": [f"{draft_id}:{version_of(draft_id)}"]})  # fmt: skip
    assert re.search(r'role="status">([^<]*)<', response.text).group(1) == expected


def test_languages_bulk_notice_chinese_sentences_unspaced(reviewer, seeded):
    client, _ = reviewer
    page = client.get("/queue?notice=bulk_approved&changed=2&skipped=1", headers=CHINESE).text
    notice = re.search(r'role="status">([^<]*)<', page).group(1)
    assert "。 " not in notice
    assert notice.startswith("已通过 2 条草稿。")


def test_languages_notice_with_edited_count_is_hidden(reviewer):
    client, _ = reviewer
    page = client.get("/queue?notice=bulk_approved&changed=lots&skipped=0").text
    assert 'role="status"' not in page


@pytest.mark.parametrize(("changed", "expected"), [(1, "1 new version."), (3, "3 new versions.")])
def test_languages_templates_notice_plural(client_for, changed, expected):
    admin, _ = client_for("admin")
    page = admin.get(f"/templates?notice=templates_synced&changed={changed}").text
    assert re.search(r'role="status">([^<]*)<', page).group(1) == f"Templates synced: {expected}"


def test_languages_wrong_method_page_in_chinese(client_for):
    client, _ = client_for("reviewer")
    response = client.put("/batches", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 405
    assert "此页面不接受 PUT 请求。" in response.text


def check_lines(html: str) -> list[str]:
    block = re.search(r'<ul class="checks">(.*?)</ul>', html, re.S)
    assert block, "the page shows no check results"
    return [unescape(line).strip() for line in re.findall(r"<li[^>]*>(.*?)</li>", block.group(1))]


def test_languages_check_results_translated(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    # Saving an edit runs the checks again, which store their messages.
    client.post(f"/drafts/{draft_id}/edit",
                data={"csrf_token": token, "text": "Mail sales@example.com today"})  # fmt: skip

    chinese = check_lines(client.get(f"/drafts/{draft_id}", headers=CHINESE).text)
    english = check_lines(client.get(f"/drafts/{draft_id}").text)

    assert "个人信息：未通过 – 电子邮件地址“sales@example.com”" in chinese
    assert 'personal_data: failed – e-mail "sales@example.com"' in english
    assert any(re.fullmatch(r"长度：通过 – \d+/\d+ 个字符", line) for line in chinese), chinese
    assert not any("e-mail" in line or " of " in line for line in chinese)


def test_languages_check_without_message_shows_english_detail(reviewer, seeded):
    # Results stored before messages were kept have only their English detail.
    client, _ = reviewer
    draft_id = next(draft_id for draft_id in seeded.draft_ids if draft_id % 3 == 0)

    lines = check_lines(client.get(f"/drafts/{draft_id}", headers=CHINESE).text)

    assert lines == ["长度：未通过 – too long"]


def test_languages_queue_names_failed_checks(reviewer, seeded):
    client, _ = reviewer

    page = client.get("/queue?check=failed", headers=CHINESE).text

    assert '<option value="failed:length" selected' not in page
    assert "未通过：长度" in unescape(page)
    assert re.search(r"<td>长度</td>", page)


def test_languages_request_validation_errors(reviewer, api_token, seeded):
    client, _ = reviewer

    page = client.get("/queue?page=abc", headers=CHINESE)
    response = api_token("reviewer").post(f"/api/v1/drafts/{seeded.draft_ids[0]}/approve",
                                          json={"version": 0, "verison": 1}, headers=CHINESE)  # fmt: skip

    assert page.status_code == 422
    assert "查询参数“page”：不是整数（实际为 “abc”）" in unescape(page.text)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "version：必须大于或等于 1（实际为 0）；verison：未知字段；请更正拼写或删除它（/api/v1/docs 列出了所有字段）"
    )
    assert [error["msg"] for error in response.json()["errors"]][0] == "必须大于或等于 1（实际为 0）"


def test_languages_oversized_form_field(reviewer, seeded):
    client, token = reviewer
    before = snapshot()

    response = client.post(f"/drafts/{seeded.draft_ids[0]}/edit", headers=CHINESE,
                           data={"csrf_token": token, "text": "x" * (2 * 1024 * 1024)})  # fmt: skip

    assert response.status_code == 400
    assert "表单字段超过 1 MiB" in unescape(response.text)
    assert snapshot() == before


def test_languages_finish_reason_in_words(reviewer, seeded):
    client, _ = reviewer
    chinese = client.get(f"/drafts/{seeded.draft_ids[0]}", headers=CHINESE).text
    english = client.get(f"/drafts/{seeded.draft_ids[0]}").text
    assert "（模型自行结束）" in chinese
    assert "(stopped by the model)" in english


def test_languages_google_ads_units_named(reviewer, seeded):
    client, token = reviewer
    headline = draft_ids(seeded.batch_id, "google_ads_headline")[0]

    page = unescape(client.get(f"/drafts/{headline}", headers=CHINESE).text)
    edited = client.post(f"/drafts/{headline}/edit", headers=CHINESE,
                         data={"csrf_token": token, "text": "暖屿智能保温杯双十一立减三十元快来抢购"})  # fmt: skip

    assert "个 Google Ads 计数单位，按平台的计数方式：全角字符（中文、日文、韩文）计 2，其他字符计 1。" in page
    assert edited.status_code == 422
    assert "修改后的文案有 38 个 Google Ads 计数单位，超过 google_ads_headline 的硬性上限 30；请删减 8 个 Google Ads 计数单位" in alert_of(edited.text)


def test_languages_queue_shows_names(reviewer, seeded):
    client, _ = reviewer
    page = unescape(client.get("/queue?channel=email_subject", headers=CHINESE).text)
    assert "<bdi>Ridgeline launch</bdi> / <bdi>Hikers</bdi> / 邮件主题 / v1" in page
    assert 'title="ridgeline / hikers / email_subject"' in page


def test_languages_cleared_fields_on_batch_page(client_for, tmp_path):
    marketer, token = client_for("marketer")
    reviewer, reviewer_token = client_for("reviewer")
    reviewer.post("/settings", data={"csrf_token": reviewer_token, "locale": "zh-CN"})

    response = upload_without_banned_terms(marketer, token, tmp_path, headers=CHINESE)

    assert import_warnings_of(response.text) == [("品牌 trailpeak", "文件中没有写 banned_terms，导入已将其清空")]
    assert "<h2>导入清空的已存字段</h2>" in response.text
    # Each reader sees the stored warning in their own language.
    page = reviewer.get("/batches/3", headers={"Accept-Language": "en"})
    assert import_warnings_of(page.text) == import_warnings_of(response.text)
    english = marketer.get("/batches/3", headers={"Accept-Language": "en"})
    assert import_warnings_of(english.text) == [
        ("Brand trailpeak", "the import cleared banned_terms, which the file left out"),
    ]


def test_languages_upload_dry_run_in_chinese(client_for, tmp_path):
    client, token = client_for("marketer")
    path = write_campaign_file(tmp_path, key="fresh", channels=("email_subject",))
    data = yaml.safe_load(path.read_text())
    data["brands"][0]["banned_terms"] = ["cheap"]
    client.post("/batches", data={"csrf_token": token},
                files={"file": ("fresh.yaml", yaml.safe_dump(data).encode(), "application/x-yaml")})  # fmt: skip
    before = snapshot()

    response = post_dry_run(client, token, "fresh.yaml", path.read_bytes(), headers=CHINESE)

    assert response.status_code == 200
    page = unescape(response.text)
    assert "<h2>已检查“fresh.yaml”，未提交</h2>" in page
    assert "未保存任何内容。文件有效，每条提示词都能渲染，提交后将创建一个包含 4 个生成请求的批次。" in page
    assert planned_rows_of(response.text) == [
        ("活动", "渠道", "新词元上限", "生成请求"),
        ("fresh", "邮件主题 email_subject", "24", "4"),
    ]
    assert "<h2>提交此文件将清空的已存字段</h2>" in page
    assert "文件中没有写 banned_terms，导入将其清空" in page
    assert '<button type="submit" name="dry_run" value="true" class="secondary">只检查，不提交</button>' in page
    assert snapshot() == before



@pytest.mark.parametrize(
    ("headers", "start"),
    [({}, "Channels: google_ads_headline, "), (CHINESE, "渠道：google_ads_headline、")],
    ids=["english", "chinese"],
)
def test_languages_upload_channel_list_separator(client_for, headers, start):
    client, _ = client_for("marketer")
    page = client.get("/batches/new", headers=headers).text
    hint = re.search(r'<p class="hint" id="channel-keys">([^<]*)</p>', page)
    assert hint, "the upload page lists no channels"
    assert unescape(hint.group(1)).startswith(start)


def test_languages_queue_campaign_one_term(reviewer):
    client, _ = reviewer
    page = client.get("/queue", headers=CHINESE).text
    assert re.search(r'<label>活动\s*<select name="campaign">', page)
    assert ">活动 / 分群 / 渠道</a></th>" in page
    assert "营销活动" not in page


def test_languages_template_sync_error_in_chinese(client_for, tmp_path, monkeypatch):
    folder = broken_template_folder(tmp_path, monkeypatch)
    client, token = client_for("admin")

    response = client.post("/templates/sync", data={"csrf_token": token}, headers=CHINESE)

    assert response.status_code == 422
    assert alert_of(response.text).split("\n") == [
        "提示词模板无效，没有同步任何模板：",
        f"  - {folder / 'sms.j2'}，第 1 行第 6 列：含有不可见的控制字符 U+202E；请删除它",
        f"  - {folder / 'email_subject.j2'}，第 1 行：活动未填写可选字段 product.price 时，'None' has no "
        "attribute 'upper'；请只在 {% if product.price %} … {% endif %} 中使用该字段",
    ]
