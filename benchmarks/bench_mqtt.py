"""MQTT throughput, latency and scale, measured in one run through one local Mosquitto.

    .venv/bin/python benchmarks/bench_mqtt.py                 # everything (several minutes)
    .venv/bin/python benchmarks/bench_mqtt.py --centres 25    # a smaller scale test

1. **raw aiomqtt**: QoS 1 publish -> receive between two clients (900-byte payloads, the size
   of a signed notice), as a burst (rate) and paced (p50/p99 latency).
2. **nrrc**: two ``nrrc node`` processes (the real thing: durable outbox and inbox in SQLite,
   manual PUBACK after the durable write, Ed25519 verification, hash-chained fsync'd message
   log, signed acknowledgement back, retransmission bookkeeping) in real time: a burst of
   notices from US to RU, counted when their acknowledgement is logged by the sender (rate,
   and its ratio to raw), then a paced run for delivery latency (sender's sent_at to the
   receiver's logged receipt) and acknowledgement round trip.
3. **scale**: K centres of the HCoC scenario as K ``nrrc node`` processes on one Mosquitto;
   each sends a declaration to the regime channel, which every other member must log and
   acknowledge (K x (K-1) deliveries and as many acknowledgements). Reports whether every
   declaration was acknowledged by every member, how long it took, and the memory of the
   nodes and of the broker.

Every figure comes from this run on this machine; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import psutil

from nrrc.broker import Membership, read_password, write_mosquitto_configs

NRRC = [sys.executable, "-c", "from nrrc.cli import main; main()"]
PAYLOAD = 900
START = datetime(2026, 1, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def mosquitto(directory: Path, centres: list[str]) -> Iterator[tuple[int, dict[str, str], Any]]:
    """A Mosquitto with the generated single-broker configuration for ``centres``."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    import pwd

    layout = write_mosquitto_configs(
        directory / "brokers",
        Membership(dict.fromkeys(centres, frozenset({"hcoc"}))),
        now=datetime.now(UTC),
        port=port,
        run_as=pwd.getpwuid(os.getuid()).pw_name,
        max_queued=1_000_000,
    )
    conf = layout.single_conf
    text = conf.read_text().replace("max_inflight_messages 100", "max_inflight_messages 1000")
    text = text.replace("log_type information\n", "").replace("connection_messages true", "")
    conf.write_text(text + "max_connections -1\n")
    log = (directory / "mosquitto.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    for _ in range(100):
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.05)
    passwords = {c: read_password(p) for c, p in layout.passwords.items()}
    try:
        yield port, passwords, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


# -- 1. raw aiomqtt ----------------------------------------------------------------------------


async def raw_burst(port: int, pw: dict[str, str], n: int) -> float:
    """Messages per second, first publish to last receipt."""
    got = 0
    done = asyncio.Event()
    async with (
        aiomqtt.Client("127.0.0.1", port, username="RU", password=pw["RU"], identifier="RU") as sub,
        aiomqtt.Client("127.0.0.1", port, username="US", password=pw["US"], identifier="US") as pub,
    ):
        pub.pending_calls_threshold = 10_000
        await sub.subscribe("nrrc/v1/link/+/RU", qos=1)

        async def receive() -> float:
            nonlocal got
            async for _ in sub.messages:
                got += 1
                if got == n:
                    done.set()
                    return time.perf_counter()
            return time.perf_counter()

        receiver = asyncio.create_task(receive())
        body = b"x" * PAYLOAD
        t0 = time.perf_counter()
        for i in range(0, n, 200):
            await asyncio.gather(
                *(pub.publish("nrrc/v1/link/US/RU", body, qos=1) for _ in range(min(200, n - i)))
            )
        async with asyncio.timeout(120):
            t1 = await receiver
    return n / (t1 - t0)


async def raw_paced(port: int, pw: dict[str, str], n: int, rate: float) -> list[float]:
    """Per-message publish -> receive latency in ms at a steady rate."""
    latencies: list[float] = []
    async with (
        aiomqtt.Client("127.0.0.1", port, username="RU", password=pw["RU"], identifier="RU") as sub,
        aiomqtt.Client("127.0.0.1", port, username="US", password=pw["US"], identifier="US") as pub,
    ):
        await sub.subscribe("nrrc/v1/link/+/RU", qos=1)

        async def receive() -> None:
            async for m in sub.messages:
                sent = struct.unpack("!q", bytes(m.payload[:8]))[0]  # type: ignore[index,arg-type]
                latencies.append((time.perf_counter_ns() - sent) / 1e6)
                if len(latencies) == n:
                    return

        receiver = asyncio.create_task(receive())
        pad = b"x" * (PAYLOAD - 8)
        for _ in range(n):
            await pub.publish(
                "nrrc/v1/link/US/RU", struct.pack("!q", time.perf_counter_ns()) + pad, qos=1
            )
            await asyncio.sleep(1 / rate)
        async with asyncio.timeout(60):
            await receiver
    return latencies


