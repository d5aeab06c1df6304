"""``nrrc audit`` on the command line: formats, exit codes, inputs, and clear errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from test_audit_kit import LAUNCH, Exchange, at
from typer.testing import CliRunner

from nrrc.audit import engine
from nrrc.audit.engine import AuditOptions, audit
from nrrc.catalogue import Catalogue
from nrrc.cli import app
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

runner = CliRunner()


@pytest.fixture
def logs(tmp_path: Path, types: MessageTypes, signers: dict[str, Signer], keyring: Keyring) -> Path:
    """A directory with a keyring and two logs: one late launch notice, acknowledged."""
    ex = Exchange(types, signers)
    n = ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        LAUNCH,
        at("2026-03-01 00:50:00"),
        at("2026-03-01 00:50:00"),
    )
    ex.ack("US", n, at("2026-03-01 00:55:00"), at("2026-03-01 00:55:01"))
    ex.write(tmp_path / "logs")
    keyring.save(tmp_path / "logs" / "keyring.json")
    return tmp_path / "logs"


def test_text_report_and_exit_code_1_on_violation(logs: Path) -> None:
    """The text report names the violation; exit code 1."""
    result = runner.invoke(app, ["audit", str(logs)])
    assert result.exit_code == 1, result.output
    assert "BML001" in result.output and "short by 50 min" in result.output
    assert "Per-rule summary" in result.output


def test_exit_code_0_without_violations(logs: Path) -> None:
    """Ignoring the broken rule leaves no violation: exit code 0."""
    result = runner.invoke(app, ["audit", str(logs), "--ignore", "BML001"])
    assert result.exit_code == 0, result.output
    assert "no violations (exit code 0)" in result.output


def test_json_report_follows_the_documented_schema(logs: Path) -> None:
    """--format json prints an nrrc-audit/1 document with every documented key."""
    result = runner.invoke(app, ["audit", str(logs), "--format", "json", "--select", "BML001"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["format"] == "nrrc-audit/1" and doc["exit_code"] == 1
    assert set(doc) == {
        "format",
        "logs",
        "observed",
        "period",
        "totals",
        "exit_code",
        "summary",
        "findings",
        "measurements",
    }
    (f,) = doc["findings"]
    assert set(f) == {
        "code",
        "name",
        "outcome",
        "title",
        "agreement",
        "article",
        "citation_url",
        "verified",
        "status",
        "explanation",
        "parties",
        "message_ids",
        "instants",
        "measured_seconds",
        "bound_seconds",
        "margin_seconds",
        "evidence",
        "fingerprint",
    }
    assert f["margin_seconds"] == -3000 and f["instants"]["received"] == "2026-03-01T00:50:00Z"


@pytest.mark.parametrize("fmt", ["junit", "sarif", "html"])
def test_other_formats_are_loaded_on_demand(logs: Path, tmp_path: Path, fmt: str) -> None:
    """junit, sarif and html reporters are imported only when asked for, and write a file."""
    out = tmp_path / f"report.{fmt}"
    result = runner.invoke(app, ["audit", str(logs), "--format", fmt, "--output", str(out)])
    assert result.exit_code == 1, result.output
    assert "BML001" in out.read_text()


def test_standard_input(logs: Path) -> None:
    """`-` reads one log from standard input; evidence names it <stdin>."""
    data = (logs / "US.log.jsonl").read_bytes()
    result = runner.invoke(
        app,
        ["audit", "-", "--keyring", str(logs / "keyring.json"), "-f", "json", "--select", "BML001"],
        input=data,
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["logs"] == ["<stdin>"]
    assert doc["findings"][0]["evidence"][0]["file"] == "<stdin>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "no such file or directory"),
        (["{logs}", "--until", "yesterday"], "--until: expected an RFC 3339 instant"),
        (["{logs}", "--select", "BML999"], "matches no rule"),
        (["{logs}", "--skew", "soon"], "--skew: expected a duration"),
        (["{empty}"], "no message logs"),
    ],
    ids=["missing-path", "bad-until", "unknown-code", "bad-skew", "dir-without-logs"],
)
def test_bad_input_exits_2_with_one_clear_line(
    logs: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad input: one line on stderr, exit code 2, no traceback."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "keyring.json").write_text((logs / "keyring.json").read_text())
    argv = ["audit", *(a.format(logs=logs, empty=empty) for a in args)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("as_directory", [True, False], ids=["directory", "file"])
def test_log_header_with_a_byte_not_utf8_is_named(logs: Path, as_directory: bool) -> None:
    """A byte that is not UTF-8 in a log's header line: exit 2, one line naming the file, the
    line and the byte's offset in it (not a traceback, not "not a log")."""
    path = logs / "US.log.jsonl"
    data = path.read_bytes()
    at = data.index(b'"owner":"') + len(b'"owner":"')
    path.write_bytes(data[:at] + b"\xb1" + data[at:])
    result = runner.invoke(
        app, ["audit", str(logs if as_directory else path), "-k", str(logs / "keyring.json")]
    )
    assert result.exit_code == 2, result.output
    assert (
        "US.log.jsonl:1: expected a nrrc-log/1 header line: JSON malformed: "
        f"invalid UTF-8 byte at offset {at}" in " ".join(result.output.split())
    )
    assert "Traceback" not in result.output


def test_observed_line_with_a_byte_not_utf8_is_named(logs: Path, tmp_path: Path) -> None:
    """A byte that is not UTF-8 inside a string of an observed-activity log: exit 2, one line
    naming the file and the line."""
    observed = tmp_path / "observed.jsonl"
    observed.write_bytes(
        b'{"type":"header","format":"nrrc-observed/1","created":"2026-01-01T00:00:00Z",'
        b'"source":"t\xffest"}\n'
    )
    result = runner.invoke(app, ["audit", str(logs), "--observed", str(observed)])
    assert result.exit_code == 2, result.output
    assert "observed.jsonl:1:" in result.output and "invalid UTF-8 byte" in result.output
    assert "Traceback" not in result.output


def test_missing_keyring_is_a_clear_error(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a keyring next to the logs or in keys/, the audit refuses to guess."""
    (logs / "keyring.json").unlink()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["audit", str(logs)])
    assert result.exit_code == 2 and "no keyring" in result.output


def test_rules_show_knows_the_audit_checks() -> None:
    """`nrrc rules show INT005` prints the check like a rule."""
    result = runner.invoke(app, ["rules", "show", "INT005"])
    assert result.exit_code == 0
    assert "Envelope signature does not verify" in result.output and "Why" in result.output


def test_parallel_verification_gives_the_same_result(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Signatures checked by two worker processes give exactly the findings of one process,
    a forged signature included."""
    ex = Exchange(types, signers)
    for i in range(40):
        n = ex.send(
            "RU",
            "US",
            "nst.launch_notice",
            LAUNCH,
            at(f"2026-02-01 {i // 4:02d}:{i % 4:02d}:00"),
            at(f"2026-02-01 {i // 4:02d}:{i % 4:02d}:01"),
        )
    env = json.loads(n.envelope)
    env["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    ex.log("US", "received", at("2026-02-01 12:00:00"), json.dumps(env).encode())
    paths = ex.write(tmp_path)
    one = audit(paths, cat, keyring, AuditOptions(jobs=1))
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    two = audit(paths, cat, keyring, AuditOptions(jobs=2))
    assert two.findings == one.findings and two.summary == one.summary
    assert two.verified == one.verified == 80
    assert any(f.code == "INT005" for f in two.findings)
