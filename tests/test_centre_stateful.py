"""Random interleavings of sends, losses, duplicates, delays and restarts never lead to a
message applied twice, nor to one silently lost."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from centre_support import INSTANT, T0
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nrrc.catalogue import load_catalogue
from nrrc.centre import (
    Binding,
    Centre,
    CentreConfig,
    Delivery,
    PlannedMessage,
    RetryPolicy,
    RuleBook,
    Step,
)
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

IDS = ("US", "RU", "GB")
CATALOGUE = load_catalogue()
TYPES = MessageTypes(CATALOGUE)
BOOK = RuleBook(CATALOGUE)
SIGNERS = {c: Signer.from_seed(c, (c.encode() * 32)[:32]) for c in IDS}
RING = Keyring(s.entry(T0 - timedelta(days=1)) for s in SIGNERS.values())
REGIME = Binding("vd11", IDS, multilateral=True)
RETRY = RetryPolicy(initial=timedelta(minutes=10), max_interval=timedelta(hours=2))
CONFIGS = {c: CentreConfig(c, bindings=(REGIME,), behaviour=INSTANT, retry=RETRY) for c in IDS}


class Exchange(RuleBasedStateMachine):
    """Three centres over an adversarial (but not malicious) wire."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.centres = {
            c: Centre(
                CONFIGS[c],
                signer=SIGNERS[c],
                keyring=RING,
                types=TYPES,
                rng=random.Random(c),
                book=BOOK,
            )
            for c in IDS
        }
        self.flight: list[tuple[str, Delivery]] = []
        self.applied: Counter[tuple[str, str]] = Counter()
        self.expected: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.undelivered: set[tuple[str, str]] = set()
        self.n = 0

    # -- plumbing ------------------------------------------------------------------------

    def apply(self, cid: str, step: Step) -> None:
        for t in step.transmits:
            targets = REGIME.others(cid) if t.to == "vd11" else (t.to,)
            self.flight.extend((target, Delivery(t.envelope, cid)) for target in targets)
        for e in step.events:
            if e.name == "received" and e.kind != "core.ack":
                assert e.message_id is not None
                self.applied[(cid, e.message_id)] += 1
            elif e.name == "message-sent":
                assert e.message_id is not None and e.peer is not None
                to = REGIME.others(cid) if e.peer == "vd11" else (e.peer,)
                self.expected[e.message_id] = (cid, to)
            elif e.name == "undelivered":
                assert e.message_id is not None
                for who in e.data["waiting"]:
                    self.undelivered.add((e.message_id, who))

    def fire(self) -> None:
        for cid, centre in self.centres.items():
            while centre.wake_at is not None and centre.wake_at <= self.now:
                self.apply(cid, centre.on_timer(self.now))

    # -- rules ---------------------------------------------------------------------------

    @rule(sender=st.sampled_from(IDS), to=st.sampled_from((*IDS, "vd11")))
    def send(self, sender: str, to: str) -> None:
        if to == sender:
            return
        self.n += 1
        message = PlannedMessage(
            f"m{self.n}", "core.free_text", to, self.now, {"subject": "s", "text": f"#{self.n}"}
        )
        self.apply(sender, self.centres[sender].plan_message(self.now, message))
        self.fire()

    @rule(seconds=st.integers(min_value=0, max_value=4 * 3600))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.fire()

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(min_value=0))
    def deliver(self, i: int) -> None:
        target, delivery = self.flight.pop(i % len(self.flight))
        self.apply(target, self.centres[target].receive(self.now, delivery))

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(min_value=0))
    def lose(self, i: int) -> None:
        self.flight.pop(i % len(self.flight))

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(min_value=0))
    def duplicate(self, i: int) -> None:
        self.flight.append(self.flight[i % len(self.flight)])

    @rule(cid=st.sampled_from(IDS))
    def restart(self, cid: str) -> None:
        old = self.centres[cid]
        revived = Centre.from_snapshot(
            old.snapshot(),
            old.config,
            signer=old.signer,
            keyring=RING,
            types=TYPES,
            rng=old.rng,
            book=BOOK,
        )
        self.centres[cid] = revived
        self.apply(cid, revived.restart(self.now))

    # -- properties ----------------------------------------------------------------------

    @invariant()
    def nothing_applied_twice(self) -> None:
        twice = [key for key, n in self.applied.items() if n > 1]
        assert not twice, f"applied more than once: {twice}"

    def teardown(self) -> None:
        """Heal the wire and let time run: every message reaches every recipient, or its
        sender reports it undelivered to whoever is missing."""
        horizon = self.now + timedelta(days=8)
        while self.now < horizon:
            while self.flight:
                target, delivery = self.flight.pop(0)
                self.apply(target, self.centres[target].receive(self.now, delivery))
            if not any(c.state.outbox for c in self.centres.values()):
                break
            self.now += timedelta(minutes=30)
            self.fire()
        for message_id, (sender, recipients) in self.expected.items():
            for r in recipients:
                got = self.applied[(r, message_id)] == 1
                reported = (message_id, r) in self.undelivered
                assert got or reported, f"{message_id} from {sender} silently lost for {r}"
        assert not any(c.state.outbox for c in self.centres.values())


Exchange.TestCase.settings = settings(
    settings.default, stateful_step_count=30, deadline=None, derandomize=False
)
TestExchange = Exchange.TestCase
