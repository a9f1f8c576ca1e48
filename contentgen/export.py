"""Exporting a batch's approved drafts: CSV, JSON, and a Google Ads Editor CSV.

Generated text is untrusted. The CSV files are for spreadsheet programs, which run a cell
that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so such cells get a leading
apostrophe (the neutralisation OWASP describes for CSV injection). Both CSV files are UTF-8
with a byte order mark, which Excel needs to read UTF-8 rather than the system code page.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from contentgen.batches import get_batch
from contentgen.campaign_snapshots import read_snapshot
from contentgen.channels import CHANNELS
from contentgen.channels import measure as measure_for_channel
from contentgen.checks import invisible_characters
from contentgen.errors import InvalidInput, shorten
from contentgen.i18n import N_, Message
from contentgen.models import (
    Campaign,
    Draft,
    DraftStatus,
    GenerationRequest,
    ReviewEvent,
    User,
    utc_iso,
)

FORMATS = ("csv", "json", "google-ads")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Each key is followed by the name that the campaign file gives it, because a segment named
# in Chinese in a CSV file has a key like segment-68897fd8.
CSV_COLUMNS = (
    "draft_id", "batch_id", "campaign", "campaign_name", "brand", "segment", "segment_name",
    "channel", "variant", "locale", "text", "characters", "edited", "approved_by", "approved_at",
)  # fmt: skip

# Column headers from Google Ads Editor's page "Import a CSV file in Google Ads Editor"
# (support.google.com/google-ads/editor/answer/57747); Editor ignores their case and spaces.
# NOTE: checked against that page only, not by importing a file into Google Ads Editor.
# Google Ads allows up to 15 headlines and 4 descriptions per responsive search ad, and
# needs at least 3 and 2.
MAX_HEADLINES = 15
MAX_DESCRIPTIONS = 4
MIN_HEADLINES = 3
MIN_DESCRIPTIONS = 2
# Google Ads enables at most 3 responsive search ads per ad group.
MAX_ADS_PER_GROUP = 3
GOOGLE_ADS_COLUMNS = (
    "Campaign", "Ad group", "Ad type",
    *(f"Headline {number}" for number in range(1, MAX_HEADLINES + 1)),
    *(f"Description {number}" for number in range(1, MAX_DESCRIPTIONS + 1)),
    "Final URL",
)  # fmt: skip


# The channels a Google Ads Editor export contains.
GOOGLE_ADS_CHANNELS = ("google_ads_headline", "google_ads_description")


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str
    # The number of the batch's approved drafts in every channel, also those that the
    # format leaves out, such as an email subject in a Google Ads export.
    approved_count: int
    # Problems the file has but that do not stop the export, e.g. an ad with too few headlines.
    warnings: list[Message] = field(default_factory=list)


def check_format(value: str) -> str:
    """Return ``value`` if it names an export format.

    Raises:
        InvalidInput: naming the formats there are.
    """
    if value not in FORMATS:
        raise InvalidInput.from_template(
            N_('export format "{value}" is not known; use one of: {formats}'),
            value=shorten(value),
            formats=", ".join(FORMATS),
        )
    return value


def export_batch(session: Session, batch_id: int, format: str) -> Export:
    """Export the approved drafts of a batch in ``format`` (csv, json or google-ads).

    Raises:
        InvalidInput: for an unknown format.
        NotFound: if the batch does not exist.
    """
    check_format(format)
    get_batch(session, batch_id)
    rows = approved_rows(session, batch_id)
    template = N_(
        "draft {draft_id} ({channel}) has {characters} {unit}, over the hard limit of {limit}; "
        "edit it before you upload it"
    )
    warnings = [
        Message(template, {
            "draft_id": row["draft_id"],
            "channel": row["channel"],
            "characters": row["characters"],
            "unit": Message(CHANNELS[row["channel"]].counting.unit),
            "limit": row["limit"],
        })
        for row in rows
        if row["characters"] > row["limit"]
    ]  # fmt: skip
    warnings += invisible_text_warnings(rows)
    if not rows and format != "google-ads":
        # The Google Ads export warns about its own channels instead.
        warnings.append(Message(
            N_("batch {batch_id} has no approved drafts, so the file has none; approve drafts first"),
            {"batch_id": batch_id},
        ))  # fmt: skip
    if format == "json":
        content = (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        return Export(content, "application/json", f"batch-{batch_id}-approved.json", len(rows), warnings)
    if format == "csv":
        table = [[_csv_value(row[column]) for column in CSV_COLUMNS] for row in rows]
        return Export(to_csv(CSV_COLUMNS, table), "text/csv; charset=utf-8",
                      f"batch-{batch_id}-approved.csv", len(rows), warnings)  # fmt: skip
    table, ad_warnings = google_ads_rows(rows)
    # The file has only the ad channels, so only their drafts can be over a limit in it.
    in_file = [warning for warning in warnings if warning.params["channel"] in GOOGLE_ADS_CHANNELS]
    return Export(
        # Google Ads Editor imports each cell as written, so an apostrophe would become part
        # of the ad ("'-20% off") and count towards its limit.
        to_csv(GOOGLE_ADS_COLUMNS, table, neutralize_formulas=False), "text/csv; charset=utf-8",
        f"batch-{batch_id}-google-ads-editor.csv", len(rows), in_file + ad_warnings,
    )  # fmt: skip


def invisible_text_warnings(rows: Iterable[dict[str, Any]]) -> list[Message]:
    """Return a warning for each row whose text contains invisible characters, such as a
    zero-width space, listed by code point and count as the draft page lists them.

    The characters that emoji sequences need (the zero-width joiner, variation selectors and
    tag characters) are left out, as ``invisible_characters`` leaves them out.
    """
    template = N_(
        "draft {draft_id} ({channel}) contains invisible characters ({characters}), which do "
        "not show but are part of the text; edit it to remove them before you upload it"
    )
    warnings = []
    for row in rows:
        counts = invisible_characters(row["text"])
        if counts:
            listed = ", ".join(f"{code}×{count}" for code, count in counts.items())
            fields = {"draft_id": row["draft_id"], "channel": row["channel"], "characters": listed}
            warnings.append(Message(template, fields))
    return warnings


# Drafts read from the database at a time while exporting.
ROWS_PER_READ = 1000


def approved_rows(session: Session, batch_id: int) -> list[dict[str, Any]]:
    """Return one dict per approved draft of the batch, in campaign, segment, channel order.

    Plain rows of the columns the export needs are read, ``ROWS_PER_READ`` at a time, rather
    than whole drafts with their requests and prompts, which take many times the memory.
    """
    campaigns = {
        campaign.id: campaign
        for campaign in session.scalars(
            select(Campaign)
            .options(joinedload(Campaign.brand))
            .where(Campaign.id.in_(select(GenerationRequest.campaign_id).where(GenerationRequest.batch_id == batch_id)))
        )
    }
    drafts = session.execute(
        select(
            Draft.id, Draft.batch_id, Draft.text, Draft.original_text,
            GenerationRequest.campaign_id, GenerationRequest.segment, GenerationRequest.channel,
            GenerationRequest.variant, GenerationRequest.campaign_snapshot,
        )
        .join(Draft.request)
        .join(GenerationRequest.campaign)
        .where(Draft.batch_id == batch_id, Draft.status == DraftStatus.APPROVED)
        .order_by(Campaign.key, GenerationRequest.segment, GenerationRequest.channel,
                  GenerationRequest.variant)
        .execution_options(yield_per=ROWS_PER_READ)
    )  # fmt: skip
    rows = []
    for part in drafts.partitions():
        approvals = _approvals(session, [draft.id for draft in part])
        rows += [_row(draft, campaigns[draft.campaign_id], approvals.get(draft.id)) for draft in part]
    return rows


def _approvals(session: Session, draft_ids: Sequence[int]) -> dict[int, tuple[str | None, Any]]:
    """Return who approved each draft last, and when, by draft id."""
    latest: dict[int, tuple[str | None, Any]] = {}
    for start in range(0, len(draft_ids), 500):
        events = session.execute(
            select(ReviewEvent.draft_id, User.username, ReviewEvent.created_at)
            .outerjoin(User, User.id == ReviewEvent.actor_id)
            .where(
                ReviewEvent.draft_id.in_(draft_ids[start : start + 500]),
                ReviewEvent.status_after == DraftStatus.APPROVED.value,
            )
            .order_by(ReviewEvent.id)
        )
        for draft_id, username, created_at in events:
            latest[draft_id] = (username, created_at)
    return latest


def _row(draft: Any, campaign: Campaign, approval: tuple[str | None, Any] | None) -> dict[str, Any]:
    measurement = measure_for_channel(draft.text, draft.channel, campaign.brand.channel_limits)
    # The names, locale and URL that the draft was generated with, not those of a later import.
    snapshot = read_snapshot(draft.campaign_snapshot, campaign, draft.segment)
    return {
        "draft_id": draft.id,
        "batch_id": draft.batch_id,
        "campaign": campaign.key,
        "campaign_name": snapshot["campaign_name"],
        "brand": snapshot["brand"],
        "segment": draft.segment,
        "segment_name": snapshot["segment_name"],
        "channel": draft.channel,
        "variant": draft.variant,
        "locale": snapshot["locale"],
        "final_url": snapshot["final_url"],
        "text": draft.text,
        "characters": measurement.length,
        # The hard limit with the brand's own limits applied. Approval rejects text over it,
        # but a brand can lower a limit after a draft was approved.
        "limit": measurement.limit,
        "edited": draft.original_text is not None,
        "approved_by": approval[0] if approval else None,
        "approved_at": utc_iso(approval[1]) if approval else None,
    }


def _csv_value(value: Any) -> Any:
    # true/false as in the JSON export; spreadsheet programs read either case as a boolean.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def neutralize(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], neutralize_formulas: bool = True
) -> bytes:
    """Write a header and rows as UTF-8 CSV with a byte order mark.

    With ``neutralize_formulas``, a cell that a spreadsheet would run as a formula gets a
    leading apostrophe (see ``neutralize``).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = ["" if value is None else value for value in row]
        writer.writerow([neutralize(cell) for cell in cells] if neutralize_formulas else cells)
    return buffer.getvalue().encode("utf-8-sig")


