"""Integrity first, then reconciliation: each problem a finding with its file, line and reason.

Covers bad signatures, keys the keyring does not know, corrupt lines, unknown kinds, records in
the wrong log, unclosed logs, clocks going backwards, and every REC check between two logs.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_audit_kit import LAUNCH, Exchange, at, codes, only, run

from nrrc.audit.findings import Outcome
from nrrc.catalogue import Catalogue
from nrrc.envelope import seal
from nrrc.errors import AuditError, LogError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

FREE = {"subject": "s", "text": "t"}


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_clean_exchange_has_no_findings(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A notice and its acknowledgement, both logs closed: nothing to report, all trusted."""
    ex = Exchange(types, signers)
    n = ex.send(
        "RU",
        "US",
        "nst.launch_notice",
        LAUNCH,
        at("2026-02-20 10:00:00"),
        at("2026-02-20 10:00:02"),
    )
    ex.ack("US", n, at("2026-02-20 10:05:00"), at("2026-02-20 10:05:01"))
    result = run(ex.write(tmp_path), cat, keyring, selection=_no_quota())
    assert codes(result) == []
    assert result.messages == 4 and result.verified == 4


def _no_quota():  # type: ignore[no-untyped-def]
    from nrrc.audit.collector import Selection

    return Selection(ignore=("MSE002",))


