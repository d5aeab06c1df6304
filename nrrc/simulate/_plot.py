"""A Monte Carlo study drawn as one self-contained SVG (no plotting library needed).

Four small multiples, each a histogram with its median and 95th percentile marked and the
headline number written large: the share of launches with a late or missing notice per run,
the time to acknowledgement (every acknowledgement of every run, on a logarithmic axis),
retransmissions per notice per run, and expected findings per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from nrrc.simulate._montecarlo import Study, _quantile

__all__ = ["study_svg"]

_W, _H = 980, 700
_INK, _MUTED, _GRID = "#1f2933", "#616e7c", "#e4e7eb"
_BAR, _MEDIAN, _P95 = "#3e7cb1", "#1f2933", "#c0392b"
_FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * power:
            return float(m * power)
    return float(10 * power)


def _linear_bins(values: Sequence[float], target: int = 20) -> tuple[list[float], list[int]]:
    lo, hi = min(values), max(values)
    if hi == lo:
        width = abs(lo) * 0.1 or 0.01
        edges = [lo - width / 2, lo + width / 2]
        return edges, [len(values)]
    step = _nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    n = max(1, math.ceil((hi - start) / step + 1e-9))
    if start + n * step <= hi:
        n += 1
    edges = [start + i * step for i in range(n + 1)]
    counts = [0] * n
    for v in values:
        counts[min(n - 1, int((v - start) / step))] += 1
    return edges, counts


def _log_bins(values: Sequence[float], per_decade: int = 8) -> tuple[list[float], list[int]]:
    positive = [max(v, 0.1) for v in values]
    lo = math.floor(math.log10(min(positive)) * per_decade) / per_decade
    hi = math.ceil(math.log10(max(positive)) * per_decade) / per_decade
    if hi <= lo:
        hi = lo + 1 / per_decade
    n = round((hi - lo) * per_decade)
    edges = [10 ** (lo + i / per_decade) for i in range(n + 1)]
    counts = [0] * n
    for v in positive:
        i = int((math.log10(v) - lo) * per_decade)
        counts[min(max(i, 0), n - 1)] += 1
    return edges, counts


def _duration(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            value = seconds / size
            return (
                f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}".replace(".0 ", " ")
            )
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%" if value < 0.1 else f"{value * 100:.0f}%"


def _number(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


class _Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def text(self, x: float, y: float, s: str, size: int = 12, **kw: str) -> None:
        attrs = " ".join(f"{k.replace('_', '-')}='{v}'" for k, v in kw.items())
        fill = kw.get("fill", _INK)
        if "fill" not in kw:
            attrs += f" fill='{fill}'"
        self.add(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' {attrs}>{escape(s)}</text>")


def _panel(
    c: _Canvas,
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    title: str,
    caption: str,
    values: Sequence[float],
    fmt: Callable[[float], str],
    log: bool = False,
    empty: str = "no data",
) -> None:
    c.add(
        f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='10' fill='#ffffff' stroke='{_GRID}'/>"
    )
    c.text(x + 18, y + 28, title, 15, font_weight="600")
    c.text(x + 18, y + 46, caption, 11, fill=_MUTED)
    if not values:
        c.text(x + 18, y + h / 2, empty, 13, fill=_MUTED)
        return
    median, p95 = _quantile(values, 0.5), _quantile(values, 0.95)
    c.text(x + w - 18, y + 30, fmt(median), 24, font_weight="700", text_anchor="end")
    c.text(x + w - 18, y + 46, f"median (p95 {fmt(p95)})", 11, fill=_MUTED, text_anchor="end")
    edges, counts = _log_bins(values) if log else _linear_bins(values)
    px, py, pw, ph = x + 48, y + 66, w - 72, h - 112
    top = max(counts)
    lo, hi = edges[0], edges[-1]

    def sx(v: float) -> float:
        if log:
            return px + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * pw
        return px + (v - lo) / (hi - lo) * pw

    step = max(1, math.ceil(_nice_step(top, 4)))
    for tick in range(0, top + 1, step):
        ty = py + ph - tick / top * ph
        c.add(f"<line x1='{px}' y1='{ty:.1f}' x2='{px + pw}' y2='{ty:.1f}' stroke='{_GRID}'/>")
        c.text(px - 8, ty + 4, str(tick), 10, fill=_MUTED, text_anchor="end")
    for i, n in enumerate(counts):
        if not n:
            continue
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        bh = n / top * ph
        c.add(
            f"<rect x='{x0 + 1:.1f}' y='{py + ph - bh:.1f}' width='{max(x1 - x0 - 2, 1.5):.1f}' "
            f"height='{bh:.1f}' rx='2' fill='{_BAR}'><title>{escape(fmt(edges[i]))} to "
            f"{escape(fmt(edges[i + 1]))}: {n}</title></rect>"
        )
    c.add(f"<line x1='{px}' y1='{py + ph}' x2='{px + pw}' y2='{py + ph}' stroke='{_MUTED}'/>")
    ticks = _log_ticks(lo, hi) if log else _lin_ticks(lo, hi)
    for t in ticks:
        tx = sx(t)
        c.add(
            f"<line x1='{tx:.1f}' y1='{py + ph}' x2='{tx:.1f}' y2='{py + ph + 5}' "
            f"stroke='{_MUTED}'/>"
        )
        c.text(tx, py + ph + 18, fmt(t), 10, fill=_MUTED, text_anchor="middle")
    for value, colour, label in ((median, _MEDIAN, "median"), (p95, _P95, "p95")):
        mx = min(max(sx(max(value, lo)), px), px + pw)
        c.add(
            f"<line x1='{mx:.1f}' y1='{py - 4}' x2='{mx:.1f}' y2='{py + ph}' stroke='{colour}' "
            "stroke-width='1.5' stroke-dasharray='4 3'/>"
        )
        c.text(mx + 4, py + 6 if label == "median" else py + 20, label, 10, fill=colour)
    c.text(px, y + h - 12, f"{len(values)} values", 10, fill=_MUTED)


def _lin_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step(hi - lo, 5)
    first = math.ceil(lo / step) * step
    out = []
    t = first
    while t <= hi + 1e-9:
        out.append(round(t, 10))
        t += step
    return out


def _log_ticks(lo: float, hi: float) -> list[float]:
    candidates = [1.0, 10.0, 60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0]
    inside = [t for t in candidates if lo <= t <= hi]
    return inside or [lo, hi]


def study_svg(study: Study, *, command: str = "") -> str:
    """The study as an SVG document (text)."""
    c = _Canvas()
    c.add(
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
        f"viewBox='0 0 {_W} {_H}' {_FONT}>"
    )
    c.add(f"<rect width='{_W}' height='{_H}' fill='#f5f7fa'/>")
    runs = len(study.runs)
    launches = sum(m.launches for m in study.runs)
    c.text(28, 40, study.title, 19, font_weight="700")
    seeds = [m.seed for m in study.runs]
    span = f"seeds {min(seeds)}–{max(seeds)}" if seeds else "no runs"
    c.text(
        28,
        64,
        f"{runs} simulated runs of '{study.scenario}' ({span}), {launches} launches in all",
        13,
        fill=_MUTED,
    )
    share = study.values("share_late_or_missing")
    hit = sum(1 for v in share if v > 0)
    c.text(
        28,
        86,
        f"In {hit} of {runs} runs at least one launch had a late or missing notice.",
        13,
        fill=_INK,
    )
    pw, ph = (_W - 28 * 2 - 20) / 2, (_H - 130 - 40 - 20) / 2
    x0, x1, y0, y1 = 28, 28 + pw + 20, 110, 110 + ph + 20
    panels = (
        (
            x0,
            y0,
            "Launches with a late or missing notice",
            "per run: share of its launches",
            share,
            _percent,
            False,
            "no launches",
        ),
        (
            x1,
            y0,
            "Time to acknowledgement",
            "all runs: first transmission to ack (log scale)",
            study.pooled_ack_seconds(),
            _duration,
            True,
            "no acknowledgements",
        ),
        (
            x0,
            y1,
            "Retransmissions per notice",
            "per run",
            study.values("retransmissions_per_notice"),
            _number,
            False,
            "no notices",
        ),
        (
            x1,
            y1,
            "Findings the audit should report",
            "per run: faults caused or injected",
            study.values("faults"),
            _number,
            False,
            "no runs",
        ),
    )
    for px, py, title, caption, values, fmt, log, empty in panels:
        _panel(
            c,
            px,
            py,
            pw,
            ph,
            title=title,
            caption=caption,
            values=values,
            fmt=fmt,
            log=log,
            empty=empty,
        )
    if command:
        c.text(28, _H - 14, command, 11, fill=_MUTED, font_family="ui-monospace, monospace")
    c.add("</svg>")
    return "\n".join(c.parts) + "\n"
