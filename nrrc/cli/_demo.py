"""``nrrc demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nrrc.cli._app import app, catalogue, console
from nrrc.envelope import Verifier
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.verify import verify_log
from nrrc.walkthrough import run_walkthrough


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for keys and logs.")] = Path(
        "demo-out"
    ),
) -> None:
    """Walk through one exchange: keys, a signed launch notice, its acknowledgement, both logs,
    their verification, and a tampered copy being caught."""
    cat = catalogue(None)
    w = run_walkthrough(cat, out)
    st = w.notice.statement
    say = console.print
    say(
        "[bold]1. Keys[/bold]  Ed25519 keys for the centres RU and US; private keys are mode "
        f"0600, the public halves are in {w.keyring}."
    )
    say(
        f"[bold]2. Notice[/bold]  RU notifies US of an ICBM launch planned for "
        f"{st.payload.planned_launch_date}: message {st.id}, "  # type: ignore[attr-defined]
        f"{len(w.notice.envelope)} bytes, signed with key {w.notice.key_id}."
    )
    say(
        f"[bold]3. Acknowledgement[/bold]  US acknowledges it (in_reply_to {st.id}, digest "
        f"{w.notice.digest[:16]}…)."
    )
    say(
        f"[bold]4. Logs[/bold]  each centre logs what it sent and received, hash-chained, closed "
        f"by a signed checkpoint: {', '.join(str(p) for p in w.logs.values())}."
    )
    verifier = Verifier(Keyring.load(w.keyring), MessageTypes(cat))
    for path in w.logs.values():
        r = verify_log(path, verifier)
        status = "[green]ok[/green]" if r.ok else "[red]FAIL[/red]"
        say(
            f"[bold]5. Verify[/bold]  {status} {path}: {r.records} records, {r.verified} "
            "signatures verified, chain intact, checkpoint valid."
        )
    r = verify_log(w.tampered, verifier)
    say(f"[bold]6. Tampering[/bold]  {w.tampered} claims the notice arrived a day early:")
    for p in r.problems:
        say(f"   [red]caught[/red] {p}", markup=True, soft_wrap=True)
    say("")
    say(f"Try: nrrc verify --keyring {w.keyring} {' '.join(str(p) for p in w.logs.values())}")
    say("     nrrc rules show BML001")
