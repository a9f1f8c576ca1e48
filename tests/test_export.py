import csv
import io
import json

import pytest
import yaml
from sqlalchemy import null, select, update

from contentgen import db, export
from contentgen.errors import InvalidInput, NotFound
from contentgen.export import GOOGLE_ADS_COLUMNS, export_batch, google_ads_rows
from contentgen.models import Draft, DraftStatus, GenerationRequest
from contentgen.review import Decision, decide

from .seeding import (
    CHANGED_NAME,
    CHANGED_SEGMENT_NAME,
    CHANGED_URL,
    NEW_CUSTOMERS,
    OLD_CUSTOMERS,
    draft_ids,
    import_changed_campaign,
    make_user,
    seed_batch,
    seed_chinese_segments,
    seed_files,
)

FINAL_URL = "https://example.com/c"

TRICKY_TEXTS = [
    "防水登山靴，雨天也干爽 🥾",
    "“Curly quotes” and ‘single ones’ — with an em dash",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1 for dry feet",
    "-20% this week",
    "@trailpeak says hi",
    "Line one\nline two, with a comma",
]


@pytest.fixture
def approved(synced):
    """A batch whose first drafts carry tricky texts and are approved."""
    batch_id = seed_batch(synced)
    reviewer = make_user("rita", "reviewer")
    ids = draft_ids(batch_id, "email_subject") + draft_ids(batch_id, "google_ads_description")
    with db.session_scope() as session:
        for draft_id, text in zip(ids, TRICKY_TEXTS, strict=False):
            session.get(Draft, draft_id).text = text
    with db.session_scope() as session:
        for draft_id in ids[: len(TRICKY_TEXTS)]:
            decide(session, reviewer, draft_id, Decision("approve"))
    return batch_id


def exported(batch_id: int, format: str):
    with db.session_scope() as session:
        return export_batch(session, batch_id, format)


def test_export_csv_round_trip_with_utf8_sig(approved):
    content = exported(approved, "csv").content
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))

    assert content.startswith(b"\xef\xbb\xbf")
    texts = {row["text"] for row in rows}
    assert "防水登山靴，雨天也干爽 🥾" in texts
    assert "“Curly quotes” and ‘single ones’ — with an em dash" in texts
    assert "Line one\nline two, with a comma" in texts
    assert all(row["approved_by"] == "rita" for row in rows)


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","click")', "+1 for dry feet", "-20% this week", "@trailpeak says hi"],
    ids=["equals", "plus", "minus", "at"],
)
def test_export_csv_neutralises_formulas(approved, text):
    content = exported(approved, "csv").content.decode("utf-8-sig")
    texts = {row["text"] for row in csv.DictReader(io.StringIO(content))}
    assert "'" + text in texts
    assert text not in texts


def test_export_google_ads_keeps_text_unchanged(approved):
    # Google Ads Editor would import an apostrophe as part of the ad.
    content = exported(approved, "google-ads").content.decode("utf-8-sig")
    cells = {cell for row in csv.reader(io.StringIO(content)) for cell in row}
    assert {"-20% this week", "@trailpeak says hi"} <= cells
    assert not any(cell.startswith("'") for cell in cells)


def test_export_google_ads_without_ad_channels_warns(synced):
    batch_id = seed_batch(synced)
    reviewer = make_user("rita", "reviewer")
    with db.session_scope() as session:
        decide(session, reviewer, draft_ids(batch_id, "email_subject")[0], Decision("approve"))

    export = exported(batch_id, "google-ads")

    assert export.content.decode("utf-8-sig").count("\r\n") == 1
    assert [str(warning) for warning in export.warnings] == [
        "the batch has no approved google_ads_headline or google_ads_description drafts, so the "
        "file has its header only; approve some, or export csv or json"
    ]


def test_export_csv_writes_booleans_and_utc_times(approved):
    content = exported(approved, "csv").content.decode("utf-8-sig")
    row = next(csv.DictReader(io.StringIO(content)))
    assert row["edited"] == "false"
    assert row["approved_at"].endswith("+00:00")


