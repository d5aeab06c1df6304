"""The fast reader's block-at-once path decides exactly what its line-by-line loop decides.

Each log here holds one twist inside a block the fast reader would otherwise take in one go (a
replayed envelope, a rejected record, a checkpoint between records, a record in the wrong log,
a forged signature, time going backwards). The audit through the fast reader must equal the
audit through ``scan_log`` alone, with and without signature checks and with a worker pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nrrc.audit import AuditOptions, audit, engine, fastscan
from nrrc.catalogue import Catalogue
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter
from tests.test_audit_kit import LAUNCH, START, Exchange, at

FREE = {"subject": "routine", "text": "nothing to report"}


def _write(directory: Path, signers: dict[str, Signer], types: MessageTypes, twist: str) -> None:
    ex = Exchange(types, signers)
    notices = []
    for day in range(1, 20):
        sent = at(f"2026-02-{day:02d} 10:00:00")
        notices.append(
            ex.send("US", "RU", "nst.launch_notice", LAUNCH, sent, sent.replace(second=30))
        )
        ex.send("RU", "US", "core.free_text", FREE, sent.replace(hour=11), sent.replace(hour=12))
    ex.write(directory)
    if twist == "none":
        return
    # Rewrite RU's log with the twist in the middle of its records.
    path = directory / "RU.log.jsonl"
    records = sorted(ex.records["RU"], key=lambda r: (r[0], r[1]))
    w = LogWriter(path.with_suffix(".new"), signers["RU"], created=START, fsync=FsyncPolicy.NEVER)
    last = START
    for i, (when, _, direction, envelope) in enumerate(records):
        w.append(direction, when, envelope)  # type: ignore[arg-type]
        last = when
        if i != 10:
            continue
        if twist == "replay":
            w.append("received", when.replace(second=59), records[9][3])
        elif twist == "rejected":
            w.append("rejected", when.replace(second=59), b"{}", reason="malformed", detail="x")
        elif twist == "checkpoint":
            w.checkpoint(when.replace(second=59))
        elif twist == "wrong-log":
            w.append("sent", when.replace(second=59), notices[0].envelope)
        elif twist == "forged":
            forged = records[9][3].replace(b'"sig":"', b'"sig":"AAAA', 1)[: -len(b'AAAA"}]}')]
            w.append("received", when.replace(second=59), forged + b'"}]}')
        elif twist == "backwards":
            w.append("received", at("2026-01-15 00:00:00"), records[9][3])
    w.close(last)
    path.with_suffix(".new").replace(path)


@pytest.mark.parametrize(
    "twist", ["none", "replay", "rejected", "checkpoint", "wrong-log", "forged", "backwards"]
)
@pytest.mark.parametrize("mode", ["no-verify", "verify", "pool"])
def test_block_path_equals_scan_log(
    twist: str,
    mode: str,
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write(tmp_path, signers, types, twist)
    options = AuditOptions(verify_signatures=mode != "no-verify", jobs=2 if mode == "pool" else 1)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    fast = audit([tmp_path], cat, keyring, options)
    monkeypatch.setattr(fastscan, "ENABLED", False)
    slow = audit(
        [tmp_path], cat, keyring, AuditOptions(verify_signatures=options.verify_signatures, jobs=1)
    )
    assert fast.findings == slow.findings
    assert fast.summary == slow.summary and fast.verified == slow.verified
    if twist in ("replay", "wrong-log", "forged", "backwards"):
        assert any(f.code.startswith(("INT", "REC")) for f in fast.findings)
