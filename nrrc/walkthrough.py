"""The offline walk-through behind ``nrrc demo --offline``: two centres, one launch notice.

Russia's centre notifies the United States' centre of an ICBM launch; the US centre acknowledges
it. Both centres log what they sent and received, close their logs with signed checkpoints, the
logs verify, and a tampered copy is caught. Every instant is given, none is read from a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from nrrc.catalogue import Catalogue
from nrrc.envelope import Opened, Verifier, compose
from nrrc.keys import Keyring, Signer, write_private_key
from nrrc.messages import MessageTypes
from nrrc.msglog import LogWriter

__all__ = ["Walkthrough", "run_walkthrough"]

SEEDS = {"US": bytes(range(32)), "RU": bytes(range(32, 64))}


@dataclass(frozen=True)
class Walkthrough:
    """What the walk-through wrote."""

    directory: Path
    keyring: Path
    logs: dict[str, Path]
    notice: Opened
    ack: Opened
    tampered: Path


def run_walkthrough(
    catalogue: Catalogue,
    directory: Path,
    *,
    start: datetime = datetime(2026, 2, 27, 9, 30, tzinfo=UTC),
) -> Walkthrough:
    """Write keys, a notice, its acknowledgement, both logs and a tampered copy into ``directory``.

    The keys are derived from fixed seeds so the walk-through is reproducible; never use them
    for anything else.
    """
    directory.mkdir(parents=True, exist_ok=True)
    types = MessageTypes(catalogue)
    signers = {c: Signer.from_seed(c, seed) for c, seed in SEEDS.items()}
    ring = Keyring(s.entry(datetime(2026, 1, 1, tzinfo=UTC)) for s in signers.values())
    keyring = directory / "keyring.json"
    ring.save(keyring)
    for c, s in signers.items():
        key_path = directory / f"{c}.key"
        if not key_path.exists():
            write_private_key(s, key_path)
    logs = {c: directory / f"{c}.log.jsonl" for c in signers}
    for p in logs.values():
        p.unlink(missing_ok=True)
    writers = {c: LogWriter(logs[c], signers[c], created=start) for c in signers}
    notice = compose(
        types,
        signers["RU"],
        "bmlna.launch_notice",
        recipient="US",
        sent_at=start,
        epoch=1,
        seq=1,
        rand=lambda n: bytes(n),
        payload={
            "missile_class": "ICBM",
            "planned_launch_date": date(2026, 3, 2),
            "launch_area": "Plesetsk test range",
            "impact_areas": [
                {
                    "shape": "circle",
                    "center": {"lat": 65.0, "lon": 172.5},
                    "radius": 50,
                    "unit": "km",
                }
            ],
        },
    )
    writers["RU"].append("sent", start, notice.envelope)
    received = start + timedelta(seconds=4)
    us_verifier = Verifier(ring, types, centre="US")
    opened = us_verifier.open(notice.envelope)
    writers["US"].append("received", received, opened.envelope)
    ack_at = received + timedelta(minutes=12)
    ack = compose(
        types,
        signers["US"],
        "core.ack",
        recipient="RU",
        sent_at=ack_at,
        epoch=1,
        seq=1,
        in_reply_to=opened.reply_ref(),
        rand=lambda n: b"\x01" * n,
        payload={"received_at": received},
    )
    writers["US"].append("sent", ack_at, ack.envelope)
    ru_verifier = Verifier(ring, types, centre="RU")
    writers["RU"].append(
        "received", ack_at + timedelta(seconds=3), ru_verifier.open(ack.envelope).envelope
    )
    close_at = start + timedelta(hours=1)
    for w in writers.values():
        w.close(close_at)
    lines = logs["US"].read_bytes().split(b"\n")
    # Tamper: the US log claims the notice arrived a day earlier than it did.
    lines[1] = lines[1].replace(b'"at":"2026-02-27T09:30:04Z"', b'"at":"2026-02-26T09:30:04Z"')
    tampered = directory / "US.tampered.log.jsonl"
    tampered.write_bytes(b"\n".join(lines))
    return Walkthrough(directory, keyring, logs, notice, ack, tampered)