def test_export_csv_names_follow_keys(approved):
    content = exported(approved, "csv").content.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(content)))

    assert header[:7] == [
        "draft_id", "batch_id", "campaign", "campaign_name", "brand", "segment", "segment_name",
    ]  # fmt: skip


def test_export_csv_chinese_segment_names(synced):
    batch_id = seed_chinese_segments(synced)
    reviewer = make_user("rita", "reviewer")
    with db.session_scope() as session:
        for draft_id in draft_ids(batch_id):
            decide(session, reviewer, draft_id, Decision("approve"))

    content = exported(batch_id, "csv").content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))

    assert [(row["campaign"], row["campaign_name"]) for row in rows] == [
        ("autumn", "秋季促销"), ("spring", "春季上新"), ("spring", "春季上新"),
    ]  # fmt: skip
    assert [(row["segment"], row["segment_name"]) for row in rows] == [
        ("loyal", "老客户"), (OLD_CUSTOMERS, "老客户"), (NEW_CUSTOMERS, "新客户"),
    ]  # fmt: skip


def test_export_json_ends_with_newline(approved):
    assert exported(approved, "json").content.endswith(b"]\n")


def test_export_json_keeps_text_unchanged(approved):
    rows = json.loads(exported(approved, "json").content)
    texts = {row["text"] for row in rows}
    assert len(rows) == len(TRICKY_TEXTS)
    assert set(TRICKY_TEXTS) == texts


def test_export_reads_in_parts_with_the_same_rows(approved, monkeypatch):
    whole = json.loads(exported(approved, "json").content)
    monkeypatch.setattr(export, "ROWS_PER_READ", 2)

    in_parts = json.loads(exported(approved, "json").content)

    assert in_parts == whole
    assert len(whole) == len(TRICKY_TEXTS)
    assert all(row["approved_by"] == "rita" for row in in_parts)


def test_export_only_approved_drafts(approved):
    rows = json.loads(exported(approved, "json").content)
    with db.session_scope() as session:
        statuses = {session.get(Draft, row["draft_id"]).status.value for row in rows}
    assert statuses == {"approved"}


def test_export_google_ads_groups_by_segment(approved):
    content = exported(approved, "google-ads").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert tuple(rows[0]) == GOOGLE_ADS_COLUMNS
    # Three descriptions were approved: two for "hikers", one for "runners", no headlines.
    ad_groups = {row[1]: row for row in rows[1:]}
    assert set(ad_groups) == {"Hikers", "Runners"}
    assert ad_groups["Hikers"][2] == "Responsive search ad"
    assert ad_groups["Hikers"][-1] == "https://example.com/ridgeline"


def test_export_google_ads_warns_below_minimum(approved):
    warnings = [str(warning) for warning in exported(approved, "google-ads").warnings]
    assert any("Google Ads needs at least 3 and 2" in warning for warning in warnings)


def test_export_google_ads_splits_past_15_headlines():
    rows = [
        {"channel": "google_ads_headline", "campaign": "c", "segment": "s", "campaign_name": "C",
         "segment_name": "S", "final_url": FINAL_URL, "text": f"Headline {number}"}
        for number in range(20)
    ] + [
        {"channel": "google_ads_description", "campaign": "c", "segment": "s", "campaign_name": "C",
         "segment_name": "S", "final_url": FINAL_URL, "text": f"Description {number}"}
        for number in range(2)
    ]  # fmt: skip
    table, warnings = google_ads_rows(rows)
    assert len(table) == 2
    assert table[0][3:18] == [f"Headline {number}" for number in range(15)]
    assert table[1][3:8] == [f"Headline {number}" for number in range(15, 20)]
    # The second ad reuses the two descriptions, so both ads are complete.
    assert table[0][18:20] == table[1][18:20] == ["Description 0", "Description 1"]
    assert warnings == []


