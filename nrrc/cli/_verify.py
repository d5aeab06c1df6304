"""``nrrc verify``: signatures, chain and checkpoint of message logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, console, err_console
from nrrc.envelope import Verifier
from nrrc.errors import LogError
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.verify import LogReport, verify_log


@app.command("verify")
def verify(
    logs: Annotated[list[Path], typer.Argument(help="Message log files (JSON Lines).")],
    keyring: Annotated[
        Path, typer.Option("--keyring", "-k", help="Keyring trusted for signatures.")
    ] = Path("keys/keyring.json"),
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open",
            help="Accept a log that has no closing checkpoint (still being written).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every signature, the hash chain and the signed checkpoint of each log.

    Deletion, insertion, reordering, editing and truncation are each detected and named.
    Exit code: 0 clean, 1 problems found, 2 a log could not be read.
    """
    ring = Keyring.load(keyring)
    verifier = Verifier(ring, MessageTypes(catalogue(agreements)))
    reports: list[LogReport] = []
    unreadable = False
    for path in logs:
        try:
            reports.append(verify_log(path, verifier, require_closed=not allow_open))
        except LogError as exc:
            err_console.print(f"nrrc: error: {exc}", markup=False, soft_wrap=True)
            unreadable = True
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "file": r.file,
                        "owner": r.owner,
                        "records": r.records,
                        "verified": r.verified,
                        "checkpoints": r.checkpoints,
                        "closed": r.closed,
                        "problems": [
                            {"line": p.line, "code": p.code, "message": p.message}
                            for p in r.problems
                        ],
                    }
                    for r in reports
                ]
            )
        )
    else:
        for r in reports:
            if r.ok:
                console.print(
                    f"[green]ok[/green] {r.file}: {r.records} records, "
                    f"{r.verified} envelopes verified, chain intact, "
                    f"{'closed by a signed checkpoint' if r.closed else 'open'}"
                )
            else:
                console.print(f"[red]FAIL[/red] {r.file}: {len(r.problems)} problem(s)")
                for p in r.problems:
                    console.print(f"  {p}", markup=False, soft_wrap=True)
    if unreadable:
        raise typer.Exit(2)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)
