"""Campaign files: parse, validate as a whole, and import brands and campaigns.

A file is YAML with ``brands`` and ``campaigns`` lists, or CSV with one campaign per row
(a flat product list for brands already imported). Nothing is written unless the whole
file is valid, and every error names the file, the campaign key and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from babel import Locale, UnknownLocaleError
from croniter import CroniterBadDateError, croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contentgen._names import closest
from contentgen.channels import CHANNELS, channel_limit_problem, unknown_channel
from contentgen.checks import control_character
from contentgen.errors import ContentgenError, InvalidInput, shorten
from contentgen.i18n import N_, Message, MessageValueError
from contentgen.models import Brand, Campaign, utcnow
from contentgen.rules import RULE_PACKS, can_match, find_terms, term_match_key
from contentgen.rules import Term as RuleTerm

logger = logging.getLogger(__name__)

# Line breaks as a one-line value's error shows them.
_LINE_BREAKS = {"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _one_line(value: str, info: ValidationInfo) -> str:
    # Names and short texts each fill one line of a prompt ("- Offer: ...") and one cell of
    # an export, where a line break would start a new prompt line or a new ad group name.
    # Campaigns stored before this rule may have line breaks, and they stay readable.
    if (info.context or {}).get("stored"):
        return value
    if any(character in value for character in _LINE_BREAKS):
        shown = "".join(_LINE_BREAKS.get(character, character) for character in shorten(value))
        raise MessageValueError(N_('"{value}" has a line break; write it on one line'), value=shown)
    return value


Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
# Limits keep prompts well inside a model's context and values inside their columns.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_one_line)
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_one_line)
]
LONG_TEXT_MAX_LENGTH = 5000
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LONG_TEXT_MAX_LENGTH)]


def _matchable(term: str) -> str:
    # Terms match on their letters and digits, skipping punctuation, symbols and emoji
    # between them, so a term of those alone ("...", "((") would never match anything.
    if not can_match(term):
        raise MessageValueError(
            N_('"{term}" has no letter, digit or one of # % $ + & @, so it can never match; write a word'),
            term=term,
        )
    return term




def _not_boolean(value: Any) -> Any:
    # YAML reads "true" and "yes" as booleans, which pydantic would take as 1 and 0.
    if isinstance(value, bool):
        raise MessageValueError(N_("must be a whole number such as 3 (YAML read this value as {value})"),
                                value=_shown(value))  # fmt: skip
    return value


def _not_boolean_number(value: Any) -> Any:
    # As _not_boolean, for fields that take fractions: pydantic would take true as 1.0.
    if isinstance(value, bool):
        raise MessageValueError(N_("must be a number such as 0.7 (YAML read this value as {value})"),
                                value=_shown(value))  # fmt: skip
    return value


# A whole number, given as one or as text of digits (CSV cells are text).
Count = Annotated[int, BeforeValidator(_not_boolean)]
# A number that may have a fraction, given as one or as text (CSV cells are text).
Number = Annotated[float, BeforeValidator(_not_boolean_number)]


Term = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
    AfterValidator(_matchable),
]

# The rule of the ``Key`` pattern, in words.
KEY_HINT = N_(
    "a key starts with a lowercase letter or digit, contains only lowercase letters, digits, - and _, "
    "and is at most 100 characters long"
)


@dataclass(frozen=True)
class CampaignProblem:
    """One validation error in a campaign file, located by campaign (or brand) and field."""

    path: str
    # "campaign" or "brand"; None for a problem with the file as a whole.
    kind: str | None
    # The brand or campaign key as the file writes it. For one without a key, its place in
    # its list, "#1" for the first, and ``keyless`` is true.
    key: str | None
    # The CSV line number (header = 1), for CSV files.
    row: int | None
    field: str
    text: Message
    keyless: bool = False

    @property
    def message(self) -> str:
        """The problem in English."""
        return str(self.text)

    def __str__(self) -> str:
        if self.kind is None:
            owner = ""
        elif self.keyless and self.row is not None:
            owner = f"row {self.row}, {self.kind} with no key: "
        elif self.keyless:
            owner = f"{self.kind} {self.key} (no key): "
        elif self.row is not None:
            owner = f'row {self.row}, {self.kind} "{self.key}": '
        else:
            owner = f'{self.kind} "{self.key}": '
        return f"{self.path}: {owner}{self.field}: {self.message}"


class InvalidCampaignFile(InvalidInput):
    """Campaign files with validation errors; ``details`` has them one by one."""

    def __init__(self, details: list[CampaignProblem]) -> None:
        files = sorted({detail.path for detail in details})
        if len(files) == 1:
            template, params = N_('campaign file "{path}" is invalid; nothing was imported:'), {"path": files[0]}
        else:
            template, params = N_("{count} campaign files are invalid; nothing was imported:"), {"count": len(files)}
        super().__init__(template.format(**params), [str(detail) for detail in details])
        self.template = template
        self.params = params
        self.details = details


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _rule_pack_not_number(value: Any) -> Any:
    # Quoting a number, the fix that other text fields suggest, would still not name a pack.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise MessageValueError(N_("{value} is a number, not a rule pack; use one of: {packs}"),
                                value=_written(value), packs=", ".join(RULE_PACKS))  # fmt: skip
    return value


RulePackKey = Annotated[str, BeforeValidator(_rule_pack_not_number)]


class BrandSpec(_Spec):
    key: Key
    name: Name
    voice: LongText = ""
    # Terms that must not appear (a draft with one is flagged) and terms that must.
    banned_terms: list[Term] = []
    required_terms: list[Term] = []
    # Claim words that need substantiation. A draft with one gets an advisory check.
    claim_terms: list[Term] = []
    # Built-in rule packs to switch off for this brand, by key (see contentgen.rules).
    disabled_rule_packs: list[RulePackKey] = []
    # Channel key to length limit. A platform's limit can only be lowered.
    channel_limits: dict[str, Count] = {}

    @field_validator("banned_terms", "required_terms", "claim_terms")
    @classmethod
    def _distinct_terms(cls, terms: list[str]) -> list[str]:
        # Terms match in any letter case and width, and skip spaces and punctuation, so
        # "cheap" and "Cheap" are one term written twice.
        errors = []
        first_terms: dict[str | None, str] = {}
        for index, term in enumerate(terms):
            key = term_match_key(term)
            if key not in first_terms:
                first_terms[key] = term
                continue
            earlier = first_terms[key]
            if earlier == term:
                message = Message(N_('"{term}" is listed more than once; list each term once'), {"term": term})
            else:
                message = Message(
                    N_('"{term}" matches the same words as "{earlier}", because terms match in any letter '
                       "case and width, with or without spaces and punctuation; keep one of them"),
                    {"term": term, "earlier": earlier},
                )  # fmt: skip
            errors.append(_error_at(index, term, message))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return terms

    @field_validator("required_terms")
    @classmethod
    def _required_not_banned(cls, terms: list[str], info: ValidationInfo) -> list[str]:
        # Missing when banned_terms failed validation; its own errors are reported then.
        banned_terms = info.data.get("banned_terms", [])
        banned = {term_match_key(term): term for term in banned_terms}
        errors = []
        for index, term in enumerate(terms):
            if term_match_key(term) in banned:
                message = Message(
                    N_('"{term}" is also a banned term ("{banned}"), so every draft would be flagged, '
                       "for containing it or for missing it; remove it from one of the two lists"),
                    {"term": term, "banned": banned[term_match_key(term)]},
                )  # fmt: skip
            elif found := find_terms(term, [RuleTerm(text, "brand") for text in banned_terms]):
                # A draft that contains "cheap deals" also contains the banned "cheap".
                message = Message(
                    N_('"{term}" contains the banned term "{banned}", so every draft would be flagged, '
                       "for containing it or for missing it; remove one of the two terms"),
                    {"term": term, "banned": found[0].term.text},
                )  # fmt: skip
            else:
                continue
            errors.append(_error_at(index, term, message))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return terms

    @field_validator("disabled_rule_packs")
    @classmethod
    def _known_rule_packs(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if key not in RULE_PACKS:
                raise MessageValueError(N_('"{key}" is not a known rule pack; use one of: {packs}'),
                                        key=key, packs=", ".join(RULE_PACKS))  # fmt: skip
        return keys

    @field_validator("channel_limits", mode="before")
    @classmethod
    def _allowed_channel_limits(cls, limits: Any) -> Any:
        # Each limit is checked here, its type and the channel's rules together, so that
        # every problem is listed at once, each under its channel key.
        if not isinstance(limits, dict):
            return limits
        errors: list[InitErrorDetails] = []
        for key, value in limits.items():
            location = (str(key),)
            problem = unknown_channel(str(key)) if str(key) not in CHANNELS else None
            if problem is None:
                try:
                    problem = channel_limit_problem(str(key), _CHANNEL_LIMIT.validate_python(value))
                except ValidationError as error:
                    errors += [_moved_error(detail, location) for detail in error.errors()]
                    continue
            if problem is not None:
                errors.append(_error_at(str(key), value, problem))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return limits


_CHANNEL_LIMIT = TypeAdapter(Count)


def _error_at(location: str | int, value: Any, message: Message) -> InitErrorDetails:
    """Return an error of ``message`` about ``value`` at ``location`` within the field."""
    return InitErrorDetails(type="value_error", loc=(location,), input=value,
                            ctx={"error": MessageValueError(message.template, **message.params)})  # fmt: skip


def _moved_error(detail: Any, location: tuple[str | int, ...]) -> InitErrorDetails:
    """Return one error of a nested validation as an error at ``location``."""
    moved = InitErrorDetails(type=detail["type"], loc=(*location, *detail["loc"]), input=detail["input"])
    if "ctx" in detail:
        moved["ctx"] = detail["ctx"]
    return moved


class ProductSpec(_Spec):
    name: Name
    description: LongText = ""
    features: list[Text] = Field(default=[], max_length=50)
    price: Name | None = None
    url: Text | None = None
    offer: Text | None = None

    @field_validator("price", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # YAML reads `price: 19.90` as a number; the prompt wants it as written. A boolean
        # (`price: yes`) stays one, so that the error says to quote it.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _written(value)
        return value

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        # The URL becomes the Final URL of the Google Ads export, where only a web address
        # makes sense: javascript:, data: or relative URLs are rejected here.
        if value is None:
            return value
        hint = Message(N_("use an absolute http:// or https:// URL, e.g. https://example.com/product"))
        if any(character.isspace() or not character.isprintable() for character in value):
            escaped = value.encode("unicode_escape").decode("ascii")
            raise MessageValueError(N_('"{value}" contains spaces or control characters; {hint}'),
                                    value=escaped, hint=hint)  # fmt: skip
        try:
            parts = urlsplit(value)
            absolute = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:  # for example an unclosed IPv6 address: "http://[::1"
            absolute = False
        if not absolute:
            raise MessageValueError(N_('"{value}" is not an absolute http(s) URL; {hint}'), value=value, hint=hint)
        # Characters that RFC 3986 never allows in a URL; an ad platform rejects the URL,
        # and a quote or angle bracket in it breaks out of HTML or CSV around it.
        unsafe = sorted({character for character in value if character in URL_UNSAFE_CHARACTERS})
        if unsafe:
            raise MessageValueError(
                N_('"{value}" contains {characters}, which a URL cannot; percent-encode them '
                   '(" is %22, < is %3C, > is %3E, a space is %20)'),
                value=value,
                characters=" ".join(unsafe),
            )  # fmt: skip
        return value


URL_UNSAFE_CHARACTERS = frozenset('"<>\\^`{|}')


class SegmentSpec(_Spec):
    key: Key
    name: Name
    description: LongText = ""


class GenerationSpec(_Spec):
    # 0 means greedy decoding: variants then differ only through their prompts. The
    # default model, SmolLM2-135M, loses coherence above about 0.5.
    temperature: Number = Field(default=0.3, ge=0, le=2, allow_inf_nan=False)
    top_p: Number = Field(default=0.9, gt=0, le=1, allow_inf_nan=False)
    # None takes the channel's default.
    max_new_tokens: Count | None = Field(default=None, ge=1, le=4096)
    seed: Count = Field(default=0, ge=0, le=2**31 - 1)


# The cron nicknames that croniter 7.0 reads, with the five fields it reads them as.
# @weekly runs on Sunday.
CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleSpec(_Spec):
    # Read in the campaign's own time zone; contentgen.schedules turns it into UTC slots.
    cron: str
    timezone: str = "UTC"
    # "all" generates every segment x channel x variant on each run. "unapproved" generates
    # only those that have no approved draft in an earlier batch of the campaign.
    refresh: Literal["all", "unapproved"] = "all"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if value.startswith("@"):
            if value.lower() not in CRON_NICKNAMES:
                close = closest(value, CRON_NICKNAMES)
                if close:
                    raise MessageValueError(
                        N_('"{value}" is not a schedule that contentgen can run; did you mean {close}?'),
                        value=value,
                        close=close,
                    )
                raise MessageValueError(
                    N_('"{value}" is not a schedule that contentgen can run; use one of {nicknames}, or '
                       'five fields: minute hour day-of-month month day-of-week, e.g. "30 2 * * *"'),
                    value=value,
                    nicknames=", ".join(CRON_NICKNAMES),
                )  # fmt: skip
            return value
        fields = len(value.split())
        if fields == 1:
            raise MessageValueError(
                N_('"{value}" has one field, and a cron expression has five: minute hour '
                   'day-of-month month day-of-week, e.g. "30 2 * * *", or is one of {nicknames}'),
                value=value,
                nicknames=", ".join(CRON_NICKNAMES),
            )  # fmt: skip
        if fields != 5:
            raise MessageValueError(
                N_('"{value}" has {fields} fields, and a cron expression has five: '
                   'minute hour day-of-month month day-of-week, e.g. "30 2 * * *"'),
                value=value,
                fields=fields,
            )  # fmt: skip
        if not croniter.is_valid(value):
            out_of_range = _cron_number_out_of_range(value)
            if out_of_range:
                raise MessageValueError(
                    N_('"{value}": the {field} field has {number}, and it takes {low} to {high}'),
                    value=value,
                    **out_of_range,
                )
            raise MessageValueError(
                N_('"{value}" is not a valid cron expression; each field takes numbers in its '
                   "range (minute 0-59, hour 0-23, day of month 1-31 or L for the last day, month "
                   "1-12 or jan-dec, day of week 0-7 or sun-sat, where 0 and 7 are Sunday), "
                   '"*", lists, ranges and steps, e.g. "30 2 * * 1-5"'),
                value=value,
            )  # fmt: skip
        range_problem = _cron_range_problem(value)
        if range_problem:
            raise MessageValueError("{problem}", problem=range_problem)
        try:
            croniter(value, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            raise MessageValueError(
                N_('"{value}" never matches a date (e.g. February 30); check the day-of-month and month fields'),
                value=value,
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Files in the zoneinfo folder that are not zones of their own. "localtime" and
        # "posixrules" are the machine's settings, so a dispatcher on another host would read
        # another zone. "posix/" and "right/" hold copies of the zones, and the "right/" ones
        # count leap seconds, which puts their times about 27 s off.
        if _names_machine_zone(value):
            raise MessageValueError(
                N_('"{value}" is the machine\'s time zone setting, not a fixed time zone, so a '
                   "dispatcher on another host could read another zone; use an IANA name such as "
                   '"Asia/Shanghai". On Linux, "timedatectl" shows the machine\'s zone by that name, '
                   'and on Linux and macOS, "readlink /etc/localtime" prints a path that ends in it'),
                value=value,
            )  # fmt: skip
        if value.startswith(REJECTED_ZONE_FOLDERS):
            raise MessageValueError(
                N_("\"{value}\" names a copy of a zone from the system's zoneinfo folder; use the "
                   'IANA name itself, "{zone}"'),
                value=value,
                zone=value.split("/", 1)[1],
            )  # fmt: skip
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            if re.fullmatch(r"\s*(utc|gmt)?\s*[+-]\s*\d{1,2}(:?\d{2})?\s*", value, re.IGNORECASE):
                raise MessageValueError(
                    N_('"{value}" is an offset from UTC, not a time zone; use the IANA name of a place in '
                       'the zone, such as "Asia/Shanghai" for UTC+8, which also follows its daylight '
                       "saving time if it has one"),
                    value=value,
                ) from None
            zone = _zone_like(value)
            if zone:
                raise MessageValueError(
                    N_('"{value}" is not an IANA time zone; did you mean "{zone}"?'), value=value, zone=zone
                ) from None
            raise MessageValueError(
                N_('"{value}" is not an IANA time zone; use a name such as "Europe/Berlin"'), value=value
            ) from None
        return value


# Each cron field's name and the range of its numbers, in field order. Day of week 7 is
# Sunday, like 0.
CRON_FIELDS = (
    (N_("minute"), 0, 59), (N_("hour"), 0, 23), (N_("day-of-month"), 1, 31), (N_("month"), 1, 12),
    (N_("day-of-week"), 0, 7),
)  # fmt: skip


# The names that croniter reads in the month and day-of-week fields, with their numbers.
CRON_NAMES = {
    3: {name: number for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)},
    4: {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}  # fmt: skip


def _cron_range_problem(expression: str) -> Message | None:
    """Return the problem of the first range of a valid five-field cron expression that
    starts above its end ("22-2"), or that runs from Sunday to Sunday ("7-0"), or None when
    there is none.

    croniter 7.0 reads a range that starts above its end as wrapping around. With a step,
    it loses the count at the wrap, so it runs "21-2/2" at hours 21, 23 and 2, and "5-1/2"
    only at minutes 5 to 59. Such a range is rejected, and the message writes out the
    wrap-around with the step kept (21,23,1). croniter also runs "7-0" and "7-7" on
    every day.
    """
    for index, (text, (field, low, high)) in enumerate(zip(expression.split(), CRON_FIELDS, strict=True)):
        names = CRON_NAMES.get(index, {})
        day_of_week = index == 4
        for part in text.split(","):
            bounds, _, step = part.partition("/")
            match = re.fullmatch(r"([0-9A-Za-z]+)-([0-9A-Za-z]+)", bounds)
            if not match:
                continue
            start, end = (int(bound) if bound.isdigit() else names.get(bound.lower()) for bound in match.groups())
            if start is None or end is None:
                continue
            if day_of_week and start == 7 and end in (0, 7):
                return Message(
                    N_('"{value}": the range {range} in the day-of-week field starts and ends on Sunday '
                       "(0 and 7 are both Sunday), and it would run on every day; write 0 for Sunday "
                       'alone, or "*" for every day'),
                    {"value": expression, "range": part},
                )  # fmt: skip
            # 7 is Sunday, like 0, so "7-2" runs from Sunday to Tuesday.
            if start <= end or (day_of_week and start == 7):
                continue
            wrapped = _wrapped_range(start, end, int(step or 1), low, high, day_of_week)
            if day_of_week:
                return Message(
                    N_('"{value}": the range {range} in the day-of-week field starts above its end; to '
                       "wrap around after Saturday, write it as {wrapped}. Day of week 7 is Sunday, "
                       "like 0, so a range may also start at 7, e.g. 7-2 for Sunday to Tuesday"),
                    {"value": expression, "range": part, "wrapped": wrapped},
                )  # fmt: skip
            return Message(
                N_('"{value}": the range {range} in the {field} field starts above its end; to wrap '
                   "around after {high}, write it as {wrapped}"),
                {"value": expression, "range": part, "field": Message(field), "high": high, "wrapped": wrapped},
            )  # fmt: skip
    return None


def _wrapped_range(start: int, end: int, step: int, low: int, high: int, day_of_week: bool) -> str:
    """Write a range that wraps around as cron list items that croniter reads as meant.

    The range runs from ``start`` up to ``high`` and on from ``low`` to ``end``, taking
    every ``step``-th value. The count of the step goes on across the wrap. Examples:
    hours 22-2 are "22-23,0-2", hours 21-2/2 are "21,23,1", minutes 5-1/2 are "5-59/2,1".
    """
    if day_of_week:
        # Sunday is written 7, so that it follows Saturday, and the week starts on Monday.
        low, high = 1, 7
    size = high - low + 1
    span = (end - start) % size
    values = [low + (start - low + offset) % size for offset in range(0, span + 1, step)]
    wrap = next((index for index in range(1, len(values)) if values[index] < values[index - 1]), len(values))
    runs = [run for run in (values[:wrap], values[wrap:]) if run]
    return ",".join(_cron_run(run, step) for run in runs)


def _cron_run(values: list[int], step: int) -> str:
    """Write ascending values that are ``step`` apart as one cron list item, or as two
    values where a range with a step would be harder to read."""
    if len(values) == 1:
        return str(values[0])
    if step == 1:
        return f"{values[0]}-{values[-1]}"
    if len(values) == 2:
        return f"{values[0]},{values[1]}"
    return f"{values[0]}-{values[-1]}/{step}"


def _cron_number_out_of_range(expression: str) -> dict[str, Any] | None:
    """Return the first number of a five-field cron expression that lies outside its field's
    range, with the field's name and range, or None when every number is in range."""
    for text, (field, low, high) in zip(expression.split(), CRON_FIELDS, strict=True):
        for part in text.split(","):
            # A step ("*/15") counts intervals, not positions, so only the range before it is checked.
            for number in re.findall(r"\d+", part.split("/", 1)[0]):
                if not low <= int(number) <= high:
                    return {"field": Message(field), "number": int(number), "low": low, "high": high}
    return None


