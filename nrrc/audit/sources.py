"""Find the audit's inputs: message logs, observed-activity logs and the keyring.

Inputs are files or directories. A directory is searched recursively; a file in it is a message
log when its first line is an ``nrrc-log/1`` header and an observed-activity log when it is an
``nrrc-observed/1`` header; anything else (keys, keyrings, summaries) is skipped. A file named
explicitly must be one of the two. Logs are sorted by owner, then by name, so that the audit never
depends on the order in which its inputs were given.

Nothing that may be a log is skipped without a word: a file in a directory named like a log
(``*.jsonl``, as every writer names logs) that cannot be read stops the audit, and so does a log
that an editor rewrote in another encoding (a UTF-8 byte-order mark, UTF-16 or UTF-32), whether
it is named like a log or its header, once decoded, says it is one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from nrrc.errors import AuditError, LogError
from nrrc.msglog import LOG_FORMAT, Checkpoint, Header, decode_line, sniff_encoding
from nrrc.observed import OBSERVED_FORMAT
from nrrc.timeutil import to_utc

__all__ = ["Inputs", "LogSource", "default_keyring", "find_inputs", "read_source"]

_SNIFF = 4096
_LOG_LIKE = ".jsonl"
"""How logs are named (JSON Lines): such a file in a directory is never skipped unread."""


@dataclass(frozen=True, slots=True)
class LogSource:
    """One message log: where to read it, how to name it, whose it is and when it runs."""

    path: Path
    name: str
    """The name used in evidence (the path as given, or ``<stdin>``)."""
    owner: str
    created: datetime
    closed_at: datetime | None
    """The ``at`` of the final checkpoint when the log ends with one."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything found: logs sorted by (owner, name), observed logs sorted by name."""

    logs: tuple[LogSource, ...]
    observed: tuple[Path, ...]


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_SNIFF)


def _first_line(path: Path) -> bytes:
    return _head(path).split(b"\n", 1)[0]


def _header_format(head: bytes) -> str | None:
    """The ``format`` of a header line, None when the line is not a header."""
    try:
        data = msgspec.json.decode(head)
    except (msgspec.DecodeError, RecursionError):
        return None
    except UnicodeDecodeError:
        # A first line with a byte that is not UTF-8: if it names a format, read the file as
        # that kind, so that its reader names the line and the byte.
        for known in (LOG_FORMAT, OBSERVED_FORMAT):
            if b'"format":"%s"' % known.encode() in head:
                return known
        return None
    if isinstance(data, dict) and data.get("type") == "header":
        fmt = data.get("format")
        return fmt if isinstance(fmt, str) else None
    return None


