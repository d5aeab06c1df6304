"""Self-contained HTML reporter: one file a delegation member opens in any browser, offline.

The page has a header (audited logs, period, message counts, the verdict), a summary table per
rule (code, rule, agreement, verification badge, checked / passed / violated / warned / open), a
timeline per pair of centres (sender → recipient) and the findings table (outcome badge,
explanation, citation link, evidence file:line).

Each timeline is inline SVG with one panel per rule: one horizontal bar per measured notice,
its length the measured lead time (or delay), a black marker at the bound the rule requires,
coloured by outcome, violations marked ✗; hovering a bar shows its details (SVG ``<title>``).
Large audits stay readable: each panel draws at most :data:`MAX_BARS` bars (every violation,
warning and open one first, then the passes closest to their bound) and at most
:data:`MAX_PAIRS` pairs get a drawing; the page says how many were omitted.

No network assets: CSS and SVG are inline, the only script is a small inline filter, and the
only external URLs are the citation links. All text is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlsplit

from nrrc.audit.findings import AuditResult, Finding, Measurement, Outcome, RuleSummary
from nrrc.catalogue import Catalogue, RuleType
from nrrc.timeutil import format_delta, format_instant, to_utc

__all__ = ["MAX_BARS", "MAX_FINDINGS", "MAX_PAIRS", "render"]

MAX_BARS = 40
"""Bars drawn per rule panel of a timeline."""
MAX_PAIRS = 30
"""Pairs of centres that get a timeline drawing; the others are listed with their counts."""
MAX_FINDINGS = 5000
"""Findings listed in the table; the JSON and SARIF reports always hold all of them."""

_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_W, _LEFT, _RIGHT, _ROW, _TOP, _AXIS = 1000, 130, 290, 18, 22, 40
_PLOT = _W - _LEFT - _RIGHT
_STEPS = (
    60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
    604800, 1209600, 2592000, 5184000, 7776000, 15552000, 31536000,
)  # fmt: skip


def esc(text: object) -> str:
    """``text`` escaped for HTML text and attribute values, control characters removed."""
    return html.escape(_NOT_TEXT.sub("", str(text)), quote=True)


@dataclass(frozen=True, slots=True)
class _Meta:
    """What the page says about a rule: from its findings, else the catalogue, else summary."""

    title: str
    article: str = ""
    citation_url: str = ""
    status: str = ""
    direction: str = ""
    """``min`` (lead time: at least the bound), ``max`` (delay: at most the bound) or ``""``."""


def render(
    result: AuditResult, *, catalogue: Catalogue | None = None, title: str = "Compliance audit"
) -> str:
    """The audit as one self-contained HTML page.

    Args:
        result: what the audit produced.
        catalogue: the catalogue the audit used, to describe rules that have no findings and to
            know whether a rule bounds a lead time (at least) or a delay (at most).
        title: the page heading.
    """
    metas = _metas(result, catalogue)
    counts = Counter(f.outcome for f in result.findings)
    parts = [
        _head(title, counts),
        _header(result, title, counts),
        "<main>",
        _summary(result.summary, metas),
        _timelines(result.measurements, metas),
        _findings(result.findings),
        "</main>",
        _footer(),
        f"<script>{_SCRIPT}</script>",
        "</body>\n</html>\n",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------- rule metadata


def _metas(result: AuditResult, catalogue: Catalogue | None) -> dict[str, _Meta]:
    metas: dict[str, _Meta] = {}
    codes = {s.code for s in result.summary} | {m.code for m in result.measurements}
    for code in codes:
        rule = catalogue.rule(code) if catalogue is not None else None
        if rule is not None:
            direction = {RuleType.LEAD_TIME: "min", RuleType.LAG: "max"}.get(rule.type, "")
            if rule.type in (RuleType.RESPONSE, RuleType.SPAN):
                direction = "max"
            metas[code] = _Meta(
                rule.title, rule.citation.article, rule.citation.url, rule.status, direction
            )
    for f in result.findings:
        if f.code not in metas:
            metas[f.code] = _Meta(f.title, f.article, f.citation_url, f.status)
    by_code: dict[str, list[Measurement]] = defaultdict(list)
    for m in result.measurements:
        by_code[m.code].append(m)
    for code, meta in list(metas.items()):
        if not meta.direction and code in by_code:
            metas[code] = _Meta(
                meta.title, meta.article, meta.citation_url, meta.status, _infer(by_code[code])
            )
    for s in result.summary:
        metas.setdefault(s.code, _Meta(s.name, direction=_infer(by_code.get(s.code, []))))
    for code, ms in by_code.items():
        metas.setdefault(code, _Meta(code, direction=_infer(ms)))
    return metas


def _infer(measurements: Iterable[Measurement]) -> str:
    """Whether a rule wants at least (``min``) or at most (``max``) its bound, from outcomes."""
    votes: Counter[str] = Counter()
    for m in measurements:
        if m.measured_seconds == m.bound_seconds or m.outcome == "open":
            continue
        longer = m.measured_seconds > m.bound_seconds
        passed = m.outcome == "pass"
        votes["min" if longer == passed else "max"] += 1
    return votes.most_common(1)[0][0] if votes else ""


# ---------------------------------------------------------------- page frame


def _head(title: str, counts: Counter[Outcome]) -> str:
    verdict = _verdict(counts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="nrrc {esc(_version())}">\n'
        f"<title>{esc(title)} — {esc(verdict)}</title>\n<style>{_CSS}</style>\n</head>\n<body>"
    )


def _version() -> str:
    try:
        return metadata.version("nrrc")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _verdict(counts: Counter[Outcome]) -> str:
    v, w, o = counts[Outcome.VIOLATION], counts[Outcome.WARNING], counts[Outcome.OPEN]
    head = _plural(v, "violation") if v else "No violations"
    rest = [p for n, p in ((w, _plural(w, "warning")), (o, _plural(o, "open obligation"))) if n]
    return ", ".join([head, *rest])


def _header(result: AuditResult, title: str, counts: Counter[Outcome]) -> str:
    verdict_class = "bad" if counts[Outcome.VIOLATION] else "good"
    if result.period_start and result.period_end:
        period = f"{format_instant(result.period_start)} – {format_instant(result.period_end)}"
    else:
        period = "no dated messages"
    logs = "".join(f"<li><code>{esc(log)}</code></li>" for log in result.logs) or "<li>none</li>"
    if len(result.logs) > 8:
        logs = f"<details><summary>{len(result.logs):,} logs</summary><ul>{logs}</ul></details>"
    else:
        logs = f"<ul class='logs'>{logs}</ul>"
    return f"""<header>
