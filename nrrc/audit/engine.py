"""The audit: logs (+ observed activities) -> findings, in one streaming pass.

Order of work, for every record of every log merged in time order (:mod:`nrrc.audit.stream`):

1. **Integrity.** Every problem :func:`nrrc.verify.scan_log` finds (chain, checkpoint, malformed
   line, refused envelope, record in the wrong log) becomes an INT finding with its file and line.
   A record whose envelope was refused, or that sits in the wrong log, is not trusted: it is
   never evidence of compliance.
2. **Reconciliation.** The sender's ``sent`` record and the recipient's ``received`` record of
   each message are matched by message id (REC001 sent but never received, REC002 received but
   not in the sender's log, REC003 received before sent beyond ``--skew``, REC004 duplicates,
   REC005 reused sequence numbers, REC006 gaps, REC007 two statements under one id).
3. **Rules.** Each message *provided* to a centre (see :mod:`nrrc.audit.events`) is measured
   against the rules of its kind (:mod:`~nrrc.audit.timing`, :mod:`~nrrc.audit.responses`,
   :mod:`~nrrc.audit.yearly`, :mod:`~nrrc.audit.windows`).

Memory holds open obligations only: messages in flight (sent, not yet received), receipts
awaiting their sent record, unanswered triggers, open notice windows, per-party-per-year
counters, the last 4096 sequence numbers per sender and epoch in each log, and one small entry
per message addressed to a regime (multilateral messages may be received by many centres). The
audited period runs from the earliest log creation to the latest record or checkpoint (or
``--until``); deadlines inside it that passed unmet are violations, later ones are open.

Speed: the pass (:meth:`_Engine.run`) costs a few microseconds per message. The common path (a
trusted record of a message between two centres) runs inline with its state in local
variables. Each statement type has a plan, found on its first provision: the bound checks of its
kind in order (a kind no rule looks at costs one lookup). A check decides a plainly compliant
message on POSIX timestamps and counts it in a plain int; a message near or past its bound
(within a second), never provided, or measured for the HTML timeline goes the exact way of
:mod:`nrrc.audit.semantics`, so findings and counts are exactly those of the definitions.
Evidence travels as ``(file rank, line, message id, role)`` and is named only in findings.
"""

from __future__ import annotations

import gc
import itertools
import math
import os
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from nrrc.audit.codes import CHECKS, problem_code
from nrrc.audit.collector import Collector, Selection
from nrrc.audit.events import Basis, Provision, kind_words, short_id
from nrrc.audit.findings import (
    AuditResult,
    Evidence,
    EvidenceLike,
    EvidenceRef,
    Finding,
    Outcome,
)
from nrrc.audit.responses import ResponseChecks
from nrrc.audit.sources import Inputs, LogSource, find_inputs
from nrrc.audit.stream import (
    EnvelopeCache,
    Record,
    SignaturePool,
    StreamStats,
    log_batches,
    merge_batches,
)
from nrrc.audit.timing import TimingChecks
from nrrc.audit.windows import WindowChecks
from nrrc.audit.yearly import YearlyChecks
from nrrc.catalogue import Catalogue
from nrrc.envelope import Opened, Verifier
from nrrc.errors import InvalidPayload, LogError
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes, Statement
from nrrc.msglog import encoding_problem, read_lines
from nrrc.observed import OBSERVED_FORMAT, Activity, ObservedHeader, decode_observed
from nrrc.timeutil import format_delta, format_instant, to_utc
from nrrc.verify import LogProblem

__all__ = ["AuditOptions", "audit"]

SEQ_WINDOW = 4096
"""Sequence numbers per sender and epoch remembered in each log for duplicate detection."""
GC_THRESHOLD = 100_000
"""Allocations between young-generation collections during the pass (the default is 700)."""
PARALLEL_MIN_BYTES = 4 << 20
"""Below this much log data, signatures are checked in-process: starting workers costs more."""

_LAST_TS = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
"""The last whole second a datetime holds, as a timestamp."""


@dataclass(frozen=True)
class AuditOptions:
    """How to audit.

    Attributes:
        observed: observed-activity logs (``--observed``), in addition to any found in the
            input directories.
        selection: which codes to report (``--select`` / ``--ignore``).
        verify_signatures: check every Ed25519 signature (``--no-verify`` turns it off; the
            chain, keyring ownership, addressing and payloads are still checked).
        jobs: processes for signature checks; None means every core.
        until: end of the audited period (records after it are not audited).
        skew: clock-skew tolerance between centres.
        measurements: keep every timed measurement (for the HTML timeline).
        names: display names for input paths (standard input is ``<stdin>``).
    """

    observed: tuple[Path, ...] = ()
    selection: Selection = field(default_factory=Selection)
    verify_signatures: bool = True
    jobs: int | None = None
    until: datetime | None = None
    skew: timedelta = timedelta(minutes=5)
    measurements: bool = False
    names: Mapping[Path, str] = field(default_factory=dict)


