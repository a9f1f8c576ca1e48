from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from contentgen.errors import InvalidInput
from contentgen.i18n import (
    CATALOGUE_DIR,
    N_,
    Message,
    Names,
    Verbatim,
    join_alternatives,
    match_locale,
    negotiate,
    translate_error,
    translations,
)
from contentgen.models import DraftStatus

REPOSITORY = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("contentgen/**.py", "python"), ("contentgen/web/templates/**.html", "jinja2")]


def extracted_messages() -> set[str]:
    messages = set()
    for _, _, message, _, _ in extract_from_dir(REPOSITORY, METHODS, keywords=KEYWORDS):
        messages.add(message[0] if isinstance(message, tuple) else message)
    return messages


def test_i18n_chinese_catalogue_translates_every_message():
    with (CATALOGUE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {
        message.id[0] if isinstance(message.id, tuple) else message.id
        for message in catalogue
        if message.id and message.string and not message.fuzzy
        and (not isinstance(message.string, tuple) or all(message.string))
    }
    messages = extracted_messages()
    assert len(messages) > 150
    assert sorted(messages - translated) == []


def test_i18n_chinese_campaign_has_one_term():
    # "营销活动" and "活动" both translate "campaign". The catalogue uses "活动", so a page
    # that labels the same thing both ways (a column header and its filter) reads as two things.
    with (CATALOGUE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    campaign_messages = [
        message for message in catalogue
        if message.id and "campaign" in str(message.id).lower()
    ]  # fmt: skip
    using_long_term = [message.id for message in campaign_messages if "营销活动" in str(message.string)]
    assert len(campaign_messages) > 50
    assert using_long_term == []
    assert translations("zh-CN").gettext("Campaign") == "活动"
    assert translations("zh-CN").gettext("Campaigns:") == "活动："


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR", "en"),
        ("en;q=0.5,zh;q=0.9", "zh-CN"),
        ("", "en"),
        (None, "en"),
        ("zh;q=0, en", "en"),
    ],
    ids=["zh-CN", "zh-Hans", "en-US", "unsupported", "quality", "empty", "missing", "refused"],
)
def test_i18n_negotiate_accept_language(header, expected):
    assert negotiate(header) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("zh", "zh-CN"), ("zh-cn", "zh-CN"), ("zh-Hans", "zh-CN"), ("zh_CN", "zh-CN"), ("ZH-SG", "zh-CN"),
     ("en", "en"), ("EN", "en"), ("en-US", "en"), ("en_GB", "en"), (" en ", "en"),
     ("zh-TW", None), ("zh-Hant", None), ("fr", None), ("english", None), ("", None)],
)  # fmt: skip
def test_i18n_match_locale(tag, expected):
    assert match_locale(tag) == expected


def test_i18n_translate_error_translates_status_values():
    error = InvalidInput.from_template(N_("draft {draft_id} is {status}, so it cannot be approved; only drafts that "
                                          "are {allowed} can be. Nothing was changed."),
                                       draft_id=4, status="rejected", allowed="flagged")  # fmt: skip
    assert str(error).startswith("draft 4 is rejected")
    assert translate_error(error, "zh-CN").startswith("草稿 4 的状态是“已驳回”，因此不能通过")


def test_i18n_english_needs_no_catalogue():
    assert translations("en").gettext("Review queue") == "Review queue"


# The labels that contentgen/web/templates/_macros.html shows for each draft status.
STATUS_LABELS = {
    "pending_review": "Pending review",
    "flagged": "Flagged",
    "approved": "Approved",
    "rejected": "Rejected",
}


@pytest.mark.parametrize("status", [status.value for status in DraftStatus])
def test_i18n_status_in_message_matches_page_label(status):
    chinese = translations("zh-CN").gettext
    assert chinese(status) == chinese(STATUS_LABELS[status])


@pytest.mark.parametrize(
    ("words", "english"),
    [
        ([], ""),
        (["admin"], "admin"),
        (["reviewer", "admin"], "reviewer or admin"),
        (["approved", "flagged", "pending_review"], "approved, flagged or pending_review"),
    ],
    ids=["none", "one", "two", "three"],
)
def test_i18n_join_alternatives_english(words, english):
    assert join_alternatives(words) == english


NOT_ALLOWED = N_("draft {draft_id} is {status}, so it cannot be approved; only drafts that are {allowed} can "
                 "be. Nothing was changed.")  # fmt: skip


@pytest.mark.parametrize(
    ("statuses", "chinese"),
    [
        (["flagged", "pending_review"], "只有状态为“已标记”或“待审核”的草稿可以通过"),
        (["approved", "flagged", "pending_review"], "只有状态为“已通过”、“已标记”或“待审核”的草稿可以通过"),
    ],
    ids=["two", "three"],
)
def test_i18n_translate_error_translates_status_list(statuses, chinese):
    error = InvalidInput.from_template(NOT_ALLOWED, draft_id=4, status="rejected",
                                       allowed=join_alternatives(statuses))  # fmt: skip

    assert f"only drafts that are {join_alternatives(statuses)} can be" in str(error)
    assert chinese in translate_error(error, "zh-CN")


def test_i18n_translate_error_keeps_verbatim_and_mixed_values():
    error = InvalidInput.from_template(N_("user {username} has the role {role}, which may not {permission}; "
                                          "this needs the role {allowed}"),
                                       username="flagged or someone", role=Verbatim("admin"),
                                       permission="admin", allowed=Verbatim("admin"))  # fmt: skip
    assert translate_error(error, "zh-CN") == (
        "用户 flagged or someone 的角色是 admin，无权执行“管理”；此操作需要角色：admin"
    )


def test_i18n_verbatim_list_translates_only_separators():
    error = InvalidInput.from_template(N_("user {username} has the role {role}, which may not {permission}; "
                                          "this needs the role {allowed}"),
                                       username="mia", role=Verbatim("marketer"), permission="review",
                                       allowed=Verbatim(join_alternatives(["marketer", "reviewer", "admin"])))  # fmt: skip

    assert str(error).endswith("this needs the role marketer, reviewer or admin")
    assert translate_error(error, "zh-CN").endswith("此操作需要角色：“marketer”、“reviewer”或“admin”")


def test_i18n_names_render_in_reader_language():
    message = Message("{languages} in {scripts}", {"languages": Names("language", ("la", "ca")),
                                                   "scripts": Names("script", ("Hani", "Zzzz9"))})  # fmt: skip
    stored = Message.from_json(message.to_json())

    assert stored == message
    assert stored.render("en") == "Latin and Catalan in Han and Zzzz9"
    assert stored.render("zh-CN") == "拉丁语和加泰罗尼亚语 in 汉字和Zzzz9"
