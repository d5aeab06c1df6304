"""In-memory transports: a deterministic network model for the simulator, and an asyncio
transport for live runs without a broker.

:class:`MemoryNetwork` decides, for each envelope put on the wire, who receives it and when:
every link (ordered pair of centres) has a loss rate, a delay distribution and outage windows.
A message addressed to a regime reaches every member; when the regime has a central contact
(HCoC: Austria, the Immediate Central Contact) it travels sender -> central contact -> each
member, each hop with its own link faults, as the ICC collects and disseminates pre-launch
notices. The central contact relays the envelope verbatim (it is signed by the sender, and
addressed to the regime) and receives it itself like every member. Retransmissions to one member
and acknowledgements travel point to point. All randomness comes from one injected
``random.Random``, so a seed fixes every loss and delay.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nrrc.centre import Delivery, Distribution

__all__ = [
    "Arrival",
    "LinkFault",
    "LinkProfile",
    "MemoryHub",
    "MemoryNetwork",
    "MemoryTransport",
]

DEFAULT_DELAY = Distribution("uniform", 0.05, 0.5)
"""Transit time of a healthy link: 50 to 500 ms."""

_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class LinkFault:
    """Faults of the links matching ``source`` -> ``target`` (``*`` matches any centre).

    Attributes:
        source: sending end (centre id or ``*``).
        target: receiving end (centre id or ``*``).
        loss: probability that one transmission is lost.
        delay: transit time distribution (None: keep the default).
        outages: ``(start, end)`` windows during which everything sent on the link is lost.
        both_ways: also apply to ``target`` -> ``source``.
    """

    source: str = "*"
    target: str = "*"
    loss: float = 0.0
    delay: Distribution | None = None
    outages: tuple[tuple[datetime, datetime], ...] = ()
    both_ways: bool = True

    def matches(self, source: str, target: str) -> bool:
        """Whether the fault applies to the link ``source`` -> ``target``."""

        def hit(a: str, b: str) -> bool:
            return self.source in ("*", a) and self.target in ("*", b)

        return hit(source, target) or (self.both_ways and hit(target, source))


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """The combined faults of one link."""

    loss: float = 0.0
    delay: Distribution = DEFAULT_DELAY
    outages: tuple[tuple[datetime, datetime], ...] = ()

    def down_at(self, at: datetime) -> bool:
        """Whether the link is in an outage at ``at``."""
        return any(start <= at < end for start, end in self.outages)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A copy of an envelope that will reach ``recipient`` at ``at``."""

    at: datetime
    recipient: str
    delivery: Delivery


@dataclass
class NetworkStats:
    """Counts of what the network did."""

    transmissions: int = 0
    copies: int = 0
    delivered: int = 0
    lost: Counter[str] = field(default_factory=Counter)


