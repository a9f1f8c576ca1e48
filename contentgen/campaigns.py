"""Campaign files: parse, validate as a whole, and import brands and campaigns.

A file is YAML with ``brands`` and ``campaigns`` lists, or CSV with one campaign per row
(a flat product list for brands already imported). Nothing is written unless the whole
file is valid, and every error names the file, the campaign key and the field.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel import Locale, UnknownLocaleError
from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from contentgen.channels import CHANNELS, validate_channel_limits
from contentgen.errors import InvalidInput
from contentgen.models import Brand, Campaign
from contentgen.rules import RULE_PACKS

logger = logging.getLogger(__name__)

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

KEY_HINT = "use lowercase letters, digits, - and _ (at most 100 characters)"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BrandSpec(_Spec):
    key: Key
    name: Text
    voice: str = ""
    # Terms that must not appear (a draft with one is flagged) and terms that must.
    banned_terms: list[Term] = []
    required_terms: list[Term] = []
    # Claim words that need substantiation. A draft with one gets an advisory check.
    claim_terms: list[Term] = []
    # Built-in rule packs to switch off for this brand, by key (see contentgen.rules).
    disabled_rule_packs: list[str] = []
    # Channel key to length limit. A platform's limit can only be lowered.
    channel_limits: dict[str, int] = {}

    @field_validator("disabled_rule_packs")
    @classmethod
    def _known_rule_packs(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if key not in RULE_PACKS:
                raise ValueError(
                    f'"{key}" is not a known rule pack; use one of: {", ".join(RULE_PACKS)}'
                )
        return keys

    @field_validator("channel_limits")
    @classmethod
    def _allowed_channel_limits(cls, limits: dict[str, int]) -> dict[str, int]:
        validate_channel_limits(limits)
        return limits


class ProductSpec(_Spec):
    name: Text
    description: str = ""
    features: list[Text] = []
    price: str | None = None
    url: str | None = None
    offer: str | None = None

    @field_validator("price", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # YAML reads `price: 149` as a number; the prompt wants it as written.
        return str(value) if isinstance(value, int | float) else value


class SegmentSpec(_Spec):
    key: Key
    name: Text
    description: str = ""


class GenerationSpec(_Spec):
    # 0 means greedy decoding: variants then differ only through their prompts. The
    # default model, SmolLM2-135M, loses coherence above about 0.5.
    temperature: float = Field(default=0.3, ge=0, le=2)
    top_p: float = Field(default=0.9, gt=0, le=1)
    # None takes the channel's default.
    max_new_tokens: int | None = Field(default=None, ge=1, le=4096)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class ScheduleSpec(_Spec):
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f'"{value}" is not a valid cron expression; use five fields: '
                'minute hour day-of-month month day-of-week, e.g. "30 2 * * *"'
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'"{value}" is not an IANA time zone; use a name such as "Europe/Berlin"'
            ) from None
        return value


class CampaignSpec(_Spec):
    key: Key
    brand: Key
    name: str | None = None
    goal: str | None = None
    call_to_action: str | None = None
    product: ProductSpec
    segments: list[SegmentSpec] = Field(min_length=1)
    channels: list[str] = Field(min_length=1)
    variants: int = Field(default=1, ge=1, le=50)
    locale: str = "en-US"
    generation: GenerationSpec = GenerationSpec()
    schedule: ScheduleSpec | None = None

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, channels: list[str]) -> list[str]:
        for channel in channels:
            if channel not in CHANNELS:
                raise ValueError(
                    f'"{channel}" is not a known channel; use one of: {", ".join(CHANNELS)}'
                )
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice; list each channel once")
        return channels

    @field_validator("segments")
    @classmethod
    def _unique_segments(cls, segments: list[SegmentSpec]) -> list[SegmentSpec]:
        keys = [segment.key for segment in segments]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"segment keys must be unique; repeated: {', '.join(duplicates)}")
        return segments

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        language_name(value)
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.key


class CampaignFile(_Spec):
    brands: list[BrandSpec] = []
    campaigns: list[CampaignSpec] = []

    @model_validator(mode="after")
    def _unique_keys(self) -> CampaignFile:
        for kind, items in (("brand", self.brands), ("campaign", self.campaigns)):
            keys = [item.key for item in items]
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"{kind} keys must be unique; repeated: {', '.join(duplicates)}")
        return self


def language_name(locale: str) -> str:
    """Return the English name of a BCP 47 locale's language, e.g. "Chinese (Simplified)".

    Raises:
        ValueError: if Babel does not recognise the tag.
    """
    try:
        parsed = Locale.parse(locale, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(
            f'"{locale}" is not a known locale; use a BCP 47 tag such as en-US, zh-CN or de-DE'
        ) from None
    return Locale(parsed.language, script=parsed.script).get_display_name("en")


def load_campaign_file(path: Path) -> CampaignFile:
    """Read and validate a YAML or CSV campaign file without touching the database.

    Raises:
        InvalidInput: listing every problem, each with the file, campaign key and field.
    """
    if not path.is_file():
        raise InvalidInput(f'campaign file "{path}" not found; check the path')
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        data = _read_yaml(path)
    elif suffix == ".csv":
        data = _read_csv(path)
    else:
        raise InvalidInput(
            f'campaign file "{path}" has an unknown type "{suffix}"; use .yaml, .yml or .csv'
        )

    try:
        return CampaignFile.model_validate(data)
    except ValidationError as error:
        problems = [_describe(path, data, detail) for detail in error.errors()]
        raise InvalidInput(f'campaign file "{path}" is invalid; nothing was imported:', problems)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidInput(f'campaign file "{path}"{where}: malformed YAML: {problem}') from None
    except UnicodeDecodeError:
        raise InvalidInput(f'campaign file "{path}" is not UTF-8 text; save it as UTF-8') from None

    if data is None:
        raise InvalidInput(f'campaign file "{path}" is empty; add "brands" and "campaigns"')
    if not isinstance(data, dict):
        raise InvalidInput(
            f'campaign file "{path}": the top level must be a mapping with "brands" and '
            f'"campaigns", not a {type(data).__name__}'
        )
    return data


CSV_COLUMNS = {
    "key", "brand", "product_name", "product_description", "features", "price", "url",
    "segments", "channels", "variants", "locale",
}  # fmt: skip
CSV_OPTIONAL_COLUMNS = {
    "name", "goal", "call_to_action", "offer", "temperature", "top_p", "max_new_tokens", "seed",
}  # fmt: skip


def _read_csv(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            rows = list(reader)
    except UnicodeDecodeError:
        raise InvalidInput(f'campaign file "{path}" is not UTF-8 text; save it as UTF-8') from None

    missing = sorted(CSV_COLUMNS - columns)
    unknown = sorted(columns - CSV_COLUMNS - CSV_OPTIONAL_COLUMNS)
    if missing or unknown:
        raise InvalidInput(
            f'campaign file "{path}" has the wrong columns: '
            f"missing {', '.join(missing) or 'none'}, unknown {', '.join(unknown) or 'none'}; "
            f"the columns are {', '.join(sorted(CSV_COLUMNS))} "
            f"and optionally {', '.join(sorted(CSV_OPTIONAL_COLUMNS))}"
        )
    return {"campaigns": [_csv_row_to_campaign(row) for row in rows]}


def _split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(";") if item.strip()]


def _slug(name: str, position: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100]
    return slug or f"segment-{position}"


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
        "segments": [
            {"key": _slug(name, position), "name": name}
            for position, name in enumerate(segment_names, start=1)
        ],
        "channels": _split_list(row.get("channels")),
        "variants": cell("variants") or 1,
        "locale": cell("locale") or "en-US",
    }
    generation = {
        field: cell(field)
        for field in ("temperature", "top_p", "max_new_tokens", "seed")
        if cell(field) is not None
    }
    if generation:
        campaign["generation"] = generation
    return campaign


def _describe(path: Path, data: Any, detail: dict[str, Any]) -> str:
    location = list(detail["loc"])
    owner = ""
    if len(location) >= 2 and location[0] in ("campaigns", "brands") and isinstance(location[1], int):
        kind = location[0][:-1]
        index = location[1]
        owner = f'{kind} "{_key_at(data, location[0], index)}": '
        if path.suffix.lower() == ".csv":
            owner = f"row {index + 2}, {owner}"
        location = location[2:]

    field = ""
    for part in location:
        if isinstance(part, int):
            field += f"[{part}]"
        elif field:
            field += f".{part}"
        else:
            field = str(part)
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "string_pattern_mismatch":
        message = f'"{detail["input"]}" is not a valid key; {KEY_HINT}'
    elif detail["type"] == "extra_forbidden":
        message = "is not a known field; check its spelling"
    elif detail["type"] == "missing":
        message = "is required"
    elif "input" in detail and not isinstance(detail["input"], dict | list) and '"' not in message:
        message = f"{message} (got {detail['input']!r})"
    return f"{path}: {owner}{field or 'file'}: {message}"


def _key_at(data: Any, section: str, index: int) -> str:
    try:
        key = data[section][index].get("key")
    except (KeyError, IndexError, TypeError, AttributeError):
        key = None
    return str(key) if key else f"#{index + 1}"


def import_campaign_file(session: Session, path: Path, parsed: CampaignFile) -> list[Campaign]:
    """Create or update the file's brands and campaigns; the caller commits.

    Raises:
        InvalidInput: if a campaign names a brand that is neither in the file nor imported.
    """
    known_brands = {brand.key for brand in parsed.brands}
    referenced = {campaign.brand for campaign in parsed.campaigns} - known_brands
    stored = set(session.scalars(select(Brand.key).where(Brand.key.in_(referenced))))
    problems = [
        f'{path}: campaign "{campaign.key}": brand: "{campaign.brand}" is not defined; '
        'add it under "brands" in this file or import a file that defines it first'
        for campaign in parsed.campaigns
        if campaign.brand in referenced - stored
    ]
    if problems:
        raise InvalidInput(f'campaign file "{path}" is invalid; nothing was imported:', problems)

    for brand_spec in parsed.brands:
        _upsert_brand(session, brand_spec)
    session.flush()
    campaigns = [_upsert_campaign(session, spec) for spec in parsed.campaigns]
    session.flush()
    logger.info(
        "imported %d brands and %d campaigns from %s",
        len(parsed.brands), len(campaigns), path,
    )  # fmt: skip
    return campaigns


def _upsert_brand(session: Session, spec: BrandSpec) -> Brand:
    brand = session.scalars(select(Brand).where(Brand.key == spec.key)).one_or_none()
    if brand is None:
        brand = Brand(key=spec.key)
        session.add(brand)
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
    campaign = session.scalars(select(Campaign).where(Campaign.key == spec.key)).one_or_none()
    if campaign is None:
        campaign = Campaign(key=spec.key)
        session.add(campaign)
    campaign.brand = brand
    campaign.name = spec.display_name
    campaign.spec = spec.model_dump(mode="json", exclude={"key", "brand"})
    return campaign


def campaign_spec(campaign: Campaign) -> CampaignSpec:
    """Rebuild the validated spec of a stored campaign."""
    return CampaignSpec.model_validate(
        {**campaign.spec, "key": campaign.key, "brand": campaign.brand.key}
    )
