"""The core commands as a user runs them: rules, schema, keys and verify.

Commands run through ``nrrc.cli.main``, the console script's entry point, so errors go through
the same handling as in a terminal: one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.cli import main
from nrrc.errors import CatalogueError
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.schemas import schema_files
from nrrc.walkthrough import run_walkthrough

USCN = """\
schema = 1
[agreement]
id = "uscn"
code_prefix = "USCN"
title = "Hypothetical US-China Launch Notification Arrangement"
short_title = "US-China launch notices (hypothetical)"
year = 2027
regime = "bilateral"
parties = ["US", "CN"]
channel = "NRRC"
[[agreement.sources]]
title = "Design exercise, not a real agreement"
status = "R"
[kinds.launch_notice]
title = "Launch notice"
description = "Notice of a planned ballistic missile launch."
[kinds.launch_notice.fields]
planned_launch_at = { type = "datetime", description = "Planned launch time (UTC)." }
[[rules]]
code = "USCN001"
name = "uscn_launch_48h"
title = "Launch notified at least 48 hours before the planned launch"
type = "lead_time"
kind = "launch_notice"
anchor = "planned_launch_at"
bound = "48h"
status = "R"
description = "Each launch is notified at least 48 hours before it."
rationale = "Two days let the other side's watch officers confirm the notice."
example = "Launch at 2027-05-03 06:00 UTC: notice received by 2027-05-01 06:00 UTC."
citation = { article = "Art. 1 (hypothetical)", url = "https://example.org/uscn" }
"""


class Result:
    """Exit code and captured output of one command."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Result({self.code}, out={self.out[-800:]!r}, err={self.err[-800:]!r})"


