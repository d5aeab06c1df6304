"""One simulated run: every centre of a scenario over the in-memory network, in virtual time.

A single event queue orders everything by true (simulated) time: deliveries, centres' timers,
activities becoming known, hostile injections, restarts. Each centre sees its own clock (true
time plus its skew), exactly as a live node would. Nothing here sleeps or reads the system clock,
and all randomness flows from the run's seed, so the same seed gives byte-identical outputs.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import heapq
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from heapq import heappush
from operator import attrgetter
from pathlib import Path
from typing import Any

from nrrc.catalogue import Catalogue
from nrrc.centre import (
    Centre,
    Delivery,
    PlannedActivity,
    RuleBook,
    Step,
)
from nrrc.envelope import compose
from nrrc.keys import Keyring, Signer, load_private_key
from nrrc.messages import MessageTypes, Point
from nrrc.msglog import EnvelopeCache, FsyncPolicy, LogWriter
from nrrc.observed import Activity, Fault, ObservedWriter
from nrrc.scenario import Injection, Scenario
from nrrc.simulate._ledger import Ledger, RunMetrics
from nrrc.transport.memory import MemoryNetwork

__all__ = ["RunResult", "run_scenario", "scenario_keys"]

SUMMARY_FORMAT = "nrrc-simulation/1"
_KEYS_FROM = timedelta(days=30)
_GC_THRESHOLDS = (20_000, 20, 100)
_NAME = attrgetter("name")
_COUNT_EVERY = 4096
"""Event names are gathered per step and counted in bulk once this many are waiting."""
_CLOSE_EARLY = timedelta(seconds=1)
"""Logs close one second before the end, so the audited period stays inside the run."""
_EXPECT = {
    "forged": ("forged-envelope", "unknown-key"),
    "tampered": ("tampered-envelope", "bad-signature"),
    "replayed": ("replayed-envelope", "replayed"),
    "misaddressed": ("misaddressed-envelope", "misaddressed"),
}


@dataclass
class RunResult:
    """What one run produced."""

    scenario: str
    seed: int
    metrics: RunMetrics
    summary: dict[str, Any]
    faults: list[Fault] = field(default_factory=list)
    out: Path | None = None


def _seed_bytes(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()


def scenario_keys(scenario: Scenario, seed: int) -> tuple[dict[str, Signer], Keyring]:
    """Each centre's key and the keyring: derived from the seed, or read from the scenario's
    ``keys`` directory and ``keyring`` file."""
    base = Path(scenario.path).parent
    if scenario.keys:
        signers = {
            c: load_private_key(base / scenario.keys / f"{c}.key", c) for c in scenario.centre_ids
        }
    else:
        signers = {
            c: Signer.from_seed(c, _seed_bytes("nrrc-sim-key", scenario.id, seed, c))
            for c in scenario.centre_ids
        }
    if scenario.keyring:
        ring = Keyring.load(base / scenario.keyring)
    else:
        ring = Keyring(s.entry(scenario.start - _KEYS_FROM) for s in signers.values())
    return signers, ring


class _Run:
    """The mutable state of one run."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        types: MessageTypes,
        book: RuleBook,
        out: Path | None,
        fsync: FsyncPolicy,
    ) -> None:
        self.s = scenario
        self.seed = seed
        self.types = types
        self.book = book
        self.out = out
        self.signers, self.keyring = scenario_keys(scenario, seed)
        self.skew = {c.id: c.clock_skew for c in scenario.centres}
        self.centres: dict[str, Centre] = {}
        for cid in scenario.centre_ids:
            self.centres[cid] = Centre(
                scenario.config(cid),
                signer=self.signers[cid],
                keyring=self.keyring,
                types=types,
                rng=random.Random(f"{seed}/centre/{cid}"),
                book=book,
            )
        self.network = MemoryNetwork(
            regimes=scenario.regimes(),
            central_contacts=scenario.central_contacts(),
            faults=scenario.faults,
            rng=random.Random(f"{seed}/network"),
        )
        self.ledger = Ledger(book, scenario.regimes(), scenario.central_contacts(), seed)
        self.queue: list[tuple[datetime, int, str, Any, Any]] = []
        self.count = 0
        self.wake: dict[str, datetime | None] = dict.fromkeys(scenario.centre_ids)
        self.down: dict[str, datetime] = {}
        self.held: dict[str, list[Delivery]] = {c: [] for c in scenario.centre_ids}
        self.captured: dict[str, bytes] = {}
        self._capture = any(inj.attack == "replayed" for inj in scenario.injections)
        """Whether the last envelope each centre accepted is kept (only a replay reads it)."""
        self.sent_kinds: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.event_counts: Counter[str] = Counter()
        self.event_names: list[str] = []
        """Names of the latest events, not yet in ``event_counts`` (counted in bulk)."""
        self.writers: dict[str, LogWriter] = {}
        if out is not None:
            logs = out / "logs"
            # Each envelope is logged by its sender and by every recipient: escaped once.
            envelopes = EnvelopeCache()
            for cid in scenario.centre_ids:
                path = logs / f"{cid}.log.jsonl"
                path.unlink(missing_ok=True)
                self.writers[cid] = LogWriter(
                    path,
                    self.signers[cid],
                    created=self.local(cid, scenario.start),
                    fsync=fsync,
                    envelopes=envelopes,
                )

    # -- plumbing ------------------------------------------------------------------------

    def local(self, cid: str, at: datetime) -> datetime:
        return at + self.skew[cid]

    def push(self, at: datetime, what: str, a: Any = None, b: Any = None) -> None:
        self.count += 1
        heapq.heappush(self.queue, (at, self.count, what, a, b))

    def apply(self, cid: str, step: Step, now: datetime) -> None:
        records = step.records
        if records:
            writer = self.writers.get(cid)
            for record in records:
                direction = record.direction
                if writer is not None:
                    if record.reason is None and record.detail is None:
                        writer.append(direction, record.at, record.envelope)
                    else:
                        writer.append(
                            direction,
                            record.at,
                            record.envelope,
                            reason=record.reason,
                            detail=record.detail,
                        )
                if direction == "sent":
                    continue
                if direction == "received":
                    if self._capture:
                        self.captured[cid] = record.envelope
                elif direction == "rejected":
                    self.rejected[record.reason or "?"] += 1
        transmits = step.transmits
        if transmits:
            arrivals = self.network.arrivals
            queue = self.queue
            sent_kinds = self.sent_kinds
            count = self.count
            for t in transmits:
                if t.attempt == 1:
                    sent_kinds[t.kind] += 1
                for at, recipient, delivery in arrivals(now, cid, t.to, t.envelope):
                    count += 1  # what push does
                    heappush(queue, (at, count, "arrive", recipient, delivery))
            self.count = count
        events = step.events
        if events:
            names = self.event_names
            names.extend(map(_NAME, events))
            if len(names) >= _COUNT_EVERY:
                self.event_counts.update(names)
                names.clear()
            handlers = self.ledger.handlers
            for event in events:
                handler = handlers.get(event.name)
                if handler is not None:
                    handler(cid, event)
        wake = step.wake_at
        if wake is not None:
            skew = self.skew[cid]
            if skew:
                wake -= skew
        if wake != self.wake[cid]:
            self.wake[cid] = wake
            if wake is not None:
                self.count += 1  # what push does
                heappush(self.queue, (wake if wake > now else now, self.count, "wake", cid, None))

    # -- the run -------------------------------------------------------------------------

    def run(self) -> None:
        s = self.s
        start, end = s.start, s.end
        for cid, centre in self.centres.items():
            self.apply(cid, centre.start(self.local(cid, start)), start)
        # The schedule comes sorted by when each item becomes known: it stays a list, merged
        # with the queue in (instant, number) order, which keeps the heap small.
        agenda: list[tuple[datetime, int, str, Any, Any]] = []
        for item in s.schedule(random.Random(f"{self.seed}/schedule")):
            self.count += 1
            agenda.append((item.known_at, self.count, "know", item.party, item.item))
            if isinstance(item.item, PlannedActivity) and item.item.at < end:
                self.ledger.activity(item.party, item.item)
        if any(agenda[i] > agenda[i + 1] for i in range(len(agenda) - 1)):
            for entry in agenda:
                heapq.heappush(self.queue, entry)
            agenda = []
        self._schedule_injections()
        for r in s.restarts:
            self.push(r.at, "down", r.centre, r.at + r.down)
        queue = self.queue
        pop = heapq.heappop
        skews = self.skew
        centres = self.centres
        down = self.down
        next_item, planned = 0, len(agenda)
        while True:
            if next_item < planned and (not queue or agenda[next_item] < queue[0]):
                at, _, what, a, b = agenda[next_item]
                next_item += 1
            elif queue:
                at, _, what, a, b = pop(queue)
            else:
                break
            if at >= end:
                break
            if what == "arrive":
                if a in down:
                    self.held[a].append(b)
                    continue
                skew = skews[a]
                self.apply(a, centres[a].receive(at + skew if skew else at, b), at)
            elif what == "wake":
                if a in down or self.wake[a] != at:
                    continue
                self.wake[a] = None
                skew = skews[a]
                self.apply(a, centres[a].on_timer(at + skew if skew else at), at)
            elif what == "know":
                if a in down:
                    self.push(down[a], "know", a, b)
                    continue
                centre = centres[a]
                now = at + skews[a]
                step = centre.plan(now, b) if isinstance(b, PlannedActivity) else None
                self.apply(a, step or centre.plan_message(now, b), at)
            elif what == "inject":
                self._inject(at, a, b)
            elif what == "down":
                down[a] = b
                self.push(b, "up", a)
            elif what == "up":
                self._up(a, at)

    def _up(self, cid: str, at: datetime) -> None:
        del self.down[cid]
        old = self.centres[cid]
        centre = Centre.from_snapshot(
            old.snapshot(),
            old.config,
            signer=old.signer,
            keyring=self.keyring,
            types=self.types,
            rng=old.rng,
            book=self.book,
        )
        self.centres[cid] = centre
        self.wake[cid] = None
        self.apply(cid, centre.restart(self.local(cid, at)), at)
        held, self.held[cid] = self.held[cid], []
        for delivery in held:
            self.push(at, "arrive", cid, delivery)

    # -- hostile envelopes ---------------------------------------------------------------

    def _schedule_injections(self) -> None:
        rng = random.Random(f"{self.seed}/inject")
        s = self.s
        span = int((s.duration - timedelta(days=2)).total_seconds())
        for n, inj in enumerate(s.injections):
            times = list(inj.at)
            for _ in range(inj.count if not inj.at else 0):
                times.append(s.start + timedelta(days=1, seconds=rng.randrange(max(span, 1))))
            for i, t in enumerate(sorted(times)):
                self.push(t, "inject", inj, f"{n}-{i}")

    def _partner(self, target: str) -> str:
        config = self.centres[target].config
        partners = sorted({p for b in config.own_bindings() for p in b.parties} - {target})
        others = [c for c in self.s.centre_ids if c != target]
        return (partners or others or [target])[0]

    def _free_text(self, signer: Signer, to: str, at: datetime, tag: str) -> bytes:
        opened = compose(
            self.types,
            signer,
            "core.free_text",
            recipient=to,
            sent_at=at,
            epoch=0,
            seq=1,
            payload={"subject": "Routine", "text": f"Message {tag}."},
            rand=random.Random(f"{self.seed}/inject/{tag}"),
        )
        return opened.envelope

    def _inject(self, at: datetime, inj: Injection, tag: str) -> None:
        target = inj.target
        claimed = self._partner(target)
        envelope: bytes | None = None
        if inj.attack == "forged":
            forger = Signer.from_seed(claimed, _seed_bytes("forger", self.seed, tag))
            envelope = self._free_text(forger, target, at, tag)
        elif inj.attack == "tampered":
            genuine = self._free_text(self.signers[claimed], target, at, tag)
            outer = json.loads(genuine)
            statement = base64.b64decode(outer["payload"]).replace(b"Routine", b"Urgent!")
            outer["payload"] = base64.b64encode(statement).decode()
            envelope = json.dumps(outer, separators=(",", ":")).encode()
        elif inj.attack == "replayed":
            envelope = self.captured.get(target)
        elif inj.attack == "misaddressed":
            other = next((c for c in self.s.centre_ids if c not in (target, claimed)), claimed)
            envelope = self._free_text(self.signers[claimed], other, at, tag)
        fault_name, reason = _EXPECT[inj.attack]
        if envelope is None:
            # Nothing to replay yet: the attacker waits for traffic to capture.
            self.push(at + timedelta(days=1), "inject", inj, tag)
            return
        self.ledger.fault(
            Fault(
                id="",
                fault=fault_name,
                party=target,
                at=self.local(target, at),
                detail=f"{inj.by} injected a {inj.attack} envelope; expected refusal: {reason}",
                expect=[],
            )
        )
        self.push(at, "arrive", target, Delivery(envelope, origin=inj.by, channel=target))

    # -- outputs -------------------------------------------------------------------------

    def finish(self) -> RunResult:
        s = self.s
        ends = {cid: self.local(cid, s.end) - _CLOSE_EARLY for cid in s.centre_ids}
        bound: dict[str, set[str]] = {cid: set() for cid in s.centre_ids}
        for b in s.bindings:
            if b.active(s.start) or b.active(s.end - timedelta(microseconds=1)):
                for p in b.parties:
                    bound[p].add(b.agreement)
        period = (min(self.local(c, s.start) for c in s.centre_ids), max(ends.values()))
        self.ledger.finish(ends, bound, period)
        faults = sorted(
            self.ledger.faults, key=lambda f: (f.at, f.fault, f.party, f.message_id or "")
        )
        faults = [
            Fault(
                id=f"f-{i + 1}",
                fault=f.fault,
                party=f.party,
                at=f.at,
                message_id=f.message_id,
                detail=f.detail,
                expect=f.expect,
            )
            for i, f in enumerate(faults)
        ]
        for cid, writer in self.writers.items():
            writer.close(ends[cid])
        if self.out is not None:
            self._write_observed(faults)
            self.keyring.save(self.out / "keyring.json")
        summary = self._summary(faults)
        if self.out is not None:
            text = json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n"
            (self.out / "summary.json").write_text(text, encoding="utf-8")
        return RunResult(s.id, self.seed, self.ledger.metrics, summary, faults, self.out)

    def _write_observed(self, faults: list[Fault]) -> None:
        assert self.out is not None
        writer = ObservedWriter(self.out / "observed.jsonl", created=self.s.start, source=self.s.id)
        for party, act in sorted(self.ledger.activities, key=lambda pa: (pa[1].at, pa[1].id)):
            attributes = dict(act.attributes)
            location = attributes.pop("location", None)
            point = (
                Point(lat=float(location["lat"]), lon=float(location["lon"]))
                if isinstance(location, dict)
                else None
            )
            writer.write(
                Activity(
                    id=act.id,
                    activity=act.activity,
                    party=party,
                    at=act.at,
                    end_at=act.end_at,
                    location=point,
                    attributes=attributes,
                )
            )
        for fault in faults:
            writer.write(fault)
        writer.close()

    def _summary(self, faults: list[Fault]) -> dict[str, Any]:
        s = self.s
        expected = Counter(code for f in faults for code in f.expect)
        in_force = s.agreements_in_force()
        suspended = sorted({b.agreement for b in s.bindings} - set(in_force))
        rules = sorted(
            r.code for r in self.book.catalogue.active_rules() if r.agreement in in_force
        )
        activities = Counter(a.activity for _, a in self.ledger.activities)
        files: dict[str, Any] = {}
        if self.out is not None:
            files = {
                "logs": {c: f"logs/{c}.log.jsonl" for c in s.centre_ids},
                "observed": "observed.jsonl",
                "keyring": "keyring.json",
            }
        return {
            "format": SUMMARY_FORMAT,
            "scenario": s.id,
            "title": s.title,
            "seed": self.seed,
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "centres": len(s.centres),
            "agreements": in_force,
            "suspended": suspended,
            "rules": rules,
            "files": files,
            "audit": (
                "nrrc audit --keyring keyring.json --observed observed.jsonl "
                f"--select {','.join([*in_force, 'integrity', 'reconciliation'])} logs/"
            ),
            "messages": {
                "sent": sum(self.sent_kinds.values()),
                "by_kind": dict(sorted(self.sent_kinds.items())),
                "received": self.ledger.metrics.messages_received,
                "rejected": dict(sorted(self.rejected.items())),
                "retransmissions": self.ledger.metrics.retransmissions,
                "undelivered": self.ledger.metrics.undelivered,
            },
            "network": {
                "transmissions": self.network.stats.transmissions,
                "copies": self.network.stats.copies,
                "lost": dict(sorted(self.network.stats.lost.items())),
            },
            "activities": dict(sorted(activities.items())),
            "events": dict(sorted((self.event_counts + Counter(self.event_names)).items())),
            "faults": dict(sorted(Counter(f.fault for f in faults).items())),
            "expected_findings": dict(sorted(expected.items())),
            "metrics": self.ledger.metrics.as_dict(),
        }