# -- 2. nrrc nodes -----------------------------------------------------------------------------


def notices_scenario(path: Path, n: int, spacing: float, first: float) -> None:
    """US sends ``n`` notices to RU, ``spacing`` seconds apart (0: all at once)."""
    lines = [
        "schema = 1",
        "[scenario]",
        'id = "bench-mqtt"',
        'title = "Benchmark: notices from US to RU"',
        'description = "Free-text notices, acknowledged at once."',
        "start = 2026-01-01T00:00:00Z",
        'duration = "1d"',
        "seed = 1",
        "[[centres]]",
        'id = "US"',
        "[[centres]]",
        'id = "RU"',
        'ack_delay = "0s"',
        "[[agreements]]",
        'id = "bmlna"',
        'parties = "all"',
    ]
    for i in range(n):
        at = first + i * spacing
        stamp = (
            f"2026-01-01T00:{int(at) // 60:02d}:{int(at) % 60:02d}.{int(at * 1e6) % 1_000_000:06d}Z"
        )
        lines += [
            "[[messages]]",
            'from = "US"',
            'to = "RU"',
            'kind = "core.free_text"',
            f"at = {stamp}",
            f'payload = {{ subject = "Notice {i}", text = "{"x" * 400}" }}',
        ]
    path.write_text("\n".join(lines) + "\n")


