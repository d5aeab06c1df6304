"""A centre's durable state as msgspec structs, so that it can be snapshotted and restored.

Everything a centre must not forget across a restart lives here: its epoch and next sequence
number, the notices it has planned, the acknowledgements it owes, its outbox of unacknowledged
messages, what it has received (for deduplication and replay checks) and its timers.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from nrrc.messages import ReplyRef

__all__ = ["CentreState", "OwedAck", "Pending", "Plan", "Seen", "Window"]


class Plan(msgspec.Struct, kw_only=True):
    """A message the centre has decided to send at ``send_at``.

    ``purpose`` is ``notice`` (for a planned activity), ``periodic`` (an annual submission),
    ``reply`` (to a request) or ``message`` (planned directly). ``first_late`` is the first
    instant at which it would be late under ``codes`` (None when no rule bounds it).
    """

    key: str
    purpose: str
    kind: str
    to: str
    agreement: str
    payload: bytes
    send_at: datetime
    first_late: datetime | None = None
    codes: list[str] = msgspec.field(default_factory=list)
    deadlines: dict[str, datetime] = msgspec.field(default_factory=dict)
    window_codes: list[str] = msgspec.field(default_factory=list)
    activity: str | None = None
    in_reply_to: ReplyRef | None = None
    late: bool = False


class OwedAck(msgspec.Struct, kw_only=True):
    """An acknowledgement this centre owes for a message it received."""

    sender: str
    message_id: str
    digest: str
    kind: str
    received_at: datetime
    send_at: datetime
    first_late: datetime | None = None
    codes: list[str] = msgspec.field(default_factory=list)


class Pending(msgspec.Struct, kw_only=True):
    """A sent message still waiting for acknowledgements (the outbox)."""

    message_id: str
    kind: str
    to: str
    envelope: bytes
    digest: str
    first_sent: datetime
    attempts: int
    waiting: list[str]
    next_retry: datetime
    expires_at: datetime


class Seen(msgspec.Struct, kw_only=True):
    """A message this centre accepted: for deduplication, replay checks and re-acknowledging."""

    digest: str
    received_at: datetime
    epoch: int
    seq: int
    ack: bytes | None = None
    ack_id: str | None = None


class Window(msgspec.Struct):
    """Sequence numbers accepted from one sender in one epoch: every number up to ``floor``
    counts as seen, and ``above`` holds those seen beyond it.

    A sender numbers all its messages in one sequence, whoever they go to, so a recipient sees
    gaps; the floor rises over a run without gaps, and when old messages are forgotten (see
    :meth:`forget_through`).
    """

    floor: int = 0
    above: set[int] = msgspec.field(default_factory=set)

    def has(self, seq: int) -> bool:
        """Whether ``seq`` was seen (or lies at or below the floor)."""
        return seq <= self.floor or seq in self.above

    def add(self, seq: int) -> None:
        """Record ``seq`` as seen and advance the floor over any run it completes."""
        if seq <= self.floor:
            return
        self.above.add(seq)
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)

    def forget_through(self, seq: int) -> None:
        """Raise the floor to ``seq``: anything numbered up to it is now behind."""
        if seq <= self.floor:
            return
        self.floor = seq
        self.above = {s for s in self.above if s > seq}
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)


class CentreState(msgspec.Struct, kw_only=True):
    """Everything durable about a centre.

    Timers are ``[at, n, what, key]`` entries of a heap, ``what`` being ``plan``, ``ack``,
    ``retry`` or ``year``; a timer whose object is gone or rescheduled is skipped when it fires.
    """

    centre: str
    epoch: int = 1
    next_seq: int = 1
    plans: dict[str, Plan] = msgspec.field(default_factory=dict)
    done: dict[str, str] = msgspec.field(default_factory=dict)
    acks: dict[str, OwedAck] = msgspec.field(default_factory=dict)
    outbox: dict[str, Pending] = msgspec.field(default_factory=dict)
    seen: dict[str, Seen] = msgspec.field(default_factory=dict)
    windows: dict[str, dict[int, Window]] = msgspec.field(default_factory=dict)
    timers: list[tuple[datetime, int, str, str]] = msgspec.field(default_factory=list)
    timer_count: int = 0
    activities: dict[str, bool] = msgspec.field(default_factory=dict)
    years: list[int] = msgspec.field(default_factory=list)
    accepted: int = 0