@pytest.fixture
def nrrc(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> object:
    """Run ``nrrc ARGS...`` in-process; returns a :class:`Result`."""
    monkeypatch.setenv("COLUMNS", "200")  # tables on one line each, whatever the terminal

    def run(*args: str | Path) -> Result:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


Run = object  # the type of the fixture above, for annotations


def call(nrrc: Run, *args: str | Path) -> Result:
    """Type-friendly call of the fixture."""
    result: Result = nrrc(*args)  # type: ignore[operator]
    return result


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("rules", "list"),
        ("rules", "show"),
        ("schema",),
        ("keys", "generate"),
        ("keys", "list"),
        ("keys", "export"),
        ("keys", "import"),
        ("verify",),
        ("audit",),
        ("simulate",),
        ("demo",),
        ("node",),
        ("scenarios", "list"),
        ("scenarios", "show"),
        ("brokers",),
        ("brokers", "generate"),
    ],
    ids=lambda c: " ".join(c) or "nrrc",
)
def test_every_command_explains_itself(nrrc: Run, command: tuple[str, ...]) -> None:
    """``--help`` exits 0 and says what the command does, with no text swallowed as markup
    (a scenario's ``[[faults]]`` table name printed as ``[]``), and names each value by what
    it is (``--until TIME``, ``LOG...``), not by its Python type (typer 0.29 shows
    ``<list[Path]>``, ``<bool>`` for a flag, ``{inputs}...`` in the usage line)."""
    result = call(nrrc, *command, "--help")
    assert result.code == 0, result
    assert "Usage: nrrc" in result.out
    assert len(result.out.split()) > 20
    assert "[]" not in result.out
    assert not re.search(r"<(str|bool|int|float|path|list\[)", result.out), result.out
    usage = next(line for line in result.out.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage


def test_help_names_values_by_what_they_are(nrrc: Run) -> None:
    """An analyst reads ``--until TIME`` and ``LOG...``; a flag shows no value."""
    out = call(nrrc, "audit", "--help").out
    assert "Usage: nrrc audit [OPTIONS] LOG..." in out
    for option, value in [("--until", "TIME"), ("--skew", "DURATION"), ("--select", "CODE")]:
        row = next(line for line in out.splitlines() if f" {option} " in line)
        assert value in row, row
    row = next(line for line in out.splitlines() if " --no-verify " in line)
    assert row.split("--no-verify")[1].split()[0] == "Skip", row


def test_help_paragraphs_are_reflowed_but_lists_are_kept() -> None:
    """typer keeps a docstring's line breaks, which wrap raggedly in an 80-column terminal:
    every command's help has its paragraphs joined into one line each."""
    from nrrc.cli import app
    from nrrc.cli._app import reflow

    text = """First line.

    A paragraph written over
    two lines.

    - a list
    - kept as written
    """
    assert reflow(text) == (
        "First line.\n\nA paragraph written over two lines.\n\n- a list\n- kept as written"
    )
    for command in app.registered_commands:
        assert command.help is not None
        for paragraph in command.help.split("\n\n"):
            assert "\n" not in paragraph or paragraph.lstrip().startswith(("-", "|", "$")), (
                command.name,
                paragraph,
            )


# -- rules ----------------------------------------------------------------------------------


def test_rules_list_shows_code_agreement_bound_and_status(nrrc: Run) -> None:
    """The table has a row per rule with its bound and how firmly its source is verified."""
    result = call(nrrc, "rules", "list")
    assert result.code == 0, result
    row = next(line for line in result.out.splitlines() if "BML001" in line)
    assert "bmlna" in row
    assert "24h before planned_launch_date" in row
    assert "secondary (S)" in row


def test_rules_list_json_is_machine_readable(nrrc: Run, cat: Catalogue) -> None:
    """``--json`` prints every active rule with its citation and status."""
    result = call(nrrc, "rules", "list", "--json")
    assert result.code == 0, result
    rules = json.loads(result.out)
    assert [r["code"] for r in rules] == [r.code for r in cat.active_rules()]
    bml = next(r for r in rules if r["code"] == "BML001")
    assert (bml["status"], bml["verified"], bml["bound"]) == ("S", "secondary", "24h")
    assert bml["citation"]["article"] == "Art. I"


def test_a_broken_agreement_file_gives_one_line_per_problem_and_exit_2(
    nrrc: Run, tmp_path: Path
) -> None:
    """Every problem of the file on its own ``nrrc: error:`` line; exit 2; no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        USCN.replace('bound = "48h"', 'bound = "48 hours-ish"')
        .replace('status = "R"\ndescription', 'status = "maybe"\ndescription')
        .replace('channel = "NRRC"', 'chanel = "NRRC"')
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue([bad])
    expected = info.value.lines()
    assert len(expected) >= 3
    result = call(nrrc, "rules", "list", "--agreements", bad)
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert lines == [f"nrrc: error: {line}" for line in expected]
    assert all(line.startswith(f"nrrc: error: {bad}: ") for line in lines)
    assert "Traceback" not in result.err + result.out
    assert result.out == ""


def test_a_broken_agreement_file_is_reported_by_the_real_console_script(tmp_path: Path) -> None:
    """The installed ``nrrc`` program, in a process of its own, prints no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text(USCN.replace('kind = "launch_notice"', 'kind = "launch"'))
    script = Path(sys.executable).with_name("nrrc")
    done = subprocess.run(
        [str(script), "rules", "list", "--agreements", str(bad)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"nrrc: error: {bad}: rules[0].kind: unknown kind 'uscn.launch' "
        "(did you mean 'uscn.launch_notice'?)"
    ]
    assert "Traceback" not in done.stderr


def test_a_user_agreement_works_like_a_builtin_in_rules_show(nrrc: Run, tmp_path: Path) -> None:
    """A hypothetical US-China arrangement shows its checks, reasons, example and source."""
    path = tmp_path / "uscn.toml"
    path.write_text(USCN)
    result = call(nrrc, "rules", "show", "USCN001", "--agreements", path)
    assert result.code == 0, result
    for text in (
        "USCN001 uscn_launch_48h",
        "Agreement: US-China launch notices (hypothetical) (uscn)",
        "must be received at least 48 hours before its planned_launch_at",
        "Two days let the other side's watch officers confirm the notice.",
        "Launch at 2027-05-03 06:00 UTC",
        "Art. 1 (hypothetical)",
        "unverified (R)",
    ):
        assert text in result.out
    listed = call(nrrc, "rules", "list", "--agreements", path, "--agreement", "uscn")
    assert "USCN001" in listed.out


def test_rules_show_by_name_and_its_citation(nrrc: Run) -> None:
    """A rule is found by its name too, and shows its article and verification words."""
    result = call(nrrc, "rules", "show", "bmlna_prelaunch_24h")
    assert result.code == 0, result
    assert "BML001" in result.out
    assert "Art. I" in result.out
    assert "secondary (S): confirmed only by a secondary source" in result.out


def test_an_unknown_rule_suggests_close_codes(nrrc: Run) -> None:
    """A typo in a code exits 2 with suggestions."""
    result = call(nrrc, "rules", "show", "BML01")
    assert result.code == 2, result
    assert "unknown rule 'BML01'; did you mean" in result.err
    assert "BML001" in result.err


def test_an_unknown_agreement_filter_is_refused(nrrc: Run) -> None:
    """``--agreement`` must name a loaded agreement."""
    result = call(nrrc, "rules", "list", "--agreement", "salt")
    assert result.code == 2, result
    assert "unknown agreement 'salt'" in result.err


# -- schema ---------------------------------------------------------------------------------


def test_schema_of_a_kind_is_its_json_schema(nrrc: Run, types: MessageTypes) -> None:
    """``nrrc schema KIND`` prints the same schema as the published file."""
    result = call(nrrc, "schema", "bmlna.launch_notice")
    assert result.code == 0, result
    assert json.loads(result.out) == types.schema("bmlna.launch_notice")


def test_schema_lists_the_kinds(nrrc: Run, cat: Catalogue) -> None:
    """Without a kind, the command lists every kind."""
    result = call(nrrc, "schema")
    assert result.code == 0, result
    for kind in cat.kinds:
        assert kind in result.out


def test_schema_export_writes_every_schema(nrrc: Run, tmp_path: Path, types: MessageTypes) -> None:
    """``--export DIR`` writes exactly the files a test compares with messages/schema."""
    result = call(nrrc, "schema", "--export", tmp_path)
    assert result.code == 0, result
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert written == schema_files(types)


def test_a_path_the_system_refuses_is_one_line_and_exit_2(nrrc: Run, tmp_path: Path) -> None:
    """Exporting under a regular file fails with the path and the reason, no traceback."""
    (tmp_path / "file").write_text("x")
    result = call(nrrc, "schema", "--export", tmp_path / "file" / "schemas")
    assert result.code == 2, result
    assert result.err == f"nrrc: error: {tmp_path / 'file' / 'schemas'}: Not a directory\n"


def test_an_unknown_kind_is_refused(nrrc: Run) -> None:
    """Exit 2 with a pointer to the list."""
    result = call(nrrc, "schema", "bmlna.launch")
    assert result.code == 2, result
    assert "unknown kind or file format 'bmlna.launch'" in result.err


@pytest.mark.parametrize("name", ["log-line", "observed-line", "keyring", "audit-report"])
def test_the_schema_of_each_file_format_is_printed(nrrc: Run, name: str) -> None:
    """`nrrc schema NAME` prints the published schema of that file format."""
    import json

    result = call(nrrc, "schema", name)
    assert result.code == 0, result
    printed = json.loads(result.out)
    published = Path(__file__).resolve().parent.parent / "messages" / "schema" / f"{name}.json"
    assert printed == json.loads(published.read_text())


# -- keys -----------------------------------------------------------------------------------


def test_keys_generate_writes_private_keys_0600_and_a_keyring(nrrc: Run, tmp_path: Path) -> None:
    """One key file per centre (owner-only), their public halves in keyring.json."""
    result = call(
        nrrc, "keys", "generate", "US", "RU", "--dir", tmp_path,
        "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00+00:00",
    )  # fmt: skip
    assert result.code == 0, result
    for centre in ("US", "RU"):
        key = tmp_path / f"{centre}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        body = "".join(key.read_text().splitlines()[2:-1])
        assert body not in result.out + result.err
    ring = Keyring.load(tmp_path / "keyring.json")
    assert ring.centres() == ["RU", "US"]
    assert all(e.valid_until is not None for e in ring)


def test_keys_generate_refuses_to_overwrite_a_key(nrrc: Run, tmp_path: Path) -> None:
    """A second generate for the same centre fails with one line; the key is unchanged."""
    assert call(nrrc, "keys", "generate", "US", "--dir", tmp_path).code == 0
    before = (tmp_path / "US.key").read_bytes()
    result = call(nrrc, "keys", "generate", "US", "--dir", tmp_path)
    assert result.code == 2, result
    assert "refusing to overwrite a private key" in result.err
    assert "Traceback" not in result.err
    assert (tmp_path / "US.key").read_bytes() == before


def test_keys_generate_writes_nothing_when_one_centre_would_fail(nrrc: Run, tmp_path: Path) -> None:
    """If any centre's key exists, no new key is written: no private key without its entry."""
    assert call(nrrc, "keys", "generate", "RU", "--dir", tmp_path).code == 0
    result = call(nrrc, "keys", "generate", "US", "RU", "--dir", tmp_path)
    assert result.code == 2, result
    assert "RU.key: already exists" in result.err
    assert not (tmp_path / "US.key").exists()
    assert Keyring.load(tmp_path / "keyring.json").centres() == ["RU"]


def test_keys_generate_refuses_a_naive_instant(nrrc: Run, tmp_path: Path) -> None:
    """Validity instants need an offset."""
    result = call(nrrc, "keys", "generate", "US", "--dir", tmp_path, "--valid-from", "2026-01-01")
    assert result.code == 2, result
    assert "--valid-from:" in result.err
    assert not (tmp_path / "US.key").exists()


def test_keys_list_export_and_import(nrrc: Run, tmp_path: Path) -> None:
    """List shows the keys; export hands one centre's public keys over; import trusts them."""
    assert call(nrrc, "keys", "generate", "US", "RU", "--dir", tmp_path / "a").code == 0
    ring_a = tmp_path / "a" / "keyring.json"
    listed = call(nrrc, "keys", "list", "--keyring", ring_a)
    assert listed.code == 0, listed
    for entry in Keyring.load(ring_a):
        assert entry.key_id in listed.out
    exported = call(nrrc, "keys", "export", "US", "--keyring", ring_a)
    assert exported.code == 0, exported
    assert [k["centre"] for k in json.loads(exported.out)["keys"]] == ["US"]
    out = tmp_path / "us-public.json"
    assert call(nrrc, "keys", "export", "US", "--keyring", ring_a, "--out", out).code == 0
    ring_b = tmp_path / "b" / "keyring.json"
    imported = call(nrrc, "keys", "import", out, "--keyring", ring_b)
    assert imported.code == 0, imported
    assert Keyring.load(ring_b).centres() == ["US"]


def test_exporting_an_unknown_centre_is_refused(nrrc: Run, tmp_path: Path) -> None:
    """Exit 2 naming the centres the keyring knows."""
    assert call(nrrc, "keys", "generate", "US", "--dir", tmp_path).code == 0
    result = call(nrrc, "keys", "export", "GB", "--keyring", tmp_path / "keyring.json")
    assert result.code == 2, result
    assert "no key of centre 'GB'; centres: US" in result.err


# -- verify ---------------------------------------------------------------------------------


@pytest.fixture
def walkthrough(cat: Catalogue, tmp_path: Path) -> tuple[Path, list[Path], Path]:
    """Keyring, the two clean logs and a tampered copy from the offline walk-through."""
    w = run_walkthrough(cat, tmp_path / "demo")
    return w.keyring, list(w.logs.values()), w.tampered


def test_verify_clean_logs_exits_0(nrrc: Run, walkthrough: tuple[Path, list[Path], Path]) -> None:
    """Both logs: ok, records counted, closed by a signed checkpoint."""
    keyring, logs, _ = walkthrough
    result = call(nrrc, "verify", "--keyring", keyring, *logs)
    assert result.code == 0, result
    assert result.out.count("ok ") == 2
    assert "2 records, 2 envelopes verified, chain intact, closed by a signed checkpoint" in (
        result.out
    )


def test_verify_tampered_log_exits_1_naming_the_problem(
    nrrc: Run, walkthrough: tuple[Path, list[Path], Path]
) -> None:
    """The edited copy fails with the line and the code of what happened."""
    keyring, _, tampered = walkthrough
    result = call(nrrc, "verify", "--keyring", keyring, tampered)
    assert result.code == 1, result
    assert "FAIL" in result.out
    assert f"{tampered}:3: edited:" in result.out


def test_verify_json_output(nrrc: Run, walkthrough: tuple[Path, list[Path], Path]) -> None:
    """``--json`` gives one object per log with its problems."""
    keyring, logs, tampered = walkthrough
    result = call(nrrc, "verify", "--json", "--keyring", keyring, logs[0], tampered)
    assert result.code == 1, result
    reports = json.loads(result.out)
    assert [r["problems"] == [] for r in reports] == [True, False]
    assert (reports[0]["records"], reports[0]["checkpoints"], reports[0]["closed"]) == (2, 1, True)
    assert reports[1]["problems"][0]["code"] == "edited"


def test_verify_an_unreadable_log_exits_2(
    nrrc: Run, walkthrough: tuple[Path, list[Path], Path], tmp_path: Path
) -> None:
    """A missing file is reported on stderr and the exit code is 2, after the other logs."""
    keyring, logs, _ = walkthrough
    result = call(nrrc, "verify", "--keyring", keyring, logs[0], tmp_path / "missing.jsonl")
    assert result.code == 2, result
    assert "cannot open the log" in result.err
    assert "ok " in result.out


def test_verify_an_open_log_with_allow_open(
    nrrc: Run, walkthrough: tuple[Path, list[Path], Path], tmp_path: Path
) -> None:
    """A log without its checkpoint fails as truncated, unless ``--allow-open``."""
    keyring, logs, _ = walkthrough
    open_log = tmp_path / "open.jsonl"
    open_log.write_bytes(b"".join(logs[0].read_bytes().splitlines(keepends=True)[:-1]))
    assert call(nrrc, "verify", "--keyring", keyring, open_log).code == 1
    result = call(nrrc, "verify", "--keyring", keyring, "--allow-open", open_log)
    assert result.code == 0, result
    assert result.out.rstrip().endswith("open")


def test_verify_with_a_broken_keyring_exits_2(
    nrrc: Run, walkthrough: tuple[Path, list[Path], Path], tmp_path: Path
) -> None:
    """A keyring that cannot be read is one line and exit 2."""
    _, logs, _ = walkthrough
    ring = tmp_path / "ring.json"
    ring.write_text('{"format": "nrrc-keyring/1", "keys": [{"key_id": 1}]}')
    result = call(nrrc, "verify", "--keyring", ring, *logs)
    assert result.code == 2, result
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith(f"nrrc: error: {ring}: expected a JSON keyring")
