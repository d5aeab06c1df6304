"""``verify_log`` names each kind of tampering: deletion, insertion, reordering, editing,
truncation, a checkpoint re-signed by someone else, and a torn last line.

Every test starts from the same closed log of the US centre (11 lines: header, nine records,
checkpoint), changes it the way an attacker or a crash would, and checks the first problem's
code and line, and that the code names what happened.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nrrc.envelope import Verifier, compose
from nrrc.errors import LogError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import LogWriter, checkpoint_message
from nrrc.verify import LogEntry, LogProblem, LogReport, scan_log, verify_log

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Lines = list[bytes]


@pytest.fixture(scope="module")
def clean(
    tmp_path_factory: pytest.TempPathFactory, types: MessageTypes, signers: dict[str, Signer]
) -> Lines:
    """The lines of a closed US log: 6 sent, 2 received, 1 rejected, then the checkpoint."""
    path = tmp_path_factory.mktemp("log") / "US.log.jsonl"
    with LogWriter(path, signers["US"], created=T0) as log:
        for i in range(1, 10):
            at = T0 + timedelta(minutes=i)
            if i == 5:
                log.append("rejected", at, b"{}", reason="malformed", detail="not an envelope")
                continue
            sender = signers["RU"] if i in (3, 7) else signers["US"]
            opened = compose(
                types,
                sender,
                "core.free_text",
                recipient="US" if sender.centre == "RU" else "RU",
                sent_at=at - timedelta(seconds=5),
                epoch=1,
                seq=i,
                payload={"subject": f"message {i}", "text": "text"},
                rand=bytes,
            )
            log.append("received" if sender.centre == "RU" else "sent", at, opened.envelope)
        log.close(T0 + timedelta(hours=1))
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


@pytest.fixture
def check(tmp_path: Path, keyring: Keyring, types: MessageTypes) -> Callable[..., LogReport]:
    """Write lines (or raw bytes) to a file and verify it."""

    def run(lines: Lines | None = None, *, raw: bytes | None = None, **options: bool) -> LogReport:
        path = tmp_path / "US.log.jsonl"
        path.write_bytes(raw if raw is not None else b"\n".join(lines or []) + b"\n")
        return verify_log(path, Verifier(keyring, types), **options)

    return run


def codes(report: LogReport) -> list[tuple[int, str]]:
    """(line, code) of each problem."""
    return [(p.line, p.code) for p in report.problems]


def field(line: bytes, name: str, value: object) -> bytes:
    """The line with one JSON field changed, written back compactly in the same order."""
    doc = json.loads(line)
    doc[name] = value
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def rechain(lines: Lines, signer: Signer, owner: str = "US") -> Lines:
    """Renumber and re-hash every line, re-signing checkpoints with ``signer`` (a forger)."""
    out = [lines[0]]
    for n, line in enumerate(lines[1:], start=1):
        doc = json.loads(line)
        doc["n"] = n
        doc["prev"] = hashlib.sha256(out[-1]).hexdigest()
        if doc["type"] == "checkpoint":
            at = datetime.fromisoformat(doc["at"])
            doc.update(count=n, head=doc["prev"], key_id=signer.key_id)
            sig = signer.sign(checkpoint_message(owner, n, doc["prev"], at))
            doc["sig"] = base64.b64encode(sig).decode()
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def test_the_untouched_log_is_clean(clean: Lines, check: Callable[..., LogReport]) -> None:
    """The control: no problem, every record counted, the signed ones verified, closed."""
    report = check(clean)
    assert report.ok, report.problems
    assert (report.owner, report.records, report.verified) == ("US", 9, 8)
    assert (report.checkpoints, report.closed) == (1, True)


# -- deletion -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "line"),
    [
        pytest.param(1, 1, 2, id="first-record"),
        pytest.param(4, 4, 5, id="middle-record"),
        pytest.param(9, 9, 10, id="last-record-before-checkpoint"),
        pytest.param(3, 6, 4, id="four-records"),
    ],
)
def test_deleted_records_are_named(
    clean: Lines, check: Callable[..., LogReport], first: int, last: int, line: int
) -> None:
    """Removing lines leaves a gap in the numbering, reported at the line after the gap."""
    report = check(clean[:first] + clean[last + 1 :])
    assert codes(report)[0] == (line, "deleted")
    missing = f"n={first}" if first == last else f"n={first}..{last}"
    assert missing in report.problems[0].message


def test_deletion_hidden_by_renumbering_breaks_the_checkpoint(
    clean: Lines, check: Callable[..., LogReport], signers: dict[str, Signer]
) -> None:
    """Re-chaining after a deletion cannot re-sign the owner's checkpoint: it is named."""
    forged = [*rechain(clean[:4] + clean[5:-1], signers["US"]), clean[-1]]
    assert codes(check(forged))[0] == (10, "deleted")


