"""Helpers for the centre tests: build centres, run them over a perfect or lossy wire."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nrrc.catalogue import Catalogue
from nrrc.centre import (
    Behaviour,
    Binding,
    Centre,
    CentreConfig,
    Delivery,
    Distribution,
    Event,
    LogRecord,
    RetryPolicy,
    RuleBook,
    Step,
)
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INSTANT = Behaviour(ack_delay=Distribution.fixed(0), reply_delay=Distribution.fixed(3600))
"""A centre that acknowledges at once and replies after exactly one hour."""


@dataclass
class Outbox:
    """Everything centres emitted, per centre."""

    records: dict[str, list[LogRecord]] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=dict)

    def add(self, cid: str, step: Step) -> None:
        self.records.setdefault(cid, []).extend(step.records)
        self.events.setdefault(cid, []).extend(step.events)

    def named(self, cid: str, name: str) -> list[Event]:
        return [e for e in self.events.get(cid, []) if e.name == name]

    def direction(self, cid: str, direction: str) -> list[LogRecord]:
        return [r for r in self.records.get(cid, []) if r.direction == direction]


def make_centres(
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    bindings: Iterable[Binding],
    ids: Iterable[str],
    *,
    behaviour: Behaviour = INSTANT,
    behaviours: dict[str, Behaviour] | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Centre]:
    """Centres for ``ids`` with the conftest keys, bound by ``bindings``."""
    bindings = tuple(bindings)
    book = RuleBook(types.catalogue)
    out = {}
    for cid in ids:
        config = CentreConfig(
            cid,
            bindings=bindings,
            behaviour=(behaviours or {}).get(cid, behaviour),
            retry=retry or RetryPolicy(),
        )
        out[cid] = Centre(
            config,
            signer=signers[cid],
            keyring=keyring,
            types=types,
            rng=random.Random(cid),
            book=book,
        )
    return out


class Wire:
    """Runs centres in virtual time over a wire with a fixed transit time (no loss)."""

    def __init__(self, centres: dict[str, Centre], *, transit: timedelta = timedelta(seconds=2)):
        self.centres = centres
        self.transit = transit
        self.out = Outbox()
        self.flight: list[tuple[datetime, int, str, Delivery]] = []
        self.n = 0
        self.regimes: dict[str, list[str]] = {}
        for c in centres.values():
            for regime in c.config.regimes:
                self.regimes[regime] = list(c.config.regime_members(regime))
        self.drop: set[str] = set()
        """Kinds dropped on the wire (to test retransmission)."""

    def apply(self, cid: str, step: Step, now: datetime) -> None:
        self.out.add(cid, step)
        for t in step.transmits:
            if t.kind in self.drop:
                continue
            targets = self.regimes.get(t.to, [t.to])
            for target in targets:
                if target == cid:
                    continue
                self.n += 1
                self.flight.append((now + self.transit, self.n, target, Delivery(t.envelope, cid)))

    def run_until(self, end: datetime) -> None:
        while True:
            wakes = [(c.wake_at, cid) for cid, c in self.centres.items() if c.wake_at]
            nxt = min([w for w, _ in wakes] + [f[0] for f in self.flight], default=None)
            if nxt is None or nxt > end:
                return
            self.flight.sort(key=lambda f: (f[0], f[1]))
            if self.flight and self.flight[0][0] == nxt:
                at, _, target, delivery = self.flight.pop(0)
                self.apply(target, self.centres[target].receive(at, delivery), at)
                continue
            cid = next(cid for w, cid in sorted(wakes) if w == nxt)
            self.apply(cid, self.centres[cid].on_timer(nxt), nxt)


def ids_of(catalogue: Catalogue) -> list[str]:
    """Every kind id (handy in assertions)."""
    return sorted(catalogue.kinds)
