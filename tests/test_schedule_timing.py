"""The due times of schedules (worqr.schedules.timing), pure: cron expressions in a time zone
across DST changes, the cadence of ``every``, and what catch-up does with due times that
passed. The same rules fire on real servers in tests/test_schedules.py."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from worqr.errors import InvalidArgumentError
from worqr.schedules.timing import ON_TIME_MS, Rules, Timing

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def due_times(timing: Timing, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` due times after ``start``, as a worker firing each on time sees them."""
    zone = ZoneInfo(timing.tz)
    due = timing.first_due(ms(start))
    found = []
    for _ in range(count):
        found.append(datetime.fromtimestamp(due / 1000, tz=timezone.utc).astimezone(zone))
        due = timing.following(due, due)
    return found


def test_a_daily_cron_in_the_spring_forward_gap_runs_once_at_the_end_of_the_gap() -> None:
    timing = Timing.check("30 2 * * *", None, "Europe/Berlin")
    got = due_times(timing, datetime(2026, 3, 27, 12, 0, tzinfo=BERLIN), 4)
    assert [t.isoformat() for t in got] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night: at the end of the gap
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_a_daily_cron_in_the_fall_back_hour_runs_once() -> None:
    timing = Timing.check("30 2 * * *", None, "Europe/Berlin")
    got = due_times(timing, datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN), 3)
    assert [t.isoformat() for t in got] == [
        "2026-10-25T02:30:00+02:00",  # the first 02:30 only: the clock shows it twice
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    assert got[1].timestamp() - got[0].timestamp() == 25 * 3600  # the day is an hour longer


def test_a_wildcard_hour_cron_runs_in_both_of_the_repeated_hours() -> None:
    timing = Timing.check("*/30 * * * *", None, "America/New_York")
    got = due_times(timing, datetime(2026, 11, 1, 0, 50, tzinfo=NEW_YORK), 6)
    assert [t.isoformat() for t in got] == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00",  # the hour again, in standard time
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:30:00-05:00",
    ]
    assert [b.timestamp() - a.timestamp() for a, b in itertools.pairwise(got)] == [1800.0] * 5


def test_an_hourly_cron_across_spring_forward_keeps_real_hours() -> None:
    timing = Timing.check("0 * * * *", None, "America/New_York")
    got = due_times(timing, datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK), 3)
    assert [t.isoformat() for t in got] == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",  # 02:00 does not exist; one real hour after 01:00
        "2026-03-08T04:00:00-04:00",
    ]


def test_the_same_cron_in_utc_ignores_dst() -> None:
    timing = Timing.check("30 2 * * *", None, "UTC")
    got = due_times(timing, datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), 2)
    assert [t.isoformat() for t in got] == ["2026-03-29T02:30:00+00:00", "2026-03-30T02:30:00+00:00"]


def test_every_keeps_its_cadence_however_late_a_run_fires() -> None:
    timing = Timing.check(None, 10, "UTC")
    assert timing.first_due(1_000_000) == 1_010_000
    assert timing.following(1_010_000, 1_010_000) == 1_020_000
    assert timing.following(1_010_000, 1_013_500) == 1_020_000  # fired 3.5 s late: the next stays on the beat
    assert timing.following(1_010_000, 1_047_000) == 1_050_000  # 3 due times passed unseen
    assert timing.following(1_010_000, 1_050_000) == 1_060_000  # never now: the next is after it


def test_catch_up_latest_fires_once_for_many_missed_due_times_and_none_only_on_time() -> None:
    latest = Rules.check(cron=None, every=60, tz="UTC", overlap="allow", catch_up="latest")
    none = Rules.check(cron=None, every=60, tz="UTC", overlap="allow", catch_up="none")
    due = 6_000_000
    assert latest.plan(due, due + 10 * 60_000 + 5) == (True, due + 11 * 60_000)
    assert none.plan(due, due + 10 * 60_000 + 5) == (False, due + 11 * 60_000)
    assert none.plan(due, due + ON_TIME_MS) == (True, due + 60_000)
    assert none.plan(due, due + ON_TIME_MS + 1) == (False, due + 60_000)
    short = Rules.check(cron=None, every=1, tz="UTC", overlap="allow", catch_up="none")
    assert short.plan(due, due + 500) == (True, due + 1000)  # on time: within half the interval
    assert short.plan(due, due + 501) == (False, due + 1000)


def test_rules_travel_as_json_and_their_timing_key_ignores_overlap_and_catch_up() -> None:
    rules = Rules.check(cron="0  3 * * 1-5", every=None, tz="Europe/Berlin", overlap="skip", catch_up="none")
    assert Rules.loads(rules.dumps()) == rules
    assert rules.timing.cron == "0 3 * * 1-5"  # spaces normalised
    other = Rules.check(cron="0 3 * * 1-5", every=None, tz="Europe/Berlin", overlap="allow", catch_up="latest")
    assert other.timing_key() == rules.timing_key()
    moved = Rules.check(cron="0 3 * * 1-5", every=None, tz="Europe/Paris", overlap="skip", catch_up="none")
    assert moved.timing_key() != rules.timing_key()


@pytest.mark.parametrize("cron", ["@hourly", "0 3 * *", "0 3 * * * *", "0 25 * * *", "x * * * *", ""])
def test_bad_cron_expressions_are_refused(cron: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cron"):
        Timing.check(cron, None, "UTC")
