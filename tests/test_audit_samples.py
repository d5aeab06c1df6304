"""The sample logs in messages/samples: reproducible byte for byte, and each gives exactly the
findings its README promises. Also: the fast log reader finds exactly what scan_log finds."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from nrrc.audit import fastscan
from nrrc.audit.engine import AuditOptions, audit
from nrrc.catalogue import Catalogue
from nrrc.keys import Keyring

SAMPLES = Path(__file__).resolve().parent.parent / "messages" / "samples"

EXPECTED = {
    "clean": ([], 0),
    "us-ru-2026": (
        [
            ("BML001", "violation"),
            ("BML002", "warning"),
            ("BML003", "violation"),
            ("MSE001", "violation"),
            ("REC001", "violation"),
        ],
        1,
    ),
    "tampered": ([("BML001", "violation"), ("INT001", "violation"), ("INT006", "violation")], 1),
    "cfe-osce-2026": ([("CFE006", "violation"), ("VD001", "violation"), ("VD002", "violation")], 1),
}


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("samples_generate", SAMPLES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_regenerate_byte_for_byte(tmp_path: Path) -> None:
    """generate.py writes exactly the committed files."""
    written = _generator().generate(tmp_path)
    assert {d.name for d in written} == set(EXPECTED)
    for d in written:
        for f in sorted(d.iterdir()):
            assert f.read_bytes() == (SAMPLES / d.name / f.name).read_bytes(), f"{d.name}/{f.name}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_gives_the_promised_findings(name: str, cat: Catalogue) -> None:
    """The README's table: the codes, outcomes and exit code of each sample."""
    d = SAMPLES / name
    result = audit([d], cat, Keyring.load(d / "keyring.json"))
    codes, exit_code = EXPECTED[name]
    assert sorted((f.code, f.outcome.value) for f in result.findings) == codes
    assert (1 if result.violations else 0) == exit_code


@pytest.mark.parametrize(
    "edit",
    [
        "none",
        "edit-line",
        "delete-line",
        "swap-lines",
        "truncate",
        "torn",
        "garbage",
        "forge",
        "checkpoint-head",
    ],
)
def test_fast_reader_finds_what_scan_log_finds(
    edit: str, tmp_path: Path, cat: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever was done to a log, the audit with the fast reader equals the audit with
    scan_log alone: same findings, same counts."""
    d = tmp_path / "s"
    shutil.copytree(SAMPLES / "us-ru-2026", d)
    path = d / "US.log.jsonl"
    lines = path.read_bytes().split(b"\n")
    if edit == "edit-line":
        lines[3] = lines[3].replace(b'"at":"2026-', b'"at":"2025-', 1)
    elif edit == "delete-line":
        del lines[4]
    elif edit == "checkpoint-head":
        # Chained and lite-decodable, but its head is not lowercase hex (found by fuzzing: it
        # escaped the fast reader as a bare ValidationError).
        cp = next(i for i, line in enumerate(lines) if line.startswith(b'{"type":"checkpoint"'))
        head = lines[cp].index(b'"head":"') + len(b'"head":"')
        lines[cp] = lines[cp][:head] + b"A" + lines[cp][head + 1 :]  # uppercase hex
    elif edit == "swap-lines":
        lines[3], lines[4] = lines[4], lines[3]
    elif edit == "truncate":
        lines = [*lines[:-2], b""]
    elif edit == "torn":
        lines = [*lines[:-2], lines[-2][:40]]
    elif edit == "garbage":
        lines[6] = b'{"type":"sent","n":6,"garb'
    elif edit == "forge":
        lines[7] = lines[7].replace(b'sig\\":\\"', b'sig\\":\\"AAAA', 1)
    assert edit == "none" or b"\n".join(lines) != path.read_bytes()
    path.write_bytes(b"\n".join(lines))
    ring = Keyring.load(d / "keyring.json")
    fast = audit([d], cat, ring, AuditOptions())
    monkeypatch.setattr(fastscan, "ENABLED", False)
    slow = audit([d], cat, ring, AuditOptions())
    assert fast.findings == slow.findings
    assert fast.summary == slow.summary and fast.verified == slow.verified
    if edit != "none":
        assert any(f.code.startswith("INT") for f in fast.findings)
