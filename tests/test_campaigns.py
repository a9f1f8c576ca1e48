import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from croniter import croniter
from sqlalchemy import func, select

from contentgen import db
from contentgen.campaigns import (
    InvalidCampaignFile,
    ScheduleSpec,
    _suggestable_zones,
    campaign_spec,
    import_campaign_file,
    language_name,
    load_campaign_file,
)
from contentgen.errors import InfrastructureError, InvalidInput
from contentgen.i18n import translate_error
from contentgen.models import Brand, Campaign, stored_utc

from .conftest import EXAMPLES


def brand(key: str = "trailpeak") -> dict:
    return {"key": key, "name": "TrailPeak", "banned_terms": ["cheap"]}


def campaign(key: str = "boot-launch", **changes) -> dict:
    value = {
        "key": key,
        "brand": "trailpeak",
        "product": {"name": "Ridgeline GTX", "description": "A waterproof boot.", "price": 149},
        "segments": [
            {"key": "weekend", "name": "Weekend hikers"},
            {"key": "thru", "name": "Thru-hikers"},
        ],
        "channels": ["google_ads_headline", "meta_primary_text"],
        "variants": 2,
    }
    value.update(changes)
    return value


def write_yaml(folder: Path, data) -> Path:
    path = folder / "campaigns.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems_of(path: Path) -> str:
    with pytest.raises(InvalidInput) as raised:
        load_campaign_file(path)
    return str(raised.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_load_examples_are_valid(path):
    parsed = load_campaign_file(path)
    assert parsed.campaigns


def test_load_reads_price_number_as_text(tmp_path):
    parsed = load_campaign_file(write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign()]}))
    assert parsed.campaigns[0].product.price == "149"


YAML_CAMPAIGN = """\
brands: [{key: acme, name: Acme}]
campaigns:
  - {key: launch, brand: acme, segments: [{key: all, name: All}], channels: [email_subject],
     product: {name: %s, price: %s}}
"""


@pytest.mark.parametrize("price", ["19.90", "149", "1_000", "1.5e+3"])
def test_load_keeps_yaml_price_as_written(tmp_path, price):
    path = tmp_path / "campaigns.yaml"
    path.write_text(YAML_CAMPAIGN % ("Boot", price))
    assert load_campaign_file(path).campaigns[0].product.price == price


def test_load_quote_hint_keeps_number_as_written(tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text(YAML_CAMPAIGN % ("1.10", "yes"))
    message = problems_of(path)
    assert 'product.name: YAML read 1.10 as a number; quote it ("1.10") to keep it as text' in message
    assert 'product.price: YAML read this value as true' in message


def test_load_malformed_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("campaigns:\n  - key: a\n    brand: [unclosed\n")
    message = problems_of(path)
    assert str(path) in message
    assert "malformed YAML" in message
    assert "line 4" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [("brands: []\n---\ncampaigns: []\n", 2), ("---\nbrands: []\ncampaigns: []\n---\nx: 1\n---\ny: 2\n", 4)],
    ids=["without-leading-marker", "with-leading-marker"],
)
def test_load_yaml_second_document_named(tmp_path, text, line):
    path = tmp_path / "campaigns.yaml"
    path.write_text(text)
    message = problems_of(path)
    assert message == (f'campaign file "{path}", line {line}, column 1: the file contains more than one YAML '
                       'document, because this "---" line starts another one; remove the line, or put each '
                       "document in a file of its own")  # fmt: skip


def test_load_unknown_channel_names_campaign_field_value(tmp_path):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(channels=["tiktok"])]})
    message = problems_of(path)
    assert f'{path}: campaign "boot-launch": channels[0]: "tiktok" is not a known channel' in message
    assert "google_ads_headline" in message


@pytest.mark.parametrize(("written", "channel"), [("twitter", "x_post"), ("Tweet", "x_post")])
def test_load_channel_alias_suggests_key(tmp_path, written, channel):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(channels=[written])]})
    assert f'"{written}" is not a known channel; did you mean {channel}?' in problems_of(path)


def test_load_misspelt_channel_suggests_closest(tmp_path):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(channels=["google_ad_headline"])]})
    message = problems_of(path)
    assert '"google_ad_headline" is not a known channel; did you mean google_ads_headline?' in message
    assert "google_ads_description" not in message


def test_load_negative_variants_rejected(tmp_path):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(variants=-1)]})
    message = problems_of(path)
    assert 'campaign "boot-launch": variants:' in message
    assert "-1" in message


def test_load_lists_every_problem(tmp_path):
    data = {
        "brands": [brand()],
        "campaigns": [
            campaign("first", variants=0),
            campaign("second", locale="xx-YY"),
            campaign("Bad Key"),
        ],
    }
    message = problems_of(write_yaml(tmp_path, data))
    assert 'campaign "first": variants' in message
    assert 'campaign "second": locale: "xx-YY" is not a known locale' in message
    assert 'campaign "Bad Key": key: "Bad Key" is not a valid key' in message


@pytest.mark.parametrize("key", ["_-_", "-launch", "Launch", "boot launch", "x" * 101])
def test_load_invalid_key_states_the_rule(tmp_path, key):
    data = {"brands": [brand()], "campaigns": [campaign(key)]}
    message = problems_of(write_yaml(tmp_path, data))
    assert (f'key: "{key}" is not a valid key; a key starts with a lowercase letter or digit, contains only '
            "lowercase letters, digits, - and _, and is at most 100 characters long") in message  # fmt: skip


def test_load_unknown_field_rejected(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(chanels=["email_subject"])]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'campaign "boot-launch": chanels: is not a known field' in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"brands": [brand()], "campaigns": [campaign(varients=2)]},
         'campaign "boot-launch": varients: is not a known field; did you mean variants?'),
        ({"brands": [brand()], "campaign": [campaign()]}, "campaign: is not a known field; did you mean campaigns?"),
        ({"brands": [{**brand(), "banned_term": ["cheap"]}], "campaigns": [campaign()]},
         'brand "trailpeak": banned_term: is not a known field; did you mean banned_terms?'),
        ({"brands": [brand()], "campaigns": [campaign(product={"name": "Boot", "Price": "9"})]},
         'campaign "boot-launch": product.Price: is not a known field; did you mean price?'),
        ({"brands": [brand()], "campaigns": [campaign(segments=[{"key": "all", "nmae": "All"}])]},
         'campaign "boot-launch": segments[0].nmae: is not a known field; did you mean name?'),
        ({"brands": [brand()], "campaigns": [campaign(generation={"tempreature": 0.5})]},
         'campaign "boot-launch": generation.tempreature: is not a known field; did you mean temperature?'),
        ({"brands": [brand()], "campaigns": [campaign(schedule={"cron": "@daily", "timezon": "UTC"})]},
         'campaign "boot-launch": schedule.timezon: is not a known field; did you mean timezone?'),
        ({"brands": [brand()], "campaigns": [campaign(colour="red")]},
         'campaign "boot-launch": colour: is not a known field; check its spelling'),
    ],
    ids=["campaign-field", "top-level", "brand-field", "product-field", "segment-field", "generation-field",
         "schedule-field", "nothing-close"],
)  # fmt: skip
def test_load_unknown_field_suggests_closest(tmp_path, data, expected):
    assert expected in problems_of(write_yaml(tmp_path, data))


def test_load_csv_unknown_column_suggests_closest(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER.replace("product_name", "product name") + ",colour\n")
    message = problems_of(path)
    assert 'unknown "colour", "product name"; "product name" is probably "product_name". The columns' in message


def test_load_missing_field_named(tmp_path):
    broken = campaign()
    del broken["product"]["name"]
    message = problems_of(write_yaml(tmp_path, {"brands": [brand()], "campaigns": [broken]}))
    assert 'campaign "boot-launch": product.name: is required' in message


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "notaurl", "/ridgeline", "ftp://example.com/x", "https://", "http://[::1"],
)
def test_load_product_url_must_be_http(tmp_path, url):
    data = {"brands": [brand()], "campaigns": [campaign(product={"name": "Boot", "url": url})]}
    message = problems_of(write_yaml(tmp_path, data))
    assert f'campaign "boot-launch": product.url: "{url}" is not an absolute http(s) URL' in message


def test_load_product_url_with_space_rejected(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(product={"name": "Boot", "url": "https://a b.com"})]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'product.url: "https://a b.com" contains spaces or control characters' in message


@pytest.mark.parametrize(
    ("url", "named"),
    [('https://example.com/"><script>x</script>', '" < >'), ("https://example.com/{id}|x", "{ | }")],
)
def test_load_product_url_unsafe_characters_rejected(tmp_path, url, named):
    data = {"brands": [brand()], "campaigns": [campaign(product={"name": "Boot", "url": url})]}
    message = problems_of(write_yaml(tmp_path, data))
    assert f'product.url: "{url}" contains {named}, which a URL cannot; percent-encode them' in message


@pytest.mark.parametrize(
    "url", ["https://example.com/ridgeline?utm=x", "HTTP://EXAMPLE.COM", "http://[::1]:8080/a", "https://example.com/a%22b"]
)
def test_load_product_url_accepts_web_address(tmp_path, url):
    data = {"brands": [brand()], "campaigns": [campaign(product={"name": "Boot", "url": url})]}
    parsed = load_campaign_file(write_yaml(tmp_path, data))
    assert parsed.campaigns[0].product.url == url


def test_load_csv_product_url_names_column(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "trail-sock,trailpeak,Trail Sock,,,,javascript:alert(1),Hikers,google_ads_headline,1,en-US\n"
    )
    message = problems_of(path)
    assert 'row 2, campaign "trail-sock": url: "javascript:alert(1)" is not an absolute http(s) URL' in message


def test_load_yaml_booleans_and_numbers_name_quoting(tmp_path):
    path = tmp_path / "typed.yaml"
    path.write_text(
        "brands:\n  - {key: acme, name: yes}\n"
        "campaigns:\n  - {key: launch, brand: acme, product: {name: 2024}, locale: no,\n"
        "     segments: [{key: all, name: All}], channels: [email_subject]}\n"
    )
    message = problems_of(path)
    assert 'name: YAML read this value as true (it reads true, yes or on that way); quote it' in message
    assert 'locale: YAML read this value as false (it reads false, no or off that way); quote it' in message
    assert 'product.name: YAML read 2024 as a number; quote it ("2024") to keep it as text' in message


