"""Calendar-year rules: quotas and periodic (annual) deadlines, per party.

A notice counts for one calendar year, once per message (its first provision): the UTC calendar
year of its measured instant (its receipt by default), or, when the rule names a ``year_field``,
the year its payload says it is for: the calendar year of that date (UTC for a datetime), or
that integer, plus the rule's ``year_offset``. So the CFE exchange of data effective 1 January
2027 counts for 2026 (``effective_date``, offset -1) even when it arrives late, in January 2027,
and a heavy-bomber exercise starting 10 January 2027 counts for 2027 even when notified in
December 2026. A notice whose payload leaves that field out counts for the year of its measured
instant. Which parties are checked: the agreement's declared parties,
or, when it declares none, every centre that sent or received a message of one of its kinds in
the logs; in both cases only parties whose notices the logs can show (their own log is given,
or the log of another party or of the central contact is). Which years: every year the audited
period touches.

Only agreements with at least one message in the logs are checked, unless ``--select`` names
the rule or its agreement: logs that never use an agreement are usually not the logs that would
show its notices (a compliance officer auditing a year of CFE traffic has not given the logs of
the US-Russia link), so silence there proves nothing. The audited period is taken as [start,
end): logs closed at 00:00:00 UTC on 1 January do not touch the new year.

Quota: more than ``max`` notices in a year is a violation as soon as it happens; fewer than
``min`` is a violation only when the audited period covers the whole year (from 1 January
00:00:00 to 31 December 23:59:59 UTC), and open otherwise.

Periodic: each year, a notice received on or before the due date of that year (its UTC calendar
date, any time that day). The first notice of the year decides: on time, or late by so many
calendar days (received at 00:00:00 UTC on the day after the due date: 1 day late). No notice:
a violation when the due date lies inside the audited period, open when it lies after its end;
a year whose due date lies before the logs begin is not checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nrrc.audit.collector import Collector
from nrrc.audit.events import Provision, kind_words, short_id, values_of
from nrrc.audit.findings import EvidenceLike
from nrrc.catalogue import Applicability, Rule, RuleType
from nrrc.timeutil import format_instant, to_utc

__all__ = ["YearlyChecks"]


@dataclass(slots=True)
class _Tally:
    count: int = 0
    ids: list[str] = field(default_factory=list)
    evidence: list[EvidenceLike] = field(default_factory=list)


@dataclass(slots=True)
class _First:
    at: datetime
    message_id: str
    evidence: tuple[EvidenceLike, ...]
    note: str


_KEEP = 16
"""Message ids kept per (rule, party, year) to name in a quota finding."""


class YearlyChecks:
    """Counters per (rule, party, year) and the first notice per (rule, party, year)."""

    def __init__(self, rules: list[Rule], collector: Collector) -> None:
        self.collector = collector
        self.rules = [r for r in rules if r.type in (RuleType.QUOTA, RuleType.PERIODIC)]
        self.by_kind: dict[str, list[Rule]] = defaultdict(list)
        self.conds: dict[str, list[tuple[Rule, Applicability | None]]] = defaultdict(list)
        for r in self.rules:
            if r.kind:
                self.by_kind[r.kind].append(r)
                self.conds[r.kind].append((r, r.applies_if if r.applies_if else None))
        self.tallies: dict[tuple[str, str, int], _Tally] = {}
        self.firsts: dict[tuple[str, str, int], _First] = {}

    def kinds(self) -> set[str]:
        """Kinds these checks count."""
        return set(self.by_kind)

    def handlers(self, kind: str) -> list[Callable[[Provision], None]]:
        """The checks of ``kind`` (one, counting the first provision of each message)."""
        return [self.on_provision] if kind in self.by_kind else []

    def on_provision(self, prov: Provision, values: dict[str, Any] | None = None) -> None:
        """Count the first provision of a notice."""
        if not prov.first:
            return
        rules = self.conds.get(prov.kind)
        if not rules:
            return
        st = prov.opened.statement
        for rule, cond in rules:
            if cond is not None and not cond.holds(values_of(prov)):
                continue
            at = prov.instant(rule)
            if at is None:
                continue
            year = at.year if rule.year_field is None else _year_for(rule, values_of(prov), at)
            key = (rule.code, st.sender, year)
            if rule.type is RuleType.QUOTA:
                tally = self.tallies.get(key)
                if tally is None:
                    tally = self.tallies[key] = _Tally()
                tally.count += 1
                if len(tally.ids) < _KEEP or (
                    rule.max_count is not None
                    and tally.count > rule.max_count
                    and len(tally.ids) < rule.max_count + _KEEP
                ):
                    tally.ids.append(st.id)
                    tally.evidence.extend(prov.evidence[:1])
            elif key not in self.firsts:
                self.firsts[key] = _First(at, st.id, prov.evidence, prov.suffix(rule))

    def finish(
        self,
        period_start: datetime,
        period_end: datetime,
        parties: Callable[[str], list[str]],
        active: set[str],
    ) -> None:
        """Judge every (rule, party, year) the audited period [start, end) touches, for the
        agreements in ``active`` (with messages in the logs) or selected explicitly."""
        last = period_end - timedelta(microseconds=1) if period_end > period_start else period_end
        years = range(period_start.year, last.year + 1)
        counted: dict[tuple[str, str], set[int]] = defaultdict(set)
        for code, party, year in (*self.tallies, *self.firsts):
            counted[code, party].add(year)
        for rule in self.rules:
            if rule.agreement not in active and not self.collector.explicit(rule):
                continue
            for party in parties(rule.agreement):
                for year in sorted({*years, *counted.get((rule.code, party), ())}):
                    if rule.type is RuleType.QUOTA:
                        self._quota(rule, party, year, period_start, period_end)
                    else:
                        self._periodic(rule, party, year, period_start, period_end)

    def _what(self, rule: Rule) -> str:
        cond = f" with {rule.applies_if}" if rule.applies_if else ""
        words = kind_words(rule.kind or "")
        return f"{words if words.endswith('s') else words + 's'}{cond}"

    def _quota(self, rule: Rule, party: str, year: int, start: datetime, end: datetime) -> None:
        tally = self.tallies.get((rule.code, party, year), _Tally())
        n = tally.count
        year_start = datetime(year, 1, 1, tzinfo=UTC)
        year_last = datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
        instants = {"year_start": year_start, "year_end": year_last}
        keys = (party, str(year))
        got = f"{party}: {n} {self._what(rule)} {_year_words(rule, year)}"
        if rule.max_count is not None and n > rule.max_count:
            extra = n - rule.max_count
            self.collector.rule_finding(
                rule,
                self.collector.rule_outcome(rule, True),
                f"{got}; the rule allows at most {rule.max_count}; {extra} too many",
                keys=keys,
                parties=(party,),
                message_ids=tuple(tally.ids[rule.max_count :]) or tuple(tally.ids),
                instants=instants,
                evidence=tuple(tally.evidence[rule.max_count :]),
            )
            return
        if rule.min_count is not None and n < rule.min_count:
            whole = start <= year_start and end >= year_last
            outcome = self.collector.rule_outcome(rule, whole)
            coverage = (
                ""
                if whole
                else f" so far; the logs cover {format_instant(max(start, year_start))} to "
                f"{format_instant(min(end, year_last))} only, not the whole year"
            )
            self.collector.rule_finding(
                rule,
                outcome,
                f"{got}{coverage}; the rule requires at least {rule.min_count}",
                keys=keys,
                parties=(party,),
                message_ids=tuple(tally.ids),
                instants=instants,
                evidence=tuple(tally.evidence),
            )
            return
        self.collector.passed(rule.code)

    @staticmethod
    def _measured(rule: Rule) -> str:
        return "sent" if rule.measured_at.value == "sending" else "received"

    def _periodic(self, rule: Rule, party: str, year: int, start: datetime, end: datetime) -> None:
        assert rule.due_month is not None and rule.due_day is not None
        due = _due_date(year, rule.due_month, rule.due_day)
        due_end = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        last_ok = due_end - timedelta(seconds=1)
        first = self.firsts.get((rule.code, party, year))
        what = kind_words(rule.kind or "")
        verb = self._measured(rule)
        if first is not None:
            if first.at.date() <= due:
                self.collector.passed(rule.code)
                return
            days = (first.at.date() - due).days
            jan1 = date(year, 1, 1)
            self.collector.rule_finding(
                rule,
                self.collector.rule_outcome(rule, True),
                f"{party}: the {what} {short_id(first.message_id)} for {year} was {verb} "
                f"{format_instant(first.at)} (UTC date {first.at.date().isoformat()}){first.note}; "
                f"it was due on or before {due.isoformat()} (UTC); "
                f"{days} day{'' if days == 1 else 's'} late",
                keys=(party, str(year)),
                parties=(party,),
                message_ids=(first.message_id,),
                instants={verb: first.at, "deadline": last_ok},
                measured=(first.at.date() - jan1).days * 86400,
                bound=(due - jan1).days * 86400,
                margin=-days * 86400,
                evidence=first.evidence,
            )
            return
        if last_ok < start:
            return
        broken = last_ok <= end
        which = (
            f"{verb} in {year}"
            if rule.year_field is None
            else f"for {year} ({_field_year(rule, year)}) {verb}"
        )
        where = (
            "inside the audited period"
            if broken
            else f"after the end of the logs ({format_instant(end)})"
        )
        self.collector.rule_finding(
            rule,
            self.collector.rule_outcome(rule, broken),
            f"{party}: no {what} {which}; it was due by the end of "
            f"{due.isoformat()} (UTC), {where}",
            keys=(party, str(year)),
            parties=(party,),
            instants={"deadline": last_ok},
        )


def _year_for(rule: Rule, values: dict[str, Any], at: datetime) -> int:
    """The calendar year a notice counts for (see the module's docstring)."""
    value = values.get(rule.year_field or "")
    if isinstance(value, datetime):
        year = to_utc(value).year
    elif isinstance(value, date):
        year = value.year
    elif isinstance(value, int) and not isinstance(value, bool):
        year = value
    else:
        return at.year
    return year + rule.year_offset


def _field_year(rule: Rule, year: int) -> str:
    """``effective_date in 2027``: what the payload of a notice for ``year`` says."""
    return f"{rule.year_field} in {year - rule.year_offset}"


def _year_words(rule: Rule, year: int) -> str:
    """``received in 2026``, or ``for 2026 (effective_date in 2027)``."""
    if rule.year_field is None:
        return f"{'sent' if rule.measured_at.value == 'sending' else 'received'} in {year}"
    return f"for {year} ({_field_year(rule, year)})"


def _due_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 29 February in a common year
        return date(year, month, 28)