def google_ads_rows(rows: list[dict[str, Any]]) -> tuple[list[list[Any]], list[Message]]:
    """Group approved headlines and descriptions into responsive search ads, one ad group
    per campaign segment, for Google Ads Editor's CSV import.

    An ad group with more than 15 headlines or 4 descriptions gets further ads, up to 3; a
    text repeated within a group is used once. Campaigns and ad groups whose names collide
    get their key appended (see ``_make_names_unique``). Returns the rows and the warnings:
    one for each renamed campaign or ad group, for each ad group below Google's minimum of
    3 headlines and 2 descriptions, for each ad group with texts left over after 3 ads, and
    for each ad group without a Final URL.
    """
    groups = _ad_groups(rows)
    table: list[list[Any]] = []
    warnings: list[Message] = []
    if not groups:
        warnings.append(Message(N_(
            "the batch has no approved google_ads_headline or google_ads_description drafts, "
            "so the file has its header only; approve some, or export csv or json"
        )))  # fmt: skip
    warnings += _make_names_unique(groups)
    for group in groups:
        ads = min(
            MAX_ADS_PER_GROUP,
            max(-(-len(group["headlines"]) // MAX_HEADLINES), -(-len(group["descriptions"]) // MAX_DESCRIPTIONS)),
        )
        warnings += _ad_group_warnings(group, ads)
        for index in range(ads):
            headlines = _ad_part(group["headlines"], index, MAX_HEADLINES, MIN_HEADLINES)
            descriptions = _ad_part(group["descriptions"], index, MAX_DESCRIPTIONS, MIN_DESCRIPTIONS)
            table.append(
                [group["campaign"], group["ad_group"], "Responsive search ad"]
                + _padded(headlines, MAX_HEADLINES)
                + _padded(descriptions, MAX_DESCRIPTIONS)
                + [group["url"] or ""]
            )
    return table, warnings


def _ad_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Collect the headlines and descriptions of each campaign segment, in row order."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["channel"] not in GOOGLE_ADS_CHANNELS:
            continue
        group = groups.setdefault(
            (row["campaign"], row["segment"]),
            {"campaign_key": row["campaign"], "segment": row["segment"],
             "campaign": row["campaign_name"], "ad_group": row["segment_name"],
             "url": row["final_url"], "headlines": [], "descriptions": []},
        )  # fmt: skip
        kind = "headlines" if row["channel"] == "google_ads_headline" else "descriptions"
        # Google Ads rejects an ad that repeats a headline or description.
        if row["text"] not in group[kind]:
            group[kind].append(row["text"])
    return list(groups.values())


def _make_names_unique(groups: list[dict[str, Any]]) -> list[Message]:
    """Rename the campaigns and ad groups of ``groups`` whose names collide, and return a
    warning for each renamed one.

    Google Ads Editor identifies a campaign by its name, and an ad group by its name within
    its campaign. Two campaigns named "Spring", or two segments of a campaign named
    "Hikers", would be imported as one, with their ads and Final URLs mixed. So each
    colliding name gets its key in brackets: "Spring (spring-de)", "Hikers (s2)".
    """
    warnings = []
    campaign_names = {group["campaign_key"]: group["campaign"] for group in groups}
    unique_campaigns = _unique_names(campaign_names)
    for key, name in campaign_names.items():
        if unique_campaigns[key] != name:
            template = N_(
                'campaign "{key}" has the same name, "{name}", as another campaign, and Google Ads '
                'Editor would merge the two, so the file names it "{new_name}"; give each campaign '
                "a name of its own to avoid this"
            )
            fields = {"key": key, "name": name, "new_name": unique_campaigns[key]}
            warnings.append(Message(template, fields))
    for group in groups:
        group["campaign"] = unique_campaigns[group["campaign_key"]]

    by_campaign: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        by_campaign.setdefault(group["campaign_key"], []).append(group)
    for members in by_campaign.values():
        ad_group_names = {group["segment"]: group["ad_group"] for group in members}
        unique_ad_groups = _unique_names(ad_group_names)
        for group in members:
            if unique_ad_groups[group["segment"]] == group["ad_group"]:
                continue
            template = N_(
                'campaign "{campaign}", ad group "{ad_group}": segment "{segment}" has the same '
                "name as another segment of the campaign, and Google Ads Editor would merge their "
                'ad groups, so the file names it "{new_name}"; give each segment a name of its own '
                "to avoid this"
            )
            warnings.append(Message(template, {
                "campaign": group["campaign"],
                "ad_group": group["ad_group"],
                "segment": group["segment"],
                "new_name": unique_ad_groups[group["segment"]],
            }))  # fmt: skip
            group["ad_group"] = unique_ad_groups[group["segment"]]
    return warnings


def _unique_names(names: dict[str, str]) -> dict[str, str]:
    """Return ``names``, by key, with " (key)" appended to each name that another key shares.

    A name made so can equal the name of another key ("Spring (b)"), which then gets its
    key too. Campaign and segment keys contain no spaces or brackets, so two names that both
    end in their own, different keys never collide, and the loop ends.
    """
    unique = dict(names)
    renamed: set[str] = set()
    while True:
        counts = Counter(unique.values())
        colliding = [key for key, name in unique.items() if counts[name] > 1 and key not in renamed]
        if not colliding:
            return unique
        for key in colliding:
            unique[key] = f"{names[key]} ({key})"
            renamed.add(key)


def _ad_group_warnings(group: dict[str, Any], ads: int) -> list[Message]:
    """Return the warnings about one ad group's ads: texts left over after ``ads`` ads, too
    few headlines or descriptions, and a missing Final URL."""
    warnings = []
    left_headlines = group["headlines"][ads * MAX_HEADLINES :]
    left_descriptions = group["descriptions"][ads * MAX_DESCRIPTIONS :]
    if left_headlines or left_descriptions:
        template = N_(
            'campaign "{campaign}", ad group "{ad_group}": {headlines} and {descriptions} are '
            "left out, since Google Ads takes at most {ads} responsive search ads per ad "
            "group; reject the weaker ones, or export csv for all of them"
        )
        warnings.append(Message(template, {
            "campaign": group["campaign"],
            "ad_group": group["ad_group"],
            "headlines": _headlines(len(left_headlines)),
            "descriptions": _descriptions(len(left_descriptions)),
            "ads": MAX_ADS_PER_GROUP,
        }))  # fmt: skip
    if len(group["headlines"]) < MIN_HEADLINES or len(group["descriptions"]) < MIN_DESCRIPTIONS:
        template = N_(
            'campaign "{campaign}", ad group "{ad_group}": {headlines} and {descriptions}; '
            "Google Ads needs at least {min_headlines} and {min_descriptions}, so approve more"
        )
        warnings.append(Message(template, {
            "campaign": group["campaign"],
            "ad_group": group["ad_group"],
            "headlines": _headlines(len(group["headlines"])),
            "descriptions": _descriptions(len(group["descriptions"])),
            "min_headlines": MIN_HEADLINES,
            "min_descriptions": MIN_DESCRIPTIONS,
        }))  # fmt: skip
    if not group["url"]:
        template = N_(
            'campaign "{campaign}", ad group "{ad_group}": the ads have no Final URL, which Google '
            "Ads requires on a responsive search ad, because the batch was created from a "
            "campaign without product.url; add product.url to the campaign for later batches, "
            "and enter a Final URL for these ads in Google Ads Editor"
        )
        fields = {"campaign": group["campaign"], "ad_group": group["ad_group"]}
        warnings.append(Message(template, fields))
    return warnings


def _ad_part(items: list[str], index: int, size: int, minimum: int) -> list[str]:
    """Return the ``index``-th ad's share of an ad group's headlines or descriptions.

    A later ad whose share falls short of Google's minimum (20 headlines and 2 descriptions
    make a second ad with none) reuses the group's first ones: the same approved text may
    stand in several ads of an ad group.
    """
    part = items[index * size : (index + 1) * size]
    if len(part) < minimum:
        part += [item for item in items if item not in part][: minimum - len(part)]
    return part


def _headlines(count: int) -> Message:
    if count == 1:
        return Message(N_("1 headline"))
    return Message(N_("{count} headlines"), {"count": count})


def _descriptions(count: int) -> Message:
    if count == 1:
        return Message(N_("1 description"))
    return Message(N_("{count} descriptions"), {"count": count})


def _padded(values: list[str], length: int) -> list[str]:
    return values + [""] * (length - len(values))
