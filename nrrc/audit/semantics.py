"""The timing semantics of the rule types, as pure functions exact to the second.

All instants are compared in UTC. A rule is measured at receipt by default (the ``at`` of the
recipient's ``received`` record: "the date of provision of notification shall be the date of
receipt", New START Protocol Part Four §I), or at sending (the statement's signed ``sent_at``)
where the rule says ``measured_at = "sending"``.

Lead time (``lead_time``): the notice must be received no later than ``anchor − bound``.

- A datetime anchor is used as is: received ≤ anchor − bound.
- A date anchor with an hour, minute or second bound counts back from 00:00 UTC of that date:
  received ≤ 00:00 UTC on the anchor date − bound (24 h before the planned launch date 2026-03-02
  means by 2026-03-01 00:00:00 UTC).
- A date anchor with a day bound compares UTC calendar dates: the UTC date of receipt ≤ anchor
  date − N days, any time on that date (14 days before an exercise starting 2026-10-20 means
  received on or before 2026-10-06, up to 23:59:59 UTC).

Exactly at the bound is compliant; one second later is not.

Lag (``lag``): received ≤ anchor + bound, with the same conventions (a date anchor with an hour
bound counts from 00:00 UTC of the date; with a day bound, the UTC date of receipt ≤ anchor
date + N days).

Skipped days (``skip_days``, lead time and lag with a bound in hours, minutes or seconds): only
time on the other UTC days counts toward the bound. The notice must be received no later than
the latest instant from which the counted time up to the reference (the anchor, or 00:00 UTC of
a date anchor) is at least the bound (lead time), or by the earliest instant at which the counted
time since the reference reaches the bound (lag). Open Skies: 72 h before the ETA, Saturdays and
Sundays not counted.

Response (``response``): the answer must come no later than the trigger's receipt + bound
(elapsed time; a day is 86,400 s in UTC).

Span (``span``): a notice's window is at most ``bound`` long. Two dates with a day bound count
inclusive days (end − start + 1 day ≤ N days); otherwise a date stands for its whole UTC day
(start at 00:00, end at 24:00) and the elapsed length is compared.

Window (``window``): a date window covers whole UTC days inclusive (start 00:00 to end 24:00,
end exclusive); a datetime window covers [start, end] inclusive; ``window_length`` counts from
the start (N days from a date start cover N calendar days).

Margins are in whole seconds, negative when the rule is broken, rounded against the party: a
shortfall of 0.4 s is reported as 1 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nrrc.timeutil import (
    Duration,
    DurationUnit,
    counted,
    format_delta,
    format_instant,
    midnight_utc,
    shifted,
    to_utc,
)

__all__ = [
    "Bounded",
    "Interval",
    "counted",
    "due_deadline",
    "field_words",
    "lag",
    "lag_skipping",
    "lead_time",
    "lead_time_skipping",
    "response",
    "shifted",
    "span",
    "window",
]

DAY = 86400


def field_words(name: str) -> str:
    """``planned_launch_date`` -> ``planned launch date`` (for explanations)."""
    return name.replace("_", " ")


_floor = math.floor
_ceil = math.ceil


@dataclass(frozen=True, slots=True)
class Bounded:
    """A timed bound evaluated on one instant.

    ``measured`` is the lead time obtained (lead_time) or the delay (lag, response), in whole
    seconds; ``margin`` is negative by how much the rule is broken. ``deadline`` is the last
    compliant instant (23:59:59 UTC of the last compliant date for calendar-day rules);
    ``deadline_words`` says it for people; ``text`` is the explanation without the outcome.
    """

    ok: bool
    measured: int
    bound: int
    margin: int
    deadline: datetime
    deadline_words: str
    text: str


def _anchor_words(field: str, value: date) -> str:
    if isinstance(value, datetime):
        return f"the {field_words(field)} {format_instant(value)}"
    return f"00:00 UTC on the {field_words(field)} {value.isoformat()}"


_DAYS, _HOURS, _MINUTES = DurationUnit.DAYS, DurationUnit.HOURS, DurationUnit.MINUTES


def _secs(bound: Duration) -> int:
    """``bound.seconds`` without building a table on every call (the audit's hot path)."""
    u = bound.unit
    factor = 86400 if u is _DAYS else 3600 if u is _HOURS else 60 if u is _MINUTES else 1
    return bound.amount * factor


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else to_utc(value)


def lead_time(
    at: datetime, anchor: date, bound: Duration, field: str, verb: str, *, explain: bool = True
) -> Bounded:
    """Evaluate ``at`` (receipt or sending, ``verb`` says which) against ``anchor − bound``.

    With ``explain=False`` a compliant result carries no words (the audit's fast path).
    """
    at = _utc(at)
    bs = _secs(bound)
    if isinstance(anchor, datetime) or not bound.is_days:
        ref = _utc(anchor) if isinstance(anchor, datetime) else midnight_utc(anchor)
        last = ref - timedelta(seconds=bs)
        exact = (ref - at).total_seconds()
        ok = at <= last
        measured = _floor(exact)
        margin = _floor(exact - bs)
        if ok and not explain:
            return Bounded(ok, measured, bs, margin, last, "", "")
        lead = f"{format_delta(exact)} before" if exact >= 0 else f"{format_delta(exact)} after"
        text = (
            f"{verb} {format_instant(at)}, {lead} {_anchor_words(field, anchor)}; "
            f"the rule requires at least {bound.words()}"
        )
        if not ok:
            text += f"; short by {format_delta(-margin)}"
        return Bounded(
            ok, measured, bs, margin, last, f"{format_instant(last)} at the latest", text
        )
    day = at.date()
    last_day = anchor - timedelta(days=bound.amount)
    days = (anchor - day).days
    ok = day <= last_day
    margin_days = days - bound.amount
    deadline = midnight_utc(last_day) + timedelta(seconds=DAY - 1)
    if ok and not explain:
        return Bounded(ok, days * DAY, bs, margin_days * DAY, deadline, "", "")
    text = (
        f"{verb} {format_instant(at)} (UTC date {day.isoformat()}), {_days(days)} before the "
        f"{field_words(field)} {anchor.isoformat()}; the rule requires {verb} on or before "
        f"{last_day.isoformat()} (at least {bound.words()} before)"
    )
    if not ok:
        text += f"; {_days(-margin_days)} late"
    return Bounded(
        ok,
        days * DAY,
        bs,
        margin_days * DAY,
        deadline,
        f"by the end of {last_day.isoformat()} (UTC)",
        text,
    )


def lag(
    at: datetime, anchor: date, bound: Duration, field: str, verb: str, *, explain: bool = True
) -> Bounded:
    """Evaluate ``at`` against ``anchor + bound`` (a report due after an event)."""
    at = _utc(at)
    bs = _secs(bound)
    if isinstance(anchor, datetime) or not bound.is_days:
        ref = _utc(anchor) if isinstance(anchor, datetime) else midnight_utc(anchor)
        last = ref + timedelta(seconds=bs)
        exact = (at - ref).total_seconds()
        ok = at <= last
        margin = _floor(bs - exact)
        if ok and not explain:
            return Bounded(ok, _ceil(exact), bs, margin, last, "", "")
        delay = f"{format_delta(exact)} after" if exact >= 0 else f"{format_delta(exact)} before"
        text = (
            f"{verb} {format_instant(at)}, {delay} {_anchor_words(field, anchor)}; "
            f"the rule allows at most {bound.words()}"
        )
        if not ok:
            text += f"; late by {format_delta(-margin)}"
        return Bounded(
            ok, _ceil(exact), bs, margin, last, f"{format_instant(last)} at the latest", text
        )
    day = at.date()
    last_day = anchor + timedelta(days=bound.amount)
    days = (day - anchor).days
    ok = day <= last_day
    margin_days = bound.amount - days
    deadline = midnight_utc(last_day) + timedelta(seconds=DAY - 1)
    if ok and not explain:
        return Bounded(ok, days * DAY, bs, margin_days * DAY, deadline, "", "")
    text = (
        f"{verb} {format_instant(at)} (UTC date {day.isoformat()}), {_days(days)} after the "
        f"{field_words(field)} {anchor.isoformat()}; the rule requires {verb} on or before "
        f"{last_day.isoformat()} (at most {bound.words()} after)"
    )
    if not ok:
        text += f"; {_days(-margin_days)} late"
    return Bounded(
        ok,
        days * DAY,
        bs,
        margin_days * DAY,
        deadline,
        f"by the end of {last_day.isoformat()} (UTC)",
        text,
    )


def response(start: datetime, at: datetime, bound: Duration | timedelta) -> tuple[bool, int, int]:
    """``(ok, delay, margin)`` of an answer at ``at`` to a trigger received at ``start``."""
    exact = (_utc(at) - _utc(start)).total_seconds()
    limit = bound.total_seconds() if isinstance(bound, timedelta) else bound.seconds
    return exact <= limit, _ceil(exact), _floor(limit - exact)


def _skipped_reference(anchor: date) -> datetime:
    return _utc(anchor) if isinstance(anchor, datetime) else midnight_utc(anchor)


def lead_time_skipping(
    skip: tuple[int, ...],
    skip_words: str,
    at: datetime,
    anchor: date,
    bound: Duration,
    field: str,
    verb: str,
    *,
    explain: bool = True,
) -> Bounded:
    """:func:`lead_time` where time on the weekdays in ``skip`` does not count (a bound in
    hours, minutes or seconds)."""
    at = _utc(at)
    bs = _secs(bound)
    ref = _skipped_reference(anchor)
    last = shifted(ref, timedelta(seconds=bs), skip, back=True)
    exact = counted(at, ref, skip).total_seconds()
    ok = at <= last
    margin = _floor(exact - bs)
    text = (
        f"{verb} {format_instant(at)}, {format_delta(abs((ref - at).total_seconds()))} "
        f"{'before' if ref >= at else 'after'} {_anchor_words(field, anchor)}, of which "
        f"{format_delta(max(exact, 0))} count ({skip_words}, UTC, do not); the rule requires "
        f"at least {bound.words()} not counting {skip_words}, that is {verb} by "
        f"{format_instant(last)}"
    )
    if not ok:
        text += f"; short by {format_delta(-margin)}"
    return Bounded(
        ok, _floor(exact), bs, margin, last, f"{format_instant(last)} at the latest", text
    )


def lag_skipping(
    skip: tuple[int, ...],
    skip_words: str,
    at: datetime,
    anchor: date,
    bound: Duration,
    field: str,
    verb: str,
    *,
    explain: bool = True,
) -> Bounded:
    """:func:`lag` where time on the weekdays in ``skip`` does not count."""
    at = _utc(at)
    bs = _secs(bound)
    ref = _skipped_reference(anchor)
    last = shifted(ref, timedelta(seconds=bs), skip, back=False)
    exact = counted(ref, at, skip).total_seconds()
    ok = at <= last
    margin = _floor(bs - exact)
    text = (
        f"{verb} {format_instant(at)}, {format_delta(abs((at - ref).total_seconds()))} "
        f"{'after' if at >= ref else 'before'} {_anchor_words(field, anchor)}, of which "
        f"{format_delta(max(exact, 0))} count ({skip_words}, UTC, do not); the rule allows at "
        f"most {bound.words()} not counting {skip_words}, that is {verb} by "
        f"{format_instant(last)}"
    )
    if not ok:
        # Measured on elapsed time: past the deadline on a skipped day, the counted time
        # stays at the bound, yet the notice is late.
        late = (at - last).total_seconds()
        margin = -_ceil(late)
        text += f"; late by {format_delta(late)}"
    return Bounded(
        ok, _ceil(exact), bs, margin, last, f"{format_instant(last)} at the latest", text
    )


def _days(n: int) -> str:
    return f"{n} day{'' if abs(n) == 1 else 's'}"


def span(start: date, end: date, bound: Duration, *, explain: bool = True) -> tuple[bool, int, str]:
    """``(ok, length in seconds, words)`` of a notice window from ``start`` to ``end``.

    With ``explain=False`` a compliant window comes without words (the audit's fast path).
    """
    if not isinstance(start, datetime) and not isinstance(end, datetime) and bound.is_days:
        days = (end - start).days + 1
        ok = days <= bound.amount
        if ok and not explain:
            return ok, days * DAY, ""
        words = (
            f"the window {start.isoformat()} to {end.isoformat()} spans {_days(days)} "
            f"(both dates included)"
        )
        return ok, days * DAY, words
    lo = to_utc(start) if isinstance(start, datetime) else midnight_utc(start)
    hi = to_utc(end) if isinstance(end, datetime) else midnight_utc(end) + timedelta(days=1)
    length = (hi - lo).total_seconds()
    ok = length <= bound.seconds
    if ok and not explain:
        return ok, _ceil(length), ""
    words = f"the window {format_instant(lo)} to {format_instant(hi)} lasts {format_delta(length)}"
    return ok, _ceil(length), words


@dataclass(frozen=True, slots=True)
class Interval:
    """A notified window as instants: ``lo <= t`` and ``t <= hi`` (or ``t < hi``)."""

    lo: datetime
    hi: datetime
    hi_inclusive: bool

    def covers(self, t: datetime) -> bool:
        """Whether instant ``t`` is inside the window."""
        if t < self.lo:
            return False
        return t <= self.hi if self.hi_inclusive else t < self.hi

    def words(self) -> str:
        """``2026-03-02 00:00:00 UTC to 2026-03-03 00:00:00 UTC (exclusive)``."""
        end = "" if self.hi_inclusive else " (exclusive)"
        return f"{format_instant(self.lo)} to {format_instant(self.hi)}{end}"


def window(start: Any, end: Any = None, length: Duration | None = None) -> Interval | None:
    """The window a notice gives, or None when its start is missing."""
    if not isinstance(start, date):
        return None
    if isinstance(start, datetime):
        lo = to_utc(start)
        if isinstance(end, datetime):
            return Interval(lo, to_utc(end), True)
        if isinstance(end, date):
            return Interval(lo, midnight_utc(end) + timedelta(days=1), False)
        if length is not None:
            return Interval(lo, lo + length.delta, True)
        return Interval(lo, lo, True)
    lo = midnight_utc(start)
    if isinstance(end, datetime):
        return Interval(lo, to_utc(end), True)
    if isinstance(end, date):
        return Interval(lo, midnight_utc(end) + timedelta(days=1), False)
    if length is not None:
        if length.is_days:
            return Interval(lo, lo + timedelta(days=length.amount), False)
        return Interval(lo, lo + length.delta, True)
    return Interval(lo, lo + timedelta(days=1), False)


def due_deadline(year: int, month: int, day: int) -> datetime:
    """The first instant after a ``due`` date: 00:00 UTC on the day after ``year-month-day``.

    29 February in a non-leap year is due by the end of 28 February.
    """
    try:
        due = date(year, month, day)
    except ValueError:
        due = date(year, month, 28)
    return datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
