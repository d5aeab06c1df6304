"""One centre as a long-running asyncio process over MQTT: ``nrrc node``.

The node drives the sans-I/O :class:`~nrrc.centre.Centre` unchanged. Each turn of its loop
gathers every input that is due (activities becoming known, the centre's timer, envelopes that
arrived), calls the centre, and applies the combined :class:`~nrrc.centre.Step` in this order:

1. **one SQLite transaction** (:class:`~nrrc.store.Store`, fsync'd): the centre's snapshot, the
   journal of the step's log records, its transmissions (the outbox) and the inbox entries it
   consumed;
2. the log records, appended to the hash-chained message log (fsync'd);
3. the transmissions, published from the outbox by the transport;
4. the events, as structlog JSON lines with ``centre``, ``message_id`` and ``kind`` bound.

The scenario's ``[[faults]]`` (link loss, delay, outages) are simulated on top of the real
broker as envelopes arrive (:mod:`nrrc.transport.link_faults`): a lost copy is marked processed
without reaching the centre (the sender retransmits), a delayed one is held in the durable inbox
until its simulated arrival.

Whatever instant the node is killed at, the restarted node resumes from the last commit: the
journal re-appends any log record the crash cut off (so the log and the state agree exactly),
unprocessed inbox entries are handed to the centre again, unpublished transmissions are
published, and :meth:`Centre.restart` opens a new epoch and retransmits every message still
unacknowledged. SIGTERM stops it cleanly: the log is closed with a signed checkpoint and the
MQTT session is kept, so the broker queues what arrives meanwhile.

Run directory (the same layout as ``nrrc simulate``'s, so ``nrrc audit`` reads both)::

    keyring.json           trusted keys (derived from the scenario's seed when missing)
    keys/<ID>.key          the centre's private key (derived from the seed when missing)
    logs/<ID>.log.jsonl    the centre's message log
    state/<ID>.sqlite      the node's durable state
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import structlog

from nrrc.catalogue import Catalogue
from nrrc.centre import (
    Behaviour,
    Centre,
    CentreConfig,
    Delivery,
    Event,
    LogRecord,
    PlannedActivity,
    RuleBook,
    Step,
)
from nrrc.clock import ScaledClock
from nrrc.keys import Keyring, Signer, load_private_key
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter
from nrrc.scenario import Scenario, ScheduledItem
from nrrc.simulate import scenario_keys
from nrrc.store import Store
from nrrc.transport.link_faults import LiveLinkFaults
from nrrc.transport.mqtt import MqttSettings, MqttTransport, peek

__all__ = ["Node", "NodeOptions", "NodeResult", "event_fields", "node_keys"]

_SNAPSHOT = "snapshot"
_JOURNAL = "journal"
_BATCH = 256


class _JournalRecord(msgspec.Struct, array_like=True):
    direction: str
    at: datetime
    envelope: bytes
    reason: str | None
    detail: str | None


class _Journal(msgspec.Struct):
    """The log records of the last committed step and the log length before them."""

    base: int
    records: list[_JournalRecord]


_journal_encoder = msgspec.msgpack.Encoder()
_journal_decoder = msgspec.msgpack.Decoder(_Journal)


@dataclass(frozen=True)
class NodeOptions:
    """What one node runs.

    Attributes:
        centre: the centre id.
        scenario: the scenario (its configuration of this centre and its activities).
        run_dir: the run directory (see the module docstring).
        settings: how to reach the broker.
        clock: the shared scaled clock (true simulated time; the centre's skew is added).
        until: true simulated instant at which the node stops (default: the scenario's end).
        seed: the run's seed (default: the scenario's).
        min_retry: the shortest retransmission interval (simulated time). In scaled time a
            real round trip of a few tens of milliseconds is minutes of simulated time, so a
            scenario's ten-minute first retry would flood healthy links with copies; the node
            stretches the retry policy's first and longest interval to at least this.
        min_give_up: the shortest time before the centre gives up retransmitting (simulated
            time). A real outage (a broker restart, a node reconnecting) lasts real seconds,
            which can be weeks of simulated time; without this floor a sender would give up on
            a healthy link that was down for two real seconds.
        behaviour: replaces the centre's behaviour (e.g. the demo's late-prone centre).
        drain: after ``until``, keep receiving until nothing has arrived for this many real
            seconds (messages still in flight are then logged as received).
        drain_max: the longest the drain may last, in real seconds.
        link_faults: simulate the scenario's ``[[faults]]`` on links into this centre.
    """

    centre: str
    scenario: Scenario
    run_dir: Path
    settings: MqttSettings
    clock: ScaledClock
    until: datetime | None = None
    seed: int | None = None
    min_retry: timedelta | None = None
    min_give_up: timedelta | None = None
    behaviour: Behaviour | None = None
    drain: float = 1.0
    drain_max: float = 6.0
    link_faults: bool = True


@dataclass
class NodeResult:
    """What a node did in this process's lifetime."""

    centre: str
    epoch: int
    restored: bool
    steps: int = 0
    received: int = 0
    sent: int = 0
    events: dict[str, int] = field(default_factory=dict)
    journal_replayed: int = 0
    link_lost: int = 0
    link_delayed: int = 0