# Names that people write for the time zone of mainland China, which IANA names after
# Shanghai.
CHINA_ZONE_NAMES = {"beijing", "peking", "china", "北京", "上海", "中国", "北京时间"}

# Names of the machine's own time zone setting, in lower case with "_" for spaces. The
# first two are files in the system's zoneinfo folder, and CPython 3.11's
# ``zoneinfo.available_timezones()`` lists "localtime" when that folder has it. The tz
# database's "Factory" zone is what a machine whose zone was never set uses.
MACHINE_ZONE_NAMES = {"localtime", "posixrules", "local", "local_time", "system", "/etc/localtime", "factory"}
# Folders of the zoneinfo folder with copies of the zones.
REJECTED_ZONE_FOLDERS = ("posix/", "right/")


def _names_machine_zone(value: str) -> bool:
    return value.strip().lower().replace(" ", "_") in MACHINE_ZONE_NAMES


def _suggestable_zones() -> set[str]:
    """Return the zones that ``ScheduleSpec`` accepts: those of ``available_timezones``
    without the machine's settings and the copies."""
    return {
        zone
        for zone in available_timezones()
        if not _names_machine_zone(zone) and not zone.startswith(REJECTED_ZONE_FOLDERS)
    }


def _zone_like(value: str) -> str | None:
    """Return the IANA time zone that ``value`` most likely means: the same name in other
    letter case, a zone of the city it names, or the closest name. None when none is close."""
    zones = {zone.lower(): zone for zone in _suggestable_zones()}
    name = value.strip().lower().replace(" ", "_")
    city = name.rsplit("/", 1)[-1]
    if name in zones:
        return zones[name]
    if city in CHINA_ZONE_NAMES:
        return "Asia/Shanghai"
    cities = {zone.rsplit("/", 1)[-1]: original for zone, original in zones.items() if "/" in zone}
    if city in cities:
        return cities[city]
    close = closest(name, zones)
    return zones[close] if close else None


