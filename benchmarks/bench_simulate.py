"""How fast is the simulator, next to the physical limit: signing and verifying Ed25519?

Prints, measured in one run on this machine:

1. the raw sign+verify rate: Ed25519 sign then verify of the very bytes the simulator signs
   (the DSSE pre-authentication encoding of real launch notices), in this process;
2. the simulator's signed messages per second on a busy bilateral link (every message is signed
   once by its sender and verified once by its recipient, as in the raw rate), with and without
   writing the logs, and the ratio to (1) (target: at least 0.7);
3. one-year runs of the ``hcoc`` (145 centres) and ``osce`` (57 centres) scenarios, each in its
   own process, with wall time, messages and peak memory (maximum resident set size);
4. Monte Carlo runs per minute of one-year ``p5`` runs on 2 processes.

Run from the repository root::

    .venv/bin/python benchmarks/bench_simulate.py
    .venv/bin/python benchmarks/bench_simulate.py --quick     # smaller, for a smoke test

Rates are measured in CPU time of this process (``time.process_time``), so that other work on a
shared machine does not distort them; wall times are printed where they matter (the big runs,
Monte Carlo). The ratio is taken over ``--repeat`` back-to-back pairs of measurements: the best
simulator rate over the best raw rate. Interference (another job on a sibling core, a cold
cache) only ever slows a measurement down, so the fastest of each is the least disturbed; the
ratio of a single pair is inflated whenever its raw measurement is the disturbed one, so the
best pairwise ratio (printed too) overstates the simulator on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nrrc.catalogue import load_catalogue
from nrrc.centre import RuleBook
from nrrc.envelope import PAYLOAD_TYPE, compose, pae
from nrrc.keys import Signer
from nrrc.messages import MessageTypes
from nrrc.scenario import load_scenario
from nrrc.simulate import run_many, run_scenario

START = datetime(2026, 1, 1, tzinfo=UTC)

BUSY = """
schema = 1
[scenario]
id = "busy"
title = "Busy point-to-point links"
start = 2026-01-01T00:00:00Z
duration = "365d"
seed = 1

[defaults]
planning = "30d"

[[centres]]
ids = {ids}

[[agreements]]
id = "bmlna"
parties = "all"

[[generate]]
activity = "launch"
parties = "all"
per_year = {per_year}
attributes = {{ missile_class = "ICBM", launch_area = "Test range" }}
"""
TOPOLOGIES = {
    "P5 (5 centres, every pair linked)": '["US", "RU", "CN", "GB", "FR"]',
    "one US-Russia link": '["US", "RU"]',
}

CHILD = """
import json, resource, sys, time, tempfile
from pathlib import Path
from nrrc.catalogue import load_catalogue
from nrrc.scenario import load_scenario
from nrrc.simulate import run_scenario
cat = load_catalogue()
s = load_scenario(sys.argv[1], cat)
with tempfile.TemporaryDirectory() as tmp:
    t, c = time.perf_counter(), time.process_time()
    r = run_scenario(s, cat, out=Path(tmp))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = r.summary["messages"]
print(json.dumps({"wall": wall, "cpu": cpu, "rss_kib": rss, "sent": m["sent"],
                  "received": m["received"]}))