def _why_unreadable(path: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if path.is_symlink() and not path.exists():
        why += " (a symbolic link to a file that does not exist)"
    return why


def _format_of(path: Path, shown: str, *, strict: bool) -> str | None:
    """The ``format`` of the file's header line; None when its first line is not a header
    (or, unless ``strict``, the file cannot be read).

    Args:
        strict: the file may well be a log (named on the command line, or named like one):
            it must be readable, and in plain UTF-8.

    Raises:
        AuditError: ``strict`` and the file cannot be read.
        LogError: the file is not plain UTF-8 (a byte-order mark, UTF-16/32) and ``strict``
            or its header line, decoded, says it is a log.
    """
    try:
        head = _head(path)
    except OSError as exc:
        if not strict:
            return None
        raise AuditError(f"{shown}: cannot open the log: {_why_unreadable(path, exc)}") from exc
    foreign = sniff_encoding(head)
    if foreign is not None:
        codec, why = foreign
        decoded = head.decode(codec, errors="ignore").lstrip("\ufeff").split("\n", 1)[0]
        fmt = _header_format(decoded.encode("utf-8", errors="replace"))
        if strict or fmt in (LOG_FORMAT, OBSERVED_FORMAT):
            raise LogError(f"{shown}: {why}")
        return None
    return _header_format(head.split(b"\n", 1)[0])


def _format_in_directory(path: Path) -> str | None:
    """:func:`_format_of` for a file found in a directory: strict when named like a log; a
    file that is not a regular file (a FIFO would block the audit) is not opened."""
    like = path.name.endswith(_LOG_LIKE)
    shown = str(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if not like:
            return None
        raise AuditError(f"{shown}: cannot open the log: {_why_unreadable(path, exc)}") from exc
    if not stat.S_ISREG(mode):
        if not like:
            return None
        raise AuditError(
            f"{shown}: cannot read the log: expected a regular file, found a special file"
        )
    return _format_of(path, shown, strict=like)


def _last_line(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = min(size, 1 << 16)
        fh.seek(size - block)
        tail = fh.read(block)
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1]


def read_source(path: Path, name: str | None = None) -> LogSource:
    """Read a log's header (owner, created) and its closing checkpoint's instant.

    Raises:
        LogError: the file cannot be read, is empty, or does not start with a log header.
    """
    shown = name or str(path)
    try:
        head = _first_line(path)
    except OSError as exc:
        raise LogError(f"{shown}: cannot open the log: {exc.strerror or exc}") from exc
    if not head.strip():
        raise LogError(f"{shown}: empty file: expected a log starting with a {LOG_FORMAT} header")
    try:
        header = decode_line(head)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        foreign = sniff_encoding(head)
        if foreign is not None:
            raise LogError(f"{shown}: {foreign[1]}") from exc
        raise LogError(f"{shown}:1: expected a {LOG_FORMAT} header line: {exc}") from exc
    if not isinstance(header, Header) or header.format != LOG_FORMAT:
        raise LogError(f"{shown}:1: expected a {LOG_FORMAT} header line")
    closed_at = None
    try:
        last = decode_line(_last_line(path))
    except (msgspec.ValidationError, msgspec.DecodeError, OSError):
        last = None
    if isinstance(last, Checkpoint):
        closed_at = to_utc(last.at)
    return LogSource(path, shown, header.owner, to_utc(header.created), closed_at)


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for f in sorted(files):
            if not f.startswith("."):
                yield Path(root) / f


def find_inputs(items: Sequence[Path], names: Mapping[Path, str] | None = None) -> Inputs:
    """Classify the given files and directories into message logs and observed logs.

    Args:
        items: files and directories, in any order.
        names: display names for some paths (standard input is shown as ``<stdin>``).

    Raises:
        AuditError: a path does not exist, a file is neither kind of log, a file that may be a
            log cannot be read, or no log was found.
        LogError: a log's header cannot be read, or a log is not in plain UTF-8.
    """
    names = names or {}
    logs: list[LogSource] = []
    observed: list[Path] = []
    for item in items:
        shown = names.get(item, str(item))
        if item.is_dir():
            for path in _walk(item):
                fmt = _format_in_directory(path)
                if fmt == LOG_FORMAT:
                    logs.append(read_source(path))
                elif fmt == OBSERVED_FORMAT:
                    observed.append(path)
            continue
        if not item.exists():
            raise AuditError(f"{shown}: no such file or directory")
        fmt = _format_of(item, shown, strict=True)
        if fmt == OBSERVED_FORMAT:
            observed.append(item)
            continue
        if fmt != LOG_FORMAT and item.stat().st_size > 0:
            raise AuditError(
                f"{shown}: not a message log: expected a first line with "
                f'"format":"{LOG_FORMAT}" (or an observed-activity log, {OBSERVED_FORMAT})'
            )
        logs.append(read_source(item, shown))
    if not logs:
        where = ", ".join(names.get(i, str(i)) for i in items) or "the inputs"
        raise AuditError(f"no message logs ({LOG_FORMAT}) found in {where}")
    unique = {(s.path.resolve(), s.name): s for s in logs}
    ordered = sorted(unique.values(), key=lambda s: (s.owner, s.name))
    return Inputs(tuple(ordered), tuple(sorted(set(observed), key=str)))


def default_keyring(items: Sequence[Path]) -> Path:
    """``keyring.json`` next to the logs if there is one, else ``keys/keyring.json``."""
    for item in sorted(items, key=str):
        folder = item if item.is_dir() else item.parent
        candidate = folder / "keyring.json"
        if candidate.is_file():
            return candidate
    return Path("keys/keyring.json")
