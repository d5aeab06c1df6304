"""A fast reader for clean logs that hands over to :func:`nrrc.verify.scan_log` at the first doubt.

Most logs an auditor reads are intact. For those, this reader does exactly what ``scan_log``
does on a clean log (header, numbering, hash chain, envelopes through the verifier, record
owners, checkpoints, the closing checkpoint) with less work per line: it reads in large blocks
and keeps no look-ahead. At the first line that is not plainly clean (undecodable, out of
sequence, a broken chain, a refused envelope, a record in the wrong log, a checkpoint that does
not verify, a torn last line) it starts ``scan_log`` on the same file, skips the records this
reader already yielded (no problem can lie before that line), and yields what ``scan_log`` says
from there on, so every problem is found and named by ``scan_log`` itself. The one problem this
reader names on its own is ``truncated`` (no closing checkpoint), with ``scan_log``'s words.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from nrrc.envelope import Verifier
from nrrc.errors import EnvelopeError, LogError
from nrrc.msglog import (
    GENESIS,
    LOG_FORMAT,
    AwareDatetime,
    Checkpoint,
    Header,
    checkpoint_message,
    decode_line,
)
from nrrc.timeutil import to_utc
from nrrc.verify import LogEntry, LogProblem, scan_log

__all__ = [
    "ENABLED",
    "TRUNCATED",
    "Doubt",
    "LiteCheckpoint",
    "LiteRecord",
    "LiteRejected",
    "LiteSent",
    "checkpoint_ok",
    "decode_lite",
    "lines",
    "scan",
]

ENABLED = True
"""Tests switch the fast path off to compare it with ``scan_log``."""
_BLOCK = 1 << 22

TRUNCATED = (
    "the log does not end with a signed checkpoint: "
    "it was not closed, or lines after this one were cut off"
)


class LiteRecord(
    msgspec.Struct,
    frozen=True,
    tag_field="type",
    forbid_unknown_fields=True,
    kw_only=True,
):
    """:class:`nrrc.msglog.MessageRecord` without the hex pattern on ``prev``: a regular
    expression per line costs more than the rest of the decode, and the reader compares
    ``prev`` with the SHA-256 it computed (always 64 lowercase hex digits) anyway."""

    n: int
    prev: str
    at: AwareDatetime
    envelope: str | None = None
    envelope_b64: str | None = None
    reason: str | None = None
    detail: str | None = None


class LiteSent(LiteRecord, frozen=True, tag="sent"):
    """A ``sent`` line."""


class LiteReceived(LiteRecord, frozen=True, tag="received"):
    """A ``received`` line."""


class LiteRejected(LiteRecord, frozen=True, tag="rejected"):
    """A ``rejected`` line."""


class LiteCheckpoint(
    msgspec.Struct, frozen=True, tag_field="type", tag="checkpoint", forbid_unknown_fields=True
):
    """A ``checkpoint`` line (re-decoded with every check before it is used)."""

    n: int
    prev: str
    at: AwareDatetime
    count: int
    head: str
    key_id: str
    sig: str


_lite_decoder: msgspec.json.Decoder[
    Header | LiteSent | LiteReceived | LiteRejected | LiteCheckpoint
] = msgspec.json.Decoder(Header | LiteSent | LiteReceived | LiteRejected | LiteCheckpoint)
decode_lite = _lite_decoder.decode
"""Decode one line with the lite types: every line the typed decoder of :mod:`nrrc.msglog`
accepts is accepted, and a line accepted here whose ``prev`` equals the computed SHA-256 is one
the typed decoder accepts too (a header line is decoded fully). Raises ``ValidationError``,
``DecodeError`` or ``UnicodeDecodeError``."""


class Doubt(Exception):
    """The line where the fast reader stops trusting itself."""

    def __init__(self, line: int) -> None:
        self.line = line


def scan(
    path: Path,
    verifier: Verifier,
    *,
    check_signatures: bool,
    require_closed: bool = True,
) -> Iterator[LogEntry | LogProblem]:
    """Yield what :func:`nrrc.verify.scan_log` yields for ``path``, faster on clean logs."""
    if not ENABLED:
        yield from scan_log(
            path, verifier, check_signatures=check_signatures, require_closed=require_closed
        )
        return
    done = 0
    try:
        for entry in _clean(path, verifier, check_signatures):
            done = entry.line
            yield entry
    except Doubt:
        for item in scan_log(
            path, verifier, check_signatures=check_signatures, require_closed=require_closed
        ):
            if isinstance(item, LogEntry) and item.line <= done:
                continue  # already yielded by the fast reader
            yield item
        return
    except _Closed as closed:
        if require_closed and not closed.checkpoint:
            yield LogProblem(str(path), closed.last_line, "truncated", TRUNCATED)


class _Closed(Exception):
    def __init__(self, last_line: int, checkpoint: bool) -> None:
        self.last_line = last_line
        self.checkpoint = checkpoint


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each complete line; a torn last line raises Doubt.

    Raises:
        LogError: the file cannot be opened.
    """
    lineno = 0
    rest = b""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise LogError(f"{path}: cannot open the log: {exc.strerror or exc}") from exc
    with fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for data in lines:
                lineno += 1
                yield lineno, data
    if rest:
        raise Doubt(lineno + 1)


def _clean(path: Path, verifier: Verifier, check_signatures: bool) -> Iterator[LogEntry]:
    name = str(path)
    lines_ = lines(path)
    first = next(lines_, None)
    if first is None:
        raise Doubt(1)
    try:
        header = decode_line(first[1])
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise Doubt(1) from None
    if (
        not isinstance(header, Header)
        or header.n != 0
        or header.prev != GENESIS
        or header.format != LOG_FORMAT
    ):
        raise Doubt(1)
    owner = header.owner
    sha = hashlib.sha256
    prev_hash = sha(first[1]).hexdigest()
    expected = 1
    last_line = 1
    checkpoint = False
    open_envelope = verifier.open
    for lineno, data in lines_:
        try:
            rec = decode_line(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise Doubt(lineno) from None
        if rec.n != expected or rec.prev != prev_hash or isinstance(rec, Header):
            raise Doubt(lineno)
        prev_hash = sha(data).hexdigest()
        expected += 1
        last_line = lineno
        if isinstance(rec, Checkpoint):
            if not checkpoint_ok(rec, owner, verifier, check_signatures):
                raise Doubt(lineno)
            checkpoint = True
            continue
        checkpoint = False
        direction = rec.direction
        if direction == "rejected":
            yield LogEntry(name, lineno, owner, rec, None, None)
            continue
        try:
            opened = open_envelope(rec.envelope_bytes(), check_signature=check_signatures)
        except EnvelopeError:
            raise Doubt(lineno) from None
        st = opened.statement
        if direction == "sent":
            if st.sender != owner:
                raise Doubt(lineno)
        elif st.recipient != owner and not st.recipient.islower():
            raise Doubt(lineno)
        yield LogEntry(name, lineno, owner, rec, opened, None)
    raise _Closed(last_line, checkpoint)


def checkpoint_ok(cp: Checkpoint, owner: str, verifier: Verifier, check_signatures: bool) -> bool:
    if cp.count != cp.n or cp.head != cp.prev:
        return False
    entry = verifier.keyring.get(cp.key_id)
    if entry is None or entry.centre != owner or not entry.valid_at(to_utc(cp.at)):
        return False
    if not check_signatures:
        return True
    try:
        sig = base64.b64decode(cp.sig, validate=True)
    except (binascii.Error, ValueError):
        return False
    return entry.verify(sig, checkpoint_message(owner, cp.n, cp.head, cp.at))
