"""Character counts for review and export, from the channel rules in contentgen.channels.

Every channel limit is enforced by the length check, so an edit over it is rejected: the
edited draft would fail its check at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contentgen.channels import measure as measure_for_channel


@dataclass(frozen=True)
class CharacterCount:
    count: int
    limit: int
    hard: bool = True
    # "platform", "brand" or "contentgen", as in contentgen.channels.Measurement.
    source: str = "platform"

    @property
    def over(self) -> int:
        """Characters above the limit; 0 when the text fits."""
        return max(0, self.count - self.limit)


def count_characters(text: str, channel: str) -> int:
    """Count ``text`` the way the channel's platform does (see contentgen.counting)."""
    return measure_for_channel(text, channel).length


def measure(text: str, channel: str, overrides: Mapping[str, int] | None = None) -> CharacterCount:
    """Count ``text`` for ``channel``, with a brand's ``channel_limits`` applied."""
    measurement = measure_for_channel(text, channel, overrides)
    return CharacterCount(count=measurement.length, limit=measurement.limit, source=measurement.source)
