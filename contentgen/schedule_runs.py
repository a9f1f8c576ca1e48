"""Dispatching due schedule slots: exactly one batch per (campaign, slot), whoever dispatches.

Celery beat sends the dispatcher task every minute, and ``contentgen schedules run-due``
runs the same code by hand, so several dispatchers may run at once: two beat processes,
a redelivered task, an operator. For each campaign, one transaction inserts the
ScheduleRun rows of its due slots and creates their batches. The unique key on
(campaign_id, slot_at) lets only one such transaction commit. The others fail with an
IntegrityError, roll back, and leave nothing behind.

Under catch-up "latest", a campaign's older missed slots get one ``skipped`` row, at the
newest of them, instead of a row each. One row is enough because the dispatcher looks for
due slots only after the campaign's newest recorded slot. But two dispatchers can then
write rows with no slot in common, so the unique key alone no longer stops the second.
Each transaction therefore locks the campaign's row (on PostgreSQL), writes its rows
(on SQLite, the first write waits until any other writer has committed), and then counts
the campaign's rows in its interval. A transaction that finds rows it did not write
rolls back.

Chunks are sent after the commit. A run whose chunks could not be sent (broker down)
stays ``created``, and the next dispatch sends them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contentgen.batches import approved_slots, campaigns_by_key, create_batch, expand_slots
from contentgen.campaigns import ScheduleSpec, campaign_spec
from contentgen.db import session_scope
from contentgen.dispatch import run_inline, send_chunks
from contentgen.errors import InvalidInput
from contentgen.models import (
    Batch,
    BatchStatus,
    Campaign,
    ScheduleRun,
    ScheduleRunStatus,
    Trigger,
    stored_utc,
    utcnow,
)
from contentgen.schedules import count_slots, last_slots, next_slot, slots_between, to_utc
from contentgen.settings import get_settings

logger = logging.getLogger(__name__)

# Missed slots are counted for the output up to this many, a day of a cron that fires every
# minute. Counting reads every slot, and a long gap of a frequent cron has hundreds of
# thousands.
MAX_COUNTED_MISSED_SLOTS = 1440


@dataclass(frozen=True)
class SlotOutcome:
    """The result of one dispatch for one schedule slot of a campaign."""

    campaign: str
    slot_at: datetime
    status: ScheduleRunStatus
    batch_id: int | None = None
    request_count: int = 0
    detail: str | None = None
    # A skipped outcome can cover several missed slots, from ``first_slot_at`` to
    # ``slot_at``. ``slot_count`` is None when there are more than MAX_COUNTED_MISSED_SLOTS.
    first_slot_at: datetime | None = None
    slot_count: int | None = 1

    @property
    def first_slot(self) -> datetime:
        """The first slot that the outcome covers: ``first_slot_at``, or else ``slot_at``."""
        return self.first_slot_at or self.slot_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "slot_at": self.slot_at.isoformat(),
            "first_slot_at": self.first_slot.isoformat(),
            "slot_count": self.slot_count,
            "status": self.status.value,
            "batch_id": self.batch_id,
            "request_count": self.request_count,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _MissedSlots:
    first: datetime
    last: datetime
    # None when there are more than MAX_COUNTED_MISSED_SLOTS.
    count: int | None


@dataclass(frozen=True)
class _DueSlots:
    campaign_id: int
    campaign_key: str
    # Due slots lie after this instant: the schedule's start, the newest recorded slot or
    # the lookback bound, whichever is latest.
    start: datetime
    to_run: list[datetime]
    missed: list[_MissedSlots]


def schedule_batch_key(campaign_key: str, slot_at: datetime) -> str:
    """Return the idempotency key of the batch for one slot, e.g. ``schedule:k:…Z``."""
    return f"schedule:{campaign_key}:{to_utc(slot_at).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def schedule_of(campaign: Campaign) -> ScheduleSpec | None:
    """Return the campaign's validated schedule, or None when it has none or it is invalid.

    A schedule stored by an older version can fail today's validation (e.g. a cron that
    never matches a date); it is logged and left out so that it cannot stop the dispatch
    of every other campaign.
    """
    schedule = campaign.spec.get("schedule")
    if not schedule:
        return None
    try:
        return ScheduleSpec.model_validate(schedule)
    except ValidationError as error:
        logger.error(
            "campaign %s: stored schedule is invalid, so it does not run; fix the campaign "
            "file and import it again: %s",
            campaign.key, error,
        )  # fmt: skip
        return None


def run_due(
    now: datetime, dry_run: bool = False, clock: datetime | None = None
) -> list[SlotOutcome]:
    """Create a batch for every schedule slot due at ``now``; the chunks are not sent.

    A slot is due when it lies after the schedule started (``Campaign.schedule_since``),
    after the campaign's newest recorded slot, within ``schedule_lookback_hours`` of
    ``now``, and not after ``now``. With ``schedule_catch_up`` "latest", only the newest
    due slot gets a batch. The older ones are recorded as one skipped row at the newest
    of them, or as two when they lie on both sides of ``clock``.

    Args:
        now: the time to dispatch at, with a time zone.
        dry_run: record nothing. Each campaign's slots are recorded and their batches
            created in a transaction that is rolled back, so the outcomes (with no batch
            ids) are those a real dispatch at ``now`` would have.
        clock: the current time; default: read the clock. Missed slots up to it and
            after it are recorded apart, so that ``forget_runs``, which deletes the runs
            after the clock, keeps the record of the slots before it.

    Returns:
        One outcome per row this call recorded. Slots that another dispatcher recorded
        first are left out.

    Raises:
        ValueError: if ``now`` is naive.
    """
    now = to_utc(now)
    with session_scope() as session:
        due = _find_due_slots(session, now, clock)

    outcomes = []
    for campaign_due in due:
        outcomes.extend(_record(campaign_due, dry_run))
    return outcomes


def _find_due_slots(
    session: Session, now: datetime, clock: datetime | None = None
) -> list[_DueSlots]:
    settings = get_settings()
    clock = utcnow() if clock is None else to_utc(clock)
    lookback_start = now - timedelta(hours=settings.schedule_lookback_hours)
    newest_slots = _newest_slots(session)
    campaigns = session.scalars(
        select(Campaign)
        .where(Campaign.schedule_since.is_not(None), Campaign.schedule_paused.is_(False))
        .order_by(Campaign.key)
    )

    due = []
    for campaign in campaigns:
        schedule = schedule_of(campaign)
        if schedule is None:
            continue
        newest = stored_utc(newest_slots.get(campaign.id))
        start = max(
            moment
            for moment in (stored_utc(campaign.schedule_since), newest, lookback_start)
            if moment is not None
        )
        if settings.schedule_catch_up == "latest":
            newest = last_slots(schedule, start, now, 2)
            if not newest:
                continue
            missed = _missed_slots(schedule, start, newest[0], clock) if len(newest) == 2 else []
            due.append(_DueSlots(campaign.id, campaign.key, start, newest[-1:], missed))
        else:
            # NOTE: every due slot gets its batch in the campaign's one transaction. So after
            # a long gap, a frequent cron builds all those batches in one dispatch. A cron
            # that fires every minute can reach 527,040 with the maximum lookback.
            slots = slots_between(schedule, start, now)
            if slots:
                due.append(_DueSlots(campaign.id, campaign.key, start, slots, []))
    return due


def _missed_slots(
    schedule: ScheduleSpec, start: datetime, last: datetime, clock: datetime
) -> list[_MissedSlots]:
    """Describe the missed slots in (``start``, ``last``] as one range, or as two ranges
    split at ``clock`` when they lie on both sides of it."""
    bounds = [start, clock, last] if start < clock < last else [start, last]
    ranges = []
    for after, until in pairwise(bounds):
        newest = last_slots(schedule, after, until, 1)
        if not newest:
            continue
        first = next_slot(schedule, after)
        count = count_slots(schedule, after, newest[0], MAX_COUNTED_MISSED_SLOTS)
        ranges.append(_MissedSlots(first, newest[0], count))
    return ranges


def _newest_slots(session: Session) -> dict[int, datetime]:
    query = select(ScheduleRun.campaign_id, func.max(ScheduleRun.slot_at))
    return dict(session.execute(query.group_by(ScheduleRun.campaign_id)).all())


class _DryRunDone(Exception):
    """Raised to roll back a dry run's transaction, with the outcomes it would have recorded."""

    def __init__(self, outcomes: list[SlotOutcome]) -> None:
        super().__init__("dry run")
        self.outcomes = outcomes


