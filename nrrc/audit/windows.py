"""Window rules: every observed activity must fall inside the window of an earlier notice.

An observed activity (``--observed``, :mod:`nrrc.observed`) is checked against a window rule when
its ``activity`` name is the rule's ``activity`` and the rule's ``applies_if`` holds for its
attributes (plus ``party``, ``at`` and ``activity``). It is covered when a notice of the rule's
kind from the same party was provided (received, by default) strictly before the activity's
instant and its window (``window_start`` to ``window_end``, or ``window_start`` plus
``window_length``; see :mod:`nrrc.audit.semantics`) contains that instant and, for an activity
that lasts (``end_at``), its end too (an end exactly at the window's end is inside); and, when
both the notice (``area_field``) and the activity (``location``) give one, its area contains the
activity's location. An activity with no covering notice is a violation; the finding names the
notice that covered its start when only the end or the area was outside.

Activities are merged with the messages in time order, so a notice is forgotten once its window
has ended: memory holds only windows still open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nrrc.audit import semantics
from nrrc.audit.collector import Collector
from nrrc.audit.events import Provision, kind_words, short_id, values_of
from nrrc.audit.findings import EvidenceLike
from nrrc.audit.geo import contains
from nrrc.catalogue import Rule, RuleType
from nrrc.observed import Activity
from nrrc.timeutil import format_instant, to_utc

__all__ = ["WindowChecks"]


@dataclass(slots=True)
class _Notice:
    provided: datetime
    window: semantics.Interval
    area: Any
    message_id: str
    evidence: tuple[EvidenceLike, ...]


class WindowChecks:
    """Open notice windows per (rule, party), checked against observed activities."""

    def __init__(self, rules: list[Rule], collector: Collector) -> None:
        self.collector = collector
        self.by_kind: dict[str, list[Rule]] = defaultdict(list)
        self.by_activity: dict[str, list[Rule]] = defaultdict(list)
        for r in rules:
            if r.type is RuleType.WINDOW and r.kind and r.activity:
                self.by_kind[r.kind].append(r)
                self.by_activity[r.activity].append(r)
        self.notices: dict[tuple[str, str], list[_Notice]] = {}
        self.deferred: list[tuple[Rule, Activity, datetime, EvidenceLike, _Notice | None, str]] = []

    def kinds(self) -> set[str]:
        """Kinds whose windows are remembered."""
        return set(self.by_kind)

    def handlers(self, kind: str) -> list[Callable[[Provision], None]]:
        """The checks of ``kind`` (one, remembering the windows of its notices)."""
        return [self.on_provision] if kind in self.by_kind else []

    def on_provision(self, prov: Provision, values: dict[str, Any] | None = None) -> None:
        """Remember the window of a notice, once per message, from the instant it was provided."""
        if not prov.first:
            return
        rules = self.by_kind.get(prov.kind)
        if not rules:
            return
        st = prov.statement
        values = values if values is not None else values_of(prov)
        for rule in rules:
            at = prov.instant(rule)
            if at is None:
                continue
            window = semantics.window(
                values.get(rule.window_start or ""),
                values.get(rule.window_end or "") if rule.window_end else None,
                rule.window_length,
            )
            if window is None:
                continue
            area = values.get(rule.area_field) if rule.area_field else None
            self.notices.setdefault((rule.code, st.sender), []).append(
                _Notice(at, window, area, st.id, prov.evidence)
            )

    def sweep(self, now: datetime) -> None:
        """Forget windows that ended before ``now``: activities come in time order, so no later
        activity can fall inside them."""
        for key in list(self.notices):
            live = [n for n in self.notices[key] if n.window.covers(now) or n.window.lo > now]
            if live:
                self.notices[key] = live
            else:
                del self.notices[key]

    def on_activity(self, activity: Activity, evidence: EvidenceLike, in_scope: Any) -> None:
        """Check an activity against every window rule for it; ``in_scope(agreement, party)``
        says whether the logs could show that party's notices."""
        rules = self.by_activity.get(activity.activity)
        if not rules:
            return
        values = activity.values()
        at = to_utc(activity.at)
        for rule in rules:
            if rule.applies_if and not rule.applies_if.holds(values):
                continue
            scope = in_scope(rule.agreement, activity.party)
            if scope is False:
                continue
            self._check(rule, activity, at, evidence, scope is None)

    def finish(self, in_scope: Any) -> None:
        """Report the uncovered activities whose scope only the end of the logs could tell."""
        for rule, activity, at, evidence, partial, why in self.deferred:
            if in_scope(rule.agreement, activity.party):
                self._uncovered(rule, activity, at, evidence, partial, why)
        self.deferred.clear()

    def _check(
        self, rule: Rule, activity: Activity, at: datetime, evidence: EvidenceLike, defer: bool
    ) -> None:
        key = (rule.code, activity.party)
        notices = self.notices.get(key, [])
        # Windows that ended before this activity cannot cover any later one either.
        live = [n for n in notices if n.window.covers(at) or n.window.lo > at]
        if len(live) != len(notices):
            self.notices[key] = live
        in_time = [n for n in live if n.provided < at and n.window.covers(at)]
        partial, why = None, ""
        if in_time and activity.end_at is not None:
            end = to_utc(activity.end_at)
            whole = [n for n in in_time if end <= n.window.hi]
            if not whole:
                partial, why = in_time[0], "end"
            in_time = whole
        if in_time:
            if activity.location is None or not rule.area_field:
                self.collector.passed(rule.code)
                return
            for n in in_time:
                inside = contains(n.area, activity.location) if n.area is not None else None
                if inside is None or inside:
                    self.collector.passed(rule.code)
                    return
            partial, why = in_time[0], "area"
        if defer:
            self.deferred.append((rule, activity, at, evidence, partial, why))
        else:
            self._uncovered(rule, activity, at, evidence, partial, why)

    def _uncovered(
        self,
        rule: Rule,
        activity: Activity,
        at: datetime,
        evidence: EvidenceLike,
        partial: _Notice | None,
        why: str,
    ) -> None:
        what = kind_words(rule.kind or "")
        head = f"{activity.party} {activity.activity} observed {format_instant(at)} ({activity.id})"
        instants = {"activity": at}
        if partial is not None and why == "end":
            assert activity.end_at is not None
            end = to_utc(activity.end_at)
            instants["activity_end"] = end
            text = (
                f"{head}: the {what} {short_id(partial.message_id)} covers its start but not "
                f"its end: the activity ran until {format_instant(end)}, after the window "
                f"({partial.window.words()})"
            )
            ids: tuple[str, ...] = (partial.message_id,)
            ev = (evidence, *partial.evidence)
        elif partial is not None:
            loc = activity.location
            assert loc is not None
            text = (
                f"{head}: the {what} {short_id(partial.message_id)} covers the time "
                f"({partial.window.words()}) but its "
                f"{semantics.field_words(rule.area_field or '')} "
                f"does not contain the location {loc.lat:.4f}, {loc.lon:.4f}"
            )
            ids = (partial.message_id,)
            ev = (evidence, *partial.evidence)
        else:
            text = (
                f"{head}: no {what} from {activity.party} provided before it has a window "
                f"containing {format_instant(at)}"
            )
            ids = ()
            ev = (evidence,)
        self.collector.rule_finding(
            rule,
            self.collector.rule_outcome(rule, True),
            text,
            keys=(activity.id, activity.party),
            parties=(activity.party,),
            message_ids=ids,
            instants=instants,
            evidence=ev,
        )
