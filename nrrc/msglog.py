"""Tamper-evident message logs: append-only, hash-chained JSON Lines with signed checkpoints.

Each line is one JSON object (``nrrc-log/1``), with ``n`` counting lines from 0 and ``prev`` the
SHA-256 (hex) of the previous line's exact bytes (without its newline; 64 zeros for line 0)::

    {"type":"header","n":0,"prev":"000…","format":"nrrc-log/1","owner":"US","created":"…Z"}
    {"type":"sent","n":1,"prev":"…","at":"…Z","envelope":"<envelope bytes as a JSON string>"}
    {"type":"received","n":2,"prev":"…","at":"…Z","envelope":"…"}
    {"type":"rejected","n":3,"prev":"…","at":"…Z","envelope":"…","reason":"bad-signature",
     "detail":"…"}                        (or "envelope_b64" when the bytes were not UTF-8)
    {"type":"checkpoint","n":4,"prev":"…","at":"…Z","count":4,"head":"<prev>","key_id":"…",
     "sig":"<base64 Ed25519>"}

``at`` is the log owner's time of the event. The envelope is kept verbatim, so an auditor
re-verifies every signature. A checkpoint is signed by the log owner over the DSSE PAE of the
text ``nrrc-checkpoint/1\\n<owner>\\n<n>\\n<head>\\n<at>`` with payload type
``application/vnd.nrrc.checkpoint; version=1``; the last line of a closed log is a checkpoint.
Deleting, inserting, reordering, editing or truncating lines is detected and named by
:func:`nrrc.verify.verify_log`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Annotated, Literal

import msgspec

from nrrc.envelope import pae
from nrrc.errors import LogError
from nrrc.exactforms import ExactForms, may_hold_lax_date_time
from nrrc.keys import Signer
from nrrc.messages import CENTRE_PATTERN, invalid_utf8, published_pattern, python_pattern
from nrrc.timeutil import to_utc

__all__ = [
    "CHECKPOINT_TYPE",
    "LOG_FORMAT",
    "Checkpoint",
    "EnvelopeCache",
    "FsyncPolicy",
    "Header",
    "LogLine",
    "LogWriter",
    "MessageRecord",
    "checkpoint_message",
    "crlf_words",
    "encoding_problem",
    "read_lines",
    "sniff_encoding",
]

LOG_FORMAT = "nrrc-log/1"
CHECKPOINT_TYPE = "application/vnd.nrrc.checkpoint; version=1"
GENESIS = "0" * 64
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Hex64 = Annotated[str, msgspec.Meta(pattern=python_pattern(r"^[0-9a-f]{64}$"))]


class Header(
    msgspec.Struct, frozen=True, tag_field="type", tag="header", forbid_unknown_fields=True
):
    """First line of every log."""

    n: int
    prev: Hex64
    format: str
    owner: Annotated[str, msgspec.Meta(pattern=python_pattern(CENTRE_PATTERN))]
    created: AwareDatetime


class MessageRecord(
    msgspec.Struct,
    frozen=True,
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    """An envelope sent, received or rejected by the log owner."""

    n: int
    prev: Hex64
    at: AwareDatetime
    envelope: str | None = None
    envelope_b64: str | None = None
    reason: str | None = None
    detail: str | None = None

    @property
    def direction(self) -> str:
        """``sent``, ``received`` or ``rejected``."""
        return str(type(self).__struct_config__.tag)

    def envelope_bytes(self) -> bytes:
        """The envelope's exact bytes."""
        if self.envelope is not None:
            return self.envelope.encode("utf-8", "surrogatepass")
        if self.envelope_b64 is not None:
            return base64.b64decode(self.envelope_b64)
        return b""


class Sent(MessageRecord, frozen=True, tag="sent"):
    """An envelope this centre sent."""


class Received(MessageRecord, frozen=True, tag="received"):
    """An envelope this centre received and accepted."""


class Rejected(MessageRecord, frozen=True, tag="rejected"):
    """An envelope this centre received and refused, with the reason."""


class Checkpoint(
    msgspec.Struct, frozen=True, tag_field="type", tag="checkpoint", forbid_unknown_fields=True
):
    """A signed statement of the log's length and head hash."""

    n: int
    prev: Hex64
    at: AwareDatetime
    count: int
    head: Hex64
    key_id: str
    sig: str


