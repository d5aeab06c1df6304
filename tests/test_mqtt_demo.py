"""`nrrc demo` end to end: short scaled runs on the embedded broker (with every fault flag)
and on a local Mosquitto, and the offline walk-through still reachable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mqtt_support import require_mosquitto

from nrrc.msglog import decode_line

NRRC = [sys.executable, "-c", "from nrrc.cli import main; main()"]


def nrrc(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run the nrrc CLI in a subprocess, bounded in time."""
    return subprocess.run(
        [*NRRC, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def finding_codes(out: Path, outcome: str | None = None) -> list[str]:
    """Codes of the audit's findings (of one outcome, or all) on a demo run directory."""
    done = nrrc(
        "audit",
        "--keyring",
        str(out / "keyring.json"),
        "--observed",
        str(out / "observed.jsonl"),
        "--select",
        "bmlna,msea,integrity,reconciliation",
        "--format",
        "json",
        str(out / "logs"),
    )
    assert done.returncode in (0, 1), done.stderr
    findings = json.loads(done.stdout)["findings"]
    return sorted(f["code"] for f in findings if outcome in (None, f["outcome"]))


def test_demo_with_every_fault_on_the_embedded_broker(tmp_path: Path) -> None:
    """Late-prone centre, node SIGKILLed and restarted, broker restarted, forgeries injected:
    the demo finishes, the forgeries are refused with their reasons, nothing is lost (the
    audit reports lateness only) and the HTML report is written."""
    out = tmp_path / "demo"
    args = ["demo", "--no-live", "--days", "60", "--seconds", "12", "--out", str(out)]
    done = nrrc(*args, "--late-prone", "US", "--kill", "RU", "--forge", "CN", "--restart-broker")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "HTML report:" in done.stdout and (out / "report.html").stat().st_size > 1000
    reasons = sorted(
        str(getattr(rec, "reason", ""))
        for rec in map(decode_line, (out / "logs" / "CN.log.jsonl").read_bytes().splitlines())
        if getattr(rec, "direction", "") == "rejected"
    )
    assert set(reasons) >= {"bad-signature", "misaddressed", "unknown-key"}
    starts = [
        json.loads(line)
        for line in (out / "nodes" / "RU.events.jsonl").read_text().splitlines()
        if '"node.started"' in line
    ]
    assert [s["restored"] for s in starts] == [False, True]
    codes = finding_codes(out)
    assert not [c for c in codes if c.startswith(("INT", "REC"))], codes


def test_demo_on_a_local_mosquitto_audits_clean(tmp_path: Path) -> None:
    """The same demo on Mosquitto, without faults, ends with a clean audit (exit code 0)."""
    require_mosquitto()
    out = tmp_path / "demo"
    done = nrrc(
        "demo", "--no-live", "--broker", "mosquitto", "--days", "45", "--seconds", "6",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 violations" in done.stdout
    assert finding_codes(out, "violation") == []


def test_offline_walkthrough_is_still_reachable(tmp_path: Path) -> None:
    """`nrrc demo --offline` runs the broker-less walk-through and catches the tampered copy."""
    done = nrrc("demo", "--offline", "--out", str(tmp_path / "w"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Tampering" in done.stdout and (tmp_path / "w" / "US.log.jsonl").exists()


def test_live_view_counts_links_agreements_acks_and_warnings() -> None:
    """The live view's model turns node event lines into per-link, per-agreement and
    acknowledgement figures and keeps warnings with their simulated time."""
    from datetime import UTC, datetime

    from rich.console import Console

    from nrrc._demo_view import DemoModel

    model = DemoModel("P5", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), "b")
    at = "2026-02-01T00:00:00+00:00"
    lines = [
        {"event": "node.started", "centre": "RU", "epoch": 1},
        {"event": "notice-sent", "centre": "RU", "peer": "US", "at": at, "kind": "bmlna.x",
         "data": {"agreement": "bmlna", "late": True}},
        {"event": "ack-sent", "centre": "US", "peer": "RU", "at": at},
        {"event": "acknowledged", "centre": "RU", "peer": "US", "at": at,
         "data": {"latency": 600.0}},
        {"event": "rejected", "centre": "US", "at": at, "detail": "bad-signature: x"},
    ]  # fmt: skip
    warnings = [model.update(line) for line in lines]
    assert warnings[-1] == "US: refused: bad-signature: x"
    assert model.links == {("RU", "US"): 1, ("US", "RU"): 1}
    assert (model.agreements["bmlna"], model.agreements_late["bmlna"]) == (1, 1)
    assert model.ack_seconds == [600.0] and model.row("US").refused == 1
    assert model.warnings[-1][0] == "2026-02-01 00:00"
    console = Console(width=120, record=True)
    console.print(model.render())
    assert "bmlna" in console.export_text()