def node_keys(scenario: Scenario, run_dir: Path, centre: str, seed: int) -> tuple[Signer, Keyring]:
    """The centre's signing key and the keyring: files in ``run_dir`` when present, else
    derived from the scenario's seed exactly as ``nrrc simulate`` derives them (the derived
    keyring is then written to ``run_dir/keyring.json`` for the auditor; every node of a run
    derives the same one, and the write is atomic)."""
    key_file = run_dir / "keys" / f"{centre}.key"
    ring_file = run_dir / "keyring.json"
    signers, ring = scenario_keys(scenario, seed)
    signer = load_private_key(key_file, centre) if key_file.exists() else signers[centre]
    if ring_file.exists():
        return signer, Keyring.load(ring_file)
    ring.save(ring_file)
    return signer, ring


def _adapted(config: CentreConfig, options: NodeOptions) -> CentreConfig:
    """The scenario's configuration of the centre with the node's live-run adjustments."""
    if options.behaviour is not None:
        config = replace(config, behaviour=options.behaviour)
    retry = config.retry
    floor = options.min_retry
    if floor is not None and floor > retry.initial:
        retry = replace(retry, initial=floor, max_interval=max(floor, retry.max_interval))
    if options.min_give_up is not None and options.min_give_up > retry.give_up_after:
        retry = replace(retry, give_up_after=options.min_give_up)
    return replace(config, retry=retry)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def event_fields(event: Event) -> dict[str, Any]:
    """An event as flat JSON-ready fields (what a node prints and the live view reads)."""
    fields: dict[str, Any] = {
        "at": event.at.isoformat(),
        "level": event.level.value,
        "message_id": event.message_id,
        "kind": event.kind,
        "peer": event.peer,
    }
    if event.detail:
        fields["detail"] = event.detail
    if event.codes:
        fields["codes"] = list(event.codes)
    if event.data:
        fields["data"] = _jsonable(event.data)
    return fields