def test_export_google_ads_short_ad_topped_up():
    rows = [
        {"channel": "google_ads_headline", "campaign": "c", "segment": "s", "campaign_name": "C",
         "segment_name": "S", "final_url": FINAL_URL, "text": f"Headline {number}"}
        for number in range(16)
    ] + [
        {"channel": "google_ads_description", "campaign": "c", "segment": "s", "campaign_name": "C",
         "segment_name": "S", "final_url": FINAL_URL, "text": f"Description {number}"}
        for number in range(2)
    ]  # fmt: skip
    table, _ = google_ads_rows(rows)
    # 16 headlines: the second ad has the 16th and the first two again, to reach 3.
    assert table[1][3:6] == ["Headline 15", "Headline 0", "Headline 1"]
    assert table[1][6] == ""


@pytest.mark.parametrize("format", ["csv", "json"])
def test_export_warns_about_text_over_limit(approved, format):
    draft_id = draft_ids(approved, "email_subject")[0]
    with db.session_scope() as session:
        session.get(Draft, draft_id).text = "x" * 61
    warnings = exported(approved, format).warnings
    english = [str(warning) for warning in warnings]
    assert f"draft {draft_id} (email_subject) has 61 characters, over the hard limit of 60" in english[0]
    assert len([warning for warning in english if "over the hard limit" in warning]) == 1
    assert warnings[0].render("zh-CN") == (
        f"草稿 {draft_id}（email_subject）长度为 61 个字符，超过硬性上限 60；请先修改再上传"
    )


def test_export_google_ads_warns_only_about_ad_drafts(approved):
    subject = draft_ids(approved, "email_subject")[0]
    description = draft_ids(approved, "google_ads_description")[-1]
    with db.session_scope() as session:
        session.get(Draft, subject).text = "x" * 61
        # A brand that lowered its limit after the approval leaves such a draft behind.
        session.get(Draft, description).text = "y" * 91
        session.get(Draft, description).status = DraftStatus.APPROVED

    warnings = [str(warning) for warning in exported(approved, "google-ads").warnings]
    over_limit = [warning for warning in warnings if "over the hard limit" in warning]

    assert over_limit == [
        f"draft {description} (google_ads_description) has 91 Google Ads units, over the hard "
        "limit of 90; edit it before you upload it"
    ]


def edit_and_approve(draft_id: int, text: str) -> None:
    reviewer = make_user("ivy", "reviewer")
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text=text))


@pytest.mark.parametrize("format", ["csv", "json", "google-ads"])
def test_export_warns_about_invisible_characters(synced, format):
    batch_id = seed_batch(synced)
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    # Zero-width spaces and a word joiner: accepted in an edit, and invisible on the page.
    edit_and_approve(headline, "Dry\u200bfeet\u200b on every\u2060trail")

    warnings = exported(batch_id, format).warnings
    invisible = [warning for warning in warnings if "invisible" in str(warning)]

    assert [str(warning) for warning in invisible] == [
        f"draft {headline} (google_ads_headline) contains invisible characters (U+200B×2, "
        "U+2060×1), which do not show but are part of the text; edit it to remove them "
        "before you upload it"
    ]
    assert invisible[0].render("zh-CN") == (
        f"草稿 {headline}（google_ads_headline）含有不可见字符（U+200B×2, U+2060×1），"
        "它们不会显示，但属于文案的一部分；请先删除它们再上传"
    )


def test_export_google_ads_leaves_out_other_channels_invisible(synced):
    batch_id = seed_batch(synced)
    subject = draft_ids(batch_id, "email_subject")[0]
    edit_and_approve(subject, "Dry\u200bfeet")

    csv_warnings = [str(warning) for warning in exported(batch_id, "csv").warnings]
    ads_warnings = [str(warning) for warning in exported(batch_id, "google-ads").warnings]

    assert any(f"draft {subject} (email_subject) contains invisible" in warning for warning in csv_warnings)
    assert not any("invisible" in warning for warning in ads_warnings)


