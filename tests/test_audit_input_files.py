"""Input files an editor, a copy or the file system spoiled: named, never skipped in silence.

A log in a directory that cannot be read, that starts with a UTF-8 byte-order mark, or that is
UTF-16/UTF-32 encoded stops the audit (exit 2) with one line naming the file and the cause, as
when the file is named on the command line and in ``nrrc verify``; files that are plainly not
logs are still skipped. A log rewritten with CR LF line endings is an integrity finding that
says so, in the fast reader, the full reader and ``nrrc verify``.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_audit_kit import Exchange, at, only, run
from typer.testing import CliRunner

from nrrc.audit import fastscan
from nrrc.audit.collector import Selection
from nrrc.audit.sources import find_inputs
from nrrc.catalogue import Catalogue
from nrrc.cli import app
from nrrc.errors import LogError, NrrcError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter

runner = CliRunner()
FREE = {"subject": "s", "text": "t"}
BOM = (
    "the file starts with a UTF-8 byte-order mark "
    "(an editor rewrote it; logs are plain UTF-8 without BOM)"
)
NOT_UTF8 = "encoded, not UTF-8 (it was rewritten; logs are plain UTF-8 without BOM)"
CRLF = "ends with CR LF (Windows line endings); the log was rewritten, its lines are LF-terminated"


@pytest.fixture
def logs(tmp_path: Path, types: MessageTypes, signers: dict[str, Signer], keyring: Keyring) -> Path:
    """A directory with a keyring and two closed logs: three free-text messages RU -> US."""
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
    ex.write(tmp_path / "logs")
    keyring.save(tmp_path / "logs" / "keyring.json")
    return tmp_path / "logs"


def _audit(*args: str) -> Any:
    return runner.invoke(app, ["audit", *args, "--ignore", "MSE002"])


def _one_error_line(output: str, *parts: str) -> str:
    """The output is one line (``nrrc: error: ...``) holding every part; no traceback."""
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("nrrc: error: "), output
    for part in parts:
        assert part in lines[0], output
    return lines[0]


# -- encodings ---------------------------------------------------------------------------------


def _utf8_bom(data: bytes) -> bytes:
    return codecs.BOM_UTF8 + data


def _utf16(data: bytes) -> bytes:
    return data.decode().encode("utf-16")  # with a byte-order mark (the machine's order)


def _utf16_be(data: bytes) -> bytes:
    return data.decode().encode("utf-16-be")  # without one


def _utf32(data: bytes) -> bytes:
    return data.decode().encode("utf-32")


ENCODINGS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "utf8-bom": (_utf8_bom, BOM),
    "utf16-bom": (_utf16, "the file is UTF-16 (little-endian, with a byte-order mark) " + NOT_UTF8),
    "utf16be": (_utf16_be, "the file is UTF-16 (big-endian) " + NOT_UTF8),
    "utf32-bom": (_utf32, "the file is UTF-32 (little-endian, with a byte-order mark) " + NOT_UTF8),
}


@pytest.mark.skipif(sys.byteorder != "little", reason="the words name little-endian")
@pytest.mark.parametrize("how", ["directory", "file", "verify"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_log_in_another_encoding_is_named(logs: Path, encoding: str, how: str) -> None:
    """A log an editor re-saved with a byte-order mark, or as UTF-16/32: exit 2 and one line
    naming the file and the encoding, whether the log is found in a directory (it used to be
    skipped in silence), named on the command line, or verified."""
    convert, words = ENCODINGS[encoding]
    path = logs / "RU.log.jsonl"
    path.write_bytes(convert(path.read_bytes()))
    ring = str(logs / "keyring.json")
    if how == "directory":
        result = _audit(str(logs))
    elif how == "file":
        result = _audit(str(path), str(logs / "US.log.jsonl"), "-k", ring)
    else:
        result = runner.invoke(app, ["verify", str(path), "-k", ring])
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{path}: {words}")


def test_a_log_with_a_byte_order_mark_under_another_name_is_named(logs: Path) -> None:
    """A file not named like a log whose header, once the mark is removed, is a log header:
    it is a log, and it is reported."""
    path = logs / "RU.log.jsonl"
    path.rename(logs / "RU-copy.txt")
    (logs / "RU-copy.txt").write_bytes(_utf8_bom((logs / "RU-copy.txt").read_bytes()))
    result = _audit(str(logs))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{logs / 'RU-copy.txt'}: {BOM}")


def test_an_observed_log_with_a_byte_order_mark_in_a_directory_is_named(
    tmp_path: Path, types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """The observed-activity log found next to the message logs is not skipped either."""
    ex = Exchange(types, signers)
    ex.send(
        "RU", "US", "core.free_text", FREE, at("2026-02-01 00:00:00"), at("2026-02-01 00:00:01")
    )
    ex.observe("launch", "RU", at("2026-02-01 00:00:00"))
    ex.write(tmp_path)
    keyring.save(tmp_path / "keyring.json")
    observed = tmp_path / "observed.jsonl"
    observed.write_bytes(_utf8_bom(observed.read_bytes()))
    result = _audit(str(tmp_path))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{observed}: {BOM}")
    # Named with --observed, it is read by the engine: the same words.
    result = _audit(str(tmp_path / "RU.log.jsonl"), "--observed", str(observed))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{observed}: {BOM}")


def test_resuming_a_log_with_a_byte_order_mark_names_it(
    logs: Path, signers: dict[str, Signer]
) -> None:
    """The writer refuses to append to a rewritten log, and says why."""
    path = logs / "RU.log.jsonl"
    path.write_bytes(_utf8_bom(path.read_bytes()))
    with pytest.raises(LogError) as err:
        LogWriter(path, signers["RU"], created=at("2026-02-01 00:00:00"), fsync=FsyncPolicy.NEVER)
    assert str(err.value) == f"{path}: cannot resume: {BOM}"


# -- files that cannot be read ----------------------------------------------------------------


def test_a_dangling_link_named_like_a_log_is_an_error(logs: Path) -> None:
    """A log in the directory that cannot be opened: exit 2, the file and the OS's reason."""
    path = logs / "RU.log.jsonl"
    path.unlink()
    path.symlink_to(logs / "gone" / "RU.log.jsonl")
    result = _audit(str(logs))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{path}: cannot open the log: No such file or directory")