<h1>{esc(title)}</h1>
<p class="verdict {verdict_class}">{esc(_verdict(counts))}</p>
<dl class="facts">
<dt>Audited period</dt><dd>{esc(period)}</dd>
<dt>Messages</dt><dd>{result.messages:,} read, {result.verified:,} with verified signatures</dd>
<dt>Logs</dt><dd>{logs}</dd>
</dl>
<nav><a href="#rules">Rules</a> · <a href="#timelines">Timelines</a> ·
<a href="#findings">Findings</a> · <a href="#reading">How to read this report</a></nav>
</header>"""


def _footer() -> str:
    return f"""<footer id="reading">
<h2>How to read this report</h2>
<p>All instants are in UTC. A rule is measured at receipt of the message unless the rule says it
is measured at sending. Lead time: the notice must be received no later than the anchor minus
the bound; exactly at the bound is compliant, one second later is not. Response and
acknowledgement: within the bound after the trigger; a response whose deadline lies after the
end of the logs is <em>open</em>, not a violation. Soft rules give warnings.</p>
<p>Verification of each rule's source: {_verified_badge("primary", "")} wording read in an official
text (V, or V-ru / V-hu when read in the Russian or Hungarian official text);
{_verified_badge("secondary", "")} confirmed only by a secondary source (S);
{_verified_badge("unverified", "")} commonly reported, no text found (R).</p>
<p class="generator">Generated by nrrc {esc(_version())}. This file needs no network.</p>
</footer>"""


# ---------------------------------------------------------------- badges and links


def _outcome_badge(outcome: str) -> str:
    return f'<span class="badge o-{esc(outcome)}">{esc(outcome)}</span>'


def _verified_badge(verified: str, status: str) -> str:
    if verified == "n/a":
        # The audit's own integrity and reconciliation checks cite no treaty text.
        return '<span class="badge v-unknown">audit check</span>'
    if not verified and not status:
        return ""  # the audit's own checks (integrity, reconciliation) cite no treaty text
    text = f"{verified} · {status}" if status else verified
    return f'<span class="badge v-{esc(verified or "unknown")}">{esc(text or "unknown")}</span>'


def _link(url: str, text: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f'<a href="{esc(url)}" rel="noopener noreferrer">{esc(text)}</a>'
    return esc(text)


# ---------------------------------------------------------------- rules table


def _summary(summary: Sequence[RuleSummary], metas: dict[str, _Meta]) -> str:
    if not summary:
        return '<section id="rules"><h2>Rules</h2><p>No rules were checked.</p></section>'
    rows = []
    for s in sorted(summary, key=lambda s: s.code):
        meta = metas.get(s.code, _Meta(s.name))
        cls = ' class="has-violation"' if s.violated else ""
        rows.append(
            f"<tr{cls}><td><code>{esc(s.code)}</code></td>"
            f"<td>{esc(meta.title)}<br><small><code>{esc(s.name)}</code></small></td>"
            f"<td>{esc(s.agreement)}</td><td>{_verified_badge(s.verified, meta.status)}</td>"
            f'<td class="n">{s.checked:,}</td><td class="n">{s.passed:,}</td>'
            f'<td class="n{" bad" if s.violated else ""}">{s.violated:,}</td>'
            f'<td class="n">{s.warned:,}</td><td class="n">{s.open:,}</td></tr>'
        )
    return f"""<section id="rules">