@pytest.mark.parametrize(
    "text",
    ["Coders 👩\u200d💻 love dry feet", "We \u2764\ufe0f dry feet", "Go 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f hiking"],
    ids=["zero-width-joiner", "variation-selector", "flag-tags"],
)
def test_export_emoji_sequences_not_warned(synced, text):
    batch_id = seed_batch(synced)
    description = draft_ids(batch_id, "google_ads_description")[0]
    # Emoji sequences are built with invisible characters, so an edit keeps them.
    edit_and_approve(description, text)

    result = exported(batch_id, "json")

    assert json.loads(result.content)[0]["text"] == text
    assert not any("invisible" in str(warning) for warning in result.warnings)


def test_export_unknown_format_is_invalid(approved):
    with pytest.raises(InvalidInput, match='export format "xlsx" is not known; use one of: csv, json, google-ads'):
        exported(approved, "xlsx")


def test_export_unknown_batch_not_found(synced):
    with pytest.raises(NotFound, match="batch 42 not found"):
        exported(42, "csv")


@pytest.mark.parametrize("format", ["csv", "json"])
def test_export_without_approved_drafts_warns(synced, format):
    batch_id = seed_batch(synced)
    warnings = [str(warning) for warning in exported(batch_id, format).warnings]
    assert warnings == [f"batch {batch_id} has no approved drafts, so the file has none; approve drafts first"]


def google_ads_input(headlines: list[str], descriptions: list[str], **fields: str | None) -> list[dict]:
    """Build export rows of one ad group; ``fields`` replace the default keys, names and URL."""
    common = {"campaign": "c", "segment": "s", "campaign_name": "C", "segment_name": "S",
              "final_url": FINAL_URL, **fields}  # fmt: skip
    return [{**common, "channel": "google_ads_headline", "text": text} for text in headlines] + [
        {**common, "channel": "google_ads_description", "text": text} for text in descriptions
    ]


def test_export_google_ads_three_ads_max():
    rows = google_ads_input([f"Headline {n}" for n in range(25)], [f"Description {n}" for n in range(25)])

    table, warnings = google_ads_rows(rows)

    assert len(table) == 3
    assert [str(warning) for warning in warnings] == [
        'campaign "C", ad group "S": 0 headlines and 13 descriptions are left out, since Google Ads '
        "takes at most 3 responsive search ads per ad group; reject the weaker ones, or export csv "
        "for all of them"
    ]


def test_export_google_ads_uses_a_repeated_text_once():
    rows = google_ads_input(["Same text"] * 5 + ["Other text"], ["Dry feet", "Dry feet", "Grip"])

    table, warnings = google_ads_rows(rows)

    assert table[0][3:6] == ["Same text", "Other text", ""]
    assert "2 headlines and 2 descriptions; Google Ads needs at least 3 and 2" in str(warnings[0])


HEADLINES = ["Dry feet", "Grip on rock", "Light on the trail"]
DESCRIPTIONS = ["Waterproof leather.", "Built to last."]


def table_names(table: list[list]) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in table]


def test_export_google_ads_shared_segment_names():
    rows = [
        *google_ads_input(HEADLINES, DESCRIPTIONS, segment="s1", segment_name="Hikers"),
        *google_ads_input(HEADLINES, DESCRIPTIONS, segment="s2", segment_name="Hikers",
                          final_url="https://example.com/s2"),
        *google_ads_input(HEADLINES, DESCRIPTIONS, segment="s3", segment_name="Runners"),
        # Another campaign's ad group may have the same name as these.
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="d", campaign_name="D", segment_name="Hikers"),
    ]  # fmt: skip

    table, warnings = google_ads_rows(rows)

    assert table_names(table) == [
        ("C", "Hikers (s1)"), ("C", "Hikers (s2)"), ("C", "Runners"), ("D", "Hikers"),
    ]  # fmt: skip
    assert [row[-1] for row in table[:2]] == [FINAL_URL, "https://example.com/s2"]
    assert [str(warning) for warning in warnings] == [
        f'campaign "C", ad group "Hikers": segment "{segment}" has the same name as another '
        "segment of the campaign, and Google Ads Editor would merge their ad groups, so the file "
        f'names it "Hikers ({segment})"; give each segment a name of its own to avoid this'
        for segment in ("s1", "s2")
    ]


