"""Benchmark ``nrrc audit``: raw Ed25519 verify rate, audit throughput and peak memory.

Run from the repository root::

    .venv/bin/python benchmarks/bench_audit.py                      # 10k, 100k, 1M messages
    .venv/bin/python benchmarks/bench_audit.py --sizes 10000,100000  # quicker

It prints, in one run:

1. the raw Ed25519 verify rate of one core of this machine (``cryptography``), the physical
   limit of an audit that checks every signature;
2. for logs of 10k, 100k and 1M messages exchanged between two centres (half launch notices,
   half acknowledgements, all compliant; every message is in the sender's log and in the
   recipient's, so N messages are 2N records): the audit's wall time, messages/s and
   records/s, with every signature checked (one process, then ``--jobs`` 2 .. all cores) and
   with ``--no-verify``, and the peak resident memory of the audit process;
3. the ratios the targets are stated in: verified throughput per core against the raw verify
   rate (target ≥ 0.85), scaling with jobs, ``--no-verify`` messages/s (target ≥ 200,000).
   Each verified run's ratio is taken against the raw rate measured in its own process just
   before and just after the audit (their mean): the first line's rate is for reading only.

Logs are generated once (signing in parallel) into ``--data`` (default
``/tmp/nrrc-bench-audit``) and reused by later runs. Each audit runs in a fresh subprocess so
that its peak memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SEEDS = {"RU": bytes(range(32, 64)), "US": bytes(range(32))}
STEP = 30  # seconds between messages


def _signers():  # type: ignore[no-untyped-def]
    from nrrc.keys import Signer

    return {c: Signer.from_seed(c, s) for c, s in SEEDS.items()}


# -- data -------------------------------------------------------------------------------------


def _payload(i: int) -> dict[str, object]:
    day = (BASE + timedelta(seconds=i * STEP)).date() + timedelta(days=3)
    return {
        "missile_class": "ICBM" if i % 3 else "SLBM",
        "planned_launch_date": day,
        "launch_area": "Plesetsk test range" if i % 2 else "Barents Sea",
        "impact_areas": [
            {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50, "unit": "km"}
        ],
    }


def _chunk(args: tuple[int, int]) -> list[tuple[int, str, bytes, bytes]]:
    """Compose and sign messages [lo, hi): even i a notice, odd i its acknowledgement."""
    from nrrc.catalogue import load_catalogue
    from nrrc.envelope import compose
    from nrrc.messages import MessageTypes

    lo, hi = args
    types = MessageTypes(load_catalogue())
    signers = _signers()
    out = []
    notice = None
    for i in range(lo, hi):
        pair = i // 2
        sender, recipient = ("RU", "US") if pair % 2 else ("US", "RU")
        sent_at = BASE + timedelta(seconds=i * STEP)
        rand = random.Random(i)
        # Per block of 4: US notice, RU ack, RU notice, US ack: each centre's seq counts up.
        seq = (i // 4) * 2 + (1 if i % 4 < 2 else 2)
        if i % 2 == 0:
            notice = compose(
                types,
                signers[sender],
                "nst.launch_notice",
                recipient=recipient,
                sent_at=sent_at,
                epoch=1,
                seq=seq,
                payload=_payload(i),
                rand=rand,
            )
            out.append((i, sender, notice.envelope, b""))
        else:
            assert notice is not None
            ack = compose(
                types,
                signers[recipient],
                "core.ack",
                recipient=sender,
                sent_at=sent_at,
                epoch=1,
                seq=seq,
                payload={"received_at": sent_at - timedelta(seconds=STEP - 2)},
                in_reply_to=notice.reply_ref(),
                rand=rand,
            )
            out.append((i, recipient, ack.envelope, b""))
    return out


def generate(n: int, directory: Path) -> None:
    """Write RU's and US's logs of ``n`` messages (and the keyring) into ``directory``."""
    from nrrc.keys import Keyring
    from nrrc.msglog import FsyncPolicy, LogWriter

    directory.mkdir(parents=True, exist_ok=True)
    signers = _signers()
    Keyring(s.entry(BASE - timedelta(days=1)) for s in signers.values()).save(
        directory / "keyring.json"
    )
    writers = {
        c: LogWriter(directory / f"{c}.log.jsonl", s, created=BASE, fsync=FsyncPolicy.NEVER)
        for c, s in signers.items()
    }
    size = 2000
    chunks = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
    with multiprocessing.get_context("spawn").Pool() as pool:
        for batch in pool.imap(_chunk, chunks):
            for i, sender, envelope, _ in batch:
                sent_at = BASE + timedelta(seconds=i * STEP)
                recipient = "US" if sender == "RU" else "RU"
                writers[sender].append("sent", sent_at, envelope)
                writers[recipient].append("received", sent_at + timedelta(seconds=2), envelope)
    end = BASE + timedelta(seconds=n * STEP + 60)
    for w in writers.values():
        w.close(end)
    (directory / "DONE").write_text(str(n))


def dataset(n: int, root: Path) -> Path:
    """The directory holding logs of ``n`` messages, generated on first use."""
    d = root / f"n{n}"
    if not (d / "DONE").exists() or (d / "DONE").read_text() != str(n):
        t = time.perf_counter()
        print(f"  generating {n:,} messages in {d} ...", flush=True)
        generate(n, d)
        print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)
    return d


# -- measurements ---------------------------------------------------------------------------------


def raw_verify_rate(seconds: float = 3.0) -> tuple[float, float]:
    """Ed25519 verifies per second on one core (distinct 700-byte messages): per wall second
    and per CPU second of this process (the second is immune to other load on the machine)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key()
    msgs = [os.urandom(700) for _ in range(1000)]
    sigs = [key.sign(m) for m in msgs]
    n = 0
    t = time.perf_counter()
    c = time.process_time()
    while time.perf_counter() - t < seconds:
        for m, sig in zip(msgs, sigs, strict=True):
            public.verify(sig, m)
        n += len(msgs)
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def floor_us(directory: Path, n: int = 100_000) -> tuple[float, float]:
    """CPU µs of the least work per message in CPython: decoding one log line and chaining it
    (SHA-256), and opening one envelope (JSON, base64, typed statement); no rule, no record."""
    import binascii
    import hashlib

    from nrrc.audit import fastscan
    from nrrc.catalogue import load_catalogue
    from nrrc.envelope import _envelope_decoder
    from nrrc.messages import MessageTypes

    lines = (directory / "US.log.jsonl").read_bytes().split(b"\n")[1 : n + 1]
    lines = [ln for ln in lines if b'"envelope"' in ln]
    types = MessageTypes(load_catalogue())
    dec, sha = fastscan.decode_lite, hashlib.sha256

    def best(f) -> float:  # type: ignore[no-untyped-def]
        out = []
        for _ in range(3):
            c = time.process_time()
            f()
            out.append(time.process_time() - c)
        return min(out) / len(lines) * 1e6

    def chain() -> None:
        for ln in lines:
            dec(ln)
            sha(ln).hexdigest()

    def decode_only() -> None:
        for ln in lines:
            dec(ln)

    def opening() -> None:
        for ln in lines:
            e = _envelope_decoder.decode(dec(ln).envelope.encode())
            types.decode(binascii.a2b_base64(e.payload, strict_mode=True))
            binascii.a2b_base64(e.signatures[0].sig, strict_mode=True)

    return best(chain), best(opening) - best(decode_only)