def _refuse(monkeypatch: pytest.MonkeyPatch, refused: Path) -> None:
    """Opening ``refused`` fails as a file with permission 000 does for a user who is not root."""
    real_open = Path.open

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == refused:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)


@pytest.mark.parametrize("how", ["directory", "file"])
def test_an_unreadable_log_is_an_error(
    logs: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A log the audit may not read: exit 2 naming the file and the reason, in a directory (it
    used to be skipped in silence) and named on the command line (it used to be "not a
    message log")."""
    path = logs / "RU.log.jsonl"
    _refuse(monkeypatch, path)
    if how == "directory":
        result = _audit(str(logs))
    else:
        result = _audit(str(path), str(logs / "US.log.jsonl"), "-k", str(logs / "keyring.json"))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{path}: cannot open the log: Permission denied")


@contextlib.contextmanager
def _unprivileged() -> Iterator[None]:
    """As root (CI), act as the unprivileged user 65534 meanwhile, whom permission 000 stops
    (the effective ids only: root takes them back after)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_log_with_permission_000_is_an_error(logs: Path) -> None:
    """The same with a real permission 000. Root reads any file, so as root (CI) the audit runs
    as an unprivileged user, on a copy of the logs in a directory that user may enter."""
    where = Path(tempfile.mkdtemp(prefix="nrrc-perm-"))
    try:
        where.chmod(0o755)
        for f in logs.iterdir():
            shutil.copy(f, where / f.name)
            (where / f.name).chmod(0o644)
        path = where / "RU.log.jsonl"
        path.chmod(0)
        with _unprivileged():
            result = _audit(str(where))
    finally:
        shutil.rmtree(where, ignore_errors=True)
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{path}: cannot open the log: Permission denied")


@contextlib.contextmanager
def _fifo(path: Path) -> Iterator[None]:
    """A named pipe at ``path`` that a reader who opens it finds empty (not blocked forever)."""
    os.mkfifo(path)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            os.close(os.open(path, os.O_WRONLY))  # waits for a reader, then lets it see EOF

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # frees the writer if it still waits
        thread.join(5)
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_named_like_a_log_is_an_error_not_a_hang(logs: Path) -> None:
    """A FIFO named like a log is reported without being opened (opening it blocks the audit
    until something writes to it; here something does, and the pipe was skipped in silence)."""
    fifo = logs / "XX.log.jsonl"
    with _fifo(fifo):
        result = _audit(str(logs))
    assert result.exit_code == 2, result.output
    _one_error_line(result.output, f"{fifo}: cannot read the log: expected a regular file")


def test_files_that_are_not_logs_are_still_skipped(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A README (even with a byte-order mark), a TOML file, the keyring, a private key the
    audit may not read, a JSON Lines file that is not a log and a pipe not named like a log
    are skipped: the audit runs as without them."""
    before = _audit(str(logs), "-f", "json")
    assert before.exit_code == 0, before.output
    (logs / "README.md").write_bytes(_utf8_bom(b"# Logs of the exercise\n"))
    (logs / "notes.toml").write_text('title = "exercise"\n')
    (logs / "RU.key").write_text("secret\n")
    (logs / "US.events.jsonl").write_text('{"event":"started"}\n')
    (logs / "README.utf16.txt").write_bytes("read me\n".encode("utf-16"))
    _refuse(monkeypatch, logs / "RU.key")
    with _fifo(logs / "pipe") if hasattr(os, "mkfifo") else contextlib.nullcontext():
        after = _audit(str(logs), "-f", "json")
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout


def test_find_inputs_errors_are_one_line(logs: Path) -> None:
    """The errors themselves are one line (whatever prints them)."""
    path = logs / "US.log.jsonl"
    path.write_bytes(_utf16(path.read_bytes()))
    with pytest.raises(NrrcError) as err:
        find_inputs([logs])
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}: the file is UTF-16")


# -- CR LF line endings -----------------------------------------------------------------------


def _crlf(path: Path, only_line: int | None = None) -> None:
    """Rewrite the log's lines with CR LF endings (or only line ``only_line``, 1-based)."""
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(
        b"".join(
            line + (b"\r\n" if only_line in (None, i) else b"\n") for i, line in enumerate(lines, 1)
        )
    )


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_crlf_log_is_an_integrity_finding_that_says_why(
    logs: Path,
    cat: Catalogue,
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
    fast: bool,
    jobs: int,
) -> None:
    """A log rewritten with CR LF endings: the chain breaks at every line (INT001, records not
    trusted) and each finding names the line that ends with CR LF, with the fast reader
    (which hands over to the full one at the first doubt) and without it."""
    monkeypatch.setattr(fastscan, "ENABLED", fast)
    path = logs / "US.log.jsonl"
    _crlf(path)
    n = len(path.read_bytes().splitlines())
    result = run(logs, cat, keyring, jobs=jobs, selection=Selection(ignore=("MSE002",)))
    broken = only(result, "INT001")
    assert sorted(f.evidence[0].line for f in broken) == list(range(2, n + 1))
    for f in broken:
        line = f.evidence[0].line
        assert f"line {line - 1} {CRLF}" in f.explanation, f.explanation
        assert "that line (or this one) was changed" not in f.explanation
    assert result.verified < result.messages  # the rewritten log is not trusted


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_one_crlf_line_is_named_at_the_break_after_it(
    logs: Path, cat: Catalogue, keyring: Keyring, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """Only line 2 rewritten with CR LF: one INT001 at line 3, naming line 2."""
    monkeypatch.setattr(fastscan, "ENABLED", fast)
    _crlf(logs / "US.log.jsonl", only_line=2)
    result = run(logs, cat, keyring, selection=Selection(ignore=("MSE002",)))
    (f,) = only(result, "INT001")
    assert f.evidence[0].line == 3
    assert f"the chain breaks here: line 2 {CRLF}" in f.explanation


def test_crlf_log_in_verify(logs: Path) -> None:
    """``nrrc verify`` on a CR LF log: exit 1, each chain break names the CR LF line."""
    path = logs / "RU.log.jsonl"
    _crlf(path)
    result = runner.invoke(app, ["verify", str(path), "-k", str(logs / "keyring.json")])
    assert result.exit_code == 1, result.output
    assert f"{path}:2: edited: the chain breaks here: line 1 {CRLF}" in result.output
    assert f"{path}:3: edited: the chain breaks here: line 2 {CRLF}" in result.output
    assert "Traceback" not in result.output


def test_crlf_and_an_edit_says_both(logs: Path) -> None:
    """A CR LF line that was also changed: the CR is named, and so is the change."""
    path = logs / "RU.log.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"at":"2026-02-01T00:00:0', b'"at":"2026-02-01T00:00:1') + b"\r"
    path.write_bytes(b"\n".join(lines))
    result = runner.invoke(app, ["verify", str(path), "-k", str(logs / "keyring.json")])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert (
        f"{path}:3: edited: the chain breaks here: line 2 {CRLF}; 'prev' does not match "
        "line 2 without its CR either: a line was changed too"
    ) in out