def run_scenario(
    scenario: Scenario,
    catalogue: Catalogue,
    *,
    seed: int | None = None,
    out: Path | None = None,
    types: MessageTypes | None = None,
    book: RuleBook | None = None,
    fsync: FsyncPolicy = FsyncPolicy.NEVER,
) -> RunResult:
    """Run ``scenario`` once and, when ``out`` is given, write its outputs there.

    Outputs: ``logs/<ID>.log.jsonl`` per centre (closed with a signed checkpoint),
    ``observed.jsonl`` (activities and the faults with the findings they should produce),
    ``keyring.json`` and ``summary.json``.

    Args:
        scenario: the loaded scenario.
        catalogue: the catalogue it was loaded against.
        seed: overrides the scenario's seed.
        out: output directory (None: measure only, write nothing).
        types: statement types (built from ``catalogue`` when omitted).
        book: indexed rules (built when omitted).
        fsync: how hard the logs are forced to disk (a simulation need not).
    """
    types = types or MessageTypes(catalogue)
    book = book or RuleBook(catalogue)
    # A run allocates many small objects, nearly all acyclic and short-lived or kept to the
    # end: the cyclic garbage collector looks at them less often while it lasts (about 9 % of
    # the time otherwise). Restored afterwards; nothing here depends on when it runs.
    thresholds = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(thresholds, _GC_THRESHOLDS, strict=True)))
    try:
        run = _Run(scenario, scenario.seed if seed is None else seed, types, book, out, fsync)
        try:
            run.run()
        finally:
            result = run.finish()
    finally:
        gc.set_threshold(*thresholds)
    return result
