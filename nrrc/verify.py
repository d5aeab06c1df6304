"""Stream a message log, checking its chain, checkpoints and every envelope's signature.

:func:`scan_log` yields each record with its verification result and each problem as it is
found, in constant memory; :func:`verify_log` collects a :class:`LogReport`. Problems have a
stable ``code``:

=================  ==========================================================================
torn               the last line is incomplete (no newline): an interrupted write
malformed-line     a line is not a valid log record
not-a-log          the first line is not a log header
deleted            record numbers jump forward: records were removed
inserted           a record number repeats: a record was added
reordered          records are out of order
edited             the chain breaks although numbering is intact: a line was changed
truncated          the log does not end with a checkpoint: lines may have been cut off
bad-checkpoint     a checkpoint's count, head or signature is wrong
wrong-owner        a sent record whose sender is not the log owner
bad-envelope       a sent or received record whose envelope does not verify (with reason)
=================  ==========================================================================
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from nrrc.envelope import Opened, Verifier
from nrrc.errors import EnvelopeError, LogError
from nrrc.msglog import (
    GENESIS,
    LOG_FORMAT,
    Checkpoint,
    Header,
    MessageRecord,
    checkpoint_message,
    crlf_words,
    decode_line,
    encoding_problem,
    read_lines,
)
from nrrc.timeutil import to_utc

__all__ = ["LogEntry", "LogProblem", "LogReport", "scan_log", "verify_log"]


@dataclass(frozen=True, slots=True)
class LogProblem:
    """Something wrong with a log, at a line."""

    file: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A sent/received/rejected record and, for sent and received, its verified envelope."""

    file: str
    line: int
    owner: str
    record: MessageRecord
    opened: Opened | None
    error: EnvelopeError | None


