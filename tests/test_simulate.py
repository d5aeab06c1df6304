"""Simulation runs: byte-identical for a seed, audited clean when nothing goes wrong, and audited
to exactly the violations the simulator caused or injected when things do."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from nrrc.audit import AuditOptions, Outcome, Selection, audit
from nrrc.catalogue import Catalogue
from nrrc.envelope import Verifier
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.observed import Fault, read_observed
from nrrc.scenario import load_scenario
from nrrc.simulate import run_many, run_scenario, study_svg
from nrrc.verify import verify_log

BILATERAL_FAULTS = """
schema = 1
[scenario]
id = "bilateral-faults"
title = "Late-prone Russia, lossy link, wrong US clock, silent launches, attacks, a restart"
start = 2026-01-01T00:00:00Z
duration = "150d"
seed = 1

[[centres]]
id = "US"
clock_skew = "-10min"
silent = ["bmlna.launch_notice"]

[[centres]]
id = "RU"
profile = "late-prone"
late_probability = 0.5
late_delay = "uniform(6h, 3d)"
ack_delay = "uniform(10min, 2h)"

[[centres]]
id = "CN"
profile = "silent"
silent = ["bmlna.launch_notice"]

[[agreements]]
id = "bmlna"
parties = "all"

[[agreements]]
id = "msea"
parties = ["US", "RU"]

[[agreements]]
id = "nst"
parties = ["US", "RU"]
activity_kinds = { launch = ["launch_notice"] }

[[generate]]
activity = "launch"
parties = ["US", "RU", "CN"]
per_year = 12
attributes = { missile_class = "ICBM" }

[[generate]]
activity = "exercise"
parties = ["US", "RU"]
per_year = 4
duration = "5d"
attributes = { heavy_bombers = true }

[[faults]]
link = ["US", "RU"]
loss = 0.2
delay = "lognormal(30s, 1.0)"
outages = [[2026-03-01T00:00:00Z, 2026-03-03T00:00:00Z]]

[[injections]]
attack = "forged"
target = "US"
[[injections]]
attack = "tampered"
target = "US"
[[injections]]
attack = "replayed"
target = "RU"
[[injections]]
attack = "misaddressed"
target = "CN"

[[restarts]]
centre = "RU"
at = 2026-04-01T00:00:00Z
down = "6h"
"""

REGIME_FAULTS = """
schema = 1
[scenario]
id = "regime-faults"
title = "Vienna Document and HCoC regimes with a late-prone and a silent State"
start = 2026-01-01T00:00:00Z
duration = "365d"
seed = 1

[defaults]
planning = "60d"

[[centres]]
ids = ["US", "FR", "JP"]

[[centres]]
id = "AT"
silent = ["hcoc.annual_declaration"]

[[centres]]
id = "RU"
profile = "late-prone"
late_probability = 0.6
late_delay = "uniform(1d, 20d)"
reply_delay = "uniform(20h, 60h)"

[[centres]]
id = "UA"
profile = "silent"
silent = ["hcoc.prelaunch_notice", "vd11.annual_calendar"]

[[agreements]]
id = "hcoc"
parties = "all"

[[agreements]]
id = "vd11"
parties = "all"

[[generate]]
activity = "launch"
parties = ["US", "RU", "UA", "JP"]
per_year = 3
window = "7d"
attributes = { missile_class = "SRBM" }

[[generate]]
activity = "military_activity"
parties = ["RU", "US", "UA"]
per_year = 2
duration = "7d"
attributes = { troops = 12000, battle_tanks = 180, acv = 400, artillery = 120, \
alert_activity = false }

[[messages]]
from = "UA"
to = "RU"
kind = "vd11.unusual_activity_request"
at = 2026-02-11T10:00:00Z
payload = { concern = "Forces near the border." }

[[messages]]
from = "FR"
to = "RU"
kind = "vd11.unusual_activity_request"
at = 2026-06-11T10:00:00Z
payload = { concern = "Forces near the border." }

[[faults]]
from = "*"
to = "JP"
loss = 0.3
delay = "lognormal(20s, 1.0)"

