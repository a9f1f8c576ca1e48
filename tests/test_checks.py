"""Counting and checks on texts in many scripts: one table, each row with its expected
length (as the channel's platform counts it) and the exact set of checks that fail."""

import re

import pytest

from contentgen.channels import measure
from contentgen.checks import (
    CheckContext,
    CheckResult,
    Sibling,
    check_near_duplicate,
    check_prompt_echo,
    check_repetition,
    run_checks,
    score_draft,
)
from contentgen.rules import Term, brand_rules, find_terms

PROMPT = """Write one Google Ads responsive search ad headline for Ridgeline GTX by TrailPeak.
Product facts:
- A waterproof mid-height hiking boot
Audience: Weekend hikers
Approach: lead with the main benefit
Rules:
- At most 30 characters, including spaces.
- Write in English.
- Never use: cheap, 100% waterproof, 最佳
Reply with the headline text only: no quotes, no label, no explanation."""

BANNED = ("cheap", "100% waterproof", "最佳")


def context(channel: str, locale: str = "en-US", disabled_packs: tuple[str, ...] = ()) -> CheckContext:
    return CheckContext(
        channel=channel,
        locale=locale,
        rules=brand_rules(BANNED, (), (), disabled_packs, locale),
        prompt=PROMPT,
        campaign_values=("Ridgeline GTX", "TrailPeak", "A waterproof mid-height hiking boot",
                         "Weekend hikers", *BANNED),
        names=("Ridgeline GTX", "TrailPeak"),
        region={"zh-CN": "CN", "ja-JP": "JP", "ar-SA": "SA"}.get(locale, "US"),
    )  # fmt: skip


HEADLINE = "google_ads_headline"
DESCRIPTION = "google_ads_description"
META_HEADLINE = "meta_headline"
SOCIAL = "social_post"
SMS = "sms"
ZH_SMS_80 = "山岚四季茶礼盒，一盒装下明前龙井、武夷岩茶、云南滇红和福鼎白茶，每种五十克，春节送礼正合适。现在下单全国包邮，买两盒享九折优惠，详情请看官网活动页面，欢迎选购。"

