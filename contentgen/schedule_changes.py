"""Notes that an import prints for each schedule it sets or changes: when it takes effect.

An import that sets a campaign's cron or time zone starts the schedule at the import, so
slots before it never run. Slots up to the campaign's newest recorded slot do not run
either, and ``run-due --now`` ahead of the clock can record slots days ahead. A paused
schedule stays paused when its cron changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contentgen.campaigns import ScheduleSpec, slot_fields
from contentgen.models import Campaign, ScheduleRun, stored_utc
from contentgen.schedules import next_slot


@dataclass(frozen=True)
class ScheduleChange:
    """A stored campaign whose cron or time zone an import set or changed."""

    key: str
    schedule: ScheduleSpec
    paused: bool
    # When the import started the schedule.
    since: datetime
    # The campaign's newest recorded slot when it lies after ``since``: the new schedule's
    # slots up to it do not run. None otherwise.
    recorded_until: datetime | None
    # None while paused, or when the cron never fires again.
    first_slot: datetime | None

    def __str__(self) -> str:
        schedule = f'Schedule of {self.key} is now "{self.schedule.cron}" in {self.schedule.timezone}.'
        if self.paused:
            return (
                f"{schedule} It is paused, so it runs from the time it is resumed with: "
                f"contentgen schedules resume {self.key}"
            )
        first = self._first_slot_text()
        if self.recorded_until is None:
            return (
                f"{schedule} It takes effect from the import "
                f"({self.since.isoformat(timespec='seconds')}), so earlier slots do not "
                f"run{first}."
            )
        return (
            f"{schedule} Slots are recorded up to {self._local(self.recorded_until)}, ahead of "
            f"the clock, so it takes effect after that{first}. To run its slots before then, "
            f"forget the recorded ones with: contentgen schedules forget {self.key}"
        )

    def _first_slot_text(self) -> str:
        if self.first_slot is None:
            return ", and it has no slot to come"
        return f"; its first slot is {self._local(self.first_slot)}"

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.schedule.timezone)).isoformat()


def stored_schedules(session: Session, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Return the stored schedule of each campaign among ``keys`` that exists, None for one
    without a schedule. Call it before the import."""
    rows = session.execute(select(Campaign.key, Campaign.spec).where(Campaign.key.in_(list(keys))))
    return {key: (spec or {}).get("schedule") for key, spec in rows}


def schedule_changes(
    session: Session, before: dict[str, dict[str, Any] | None], campaigns: Iterable[Campaign]
) -> list[ScheduleChange]:
    """List the imported ``campaigns`` whose cron or time zone differs from ``before``.

    Campaigns that ``before`` lacks are new, and a new campaign gets no note. Neither does
    a campaign whose schedule the import removed.
    """
    changes = []
    for campaign in campaigns:
        if campaign.key not in before:
            continue
        current = campaign.spec.get("schedule")
        if not current or slot_fields(before[campaign.key] or {}) == slot_fields(current):
            continue
        changes.append(_change(session, campaign, ScheduleSpec.model_validate(current)))
    return changes


def _change(session: Session, campaign: Campaign, schedule: ScheduleSpec) -> ScheduleChange:
    since = stored_utc(campaign.schedule_since)
    newest = stored_utc(
        session.scalar(
            select(func.max(ScheduleRun.slot_at)).where(ScheduleRun.campaign_id == campaign.id)
        )
    )
    recorded_until = newest if newest is not None and newest > since else None
    first_slot = None
    if not campaign.schedule_paused:
        first_slot = next_slot(schedule, recorded_until or since)
    return ScheduleChange(
        campaign.key, schedule, campaign.schedule_paused, since, recorded_until, first_slot
    )
