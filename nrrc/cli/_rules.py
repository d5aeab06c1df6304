"""``nrrc rules list|show`` and ``nrrc schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nrrc.catalogue import WEEKDAYS, Catalogue, Rule, RuleType
from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, console, fail, rules_app
from nrrc.schemas import FILE_SCHEMAS, export_schemas, file_schema, kind_schema

AgreementsOpt = Annotated[list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)]


@rules_app.command("list")
def rules_list(
    agreements: AgreementsOpt = None,
    agreement: Annotated[
        str | None, typer.Option("--agreement", "-a", help="Only this agreement (id, e.g. cfe).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every rule: code, agreement, name, bound and verification status."""
    cat = catalogue(agreements)
    rules = [r for r in cat.active_rules() if agreement is None or r.agreement == agreement]
    if agreement is not None and agreement not in cat.agreements:
        fail(
            f"--agreement: unknown agreement {agreement!r}; known: "
            f"{', '.join(sorted(cat.agreements))}"
        )
    if as_json:
        console.print_json(json.dumps([_rule_json(cat, r) for r in rules]))
        return
    table = Table(title=f"{len(rules)} rules", title_justify="left", show_lines=False)
    for col in ("code", "agreement", "rule", "bound", "status"):
        table.add_column(col, no_wrap=col in ("code", "agreement", "status"), overflow="fold")
    for r in rules:
        soft = " [yellow](warning)[/yellow]" if r.severity.value == "warning" else ""
        table.add_row(
            r.code, r.agreement, r.name + soft, r.bound_words(), f"{r.verified.value} ({r.status})"
        )
    console.print(table)


def _rule_json(cat: Catalogue, r: Rule) -> dict[str, object]:
    return {
        "code": r.code,
        "name": r.name,
        "title": r.title,
        "agreement": r.agreement,
        "agreement_title": cat.agreements[r.agreement].short_title,
        "type": r.type.value,
        "bound": str(r.bound) if r.bound else None,
        "skip_days": [WEEKDAYS[d] for d in r.skip_days],
        "summary": r.bound_words(),
        "severity": r.severity.value,
        "measured_at": r.measured_at.value,
        "verified": r.verified.value,
        "status": r.status,
        "citation": {
            "article": r.citation.article,
            "url": r.citation.url,
            "quote": r.citation.quote,
            "note": r.citation.note,
        },
        "description": r.description.strip(),
    }


