import pytest

from contentgen.channels import CHANNELS, measure
from contentgen.resources import templates_dir


def test_sms_limit_depends_on_encoding():
    assert measure("Hello", "sms").limit == 160
    assert measure("你好", "sms").limit == 70


def test_every_channel_has_a_template():
    names = {path.name for path in templates_dir().glob("*.j2")}
    assert {channel.template_name for channel in CHANNELS.values()} <= names


@pytest.mark.parametrize(
    ("channel", "locale", "limit"),
    [("google_ads_headline", "en-US", 30), ("google_ads_headline", "zh-CN", 15),
     ("google_ads_headline", "ja", 15), ("meta_headline", "zh-CN", 40),
     ("meta_primary_text", "en-US", 125), ("sms", "en-US", 160), ("sms", "de-DE", 160),
     ("sms", "fr-FR", 70), ("sms", "zh-CN", 70)],
    ids=["google-en", "google-zh", "google-ja", "meta-zh", "meta-shown", "sms-en", "sms-de",
         "sms-fr", "sms-zh"],
)  # fmt: skip
def test_prompt_limit_for_locale(channel, locale, limit):
    assert CHANNELS[channel].prompt_limit(locale) == limit


@pytest.mark.parametrize(
    ("channel", "overrides", "source"),
    [
        ("google_ads_headline", None, "platform"),
        ("google_ads_headline", {"google_ads_headline": 25}, "brand"),
        ("email_subject", None, "contentgen"),
        ("email_subject", {"email_subject": 80}, "brand"),
        ("sms", None, "platform"),
    ],
    ids=["platform", "brand-lowered", "contentgen", "brand-raised", "sms"],
)
def test_measure_names_limit_source(channel, overrides, source):
    assert measure("Dry feet", channel, overrides).source == source


@pytest.mark.parametrize(
    ("locale", "channel", "budget"),
    [
        ("en-US", "email_subject", 24),
        ("de-DE", "email_body", 256),
        ("sr-Latn", "email_subject", 24),
        # 60 characters at 2 tokens each with a quarter more room is 150, over 4 x 24.
        ("zh-CN", "email_subject", 96),
        ("ja-JP", "email_subject", 96),
        ("zh-Hant-TW", "email_subject", 96),
        # The prompt of a Chinese Google Ads headline requests 15 characters.
        ("zh-CN", "google_ads_headline", 38),
        ("ru-RU", "email_subject", 90),
        ("vi-VN", "email_subject", 75),
        ("th-TH", "meta_primary_text", 256),
    ],
)
def test_token_budget_by_script(locale, channel, budget):
    assert CHANNELS[channel].token_budget(locale) == budget


def test_token_budget_follows_brand_limit_and_stays_capped():
    assert CHANNELS["email_subject"].token_budget("zh-CN", 20) == 50
    assert CHANNELS["email_body"].token_budget("zh-CN", 100_000) == 4 * 256
