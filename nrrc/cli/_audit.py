"""``nrrc audit``: check message logs against the agreements' timing rules."""

from __future__ import annotations

import importlib
import inspect
import sys
import tempfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nrrc.audit.codes import check_for
from nrrc.audit.collector import Selection
from nrrc.audit.engine import AuditOptions, audit
from nrrc.audit.findings import AuditResult
from nrrc.audit.sources import default_keyring, find_inputs
from nrrc.catalogue import Catalogue
from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, console, err_console, fail
from nrrc.errors import NrrcError
from nrrc.keys import Keyring
from nrrc.timeutil import format_instant, parse_duration, parse_instant


class Format(StrEnum):
    """Report formats."""

    text = "text"
    json = "json"
    junit = "junit"
    sarif = "sarif"
    html = "html"


_MODULES = {
    Format.text: "nrrc.audit.report_text",
    Format.json: "nrrc.audit.report_json",
    Format.junit: "nrrc.audit.report_junit",
    Format.sarif: "nrrc.audit.report_sarif",
    Format.html: "nrrc.audit.report_html",
}


def show_check(code: str) -> bool:
    """Print an integrity or reconciliation check like ``nrrc rules show`` prints a rule;
    False when ``code`` is not one."""
    check = check_for(code)
    if check is None:
        return False
    out = console.print
    out(f"[bold]{check.code}[/bold] {check.name}")
    out(f"[bold]{check.title}[/bold]")
    out(f"Group: {check.group} (the audit's own check, not a treaty rule)")
    out("")
    out("[bold underline]What it checks[/bold underline]")
    out(check.description, markup=False)
    out(f"Breaking it is a {check.outcome.value}.")
    out("")
    out("[bold underline]Why[/bold underline]")
    out(check.rationale, markup=False)
    out("")
    out("[bold underline]Example[/bold underline]")
    out(check.example, markup=False)
    out("")
    out("[bold underline]Source[/bold underline]")
    out(check.reference, markup=False)
    return True


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def _render(fmt: Format, result: AuditResult, cat: Catalogue) -> str:
    """Import the reporter only when it is used, and call its ``render``."""
    try:
        module = importlib.import_module(_MODULES[fmt])
    except ImportError as exc:
        fail(f"--format {fmt.value}: this reporter is not available ({exc})")
    render = module.render
    if "catalogue" in inspect.signature(render).parameters:
        return str(render(result, catalogue=cat))
    return str(render(result))


def _stdin_log() -> Path:
    data = sys.stdin.buffer.read()
    with tempfile.NamedTemporaryFile(prefix="nrrc-stdin-", suffix=".jsonl", delete=False) as fh:
        fh.write(data)
    return Path(fh.name)


@app.command("audit")
def audit_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Message logs, directories of logs (searched recursively; observed-activity "
            "logs found there are used too), or - for one log on standard input.",
            show_default=False,
        ),
    ],
    observed: Annotated[
        list[Path] | None,
        typer.Option("--observed", help="Observed-activity log (what actually happened)."),
    ] = None,
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            help="Report only these: codes (BML001), rule names, agreement ids (cfe), "
            "integrity, reconciliation, or prefixes (INT). Comma-separated or repeated.",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Do not report these (same forms as --select)."),
    ] = None,
    keyring: Annotated[
        Path | None,
        typer.Option(
            "--keyring",
            "-k",
            help="Keyring trusted for signatures (default: keyring.json next to the logs, "
            "else keys/keyring.json).",
            show_default=False,
        ),
    ] = None,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify",
            help="Skip Ed25519 signature checks (for logs verified before); the chain, key "
            "ownership, payloads and every rule are still checked.",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", help="Processes for signature checks (0: every core).", min=0),
    ] = 0,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="End of the audited period (RFC 3339, e.g. 2026-12-31T23:59:59Z); later "
            "records are not audited (default: the last record or checkpoint).",
            show_default=False,
        ),
    ] = None,
    skew: Annotated[
        str, typer.Option("--skew", help="Clock-skew tolerance between centres.")
    ] = "5min",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
) -> None:
    """Audit message logs: every breach of the timing rules, with its evidence.

    Each finding gives the measured value against the bound, the article it comes from and how
    firmly that source is verified, and the log lines that prove it.

    Integrity comes first (signatures, keyring ownership, hash chains, checkpoints), then the
    reconciliation of the centres' logs with each other, then the rules. Show any code with
    `nrrc rules show CODE`. Exit code: 0 no violations, 1 violations found, 2 could not audit.
    """
    until_at: datetime | None = None
    if until is not None:
        try:
            until_at = parse_instant(until)
        except ValueError as exc:
            fail(f"--until: {exc}")
    try:
        skew_d = parse_duration(skew)
    except ValueError as exc:
        fail(f"--skew: {exc}")
    names: dict[Path, str] = {}
    paths: list[Path] = []
    stdin_path: Path | None = None
    try:
        for item in inputs:
            if item == "-":
                if stdin_path is None:
                    stdin_path = _stdin_log()
                    names[stdin_path] = "<stdin>"
                    paths.append(stdin_path)
            elif not Path(item).exists():
                fail(f"{item}: no such file or directory")
            else:
                paths.append(Path(item))
        cat = catalogue(agreements)
        selection = Selection(_split(select), _split(ignore))
        unknown = selection.unknown(cat)
        if unknown:
            fail(
                f"--select/--ignore: {', '.join(repr(u) for u in unknown)} matches no rule, "
                "check or agreement; see `nrrc rules list`"
            )
        # Say "no logs here" before "no keyring": the first problem a newcomer must fix.
        find_inputs(paths, names)
        ring_path = keyring or default_keyring([p for p in paths if p != stdin_path])
        if keyring is None and not ring_path.is_file():
            fail(
                f"no keyring: none next to the logs and no {ring_path}; pass --keyring FILE "
                "(the keyring is the only source of trust)"
            )
        ring = Keyring.load(ring_path)
        options = AuditOptions(
            observed=tuple(observed or ()),
            selection=selection,
            verify_signatures=not no_verify,
            jobs=jobs or None,
            until=until_at,
            skew=skew_d.delta,
            measurements=fmt is Format.html,
            names=names,
        )
        result = audit(paths, cat, ring, options)
        if until_at is not None and result.period_start and until_at < result.period_start:
            fail(
                f"--until: expected an instant after the logs begin "
                f"({format_instant(result.period_start)}), found {until}"
            )
    except NrrcError as exc:
        fail(str(exc))
    finally:
        if stdin_path is not None:
            stdin_path.unlink(missing_ok=True)
    code = 1 if result.violations else 0
    if output is None and fmt is Format.text and console.is_terminal:
        from nrrc.audit.report_text import renderables

        for part in renderables(result):
            console.print(part)
        raise typer.Exit(code)
    text = _render(fmt, result, cat)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        raise typer.Exit(code)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--output {output}: cannot write: {exc.strerror or exc}")
    n = len(result.findings)
    err_console.print(
        f"wrote {fmt.value} report to {output}: {n} finding{'s' if n != 1 else ''}, "
        f"{result.violations} violation{'s' if result.violations != 1 else ''}",
        markup=False,
    )
    raise typer.Exit(code)