LogLine = Header | Sent | Received | Rejected | Checkpoint
_line_decoder: msgspec.json.Decoder[LogLine] = msgspec.json.Decoder(LogLine)
_exact_line = ExactForms(LogLine)
_encoder = msgspec.json.Encoder()
RECORD_TYPES: dict[str, type[MessageRecord]] = {
    "sent": Sent,
    "received": Received,
    "rejected": Rejected,
}
_SIM_BUFFER = 1 << 15
_sha256 = hashlib.sha256
_RECORD_HEADS = {d: b'{"type":"%s","n":' % d.encode() for d in RECORD_TYPES}


def checkpoint_message(owner: str, n: int, head: str, at: datetime) -> bytes:
    """The exact bytes a checkpoint signature covers (PAE of the checkpoint text)."""
    text = f"nrrc-checkpoint/1\n{owner}\n{n}\n{head}\n{_iso(at)}".encode()
    return pae(CHECKPOINT_TYPE, text)


def _iso(at: datetime) -> str:
    return _encoder.encode(to_utc(at)).decode().strip('"')


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line of a log file as read: its number (1-based), bytes and whether it was torn."""

    lineno: int
    data: bytes
    torn: bool


def read_lines(fh: IO[bytes], chunk: int = 1 << 20) -> Iterator[RawLine]:
    """Yield the lines of a binary file in constant memory (per line), marking a torn last line."""
    lineno = 0
    rest = b""
    while True:
        block = fh.read(chunk)
        if not block:
            break
        block = rest + block
        lines = block.split(b"\n")
        rest = lines.pop()
        for data in lines:
            lineno += 1
            yield RawLine(lineno, data, False)
    if rest:
        yield RawLine(lineno + 1, rest, True)


_WIDE = (
    # (codec, name, byte-order mark, which bytes of an ASCII character are NUL); UTF-32's
    # little-endian mark starts with UTF-16's: look for it first.
    ("utf-32-le", "UTF-32 (little-endian", codecs.BOM_UTF32_LE, (False, True, True, True)),
    ("utf-32-be", "UTF-32 (big-endian", codecs.BOM_UTF32_BE, (True, True, True, False)),
    ("utf-16-le", "UTF-16 (little-endian", codecs.BOM_UTF16_LE, (False, True, False, True)),
    ("utf-16-be", "UTF-16 (big-endian", codecs.BOM_UTF16_BE, (True, False, True, False)),
)


def sniff_encoding(head: bytes) -> tuple[str, str] | None:
    """How the first bytes of a file say it is not plain UTF-8 without a byte-order mark, as
    ``(Python codec, words for an error)``; None when they do not (the file may still be bad).

    A UTF-8 byte-order mark; or the first characters as UTF-16 or UTF-32 write ASCII
    (interleaved with NUL bytes: a log's first line is ASCII and holds no NUL), after a
    byte-order mark or not.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", (
            "the file starts with a UTF-8 byte-order mark (an editor rewrote it; "
            "logs are plain UTF-8 without BOM)"
        )
    for codec, name, bom, nul in _WIDE:
        marked = head.startswith(bom)
        if marked:
            name += ", with a byte-order mark"
        # The four bytes after the mark, if any: one UTF-32 character, or two UTF-16 ones.
        data = head[len(bom) : len(bom) + 4] if marked else head[:4]
        if len(data) == 4 and tuple(b == 0 for b in data) == nul:
            return codec, (
                f"the file is {name}) encoded, not UTF-8 (it was rewritten; "
                "logs are plain UTF-8 without BOM)"
            )
    return None


def encoding_problem(head: bytes) -> str | None:
    """The words of :func:`sniff_encoding` for the first bytes of a file, or None."""
    found = sniff_encoding(head)
    return found[1] if found is not None else None


def crlf_words(lineno: int) -> str:
    """Why the chain breaks after a line that ends with CR (its LF was made CR LF)."""
    return (
        f"line {lineno} ends with CR LF (Windows line endings); "
        "the log was rewritten, its lines are LF-terminated"
    )


def decode_line(data: bytes) -> LogLine:
    """Decode one log line; raises ``msgspec.ValidationError`` / ``DecodeError``."""
    try:
        line = _line_decoder.decode(data)
    except UnicodeDecodeError as exc:
        raise invalid_utf8(exc, data) from exc
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(published_pattern(str(exc))) from None
    # at / created as RFC 3339 requires (msgspec also reads '2026-03-02 08:15:00+0530').
    if may_hold_lax_date_time(data, quotes_json=True):
        _exact_line.check(data)
    return line