def _pool_cpu() -> float:
    """CPU seconds of the verification workers, once they have exited: they are children of
    the multiprocessing fork server, whose /proc entry adds up its reaped children (Linux)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _child(directory: str, verify: bool, jobs: int, which: str = "both") -> None:
    """Run one audit in this (fresh) process and print its figures as JSON."""
    from nrrc.audit import AuditOptions, audit, engine
    from nrrc.catalogue import load_catalogue
    from nrrc.keys import Keyring

    engine.PARALLEL_MIN_BYTES = 0  # the benchmark measures the pool even on small logs
    cat = load_catalogue()
    ring = Keyring.load(Path(directory) / "keyring.json")
    logs = [Path(directory) / "RU.log.jsonl", Path(directory) / "US.log.jsonl"]
    if which == "one":
        logs = logs[1:]  # US's log alone: every record is a distinct envelope to verify
    # The baseline of this run, in this process, just before and just after it: the machine's
    # speed drifts over a long benchmark (other tenants), so a rate taken once at the start
    # would bias every later ratio.
    raw_before = raw_verify_rate(1.5)[1] if verify else 0.0
    t = time.perf_counter()
    c = time.process_time()
    result = audit(logs, cat, ring, AuditOptions(verify_signatures=verify, jobs=jobs))
    seconds = time.perf_counter() - t
    cpu = time.process_time() - c
    time.sleep(0.3)  # let the fork server reap the workers
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    raw_after = raw_verify_rate(1.5)[1] if verify else 0.0
    doc = {
        "seconds": seconds,
        "cpu": cpu,
        "pool_cpu": _pool_cpu() if jobs > 1 and verify else 0.0,
        "records": result.messages,
        "verified": result.verified,
        "findings": len(result.findings),
        "maxrss_kb": rss,
        "raw_cpu": (raw_before + raw_after) / 2,
    }
    print(json.dumps(doc))


def run_audit(directory: Path, verify: bool, jobs: int, which: str = "both") -> dict[str, float]:
    """One audit in a fresh interpreter."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(directory),
            "1" if verify else "0",
            str(jobs),
            which,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--data", type=Path, default=Path("/tmp/nrrc-bench-audit"))
    parser.add_argument("--max-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1] == "1", int(args.child[2]), args.child[3])
        return
    cores = os.cpu_count() or 1
    print(
        f"nrrc audit benchmark: Python {sys.version.split()[0]}, {cores} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    raw_wall, raw_cpu = raw_verify_rate()
    print(f"raw Ed25519 verify rate, 1 core: {raw_wall:,.0f}/s wall, {raw_cpu:,.0f}/s per CPU s")
    print("(each 'vs raw' below is against the raw rate taken in that audit's own process)")
    sizes = [int(x) for x in args.sizes.split(",")]
    jobs_list = [1, *range(2, args.max_jobs + 1)]
    table: dict[tuple[int, str], dict[str, float]] = {}
    print(
        f"{'messages':>10} {'mode':<12} {'wall s':>8} {'msg/s':>9} {'rec/s':>9} "
        f"{'CPU s':>7} {'msg/CPU-s':>9} {'vs raw':>6} {'peak MiB':>8}"
    )
    for n in sizes:
        d = dataset(n, args.data)
        modes = [("no-verify", False, 1)] + [(f"verify -j{j}", True, j) for j in jobs_list]
        for label, verify, jobs in modes:
            r = run_audit(d, verify, jobs)
            table[(n, label)] = r
            msgs = r["records"] / 2
            cpu = r["cpu"] + r["pool_cpu"]
            ratio = f"{msgs / cpu / r['raw_cpu']:6.2f}" if verify else "     -"
            print(
                f"{n:>10,} {label:<12} {r['seconds']:8.2f} {msgs / r['seconds']:9,.0f} "
                f"{r['records'] / r['seconds']:9,.0f} {cpu:7.2f} {msgs / cpu:9,.0f} {ratio} "
                f"{r['maxrss_kb'] / 1024:8.1f}",
                flush=True,
            )
    print()
    top = f"verify -j{jobs_list[-1]}"
    for n in sizes:
        nv, v1, vj = table[(n, "no-verify")], table[(n, "verify -j1")], table[(n, top)]
        print(
            f"{n:>10,} messages: --no-verify {n / nv['seconds']:,.0f} msg/s wall, "
            f"{n / nv['cpu']:,.0f} per CPU s (target 200,000); verify -j1 "
            f"{n / (v1['cpu']) / v1['raw_cpu']:.2f} of the raw rate per CPU s (target 0.85); "
            f"-j{jobs_list[-1]} wall speed-up {v1['seconds'] / vj['seconds']:.2f}x"
        )
    # One centre's log alone (an analyst with one log): each record is a distinct envelope, so
    # the audit verifies one signature per record, as `nrrc verify` does.
    one_n = min(sizes[-1], 100_000)
    one = run_audit(dataset(one_n, args.data), True, 1, "one")
    print(
        f"one centre's log of {one['records']:,} records (each a distinct signed envelope), "
        f"verify -j1: {one['records'] / one['cpu']:,.0f} records per CPU s = "
        f"{one['records'] / one['cpu'] / one['raw_cpu']:.2f} of the raw rate"
    )
    line_us, open_us = floor_us(dataset(sizes[-1], args.data))
    least = 2 * line_us + open_us
    print(
        f"least work per message in CPython: 2 lines x {line_us:.2f} us (decode + SHA-256 "
        f"chain) + {open_us:.2f} us (open the envelope once) = {least:.1f} us, at most "
        f"{1e6 / least:,.0f} msg/s per core before any rule"
    )
    first, last = sizes[0], sizes[-1]
    nv0, nv1 = table[(first, "no-verify")], table[(last, "no-verify")]
    print(
        f"time per message {first:,} -> {last:,}: {nv0['cpu'] / first * 1e6:.1f} -> "
        f"{nv1['cpu'] / last * 1e6:.1f} us CPU (no-verify); peak memory "
        f"{nv0['maxrss_kb'] / 1024:.0f} -> {nv1['maxrss_kb'] / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