def test_load_messages_name_yaml_values_plainly(tmp_path):
    data = {"brands": [{**brand(), "name": date(2024, 1, 1), "channel_limits": {"email_subject": 10**20}}],
            "campaigns": [campaign(variants=True, schedule=5, generation={"temperature": float("nan")})]}  # fmt: skip
    message = problems_of(write_yaml(tmp_path, data))
    assert 'name: YAML read 2024-01-01 as a date; quote it ("2024-01-01") to keep it as text' in message
    assert "variants: must be a whole number such as 3 (YAML read this value as true)" in message
    assert "schedule: must be a mapping of fields (key: value lines), not a single value" in message
    assert "generation.temperature: must be a finite number (got .nan)" in message
    assert 'the limit of "email_subject" is 100000000000000000000; use at most 100,000' in message
    assert "ScheduleSpec" not in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"generation": {"temperature": True}},
         "generation.temperature: must be a number such as 0.7 (YAML read this value as true)"),
        ({"generation": {"top_p": False}}, "generation.top_p: must be a number such as 0.7 (YAML read this value as false)"),
        ({"generation": {"seed": True}}, "generation.seed: must be a whole number such as 3 (YAML read this value as true)"),
        ({"generation": {"max_new_tokens": True}},
         "generation.max_new_tokens: must be a whole number such as 3 (YAML read this value as true)"),
        ({"variants": False}, "variants: must be a whole number such as 3 (YAML read this value as false)"),
    ],
    ids=["temperature", "top-p", "seed", "max-new-tokens", "variants"],
)  # fmt: skip
def test_load_yaml_boolean_in_number_field_rejected(tmp_path, changes, expected):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(**changes)]})
    assert f'campaign "boot-launch": {expected}' in problems_of(path)


def test_load_yaml_boolean_channel_limit_rejected(tmp_path):
    path = write_yaml(tmp_path, {"brands": [{**brand(), "channel_limits": {"email_subject": True}}],
                                 "campaigns": [campaign()]})  # fmt: skip
    expected = 'brand "trailpeak": channel_limits.email_subject: must be a whole number such as 3 (YAML read this'
    assert expected in problems_of(path)


def test_load_number_fields_name_the_value(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(variants="three", generation={"temperature": "warm"})]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'variants: must be a whole number such as 3 (got "three")' in message
    assert 'generation.temperature: must be a number such as 0.7 (got "warm")' in message


def test_load_every_problem_translated(tmp_path):
    bad_brand = {**brand(), "name": "x" * 201, "banned_terms": ["(("], "disabled_rule_packs": ["nope"],
                 "channel_limits": {"sms": 100, "tiktok": 5, "email_subject": 0}, "colour": "red"}  # fmt: skip
    bad = campaign(
        key="Bad Key",
        name=None,
        variants=99,
        locale="xx-nope-nope",
        channels=["tiktok", "sms", "sms"],
        segments=[{"key": "a", "name": "A"}, {"key": "a", "name": "B", "extra": 1}],
        product={"name": True, "url": "ftp://example.com", "features": "one"},
        generation={"temperature": 3, "top_p": 0, "seed": "x", "max_new_tokens": 1.5},
        schedule={"cron": "61 * * * *", "timezone": "Mars/Olympus", "refresh": "some"},
    )
    data = {"brands": [bad_brand], "campaigns": [bad, {"key": "other", "brand": "trailpeak"}]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))
    problems = raised.value.details
    assert len(problems) >= 20
    untranslated = [problem.message for problem in problems if problem.text.render("zh-CN") == problem.message]
    assert untranslated == []


def test_load_terms_without_anything_to_match_rejected(tmp_path):
    data = {"brands": [{**brand(), "banned_terms": ["((", "#1", "💊"], "required_terms": ["..."]}],
            "campaigns": [campaign()]}  # fmt: skip
    message = problems_of(write_yaml(tmp_path, data))
    assert 'brand "trailpeak": banned_terms[0]: "((" has no letter, digit or one of # % $ + & @' in message
    assert 'brand "trailpeak": banned_terms[2]: "💊" has no letter' in message
    assert 'brand "trailpeak": required_terms[0]: "..." has no letter' in message
    assert "banned_terms[1]" not in message


def test_load_repeated_terms_rejected(tmp_path):
    data = {"brands": [{**brand(), "banned_terms": ["cheap", "Cheap", "risk-free", "cheap", "risk free"],
                        "claim_terms": ["best", "ＢＥＳＴ"]}], "campaigns": [campaign()]}  # fmt: skip
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))

    problems = [(problem.field, problem.message) for problem in raised.value.details]
    same_words = "because terms match in any letter case and width, with or without spaces and punctuation; keep one"
    assert problems == [
        ("banned_terms[1]", f'"Cheap" matches the same words as "cheap", {same_words} of them'),
        ("banned_terms[3]", '"cheap" is listed more than once; list each term once'),
        ("banned_terms[4]", f'"risk free" matches the same words as "risk-free", {same_words} of them'),
        ("claim_terms[1]", f'"ＢＥＳＴ" matches the same words as "best", {same_words} of them'),
    ]


def test_load_term_banned_and_required_rejected(tmp_path):
    data = {"brands": [{**brand(), "banned_terms": ["cheap", "free"], "required_terms": ["TrailPeak", "Cheap"]}],
            "campaigns": [campaign()]}  # fmt: skip
    message = problems_of(write_yaml(tmp_path, data))
    assert ('brand "trailpeak": required_terms[1]: "Cheap" is also a banned term ("cheap"), so every draft would be '
            "flagged, for containing it or for missing it; remove it from one of the two lists") in message
    assert "required_terms[0]" not in message


@pytest.mark.parametrize(
    ("required", "banned"),
    [("cheap deals", "cheap"), ("Trail chеap", "cheap"), ("全场最佳好茶", "最佳")],
    ids=["word", "lookalike", "chinese"],
)
def test_load_required_term_containing_banned_rejected(tmp_path, required, banned):
    data = {"brands": [{**brand(), "banned_terms": [banned], "required_terms": ["TrailPeak", required]}],
            "campaigns": [campaign()]}  # fmt: skip
    message = problems_of(write_yaml(tmp_path, data))
    assert (f'brand "trailpeak": required_terms[1]: "{required}" contains the banned term "{banned}", so every '
            "draft would be flagged, for containing it or for missing it; remove one of the two terms") in message
    assert "required_terms[0]" not in message


def test_load_term_with_line_break_rejected(tmp_path):
    data = {"brands": [{**brand(), "banned_terms": ["che\nap"]}], "campaigns": [campaign()]}
    assert 'banned_terms[0]: "che\\nap" has a line break; write it on one line' in problems_of(write_yaml(tmp_path, data))


def test_load_duplicate_campaign_keys_rejected(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(), campaign()]}
    assert "repeated: boot-launch" in problems_of(write_yaml(tmp_path, data))


def test_load_csv_duplicate_keys_name_rows(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\n{SOCK_ROW}\n{SOCK_ROW.replace('sock,', 'hat,')}\n{SOCK_ROW}\n{SOCK_ROW}\n")

    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)

    assert [str(problem).split(": ", 1)[1] for problem in raised.value.details] == [
        'row 4, campaign "sock": key: row 2 has the same key; give each campaign its own key',
        'row 5, campaign "sock": key: row 2 has the same key; give each campaign its own key',
    ]


def test_load_duplicate_segment_keys_rejected(tmp_path):
    segments = [{"key": "same", "name": "One"}, {"key": "same", "name": "Two"}]
    data = {"brands": [brand()], "campaigns": [campaign(segments=segments)]}
    assert "repeated: same" in problems_of(write_yaml(tmp_path, data))


def test_load_repeated_keys_listed_with_other_problems(tmp_path):
    segments = [{"key": "same", "name": "One"}, {"key": "same"}]
    data = {"brands": [brand(), {**brand(), "voice": 5}],
            "campaigns": [campaign(variants=0), campaign(segments=segments), campaign("other", channels=[])]}  # fmt: skip
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))

    problems = [str(problem).split(": ", 1)[1] for problem in raised.value.details]
    assert "brands: brand keys must be unique; repeated: trailpeak" in problems
    assert "campaigns: campaign keys must be unique; repeated: boot-launch" in problems
    assert 'campaign "boot-launch": segments: segment keys must be unique; repeated: same' in problems
    assert 'brand "trailpeak": voice: YAML read 5 as a number; quote it ("5") to keep it as text' in problems
    assert 'campaign "boot-launch": variants: must be 1 or more (got 0)' in problems
    assert 'campaign "boot-launch": segments[1].name: is required' in problems
    assert 'campaign "other": channels: is empty; give at least one' in problems


def test_load_repeated_keys_listed_once(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(), campaign()]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))
    assert [problem.field for problem in raised.value.details] == ["campaigns"]


