"""Warnings about stored fields that importing a YAML campaign file clears.

A YAML file is the source of truth for the brands and campaigns it defines: importing it
replaces each of them whole, so a field that the file leaves out goes back to its default
(empty for most fields). That is by design, but a file that lists only a brand's key, name
and channel limits would otherwise clear its banned terms without a word, so the import
names each such field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from contentgen.campaigns import CampaignFile, CampaignSpec, with_stored_fields
from contentgen.i18n import N_, Message
from contentgen.models import Batch, Brand, Campaign

# The values that count as cleared.
EMPTY = (None, "", [], {})

# Each warning as a dry run or an import gives it, and in the past tense as the batch that
# the import created shows it afterwards.
_LEFT_OUT_CLEARED = (N_("this import clears {fields}, which the file leaves out"),
                    N_("the import cleared {fields}, which the file left out"))  # fmt: skip
_LEFT_OUT_RESET_ONE = (
    N_("this import resets {field} to its default ({value}), which the file leaves out"),
    N_("the import reset {field} to its default ({value}), which the file left out"),
)
_LEFT_OUT_RESET_MANY = (
    N_("this import resets {fields} to their defaults ({values}), which the file leaves out"),
    N_("the import reset {fields} to their defaults ({values}), which the file left out"),
)
_EMPTY_CELL_CLEARED = (N_("this import clears {fields}, whose cell the file leaves empty"),
                      N_("the import cleared {fields}, whose cell the file left empty"))  # fmt: skip
_EMPTY_CELLS_CLEARED = (N_("this import clears {fields}, whose cells the file leaves empty"),
                       N_("the import cleared {fields}, whose cells the file left empty"))  # fmt: skip
_EMPTY_CELL_RESET_ONE = (
    N_("this import resets {field} to its default ({value}), whose cell the file leaves empty"),
    N_("the import reset {field} to its default ({value}), whose cell the file left empty"),
)
_EMPTY_CELLS_RESET_MANY = (
    N_("this import resets {fields} to their defaults ({values}), whose cells the file leaves empty"),
    N_("the import reset {fields} to their defaults ({values}), whose cells the file left empty"),
)
_PAST_TENSE = dict((_LEFT_OUT_CLEARED, _LEFT_OUT_RESET_ONE, _LEFT_OUT_RESET_MANY, _EMPTY_CELL_CLEARED,
                    _EMPTY_CELLS_CLEARED, _EMPTY_CELL_RESET_ONE, _EMPTY_CELLS_RESET_MANY))  # fmt: skip


@dataclass(frozen=True)
class ClearedFields:
    """Fields of a stored brand or campaign that an import clears or resets to a default."""

    # The campaign file; None for warnings read back from a batch, which stores no path
    # (an uploaded file has only a temporary one).
    path: str | None
    # "brand" or "campaign".
    kind: str
    key: str
    text: Message

    @property
    def message(self) -> str:
        """The warning in English."""
        return str(self.text)

    def __str__(self) -> str:
        warning = f'{self.kind} "{self.key}": {self.message}'
        return warning if self.path is None else f"{self.path}: {warning}"


def to_stored(warnings: Iterable[ClearedFields]) -> list[dict[str, Any]]:
    """Convert warnings into the JSON list that ``Batch.import_warnings`` stores: one
    ``{"kind", "key", "message"}`` object each, with the message in ``Message.to_data``
    form, so that pages can show it in the reader's language."""
    return [
        {"kind": warning.kind, "key": warning.key, "message": warning.text.to_data()}
        for warning in warnings
    ]


def batch_warnings(batch: Batch) -> list[ClearedFields]:
    """Read the warnings that ``to_stored`` wrote into the batch, in the past tense because
    the import is done. A batch with null has none."""
    warnings = []
    for stored in batch.import_warnings or []:
        message = Message.from_data(stored["message"])
        past = Message(_PAST_TENSE.get(message.template, message.template), message.params)
        warnings.append(ClearedFields(None, stored["kind"], stored["key"], past))
    return warnings


def cleared_fields(session: Session, path: Path, parsed: CampaignFile) -> list[ClearedFields]:
    """List the stored fields that importing ``parsed`` clears because the file leaves them out.

    Call it before ``import_campaign_file``. A CSV file keeps the stored value of every field
    it has no column for, so its warnings name the stored values that its empty cells clear.
    """
    if parsed.csv_columns is not None:
        return _emptied_by_csv(session, path, parsed)
    warnings = []
    brands = _stored(session, Brand, [spec.key for spec in parsed.brands])
    for spec in parsed.brands:
        if spec.key in brands:
            warnings += _warnings(path, "brand", spec.key, list(_left_out(spec, _brand_fields(brands[spec.key]))))
    campaigns = _stored(session, Campaign, [spec.key for spec in parsed.campaigns])
    for spec in parsed.campaigns:
        if spec.key in campaigns:
            warnings += _warnings(path, "campaign", spec.key, list(_left_out(spec, campaigns[spec.key].spec)))
    return warnings


def _stored(session: Session, model: type[Brand] | type[Campaign], keys: list[str]) -> dict[str, Any]:
    if not keys:
        return {}
    return {row.key: row for row in session.scalars(select(model).where(model.key.in_(keys)))}


