"""The offline walk-through behind `nrrc demo` produces logs that verify, and catches tampering."""

from __future__ import annotations

from pathlib import Path

from nrrc.catalogue import Catalogue
from nrrc.envelope import Verifier
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.verify import verify_log
from nrrc.walkthrough import run_walkthrough


def test_walkthrough_logs_verify_and_tampered_copy_is_caught(
    cat: Catalogue, tmp_path: Path
) -> None:
    """Both centres' logs verify clean; the copy with an edited receipt time does not."""
    w = run_walkthrough(cat, tmp_path)
    verifier = Verifier(Keyring.load(w.keyring), MessageTypes(cat))
    for path in w.logs.values():
        report = verify_log(path, verifier)
        assert report.ok, report.problems
        assert report.records == 2
        assert report.verified == 2
    tampered = verify_log(w.tampered, verifier)
    assert [p.code for p in tampered.problems] == ["edited"]
    assert (tmp_path / "US.key").stat().st_mode & 0o777 == 0o600
