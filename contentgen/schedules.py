"""Schedule slots: the instants at which a campaign's cron expression fires, in UTC.

The cron fields are read as wall-clock times in the campaign's IANA time zone. On the
days when daylight saving time starts or ends, the wall clock skips or repeats an hour,
and these rules make each wall-clock time of the cron expression fire once per date:

- A time that does not exist (02:30 on 2026-03-29 in Europe/Berlin, where clocks jump
  from 02:00 to 03:00) fires at the first instant after the gap: 03:00 local time.
  Several cron times inside the gap share that one slot.
- A time that happens twice (02:30 on 2026-10-25 in Europe/Berlin, where clocks go back
  from 03:00 to 02:00) fires once, at its first occurrence (02:30 CEST, 00:30 UTC). The
  second pass through the repeated hour fires nothing, even for a cron expression that
  runs every few minutes.

croniter is only ever given naive wall-clock times here. Given aware times, croniter 7.0.0
fires "30 2 * * *" twice on 2026-10-25 in Europe/Berlin, once for each pass through the
repeated hour.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from contentgen.campaigns import ScheduleSpec


def to_utc(moment: datetime) -> datetime:
    """Convert an aware datetime to UTC.

    Raises:
        ValueError: if ``moment`` is naive, because a naive time names no instant.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset")
    return moment.astimezone(UTC)


def slot_instant(wall_time: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at which a naive wall-clock time in ``zone`` fires.

    A time in a daylight-saving gap fires at the end of the gap; a repeated time fires at
    its first occurrence (``fold=0``).
    """
    first = wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall_time:
        return first
    return _gap_end(wall_time, zone)


def _gap_end(wall_time: datetime, zone: ZoneInfo) -> datetime:
    # For a time inside a gap, zoneinfo's fold=1 reading applies the offset after the
    # change and lands before the transition, and its fold=0 reading applies the offset
    # before the change and lands after it. The transition lies between the two, on a
    # whole second; bisection finds it in about 12 steps for a one-hour gap.
    before = wall_time.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


def iter_slots(schedule: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """Yield the schedule's slots strictly after ``after``, in UTC and ascending order.

    Raises:
        ValueError: if ``after`` is naive.
    """
    after = to_utc(after)
    zone = ZoneInfo(schedule.timezone)
    # slot_instant never decreases as the wall-clock time grows, so walking the wall
    # clock from the local reading of ``after`` meets every later slot in order. Only
    # inside a repeated hour can that reading map to an instant before ``after``.
    wall_times = croniter(schedule.cron, after.astimezone(zone).replace(tzinfo=None))
    previous = None
    while True:
        try:
            wall_time = wall_times.get_next(datetime)
        except CroniterBadDateError:
            return
        except (OverflowError, ValueError):
            # The next time is after the year 9999, where Python's datetime ends. croniter
            # 7.0.0 raises OverflowError or "ValueError: year 10000 is out of range" then.
            return
        instant = slot_instant(wall_time, zone)
        if instant <= after or instant == previous:
            continue
        previous = instant
        yield instant


def slots_between(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """Return the schedule's slots in the interval (``start``, ``end``], in UTC, ascending."""
    return list(_iter_slots_until(schedule, start, end))


def _iter_slots_until(schedule: ScheduleSpec, start: datetime, end: datetime) -> Iterator[datetime]:
    end = to_utc(end)
    for instant in iter_slots(schedule, start):
        if instant > end:
            return
        yield instant


# The first interval that ``last_slots`` searches, ending at ``end``.
FIRST_SEARCH_WINDOW = timedelta(hours=1)


def last_slots(
    schedule: ScheduleSpec, start: datetime, end: datetime, count: int
) -> list[datetime]:
    """Return the last ``count`` slots in the interval (``start``, ``end``], in UTC, ascending.

    Fewer are returned when the interval has fewer. The search walks back from ``end`` in
    windows that grow fourfold, starting with an hour, so it reads about as many slots as
    the last window holds. Walking the whole interval would read every slot: 527,040 for a
    cron that fires every minute over 366 days.
    """
    start, end = to_utc(start), to_utc(end)
    window = FIRST_SEARCH_WINDOW
    while True:
        # Compared first, since end - window can fall before the year 1, where datetime ends.
        begin = start if window >= end - start else end - window
        newest = deque(_iter_slots_until(schedule, begin, end), maxlen=count)
        if len(newest) == count or begin == start:
            return list(newest)
        window *= 4


def count_slots(schedule: ScheduleSpec, start: datetime, end: datetime, limit: int) -> int | None:
    """Count the slots in the interval (``start``, ``end``], or return None when there are
    more than ``limit``, so that the count reads at most ``limit + 1`` slots."""
    counted = 0
    for _ in _iter_slots_until(schedule, start, end):
        counted += 1
        if counted > limit:
            return None
    return counted


def next_slot(schedule: ScheduleSpec, after: datetime) -> datetime | None:
    """Return the first slot strictly after ``after``, or None if the cron never fires again."""
    return next(iter_slots(schedule, after), None)