def _brand_fields(brand: Brand) -> dict[str, Any]:
    return {
        "name": brand.name,
        "voice": brand.voice,
        "banned_terms": brand.banned_terms,
        "required_terms": brand.required_terms,
        "claim_terms": brand.claim_terms,
        "disabled_rule_packs": brand.disabled_rule_packs,
        "channel_limits": brand.channel_limits,
    }


def _left_out(spec: BaseModel, stored: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield the dotted name and new value of each stored field that ``spec`` leaves out and
    that the import changes. A segment is compared with the stored segment of its key."""
    values = spec.model_dump(mode="json")
    for name in type(spec).model_fields:
        if name not in stored:
            continue
        value, old = getattr(spec, name), stored[name]
        if isinstance(value, BaseModel) and isinstance(old, dict):
            # A block given in part, or one left out whose default is not empty (generation).
            yield from _left_out(value, old, f"{prefix}{name}.")
        elif name not in spec.model_fields_set and values[name] != old:
            yield f"{prefix}{name}", values[name]
        elif isinstance(value, list) and isinstance(old, list) and all(isinstance(item, BaseModel) for item in value):
            stored_items = {item.get("key"): item for item in old if isinstance(item, dict)}
            for index, item in enumerate(value):
                if getattr(item, "key", None) in stored_items:
                    yield from _left_out(item, stored_items[item.key], f"{prefix}{name}[{index}].")


def _warnings(path: Path, kind: str, key: str, changes: list[tuple[str, Any]]) -> list[ClearedFields]:
    cleared = [name for name, value in changes if value in EMPTY]
    reset = [(name, value) for name, value in changes if value not in EMPTY]
    texts = []
    if cleared:
        texts.append(Message(_LEFT_OUT_CLEARED[0], {"fields": ", ".join(cleared)}))
    if reset:
        texts.append(_reset_message(reset, _LEFT_OUT_RESET_ONE[0], _LEFT_OUT_RESET_MANY[0]))
    return [ClearedFields(str(path), kind, key, text) for text in texts]


def _reset_message(reset: list[tuple[str, Any]], singular_template: str, plural_template: str) -> Message:
    """Return the warning that names the fields of ``reset`` and their defaults.

    One field fills ``singular_template`` ({field}, {value}), and several fill
    ``plural_template`` ({fields}, {values}).
    """
    values = [json.dumps(value, ensure_ascii=False) for _, value in reset]
    if len(reset) == 1:
        return Message(singular_template, {"field": reset[0][0], "value": values[0]})
    return Message(plural_template, {"fields": ", ".join(name for name, _ in reset), "values": ", ".join(values)})



def _emptied_by_csv(session: Session, path: Path, parsed: CampaignFile) -> list[ClearedFields]:
    """List the stored values that a CSV file's empty cells clear or reset to their defaults.

    An empty cell gives its field the default value, so a stored value that the import
    changes to the default is counted as reset by an empty cell. NOTE: a cell that contains
    the default value itself is counted too, and named as empty in the warning.
    """
    campaigns = _stored(session, Campaign, [spec.key for spec in parsed.campaigns])
    warnings = []
    for spec in parsed.campaigns:
        if spec.key not in campaigns:
            continue
        imported = with_stored_fields(session, spec, parsed.csv_columns)
        defaults = _defaults(imported).model_dump(mode="json")
        changes = list(_to_default(imported.model_dump(mode="json"), campaigns[spec.key].spec, defaults))
        cleared = [name for name, value in changes if value in EMPTY]
        reset = [(name, value) for name, value in changes if value not in EMPTY]
        if cleared:
            template = _EMPTY_CELL_CLEARED[0] if len(cleared) == 1 else _EMPTY_CELLS_CLEARED[0]
            text = Message(template, {"fields": ", ".join(cleared)})
            warnings.append(ClearedFields(str(path), "campaign", spec.key, text))
        if reset:
            text = _reset_message(reset, _EMPTY_CELL_RESET_ONE[0], _EMPTY_CELLS_RESET_MANY[0])
            warnings.append(ClearedFields(str(path), "campaign", spec.key, text))
    return warnings


# The fields that ``_defaults`` copies from the imported campaign, which have no default.
COPIED = frozenset({"key", "brand", "product.name", "segments", "channels"})


def _defaults(spec: CampaignSpec) -> CampaignSpec:
    """Return a campaign with the required fields of ``spec`` and every other field at its default."""
    product = {"name": spec.product.name}
    segments = [segment.model_dump(mode="json") for segment in spec.segments]
    return CampaignSpec.model_validate({"key": spec.key, "brand": spec.brand, "product": product,
                                        "segments": segments, "channels": spec.channels})  # fmt: skip


def _to_default(
    imported: dict[str, Any], stored: dict[str, Any], defaults: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """Yield the dotted name and new value of each stored value that the import changes to
    the field's default (for most fields, empty)."""
    for name, old in stored.items():
        new, default = imported.get(name), defaults.get(name)
        path = f"{prefix}{name}"
        if isinstance(old, dict) and isinstance(new, dict):
            yield from _to_default(new, old, default if isinstance(default, dict) else {}, f"{prefix}{name}.")
        elif new != old and old not in EMPTY and (new in EMPTY or (new == default and path not in COPIED)):
            yield path, new