def test_load_csv_segments_with_same_key_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER + "\n"
                    "sock,trailpeak,Sock,,,,,Day trippers;Runners;day-trippers,sms,1,en-US\n"
                    "hat,trailpeak,Hat,,,,,Runners,billboard,1,en-US\n")  # fmt: skip
    message = problems_of(path)
    assert ('row 2, campaign "sock": segments: the segments "Day trippers", "day-trippers" get the same key '
            '"day-trippers"; list each segment once') in message
    assert 'row 3, campaign "hat": channels[0]: "billboard" is not a known channel' in message


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "x 2 * * *", "timezone": "UTC"}, '"x 2 * * *" is not a valid cron expression; each field takes numbers in its range (minute 0-59'),
        ({"cron": "x 2 * * *"}, "day of month 1-31 or L for the last day, month 1-12 or jan-dec, day of week 0-7 or "
                                "sun-sat, where 0 and 7 are Sunday)"),
        ({"cron": "5-1 * * * *"}, '"5-1 * * * *": the range 5-1 in the minute field starts above its end; to wrap '
                                  "around after 59, write it as 5-59,0-1"),
        ({"cron": "0 22-2 * * *"}, "the range 22-2 in the hour field starts above its end; to wrap around after 23, "
                                   "write it as 22-23,0-2"),
        ({"cron": "0 0 31-1 * *"}, "the range 31-1 in the day-of-month field starts above its end; to wrap around "
                                   "after 31, write it as 31,1"),
        ({"cron": "0 0 * 11-2 *"}, "the range 11-2 in the month field starts above its end; to wrap around after 12, "
                                   "write it as 11-12,1-2"),
        ({"cron": "0 3 * * sat-sun"}, "the range sat-sun in the day-of-week field starts above its end; to wrap "
                                      "around after Saturday, write it as 6-7. Day of week 7 is Sunday, like 0, so a "
                                      "range may also start at 7, e.g. 7-2 for Sunday to Tuesday"),
        ({"cron": "0 0 * * 1,5-2"}, "the range 5-2 in the day-of-week field starts above its end; to wrap around "
                                    "after Saturday, write it as 5-7,1-2."),
        ({"cron": "0 0 * * 5-0/2"}, "the range 5-0/2 in the day-of-week field starts above its end; to wrap around "
                                    "after Saturday, write it as 5,7."),
        ({"cron": "5-1/2 * * * *"}, "the range 5-1/2 in the minute field starts above its end; to wrap around after "
                                    "59, write it as 5-59/2,1"),
        ({"cron": "0 21-2/2 * * *"}, "the range 21-2/2 in the hour field starts above its end; to wrap around after "
                                     "23, write it as 21,23,1"),
        ({"cron": "50-20/15 * * * *"}, "to wrap around after 59, write it as 50,5,20"),
        ({"cron": "0 0 * * 7-0"}, '"0 0 * * 7-0": the range 7-0 in the day-of-week field starts and ends on Sunday '
                                  "(0 and 7 are both Sunday), and it would run on every day; write 0 for Sunday "
                                  'alone, or "*" for every day'),
        ({"cron": "0 0 * * 7-7"}, "the range 7-7 in the day-of-week field starts and ends on Sunday"),
        ({"cron": "30 2 * * *", "timezone": "Mars/Olympus"}, '"Mars/Olympus" is not an IANA time zone'),
        ({"cron": "0 0 30 2 *", "timezone": "UTC"}, '"0 0 30 2 *" never matches a date'),
        ({"cron": "0 2 * * * 0"}, '"0 2 * * * 0" has 6 fields, and a cron expression has five'),
        ({"cron": "30 2 * * *", "refresh": "x"}, 'refresh: must be one of: all, unapproved (got "x")'),
        ({"cron": "30 2 * * *", "timezone": "localtime"}, '"localtime" is the machine\'s time zone setting'),
        ({"cron": "30 2 * * *", "timezone": "posix/Asia/Shanghai"}, 'use the IANA name itself, "Asia/Shanghai"'),
        ({"cron": "daily"}, '"daily" has one field, and a cron expression has five: minute hour day-of-month month '
                            'day-of-week, e.g. "30 2 * * *", or is one of @yearly, @annually, @monthly, @weekly, '
                            "@daily, @midnight, @hourly"),
        ({"cron": "@reboot"}, '"@reboot" is not a schedule that contentgen can run; use one of @yearly, @annually, '),
        ({"cron": "@dayly"}, '"@dayly" is not a schedule that contentgen can run; did you mean @daily?'),
        ({"cron": "0 25 * * 1"}, '"0 25 * * 1": the hour field has 25, and it takes 0 to 23'),
        ({"cron": "0 2 * * 1-9"}, '"0 2 * * 1-9": the day-of-week field has 9, and it takes 0 to 7'),
        ({"cron": "0 2 * * *", "timezone": "Asia/Beijing"}, '"Asia/Beijing" is not an IANA time zone; did you mean '
                                                            '"Asia/Shanghai"?'),
        ({"cron": "0 2 * * *", "timezone": "europe/berln"}, 'did you mean "Europe/Berlin"?'),
        ({"cron": "0 2 * * *", "timezone": "New York"}, 'did you mean "America/New_York"?'),
        ({"cron": "0 2 * * *", "timezone": "UTC+8"}, '"UTC+8" is an offset from UTC, not a time zone; use the IANA '
                                                     'name of a place in the zone, such as "Asia/Shanghai"'),
    ],
    ids=["cron", "cron-ranges", "reversed-minutes", "reversed-hours", "reversed-days", "reversed-months",
         "reversed-day-names", "reversed-in-list", "reversed-day-step", "reversed-with-step", "reversed-hour-step",
         "reversed-uneven-step", "sunday-to-0", "sunday-to-7",
         "timezone", "never-matches", "six-fields", "refresh", "localtime", "posix-folder", "one-field",
         "reboot", "misspelt-nickname", "hour-25", "weekday-9", "beijing", "misspelt-zone", "city-only",
         "utc-offset"],
)  # fmt: skip
def test_load_invalid_schedule_rejected(tmp_path, schedule, expected):
    data = {"brands": [brand()], "campaigns": [campaign(schedule=schedule)]}
    assert expected in problems_of(write_yaml(tmp_path, data))


@pytest.mark.parametrize("zone", ["Local", "/etc/localtime", "localtime", "LOCALTIME", "local time", "posixrules", "Factory"])
def test_load_machine_zone_names_fix(tmp_path, zone):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": "30 2 * * *", "timezone": zone})]}

    problems = problems_of(write_yaml(tmp_path, data))

    assert f'"{zone}" is the machine\'s time zone setting, not a fixed time zone' in problems
    assert 'use an IANA name such as "Asia/Shanghai"' in problems
    assert '"readlink /etc/localtime" prints a path that ends in it' in problems
    assert "did you mean" not in problems


@pytest.mark.parametrize("zone", ["Localtme", "locatime", "posixrule", "Lokal"])
def test_load_zone_near_machine_name_no_suggestion(tmp_path, zone):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": "30 2 * * *", "timezone": zone})]}

    problems = problems_of(write_yaml(tmp_path, data))

    assert f'"{zone}" is not an IANA time zone' in problems
    assert "localtime" not in problems
    assert "posixrules" not in problems


def test_suggested_zones_all_accepted():
    zones = _suggestable_zones()

    assert "Asia/Shanghai" in zones
    assert "localtime" not in zones
    for zone in sorted(zones):
        assert ScheduleSpec(cron="30 2 * * *", timezone=zone).timezone == zone


@pytest.mark.parametrize("cron", ["@yearly", "@monthly", "@weekly", "@daily", "@hourly", "@Daily"])
def test_load_cron_nickname_accepted(tmp_path, cron):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": cron})]}
    assert load_campaign_file(write_yaml(tmp_path, data)).campaigns[0].schedule.cron == cron


@pytest.mark.parametrize(
    "cron",
    ["0 0 L * *", "0 0 * * 7", "0 0 * * 5-7", "0 0 * * 7-1", "0 0 * * 7-5/2", "0 0 * * mon-fri", "0 9-17/2 * * *",
     "0 0 * jan-mar *"],
    ids=["last-day", "sunday-7", "to-sunday-7", "from-sunday-7", "from-sunday-7-step", "day-names", "range-with-step",
         "month-names"],
)  # fmt: skip
def test_load_cron_forms_accepted(tmp_path, cron):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": cron})]}
    assert load_campaign_file(write_yaml(tmp_path, data)).campaigns[0].schedule.cron == cron


RUN_PARTS = {"hour": lambda run: run.hour, "minute": lambda run: run.minute, "weekday": lambda run: run.strftime("%a")}


@pytest.mark.parametrize(
    ("cron", "first_run", "unit", "expected"),
    [
        ("0 22-2 * * *", datetime(2024, 1, 1, 22), "hour", [22, 23, 0, 1, 2, 22]),
        ("0 21-2/2 * * *", datetime(2024, 1, 1, 21), "hour", [21, 23, 1, 21]),
        ("5-1/2 * * * *", datetime(2024, 1, 1, 0, 5), "minute", [*range(5, 60, 2), 1, 5]),
        ("50-20/15 * * * *", datetime(2024, 1, 1, 0, 50), "minute", [50, 5, 20, 50]),
        ("0 0 * * sat-sun", datetime(2024, 1, 6), "weekday", ["Sat", "Sun", "Sat"]),
        ("0 0 * * 5-2", datetime(2024, 1, 5), "weekday", ["Fri", "Sat", "Sun", "Mon", "Tue", "Fri"]),
        ("0 0 * * 4-1/2", datetime(2024, 1, 4), "weekday", ["Thu", "Sat", "Mon", "Thu"]),
    ],
    ids=["hours", "hours-step", "minutes-step", "minutes-uneven-step", "weekend", "weekdays", "weekdays-step"],
)
def test_load_reversed_range_fix_runs_as_meant(tmp_path, cron, first_run, unit, expected):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": cron})]}
    message = problems_of(write_yaml(tmp_path, data))
    reversed_range = re.search(r"the range (\S+) in", message).group(1)
    fixed_range = re.search(r"write it as ([0-9,/-]+)", message).group(1)
    fixed = cron.replace(reversed_range, fixed_range)

    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": fixed})]}
    assert load_campaign_file(write_yaml(tmp_path, data)).campaigns[0].schedule.cron == fixed
    runs = croniter(fixed, first_run - timedelta(seconds=1))
    assert [RUN_PARTS[unit](runs.get_next(datetime)) for _ in expected] == expected