def records(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_bytes().splitlines():
        rec = json.loads(line)
        if rec.get("type") in ("sent", "received"):
            env = json.loads(rec["envelope"])
            rec["statement"] = json.loads(base64.b64decode(env["payload"]))
            out.append(rec)
    return out


def run_nodes(
    tmp: Path,
    port: int,
    pw: dict[str, str],
    scenario: Path,
    centres: list[str],
    window: float,
    startup: float,
) -> tuple[list[subprocess.Popen[bytes]], float]:
    run = tmp / "run"
    secrets = tmp / "secrets"
    secrets.mkdir(exist_ok=True)
    epoch = time.time() + startup
    procs = []
    for c in centres:
        (secrets / f"{c}.password").write_text(pw[c])
        out = (tmp / f"node-{c}.out").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    *NRRC,
                    *("node", "--centre", c, "--broker", f"mqtt://127.0.0.1:{port}"),
                    *("--scenario", str(scenario), "--run-dir", str(run)),
                    *("--password-file", str(secrets / f"{c}.password")),
                    *("--speed", "1", "--clock-epoch", repr(epoch)),
                    *("--days", repr(window / 86400), "--min-retry-real", "0"),
                    *("--min-give-up-real", "0"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
        out.close()
    return procs, epoch


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.time() + timeout
    for p in procs:
        try:
            p.wait(max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def nrrc_run(port: int, pw: dict[str, str], n: int, spacing: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as d:
        tmp = Path(d)
        scenario = tmp / "scenario.toml"
        first = 2.0
        notices_scenario(scenario, n, spacing, first)
        window = first + n * spacing + 60
        procs, _ = run_nodes(tmp, port, pw, scenario, ["US", "RU"], window, startup=3.0)
        # Stop as soon as every notice is acknowledged (the window is only an upper bound).
        us_log = tmp / "run" / "logs" / "US.log.jsonl"
        deadline = time.time() + 3 + window
        while time.time() < deadline:
            time.sleep(0.5)
            if us_log.exists() and us_log.read_bytes().count(b'"type":"received"') >= n:
                break
        for p in procs:
            p.send_signal(signal.SIGTERM)
        wait_all(procs, 30)
        us = records(us_log)
        ru = records(tmp / "run" / "logs" / "RU.log.jsonl")
    sent = {
        r["statement"]["id"]: datetime.fromisoformat(r["at"])
        for r in us
        if r["type"] == "sent" and r["statement"]["kind"] == "core.free_text"
    }
    received = {
        r["statement"]["id"]: datetime.fromisoformat(r["at"])
        for r in ru
        if r["type"] == "received" and r["statement"]["kind"] == "core.free_text"
    }
    acked = {
        r["statement"]["in_reply_to"]["id"]: datetime.fromisoformat(r["at"])
        for r in us
        if r["type"] == "received" and r["statement"]["kind"] == "core.ack"
    }
    delivery = [(received[i] - sent[i]).total_seconds() * 1000 for i in sent if i in received]
    round_trip = [(acked[i] - sent[i]).total_seconds() * 1000 for i in sent if i in acked]
    span = (max(acked.values()) - min(sent.values())).total_seconds() if acked else float("nan")
    return {
        "sent": len(sent),
        "received": len(received),
        "acknowledged": len(acked),
        "rate": len(acked) / span if acked else 0.0,
        "delivery_ms": delivery,
        "round_trip_ms": round_trip,
    }


# -- 3. scale ----------------------------------------------------------------------------------


def hcoc_ids() -> list[str]:
    from nrrc.catalogue import load_catalogue
    from nrrc.scenario import load_scenario

    return list(load_scenario("hcoc", load_catalogue()).centre_ids)


def scale_scenario(path: Path, centres: list[str], first: float) -> None:
    lines = [
        "schema = 1",
        "[scenario]",
        f'id = "bench-scale-{len(centres)}"',
        f'title = "Benchmark: {len(centres)} HCoC centres on one broker"',
        'description = "Each centre sends one declaration to the regime channel."',
        "start = 2026-01-01T00:00:00Z",
        'duration = "1d"',
        "seed = 1",
        "[defaults]",
        'ack_delay = "0s"',
        "[[centres]]",
        f"ids = {json.dumps(centres)}",
        "[[agreements]]",
        'id = "hcoc"',
        'parties = "all"',
    ]
    for i, c in enumerate(centres):
        at = first + i * 0.2
        stamp = (
            f"2026-01-01T00:{int(at) // 60:02d}:{int(at) % 60:02d}.{int(at * 1e6) % 1_000_000:06d}Z"
        )
        lines += [
            "[[messages]]",
            f'from = "{c}"',
            'to = "hcoc"',
            'kind = "hcoc.annual_declaration"',
            f"at = {stamp}",
        ]
    path.write_text("\n".join(lines) + "\n")


class Tracker:
    """Reads a centre's log as it grows: the regime messages it sent and who acknowledged them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.sent: set[str] = set()
        self.acks: dict[str, set[str]] = {}

    def update(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            rec = json.loads(line)
            if rec.get("type") not in ("sent", "received"):
                continue
            st = json.loads(base64.b64decode(json.loads(rec["envelope"])["payload"]))
            if rec["type"] == "sent" and st["recipient"] == "hcoc":
                self.sent.add(st["id"])
            elif rec["type"] == "received" and st["kind"] == "core.ack":
                ref = (st.get("in_reply_to") or {}).get("id")
                self.acks.setdefault(ref, set()).add(st["sender"])

    def complete(self, others: int) -> bool:
        """Every regime message sent is acknowledged by every other member."""
        return bool(self.sent) and all(len(self.acks.get(m, ())) == others for m in self.sent)


def scale_run(k: int, ids: list[str]) -> dict[str, Any]:
    centres = sorted(ids[:k])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        tmp = Path(d)
        with mosquitto(tmp, centres) as (port, pw, broker):
            scenario = tmp / "scenario.toml"
            startup = 15 + 0.9 * k
            first = 5.0
            scale_scenario(scenario, centres, first)
            window = first + 0.2 * k + 120
            t_launch = time.time()
            procs, epoch = run_nodes(tmp, port, pw, scenario, centres, window, startup)
            logs = tmp / "run" / "logs"
            trackers = [Tracker(logs / f"{c}.log.jsonl") for c in centres]
            peak_rss: list[int] = [0] * k
            broker_rss = 0
            expected = k - 1
            done_at = None
            connected_at = None
            deadline = epoch + window + 10
            while time.time() < deadline:
                time.sleep(2.0)
                for i, p in enumerate(procs):
                    with suppress(psutil.Error):
                        peak_rss[i] = max(peak_rss[i], psutil.Process(p.pid).memory_info().rss)
                with suppress(psutil.Error):
                    broker_rss = max(broker_rss, psutil.Process(broker.pid).memory_info().rss)
                if connected_at is None:
                    outs = [tmp / f"node-{c}.out" for c in centres]
                    if all(o.exists() and b"mqtt.connected" in o.read_bytes() for o in outs):
                        connected_at = time.time()
                if time.time() > epoch + first:
                    for t in trackers:
                        t.update()
                    if all(t.complete(expected) for t in trackers):
                        done_at = time.time()
                        break
            for p in procs:
                p.send_signal(signal.SIGTERM)
            wait_all(procs, 120)
            for t in trackers:
                t.update()
            complete = sum(t.complete(expected) for t in trackers)
    return {
        "centres": k,
        "complete": complete,
        "connected_s": None if connected_at is None else connected_at - t_launch,
        "exchange_s": None if done_at is None else done_at - (epoch + first),
        "node_rss_mb_mean": statistics.mean(peak_rss) / 2**20,
        "node_rss_mb_max": max(peak_rss) / 2**20,
        "nodes_rss_gb_total": sum(peak_rss) / 2**30,
        "broker_rss_mb": broker_rss / 2**20,
        "deliveries": k * (k - 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=int, default=20_000, help="raw burst size")
    parser.add_argument("--notices", type=int, default=1_000, help="nrrc burst size")
    parser.add_argument("--paced", type=int, default=300, help="messages in each paced run")
    parser.add_argument("--rate", type=float, default=50.0, help="paced rate (per second)")
    parser.add_argument("--centres", default="145", help="comma-separated scale steps")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM")
    with (
        tempfile.TemporaryDirectory(prefix="bench-mqtt-broker-") as d,
        mosquitto(Path(d), ["US", "RU"]) as (port, pw, _),
    ):
        raw_rate = asyncio.run(raw_burst(port, pw, args.raw))
        raw_lat = asyncio.run(raw_paced(port, pw, args.paced, args.rate))
        burst = nrrc_run(port, pw, args.notices, 0.0)
        paced = nrrc_run(port, pw, args.paced, 1 / args.rate)
    print()
    print(f"raw aiomqtt QoS 1, {PAYLOAD}-byte messages through Mosquitto:")
    print(f"  burst of {args.raw}: {raw_rate:,.0f} messages/s")
    print(
        f"  paced at {args.rate:g}/s: latency p50 {quantile(raw_lat, 0.5):.2f} ms, "
        f"p99 {quantile(raw_lat, 0.99):.2f} ms"
    )
    print("nrrc notices (durable outbox/inbox, verified, fsync'd log, signed ack back):")
    print(
        f"  burst of {args.notices}: {burst['acknowledged']}/{burst['sent']} acknowledged, "
        f"{burst['rate']:,.0f} notices/s = {burst['rate'] / raw_rate:.3f} x raw "
        f"(1 : {raw_rate / burst['rate']:.0f})"
    )
    print(
        f"  paced at {args.rate:g}/s: delivery latency p50 "
        f"{quantile(paced['delivery_ms'], 0.5):.1f} ms, p99 "
        f"{quantile(paced['delivery_ms'], 0.99):.1f} ms; acknowledged round trip p50 "
        f"{quantile(paced['round_trip_ms'], 0.5):.1f} ms, p99 "
        f"{quantile(paced['round_trip_ms'], 0.99):.1f} ms"
    )
    if args.skip_scale:
        return
    ids = hcoc_ids()
    print("scale: K HCoC centres, one process each, one Mosquitto; each sends one declaration")
    print("to the regime channel, acknowledged by every other member:")
    for k in [int(x) for x in args.centres.split(",")]:
        r = scale_run(k, ids)
        ok = r["complete"] == k
        print(
            f"  K={k}: {'sustained' if ok else 'NOT sustained'} ({r['complete']}/{k} declarations "
            f"acknowledged by all {k - 1} others; {r['deliveries']:,} deliveries + as many acks); "
            f"all connected {r['connected_s'] or float('nan'):.0f} s after launch; exchange "
            f"done in {r['exchange_s'] or float('nan'):.1f} s; node RSS mean "
            f"{r['node_rss_mb_mean']:.0f} MB (max {r['node_rss_mb_max']:.0f}), all nodes "
            f"{r['nodes_rss_gb_total']:.2f} GB, Mosquitto {r['broker_rss_mb']:.0f} MB"
        )
        if not ok:
            break


if __name__ == "__main__":
    main()
