"""``nrrc simulate`` and ``nrrc scenarios``: what a person sees, the files they get, the errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nrrc.cli import app

runner = CliRunner()


def test_scenarios_list_names_every_builtin() -> None:
    """The list shows each built-in with its number of centres and agreements."""
    result = runner.invoke(app, ["scenarios", "list"])
    assert result.exit_code == 0, result.output
    for sid in ("hcoc", "india-pakistan", "osce", "p5", "us-ru-2024"):
        assert sid in result.output
    assert "145 centres; hcoc" in result.output
    assert "nst (suspended)" in result.output


def test_scenarios_show_explains_bindings_and_rules() -> None:
    """Showing a scenario lists who is bound by what, how, and each rule with its status."""
    result = runner.invoke(app, ["scenarios", "show", "hcoc"])
    assert result.exit_code == 0, result.output
    assert "regime via central contact AT" in result.output
    assert "HCC001" in result.output and "[unverified]" in result.output


def test_simulate_writes_logs_observed_keyring_and_summary(tmp_path: Path) -> None:
    """One run writes every output and tells how to audit them."""
    out = tmp_path / "run"
    result = runner.invoke(app, ["simulate", "india-pakistan", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the audit should find no violation" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["format"] == "nrrc-simulation/1"
    assert summary["messages"]["sent"] == 2 * summary["metrics"]["notices"]  # notice + ack
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["IN.log.jsonl", "PK.log.jsonl"]
    assert "--select inpk,integrity,reconciliation" in summary["audit"]


def test_simulate_runs_writes_study_table_json_and_svg(tmp_path: Path) -> None:
    """With --runs the distributions are printed and written as JSON and SVG."""
    out = tmp_path / "study"
    result = runner.invoke(
        app, ["simulate", "us-ru-2024", "--out", str(out), "--runs", "3", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "launches late or missing" in result.output
    study = json.loads((out / "study.json").read_text())
    assert study["seeds"] == [2024, 2025, 2026]
    assert (out / "study.svg").read_text().startswith("<svg")


def test_bad_scenario_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    """A broken scenario: one line per problem naming file and key path, exit code 2."""
    path = tmp_path / "bad.toml"
    path.write_text(
        'schema = 1\n[scenario]\nid = "bad"\nstart = 2026-01-01T00:00:00Z\nduration = "1y"\n'
        '[[centres]]\nid = "us"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["simulate", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("nrrc: error:")]
    assert any(f"{path}: scenario.duration:" in line for line in lines)
    assert any(f"{path}: centres[0].id:" in line for line in lines)
    assert "Traceback" not in result.output