# id, channel, locale, text, expected length, failed checks
CASES = [
    # English
    ("en-headline-at-limit", HEADLINE, "en-US", "Boots that keep up on wet rock", 30, set()),
    ("en-headline-over-limit", HEADLINE, "en-US", "Boots that keep up on wet rocks", 31, {"length"}),
    ("en-description-fits", DESCRIPTION, "en-US",
     "Grippy soles and a breathable membrane for weekend trails. Pre-order now.", 73, set()),
    ("en-social-fits", SOCIAL, "en-US", "New boots for rough trails are here.", 36, set()),
    # Chinese: Google Ads counts each character, full-width comma included, as 2
    ("zh-headline-counts-double", HEADLINE, "zh-CN", "四季好茶，一盒尝遍", 18, set()),
    ("zh-headline-over-limit", HEADLINE, "zh-CN", "四季好茶一盒尝遍春节送礼就选山岚", 32, {"length"}),
    ("zh-meta-counts-single", META_HEADLINE, "zh-CN", "四季好茶，一盒尝遍", 9, set()),
    ("zh-pack-absolute-term", SOCIAL, "zh-CN", "春节最佳茶礼", 6, {"banned_terms"}),
    ("zh-pack-term-split-by-space", SOCIAL, "zh-CN", "全网第 一的好茶", 8, {"banned_terms"}),
    ("zh-pack-term-split-by-dot", SOCIAL, "zh-CN", "最·佳春节礼物", 7, {"banned_terms"}),
    ("zh-pack-allowed-word", SOCIAL, "zh-CN", "最近上新的春茶", 7, set()),
    ("zh-english-output", SOCIAL, "zh-CN", "Spring tea gift box for parents", 31, {"language"}),
    ("zh-brand-name-in-latin", SOCIAL, "zh-CN", "TrailPeak 登山靴，防水又透气", 19, set()),
    ("zh-link-without-spaces", SOCIAL, "zh-CN", "立即购买https://example.com/ridgeline-gtx-boots", 43, set()),
    # Text that shows nothing
    ("empty-zero-width-spaces", SOCIAL, "en-US", "\u200b\u200b", 2, {"empty"}),
    ("empty-blank-braille", SOCIAL, "en-US", "\u2800 \u200d", 2, {"empty"}),
    # Chinese script: zh-TW expects Traditional, zh-CN Simplified, plain zh either
    ("zh-tw-simplified-output", SOCIAL, "zh-TW", "轻盈防水登山靴，周末出发更从容", 15, {"language"}),
    ("zh-tw-traditional-output", SOCIAL, "zh-TW", "輕盈防水登山靴，週末出發更從容", 15, set()),
    ("zh-cn-traditional-output", SOCIAL, "zh-CN", "立即預購，免運費", 8, {"language"}),
    ("zh-hk-one-simplified-character", SOCIAL, "zh-HK", "輕盈防水登山靴，週末出发", 12, set()),
    ("zh-without-script-takes-either", SOCIAL, "zh", "立即預購，免運費", 8, set()),
    ("zh-hant-cn-traditional-output", SOCIAL, "zh-Hant-CN", "立即預購，免運費", 8, set()),
    ("yue-hk-traditional-output", SOCIAL, "yue-HK", "立即預購，免運費", 8, set()),
    ("yue-hk-simplified-output", SOCIAL, "yue-HK", "轻盈防水登山靴，周末出发更从容", 15, {"language"}),
    # Chat replies and placeholders in Chinese and Japanese
    ("zh-leaked-preamble", SOCIAL, "zh-CN", "好的，这是一条帖子：四季好茶", 14, {"leaked_tokens"}),
    ("zh-leaked-placeholder", SOCIAL, "zh-CN", "【您的姓名】您好，春茶到了", 13, {"leaked_tokens"}),
    ("zh-placeholder-price", SOCIAL, "zh-CN", "新茶上市，满XX元立减", 11, {"leaked_tokens"}),
    ("zh-tw-assistant-apology", SOCIAL, "zh-TW", "作為一個AI助理，我無法撰寫廣告", 16,
     {"leaked_tokens"}),
    ("ja-leaked-preamble", META_HEADLINE, "ja-JP", "はい、春の新作ブーツ", 10, {"leaked_tokens"}),
    ("zh-copy-opening-with-good", SOCIAL, "zh-CN", "好的茶，值得慢慢等", 9, set()),
    ("zh-size-xxl", SOCIAL, "zh-CN", "XXL码现货，今天发货", 11, set()),
    ("zh-sms-over-ucs2-limit", SMS, "zh-CN", ZH_SMS_80, 80, {"length"}),
    # Japanese
    ("ja-headline-counts-double", HEADLINE, "ja-JP", "春の新作ハイキングブーツ", 24, set()),
    ("ja-half-width-katakana-counts-single", HEADLINE, "ja-JP", "ﾊｲｷﾝｸﾞﾌﾞｰﾂ", 8, set()),
    ("ja-english-output", META_HEADLINE, "ja-JP", "Waterproof boots for spring", 27, {"language"}),
    # Arabic
    ("ar-meta-headline", META_HEADLINE, "ar-SA", "أحذية مقاومة للماء لكل الدروب", 29, set()),
    ("ar-diacritics-join-letters", META_HEADLINE, "ar-SA", "مَرْحَبًا", 5, set()),
    ("ar-english-output", META_HEADLINE, "ar-SA", "Waterproof boots for every trail", 32, {"language"}),
    # Emoji: a skin tone or a zero-width-joiner sequence is one character
    ("emoji-skin-tone", META_HEADLINE, "en-US", "Ready 👍🏽", 7, set()),
    ("emoji-zwj-family", META_HEADLINE, "en-US", "Family hikes 👨‍👩‍👧‍👦", 14, set()),
    ("emoji-zwj-google-counts-double", HEADLINE, "en-US", "Hike on 👩🏽‍💻", 10, set()),
    ("emoji-flag", META_HEADLINE, "en-US", "Made in 🇺🇸", 9, set()),
    ("emoji-sms-forces-ucs2", SMS, "en-US", "TrailPeak: boots 👍", 19, set()),
    ("sms-gsm7-euro-takes-two", SMS, "en-US", "TrailPeak: save 10€ today", 26, set()),
    # Full-width letters and punctuation
    ("full-width-latin-google", HEADLINE, "en-US", "Ｈｉｋｅ！", 10, set()),
    ("full-width-punctuation-meta", META_HEADLINE, "zh-CN", "春茶上新！限时九折。", 10, set()),
    # Banned terms hidden by case, width or punctuation
    ("banned-upper-case", HEADLINE, "en-US", "CHEAP boots for wet trails", 26, {"banned_terms"}),
    ("banned-full-width", HEADLINE, "en-US", "ｃｈｅａｐ boots for trails", 27, {"banned_terms"}),
    ("banned-dotted", HEADLINE, "en-US", "C.H.E.A.P boots for trails", 26, {"banned_terms"}),
    # A zero-width space is its own (invisible) character.
    ("banned-zero-width-space", HEADLINE, "en-US", "che\u200bap boots for trails", 23, {"banned_terms"}),
    ("banned-phrase-spaced-percent", DESCRIPTION, "en-US", "100 % Waterproof boots for trails", 33,
     {"banned_terms", "claim_terms"}),
    ("banned-only-whole-words", HEADLINE, "en-US", "Cheapside walking tours", 23, set()),
    # Claim words that need substantiation (advisory)
    ("claim-guaranteed", HEADLINE, "en-US", "Guaranteed dry feet", 19, {"claim_terms"}),
    ("claim-number-one", HEADLINE, "en-US", "The #1 trail boot", 17, {"claim_terms"}),
    ("claim-free", HEADLINE, "en-US", "Free shipping on pre-orders", 27, {"claim_terms"}),
    ("claim-best-not-in-bestseller", HEADLINE, "en-US", "Our bestseller is back", 22, set()),
    # Personal data
    ("pii-email", DESCRIPTION, "en-US", "Questions? Write to hello@trailpeak.com", 39, {"personal_data"}),
    ("pii-phone-us", DESCRIPTION, "en-US", "Call (415) 555-0132 to order", 28, {"personal_data"}),
    ("pii-phone-cn", SOCIAL, "zh-CN", "咨询电话 138 0013 8000", 18, {"personal_data"}),
    ("pii-card", DESCRIPTION, "en-US", "Pay with 4111 1111 1111 1111 today", 34, {"personal_data"}),
    ("pii-date-is-not-phone", DESCRIPTION, "en-US", "Sale ends 2027-01-21, so hurry", 30, set()),
    ("pii-year-range-is-not-phone", SOCIAL, "zh-CN", "2019-2022年度新品，限时 2024～2025", 26, set()),
    ("pii-spec-is-not-phone", SOCIAL, "zh-CN", "暖屿保温杯 316-304 双钢", 16, set()),
    ("pii-landline-cn", SOCIAL, "zh-CN", "热线 010-12345678", 15, {"personal_data"}),
    ("pii-hotline-not-in-campaign", SOCIAL, "zh-CN", "订购热线 400-820-8820", 17, {"personal_data"}),
    ("round-quantity-not-phone", SOCIAL, "zh-CN", "春茶上新，限量 10000000 份", 18, set()),
    # Quality
    ("repetition-loop", HEADLINE, "en-US", "Unspun: Unspun: Unspun:", 23, {"repetition"}),
    ("repetition-cjk", SOCIAL, "zh-CN", "好茶好茶好茶好茶", 8, {"repetition"}),
    ("repetition-full-width-marks", SOCIAL, "zh-CN", "山岚茶舍！！！！！！", 10, {"repetition"}),
    ("repetition-emoji", SOCIAL, "en-US", "A mug for you 💰💰💰💰💰💰", 20, {"repetition"}),
    ("emoji-with-variation-selector", SOCIAL, "en-US", "We love these boots ❤️❤️❤️", 23, set()),
    ("five-star-rating", SOCIAL, "en-US", "⭐⭐⭐⭐⭐ rated by hikers", 21, set()),
    ("ellipsis-is-not-repetition", SOCIAL, "en-US", "Wait for it... new boots!!!", 27, set()),
    ("empty-whitespace", HEADLINE, "en-US", "  \n ", 4, {"empty"}),
    ("leaked-special-token", DESCRIPTION, "en-US", "<|im_start|>assistant Boots for you", 35,
     {"leaked_tokens"}),
    ("leaked-placeholder", DESCRIPTION, "en-US", "Hi [Your Name], new boots are here", 34,
     {"leaked_tokens"}),
    ("leaked-bidi-override", HEADLINE, "en-US", "\u202eBoots for wet rock", 19, {"leaked_tokens"}),
    ("leaked-bell-character", SOCIAL, "en-US", "New boots\x07 are here", 19, {"leaked_tokens"}),
    ("leaked-chat-preamble", DESCRIPTION, "en-US", "Sure! Boots for wet rock", 24, {"leaked_tokens"}),
    ("copy-opening-with-of-course", DESCRIPTION, "en-US", "Of course, your feet stay dry.", 30, set()),
    ("zh-copy-opening-with-of-course", SOCIAL, "zh-CN", "当然，好茶需要好水。", 10, set()),
    ("zh-bracketed-heading", SOCIAL, "zh-CN", "【产品介绍】四季好茶，一盒尝遍", 15, set()),
    ("leaked-chatbot-apology", DESCRIPTION, "en-US", "Sorry, as a chatbot I cannot write ads", 38,
     {"leaked_tokens"}),
    ("prompt-echo", DESCRIPTION, "en-US", "Reply with the headline text only", 33, {"prompt_echo"}),
    ("prompt-echo-short-rule", HEADLINE, "en-US", "Write in English.", 17, {"prompt_echo"}),
    ("language-german-for-english", DESCRIPTION, "en-US", "Jetzt vorbestellen und kostenlos liefern lassen",
     47, {"language"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("channel", "locale", "text", "length", "failed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_checks_table(channel, locale, text, length, failed):
    results = run_checks(text, context(channel, locale))

    assert measure(text, channel).length == length
    assert {result.name for result in results if not result.passed} == failed


@pytest.mark.parametrize(
    "text",
    ["订购热线 400 820 8820，现在下单", "Questions? Write to Help@Teahouse.example.com", "Call +86 400-820-8820"],
)
def test_personal_data_campaign_contacts_pass(text):
    context = CheckContext(SOCIAL, "zh-CN", campaign_values=("订购热线：400-820-8820", "help@teahouse.example.com"),
                           region="CN")  # fmt: skip
    check = next(result for result in run_checks(text, context) if result.name == "personal_data")
    assert check.passed


def test_personal_data_other_contacts_fail():
    context = CheckContext(SOCIAL, "zh-CN", campaign_values=("订购热线：400-820-8820",), region="CN")
    check = next(result for result in run_checks("热线 400-820-8820 或 138 0013 8000", context)
                 if result.name == "personal_data")  # fmt: skip
    assert not check.passed
    assert check.detail == 'phone number "138 0013 8000"'


def test_checks_table_is_large_enough():
    assert len(CASES) >= 40


def test_rule_pack_switched_off_allows_its_terms():
    zh = run_checks("春节最佳茶礼", context(SOCIAL, "zh-CN", disabled_packs=("zh-cn-absolute-terms",)))
    en = run_checks("Guaranteed dry feet", context(HEADLINE, disabled_packs=("en-claim-terms",)))

    # 最佳 is also one of this brand's own terms, so only the pack's 最 check is gone.
    assert [result.detail for result in zh if result.name == "banned_terms"] == ['banned: "最佳" (brand)']
    assert all(result.passed for result in en)


def test_banned_term_detail_names_term_and_source():
    results = run_checks("So C.H.E.A.P", context(HEADLINE))
    banned = next(result for result in results if result.name == "banned_terms")
    assert banned.detail == 'banned: "cheap" as "c.h.e.a.p" (brand)'


def test_chinese_script_detail_quotes_characters():
    results = run_checks("立即預購，免運費", context(SOCIAL, "zh-CN"))
    language = next(result for result in results if result.name == "language")
    assert language.detail == (
        "written in Traditional Chinese (4 characters such as 預購運費), but zh-CN expects Simplified"
    )


@pytest.mark.parametrize(
    ("text", "locale", "passed", "english", "chinese"),
    [
        ("Jetzt vorbestellen und kostenlos liefern lassen", "en-US", False,
         r"reads as German \(\d+%\), not English \(\d+%\)", r"识别为德语（\d+%），而非英语（\d+%）"),
        ("Alpes Trail nova bota impermeable lleugera", "en-US", True,
         r"reads most like Catalan \(\d+%\), with English at \d+%, too unsure to flag",
         r"最像加泰罗尼亚语（\d+%），英语占 \d+%；把握不足，不予标记"),
        ("Waterproof boots for spring", "ja-JP", False,
         r"0% of the text is in the script of ja-JP \(Han, Hiragana, and Katakana\); it is mostly Latin",
         r"文本中仅 0% 使用 ja-JP 的文字（汉字、平假名和片假名）；大部分为拉丁文"),
    ],
    ids=["other-language", "unsure", "other-script"],
)  # fmt: skip
def test_language_detail_names_languages(text, locale, passed, english, chinese):
    result = next(result for result in run_checks(text, context(DESCRIPTION, locale)) if result.name == "language")
    assert result.passed is passed
    assert re.fullmatch(english, result.detail)
    assert re.fullmatch(chinese, result.message.render("zh-CN"))


def test_required_term_missing_is_blocking():
    rules = brand_rules((), ("山岚茶舍",), (), (), "zh-CN")
    results = run_checks("四季好茶", CheckContext(SOCIAL, "zh-CN", rules))
    required = next(result for result in results if result.name == "required_terms")
    assert required.blocks
    assert "山岚茶舍" in required.detail


def test_required_term_found_ignoring_width():
    rules = brand_rules((), ("TrailPeak",), (), (), "en-US")
    results = run_checks("Ｔｒａｉｌｐｅａｋ boots", CheckContext(HEADLINE, "en-US", rules))
    assert next(result for result in results if result.name == "required_terms").passed


def test_meta_primary_text_over_shown_length_is_advisory():
    text = ("Our new boots keep your feet dry on wet rock and muddy paths, with grippy soles "
            "that hold on steep ground and a light build for long weekend walks.")  # fmt: skip
    results = run_checks(text, CheckContext("meta_primary_text"))
    shown = next(result for result in results if result.name == "shown_length")
    assert not shown.passed
    assert not shown.blocking
    assert all(result.passed for result in results if result.blocking)


def test_brand_channel_limit_override_applies():
    limits = {HEADLINE: 25}
    fits = run_checks("Boots that keep up on wet", CheckContext(HEADLINE, channel_limits=limits))
    over = run_checks("Boots that keep up on wet!", CheckContext(HEADLINE, channel_limits=limits))
    assert next(result for result in fits if result.name == "length").passed
    assert next(result for result in over if result.name == "length").detail == "26 of 25 Google Ads units"


def test_near_duplicate_flags_similar_variant():
    result = check_near_duplicate("Boots that keep up on wet rock!", [Sibling(1, "Boots that keep up on wet rock")])
    assert not result.passed
    assert "variant 1" in result.detail


def test_near_duplicate_passes_different_variant():
    result = check_near_duplicate("Dry feet on every trail", [Sibling(1, "Boots that keep up on wet rock")])
    assert result.passed


def test_near_duplicate_ignores_case_and_punctuation():
    result = check_near_duplicate("BOOTS, THAT KEEP UP ON WET ROCK", [Sibling(2, "Boots that keep up on wet rock.")])
    assert not result.passed


def test_prompt_echo_ignores_campaign_values():
    result = check_prompt_echo("A waterproof mid-height hiking boot for you", PROMPT, ["A waterproof mid-height hiking boot"])
    assert result.passed


def test_repetition_allows_two_short_repeats():
    assert check_repetition("Go further. Go further with TrailPeak.").passed


def test_repetition_flags_long_phrase_said_twice():
    result = check_repetition("Pre-order now and save today. Pre-order now and save today.")
    assert not result.passed


def test_score_blocked_draft_ranks_below_passing_one():
    measurement = measure("Boots that keep up on wet rock", HEADLINE)
    passing = [CheckResult("length", True, True)]
    blocked = [CheckResult("banned_terms", False, True, "banned")]
    assert score_draft(blocked, measurement, -0.1) < score_draft(passing, measurement, -2.0)


def test_score_prefers_fluent_text():
    measurement = measure("Boots that keep up on wet rock", HEADLINE)
    passing = [CheckResult("length", True, True)]
    assert score_draft(passing, measurement, -0.2) > score_draft(passing, measurement, -2.0)


def test_score_without_logprob_is_neutral():
    measurement = measure("Boots that keep up on wet rock", HEADLINE)
    assert score_draft([CheckResult("length", True, True)], measurement, None) == 0.9


def test_score_over_limit_gets_no_length_credit():
    measurement = measure("Boots that keep up on wet rocks", HEADLINE)
    assert score_draft([CheckResult("length", False, True)], measurement, 0.0) == 0.2


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u2060", "\u00ad", "\u180e", "\u034f", "\u115f", "\u3164", "\uffa0", "\u17b4",
     "\ufe00", "\ufe0f", "\U000e0100"],
    ids=lambda character: f"U+{ord(character):04X}",
)  # fmt: skip
def test_banned_term_split_by_invisible_character(invisible):
    results = run_checks(f"Boots, not chea{invisible}p", context(HEADLINE))
    banned = next(result for result in results if result.name == "banned_terms")
    assert not banned.passed


def test_banned_term_followed_by_variation_selector():
    # An invisible mark after a term is no letter, so the term still ends there.
    results = run_checks("So cheap\ufe0f boots", context(HEADLINE))
    banned = next(result for result in results if result.name == "banned_terms")
    assert not banned.passed


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("So ch\u0435ap boots", 'banned: "cheap" as "ch\u0435ap" (brand)'),
        ("\u0441heap boots", 'banned: "cheap" as "\u0441heap" (brand)'),
        ("CHEAP boots", 'banned: "cheap" (brand)'),
    ],
    ids=["cyrillic-ie", "cyrillic-es", "plain"],
)
def test_banned_term_in_lookalike_letters(text, detail):
    results = run_checks(text, context(HEADLINE))
    banned = next(result for result in results if result.name == "banned_terms")
    assert not banned.passed
    assert banned.detail == detail


