"""The message log writer: the format on disk, durability and resuming after a crash."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nrrc.envelope import Opened, Verifier, compose, pae
from nrrc.errors import LogError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import (
    CHECKPOINT_TYPE,
    LOG_FORMAT,
    Checkpoint,
    EnvelopeCache,
    FsyncPolicy,
    Header,
    LogWriter,
    MessageRecord,
    checkpoint_message,
    decode_line,
    read_lines,
)
from nrrc.verify import verify_log

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def message(types: MessageTypes, signer: Signer, seq: int, recipient: str = "RU") -> Opened:
    """A small signed free-text message."""
    return compose(
        types,
        signer,
        "core.free_text",
        recipient=recipient,
        sent_at=T0 + timedelta(minutes=seq),
        epoch=1,
        seq=seq,
        payload={"subject": f"message {seq}", "text": "Ça va? Всё хорошо."},
        rand=bytes,
    )


def lines(path: Path) -> list[bytes]:
    """The log's lines without their newlines (the file must end with one)."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


@pytest.fixture
def written(tmp_path: Path, types: MessageTypes, signers: dict[str, Signer]) -> Path:
    """A closed US log: header, two sent, one received, one rejected, checkpoint."""
    path = tmp_path / "US.log.jsonl"
    with LogWriter(path, signers["US"], created=T0) as log:
        log.append("sent", T0 + timedelta(minutes=1), message(types, signers["US"], 1).envelope)
        log.append("sent", T0 + timedelta(minutes=2), message(types, signers["US"], 2).envelope)
        got = message(types, signers["RU"], 1, recipient="US").envelope
        log.append("received", T0 + timedelta(minutes=3), got)
        log.append("rejected", T0 + timedelta(minutes=4), b"garbage", reason="malformed",
                   detail="expected a JSON DSSE envelope")  # fmt: skip
        log.close(T0 + timedelta(hours=1))
    return path


def test_first_line_is_a_header_naming_owner_and_format(written: Path) -> None:
    """Line 1: type header, n 0, prev 64 zeros, format, owner, created (UTC)."""
    header = json.loads(lines(written)[0])
    assert header == {
        "type": "header",
        "n": 0,
        "prev": "0" * 64,
        "format": LOG_FORMAT,
        "owner": "US",
        "created": "2026-03-01T09:00:00Z",
    }


def test_each_line_is_chained_to_the_previous_by_sha256(written: Path) -> None:
    """``n`` counts lines from 0; ``prev`` is the SHA-256 hex of the previous line's bytes."""
    raw = lines(written)
    for n, line in enumerate(raw[1:], start=1):
        doc = json.loads(line)
        assert doc["n"] == n
        assert doc["prev"] == hashlib.sha256(raw[n - 1]).hexdigest()


