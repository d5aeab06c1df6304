"""Live nodes over a real Mosquitto: a clean run, a node SIGKILLed and restarted, a broker
killed and restarted, SIGTERM and resume, and hostile envelopes injected with mosquitto_pub.

Each test runs a small two-centre scenario in scaled time (twelve simulated days in about
eight seconds) with one ``nrrc node`` process per centre, then audits the logs.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mqtt_support import (
    Mosquitto,
    NodeProcess,
    current_user,
    free_port,
    mosquitto_pub,
    require_mosquitto,
)

from nrrc.audit.engine import AuditOptions, audit
from nrrc.broker import Membership, read_password, write_mosquitto_configs
from nrrc.catalogue import Catalogue
from nrrc.envelope import compose
from nrrc.keys import Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import decode_line
from nrrc.scenario import Scenario, load_scenario
from nrrc.simulate import scenario_keys

SCENARIO = """
schema = 1
[scenario]
id = "live-test"
title = "Two centres, launch notices, for the live-node tests"
description = "US and RU under the 1988 launch notification agreement."
start = 2026-01-01T00:00:00Z
duration = "12d"
seed = 7
[defaults]
planning = "5d"
[[centres]]
id = "US"
[[centres]]
id = "RU"
[[agreements]]
id = "bmlna"
parties = "all"
"""
LAUNCHES = [("RU", 6, 6), ("US", 7, 9), ("RU", 8, 3), ("US", 9, 15), ("RU", 10, 8), ("US", 11, 4)]
SECONDS = 8.0
SIM = timedelta(days=12)
LATE_CODES = {"BML001"}


def scenario_text() -> str:
    text = SCENARIO
    for i, (party, day, hour) in enumerate(LAUNCHES):
        text += (
            f'[[activities]]\nid = "launch-{i}"\nparty = "{party}"\nactivity = "launch"\n'
            f"at = 2026-01-{day:02d}T{hour:02d}:00:00Z\n"
            'attributes = { missile_class = "ICBM", launch_area = "Test range" }\n'
        )
    return text


@dataclass
class Run:
    """A Mosquitto, the scenario, and one node process per centre."""

    tmp: Path
    scenario: Scenario
    broker: Mosquitto
    nodes: dict[str, NodeProcess]
    passwords: dict[str, Path]
    port: int

    def start(self) -> None:
        for node in self.nodes.values():
            node.start()

    def finish(self) -> None:
        for node in self.nodes.values():
            assert node.wait(SECONDS + 25) == 0, node.err.read_text()

    def logs(self) -> Path:
        return self.tmp / "run" / "logs"


@pytest.fixture
def live(tmp_path: Path, cat: Catalogue) -> Iterator[Run]:
    """Mosquitto on a free port plus US and RU nodes (not started); everything stopped after."""
    require_mosquitto()
    path = tmp_path / "live-test.toml"
    path.write_text(scenario_text())
    scenario = load_scenario(path, cat)
    port = free_port()
    layout = write_mosquitto_configs(
        tmp_path / "brokers",
        Membership({"US": frozenset(), "RU": frozenset(), "ZZ": frozenset()}),
        now=datetime.now(UTC),
        port=port,
        run_as=current_user(),
        autosave_interval=1,
    )
    run_dir = tmp_path / "run"
    _, ring = scenario_keys(scenario, scenario.seed)
    run_dir.mkdir()
    ring.save(run_dir / "keyring.json")
    broker = Mosquitto(layout.single_conf, port, tmp_path / "mosquitto.log").start()
    epoch = time.time() + 2.5
    speed = SIM.total_seconds() / SECONDS
    nodes = {
        c: NodeProcess(
            c,
            [
                *("--centre", c, "--broker", f"mqtt://127.0.0.1:{port}"),
                *("--scenario", str(path), "--run-dir", str(run_dir)),
                *("--password-file", str(layout.passwords[c])),
                *("--clock-epoch", repr(epoch), "--speed", repr(speed)),
                *("--min-retry-real", "0.3"),
            ],
            tmp_path,
        )
        for c in scenario.centre_ids
    }
    run = Run(tmp_path, scenario, broker, nodes, layout.passwords, port)
    try:
        yield run
    finally:
        for node in nodes.values():
            node.kill()
        broker.stop()


def audit_codes(run: Run, cat: Catalogue) -> list[str]:
    """Finding codes of the audit of the run's logs."""
    from nrrc.keys import Keyring

    ring = Keyring.load(run.tmp / "run" / "keyring.json")
    result = audit([run.logs()], cat, ring, AuditOptions(jobs=1))
    return sorted(f.code for f in result.findings)


