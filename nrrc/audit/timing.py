"""Checks of one message at a time: lead time, lag and span.

Each provision of a notice (see :mod:`nrrc.audit.events`) is measured against every lead-time
and lag rule of its kind whose ``applies_if`` holds for its payload; the span of a notice's window
is checked once per message. The semantics are those of :mod:`nrrc.audit.semantics`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from nrrc.audit import semantics
from nrrc.audit.collector import Collector
from nrrc.audit.events import Basis, Provision, kind_words, payload_values, short_id
from nrrc.audit.findings import Measurement
from nrrc.catalogue import Rule, RuleType
from nrrc.timeutil import format_delta, format_instant

__all__ = ["TimingChecks"]


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

    def kinds(self) -> set[str]:
        """Kinds these checks look at."""
        return set(self.timed) | set(self.spans)

    def on_provision(
        self,
        prov: Provision,
        values: dict[str, Any] | None,
        period_end: datetime | None,
    ) -> None:
        """Check a provision; ``period_end`` is known (not None) only for NEVER provisions."""
        kind = prov.kind
        timed = self.timed.get(kind)
        spans = self.spans.get(kind) if prov.first else None
        if not timed and not spans:
            return
        payload = prov.statement.payload
        for rule in timed or ():
            if rule.applies_if:
                if values is None:
                    values = payload_values(prov.statement)
                if not rule.applies_if.holds(values):
                    continue
            anchor = getattr(payload, rule.anchor or "", None)
            if anchor is None:
                continue
            self._timed(rule, prov, anchor, period_end)
        for rule in spans or ():
            if values is None:
                values = payload_values(prov.statement)
            if rule.applies_if and not rule.applies_if.holds(values):
                continue
            self._span(rule, prov, values)

    def _timed(self, rule: Rule, prov: Provision, anchor: Any, period_end: datetime | None) -> None:
        assert rule.bound is not None and rule.anchor is not None
        st = prov.statement
        evaluate = semantics.lead_time if rule.type is RuleType.LEAD_TIME else semantics.lag
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
        ok, length, words = semantics.span(start, end, rule.bound)
        if ok:
            self.collector.passed(rule.code)
            return
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
    return f"{'at least' if rel == 'before' else 'at most'} {rule.bound.words()} {rel} {ref}"