@dataclass
class LogReport:
    """What :func:`verify_log` found.

    ``records`` counts sent, received and rejected records; ``verified`` the envelopes that
    passed every check; ``checkpoints`` the checkpoint lines; ``closed`` whether the last
    complete line is a checkpoint and no torn line follows it.
    """

    file: str
    owner: str | None = None
    records: int = 0
    verified: int = 0
    checkpoints: int = 0
    closed: bool = False
    problems: list[LogProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


@dataclass
class _Tally:
    """What a scan saw besides records and problems (for :func:`verify_log`)."""

    owner: str | None = None
    checkpoints: int = 0
    closed: bool = False


def scan_log(
    path: str | Path,
    verifier: Verifier,
    *,
    check_signatures: bool = True,
    require_closed: bool = True,
) -> Iterator[LogEntry | LogProblem]:
    """Yield every record (as :class:`LogEntry`) and every problem (:class:`LogProblem`).

    Sent and received records are opened with ``verifier.open`` once each, just before they
    are yielded, in file order.

    Raises:
        LogError: the file cannot be opened, is empty, or its first line is not a log header.
    """
    yield from _scan(Path(path), verifier, check_signatures, require_closed, _Tally())


def _scan(
    path: Path, verifier: Verifier, check_signatures: bool, require_closed: bool, tally: _Tally
) -> Iterator[LogEntry | LogProblem]:
    name = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise LogError(f"{name}: cannot open the log: {exc.strerror or exc}") from exc
    with fh:
        lines = read_lines(fh)
        first = next(lines, None)
        if first is None:
            raise LogError(f"{name}: empty file: expected a log starting with a header line")
        try:
            header = decode_line(first.data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            why = encoding_problem(first.data)
            if why is not None:  # a byte-order mark, UTF-16: rewritten by an editor
                raise LogError(f"{name}: {why}") from exc
            raise LogError(f"{name}:1: expected a {LOG_FORMAT} header line: {exc}") from exc
        if not isinstance(header, Header) or header.n != 0 or header.prev != GENESIS:
            raise LogError(
                f"{name}:1: expected a {LOG_FORMAT} header line (n=0), found a "
                f"{type(header).__name__.lower()} record"
            )
        if header.format != LOG_FORMAT:
            raise LogError(f"{name}:1: expected format {LOG_FORMAT!r}, found {header.format!r}")
        owner = tally.owner = header.owner
        yield from _scan_body(
            name, owner, first.data, lines, verifier, check_signatures, require_closed, tally
        )


def _scan_body(
    name: str,
    owner: str,
    first: bytes,
    lines: Iterator[object],
    verifier: Verifier,
    check_signatures: bool,
    require_closed: bool,
    tally: _Tally,
) -> Iterator[LogEntry | LogProblem]:
    from nrrc.msglog import RawLine

    prev_hash = hashlib.sha256(first).hexdigest()
    before = first  # the previous line's bytes (named when the chain breaks after it)
    expected = 1
    last_kind = "header"
    last_line = 1
    pending: tuple[RawLine, object] | None = None
    it = iter(lines)
    torn = False
    quiet = 0  # lines after a named problem whose knock-on chain breaks are not re-reported
    swapped: int | None = None

    def problem(line: int, code: str, message: str) -> LogProblem:
        return LogProblem(name, line, code, message)

    while True:
        if pending is not None:
            raw, rec = pending
            pending = None
        else:
            nxt = next(it, None)
            if nxt is None:
                break
            assert isinstance(nxt, RawLine)
            raw = nxt
            if raw.torn:
                torn = True
                yield problem(
                    raw.lineno,
                    "torn",
                    "the last line is incomplete (no newline at the "
                    "end): an interrupted write; it is not part of the log",
                )
                break
            try:
                rec = decode_line(raw.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                yield problem(raw.lineno, "malformed-line", f"expected a log record: {exc}")
                prev_hash = hashlib.sha256(raw.data).hexdigest()
                before = raw.data
                expected += 1
                last_kind = "malformed"
                last_line = raw.lineno
                continue
        assert isinstance(rec, (Header, MessageRecord, Checkpoint))
        line_hash = hashlib.sha256(raw.data).hexdigest()
        n = rec.n
        last_line = raw.lineno
        calm = quiet > 0
        quiet = max(0, quiet - 1)
        if swapped is not None and n == swapped:
            swapped = None
        elif isinstance(rec, Header):
            yield problem(raw.lineno, "inserted", "a second header line inside the log")
        elif n > expected:
            # A swap shows as a jump forward followed by the record skipped: look one ahead.
            nxt = next(it, None)
            follow = None
            if isinstance(nxt, RawLine) and not nxt.torn:
                try:
                    follow = decode_line(nxt.data)
                except (msgspec.ValidationError, msgspec.DecodeError):
                    follow = None
            if follow is not None and follow.n == expected:
                yield problem(
                    raw.lineno,
                    "reordered",
                    f"record n={n} comes before n={expected} "
                    f"(line {raw.lineno + 1}): records are out of order",
                )
                swapped = expected
                quiet = 2
            elif n == expected + 1:
                yield problem(
                    raw.lineno,
                    "deleted",
                    f"record n={expected} is missing before this "
                    f"line (found n={n}): a record was deleted",
                )
            else:
                yield problem(
                    raw.lineno,
                    "deleted",
                    f"records n={expected}..{n - 1} are missing "
                    f"before this line (found n={n}): records were deleted",
                )
            if nxt is not None:
                assert isinstance(nxt, RawLine)
                pending = (nxt, follow) if follow is not None else None
                if follow is None:
                    # Put the undecodable line back through the normal path next round.
                    pending = None
                    it = _prepend(nxt, it)
        elif n < expected:
            code = "inserted" if n == expected - 1 else "reordered"
            what = (
                "repeats the record number of the line before: a record was inserted"
                if code == "inserted"
                else f"comes after n={expected - 1}: records are out of "
                "order or a record was inserted"
            )
            yield problem(raw.lineno, code, f"record n={n} {what}")
            quiet = 1
        elif rec.prev != prev_hash and not calm:
            yield problem(raw.lineno, "edited", _chain_break(raw.lineno, rec.prev, before))
        expected = max(expected, n + 1) if not isinstance(rec, Header) else expected
        prev_hash = line_hash
        before = raw.data
        if isinstance(rec, Checkpoint):
            last_kind = "checkpoint"
            tally.checkpoints += 1
            yield from _check_checkpoint(name, raw.lineno, owner, rec, verifier, check_signatures)
            continue
        if isinstance(rec, Header):
            continue
        last_kind = "record"
        yield from _entry(name, raw.lineno, owner, rec, verifier, check_signatures)
    tally.closed = last_kind == "checkpoint" and not torn
    if require_closed and last_kind != "checkpoint":
        yield problem(
            last_line,
            "truncated",
            "the log does not end with a signed checkpoint: "
            "it was not closed, or lines after this one were cut off",
        )


def _chain_break(lineno: int, prev: str, before: bytes) -> str:
    """Why line ``lineno``'s ``prev`` does not match the SHA-256 of the line ``before`` it."""
    if before.endswith(b"\r"):
        # Looked at only once the chain has broken: a clean log pays nothing for it.
        why = crlf_words(lineno - 1)
        if hashlib.sha256(before[:-1]).hexdigest() != prev:
            why += (
                f"; 'prev' does not match line {lineno - 1} without its CR either: "
                "a line was changed too"
            )
        return f"the chain breaks here: {why}"
    return (
        f"the chain breaks here: 'prev' does not match the SHA-256 of line {lineno - 1}; "
        "that line (or this one) was changed"
    )


def _prepend(item: object, it: Iterator[object]) -> Iterator[object]:
    yield item
    yield from it


def _entry(
    name: str,
    lineno: int,
    owner: str,
    rec: MessageRecord,
    verifier: Verifier,
    check_signatures: bool,
) -> Iterator[LogEntry | LogProblem]:
    direction = rec.direction
    if direction == "rejected":
        yield LogEntry(name, lineno, owner, rec, None, None)
        return
    try:
        opened = verifier.open(rec.envelope_bytes(), check_signature=check_signatures)
    except EnvelopeError as exc:
        yield LogProblem(name, lineno, "bad-envelope", f"{direction} envelope refused: {exc}")
        yield LogEntry(name, lineno, owner, rec, None, exc)
        return
    st = opened.statement
    if direction == "sent" and st.sender != owner:
        yield LogProblem(
            name, lineno, "wrong-owner", f"a sent record from {st.sender} in the log of {owner}"
        )
    elif direction == "received" and st.recipient != owner and not st.recipient.islower():
        yield LogProblem(
            name,
            lineno,
            "wrong-owner",
            f"a received record addressed to {st.recipient} in the log of {owner}",
        )
    yield LogEntry(name, lineno, owner, rec, opened, None)


def _check_checkpoint(
    name: str, lineno: int, owner: str, cp: Checkpoint, verifier: Verifier, check_signatures: bool
) -> Iterator[LogProblem]:
    if cp.count != cp.n or cp.head != cp.prev:
        yield LogProblem(
            name,
            lineno,
            "bad-checkpoint",
            f"checkpoint covers count={cp.count} "
            f"head={cp.head[:12]}… but sits at n={cp.n} after {cp.prev[:12]}…",
        )
        return
    entry = verifier.keyring.get(cp.key_id)
    if entry is None:
        yield LogProblem(name, lineno, "bad-checkpoint", f"key {cp.key_id} is not in the keyring")
        return
    if entry.centre != owner:
        yield LogProblem(
            name,
            lineno,
            "bad-checkpoint",
            f"signed with key {cp.key_id} of {entry.centre}, but the log belongs to {owner}",
        )
        return
    if not entry.valid_at(to_utc(cp.at)):
        yield LogProblem(
            name,
            lineno,
            "bad-checkpoint",
            f"key {cp.key_id} is valid {entry.validity_words()}, not at the checkpoint's time",
        )
        return
    if not check_signatures:
        return
    try:
        sig = base64.b64decode(cp.sig, validate=True)
    except (binascii.Error, ValueError):
        sig = b""
    if base64.b64encode(sig).decode("ascii") != cp.sig:
        sig = b""  # only canonical base64, as the published schema says (unused bits zero)
    if not entry.verify(sig, checkpoint_message(owner, cp.n, cp.head, cp.at)):
        yield LogProblem(
            name,
            lineno,
            "bad-checkpoint",
            "the checkpoint signature does not verify: the log was changed after it was closed",
        )


def verify_log(
    path: str | Path,
    verifier: Verifier,
    *,
    check_signatures: bool = True,
    require_closed: bool = True,
) -> LogReport:
    """Verify a whole log; every problem is collected, in file order.

    Raises:
        LogError: the file cannot be read as a log at all.
    """
    report = LogReport(str(path))
    tally = _Tally()
    for item in _scan(Path(path), verifier, check_signatures, require_closed, tally):
        if isinstance(item, LogProblem):
            report.problems.append(item)
            continue
        report.records += 1
        if item.opened is not None:
            report.verified += 1
    report.owner = tally.owner
    report.checkpoints = tally.checkpoints
    report.closed = tally.closed
    return report
