"""Counting text the way ad and messaging platforms count it.

``contentgen.channels.measure`` applies these methods with a channel's limits. The CLI,
the API and the review page all count through it, so a draft shows the same number
everywhere. Four methods exist:

- ``graphemes``: user-visible characters (Unicode extended grapheme clusters). An emoji
  with a skin tone, a flag or a family joined with zero-width joiners is one character,
  and so is a letter with combining accents.
- ``google_ads``: Google Ads counts each full-width character (Chinese, Japanese, Korean,
  full-width Latin letters and punctuation) as 2 and everything else as 1. Here that is
  each grapheme cluster whose first code point has East Asian Width "W" (wide) or "F"
  (full-width).
- ``x``: X (Twitter) weighs text as twitter-text's v3 configuration says
  (github.com/twitter/twitter-text, config/v3.json): a link counts 23, an emoji 2, a code
  point up to U+10FF (Latin, Greek, Cyrillic, Arabic, Hebrew, Thai, ...) and a few
  punctuation ranges 1, and any other code point (Chinese, Japanese, Korean) 2. The text
  is NFC-normalised first.
- ``sms``: one message segment. Text that the GSM 03.38 default alphabet can encode (GSM-7)
  is counted in septets, where the extension characters ``^ { } [ ] ~ | € \\`` take two.
  Any other text is sent as UCS-2 and counted in UTF-16 code units, so an emoji outside the
  Basic Multilingual Plane takes two.
"""

from __future__ import annotations

import enum
import unicodedata

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import regex

from contentgen.i18n import N_

_GRAPHEME = regex.compile(r"\X")

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"


class Counting(str, enum.Enum):
    """The method a channel uses to count the length of its text."""

    GRAPHEMES = "graphemes"
    GOOGLE_ADS = "google_ads"
    X = "x"
    SMS = "sms"

    @property
    def unit(self) -> str:
        """The unit's name in messages, e.g. "Google Ads units"."""
        return _UNITS[self]

    @property
    def description(self) -> str:
        """The counting rule, as one sentence."""
        return _DESCRIPTIONS[self]


# Marked for the catalogue because check results on the review pages name the unit.
_UNITS = {
    Counting.GRAPHEMES: N_("characters"),
    Counting.GOOGLE_ADS: N_("Google Ads units"),
    Counting.X: N_("X units"),
    Counting.SMS: N_("SMS units"),
}
# Marked for the catalogue because the draft page explains the count with them.
_DESCRIPTIONS = {
    Counting.GRAPHEMES: N_("Each user-visible character counts 1, an emoji sequence included."),
    Counting.GOOGLE_ADS: N_("A full-width (Chinese, Japanese, Korean) character counts 2, others 1."),
    Counting.X: N_("A link counts 23, an emoji or a Chinese, Japanese or Korean character 2, others 1."),
    Counting.SMS: N_("GSM-7 text counts septets; other text is UCS-2 and counts UTF-16 code units."),
}


def graphemes(text: str) -> list[str]:
    """Split text into user-visible characters (extended grapheme clusters)."""
    return _GRAPHEME.findall(text)


def is_wide(cluster: str) -> bool:
    """Return whether a grapheme cluster is full-width, judged by its first code point."""
    return bool(cluster) and unicodedata.east_asian_width(cluster[0]) in ("W", "F")


def google_ads_length(text: str) -> int:
    """Count text as Google Ads does: 2 per full-width character, 1 per other character.

    NOTE: Google does not publish how it counts emoji. A wide emoji (most of them, with
    or without a skin tone or joiners) counts 2 here, while a flag or a text-style symbol
    such as U+2764 with a variation selector counts 1.
    """
    return sum(2 if is_wide(cluster) else 1 for cluster in graphemes(text))


# twitter-text v3: code points in these ranges weigh 1, every other code point 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
# X replaces every link with a t.co link of this length.
X_LINK_LENGTH = 23
# A link: http://, https:// or www. up to white space, a Chinese, Japanese or Korean
# character or full-width punctuation (these scripts put no space after a link), without
# trailing ASCII punctuation. It may follow such a character directly ("购买https://…").
# NOTE: X also links bare domains ("example.com/boots") and domains in other scripts
# ("https://例子.com"). These are counted character by character here, so such a post may
# count longer than on X.
LINK = regex.compile(
    r"(?<![\p{Latin}\p{N}_])(?:https?://|www\.)"
    r"[^\s\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u3000-\u303f\uff00-\uffef]+"
    r"(?<![.,;:!?)\]}'\"])",
    regex.IGNORECASE,
)
# An emoji: a cluster with a pictographic code point, or a flag of two regional indicators.
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}{2}")


def x_length(text: str) -> int:
    """Count text as X does: 23 per link, 2 per emoji, and 1 or 2 per other code point."""
    normalized = unicodedata.normalize("NFC", text)
    links = LINK.findall(normalized)
    length = X_LINK_LENGTH * len(links)
    for cluster in graphemes(LINK.sub("", normalized)):
        if _EMOJI.search(cluster):
            length += 2
        else:
            length += sum(_x_weight(character) for character in cluster)
    return length


def _x_weight(character: str) -> int:
    code = ord(character)
    return 1 if any(start <= code <= end for start, end in _X_LIGHT_RANGES) else 2


def sms_encoding(text: str) -> str:
    """Return "GSM-7" if the GSM 03.38 default alphabet encodes the whole text, else "UCS-2"."""
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        return UCS_2
    return GSM_7


def sms_length(text: str) -> int:
    """Count text in its SMS encoding: GSM-7 septets, or UTF-16 code units for UCS-2."""
    if sms_encoding(text) == GSM_7:
        # The codec writes one byte per septet and an escape byte before each extension
        # character, which is exactly how many septets the message uses.
        return len(text.encode("gsm03.38"))
    return len(text.encode("utf-16-le")) // 2


def count_length(text: str, counting: Counting) -> int:
    """Count the length of ``text`` with the given method."""
    if counting is Counting.GOOGLE_ADS:
        return google_ads_length(text)
    if counting is Counting.SMS:
        return sms_length(text)
    if counting is Counting.X:
        return x_length(text)
    return len(graphemes(text))