class _RecordedElsewhere(Exception):
    """Raised to roll back a dispatch after another dispatcher recorded a slot of its interval."""


def _record(due: _DueSlots, dry_run: bool = False) -> list[SlotOutcome]:
    try:
        with session_scope() as session:
            # On PostgreSQL a second dispatcher of the campaign waits here until this
            # transaction ends. SQLAlchemy leaves FOR UPDATE out on SQLite.
            campaign = session.get(Campaign, due.campaign_id, with_for_update=True)
            if campaign is None or campaign.schedule_paused:
                return []
            latest = due.to_run[-1]
            outcomes = [_skip(session, campaign, missed, latest) for missed in due.missed]
            runs = [_add_run(session, campaign, slot_at) for slot_at in due.to_run]
            # Flushed now, so that a dispatcher that lost the race stops before rendering.
            session.flush()
            if _recorded_elsewhere(session, due, len(outcomes) + len(runs)):
                raise _RecordedElsewhere()
            outcomes.extend(_create_batch(session, campaign, run) for run in runs)
            if dry_run:
                raise _DryRunDone(outcomes)
    except _DryRunDone as done:
        # create_batch has logged "batch N created" by now; this line says it was undone.
        logger.info(
            "campaign %s: dry run, rolled back the runs of %d slots and their batches",
            due.campaign_key, len(done.outcomes),
        )  # fmt: skip
        return [replace(outcome, batch_id=None) for outcome in done.outcomes]
    except (IntegrityError, _RecordedElsewhere):
        logger.info(
            "campaign %s: the due slots after %s up to %s were already recorded by another "
            "dispatcher",
            due.campaign_key, due.start.isoformat(), due.to_run[-1].isoformat(),
        )  # fmt: skip
        return []
    for outcome in outcomes:
        _log(outcome)
    return outcomes


