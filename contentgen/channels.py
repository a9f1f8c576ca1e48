"""The channel rules: where copy appears, its length limit, and how that limit is counted.

Each channel has one prompt template, named ``<key>.j2``. The table below is the single
place where limits live; the prompt, the length check, the CLI and the review page all
read it. A brand may override a limit in its campaign file (``channel_limits``), but only
downward where the limit is the platform's own.

| channel | limit | counted as |
| --- | --- | --- |
| google_ads_headline | 30 | Google Ads units (full-width counts 2) |
| google_ads_description | 90 | Google Ads units |
| google_ads_path | 15 | Google Ads units |
| pmax_long_headline | 90 | Google Ads units |
| meta_primary_text | 2,200 (125 shown before "See more") | characters |
| meta_headline | 40 | characters |
| meta_description | 30 | characters |
| sms | 160 in GSM-7, 70 in UCS-2 (one segment) | septets or UTF-16 units |
| email_subject | 60 | characters |
| email_body | 1,200 | characters |
| social_post | 280 | characters |
| x_post | 280 | X units (a link 23, an emoji or a CJK character 2) |
| product_description | 600 | characters |

"Characters" are user-visible characters: an emoji sequence joined with zero-width joiners
counts as one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import get_global

from contentgen._names import closest
from contentgen.counting import GSM_7, Counting, count_length, sms_encoding
from contentgen.i18n import N_, Message

# SMS limits for one segment (3GPP TS 23.038 alphabets, 140-byte user data).
SMS_GSM_7_LIMIT = 160
SMS_UCS_2_LIMIT = 70

# Languages whose everyday text fits the GSM 03.38 default alphabet, so an SMS prompt for
# them requests 160 characters. Others (French needs "ç", Spanish "á", any non-Latin script)
# usually end up in UCS-2 and get 70. The length check counts the real encoding either way.
GSM_7_LANGUAGES = frozenset({"en", "de", "nl", "sv", "da", "nb", "nn", "no", "fi", "it"})

# The largest limit a brand may set for a channel without a platform limit: far above any
# copy a prompt can ask for, and low enough that the prompt's number stays meaningful.
MAX_CHANNEL_LIMIT = 100_000

# Languages written mostly in full-width characters, which Google Ads counts twice.
FULL_WIDTH_LANGUAGES = frozenset({"zh", "yue", "ja", "ko"})


def normalize_line_breaks(text: str) -> str:
    """Write every line break as "\\n": CRLF, and the Unicode line and paragraph separators
    U+2028 and U+2029, which would otherwise put a second line into one-line copy unseen."""
    return text.replace("\r\n", "\n").replace("\u2028", "\n").replace("\u2029", "\n")


@dataclass(frozen=True)
class Channel:
    """One place where copy appears, such as a search ad headline or an email subject."""

    key: str
    # English, as the prompts use it; the pages show it translated through the catalogue.
    label: str
    # The hard limit, counted with ``counting``; a draft over it is flagged. For SMS it is
    # the GSM-7 limit, and UCS-2 text gets SMS_UCS_2_LIMIT instead.
    max_chars: int
    counting: Counting
    # Room for the longest copy this channel allows in a language written in Latin letters,
    # in tokens; ``token_budget`` gives other scripts more.
    default_max_new_tokens: int
    # Copy that is one line on the platform; the worker keeps only the model's first line.
    single_line: bool = True
    # Where the platform shows only the start of longer text (Meta's "See more"): longer
    # text is allowed but gets an advisory check, and the prompt requests this length.
    shown_chars: int | None = None
    # True when the limit is the platform's own, so a brand may only lower it; False for a
    # limit contentgen chose, which a brand may set to anything.
    platform_limit: bool = True

    @property
    def template_name(self) -> str:
        return f"{self.key}.j2"

    def limit_for(self, text: str, override: int | None = None) -> int:
        """Return the hard limit that applies to ``text``, after a brand's override."""
        if self.counting is Counting.SMS:
            return SMS_GSM_7_LIMIT if sms_encoding(text) == GSM_7 else SMS_UCS_2_LIMIT
        return override or self.max_chars

    def prompt_limit(self, locale: str, override: int | None = None) -> int:
        """Return the length, in characters, that the prompt requests from the model.

        The model thinks in characters, so a Google Ads or X limit is halved for Chinese,
        Japanese and Korean, and an SMS gets 70 unless the language fits GSM-7.
        """
        language = _language(locale)
        if self.counting is Counting.SMS:
            return SMS_GSM_7_LIMIT if language in GSM_7_LANGUAGES else SMS_UCS_2_LIMIT
        limit = override or self.max_chars
        if self.shown_chars is not None:
            limit = min(limit, self.shown_chars)
        if self.counting in (Counting.GOOGLE_ADS, Counting.X) and language in FULL_WIDTH_LANGUAGES:
            limit //= 2
        return limit


    def token_budget(self, locale: str, override: int | None = None) -> int:
        """Return the max_new_tokens that leaves room for the requested length in ``locale``.

        Tokenizers trained mostly on English text spend far more tokens on a character of
        other scripts. SmolLM2's takes about 0.2-0.4 tokens per character of English, German
        or French and 0.7-1.2 of Russian, Greek, Arabic or Hindi. It takes about 2 per
        character of Chinese, Japanese, Korean or Thai. A budget from the English rate would stop a Chinese email
        subject after about 13 characters.

        The budget is at most ``MAX_BUDGET_FACTOR`` times the Latin one, because a small
        model that does not stop spends the whole budget: copy that long in those scripts
        gets the advisory cut_off check instead.
        """
        rate = _tokens_per_character(locale)
        if rate is None:
            return self.default_max_new_tokens
        budget = math.ceil(self.prompt_limit(locale, override) * rate * TOKEN_BUDGET_SLACK)
        max_budget = self.default_max_new_tokens * MAX_BUDGET_FACTOR
        return max(self.default_max_new_tokens, min(budget, max_budget))


