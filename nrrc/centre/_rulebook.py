"""The catalogue's rules indexed for a centre, and their deadlines computed exactly.

Every deadline is returned as the *first late instant*: a message is on time when it is
provided strictly before it. This one shape covers the three anchor semantics (AGREEMENTS.md
§0.3):

* datetime anchor: ``anchor - bound`` is the last compliant instant, so the first late instant is
  one microsecond after it (exactly at the bound is compliant, one second later is not);
* date anchor, bound in hours: counted back from 00:00 UTC of the anchor date;
* date anchor, bound in days: UTC calendar dates are compared, so any time on the day
  ``anchor - N`` is compliant and 00:00 UTC of the next day is the first late instant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from nrrc.catalogue import Catalogue, Rule, RuleType
from nrrc.centre._io import PlannedActivity
from nrrc.timeutil import Duration, midnight_utc, shifted, to_utc

__all__ = ["ACK_KIND", "RuleBook", "first_late"]

ACK_KIND = "core.ack"
_TICK = timedelta(microseconds=1)
_MEMO_SIZE = 4096
_DAY = timedelta(days=1)
_DELTAS: dict[int, tuple[Duration, timedelta, timedelta | None]] = {}
"""Bounds as timedeltas (``Duration.delta`` builds one each time)."""


def _anchor(value: Any) -> date | datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is UTC else to_utc(value)
    if isinstance(value, date):
        return value
    return None


def _by_instant_and_code(pair: tuple[Rule, datetime]) -> tuple[datetime, str]:
    return pair[1], pair[0].code


def _as_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    """Conditions read a dict (and never change it): a dict is used as it is."""
    return values if isinstance(values, dict) else dict(values)


def first_late(anchor: date | datetime, bound: Duration, *, before: bool) -> datetime:
    """The first instant at which a notice is late for ``anchor`` -/+ ``bound``.

    Args:
        anchor: a date or an aware datetime.
        bound: the rule's bound.
        before: True for lead times (``anchor - bound``), False for lags (``anchor + bound``).
    """
    cached = _DELTAS.get(id(bound))
    if cached is None or cached[0] is not bound:
        cached = _remember(bound)
    _, delta, days = cached
    if isinstance(anchor, datetime):
        return (anchor - delta if before else anchor + delta) + _TICK
    if days is not None:
        last_day = anchor + (-days if before else days)
        return midnight_utc(last_day + _DAY)
    return (midnight_utc(anchor) - delta if before else midnight_utc(anchor) + delta) + _TICK


def _first_late(rule: Rule, anchor: date | datetime, *, before: bool) -> datetime:
    """:func:`first_late` for a lead-time or lag rule, with its skipped days if it has any."""
    assert rule.bound is not None
    if not rule.skip_days:
        return first_late(anchor, rule.bound, before=before)
    ref = anchor if isinstance(anchor, datetime) else midnight_utc(anchor)
    return shifted(ref, _delta(rule.bound), rule.skip_days, back=before) + _TICK


def _delta(bound: Duration) -> timedelta:
    """``bound.delta``, remembered per bound object (the rules' bounds live as long as they)."""
    cached = _DELTAS.get(id(bound))
    if cached is None or cached[0] is not bound:
        cached = _remember(bound)
    return cached[1]


def _remember(bound: Duration) -> tuple[Duration, timedelta, timedelta | None]:
    """(bound, its timedelta, its whole days as a timedelta when written in days)."""
    if len(_DELTAS) >= _MEMO_SIZE:
        _DELTAS.clear()
    found = _DELTAS[id(bound)] = (
        bound,
        bound.delta,
        timedelta(days=bound.amount) if bound.is_days else None,
    )
    return found


class RuleBook:
    """Rules of a catalogue indexed by what a centre needs to look up.

    Args:
        catalogue: the loaded catalogue; retired rules are ignored.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.lead: dict[str, list[Rule]] = defaultdict(list)
        self.lag: dict[str, list[Rule]] = defaultdict(list)
        self.window_by_activity: dict[str, list[Rule]] = defaultdict(list)
        self.response: dict[str, list[Rule]] = defaultdict(list)
        self.periodic: dict[str, list[Rule]] = defaultdict(list)
        self.quota: dict[str, list[Rule]] = defaultdict(list)
        self.by_kind: dict[str, list[Rule]] = defaultdict(list)
        self._acks: dict[str, list[Rule]] = {}
        self._replies: dict[str, list[Rule]] = {}
        self._window_fields: dict[str, tuple[str, ...]] = {}
        self._ack_offsets: dict[str, timedelta | Literal[False]] = {}
        self._window_memo: dict[tuple[Any, ...], tuple[Rule, ...]] = {}
        for rule in catalogue.active_rules():
            if rule.kind:
                self.by_kind[rule.kind].append(rule)
            if rule.type is RuleType.LEAD_TIME and rule.kind:
                self.lead[rule.kind].append(rule)
            elif rule.type is RuleType.LAG and rule.kind:
                self.lag[rule.kind].append(rule)
            elif rule.type is RuleType.WINDOW and rule.activity:
                self.window_by_activity[rule.activity].append(rule)
            elif rule.type is RuleType.RESPONSE and rule.trigger:
                self.response[rule.trigger].append(rule)
            elif rule.type is RuleType.PERIODIC:
                self.periodic[rule.agreement].append(rule)
            elif rule.type is RuleType.QUOTA:
                self.quota[rule.agreement].append(rule)

    def kind_field_type(self, kind: str, name: str) -> str | None:
        """The catalogue type of field ``name`` of ``kind`` (``date``, ``datetime`` ...)."""
        spec = self.catalogue.kinds[kind].field(name) if kind in self.catalogue.kinds else None
        return spec.type.value if spec else None

    def lead_deadlines(self, kind: str, values: Mapping[str, Any]) -> list[tuple[Rule, datetime]]:
        """Every lead-time rule that applies to a notice of ``kind`` with these field values,
        with its first late instant, earliest first."""
        out: list[tuple[Rule, datetime]] = []
        rules = self.lead.get(kind)
        if not rules:
            return out
        values = _as_dict(values)
        for rule in rules:
            condition = rule.applies_if
            if (condition.any_of or condition.all_of) and not condition.holds(values):
                continue
            anchor = _anchor(values.get(rule.anchor or ""))
            if anchor is None or rule.bound is None:
                continue
            out.append((rule, _first_late(rule, anchor, before=True)))
        if len(out) > 1:
            out.sort(key=_by_instant_and_code)
        return out

    def lag_deadlines(self, kind: str, values: Mapping[str, Any]) -> list[tuple[Rule, datetime]]:
        """Every lag rule that applies to a notice of ``kind``, with its first late instant."""
        out: list[tuple[Rule, datetime]] = []
        rules = self.lag.get(kind)
        if not rules:
            return out
        values = _as_dict(values)
        for rule in rules:
            condition = rule.applies_if
            if (condition.any_of or condition.all_of) and not condition.holds(values):
                continue
            anchor = _anchor(values.get(rule.anchor or ""))
            if anchor is None or rule.bound is None:
                continue
            out.append((rule, _first_late(rule, anchor, before=False)))
        if len(out) > 1:
            out.sort(key=_by_instant_and_code)
        return out

    def windows(self, activity: str, values: Mapping[str, Any]) -> list[Rule]:
        """Window rules that require a notice covering this activity, by code."""
        rules = self.window_by_activity.get(activity)
        if not rules:
            return []
        # The answer depends only on the fields the rules' conditions read: remembered by
        # their values (and types), when these can be hashed.
        fields = self._condition_fields(activity, rules)
        key: tuple[Any, ...] | None = (activity, *((type(v), v) for v in map(values.get, fields)))
        try:
            found = self._window_memo.get(key)  # type: ignore[arg-type]
        except TypeError:
            found, key = None, None
        if found is not None:
            return list(found)
        given = _as_dict(values)
        applicable = [r for r in rules if not r.applies_if or r.applies_if.holds(given)]
        if key is not None:
            if len(self._window_memo) >= _MEMO_SIZE:
                self._window_memo.clear()
            self._window_memo[key] = tuple(applicable)
        return applicable

    def activity_windows(self, activity: PlannedActivity) -> Sequence[Rule]:
        """:meth:`windows` of a planned activity and its :meth:`~PlannedActivity.values`
        (which are built only when the answer is not remembered); read only."""
        name = activity.activity
        rules = self.window_by_activity.get(name)
        if not rules:
            return ()
        attributes = activity.attributes
        # The key windows() remembers the answer by, from what values.get(f) gives ("activity"
        # and "at" override attributes of those names).
        key: list[Any] = [name]
        for f in self._condition_fields(name, rules):
            v = name if f == "activity" else activity.at if f == "at" else attributes.get(f)
            key.append((type(v), v))
        try:
            found = self._window_memo.get(tuple(key))
        except TypeError:
            found = None
        return found if found is not None else self.windows(name, activity.values())

    def _condition_fields(self, activity: str, rules: list[Rule]) -> tuple[str, ...]:
        """The fields the conditions of ``activity``'s window rules read, sorted."""
        fields = self._window_fields.get(activity)
        if fields is None:
            fields = self._window_fields[activity] = tuple(
                sorted(
                    {c.field for r in rules for c in (*r.applies_if.any_of, *r.applies_if.all_of)}
                )
            )
        return fields

    def ack_rules(self, kind: str) -> list[Rule]:
        """Rules bounding the acknowledgement of ``kind`` (response ``core.ack``)."""
        found = self._acks.get(kind)
        if found is None:
            found = self._acks[kind] = [
                r for r in self.response.get(kind, ()) if r.response == ACK_KIND
            ]
        return found

    def reply_rules(self, kind: str) -> list[Rule]:
        """Rules requiring a reply (other than an acknowledgement) to ``kind``."""
        found = self._replies.get(kind)
        if found is None:
            found = self._replies[kind] = [
                r for r in self.response.get(kind, ()) if r.response != ACK_KIND
            ]
        return found

    @staticmethod
    def response_first_late(rule: Rule, received_at: datetime) -> datetime:
        """First late instant of a response to a trigger received at ``received_at``."""
        assert rule.bound is not None
        return to_utc(received_at) + rule.bound.delta + _TICK

    @staticmethod
    def periodic_first_late(rule: Rule, year: int) -> datetime:
        """First late instant of ``rule``'s submission due in ``year`` (the day after due)."""
        assert rule.due_month is not None and rule.due_day is not None
        return midnight_utc(date(year, rule.due_month, rule.due_day) + timedelta(days=1))

    def ack_first_late(self, kind: str, received_at: datetime) -> datetime | None:
        """When an acknowledgement of ``kind`` received at ``received_at`` becomes late."""
        offset = self._ack_offsets.get(kind)
        if offset is None:
            rules = self.ack_rules(kind)
            bounds = [r.bound.delta for r in rules if r.bound is not None]
            if len(bounds) < len(rules):
                return min(self.response_first_late(r, received_at) for r in rules)
            # The earliest bound plus the tick: the earliest response_first_late of the rules.
            offset = self._ack_offsets[kind] = min(bounds) + _TICK if bounds else False
        if offset is False:
            return None
        if received_at.tzinfo is not UTC:
            received_at = to_utc(received_at)
        return received_at + offset