def _known_channel(channel: str) -> str:
    # Each unknown channel is a problem of its own item (channels[2]), with its suggestion.
    if channel not in CHANNELS:
        raise MessageValueError("{problem}", problem=unknown_channel(channel))
    return channel


def _channel_not_number(value: Any) -> Any:
    # Quoting a number or a YAML boolean (yes, on), the fix that other text fields suggest,
    # would still not name a channel.
    if isinstance(value, bool):
        raise MessageValueError(N_("YAML read this value as {value}, not a channel; use a channel name, one of: "
                                   "{channels}"), value=_shown(value), channels=", ".join(CHANNELS))  # fmt: skip
    if isinstance(value, int | float):
        raise MessageValueError(N_("{value} is a number, not a channel; use a channel name, one of: {channels}"),
                                value=_written(value), channels=", ".join(CHANNELS))  # fmt: skip
    return value


ChannelKey = Annotated[str, BeforeValidator(_channel_not_number), AfterValidator(_known_channel)]


class CampaignSpec(_Spec):
    key: Key
    brand: Key
    name: Name | None = None
    goal: Text | None = None
    call_to_action: Text | None = None
    product: ProductSpec
    segments: list[SegmentSpec] = Field(min_length=1, max_length=1000)
    channels: list[ChannelKey] = Field(min_length=1)
    variants: Count = Field(default=1, ge=1, le=50)
    locale: str = "en-US"
    generation: GenerationSpec = GenerationSpec()
    schedule: ScheduleSpec | None = None

    @field_validator("channels", mode="wrap")
    @classmethod
    def _repeated_channels(cls, channels: Any, handler: ValidatorFunctionWrapHandler) -> list[str]:
        # An unknown channel is an error of its item (channels[2]) and a repeated one an error
        # of the list, and both are reported in one round.
        errors: list[InitErrorDetails] = []
        try:
            result = handler(channels)
        except ValidationError as error:
            errors = [_moved_error(detail, ()) for detail in error.errors()]
        texts = [channel for channel in channels if isinstance(channel, str)] if isinstance(channels, list) else []
        repeated = sorted(channel for channel, count in Counter(texts).items() if count > 1)
        if repeated:
            problem = MessageValueError(N_("{channels} listed more than once; list each channel once"),
                                        channels=", ".join(repeated))  # fmt: skip
            errors.append(InitErrorDetails(type="value_error", loc=(), input=channels, ctx={"error": problem}))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return result

    @field_validator("segments")
    @classmethod
    def _unique_segments(cls, segments: list[SegmentSpec]) -> list[SegmentSpec]:
        duplicates = _repeated([segment.key for segment in segments])
        if duplicates:
            raise _RepeatedKeys(SEGMENT_KEYS_REPEATED, keys=", ".join(duplicates))
        return segments

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str, info: ValidationInfo) -> str:
        # Campaigns stored before the rule against tags without a language stay readable.
        if not (info.context or {}).get("stored"):
            _reject_tag_without_language(value)
        language_name(value)
        # Stored as "zh-CN" however it was typed, so that lists, prompts and exports agree.
        return _canonical_tag(value) or value

    @property
    def display_name(self) -> str:
        return self.name or self.key


class CampaignFile(_Spec):
    brands: list[BrandSpec] = []
    campaigns: list[CampaignSpec] = []
    # The columns of a CSV file, or None for YAML. A CSV row has fewer fields than a stored
    # campaign, so importing it keeps the fields that its columns leave out.
    _csv_columns: frozenset[str] | None = PrivateAttr(default=None)
    # The row number of each campaign of a CSV file (header = 1), or None for YAML.
    _csv_rows: list[int] | None = PrivateAttr(default=None)

    @property
    def csv_columns(self) -> frozenset[str] | None:
        """The columns of a CSV file, or None for YAML."""
        return self._csv_columns

    @model_validator(mode="after")
    def _unique_keys(self) -> CampaignFile:
        for template, items in ((BRAND_KEYS_REPEATED, self.brands), (CAMPAIGN_KEYS_REPEATED, self.campaigns)):
            duplicates = _repeated([item.key for item in items])
            if duplicates:
                raise _RepeatedKeys(template, keys=", ".join(duplicates))
        return self


BRAND_KEYS_REPEATED = N_("brand keys must be unique; repeated: {keys}")
CAMPAIGN_KEYS_REPEATED = N_("campaign keys must be unique; repeated: {keys}")
SEGMENT_KEYS_REPEATED = N_("segment keys must be unique; repeated: {keys}")


class _RepeatedKeys(MessageValueError):
    """Keys that a list repeats. ``load_campaign_file`` finds them before validation, so that
    they are listed with the other problems; the validators repeat the check for other callers."""


def _repeated(keys: list[str]) -> list[str]:
    return sorted(key for key, count in Counter(keys).items() if count > 1)


def _repeated_keys(data: Any, csv_rows: list[int] | None) -> Iterator[dict[str, Any]]:
    """Yield a problem for each list of unvalidated ``data`` that repeats a brand, campaign or
    segment key. Validation reports these only when every other field is valid.

    In a CSV file, whose rows are numbered in ``csv_rows``, each row that repeats the key of
    an earlier row is a problem of its own, naming that row.
    """
    if not isinstance(data, dict):
        return
    for section, template in (("brands", BRAND_KEYS_REPEATED), ("campaigns", CAMPAIGN_KEYS_REPEATED)):
        if section == "campaigns" and csv_rows is not None:
            yield from _csv_rows_with_same_key(data.get(section), csv_rows)
            continue
        duplicates = _repeated(_raw_keys(data.get(section)))
        if duplicates:
            yield {"loc": (section,), "type": "repeated_keys",
                   "message": Message(template, {"keys": ", ".join(duplicates)})}  # fmt: skip
    campaigns = data.get("campaigns") if isinstance(data.get("campaigns"), list) else []
    for index, campaign in enumerate(campaigns):
        segments = campaign.get("segments") if isinstance(campaign, dict) else None
        duplicates = _repeated(_raw_keys(segments))
        if not duplicates:
            continue
        message = Message(SEGMENT_KEYS_REPEATED, {"keys": ", ".join(duplicates)})
        if csv_rows is not None:
            message = _csv_segments_with_same_key(segments, duplicates)
        yield {"loc": ("campaigns", index, "segments"), "type": "repeated_keys", "message": message}


def _csv_rows_with_same_key(campaigns: list[dict[str, Any]], csv_rows: list[int]) -> Iterator[dict[str, Any]]:
    first_rows: dict[str, int] = {}
    for index, campaign in enumerate(campaigns):
        key = campaign.get("key")
        # An empty key cell is reported as empty, not as repeated.
        if key is None:
            continue
        if key in first_rows:
            yield {"loc": ("campaigns", index, "key"), "type": "repeated_keys",
                   "message": Message(N_("row {row} has the same key; give each campaign its own key"),
                                      {"row": first_rows[key]})}  # fmt: skip
        else:
            first_rows[key] = csv_rows[index]


def _raw_keys(items: Any) -> list[str]:
    # Validation strips spaces, so " a" and "a" are the same key.
    if not isinstance(items, list):
        return []
    return [item["key"].strip() for item in items if isinstance(item, dict) and isinstance(item.get("key"), str)]


def _csv_segments_with_same_key(segments: list[dict[str, str]], duplicates: list[str]) -> Message:
    # A CSV file has no segment keys, so the message names the segments.
    problems = [
        Message(N_('the segments {names} get the same key "{key}"'),
                {"key": key, "names": ", ".join(json.dumps(segment["name"], ensure_ascii=False)
                                               for segment in segments if segment["key"] == key)})
        for key in duplicates
    ]  # fmt: skip
    return Message(
        N_("{problems}; list each segment once, with names that differ in more than case, spaces or punctuation"),
        {"problems": problems},
    )


