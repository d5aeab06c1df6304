"""The simulator's own record of what happened, and what the audit must therefore find.

The ledger watches every event of every centre (with each centre's own clock, as its log
records it) and, at the end of the run, works out which rules were broken and why: a notice
received after its deadline, an activity no notice covered, an acknowledgement or reply that
came late or never, a message its recipient never received, a clock so wrong that a message was
received before it was sent. Each becomes an observed-log :class:`~nrrc.observed.Fault` whose
``expect`` lists the finding codes the audit should report; the audit of the same run is then
compared with it. The semantics are written here independently of the audit's, on purpose.

It also measures what a Monte Carlo study reports: the share of launches with a late or missing
notice, times to acknowledgement, retransmissions per notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any

import msgspec

from nrrc.catalogue import FieldSpec, FieldType, Rule, RuleType
from nrrc.centre import ACK_KIND, Event, PlannedActivity, RuleBook
from nrrc.observed import Fault
from nrrc.timeutil import format_delta, format_instant, midnight_utc

__all__ = ["SKEW_TOLERANCE", "Ledger", "RunMetrics", "SentFact"]

SKEW_TOLERANCE = timedelta(minutes=5)
"""The audit's default clock-skew tolerance (``nrrc audit --skew``)."""
_TICK = timedelta(microseconds=1)
_SENT_EVENTS = {"notice-sent", "periodic-sent", "reply-sent", "message-sent", "ack-sent"}


class SentFact(msgspec.Struct):
    """A message a centre sent (logged as ``sent``); one per message, built in C."""

    id: str
    sender: str
    kind: str
    to: str
    sent_at: datetime
    purpose: str
    recipients: tuple[str, ...]
    deadlines: dict[str, datetime] = msgspec.field(default_factory=dict)
    activity: str | None = None
    in_reply_to: str | None = None
    profile_late: bool = False
    payload: bytes | None = None

    @property
    def values(self) -> dict[str, Any]:
        """The payload's fields (JSON types), for rule conditions."""
        return _values(self.payload)


@dataclass(slots=True)
class RunMetrics:
    """What one run measured (the Monte Carlo study aggregates these)."""

    seed: int
    launches: int = 0
    launches_late: int = 0
    launches_missing: int = 0
    launches_late_or_missing: int = 0
    notices: int = 0
    retransmissions: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    messages_sent: int = 0
    messages_received: int = 0
    rejected: int = 0
    undelivered: int = 0
    late_notices: int = 0
    faults: int = 0

    @property
    def share_late_or_missing(self) -> float:
        """Share of launches with at least one late or missing notice (0 when no launch)."""
        return self.launches_late_or_missing / self.launches if self.launches else 0.0

    @property
    def retransmissions_per_notice(self) -> float:
        """Retransmissions per non-acknowledgement message sent."""
        return self.retransmissions / self.notices if self.notices else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        acks = sorted(self.ack_seconds)
        return {
            "seed": self.seed,
            "launches": self.launches,
            "launches_late": self.launches_late,
            "launches_missing": self.launches_missing,
            "launches_late_or_missing": self.launches_late_or_missing,
            "share_late_or_missing": round(self.share_late_or_missing, 6),
            "notices": self.notices,
            "retransmissions": self.retransmissions,
            "retransmissions_per_notice": round(self.retransmissions_per_notice, 6),
            "acknowledgements": len(acks),
            "ack_seconds_median": _quantile(acks, 0.5),
            "ack_seconds_p95": _quantile(acks, 0.95),
            "messages_sent": self.messages_sent,
            "messages_received": self.messages_received,
            "rejected": self.rejected,
            "undelivered": self.undelivered,
            "late_notices": self.late_notices,
            "faults": self.faults,
        }


def _values(payload: Any) -> dict[str, Any]:
    """A notice's payload fields (JSON types) for rule conditions."""
    if not isinstance(payload, bytes | str):
        return {}
    decoded = msgspec.json.decode(payload)
    return decoded if isinstance(decoded, dict) else {}


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return round(values[i], 3)


_Window = tuple[datetime, datetime, bool]
"""The window a notice gives: (first instant, last instant, whether the last is inside)."""
_Bound = tuple[str, bool] | None
"""How to read a window bound from a payload: (field name, whether it is a date), or None when
the kind has no such field."""


