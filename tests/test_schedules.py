"""Schedule slots across the 2026 daylight-saving changes, with the clock passed in."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contentgen.campaigns import CRON_NICKNAMES, ScheduleSpec
from contentgen.schedules import (
    count_slots,
    last_slots,
    next_slot,
    slot_instant,
    slots_between,
    to_utc,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "zone", "start", "expected"),
    [
        # Clocks jump from 02:00 to 03:00 CET -> CEST: 02:30 does not exist and runs at 03:00.
        ("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00",
         ["2026-03-28T01:30", "2026-03-29T01:00", "2026-03-30T00:30"]),
        # Clocks go back from 03:00 to 02:00 CEST -> CET: 02:30 runs once, at 02:30 CEST.
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T00:00",
         ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"]),
        # 02:00 EST jumps to 03:00 EDT on 8 March.
        ("30 2 * * *", "America/New_York", "2026-03-07T00:00",
         ["2026-03-07T07:30", "2026-03-08T07:00", "2026-03-09T06:30"]),
        # 02:00 EDT goes back to 01:00 EST on 1 November: 01:30 happens twice.
        ("30 1 * * *", "America/New_York", "2026-10-31T00:00",
         ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"]),
        # China has no daylight saving time: the same UTC time every day of the year.
        ("30 2 * * *", "Asia/Shanghai", "2026-03-27T12:00",
         ["2026-03-27T18:30", "2026-03-28T18:30", "2026-03-29T18:30"]),
        ("30 2 * * *", "Asia/Shanghai", "2026-10-24T12:00",
         ["2026-10-24T18:30", "2026-10-25T18:30", "2026-10-26T18:30"]),
    ],
    ids=["berlin-spring", "berlin-autumn", "new-york-spring", "new-york-autumn",
         "shanghai-march", "shanghai-october"],
)  # fmt: skip
def test_slots_between_daylight_saving_changes(cron, zone, start, expected):
    schedule = ScheduleSpec(cron=cron, timezone=zone)
    begin = utc(start)

    slots = slots_between(schedule, begin, begin + timedelta(days=3))

    assert slots == [utc(text) for text in expected]


@pytest.mark.parametrize(
    ("cron", "zone"),
    [
        ("30 2 * * *", "Europe/Berlin"),
        ("30 2 * * *", "America/New_York"),
        ("30 1 * * *", "America/New_York"),
        ("30 2 * * *", "Asia/Shanghai"),
        ("0 0 * * *", "Europe/Berlin"),
    ],
    ids=["berlin-0230", "new-york-0230", "new-york-0130", "shanghai-0230", "berlin-midnight"],
)
def test_slots_between_once_per_local_date(cron, zone):
    schedule = ScheduleSpec(cron=cron, timezone=zone)
    local = ZoneInfo(zone)
    # From the last instant of 2025 to the last of 2026, both in local time.
    start = datetime(2025, 12, 31, 23, 59, 59, tzinfo=local)
    end = datetime(2026, 12, 31, 23, 59, 59, tzinfo=local)

    slots = slots_between(schedule, start, end)

    local_dates = Counter(slot.astimezone(local).date() for slot in slots)
    assert len(slots) == 365
    assert set(local_dates.values()) == {1}
    assert min(local_dates) == date(2026, 1, 1)
    assert max(local_dates) == date(2026, 12, 31)


@pytest.mark.parametrize("nickname", sorted(CRON_NICKNAMES))
def test_slots_between_cron_nickname_as_five_fields(nickname):
    start = utc("2025-12-31T00:00")
    end = utc("2027-01-02T00:00")

    slots = slots_between(ScheduleSpec(cron=nickname, timezone="Europe/Berlin"), start, end)

    expected = slots_between(ScheduleSpec(cron=CRON_NICKNAMES[nickname], timezone="Europe/Berlin"), start, end)
    assert len(slots) >= 2
    assert slots == expected


def test_slots_between_gap_times_share_one_slot():
    schedule = ScheduleSpec(cron="*/15 * * * *", timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    day_start = datetime(2026, 3, 29, tzinfo=berlin) - timedelta(seconds=1)

    slots = slots_between(schedule, day_start, datetime(2026, 3, 29, 23, 59, tzinfo=berlin))

    # The local day has 23 hours: 02:00, 02:15, 02:30 and 02:45 all map to 03:00 CEST.
    assert len(slots) == 23 * 4
    assert len(set(slots)) == len(slots)
    assert utc("2026-03-29T01:00") in slots
    assert not any(slot.astimezone(berlin).hour == 2 for slot in slots)


def test_slots_between_repeated_hour_runs_first_pass_only():
    schedule = ScheduleSpec(cron="*/15 * * * *", timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    day_start = datetime(2026, 10, 25, tzinfo=berlin) - timedelta(seconds=1)

    slots = slots_between(schedule, day_start, datetime(2026, 10, 25, 23, 59, tzinfo=berlin))

    # The local day has 25 hours but 96 quarter-hour wall times, each run once.
    assert len(slots) == 96
    assert utc("2026-10-25T00:30") in slots  # 02:30 CEST, the first pass
    assert utc("2026-10-25T01:30") not in slots  # 02:30 CET, the second pass


def test_next_slot_after_second_pass_of_repeated_hour():
    schedule = ScheduleSpec(cron="30 2 * * *", timezone="Europe/Berlin")

    # 01:10 UTC is 02:10 CET, in the second pass: today's 02:30 already ran at 00:30 UTC.
    assert next_slot(schedule, utc("2026-10-25T01:10")) == utc("2026-10-26T01:30")


def test_next_slot_leap_day_cron():
    schedule = ScheduleSpec(cron="0 9 29 2 *", timezone="Asia/Shanghai")

    assert next_slot(schedule, utc("2026-12-04T00:00")) == utc("2028-02-29T01:00")


def test_next_slot_is_strictly_after():
    schedule = ScheduleSpec(cron="30 2 * * *", timezone="UTC")

    assert next_slot(schedule, utc("2026-06-01T02:30")) == utc("2026-06-02T02:30")


def test_slot_instant_half_hour_gap():
    # Lord Howe Island moves its clocks by 30 minutes: 02:00 becomes 02:30 on 4 October 2026.
    zone = ZoneInfo("Australia/Lord_Howe")

    instant = slot_instant(datetime(2026, 10, 4, 2, 15), zone)

    assert instant.astimezone(zone).replace(tzinfo=None) == datetime(2026, 10, 4, 2, 30)
    assert instant.astimezone(zone).utcoffset() == timedelta(hours=11)


def test_to_utc_naive_rejected():
    with pytest.raises(ValueError, match="has no UTC offset"):
        to_utc(datetime(2026, 3, 29, 2, 30))


@pytest.mark.parametrize(
    ("cron", "zone", "start", "end"),
    [
        # Every 15 minutes across the repeated hour and the gap of Berlin's 2026 changes.
        ("*/15 * * * *", "Europe/Berlin", "2026-10-24T12:00", "2026-10-25T02:10"),
        ("*/15 * * * *", "Europe/Berlin", "2026-03-28T12:00", "2026-03-29T01:05"),
        ("30 2 * * *", "Europe/Berlin", "2026-03-20T00:00", "2026-04-05T00:00"),
        # Sparse: the window grows until it reaches the leap days.
        ("0 9 29 2 *", "Asia/Shanghai", "2019-01-01T00:00", "2026-12-04T00:00"),
        ("* * * * *", "UTC", "2026-03-01T00:00", "2026-03-01T00:05"),
    ],
    ids=["berlin-autumn", "berlin-spring", "berlin-daily", "leap-day", "short"],
)
def test_last_slots_match_slots_between(cron, zone, start, end):
    schedule = ScheduleSpec(cron=cron, timezone=zone)

    expected = slots_between(schedule, utc(start), utc(end))

    assert last_slots(schedule, utc(start), utc(end), 3) == expected[-3:]
    assert last_slots(schedule, utc(start), utc(end), 1) == expected[-1:]


def test_last_slots_every_minute_for_a_year():
    schedule = ScheduleSpec(cron="* * * * *", timezone="UTC")

    newest = last_slots(schedule, utc("2026-01-01T00:00"), utc("2027-01-01T12:00:30"), 2)

    assert newest == [utc("2027-01-01T11:59"), utc("2027-01-01T12:00")]


def test_last_slots_none_in_interval():
    schedule = ScheduleSpec(cron="0 9 29 2 *", timezone="UTC")

    assert last_slots(schedule, utc("2025-03-01T00:00"), utc("2028-02-28T00:00"), 2) == []


def test_last_slots_interval_of_millennia():
    schedule = ScheduleSpec(cron="@yearly", timezone="UTC")

    # The growing window must not run past the year 1, where datetime ends.
    newest = last_slots(schedule, utc("1970-01-01T00:00"), utc("9998-06-01T00:00"), 1)

    assert newest == [utc("9998-01-01T00:00")]


def test_count_slots_up_to_limit():
    schedule = ScheduleSpec(cron="* * * * *", timezone="UTC")
    start = utc("2026-03-01T00:00")

    assert count_slots(schedule, start, start + timedelta(minutes=10), limit=10) == 10
    assert count_slots(schedule, start, start + timedelta(minutes=11), limit=10) is None
    assert count_slots(schedule, start, start, limit=10) == 0