def test_load_reversed_range_translated(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": "0 21-2/2 * * *"})]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))
    (problem,) = raised.value.details
    assert problem.field == "schedule.cron"
    assert problem.text.render("zh-CN") == (
        "“0 21-2/2 * * *”：小时字段中的范围 21-2/2 起点大于终点；如要在 23 之后从头继续，请写成 21,23,1"
    )


@pytest.mark.parametrize("field", ["temperature", "top_p"])
def test_load_decimal_comma_hint(tmp_path, field):
    data = {"brands": [brand()], "campaigns": [campaign(generation={field: "0,7"})]}
    message = problems_of(write_yaml(tmp_path, data))
    assert f'generation.{field}: "0,7" has a decimal comma; write a decimal point, e.g. 0.7' in message


@pytest.mark.parametrize(
    ("text", "found"),
    [("- key: a\n- key: b\n", "a list"), ("brands\n", "a single text value"), ("42\n", "a single number"),
     ("yes\n", "a single true or false value"), ("2024-01-01\n", "a single date")],
    ids=["list", "text", "number", "boolean", "date"],
)  # fmt: skip
def test_load_top_level_kind_named(tmp_path, text, found):
    path = tmp_path / "campaigns.yaml"
    path.write_text(text)
    message = problems_of(path)
    assert message == (f'campaign file "{path}": the top level must be a mapping with "brands" and "campaigns" '
                       f"(key: value lines), not {found}")  # fmt: skip


def test_load_unknown_suffix_rejected(tmp_path):
    path = tmp_path / "campaigns.json"
    path.write_text("{}")
    assert 'unknown type ".json"' in problems_of(path)


def test_load_workbook_named_csv(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\xff\xfe")
    assert "is a spreadsheet workbook with a .csv name" in problems_of(path)


def test_load_workbook_told_to_save_csv(tmp_path):
    path = tmp_path / "products.xlsx"
    path.write_bytes(b"PK\x03\x04")
    message = problems_of(path)
    assert "is a spreadsheet workbook (.xlsx)" in message
    assert 'save the sheet as "CSV UTF-8 (comma delimited)"' in message


def test_load_missing_file_rejected(tmp_path):
    assert "not found" in problems_of(tmp_path / "nowhere.yaml")


def test_load_csv_rows(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "trail-sock,trailpeak,Trail Sock,Merino sock,Warm;Quick-drying,$19,,Weekend hikers;Runners,"
        "google_ads_headline,2,en-US\n",
        encoding="utf-8",
    )
    parsed = load_campaign_file(path)
    spec = parsed.campaigns[0]
    assert spec.product.features == ["Warm", "Quick-drying"]
    assert [segment.key for segment in spec.segments] == ["weekend-hikers", "runners"]
    assert spec.variants == 2


def test_load_csv_bad_row_names_row_and_field(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "trail-sock,trailpeak,Trail Sock,,,,,Hikers,google_ads_headline,1,en-US\n"
        "trail-hat,trailpeak,Trail Hat,,,,,Hikers,billboard,1,en-US\n"
    )
    message = problems_of(path)
    assert 'row 3, campaign "trail-hat": channels[0]: "billboard" is not a known channel' in message


def test_load_csv_empty_cell_hint(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "trail-sock,trailpeak,,,,,,Hikers,google_ads_headline,1,en-US\n"
    )
    assert 'row 2, campaign "trail-sock": product_name: is empty; fill in this column' in problems_of(path)


@pytest.mark.parametrize(
    ("column", "row"),
    [
        ("locale", "sock,trailpeak,Sock,,,,,Hikers,email_subject,1,"),
        ("brand", "sock,,Sock,,,,,Hikers,email_subject,1,en-US"),
        ("segments", "sock,trailpeak,Sock,,,,,,email_subject,1,en-US"),
        ("channels", "sock,trailpeak,Sock,,,,, Hikers ,  ,1,en-US"),
    ],
)
def test_load_csv_empty_required_cell_rejected(tmp_path, column, row):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\n{row}\n")
    assert f'row 2, campaign "sock": {column}: is empty; fill in this column' in problems_of(path)


def test_load_csv_empty_key_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\n,trailpeak,Sock,,,,,Hikers,email_subject,1,en-US\n")
    assert f'{path}: row 2, campaign with no key: key: is empty; fill in this column' in problems_of(path)


def test_load_yaml_missing_key_named_by_place(tmp_path):
    second = campaign()
    del second["key"]
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign("first"), second]})
    assert f"{path}: campaign #2 (no key): key: is required" in problems_of(path)


def test_load_csv_problems_in_row_order(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        f"{CSV_HEADER}\n"
        "sock,trailpeak,Sock,,,,,Hikers,billboard,1,en-US\n"
        "hat,trailpeak,Hat\u202e,,,,,Hikers,email_subject,1,en-US\n"
        ",trailpeak,Cap,,,,,Hikers,email_subject,1,en-US\n"
        "sock,nobrand,Sock,,,,,Hikers,email_subject,0,en-US\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path, stored_brands=lambda keys: keys - {"nobrand"})

    # Before sorting, control characters came first, then repeated keys, then field errors,
    # then undefined brands.
    assert [(problem.row, problem.field) for problem in raised.value.details] == [
        (2, "channels[0]"),
        (3, "product_name"),
        (4, "key"),
        (5, "key"),
        (5, "variants"),
        (5, "brand"),
    ]


def test_load_csv_empty_description_accepted(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\nsock,trailpeak,Sock,,,,,Hikers,email_subject,1,en-US\n")
    assert load_campaign_file(path).campaigns[0].product.description == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": "email_subject"},
         'channels: must be a list, not the single value "email_subject"; write ["email_subject"] or one "- " line'),
        ({"product": {"name": "Boot", "features": "Light: 500 g"}},
         'product.features: must be a list, not the single value "Light: 500 g"; write ["Light: 500 g"]'),
        ({"segments": {"key": "weekend", "name": "Weekend hikers"}},
         'segments: must be a list; start each item with "- " on its own line'),
        ({"channels": ["email_subject", "x_post", "email_subject"]},
         "channels: email_subject listed more than once; list each channel once"),
        ({"product": {"name": None}}, "product.name: is empty (a key with nothing after the colon is null in YAML)"),
        ({"product": {"name": ""}}, "product.name: is empty; give it a value"),
        ({"variants": None}, "variants: is empty; give a whole number, or leave the key out"),
        ({"variants": "  "}, "variants: is empty; give a whole number, or leave the key out"),
        ({"channels": ["email_subject", "billboard", "email_subject"]},
         'channels[1]: "billboard" is not a known channel; use one of: '),
        ({"product": {"name": "Boot", "features": "Waterproof\n- Grippy outsole"}},
         'product.features: must be a list, not one text; write one "- " line per item'),
    ],
    ids=["single-channel", "colon-in-value", "single-segment", "repeated-channel", "null-name", "empty-name",
         "null-variants", "blank-variants",
         "unknown-and-repeated-channel", "multi-line-list"],
)  # fmt: skip
def test_load_common_yaml_mistakes_explained(tmp_path, changes, message):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(**changes)]})
    assert f'campaign "boot-launch": {message}' in problems_of(path)


def test_load_unknown_and_repeated_channels_reported_together(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(channels=["email_subject", "billboard", "email_subject"])]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'campaign "boot-launch": channels[1]: "billboard" is not a known channel' in message
    assert 'campaign "boot-launch": channels: email_subject listed more than once' in message


def test_load_unknown_channels_each_reported(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(channels=["emial_subject", "sms", "tiktok"])]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))
    problems = [(problem.field, problem.message) for problem in raised.value.details]
    assert problems[0] == ("channels[0]", '"emial_subject" is not a known channel; did you mean email_subject?')
    assert problems[1][0] == "channels[2]"
    assert problems[1][1].startswith('"tiktok" is not a known channel; use one of: ')
    assert len(problems) == 2


LIST_ITEMS = """\
brands:
  - key: trailpeak
    name: TrailPeak
    banned_terms: [cheap, null]
    claim_terms:
      -
    disabled_rule_packs: [5]
  -
campaigns:
  - key: boot-launch
    brand: trailpeak
    product: {name: Boot, features: [5, null]}
    segments: [null, {key: all, name: All}]
    channels: [email_subject, 5, null, yes]
"""
EMPTY_ITEM = 'is an empty list item (a "-" with nothing after it, or null); give it a value or remove it'


def test_load_list_item_null_or_number_explained(tmp_path):
    path = tmp_path / "items.yaml"
    path.write_text(LIST_ITEMS)
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)
    problems = {(problem.key, problem.field): problem.message for problem in raised.value.details}

    assert problems[("trailpeak", "banned_terms[1]")] == EMPTY_ITEM
    assert problems[("trailpeak", "claim_terms[0]")] == EMPTY_ITEM
    assert problems[("trailpeak", "disabled_rule_packs[0]")] == (
        "5 is a number, not a rule pack; use one of: zh-cn-absolute-terms, en-claim-terms"
    )
    assert problems[(None, "brands[1]")] == EMPTY_ITEM
    # A feature is text, so quoting a number is the fix.
    assert problems[("boot-launch", "product.features[0]")] == 'YAML read 5 as a number; quote it ("5") to keep it as text'
    assert problems[("boot-launch", "product.features[1]")] == EMPTY_ITEM
    assert problems[("boot-launch", "segments[0]")] == EMPTY_ITEM
    assert problems[("boot-launch", "channels[1]")].startswith(
        "5 is a number, not a channel; use a channel name, one of: google_ads_headline, "
    )
    assert problems[("boot-launch", "channels[2]")] == EMPTY_ITEM
    assert problems[("boot-launch", "channels[3]")].startswith(
        "YAML read this value as true, not a channel; use a channel name, one of: google_ads_headline, "
    )
    assert len(problems) == 10


def test_load_list_item_problems_translated(tmp_path):
    path = tmp_path / "items.yaml"
    path.write_text(LIST_ITEMS)
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)
    chinese = {problem.field: problem.text.render("zh-CN") for problem in raised.value.details}

    assert chinese["brands[1]"] == "是空的列表项（“-”后面什么也没写，或写了 null）；请给它一个值，或者删除它"
    assert chinese["disabled_rule_packs[0]"] == "5 是数字，不是规则包；请使用以下之一：zh-cn-absolute-terms, en-claim-terms"
    assert chinese["channels[1]"].startswith("5 是数字，不是渠道；请使用渠道名称，以下之一：google_ads_headline, ")


def test_load_controls_with_field_errors(tmp_path):
    data = {"brands": [{**brand(), "name": "Trail\u202ePeak"}], "campaigns": [campaign(variants=0)]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data))
    fields = [(problem.key, problem.field) for problem in raised.value.details]
    assert fields == [("trailpeak", "name"), ("boot-launch", "variants")]


