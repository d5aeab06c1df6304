"""Bad input to the commands that write files: a clear one-line refusal (exit code 2) before
anything is written, and nothing an earlier run wrote lost without ``--force``; click's own
usage errors as one line too; a private key others may read loaded with a warning."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from test_cli_core import Run, call, nrrc  # noqa: F401  (the fixture)

from nrrc.broker import BrokerConfigError, Membership, write_mosquitto_configs
from nrrc.keys import generate_key, load_private_key, write_private_key

TINY = """\
schema = 1
[scenario]
id = "tiny"
title = "Tiny"
start = 2026-01-01T00:00:00Z
duration = "30d"
seed = 3
{keys}
[[centres]]
id = "US"

[[centres]]
id = "RU"

[[agreements]]
id = "bmlna"
parties = ["US", "RU"]

[[generate]]
activity = "launch"
parties = ["RU"]
per_year = 12
attributes = {{ missile_class = "ICBM" }}
"""


def tiny(tmp_path: Path, keys: str = "") -> Path:
    """A two-centre scenario file; ``keys`` adds its ``keyring``/``keys`` lines."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(keys=keys), encoding="utf-8")
    return path


def one_error_line(err: str) -> str:
    """The only line of ``err`` (no traceback, no panel)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its content."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


# -- 1. a run directory that holds files is not replaced without --force ---------------------


def test_simulate_refuses_an_out_directory_that_holds_files(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """An empty directory (`mktemp -d`) is fine; a second `nrrc simulate --out DIR` names the
    directory and --force, and leaves the first run's files exactly as they were."""
    out = tmp_path / "run"
    out.mkdir()
    assert call(nrrc, "simulate", tiny(tmp_path), "--out", out).code == 0
    before = snapshot(out)
    result = call(nrrc, "simulate", tiny(tmp_path), "--out", out, "--seed", "9")
    assert result.code == 2, result
    line = one_error_line(result.err)
    assert line.startswith(f"nrrc: error: --out: {out} already exists and holds files ("), line
    assert "pass --force to replace them, or choose another directory" in line
    assert snapshot(out) == before


def test_simulate_force_replaces_the_earlier_run_only(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """With --force the earlier outputs are replaced (no stale log of a centre the new run
    does not have) and files nrrc did not write are left alone."""
    out = tmp_path / "run"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "XX.log.jsonl").write_text("stale\n")
    (out / "notes.txt").write_text("mine\n")
    result = call(nrrc, "simulate", tiny(tmp_path), "--out", out, "--force")
    assert result.code == 0, result
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["RU.log.jsonl", "US.log.jsonl"]
    assert (out / "notes.txt").read_text() == "mine\n"


