"""Checks of one message at a time: lead time, lag and span.

Each provision of a notice (see :mod:`nrrc.audit.events`) is measured against every lead-time
and lag rule of its kind whose ``applies_if`` holds for its payload; the span of a notice's window
is checked once per message. The semantics are those of :mod:`nrrc.audit.semantics`.

The audit asks :meth:`TimingChecks.handlers` for the checks of each kind once, then calls them
on every provision of that kind. A check first decides on plain POSIX timestamps whether the
message is compliant by a clear margin (at least one second: the float error of a timestamp is
below 0.1 ms up to the year 9999, so such a margin is never an artefact); only a message near
or past its bound, or with a value a timestamp cannot stand for, goes through the exact
:mod:`~nrrc.audit.semantics` functions. Passes are counted in plain ints and handed to the
collector by :meth:`TimingChecks.flush`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timezone
from typing import Any

from nrrc.audit import semantics
from nrrc.audit.collector import Collector
from nrrc.audit.events import Basis, Provision, kind_words, short_id, values_of
from nrrc.audit.findings import Measurement
from nrrc.catalogue import MeasuredAt, Rule, RuleType
from nrrc.timeutil import format_delta, format_instant

__all__ = ["FAR", "TimingChecks"]

EPOCH_DAY = date(1970, 1, 1).toordinal()
"""The proleptic ordinal of 1970-01-01: ``(d.toordinal() - EPOCH_DAY) * 86400`` is the POSIX
timestamp of 00:00 UTC on date ``d``."""
FAR = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
"""Bounds beyond this instant go the exact way (which fails where the datetimes overflow)."""
DAY = semantics.DAY


class _Timed:
    """One lead-time or lag rule on the provisions of one kind.

    The rule's limit for a message is a fixed offset from its anchor: for a date anchor,
    ``anchor.toordinal() * DAY + on_date`` (00:00 UTC of the date minus or plus the bound, or
    for a day bound the end of the last compliant UTC date), for a datetime anchor
    ``anchor.timestamp() + on_instant``; both offsets include the one-second margin.
    """

    __slots__ = ("anchor", "checks", "cond", "fast", "on_date", "on_instant", "passes", "rule")

    def __init__(self, rule: Rule, checks: TimingChecks) -> None:
        assert rule.bound is not None and rule.anchor is not None
        self.rule = rule
        self.checks = checks
        self.cond = rule.applies_if if rule.applies_if else None
        self.anchor = rule.anchor
        secs = rule.bound.seconds
        days = rule.bound.amount if rule.bound.is_days else None
        midnight = -EPOCH_DAY * DAY  # + toordinal() * DAY: 00:00 UTC of the anchor date
        if rule.type is RuleType.LEAD_TIME:
            # received <= 00:00 - bound, or the UTC date of receipt <= anchor - N days
            self.on_date = midnight - (secs if days is None else (days - 1) * DAY) - 1
            self.on_instant = -secs - 1
        else:
            # received <= 00:00 + bound, or the UTC date of receipt <= anchor + N days
            self.on_date = midnight + (secs if days is None else (days + 1) * DAY) - 1
            self.on_instant = secs - 1
        # Measurements record every measured value: those audits take the exact way.
        self.fast = (
            rule.measured_at is MeasuredAt.RECEIPT
            and not checks.collector.keep_measurements
            and not rule.skip_days
        )
        self.passes = 0

    def check(self, prov: Provision) -> None:
        """Measure one provision (the fast way when it is plainly compliant)."""
        cond = self.cond
        if cond is not None and not cond.holds(values_of(prov)):
            return
        anchor = getattr(prov.opened.statement.payload, self.anchor, None)
        if anchor is None:
            return
        ts = prov.ts  # NaN when never provided: no comparison holds
        if self.fast:
            t = type(anchor)
            if t is date:
                if ts <= anchor.toordinal() * DAY + self.on_date < FAR:
                    self.passes += 1
                    return
            elif t is datetime:
                tz = anchor.tzinfo
                if (tz is UTC or type(tz) is timezone) and (
                    ts <= anchor.timestamp() + self.on_instant < FAR
                ):
                    self.passes += 1
                    return
        self.checks._timed(self.rule, prov, anchor, prov.period_end)


class _Span:
    """One span rule on the first provision of each message of one kind."""

    __slots__ = ("checks", "cond", "days", "end", "passes", "rule", "start")

    def __init__(self, rule: Rule, checks: TimingChecks) -> None:
        assert rule.bound is not None
        self.rule = rule
        self.checks = checks
        self.cond = rule.applies_if if rule.applies_if else None
        self.start = rule.start_field or ""
        self.end = rule.end_field or ""
        self.days = rule.bound.amount if rule.bound.is_days else None
        self.passes = 0

    def check(self, prov: Provision) -> None:
        """Measure the window of a message's first provision."""
        if not prov.first:
            return
        cond = self.cond
        if cond is not None and not cond.holds(values_of(prov)):
            return
        payload = prov.opened.statement.payload
        fields = payload.__struct_fields__
        start = getattr(payload, self.start) if self.start in fields else None
        end = getattr(payload, self.end) if self.end in fields else None
        if start is None or end is None:
            return
        days = self.days
        if (
            days is not None
            and type(start) is date
            and type(end) is date
            and end.toordinal() - start.toordinal() + 1 <= days
        ):
            self.passes += 1
            return
        self.checks._span(self.rule, prov, values_of(prov))