def test_load_tab_indent_says_use_spaces(tmp_path):
    path = tmp_path / "tabs.yaml"
    path.write_text("brands:\n\t- key: trailpeak\n")
    assert "replace the tab with spaces" in problems_of(path)


def test_load_csv_wrong_columns_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("key,brand,name_of_product\n")
    message = problems_of(path)
    assert "missing" in message and '"product_name"' in message
    assert 'unknown "name_of_product"' in message


def test_load_csv_missing_columns_only_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("key,brand\n")
    message = problems_of(path)
    assert ('has the wrong columns: missing "channels", "locale", "product_description", '
            '"product_name", "segments".') in message
    assert "unknown" not in message


def test_import_creates_then_updates(database, tmp_path):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))

    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(variants=5)]})
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))

    with db.session_scope() as session:
        stored = session.scalars(select(Campaign)).all()
        assert len(stored) == 1
        assert stored[0].spec["variants"] == 5
        assert session.scalar(select(func.count()).select_from(Brand)) == 1


def test_stored_line_break_stays_readable(database, tmp_path):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(name="Boot launch")]})
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))
    # A campaign stored before names had to be one line.
    with db.session_scope() as session:
        stored = session.scalars(select(Campaign)).one()
        stored.spec = {**stored.spec, "name": "Boot\nlaunch"}

    with db.session_scope() as session:
        assert campaign_spec(session.scalars(select(Campaign)).one()).name == "Boot\nlaunch"


def test_stored_locale_without_language_stays_readable(database, tmp_path):
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    with db.session_scope() as session:
        stored = session.scalars(select(Campaign)).one()
        stored.spec = {**stored.spec, "locale": "und"}

    with db.session_scope() as session:
        assert campaign_spec(session.scalars(select(Campaign)).one()).locale == "und"


def test_stored_locale_read_in_canonical_case(database, tmp_path):
    # Prompts and checks read the spec, so a campaign stored before the case rule gets "zh-CN" too.
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    with db.session_scope() as session:
        stored = session.scalars(select(Campaign)).one()
        stored.spec = {**stored.spec, "locale": "zh-cn"}

    with db.session_scope() as session:
        assert campaign_spec(session.scalars(select(Campaign)).one()).locale == "zh-CN"


def import_file(folder: Path, data) -> Campaign:
    path = write_yaml(folder, data)
    with db.session_scope() as session:
        (imported,) = import_campaign_file(session, path, load_campaign_file(path))
        return imported


def test_import_csv_unknown_brand_hint(database, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER + "\nboot-launch,nobody,Ridgeline GTX,,,,,Weekend hikers,sms,1,en-US\n")
    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))
    assert '"nobody" is not defined; import a YAML file that defines it under "brands" first' in str(raised.value)


def test_import_csv_unknown_brand_names_row(database, tmp_path):
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\n{SOCK_ROW}\n{SOCK_ROW.replace('sock,trailpeak', 'csv-x,nosuchbrand')}\n")

    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))

    assert f'{path}: row 3, campaign "csv-x": brand: "nosuchbrand" is not defined' in str(raised.value)


def test_import_schedule_starts_at_import(database, tmp_path):
    schedule = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    before = datetime.now(UTC)
    imported = import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(schedule=schedule)]})

    assert stored_utc(imported.schedule_since) >= before
    assert imported.spec["schedule"] == {**schedule, "refresh": "all"}


def test_import_same_schedule_keeps_start(database, tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": "30 2 * * *"})]}
    first = import_file(tmp_path, data)
    data["campaigns"][0]["variants"] = 3
    data["campaigns"][0]["schedule"]["refresh"] = "unapproved"
    second = import_file(tmp_path, data)

    assert stored_utc(second.schedule_since) == stored_utc(first.schedule_since)


@pytest.mark.parametrize(
    ("schedule", "restarted"),
    [
        ({"cron": "0 3 * * *"}, True),
        ({"cron": "30 2 * * *", "timezone": "Asia/Tokyo"}, True),
        (None, False),
    ],
    ids=["cron-changed", "zone-changed", "removed"],
)
def test_import_changed_schedule_restarts(database, tmp_path, schedule, restarted):
    data = {"brands": [brand()], "campaigns": [campaign(schedule={"cron": "30 2 * * *"})]}
    first = import_file(tmp_path, data)
    data["campaigns"][0]["schedule"] = schedule
    second = import_file(tmp_path, data)

    if restarted:
        assert stored_utc(second.schedule_since) > stored_utc(first.schedule_since)
    else:
        assert second.schedule_since is None


CSV_HEADER = "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale"


def import_csv(folder: Path, text: str) -> Campaign:
    path = folder / "products.csv"
    path.write_text(text, encoding="utf-8")
    with db.session_scope() as session:
        (imported,) = import_campaign_file(session, path, load_campaign_file(path))
        return imported


def test_import_csv_keeps_what_csv_cannot_say(database, tmp_path):
    schedule = {"cron": "30 2 * * *", "timezone": "Europe/Berlin", "refresh": "unapproved"}
    segments = [{"key": "weekend", "name": "Weekend hikers", "description": "Two days a month"},
                {"key": "thru", "name": "Thru-hikers"}]  # fmt: skip
    first = import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(
        schedule=schedule, segments=segments, goal="Pre-orders", call_to_action="Pre-order now",
        name="Boot launch", generation={"temperature": 0.5, "seed": 7},
    )]})  # fmt: skip

    second = import_csv(tmp_path, CSV_HEADER + ",seed\n"
                        "boot-launch,trailpeak,Ridgeline GTX,A waterproof boot.,,$129,,"
                        "Weekend hikers;Day trippers,google_ads_headline,2,en-US,9\n")  # fmt: skip

    spec = second.spec
    assert spec["product"]["price"] == "$129"
    assert spec["schedule"] == schedule
    assert stored_utc(second.schedule_since) == stored_utc(first.schedule_since)
    assert spec["segments"] == [
        {"key": "weekend", "name": "Weekend hikers", "description": "Two days a month"},
        {"key": "day-trippers", "name": "Day trippers", "description": ""},
    ]
    assert (spec["name"], spec["goal"], spec["call_to_action"]) == ("Boot launch", "Pre-orders", "Pre-order now")
    assert spec["generation"]["temperature"] == 0.5
    assert spec["generation"]["seed"] == 9


def test_import_csv_new_segment_gets_free_key(database, tmp_path):
    segments = [{"key": "day-trippers", "name": "Weekend hikers"}, {"key": "thru", "name": "Thru-hikers"}]
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(segments=segments)]})

    # "Day trippers" makes the key day-trippers, which the kept segment has.
    second = import_csv(tmp_path, CSV_HEADER + "\n"
                        "boot-launch,trailpeak,Ridgeline GTX,,,,,Weekend hikers;Day trippers,sms,1,en-US\n")  # fmt: skip

    assert [(segment["key"], segment["name"]) for segment in second.spec["segments"]] == [
        ("day-trippers", "Weekend hikers"), ("day-trippers-2", "Day trippers"),
    ]


def test_load_csv_segment_key_depends_on_name(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER + "\n"
                    "boot-launch,trailpeak,Ridgeline GTX,,,,,老客户;新客户;VIP 老客户;Café fans,sms,1,en-US\n"
                    "boot-sale,trailpeak,Ridgeline GTX,,,,,新客户,sms,1,en-US\n", encoding="utf-8")  # fmt: skip

    first, second = load_campaign_file(path).campaigns
    keys = [segment.key for segment in first.segments]
    assert keys == ["segment-68897fd8", "segment-689c5245", "vip-ed6bc678", "cafe-fans"]
    assert second.segments[0].key == "segment-689c5245"


def test_import_csv_other_chinese_segment_gets_other_key(database, tmp_path):
    row = "boot-launch,trailpeak,Ridgeline GTX,,,,,{segments},sms,1,en-US\n"
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    first = import_csv(tmp_path, CSV_HEADER + "\n" + row.format(segments="老客户"))
    second = import_csv(tmp_path, CSV_HEADER + "\n" + row.format(segments="新客户"))

    (old_segment,) = first.spec["segments"]
    (new_segment,) = second.spec["segments"]
    assert new_segment["name"] == "新客户"
    assert new_segment["key"] != old_segment["key"]


def test_import_csv_unchanged_name_keeps_stored_key(database, tmp_path):
    segments = [{"key": "segment-1", "name": "老客户", "description": "Bought twice"}]
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(segments=segments)]})
    second = import_csv(tmp_path, CSV_HEADER + "\n"
                        "boot-launch,trailpeak,Ridgeline GTX,,,,,老客户;新客户,sms,1,en-US\n")  # fmt: skip

    assert second.spec["segments"] == [
        {"key": "segment-1", "name": "老客户", "description": "Bought twice"},
        {"key": "segment-689c5245", "name": "新客户", "description": ""},
    ]


def test_import_csv_empty_optional_column_clears_field(database, tmp_path):
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(goal="Pre-orders")]})
    second = import_csv(tmp_path, CSV_HEADER + ",goal\n"
                        "boot-launch,trailpeak,Ridgeline GTX,,,,,Weekend hikers,sms,1,en-US,\n")  # fmt: skip
    assert second.spec["goal"] is None


MINIMAL_CSV_HEADER = "key,brand,product_name,product_description,segments,channels,locale"


def test_load_csv_full_width_commas_in_header(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("key，brand，product_name,product_description,segments,channels,locale\n", encoding="utf-8")
    message = problems_of(path)
    assert 'the header column "key，brand，product_name" contains full-width commas (，)' in message
    assert "separate the columns with ASCII commas (,)" in message


def test_load_csv_required_columns_only(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(MINIMAL_CSV_HEADER + "\nboot-launch,trailpeak,Ridgeline GTX,A boot.,老客户,sms,zh-CN\n",
                    encoding="utf-8")  # fmt: skip

    (loaded,) = load_campaign_file(path).campaigns

    assert loaded.variants == 1
    assert loaded.product.features == []
    assert (loaded.product.price, loaded.product.url) == (None, None)
    assert loaded.locale == "zh-CN"


def test_import_csv_without_product_columns_keeps_them(database, tmp_path):
    product = {"name": "Ridgeline GTX", "description": "A boot.", "features": ["Grippy outsole"],
               "price": "$129", "url": "https://example.com/ridgeline"}  # fmt: skip
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign(product=product, variants=3)]})

    second = import_csv(tmp_path, MINIMAL_CSV_HEADER + "\n"
                        "boot-launch,trailpeak,Ridgeline GTX,A lighter boot.,Weekend hikers,sms,en-US\n")  # fmt: skip

    assert second.spec["product"]["description"] == "A lighter boot."
    assert second.spec["product"]["features"] == ["Grippy outsole"]
    assert second.spec["product"]["price"] == "$129"
    assert second.spec["product"]["url"] == "https://example.com/ridgeline"
    assert second.spec["variants"] == 3