# -- insertion ------------------------------------------------------------------------------


def test_a_duplicated_line_is_named_as_inserted(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A record copied next to itself repeats its number."""
    assert codes(check([*clean[:5], clean[4], *clean[5:]])) == [(6, "inserted")]


def test_a_forged_record_that_fits_the_chain_is_named_as_inserted(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A new record with the right number and prev is exposed by the one that follows it."""
    forged = field(field(clean[4], "at", "2026-03-01T09:04:30Z"), "n", 4)
    forged = field(forged, "prev", hashlib.sha256(clean[3]).hexdigest())
    report = check([*clean[:4], forged, *clean[4:]])
    assert codes(report)[0] == (6, "inserted")


def test_a_second_header_is_named_as_inserted(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A header in the middle of the log is an insertion."""
    assert codes(check([*clean[:3], clean[0], *clean[3:]]))[0] == (4, "inserted")


def test_insertion_hidden_by_renumbering_breaks_the_checkpoint(
    clean: Lines, check: Callable[..., LogReport], signers: dict[str, Signer]
) -> None:
    """Re-chaining after an insertion leaves the old checkpoint one number behind."""
    forged = [*rechain([*clean[:4], clean[2], *clean[4:-1]], signers["US"]), clean[-1]]
    assert codes(check(forged))[0] == (12, "inserted")


# -- reordering -----------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(1, 9))
def test_swapped_neighbours_are_named_as_reordered(
    clean: Lines, check: Callable[..., LogReport], index: int
) -> None:
    """Exchanging any two adjacent records is reported once, at the first of them."""
    swapped = [*clean[:index], clean[index + 1], clean[index], *clean[index + 2 :]]
    assert codes(check(swapped)) == [(index + 1, "reordered")]


def test_a_record_moved_after_the_checkpoint_is_named(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """Moving the last record after the checkpoint is a reordering and leaves the log open."""
    report = check([*clean[:-2], clean[-1], clean[-2]])
    assert (10, "reordered") in codes(report)
    assert "truncated" in [c for _, c in codes(report)]


def test_distant_records_exchanged_are_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """Exchanging two records far apart is reported as out of order (and missing numbers)."""
    moved = list(clean)
    moved[2], moved[7] = moved[7], moved[2]
    found = {c for _, c in codes(check(moved))}
    assert "reordered" in found


# -- editing --------------------------------------------------------------------------------


def test_an_edited_time_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """Changing when a record says it happened breaks the chain at the next line."""
    edited = field(clean[3], "at", "2026-03-01T08:03:00Z")
    report = check([*clean[:3], edited, *clean[4:]])
    assert codes(report) == [(5, "edited")]
    assert "line 4" in report.problems[0].message


def test_an_edited_last_record_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """The checkpoint's prev catches an edit of the line before it."""
    edited = field(clean[9], "at", "2026-03-01T09:09:01Z")
    assert codes(check([*clean[:9], edited, *clean[10:]])) == [(11, "edited")]


def test_an_edited_envelope_is_named_twice(clean: Lines, check: Callable[..., LogReport]) -> None:
    """Changing an envelope fails its signature and breaks the chain."""
    envelope = json.loads(clean[1])["envelope"]
    doc = json.loads(envelope)
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    edited = field(clean[1], "envelope", json.dumps(doc, separators=(",", ":")))
    report = check([*clean[:1], edited, *clean[2:]])
    assert codes(report) == [(2, "bad-envelope"), (3, "edited")]
    assert "bad-signature" in report.problems[0].message


def test_an_edited_prev_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """A line whose ``prev`` was changed does not follow the line before it."""
    edited = field(clean[6], "prev", "0" * 64)
    report = check([*clean[:6], edited, *clean[7:]])
    assert codes(report)[0] == (7, "edited")


def test_an_edited_rejection_reason_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """Rejected records are chained too: rewriting why something was refused is caught."""
    edited = field(clean[5], "reason", "bad-signature")
    assert codes(check([*clean[:5], edited, *clean[6:]])) == [(7, "edited")]


def test_an_edited_header_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """Claiming the log belongs to another centre breaks the chain and the checkpoint."""
    edited = field(clean[0], "owner", "GB")
    found = {c for _, c in codes(check([edited, *clean[1:]]))}
    assert {"edited", "wrong-owner", "bad-checkpoint"} <= found


def test_an_edited_checkpoint_time_is_named(clean: Lines, check: Callable[..., LogReport]) -> None:
    """The checkpoint signature covers its time."""
    edited = field(clean[-1], "at", "2026-03-02T10:00:00Z")
    assert codes(check([*clean[:-1], edited])) == [(11, "bad-checkpoint")]


def test_a_checkpoint_claiming_another_count_is_named(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A checkpoint whose count is not its position is refused before its signature."""
    edited = field(clean[-1], "count", 3)
    report = check([*clean[:-1], edited])
    assert codes(report) == [(11, "bad-checkpoint")]
    assert "count=3" in report.problems[0].message


def test_a_line_that_is_not_a_record_is_named(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """Garbage in the middle is a malformed line (and the next line no longer chains)."""
    report = check([*clean[:4], b"{not json", *clean[5:]])
    assert codes(report)[0] == (5, "malformed-line")


# -- truncation and crashes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep", "line"),
    [
        pytest.param(10, 10, id="checkpoint-dropped"),
        pytest.param(6, 6, id="tail-dropped"),
        pytest.param(1, 1, id="only-the-header-left"),
    ],
)
def test_truncation_is_named(
    clean: Lines, check: Callable[..., LogReport], keep: int, line: int
) -> None:
    """A log that does not end with its checkpoint is reported as truncated at its last line."""
    report = check(clean[:keep])
    assert codes(report) == [(line, "truncated")]
    assert not report.closed


def test_an_open_log_is_accepted_when_asked(clean: Lines, check: Callable[..., LogReport]) -> None:
    """``require_closed=False`` accepts a log still being written, and says it is open."""
    report = check(clean[:6], require_closed=False)
    assert report.ok
    assert not report.closed


def test_a_torn_last_line_is_named_as_torn(clean: Lines, check: Callable[..., LogReport]) -> None:
    """An interrupted write after the checkpoint is reported as torn, not silently dropped."""
    report = check(raw=b"\n".join(clean) + b"\n" + clean[3][:40])
    assert codes(report) == [(12, "torn")]
    assert "interrupted write" in report.problems[0].message


def test_a_torn_checkpoint_is_torn_and_truncated(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A crash while closing: the partial checkpoint is torn, and the log is not closed."""
    report = check(raw=b"\n".join(clean[:-1]) + b"\n" + clean[-1][:50])
    assert codes(report) == [(11, "torn"), (10, "truncated")]


def test_a_checkpoint_re_signed_by_another_centre_is_named(
    clean: Lines, check: Callable[..., LogReport], signers: dict[str, Signer]
) -> None:
    """Deleting a record and re-signing the checkpoint with RU's key: the forgery is named."""
    forged = rechain(clean[:4] + clean[5:], signers["RU"])
    report = check(forged)
    assert codes(report) == [(10, "bad-checkpoint")]
    assert "but the log belongs to US" in report.problems[0].message


def test_a_checkpoint_signed_with_an_unknown_key_is_named(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A key the keyring does not hold cannot close a log."""
    forged = rechain(clean, Signer.from_seed("US", b"\x09" * 32))
    assert codes(check(forged)) == [(11, "bad-checkpoint")]


def test_the_owner_re_signing_everything_is_the_limit_of_a_single_log(
    clean: Lines, check: Callable[..., LogReport], signers: dict[str, Signer]
) -> None:
    """Whoever holds the owner's key can rewrite its log: peers' logs are the cross-check."""
    assert check(rechain(clean[:4] + clean[5:], signers["US"])).ok


# -- records that do not belong -------------------------------------------------------------


def test_records_of_another_centre_are_named(
    tmp_path: Path, types: MessageTypes, keyring: Keyring, signers: dict[str, Signer]
) -> None:
    """A sent record from RU, or a received one for GB, in the US log is ``wrong-owner``."""
    path = tmp_path / "log"

    def envelope(sender: str, recipient: str) -> bytes:
        return compose(
            types, signers[sender], "core.cancellation", recipient=recipient,
            sent_at=T0, epoch=0, seq=1, payload={},
        ).envelope  # fmt: skip

    with LogWriter(path, signers["US"], created=T0) as log:
        log.append("sent", T0, envelope("RU", "US"))
        log.append("received", T0, envelope("RU", "GB"))
        log.append("received", T0, envelope("RU", "hcoc"))  # a regime the owner belongs to
        log.close(T0)
    report = verify_log(path, Verifier(keyring, types))
    assert codes(report) == [(2, "wrong-owner"), (3, "wrong-owner")]


# -- unreadable logs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot open the log", id="missing"),
        pytest.param(b"", "empty file", id="empty"),
        pytest.param(b"hello\n", "expected a nrrc-log/1 header line", id="not-json"),
        pytest.param(b"\xff\xfe\n", "expected a nrrc-log/1 header line", id="not-utf8"),
    ],
)
def test_a_file_that_is_not_a_log_is_a_log_error(
    tmp_path: Path,
    keyring: Keyring,
    types: MessageTypes,
    content: bytes | None,
    message: str,
) -> None:
    """Input that cannot be read as a log at all raises LogError (the CLI's exit code 2)."""
    path = tmp_path / "x.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LogError, match=message):
        verify_log(path, Verifier(keyring, types))


def test_a_log_that_starts_with_a_record_is_a_log_error(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """Deleting the header leaves a file that is not a log."""
    with pytest.raises(LogError, match="found a sent record"):
        check(clean[1:])


def test_another_format_version_is_a_log_error(
    clean: Lines, check: Callable[..., LogReport]
) -> None:
    """A future format is refused rather than misread."""
    with pytest.raises(LogError, match="expected format 'nrrc-log/1', found 'nrrc-log/2'"):
        check([field(clean[0], "format", "nrrc-log/2"), *clean[1:]])


def test_scanning_streams_records_in_file_order(
    tmp_path: Path, clean: Lines, keyring: Keyring, types: MessageTypes
) -> None:
    """``scan_log`` yields each record and problem as it reaches it, in file order."""
    path = tmp_path / "log"
    path.write_bytes(b"\n".join([*clean[:5], b"{not json", *clean[6:]]) + b"\n")
    items = list(scan_log(path, Verifier(keyring, types)))
    lines_seen = [(type(i).__name__, i.line) for i in items]
    assert lines_seen[:5] == [
        ("LogEntry", 2),
        ("LogEntry", 3),
        ("LogEntry", 4),
        ("LogEntry", 5),
        ("LogProblem", 6),
    ]
    first = items[0]
    assert isinstance(first, LogEntry)
    assert first.opened is not None
    assert first.record.direction == "sent"
    assert isinstance(items[4], LogProblem)
