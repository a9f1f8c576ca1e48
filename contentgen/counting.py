"""Counting text the way ad and messaging platforms count it.

``contentgen.channels.measure`` applies these methods with a channel's limits. The CLI,
the API and the review page all count through it, so a draft shows the same number
everywhere. Three methods exist:

- ``graphemes``: user-visible characters (Unicode extended grapheme clusters). An emoji
  with a skin tone, a flag or a family joined with zero-width joiners is one character,
  and so is a letter with combining accents.
- ``google_ads``: Google Ads counts each full-width character (Chinese, Japanese, Korean,
  full-width Latin letters and punctuation) as 2 and everything else as 1. Here that is
  each grapheme cluster whose first code point has East Asian Width "W" (wide) or "F"
  (full-width).
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

_GRAPHEME = regex.compile(r"\X")

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"


class Counting(str, enum.Enum):
    """The method a channel uses to count the length of its text."""

    GRAPHEMES = "graphemes"
    GOOGLE_ADS = "google_ads"
    SMS = "sms"

    @property
    def unit(self) -> str:
        """The unit's name in messages, e.g. "Google Ads units"."""
        return _UNITS[self]

    @property
    def description(self) -> str:
        """The counting rule, as one sentence."""
        return _DESCRIPTIONS[self]


_UNITS = {
    Counting.GRAPHEMES: "characters",
    Counting.GOOGLE_ADS: "Google Ads units",
    Counting.SMS: "SMS units",
}
_DESCRIPTIONS = {
    Counting.GRAPHEMES: "Each user-visible character counts 1, an emoji sequence included.",
    Counting.GOOGLE_ADS: "A full-width (Chinese, Japanese, Korean) character counts 2, others 1.",
    Counting.SMS: "GSM-7 text counts septets; other text is UCS-2 and counts UTF-16 code units.",
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
    return len(graphemes(text))
