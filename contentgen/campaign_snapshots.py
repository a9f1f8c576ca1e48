"""The campaign values that a generation request was made with, which describe its draft.

A campaign imported again may change its locale, product URL, names or brand. A draft
written before that import was written for the old values, so English copy stays English
after the campaign switches to ``de-DE``. Each request therefore stores the values that
exports and draft details show, as they were when its batch was created.
"""

from __future__ import annotations

from typing import Any

from contentgen.campaigns import CampaignSpec
from contentgen.models import Campaign

# The keys of a stored snapshot, named as the export columns that show them.
SNAPSHOT_KEYS = ("brand", "campaign_name", "segment_name", "locale", "final_url")


def take_snapshots(campaign: Campaign, spec: CampaignSpec) -> dict[str, dict[str, Any]]:
    """Build the snapshot of each segment of ``campaign``, by segment key."""
    shared = {
        "brand": campaign.brand.key,
        "campaign_name": spec.display_name,
        "locale": spec.locale,
        "final_url": spec.product.url,
    }
    return {segment.key: {**shared, "segment_name": segment.name} for segment in spec.segments}


def read_snapshot(
    stored: dict[str, Any] | None, campaign: Campaign, segment: str
) -> dict[str, Any]:
    """Return the values of ``SNAPSHOT_KEYS`` that a request of ``campaign`` and ``segment``
    was made with: its stored snapshot, or else the campaign's current values."""
    if stored is not None:
        return {key: stored.get(key) for key in SNAPSHOT_KEYS}
    # NOTE: requests created before revision 0015 have no snapshot, so their drafts are
    # described by the campaign as it is now. An import since then (a new locale, URL or
    # segment name) shows in their exports although the copy was written before it.
    spec = campaign.spec
    segment_names = {item["key"]: item["name"] for item in spec.get("segments", [])}
    return {
        "brand": campaign.brand.key,
        "campaign_name": campaign.name,
        "segment_name": segment_names.get(segment, segment),
        "locale": spec.get("locale"),
        "final_url": (spec.get("product") or {}).get("url"),
    }