def _recorded_elsewhere(session: Session, due: _DueSlots, own_rows: int) -> bool:
    """Tell whether the campaign has more recorded slots after ``due.start`` than the
    ``own_rows`` that this transaction wrote."""
    recorded = session.scalar(
        select(func.count())
        .select_from(ScheduleRun)
        .where(ScheduleRun.campaign_id == due.campaign_id, ScheduleRun.slot_at > due.start)
    )
    return recorded > own_rows


def _skip(
    session: Session, campaign: Campaign, missed: _MissedSlots, latest: datetime
) -> SlotOutcome:
    detail = (
        f"missed, because with CONTENTGEN_SCHEDULE_CATCH_UP=latest only the latest due slot, "
        f"{latest.isoformat()}, runs"
    )
    # Only the last missed slot gets a row, so its detail names the others.
    stored_detail = detail
    if missed.count is None:
        stored_detail += (
            f". This row records every missed slot from {missed.first.isoformat()} to "
            f"{missed.last.isoformat()}, more than {MAX_COUNTED_MISSED_SLOTS}"
        )
    elif missed.count > 1:
        stored_detail += (
            f". This row records the {missed.count} missed slots from {missed.first.isoformat()} "
            f"to {missed.last.isoformat()}"
        )
    run = ScheduleRun(
        campaign_id=campaign.id,
        slot_at=missed.last,
        status=ScheduleRunStatus.SKIPPED,
        detail=stored_detail,
    )
    session.add(run)
    first = None if missed.first == missed.last else missed.first
    return SlotOutcome(
        campaign.key, missed.last, ScheduleRunStatus.SKIPPED, detail=detail, first_slot_at=first,
        slot_count=missed.count,
    )  # fmt: skip