class _Seqs:
    """The recent sequence numbers of one sender and epoch in one log: each new number is
    remembered (with its message id, file and line); when more than ``2 * SEQ_WINDOW`` are,
    those more than SEQ_WINDOW below the highest are forgotten.

    While every number comes above the highest so far, from one file (the usual case), ``ids``
    maps a number to its message id and ``lines`` holds, in the same order, the line of each
    (no object per record: a tuple per record, kept for thousands of records, costs more than
    the rest of the reconciliation). The first number that does not, or the first lookup that
    finds one, turns ``ids`` into number -> (message id, file, line) for good.
    """

    __slots__ = ("file", "ids", "lines", "ordered", "top")

    def __init__(self, file: int) -> None:
        self.top = 0
        self.file = file
        self.ids: dict[int, Any] = {}
        self.lines: array[int] | None = array("q")
        self.ordered = True
        """Whether each number came above every number before it: the dict's order is then
        numeric and the forgotten ones are a prefix of it."""

    def _full(self) -> dict[int, Any]:
        lines = self.lines
        if lines is not None:
            self.lines = None
            file = self.file
            self.ids = {
                s: (m, file, line) for (s, m), line in zip(self.ids.items(), lines, strict=True)
            }
        return self.ids

    def add(self, seq: int, mid: str, file: int, line: int) -> None:
        """A number above the highest, remembered as (message id, file, line)."""
        self._full()[seq] = (mid, file, line)

    def again(self, seq: int, mid: str, file: int, line: int) -> tuple[str, int, int] | None:
        """A number not above the highest: what was remembered under it (message id, file,
        line), or None after remembering it. (A number above the highest is new: the pass
        remembers it inline.)"""
        ids = self._full()
        before: tuple[str, int, int] | None = ids.get(seq)
        if before is None:
            ids[seq] = (mid, file, line)
            self.ordered = False
            if len(ids) > 2 * SEQ_WINDOW:
                self.prune()
        return before

    def prune(self) -> None:
        """Forget the numbers more than SEQ_WINDOW below the highest."""
        floor = self.top - SEQ_WINDOW
        ids = self.ids
        if self.ordered:
            keys = list(ids)
            cut = bisect_right(keys, floor)
            for s in keys[:cut]:
                del ids[s]
            if self.lines is not None:
                del self.lines[:cut]
        else:
            self.ids = {s: v for s, v in ids.items() if s > floor}


_REGIME, _ELSEWHERE, _GIVEN = 0, 1, 2
"""Where a message goes (see ``_Engine.routes``)."""

_Sent = tuple[Opened, int, int, float]
"""A sent record awaiting its receipt: (opened, file rank, line, instant)."""


class _Plan:
    """What to do with every provision of one statement type, found once."""

    __slots__ = ("checks", "kind", "seen")

    def __init__(
        self, kind: str, seen: str | None, checks: tuple[Callable[[Provision], None], ...]
    ) -> None:
        self.kind = kind
        self.seen = seen
        """The agreement whose parties are learnt from its traffic, if any."""
        self.checks = checks
        """The rule checks of the kind, in order; empty when no rule looks at it."""


class _Regime:
    __slots__ = ("cc_received", "opened", "provided", "sent")

    def __init__(self, opened: Opened) -> None:
        self.opened = opened
        self.sent: tuple[int, int] | None = None
        self.provided = False
        self.cc_received = False


class _Receipt:
    __slots__ = ("file", "line", "opened", "owner", "ts")

    def __init__(self, opened: Opened, owner: str, file: int, line: int, ts: float) -> None:
        self.opened = opened
        self.owner = owner
        self.file = file
        self.line = line
        self.ts = ts


class _Coverage:
    __slots__ = ("end", "start")

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end


