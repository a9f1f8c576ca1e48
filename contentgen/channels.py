"""The channels contentgen writes for, and what each one needs from a prompt.

Each channel has one prompt template, named ``<key>.j2``. ``max_chars`` is the limit the
prompt gives the model, which is the platform's published limit where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    """One place where copy appears, such as a search ad headline or an email subject."""

    key: str
    label: str
    max_chars: int
    # Room for the longest copy this channel allows, in tokens, with some slack for
    # scripts that take more than one token per character.
    default_max_new_tokens: int
    # Copy that is one line on the platform; the worker keeps only the model's first line.
    single_line: bool = True

    @property
    def template_name(self) -> str:
        return f"{self.key}.j2"


CHANNELS: dict[str, Channel] = {
    channel.key: channel
    for channel in (
        # Google Ads responsive search ads: 30 characters per headline, 90 per description.
        Channel("google_ads_headline", "Google Ads responsive search ad headline", 30, 24),
        Channel("google_ads_description", "Google Ads responsive search ad description", 90, 48),
        # Meta shows about 125 characters of primary text before "See more".
        Channel("meta_primary_text", "Meta ad primary text", 125, 64, single_line=False),
        # Most mail clients cut a subject line near 60 characters on a phone.
        Channel("email_subject", "Email subject line", 60, 24),
        Channel("email_body", "Email body", 1200, 256, single_line=False),
        # The shortest common limit among social networks (X) is 280 characters.
        Channel("social_post", "Social media post", 280, 120, single_line=False),
        Channel("product_description", "Product description", 600, 200, single_line=False),
    )
}


def get_channel(key: str) -> Channel:
    """Look up a channel by key.

    Raises:
        KeyError: if no channel has that key.
    """
    return CHANNELS[key]