def records(path: Path) -> list[object]:
    return [decode_line(line) for line in path.read_bytes().splitlines() if line]


def message_ids(path: Path, direction: str) -> set[str]:
    """Ids of the non-acknowledgement statements sent or received in a log."""
    out = set()
    for rec in records(path):
        if getattr(rec, "direction", None) != direction:
            continue
        env = json.loads(rec.envelope_bytes())  # type: ignore[attr-defined]
        st = json.loads(base64.b64decode(env["payload"]))
        if st["kind"] != "core.ack":
            out.add(st["id"])
    return out


def assert_nothing_lost(run: Run) -> None:
    """Every notice a centre logged as sent is logged as received by its recipient."""
    us, ru = run.logs() / "US.log.jsonl", run.logs() / "RU.log.jsonl"
    assert message_ids(us, "sent") == message_ids(ru, "received")
    assert message_ids(ru, "sent") == message_ids(us, "received")
    assert len(message_ids(us, "sent")) == 3 and len(message_ids(ru, "sent")) == 3


def test_clean_live_run_audits_clean(live: Run, cat: Catalogue) -> None:
    """Two nodes over Mosquitto exchange every notice and acknowledgement; the audit is clean."""
    live.start()
    live.finish()
    assert_nothing_lost(live)
    assert audit_codes(live, cat) == []
    events = live.nodes["US"].events()
    assert {"centre", "message_id", "kind"} <= set(
        next(e for e in events if e.get("event") == "notice-sent")
    )


def test_node_killed_mid_run_loses_nothing(live: Run, cat: Catalogue) -> None:
    """RU is SIGKILLed mid-run and restarted: nothing is lost, only lateness is reported."""
    live.start()
    time.sleep(2.5 + SECONDS * 0.45)
    live.nodes["RU"].kill()
    time.sleep(0.8)
    live.nodes["RU"].start()
    live.finish()
    assert_nothing_lost(live)
    assert set(audit_codes(live, cat)) <= LATE_CODES
    restarted = [e for e in live.nodes["RU"].events() if e.get("event") == "node.started"]
    assert [e["restored"] for e in restarted] == [False, True]


def test_broker_killed_mid_run_loses_nothing(live: Run, cat: Catalogue) -> None:
    """Mosquitto is SIGKILLed mid-run and restarted: the nodes reconnect, nothing is lost."""
    live.start()
    time.sleep(2.5 + SECONDS * 0.45)
    live.broker.kill()
    time.sleep(0.8)
    live.broker.start()
    live.finish()
    assert_nothing_lost(live)
    assert set(audit_codes(live, cat)) <= LATE_CODES
    assert any(e.get("event") == "mqtt.disconnected" for e in live.nodes["US"].events())


def test_sigterm_closes_the_log_and_the_node_resumes(live: Run, cat: Catalogue) -> None:
    """SIGTERM: exit code 0, the log ends with a signed checkpoint; a restart resumes it."""
    live.start()
    time.sleep(2.5 + SECONDS * 0.3)
    assert live.nodes["US"].terminate() == 0
    last = records(live.logs() / "US.log.jsonl")[-1]
    assert type(last).__name__ == "Checkpoint"
    live.nodes["US"].start()
    live.finish()
    assert_nothing_lost(live)
    assert set(audit_codes(live, cat)) <= LATE_CODES