class FsyncPolicy(Enum):
    """When the writer forces data to disk.

    ``ALWAYS`` (default, live nodes): flush and fsync every record before returning.
    ``CLOSE``: hand every record to the OS at once, fsync on close (survives a crash of the
    process, not of the machine). ``NEVER`` (simulations): buffered, flushed on close only.
    """

    ALWAYS = "always"
    CLOSE = "close"
    NEVER = "never"


def envelope_member(envelope: bytes) -> bytes:
    """The envelope's member of a record line: ``,"envelope":"<JSON string>"``, or
    ``,"envelope_b64":"<base64>"`` when the bytes are not UTF-8."""
    try:
        text = envelope.decode("utf-8")
    except UnicodeDecodeError:
        return b',"envelope_b64":"%s"' % binascii.b2a_base64(envelope, newline=False)
    return b',"envelope":%s' % _encoder.encode(text)


class EnvelopeCache:
    """The record member of recently logged envelopes, for writers that log the same envelope
    objects (a simulation logs each envelope twice: sent by one centre, received by another).

    Give one cache to every :class:`LogWriter` of a process: an envelope appended again (the
    very same ``bytes`` object) is escaped once. Lines are the same with or without it.

    Args:
        size: envelopes kept (the oldest is dropped to make room for a new one).
    """

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._members: dict[int, tuple[bytes, bytes]] = {}

    def member(self, envelope: bytes) -> bytes:
        """:func:`envelope_member` of ``envelope``, computed once per ``bytes`` object."""
        key = id(envelope)
        hit = self._members.get(key)
        if hit is not None and hit[0] is envelope:
            return hit[1]
        member = envelope_member(envelope)
        if type(envelope) is bytes:  # immutable: safe to reuse while the object is kept here
            members = self._members
            if len(members) >= self._size:
                del members[next(iter(members))]  # the oldest (dicts keep insertion order)
            members[key] = (envelope, member)
        return member