def _add_run(session: Session, campaign: Campaign, slot_at: datetime) -> ScheduleRun:
    run = ScheduleRun(campaign_id=campaign.id, slot_at=slot_at, status=ScheduleRunStatus.CREATED)
    session.add(run)
    return run


def _create_batch(session: Session, campaign: Campaign, run: ScheduleRun) -> SlotOutcome:
    """Create the batch of a run that ``_add_run`` added, or record why it has none."""
    slot_at = stored_utc(run.slot_at)
    spec = campaign_spec(campaign)
    left_out = set()
    if spec.schedule is not None and spec.schedule.refresh == "unapproved":
        left_out = approved_slots(session, campaign)
        if left_out >= set(expand_slots(spec)):
            run.status = ScheduleRunStatus.SKIPPED
            run.detail = "every segment x channel x variant already has an approved draft"
            return SlotOutcome(campaign.key, slot_at, run.status, detail=run.detail)

    try:
        batch = create_batch(
            session,
            [campaign],
            idempotency_key=schedule_batch_key(campaign.key, slot_at),
            trigger=Trigger.SCHEDULE,
            skip_slots={campaign.id: left_out},
        )
    except InvalidInput as error:
        # Not retried: the same input would fail the same way on every dispatch. The next
        # slot tries again, after the campaign or templates are fixed.
        run.status = ScheduleRunStatus.FAILED
        run.detail = str(error)
        return SlotOutcome(campaign.key, slot_at, run.status, detail=run.detail)
    run.batch_id = batch.id
    return SlotOutcome(campaign.key, slot_at, run.status, batch.id, batch.request_count)


def _log(outcome: SlotOutcome) -> None:
    slot = outcome.slot_at.isoformat()
    if outcome.status == ScheduleRunStatus.FAILED:
        logger.error(
            "campaign %s slot %s: no batch created: %s", outcome.campaign, slot, outcome.detail
        )
    elif outcome.first_slot_at is not None:
        count = outcome.slot_count or f"more than {MAX_COUNTED_MISSED_SLOTS}"
        logger.info(
            "campaign %s: %s slots from %s to %s skipped: %s",
            outcome.campaign, count, outcome.first_slot_at.isoformat(), slot, outcome.detail,
        )  # fmt: skip
    elif outcome.batch_id is None:
        logger.info("campaign %s slot %s skipped: %s", outcome.campaign, slot, outcome.detail)
    else:
        logger.info(
            "campaign %s slot %s: batch %d created with %d requests",
            outcome.campaign, slot, outcome.batch_id, outcome.request_count,
        )  # fmt: skip


def send_created_runs() -> list[int]:
    """Send the chunks of every schedule batch whose run is still ``created``.

    Each run is locked while its chunks are sent (``SKIP LOCKED`` on PostgreSQL), so two
    dispatchers do not send the same batch. On SQLite both may, which is harmless because
    a chunk that runs twice skips the requests that already have drafts.

    Returns:
        The ids of the batches sent.

    Raises:
        InfrastructureError: if the broker is unreachable; the run that failed and all
            later ones stay ``created``.
    """
    batch_ids = []
    while (batch_id := send_next_created_run()) is not None:
        batch_ids.append(batch_id)
    return batch_ids


def send_next_created_run() -> int | None:
    """Send the chunks of the oldest schedule batch whose run is still ``created``, as
    ``send_created_runs`` does, and return its id, or None when no run is ``created``.

    Raises:
        BrokerUnreachable: if the broker is unreachable.
        InvalidInput: if the broker's URL or options are unusable.
        The run stays ``created`` after either.
    """
    return _hand_over_next_run(send=True)