# Tokens per character for scripts that tokenizers split finely; Latin script keeps each
# channel's default. The rates are SmolLM2-135M's, rounded up; larger multilingual models
# spend fewer, so these budgets are generous for them, and a model that ends its turn
# stops before the budget anyway.
_SCRIPT_TOKENS_PER_CHARACTER = {
    "Hans": 2.0, "Hant": 2.0, "Jpan": 2.0, "Kore": 2.0,
    "Thai": 2.0, "Laoo": 2.0, "Khmr": 2.0, "Mymr": 2.0,
}  # fmt: skip
# Other scripts than Latin and those above (Cyrillic, Greek, Arabic, Hebrew, Devanagari...).
OTHER_SCRIPT_TOKENS_PER_CHARACTER = 1.2
# Latin-script languages whose letters mostly carry diacritics, which cost a token each.
_DIACRITIC_LANGUAGES = {"vi": 1.0}
TOKEN_BUDGET_SLACK = 1.25
# A budget grows to at most this many times the channel's Latin-script budget.
MAX_BUDGET_FACTOR = 4


@lru_cache(maxsize=256)
def _tokens_per_character(locale: str) -> float | None:
    """Tokens per character of the locale's script, or None for Latin script."""
    try:
        parsed = Locale.parse(locale, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    script = parsed.script
    if script is None:
        likely = get_global("likely_subtags").get(parsed.language, "")
        parts = likely.split("_")
        script = parts[1] if len(parts) > 1 and len(parts[1]) == 4 else "Latn"
    if script == "Latn":
        return _DIACRITIC_LANGUAGES.get(parsed.language)
    return _SCRIPT_TOKENS_PER_CHARACTER.get(script, OTHER_SCRIPT_TOKENS_PER_CHARACTER)


@lru_cache(maxsize=256)
def _language(locale: str) -> str:
    try:
        return Locale.parse(locale, sep="-").language
    except (UnknownLocaleError, ValueError, TypeError):
        return locale.split("-")[0].lower()


CHANNELS: dict[str, Channel] = {
    channel.key: channel
    for channel in (
        # Google Ads responsive search ads: 30 per headline, 90 per description, and two
        # optional display URL path fields of 15 each.
        Channel("google_ads_headline", N_("Google Ads responsive search ad headline"),
                30, Counting.GOOGLE_ADS, 24),
        Channel("google_ads_description", N_("Google Ads responsive search ad description"),
                90, Counting.GOOGLE_ADS, 48),
        Channel("google_ads_path", N_("Google Ads display URL path"), 15, Counting.GOOGLE_ADS, 12),
        Channel("pmax_long_headline", N_("Google Ads Performance Max long headline"),
                90, Counting.GOOGLE_ADS, 48),
        # Meta accepts 2,200 characters of primary text but shows about 125 before "See more".
        Channel("meta_primary_text", N_("Meta ad primary text"), 2200, Counting.GRAPHEMES, 64,
                single_line=False, shown_chars=125),
        Channel("meta_headline", N_("Meta ad headline"), 40, Counting.GRAPHEMES, 24),
        Channel("meta_description", N_("Meta ad description"), 30, Counting.GRAPHEMES, 20),
        # One SMS segment; longer text is split into several billed messages.
        Channel("sms", N_("SMS marketing message"), SMS_GSM_7_LIMIT, Counting.SMS, 96),
        # 60 because inbox lists in desktop webmail and most desktop clients show about 60
        # characters of a subject before cutting it, and phones show fewer. Text past that
        # point is rarely read.
        Channel("email_subject", N_("Email subject line"), 60, Counting.GRAPHEMES, 24,
                platform_limit=False),
        Channel("email_body", N_("Email body"), 1200, Counting.GRAPHEMES, 256,
                single_line=False, platform_limit=False),
        # A post for any network, counted in characters; 280 is X's limit, the shortest
        # among the common networks. x_post counts the way X does.
        Channel("social_post", N_("Social media post"), 280, Counting.GRAPHEMES, 120,
                single_line=False, platform_limit=False),
        Channel("x_post", N_("X (Twitter) post"), 280, Counting.X, 120, single_line=False),
        Channel("product_description", N_("Product description"), 600, Counting.GRAPHEMES, 200,
                single_line=False, platform_limit=False),
    )
}  # fmt: skip


def get_channel(key: str) -> Channel:
    """Look up a channel by key.

    Raises:
        KeyError: if no channel has that key.
    """
    return CHANNELS[key]


@dataclass(frozen=True)
class Measurement:
    """A text's length as its channel counts it, with the limits that apply."""

    length: int
    limit: int
    shown: int | None
    counting: Counting
    # "GSM-7" or "UCS-2" for SMS, None elsewhere.
    encoding: str | None = None
    # Who set ``limit``: "platform" (the ad platform rejects longer text), "brand" (the
    # brand's channel_limits) or "contentgen" (a limit contentgen chose, such as the 60
    # characters of an email subject).
    source: str = "platform"

    @property
    def over_limit(self) -> bool:
        return self.length > self.limit

    def as_dict(self) -> dict[str, object]:
        return {
            "length": self.length,
            "limit": self.limit,
            "shown": self.shown,
            "counting": self.counting.value,
            "encoding": self.encoding,
            "source": self.source,
        }


def measure(text: str, channel_key: str, overrides: Mapping[str, int] | None = None) -> Measurement:
    """Count ``text`` the way its channel's platform counts it.

    Args:
        text: the copy.
        channel_key: a key of ``CHANNELS``.
        overrides: a brand's ``channel_limits``, channel key to limit; optional.

    Raises:
        KeyError: if no channel has that key.
    """
    channel = CHANNELS[channel_key]
    override = (overrides or {}).get(channel_key)
    limit = channel.limit_for(text, override)
    shown = channel.shown_chars if channel.shown_chars and channel.shown_chars < limit else None
    encoding = sms_encoding(text) if channel.counting is Counting.SMS else None
    length = count_length(text, channel.counting)
    if override and channel.counting is not Counting.SMS:
        source = "brand"
    else:
        source = "platform" if channel.platform_limit else "contentgen"
    return Measurement(length, limit, shown, channel.counting, encoding, source)


# Names that people use for a channel whose key differs.
CHANNEL_ALIASES = {"twitter": "x_post", "tweet": "x_post", "x": "x_post"}


def unknown_channel(name: str) -> Message:
    """Return the message for a channel name that no channel has, with the closest name."""
    close = CHANNEL_ALIASES.get(name.strip().lower()) or closest(name, CHANNELS)
    if close:
        return Message(N_('"{name}" is not a known channel; did you mean {close}?'), {"name": name, "close": close})
    return Message(N_('"{name}" is not a known channel; use one of: {channels}'),
                   {"name": name, "channels": ", ".join(CHANNELS)})  # fmt: skip


def channel_limit_problem(key: str, value: int) -> Message | None:
    """Return why a brand cannot set the limit of channel ``key`` to ``value``, with the fix,
    or None when the limit is allowed."""
    channel = CHANNELS.get(key)
    if channel is None:
        return unknown_channel(key)
    if channel.counting is Counting.SMS:
        return Message(
            N_('the limit of "{key}" is one SMS segment ({gsm} in GSM-7, {ucs} in UCS-2) and '
               "cannot be overridden; remove it"),
            {"key": key, "gsm": SMS_GSM_7_LIMIT, "ucs": SMS_UCS_2_LIMIT},
        )  # fmt: skip
    if value < 1:
        return Message(N_('the limit of "{key}" must be at least 1, not {value}'), {"key": key, "value": value})
    if value > MAX_CHANNEL_LIMIT:
        return Message(N_('the limit of "{key}" is {value}; use at most {most} characters'),
                       {"key": key, "value": value, "most": f"{MAX_CHANNEL_LIMIT:,}"})  # fmt: skip
    if channel.platform_limit and value > channel.max_chars:
        return Message(
            N_("the limit of \"{key}\" can only be lowered from the platform's {limit}, not raised "
               "to {value}; use {limit} or less"),
            {"key": key, "limit": channel.max_chars, "value": value},
        )  # fmt: skip
    return None