def test_export_google_ads_shared_campaign_names():
    rows = [
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="spring", campaign_name="Spring"),
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="spring-de", campaign_name="Spring"),
    ]

    table, warnings = google_ads_rows(rows)

    assert table_names(table) == [("Spring (spring)", "S"), ("Spring (spring-de)", "S")]
    assert str(warnings[0]) == (
        'campaign "spring" has the same name, "Spring", as another campaign, and Google Ads '
        'Editor would merge the two, so the file names it "Spring (spring)"; give each campaign '
        "a name of its own to avoid this"
    )
    assert warnings[1].params["new_name"] == "Spring (spring-de)"
    assert len(warnings) == 2
    assert warnings[0].render("zh-CN") == (
        "活动“spring”与另一个活动同名（“Spring”），Google Ads 编辑器会把两者合并，"
        "因此文件中将其命名为“Spring (spring)”；请给每个活动取不同的名称以避免这种情况"
    )


def test_export_google_ads_renamed_name_taken():
    # Renaming "a" to "Spring (a)" takes the name of campaign "c", which is renamed as well.
    rows = [
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="a", campaign_name="Spring"),
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="b", campaign_name="Spring"),
        *google_ads_input(HEADLINES, DESCRIPTIONS, campaign="c", campaign_name="Spring (a)"),
    ]

    table, warnings = google_ads_rows(rows)

    assert [row[0] for row in table] == ["Spring (a)", "Spring (b)", "Spring (a) (c)"]
    assert len(warnings) == 3


def test_export_google_ads_ad_groups_keep_apart(synced):
    campaign = {
        "brand": "trailpeak",
        "name": "Spring",
        "product": {"name": "Ridgeline GTX", "url": "https://example.com/ridgeline"},
        "segments": [{"key": "hikers", "name": "Hikers"}, {"key": "hikers-2", "name": "Hikers"}],
        "channels": ["google_ads_headline", "google_ads_description"],
        "variants": 3,
    }
    german = {**campaign, "segments": campaign["segments"][:1], "product": {
        "name": "Ridgeline GTX", "url": "https://example.com/de/ridgeline"}}  # fmt: skip
    path = synced / "spring.yaml"
    path.write_text(yaml.safe_dump({
        "brands": [{"key": "trailpeak", "name": "TrailPeak"}],
        "campaigns": [{"key": "spring", **campaign}, {"key": "spring-de", **german}],
    }), encoding="utf-8")  # fmt: skip
    batch_id = seed_files([path])
    reviewer = make_user("rita", "reviewer")
    with db.session_scope() as session:
        for draft_id in draft_ids(batch_id):
            decide(session, reviewer, draft_id, Decision("approve"))

    result = exported(batch_id, "google-ads")
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))

    assert [(row["Campaign"], row["Ad group"], row["Final URL"]) for row in rows] == [
        ("Spring (spring)", "Hikers (hikers)", "https://example.com/ridgeline"),
        ("Spring (spring)", "Hikers (hikers-2)", "https://example.com/ridgeline"),
        ("Spring (spring-de)", "Hikers", "https://example.com/de/ridgeline"),
    ]
    assert [row["Headline 3"] != "" for row in rows] == [True, True, True]
    assert len([warning for warning in result.warnings if "has the same name" in str(warning)]) == 4


