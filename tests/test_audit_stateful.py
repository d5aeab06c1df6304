"""A stateful Hypothesis test: centres send, delay, drop and acknowledge CFE inspection notices;
the audit of their logs must agree with a simple model of what happened.

The model keeps, per message, when it was sent and when (if ever) it was received, and decides
with the definitions alone: CFE004 (received at least 36 h before the ETA), CFE006 (acknowledged
within 3 h of receipt, measured when the notifier receives the acknowledgement), REC001 (sent,
never received; open when sent within the 5 min skew tolerance of the end of the logs).
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from nrrc.audit.collector import Selection
from nrrc.audit.engine import AuditOptions, audit
from nrrc.catalogue import load_catalogue
from nrrc.envelope import Opened, compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter

CENTRES = ("GB", "RU", "US")
BASE = datetime(2026, 5, 1, tzinfo=UTC)
SKEW = 300
CAT = load_catalogue()
TYPES = MessageTypes(CAT)
SIGNERS = {c: Signer.from_seed(c, (c.encode() * 32)[:32]) for c in CENTRES}
KEYRING = Keyring(s.entry(BASE - timedelta(days=1)) for s in SIGNERS.values())
SELECT = Selection(select=("CFE004", "CFE006", "REC001"))


@dataclass
class Message:
    """One message in the model."""

    opened: Opened
    sender: str
    recipient: str
    sent: int
    received: int | None = None
    dropped: bool = False
    eta: int | None = None
    """Notices: the ETA, in s from BASE."""
    answers: Message | None = None
    """Acknowledgements: the notice answered."""
    acked: bool = False


def _inspection(eta: datetime) -> dict[str, object]:
    return {
        "point_of_entry": "Vienna",
        "eta": eta,
        "means_of_arrival": "road",
        "inspection_type": "specified_area",
        "inspection_mode": ["on_foot"],
        "designation_interval": timedelta(hours=4),
        "inspection_language": "en",
        "report_language": "en",
        "personnel": ["B. Inspector"],
        "sequential_inspections": 0,
    }


class Exchange(RuleBasedStateMachine):
    """Centres exchanging inspection notices and acknowledgements over a lossy link."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.rand = random.Random(3)
        self.seq = dict.fromkeys(CENTRES, 0)
        self.messages: list[Message] = []
        self.records: dict[str, list[tuple[int, int, str, bytes]]] = {c: [] for c in CENTRES}
        self.order = 0

    def _log(self, centre: str, direction: str, t: int, envelope: bytes) -> None:
        self.order += 1
        self.records[centre].append((t, self.order, direction, envelope))

    def _compose(
        self,
        sender: str,
        recipient: str,
        kind: str,
        payload: dict[str, object],
        reply: Opened | None = None,
    ) -> Opened:
        self.seq[sender] += 1
        return compose(
            TYPES,
            SIGNERS[sender],
            kind,
            recipient=recipient,
            sent_at=BASE + timedelta(seconds=self.now),
            epoch=1,
            seq=self.seq[sender],
            payload=payload,
            in_reply_to=reply.reply_ref() if reply else None,
            rand=self.rand,
        )

    def _in_transit(self) -> list[Message]:
        return [m for m in self.messages if m.received is None and not m.dropped]

    @rule(seconds=st.sampled_from([1, 59, 600, 3600, 3 * 3600, 3 * 3600 + 1, 30 * 3600]))
    def advance(self, seconds: int) -> None:
        """Time passes."""
        self.now += seconds

    @rule(
        pair=st.permutations(CENTRES).map(lambda p: (p[0], p[1])),
        eta_hours=st.sampled_from([30, 35, 36, 37, 42]),
        extra=st.sampled_from([0, 1, -1]),
        arrives_now=st.booleans(),
    )
    def send_notice(
        self, pair: tuple[str, str], eta_hours: int, extra: int, arrives_now: bool
    ) -> None:
        """A centre notifies another of an inspection arriving in about ``eta_hours``; the
        notice may arrive at once (so that lead times of exactly 36 h occur)."""
        sender, recipient = pair
        eta = self.now + eta_hours * 3600 + extra
        opened = self._compose(
            sender, recipient, "cfe.inspection_notice", _inspection(BASE + timedelta(seconds=eta))
        )
        self._log(sender, "sent", self.now, opened.envelope)
        m = Message(opened, sender, recipient, self.now, eta=eta)
        self.messages.append(m)
        if arrives_now:
            m.received = self.now
            self._log(recipient, "received", self.now, opened.envelope)

    @precondition(lambda self: bool(self._in_transit()))
    @rule(pick=st.integers(0, 100))
    def deliver(self, pick: int) -> None:
        """A message in transit arrives now."""
        m = self._in_transit()[pick % len(self._in_transit())]
        m.received = self.now
        self._log(m.recipient, "received", self.now, m.opened.envelope)

    @precondition(lambda self: bool(self._in_transit()))
    @rule(pick=st.integers(0, 100))
    def drop(self, pick: int) -> None:
        """A message in transit is lost for good."""
        self._in_transit()[pick % len(self._in_transit())].dropped = True

    def _unacked(self) -> list[Message]:
        return [
            m for m in self.messages if m.eta is not None and m.received is not None and not m.acked
        ]

    @precondition(lambda self: bool(self._unacked()))
    @rule(
        pick=st.integers(0, 100),
        delay=st.sampled_from([None, 3 * 3600 - 1, 3 * 3600, 3 * 3600 + 1]),
        arrives_now=st.booleans(),
    )
    def acknowledge(self, pick: int, delay: int | None, arrives_now: bool) -> None:
        """The recipient of a notice acknowledges it, now or ``delay`` s after its receipt; the
        acknowledgement may arrive at once."""
        n = self._unacked()[pick % len(self._unacked())]
        n.acked = True
        assert n.received is not None
        when = self.now if delay is None else n.received + delay
        saved, self.now = self.now, when
        ack = self._compose(
            n.recipient,
            n.sender,
            "core.ack",
            {"received_at": BASE + timedelta(seconds=n.received)},
            reply=n.opened,
        )
        self.now = max(saved, when)
        self._log(n.recipient, "sent", when, ack.envelope)
        m = Message(ack, n.recipient, n.sender, when, answers=n)
        self.messages.append(m)
        if arrives_now:
            m.received = when
            self._log(n.sender, "received", when, ack.envelope)

    def expected(self, end: int) -> set[tuple[str, str, str]]:
        """What the audit must find, from the model alone."""
        out: set[tuple[str, str, str]] = set()
        for m in self.messages:
            mid = m.opened.statement.id
            if m.received is None:
                out.add(("REC001", mid, "open" if m.sent + SKEW > end else "violation"))
            if m.eta is None:
                continue
            deadline = m.eta - 36 * 3600
            if m.received is None:
                out.add(("CFE004", mid, "violation" if deadline <= end else "open"))
                continue
            if m.received > deadline:
                out.add(("CFE004", mid, "violation"))
            answers = [a for a in self.messages if a.answers is m and a.received is not None]
            due = m.received + 3 * 3600
            if not answers:
                out.add(("CFE006", mid, "violation" if due <= end else "open"))
            elif min(a.received or 0 for a in answers) > due:
                out.add(("CFE006", mid, "violation"))
        return out

    def teardown(self) -> None:
        end = self.now + 60
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for centre in CENTRES:
                path = Path(tmp) / f"{centre}.log.jsonl"
                w = LogWriter(path, SIGNERS[centre], created=BASE, fsync=FsyncPolicy.NEVER)
                for t, _, direction, env in sorted(self.records[centre]):
                    w.append(direction, BASE + timedelta(seconds=t), env)  # type: ignore[arg-type]
                w.close(BASE + timedelta(seconds=end))
                paths.append(path)
            result = audit(paths, CAT, KEYRING, AuditOptions(selection=SELECT))
        found = {(f.code, f.message_ids[0], f.outcome.value) for f in result.findings}
        assert found == self.expected(end)


Exchange.TestCase.settings = settings(max_examples=150, stateful_step_count=12, deadline=None)
TestExchange = Exchange.TestCase
