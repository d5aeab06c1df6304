"""``nrrc demo``: the live exchange over MQTT, or (``--offline``) the one-exchange walk-through."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, check_out_dir, console, fail
from nrrc.envelope import Verifier
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.verify import verify_log
from nrrc.walkthrough import run_walkthrough


@app.command("demo")
def demo(
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="Built-in scenario id or scenario file.")
    ] = "p5",
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            "-b",
            help="embedded (amqtt in this process, the default), mosquitto (a local Mosquitto "
            "the demo starts), or mqtt://host:port / mqtts://host:port.",
        ),
    ] = "embedded",
    secrets: Annotated[
        Path | None,
        typer.Option(
            help="With a broker URL: the secrets/ directory of `nrrc brokers generate` "
            "(<ID>.password; for mqtts:// certs/ca.crt and certs/<ID>.crt + .key)."
        ),
    ] = None,
    days: Annotated[float, typer.Option(help="Simulated days to run.")] = 60.0,
    seconds: Annotated[float, typer.Option(help="Real seconds they take.")] = 60.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Run directory (default: demo-run, or demo-out offline, replaced by each "
            "run); one that already holds files is refused without --force.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the run in --out even when it already holds files."),
    ] = False,
    late_prone: Annotated[
        str | None,
        typer.Option(metavar="CENTRE", help="Make this centre late with a third of its notices."),
    ] = None,
    kill: Annotated[
        str | None, typer.Option(help="SIGKILL this centre's node mid-run, then restart it.")
    ] = None,
    restart_broker: Annotated[
        bool, typer.Option("--restart-broker", help="Stop and restart the broker mid-run.")
    ] = False,
    forge: Annotated[
        str | None,
        typer.Option(help="Inject forged, tampered, replayed and misaddressed envelopes here."),
    ] = None,
    faults: Annotated[
        bool,
        typer.Option("--faults", help="All of the above, on the busiest centres (a quick tour)."),
    ] = False,
    scenario_faults: Annotated[
        bool,
        typer.Option(
            "--scenario-faults/--no-scenario-faults",
            help="Apply the scenario's \\[\\[injections]] and \\[\\[restarts]] at their scaled "
            "instants, and its link \\[\\[faults]] in each node (simulated on top of the broker).",
        ),
    ] = True,
    live: Annotated[
        bool | None,
        typer.Option("--live/--no-live", help="Draw the live view (default: on a terminal)."),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="No broker: walk through one signed exchange, step by step."
        ),
    ] = False,
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """Watch centres exchange signed notices live over MQTT, then audit their logs.

    One process per centre (the p5 scenario by default), scaled time (60 simulated days in
    about a minute), a live view of traffic, acknowledgements and warnings, then the audit
    and an HTML report. Exit code: 0 no violations, 1 violations found, 2 the demo failed.
    """
    if out is not None:
        # The default directories are the demo's own scratch space, replaced by each run (so
        # that `make demo` works twice in a row); one the user names is refused when it holds
        # files, unless --force.
        check_out_dir(out, "--out", force=force)
    if offline:
        walkthrough(out or Path("demo-out"))
        return
    from nrrc.demo import DemoOptions, run_demo
    from nrrc.errors import NrrcError
    from nrrc.scenario import load_scenario

    cat = catalogue(agreements)
    scen = load_scenario(scenario, cat)
    if faults:
        from nrrc.demo import busiest_centres

        ids = busiest_centres(scen, days)
        late_prone = late_prone or ids[0]
        kill = kill or ids[1 % len(ids)]
        forge = forge or ids[2 % len(ids)]
        restart_broker = restart_broker or not broker.startswith("mqtt")
    options = DemoOptions(
        scenario_arg=scenario,
        out=out or Path("demo-run"),
        broker=broker,
        secrets=secrets,
        days=days,
        seconds=seconds,
        late_prone=late_prone,
        kill=kill,
        restart_broker=restart_broker,
        forge=forge,
        live=console.is_terminal if live is None else live,
        scenario_faults=scenario_faults,
    )
    try:
        result = asyncio.run(run_demo(options, scen, cat, console))
    except NrrcError as exc:
        fail(str(exc))
    from nrrc.audit.report_text import renderables

    if not console.is_terminal:
        console.width = max(console.width, 120)  # tables stay readable in logs and pipes
    console.print("")
    for part in renderables(result.audit):
        console.print(part)
    console.print(f"HTML report: {result.report_html}", markup=False, soft_wrap=True)
    select = ",".join([*scen.agreements_in_force(), "integrity", "reconciliation"])
    console.print(
        f"Run directory: {result.out} (logs/, observed.jsonl, keyring.json). Audit it again: "
        f"nrrc audit --keyring {result.keyring} --observed {result.observed} --select {select} "
        f"{result.out / 'logs'}",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(1 if result.audit.violations else 0)


def walkthrough(out: Path) -> None:
    """Walk through one exchange: keys, a signed launch notice, its acknowledgement, both logs,
    their verification, and a tampered copy being caught (``nrrc demo --offline``)."""
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