def test_import_unknown_brand_writes_nothing(database, tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(), campaign("other", brand="nobody")]}
    path = write_yaml(tmp_path, data)
    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))

    assert 'campaign "other": brand: "nobody" is not defined' in str(raised.value)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
        assert session.scalar(select(func.count()).select_from(Brand)) == 0


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en-US", "English"), ("zh-CN", "Chinese (Simplified)"), ("zh-TW", "Chinese (Traditional)"),
     ("de-DE", "German")],
)  # fmt: skip
def test_language_name(locale, expected):
    assert language_name(locale) == expected


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("zh-cn", "zh-CN"), ("EN-us", "en-US"), ("zh-hant-tw", "zh-Hant-TW"), ("ES-419", "es-419"),
     ("SL-ROZAJ", "sl-rozaj"), ("de", "de")],
)  # fmt: skip
def test_load_locale_stored_in_canonical_case(tmp_path, typed, canonical):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(locale=typed)]})
    assert load_campaign_file(path).campaigns[0].locale == canonical


def test_import_csv_stores_canonical_locale(database, tmp_path):
    import_file(tmp_path, {"brands": [brand()], "campaigns": [campaign()]})
    imported = import_csv(tmp_path, f"{CSV_HEADER}\nboot-launch,trailpeak,Boot,,,,,Hikers,sms,1,zh-cn\n")
    assert imported.spec["locale"] == "zh-CN"


@pytest.mark.parametrize(
    ("locale", "meaning"),
    [("und", "undetermined language"), ("und-US", "undetermined language"), ("UND", "undetermined language"),
     ("root", "the root locale of the CLDR data"), ("mul", "multiple languages"), ("zxx", "no linguistic content"),
     ("mis", "a language without an ISO 639 code")],
)  # fmt: skip
def test_load_locale_without_language_rejected(tmp_path, locale, meaning):
    path = write_yaml(tmp_path, {"brands": [brand()], "campaigns": [campaign(locale=locale)]})
    message = problems_of(path)
    language = locale.split("-")[0].lower()
    assert f'campaign "boot-launch": locale: "{locale}" names no language ("{language}" means {meaning}); ' in message
    assert "use the tag of the language that the copy is written in, such as en-US" in message


@pytest.mark.parametrize(("locale", "tag"), [("zh_CN", "zh-CN"), ("zh_cn", "zh-CN"), ("zh_Hant_TW", "zh-Hant-TW")])
def test_language_name_underscore_gets_tag(locale, tag):
    with pytest.raises(ValueError) as raised:
        language_name(locale)
    assert f'write "{tag}"' in str(raised.value)


def test_load_duplicate_yaml_key_rejected(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("campaigns:\n  - key: a\n    variants: 2\n    variants: 1\n")
    message = problems_of(path)
    assert 'key "variants" appears twice' in message
    assert "line 4" in message


MERGED_CAMPAIGNS = """\
brands: [{key: acme, name: Acme}]
campaigns:
  - &base
    key: launch
    brand: acme
    product: &boot {name: Boot}
    segments: [{key: all, name: All}]
    channels: [email_subject]
    variants: 2
  - <<: *base
    key: relaunch
    product: &sale {<<: *boot, price: "90"}
  - <<: *base
    key: clearance
    product: {<<: *sale, price: "50"}
    variants: 3
"""


def test_load_yaml_merge_key_written_key_overrides(tmp_path):
    path = tmp_path / "merged.yaml"
    path.write_text(MERGED_CAMPAIGNS)
    launch, relaunch, clearance = load_campaign_file(path).campaigns

    assert (launch.key, launch.variants, launch.product.price) == ("launch", 2, None)
    assert (relaunch.key, relaunch.variants, relaunch.product.price) == ("relaunch", 2, "90")
    assert (clearance.key, clearance.variants, clearance.product.price) == ("clearance", 3, "50")
    assert clearance.product.name == "Boot"
    assert clearance.segments == launch.segments


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (MERGED_CAMPAIGNS + "  - <<: *base\n    key: a\n    key: b\n", 19),
        (MERGED_CAMPAIGNS + "  - <<: *base\n    product: {<<: {name: A, name: B}}\n", 18),
    ],
    ids=["beside-merge", "inside-merged-mapping"],
)
def test_load_yaml_merge_key_repeated_key_rejected(tmp_path, text, line):
    path = tmp_path / "merged.yaml"
    path.write_text(text)
    message = problems_of(path)
    assert "appears twice in one mapping" in message
    assert f"line {line}," in message


def test_load_nul_character_rejected(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(name="Boot\x00launch")]}
    path = tmp_path / "nul.yaml"
    path.write_text(yaml.safe_dump(data))
    assert 'campaign "boot-launch": name: contains a NUL character' in problems_of(path)


@pytest.mark.parametrize("character", ["\u202e", "\x1b", "\ufeff"], ids=["bidi-override", "escape", "bom"])
def test_load_invisible_control_character_rejected(tmp_path, character):
    data = {"brands": [{**brand(), "name": f"Trail{character}Peak"}], "campaigns": [campaign()]}
    path = tmp_path / "control.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    message = problems_of(path)
    expected = f'brand "trailpeak": name: contains the invisible control character U+{ord(character):04X}; remove it'
    assert expected in message


def test_load_csv_controls_located(tmp_path):
    path = tmp_path / "controls.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "a,trailpeak,Ridge\u202eline,Boots,,$1,,Hikers,email_subject,1,en-US\n"
        "b,trailpeak,Summit,Packs,,$2,,Hik\x1bers,email_subject,1,en-US\n",
        encoding="utf-8",
    )

    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)

    assert [(problem.row, problem.key, problem.field) for problem in raised.value.details] == [
        (2, "a", "product_name"),
        (3, "b", "segments[0]"),
    ]


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        ("brand", "Trail\r\nPeak", 'brand "trailpeak": name: "Trail\\r\\nPeak" has a line break; write it on one line'),
        ("segment", "Day\u2028hikers", 'campaign "boot-launch": segments[0].name: "Day\\u2028hikers" has a line break'),
        ("offer", "Free shipping\nand returns", 'campaign "boot-launch": product.offer: "Free shipping\\nand'),
    ],
    ids=["brand-name", "segment-name", "offer"],
)
def test_load_line_break_in_one_line_field_rejected(tmp_path, where, value, expected):
    brand_spec, campaign_spec = brand(), campaign()
    if where == "brand":
        brand_spec["name"] = value
    elif where == "segment":
        campaign_spec["segments"][0]["name"] = value
    else:
        campaign_spec["product"]["offer"] = value
    path = tmp_path / "breaks.yaml"
    path.write_text(yaml.safe_dump({"brands": [brand_spec], "campaigns": [campaign_spec]}, allow_unicode=True))

    assert expected in problems_of(path)


def test_load_csv_cell_with_line_break_located(tmp_path):
    path = tmp_path / "breaks.csv"
    path.write_text(
        "key,brand,product_name,product_description,segments,channels,locale\n"
        'a,trailpeak,"Ridge\nline",Boots,Hikers,email_subject,en-US\n',
        encoding="utf-8",
    )

    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)

    assert [(problem.row, problem.key, problem.field) for problem in raised.value.details] == [(2, "a", "product_name")]
    assert '"Ridge\\nline" has a line break' in str(raised.value.details[0].message)


def test_load_line_breaks_and_tabs_accepted(tmp_path):
    data = {"brands": [{**brand(), "voice": "Plain words.\n\tNo jargon."}], "campaigns": [campaign()]}
    path = tmp_path / "breaks.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_campaign_file(path).brands[0].voice == "Plain words.\n\tNo jargon."


def test_load_folder_rejected(tmp_path):
    folder = tmp_path / "campaigns.yaml"
    folder.mkdir()
    assert "is a folder" in problems_of(folder)


def test_load_name_over_column_size_rejected(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(name="x" * 201)]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'campaign "boot-launch": name: must be at most 200 characters long' in message


def test_load_csv_header_only_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
    )
    assert "has a header but no campaigns" in problems_of(path)


def test_load_csv_extra_cells_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "sock,trailpeak,Sock,Warm, merino,,,,Hikers,email_subject,1,en-US\n"
    )
    assert "row 2 has more cells than the header" in problems_of(path)


def test_load_csv_short_rows_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "sock,trailpeak,Sock\n"
        "hat,trailpeak,Hat,,,,,Hikers,email_subject,1,en-US\n"
        "cap,trailpeak,Cap,,,,,Hikers\n"
    )
    assert "rows 2, 4 have fewer cells than the header has columns" in problems_of(path)


CSV_HEADER = "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale"


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_load_csv_other_separator_named(tmp_path, separator, name):
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER.replace(",", separator) + "\n" + "sock;trailpeak;Sock\n".replace(";", separator))
    message = problems_of(path)
    assert f"separates its columns with {name}, but a campaign CSV file uses commas" in message


def test_load_csv_unclosed_quote_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        CSV_HEADER + "\n"
        'sock,trailpeak,"Sock,,,,,Hikers,email_subject,1,en-US\n'
        "hat,trailpeak,Hat,,,,,Hikers,email_subject,1,en-US\n"
    )
    message = problems_of(path)
    assert "row 2 has fewer cells than the header has columns" in message
    assert 'usually means a quote (") that is never closed' in message