def created_run_batch_ids(session: Session) -> list[int]:
    """Return the ids of the schedule batches whose chunks are not sent yet, oldest first."""
    query = select(ScheduleRun.batch_id).where(ScheduleRun.status == ScheduleRunStatus.CREATED)
    return list(session.scalars(query.order_by(ScheduleRun.id)))


def run_created_runs(run: Callable[[int], object] = run_inline) -> list[int]:
    """Run the chunks of every ``created`` schedule batch in this process (no broker), each
    with ``run``, which takes the batch id.

    NOTE: a run is marked ``dispatched`` before its chunks run here, so a process killed
    midway leaves pending requests that only ``contentgen batch resume ID --wait`` runs.

    Returns:
        The ids of the batches run.
    """
    batch_ids = []
    while (batch_id := _hand_over_next_run(send=False)) is not None:
        run(batch_id)
        batch_ids.append(batch_id)
    return batch_ids


def _hand_over_next_run(send: bool) -> int | None:
    with session_scope() as session:
        run = session.scalars(
            select(ScheduleRun)
            .where(ScheduleRun.status == ScheduleRunStatus.CREATED)
            .order_by(ScheduleRun.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if run is None:
            return None
        if send:
            send_chunks(run.batch_id)
        run.status = ScheduleRunStatus.DISPATCHED
        return run.batch_id


def pause_schedule(session: Session, campaign_key: str) -> bool:
    """Pause a campaign's schedule; returns False if it was paused already.

    Raises:
        NotFound: if no campaign has the key.
        InvalidInput: if the campaign has no schedule.
    """
    campaign = _scheduled_campaign(session, campaign_key)
    if campaign.schedule_paused:
        return False
    campaign.schedule_paused = True
    logger.info("campaign %s: schedule paused", campaign.key)
    return True


def resume_schedule(session: Session, campaign_key: str, now: datetime) -> bool:
    """Resume a paused schedule from ``now``; returns False if it was not paused.

    Slots missed while paused never run: the schedule starts again at ``now``.

    Raises:
        NotFound: if no campaign has the key.
        InvalidInput: if the campaign has no schedule.
    """
    campaign = _scheduled_campaign(session, campaign_key)
    if not campaign.schedule_paused:
        return False
    campaign.schedule_paused = False
    campaign.schedule_since = to_utc(now)
    logger.info("campaign %s: schedule resumed from %s", campaign.key, now.isoformat())
    return True


@dataclass(frozen=True)
class ForgottenRun:
    """A recorded schedule slot that ``forget_runs`` deleted."""

    slot_at: datetime
    status: ScheduleRunStatus
    batch_id: int | None = None
    # The batch's status at that moment; None for a slot without a batch.
    batch_status: BatchStatus | None = None


def forget_runs(
    session: Session, campaign_key: str, now: datetime, start: datetime | None = None
) -> list[ForgottenRun]:
    """Delete the recorded runs of a campaign's slots after ``now``, so that each slot runs
    when it is due.

    Such runs come from ``run-due --now`` with a time ahead of the clock. Slots up to
    ``now`` are left alone, since their runs record what really happened. A forgotten
    slot's batch stays as it is, but loses its idempotency key, because the key would
    stop the slot from creating a new batch when it is due.

    Args:
        now: the clock.
        start: forget only the slots from this instant on, and still none up to ``now``.
            Later slots go too: the newest recorded slot is where the dispatcher starts
            looking, so an earlier slot cannot run while a later one stays recorded.

    Returns:
        The forgotten runs, oldest first.

    Raises:
        NotFound: if no campaign has the key.
        InvalidInput: if the campaign has no schedule and never had a run recorded. The
            runs of a campaign whose schedule was removed can be forgotten, so that they do
            not hold back its slots when a schedule is added again.
    """
    now = to_utc(now)
    (campaign,) = campaigns_by_key(session, [campaign_key])
    first = now if start is None else to_utc(start)
    runs = session.scalars(
        select(ScheduleRun)
        .where(
            ScheduleRun.campaign_id == campaign.id,
            ScheduleRun.slot_at > now,
            ScheduleRun.slot_at >= first,
        )
        .order_by(ScheduleRun.slot_at)
        .with_for_update()
    ).all()
    if not runs and schedule_of(campaign) is None and not _has_runs(session, campaign):
        raise _no_schedule(campaign_key)

    forgotten = []
    for run in runs:
        batch = session.get(Batch, run.batch_id) if run.batch_id is not None else None
        if batch is not None:
            batch.idempotency_key = None
        forgotten.append(
            ForgottenRun(stored_utc(run.slot_at), run.status, run.batch_id, batch.status if batch else None)
        )
        session.delete(run)
    if forgotten:
        logger.info(
            "campaign %s: forgot %d recorded slots from %s to %s (batches %s)",
            campaign.key, len(forgotten), forgotten[0].slot_at.isoformat(),
            forgotten[-1].slot_at.isoformat(), [run.batch_id for run in forgotten if run.batch_id],
        )  # fmt: skip
    return forgotten


def _has_runs(session: Session, campaign: Campaign) -> bool:
    return session.scalar(select(ScheduleRun.id).where(ScheduleRun.campaign_id == campaign.id).limit(1)) is not None


def _scheduled_campaign(session: Session, campaign_key: str) -> Campaign:
    (campaign,) = campaigns_by_key(session, [campaign_key])
    if schedule_of(campaign) is None:
        raise _no_schedule(campaign_key)
    return campaign


def _no_schedule(campaign_key: str) -> InvalidInput:
    return InvalidInput(
        f'campaign "{campaign_key}" has no schedule; add a "schedule" block with a "cron" '
        'expression, and optionally a "timezone" (UTC if left out), to its file and import '
        "it again"
    )


def list_schedules(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Describe every scheduled campaign: cron, zone, pause state, next run and last run.

    The next run is the first slot after ``now``, after the schedule's start and after the
    newest recorded slot (which ``run-due --now`` may have put in the future), or None
    while paused. Times are given
    in the campaign's zone and in UTC.
    """
    now = to_utc(now)
    newest_slots = _newest_slots(session)
    items = []
    for campaign in session.scalars(
        select(Campaign).where(Campaign.schedule_since.is_not(None)).order_by(Campaign.key)
    ):
        schedule = schedule_of(campaign)
        if schedule is None:
            continue
        zone = ZoneInfo(schedule.timezone)
        newest = stored_utc(newest_slots.get(campaign.id))
        since = stored_utc(campaign.schedule_since)
        after = max(moment for moment in (now, newest, since) if moment is not None)
        upcoming = None if campaign.schedule_paused else next_slot(schedule, after)
        items.append(
            {
                "campaign": campaign.key,
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "refresh": schedule.refresh,
                "paused": campaign.schedule_paused,
                "next_run_local": upcoming.astimezone(zone).isoformat() if upcoming else None,
                "next_run_utc": upcoming.isoformat() if upcoming else None,
                "last_run": _last_run(session, campaign, zone),
            }
        )
    return items


def _last_run(session: Session, campaign: Campaign, zone: ZoneInfo) -> dict[str, Any] | None:
    run = session.scalars(
        select(ScheduleRun)
        .where(ScheduleRun.campaign_id == campaign.id)
        .order_by(ScheduleRun.slot_at.desc())
        .limit(1)
    ).first()
    if run is None:
        return None
    slot_at = stored_utc(run.slot_at)
    return {
        "slot_local": slot_at.astimezone(zone).isoformat(),
        "slot_utc": slot_at.isoformat(),
        "status": run.status.value,
        "batch_id": run.batch_id,
        "detail": run.detail,
    }