def _free_text(types: MessageTypes, signer: Signer, to: str, at: datetime) -> bytes:
    return compose(
        types,
        signer,
        "core.free_text",
        recipient=to,
        sent_at=at,
        epoch=0,
        seq=1,
        payload={"subject": "Routine", "text": "Nothing to report."},
        rand=random.Random(1),
    ).envelope


def test_hostile_envelopes_are_refused_and_logged(
    live: Run, cat: Catalogue, types: MessageTypes
) -> None:
    """Forged, tampered, replayed and misaddressed envelopes injected with mosquitto_pub by an
    outsider holding broker credentials are each refused by US and logged with the reason."""
    signers, _ = scenario_keys(live.scenario, live.scenario.seed)
    live.start()
    time.sleep(2.5 + SECONDS * 0.6)
    at = datetime(2026, 1, 8, tzinfo=UTC)
    forged = _free_text(types, Signer.from_seed("RU", b"f" * 32), "US", at)
    genuine = json.loads(_free_text(types, signers["RU"], "US", at))
    statement = base64.b64decode(genuine["payload"]).replace(b"Routine", b"Urgent!")
    genuine["payload"] = base64.b64encode(statement).decode()
    tampered = json.dumps(genuine, separators=(",", ":")).encode()
    misaddressed = _free_text(types, signers["RU"], "GB", at)
    received = [
        r
        for r in records(live.logs() / "US.log.jsonl")
        if getattr(r, "direction", None) == "received"
    ]
    replayed = received[0].envelope_bytes()  # type: ignore[attr-defined]
    password = read_password(live.passwords["ZZ"])
    for envelope in (forged, tampered, replayed, misaddressed):
        done = mosquitto_pub(
            live.port, "nrrc/v1/link/ZZ/US", envelope, user="ZZ", password=password
        )
        assert done.returncode == 0, done.stderr
    live.finish()
    reasons = [
        getattr(r, "reason", None)
        for r in records(live.logs() / "US.log.jsonl")
        if getattr(r, "direction", None) == "rejected"
    ]
    assert sorted(reasons) == ["bad-signature", "misaddressed", "replayed", "unknown-key"]
    refused = [e for e in live.nodes["US"].events() if e.get("event") == "rejected"]
    assert len(refused) == 4 and all(e["peer"] == "ZZ" for e in refused)


def test_journal_restores_records_a_crash_kept_out_of_the_log(
    tmp_path: Path, cat: Catalogue
) -> None:
    """Records committed with the state but not yet in the log are appended on restart, once."""
    from nrrc.clock import ScaledClock
    from nrrc.msglog import LogWriter
    from nrrc.node import _JOURNAL, Node, NodeOptions, _Journal, _journal_encoder, _JournalRecord
    from nrrc.store import Store
    from nrrc.transport.mqtt import BrokerURL, MqttSettings

    path = tmp_path / "live-test.toml"
    path.write_text(scenario_text())
    scenario = load_scenario(path, cat)
    settings = MqttSettings(url=BrokerURL.parse("mqtt://127.0.0.1:1"), centre="US", password="x")
    clock = ScaledClock(scenario.start, time.time(), 1.0)
    node = Node(NodeOptions("US", scenario, tmp_path, settings, clock), cat)
    writer = LogWriter(node.log_path, node.signer, created=scenario.start)
    store = Store(node.store_path)
    at = scenario.start + timedelta(hours=1)
    journal = _Journal(
        base=writer.count,
        records=[_JournalRecord("rejected", at, b"x%d" % i, "malformed", "test") for i in (1, 2)],
    )
    store.put_state(_JOURNAL, _journal_encoder.encode(journal))
    writer.append("rejected", at, b"x1", reason="malformed", detail="test")  # one made it
    assert node._replay_journal(store, writer) == 1
    assert node._replay_journal(store, writer) == 0
    writer.close(None)
    store.close()
    envelopes = [r.envelope_bytes() for r in records(node.log_path)[1:]]  # type: ignore[attr-defined]
    assert envelopes == [b"x1", b"x2"]