def test_export_google_ads_missing_final_url():
    rows = google_ads_input(HEADLINES, DESCRIPTIONS, final_url=None)

    table, warnings = google_ads_rows(rows)

    assert table[0][-1] == ""
    assert [str(warning) for warning in warnings] == [
        'campaign "C", ad group "S": the ads have no Final URL, which Google Ads requires on a '
        "responsive search ad, because the batch was created from a campaign without "
        "product.url; add product.url to the campaign for later batches, and enter a Final URL "
        "for these ads in Google Ads Editor"
    ]
    assert warnings[0].render("zh-CN") == (
        "活动“C”，广告组“S”：这些广告没有最终网址（Final URL），而 Google Ads 的自适应搜索广告"
        "必须有最终网址，原因是创建该批次时活动没有 product.url；请为活动添加 product.url 以用于之后的"
        "批次，并在 Google Ads 编辑器中为这些广告填写最终网址"
    )


def test_export_missing_url_warns_google_ads_only(synced):
    batch_id = seed_batch(synced, url=None)
    reviewer = make_user("rita", "reviewer")
    with db.session_scope() as session:
        for draft_id in draft_ids(batch_id, "google_ads_headline") + draft_ids(batch_id, "google_ads_description"):
            decide(session, reviewer, draft_id, Decision("approve"))

    google_ads = [str(warning) for warning in exported(batch_id, "google-ads").warnings]
    csv_warnings = [str(warning) for warning in exported(batch_id, "csv").warnings]

    assert [warning.split(":")[0] for warning in google_ads if "no Final URL" in warning] == [
        'campaign "Ridgeline launch", ad group "Hikers"',
        'campaign "Ridgeline launch", ad group "Runners"',
    ]
    assert not any("no Final URL" in warning for warning in csv_warnings)


def test_batch_stores_campaign_snapshot(synced):
    batch_id = seed_batch(synced)

    with db.session_scope() as session:
        snapshots = {
            request.segment: request.campaign_snapshot
            for request in session.scalars(select(GenerationRequest).where(GenerationRequest.batch_id == batch_id))
        }

    assert snapshots == {
        segment: {"brand": "trailpeak", "campaign_name": "Ridgeline launch", "segment_name": name,
                  "locale": "en-US", "final_url": "https://example.com/ridgeline"}
        for segment, name in (("hikers", "Hikers"), ("runners", "Runners"))
    }  # fmt: skip


def test_export_describes_drafts_as_generated(approved, synced):
    before = json.loads(exported(approved, "json").content)

    import_changed_campaign(synced)
    after = json.loads(exported(approved, "json").content)

    assert after == before
    assert {row["locale"] for row in after} == {"en-US"}
    assert {row["final_url"] for row in after} == {"https://example.com/ridgeline"}
    assert {row["campaign_name"] for row in after} == {"Ridgeline launch"}
    assert {row["segment_name"] for row in after} == {"Hikers", "Runners"}


def test_export_new_batch_has_new_values(synced):
    seed_batch(synced)
    import_changed_campaign(synced)
    batch_id = seed_files([], campaign_keys=["ridgeline"])
    reviewer = make_user("rita", "reviewer")
    with db.session_scope() as session:
        decide(session, reviewer, draft_ids(batch_id)[0], Decision("approve"))

    [row] = json.loads(exported(batch_id, "json").content)

    assert row["segment"] == "hikers"
    assert row["locale"] == "de-DE"
    assert row["final_url"] == CHANGED_URL
    assert row["campaign_name"] == CHANGED_NAME
    assert row["segment_name"] == CHANGED_SEGMENT_NAME


def test_export_without_snapshot_reads_campaign(approved, synced):
    # Requests created before the snapshot column have SQL NULL in it.
    with db.session_scope() as session:
        session.execute(update(GenerationRequest).values(campaign_snapshot=null()))
    import_changed_campaign(synced)

    rows = json.loads(exported(approved, "json").content)

    assert {row["locale"] for row in rows} == {"de-DE"}
    assert {row["final_url"] for row in rows} == {CHANGED_URL}
    assert {row["segment_name"] for row in rows} == {CHANGED_SEGMENT_NAME, "Runners"}