def _as_instant(value: date | datetime, *, end: bool) -> tuple[datetime, bool]:
    """A window bound as an instant; a date end stands for the whole day (exclusive next
    midnight)."""
    if isinstance(value, datetime):
        return value, True
    if end:
        return midnight_utc(value + timedelta(days=1)), False
    return midnight_utc(value), True


def _read(values: dict[str, Any], bound: _Bound) -> date | datetime | None:
    """A window bound's value in a payload (None when absent or not a string)."""
    if bound is None:
        return None
    raw = values.get(bound[0])
    if not isinstance(raw, str):
        return None
    return date.fromisoformat(raw) if bound[1] else datetime.fromisoformat(raw)


class Ledger:
    """Collects the facts of one run and derives expected findings and metrics.

    Args:
        book: indexed rules of the catalogue.
        regimes: regime id -> members.
        central_contacts: regime id -> central contact.
        seed: the run's seed (for the metrics).
    """

    def __init__(
        self,
        book: RuleBook,
        regimes: dict[str, tuple[str, ...]],
        central_contacts: dict[str, str],
        seed: int,
    ) -> None:
        self.book = book
        self.regimes = regimes
        self.central_contacts = central_contacts
        self.sent: dict[str, SentFact] = {}
        self.receipts: dict[tuple[str, str], datetime] = {}
        self.acks: dict[tuple[str, str], str] = {}
        """(acknowledged message id, acknowledging centre) -> first ack message id."""
        self.replies: dict[tuple[str, str], str] = {}
        """(request id, replying centre) -> reply message id."""
        self.activities: list[tuple[str, PlannedActivity]] = []
        self.faults: list[Fault] = []
        self.metrics = RunMetrics(seed)
        self.retransmitted: dict[str, int] = defaultdict(int)
        self.rejections: list[tuple[str, datetime, str]] = []
        self._recipients: dict[tuple[str, str], tuple[str, ...]] = {}
        self._values: dict[bytes | None, dict[str, Any]] = {}
        self._timed_codes: dict[str, bool] = {}
        self._responses: dict[str, list[tuple[Rule, timedelta]]] = {}
        self._fields: dict[str, dict[str, FieldSpec]] = {}
        self._bounds: dict[tuple[str, str], tuple[_Bound, _Bound]] = {}
        self._windows: dict[tuple[str, str, bytes | None], _Window | None] = {}
        self.handlers: dict[str, Callable[[str, Event], None]] = {
            **dict.fromkeys(_SENT_EVENTS, self._sent),
            "received": self._received,
            "retransmitted": self._retransmitted,
            "acknowledged": self._acknowledged,
            "rejected": self._rejected,
            "undelivered": self._undelivered,
            "late-notice": self._late_notice,
        }
        """Event name -> what :meth:`observe` does with it (events of other names say nothing
        here); the simulator's loop calls these directly."""

    # -- collecting ----------------------------------------------------------------------

    def observe(self, centre: str, event: Event) -> None:
        """Record what one event of ``centre`` says."""
        handler = self.handlers.get(event.name)
        if handler is not None:
            handler(centre, event)

    def _received(self, centre: str, event: Event) -> None:
        assert event.message_id is not None
        self.receipts.setdefault((event.message_id, centre), event.at)
        self.metrics.messages_received += 1

    def _retransmitted(self, centre: str, event: Event) -> None:
        assert event.message_id is not None
        self.retransmitted[event.message_id] += 1
        self.metrics.retransmissions += 1

    def _acknowledged(self, centre: str, event: Event) -> None:
        self.metrics.ack_seconds.append(float(event.data["latency"]))

    def _rejected(self, centre: str, event: Event) -> None:
        self.metrics.rejected += 1
        self.rejections.append((centre, event.at, str(event.data.get("reason"))))

    def _undelivered(self, centre: str, event: Event) -> None:
        self.metrics.undelivered += 1

    def _late_notice(self, centre: str, event: Event) -> None:
        self.metrics.late_notices += 1

    def _sent(self, centre: str, event: Event) -> None:
        assert event.message_id is not None and event.kind is not None and event.peer is not None
        data = event.data
        to = event.peer
        recipients = self._recipients.get((centre, to))
        if recipients is None:
            members = self.regimes.get(to)
            recipients = tuple(m for m in members if m != centre) if members else (to,)
            self._recipients[(centre, to)] = recipients
        metrics = self.metrics
        metrics.messages_sent += 1
        message_id = event.message_id
        if event.name == "ack-sent":
            # What the general case below gives an acknowledgement (its data says nothing more).
            self.sent[message_id] = SentFact(
                message_id, centre, event.kind, to, event.at, "ack", recipients, {}
            )
            self.acks.setdefault((str(data["acknowledges"]), centre), message_id)
            return
        get = data.get
        purpose = get("purpose", "ack")
        fact = SentFact(
            message_id,
            centre,
            event.kind,
            to,
            event.at,
            purpose,
            recipients,
            # The event's own copy of the plan's deadlines: nothing changes it afterwards.
            get("deadlines") or {},
            get("activity"),
            get("in_reply_to"),
            bool(get("profile_late")),
            get("payload"),
        )
        self.sent[message_id] = fact
        if purpose == "ack":
            self.acks.setdefault((str(data["acknowledges"]), centre), message_id)
        else:
            metrics.notices += 1
            if fact.in_reply_to:
                self.replies.setdefault((fact.in_reply_to, centre), message_id)

    def activity(self, party: str, activity: PlannedActivity) -> None:
        """Record an activity that happened (it goes to the observed log too)."""
        self.activities.append((party, activity))

    def fault(self, fault: Fault) -> None:
        """Record a fault injected by the simulator itself (a hostile envelope)."""
        self.faults.append(fault)

    # -- deriving ------------------------------------------------------------------------

    def _fault(self, fault: str, party: str, at: datetime, **kw: Any) -> None:
        n = len(self.faults) + 1
        self.faults.append(Fault(id=f"f-{n}", fault=fault, party=party, at=at, **kw))

    def finish(
        self,
        end: dict[str, datetime],
        bound_agreements: dict[str, set[str]],
        period: tuple[datetime, datetime],
    ) -> None:
        """Derive every expected finding.

        Args:
            end: each centre's local end of the run (its log's closing instant).
            bound_agreements: centre -> agreements in force for it during the run.
            period: the audited period (first log's creation to last log's close).
        """
        check_delivery, check_deadlines = self._check_delivery, self._check_deadlines
        check_responses = self._check_responses
        for fact in sorted(self.sent.values(), key=attrgetter("sent_at", "id")):
            check_delivery(fact, end)
            if fact.deadlines:
                check_deadlines(fact)
            if fact.purpose != "ack":
                check_responses(fact, end)
        self._check_windows(bound_agreements)
        self._check_yearly(bound_agreements, period)
        self.metrics.faults = len(self.faults)

    def _check_delivery(self, fact: SentFact, end: dict[str, datetime]) -> None:
        for r in fact.recipients:
            at = self.receipts.get((fact.id, r))
            if at is not None and at < fact.sent_at - SKEW_TOLERANCE:
                self._fault(
                    "clock-skew",
                    r,
                    at,
                    message_id=fact.id,
                    detail=(
                        f"{r} received {fact.kind} from {fact.sender} at {format_instant(at)}, "
                        f"{format_delta((fact.sent_at - at).total_seconds())} before it was sent"
                    ),
                    expect=["REC003"],
                )
        hub = self.central_contacts.get(fact.to)
        watched = fact.to if fact.to not in self.regimes else hub
        if watched is None or watched == fact.sender or (fact.id, watched) in self.receipts:
            return
        if fact.sent_at >= end[watched] - SKEW_TOLERANCE:
            return  # still in flight at the end: the audit reports it as open
        self._fault(
            "not-received",
            fact.sender,
            fact.sent_at,
            message_id=fact.id,
            detail=f"{fact.kind} from {fact.sender} never reached {watched}",
            expect=["REC001"],
        )

    def _timed(self, code: str) -> bool:
        """Whether ``code`` is a lead-time or lag rule (checked here, per notice)."""
        timed = self._timed_codes.get(code)
        if timed is None:
            rule = self.book.catalogue.rule(code)
            timed = rule is not None and rule.type in (RuleType.LEAD_TIME, RuleType.LAG)
            self._timed_codes[code] = timed
        return timed

    def _check_deadlines(self, fact: SentFact) -> None:
        if not fact.deadlines:
            return
        for code, first_late in sorted(fact.deadlines.items()):
            if not self._timed(code):
                continue  # responses and calendar-year rules are checked elsewhere
            for r in fact.recipients:
                at = self.receipts.get((fact.id, r))
                if at is None or at < first_late:
                    continue
                late_by = (at - first_late + _TICK).total_seconds()
                self._fault(
                    "late-notice",
                    fact.sender,
                    at,
                    message_id=fact.id,
                    detail=(
                        f"{fact.kind} to {r} received {format_instant(at)}, "
                        f"{format_delta(late_by)} after its {code} deadline"
                        + (" (sent late by the centre's profile)" if fact.profile_late else "")
                    ),
                    expect=[code],
                )

    def _response_rules(self, kind: str) -> list[tuple[Rule, timedelta]]:
        """Response rules triggered by ``kind`` that have a bound, with the bound."""
        found = self._responses.get(kind)
        if found is None:
            found = [
                (r, r.bound.delta) for r in self.book.response.get(kind, ()) if r.bound is not None
            ]
            self._responses[kind] = found
        return found

    def _check_responses(self, fact: SentFact, end: dict[str, datetime]) -> None:
        if fact.purpose == "ack":
            return
        for rule, bound in self._response_rules(fact.kind):
            for r in fact.recipients:
                received = self.receipts.get((fact.id, r))
                if received is None:
                    continue
                if rule.response != ACK_KIND and fact.to != r:
                    continue  # a copy to the regime owes no reply
                deadline = received + bound
                index = self.acks if rule.response == ACK_KIND else self.replies
                answer_id = index.get((fact.id, r))
                answered = self.receipts.get((answer_id, fact.sender)) if answer_id else None
                what = "acknowledgement" if rule.response == ACK_KIND else "reply"
                if answered is not None and answered < received - SKEW_TOLERANCE:
                    # Logged as received before the question was, beyond the clock-skew
                    # tolerance: the clocks disagree too much for it to count as the answer.
                    answered = None
                if answered is None:
                    if deadline >= end[fact.sender]:
                        continue  # open at the end of the logs, not a violation
                    self._fault(
                        f"missing-{what}",
                        r,
                        deadline,
                        message_id=fact.id,
                        detail=f"no {what} from {r} to {fact.kind} {fact.id} within {rule.bound}",
                        expect=[rule.code],
                    )
                elif answered > deadline:
                    self._fault(
                        f"late-{what}",
                        r,
                        answered,
                        message_id=fact.id,
                        detail=(
                            f"{what} from {r} received "
                            f"{format_delta((answered - received).total_seconds())} after "
                            f"the {fact.kind}; the bound is {rule.bound}"
                        ),
                        expect=[rule.code],
                    )

    def provided(self, fact: SentFact) -> datetime | None:
        """When a notice counts as provided: its receipt by the regime's central contact for a
        regime that has one (the contact collects and disseminates), else its first receipt by
        any recipient; None when nobody (that counts) received it."""
        hub = self.central_contacts.get(fact.to)
        if hub is not None and hub != fact.sender:
            return self.receipts.get((fact.id, hub))
        if len(fact.recipients) == 1:
            return self.receipts.get((fact.id, fact.recipients[0]))
        times = [
            self.receipts[(fact.id, r)] for r in fact.recipients if (fact.id, r) in self.receipts
        ]
        return min(times) if times else None

    def _fact_values(self, fact: SentFact) -> dict[str, Any]:
        """``fact.values``, decoded once per payload (copies of a notice share theirs; read
        only)."""
        values = self._values.get(fact.payload)
        if values is None:
            values = self._values[fact.payload] = fact.values
        return values

    def _window_bounds(self, rule: Rule, kind: str) -> tuple[_Bound, _Bound]:
        """How to read ``rule``'s window start and end from a ``kind`` payload."""
        key = (rule.code, kind)
        found = self._bounds.get(key)
        if found is None:
            specs = self._fields.get(kind)
            if specs is None:
                specs = self._fields[kind] = {}
                for f in self.book.catalogue.kinds[kind].fields:
                    specs.setdefault(f.name, f)  # the first of a name, as Kind.field finds it

            def bound(name: str | None) -> _Bound:
                spec = specs.get(name) if name else None
                if not name or spec is None:
                    return None
                return name, spec.type is FieldType.DATE

            found = self._bounds[key] = (bound(rule.window_start), bound(rule.window_end))
        return found

    def _window(self, rule: Rule, fact: SentFact) -> _Window | None:
        """The window a notice gives under a window rule (None when its start is missing);
        worked out once per rule, kind and payload."""
        key = (rule.code, fact.kind, fact.payload)
        windows = self._windows
        if key in windows:
            return windows[key]
        window = windows[key] = self._make_window(rule, fact)
        return window

    def _make_window(self, rule: Rule, fact: SentFact) -> _Window | None:
        start_bound, end_bound = self._window_bounds(rule, fact.kind)
        values = self._fact_values(fact)
        start = _read(values, start_bound)
        if start is None:
            return None
        lo, _ = _as_instant(start, end=False)
        end = _read(values, end_bound)
        if end is not None:
            hi, inclusive = _as_instant(end, end=True)
            return lo, hi, inclusive
        if rule.window_length is not None:
            if isinstance(start, datetime):
                return lo, lo + rule.window_length.delta, True
            return lo, lo + timedelta(days=rule.window_length.amount), False
        if isinstance(start, datetime):
            return lo, lo, True
        return lo, lo + timedelta(days=1), False

    def _covered(self, rule: Rule, facts: list[SentFact], at: datetime) -> bool:
        """Whether one of these notices was provided before ``at`` with a window holding it."""
        for fact in facts:
            provided = self.provided(fact)
            if provided is None or provided >= at:
                continue
            window = self._window(rule, fact)
            if window is not None:
                lo, hi, inclusive = window
                if lo <= at and (at <= hi if inclusive else at < hi):
                    return True
        return False

    def _check_windows(self, bound_agreements: dict[str, set[str]]) -> None:
        own: dict[tuple[str, str, str], list[SentFact]] = defaultdict(list)
        by_party: dict[tuple[str, str], list[SentFact]] = defaultdict(list)
        for fact in self.sent.values():
            by_party[(fact.sender, fact.kind)].append(fact)
            if fact.activity is not None:
                own[(fact.sender, fact.activity, fact.kind)].append(fact)
        nothing: set[str] = set()
        receipts = self.receipts
        party_rules: dict[tuple[str, ...], list[Rule]] = {}
        for party, activity in self.activities:
            applicable = self.book.activity_windows(activity)
            rules_key = (party, *[r.code for r in applicable])
            rules = party_rules.get(rules_key)
            if rules is None:
                bound = bound_agreements.get(party, nothing)
                rules = party_rules[rules_key] = [
                    r
                    for r in applicable
                    if r.agreement in bound and r.kind and self._declared(r.agreement, party)
                ]
            if activity.activity == "launch":
                self.metrics.launches += 1
            late = missing = False
            for rule in rules:
                assert rule.kind is not None
                sent = own.get((party, activity.id, rule.kind), [])
                # Any notice of the party counts (the audit cannot tell which launch a notice
                # was meant for); its own notice is the usual one, so it is tried first.
                covered = self._covered(rule, sent, activity.at) or self._covered(
                    rule, by_party.get((party, rule.kind), []), activity.at
                )
                if not covered:
                    self._fault(
                        "unnotified-activity",
                        party,
                        activity.at,
                        detail=(
                            f"{activity.activity} {activity.id} of {party} at "
                            f"{format_instant(activity.at)}: no {rule.kind} covering it was "
                            "provided before it"
                        ),
                        expect=[rule.code],
                    )
                if not covered or not sent:
                    missing = True
                elif not missing:
                    # Missing when some recipient got none of the notices by the activity.
                    when = activity.at
                    after = when + _TICK
                    if len(sent) == 1:
                        fact = sent[0]
                        for r in fact.recipients:
                            if receipts.get((fact.id, r), after) > when:
                                missing = True
                                break
                    else:
                        expected = {r for f in sent for r in f.recipients}
                        got = {
                            r
                            for f in sent
                            for r in f.recipients
                            if receipts.get((f.id, r), after) <= when
                        }
                        missing = bool(expected - got)
                for f in sent:
                    if not f.deadlines:
                        continue
                    earliest = min(f.deadlines.values())  # late for one deadline: late
                    for r in f.recipients:
                        at = receipts.get((f.id, r))
                        if at is not None and at >= earliest:
                            late = True
            if activity.activity == "launch":
                self.metrics.launches_late += late
                self.metrics.launches_missing += missing
                self.metrics.launches_late_or_missing += late or missing

    # -- calendar years ------------------------------------------------------------------

    def _first_receipts(self, kind: str) -> dict[str, list[tuple[datetime, SentFact]]]:
        """Sender -> (when provided, message) of every message of ``kind`` provided at all."""
        out: dict[str, list[tuple[datetime, SentFact]]] = defaultdict(list)
        for fact in self.sent.values():
            if fact.kind == kind:
                at = self.provided(fact)
                if at is not None:
                    out[fact.sender].append((at, fact))
        return out

    def _declared(self, agreement: str, party: str) -> bool:
        """Whether the catalogue lets ``party`` be held to ``agreement``'s activity and calendar
        rules: an agreement that declares its parties binds only them (a what-if binding of
        another party shows only in its notices' lead times), one that declares none binds
        whoever the scenario binds."""
        declared = self.book.catalogue.agreements[agreement].parties
        return not declared or party in declared

    def _parties(self, agreement: str, bound: dict[str, set[str]]) -> list[str]:
        parties = sorted(c for c, agreements in bound.items() if agreement in agreements)
        return [p for p in parties if self._declared(agreement, p)]

    def _check_yearly(self, bound: dict[str, set[str]], period: tuple[datetime, datetime]) -> None:
        lo, hi = period
        agreements = sorted({a for agreements in bound.values() for a in agreements})
        for agreement in agreements:
            parties = self._parties(agreement, bound)
            for rule in self.book.periodic.get(agreement, []):
                self._periodic(rule, parties, lo, hi)
            for rule in self.book.quota.get(agreement, []):
                self._quota(rule, parties, lo, hi)

    def _periodic(self, rule: Rule, parties: list[str], lo: datetime, hi: datetime) -> None:
        assert rule.kind is not None and rule.due_month is not None and rule.due_day is not None
        firsts = self._first_receipts(rule.kind)
        for party in parties:
            for year in range(lo.year, hi.year + 1):
                due = date(year, rule.due_month, rule.due_day)
                if due < lo.date() or midnight_utc(due + timedelta(days=1)) > hi + _TICK:
                    continue  # before the logs begin, or still open at their end
                first = min((t for t, _ in firsts.get(party, []) if t.year == year), default=None)
                if first is None:
                    self._fault(
                        "missing-submission",
                        party,
                        midnight_utc(due + timedelta(days=1)),
                        detail=f"no {rule.kind} from {party} received in {year} (due {due})",
                        expect=[rule.code],
                    )
                elif first.date() > due:
                    self._fault(
                        "late-submission",
                        party,
                        first,
                        detail=f"the first {rule.kind} from {party} in {year} was received "
                        f"{format_instant(first)}, after its due date {due}",
                        expect=[rule.code],
                    )

    def _quota(self, rule: Rule, parties: list[str], lo: datetime, hi: datetime) -> None:
        assert rule.kind is not None
        firsts = self._first_receipts(rule.kind)
        for party in parties:
            for year in range(lo.year, hi.year + 1):
                whole = lo <= midnight_utc(date(year, 1, 1)) and hi >= midnight_utc(
                    date(year + 1, 1, 1)
                ) - timedelta(seconds=1)
                count = sum(
                    1
                    for t, fact in firsts.get(party, [])
                    if t.year == year
                    and (not rule.applies_if or rule.applies_if.holds(self._fact_values(fact)))
                )
                if whole and rule.min_count is not None and count < rule.min_count:
                    self._fault(
                        "quota-unmet",
                        party,
                        midnight_utc(date(year + 1, 1, 1)) - timedelta(seconds=1),
                        detail=f"{count} {rule.kind} from {party} in {year}; at least "
                        f"{rule.min_count} required",
                        expect=[rule.code],
                    )
                if rule.max_count is not None and count > rule.max_count:
                    self._fault(
                        "quota-exceeded",
                        party,
                        midnight_utc(date(year + 1, 1, 1)) - timedelta(seconds=1),
                        detail=f"{count} {rule.kind} from {party} in {year}; at most "
                        f"{rule.max_count} allowed",
                        expect=[rule.code] * (count - rule.max_count),
                    )
