"""How close is ``nrrc verify`` to the physical limit, Ed25519 verification?

Prints, measured in one run on this machine:

1. the raw Ed25519 verify rate of the ``cryptography`` package in this process, over the very
   messages (PAE bytes) and signatures of the log below;
2. the ``nrrc verify`` rate: records per second of :func:`nrrc.verify.verify_log` over a
   100,000-record log it first writes to a temporary directory (realistic mixed kinds: every
   example payload of ``messages/examples``, sent and received, acknowledgements with
   ``in_reply_to``, a few rejected records, a closing checkpoint);
3. their ratio. The target is at least 0.85: everything but the signature must be cheap.

Run from the repository root::

    .venv/bin/python benchmarks/bench_verify.py            # 100,000 records
    .venv/bin/python benchmarks/bench_verify.py --records 20000 --repeat 1

Rates are per CPU second of this process (``time.process_time``), so that other jobs on a
shared machine do not skew one side of the ratio more than the other; the wall-clock rates are
printed beside them. Each is the best of ``--repeat`` timings.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nrrc.catalogue import load_catalogue
from nrrc.envelope import PAYLOAD_TYPE, Opened, Verifier, compose, pae
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter, decode_line
from nrrc.verify import verify_log

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "messages" / "examples"
START = datetime(2026, 1, 1, tzinfo=UTC)


def example_payloads() -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, recipient, payload as JSON) of every example envelope: the payload corpus."""
    found = []
    for path in sorted(EXAMPLES.glob("*.envelope.json")):
        envelope = json.loads(path.read_bytes())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if statement["kind"] in ("core.ack", "core.cancellation") or statement.get("in_reply_to"):
            continue  # replies are made below, answering real messages of the log
        found.append((statement["kind"], statement["recipient"], statement["payload"]))
    if not found:
        raise SystemExit(f"no examples in {EXAMPLES}: run messages/examples/generate.py")
    return found


def write_log(path: Path, records: int, seed: int = 7) -> Keyring:
    """Write a closed US log of ``records`` message records; return the keyring it needs."""
    types = MessageTypes(load_catalogue())
    centres = ["US", "RU", "GB", "FR", "DE", "CN"]
    signers = {c: Signer.from_seed(c, bytes([i + 1]) * 32) for i, c in enumerate(centres)}
    ring = Keyring(s.entry(START - timedelta(days=1)) for s in signers.values())
    rng = random.Random(seed)
    corpus = example_payloads()
    seq = dict.fromkeys(centres, 0)
    last_received: Opened | None = None
    with LogWriter(path, signers["US"], created=START, fsync=FsyncPolicy.CLOSE) as log:
        for i in range(records):
            at = START + timedelta(seconds=30 * i)
            roll = rng.random()
            if roll < 0.02:
                log.append("rejected", at, b'{"not":"an envelope"}', reason="malformed")
                continue
            if roll < 0.25 and last_received is not None:
                kind, recipient, payload = "core.ack", last_received.statement.sender, None
                reply_to = last_received.reply_ref()
                payload = {"received_at": at - timedelta(seconds=2)}
            else:
                kind, recipient, payload = rng.choice(corpus)
                reply_to = None
            if roll < 0.6:  # US sends
                sender = "US"
                recipient = recipient if recipient.islower() or recipient != "US" else "RU"
            else:  # US receives
                sender = rng.choice([c for c in centres if c != "US"])
                recipient = "US" if recipient.isupper() else recipient
                if kind == "core.ack":
                    sender, reply_to = "RU", None
                    payload = {"received_at": at - timedelta(seconds=2)}
            seq[sender] += 1
            opened = compose(
                types,
                signers[sender],
                kind,
                recipient=recipient,
                sent_at=at - timedelta(seconds=1),
                epoch=1,
                seq=seq[sender],
                payload=payload,
                in_reply_to=reply_to,
                rand=rng,
            )
            if sender == "US":
                log.append("sent", at, opened.envelope)
            else:
                log.append("received", at, opened.envelope)
                last_received = opened
        log.close(START + timedelta(seconds=30 * records + 60))
    return ring


def signed_messages(path: Path, ring: Keyring) -> list[tuple[Ed25519PublicKey, bytes, bytes]]:
    """(public key, signature, PAE bytes) of every envelope in the log, as the raw benchmark."""
    items = []
    with path.open("rb") as fh:
        for line in fh:
            record: Any = decode_line(line.rstrip(b"\n"))
            envelope = getattr(record, "envelope", None)
            if envelope is None or getattr(record, "direction", "") == "rejected":
                continue
            doc = json.loads(envelope)
            sig = doc["signatures"][0]
            entry = ring.get(sig["keyid"])
            assert entry is not None
            public = Ed25519PublicKey.from_public_bytes(entry.public_key)
            payload = base64.b64decode(doc["payload"])
            items.append((public, base64.b64decode(sig["sig"]), pae(PAYLOAD_TYPE, payload)))
    return items


def raw_rate(items: list[tuple[Ed25519PublicKey, bytes, bytes]]) -> tuple[float, float]:
    """Ed25519 verifications per CPU second and per wall-clock second, nothing else in the loop."""
    cpu, wall = time.process_time(), time.perf_counter()
    for public, sig, message in items:
        public.verify(sig, message)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(items) / cpu, len(items) / wall


def nrrc_rate(path: Path, verifier: Verifier) -> tuple[float, float, int]:
    """Records per CPU second and per wall-clock second of verify_log (the work of
    ``nrrc verify``), and the record count."""
    cpu, wall = time.process_time(), time.perf_counter()
    report = verify_log(path, verifier)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if not report.ok:
        raise SystemExit(f"the benchmark log does not verify: {report.problems[:3]}")
    return report.records / cpu, report.records / wall, report.records


def main(argv: list[str]) -> int:
    """Write the log, time both rates, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timings per rate; best is kept")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nrrc-bench-") as tmp:
        path = Path(tmp) / "US.log.jsonl"
        started = time.perf_counter()
        ring = write_log(path, args.records)
        written = time.perf_counter() - started
        size = path.stat().st_size
        items = signed_messages(path, ring)
        verifier = Verifier(ring, MessageTypes(load_catalogue()))
        raw = raw_wall = nrrc = nrrc_wall = 0.0
        records = 0
        for _ in range(args.repeat):
            cpu_rate, wall_rate = raw_rate(items)
            raw, raw_wall = max(raw, cpu_rate), max(raw_wall, wall_rate)
            cpu_rate, wall_rate, records = nrrc_rate(path, verifier)
            nrrc, nrrc_wall = max(nrrc, cpu_rate), max(nrrc_wall, wall_rate)
    # Records that carry a signature: the rejected ones are logged, not verified.
    signed = len(items) / records
    machine = f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    print(f"machine: {machine}, load average {os.getloadavg()[0]:.1f}")
    print(f"log: {records:,} records ({len(items):,} signed envelopes), {size / 1e6:.1f} MB, "
          f"written in {written:.1f} s")  # fmt: skip
    print("rates per CPU second of this process (wall-clock rate in brackets):")
    print(f"  raw Ed25519 verify (cryptography): {raw:9,.0f} signatures/s  ({raw_wall:,.0f})")
    print(f"  nrrc verify (verify_log):          {nrrc:9,.0f} records/s     ({nrrc_wall:,.0f})"
          f" = {nrrc / signed:,.0f} signed envelopes/s")  # fmt: skip
    print(f"ratio, signed envelopes/s of nrrc verify over raw verifies/s: {nrrc / signed / raw:.2f}"
          f" (wall clock: {nrrc_wall / signed / raw_wall:.2f}); target >= 0.85")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
