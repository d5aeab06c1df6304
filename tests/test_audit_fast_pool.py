"""The fast reader feeding the signature pool (``--jobs`` > 1) finds what scan_log finds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nrrc.audit import AuditOptions, audit, engine, fastscan
from nrrc.catalogue import Catalogue
from nrrc.keys import Keyring

SAMPLES = Path(__file__).resolve().parent.parent / "messages" / "samples"


@pytest.mark.parametrize("edit", ["none", "edit-line", "garbage", "forge", "forge-last"])
def test_pool_with_fast_reader_equals_scan_log(
    edit: str, tmp_path: Path, cat: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two verification workers, the audit through the fast reader equals the audit
    through scan_log alone in one process: same findings, counts and verified records."""
    d = tmp_path / "s"
    shutil.copytree(SAMPLES / "us-ru-2026", d)
    path = d / "US.log.jsonl"
    lines = path.read_bytes().split(b"\n")
    if edit == "edit-line":
        lines[3] = lines[3].replace(b'"at":"2026-', b'"at":"2025-', 1)
    elif edit == "garbage":
        lines[6] = b'{"type":"sent","n":6,"garb'
    elif edit == "forge":
        lines[7] = lines[7].replace(b'sig\\":\\"', b'sig\\":\\"AAAA', 1)
    elif edit == "forge-last":
        lines[-3] = lines[-3].replace(b'sig\\":\\"', b'sig\\":\\"AAAA', 1)
    assert edit == "none" or b"\n".join(lines) != path.read_bytes()
    path.write_bytes(b"\n".join(lines))
    ring = Keyring.load(d / "keyring.json")
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    pooled = audit([d], cat, ring, AuditOptions(jobs=2))
    monkeypatch.setattr(fastscan, "ENABLED", False)
    slow = audit([d], cat, ring, AuditOptions(jobs=1))
    assert pooled.findings == slow.findings
    assert pooled.summary == slow.summary and pooled.verified == slow.verified
    if edit != "none":
        assert any(f.code.startswith("INT") for f in pooled.findings)