class MemoryNetwork:
    """The simulator's network: routes each transmission to arrivals, deterministically.

    Args:
        regimes: regime id -> member centre ids.
        central_contacts: regime id -> the centre all regime traffic passes through.
        faults: link faults, in order; losses combine, the last matching delay wins, outages add.
        rng: the network's own random source.
        default_delay: transit time of a link no fault gives a delay to.
    """

    def __init__(
        self,
        *,
        regimes: Mapping[str, Iterable[str]],
        central_contacts: Mapping[str, str] | None = None,
        faults: Iterable[LinkFault] = (),
        rng: random.Random,
        default_delay: Distribution = DEFAULT_DELAY,
    ) -> None:
        self.regimes = {r: tuple(sorted(m)) for r, m in regimes.items()}
        self.central_contacts = dict(central_contacts or {})
        self.faults = tuple(faults)
        self.rng = rng
        self.default_delay = default_delay
        self.stats = NetworkStats()
        self._links: dict[tuple[str, str], LinkProfile] = {}

    def link(self, source: str, target: str) -> LinkProfile:
        """The combined faults of ``source`` -> ``target``."""
        key = (source, target)
        found = self._links.get(key)
        if found is None:
            keep = 1.0
            delay = self.default_delay
            outages: list[tuple[datetime, datetime]] = []
            for fault in self.faults:
                if fault.matches(source, target):
                    keep *= 1.0 - fault.loss
                    if fault.delay is not None:
                        delay = fault.delay
                    outages.extend(fault.outages)
            found = LinkProfile(1.0 - keep, delay, tuple(sorted(outages)))
            self._links[key] = found
        return found

    def _hop(self, source: str, target: str, depart: datetime) -> datetime | None:
        profile = self._links.get((source, target)) or self.link(source, target)
        stats = self.stats
        stats.copies += 1
        if profile.outages and profile.down_at(depart):
            stats.lost["outage"] += 1
            return None
        rng = self.rng
        loss = profile.loss
        if loss > 0 and rng.random() < loss:
            stats.lost["loss"] += 1
            return None
        delay = profile.delay
        if delay.family == "uniform":
            a = delay.a
            seconds = a + (delay.b - a) * rng.random()  # what delay.sample(rng) does
        elif delay.is_zero:
            return depart
        else:
            seconds = delay.sample(rng)
        return depart + _MILLISECOND * round(seconds * 1000)

    def route(self, now: datetime, origin: str, to: str, envelope: bytes) -> list[Arrival]:
        """Every arrival of one transmission by ``origin`` addressed to ``to``."""
        return [Arrival(at, r, d) for at, r, d in self.arrivals(now, origin, to, envelope)]

    def arrivals(
        self, now: datetime, origin: str, to: str, envelope: bytes
    ) -> list[tuple[datetime, str, Delivery]]:
        """:meth:`route` as plain ``(at, recipient, delivery)`` tuples (the simulator's loop)."""
        self.stats.transmissions += 1
        delivery = Delivery(envelope, origin, to)
        members = self.regimes.get(to)
        if members is None:
            at = self._hop(origin, to, now)
            return [(at, to, delivery)] if at is not None else []
        arrivals: list[tuple[datetime, str, Delivery]] = []
        hub = self.central_contacts.get(to)
        if hub is not None and hub != origin:
            at_hub = self._hop(origin, hub, now)
            if at_hub is None:
                return arrivals
            arrivals.append((at_hub, hub, delivery))
            source, depart = hub, at_hub
        else:
            source, depart = origin, now
        for member in members:
            if member in (origin, source):
                continue
            at = self._hop(source, member, depart)
            if at is not None:
                arrivals.append((at, member, delivery))
        return arrivals


class MemoryHub:
    """Routes envelopes between :class:`MemoryTransport` instances in one process, at once.

    Args:
        regimes: regime id -> member centre ids.
    """

    def __init__(self, regimes: Mapping[str, Iterable[str]] | None = None) -> None:
        self.regimes = {r: tuple(sorted(m)) for r, m in (regimes or {}).items()}
        self.queues: dict[str, asyncio.Queue[Delivery]] = {}

    def attach(self, centre: str) -> MemoryTransport:
        """A transport for ``centre`` (its queue is kept while detached, like a broker session)."""
        self.queues.setdefault(centre, asyncio.Queue())
        return MemoryTransport(self, centre)

    def post(self, origin: str, to: str, envelope: bytes) -> None:
        """Deliver ``envelope`` to ``to`` (or every member of the regime ``to`` but ``origin``)."""
        targets = self.regimes.get(to, (to,))
        for target in targets:
            if target == origin:
                continue
            queue = self.queues.setdefault(target, asyncio.Queue())
            queue.put_nowait(Delivery(envelope, origin=origin, channel=to))


class MemoryTransport:
    """An asyncio :class:`~nrrc.transport.Transport` over a :class:`MemoryHub`."""

    def __init__(self, hub: MemoryHub, centre: str) -> None:
        self.hub = hub
        self.centre = centre
        self.settled = 0

    async def send(self, to: str, envelope: bytes) -> None:
        """Hand ``envelope`` to the hub."""
        self.hub.post(self.centre, to, envelope)

    async def receive(self) -> Delivery:
        """The next delivery for this centre."""
        return await self.hub.queues[self.centre].get()

    async def settle(self, delivery: Delivery) -> None:
        """Nothing to acknowledge in memory; counted for tests."""
        self.settled += 1

    async def close(self) -> None:
        """Nothing to release."""