"""


def raw_rate(types: MessageTypes, n: int, repeat: int) -> float:
    """Ed25519 sign + verify pairs per second over the PAE bytes of real notices."""
    signer = Signer.from_seed("RU", bytes(range(32)))
    messages = []
    for i in range(200):
        opened = compose(
            types,
            signer,
            "bmlna.launch_notice",
            recipient="US",
            sent_at=START,
            epoch=1,
            seq=i + 1,
            payload={
                "missile_class": "ICBM",
                "planned_launch_date": date(2026, 3, 2),
                "launch_area": "Test range",
                "impact_areas": [
                    {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50.0}
                ],
            },
        )
        messages.append(pae(PAYLOAD_TYPE, opened.statement_bytes))
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key()
    best = 0.0
    for _ in range(repeat):
        t = time.process_time()
        for i in range(n):
            m = messages[i % len(messages)]
            public.verify(key.sign(m), m)
        best = max(best, n / (time.process_time() - t))
    return best


def simulator_rate(ids: str, per_year: int, *, logs: bool) -> tuple[float, int]:
    """Signed messages per second of one one-year run of the busy scenario."""
    cat = load_catalogue()
    types, book = MessageTypes(cat), RuleBook(cat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "busy.toml"
        path.write_text(BUSY.format(ids=ids, per_year=per_year), encoding="utf-8")
        s = load_scenario(path, cat)
        out = Path(tmp) / "out" if logs else None
        t = time.process_time()
        r = run_scenario(s, cat, out=out, types=types, book=book)
        wall = time.process_time() - t
        sent = r.summary["messages"]["sent"]
        assert r.summary["messages"]["received"] == sent  # each verified once, by its recipient
    return sent / wall, sent


def ratio(types: MessageTypes, raw_n: int, ids: str, per_year: int, repeat: int, logs: bool) -> str:
    """Raw rate and simulator rate measured back to back, ``repeat`` times: the best simulator
    rate over the best raw rate (the pairwise ratios are printed as well).

    Measuring them side by side keeps the ratio honest on a machine shared with other work;
    taking the fastest of each keeps one disturbed raw measurement from inflating it."""
    pairs = []
    for _ in range(repeat):
        raw = raw_rate(types, raw_n, 1)
        sim, sent = simulator_rate(ids, per_year, logs=logs)
        pairs.append((sim / raw, sim, raw, sent))
    sim = max(p[1] for p in pairs)
    raw = max(p[2] for p in pairs)
    return (
        f"{sim:8,.0f} signed messages/s vs raw {raw:,.0f}/s: ratio {sim / raw:.2f} "
        f"({pairs[0][3]:,} messages; pairwise ratios {', '.join(f'{p[0]:.2f}' for p in pairs)})"
    )


def big_run(scenario: str) -> dict[str, float]:
    """A one-year run of a built-in scenario in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, scenario], check=True, capture_output=True, text=True
    )
    data: dict[str, float] = json.loads(out.stdout)
    return data


def monte_carlo(runs: int) -> tuple[float, float]:
    """One-year p5 runs per minute on 2 processes (wall clock), and CPU seconds per run."""
    before = os.times()
    t = time.perf_counter()
    study = run_many("p5", range(1, runs + 1), jobs=2)
    wall = time.perf_counter() - t
    after = os.times()
    assert len(study.runs) == runs
    cpu = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    return runs / wall * 60, cpu / runs


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per rate (best kept)")
    args = parser.parse_args()
    per_year = 100 if args.quick else 500
    raw_n = 2000 if args.quick else 8000
    mc_runs = 40 if args.quick else 400
    print(
        f"# nrrc simulator benchmark — {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    types = MessageTypes(load_catalogue())
    raw = raw_rate(types, raw_n, args.repeat)
    print(f"raw Ed25519 sign+verify: {raw:,.0f} messages/s (one sign and one verify each)")
    for name, ids in TOPOLOGIES.items():
        n = ids.count('"') // 2
        scaled = per_year * 40 // (2 * n * (n - 1))  # the same number of messages in each
        for logs in (True, False):
            how = "writing logs" if logs else "no log files"
            line = ratio(types, raw_n, ids, scaled, args.repeat, logs)
            print(f"simulator, {name}, {how}: {line}")
    print("(target: ratio >= 0.70)")
    for scenario in ("hcoc", "osce"):
        r = big_run(scenario)
        print(
            f"one-year {scenario} run: {r['wall']:.1f} s wall ({r['cpu']:.1f} s CPU), "
            f"{r['sent']:,} messages signed, "
            f"{r['received']:,} verified and accepted, peak RSS {r['rss_kib'] / 1024:,.0f} MiB"
        )
    rate, cpu = monte_carlo(mc_runs)
    load = os.getloadavg()[0]
    print(
        f"Monte Carlo, p5 one-year runs, 2 processes: {rate:,.0f} runs/minute wall "
        f"({mc_runs} runs, {cpu * 1000:.0f} ms CPU per run; load average {load:.1f})"
    )


if __name__ == "__main__":
    main()