<h2>Rules</h2>
<div class="wide"><table class="rules">
<thead><tr><th>Code</th><th>Rule</th><th>Agreement</th><th>Source verified</th>
<th class="n">Checked</th><th class="n">Passed</th><th class="n">Violated</th>
<th class="n">Warned</th><th class="n">Open</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table></div>
</section>"""


# ---------------------------------------------------------------- timelines


def _timelines(measurements: Sequence[Measurement], metas: dict[str, _Meta]) -> str:
    head = '<section id="timelines">\n<h2>Timelines per pair of centres</h2>'
    if not measurements:
        return head + "\n<p>No timed notices were measured in these logs.</p>\n</section>"
    pairs: dict[tuple[str, str], list[Measurement]] = defaultdict(list)
    for m in measurements:
        pairs[(m.sender, m.recipient)].append(m)

    def badness(item: tuple[tuple[str, str], list[Measurement]]) -> tuple[int, int, str, str]:
        (sender, recipient), ms = item
        bad = sum(m.outcome == "violation" for m in ms)
        return (-bad, -len(ms), sender, recipient)

    ordered = sorted(pairs.items(), key=badness)
    out = [head, _LEGEND]
    for (sender, recipient), ms in ordered[:MAX_PAIRS]:
        out.append(_pair_figure(sender, recipient, ms, metas))
    rest = ordered[MAX_PAIRS:]
    if rest:
        rows = "".join(
            f"<tr><td>{esc(s)} → {esc(r)}</td><td class='n'>{len(ms):,}</td>"
            f"<td class='n'>{sum(m.outcome == 'violation' for m in ms):,}</td></tr>"
            for (s, r), ms in rest
        )
        out.append(
            f"<p class='omitted'>{len(rest):,} more pairs are not drawn (fewest violations).</p>"
            "<table class='pairs'><thead><tr><th>Pair</th><th class='n'>Measured</th>"
            f"<th class='n'>Violations</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    out.append("</section>")
    return "\n".join(out)


def _pair_figure(
    sender: str, recipient: str, ms: list[Measurement], metas: dict[str, _Meta]
) -> str:
    by_code: dict[str, list[Measurement]] = defaultdict(list)
    for m in ms:
        by_code[m.code].append(m)
    bad = sum(m.outcome == "violation" for m in ms)
    tally = (
        _plural(len(ms), "notice") + " measured" + (f", {_plural(bad, 'violation')}" if bad else "")
    )
    panels = "\n".join(
        _panel(code, by_code[code], metas.get(code, _Meta(code))) for code in sorted(by_code)
    )
    return (
        f'<figure class="pair"><figcaption><strong>{esc(sender)} → {esc(recipient)}</strong> '
        f"<small>{esc(tally)}</small></figcaption>\n{panels}\n</figure>"
    )


def _choose(ms: list[Measurement]) -> list[Measurement]:
    """At most MAX_BARS: non-passes first (oldest first), then passes closest to their bound."""
    if len(ms) <= MAX_BARS:
        return sorted(ms, key=lambda m: (to_utc(m.at), m.message_id))
    flagged = sorted((m for m in ms if m.outcome != "pass"), key=lambda m: to_utc(m.at))
    passes = sorted(
        (m for m in ms if m.outcome == "pass"),
        key=lambda m: (abs(m.measured_seconds - m.bound_seconds), to_utc(m.at)),
    )
    chosen = (flagged + passes)[:MAX_BARS]
    return sorted(chosen, key=lambda m: (to_utc(m.at), m.message_id))


def _panel(code: str, ms: list[Measurement], meta: _Meta) -> str:
    shown = _choose(ms)
    bounds = {m.bound_seconds for m in ms}
    bound_max = max(bounds)
    lo, hi = _domain(shown, bound_max)
    relation = {"min": "≥", "max": "≤"}.get(meta.direction, "")
    quantity = {"min": "lead time", "max": "time taken"}.get(meta.direction, "measured time")
    required = (
        f"required: {quantity} {relation} {_span(bound_max)}".replace("  ", " ")
        if len(bounds) == 1
        else f"required: {quantity} {relation} its bound (marked on each bar)".replace("  ", " ")
    )
    n_bad = sum(m.outcome == "violation" for m in ms)
    stats = f"{_plural(len(ms), 'notice')}, {n_bad:,} violated"
    omitted = ""
    if len(shown) < len(ms):
        hidden = Counter(m.outcome for m in ms) - Counter(m.outcome for m in shown)
        what = ", ".join(f"{n:,} {o}" for o, n in sorted(hidden.items()))
        omitted = (
            f'<p class="omitted">Showing {len(shown):,} of {len(ms):,}: every violation, warning '
            f"and open one first, then the passes closest to the bound. Not drawn: {esc(what)}.</p>"
        )
    height = _TOP + len(shown) * _ROW + _AXIS
    svg = [
        f'<svg class="timeline" viewBox="0 0 {_W} {height}" width="100%" role="img" '
        f'aria-label="{esc(code)}: {esc(stats)}" xmlns="http://www.w3.org/2000/svg">',
        _axis(lo, hi, len(shown), quantity, meta.direction),
    ]
    if len(bounds) == 1:
        x = _x(bound_max, lo, hi)
        svg.append(
            f'<line class="bound" x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" '
            f'y2="{_TOP + len(shown) * _ROW}"/>'
            f'<text class="bound-label" x="{x:.1f}" y="{_TOP - 9}" text-anchor="middle">'
            f"bound {esc(_span(bound_max))}</text>"
        )
    for i, m in enumerate(shown):
        svg.append(_bar(i, m, lo, hi, code, meta.direction))
    svg.append("</svg>")
    return (
        f'<div class="panel"><h3><code>{esc(code)}</code> {esc(meta.title)}</h3>'
        f'<p class="panel-facts">{esc(required)} · {esc(stats)}</p>{omitted}\n'
        + "\n".join(svg)
        + "</div>"
    )


def _domain(ms: Sequence[Measurement], bound_max: int) -> tuple[float, float]:
    """The axis range: zero and the bound always in view; outliers beyond 3x the bound clipped."""
    values = [m.measured_seconds for m in ms]
    hi = float(max([bound_max, *values, 1]))
    lo = float(min([0, *values]))
    if bound_max > 0:
        hi = min(hi, 3.0 * bound_max)
        lo = max(lo, -1.0 * bound_max)
    pad = 0.04 * (hi - lo)
    return (lo - pad if lo < 0 else 0.0), hi + pad


def _x(seconds: float, lo: float, hi: float) -> float:
    clipped = min(max(seconds, lo), hi)
    return _LEFT + (clipped - lo) / (hi - lo) * _PLOT


def _span(seconds: int) -> str:
    """A length of time as the agreements state it: in hours below 4 days (``48 h``,
    ``23 h 10 min``), else in days (``14 d``); exact to the second, ``−`` when negative."""
    sign = "−" if seconds < 0 else ""
    s = abs(seconds)
    if s < 4 * 86400 and s >= 86400:
        hours, rest = divmod(s, 3600)
        return sign + " ".join([f"{hours} h", *([format_delta(rest)] if rest else [])])
    return sign + format_delta(s)


def _tick_label(seconds: int, step: int) -> str:
    sign = "−" if seconds < 0 else ""
    s = abs(seconds)
    if s == 0:
        return "0"
    if step >= 86400 and s % 86400 == 0:
        return f"{sign}{s // 86400} d"
    if s % 3600 == 0:
        return f"{sign}{s // 3600} h"
    return sign + format_delta(s)


def _axis(lo: float, hi: float, rows: int, quantity: str, direction: str) -> str:
    step = next((s for s in _STEPS if (hi - lo) / s <= 8), _STEPS[-1])
    bottom = _TOP + rows * _ROW
    parts = [f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + _PLOT}" y2="{bottom}"/>']
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        x = _x(tick, lo, hi)
        cls = "zero" if tick == 0 else "grid"
        parts.append(
            f'<line class="{cls}" x1="{x:.1f}" y1="{_TOP - 4}" x2="{x:.1f}" y2="{bottom + 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{esc(_tick_label(tick, step))}</text>"
        )
        tick += step
    hint = {"min": " (longer is better)", "max": " (shorter is better)"}.get(direction, "")
    parts.append(
        f'<text class="axis-title" x="{_LEFT + _PLOT / 2:.0f}" y="{bottom + 33}" '
        f'text-anchor="middle">{esc(quantity + hint)} →</text>'
    )
    return "".join(parts)


def _bar(i: int, m: Measurement, lo: float, hi: float, code: str, direction: str) -> str:
    y = _TOP + i * _ROW
    x0, x1 = _x(0, lo, hi), _x(m.measured_seconds, lo, hi)
    left, width = min(x0, x1), max(abs(x1 - x0), 1.5)
    measured = _span(m.measured_seconds)
    gap = m.measured_seconds - m.bound_seconds
    if direction == "max":
        gap = -gap
    value = measured
    if m.outcome != "pass" and gap < 0:
        value += f" · {'short' if direction == 'min' else 'over'} by {_span(-gap)}"
    if m.outcome == "open":
        value = f"open: {measured} so far"
    mark = "✗ " if m.outcome == "violation" else ""
    relation = {"min": "at least", "max": "at most"}.get(direction, "bound")
    tip = (
        f"{code} {m.sender} → {m.recipient} · {m.outcome}\nmessage {m.message_id}\n"
        f"measured at {format_instant(m.at)}\n{measured}; required {relation} "
        f"{_span(m.bound_seconds)}"
    )
    clipped = ""
    if m.measured_seconds > hi or m.measured_seconds < lo:
        edge = _LEFT + _PLOT if m.measured_seconds > hi else _LEFT
        arrow = "»" if m.measured_seconds > hi else "«"
        clipped = (
            f'<text class="clip" x="{edge:.1f}" y="{y + 12}" text-anchor="middle">{arrow}</text>'
        )
    xb = _x(m.bound_seconds, lo, hi)
    stamp = to_utc(m.at).strftime("%Y-%m-%d %H:%M")
    return (
        f'<g class="row o-{esc(m.outcome)}"><title>{esc(tip)}</title>'
        f'<rect class="hit" x="0" y="{y}" width="{_W}" height="{_ROW}"/>'
        f'<text class="when" x="{_LEFT - 8}" y="{y + 12.5}" text-anchor="end">{esc(stamp)}</text>'
        f'<rect class="bar" x="{left:.1f}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 6}"/>'
        f'<line class="mark" x1="{xb:.1f}" y1="{y + 1}" x2="{xb:.1f}" y2="{y + _ROW - 1}"/>'
        f"{clipped}"
        f'<text class="value" x="{_LEFT + _PLOT + 8}" y="{y + 12.5}">{esc(mark + value)}</text></g>'
    )


# ---------------------------------------------------------------- findings table


def _findings(findings: Sequence[Finding]) -> str:
    head = '<section id="findings">\n<h2>Findings</h2>'
    if not findings:
        return head + "\n<p>No findings: every checked message met its rule.</p>\n</section>"
    shown = findings[:MAX_FINDINGS]
    rows = "\n".join(_finding_row(f) for f in shown)
    omitted = ""
    if len(findings) > len(shown):
        omitted = (
            f"<p class='omitted'>Listing the first {len(shown):,} of {len(findings):,} findings; "
            "the JSON and SARIF reports hold all of them.</p>"
        )
    counts = Counter(f.outcome.value for f in findings)
    toggles = "".join(
        f'<label><input type="checkbox" data-outcome="{o.value}" checked> '
        f"{_outcome_badge(o.value)} {counts[o.value]:,}</label>"
        for o in Outcome
    )
    return f"""{head}
