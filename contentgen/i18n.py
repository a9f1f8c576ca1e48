"""Languages of the review pages and their messages.

Page text and error messages are written in English and translated through a gettext
catalogue per language under ``contentgen/locale/``. The ``.po`` files are the source; they
are compiled in memory when first used, so a fresh checkout needs no build step.
"""

from __future__ import annotations

import gettext
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from babel import Locale
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from contentgen.errors import ContentgenError

CATALOGUE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
# BCP 47 tags the pages can be shown in, with each language's name in itself.
LOCALES = {"en": "English", "zh-CN": "简体中文"}


def N_(message: str) -> str:
    """Mark a message template for extraction into the catalogue without translating it."""
    return message


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """Load the catalogue for ``locale`` (a key of ``LOCALES``); English needs none."""
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    path = CATALOGUE_DIR / locale.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=locale.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


# Language tags (lowercase) that Simplified Chinese serves.
_SIMPLIFIED_CHINESE = {"zh", "zh-cn", "zh-hans", "zh-sg", "zh-hans-cn", "zh-hans-sg"}


def match_locale(tag: str) -> str | None:
    """Return the supported locale that serves the language tag ``tag``, or None.

    The tag is matched in any letter case and with "_" read as "-", so "zh", "zh-Hans" and
    "zh_CN" give "zh-CN", and "EN" and "en-GB" give "en". Traditional Chinese ("zh-TW",
    "zh-Hant") gives None, because the pages have no catalogue for it.
    """
    normalized = tag.strip().lower().replace("_", "-")
    if normalized in _SIMPLIFIED_CHINESE:
        return "zh-CN"
    if normalized == "en" or normalized.startswith("en-"):
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """Pick the supported locale that an HTTP ``Accept-Language`` header prefers most."""
    preferred = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            # Equal qualities keep the header's order.
            preferred.append((-quality, position, tag))

    for _, _, tag in sorted(preferred):
        locale = match_locale(tag)
        if locale is not None:
            return locale
    return DEFAULT_LOCALE


def check_locale(value: str) -> str:
    """Return ``value`` if it is a supported locale tag.

    Raises:
        ValueError: naming the supported tags.
    """
    if value not in LOCALES:
        raise ValueError(f'"{value}" is not a supported language; use one of: {", ".join(LOCALES)}')
    return value


class Verbatim(str):
    """A message field value that stays as written in every language.

    Role names are passed as ``Verbatim`` because commands and the users page take them as
    written, and the role "admin" would otherwise be translated as the permission "admin".
    A list of alternatives (see ``join_alternatives``) keeps its words but gets the
    reader's separators.
    """


# Separators of a list of alternatives in one message field, such as the statuses that an
# action can start from: "flagged or pending_review", "approved, flagged or pending_review".
# Fields keep the English list, so the English message reads as a sentence wherever it is
# stored, and ``translate_error`` splits it again to join the words with the reader's
# separators.
ALTERNATIVE_SEPARATOR = N_(", ")
LAST_ALTERNATIVE_SEPARATOR = N_(" or ")
# Each word of a list of alternatives in the reader's language, which may quote it.
ALTERNATIVE_WORD = N_("{word}")


def join_alternatives(words: Sequence[str]) -> str:
    """Join words as English alternatives: "a", "a or b", "a, b or c"."""
    if len(words) < 2:
        return "".join(words)
    return ALTERNATIVE_SEPARATOR.join(words[:-1]) + LAST_ALTERNATIVE_SEPARATOR + words[-1]


def _split_alternatives(value: str) -> list[str]:
    head, separator, last = value.rpartition(LAST_ALTERNATIVE_SEPARATOR)
    if not separator:
        return [value]
    return [*head.split(ALTERNATIVE_SEPARATOR), last]


def _translate_value(value: object, gettext_) -> object:
    """Translate a word of ``TRANSLATED_VALUES``, or each word of a list of alternatives of
    them, and give such a list the reader's separators."""
    if not isinstance(value, str):
        return value
    words = _split_alternatives(value)
    if isinstance(value, Verbatim):
        if len(words) == 1:
            return value
        rendered_words = words
    elif all(word in TRANSLATED_VALUES for word in words):
        rendered_words = [gettext_(word) for word in words]
    else:
        return value
    if len(rendered_words) == 1:
        return rendered_words[0]
    rendered_words = [gettext_(ALTERNATIVE_WORD).format(word=word) for word in rendered_words]
    head = gettext_(ALTERNATIVE_SEPARATOR).join(rendered_words[:-1])
    return head + gettext_(LAST_ALTERNATIVE_SEPARATOR) + rendered_words[-1]


def translate_error(error: ContentgenError, locale: str) -> str:
    """Return the error's message in ``locale``, or as raised when it has no template."""
    if error.template is None:
        return str(error)
    gettext_ = translations(locale).gettext
    params = {
        name: _render_value(value, locale)
        if isinstance(value, Message | MessageLines | Names)
        else _translate_value(value, gettext_)
        for name, value in (error.params or {}).items()
    }
    return gettext_(error.template).format(**params)