def test_load_csv_overlong_cell_is_invalid_input(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        f"sock,trailpeak,{'x' * 200_000},,,,,Hikers,email_subject,1,en-US\n"
    )
    message = problems_of(path)
    assert message == (
        f'campaign file "{path}", line 2: a cell in the row that starts on this line is longer than 131,072 '
        'characters, the limit of the CSV reader. Either a quote (") is never closed, so that the rest of the file '
        "reads as one cell, or the cell is longer than any campaign field allows, since the longest field, "
        "product_description, takes 5,000. Close the quote, or shorten the cell"
    )


def test_load_csv_overlong_unclosed_quote_names_its_line(tmp_path):
    path = tmp_path / "products.csv"
    rows = "".join(f"hat{number},trailpeak,Hat,,,,,Hikers,email_subject,1,en-US\n" for number in range(5000))
    path.write_text(f"sep=,\n{CSV_HEADER}\n{SOCK_ROW}\n" + 'cap,trailpeak,"Cap,,,,,Hikers,email_subject,1,en-US\n' + rows)
    message = problems_of(path)
    assert f'campaign file "{path}", line 4: a cell in the row that starts on this line is longer than' in message


def test_load_csv_error_names_column(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "sock,trailpeak,,Warm,,,,Hikers,email_subject,1,en-US\n"
    )
    assert 'row 2, campaign "sock": product_name:' in problems_of(path)


def test_load_brand_rule_fields(tmp_path):
    rules = {
        "claim_terms": ["award-winning"],
        "disabled_rule_packs": ["en-claim-terms"],
        "channel_limits": {"google_ads_headline": 25, "email_subject": 80},
    }
    data = {"brands": [{**brand(), **rules}], "campaigns": [campaign()]}
    parsed = load_campaign_file(write_yaml(tmp_path, data))
    assert parsed.brands[0].channel_limits == {"google_ads_headline": 25, "email_subject": 80}


def test_import_stores_brand_rule_fields(database, tmp_path):
    rules = {"claim_terms": ["award-winning"], "disabled_rule_packs": ["en-claim-terms"],
             "channel_limits": {"google_ads_headline": 25}}  # fmt: skip
    path = write_yaml(tmp_path, {"brands": [{**brand(), **rules}], "campaigns": [campaign()]})
    with db.session_scope() as session:
        import_campaign_file(session, path, load_campaign_file(path))
    with db.session_scope() as session:
        stored = session.scalars(select(Brand)).one()
        assert stored.claim_terms == ["award-winning"]
        assert stored.disabled_rule_packs == ["en-claim-terms"]
        assert stored.channel_limits == {"google_ads_headline": 25}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("disabled_rule_packs", ["zh-ad-law"], '"zh-ad-law" is not a known rule pack'),
        ("channel_limits", {"tiktok": 20}, '"tiktok" is not a known channel'),
        ("channel_limits", {"emial_subject": 20}, '"emial_subject" is not a known channel; did you mean email_subject?'),
        ("channel_limits", {"google_ads_headline": 40}, "can only be lowered from the platform's 30"),
        ("channel_limits", {"sms": 100}, "cannot be overridden"),
        ("channel_limits", {"email_subject": 0}, "must be at least 1"),
    ],
    ids=["unknown-pack", "unknown-channel", "misspelt-channel", "raise-platform-limit", "sms", "zero"],
)
def test_load_invalid_brand_rules(tmp_path, field, value, message):
    data = {"brands": [{**brand(), field: value}], "campaigns": [campaign()]}
    problems = problems_of(write_yaml(tmp_path, data))
    assert message in problems
    assert 'brand "trailpeak"' in problems


def test_load_channel_limits_names_every_problem(tmp_path):
    limits = {"sms": 100, "google_ads_headline": 40, "email_subject": -5, "tiktok": "abc", "meta_headline": "abc",
              "x_post": 20}  # fmt: skip
    data = {"brands": [{**brand(), "channel_limits": limits}], "campaigns": [campaign()]}
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)

    problems = [(problem.field, problem.message) for problem in raised.value.details]
    assert [field for field, _ in problems] == [
        "channel_limits.sms", "channel_limits.google_ads_headline", "channel_limits.email_subject",
        "channel_limits.tiktok", "channel_limits.meta_headline",
    ]  # fmt: skip
    assert problems[0][1].startswith('the limit of "sms" is one SMS segment')
    assert problems[1][1].startswith('the limit of "google_ads_headline" can only be lowered')
    assert problems[2][1] == 'the limit of "email_subject" must be at least 1, not -5'
    assert problems[3][1].startswith('"tiktok" is not a known channel')
    assert problems[4][1] == 'must be a whole number such as 3 (got "abc")'


def nested_alias_yaml(levels: int, width: int = 10) -> str:
    """Return a "billion laughs" document: each level lists the one before ``width`` times."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_load_nested_aliases_rejected_quickly(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(nested_alias_yaml(9))
    started = time.monotonic()
    message = problems_of(path)
    # Walking the expanded document takes minutes: 10**9 values.
    assert time.monotonic() - started < 5
    assert "with its aliases (*name) expanded, this value has more than 250,000 values" in message
    assert "line 6" in message


def test_load_long_list_stops_at_value_limit(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("brands: []\ncampaigns: []\nx:\n" + "- 1\n" * 300_000)

    message = problems_of(path)

    # The error points at the value past the limit, not at the end of the file.
    assert "the file has more than 250,000 values; split it into several files" in message
    line = int(re.search(r"line (\d+)", message).group(1))
    assert 249_000 < line < 251_000


def test_load_long_string_names_its_length(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("brands: []\ncampaigns: []\nx: " + "y" * 10_000_001 + "\n")
    message = problems_of(path)
    assert "the file has more than 10,000,000 characters of text" in message
    assert "aliases" not in message


def test_load_nested_aliases_under_limit_pass_size_check(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(nested_alias_yaml(5))
    message = problems_of(path)
    assert "more than" not in message
    assert "a4: is not a known field" in message


SHARED_SEGMENTS = """\
brands:
  - key: trailpeak
    name: TrailPeak
campaigns:
  - key: first
    brand: trailpeak
    product: {name: Boot}
    segments: &segments
      - {key: weekend, name: Weekend hikers}
      - {key: thru, name: Thru-hikers}
    channels: [email_subject]
  - key: second
    brand: trailpeak
    product: {name: Sock}
    segments: *segments
    channels: [email_subject]
"""


ANCHOR_ONLY_KEY = """\
{key}: &base
  brand: trailpeak
  product: {{name: Boot}}
  segments: [{{key: all, name: All}}]
  channels: [email_subject]
brands: [{{key: trailpeak, name: TrailPeak}}]
campaigns:
  - {{<<: *base, key: first}}
  - {{<<: *base, key: second, variants: 2}}
