"""Live runs with what used to be the simulator's alone: `mqtts://` end to end with the TLS
set-up of `nrrc brokers generate`, the scenario's [[injections]] and [[restarts]] played by the
demo, and [[faults]] simulated by each node on top of the real broker.

Each live test starts its own Mosquitto on a free loopback port, bounds its run time, and stops
every process it started (the demo stops its nodes; the fixture stops the broker).
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mqtt_support import Mosquitto, current_user, free_port, require_mosquitto

from nrrc.broker import Membership, write_mosquitto_configs
from nrrc.centre import Distribution
from nrrc.msglog import decode_line
from nrrc.transport.link_faults import LiveLinkFaults
from nrrc.transport.memory import LinkFault

NRRC = [sys.executable, "-c", "from nrrc.cli import main; main()"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def nrrc(*args: str, timeout: float = 55) -> subprocess.CompletedProcess[str]:
    """Run the nrrc CLI in a subprocess, bounded in time."""
    return subprocess.run(
        [*NRRC, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def records(path: Path) -> list[object]:
    """Every record of a message log."""
    return [decode_line(line) for line in path.read_bytes().splitlines() if line]


def rejected_reasons(path: Path) -> list[str]:
    """The reasons of a log's refusals, sorted."""
    return sorted(
        str(getattr(r, "reason", ""))
        for r in records(path)
        if getattr(r, "direction", None) == "rejected"
    )


def notice_ids(path: Path, direction: str) -> set[str]:
    """Ids of the statements other than acknowledgements sent or received in a log."""
    out = set()
    for rec in records(path):
        if getattr(rec, "direction", None) != direction:
            continue
        env = json.loads(rec.envelope_bytes())  # type: ignore[attr-defined]
        st = json.loads(base64.b64decode(env["payload"]))
        if st["kind"] != "core.ack":
            out.add(st["id"])
    return out