def test_lookalike_letters_no_match_in_other_words():
    # "chep" and "cheapside" stay unmatched; a digit stands for a letter only where it
    # looks like one.
    for text in ("Chep boots", "Cheapside walking tours", "Ch3ap boots"):
        results = run_checks(text, context(HEADLINE))
        banned = next(result for result in results if result.name == "banned_terms")
        assert banned.passed, text


def test_required_term_needs_exact_letters():
    rules = brand_rules((), ("TrailPeak",), (), (), "en-US")
    exact = run_checks("TrailPeak boots", CheckContext(channel=HEADLINE, rules=rules))
    lookalike = run_checks("Tr\u0430ilPeak boots", CheckContext(channel=HEADLINE, rules=rules))

    assert next(result for result in exact if result.name == "required_terms").passed
    assert not next(result for result in lookalike if result.name == "required_terms").passed


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("国家级", "國家級工藝，匠心之作", "國家級"),
        ("免費", "全场免费送货", "免费"),
        ("发", "頭髮護理新品", "髮"),
        ("发", "今日發貨", "發"),
    ],
    ids=["simplified-term", "traditional-term", "one-to-two-hair", "one-to-two-send"],
)
def test_banned_term_matches_other_chinese_script(term, text, found):
    matches = find_terms(text, [Term(term, "brand")])
    assert [match.found for match in matches] == [found]