def language_name(locale: str) -> str:
    """Return the English name of a BCP 47 locale's language, e.g. "Chinese (Simplified)".

    Raises:
        ValueError: if Babel does not recognise the tag.
    """
    try:
        parsed = Locale.parse(locale, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        tag = _canonical_tag(locale.replace("_", "-")) if isinstance(locale, str) else None
        if tag and "_" in locale:
            raise MessageValueError(
                N_('"{locale}" separates its parts with an underscore, and a BCP 47 locale tag uses '
                   'hyphens; write "{tag}"'),
                locale=locale,
                tag=tag,
            ) from None
        raise MessageValueError(
            N_('"{locale}" is not a known locale; use a BCP 47 tag such as en-US, zh-CN or de-DE'), locale=locale
        ) from None
    return Locale(parsed.language, script=parsed.script).get_display_name("en")


# ISO 639 codes and the CLDR locale that name no particular language, with their meaning.
# Babel reads "und" as English (en-US), and "root" as a locale without a language name.
TAGS_WITHOUT_LANGUAGE = {
    "und": N_("undetermined language"),
    "mul": N_("multiple languages"),
    "mis": N_("a language without an ISO 639 code"),
    "zxx": N_("no linguistic content"),
    "root": N_("the root locale of the CLDR data"),
}


def _reject_tag_without_language(locale: str) -> None:
    language = re.split("[-_]", locale, maxsplit=1)[0].lower()
    if language in TAGS_WITHOUT_LANGUAGE:
        raise MessageValueError(
            N_('"{locale}" names no language ("{language}" means {meaning}); use the tag of the '
               "language that the copy is written in, such as en-US, zh-CN or de-DE"),
            locale=locale,
            language=language,
            meaning=Message(TAGS_WITHOUT_LANGUAGE[language]),
        )  # fmt: skip


def _canonical_tag(tag: str) -> str | None:
    """Return a BCP 47 tag in its usual letter case ("zh-cn" as "zh-CN", "zh-hant-tw" as
    "zh-Hant-TW"), or None when Babel does not recognise it.

    RFC 5646, section 2.1.1: subtags are lowercase, except two-letter subtags (regions),
    which are uppercase, and four-letter subtags (scripts), which are titlecase. Neither
    exception applies to the first subtag or to the subtags after a singleton such as "u" or "x".
    """
    language, *rest = tag.split("-")
    parts = [language.lower()]
    after_singleton = False
    for part in rest:
        after_singleton = after_singleton or len(part) == 1
        if not after_singleton and len(part) == 2:
            parts.append(part.upper())
        elif not after_singleton and len(part) == 4:
            parts.append(part.title())
        else:
            parts.append(part.lower())
    canonical = "-".join(parts)
    try:
        Locale.parse(canonical, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return canonical


def load_campaign_file(
    path: Path, stored_brands: Callable[[set[str]], set[str]] | None = None
) -> CampaignFile:
    """Read and validate a YAML or CSV campaign file without touching the database.

    Args:
        stored_brands: returns which of the given brand keys are imported. When the file is
            invalid, brands that it names but neither defines nor finds there are listed
            with its other problems, so that one round of fixes is enough.

    Raises:
        InvalidInput: listing every problem, each with the file, campaign key and field.
    """
    if path.is_dir():
        raise InvalidInput.from_template(N_('campaign file "{path}" is a folder; pass a .yaml, .yml or .csv file'),
                                         path=str(path))  # fmt: skip
    if not path.is_file():
        raise InvalidInput.from_template(N_('campaign file "{path}" not found; check the path'), path=str(path))
    suffix = path.suffix.lower()
    csv_columns = csv_rows = None
    if suffix in (".yaml", ".yml"):
        data = _read_yaml(path)
    elif suffix == ".csv":
        data, csv_columns, csv_rows = _read_csv(path)
    elif suffix in SPREADSHEET_SUFFIXES:
        raise InvalidInput.from_template(SPREADSHEET_MESSAGE, name=str(path), suffix=suffix)
    else:
        raise InvalidInput.from_template(
            N_('campaign file "{path}" has an unknown type "{suffix}"; use .yaml, .yml or .csv'),
            path=str(path),
            suffix=suffix,
        )

    # Control characters and field errors are listed together, so that one round of fixes
    # makes the file valid.
    problems = [
        _describe(path, data, {"loc": location, "message": _control_message(character), "type": "control"}, csv_rows)
        for location, character in islice(_find_controls(data), MAX_LISTED_PROBLEMS)
    ]
    problems += [_describe(path, data, detail, csv_rows) for detail in _repeated_keys(data, csv_rows)]
    try:
        parsed = CampaignFile.model_validate(data)
    except ValidationError as error:
        problems += [
            _describe(path, data, detail, csv_rows)
            for detail in error.errors()
            # Listed above already.
            if not isinstance((detail.get("ctx") or {}).get("error"), _RepeatedKeys)
        ]
    if problems and stored_brands is not None:
        problems += _undefined_brands(path, data, stored_brands, csv_rows)
    if csv_rows is not None:
        # Listed in row order, as the author reads the file. Problems of the file as a whole
        # come first, and the order within a row stays.
        problems.sort(key=lambda problem: problem.row or 0)
    if problems:
        raise InvalidCampaignFile(problems)
    parsed._csv_columns = csv_columns
    parsed._csv_rows = csv_rows
    return parsed


def _find_controls(value: Any, location: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield where each text with a control character sits in parsed data, and the character.

    PostgreSQL text cannot store NUL, and the other control and bidirectional control
    characters are invisible: they would reach prompts and exports unseen (U+202E shows
    the text after it reversed). Line breaks and tabs are allowed.
    """
    if isinstance(value, str):
        character = control_character(value, "\n\r\t")
        if character is not None:
            yield location, character
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _find_controls(item, (*location, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _find_controls(item, (*location, index))


def _undefined_brands(
    path: Path, data: Any, stored_brands: Callable[[set[str]], set[str]], csv_rows: list[int] | None
) -> list[CampaignProblem]:
    """List the campaigns of unvalidated ``data`` whose brand neither the file defines nor
    ``stored_brands`` finds; import_campaign_file reports the same for a valid file."""
    if not isinstance(data, dict) or not isinstance(data.get("campaigns"), list):
        return []
    brands = data.get("brands") if isinstance(data.get("brands"), list) else []
    defined = {brand.get("key") for brand in brands if isinstance(brand, dict)}
    named = {
        index: campaign["brand"]
        for index, campaign in enumerate(data["campaigns"])
        if isinstance(campaign, dict) and isinstance(campaign.get("brand"), str) and campaign["brand"] not in defined
    }
    if not named:
        return []
    try:
        missing = set(named.values()) - stored_brands(set(named.values()))
    except ContentgenError:
        # The database's own error comes with the import; the file's problems come first.
        return []
    return [
        _describe(path, data, {"loc": ("campaigns", index, "brand"), "message": _undefined_brand(brand, path.suffix.lower() == ".csv"), "type": "brand"}, csv_rows)
        for index, brand in named.items()
        if brand in missing
    ]


def _undefined_brand(brand: str, csv: bool = False) -> Message:
    if csv:
        # A CSV file has no brands section.
        return Message(N_('"{brand}" is not defined; import a YAML file that defines it under "brands" first'),
                       {"brand": brand})  # fmt: skip
    return Message(
        N_('"{brand}" is not defined; add it under "brands" in this file or import a file that defines it first'),
        {"brand": brand},
    )


def undefined_brands(
    path: Path, parsed: CampaignFile, known_brands: Callable[[set[str]], set[str]]
) -> list[CampaignProblem]:
    """List the campaigns of a valid file whose brand neither the file defines nor
    ``known_brands`` finds."""
    named = {campaign.brand for campaign in parsed.campaigns} - {brand.key for brand in parsed.brands}
    if not named:
        return []
    missing = named - known_brands(named)
    rows = parsed._csv_rows or [None] * len(parsed.campaigns)
    return [
        CampaignProblem(str(path), "campaign", campaign.key, row, "brand",
                        _undefined_brand(campaign.brand, parsed.csv_columns is not None))
        for campaign, row in zip(parsed.campaigns, rows, strict=True)
        if campaign.brand in missing
    ]  # fmt: skip


def defined_brand_keys(path: Path) -> set[str]:
    """Return the brand keys that a YAML campaign file defines, without validating it.

    An unreadable file defines none, and so does a CSV file, because it has no brands.
    """
    if path.suffix.lower() not in (".yaml", ".yml"):
        return set()
    try:
        data = _read_yaml(path)
    except (InvalidInput, OSError):
        return set()
    brands = data.get("brands") if isinstance(data, dict) else None
    if not isinstance(brands, list):
        return set()
    return {brand["key"] for brand in brands if isinstance(brand, dict) and isinstance(brand.get("key"), str)}


def stored_brand_keys(keys: set[str]) -> set[str]:
    """Return which of ``keys`` name imported brands.

    Raises:
        InfrastructureError: if the database is missing, unreachable or out of date (it is
            checked first, so that a missing SQLite file is not created).
    """
    from contentgen.db import check_schema, session_scope

    check_schema()
    with session_scope() as session:
        return set(session.scalars(select(Brand.key).where(Brand.key.in_(keys))))


def _control_message(character: str) -> Message:
    if character == "\x00":
        return Message(N_("contains a NUL character (\\0); remove it"))
    return Message(N_("contains the invisible control character {code}; remove it"), {"code": f"U+{ord(character):04X}"})


# At most this many control characters are listed; the first ones show what to fix.
MAX_LISTED_PROBLEMS = 100


# Limits on a YAML document, checked while it is read. An alias (*name) repeats the node its
# anchor (&name) names, so a file of a few hundred bytes can describe billions of values
# ("billion laughs"), and the limits also apply with every alias written out. PyYAML keeps
# about 800 bytes per value while composing (estimated from the peak memory of `contentgen
# campaigns import` on lists of "- 1" lines: 880 MB for 1.1 million values), so 250,000
# values take about 200 MB. Real
# campaign files stay far below: the examples have under 100 values, nested 6 levels deep,
# and a campaign has about 30.
MAX_YAML_VALUES = 250_000
MAX_YAML_CHARACTERS = 10_000_000
MAX_YAML_DEPTH = 50


class _DocumentTooLarge(yaml.composer.ComposerError):
    """A YAML document over a limit above, or an alias inside the value it refers to."""

    def __init__(self, message: Message, mark: yaml.Mark) -> None:
        super().__init__(None, None, str(message), mark)
        self.message = message


class _RepeatedKey(yaml.constructor.ConstructorError):
    """A mapping with the same key twice."""

    def __init__(self, key: object, mark: yaml.Mark) -> None:
        self.message = Message(N_('key "{key}" appears twice in one mapping'), {"key": key})
        super().__init__(None, None, str(self.message), mark)


# The tag that PyYAML's resolver gives the merge key "<<".
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects a mapping with the same key twice, and oversized documents.

    Plain YAML loaders keep the last value silently, so `variants: 2` followed by
    `variants: 1` would import 1 without a word.

    While composing, the loader records for every node its size with aliases expanded:
    values, characters of scalar text and nesting depth. An alias reuses the size of its
    anchored node, so the check takes time in proportion to the file, not to its expansion.

    NOTE: composing runs in Python, not in libyaml's C parser. A file of short values stops
    at ``MAX_YAML_VALUES`` after about 1 MB, which took 6.5 s on a 2-core machine, and an
    upload of long strings up to the 5 MiB limit is read whole before it is composed.
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0
        # id(node) -> (values, characters, depth), recorded once the node is complete.
        self._expanded: dict[int, tuple[int, int, int]] = {}
        # Values and characters composed so far, each alias counted once.
        self._values = 0
        self._characters = 0
        # id(node) of the mappings whose keys _check_unique_keys has checked.
        self._checked_mappings: set[int] = set()

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            # Nodes are composed depth first, so an incomplete node is one that contains
            # this alias: expanding it would never end.
            if id(node) not in self._expanded:
                raise _DocumentTooLarge(
                    Message(N_('the alias "*{name}" is inside the value that "&{name}" names, so that '
                               "value would contain itself without end; write the value out instead"),
                            {"name": event.anchor}),
                    event.start_mark,
                )  # fmt: skip
            return node

        if self._depth >= MAX_YAML_DEPTH:
            raise _DocumentTooLarge(
                Message(N_("values are nested more than {depth} levels deep; a campaign file needs about 6"),
                        {"depth": MAX_YAML_DEPTH}),
                self.peek_event().start_mark,
            )  # fmt: skip
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._record_expanded_size(node)
        return node

    def _record_expanded_size(self, node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            self._expanded[id(node)] = (1, len(node.value), 1)
            self._count_written(1, len(node.value), node)
            return
        self._count_written(1, 0, node)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value
        sizes = [self._expanded[id(child)] for child in children]
        values = 1 + sum(size[0] for size in sizes)
        characters = sum(size[1] for size in sizes)
        depth = 1 + max((size[2] for size in sizes), default=0)
        self._expanded[id(node)] = (values, characters, depth)

        if values > MAX_YAML_VALUES:
            problem = Message(
                N_("with its aliases (*name) expanded, this value has more than {count} values; "
                   "repeat fewer aliases or split the file"),
                {"count": f"{MAX_YAML_VALUES:,}"},
            )  # fmt: skip
        elif characters > MAX_YAML_CHARACTERS:
            problem = Message(
                N_("with its aliases (*name) expanded, this value has more than {count} characters "
                   "of text; repeat fewer aliases or split the file"),
                {"count": f"{MAX_YAML_CHARACTERS:,}"},
            )  # fmt: skip
        elif depth > MAX_YAML_DEPTH:
            problem = Message(
                N_("with its aliases (*name) expanded, values are nested more than {depth} levels "
                   "deep; a campaign file needs about 6"),
                {"depth": MAX_YAML_DEPTH},
            )  # fmt: skip
        else:
            return
        raise _DocumentTooLarge(problem, node.start_mark)

    def _count_written(self, values: int, characters: int, node: yaml.Node) -> None:
        # Checked as each value is composed, so memory stays bounded however long the file.
        self._values += values
        self._characters += characters
        if self._values > MAX_YAML_VALUES:
            problem = Message(
                N_("the file has more than {count} values; split it into several files, or use a "
                   "CSV file for long lists of campaigns"),
                {"count": f"{MAX_YAML_VALUES:,}"},
            )  # fmt: skip
        elif self._characters > MAX_YAML_CHARACTERS:
            problem = Message(
                N_("the file has more than {count} characters of text; shorten its values or split "
                   "it into several files"),
                {"count": f"{MAX_YAML_CHARACTERS:,}"},
            )  # fmt: skip
        else:
            return
        raise _DocumentTooLarge(problem, node.start_mark)

    def construct_mapping(self, node, deep=False):
        self._check_unique_keys(node, deep)
        return super().construct_mapping(node, deep=deep)

    def _check_unique_keys(self, node: yaml.MappingNode, deep: bool) -> None:
        """Raise ``_RepeatedKey`` for a key written twice in one mapping.

        A key written out may repeat a key that a merge key (``<<: *base``) brings in,
        because it overrides that one, as YAML's merge key type defines. Each mapping is
        checked once, before PyYAML's ``flatten_mapping`` copies the merged keys into it.
        """
        if id(node) in self._checked_mappings:
            return
        self._checked_mappings.add(id(node))
        seen = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                key = "<<"
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for merged_node in merged:
                    if isinstance(merged_node, yaml.MappingNode):
                        self._check_unique_keys(merged_node, deep)
            else:
                key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _RepeatedKey(key, key_node.start_mark)
            seen.add(key)

    def construct_yaml_int(self, node):
        return _YamlInt(super().construct_yaml_int(node), node.value)

    def construct_yaml_float(self, node):
        return _YamlFloat(super().construct_yaml_float(node), node.value)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:float", _UniqueKeyLoader.construct_yaml_float)


class _YamlInt(int):
    """A YAML integer that keeps its text as the file writes it, e.g. "1_000"."""

    def __new__(cls, value: int, text: str) -> _YamlInt:
        number = super().__new__(cls, value)
        number.text = text
        return number


class _YamlFloat(float):
    """A YAML float that keeps its text as the file writes it: "19.90", not 19.9."""

    def __new__(cls, value: float, text: str) -> _YamlFloat:
        number = super().__new__(cls, value)
        number.text = text
        return number


def _written(number: int | float) -> str:
    """Return a number as the campaign file writes it."""
    return getattr(number, "text", None) or str(number)


def _read_yaml(path: Path) -> dict[str, Any]:
    content = path.read_bytes()
    # PyYAML rejects NUL with an error that names no line, so NUL bytes are found first.
    if _looks_like_utf16(content):
        raise InvalidInput.from_template(
            N_('campaign file "{path}" is not UTF-8 text: it has NUL bytes between its letters, as '
               "UTF-16 text has; save it with the encoding UTF-8"),
            path=str(path),
        )  # fmt: skip
    if b"\x00" in content:
        raise InvalidInput.from_template(
            N_('campaign file "{path}", line {line}: contains a NUL byte (\\0), which is not text; remove it'),
            path=str(path),
            line=content.count(b"\n", 0, content.index(b"\x00")) + 1,
        )
    try:
        data = yaml.load(content.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as error:
        raise _yaml_error(path, error) from None
    except UnicodeDecodeError:
        raise InvalidInput.from_template(
            N_('campaign file "{path}" is not UTF-8 text; save it with the encoding UTF-8'), path=str(path)
        ) from None

    if data is None:
        raise InvalidInput.from_template(N_('campaign file "{path}" is empty; add "brands" and "campaigns"'),
                                         path=str(path))  # fmt: skip
    if not isinstance(data, dict):
        raise InvalidInput.from_template(
            N_('campaign file "{path}": the top level must be a mapping with "brands" and "campaigns" '
               "(key: value lines), not {found}"),
            path=str(path),
            found=_kind_of_value(data),
        )  # fmt: skip
    # Top-level keys that start with "x-" hold values for aliases elsewhere in the file
    # ("x-base: &base {...}"), as in Docker Compose files, and are not imported.
    return {key: value for key, value in data.items() if not (isinstance(key, str) and key.startswith("x-"))}


def _kind_of_value(value: Any) -> Message:
    """Name what kind of YAML value ``value`` is, in words for the file's author."""
    if isinstance(value, list):
        return Message(N_("a list"))
    if isinstance(value, bool):
        return Message(N_("a single true or false value"))
    if isinstance(value, int | float):
        return Message(N_("a single number"))
    if isinstance(value, date | datetime):
        return Message(N_("a single date"))
    if isinstance(value, str):
        return Message(N_("a single text value"))
    return Message(N_("a single value"))


def _looks_like_utf16(data: bytes) -> bool:
    """Tell whether ``data`` looks like UTF-16 text: at least one byte in eight is NUL, and
    nearly all of them at even offsets or nearly all at odd ones.

    UTF-16 stores each ASCII character as the character's byte and a NUL byte, in one order
    throughout. Text in UTF-8 or in a legacy 8-bit encoding has no NUL bytes.
    """
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if (even + odd) * 8 < len(data) or even + odd == 0:
        return False
    return max(even, odd) >= 0.9 * (even + odd)


# PyYAML's most common complaints, translated; any other stays in English.
_YAML_PROBLEMS = {
    N_("mapping values are not allowed here"),
    N_("could not find expected ':'"),
    N_("found character '\\t' that cannot start any token"),
    N_("found unexpected end of stream"),
    N_("expected <block end>, but found '-'"),
    N_("expected <block end>, but found '<block mapping start>'"),
    N_("expected <block end>, but found '<scalar>'"),
    N_("did not find expected key"),
    N_("did not find expected '-' indicator"),
    N_("did not find expected ',' or ']'"),
    N_("did not find expected ',' or '}'"),
}


# PyYAML's complaints that end with the name or character involved ("found undefined alias
# 'base'"), translated up to that ending.
_YAML_PROBLEM_STARTS = {
    "found undefined alias ": N_("found undefined alias {name}"),
    "expected ',' or ']', but got ": N_("expected ',' or ']' (a list opened with [ is not closed), but got {name}"),
    "expected ',' or '}', but got ": N_("expected ',' or '}' (a mapping opened with { is not closed), but got {name}"),
}


def _yaml_problem(problem: str) -> Message:
    if problem in _YAML_PROBLEMS:
        return Message(problem)
    for start, template in _YAML_PROBLEM_STARTS.items():
        if problem.startswith(start):
            return Message(template, {"name": problem.removeprefix(start)})
    return Message("{text}", {"text": problem})


def _tab_after_text(mark: yaml.Mark | None) -> bool:
    """Tell whether the tab at ``mark`` follows text on its line, rather than indenting it."""
    if mark is None or mark.buffer is None:
        return False
    line_start = mark.buffer.rfind("\n", 0, mark.index) + 1
    return bool(mark.buffer[line_start : mark.index].strip())


def _yaml_error(path: Path, error: yaml.YAMLError) -> InvalidInput:
    problem = getattr(error, "problem", None) or str(error)
    if isinstance(error, _DocumentTooLarge):
        text = error.message
    elif problem == "but found another document":
        # PyYAML's mark is at the "---" line that starts the second document.
        text = Message(N_('the file contains more than one YAML document, because this "---" line starts '
                          "another one; remove the line, or put each document in a file of its own"))  # fmt: skip
    elif isinstance(error, _RepeatedKey):
        text = Message(N_("malformed YAML: {problem}"), {"problem": error.message})
    else:
        described = _yaml_problem(problem)
        text = Message(N_("malformed YAML: {problem}"), {"problem": described})
    mark = getattr(error, "problem_mark", None)
    if "'\\t'" in problem and _tab_after_text(mark):
        text = Message(N_('{problem}; a tab inside a value is allowed only in quotes, e.g. "a<tab>b"'),
                       {"problem": text})  # fmt: skip
    elif "'\\t'" in problem:
        text = Message(N_("{problem}; YAML indents with spaces, so replace the tab with spaces"), {"problem": text})
    if mark is None:
        return InvalidInput.from_template(N_('campaign file "{path}": {problem}'), path=str(path), problem=text)
    return InvalidInput.from_template(
        N_('campaign file "{path}", line {line}, column {column}: {problem}'),
        path=str(path),
        line=mark.line + 1,
        column=mark.column + 1,
        problem=text,
    )


# Workbook files of spreadsheet programs, which must be saved as CSV first.
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers", ".et")
SPREADSHEET_MESSAGE = N_(
    'file "{name}" is a spreadsheet workbook ({suffix}); save the sheet as "CSV UTF-8 (comma delimited)" '
    "and use the .csv file"
)


# Every row must fill these columns, except product_description, whose empty cell is a
# product without a description, as an empty description is in a YAML file.
CSV_COLUMNS = {"key", "brand", "product_name", "product_description", "segments", "channels", "locale"}
CSV_OPTIONAL_COLUMNS = {
    "features", "price", "url", "variants", "name", "goal", "call_to_action", "offer",
    "temperature", "top_p", "max_new_tokens", "seed",
}  # fmt: skip


def _read_csv(path: Path) -> tuple[dict[str, Any], frozenset[str], list[int]]:
    """Read a campaign CSV file into campaign data, its columns and each campaign's row number.

    Spreadsheet programs save formatted but empty cells as empty fields, so columns whose
    header cell and every other cell are empty are ignored, and so are rows of empty cells.
    Spaces around the names in the header are stripped.
    """
    records = _read_csv_records(path)
    header_index = next((index for index, record in enumerate(records) if not _is_blank(record)), None)
    if header_index is None:
        raise InvalidInput.from_template(
            N_('campaign file "{path}" is empty; add a header row and one row per campaign'), path=str(path)
        )
    header = [name.strip() for name in records[header_index]]
    # Row numbers count from 1, as spreadsheet programs do, and so do blank rows.
    rows = [(number, record) for number, record in enumerate(records, start=1)
            if number > header_index + 1 and not _is_blank(record)]  # fmt: skip
    columns = _named_columns(path, header, rows)
    _check_header(path, header, columns)
    if not rows:
        raise InvalidInput.from_template(
            N_('campaign file "{path}" has a header but no campaigns; add one row per campaign'), path=str(path)
        )
    _check_row_lengths(path, header, columns, rows)
    campaigns = [
        _csv_row_to_campaign({header[index]: record[index] for index in columns}) for _, record in rows
    ]
    return {"campaigns": campaigns}, frozenset(header[index] for index in columns), [number for number, _ in rows]


def _read_csv_records(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    text = None
    # UTF-16 text whose letters are all ASCII decodes as UTF-8, with a NUL byte beside each letter.
    if not _looks_like_utf16(data):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    if text is None:
        raise _csv_encoding_error(path, data)

    # Excel reads a first line "sep=;" as the column separator and does not show it as a
    # row, so row numbers leave it out. Line numbers count it, as a text editor does.
    # Microsoft does not document the line, so CSV_SEPARATOR_LINE reads it leniently.
    separator_line = CSV_SEPARATOR_LINE.match(text)
    skipped_lines = 0
    if separator_line:
        separator = separator_line.group(1).encode("unicode_escape").decode("ascii")
        if separator != ",":
            raise InvalidInput.from_template(
                N_('campaign file "{path}": the first line "sep={separator}" sets the column separator '
                   'to "{separator}", but a campaign CSV file uses commas; save it again as "CSV UTF-8 '
                   '(comma delimited)"'),
                path=str(path),
                separator=separator,
            )  # fmt: skip
        text = text[separator_line.end() :]
        skipped_lines = 1

    records: list[list[str]] = []
    # The line on which the last complete record ends.
    last_line = skipped_lines
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            records.append(record)
            last_line = skipped_lines + reader.line_num
    except csv.Error:
        # The csv module's only error on readable text is a cell over its size limit
        # (csv.field_size_limit(), 131,072 characters unless changed), far beyond any field's
        # own limit. The line named is the first of the record that failed, where an unclosed
        # quote would start.
        raise InvalidInput.from_template(
            N_('campaign file "{path}", line {line}: a cell in the row that starts on this line is '
               "longer than {limit} characters, the limit of the CSV reader. Either a quote (\") is "
               "never closed, so that the rest of the file reads as one cell, or the cell is longer "
               "than any campaign field allows, since the longest field, product_description, takes "
               "{longest}. Close the quote, or shorten the cell"),
            path=str(path),
            line=last_line + 1,
            limit=f"{csv.field_size_limit():,}",
            longest=f"{LONG_TEXT_MAX_LENGTH:,}",
        ) from None
    return records


# "sep" in any letter case, then the separator, which may be a tab ("SEP=, "). Spaces may
# come before and after, and the line may be quoted as one cell ("sep=,"). A spreadsheet
# that shows the line as a cell and saves the file again pads it with commas to the width
# of the table ("sep=,,,,,,").
CSV_SEPARATOR_LINE = re.compile(r'[ \t]*"?sep=(.)"?[ \t,]*(?:\r\n|\n|\r|$)', re.IGNORECASE)


def _csv_encoding_error(path: Path, data: bytes) -> InvalidInput:
    """Return the error for a CSV file that is not UTF-8 text, naming what it is instead."""
    # A zip archive (.xlsx, .ods) or an OLE2 compound file (.xls) renamed to .csv.
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return InvalidInput.from_template(
            N_('campaign file "{path}" is a spreadsheet workbook with a .csv name; open it in the '
               'spreadsheet program and save the sheet as "CSV UTF-8 (comma delimited)"'),
            path=str(path),
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode Text" is UTF-16 with tabs between the columns.
        return InvalidInput.from_template(
            N_('campaign file "{path}" is UTF-16 text, which Excel saves as "Unicode Text"; '
               'save it again as "CSV UTF-8 (comma delimited)"'),
            path=str(path),
        )
    if _looks_like_utf16(data):
        return InvalidInput.from_template(
            N_('campaign file "{path}" is not UTF-8 text: it has NUL bytes between its letters, as '
               'UTF-16 text has; save it again as "CSV UTF-8 (comma delimited)"'),
            path=str(path),
        )
    if _looks_like_gb18030(data):
        return InvalidInput.from_template(
            N_('campaign file "{path}" is not UTF-8 text (Excel on Chinese Windows saves GB18030); '
               'save it again as "CSV UTF-8 (comma delimited)"'),
            path=str(path),
        )
    if _looks_like_windows_1252(data):
        return InvalidInput.from_template(
            N_('campaign file "{path}" is not UTF-8 text but looks like Windows-1252 or Latin-1 '
               '(Western European) text; save it again as "CSV UTF-8 (comma delimited)"'),
            path=str(path),
        )  # fmt: skip
    return InvalidInput.from_template(
        N_('campaign file "{path}" is not UTF-8 text; save it again as "CSV UTF-8 (comma delimited)"'),
        path=str(path),
    )


def _looks_like_gb18030(data: bytes) -> bool:
    """Tell whether ``data`` decodes as GB18030 text with Chinese characters, most of them
    from GB2312, the set of common characters.

    Text in Windows-1252 often decodes as GB18030 too, because an accented letter and the
    ASCII letter after it ("è" and "m") form a valid pair. Such pairs have a second byte
    below 0xA1, which gives characters outside GB2312. NOTE: Korean text in EUC-KR uses the
    same byte ranges as GB2312 and passes too.
    """
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    ideographs = [character for character in text if "\u4e00" <= character <= "\u9fff"]
    common = [character for character in ideographs if _in_gb2312(character)]
    return bool(ideographs) and len(common) >= 0.8 * len(ideographs)


def _in_gb2312(character: str) -> bool:
    try:
        character.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _looks_like_windows_1252(data: bytes) -> bool:
    """Tell whether ``data`` looks like Windows-1252 or Latin-1 text: most of its non-ASCII
    bytes stand alone between ASCII bytes.

    These encodings take one byte for an accented letter, which mostly sits between ASCII
    letters ("Crème"). The encodings of Chinese, Japanese and Korean take two or more bytes
    for each of their characters, and their texts put many of them in a row.
    """
    high = [index for index, byte in enumerate(data) if byte >= 0x80]
    alone = [
        index for index in high
        if (index == 0 or data[index - 1] < 0x80) and (index + 1 == len(data) or data[index + 1] < 0x80)
    ]  # fmt: skip
    return bool(high) and len(alone) >= 0.8 * len(high)


def _is_blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def _named_columns(path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> list[int]:
    """Return the indexes of the header's named columns.

    Raises:
        InvalidInput: if a column without a name has a value in some row.
    """
    for index, name in enumerate(header):
        if name:
            continue
        filled = next((number for number, record in rows if index < len(record) and record[index].strip()), None)
        if filled is not None:
            raise InvalidInput.from_template(
                N_('campaign file "{path}": column {number} ({letter} in a spreadsheet) has no name '
                   "in the header, but row {row} has a value in it; write the column's name in the "
                   "header, or delete the values"),
                path=str(path),
                number=index + 1,
                letter=_column_letter(index),
                row=filled,
            )  # fmt: skip
    return [index for index, name in enumerate(header) if name]


def _column_letter(index: int) -> str:
    # Spreadsheet column names: A to Z, then AA, AB and so on.
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _quoted_column(name: str) -> str:
    # Quoted, so that a name with a space reads as one, and with invisible characters escaped.
    shown = "".join(
        character if character.isprintable() else character.encode("unicode_escape").decode("ascii")
        for character in name
    )
    return f'"{shown}"'


def _check_header(path: Path, header: list[str], columns: list[int]) -> None:
    """Raise ``InvalidInput`` for a repeated, missing or unknown column, or another separator."""
    names = [header[index] for index in columns]
    # A dict of the row's cells would keep the last of two cells under the same column
    # name, so a repeated column would silently drop a value.
    repeated = sorted(column for column, count in Counter(names).items() if count > 1)
    if repeated:
        raise InvalidInput.from_template(
            N_('campaign file "{path}": the header lists these columns more than once: {names}; '
               "keep one column of each name"),
            path=str(path),
            names=", ".join(_quoted_column(column) for column in repeated),
        )  # fmt: skip
    if len(names) == 1:
        # Spreadsheet programs in many European locales save "CSV" with semicolons.
        for separator, template in (
            (";", N_('campaign file "{path}" separates its columns with semicolons, but a campaign CSV '
                     'file uses commas; save it again as "CSV UTF-8 (comma delimited)"')),
            ("\t", N_('campaign file "{path}" separates its columns with tabs, but a campaign CSV '
                      'file uses commas; save it again as "CSV UTF-8 (comma delimited)"')),
        ):  # fmt: skip
            if separator in names[0]:
                raise InvalidInput.from_template(template, path=str(path))
    known = CSV_COLUMNS | CSV_OPTIONAL_COLUMNS
    for name in names:
        # Chinese input methods type the full-width comma, which is not a CSV separator.
        if "，" in name and any(part.strip() in known for part in name.split("，")):
            raise InvalidInput.from_template(
                N_('campaign file "{path}": the header column {column} contains full-width commas (，); '
                   "separate the columns with ASCII commas (,)"),
                path=str(path),
                column=_quoted_column(shorten(name)),
            )  # fmt: skip
    missing = sorted(CSV_COLUMNS - set(names))
    unknown = sorted(set(names) - CSV_COLUMNS - CSV_OPTIONAL_COLUMNS)
    if missing or unknown:
        wrong = [Message(N_("missing {columns}"), {"columns": ", ".join(map(_quoted_column, missing))})] if missing else []
        wrong += [Message(N_("unknown {columns}"), {"columns": ", ".join(map(_quoted_column, unknown))})] if unknown else []
        for column in unknown:
            close = closest(column, sorted(CSV_COLUMNS | CSV_OPTIONAL_COLUMNS))
            if close is not None:
                wrong.append(Message(N_("{column} is probably {known}"),
                                     {"column": _quoted_column(column), "known": _quoted_column(close)}))  # fmt: skip
        raise InvalidInput.from_template(
            N_('campaign file "{path}" has the wrong columns: {wrong}. The columns are {columns} '
               "and optionally {optional}"),
            path=str(path),
            wrong=Message("{items}", {"items": wrong}),
            columns=", ".join(sorted(CSV_COLUMNS)),
            optional=", ".join(sorted(CSV_OPTIONAL_COLUMNS)),
        )  # fmt: skip


def _check_row_lengths(
    path: Path, header: list[str], columns: list[int], rows: list[tuple[int, list[str]]]
) -> None:
    """Raise ``InvalidInput`` for rows with more filled cells than the header has columns, or
    without a cell for one of its named columns."""
    overfull = [number for number, record in rows if not _is_blank(record[len(header):])]
    if overfull:
        raise InvalidInput.from_template(
            N_('campaign file "{path}": {rows} more cells than the header has columns; quote values '
               "that contain commas"),
            path=str(path),
            rows=_rows_phrase(overfull),
        )  # fmt: skip
    short = [(number, record) for number, record in rows if len(record) <= columns[-1]]
    if short:
        hint = Message(N_("add the missing commas, with nothing between them for an empty cell"))
        last_cell = short[-1][1][-1:]
        if last_cell and "\n" in last_cell[0] and "," in last_cell[0]:
            # An unclosed quote makes the rest of the file one cell of this row.
            hint = Message(
                N_("a cell of that row runs over several lines and commas, which usually means a "
                   'quote (") that is never closed; close it')
            )  # fmt: skip
        raise InvalidInput.from_template(
            N_('campaign file "{path}": {rows} fewer cells than the header has columns; {hint}'),
            path=str(path),
            rows=_rows_phrase([number for number, _ in short]),
            hint=hint,
        )


def _rows_phrase(rows: list[int]) -> Message:
    # Row numbers count the header as row 1, as spreadsheet programs do.
    if len(rows) == 1:
        return Message(N_("row {row} has"), {"row": rows[0]})
    shown = ", ".join(map(str, rows[:20]))
    if len(rows) > 20:
        return Message(N_("rows {rows} and {count} more have"), {"rows": shown, "count": len(rows) - 20})
    return Message(N_("rows {rows} have"), {"rows": shown})


def _split_list(value: str | None) -> list[str]:
    # Chinese and Japanese input methods type the full-width semicolon "；".
    return [item.strip() for item in re.split("[;；]", value or "") if item.strip()]


def _segment_key(name: str) -> str:
    """Make the key of a CSV segment from its name.

    The name's Latin letters and digits make the key ("Day trippers" is day-trippers,
    "Café" is cafe). A name with other letters or digits ("老客户", "VIP 老客户"), or with
    none, also gets the first 8 hex digits of the SHA-256 of its normalised text
    (segment-68897fd8, vip-ed6bc678), so that a different name never gets the same key.
    Names that differ only in case, width, spacing or punctuation share a key.
    """
    normalised = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    decomposed = unicodedata.normalize("NFKD", normalised)
    folded = "".join(character for character in decomposed if not unicodedata.combining(character))
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    dropped_letters = any(character.isalnum() and not character.isascii() for character in folded)
    if slug and not dropped_letters:
        return slug[:100]
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:8]
    return f"{slug[:91].rstrip('-') or 'segment'}-{digest}"


def _csv_row_to_campaign(row: dict[str, str | None]) -> dict[str, Any]:
    def cell(column: str) -> str | None:
        value = (row.get(column) or "").strip()
        return value or None

    segment_names = _split_list(row.get("segments"))
    campaign: dict[str, Any] = {
        "key": cell("key"),
        "brand": cell("brand"),
        "name": cell("name"),
        "goal": cell("goal"),
        "call_to_action": cell("call_to_action"),
        "product": {
            "name": cell("product_name"),
            "description": cell("product_description") or "",
            "features": _split_list(row.get("features")),
            "price": cell("price"),
            "url": cell("url"),
            "offer": cell("offer"),
        },
        "segments": [{"key": _segment_key(name), "name": name} for name in segment_names],
        "channels": _split_list(row.get("channels")),
        "variants": cell("variants") or 1,
        "locale": cell("locale"),
    }
    generation = {
        field: cell(field)
        for field in ("temperature", "top_p", "max_new_tokens", "seed")
        if cell(field) is not None
    }
    if generation:
        campaign["generation"] = generation
    return campaign


def _describe(path: Path, data: Any, detail: dict[str, Any], csv_rows: list[int] | None) -> CampaignProblem:
    """Locate one problem. ``csv_rows`` has the row number of each campaign of a CSV file."""
    location = list(detail["loc"])
    kind = key = row = None
    keyless = False
    # A problem of a brand or campaign's field names the brand or campaign. A problem of the
    # item itself ("- null") is named by its place in the list, "campaigns[1]".
    if len(location) > 2 and location[0] in ("campaigns", "brands") and isinstance(location[1], int):
        kind = location[0][:-1]
        index = location[1]
        key = _key_at(data, location[0], index)
        keyless = key is None
        key = f"#{index + 1}" if key is None else key
        if csv_rows is not None:
            row = csv_rows[index]
        location = location[2:]

    if path.suffix.lower() == ".csv":
        location = _csv_column(location)
    field = ""
    for part in location:
        if isinstance(part, int):
            field += f"[{part}]"
        elif field:
            field += f".{part}"
        else:
            field = str(part)
    message = _problem_message(detail, csv=path.suffix.lower() == ".csv")
    return CampaignProblem(str(path), kind, key, row, field or "file", message, keyless)


# Messages for pydantic's own error types, with the ``ctx`` values they name.
_TYPE_MESSAGES = {
    "missing": (N_("is required"), ()),
    "extra_forbidden": (N_("is not a known field; check its spelling"), ()),
    "model_type": (N_("must be a mapping of fields (key: value lines), not a single value"), ()),
    "dict_type": (N_("must be a mapping of keys to values (key: value lines)"), ()),
    "list_type": (N_('must be a list; write one "- " line per item'), ()),
    "string_type": (N_("must be text"), ()),
    "int_type": (N_("must be a whole number such as 3"), ()),
    "int_parsing": (N_("must be a whole number such as 3"), ()),
    "int_from_float": (N_("must be a whole number such as 3"), ()),
    "float_type": (N_("must be a number such as 0.7"), ()),
    "float_parsing": (N_("must be a number such as 0.7"), ()),
    "finite_number": (N_("must be a finite number"), ()),
    "greater_than": (N_("must be greater than {gt}"), ("gt",)),
    "greater_than_equal": (N_("must be {ge} or more"), ("ge",)),
    "less_than": (N_("must be less than {lt}"), ("lt",)),
    "less_than_equal": (N_("must be {le} or less"), ("le",)),
    "string_too_long": (N_("must be at most {max_length} characters long"), ("max_length",)),
    "too_long": (N_("must have at most {max_length} items"), ("max_length",)),
    "literal_error": (N_("must be one of: {expected}"), ("expected",)),
}


def _problem_message(detail: dict[str, Any], csv: bool) -> Message:
    """Describe one pydantic error (or a problem found before validation) for the file's author."""
    kind = detail["type"]
    value = detail.get("input", "")
    error = (detail.get("ctx") or {}).get("error")
    if "message" in detail:
        return detail["message"]
    if isinstance(error, MessageValueError):
        return error.message
    if kind == "string_type" and isinstance(value, date | datetime):
        return Message(N_('YAML read {value} as a date; quote it ("{value}") to keep it as text'), {"value": value})
    if kind == "string_type" and isinstance(value, bool):
        template = (
            N_('YAML read this value as true (it reads true, yes or on that way); quote it, e.g. "yes", to keep it as text')
            if value
            else N_('YAML read this value as false (it reads false, no or off that way); quote it, e.g. "no", to keep it as text')
        )  # fmt: skip
        return Message(template)
    if kind == "string_type" and isinstance(value, int | float):
        return Message(N_('YAML read {value} as a number; quote it ("{value}") to keep it as text'),
                       {"value": _written(value)})  # fmt: skip
    if kind == "string_pattern_mismatch":
        return Message(N_('"{value}" is not a valid key; {hint}'), {"value": value, "hint": Message(KEY_HINT)})
    if value is None and "input" in detail and isinstance(detail["loc"][-1], int):
        return Message(N_('is an empty list item (a "-" with nothing after it, or null); give it a value or remove it'))
    if kind == "string_type" and value is None:
        if csv:
            return Message(N_("is empty; fill in this column"))
        return Message(N_("is empty (a key with nothing after the colon is null in YAML); give it a value"))
    if kind == "list_type" and isinstance(value, str):
        if "\n" in value or len(value) > 40:
            return Message(N_('must be a list, not one text; write one "- " line per item'))
        quoted = json.dumps(value, ensure_ascii=False)
        return Message(N_('must be a list, not the single value {value}; write [{value}] or one "- " line per item'),
                       {"value": quoted})  # fmt: skip
    if kind == "list_type" and isinstance(value, dict):
        return Message(N_('must be a list; start each item with "- " on its own line'))
    if kind == "list_type" and value is None:
        return Message(N_("is empty; give it a list of values, or leave the key out"))
    if kind in ("int_parsing", "int_type") and not str(value or "").strip():
        return Message(N_("is empty; give a whole number, or leave the key out"))
    if kind in ("float_parsing", "float_type") and not str(value or "").strip():
        return Message(N_("is empty; give a number, or leave the key out"))
    if kind == "float_parsing" and isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+,\d+\s*", value):
        return Message(N_('"{value}" has a decimal comma; write a decimal point, e.g. {number}'),
                       {"value": value.strip(), "number": value.strip().replace(",", ".")})  # fmt: skip
    if kind == "string_too_short" and not str(value or "").strip():
        return Message(N_("is empty; give it a value"))
    if kind == "too_short" and not value:
        return Message(N_("is empty; fill in this column")) if csv else Message(N_("is empty; give at least one"))
    if kind == "extra_forbidden":
        location = detail["loc"]
        close = closest(str(location[-1]), _field_names(location[:-1]))
        if close is not None:
            return Message(N_("is not a known field; did you mean {field}?"), {"field": close})
        if len(location) == 1 and not csv and str(location[0]).startswith("X-"):
            # "x-" is matched in lowercase only, as Docker Compose and OpenAPI match it.
            return Message(
                N_('is not a known field. A top-level key that only defines an anchor (&name) for aliases '
                   'must start with "x-" in lowercase; write {key}'),
                {"key": "x-" + str(location[0])[2:]},
            )  # fmt: skip
        if len(location) == 1 and not csv:
            return Message(
                N_('is not a known field; check its spelling. A top-level key that only defines an anchor '
                   '(&name) for aliases must start with "x-", e.g. x-{key}'),
                {"key": location[0]},
            )  # fmt: skip

    if kind in _TYPE_MESSAGES:
        template, names = _TYPE_MESSAGES[kind]
        context = detail.get("ctx") or {}
        message = Message(template, {name: _bound(context.get(name, "?")) for name in names})
    else:
        # pydantic's own English text, for a type that contentgen has no message for.
        message = Message("{text}", {"text": detail["msg"].removeprefix("Value error, ")})
    shows_value = '"' in str(message) or kind in ("missing", "extra_forbidden")
    if "input" in detail and not isinstance(value, dict | list) and not shows_value:
        shown = _shown(_shorten(value) if isinstance(value, str) else value)
        message = Message(N_("{message} (got {value})"), {"message": message, "value": shown})
    return message


def _field_names(location: Sequence[str | int]) -> list[str]:
    """Return the field names of the campaign file's part at ``location``, e.g. a campaign's
    at ("campaigns", 0), or none where no model of fields is."""
    model: type[BaseModel] | None = CampaignFile
    for part in location:
        if isinstance(part, int):  # an item of a list
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    # The model that a field holds, also inside list[...] or ... | None.
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        model = _model_of(argument)
        if model is not None:
            return model
    return None


def _bound(value: Any) -> str:
    # A limit from pydantic's context: 2.0 reads as 2, and a literal's choices
    # ("'all' or 'unapproved'") as a list.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.startswith("'"):
        return ", ".join(re.findall(r"'([^']*)'", value))
    return str(value)


def _shown(value: Any) -> str:
    # Values as the file writes them: text in quotes, YAML's true/false/null, numbers as is.
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _written(value)
    return str(value)


def _shorten(text: str, limit: int = 100) -> str:
    """Cut a value quoted in a message, which may be megabytes long, to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The CSV column behind each campaign field, so errors name the column.
_CSV_FIELDS = {
    ("product", "name"): "product_name",
    ("product", "description"): "product_description",
    ("product", "features"): "features",
    ("product", "price"): "price",
    ("product", "url"): "url",
    ("product", "offer"): "offer",
}


def _csv_column(location: list[Any]) -> list[Any]:
    if tuple(location[:2]) in _CSV_FIELDS:
        return [_CSV_FIELDS[tuple(location[:2])], *location[2:]]
    if location and location[0] == "segments":
        return ["segments", *location[1:2]]
    if location and location[0] == "generation":
        return location[1:]
    return location


def _key_at(data: Any, section: str, index: int) -> str | None:
    """Return the key of a brand or campaign in unvalidated ``data``, or None when it has none."""
    try:
        key = data[section][index].get("key")
    except (KeyError, IndexError, TypeError, AttributeError):
        key = None
    return None if key is None or key == "" else str(key)


def import_campaign_file(session: Session, path: Path, parsed: CampaignFile) -> list[Campaign]:
    """Create or update the file's brands and campaigns; the caller commits.

    Raises:
        InvalidInput: if a campaign names a brand that is neither in the file nor imported.
    """
    problems = undefined_brands(
        path, parsed, lambda keys: set(session.scalars(select(Brand.key).where(Brand.key.in_(keys))))
    )
    if problems:
        raise InvalidCampaignFile(problems)

    for brand_spec in parsed.brands:
        _upsert_brand(session, brand_spec)
    session.flush()
    specs = parsed.campaigns
    if parsed._csv_columns is not None:
        specs = [with_stored_fields(session, spec, parsed._csv_columns) for spec in specs]
    campaigns = [_upsert_campaign(session, spec) for spec in specs]
    session.flush()
    logger.info(
        "imported %d brands and %d campaigns from %s",
        len(parsed.brands), len(campaigns), path,
    )  # fmt: skip
    return campaigns


# Optional CSV columns and where their values live in a campaign's spec.
CSV_OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "features": ("product", "features"),
    "price": ("product", "price"),
    "url": ("product", "url"),
    "variants": ("variants",),
    "name": ("name",),
    "goal": ("goal",),
    "call_to_action": ("call_to_action",),
    "offer": ("product", "offer"),
    "temperature": ("generation", "temperature"),
    "top_p": ("generation", "top_p"),
    "max_new_tokens": ("generation", "max_new_tokens"),
    "seed": ("generation", "seed"),
}


def with_stored_fields(session: Session, spec: CampaignSpec, columns: frozenset[str]) -> CampaignSpec:
    """Fill in the fields a CSV row lacks from the stored campaign of the same key.

    A CSV row has no schedule, no segment keys or descriptions, and maybe not every
    optional column. Re-importing a row to change a price must not drop the campaign's
    schedule or rename its segments (``refresh: unapproved`` finds earlier slots by segment
    key), so those come from the stored campaign: the schedule, each segment whose name
    matches a stored one, and the fields of optional columns the file leaves out.
    """
    stored = session.scalars(select(Campaign.spec).where(Campaign.key == spec.key)).one_or_none()
    if not stored:
        return spec
    merged = spec.model_dump(mode="json")
    merged["schedule"] = stored.get("schedule")
    stored_segments = {segment["name"]: segment for segment in stored.get("segments", [])}
    kept = [stored_segments.get(segment["name"]) for segment in merged["segments"]]
    # A new segment's key, made from its name or position, may be one a kept segment has.
    taken = {segment["key"] for segment in kept if segment is not None}
    segments = []
    for segment, stored_segment in zip(merged["segments"], kept, strict=True):
        if stored_segment is None:
            segment = {**segment, "key": _free_key(segment["key"], taken)}
            taken.add(segment["key"])
        segments.append(stored_segment or segment)
    merged["segments"] = segments
    for column, (*parents, field) in CSV_OPTIONAL_FIELDS.items():
        if column in columns:
            continue
        source, target = stored, merged
        for parent in parents:
            source, target = source.get(parent) or {}, target[parent]
        if field in source:
            target[field] = source[field]
    return CampaignSpec.model_validate(merged)


def _free_key(key: str, taken: set[str]) -> str:
    candidate, number = key, 2
    while candidate in taken:
        candidate = f"{key[:95]}-{number}"
        number += 1
    return candidate


def _get_or_create(session: Session, model: type[Brand] | type[Campaign], key: str, **required):
    """Return the row with ``key``, inserting it first if missing.

    INSERT ... ON CONFLICT DO NOTHING lets concurrent imports of the same new key both
    succeed. A plain insert would fail the second one on the unique key.
    """
    dialect = session.get_bind().dialect.name
    insert_function = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert_function(model)
        .values(key=key, **required)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.scalars(select(model).where(model.key == key)).one()


def _upsert_brand(session: Session, spec: BrandSpec) -> Brand:
    brand = _get_or_create(
        session, Brand, spec.key, name=spec.name, voice="", banned_terms=[], required_terms=[],
        created_at=utcnow(), updated_at=utcnow(),
    )  # fmt: skip
    brand.name = spec.name
    brand.voice = spec.voice
    brand.banned_terms = list(spec.banned_terms)
    brand.required_terms = list(spec.required_terms)
    brand.claim_terms = list(spec.claim_terms)
    brand.disabled_rule_packs = list(spec.disabled_rule_packs)
    brand.channel_limits = dict(spec.channel_limits)
    return brand


def _upsert_campaign(session: Session, spec: CampaignSpec) -> Campaign:
    brand = session.scalars(select(Brand).where(Brand.key == spec.brand)).one()
    # A new row starts with an empty spec, so the schedule below counts as changed.
    campaign = _get_or_create(
        session, Campaign, spec.key, brand_id=brand.id, name=spec.display_name, spec={},
        created_at=utcnow(), updated_at=utcnow(),
    )  # fmt: skip
    campaign.brand = brand
    campaign.name = spec.display_name
    previous = (campaign.spec or {}).get("schedule") or {}
    campaign.spec = spec.model_dump(mode="json", exclude={"key", "brand"})
    current = campaign.spec["schedule"] or {}
    # A new or changed cron or zone starts counting now: slots before the import are never
    # due, so importing a campaign does not run its past nights.
    if slot_fields(previous) != slot_fields(current):
        campaign.schedule_since = utcnow() if current else None
    # A schedule that an import removes or adds is a new schedule when it comes back, so it
    # does not inherit the pause of the old one. A changed cron or zone keeps the pause.
    if not previous or not current:
        campaign.schedule_paused = False
    return campaign


def slot_fields(schedule: dict[str, Any]) -> tuple[Any, Any]:
    """Return the fields of a stored schedule that decide its slots: cron and time zone."""
    return schedule.get("cron"), schedule.get("timezone")


def campaign_spec(campaign: Campaign) -> CampaignSpec:
    """Rebuild the validated spec of a stored campaign."""
    return CampaignSpec.model_validate(
        {**campaign.spec, "key": campaign.key, "brand": campaign.brand.key}, context={"stored": True}
    )