[[faults]]
link = ["RU", "AT"]
outages = [[2026-05-01T00:00:00Z, 2026-05-20T00:00:00Z]]
"""


def scenario_file(tmp_path: Path, text: str) -> Path:
    """Write a scenario into ``tmp_path``."""
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def audit_run(cat: Catalogue, out: Path) -> tuple[Counter[str], Counter[str]]:
    """(codes of the audit's violations, codes the observed log's faults expect)."""
    summary = json.loads((out / "summary.json").read_text())
    select = (*summary["agreements"], "integrity", "reconciliation")
    result = audit(
        [out / "logs"],
        cat,
        Keyring.load(out / "keyring.json"),
        AuditOptions(
            observed=(out / "observed.jsonl",), selection=Selection(select=select), jobs=1
        ),
    )
    found = Counter(f.code for f in result.findings if f.outcome is Outcome.VIOLATION)
    expected: Counter[str] = Counter()
    for item in read_observed(out / "observed.jsonl"):
        if isinstance(item, Fault):
            expected.update(item.expect)
    return found, expected


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_outputs(cat: Catalogue, tmp_path: Path) -> None:
    """Logs, observed log, keyring and summary are byte for byte the same for one seed, and
    differ for another seed."""
    s = load_scenario(scenario_file(tmp_path, BILATERAL_FAULTS), cat)
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        run_scenario(s, cat, seed=seed, out=tmp_path / name)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert sorted(a) == [
        "keyring.json",
        "logs/CN.log.jsonl",
        "logs/RU.log.jsonl",
        "logs/US.log.jsonl",
        "observed.jsonl",
        "summary.json",
    ]
    assert a == b
    assert a["logs/RU.log.jsonl"] != c["logs/RU.log.jsonl"]


@pytest.mark.parametrize("scenario", ["p5", "us-ru-2024", "india-pakistan"])
def test_diligent_fault_free_run_audits_clean(
    cat: Catalogue, tmp_path: Path, scenario: str
) -> None:
    """A built-in run with diligent centres and healthy links: every log verifies, the
    simulator expects nothing, and the audit finds no violation."""
    result = run_scenario(load_scenario(scenario, cat), cat, out=tmp_path)
    assert result.faults == []
    verifier = Verifier(Keyring.load(tmp_path / "keyring.json"), MessageTypes(cat))
    for log in sorted((tmp_path / "logs").iterdir()):
        assert verify_log(log, verifier).ok, log
    found, expected = audit_run(cat, tmp_path)
    assert found == Counter() == expected


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_bilateral_faults_yield_exactly_the_expected_violations(
    cat: Catalogue, tmp_path: Path, seed: int
) -> None:
    """Late notices and acknowledgements, unnotified launches and clock skew, as the
    simulator recorded them, are exactly what the audit reports; injected envelopes are
    refused by the centres and are no finding. (China's unnotified launches are not held to
    the 1988 agreement, whose declared parties are the US and Russia: only the lead time of
    notices it does send would be.)"""
    s = load_scenario(scenario_file(tmp_path, BILATERAL_FAULTS), cat)
    result = run_scenario(s, cat, seed=seed, out=tmp_path / "out")
    found, expected = audit_run(cat, tmp_path / "out")
    assert {"BML001", "BML003", "REC003"} <= set(expected)
    assert found == expected
    assert sum(result.summary["messages"]["rejected"].values()) == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_regime_faults_yield_exactly_the_expected_violations(
    cat: Catalogue, tmp_path: Path, seed: int
) -> None:
    """On multilateral regimes (with and without a central contact): late prior notifications
    per recipient, late and missing annual submissions, late replies, unnotified launches and
    exercises, a missing annual declaration: exactly what the audit reports."""
    s = load_scenario(scenario_file(tmp_path, REGIME_FAULTS), cat)
    run_scenario(s, cat, seed=seed, out=tmp_path / "out")
    found, expected = audit_run(cat, tmp_path / "out")
    assert {"HCC001", "HCC002", "VD003", "VD005"} <= set(expected)
    assert found == expected


def test_central_contact_own_regime_messages_raise_no_finding(
    cat: Catalogue, tmp_path: Path
) -> None:
    """Austria, the HCoC central contact, submits its own annual declaration to the regime:
    the members receive it, so the audit should report nothing."""
    text = REGIME_FAULTS.replace('silent = ["hcoc.annual_declaration"]', "")
    s = load_scenario(scenario_file(tmp_path, text), cat)
    run_scenario(s, cat, seed=1, out=tmp_path / "out")
    found, expected = audit_run(cat, tmp_path / "out")
    assert found == expected


def test_monte_carlo_runs_match_single_runs_and_plot(cat: Catalogue, tmp_path: Path) -> None:
    """Runs on two processes give the same metrics as the same seeds run here, ordered by
    seed; the study draws as a well-formed SVG with its four panels."""
    path = scenario_file(tmp_path, BILATERAL_FAULTS)
    s = load_scenario(path, cat)
    study = run_many(str(path), [5, 3, 4], jobs=2)
    assert [m.seed for m in study.runs] == [3, 4, 5]
    here = [run_scenario(s, cat, seed=seed).metrics.as_dict() for seed in (3, 4, 5)]
    assert [m.as_dict() for m in study.runs] == here
    data = study.as_json()
    assert data["runs"] == 3 and data["metrics"]["share_late_or_missing"]["max"] > 0
    svg = study_svg(study, command="nrrc simulate scenario.toml --runs 3")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    for title in ("Launches with a late or missing notice", "Time to acknowledgement"):
        assert title in svg