class TimingChecks:
    """Lead-time, lag and span rules, keyed by the kind they apply to."""

    def __init__(self, rules: list[Rule], collector: Collector) -> None:
        self.collector = collector
        self.timed: dict[str, list[Rule]] = defaultdict(list)
        self.spans: dict[str, list[Rule]] = defaultdict(list)
        for r in rules:
            if r.kind is None:
                continue
            if r.type in (RuleType.LEAD_TIME, RuleType.LAG):
                self.timed[r.kind].append(r)
            elif r.type is RuleType.SPAN:
                self.spans[r.kind].append(r)
        self._made: list[_Timed | _Span] = []

    def kinds(self) -> set[str]:
        """Kinds these checks look at."""
        return set(self.timed) | set(self.spans)

    def handlers(self, kind: str) -> list[Callable[[Provision], None]]:
        """The checks of ``kind``, in order: every lead-time and lag rule, then every span."""
        made: list[_Timed | _Span] = [_Timed(r, self) for r in self.timed.get(kind, ())]
        made += [_Span(r, self) for r in self.spans.get(kind, ())]
        self._made += made
        return [m.check for m in made]

    def flush(self) -> None:
        """Hand the passes counted so far to the collector."""
        for m in self._made:
            if m.passes:
                self.collector.passed(m.rule.code, m.passes)
                m.passes = 0

    def on_provision(
        self,
        prov: Provision,
        values: dict[str, Any] | None,
        period_end: datetime | None,
    ) -> None:
        """Check a provision the exact way; ``period_end`` is known (not None) only for NEVER
        provisions. (The audit uses :meth:`handlers`; this is the reference it must equal.)"""
        kind = prov.kind
        timed = self.timed.get(kind)
        spans = self.spans.get(kind) if prov.first else None
        if not timed and not spans:
            return
        payload = prov.statement.payload
        for rule in timed or ():
            if rule.applies_if:
                if values is None:
                    values = values_of(prov)
                if not rule.applies_if.holds(values):
                    continue
            anchor = getattr(payload, rule.anchor or "", None)
            if anchor is None:
                continue
            self._timed(rule, prov, anchor, period_end)
        for rule in spans or ():
            if values is None:
                values = values_of(prov)
            if rule.applies_if and not rule.applies_if.holds(values):
                continue
            self._span(rule, prov, values)

    def _timed(self, rule: Rule, prov: Provision, anchor: Any, period_end: datetime | None) -> None:
        try:
            self._judge(rule, prov, anchor, period_end)
        except OverflowError:
            self._off_calendar(rule, prov, anchor)

    def _off_calendar(self, rule: Rule, prov: Provision, anchor: Any) -> None:
        """A signed anchor so far from the notice (``0001-01-01``) that its deadline lies
        outside the calendar (years 1 to 9999): a lead time cannot be met, a lag is met."""
        st = prov.statement
        if rule.type is not RuleType.LEAD_TIME:
            self.collector.passed(rule.code)
            return
        at = prov.instant(rule)
        self.collector.rule_finding(
            rule,
            self.collector.rule_outcome(rule, True),
            f"{kind_words(st.kind)} {short_id(st.id)} gives {rule.anchor} {anchor}: "
            f"{rule.bound} before it lies before year 1, so no notice can be on time",
            keys=(st.id, prov.receiver),
            parties=(st.sender, prov.receiver),
            message_ids=(st.id,),
            instants={"sent": prov.sent_at} if at is None else {"at": at},
            evidence=prov.evidence,
        )

    def _judge(self, rule: Rule, prov: Provision, anchor: Any, period_end: datetime | None) -> None:
        assert rule.bound is not None and rule.anchor is not None
        st = prov.statement
        evaluate = _evaluator(rule)
        at = prov.instant(rule)
        parties = (st.sender, prov.receiver)
        if at is None:
            # Never received: measure the sending only to learn the deadline.
            b = evaluate(prov.sent_at, anchor, rule.bound, rule.anchor, "sent")
            broken = period_end is not None and b.deadline <= period_end
            outcome = self.collector.rule_outcome(rule, broken)
            where = (
                "inside the audited period"
                if broken
                else f"after the end of the logs ({format_instant(period_end)})"
                if period_end is not None
                else "after the end of the logs"
            )
            explanation = (
                f"{kind_words(st.kind)} {short_id(st.id)} sent {format_instant(prov.sent_at)} "
                f"was never received in {prov.receiver}'s log{_note(prov)}; it had to be "
                f"received {b.deadline_words} ({_bound_words(rule, anchor)}), {where}"
            )
            self.collector.rule_finding(
                rule,
                outcome,
                explanation,
                keys=(st.id, prov.receiver),
                parties=parties,
                message_ids=(st.id,),
                instants={"sent": prov.sent_at, "deadline": b.deadline},
                bound=rule.bound.seconds,
                evidence=prov.evidence,
            )
            return
        verb = prov.verb(rule)
        b = evaluate(at, anchor, rule.bound, rule.anchor, verb, explain=False)
        if not b.ok:
            b = evaluate(at, anchor, rule.bound, rule.anchor, verb)
        outcome_word = "pass"
        if b.ok:
            self.collector.passed(rule.code)
        else:
            outcome = self.collector.rule_outcome(rule, True)
            outcome_word = outcome.value
            instants = {verb: at, "deadline": b.deadline}
            if verb == "received":
                instants["sent"] = prov.sent_at
            self.collector.rule_finding(
                rule,
                outcome,
                f"{kind_words(st.kind)} {short_id(st.id)} {b.text}{prov.suffix(rule)}",
                keys=(st.id, prov.receiver),
                parties=parties,
                message_ids=(st.id,),
                instants=instants,
                measured=b.measured,
                bound=b.bound,
                margin=b.margin,
                evidence=prov.evidence,
            )
        if self.collector.keep_measurements:
            self.collector.measure(
                Measurement(
                    code=rule.code,
                    sender=st.sender,
                    recipient=prov.receiver,
                    message_id=st.id,
                    at=at,
                    measured_seconds=b.measured,
                    bound_seconds=b.bound,
                    outcome=outcome_word,
                )
            )

    def _span(self, rule: Rule, prov: Provision, values: dict[str, Any]) -> None:
        assert rule.bound is not None
        start = values.get(rule.start_field or "")
        end = values.get(rule.end_field or "")
        if start is None or end is None:
            return
        ok, length, words = semantics.span(start, end, rule.bound, explain=False)
        if ok:
            self.collector.passed(rule.code)
            return
        ok, length, words = semantics.span(start, end, rule.bound)
        st = prov.statement
        over = length - rule.bound.seconds
        excess = (
            f"{over // semantics.DAY} day{'' if over == semantics.DAY else 's'}"
            if rule.bound.is_days and over % semantics.DAY == 0
            else format_delta(over)
        )
        instants = {"sent": prov.sent_at}
        if prov.at is not None:
            instants[prov.basis.value] = prov.at
        self.collector.rule_finding(
            rule,
            self.collector.rule_outcome(rule, True),
            f"{kind_words(st.kind)} {short_id(st.id)}: {words}; the rule allows at most "
            f"{rule.bound.words()}; {excess} too long",
            keys=(st.id,),
            parties=(st.sender,),
            message_ids=(st.id,),
            instants=instants,
            measured=length,
            bound=rule.bound.seconds,
            margin=rule.bound.seconds - length,
            evidence=prov.evidence,
        )


