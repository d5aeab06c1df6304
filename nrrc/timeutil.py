"""UTC instants and treaty durations.

The core never reads the system clock: every function here is given the instants it works on.
Bounds keep the unit they were written in, because "14 days" before a *date* compares UTC
calendar dates while "24 hours" before a date counts back from 00:00 UTC of that date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum

import msgspec

__all__ = [
    "Duration",
    "DurationUnit",
    "counted",
    "format_delta",
    "format_instant",
    "midnight_utc",
    "parse_duration",
    "parse_instant",
    "shifted",
    "to_utc",
]


class DurationUnit(Enum):
    """The unit a bound was written in; decides date-anchor semantics."""

    SECONDS = "s"
    MINUTES = "min"
    HOURS = "h"
    DAYS = "d"


class Duration(msgspec.Struct, frozen=True):
    """A bound such as ``24h`` or ``14d``: an amount in one unit.

    ``amount`` is a whole number of ``unit``; ``seconds`` is the elapsed length.
    """

    amount: int
    unit: DurationUnit

    @property
    def seconds(self) -> int:
        """Elapsed length in seconds."""
        factor = {
            DurationUnit.SECONDS: 1,
            DurationUnit.MINUTES: 60,
            DurationUnit.HOURS: 3600,
            DurationUnit.DAYS: 86400,
        }[self.unit]
        return self.amount * factor

    @property
    def delta(self) -> timedelta:
        """Elapsed length as a timedelta."""
        return timedelta(seconds=self.seconds)

    @property
    def is_days(self) -> bool:
        """True when written in calendar days."""
        return self.unit is DurationUnit.DAYS

    def __str__(self) -> str:
        word = {
            DurationUnit.SECONDS: "s",
            DurationUnit.MINUTES: "min",
            DurationUnit.HOURS: "h",
            DurationUnit.DAYS: "d",
        }[self.unit]
        return f"{self.amount}{word}"

    def words(self) -> str:
        """For people: ``24 hours``, ``14 days``, ``1 hour``."""
        name = {
            DurationUnit.SECONDS: "second",
            DurationUnit.MINUTES: "minute",
            DurationUnit.HOURS: "hour",
            DurationUnit.DAYS: "day",
        }[self.unit]
        return f"{self.amount} {name}{'' if self.amount == 1 else 's'}"


_SHORT = re.compile(
    r"^\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?)\s*$"
)
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


MAX_DURATION_DAYS = 36_600
"""The longest duration accepted (about 100 years): longer than any bound of an agreement or
any run, and far inside what dates and timedeltas can hold."""


def parse_duration(text: str) -> Duration:
    """Parse ``24h``, ``14d``, ``90min``, ``30s`` or an ISO 8601 ``P14D`` / ``PT24H``, at most
    :data:`MAX_DURATION_DAYS` days.

    Raises:
        ValueError: with a message saying what was expected and what was found.
    """
    found = _parse_duration(text)
    if found.seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(
            f"expected a duration of at most {MAX_DURATION_DAYS} days (about 100 years), "
            f"found {text!r}"
        )
    return found


def _parse_duration(text: str) -> Duration:
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '24h' or '14d', found {text!r}")
    m = _SHORT.match(text)
    if m:
        amount = int(m.group(1))
        u = m.group(2)[0]
        if m.group(2).startswith("mi"):
            unit = DurationUnit.MINUTES
        else:
            unit = {
                "s": DurationUnit.SECONDS,
                "m": DurationUnit.MINUTES,
                "h": DurationUnit.HOURS,
                "d": DurationUnit.DAYS,
            }[u]
        return Duration(amount, unit)
    m = _ISO.match(text.strip())
    if m and any(m.groups()):
        parts = [(m.group(1), DurationUnit.DAYS), (m.group(2), DurationUnit.HOURS)]
        parts += [(m.group(3), DurationUnit.MINUTES), (m.group(4), DurationUnit.SECONDS)]
        present = [(int(v), u) for v, u in parts if v is not None]
        if len(present) == 1:
            return Duration(*present[0])
        total = sum(Duration(v, u).seconds for v, u in present)
        return Duration(total, DurationUnit.SECONDS)
    raise ValueError(
        f"expected a duration such as '24h', '14d', '90min' or 'PT24H', found {text!r}"
    )


def to_utc(value: datetime) -> datetime:
    """Return the same instant in UTC; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected an aware datetime with a UTC offset, found naive {value!r}")
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 instant (offset required) and return it in UTC."""
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(
            f"expected an RFC 3339 instant like 2026-03-01T12:00:00Z, found {text!r}"
        ) from exc
    if value.tzinfo is None:
        raise ValueError(
            f"expected an RFC 3339 instant with its UTC offset, like 2026-03-01T12:00:00Z, "
            f"found {text!r} (no offset)"
        )
    return to_utc(value)


def midnight_utc(day: date) -> datetime:
    """00:00:00 UTC at the start of ``day``."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def format_instant(value: datetime) -> str:
    """``2026-03-01 12:00:00 UTC`` (seconds shown, always UTC)."""
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_delta(seconds: float) -> str:
    """A length of time for people, exact to the second: ``23 h 10 min``, ``1 d 5 s``."""
    total = round(abs(seconds))
    if total == 0:
        return "0 s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    return " ".join(f"{value} {unit}" for value, unit in parts if value)


_WEEK = timedelta(days=7)
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)


def counted(lo: datetime, hi: datetime, skip: tuple[int, ...]) -> timedelta:
    """The time from ``lo`` to ``hi`` (UTC) that falls on days not in ``skip`` (weekday
    numbers, 0 = Monday); negative when ``hi`` is before ``lo``."""
    lo, hi = to_utc(lo), to_utc(hi)
    if hi < lo:
        return -counted(hi, lo, skip)
    per_week = _ONE_DAY * (7 - len(skip))
    weeks = (hi - lo) // _WEEK
    total = per_week * weeks
    t = lo + _WEEK * weeks
    while t < hi:
        nxt = min(midnight_utc(t.date()) + _ONE_DAY, hi)
        if t.weekday() not in skip:
            total += nxt - t
        t = nxt
    return total


def shifted(ref: datetime, amount: timedelta, skip: tuple[int, ...], *, back: bool) -> datetime:
    """The instant ``amount`` of counted time (days in ``skip`` not counted) before (``back``)
    or after ``ref``: the latest such instant before it, the earliest after it.

    Raises:
        OverflowError: the instant lies outside years 1 to 9999.
    """
    ref = to_utc(ref)
    per_week = _ONE_DAY * (7 - len(skip))
    left = amount
    weeks = max(0, left // per_week - 1)
    left -= per_week * weeks
    t = ref - _WEEK * weeks if back else ref + _WEEK * weeks
    while left > timedelta(0):
        if back:
            day = (t - _TICK).date()  # the day of the instant just before t
            edge = midnight_utc(day)
            room = t - edge
        else:
            day = t.date()
            edge = midnight_utc(day) + _ONE_DAY
            room = edge - t
        if day.weekday() not in skip:
            if room >= left:
                return t - left if back else t + left
            left -= room
        t = edge
    return t
