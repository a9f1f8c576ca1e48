import pytest

from contentgen.counting import (
    Counting,
    count_length,
    google_ads_length,
    graphemes,
    sms_encoding,
    sms_length,
    x_length,
)


def test_graphemes_keep_zwj_sequence_whole():
    family = "👨\u200d👩\u200d👧\u200d👦"
    assert graphemes(f"a{family}b") == ["a", family, "b"]


def test_graphemes_keep_skin_tone_with_emoji():
    assert graphemes("👍🏿👍") == ["👍🏿", "👍"]


@pytest.mark.parametrize(
    ("text", "length"),
    [("Hike", 4), ("登山", 4), ("ＡＢ", 4), ("ｱｲ", 2), ("，", 2), (",", 1), ("한글", 4)],
    ids=["latin", "han", "full-width-latin", "half-width-katakana", "full-width-comma", "comma", "hangul"],
)
def test_google_ads_length_counts_full_width_double(text, length):
    assert google_ads_length(text) == length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Dry feet", 8),
        ("四季好茶", 8),
        ("Café", 4),
        ("Cafe\u0301", 4),
        ("Hi 👍🏽", 5),
        ("👨\u200d👩\u200d👧 and 🇨🇳", 9),
        ("“Go”…", 6),
        ("Shop https://example.com/boots/ridgeline-gtx-waterproof now", 32),
        ("Shop www.example.com/boots", 28),
        ("Привет", 6),
        ("详情见 https://example.com/ridgeline，春天来了", 40),
        ("立即购买https://example.com/boots", 31),
        ("Shop https://example.com/boots.", 29),
    ],
    ids=["latin", "han", "precomposed", "combining-accent", "emoji-with-skin-tone", "zwj-and-flag",
         "quotes-and-ellipsis", "link", "www-link", "cyrillic", "chinese-after-link",
         "link-after-chinese", "full-stop-after-link"],
)
def test_x_length_weighs_like_twitter_text(text, length):
    assert x_length(text) == length
    assert count_length(text, Counting.X) == length


@pytest.mark.parametrize(
    ("text", "encoding", "length"),
    [("Hello", "GSM-7", 5), ("10€ [off]", "GSM-7", 12), ("café", "GSM-7", 4),
     ("ça", "UCS-2", 2), ("Hi 😀", "UCS-2", 5), ("你好", "UCS-2", 2)],
    ids=["plain", "extension-characters", "accent-in-gsm", "cedilla-not-in-gsm", "emoji", "chinese"],
)  # fmt: skip
def test_sms_length_counts_encoding_units(text, encoding, length):
    assert sms_encoding(text) == encoding
    assert sms_length(text) == length


def test_count_length_graphemes_for_arabic_with_marks():
    assert count_length("مَرْحَبًا", Counting.GRAPHEMES) == 5
