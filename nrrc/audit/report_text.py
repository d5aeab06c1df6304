"""Text reporter: a table of findings and a per-rule summary, for a terminal or a file.

Each finding shows its outcome, code, first instant, parties and the explanation in words, with
the evidence (file:line and role) and the citation with its verification status under it. The
summary counts, per rule, how many checks ran, passed, were violated, warned or are open. The
last line says what the exit code will be.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from nrrc.audit.findings import AuditResult, Finding, Outcome
from nrrc.timeutil import format_instant

__all__ = ["render", "renderables"]

_STYLE = {Outcome.VIOLATION: "bold red", Outcome.WARNING: "yellow", Outcome.OPEN: "cyan"}


def _when(f: Finding) -> str:
    if not f.instants:
        return ""
    return format_instant(min(f.instants.values())).removesuffix(" UTC")


def _detail(f: Finding) -> Text:
    text = Text(f.explanation)
    for e in f.evidence:
        role = f" ({e.role})" if e.role else ""
        text.append(f"\n{e.file}:{e.line}{role}", style="dim")
    if f.verified != "n/a":
        text.append(
            f"\n{f.agreement} {f.article} · {f.verified} ({f.status})"
            + (f" · {f.citation_url}" if f.citation_url else ""),
            style="dim",
        )
    return text


def _findings_table(result: AuditResult) -> Table:
    n = len(result.findings)
    table = Table(
        title=f"{n} finding{'s' if n != 1 else ''}",
        title_justify="left",
        show_lines=True,
        expand=True,
    )
    table.add_column("outcome / code", no_wrap=True, min_width=9)
    table.add_column("parties / first instant (UTC)", min_width=12, max_width=19)
    table.add_column("finding", ratio=1, overflow="fold")
    for f in result.findings:
        head = Text(f.outcome.value, style=_STYLE[f.outcome])
        head.append(f"\n{f.code}", style="bold")
        where = " → ".join(f.parties)
        when = _when(f)
        table.add_row(head, f"{where}\n{when}" if when else where, _detail(f))
    return table


def _summary_table(result: AuditResult) -> Table:
    table = Table(title="Per-rule summary", title_justify="left")
    table.add_column("code", no_wrap=True)
    table.add_column("rule", overflow="fold")
    table.add_column("verified", no_wrap=True)
    for col in ("checked", "passed", "violated", "warned", "open"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for s in result.summary:
        table.add_row(
            s.code,
            s.name,
            s.verified,
            str(s.checked),
            str(s.passed),
            Text(str(s.violated), style="bold red" if s.violated else ""),
            Text(str(s.warned), style="yellow" if s.warned else ""),
            Text(str(s.open), style="cyan" if s.open else ""),
        )
    return table


def _headline(result: AuditResult) -> Text:
    n = len(result.logs)
    period = ""
    if result.period_start and result.period_end:
        period = (
            f", period {format_instant(result.period_start)} to {format_instant(result.period_end)}"
        )
    observed = len(result.observed)
    extra = (
        f" and {observed} observed-activity log{'s' if observed != 1 else ''}" if observed else ""
    )
    return Text(
        f"nrrc audit: {n} message log{'s' if n != 1 else ''}{extra}, {result.messages} records "
        f"({result.verified} trusted){period}",
        style="bold",
    )


def _footer(result: AuditResult) -> Text:
    outcomes = [f.outcome for f in result.findings]
    v = outcomes.count(Outcome.VIOLATION)
    w = outcomes.count(Outcome.WARNING)
    o = outcomes.count(Outcome.OPEN)
    verdict = "violations found (exit code 1)" if v else "no violations (exit code 0)"
    return Text(
        f"{v} violation{'s' if v != 1 else ''}, {w} warning{'s' if w != 1 else ''}, "
        f"{o} open: {verdict}",
        style="bold red" if v else "bold green",
    )


def renderables(result: AuditResult) -> list[RenderableType]:
    """What the text report is made of, for printing on a rich console."""
    parts: list[RenderableType] = [_headline(result)]
    if result.findings:
        parts.append(_findings_table(result))
    else:
        parts.append(Text("No findings.", style="green"))
    if result.summary:
        parts.append(_summary_table(result))
    parts.append(_footer(result))
    return parts


def render(result: AuditResult, *, width: int = 120) -> str:
    """The text report as plain text (no colours), ``width`` columns wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    console.print(Group(*renderables(result)))
    return buffer.getvalue()