def test_simulate_default_directory_is_replaced_each_run(
    nrrc: Run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --out the run goes to sim-out, the command's own scratch directory, which a
    second run replaces (as `make demo` replaces demo-run): no log of the earlier scenario's
    centres is left to be audited with the new ones."""
    monkeypatch.chdir(tmp_path)
    assert call(nrrc, "simulate", "india-pakistan").code == 0
    result = call(nrrc, "simulate", tiny(tmp_path))
    assert result.code == 0, result
    logs = sorted(p.name for p in (tmp_path / "sim-out" / "logs").iterdir())
    assert logs == ["RU.log.jsonl", "US.log.jsonl"]


def test_offline_demo_refuses_an_out_directory_that_holds_files(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """`nrrc demo --offline -o DIR` does not rewrite an earlier walk-through or anything else
    in DIR without --force; with --force it does."""
    out = tmp_path / "w"
    out.mkdir()
    (out / "keyring.json").write_text("my keyring\n")
    result = call(nrrc, "demo", "--offline", "-o", out)
    assert result.code == 2, result
    line = one_error_line(result.err)
    assert line.startswith(f"nrrc: error: --out: {out} already exists and holds files"), line
    assert "--force" in line
    assert (out / "keyring.json").read_text() == "my keyring\n"
    assert call(nrrc, "demo", "--offline", "-o", out, "--force").code == 0
    assert (out / "keyring.json").read_text() != "my keyring\n"


def test_live_demo_refuses_an_out_directory_before_starting(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """The live demo refuses too, before it starts a broker or clears the run directory."""
    out = tmp_path / "run"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "US.log.jsonl").write_text("an earlier run\n")
    result = call(nrrc, "demo", "--no-live", "--out", out)
    assert result.code == 2, result
    assert "--out:" in one_error_line(result.err)
    assert (out / "logs" / "US.log.jsonl").read_text() == "an earlier run\n"


def test_brokers_generate_does_not_regenerate_secrets_in_use(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """A second `nrrc brokers generate` into the same directory would replace the CA and the
    passwords of a set-up in use: refused without --force, which then regenerates them."""
    out = tmp_path / "brokers"
    assert call(nrrc, "brokers", "generate", "p5", out).code == 0
    before = snapshot(out)
    result = call(nrrc, "brokers", "generate", "p5", out)
    assert result.code == 2, result
    line = one_error_line(result.err)
    assert line.startswith(f"nrrc: error: DIR: {out} already exists and holds files"), line
    assert "pass --force" in line
    assert snapshot(out) == before
    assert call(nrrc, "brokers", "generate", "p5", out, "--force").code == 0
    assert (out / "secrets" / "US.password").read_bytes() != before["secrets/US.password"]


# -- 2. keys generate checks every argument before writing a key -----------------------------


def test_keys_generate_refuses_a_repeated_centre_before_writing(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """`nrrc keys generate YY YY` writes no key: an orphan private key (no keyring entry)
    would be left otherwise."""
    out = tmp_path / "keys"
    result = call(nrrc, "keys", "generate", "YY", "YY", "--dir", out)
    assert result.code == 2, result
    line = one_error_line(result.err)
    assert line == "nrrc: error: centre id: expected each centre once, found YY twice"
    assert not out.exists() or not any(out.iterdir())


def test_keys_generate_refuses_a_centre_with_a_newline(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """``US\\n`` is no centre id (``$`` alone matched before the newline): nothing written,
    not even the good ones."""
    out = tmp_path / "keys"
    result = call(nrrc, "keys", "generate", "RU", "US\n", "--dir", out)
    assert result.code == 2, result
    assert one_error_line(result.err).startswith("nrrc: error: centre id: expected")
    assert not out.exists() or not any(out.iterdir())


def test_keys_generate_leaves_no_orphan_when_the_keyring_cannot_be_written(
    nrrc: Run,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A keyring path that is a directory is refused before any key is written."""
    out = tmp_path / "keys"
    (out / "keyring.json").mkdir(parents=True)
    result = call(nrrc, "keys", "generate", "US", "RU", "--dir", out)
    assert result.code == 2, result
    assert "expected a keyring file, found a directory" in one_error_line(result.err)
    assert sorted(p.name for p in out.iterdir()) == ["keyring.json"]


# -- 3. brokers generate: nothing that breaks or injects into mosquitto.conf -----------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "70000"], "--port: expected a port number from 1 to 65535, found 70000"),
        (["--port", "0"], "--port: expected a port number from 1 to 65535, found 0"),
        (["--tls-port", "-1"], "--tls-port: expected a port number from 1 to 65535, found -1"),
        (["--federated-base-port", "65530"], "--federated-base-port: expected a first port"),
        (["--run-as", "nrrc\nlistener 1883 0.0.0.0"], "--run-as: expected a user name"),
        (["--run-as", "root user"], "--run-as: expected a user name"),
        (["--run-as", "a" * 33], "--run-as: expected a user name"),
        (["--bind", "127.0.0.1\nallow_anonymous true"], "--bind: expected printable"),
        (["--config-root", "/nrrc\nallow_anonymous true"], "--config-root: expected printable"),
        (["--data-root", "/data\x1b"], "--data-root: expected printable"),
        (["--federated-host", "broker-{id}\nx"], "--federated-host: expected printable"),
        (["--max-queued", "-5"], "--max-queued: expected a whole number >= 0, found -5"),
        (["--outsider", "zz"], "--outsider: expected capital letters and digits"),
    ],
    ids=[
        "port-too-big",
        "port-zero",
        "tls-port-negative",
        "federation-past-65535",
        "run-as-newline",
        "run-as-space",
        "run-as-too-long",
        "bind-newline",
        "config-root-newline",
        "data-root-escape",
        "federated-host-newline",
        "max-queued-negative",
        "outsider-lowercase",
    ],
)
def test_brokers_generate_refuses_values_that_break_the_config(
    nrrc: Run,  # noqa: F811
    tmp_path: Path,
    args: list[str],
    expected: str,
) -> None:
    """One line naming the option, exit 2, and no file written."""
    out = tmp_path / "brokers"
    result = call(nrrc, "brokers", "generate", "p5", out, *args)
    assert result.code == 2, result
    line = one_error_line(result.err)
    assert line.startswith(f"nrrc: error: {expected}"), line
    assert not out.exists()