class LogWriter:
    """Appends records to a log, chaining each to the previous one.

    Opening an existing log resumes it: the chain continues from its last line (a closed log
    may be reopened; its checkpoint stays in the chain). A torn last line (an interrupted write)
    is moved to ``<log>.torn`` and reported in ``recovered_torn``; nothing durable is lost (a
    file holding only a torn header starts afresh). A file that is not a log, or is the log of
    another centre, is refused with :class:`~nrrc.errors.LogError` and left untouched.

    Args:
        path: the log file.
        signer: the owner's key; checkpoints are signed with it.
        created: the owner's time when the log is created (ignored when resuming).
        fsync: when to force data to disk.
        envelopes: a cache shared with other writers that log the same envelope objects.
    """

    def __init__(
        self,
        path: str | Path,
        signer: Signer,
        *,
        created: datetime,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        envelopes: EnvelopeCache | None = None,
    ) -> None:
        created_utc = to_utc(created)  # refuse a naive time before touching the file
        self.path = Path(path)
        self.signer = signer
        self.fsync = fsync
        self._member = envelopes.member if envelopes is not None else envelope_member
        # The cache's own table, read inline by append (same module): a hit costs no call.
        self._members = envelopes._members if envelopes is not None else None
        self._forced = fsync is not FsyncPolicy.NEVER
        self.recovered_torn: bytes | None = None
        self._n = 0
        self._head = GENESIS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        resumed = self.path.exists() and self.path.stat().st_size > 0 and self._resume()
        # Unforced logs (simulations) write in large blocks: fewer system calls per record.
        self._fh = self.path.open("ab", buffering=_SIM_BUFFER if fsync is FsyncPolicy.NEVER else -1)
        if not resumed:
            header = Header(
                n=0, prev=GENESIS, format=LOG_FORMAT, owner=signer.centre, created=created_utc
            )
            self._write(_encoder.encode(header))
            self._sync_dir()

    @property
    def count(self) -> int:
        """Number of lines written so far (header included)."""
        return self._n

    @property
    def head(self) -> str:
        """SHA-256 of the last line."""
        return self._head

    def _resume(self) -> bool:
        """Continue an existing log; False when it held no complete line (now empty)."""
        first_line: bytes | None = None
        last: bytes | None = None
        good_size = 0
        with self.path.open("rb") as fh:
            for raw in read_lines(fh):
                if raw.torn:
                    self.recovered_torn = raw.data
                    break
                if first_line is None:
                    first_line = raw.data
                last = raw.data
                good_size += len(raw.data) + 1
                self._n += 1
        # Check the header before touching anything: never move lines of someone else's log.
        if first_line is not None:
            self._check_header(first_line)
        if self.recovered_torn is not None:
            with Path(f"{self.path}.torn").open("ab") as side:
                side.write(self.recovered_torn + b"\n")
                side.flush()
                os.fsync(side.fileno())
            with self.path.open("r+b") as fh:
                fh.truncate(good_size)
                fh.flush()
                os.fsync(fh.fileno())
        if last is None:
            # Only a torn header: the log was never durably created; start it afresh.
            return False
        self._head = hashlib.sha256(last).hexdigest()
        return True

    def _check_header(self, line: bytes) -> None:
        """Refuse to resume a file that is not a log, or the log of another centre."""
        try:
            first = decode_line(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            why = encoding_problem(line)
            if why is not None:
                raise LogError(f"{self.path}: cannot resume: {why}") from exc
            raise LogError(
                f"{self.path}:1: cannot resume: not a {LOG_FORMAT} header: {exc}"
            ) from exc
        if not isinstance(first, Header):
            raise LogError(
                f"{self.path}:1: cannot resume: expected a {LOG_FORMAT} header line, found a "
                f"{type(first).__name__.lower()} record"
            )
        if first.owner != self.signer.centre:
            raise LogError(
                f"{self.path}: the log belongs to {first.owner}, not to {self.signer.centre}"
            )

    def _write(self, line: bytes) -> None:
        self._fh.write(line + b"\n")
        if self.fsync is FsyncPolicy.ALWAYS:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        elif self.fsync is FsyncPolicy.CLOSE:
            # Handed to the OS at once (survives a crash of this process, not of the machine).
            self._fh.flush()
        self._head = hashlib.sha256(line).hexdigest()
        self._n += 1

    def _sync_dir(self) -> None:
        if self.fsync is FsyncPolicy.NEVER:
            return
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(
        self,
        direction: Literal["sent", "received", "rejected"],
        at: datetime,
        envelope: bytes,
        *,
        reason: str | None = None,
        detail: str | None = None,
    ) -> int:
        """Append one record; returns its line index ``n``. Durable on return (fsync=always)."""
        if at.tzinfo is not UTC:
            at = to_utc(at)
        members = self._members
        hit = members.get(id(envelope)) if members is not None else None
        # What EnvelopeCache.member does when it holds this envelope, without the call.
        body = hit[1] if hit is not None and hit[0] is envelope else self._member(envelope)
        # The bytes msgspec writes for the record struct (tag, then fields in order, None
        # omitted), assembled directly: this runs twice per message in a simulation.
        if reason is not None:
            body += b',"reason":%s' % _encoder.encode(reason)
        if detail is not None:
            body += b',"detail":%s' % _encoder.encode(detail)
        n = self._n
        line = b"".join(
            (
                _RECORD_HEADS[direction],
                b"%d" % n,
                b',"prev":"',
                self._head.encode(),
                b'","at":',
                _encoder.encode(at),
                body,
                b"}",
            )
        )
        if self._forced:
            self._write(line)
        else:  # what _write does, unforced
            self._fh.write(line + b"\n")
            self._head = _sha256(line).hexdigest()
            self._n = n + 1
        return n

    def checkpoint(self, at: datetime) -> None:
        """Append a signed checkpoint of everything written so far."""
        n = self._n
        sig = self.signer.sign(checkpoint_message(self.signer.centre, n, self._head, at))
        cp = Checkpoint(
            n=n,
            prev=self._head,
            at=to_utc(at),
            count=n,
            head=self._head,
            key_id=self.signer.key_id,
            sig=base64.b64encode(sig).decode("ascii"),
        )
        self._write(_encoder.encode(cp))

    def close(self, at: datetime | None) -> None:
        """Write a closing checkpoint (when ``at`` is given), force to disk and close."""
        if self._fh.closed:
            return
        if at is not None:
            self.checkpoint(at)
        self._fh.flush()
        if self.fsync is not FsyncPolicy.NEVER:
            os.fsync(self._fh.fileno())
        self._fh.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