class _Engine:
    def __init__(
        self,
        catalogue: Catalogue,
        keyring: Keyring,
        sources: Sequence[LogSource],
        names: Sequence[str],
        options: AuditOptions,
        has_observed: bool,
        types: MessageTypes,
    ) -> None:
        self.catalogue = catalogue
        self.keyring = keyring
        self.sources = sources
        self.options = options
        self.skew = options.skew.total_seconds()
        self.until = options.until.timestamp() if options.until else None
        self.collector = Collector(
            catalogue, names, options.selection, keep_measurements=options.measurements
        )
        self.rank_of = {str(s.path): i for i, s in enumerate(sources)}
        self.owners = {s.owner for s in sources}
        self.coverage: dict[str, _Coverage] = {}
        for s in sources:
            created = s.created.timestamp()
            end = s.closed_at.timestamp() if s.closed_at else created
            cov = self.coverage.get(s.owner)
            if cov is None:
                self.coverage[s.owner] = _Coverage(created, end)
            else:
                cov.start = min(cov.start, created)
                cov.end = max(cov.end, end)
        self.period_lo = min(c.start for c in self.coverage.values())
        self.period_hi = max(c.end for c in self.coverage.values())
        rules = [r for r in catalogue.active_rules() if self.collector.wants(r.code)]
        self.timing = TimingChecks(rules, self.collector)
        self.responses = ResponseChecks(rules, self.collector, options.skew)
        self.yearly = YearlyChecks(rules, self.collector)
        self.windows = WindowChecks(rules, self.collector) if has_observed else None
        self.early_order = self.responses.early_order
        self.rule_kinds = (
            self.timing.kinds()
            | self.responses.kinds()
            | self.yearly.kinds()
            | (self.windows.kinds() if self.windows else set())
        )
        need_seen = {r.agreement for r in self.yearly.rules}
        if self.windows is not None:
            need_seen |= {r.agreement for rs in self.windows.by_kind.values() for r in rs}
        self.seen_kinds = {
            k.id: k.agreement
            for k in catalogue.kinds.values()
            if k.agreement in need_seen and not catalogue.agreements[k.agreement].parties
        }
        self.seen: dict[str, set[str]] = {}
        self.active: set[str] = set()
        """Kinds of the messages provided (agreements in use)."""
        self.pending: dict[str, _Sent] = {}
        self.regime: dict[str, _Regime] = {}
        self.unsent: dict[str, list[_Receipt]] = {}
        self.sent_seqs: dict[str, dict[int, _Seqs]] = {s.owner: {} for s in sources}
        """Per log owner and epoch: its sent sequence numbers."""
        self.recv_seqs: dict[str, dict[tuple[str, int], _Seqs]] = {s.owner: {} for s in sources}
        """Per log owner, sender and epoch: the sequence numbers it received."""
        self.unknown_keys: dict[tuple[int, str], list[int]] = {}
        self.untrusted_sent: set[str] = set()
        self.untrusted_received: dict[str, tuple[int, int]] = {}
        self.rejected: dict[str, tuple[int, int]] = {}
        self.now = self.period_lo
        self.count = 0
        self._peek = Verifier(keyring, types)
        self.kind_of: dict[type, str] = {t: k for k, t in types.statements.items()}
        self.plans: dict[type, _Plan] = {}
        self.plans_by_kind: dict[str, _Plan] = {}
        self.routes: dict[str, int] = {}
        """Recipient -> _REGIME (a regime id, lowercase), _ELSEWHERE (a centre whose log is not
        given) or _GIVEN (a centre whose log is given)."""
        self.ends = [-math.inf] * len(sources)
        """The latest trusted record of each log (by rank), folded into ``coverage`` and the
        audited period by :meth:`run`."""
        self.rank_coverage = [self.coverage[s.owner] for s in sources]

    # -- helpers ---------------------------------------------------------------------------

    def ev(self, file: int, line: int, mid: str | None, role: str) -> Evidence:
        return self.collector.evidence(file, line, mid, role)

    def expected_receiver(self, st: Statement) -> str | None:
        r = st.recipient
        if r[:1].isupper():
            return r
        agreement = self.catalogue.agreements.get(r)
        return agreement.central_contact if agreement else None

    def in_scope(self, agreement_id: str, party: str) -> bool:
        """Whether the logs could show ``party``'s notices under this agreement: it is a party
        (declared, or seen sending or receiving the agreement's messages when none are
        declared), and its own log, the central contact's, or another party's is given."""
        a = self.catalogue.agreements.get(agreement_id)
        if a is None:
            return False
        if a.parties:
            if party not in a.parties:
                return False
            others = any(p in self.owners for p in a.parties if p != party)
        else:
            if party not in self.seen.get(agreement_id, ()):
                return False
            others = bool(self.owners - {party})
        cc = a.central_contact is not None and a.central_contact in self.owners
        return party in self.owners or cc or others

    def scope_now(self, agreement_id: str, party: str) -> bool | None:
        """:meth:`in_scope` while the logs are still being read: None when it depends on what
        the rest of the logs show (agreements without declared parties)."""
        a = self.catalogue.agreements.get(agreement_id)
        if a is not None and not a.parties and party not in self.seen.get(agreement_id, ()):
            return None
        return self.in_scope(agreement_id, party)

    def parties(self, agreement_id: str) -> list[str]:
        a = self.catalogue.agreements[agreement_id]
        candidates = a.parties if a.parties else sorted(self.seen.get(agreement_id, ()))
        return [p for p in candidates if self.in_scope(agreement_id, p)]

    def _plan(self, st: Statement) -> _Plan:
        """The plan of ``st``'s type (made on its first provision: the kind is then in use)."""
        stype = type(st)
        known = self.kind_of.get(stype)
        kind = known or st.kind
        plan = self.plans_by_kind.get(kind)
        if plan is None:
            checks: list[Callable[[Provision], None]] = []
            if kind in self.rule_kinds:
                checks += self.timing.handlers(kind)
                checks += self.responses.handlers(kind)
                checks += self.yearly.handlers(kind)
                if self.windows is not None:
                    checks += self.windows.handlers(kind)
            plan = _Plan(kind, self.seen_kinds.get(kind), tuple(checks))
            self.plans_by_kind[kind] = plan
            self.active.add(kind)
        if known:
            self.plans[stype] = plan
        return plan

    def _provide(
        self,
        opened: Opened,
        receiver: str,
        basis: Basis,
        at: datetime | None,
        first: bool,
        evidence: tuple[EvidenceLike, ...],
        note: str = "",
        period_end: datetime | None = None,
    ) -> None:
        """Measure one provision against every rule of its kind (the pass does the same inline
        for receipts and sendings)."""
        st = opened.statement
        plan = self.plans.get(type(st)) or self._plan(st)
        if plan.seen is not None:
            self._see(plan.seen, st.sender, receiver)
        checks = plan.checks
        if not checks:
            return
        ts = at.timestamp() if at is not None else math.nan
        now = self.now
        prov = Provision(
            opened, plan.kind, receiver, basis, at, first, evidence, note, ts, period_end, now
        )
        for check in checks:
            check(prov)
        if self.early_order:
            self.responses.expire(now)

    def _see(self, agreement: str, sender: str, receiver: str) -> None:
        seen = self.seen.get(agreement)
        if seen is None:
            seen = self.seen[agreement] = set()
        seen.add(sender)
        if receiver[:1].isupper():
            seen.add(receiver)

    @staticmethod
    def _not_given(receiver: str) -> str:
        return (
            f"measured at sending: {receiver}'s log is not among the inputs; receipt can only "
            "be later"
        )

    # -- problems --------------------------------------------------------------------------

    def problem(self, p: LogProblem, record: Record | None) -> None:
        rank = self.rank_of.get(p.file, 0)
        name = self.collector.names[rank]
        reason = record.error.reason if record is not None and record.error is not None else None
        code = problem_code(p.code, reason if p.code == "bad-envelope" else None)
        mid = None
        if record is not None:
            if record.error is not None:
                mid = record.error.message_id
            if mid is None and record.envelope is not None:
                found = self._peek.decode_unverified(record.envelope).get("id")
                mid = found if isinstance(found, str) else None
            if isinstance(record.error, InvalidPayload) and "unknown kind" in str(record.error):
                code = "INT009"
            if reason == "unknown-key" and record.envelope is not None:
                key_id = str(record.error).split("'")[1] if "'" in str(record.error) else "?"
                self.unknown_keys.setdefault((rank, key_id), []).append(p.line)
                return
        owner = self.sources[rank].owner
        role = record.direction if record is not None else "line"
        keys = (mid, p.code) if mid else (owner, str(p.line), p.code)
        trust = (
            "; the message is not trusted as evidence"
            if record is not None and code not in ("INT002", "INT012")
            else ""
        )
        if code == "INT001":
            lines = f"lines {p.line - 1} and {p.line}" if p.code == "edited" else f"line {p.line}"
            trust = f"; records on {lines} are not trusted as evidence"
        self.collector.check_finding(
            code,
            f"{p.message}{trust}",
            keys=keys,
            parties=(owner,),
            message_ids=(mid,) if mid else (),
            instants={"at": record.at} if record is not None else {},
            evidence=(Evidence(name, p.line, mid, role),),
        )

    def _unknown_key_findings(self) -> None:
        for (rank, key_id), lines in sorted(self.unknown_keys.items()):
            src = self.sources[rank]
            n = len(lines)
            self.collector.check_finding(
                "INT006",
                f"key id {key_id!r} is not in the keyring: {n} record{'s' if n != 1 else ''} "
                f"of {src.owner}'s log refused (first at line {lines[0]}); they are not "
                "trusted as evidence",
                keys=(src.owner, key_id),
                parties=(src.owner,),
                evidence=tuple(Evidence(src.name, ln, None, "record") for ln in lines[:5]),
            )

    # -- records ---------------------------------------------------------------------------

    def run(self, items: Iterable[tuple[float, int, int, Any]]) -> None:
        """The pass: every record and activity, merged in time order.

        The common path (a trusted record of a message between two centres) runs inline here
        with its state in local variables; everything rarer calls out. Per record: sequence
        numbers, then reconciliation (a sending waits in ``pending`` for its receipt), then
        the provision of the message to its receiver, measured by the checks its kind's plan
        lists (none for a kind no rule looks at).
        """
        record_type = Record
        sent_seqs = [self.sent_seqs[s.owner] for s in self.sources]  # by rank
        recv_seqs = [self.recv_seqs[s.owner] for s in self.sources]
        pending = self.pending
        unsent = self.unsent
        owners = self.owners
        routes = self.routes
        ends = self.ends
        plans = self.plans
        windows = self.windows
        early = self.early_order
        expire = self.responses.expire
        skew = self.skew
        skew_ok = skew >= 0
        window2 = 2 * SEQ_WINDOW
        received_basis = Basis.RECEIVED
        sent_basis = Basis.SENT
        new_seqs = _Seqs
        new_provision = Provision
        period_lo = self.period_lo
        count = self.count
        ts = self.now
        try:
            # A record's merge rank and line are its file and line (the stream makes both),
            # and its owner is its log's owner. Activities come only with observed logs. The
            # merge key is a record's own instant, except for one whose time runs backwards in
            # its log: it keeps its place in the log's order but is measured at its own instant.
            for order, rank, line, r in items:
                if windows is not None:
                    if type(r) is not record_type:
                        ts = order
                        self.activity(r, rank, line)
                        continue
                    count += 1
                    if not count & 4095:
                        windows.sweep(r.at)
                ts = r.ts
                opened = r.opened
                if opened is None:
                    self._untrusted(r)
                    continue
                # Only trusted records extend the audited period and the logs' coverage.
                if ts > ends[rank]:
                    ends[rank] = ts
                if ts < period_lo:
                    period_lo = ts
                st = opened.statement
                mid = st.id
                seq = st.seq
                recipient = st.recipient
                route = routes.get(recipient)
                if route is None:
                    route = routes[recipient] = self._route(recipient)
                if r.direction == "sent":
                    by_epoch = sent_seqs[rank]
                    seqs = by_epoch.get(st.epoch)
                    if seqs is None:
                        seqs = by_epoch[st.epoch] = new_seqs(rank)
                    top = seqs.top
                    if seq > top:  # above the highest number so far: new (the usual case)
                        lines = seqs.lines
                        if lines is not None and rank == seqs.file:
                            seqs.ids[seq] = mid
                            lines.append(line)
                        else:
                            seqs.add(seq, mid, rank, line)
                        seqs.top = seq
                        if seq != top + 1:
                            self._gap(r, st, top)
                        if len(seqs.ids) > window2:
                            seqs.prune()
                    else:
                        before = seqs.again(seq, mid, rank, line)
                        if before is not None:
                            if before[0] == mid:
                                continue  # a retransmission
                            self._reused(r, st, before)
                    if unsent and mid in unsent:
                        # Received before its sent record came in the merge: provided then.
                        for rc in unsent.pop(mid):
                            self._compare(opened, rank, line, rc.opened, rc.file, rc.line)
                        if route is _REGIME:
                            self.now = ts
                            self._sent_regime(r, opened)
                        continue
                    if route is _GIVEN:
                        pending[mid] = (opened, rank, line, ts)
                        continue
                    if route is _REGIME:
                        self.now = ts
                        self._sent_regime(r, opened)
                        continue
                    # The receiver's log is not given: the sending stands in for the receipt.
                    receiver = recipient
                    basis = sent_basis
                    at = to_utc(st.sent_at)
                    at_ts = at.timestamp()
                    evidence: tuple[EvidenceLike, ...] = ((rank, line, mid, "sending"),)
                    note = self._not_given(receiver)
                else:
                    by_sender = recv_seqs[rank]
                    key = (st.sender, st.epoch)
                    seqs = by_sender.get(key)
                    if seqs is None:
                        seqs = by_sender[key] = new_seqs(rank)
                    if seq > seqs.top:  # above the highest number so far: new
                        lines = seqs.lines
                        if lines is not None and rank == seqs.file:
                            seqs.ids[seq] = mid
                            lines.append(line)
                        else:
                            seqs.add(seq, mid, rank, line)
                        seqs.top = seq
                        if len(seqs.ids) > window2:
                            seqs.prune()
                    else:
                        before = seqs.again(seq, mid, rank, line)
                        if before is not None:
                            if before[0] == mid:
                                self._duplicate(r, st, before)
                                continue
                            self._reused(r, st, before)
                    at = r.at
                    # Received before sent beyond the tolerance (on timestamps; the datetimes
                    # in order already rule it out when the tolerance is not negative).
                    if not skew_ok or at < st.sent_at:
                        sent_ts = st.sent_at.timestamp()
                        if ts < sent_ts - skew:
                            self._early(r, st, sent_ts)
                    if route is _REGIME:
                        self.now = ts
                        self._received_regime(r, opened, (rank, line, mid, "receipt"))
                        continue
                    p = pending.pop(mid, None)
                    if p is not None:
                        sent, sent_rank, sent_line, _ = p
                        if sent is not opened and sent.statement_bytes != opened.statement_bytes:
                            self._compare(sent, sent_rank, sent_line, opened, rank, line)
                        evidence = (
                            (rank, line, mid, "receipt"),
                            (sent_rank, sent_line, mid, "sending"),
                        )
                    else:
                        if st.sender in owners:
                            unsent.setdefault(mid, []).append(
                                _Receipt(opened, r.owner, rank, line, ts)
                            )
                        evidence = ((rank, line, mid, "receipt"),)
                    receiver = r.owner
                    basis = received_basis
                    at_ts = ts
                    note = ""
                # The message is provided to ``receiver``: measure it (see _provide).
                plan = plans.get(type(st))
                if plan is None:
                    plan = self._plan(st)
                if plan.seen is not None:
                    self._see(plan.seen, st.sender, receiver)
                checks = plan.checks
                if checks:
                    prov = new_provision(
                        opened,
                        plan.kind,
                        receiver,
                        basis,
                        at,
                        True,
                        evidence,
                        note,
                        at_ts,
                        None,
                        ts,
                    )
                    for check in checks:
                        check(prov)
                    if early:
                        expire(ts)
        finally:
            self.period_lo = period_lo
            self.count = count
            self.now = ts
            for rank, end in enumerate(ends):
                cov = self.rank_coverage[rank]
                if end > cov.end:
                    cov.end = end
                if end > self.period_hi:
                    self.period_hi = end

    def _route(self, recipient: str) -> int:
        if not recipient[:1].isupper():
            return _REGIME
        return _GIVEN if recipient in self.owners else _ELSEWHERE

    def record(self, r: Record) -> None:
        """One record (:meth:`run` does the same for a whole stream, faster)."""
        self.run(((r.ts, r.file, r.line, r),))

    def _untrusted(self, r: Record) -> None:
        if r.envelope is None:
            return
        mid = self._peek.decode_unverified(r.envelope).get("id")
        if not isinstance(mid, str):
            return
        if r.direction == "sent":
            self.untrusted_sent.add(mid)
        elif r.direction == "received":
            self.untrusted_received.setdefault(mid, (r.file, r.line))
        else:
            self.rejected.setdefault(mid, (r.file, r.line))

    def _sent_regime(self, r: Record, opened: Opened) -> None:
        """A sending to a regime (its central contact, or every party, receives it)."""
        st = opened.statement
        mid = st.id
        entry = self.regime.get(mid)
        if entry is None:
            entry = self.regime[mid] = _Regime(opened)
        entry.sent = (r.file, r.line)
        er = self.expected_receiver(st)
        own = er == st.sender  # the central contact's own message: it holds it at once
        if er is not None and (own or er not in self.owners) and not entry.provided:
            entry.provided = True
            self._provide(
                opened,
                er,
                Basis.SENT,
                to_utc(st.sent_at),
                True,
                ((r.file, r.line, mid, "sending"),),
                "the central contact's own message, provided when sent"
                if own
                else self._not_given(er),
            )

    def _received_regime(self, r: Record, opened: Opened, receipt_ev: EvidenceRef) -> None:
        st = opened.statement
        mid = st.id
        entry = self.regime.get(mid)
        if entry is None:
            entry = self.regime[mid] = _Regime(opened)
        if entry.sent is None:
            if st.sender in self.owners:
                self.unsent.setdefault(mid, []).append(
                    _Receipt(opened, r.owner, r.file, r.line, r.ts)
                )
        else:
            self._compare(entry.opened, entry.sent[0], entry.sent[1], opened, r.file, r.line)
        er = self.expected_receiver(st)
        if er is None:
            first = not entry.provided
            entry.provided = True
            self._provide(opened, r.owner, Basis.RECEIVED, r.at, first, (receipt_ev,))
        elif r.owner == er and not entry.cc_received:
            first = not entry.provided
            entry.provided = entry.cc_received = True
            self._provide(opened, er, Basis.RECEIVED, r.at, first, (receipt_ev,))

    # -- reconciliation findings -----------------------------------------------------------

    def _compare(self, sent: Opened, sf: int, sl: int, received: Opened, rf: int, rl: int) -> None:
        if sent.statement_bytes == received.statement_bytes:
            return
        st = sent.statement
        self.collector.check_finding(
            "REC007",
            f"message {short_id(st.id)} from {st.sender}: the sent copy and the received copy "
            f"carry different statements (SHA-256 {sent.digest[:12]}… vs "
            f"{received.digest[:12]}…), each validly signed",
            keys=(st.id, sent.digest, received.digest),
            parties=(st.sender, received.statement.recipient),
            message_ids=(st.id,),
            instants={"sent": to_utc(st.sent_at)},
            evidence=(self.ev(sf, sl, st.id, "sending"), self.ev(rf, rl, st.id, "receipt")),
        )

    def _duplicate(self, r: Record, st: Statement, before: tuple[str, int, int]) -> None:
        self.collector.check_finding(
            "REC004",
            f"{r.owner} accepted message {short_id(st.id)} from {st.sender} twice "
            f"(line {before[2]} and line {r.line}); the inbox must be idempotent",
            keys=(st.id, r.owner, str(r.line)),
            parties=(st.sender, r.owner),
            message_ids=(st.id,),
            instants={"received": r.at},
            evidence=(
                self.ev(before[1], before[2], st.id, "receipt"),
                self.ev(r.file, r.line, st.id, "duplicate receipt"),
            ),
        )

    def _reused(self, r: Record, st: Statement, before: tuple[str, int, int]) -> None:
        where = "sent" if r.direction == "sent" else f"received by {r.owner}"
        self.collector.check_finding(
            "REC005",
            f"{st.sender} epoch {st.epoch} seq {st.seq} is message {short_id(before[0])} and "
            f"message {short_id(st.id)} ({where}): one sequence number, two messages",
            keys=(
                st.sender,
                str(st.epoch),
                str(st.seq),
                min(st.id, before[0]),
                max(st.id, before[0]),
            ),
            parties=(st.sender,),
            message_ids=(before[0], st.id),
            instants={r.direction: r.at},
            evidence=(
                self.ev(before[1], before[2], before[0], r.direction),
                self.ev(r.file, r.line, st.id, r.direction),
            ),
        )

    def _gap(self, r: Record, st: Statement, top: int) -> None:
        lo, hi = top + 1, st.seq - 1
        missing = f"seq {lo}" if lo == hi else f"seq {lo}-{hi}"
        self.collector.check_finding(
            "REC006",
            f"{st.sender}'s sent log: epoch {st.epoch} jumps from seq {top} to seq {st.seq}: "
            f"{missing} {'is' if lo == hi else 'are'} missing",
            keys=(st.sender, str(st.epoch), str(lo), str(hi)),
            parties=(st.sender,),
            message_ids=(st.id,),
            instants={"sent": r.at},
            evidence=(self.ev(r.file, r.line, st.id, "sending"),),
        )

    def _early(self, r: Record, st: Statement, sent_ts: float) -> None:
        ahead = sent_ts - r.ts
        self.collector.check_finding(
            "REC003",
            f"{r.owner} received message {short_id(st.id)} at {format_instant(r.at)}, "
            f"{format_delta(ahead)} before {st.sender} sent it at "
            f"{format_instant(st.sent_at)}; the clock-skew tolerance is "
            f"{format_delta(self.skew)}",
            keys=(st.id, r.owner),
            parties=(st.sender, r.owner),
            message_ids=(st.id,),
            instants={"received": r.at, "sent": to_utc(st.sent_at)},
            evidence=(self.ev(r.file, r.line, st.id, "receipt"),),
        )

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> tuple[datetime, datetime]:
        hi = self.until if self.until is not None else self.period_hi
        # A record at 9999-12-31T23:59:59.999999Z rounds up to year 10000 as a float.
        start = datetime.fromtimestamp(min(self.period_lo, _LAST_TS), UTC)
        end = datetime.fromtimestamp(min(hi, _LAST_TS), UTC)
        if self.until is not None:
            for cov in self.coverage.values():
                cov.end = min(cov.end, self.until)
        self._lost(end)
        self._regime_leftovers(end)
        self._unsent_leftovers()
        self.responses.finish(end)
        in_use = {
            self.catalogue.kinds[k].agreement for k in self.active if k in self.catalogue.kinds
        }
        self.yearly.finish(start, end, self.parties, in_use)
        if self.windows is not None:
            self.windows.finish(self.in_scope)
        self._unknown_key_findings()
        self.timing.flush()
        self.responses.flush()
        return start, end

    def _lost(self, end: datetime) -> None:
        for mid, (opened, file, line, ts) in self.pending.items():
            st = opened.statement
            receiver = st.recipient
            sent_ev: EvidenceLike = (file, line, mid, "sending")
            evidence: tuple[EvidenceLike, ...] = (sent_ev,)
            note = f"{receiver}'s log is given but has no receipt of it"
            untrusted = self.untrusted_received.get(mid)
            rejected = self.rejected.get(mid)
            if untrusted is not None:
                where = f"{self.collector.names[untrusted[0]]}:{untrusted[1]}"
                note = f"its receipt at {where} is not trusted: see the integrity findings"
                evidence = (sent_ev, self.ev(*untrusted, mid, "untrusted receipt"))
            elif rejected is not None:
                where = f"{self.collector.names[rejected[0]]}:{rejected[1]}"
                note = f"{receiver} rejected it ({where})"
                evidence = (sent_ev, self.ev(*rejected, mid, "rejection"))
            if untrusted is None:
                log_end = self.coverage[receiver].end
                near_end = ts + self.skew > log_end
                what = kind_words(st.kind)
                tail = (
                    f"; {receiver}'s log ends {format_delta(log_end - ts)} after the sending, "
                    "within the clock-skew tolerance, so it may still arrive"
                    if near_end
                    else ""
                )
                self.collector.check_finding(
                    "REC001",
                    f"{st.sender} sent {what} {short_id(mid)} to {receiver} at "
                    f"{format_instant(st.sent_at)}; {note}{tail}",
                    keys=(mid, receiver),
                    outcome=Outcome.OPEN if near_end else None,
                    parties=(st.sender, receiver),
                    message_ids=(mid,),
                    instants={"sent": to_utc(st.sent_at)},
                    evidence=evidence,
                )
            self._provide(opened, receiver, Basis.NEVER, None, True, evidence, note, end)
        self.pending.clear()

    def _regime_leftovers(self, end: datetime) -> None:
        for mid, e in self.regime.items():
            if e.provided or e.sent is None:
                continue
            st = e.opened.statement
            sent_ev = self.ev(e.sent[0], e.sent[1], mid, "sending")
            er = self.expected_receiver(st)
            if er is None:
                note = "no log among the inputs records its receipt; measured at sending"
                self._provide(
                    e.opened, st.recipient, Basis.SENT, to_utc(st.sent_at), True, (sent_ev,), note
                )
                continue
            self.collector.check_finding(
                "REC001",
                f"{st.sender} sent {kind_words(st.kind)} {short_id(mid)} to {st.recipient} at "
                f"{format_instant(st.sent_at)}; the central contact {er}'s log is given but "
                "has no receipt of it",
                keys=(mid, er),
                parties=(st.sender, er),
                message_ids=(mid,),
                instants={"sent": to_utc(st.sent_at)},
                evidence=(sent_ev,),
            )
            note = f"the central contact {er}'s log has no receipt of it"
            self._provide(e.opened, er, Basis.NEVER, None, True, (sent_ev,), note, end)
        self.regime.clear()

    def _unsent_leftovers(self) -> None:
        for mid, receipts in self.unsent.items():
            if mid in self.untrusted_sent:
                continue  # the sent record is there but not trusted: INT findings say why
            for rc in receipts:
                st = rc.opened.statement
                cov = self.coverage.get(st.sender)
                sent_ts = st.sent_at.timestamp()
                if cov is None or not cov.start - self.skew <= sent_ts <= cov.end + self.skew:
                    continue
                self.collector.check_finding(
                    "REC002",
                    f"{rc.owner} received {kind_words(st.kind)} {short_id(mid)} from "
                    f"{st.sender} at {format_instant(datetime.fromtimestamp(rc.ts, UTC))}; "
                    f"{st.sender}'s log covers its sent_at ({format_instant(st.sent_at)}) "
                    "but has no sent record of it",
                    keys=(mid, rc.owner),
                    parties=(st.sender, rc.owner),
                    message_ids=(mid,),
                    instants={"received": datetime.fromtimestamp(rc.ts, UTC)},
                    evidence=(self.ev(rc.file, rc.line, mid, "receipt"),),
                )
        self.unsent.clear()

    def activity(self, activity: Activity, rank: int, line: int) -> None:
        if self.windows is None:
            return
        self.now = to_utc(activity.at).timestamp()
        self.windows.on_activity(activity, (rank, line, None, "activity"), self.scope_now)