def events(out: Path, centre: str) -> list[dict[str, object]]:
    """The JSON lines a demo's node printed."""
    lines = (out / "nodes" / f"{centre}.events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def audit_codes(out: Path, select: str) -> list[str]:
    """Codes of the findings of `nrrc audit --select SELECT` on a demo run directory."""
    done = nrrc(
        "audit", "--keyring", str(out / "keyring.json"), "--observed",
        str(out / "observed.jsonl"), "--select", select,
        "--format", "json", str(out / "logs"),
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return sorted(f["code"] for f in json.loads(done.stdout)["findings"])


def test_demo_over_mqtts_with_client_certificates_audits_clean(tmp_path: Path) -> None:
    """`nrrc demo --broker mqtts://... --secrets DIR` against Mosquitto's TLS set-up from
    `nrrc brokers generate`: every node and the outsider log in with their client certificate
    (no password anywhere), notices flow, forgeries are refused, and the audit is clean."""
    require_mosquitto()
    port = free_port()
    layout = write_mosquitto_configs(
        tmp_path / "brokers",
        Membership({c: frozenset() for c in ("US", "RU", "CN", "GB", "FR")}),
        now=datetime.now(UTC),
        tls_port=port,
        run_as=current_user(),
        outsiders=["ZZ"],
    )
    out = tmp_path / "demo"
    with Mosquitto(layout.tls_conf, port, tmp_path / "mosquitto.log").start():
        done = nrrc(
            "demo", "--no-live", "--broker", f"mqtts://127.0.0.1:{port}",
            "--secrets", str(layout.directory / "secrets"), "--days", "45", "--seconds", "6",
            "--forge", "CN", "--out", str(out),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 violations" in done.stdout
    broker_log = (tmp_path / "mosquitto.log").read_text()
    assert all(f"u'{c}'" in broker_log for c in ("US", "RU", "CN", "GB", "FR", "ZZ"))
    assert not list((out / "secrets").glob("*.password")), "certificates, not passwords"
    sent = sum(len(notice_ids(p, "sent")) for p in (out / "logs").glob("*.log.jsonl"))
    assert sent >= 4
    assert set(rejected_reasons(out / "logs" / "CN.log.jsonl")) >= {
        "bad-signature",
        "misaddressed",
        "unknown-key",
    }


def test_node_refuses_unreadable_tls_files_in_one_line(tmp_path: Path) -> None:
    """`nrrc node` with a CA file that does not exist: one clear line, exit code 2."""
    done = nrrc(
        "node", "--centre", "US", "--broker", "mqtts://127.0.0.1:8883", "--scenario", "p5",
        "--run-dir", str(tmp_path), "--cafile", str(tmp_path / "missing.crt"),
        "--certfile", str(tmp_path / "US.crt"), "--keyfile", str(tmp_path / "US.key"),
    )  # fmt: skip
    assert done.returncode == 2
    assert "--ca:" in done.stderr and "missing.crt" in done.stderr
    assert "Traceback" not in done.stderr


SCENARIO = """
schema = 1
[scenario]
id = "live-faults"
title = "Two centres under the scenario's own injections, restart and link delay"
description = "US and RU under the 1988 launch notification agreement."
start = 2026-01-01T00:00:00Z
duration = "12d"
seed = 11
[defaults]
planning = "5d"
[[centres]]
id = "US"
[[centres]]
id = "RU"
[[agreements]]
id = "bmlna"
parties = "all"
[[faults]]
link = ["US", "RU"]
delay = "fixed(2h)"
[[faults]]
from = "US"
to = "RU"
both_ways = false
outages = [[2026-01-05T06:00:00Z, 2026-01-05T20:00:00Z]]
[[injections]]
attack = "forged"
target = "US"
by = "ZZ"
at = [2026-01-05T00:00:00Z]
[[injections]]
attack = "tampered"
target = "US"
by = "ZZ"
count = 1
[[injections]]
attack = "misaddressed"
target = "US"
by = "XX"
at = [2026-01-06T00:00:00Z]
[[injections]]
attack = "replayed"
target = "US"
by = "ZZ"
at = [2026-01-10T00:00:00Z]
[[restarts]]
centre = "RU"
at = 2026-01-07T12:00:00Z
down = "12h"
"""
LAUNCHES = [("RU", 6, 6), ("US", 7, 9), ("RU", 8, 3), ("US", 9, 15)]


def test_demo_applies_the_scenarios_injections_restarts_and_link_delay(tmp_path: Path) -> None:
    """A short live run of a scenario with [[injections]], a [[restarts]] and [[faults]] (a
    link delay, an outage): the injected envelopes are refused and logged with their reasons,
    RU is killed and restarts from its durable state, every copy on the link is held for its
    simulated delay, the copy US sends during the outage is lost and retransmitted, and nothing
    is lost in the end (every notice sent is received; only lateness may be reported)."""
    require_mosquitto()
    text = SCENARIO
    for i, (party, day, hour) in enumerate(LAUNCHES):
        text += (
            f'[[activities]]\nid = "launch-{i}"\nparty = "{party}"\nactivity = "launch"\n'
            f"at = 2026-01-{day:02d}T{hour:02d}:00:00Z\n"
            'attributes = { missile_class = "ICBM", launch_area = "Test range" }\n'
        )
    path = tmp_path / "live-faults.toml"
    path.write_text(text)
    out = tmp_path / "demo"
    done = nrrc(
        "demo", "--no-live", "--broker", "mosquitto", "--scenario", str(path),
        "--days", "12", "--seconds", "16", "--out", str(out),
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert rejected_reasons(out / "logs" / "US.log.jsonl") == [
        "bad-signature",
        "misaddressed",
        "replayed",
        "unknown-key",
    ]
    refused = [e for e in events(out, "US") if e.get("event") == "rejected"]
    assert sorted(str(e["peer"]) for e in refused) == ["XX", "ZZ", "ZZ", "ZZ"]
    starts = [e for e in events(out, "RU") if e.get("event") == "node.started"]
    assert [e["restored"] for e in starts] == [False, True]
    observed = (out / "observed.jsonl").read_text()
    assert observed.count('"node-killed"') == 1 and observed.count("-envelope") == 4
    delayed = [e for c in ("US", "RU") for e in events(out, c) if e.get("event") == "link.delayed"]
    assert delayed and all(e["delay"] == 7200.0 and e["simulated"] for e in delayed)
    lost = [e for e in events(out, "RU") if e.get("event") == "link.lost"]
    assert lost and all(e["cause"] == "outage" and e["peer"] == "US" for e in lost)
    assert not [e for e in events(out, "US") if e.get("event") == "link.lost"]
    us, ru = out / "logs" / "US.log.jsonl", out / "logs" / "RU.log.jsonl"
    assert notice_ids(us, "sent") == notice_ids(ru, "received") != set()
    assert notice_ids(ru, "sent") == notice_ids(us, "received") != set()
    codes = audit_codes(out, "bmlna,integrity,reconciliation")
    assert set(codes) <= {"BML001"}, codes  # lateness the restart caused, nothing else


def test_link_faults_lose_in_outages_and_by_chance_and_delay_the_rest() -> None:
    """The receiving node's view of the scenario's [[faults]]: an outage loses every copy, a
    loss of 1 every copy, a delay holds a copy for its draw, and a link no fault names passes."""
    outage = (T0 + timedelta(days=1), T0 + timedelta(days=2))
    faults = LiveLinkFaults(
        "US",
        [
            LinkFault("RU", "US", outages=(outage,), delay=Distribution.fixed(3600)),
            LinkFault("CN", "US", loss=1.0, both_ways=False),
        ],
        random.Random(1),
    )
    assert faults.fate("RU", T0 + timedelta(days=1, hours=1)).why == "outage"
    assert faults.fate("RU", T0).delay == timedelta(hours=1)
    assert faults.fate("CN", T0).why == "loss"
    assert not faults.fate("GB", T0).lost and not faults.fate("GB", T0).delay
    assert not LiveLinkFaults("US", [], random.Random(1))


def test_node_secrets_directory_gives_certificates_for_mqtts_only(tmp_path: Path) -> None:
    """`nrrc node --secrets DIR`: for mqtts:// the CA and the centre's certificate and key of
    `nrrc brokers generate`; for mqtt:// only the password; explicit options win."""
    from nrrc.cli._node import _from_secrets

    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.crt", "US.crt", "US.key"):
        (certs / name).write_text("x")
    mine = tmp_path / "mine.crt"
    assert _from_secrets(tmp_path, "US", True, None, None, None) == (
        certs / "ca.crt",
        certs / "US.crt",
        certs / "US.key",
        tmp_path / "US.password",
    )
    assert _from_secrets(tmp_path, "US", False, None, None, None)[:3] == (None, None, None)
    assert _from_secrets(tmp_path, "US", True, mine, None, None)[0] == mine
