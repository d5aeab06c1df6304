"""Helpers for the audit tests: write the logs of several centres with the core API.

:class:`Exchange` records what each centre sent and received (with each centre's own instants)
and writes one hash-chained, checkpointed log per centre with :class:`nrrc.msglog.LogWriter`.
Nothing here reads a clock; every instant is given. This module holds no tests.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nrrc.audit.engine import AuditOptions, audit
from nrrc.audit.findings import AuditResult, Finding
from nrrc.catalogue import Catalogue
from nrrc.envelope import Opened, compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter
from nrrc.observed import Activity, ObservedWriter

START = datetime(2026, 1, 1, tzinfo=UTC)
"""When every test log is created."""

LAUNCH = {
    "missile_class": "ICBM",
    "planned_launch_date": date(2026, 3, 2),
    "launch_area": "Plesetsk test range",
    "impact_areas": [
        {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50, "unit": "km"}
    ],
}


def at(text: str) -> datetime:
    """``"2026-03-01 00:00:00"`` as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Exchange:
    """Messages between centres and the log records they leave."""

    types: MessageTypes
    signers: dict[str, Signer]
    seed: int = 7
    records: dict[str, list[tuple[datetime, int, str, bytes]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    seqs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    activities: list[Activity] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rand = random.Random(self.seed)
        self.order = 0

    def log(self, centre: str, direction: str, when: datetime, envelope: bytes) -> None:
        """Add one record to ``centre``'s log."""
        self.order += 1
        self.records[centre].append((when, self.order, direction, envelope))

    def compose(
        self,
        sender: str,
        recipient: str,
        kind: str,
        payload: dict[str, Any],
        sent_at: datetime,
        *,
        reply_to: Opened | None = None,
        epoch: int = 1,
        seq: int | None = None,
    ) -> Opened:
        """Sign a message (sequence numbers count up per sender unless given)."""
        if seq is None:
            self.seqs[sender] += 1
            seq = self.seqs[sender]
        return compose(
            self.types,
            self.signers[sender],
            kind,
            recipient=recipient,
            sent_at=sent_at,
            epoch=epoch,
            seq=seq,
            payload=payload,
            in_reply_to=reply_to.reply_ref() if reply_to is not None else None,
            rand=self.rand,
        )

    def send(
        self,
        sender: str,
        recipient: str,
        kind: str,
        payload: dict[str, Any],
        sent_at: datetime,
        received_at: datetime | None = None,
        *,
        reply_to: Opened | None = None,
        receivers: tuple[str, ...] | None = None,
    ) -> Opened:
        """Send a message: logged as sent by ``sender`` and, when ``received_at`` is given, as
        received by the recipient (or by every centre in ``receivers``)."""
        opened = self.compose(sender, recipient, kind, payload, sent_at, reply_to=reply_to)
        self.log(sender, "sent", sent_at, opened.envelope)
        if received_at is not None:
            for r in receivers or (recipient,):
                self.log(r, "received", received_at, opened.envelope)
        return opened

    def ack(
        self, acker: str, notice: Opened, sent_at: datetime, received_at: datetime | None
    ) -> Opened:
        """``acker`` acknowledges ``notice`` (received_at is when the sender gets the ack)."""
        return self.send(
            acker,
            notice.statement.sender,
            "core.ack",
            {"received_at": sent_at},
            sent_at,
            received_at,
            reply_to=notice,
        )

    def observe(self, activity: str, party: str, when: datetime, **extra: Any) -> None:
        """Record an observed activity."""
        n = len(self.activities) + 1
        self.activities.append(
            Activity(id=f"a-{n}", activity=activity, party=party, at=when, **extra)
        )

    def write(
        self,
        directory: Path,
        *,
        close_at: datetime | None = None,
        centres: tuple[str, ...] | None = None,
        created: datetime = START,
    ) -> list[Path]:
        """Write the logs (and ``observed.jsonl`` when activities were recorded, last)."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for centre in sorted(centres or tuple(self.records)):
            path = directory / f"{centre}.log.jsonl"
            path.unlink(missing_ok=True)
            w = LogWriter(path, self.signers[centre], created=created, fsync=FsyncPolicy.NEVER)
            records = sorted(self.records.get(centre, []), key=lambda r: (r[0], r[1]))
            last = created
            for when, _, direction, envelope in records:
                w.append(direction, when, envelope)  # type: ignore[arg-type]
                last = max(last, when)
            w.close(close_at or last)
            paths.append(path)
        if self.activities:
            ow = ObservedWriter(directory / "observed.jsonl", created=created, source="test")
            for a in sorted(self.activities, key=lambda a: a.at):
                ow.write(a)
            ow.close()
            paths.append(directory / "observed.jsonl")
        return paths


def run(
    paths: list[Path] | Path,
    cat: Catalogue,
    keyring: Keyring,
    **options: Any,
) -> AuditResult:
    """Audit with the built-in catalogue (or ``cat``) and the test keyring."""
    items = [paths] if isinstance(paths, Path) else paths
    return audit(items, cat, keyring, AuditOptions(**options))


def codes(result: AuditResult) -> list[tuple[str, str]]:
    """(code, outcome) of every finding, in order."""
    return [(f.code, f.outcome.value) for f in result.findings]


def only(result: AuditResult, code: str) -> list[Finding]:
    """The findings with this code."""
    return [f for f in result.findings if f.code == code]


def summary(result: AuditResult, code: str) -> tuple[int, int, int, int, int] | None:
    """(checked, passed, violated, warned, open) of one code, or None."""
    for s in result.summary:
        if s.code == code:
            return (s.checked, s.passed, s.violated, s.warned, s.open)
    return None


ONE_SECOND = timedelta(seconds=1)
