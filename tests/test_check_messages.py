"""Check results as messages: stored as JSON, and shown in the reader's language."""

import re
from dataclasses import replace

import pytest

from contentgen.checks import CHECK_NAMES, Sibling, check_near_duplicate, run_checks
from contentgen.i18n import Message, translations

from .test_checks import CASES, DESCRIPTION, HEADLINE, SOCIAL, context


def templates_of(value: object) -> list[str]:
    if isinstance(value, Message):
        return [value.template, *(t for item in value.params.values() for t in templates_of(item))]
    if isinstance(value, list):
        return [template for item in value for template in templates_of(item)]
    return []


def all_results():
    for _, channel, locale, text, _, _ in CASES:
        yield from run_checks(text, context(channel, locale))
    yield from run_checks("Boots " * 30, context("meta_primary_text"))
    yield from run_checks("Boots for wet", replace(context(SOCIAL), cut_at_tokens=48))
    yield check_near_duplicate("Boots for wet rock", [Sibling(2, "Boots for wet rocks")])
    yield check_near_duplicate("Boots", [])
    yield check_near_duplicate("", [Sibling(2, "Boots")])


def test_check_messages_every_template_translated():
    gettext_ = translations("zh-CN").gettext
    untranslated = set()
    for result in all_results():
        for template in templates_of(result.message):
            words = re.sub(r"\{[^}]*\}", "", template)
            if any(character.isalpha() for character in words) and gettext_(template) == template:
                untranslated.add(template)
    assert not untranslated


def test_check_messages_cover_every_check():
    names = {result.name for result in all_results() if result.message is not None}
    # empty, cut_off, repetition, leaked_tokens, prompt_echo and personal_data carry a
    # message only when they fail; the cases above have a failing one of each.
    assert names == set(CHECK_NAMES)


def test_check_messages_results_hashable():
    # Results are compared and hashed by name, outcome and English detail only.
    results = list(all_results())
    assert len(set(results)) <= len(results)
    assert check_near_duplicate("Boots", []) == check_near_duplicate("Boots", [])


@pytest.mark.parametrize(
    ("text", "channel", "locale", "name", "expected"),
    [
        ("So C.H.E.A.P", HEADLINE, "en-US", "banned_terms", "含禁用词：“cheap”，写作“c.h.e.a.p”（品牌）"),
        ("立即預購，免運費", SOCIAL, "zh-CN", "language",
         "使用了繁体中文（4 个字，如 預購運費），但 zh-CN 应使用简体"),
        ("Boots that keep up on wet rocks", HEADLINE, "en-US", "length", "31/30 个 Google Ads 计数单位"),
        ("Mail a@b.co or call (415) 555-0132", DESCRIPTION, "en-US", "personal_data",
         "电子邮件地址“a@b.co”；电话号码“(415) 555-0132”"),
        ("<|im_start|>Boots", DESCRIPTION, "en-US", "leaked_tokens", "特殊词元“<|im_start|>”"),
        ("Unspun: Unspun: Unspun:", HEADLINE, "en-US", "repetition", "“unspun”连续重复 3 次"),
    ],
    ids=["banned-as", "chinese-script", "length", "personal-data-list", "leaked", "repetition"],
)  # fmt: skip
def test_check_messages_render_chinese(text, channel, locale, name, expected):
    result = next(result for result in run_checks(text, context(channel, locale)) if result.name == name)
    assert not result.passed
    assert result.message.render("zh-CN") == expected


def test_check_messages_json_round_trip():
    for result in all_results():
        if result.message is not None:
            stored = Message.from_json(result.message.to_json())
            assert stored == result.message
            assert stored.render("zh-CN") == result.message.render("zh-CN")


def test_check_messages_data_stays_untranslated():
    # A term that is also a catalogue word ("brand", "length") or looks like a stored
    # message is data, and is shown as written in every language.
    tricky = '{"t": "length"}'
    message = Message('banned: {terms}', {"terms": [Message('"{term}"', {"term": "brand"}), tricky]})
    stored = Message.from_json(message.to_json())

    assert stored.params["terms"][1] == tricky
    assert stored.render("zh-CN") == '含禁用词：“brand”；{"t": "length"}'