def test_records_hold_the_envelope_bytes_verbatim(
    written: Path, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """The envelope is kept as it travelled (a JSON string), with direction and time."""
    record = decode_line(lines(written)[1])
    assert isinstance(record, MessageRecord)
    assert record.direction == "sent"
    assert record.at == T0 + timedelta(minutes=1)
    assert record.envelope_bytes() == message(types, signers["US"], 1).envelope


def test_a_rejected_record_keeps_reason_detail_and_bytes(written: Path) -> None:
    """Refused input is logged with its reason; bytes that are not UTF-8 go in base64."""
    record = decode_line(lines(written)[4])
    assert isinstance(record, MessageRecord)
    assert (record.direction, record.reason) == ("rejected", "malformed")
    assert record.detail == "expected a JSON DSSE envelope"
    assert record.envelope_bytes() == b"garbage"


def test_bytes_that_are_not_utf8_are_kept_in_base64(
    tmp_path: Path, signers: dict[str, Signer]
) -> None:
    """An envelope that is not UTF-8 is stored as ``envelope_b64`` and comes back exactly."""
    path = tmp_path / "log"
    data = b"\xff\xfe not utf-8 \x00"
    with LogWriter(path, signers["US"], created=T0) as log:
        log.append("rejected", T0, data, reason="malformed")
    doc = json.loads(lines(path)[1])
    assert "envelope" not in doc
    assert base64.b64decode(doc["envelope_b64"]) == data
    record = decode_line(lines(path)[1])
    assert isinstance(record, MessageRecord)
    assert record.envelope_bytes() == data


def test_the_checkpoint_signs_owner_count_head_and_time(
    written: Path, signers: dict[str, Signer]
) -> None:
    """The last line is a checkpoint over the PAE of ``nrrc-checkpoint/1`` text, by the owner."""
    raw = lines(written)
    cp = decode_line(raw[-1])
    assert isinstance(cp, Checkpoint)
    head = hashlib.sha256(raw[-2]).hexdigest()
    assert (cp.n, cp.count, cp.head, cp.prev) == (5, 5, head, head)
    assert cp.key_id == signers["US"].key_id
    text = f"nrrc-checkpoint/1\nUS\n5\n{head}\n2026-03-01T10:00:00Z".encode()
    assert checkpoint_message("US", 5, head, cp.at) == pae(CHECKPOINT_TYPE, text)
    entry = signers["US"].entry(T0)
    assert entry.verify(base64.b64decode(cp.sig), pae(CHECKPOINT_TYPE, text))


def test_times_are_written_in_utc(tmp_path: Path, signers: dict[str, Signer]) -> None:
    """An event time given in another offset is logged as the same instant in UTC."""
    from datetime import timezone

    path = tmp_path / "log"
    local = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    with LogWriter(path, signers["US"], created=local) as log:
        log.append("rejected", local, b"x", reason="malformed")
    assert b'"created":"2026-03-01T09:00:00Z"' in lines(path)[0]
    assert b'"at":"2026-03-01T09:00:00Z"' in lines(path)[1]


def test_naive_times_are_refused(tmp_path: Path, signers: dict[str, Signer]) -> None:
    """The writer never guesses a timezone."""
    with pytest.raises(ValueError, match="naive"):
        LogWriter(tmp_path / "log", signers["US"], created=datetime(2026, 3, 1))


def test_a_clean_log_verifies(written: Path, keyring: Keyring, types: MessageTypes) -> None:
    """The control for the tampering tests: the writer's own log has no problem."""
    report = verify_log(written, Verifier(keyring, types))
    assert report.ok, report.problems
    assert (report.owner, report.records, report.verified, report.closed) == ("US", 4, 3, True)


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_the_fsync_policy_does_not_change_the_content(
    tmp_path: Path, signers: dict[str, Signer], policy: FsyncPolicy
) -> None:
    """Always, on close or never: the same bytes end up in the file."""
    path = tmp_path / f"{policy.value}.log"
    with LogWriter(path, signers["US"], created=T0, fsync=policy) as log:
        log.append("rejected", T0, b"x", reason="malformed")
        log.close(T0)
    reference = tmp_path / "reference.log"
    with LogWriter(reference, signers["US"], created=T0) as log:
        log.append("rejected", T0, b"x", reason="malformed")
        log.close(T0)
    assert path.read_bytes() == reference.read_bytes()


def test_append_returns_the_line_index_and_tracks_the_head(
    tmp_path: Path, signers: dict[str, Signer]
) -> None:
    """``append`` returns ``n``; ``count`` and ``head`` follow what is on disk."""
    path = tmp_path / "log"
    log = LogWriter(path, signers["US"], created=T0)
    assert log.append("rejected", T0, b"x", reason="malformed") == 1
    assert log.count == 2
    assert log.head == hashlib.sha256(lines(path)[-1]).hexdigest()
    log.close(None)
    log.close(None)  # closing twice is harmless
    assert len(lines(path)) == 2


def test_a_shared_envelope_cache_writes_the_same_bytes(
    tmp_path: Path, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Writers sharing an EnvelopeCache (the simulator's) write what writers without one write,
    for the same envelope logged by two owners, for bytes that are not UTF-8, and for an
    envelope logged again after the cache was emptied."""
    sent = message(types, signers["US"], 1).envelope
    garbage = b"\xff\xfe not utf-8"

    def write(cache: EnvelopeCache | None, directory: Path) -> list[bytes]:
        directory.mkdir()
        us = LogWriter(directory / "US", signers["US"], created=T0, envelopes=cache)
        ru = LogWriter(directory / "RU", signers["RU"], created=T0, envelopes=cache)
        us.append("sent", T0, sent)
        ru.append("received", T0 + timedelta(seconds=1), sent)
        ru.append("rejected", T0, garbage, reason="malformed", detail='a "quoted" detail')
        us.append("rejected", T0, garbage, reason="malformed")
        for i in range(3):  # more envelopes than the cache holds
            us.append("sent", T0, message(types, signers["US"], 2 + i).envelope)
        ru.append("received", T0 + timedelta(seconds=2), sent)
        us.close(T0 + timedelta(hours=1))
        ru.close(T0 + timedelta(hours=1))
        return [(directory / c).read_bytes() for c in ("US", "RU")]

    assert write(EnvelopeCache(size=2), tmp_path / "cached") == write(None, tmp_path / "plain")


def test_a_reopened_log_continues_its_chain(
    written: Path, keyring: Keyring, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Resuming a closed log appends after its checkpoint; the whole file still verifies."""
    before = written.read_bytes()
    with LogWriter(written, signers["US"], created=T0 + timedelta(days=9)) as log:
        assert log.count == 6
        log.append("sent", T0 + timedelta(hours=2), message(types, signers["US"], 3).envelope)
        log.close(T0 + timedelta(hours=3))
    assert written.read_bytes().startswith(before)
    report = verify_log(written, Verifier(keyring, types))
    assert report.ok, report.problems
    assert (report.records, report.checkpoints, report.closed) == (5, 2, True)


def test_a_torn_last_line_is_moved_aside_and_the_chain_continues(
    written: Path, keyring: Keyring, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """After a crash mid-write the torn bytes go to ``<log>.torn``; nothing else is lost."""
    good = written.read_bytes()
    torn = b'{"type":"sent","n":6,"prev":"ab'
    written.write_bytes(good + torn)
    log = LogWriter(written, signers["US"], created=T0)
    assert log.recovered_torn == torn
    assert Path(f"{written}.torn").read_bytes() == torn + b"\n"
    assert written.read_bytes() == good
    log.append("sent", T0 + timedelta(hours=2), message(types, signers["US"], 3).envelope)
    log.close(T0 + timedelta(hours=3))
    report = verify_log(written, Verifier(keyring, types))
    assert report.ok, report.problems


def test_a_log_with_only_a_torn_header_starts_afresh(
    tmp_path: Path, signers: dict[str, Signer], keyring: Keyring, types: MessageTypes
) -> None:
    """A crash during the very first write leaves no log: the next writer starts a new one."""
    path = tmp_path / "log"
    path.write_bytes(b'{"type":"header","n":0,"pr')
    with LogWriter(path, signers["US"], created=T0) as log:
        assert log.recovered_torn == b'{"type":"header","n":0,"pr'
        log.close(T0)
    report = verify_log(path, Verifier(keyring, types))
    assert report.ok, report.problems


def test_resuming_another_centres_log_is_refused_and_changes_nothing(
    written: Path, signers: dict[str, Signer]
) -> None:
    """RU's writer cannot append to the US log, even one with a torn line to recover."""
    written.write_bytes(written.read_bytes() + b'{"type":"se')
    before = written.read_bytes()
    with pytest.raises(LogError, match="the log belongs to US, not to RU"):
        LogWriter(written, signers["RU"], created=T0)
    assert written.read_bytes() == before
    assert not Path(f"{written}.torn").exists()


def test_resuming_a_file_that_is_not_a_log_is_refused(
    tmp_path: Path, signers: dict[str, Signer]
) -> None:
    """A writer never appends to an arbitrary file."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"shopping list\n")
    with pytest.raises(LogError, match=r"notes\.txt:1: cannot resume: not a nrrc-log/1 header"):
        LogWriter(path, signers["US"], created=T0)
    assert path.read_bytes() == b"shopping list\n"


def test_resuming_a_log_that_starts_with_a_record_is_refused(
    written: Path, signers: dict[str, Signer]
) -> None:
    """A file whose first line is a record (its header cut off) is not resumed."""
    written.write_bytes(b"\n".join(lines(written)[1:]) + b"\n")
    with pytest.raises(LogError, match="expected a nrrc-log/1 header line, found a sent record"):
        LogWriter(written, signers["US"], created=T0)


def test_lines_are_read_the_same_whatever_the_chunk_size(written: Path) -> None:
    """The streaming reader splits lines across read chunks correctly (constant memory)."""
    data = written.read_bytes() + b'{"torn'
    expected = [(i + 1, line, False) for i, line in enumerate(data.split(b"\n")[:-1])]
    expected.append((len(expected) + 1, b'{"torn', True))
    for chunk in (1, 7, 64, 1 << 20):
        got = [(r.lineno, r.data, r.torn) for r in read_lines(io.BytesIO(data), chunk)]
        assert got == expected


def test_line_types_decode_to_their_classes(written: Path) -> None:
    """Header, records and checkpoint decode to their own types."""
    kinds = [type(decode_line(line)).__name__ for line in lines(written)]
    assert kinds == ["Header", "Sent", "Sent", "Received", "Rejected", "Checkpoint"]
    assert isinstance(decode_line(lines(written)[0]), Header)


def test_private_key_never_reaches_the_log(written: Path, signers: dict[str, Signer]) -> None:
    """Signing checkpoints does not leak the owner's private key into the file."""
    from cryptography.hazmat.primitives import serialization

    raw = signers["US"]._private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    data = written.read_bytes()
    for form in (raw, raw.hex().encode(), base64.b64encode(raw)):
        assert form not in data
