"""Character counts as the ad platforms count them, and which channel limits are hard.

TODO: use contentgen.counting once it exists; this module is a stand-in with the same
rules in small.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

from contentgen.channels import CHANNELS

# Channels whose platform rejects longer copy: Google Ads refuses a responsive search ad
# headline over 30 or a description over 90 characters, and X refuses posts over 280.
# The other channels' limits are advice (a mail client or feed cuts the text off).
HARD_LIMIT_CHANNELS = frozenset({"google_ads_headline", "google_ads_description", "social_post"})

# Google Ads and X count a full-width character (Chinese, Japanese, Korean) as two.
DOUBLE_WIDTH_CHANNELS = frozenset(
    {"google_ads_headline", "google_ads_description", "social_post"}
)


@dataclass(frozen=True)
class CharacterCount:
    count: int
    limit: int
    hard: bool

    @property
    def over(self) -> int:
        """Characters above the limit; 0 when the text fits."""
        return max(0, self.count - self.limit)


def count_characters(text: str, channel: str) -> int:
    """Count ``text`` the way the channel's platform does: one per grapheme cluster, and two
    per full-width cluster on Google Ads and X."""
    clusters = regex.findall(r"\X", text)
    if channel not in DOUBLE_WIDTH_CHANNELS:
        return len(clusters)
    return sum(2 if unicodedata.east_asian_width(cluster[0]) in "WF" else 1 for cluster in clusters)


def measure(text: str, channel: str) -> CharacterCount:
    return CharacterCount(
        count=count_characters(text, channel),
        limit=CHANNELS[channel].max_chars,
        hard=channel in HARD_LIMIT_CHANNELS,
    )