<div class="controls">
<input type="search" id="filter" placeholder="Filter: code, centre, file, text">
{toggles}</div>
{omitted}
<div class="wide"><table class="findings">
<thead><tr><th>Outcome</th><th>Rule</th><th>Parties</th><th>What was found</th>
<th>Source</th><th>Evidence</th></tr></thead>
<tbody>
{rows}
</tbody>
</table></div>
</section>"""


def _finding_row(f: Finding) -> str:
    instants = "".join(
        f"<li>{esc(k.replace('_', ' '))}: {esc(format_instant(v))}</li>"
        for k, v in sorted(f.instants.items(), key=lambda kv: kv[1])
    )
    ids = "".join(f"<li><code>{esc(i)}</code></li>" for i in f.message_ids)
    details = ""
    if instants or ids:
        details = (
            f"<details><summary>instants and messages</summary><ul>{instants}</ul>"
            f'<ul class="ids">{ids}</ul><small>fingerprint <code>{esc(f.fingerprint)}</code>'
            "</small></details>"
        )
    evidence = "".join(
        f"<li><code>{esc(e.file)}:{e.line}</code>" + (f" {esc(e.role)}" if e.role else "") + "</li>"
        for e in f.evidence
    )
    source = _link(f.citation_url, f"{f.agreement} {f.article}".strip())
    return (
        f'<tr class="o-{esc(f.outcome.value)}" data-outcome="{esc(f.outcome.value)}">'
        f"<td>{_outcome_badge(f.outcome.value)}</td>"
        f"<td><code>{esc(f.code)}</code><br><small>{esc(f.title)}</small></td>"
        f'<td class="parties">{esc(" → ".join(f.parties))}</td>'
        f'<td><p class="explanation">{esc(f.explanation)}</p>{details}</td>'
        f"<td>{source}<br>{_verified_badge(f.verified, f.status)}</td>"
        f'<td><ul class="evidence">{evidence}</ul></td></tr>'
    )


# ---------------------------------------------------------------- style and script

_LEGEND = (
    '<p class="legend">Each bar is one notice: its length is the time measured, the black '
    "mark the bound its rule requires. "
    '<span class="key k-pass"></span> met the rule '
    '<span class="key k-violation"></span> violated (✗) '
    '<span class="key k-warning"></span> warning '
    '<span class="key k-open"></span> open at the end of the logs. '
    "Hover a bar for the message and instants; » marks a bar cut at the edge.</p>"
)

_CSS = """
:root { --violation:#c62828; --warning:#b7791f; --open:#1f6fb2; --pass:#2e7d32; --ink:#1d2430;
  --muted:#5b6573; --line:#d7dce3; --bg-soft:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1200px; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; } h2 { font-size: 20px; margin: 32px 0 10px;
  border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 2px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em; }
