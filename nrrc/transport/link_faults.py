"""A scenario's ``[[faults]]`` in live runs: link loss, delay and outages on top of a real broker.

The broker delivers every message; a receiving node then plays the scenario's faulty network
model for the link the message came over (its topic's sender to this centre), as the simulator's
:class:`~nrrc.transport.memory.MemoryNetwork` does for each hop:

* during an **outage** of the link (simulated instants), or with the link's **loss**
  probability, the copy is dropped: the node marks it processed in its durable inbox without
  handing it to the centre, so the sender sees no acknowledgement and retransmits;
* otherwise the copy is **held** for a draw of the link's **delay** (simulated time, i.e.
  ``delay / speed`` real seconds) before the centre receives it.

These are simulated faults on top of the real network: the broker's own latency comes on top,
and a link that no fault names is left as the broker makes it. A regime broadcast is judged per
receiving member, like the simulator's per-hop faults (the central-contact relay of the
simulator has no counterpart on a broker).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nrrc.centre import Distribution
from nrrc.transport.memory import LinkFault

__all__ = ["Fate", "LiveLinkFaults"]


@dataclass(frozen=True, slots=True)
class Fate:
    """What happens to one copy: ``lost`` (with ``why``: loss or outage) or held ``delay``."""

    lost: bool
    why: str = ""
    delay: timedelta = timedelta(0)


_PASS = Fate(False)


@dataclass(frozen=True, slots=True)
class _Link:
    loss: float
    delay: Distribution | None
    outages: tuple[tuple[datetime, datetime], ...]


class LiveLinkFaults:
    """The faults of every link into ``centre``.

    Args:
        centre: the receiving centre.
        faults: the scenario's link faults (losses combine, the last matching delay wins,
            outages add, as in the simulator).
        rng: the random source of losses and delays.
    """

    def __init__(self, centre: str, faults: Iterable[LinkFault], rng: random.Random) -> None:
        self.centre = centre
        self.faults = tuple(faults)
        self.rng = rng
        self._links: dict[str, _Link | None] = {}

    def __bool__(self) -> bool:
        return bool(self.faults)

    def _link(self, origin: str) -> _Link | None:
        if origin in self._links:
            return self._links[origin]
        keep, hit = 1.0, False
        delay: Distribution | None = None
        outages: list[tuple[datetime, datetime]] = []
        for fault in self.faults:
            if fault.matches(origin, self.centre):
                hit = True
                keep *= 1.0 - fault.loss
                if fault.delay is not None:
                    delay = fault.delay
                outages.extend(fault.outages)
        link = _Link(1.0 - keep, delay, tuple(sorted(outages))) if hit else None
        self._links[origin] = link
        return link

    def fate(self, origin: str, at: datetime) -> Fate:
        """The fate of a copy from ``origin`` arriving at true simulated instant ``at``."""
        link = self._link(origin)
        if link is None:
            return _PASS
        if any(start <= at < end for start, end in link.outages):
            return Fate(True, "outage")
        if link.loss > 0 and self.rng.random() < link.loss:
            return Fate(True, "loss")
        if link.delay is None or link.delay.is_zero:
            return _PASS
        return Fate(False, delay=link.delay.sample_delta(self.rng))