def _evaluator(rule: Rule) -> Callable[..., semantics.Bounded]:
    """The semantics function of a lead-time or lag rule (with its skipped days, if any)."""
    lead = rule.type is RuleType.LEAD_TIME
    if not rule.skip_days:
        return semantics.lead_time if lead else semantics.lag
    skipping = semantics.lead_time_skipping if lead else semantics.lag_skipping
    return functools.partial(skipping, rule.skip_days, rule.skip_words())


def _note(prov: Provision) -> str:
    return f" ({prov.note})" if prov.note and prov.basis is Basis.NEVER else ""


def _bound_words(rule: Rule, anchor: Any) -> str:
    assert rule.bound is not None
    rel = "before" if rule.type is RuleType.LEAD_TIME else "after"
    field = semantics.field_words(rule.anchor or "")
    if isinstance(anchor, datetime):
        ref = f"the {field} {format_instant(anchor)}"
    elif rule.bound.is_days:
        ref = f"the {field} {anchor.isoformat()}"
    else:
        ref = f"00:00 UTC on the {field} {anchor.isoformat()}"
    skip = f", {rule.skip_words()} not counted" if rule.skip_days else ""
    return f"{'at least' if rel == 'before' else 'at most'} {rule.bound.words()} {rel} {ref}{skip}"