def test_write_mosquitto_configs_checks_before_writing(tmp_path: Path) -> None:
    """The library refuses the same values, naming its parameter, before writing a file; a
    plain user name is written as Mosquitto's `user` option."""
    from datetime import UTC, datetime

    membership = Membership({"US": frozenset(), "RU": frozenset()})
    with pytest.raises(BrokerConfigError, match=r"^run_as: expected a user name") as info:
        write_mosquitto_configs(
            tmp_path / "b", membership, now=datetime.now(UTC), run_as="x\nuser root"
        )
    assert info.value.parameter == "run_as"
    assert not (tmp_path / "b").exists()
    layout = write_mosquitto_configs(
        tmp_path / "b", membership, now=datetime.now(UTC), run_as="mosquitto", secrets=False
    )
    assert "\nuser mosquitto\n" in layout.single_conf.read_text()


# -- 4. click's usage errors are one line -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["audit", "--jobs", "x", "logs"], "audit", "Invalid value for '--jobs' / '-j': "),
        (["audit", "--bogus"], "audit", "No such option: --bogus"),
        (["keys", "generate"], "keys generate", "Missing argument 'CENTRE'."),
        (["simulate", "p5", "--runs", "0"], "simulate", "Invalid value for '--runs' / '-n': "),
    ],
    ids=["bad-value", "unknown-option", "missing-argument", "out-of-range"],
)
def test_usage_errors_are_one_line(nrrc: Run, args: list[str], command: str, message: str) -> None:  # noqa: F811
    """A usage error: one line naming the command and the problem, then how to get help; no
    panel drawn over several lines; exit code 2."""
    result = call(nrrc, *args)
    assert result.code == 2, result
    assert result.err.splitlines() == [
        result.err.splitlines()[0],
        f"Try 'nrrc {command} --help'.",
    ], result.err
    assert result.err.startswith(f"nrrc {command}: error: {message}"), result.err
    assert "─" not in result.err and "╭" not in result.err
    assert result.out == ""


def test_a_bad_value_error_shows_what_was_found(nrrc: Run) -> None:  # noqa: F811
    """The refused value is named, as for every other bad input."""
    result = call(nrrc, "audit", "--jobs", "x", "logs")
    assert result.err.splitlines()[0].endswith("(found 'x')."), result.err
    assert result.err.splitlines()[1] == "Try 'nrrc audit --help'."


# -- 5. a private key others may read is loaded with a warning ------------------------------


def _key(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "US.key"
    write_private_key(generate_key("US"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # as nrrc writes them
    path.chmod(mode)
    return path


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_private_key_others_can_read_loads_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The keys nrrc writes (0600) load without a word; mode 0644 (another tool under a default
    umask): loaded, with one warning line naming the file, its mode and the fix."""
    path = _key(tmp_path, 0o600)
    load_private_key(path)
    assert capsys.readouterr().err == ""
    path.chmod(0o644)
    signer = load_private_key(path)
    assert signer.centre == "US"
    err = capsys.readouterr().err
    assert err == (
        f"nrrc: warning: {path}: private key is accessible to group/others (mode 0644); "
        f"chmod 600 {path}\n"
    )


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_simulate_with_readable_scenario_keys_warns_and_runs(nrrc: Run, tmp_path: Path) -> None:  # noqa: F811
    """A scenario's own keys, one of them 0644: the run goes ahead, stderr says which file
    and how to fix it, on one line."""
    keys = tmp_path / "keys"
    assert call(nrrc, "keys", "generate", "US", "RU", "--dir", keys).code == 0
    (keys / "RU.key").chmod(0o644)
    scenario = tiny(tmp_path, keys='keyring = "keys/keyring.json"\nkeys = "keys"')
    result = call(nrrc, "simulate", scenario, "--out", tmp_path / "run")
    assert result.code == 0, result
    line = one_error_line(result.err)
    assert line.startswith(f"nrrc: warning: {keys / 'RU.key'}: private key is accessible"), line
    assert line.endswith(f"(mode 0644); chmod 600 {keys / 'RU.key'}"), line