# Separator of the items of a list field of a ``Message``.
ITEM_SEPARATOR = N_("; ")


@dataclass(frozen=True)
class Message:
    """A message template marked with ``N_`` and its field values, translated when shown.

    A field value is data (text, a number) and is shown as it is, unless it is itself a
    ``Message``, which is translated, a list of them, joined with ``ITEM_SEPARATOR``, or
    ``Names``, shown in the reader's language.
    """

    template: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)

    def render(self, locale: str) -> str:
        """Translate the template and its message fields into ``locale`` and fill it in."""
        values = {name: _render_value(value, locale) for name, value in self.params.items()}
        return translations(locale).gettext(self.template).format(**values)

    def to_json(self) -> str:
        """Serialize the message, for storing beside its English text."""
        return json.dumps(self.to_data(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Message:
        """Read a message that ``to_json`` wrote."""
        return _message(json.loads(text))

    def to_data(self) -> dict[str, object]:
        """Convert the message into the JSON value that ``to_json`` writes, for a JSON column."""
        # A message becomes {"t": template, "p": fields}, so that a text field, which is a
        # JSON string, can never be read back as a message.
        return {"t": self.template, "p": {name: _plain(item) for name, item in self.params.items()}}

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Message:
        """Read a message that ``to_data`` returned."""
        return _message(data)


class MessageValueError(ValueError):
    """A ``ValueError`` whose text is a ``Message``, for validators whose errors are shown
    in the reader's language. ``"{items}"`` with a list of messages joins them."""

    def __init__(self, template: str, /, **params: object) -> None:
        self.message = Message(template, params)
        super().__init__(str(self.message))


@dataclass(frozen=True)
class MessageLines:
    """A message field value that lists messages one per line, each after "  - ", as
    ``InvalidInput`` lists its problems. Each item is translated when shown."""

    items: tuple[Message | str, ...]

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)

    def render(self, locale: str) -> str:
        return "\n".join(f"  - {_render_value(item, locale)}" for item in self.items)


@dataclass(frozen=True)
class Names:
    """A message field value that lists languages or scripts by code, shown as their names in
    the reader's language: ``Names("language", ("la",))`` is "Latin" in English and "拉丁语"
    in Chinese. ``kind`` is "language" (ISO 639 codes) or "script" (ISO 15924 codes).

    Babel's CLDR data gives the names, and a code it does not know is shown as it is.
    """

    kind: str
    codes: tuple[str, ...]

    def render(self, locale: str) -> str:
        parsed = _babel_locale(locale)
        known = parsed.languages if self.kind == "language" else parsed.scripts
        return format_list([known.get(code, code) for code in self.codes], locale=parsed)


@cache
def _babel_locale(locale: str) -> Locale:
    # zh-CN pages are Simplified Chinese, which CLDR's names for zh_Hans_CN are written in.
    return Locale.parse("zh-Hans-CN" if locale == "zh-CN" else locale, sep="-")


def _render_value(value: object, locale: str) -> object:
    if isinstance(value, Message | MessageLines | Names):
        return value.render(locale)
    if isinstance(value, list | tuple):
        separator = translations(locale).gettext(ITEM_SEPARATOR)
        return separator.join(str(_render_value(item, locale)) for item in value)
    return value


def _plain(value: object) -> object:
    if isinstance(value, Message):
        return value.to_data()
    if isinstance(value, Names):
        # Told apart from a message, which has "t", by its "names" key.
        return {"names": value.kind, "codes": list(value.codes)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _message(data: Mapping[str, object]) -> Message:
    params = data.get("p") or {}
    return Message(str(data["t"]), {name: _value(item) for name, item in params.items()})


def _value(data: object) -> object:
    if isinstance(data, dict) and "names" in data:
        return Names(str(data["names"]), tuple(str(code) for code in data["codes"]))
    if isinstance(data, dict):
        return _message(data)
    if isinstance(data, list):
        return [_value(item) for item in data]
    return data


# Values that appear inside messages and are words rather than data: review statuses,
# review actions and permissions. They are translated before they are put into a translated
# message, and a status is translated as the label that the pages show for it. Role names
# stay as they are (see ``Verbatim``).
TRANSLATED_VALUES = {
    N_("pending_review"),
    N_("flagged"),
    N_("approved"),
    N_("rejected"),
    N_("approve"),
    N_("reject"),
    N_("edit"),
    N_("view"),
    N_("submit"),
    N_("review"),
    N_("export"),
    N_("admin"),
    N_("manage users and templates"),
    # The units that channels count length in (contentgen.counting).
    N_("characters"),
    N_("Google Ads units"),
    N_("X units"),
    N_("SMS units"),
}