def reflow(text: str) -> str:
    """Join hard-wrapped TOML text into paragraphs (blank lines kept)."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _semantics(r: Rule) -> list[str]:
    m = "received" if r.measured_at.value == "receipt" else "sent"
    lines: list[str] = []
    if r.type is RuleType.LEAD_TIME:
        lines.append(
            f"A {r.kind} must be {m} at least {r.bound.words() if r.bound else ''} "
            f"before its {r.anchor}."
        )
        lines.append(
            "A datetime anchor is used as is; a date anchor with an hour bound counts "
            "back from 00:00 UTC of that date; a date anchor with a day bound compares "
            "UTC calendar dates. Exactly at the bound is compliant; one second later "
            "is not."
        )
    elif r.type is RuleType.LAG:
        lines.append(
            f"A {r.kind} must be {m} at most {r.bound.words() if r.bound else ''} "
            f"after its {r.anchor}."
        )
    if r.skip_days:
        lines.append(
            f"Time on {r.skip_words()} (UTC days) does not count toward the bound: "
            + (
                "the notice is due by the latest instant from which the counted time up to "
                f"the {r.anchor} (00:00 UTC of it, for a date) is at least {r.bound}."
                if r.type is RuleType.LEAD_TIME
                else "the notice is due by the instant at which the counted time since the "
                f"{r.anchor} (00:00 UTC of it, for a date) reaches {r.bound}."
            )
        )
    elif r.type is RuleType.RESPONSE:
        lines.append(
            f"Each {r.trigger} must be answered by a {r.response} (in_reply_to names it) "
            f"{m} within {r.bound.words() if r.bound else ''} after the {r.trigger} was "
            "received. A missing answer is a violation once its deadline lies inside "
            "the audited period, and open if the deadline lies after the logs end."
        )
        if r.responder_field:
            lines.append(
                f"When a {r.trigger} names a party in {r.responder_field}, only that party "
                "owes the answer; the other recipients hold copies."
            )
    elif r.type is RuleType.WINDOW:
        end = r.window_end or f"{r.window_start} + {r.window_length}"
        area = (
            f" and inside its {r.area_field} when the activity has a location"
            if r.area_field
            else ""
        )
        lines.append(
            f"Each observed {r.activity} must fall inside the window {r.window_start} .. "
            f"{end} of an earlier {r.kind} from the same party, from its start to its end "
            f"when it lasts{area}. An activity with no covering notice is a violation."
        )
    elif r.type is RuleType.QUOTA:
        lines.append(
            f"Per party and calendar year: {r.bound_words()} {r.kind} notices. A notice counts "
            f"for {r.year_words()}."
        )
    elif r.type is RuleType.PERIODIC:
        lines.append(
            f"Each party must provide a {r.kind} {r.bound_words()} (UTC date of "
            f"{'receipt' if m == 'received' else 'sending'}). A notice counts for "
            f"{r.year_words()}; the first one for a year decides, and one {m} after that "
            "year's due date is late by so many calendar days."
        )
    elif r.type is RuleType.SPAN:
        lines.append(
            f"The window {r.start_field} .. {r.end_field} of a {r.kind} is at most "
            f"{r.bound.words() if r.bound else ''}."
        )
    if r.applies_if:
        lines.append(f"Applies only when: {r.applies_if}.")
    if r.sla:
        lines.append(
            "The bound is a configurable service-level parameter, not a treaty "
            "constant: the text says only 'immediately' or 'in advance'."
        )
    lines.append(f"Measured at {r.measured_at.value}. Breaking it is a {r.severity.value}.")
    return lines


@rules_app.command("show")
def rules_show(
    code: Annotated[str, typer.Argument(help="Rule code (BML001) or name (bmlna_prelaunch_24h).")],
    agreements: AgreementsOpt = None,
) -> None:
    """One rule: what it checks, why, an example, the citation and how firmly it is verified."""
    cat = catalogue(agreements)
    r = cat.rule(code)
    if r is None:
        from nrrc.cli._audit import show_check

        if show_check(code):
            return
        import difflib

        names = [*cat.rules, *(x.name for x in cat.rules.values())]
        close = difflib.get_close_matches(code, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `nrrc rules list`"
        fail(f"unknown rule {code!r}{hint}")
    a = cat.agreements[r.agreement]
    out = console.print
    out(f"[bold]{r.code}[/bold] {r.name}" + (" [red](retired)[/red]" if r.retired else ""))
    out(f"[bold]{r.title}[/bold]")
    out(f"Agreement: {a.short_title} [dim]({a.id})[/dim]")
    out("")
    out("[bold underline]What it checks[/bold underline]")
    out(reflow(r.description), markup=False)
    for line in _semantics(r):
        out(line, markup=False)
    if r.rationale:
        out("")
        out("[bold underline]Why[/bold underline]")
        out(reflow(r.rationale), markup=False)
    if r.example:
        out("")
        out("[bold underline]Example[/bold underline]")
        out(reflow(r.example), markup=False)
    out("")
    out("[bold underline]Source[/bold underline]")
    out(f"{r.citation.article}", markup=False)
    if r.citation.url:
        out(r.citation.url, markup=False)
    if r.citation.quote:
        out(f"“{r.citation.quote.strip()}”", markup=False)
    if r.citation.note:
        out(reflow(r.citation.note), markup=False)
    out("")
    out("[bold underline]Verification[/bold underline]")
    colour = {"primary": "green", "secondary": "yellow", "unverified": "red"}[r.verified.value]
    out(f"[{colour}]{r.verified.value}[/{colour}] ({r.status}): {r.status_words}")


@app.command("schema")
def schema(
    kind: Annotated[
        str | None,
        typer.Argument(
            help="Kind id (e.g. bmlna.launch_notice), envelope, or a file format: log-line, "
            "observed-line, keyring, audit-report. Without it: list them."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write every schema to this directory.")
    ] = None,
    agreements: AgreementsOpt = None,
) -> None:
    """JSON Schema (2020-12) of a message kind, the envelope, a file nrrc reads or writes, or
    all of them (--export).

    The file formats: log-line (one line of a message log), observed-line (one line of an
    observed-activity log), keyring, audit-report (nrrc audit --format json). Patterns are
    written so that validators using ECMA-262 and those using Python's or PCRE's rules (the
    Python jsonschema library) accept the same strings.
    """
    from nrrc.messages import MessageTypes

    cat = catalogue(agreements)
    types = MessageTypes(cat)
    if export is not None:
        written = export_schemas(types, export)
        console.print(f"wrote {len(written)} schemas to {export}")
        return
    if kind is None:
        table = Table(title="message kinds", title_justify="left")
        table.add_column("kind", no_wrap=True)
        table.add_column("title")
        for k in sorted(cat.kinds.values(), key=lambda k: k.id):
            table.add_row(k.id, k.title)
        console.print(table)
        files = Table(title="files nrrc reads and writes", title_justify="left")
        files.add_column("name", no_wrap=True)
        files.add_column("title")
        for name in FILE_SCHEMAS:
            files.add_row(name, str(file_schema(name)["title"]))
        console.print(files)
        console.print("Show one with `nrrc schema NAME`; the envelope with `nrrc schema envelope`.")
        return
    try:
        doc = kind_schema(types, kind)
    except KeyError:
        fail(f"unknown kind or file format {kind!r}; `nrrc schema` lists them")
    console.print_json(json.dumps(doc))