a { color: #1a56a8; }
.verdict { display: inline-block; font-size: 18px; font-weight: 600; padding: 6px 14px;
  border-radius: 6px; margin: 4px 0 12px; }
.verdict.bad { background: #fdecea; color: var(--violation); border: 1px solid #f5c2c0; }
.verdict.good { background: #e8f5e9; color: var(--pass); border: 1px solid #b9dfbb; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 10px; }
.facts dt { font-weight: 600; color: var(--muted); } .facts dd { margin: 0; }
.facts ul { margin: 0; padding-left: 18px; }
nav { font-size: 14px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
.wide { overflow-x: auto; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px;
  border-bottom: 1px solid var(--line); }
thead th { background: var(--bg-soft); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: var(--violation); font-weight: 700; }
tr.has-violation td:first-child { box-shadow: inset 4px 0 var(--violation); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
.o-violation.badge { background: var(--violation); color: #fff; }
.o-warning.badge { background: #fff3cd; color: #7a5200; border-color: #f0d48a; }
.o-open.badge { background: #e3effa; color: var(--open); border-color: #b7d3ee; }
.o-pass.badge { background: #e8f5e9; color: var(--pass); }
.v-primary { background: #e8f5e9; color: var(--pass); border-color: #b9dfbb; }
.v-secondary { background: #fff3cd; color: #7a5200; border-color: #f0d48a; }
.v-unverified, .v-unknown { background: #f1f1f1; color: #6b4b4b; border: 1px dashed #a88; }
.findings tr.o-violation td:first-child { box-shadow: inset 4px 0 var(--violation); }
.explanation { margin: 0 0 4px; font-weight: 500; }
td.parties { white-space: nowrap; }
ul.evidence, ul.ids { margin: 0; padding-left: 16px; } ul.evidence code { white-space: nowrap; }
details summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.controls { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 6px 0 10px; }
.controls input[type=search] { padding: 5px 8px; min-width: 280px; border: 1px solid var(--line);
  border-radius: 4px; font: inherit; }
.legend, .panel-facts, .omitted { color: var(--muted); font-size: 13px; margin: 4px 0; }
.omitted { font-style: italic; }
.key { display: inline-block; width: 18px; height: 10px; margin: 0 3px 0 10px; border-radius: 2px; }
.k-pass { background: var(--pass); } .k-violation { background: var(--violation); }
.k-warning { background: var(--warning); }
.k-open { background: #9ec5ea; border: 1px dashed var(--open); }
figure.pair { margin: 18px 0 26px; padding: 10px 14px; border: 1px solid var(--line);
  border-radius: 8px; }
figure.pair figcaption { font-size: 16px; }
figure.pair figcaption small { color: var(--muted); margin-left: 8px; }
svg.timeline { display: block; max-width: 100%; height: auto; font-size: 11px; }
svg .when, svg .tick, svg .bound-label, svg .axis-title { fill: var(--muted); }
svg .when { font-family: ui-monospace, Menlo, Consolas, monospace; }
svg .grid { stroke: #e6e9ee; } svg .zero { stroke: #9aa3ad; } svg .axis { stroke: #9aa3ad; }
svg .bound { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .bound-label { font-weight: 600; fill: var(--ink); }
svg .mark { stroke: var(--ink); stroke-width: 2.5; }
svg .hit { fill: transparent; } svg .row:hover .hit { fill: #eef2f7; }
svg .o-pass .bar { fill: var(--pass); } svg .o-violation .bar { fill: var(--violation); }
svg .o-warning .bar { fill: var(--warning); }
svg .o-open .bar { fill: #9ec5ea; stroke: var(--open); stroke-dasharray: 3 2; }
svg .o-violation .hit { fill: #fdecea; }
svg .o-violation .value { fill: var(--violation); font-weight: 700; }
svg .value { fill: var(--ink); } svg .clip { fill: var(--ink); font-weight: 700; }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
footer h2 { color: var(--ink); }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav, .controls { display: none; }
  a { color: inherit; }
  a[href^="http"]::after { content: " <" attr(href) ">"; font-size: 9pt; word-break: break-all; }
  figure.pair, .panel, tr { break-inside: avoid; }
  table { font-size: 9pt; } th, td { padding: 3px 4px; } .badge { white-space: normal; }
  thead { display: table-header-group; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { margin: 14mm; }
}
"""

_SCRIPT = """
(function () {
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  var box = document.getElementById("filter");
  if (!box) return;
  var checks = document.querySelectorAll("input[data-outcome]");
  var rows = document.querySelectorAll("table.findings tbody tr");
  function apply() {
    var q = box.value.toLowerCase(), on = {};
    checks.forEach(function (c) { on[c.dataset.outcome] = c.checked; });
    rows.forEach(function (r) {
      r.hidden = !on[r.dataset.outcome] || (q && r.textContent.toLowerCase().indexOf(q) < 0);
    });
  }
  box.addEventListener("input", apply);
  checks.forEach(function (c) { c.addEventListener("change", apply); });
})();
"""
