"""Schedule slots across the 2026 daylight-saving changes, with the clock passed in."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contentgen.campaigns import CRON_NICKNAMES, ScheduleSpec
from contentgen.schedules import next_slot, slot_instant, slots_between, to_utc


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