"""


@pytest.mark.parametrize("key", ["x-base", "x-Base"])
def test_load_x_prefixed_top_level_key_ignored(tmp_path, key):
    path = tmp_path / "campaigns.yaml"
    path.write_text(ANCHOR_ONLY_KEY.format(key=key))
    first, second = load_campaign_file(path).campaigns
    assert (first.key, first.product.name, first.variants) == ("first", "Boot", 1)
    assert (second.key, second.product.name, second.variants) == ("second", "Boot", 2)


def test_load_anchor_only_top_level_key_hint(tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text(ANCHOR_ONLY_KEY.format(key="base"))
    message = problems_of(path)
    assert (f'{path}: base: is not a known field; check its spelling. A top-level key that only defines an anchor '
            '(&name) for aliases must start with "x-", e.g. x-base') in message  # fmt: skip


def test_load_uppercase_x_key_hint(tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text(ANCHOR_ONLY_KEY.format(key="X-Base"))
    message = problems_of(path)
    assert (f'{path}: X-Base: is not a known field. A top-level key that only defines an anchor (&name) for '
            'aliases must start with "x-" in lowercase; write x-Base') in message  # fmt: skip
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(path)
    (problem,) = raised.value.details
    assert problem.text.render("zh-CN") == (
        "不是已知的字段。只用来定义锚点（&name）供别名引用的顶层键必须以小写的“x-”开头；请写成 x-Base"
    )


def test_load_shared_aliases_accepted(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(SHARED_SEGMENTS)
    parsed = load_campaign_file(path)
    assert [segment.key for segment in parsed.campaigns[1].segments] == ["weekend", "thru"]


@pytest.mark.parametrize(
    "text",
    ["brands: &x [*x]\n", "campaigns:\n  - &c {key: a, brand: b, more: [*c]}\n", "a: &m {<<: *m}\n"],
    ids=["list", "nested-mapping", "merge-key"],
)
def test_load_recursive_alias_rejected(tmp_path, text):
    path = tmp_path / "recursive.yaml"
    path.write_text(text)
    message = problems_of(path)
    assert "would contain itself" in message
    assert "line 1" in message or "line 2" in message


def test_load_deep_nesting_rejected(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("brands: " + "[" * 2000 + "]" * 2000 + "\n")
    message = problems_of(path)
    assert "nested more than 50 levels deep" in message


def test_load_alias_chain_depth_rejected(tmp_path):
    # Each line nests the one before, so aliases reach a depth the file's indentation hides.
    lines = ["a0: &a0 [x]"] + [f"a{level}: &a{level} [*a{level - 1}]" for level in range(1, 60)]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    message = problems_of(path)
    assert "nested more than 50 levels deep" in message


def test_load_aliased_text_over_limit_rejected(tmp_path):
    path = tmp_path / "text.yaml"
    aliases = ", ".join(["*s"] * 2100)
    path.write_text(f"s: &s {'y' * 5000}\nbrands:\n  - key: b\n    name: B\n    banned_terms: [{aliases}]\n")
    message = problems_of(path)
    assert "more than 10,000,000 characters of text" in message


def test_load_long_invalid_value_shortened(tmp_path):
    data = {"brands": [brand()], "campaigns": [campaign(locale=1, name="x" * 100_000)]}
    message = problems_of(write_yaml(tmp_path, data))
    assert 'must be at most 200 characters long (got "xxx' in message
    assert "x" * 200 not in message
    assert "x" * 99 + "…\")" in message


def test_load_csv_repeated_column_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "sock,hat,trailpeak,Sock,Warm,,,,Hikers,email_subject,1,en-US\n"
    )
    message = problems_of(path)
    assert 'the header lists these columns more than once: "key";' in message


SOCK_ROW = "sock,trailpeak,Sock,Warm,,,,Hikers,email_subject,1,en-US"


@pytest.mark.parametrize(
    "text",
    [
        f"{CSV_HEADER},\n{SOCK_ROW},\n",
        f"{CSV_HEADER},,,\n{SOCK_ROW},,,\n",
        f"{CSV_HEADER}\n{SOCK_ROW},,\n",
        f"{CSV_HEADER.replace(',brand,', ' , brand ,')}\n{SOCK_ROW}\n",
        f",,,,,,,,,,\n{CSV_HEADER},,\n,,,,,,,,,,,,\n{SOCK_ROW},,\n , ,,,,,,,,,,,\n",
    ],
    ids=["trailing-comma", "empty-columns", "empty-cells-past-header", "spaces-around-names", "empty-rows"],
)
def test_load_csv_spreadsheet_quirks_accepted(tmp_path, text):
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8")
    parsed = load_campaign_file(path)

    assert [campaign.key for campaign in parsed.campaigns] == ["sock"]
    assert parsed.csv_columns == frozenset(CSV_HEADER.split(","))


@pytest.mark.parametrize(
    "start",
    ["sep=,\n", "sep=,\r\n", "\ufeffsep=,\r\n", "SEP=,\n", "Sep=,\r\n", "sep=, \n", "sep=,\t \r\n", " sep=,\n",
     '"sep=,"\n', '"sep=,",,,,\r\n', "sep=,,,,,,,,,,\n"],
    ids=["lf", "crlf", "bom", "uppercase", "titlecase", "trailing-space", "trailing-tab", "leading-space",
         "quoted", "quoted-padded", "padded"],
)
def test_load_csv_excel_separator_line_skipped(tmp_path, start):
    path = tmp_path / "products.csv"
    path.write_text(f"{start}{CSV_HEADER}\n{SOCK_ROW}\n", encoding="utf-8", newline="")

    (loaded,) = load_campaign_file(path).campaigns

    assert loaded.key == "sock"


def test_load_csv_sep_line_not_counted(tmp_path):
    # Excel does not show the separator line, so the first campaign stays in row 2.
    path = tmp_path / "products.csv"
    path.write_text(f"sep=,\n{CSV_HEADER}\n{SOCK_ROW.replace('email_subject', 'billboard')}\n")
    assert 'row 2, campaign "sock": channels[0]: "billboard" is not a known channel' in problems_of(path)


@pytest.mark.parametrize(
    ("line", "shown"),
    [("sep=;", ";"), ("sep=\t", "\\t"), ("SEP=; ", ";"), ("sep=\t ", "\\t"), ('"sep=;"', ";"), (" sep=;", ";")],
    ids=["semicolon", "tab", "uppercase-trailing-space", "tab-trailing-space", "quoted", "leading-space"],
)
def test_load_csv_other_separator_line_rejected(tmp_path, line, shown):
    path = tmp_path / "products.csv"
    path.write_text(f"{line}\n{CSV_HEADER.replace(',', ';')}\n")
    message = problems_of(path)
    assert message == (f'campaign file "{path}": the first line "sep={shown}" sets the column separator to '
                       f'"{shown}", but a campaign CSV file uses commas; save it again as "CSV UTF-8 (comma '
                       'delimited)"')  # fmt: skip


def test_load_csv_row_numbers_count_empty_rows(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER}\n,,,,,,,,,,\n\n{SOCK_ROW.replace('email_subject', 'billboard')}\n")
    assert 'row 4, campaign "sock": channels[0]: "billboard" is not a known channel' in problems_of(path)


def test_load_csv_unnamed_column_with_value_rejected(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(f"{CSV_HEADER},,\n{SOCK_ROW},,\n{SOCK_ROW},,x\n")
    message = problems_of(path)
    assert "column 13 (M in a spreadsheet) has no name in the header, but row 3 has a value in it" in message


def test_load_csv_column_names_quoted(tmp_path):
    path = tmp_path / "products.csv"
    header = CSV_HEADER.replace("product_name", "product name").replace("key,", "key\u200b,")
    path.write_text(f"{header}\n{SOCK_ROW}\n", encoding="utf-8")
    message = problems_of(path)
    assert 'missing "key", "product_name"' in message
    assert 'unknown "key\\u200b", "product name"' in message


def test_load_csv_in_gb18030_names_the_fix(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes((CSV_HEADER + "\nbei,shanlan,保温杯,,,,,上班族,email_subject,1,zh-CN\n").encode("gb18030"))
    message = problems_of(path)
    assert "is not UTF-8 text (Excel on Chinese Windows saves GB18030)" in message
    assert 'save it again as "CSV UTF-8 (comma delimited)"' in message


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_load_csv_in_windows_1252_named(tmp_path, encoding):
    path = tmp_path / "products.csv"
    path.write_bytes((CSV_HEADER + "\ncreme,trailpeak,Crème brûlée,Façade,,,,Gäste,email_subject,1,fr-FR\n")
                     .encode(encoding))  # fmt: skip
    message = problems_of(path)
    assert message == (f'campaign file "{path}" is not UTF-8 text but looks like Windows-1252 or Latin-1 (Western '
                       'European) text; save it again as "CSV UTF-8 (comma delimited)"')  # fmt: skip


def test_load_csv_in_other_encoding_gets_no_guess(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes((CSV_HEADER + "\nsake,trailpeak,日本酒,東京の店舗,,,,限定セール,email_subject,1,ja-JP\n")
                     .encode("shift_jis"))  # fmt: skip
    message = problems_of(path)
    assert message == f'campaign file "{path}" is not UTF-8 text; save it again as "CSV UTF-8 (comma delimited)"'


def test_load_lists_undefined_brand_with_other_problems(tmp_path):
    data = {"campaigns": [campaign(brand="trailpeek", variants=0), campaign("hat-launch", brand="stored")]}
    requested = []

    def stored_brands(keys):
        requested.append(keys)
        return {"stored"} & keys

    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data), stored_brands)

    assert [(problem.key, problem.field) for problem in raised.value.details] == [
        ("boot-launch", "variants"), ("boot-launch", "brand"),
    ]  # fmt: skip
    assert requested == [{"trailpeek", "stored"}]


def test_load_brand_lookup_failure_keeps_the_file_problems(tmp_path):
    def unreachable(keys):
        raise InfrastructureError("database is unreachable")

    data = {"campaigns": [campaign(brand="trailpeek", variants=0)]}
    with pytest.raises(InvalidCampaignFile) as raised:
        load_campaign_file(write_yaml(tmp_path, data), unreachable)
    assert [problem.field for problem in raised.value.details] == ["variants"]


def test_load_file_errors_translated(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("key,brand,colour\nsock,trailpeak,red\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as raised:
        load_campaign_file(path)
    chinese = translate_error(raised.value, "zh-CN")
    assert chinese.startswith(f'活动文件“{path}”的列不对：缺少 "channels", ')
    assert '；未知的列 "colour"。需要的列是 brand, ' in chinese

    path = tmp_path / "tabs.yaml"
    path.write_text("campaigns:\n\t- key: a\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as raised:
        load_campaign_file(path)
    assert translate_error(raised.value, "zh-CN") == (
        f"活动文件“{path}”第 2 行第 1 列：YAML 格式错误：发现了制表符（\\t），它不能出现在这里；"
        "YAML 用空格缩进，请把制表符换成空格"
    )


def test_load_csv_full_width_semicolon_separates_items(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "tea,trailpeak,Tea,,明前龙井；手工包装,,,老客户；送礼人群,email_subject；sms,1,zh-CN\n",
        encoding="utf-8",
    )
    [parsed] = load_campaign_file(path).campaigns
    assert [segment.name for segment in parsed.segments] == ["老客户", "送礼人群"]
    assert parsed.product.features == ["明前龙井", "手工包装"]
    assert parsed.channels == ["email_subject", "sms"]


@pytest.mark.parametrize(
    ("content", "chinese"),
    [
        ("brands: []\ncampaigns:\n  - key: *nothere\n", "发现了未定义的别名 'nothere'"),
        ("campaigns: [a\nb: 1\n", "以 [ 开始的列表没有闭合"),
    ],
)
def test_load_yaml_problem_with_name_translated(tmp_path, content, chinese):
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as raised:
        load_campaign_file(path)
    assert chinese in translate_error(raised.value, "zh-CN")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("example", ["outdoor-boot-launch.yaml", "tea-gift-set-zh.yaml"])
def test_load_yaml_utf16_without_bom_named(tmp_path, encoding, example):
    path = tmp_path / "campaigns.yaml"
    path.write_bytes((EXAMPLES / example).read_text(encoding="utf-8").encode(encoding))
    message = problems_of(path)
    assert message == (f'campaign file "{path}" is not UTF-8 text: it has NUL bytes between its letters, as '
                       "UTF-16 text has; save it with the encoding UTF-8")  # fmt: skip


def test_load_yaml_nul_byte_names_line(tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_bytes(b"brands:\n  - key: trailpeak\n    name: Trail\x00Peak\n")
    message = problems_of(path)
    assert message == f'campaign file "{path}", line 3: contains a NUL byte (\\0), which is not text; remove it'


def test_load_csv_utf16_without_bom_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes(f"{CSV_HEADER}\n{SOCK_ROW}\n".encode("utf-16-le"))
    message = problems_of(path)
    assert message == (f'campaign file "{path}" is not UTF-8 text: it has NUL bytes between its letters, as '
                       'UTF-16 text has; save it again as "CSV UTF-8 (comma delimited)"')  # fmt: skip


def test_load_csv_utf16_named(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes("key\tbrand\n".encode("utf-16"))
    message = problems_of(path)
    assert 'is UTF-16 text, which Excel saves as "Unicode Text"' in message


def test_load_tab_inside_value_told_to_quote(tmp_path):
    path = tmp_path / "tab.yaml"
    path.write_text("brands:\n  - key: a\n    voice: calm\tplain\n", encoding="utf-8")
    message = problems_of(path)
    assert 'a tab inside a value is allowed only in quotes, e.g. "a<tab>b"' in message
    assert "YAML indents with spaces" not in message
