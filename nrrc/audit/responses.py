"""Response and acknowledgement deadlines.

Each trigger message provided to party P (received by P, or sent to P when P's log is not among
the inputs) opens an obligation: P must answer with a message of the rule's response kind whose
``in_reply_to.id`` is the trigger's id and whose ``in_reply_to.digest`` is the SHA-256 of the
trigger's exact statement bytes, no later than the trigger's receipt + bound. The answer is
measured at its receipt by the trigger's sender (or at its sending where the rule says so, or when
the sender's log is not among the inputs). The first answer counts.

An answer whose digest does not match is an integrity finding (INT011) and does not count. An
obligation still open when the logs end is a violation when its deadline is at or before the end
of the audited period, and reported as open when the deadline lies after it. Memory holds only
open obligations and, for the clock-skew tolerance, answers seen before their trigger.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nrrc.audit import semantics
from nrrc.audit.collector import Collector
from nrrc.audit.events import Basis, Provision, kind_words, payload_values, short_id
from nrrc.audit.findings import Evidence, Measurement
from nrrc.catalogue import Rule, RuleType
from nrrc.timeutil import format_delta, format_instant

__all__ = ["ResponseChecks"]


@dataclass(slots=True)
class _Obligation:
    rule: Rule
    trigger_id: str
    trigger_kind: str
    sender: str
    responder: str
    start: datetime
    deadline: datetime
    digest: str
    basis: Basis
    evidence: tuple[Evidence, ...]
    note: str


@dataclass(slots=True)
class _Answer:
    prov: Provision
    ts: float


class ResponseChecks:
    """Open obligations to answer, keyed by (trigger id, responder)."""

    def __init__(self, rules: list[Rule], collector: Collector, skew: timedelta) -> None:
        self.collector = collector
        self.skew = skew.total_seconds()
        self.by_trigger: dict[str, list[Rule]] = defaultdict(list)
        self.by_response: dict[str, list[Rule]] = defaultdict(list)
        self.delta: dict[str, timedelta] = {}
        for r in rules:
            if r.type is RuleType.RESPONSE and r.trigger and r.response and r.bound:
                self.by_trigger[r.trigger].append(r)
                self.by_response[r.response].append(r)
                self.delta[r.code] = r.bound.delta
        self.open: dict[tuple[str, str], list[_Obligation]] = {}
        self.early: dict[tuple[str, str], list[_Answer]] = {}
        self._early_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._bad_digest: set[str] = set()

    def kinds(self) -> set[str]:
        """Kinds these checks look at (triggers and answers)."""
        return set(self.by_trigger) | set(self.by_response)

    def on_provision(self, prov: Provision, values: dict[str, Any] | None, now: float) -> None:
        """A trigger opens obligations; an answer closes them."""
        st = prov.statement
        kind = prov.kind
        rules = self.by_trigger.get(kind)
        if rules and prov.at is not None:
            for rule in rules:
                if rule.applies_if:
                    if values is None:
                        values = payload_values(st)
                    if not rule.applies_if.holds(values):
                        continue
                self._oblige(rule, prov)
        if kind in self.by_response and st.in_reply_to is not None:
            self._answer(prov, now)
        self._expire(now)

    def _oblige(self, rule: Rule, prov: Provision) -> None:
        assert rule.bound is not None and prov.at is not None
        st = prov.statement
        key = (st.id, prov.receiver)
        ob = _Obligation(
            rule,
            st.id,
            prov.kind,
            st.sender,
            prov.receiver,
            prov.at,
            prov.at + self.delta[rule.code],
            prov.opened.digest,
            prov.basis,
            prov.evidence,
            prov.note,
        )
        self.open.setdefault(key, []).append(ob)
        for answer in self.early.pop(key, ()):
            self._answer(answer.prov, answer.ts)

    def _answer(self, prov: Provision, now: float) -> None:
        st = prov.statement
        ref = st.in_reply_to
        assert ref is not None
        key = (ref.id, st.sender)
        obligations = self.open.get(key)
        if not obligations:
            if prov.basis is not Basis.NEVER:
                self.early.setdefault(key, []).append(_Answer(prov, now))
                self._early_order.append((now, key))
            return
        remaining = []
        for ob in obligations:
            at = prov.instant(ob.rule)
            if ob.rule.response != prov.kind or at is None:
                remaining.append(ob)
                continue
            if ref.digest != ob.digest:
                self._digest_mismatch(prov, ob)
                remaining.append(ob)
                continue
            self._close(ob, prov, at)
        if remaining:
            self.open[key] = remaining
        else:
            del self.open[key]

    def _digest_mismatch(self, prov: Provision, ob: _Obligation) -> None:
        st = prov.statement
        if st.id in self._bad_digest:
            return
        self._bad_digest.add(st.id)
        assert st.in_reply_to is not None
        self.collector.check_finding(
            "INT011",
            f"{kind_words(st.kind)} {short_id(st.id)} from {st.sender} names "
            f"{kind_words(ob.trigger_kind)} {short_id(ob.trigger_id)} with digest "
            f"{st.in_reply_to.digest[:12]}…, but that statement's SHA-256 is "
            f"{ob.digest[:12]}…; it does not count as an answer",
            keys=(st.id, ob.trigger_id),
            parties=(st.sender, ob.sender),
            message_ids=(st.id, ob.trigger_id),
            instants={"sent": prov.sent_at},
            evidence=prov.evidence,
        )

    def _close(self, ob: _Obligation, prov: Provision, at: datetime) -> None:
        rule = ob.rule
        assert rule.bound is not None
        ok, delay, margin = semantics.response(ob.start, at, self.delta[rule.code])
        st = prov.statement
        word = "pass"
        if ok:
            self.collector.passed(rule.code)
        else:
            outcome = self.collector.rule_outcome(rule, True)
            word = outcome.value
            verb = prov.verb(rule)
            trigger_verb = "received" if ob.basis is Basis.RECEIVED else "sent"
            notes = [n for n in (ob.note, prov.suffix(rule).strip(" ()")) if n]
            extra = f" ({'; '.join(notes)})" if notes else ""
            self.collector.rule_finding(
                rule,
                outcome,
                f"{kind_words(st.kind)} {short_id(st.id)} from {ob.responder} {verb} "
                f"{format_instant(at)}, {format_delta(delay)} after the "
                f"{kind_words(ob.trigger_kind)} {short_id(ob.trigger_id)} was {trigger_verb} "
                f"({format_instant(ob.start)}); the rule allows at most {rule.bound.words()}; "
                f"late by {format_delta(-margin)}{extra}",
                keys=(ob.trigger_id, ob.responder),
                parties=(ob.responder, ob.sender),
                message_ids=(ob.trigger_id, st.id),
                instants={"trigger": ob.start, "answer": at, "deadline": ob.deadline},
                measured=delay,
                bound=rule.bound.seconds,
                margin=margin,
                evidence=(*ob.evidence, *_role(prov.evidence, "answer")),
            )
        if self.collector.keep_measurements:
            self.collector.measure(
                Measurement(
                    code=rule.code,
                    sender=ob.responder,
                    recipient=ob.sender,
                    message_id=ob.trigger_id,
                    at=at,
                    measured_seconds=delay,
                    bound_seconds=rule.bound.seconds,
                    outcome=word,
                )
            )

    def _expire(self, now: float) -> None:
        order = self._early_order
        while order and order[0][0] < now - self.skew:
            _, key = order.popleft()
            answers = self.early.get(key)
            if answers:
                kept = [a for a in answers if a.ts >= now - self.skew]
                if kept:
                    self.early[key] = kept
                else:
                    del self.early[key]

    def finish(self, period_end: datetime) -> None:
        """Report every obligation still open: violation when its deadline lies inside the
        audited period, open when it lies after the end of the logs."""
        for obligations in self.open.values():
            for ob in obligations:
                rule = ob.rule
                assert rule.bound is not None
                broken = ob.deadline <= period_end
                outcome = self.collector.rule_outcome(rule, broken)
                trigger_verb = "received" if ob.basis is Basis.RECEIVED else "sent"
                where = (
                    f"which lies inside the audited period (it ends {format_instant(period_end)})"
                    if broken
                    else f"after the end of the logs ({format_instant(period_end)})"
                )
                note = f" ({ob.note})" if ob.note else ""
                self.collector.rule_finding(
                    rule,
                    outcome,
                    f"no {kind_words(rule.response or '')} from {ob.responder} answering "
                    f"{kind_words(ob.trigger_kind)} {short_id(ob.trigger_id)} "
                    f"({trigger_verb} {format_instant(ob.start)}{note}); it was due by "
                    f"{format_instant(ob.deadline)} ({rule.bound.words()} later), {where}",
                    keys=(ob.trigger_id, ob.responder),
                    parties=(ob.responder, ob.sender),
                    message_ids=(ob.trigger_id,),
                    instants={"trigger": ob.start, "deadline": ob.deadline},
                    bound=rule.bound.seconds,
                    evidence=ob.evidence,
                )
        self.open.clear()


def _role(evidence: tuple[Evidence, ...], role: str) -> tuple[Evidence, ...]:
    return tuple(Evidence(e.file, e.line, e.message_id, f"{role} {e.role}") for e in evidence)
