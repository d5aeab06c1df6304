"""Response and acknowledgement deadlines.

Each trigger message provided to party P (received by P, or sent to P when P's log is not among
the inputs) opens an obligation: P must answer with a message of the rule's response kind whose
``in_reply_to.id`` is the trigger's id and whose ``in_reply_to.digest`` is the SHA-256 of the
trigger's exact statement bytes, no later than the trigger's receipt + bound. The answer is
measured at its receipt by the trigger's sender (or at its sending where the rule says so, or when
the sender's log is not among the inputs). The first answer counts.

When the rule names a ``responder_field`` and the trigger gives it (a Vienna Document request
for explanation sent to every participating State names the State asked), only that party owes
the answer; the other recipients hold copies.

An answer whose digest does not match is an integrity finding (INT011) and does not count. An
obligation still open when the logs end is a violation when its deadline is at or before the end
of the audited period, and reported as open when the deadline lies after it. Memory holds only
open obligations and, for the clock-skew tolerance, answers seen before their trigger.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from nrrc.audit import semantics
from nrrc.audit.collector import Collector
from nrrc.audit.events import Basis, Provision, kind_words, short_id, values_of
from nrrc.audit.findings import Evidence, EvidenceLike, Measurement
from nrrc.audit.timing import FAR
from nrrc.catalogue import MeasuredAt, Rule, RuleType
from nrrc.timeutil import format_delta, format_instant

__all__ = ["ResponseChecks"]

_sha256 = hashlib.sha256


def _copy_only(field: str, prov: Provision) -> bool:
    """Whether the trigger names, in ``field``, another party than the one it was provided
    to as the one that must answer."""
    named = values_of(prov).get(field)
    return named is not None and named != prov.receiver


_SENDING = MeasuredAt.SENDING


class _Obligation(msgspec.Struct, gc=False):
    rule: Rule
    trigger_id: str
    trigger_kind: str
    sender: str
    responder: str
    start: datetime
    start_ts: float
    digest: str
    basis: Basis
    evidence: tuple[EvidenceLike, ...]
    note: str
    delta: timedelta
    limit: float
    """The latest compliant answer timestamp minus one second when the rule is measured at
    receipt and measurements are not kept, else -inf: an answer up to it passes without the
    exact way."""

    @property
    def deadline(self) -> datetime:
        """The last compliant instant of the answer."""
        return self.start + self.delta


class ResponseChecks:
    """Open obligations to answer, keyed by (trigger id, responder).

    An answer within its bound by a clear margin (one second, on POSIX timestamps) passes
    without the exact computation; one near or past its bound takes the exact way
    (:func:`nrrc.audit.semantics.response`).
    """

    def __init__(self, rules: list[Rule], collector: Collector, skew: timedelta) -> None:
        self.collector = collector
        self.skew = skew.total_seconds()
        self.by_trigger: dict[str, list[Rule]] = defaultdict(list)
        self.by_response: dict[str, list[Rule]] = defaultdict(list)
        self.delta: dict[str, timedelta] = {}
        self.fast: dict[str, float] = {}
        """Per rule code: the bound in seconds minus one second, or -inf when the rule is
        measured at sending or measurements are kept (those take the exact way)."""
        for r in rules:
            if r.type is RuleType.RESPONSE and r.trigger and r.response and r.bound:
                self.by_trigger[r.trigger].append(r)
                self.by_response[r.response].append(r)
                self.delta[r.code] = r.bound.delta
                fast = r.measured_at is MeasuredAt.RECEIPT and not collector.keep_measurements
                self.fast[r.code] = r.bound.delta.total_seconds() - 1.0 if fast else -math.inf
        self.passes: dict[str, int] = dict.fromkeys(self.delta, 0)
        self.open: dict[tuple[str, str], list[_Obligation]] = {}
        self.early: dict[tuple[str, str], list[Provision]] = {}
        """Answers seen before any obligation they could close (clock skew), by key."""
        self.early_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._bad_digest: set[str] = set()

    def kinds(self) -> set[str]:
        """Kinds these checks look at (triggers and answers)."""
        return set(self.by_trigger) | set(self.by_response)

    def handlers(self, kind: str) -> list[Callable[[Provision], None]]:
        """The checks of ``kind``, in order: the obligations it opens, then the ones it closes.
        (After them the audit calls :meth:`expire` for every provision of a rule's kind.)"""
        out: list[Callable[[Provision], None]] = [
            self._trigger(rule) for rule in self.by_trigger.get(kind, ())
        ]
        if kind in self.by_response:
            out.append(self._answer)
        return out

    def _trigger(self, rule: Rule) -> Callable[[Provision], None]:
        """The check of one response rule on its trigger kind: :meth:`_oblige`, faster."""
        cond = rule.applies_if if rule.applies_if else None
        responder = rule.responder_field
        delta = self.delta[rule.code]
        far = FAR - delta.total_seconds()
        fast = self.fast[rule.code]
        opened_by = self.open
        early = self.early
        answer = self._answer

        def trigger(prov: Provision) -> None:
            at = prov.at
            if at is None:
                return
            if cond is not None and not cond.holds(values_of(prov)):
                return
            if responder is not None and _copy_only(responder, prov):
                return
            ts = prov.ts
            if ts >= far:
                at + delta  # the deadline is computed when needed: fail now if it cannot be
            opened = prov.opened
            st = opened.statement
            mid = st.id
            receiver = prov.receiver
            key = (mid, receiver)
            ob = _Obligation(
                rule,
                mid,
                prov.kind,
                st.sender,
                receiver,
                at,
                ts,
                _sha256(opened.statement_bytes).hexdigest(),
                prov.basis,
                prov.evidence,
                prov.note,
                delta,
                ts + fast,
            )
            obligations = opened_by.get(key)
            if obligations is None:
                opened_by[key] = [ob]
            else:
                obligations.append(ob)
            if early:
                for early_answer in early.pop(key, ()):
                    answer(early_answer)

        return trigger

    def on_provision(self, prov: Provision, values: dict[str, Any] | None, now: float) -> None:
        """A trigger opens obligations; an answer closes them. (The audit uses
        :meth:`handlers` and :meth:`expire`; this is the same, in one call.)"""
        st = prov.statement
        kind = prov.kind
        rules = self.by_trigger.get(kind)
        if rules and prov.at is not None:
            for rule in rules:
                if rule.applies_if:
                    if values is None:
                        values = values_of(prov)
                    if not rule.applies_if.holds(values):
                        continue
                if rule.responder_field and _copy_only(rule.responder_field, prov):
                    continue
                self._oblige(rule, prov)
        if kind in self.by_response and st.in_reply_to is not None:
            self._answer(prov)
        self.expire(now)

    def _oblige(self, rule: Rule, prov: Provision) -> None:
        at = prov.at
        ts = prov.ts
        assert rule.bound is not None and at is not None and ts is not None
        opened = prov.opened
        st = opened.statement
        key = (st.id, prov.receiver)
        delta = self.delta[rule.code]
        fast = self.fast[rule.code]
        ob = _Obligation(
            rule,
            st.id,
            prov.kind,
            st.sender,
            prov.receiver,
            at,
            ts,
            opened.digest,
            prov.basis,
            prov.evidence,
            prov.note,
            delta,
            ts + fast,
        )
        self.open.setdefault(key, []).append(ob)
        for answer in self.early.pop(key, ()):
            self._answer(answer)

    def _answer(self, prov: Provision) -> None:
        """A message of an answer kind: close the obligations it answers (the first answer
        in time counts), or keep it a while if none is open yet."""
        st = prov.opened.statement
        ref = st.in_reply_to
        if ref is None:
            return
        key = (ref.id, st.sender)
        obligations = self.open.get(key)
        if not obligations:
            if prov.basis is not Basis.NEVER:
                self.early.setdefault(key, []).append(prov)
                self.early_order.append((prov.now, key))
            return
        remaining = None
        kind = prov.kind
        digest = ref.digest
        ts = prov.ts
        for ob in obligations:
            rule = ob.rule
            if ts <= ob.limit and digest == ob.digest and rule.response == kind:
                # In time by a clear margin (NaN, never provided, and -inf, not measured at
                # receipt, never are), with the right digest: it passes.
                self.passes[rule.code] += 1
                continue
            at = prov.sent_at if rule.measured_at is _SENDING else prov.at
            if rule.response == kind and at is not None:
                if digest == ob.digest:
                    self._close(ob, prov, at)
                    continue
                self._digest_mismatch(prov, ob)
            if remaining is None:
                remaining = [ob]
            else:
                remaining.append(ob)
        if remaining is not None:
            self.open[key] = remaining
        else:
            del self.open[key]

    def flush(self) -> None:
        """Hand the passes counted so far to the collector."""
        for code, n in self.passes.items():
            if n:
                self.collector.passed(code, n)
                self.passes[code] = 0

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
        ok, delay, margin = semantics.response(ob.start, at, ob.delta)
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

    def expire(self, now: float) -> None:
        """Forget answers seen more than the clock-skew tolerance before ``now`` that found no
        obligation (their trigger never came)."""
        order = self.early_order
        while order and order[0][0] < now - self.skew:
            _, key = order.popleft()
            answers = self.early.get(key)
            if answers:
                kept = [a for a in answers if a.now >= now - self.skew]
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


def _role(evidence: tuple[EvidenceLike, ...], role: str) -> tuple[EvidenceLike, ...]:
    return tuple(
        Evidence(e.file, e.line, e.message_id, f"{role} {e.role}")
        if isinstance(e, Evidence)
        else (e[0], e[1], e[2], f"{role} {e[3]}")
        for e in evidence
    )