def test_bad_signature_is_int005_and_not_evidence(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A received envelope whose signature fails is INT005 at its line; the late notice it
    carries is not trusted, so the sent copy decides (measured as never received)."""
    ex = Exchange(types, signers)
    n = ex.compose("RU", "US", "bmlna.launch_notice", LAUNCH, at("2026-02-27 09:00:00"))
    env = json.loads(n.envelope)
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    forged = json.dumps(env, separators=(",", ":")).encode()
    ex.log("RU", "sent", at("2026-02-27 09:00:00"), n.envelope)
    ex.log("US", "received", at("2026-02-27 09:00:01"), forged)
    result = run(ex.write(tmp_path, close_at=at("2026-03-05 00:00:00")), cat, keyring)
    (f,) = only(result, "INT005")
    assert f.evidence[0].file.endswith("US.log.jsonl") and f.evidence[0].line == 2
    assert f.message_ids == (n.statement.id,)
    assert "not trusted as evidence" in f.explanation
    (b,) = only(result, "BML001")
    assert "is not trusted" in b.explanation
    assert not only(result, "REC001")
    assert result.verified == 1


def test_no_verify_skips_signatures_only(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """--no-verify accepts the forged signature but still checks everything else."""
    ex = Exchange(types, signers)
    n = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-27 09:00:00"))
    env = json.loads(n.envelope)
    env["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    ex.log("US", "received", at("2026-02-27 09:00:01"), json.dumps(env).encode())
    paths = ex.write(tmp_path)
    assert only(run(paths, cat, keyring), "INT005")
    assert not only(run(paths, cat, keyring, verify_signatures=False), "INT005")


def test_log_of_unknown_centre(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A log whose owner has no key: INT013 once, its checkpoint unverifiable (INT003), and its
    refused envelopes reported once per key with a count (INT006)."""
    stranger = Signer.from_seed("XX", bytes(range(100, 132)))
    ex = Exchange(types, {**signers, "XX": stranger})
    for i in range(3):
        ex.send(
            "XX",
            "US",
            "core.free_text",
            FREE,
            at(f"2026-02-0{i + 1} 00:00:00"),
            at(f"2026-02-0{i + 1} 00:00:01"),
        )
    result = run(ex.write(tmp_path), cat, keyring)
    assert {c for c, _ in codes(result)} == {"INT013", "INT003", "INT006"}
    per_log = only(result, "INT006")
    assert len(per_log) == 2  # XX's sent records, US's received records
    assert all("3 records" in f.explanation for f in per_log)


def test_corrupt_line_is_int004(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A line replaced by garbage: INT004 at that line (and the chain break after it)."""
    ex = Exchange(types, signers)
    for i in range(3):
        ex.send(
            "RU",
            "US",
            "core.free_text",
            FREE,
            at(f"2026-02-0{i + 1} 00:00:00"),
            at(f"2026-02-0{i + 1} 00:00:01"),
        )
    paths = ex.write(tmp_path)
    us = next(p for p in paths if p.name.startswith("US"))
    lines = _lines(us)
    lines[2] = '{"type":"received","n":2,"garbage'
    us.write_text("\n".join(lines) + "\n")
    result = run(paths, cat, keyring)
    (f,) = only(result, "INT004")
    assert f.evidence[0].line == 3 and "expected a log record" in f.explanation
    assert only(result, "INT001")


def test_unknown_kind_is_int009(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A validly signed statement of a kind no agreement defines: INT009 naming the kind."""
    ex = Exchange(types, signers)
    n = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"))
    statement = json.loads(n.statement_bytes)
    statement["kind"] = "xx.secret_notice"
    env = seal(json.dumps(statement, separators=(",", ":")).encode(), signers["RU"])
    ex.log("US", "received", at("2026-02-01 00:00:01"), env)
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "INT009")
    assert "xx.secret_notice" in f.explanation
    assert f.message_ids == (n.statement.id,)


def test_record_in_wrong_log_is_int010(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """RU's sent record copied into US's log: INT010, not evidence of anything."""
    ex = Exchange(types, signers)
    n = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"))
    ex.log("US", "sent", at("2026-02-01 00:00:00"), n.envelope)
    result = run(ex.write(tmp_path), cat, keyring)
    assert [c for c, _ in codes(result)] == ["INT010"]


def test_unclosed_log_and_clock_going_back_are_warnings(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """No closing checkpoint (INT002) and an earlier instant after a later one (INT012) are
    warnings: exit code 0."""
    from nrrc.msglog import FsyncPolicy, LogWriter

    w = LogWriter(
        tmp_path / "US.log.jsonl",
        signers["US"],
        created=at("2026-01-01 00:00:00"),
        fsync=FsyncPolicy.NEVER,
    )
    ex = Exchange(types, signers)
    a = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-02 00:00:00"))
    b = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"))
    w.append("received", at("2026-02-02 00:00:01"), a.envelope)
    w.append("received", at("2026-02-01 00:00:01"), b.envelope)
    w.close(None)
    result = run(tmp_path / "US.log.jsonl", cat, keyring)
    assert sorted(codes(result)) == [("INT002", "warning"), ("INT012", "warning")]
    assert result.violations == 0


def test_empty_log_and_directory_without_logs_are_clear_errors(
    tmp_path: Path, cat: Catalogue, keyring: Keyring
) -> None:
    """An empty log file and a directory with no log raise one clear error each."""
    empty = tmp_path / "empty.log.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(LogError, match="empty file"):
        run(empty, cat, keyring)
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(AuditError, match="no message logs"):
        run(folder, cat, keyring)
    with pytest.raises(AuditError, match="not a message log"):
        run(folder / "notes.txt", cat, keyring)


# -- reconciliation -----------------------------------------------------------------------------


def test_received_but_not_in_sender_log_is_rec002(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """US received a message RU's (given) log never sent."""
    ex = Exchange(types, signers)
    ex.send(
        "RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"), at("2026-02-01 00:00:01")
    )
    ghost = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-02 00:00:00"))
    ex.log("US", "received", at("2026-02-02 00:00:01"), ghost.envelope)
    result = run(ex.write(tmp_path, close_at=at("2026-02-03 00:00:00")), cat, keyring)
    (f,) = only(result, "REC002")
    assert f.message_ids == (ghost.statement.id,) and f.parties == ("RU", "US")


@pytest.mark.parametrize(("early", "found"), [(5, False), (6, True)], ids=["5min", "6min"])
def test_received_before_sent_beyond_skew_is_rec003(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    early: int,
    found: bool,
) -> None:
    """Received 5 min before sent is within the default tolerance; 6 min is REC003."""
    ex = Exchange(types, signers)
    sent = at("2026-02-01 12:00:00")
    ex.send("RU", "US", "core.free_text", FREE, sent, sent - timedelta(minutes=early))
    assert bool(only(run(ex.write(tmp_path), cat, keyring), "REC003")) is found


def test_lost_message_near_end_of_recipient_log_is_open(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Sent two minutes before the recipient's log ends: REC001 is open, not a violation."""
    ex = Exchange(types, signers)
    ex.send(
        "RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"), at("2026-02-01 00:00:01")
    )
    ex.send("RU", "US", "core.free_text", FREE, at("2026-02-02 23:58:00"), None)
    paths = ex.write(tmp_path, close_at=at("2026-02-03 00:00:00"))
    (f,) = only(run(paths, cat, keyring), "REC001")
    assert f.outcome is Outcome.OPEN


def test_duplicate_receipt_is_rec004_and_counted_once(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """The same notice accepted twice: REC004, and its lead time is measured once."""
    ex = Exchange(types, signers)
    n = ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        LAUNCH,
        at("2026-02-20 00:00:00"),
        at("2026-02-20 00:00:01"),
    )
    ex.log("US", "received", at("2026-02-20 00:10:00"), n.envelope)
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "REC004")
    assert [e.line for e in f.evidence] == [2, 3]
    assert [s.checked for s in result.summary if s.code == "BML001"] == [1]


def test_sequence_reuse_is_rec005_and_gap_is_rec006(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """RU sends seq 1, seq 1 again with another message, then seq 4: REC005 and REC006 (3-4
    missing is a warning)."""
    ex = Exchange(types, signers)
    for seq, day in ((1, 1), (1, 2), (4, 3)):
        m = ex.compose("RU", "US", "core.free_text", FREE, at(f"2026-02-0{day} 00:00:00"), seq=seq)
        ex.log("RU", "sent", at(f"2026-02-0{day} 00:00:00"), m.envelope)
        ex.log("US", "received", at(f"2026-02-0{day} 00:00:01"), m.envelope)
    result = run(ex.write(tmp_path), cat, keyring)
    assert sorted(c for c, _ in codes(result)) == ["REC005", "REC005", "REC006"]
    (gap,) = only(result, "REC006")
    assert gap.outcome is Outcome.WARNING and "seq 2-3 are missing" in gap.explanation


def test_retransmission_is_not_a_finding(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """The same envelope sent twice (a retransmission) and received once: nothing to report."""
    ex = Exchange(types, signers)
    m = ex.send("RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"), None)
    ex.log("RU", "sent", at("2026-02-01 00:01:00"), m.envelope)
    ex.log("US", "received", at("2026-02-01 00:01:01"), m.envelope)
    assert codes(run(ex.write(tmp_path), cat, keyring)) == []


def test_two_statements_under_one_id_is_rec007(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """RU signed two versions of one message id: the sent and the received copies differ."""
    ex = Exchange(types, signers)
    m = ex.compose("RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"))
    other = json.loads(m.statement_bytes)
    other["payload"]["text"] = "something else"
    env = seal(json.dumps(other, separators=(",", ":")).encode(), signers["RU"])
    ex.log("RU", "sent", at("2026-02-01 00:00:00"), m.envelope)
    ex.log("US", "received", at("2026-02-01 00:00:01"), env)
    assert [c for c, _ in codes(run(ex.write(tmp_path), cat, keyring))] == ["REC007"]


def test_regime_message_is_matched_at_the_central_contact(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """An HCoC notice to the regime is provided when the central contact (AT) receives it;
    copies at other centres are neither duplicates nor unexplained receipts; one never received
    by AT is REC001."""
    ex = Exchange(types, signers)
    payload = {
        "generic_class": "MRBM",
        "window_start": at("2026-07-01 00:00:00"),
        "window_end": at("2026-07-31 23:59:59"),
        "launch_area": "x",
        "planned_direction": 90,
    }
    ex.send(
        "IN",
        "hcoc",
        "hcoc.prelaunch_notice",
        payload,
        at("2026-06-01 00:00:00"),
        at("2026-06-01 00:00:01"),
        receivers=("AT", "PK"),
    )
    lost = ex.send(
        "IN",
        "hcoc",
        "hcoc.prelaunch_notice",
        payload,
        at("2026-06-02 00:00:00"),
        at("2026-06-02 00:00:01"),
        receivers=("PK",),
    )
    result = run(ex.write(tmp_path), cat, keyring, selection=_ignore_hcc002())
    (f,) = result.findings
    assert (
        f.code == "REC001" and f.message_ids == (lost.statement.id,) and f.parties == ("IN", "AT")
    )


def _ignore_hcc002():  # type: ignore[no-untyped-def]
    from nrrc.audit.collector import Selection

    return Selection(ignore=("HCC002",))


def test_central_contact_own_regime_message_is_provided_when_sent(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Austria, the HCoC central contact, submits its own annual declaration to the regime: it
    holds it when it sends it, so there is nothing missing and its quota counts it."""
    ex = Exchange(types, signers)
    payload = {
        "year": 2025,
        "ballistic_missile_policy": "none",
        "space_launch_vehicle_policy": "none",
        "launch_sites": [],
        "ballistic_missile_launches": 0,
        "space_launch_vehicle_launches": 0,
    }
    ex.send(
        "AT",
        "hcoc",
        "hcoc.annual_declaration",
        payload,
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
        receivers=("IN",),
    )
    result = run(ex.write(tmp_path, close_at=at("2027-01-01 00:00:00")), cat, keyring)
    assert codes(result) == []
    assert [(s.code, s.passed) for s in result.summary] == [("HCC002", 1)]