def test_traditional_forms_of_different_characters_do_not_match():
    # 發 (send) and 髮 (hair) share the Simplified form 发 but are different words.
    assert find_terms("頭髮護理", [Term("發", "brand")]) == []
    assert find_terms("今日發貨", [Term("髮", "brand")]) == []


def test_rule_pack_term_in_traditional_script_is_banned():
    results = run_checks("國家級好茶，最佳禮物", context(SOCIAL, "zh-CN"))
    banned = next(result for result in results if result.name == "banned_terms")
    assert not banned.passed
    assert "國家級" in banned.detail
    assert "最佳" in banned.detail


def test_allowed_word_traditional_or_spaced():
    # 最 is banned in zh-CN ads, but 最後 is the Traditional spelling of the allowed 最后,
    # and "最 近" is 最近 with a space, skipped as in terms.
    terms = [Term("最", "zh-cn-absolute-terms", ("最后", "最近"))]
    assert find_terms("最後一天，春茶上新", terms) == []
    assert find_terms("山岚茶舍 最 近上新", terms) == []
    assert [match.found for match in find_terms("最後一天，最好的茶", terms)] == ["最"]


def test_required_term_in_other_chinese_script_is_missing():
    assert find_terms("免费送货", [Term("免費", "brand")], lookalikes=False) == []
