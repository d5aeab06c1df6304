"""``nrrc simulate`` and ``nrrc scenarios list|show``."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nrrc.catalogue import Catalogue
from nrrc.centre import PlannedMessage
from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, check_out_dir, console, err_console
from nrrc.errors import ScenarioError
from nrrc.scenario import Scenario, builtin_scenarios, load_scenario
from nrrc.simulate import METRICS, RunMetrics, Study, run_many, run_scenario, study_svg
from nrrc.timeutil import format_delta, format_instant

scenarios_app = typer.Typer(
    help="List the built-in scenarios, or show one: centres, agreements, activities, faults.",
    no_args_is_help=True,
)
app.add_typer(scenarios_app, name="scenarios")


def _load(ref: str, extra: list[Path] | None) -> tuple[Scenario, Catalogue]:
    cat = catalogue(extra)
    try:
        return load_scenario(ref, cat), cat
    except ScenarioError as exc:
        for line in exc.lines():
            err_console.print(f"nrrc: error: {line}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command("simulate")
def simulate(
    scenario: Annotated[
        str, typer.Argument(help="Built-in scenario id (see `nrrc scenarios list`) or a file.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output directory (default: sim-out, replaced by each run); one that already "
            "holds files is refused without --force.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the outputs in --out even when it already holds files."
        ),
    ] = False,
    runs: Annotated[
        int, typer.Option("--runs", "-n", min=1, help="Monte Carlo: number of runs (seeds).")
    ] = 1,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Worker processes (0: all cores).")
    ] = 0,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed (first seed with --runs); default: the scenario's."),
    ] = None,
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """Run a scenario over the in-memory network in virtual time.

    One run writes each centre's message log, the observed-activity log (what happened and
    which faults were injected, with the findings they should cause), the keyring and a summary
    into --out; the same seed gives byte-identical files. With --runs N it runs N seeds in
    parallel and reports distributions as a table, study.json and study.svg.
    """
    if out is not None:
        check_out_dir(out, "--out", force=force)
    # sim-out, the default, is the command's own scratch directory: replaced by each run.
    out = out or Path("sim-out")
    loaded, cat = _load(scenario, agreements)
    first = loaded.seed if seed is None else seed
    _clear_outputs(out)
    if runs == 1:
        _single(loaded, cat, first, out)
    else:
        _study(scenario, loaded, cat, first, runs, jobs or os.cpu_count() or 1, out, agreements)


OUTPUTS = ("logs", "observed.jsonl", "keyring.json", "summary.json", "study.json", "study.svg")
"""What `nrrc simulate` writes into --out; an earlier run's are removed first, so that no log
of a centre the new scenario does not have is left to be audited with the new ones. Nothing
else in the directory is touched."""


def _clear_outputs(out: Path) -> None:
    for name in OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _single(loaded: Scenario, cat: Catalogue, seed: int, out: Path) -> None:
    result = run_scenario(loaded, cat, seed=seed, out=out)
    s = result.summary
    m = s["messages"]
    say = console.print
    say(
        f"[bold]{loaded.title}[/bold]\n{len(loaded.centres)} centres, "
        f"{format_instant(loaded.start)} to {format_instant(loaded.end)}, seed {seed}"
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("messages")
    table.add_column("", justify="right")
    table.add_row("signed and sent", str(m["sent"]))
    for kind, n in m["by_kind"].items():
        table.add_row(f"  {kind}", str(n))
    table.add_row("received (verified, accepted)", str(m["received"]))
    table.add_row("rejected", str(sum(m["rejected"].values())))
    table.add_row("retransmissions", str(m["retransmissions"]))
    table.add_row("given up as undelivered", str(m["undelivered"]))
    say(table)
    acts = ", ".join(f"{n} {a}" for a, n in s["activities"].items()) or "none"
    say(f"Activities: {acts}.")
    if s["faults"]:
        faults = ", ".join(f"{n} {f}" for f, n in s["faults"].items())
        expected = ", ".join(f"{c} x{n}" for c, n in s["expected_findings"].items()) or "none"
        say(f"[yellow]Faults[/yellow]: {faults}. The audit should report: {expected}.")
    else:
        say("[green]No fault caused or injected[/green]: the audit should find no violation.")
    say(
        f"Wrote {out}/logs/ ({len(loaded.centres)} logs), observed.jsonl, keyring.json, "
        "summary.json"
    )
    say(f"Audit it: cd {shlex.quote(str(out))} && {s['audit']}")


def _study(
    ref: str,
    loaded: Scenario,
    cat: Catalogue,
    first: int,
    runs: int,
    jobs: int,
    out: Path,
    agreements: list[Path] | None,
) -> None:
    seeds = range(first, first + runs)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{loaded.id}: {runs} runs on {jobs} cores", total=runs)

        def advance(_: RunMetrics) -> None:
            bar.advance(task)

        study = run_many(
            ref,
            seeds,
            extra_agreements=agreements or (),
            jobs=min(jobs, runs),
            progress=advance,
            catalogue=cat,
            scenario=loaded,
        )
    out.mkdir(parents=True, exist_ok=True)
    data = study.as_json()
    (out / "study.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    command = f"nrrc simulate {ref} --runs {runs} --seed {first}"
    (out / "study.svg").write_text(study_svg(study, command=command), encoding="utf-8")
    _print_study(study)
    console.print(f"Wrote {out / 'study.json'} and {out / 'study.svg'}")


def _fmt(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        for size, word in ((86400, "d"), (3600, "h"), (60, "min")):
            if value >= size:
                return f"{value / size:.1f} {word}"
        return f"{value:.0f} s"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _print_study(study: Study) -> None:
    launches = sum(m.launches for m in study.runs)
    console.print(f"[bold]{study.title}[/bold]\n{len(study.runs)} runs, {launches} launches in all")
    table = Table(header_style="bold")
    table.add_column("per run")
    for name in ("mean", "p5", "median", "p95", "max"):
        table.add_column(name, justify="right")
    for key, label, unit in METRICS:
        d = study.distribution(key)
        if not d:
            continue
        table.add_row(label, *(_fmt(d[n], unit) for n in ("mean", "p5", "median", "p95", "max")))
    console.print(table)


@scenarios_app.command("list")
def scenarios_list(
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """The built-in scenarios."""
    cat = catalogue(agreements)
    for sid in builtin_scenarios():
        s = load_scenario(sid, cat)
        bound = ", ".join(
            b.agreement + ("" if b in _active(s) else " (suspended)") for b in s.bindings
        )
        period = f"from {s.start.date()} for {format_delta(s.duration.total_seconds())}"
        console.print(f"[bold]{sid}[/bold]  {s.title}", soft_wrap=False)
        console.print(f"    {len(s.centres)} centres; {bound}; {period}", markup=False)
    console.print("Show one: nrrc scenarios show p5    Run it: nrrc simulate p5 --out sim-p5")


def _active(s: Scenario) -> list[object]:
    return [b for b in s.bindings if b.agreement in s.agreements_in_force()]


@scenarios_app.command("show")
def scenarios_show(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario id or a scenario file.")],
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """One scenario: centres, agreements and who they bind, activities, faults."""
    s, cat = _load(scenario, agreements)
    say = console.print
    say(f"[bold]{s.id}[/bold]: {s.title}")
    say(" ".join(s.description.split()), markup=False)
    say(
        f"\nPeriod {format_instant(s.start)} to {format_instant(s.end)}; seed {s.seed}; "
        f"file {s.path}"
    )
    profiles: dict[str, list[str]] = {}
    for c in s.centres:
        profiles.setdefault(c.profile, []).append(c.id)
    say(f"\n[bold]Centres[/bold] ({len(s.centres)})")
    for profile, ids in profiles.items():
        shown = ", ".join(ids[:24]) + (f" … (+{len(ids) - 24})" if len(ids) > 24 else "")
        say(f"  {profile}: {shown}")
    say("\n[bold]Agreements[/bold]")
    for b in s.bindings:
        a = cat.agreements[b.agreement]
        how = "regime" + (f" via central contact {b.central_contact}" if b.central_contact else "")
        mode = how if b.multilateral else "bilateral links"
        parties = ", ".join(b.parties[:12]) + (" …" if len(b.parties) > 12 else "")
        state = f"; suspended from {format_instant(b.suspended_from)}" if b.suspended_from else ""
        say(
            f"  {b.agreement} ({a.short_title}): {len(b.parties)} parties [{parties}], "
            f"{mode}{state}"
        )
        for rule in cat.active_rules():
            if rule.agreement == b.agreement:
                say(f"    {rule.code} {rule.title} [{rule.verified.value}]", markup=False)
    if s.activities or s.generators or s.messages:
        say("\n[bold]Activities and messages[/bold]")
    for item in s.activities:
        say(f"  {item.party} {item.item.id} at {format_instant(item.item.at)}", markup=False)
    for g in s.generators:
        say(
            f"  each year {g.per_year} x {g.activity} per party ({', '.join(g.parties)}), "
            f"window {format_delta(g.window.total_seconds())}, attributes {dict(g.attributes)}",
            markup=False,
        )
    for item in s.messages:
        msg = item.item
        if isinstance(msg, PlannedMessage):
            say(f"  {item.party} -> {msg.to}: {msg.kind} at {format_instant(msg.at)}", markup=False)
    behaviours = [c for c in s.centres if c.profile != "diligent" or c.clock_skew]
    if s.faults or s.injections or s.restarts or behaviours:
        say("\n[bold]Faults[/bold]")
    for c in behaviours:
        hb = c.behaviour
        bits = [c.profile]
        if hb.late_probability:
            bits.append(f"late with probability {hb.late_probability:g}, by {hb.late_delay}")
        if hb.silent_kinds:
            bits.append(f"silent on {', '.join(sorted(hb.silent_kinds))}")
        if c.clock_skew:
            bits.append(f"clock off by {c.clock_skew.total_seconds():+g} s")
        say(f"  {c.id}: {'; '.join(bits)}", markup=False)
    for f in s.faults:
        bits = []
        if f.loss:
            bits.append(f"loss {f.loss:.1%}")
        if f.delay:
            bits.append(f"delay {f.delay}")
        if f.outages:
            bits.append(f"{len(f.outages)} outage(s)")
        arrow = "<->" if f.both_ways else "->"
        say(f"  link {f.source} {arrow} {f.target}: {', '.join(bits)}", markup=False)
    for inj in s.injections:
        when = f"{inj.count} at random times" if not inj.at else f"{len(inj.at)} at given times"
        say(f"  {inj.by} injects {inj.attack} envelopes towards {inj.target}: {when}", markup=False)
    for r in s.restarts:
        say(
            f"  {r.centre} restarts at {format_instant(r.at)}, "
            f"down {format_delta(r.down.total_seconds())}",
            markup=False,
        )
