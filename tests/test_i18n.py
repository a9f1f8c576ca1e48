from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from contentgen.errors import InvalidInput
from contentgen.i18n import CATALOGUE_DIR, N_, negotiate, translate_error, translations

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


def test_i18n_translate_error_translates_status_values():
    error = InvalidInput.from_template(N_("draft {draft_id} is {status}, so it cannot take the action {action}; "
                                          "only drafts that are {allowed} can. Nothing was changed."),
                                       draft_id=4, status="rejected", action="approve", allowed="flagged")  # fmt: skip
    assert str(error).startswith("draft 4 is rejected")
    assert translate_error(error, "zh-CN").startswith("草稿 4 的状态是“已驳回”，不能执行“通过”")


def test_i18n_english_needs_no_catalogue():
    assert translations("en").gettext("Review queue") == "Review queue"