# -- observed activities ------------------------------------------------------------------------


def _read_activities(path: Path, name: str) -> list[tuple[float, int, Activity]]:
    """Every activity of an observed log with its line, sorted by instant then line."""
    out: list[tuple[float, int, Activity]] = []
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise LogError(f"{name}: cannot open the observed-activity log: {exc.strerror}") from exc
    with fh:
        first = True
        problem = encoding_problem(fh.peek(8)[:8])
        if problem is not None:
            raise LogError(f"{name}: {problem}")
        for raw in read_lines(fh):
            if not raw.data.strip():
                continue
            try:
                item = decode_observed(raw.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise LogError(
                    f"{name}:{raw.lineno}: expected an observed-activity record "
                    f"({OBSERVED_FORMAT}): {exc}"
                ) from exc
            if first:
                if not isinstance(item, ObservedHeader) or item.format != OBSERVED_FORMAT:
                    raise LogError(f"{name}:{raw.lineno}: expected a {OBSERVED_FORMAT} header")
                first = False
                continue
            if isinstance(item, Activity):
                out.append((to_utc(item.at).timestamp(), raw.lineno, item))
    if first:
        raise LogError(f"{name}: empty file: expected a {OBSERVED_FORMAT} header line")
    out.sort(key=lambda t: (t[0], t[1]))
    return out


def _activity_batches(
    items: list[tuple[float, int, Activity]], rank: int, until: float | None
) -> Iterator[list[tuple[float, int, int, Activity]]]:
    yield [(ts, rank, line, act) for ts, line, act in items if until is None or ts <= until]


# -- the audit ------------------------------------------------------------------------------


def _jobs(options: AuditOptions, sources: Sequence[LogSource]) -> int:
    if not options.verify_signatures:
        return 1
    jobs = options.jobs if options.jobs is not None else os.cpu_count() or 1
    if jobs <= 1:
        return 1
    size = sum(s.path.stat().st_size for s in sources)
    return jobs if size >= PARALLEL_MIN_BYTES else 1


def audit(
    inputs: Sequence[Path] | Inputs,
    catalogue: Catalogue,
    keyring: Keyring,
    options: AuditOptions | None = None,
) -> AuditResult:
    """Audit message logs (and observed activities) against the catalogue's rules.

    Args:
        inputs: log files and directories (see :func:`nrrc.audit.sources.find_inputs`), or
            inputs already found.
        catalogue: the agreements (built-ins plus any extra files).
        keyring: the only source of trust for signatures and log owners.
        options: how to audit.

    Returns:
        Findings sorted by :meth:`Finding.sort_key`, per-rule counts, totals and the period.

    Raises:
        AuditError: no logs found, or an input cannot be used.
        LogError: a log or observed log cannot be read at all.
    """
    options = options or AuditOptions()
    found = inputs if isinstance(inputs, Inputs) else find_inputs(list(inputs), options.names)
    sources = found.logs
    observed = sorted({*found.observed, *options.observed}, key=str)
    names = [s.name for s in sources] + [options.names.get(p, str(p)) for p in observed]
    activities = [_read_activities(p, options.names.get(p, str(p))) for p in observed]
    types = MessageTypes(catalogue)
    engine = _Engine(catalogue, keyring, sources, names, options, bool(observed), types)
    for s in sources:
        if not keyring.for_centre(s.owner):
            engine.collector.check_finding(
                "INT013",
                f"the keyring has no key of centre {s.owner}, the owner of this log: its "
                "checkpoints and the envelopes it sent cannot be verified",
                keys=(s.owner,),
                parties=(s.owner,),
                instants={"created": s.created},
                evidence=(Evidence(s.name, 1, None, "header"),),
            )
    jobs = _jobs(options, sources)
    pool = SignaturePool(keyring, jobs) if jobs > 1 else None
    # The pass allocates a few objects per record and frees them soon, none in cycles, while
    # it holds thousands of long-lived ones (the envelope cache, open obligations): with the
    # default thresholds the cyclic collector rescans those over and over (~12 % of the time).
    gc_thresholds = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *gc_thresholds[1:])
    stats = StreamStats()
    cache = EnvelopeCache()
    try:
        streams: list[Iterator[list[Any]]] = [
            log_batches(
                s,
                i,
                keyring,
                types,
                cache,
                check_signatures=options.verify_signatures,
                pool=pool,
                on_problem=engine.problem,
                stats=stats,
                until=options.until,
            )
            for i, s in enumerate(sources)
        ]
        streams += [
            _activity_batches(a, len(sources) + j, engine.until) for j, a in enumerate(activities)
        ]
        engine.run(itertools.chain.from_iterable(merge_batches(streams)))
    finally:
        gc.set_threshold(*gc_thresholds)
        if pool is not None:
            pool.close()
    start, end = engine.finish()
    collector = engine.collector
    for code in CHECKS:
        collector.checked(code, stats.records)
    findings = sorted(collector.findings, key=Finding.sort_key)
    return AuditResult(
        findings=tuple(findings),
        summary=collector.summary(),
        logs=tuple(names[: len(sources)]),
        observed=tuple(names[len(sources) :]),
        messages=stats.records,
        verified=stats.verified,
        period_start=start,
        period_end=end,
        measurements=tuple(
            sorted(collector.measurements, key=lambda m: (m.at, m.code, m.message_id))
        ),
    )