class Node:
    """One centre's process: restore, run the loop, stop cleanly (see the module docstring).

    Args:
        options: what to run.
        catalogue: the catalogue the scenario was loaded against.
        types: statement types (built when omitted).
        book: indexed rules (built when omitted).
        on_event: called with every event after it has been logged.
        fsync: whether the message log is forced to disk at every record.
    """

    def __init__(
        self,
        options: NodeOptions,
        catalogue: Catalogue,
        *,
        types: MessageTypes | None = None,
        book: RuleBook | None = None,
        on_event: Callable[[Event], None] | None = None,
        fsync: bool = True,
    ) -> None:
        self.options = options
        self.id = options.centre
        scenario = options.scenario
        if self.id not in scenario.centre_ids:
            from nrrc.errors import NrrcError

            raise NrrcError(
                f"--centre: {self.id} is not a centre of scenario {scenario.id} "
                f"(its centres: {', '.join(scenario.centre_ids)})"
            )
        self.seed = scenario.seed if options.seed is None else options.seed
        self.until = options.until or scenario.end
        self.types = types or MessageTypes(catalogue)
        self.book = book or RuleBook(self.types.catalogue)
        self.skew = scenario.centre(self.id).clock_skew
        self.clock = options.clock
        self.signer, self.keyring = node_keys(scenario, options.run_dir, self.id, self.seed)
        self.config = _adapted(scenario.config(self.id), options)
        self.on_event = on_event
        self.fsync = FsyncPolicy.ALWAYS if fsync else FsyncPolicy.NEVER
        self.log = structlog.get_logger("nrrc.node").bind(centre=self.id)
        run_dir = options.run_dir
        self.log_path = run_dir / "logs" / f"{self.id}.log.jsonl"
        self.store_path = run_dir / "state" / f"{self.id}.sqlite"
        items = [
            s
            for s in scenario.schedule(random.Random(f"{self.seed}/schedule"))
            if s.party == self.id
        ]
        self._items: deque[ScheduledItem] = deque(items)
        self._ready: deque[Delivery] = deque()
        self.result = NodeResult(self.id, 0, restored=False)
        self._last_at: datetime | None = None
        self.link_faults = LiveLinkFaults(
            self.id,
            scenario.faults if options.link_faults else (),
            random.Random(),  # fresh per process: a restart must not replay the same losses
        )
        self._held: list[tuple[datetime, int, Delivery]] = []
        self._held_count = 0

    def local(self, true_now: datetime) -> datetime:
        """This centre's clock reading at true simulated instant ``true_now``."""
        return true_now + self.skew

    # -- restore --------------------------------------------------------------------------

    def _centre(self, store: Store, writer: LogWriter) -> tuple[Centre, Step | None]:
        """The centre restored from the store (and its restart step), or a fresh one (None:
        :meth:`Centre.start` must wait for the scenario's start)."""
        local = self.local(self.clock.now())
        snapshot = store.get_state(_SNAPSHOT)
        kwargs: dict[str, Any] = {
            "signer": self.signer,
            "keyring": self.keyring,
            "types": self.types,
            "book": self.book,
        }
        if snapshot is None:
            centre = Centre(
                self.config, rng=random.Random(f"{self.seed}/centre/{self.id}/0"), **kwargs
            )
            return centre, None
        centre = Centre.from_snapshot(snapshot, self.config, rng=random.Random(), **kwargs)
        # A fresh random stream per epoch: ids and draws must not repeat those of a past life.
        centre.rng = random.Random(f"{self.seed}/centre/{self.id}/{centre.epoch + 1}")
        self.result.restored = True
        self.result.journal_replayed = self._replay_journal(store, writer)
        return centre, centre.restart(local)

    def _replay_journal(self, store: Store, writer: LogWriter) -> int:
        """Append the last step's records that a crash kept out of the log; returns how many."""
        raw = store.get_state(_JOURNAL)
        if raw is None:
            return 0
        journal = _journal_decoder.decode(raw)
        end = journal.base + len(journal.records)
        if writer.count >= end:
            return 0
        if writer.count < journal.base:
            from nrrc.errors import LogError

            raise LogError(
                f"{writer.path}: the log has {writer.count} lines but the node's state expects "
                f"at least {journal.base}: the log was truncated or replaced"
            )
        missing = journal.records[writer.count - journal.base :]
        for r in missing:
            writer.append(r.direction, r.at, r.envelope, reason=r.reason, detail=r.detail)  # type: ignore[arg-type]
        self.log.warning("node.journal-replayed", records=len(missing))
        return len(missing)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> NodeResult:
        """Run until the scenario's end (or ``until``) or until ``stop`` is set."""
        stop = stop or asyncio.Event()
        store = Store(self.store_path)
        start_local = self.local(self.options.scenario.start)
        writer = LogWriter(self.log_path, self.signer, created=start_local, fsync=self.fsync)
        transport = MqttTransport(
            self.options.settings,
            store=store,
            now=lambda: self.local(self.clock.now()),
            rng=random.Random(),
        )
        try:
            centre, first = self._centre(store, writer)
            self.result.epoch = centre.epoch
            self.log.info(
                "node.started",
                epoch=centre.epoch,
                restored=self.result.restored,
                journal_replayed=self.result.journal_replayed,
                broker=str(self.options.settings.url),
            )
            await transport.start()
            if first is None:
                # A node launched ahead of the run waits for simulated time to begin: started
                # earlier, the centre would plan the previous year's periodic submissions.
                wait = self.clock.real_seconds_until(self.options.scenario.start)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await stop.wait()
                if stop.is_set():
                    return self.result
                first = centre.start(self.local(self.clock.now()))
            self._commit(centre, first, [], store, writer, transport)
            if await self._loop(centre, store, writer, transport, stop):
                await self._drain(centre, store, writer, transport, stop)
        finally:
            await transport.close()
            closing = self.local(self.clock.now())
            if self._last_at is not None:
                closing = max(closing, self._last_at)
            writer.close(closing)
            store.close()
            summary = {k: v for k, v in asdict(self.result).items() if k != "centre"}
            self.log.info("node.stopped", **summary)
        return self.result

    async def _loop(
        self,
        centre: Centre,
        store: Store,
        writer: LogWriter,
        transport: MqttTransport,
        stop: asyncio.Event,
    ) -> bool:
        """The main loop; True when it ended because simulated time reached ``until``."""
        receiver: asyncio.Task[Delivery] | None = None
        stopper = asyncio.create_task(stop.wait(), name=f"{self.id}-stop")
        try:
            while not stop.is_set():
                true_now = self.clock.now()
                if true_now >= self.until:
                    return True
                local = self.local(true_now)
                step = Step()
                while self._items and self._items[0].known_at <= true_now:
                    item = self._items.popleft().item
                    if isinstance(item, PlannedActivity):
                        step.extend(centre.plan(local, item))
                    else:
                        step.extend(centre.plan_message(local, item))
                wake = centre.wake_at
                if wake is not None and wake <= local:
                    step.extend(centre.on_timer(local))
                deliveries: list[Delivery] = []
                while self._held and self._held[0][0] <= true_now and len(deliveries) < _BATCH:
                    released = heapq.heappop(self._held)[2]
                    deliveries.append(released)
                    step.extend(centre.receive(local, released))
                while len(deliveries) < _BATCH:
                    delivery = self._ready.popleft() if self._ready else transport.receive_nowait()
                    if delivery is None:
                        break
                    if self.link_faults and self._faulted(delivery, true_now, store, transport):
                        continue
                    deliveries.append(delivery)
                    step.extend(centre.receive(local, delivery))
                if step.records or step.transmits or step.events or deliveries:
                    self._commit(centre, step, deliveries, store, writer, transport)
                    continue
                targets = [self.until]
                if wake is not None:
                    targets.append(wake - self.skew)
                if self._items:
                    targets.append(self._items[0].known_at)
                if self._held:
                    targets.append(self._held[0][0])
                timeout = self.clock.real_seconds_until(min(targets))
                if receiver is None:
                    receiver = asyncio.create_task(transport.receive(), name=f"{self.id}-receive")
                done, _ = await asyncio.wait(
                    {receiver, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    self._ready.append(receiver.result())
                    receiver = None
        finally:
            for task in (receiver, stopper):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if receiver is not None and receiver.done() and not receiver.cancelled():
                self._ready.append(receiver.result())
        return False

    async def _drain(
        self,
        centre: Centre,
        store: Store,
        writer: LogWriter,
        transport: MqttTransport,
        stop: asyncio.Event,
    ) -> None:
        """After ``until``: only receive (no new notices, no timers) until the links have been
        quiet for ``drain`` real seconds, then wait for the outbox to reach the broker.

        Every node of a run stops at the same simulated instant, so whatever is in flight
        then would otherwise be logged as sent and never received.
        """
        # Simulated time is over: copies held for a simulated delay arrive now.
        self._ready.extendleft(reversed([h[2] for h in sorted(self._held)]))
        self._held.clear()
        loop = asyncio.get_running_loop()
        hard = loop.time() + self.options.drain_max
        quiet = loop.time() + self.options.drain
        while not stop.is_set():
            wait = min(hard, quiet) - loop.time()
            if wait <= 0:
                break
            delivery = self._ready.popleft() if self._ready else None
            if delivery is None:
                try:
                    async with asyncio.timeout(wait):
                        delivery = await transport.receive()
                except TimeoutError:
                    break
            deliveries = [delivery]
            while len(deliveries) < _BATCH:
                more = self._ready.popleft() if self._ready else transport.receive_nowait()
                if more is None:
                    break
                deliveries.append(more)
            local = self.local(self.clock.now())
            step = Step()
            for d in deliveries:
                step.extend(centre.receive(local, d))
            self._commit(centre, step, deliveries, store, writer, transport)
            quiet = loop.time() + self.options.drain
        while store.unpublished(limit=1) and transport.connected and loop.time() < hard:
            await asyncio.sleep(0.05)

    def _faulted(
        self, delivery: Delivery, true_now: datetime, store: Store, transport: MqttTransport
    ) -> bool:
        """Apply the scenario's link faults to an arriving copy; True when it was lost or held
        (then it does not reach the centre now)."""
        origin = delivery.origin or ""
        fate = self.link_faults.fate(origin, true_now)
        if not fate.lost and not fate.delay:
            return False
        message_id, kind = peek(delivery.envelope)
        log = self.log.bind(message_id=message_id, kind=kind)
        if fate.lost:
            key = transport.inbox_key(delivery)
            if key is not None:
                store.mark_processed([key])  # durable: a restart must not revive a lost copy
            transport.forget(delivery)
            self.result.link_lost += 1
            log.info("link.lost", peer=origin, cause=fate.why, simulated=True)
            return True
        self._held_count += 1
        heapq.heappush(self._held, (true_now + fate.delay, self._held_count, delivery))
        self.result.link_delayed += 1
        log.info("link.delayed", peer=origin, delay=fate.delay.total_seconds(), simulated=True)
        return True

    def _commit(
        self,
        centre: Centre,
        step: Step,
        deliveries: list[Delivery],
        store: Store,
        writer: LogWriter,
        transport: MqttTransport,
    ) -> None:
        journal = _Journal(
            base=writer.count,
            records=[
                _JournalRecord(r.direction, r.at, r.envelope, r.reason, r.detail)
                for r in step.records
            ],
        )
        with store.transaction():
            store.put_state(_SNAPSHOT, centre.snapshot())
            store.put_state(_JOURNAL, _journal_encoder.encode(journal))
            for t in step.transmits:
                transport.stage(
                    t.to, t.envelope, attempt=t.attempt, message_id=t.message_id, kind=t.kind
                )
            keys = [k for k in (transport.inbox_key(d) for d in deliveries) if k is not None]
            store.mark_processed(keys)
        for d in deliveries:
            transport.forget(d)
        for r in step.records:
            self._append(writer, r)
        transport.kick()
        self.result.steps += 1
        self.result.received += len(deliveries)
        self.result.sent += sum(1 for t in step.transmits if t.attempt == 1)
        for event in step.events:
            self._event(event)

    def _append(self, writer: LogWriter, record: LogRecord) -> None:
        writer.append(
            record.direction, record.at, record.envelope, reason=record.reason, detail=record.detail
        )
        self._last_at = record.at

    def _event(self, event: Event) -> None:
        counts = self.result.events
        counts[event.name] = counts.get(event.name, 0) + 1
        fields = event_fields(event)
        level = fields.pop("level")
        log = self.log.bind(message_id=fields.pop("message_id"), kind=fields.pop("kind"))
        if level == "info":
            log.info(event.name, **fields)
        else:
            log.warning(event.name, level=level, **fields)
        if self.on_event is not None:
            self.on_event(event)
