"""The live demo's model and view: what the node processes report, as rich tables.

The model is fed the JSON lines the nodes print (see :func:`nrrc.node.event_fields`) and the
orchestrator's own notes; the view renders it. Nothing here does I/O.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from nrrc.timeutil import format_delta

__all__ = ["CentreRow", "DemoModel"]

_SENT = {"notice-sent", "periodic-sent", "reply-sent", "message-sent"}
_WARNINGS = {
    "late-notice": "late notice",
    "late-reply": "late reply",
    "rejected": "refused",
    "undelivered": "undelivered",
    "restarted": "restarted",
    "node.journal-replayed": "journal replayed",
    "notice-withheld": "withheld",
    "ack-withheld": "acknowledgement withheld",
    "invalid-plan": "invalid plan",
}


@dataclass
class CentreRow:
    """What one centre has done so far."""

    status: str = "starting"
    epoch: int = 0
    notices: int = 0
    acks_sent: int = 0
    received: int = 0
    acknowledged: int = 0
    retransmitted: int = 0
    duplicates: int = 0
    refused: int = 0
    late: int = 0


@dataclass
class DemoModel:
    """Counts and recent warnings of a live run.

    Attributes:
        title: the scenario's title.
        start: first simulated instant.
        end: last simulated instant of the run.
        broker: where the broker is, for the header.
        speed: simulated seconds per real second.
    """

    title: str
    start: datetime
    end: datetime
    broker: str
    speed: float = 86400.0
    centres: dict[str, CentreRow] = field(default_factory=dict)
    links: Counter[tuple[str, str]] = field(default_factory=Counter)
    agreements: Counter[str] = field(default_factory=Counter)
    agreements_late: Counter[str] = field(default_factory=Counter)
    ack_seconds: list[float] = field(default_factory=list)
    warnings: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=8))
    warning_count: int = 0
    now: datetime | None = None
    broker_status: str = "up"

    def row(self, centre: str) -> CentreRow:
        """The row of ``centre`` (created on first use)."""
        return self.centres.setdefault(centre, CentreRow())

    def note(self, centre: str, text: str, at: datetime | None = None) -> None:
        """A warning line from the orchestrator (a fault it caused, a node that died)."""
        when = (at or self.now or self.start).strftime("%Y-%m-%d %H:%M")
        self.warnings.append((when, centre, text))
        self.warning_count += 1

    def update(self, fields: dict[str, Any]) -> str | None:
        """Account for one line a node printed; returns a warning's text when it is one."""
        name = str(fields.get("event", ""))
        centre = str(fields.get("centre", "?"))
        row = self.row(centre)
        data = fields.get("data") or {}
        peer = fields.get("peer")
        if name == "node.started":
            row.status, row.epoch = "running", int(fields.get("epoch", 0))
        elif name == "node.stopped":
            row.status = "stopped"
        elif name == "mqtt.connected":
            row.status = "running"
        elif name == "mqtt.disconnected":
            row.status = "reconnecting"
        elif name in _SENT:
            row.notices += 1
            self.links[(centre, str(peer))] += 1
            agreement = str(data.get("agreement") or str(fields.get("kind", "?")).split(".")[0])
            self.agreements[agreement] += 1
            if data.get("late"):
                self.agreements_late[agreement] += 1
        elif name == "ack-sent":
            row.acks_sent += 1
            self.links[(centre, str(peer))] += 1
        elif name == "received":
            row.received += 1
        elif name == "acknowledged":
            row.acknowledged += 1
            latency = data.get("latency")
            if isinstance(latency, int | float):
                self.ack_seconds.append(float(latency))
        elif name == "retransmitted":
            row.retransmitted += 1
        elif name == "duplicate":
            row.duplicates += 1
        if name == "rejected":
            row.refused += 1
        if name in ("late-notice", "late-reply"):
            row.late += 1
        at = fields.get("at")
        instant = datetime.fromisoformat(at) if isinstance(at, str) else None
        if instant is not None and (self.now is None or instant > self.now):
            self.now = instant
        if name in _WARNINGS:
            text = f"{_WARNINGS[name]}: {fields.get('detail', '')}".rstrip(": ")
            self.note(centre, text, instant)
            return f"{centre}: {text}"
        return None

    # -- view -----------------------------------------------------------------------------

    def ack_words(self) -> str:
        """Median and 95th percentile of acknowledgement times (simulated)."""
        if not self.ack_seconds:
            return "no acknowledgements yet"
        values = sorted(self.ack_seconds)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        median = statistics.median(values)
        return (
            f"{len(values)}; median {format_delta(round(median))}, "
            f"95th percentile {format_delta(round(p95))} after sending (simulated time)"
        )

    def render(self, now: datetime | None = None) -> RenderableType:
        """The whole live view."""
        now = now or self.now or self.start
        total = (self.end - self.start).total_seconds()
        done = min(max((now - self.start).total_seconds(), 0.0), total)
        header = Table.grid(padding=(0, 1))
        header.add_row(Text(self.title, style="bold"))
        header.add_row(
            Text(
                f"simulated {now:%Y-%m-%d %H:%M} UTC · 1 real second = "
                f"{format_delta(round(self.speed))} simulated · broker {self.broker} "
                f"({self.broker_status})"
            )
        )
        header.add_row(ProgressBar(total=total, completed=done, width=60))
        side = Table.grid(padding=(0, 2))
        side.add_row(self._links_table(), self._agreements_table())
        return Group(
            header,
            self._centres_table(),
            side,
            Text(
                f"Acknowledgements: {self.ack_words()}. In scaled time 1 ms of real transit is "
                f"{format_delta(round(self.speed / 1000))} simulated.",
                style="dim",
            ),
            self._warnings_table(),
        )

    def _centres_table(self) -> Table:
        t = Table(title="Centres", title_justify="left", expand=False)
        for col in (
            "centre",
            "status",
            "epoch",
            "sent",
            "acks",
            "recv",
            "acked",
            "retx",
            "dups",
            "refused",
            "late",
        ):
            t.add_column(col, justify="left" if col in ("centre", "status") else "right")
        t.caption = (
            "sent: notices and replies · acks: acknowledgements sent · recv: accepted · "
            "acked: own messages acknowledged · retx: retransmissions · dups: copies ignored"
        )
        styles = {"running": "green", "stopped": "dim", "killed": "red", "reconnecting": "yellow"}
        rows = sorted(self.centres.items())
        if len(rows) > 16:
            # Many centres (HCoC: 145): the busiest and the troubled ones, then a count.
            def weight(item: tuple[str, CentreRow]) -> tuple[int, int]:
                r = item[1]
                trouble = r.refused + r.late + (r.status not in ("running", "stopped"))
                return (-trouble, -(r.notices + r.received))

            shown = sorted(rows, key=weight)[:15]
            hidden = len(rows) - len(shown)
            rows = sorted(shown)
            t.caption = f"{hidden} more centres not shown. " + (t.caption or "")
        for c, r in rows:
            status = Text(r.status, style=styles.get(r.status, ""))
            t.add_row(
                c,
                status,
                str(r.epoch),
                str(r.notices),
                str(r.acks_sent),
                str(r.received),
                str(r.acknowledged),
                str(r.retransmitted),
                str(r.duplicates),
                Text(str(r.refused), style="red" if r.refused else ""),
                Text(str(r.late), style="yellow" if r.late else ""),
            )
        return t

    def _links_table(self) -> Table:
        t = Table(title="Traffic per link (first transmissions)", title_justify="left")
        t.add_column("from")
        t.add_column("to")
        t.add_column("messages", justify="right")
        for (a, b), n in sorted(self.links.items(), key=lambda kv: (-kv[1], kv[0]))[:12]:
            t.add_row(a, b, str(n))
        if len(self.links) > 12:
            t.add_row("…", f"{len(self.links) - 12} more links", "")
        return t

    def _agreements_table(self) -> Table:
        t = Table(title="Notices per agreement", title_justify="left")
        t.add_column("agreement")
        t.add_column("sent", justify="right")
        t.add_column("late", justify="right")
        for a, n in sorted(self.agreements.items()):
            late = self.agreements_late[a]
            t.add_row(a, str(n), Text(str(late), style="yellow" if late else ""))
        return t

    def _warnings_table(self) -> Table:
        t = Table(
            title=f"Warnings ({self.warning_count}; latest {len(self.warnings)})",
            title_justify="left",
        )
        t.add_column("simulated")
        t.add_column("centre")
        t.add_column("what", overflow="fold")
        for when, centre, text in self.warnings:
            t.add_row(when, centre, text)
        return t
