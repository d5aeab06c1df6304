"""What goes into a centre and what comes out of it: plain immutable values, no I/O.

Planned activities and messages and the outputs (records, transmissions, events, and the step
holding them) are msgspec structs: a simulation creates several per message, and a struct is
built in C, several times faster than a dataclass.

Inputs are method calls on :class:`~nrrc.centre.Centre` (each given ``now``): a
:class:`Delivery` that arrived, a :class:`PlannedActivity` the state has decided on, a
:class:`PlannedMessage` to send on a given day, or the expiry of the centre's timer. Every call
returns a :class:`Step`: the log records to append, the envelopes to transmit, the events to show,
and the instant at which the centre wants to be woken next.

A driver applies a step in this order: append every record durably, then transmit, then (for a
delivery) acknowledge it at the transport level, then arm the timer at ``wake_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Literal

import msgspec

__all__ = [
    "Delivery",
    "Event",
    "EventLevel",
    "LogRecord",
    "PlannedActivity",
    "PlannedMessage",
    "Step",
    "Transmit",
]


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope handed to a centre by its transport.

    Attributes:
        envelope: the exact bytes that travelled.
        origin: the centre the transport vouches sent it (the sender segment of an MQTT topic
            that a broker ACL binds to credentials, or the far end of an in-memory link); None
            when the transport cannot tell. A mismatch with the signed sender is refused.
        channel: the centre or regime id the envelope was published to (informational).
        handle: the transport's own token for this delivery (e.g. an MQTT message to
            acknowledge once the log record is durable); the centre ignores it.
    """

    envelope: bytes
    origin: str | None = None
    channel: str | None = None
    handle: Any = field(default=None, compare=False, repr=False)


class PlannedActivity(msgspec.Struct, frozen=True):
    """Something this centre's state will do that its agreements may require it to notify.

    Attributes:
        id: stable id (planning the same id twice is a no-op, so a restarted node may re-plan).
        activity: ``launch``, ``exercise``, ``military_activity`` ... (the ``activity`` of the
            catalogue's window rules).
        at: when it happens (start).
        end_at: when it ends, if it lasts.
        window_start: start of the window the notice will announce (default ``at``).
        window_end: end of that window (default ``end_at`` or ``at``).
        attributes: fields such as ``missile_class``, ``troops``, ``heavy_bombers``, and any
            notice field to fill in by name (``launch_area``).
    """

    id: str
    activity: str
    at: datetime
    end_at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def start(self) -> datetime:
        """Start of the notified window."""
        return self.window_start or self.at

    @property
    def end(self) -> datetime:
        """End of the notified window."""
        return self.window_end or self.end_at or self.at

    def values(self) -> dict[str, Any]:
        """Attributes plus ``activity`` and ``at``, for rule conditions."""
        return {**self.attributes, "activity": self.activity, "at": self.at}


class PlannedMessage(msgspec.Struct, frozen=True):
    """A one-off message this centre sends at ``at`` (a request, a goodwill message).

    Attributes:
        id: stable id (planning the same id twice is a no-op).
        kind: the kind id, e.g. ``vd11.unusual_activity_request``.
        to: the recipient centre id or regime id.
        at: when to send it.
        payload: fields of the payload; missing required fields get neutral defaults.
    """

    id: str
    kind: str
    to: str
    at: datetime
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class Transmit(msgspec.Struct, frozen=True):
    """Put ``envelope`` on the wire towards ``to`` (a centre id, or a regime id: every member).

    Attributes:
        to: destination centre or regime.
        envelope: exact bytes; a retransmission carries the same bytes as the first attempt.
        message_id: the statement's id.
        kind: the statement's kind.
        attempt: 1 for the first transmission, 2 and up for retransmissions.
    """

    to: str
    envelope: bytes
    message_id: str
    kind: str
    attempt: int = 1


class LogRecord(msgspec.Struct, frozen=True):
    """A record for the centre's message log (``LogWriter.append`` takes these fields)."""

    direction: Literal["sent", "received", "rejected"]
    at: datetime
    envelope: bytes
    reason: str | None = None
    detail: str | None = None


class EventLevel(Enum):
    """How much an event matters to a watch officer."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Event(msgspec.Struct, frozen=True):
    """Something worth showing or counting; never needed for correctness.

    Names (stable): ``notice-planned``, ``notice-withheld``, ``notice-sent``, ``late-notice``
    (the pre-send check found the notice already late), ``sent``, ``retransmitted``,
    ``acknowledged``, ``undelivered`` (retries expired), ``received``, ``duplicate``,
    ``rejected``, ``unexpected-ack``, ``ack-sent``, ``reply-sent``, ``late-reply``,
    ``restarted``, ``invalid-plan``.
    """

    name: str
    at: datetime
    level: EventLevel = EventLevel.INFO
    message_id: str | None = None
    kind: str | None = None
    peer: str | None = None
    detail: str = ""
    codes: tuple[str, ...] = ()
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Step(msgspec.Struct):
    """The outputs of one call into a centre."""

    records: list[LogRecord] = msgspec.field(default_factory=list)
    transmits: list[Transmit] = msgspec.field(default_factory=list)
    events: list[Event] = msgspec.field(default_factory=list)
    wake_at: datetime | None = None

    def extend(self, other: Step) -> None:
        """Append ``other``'s outputs (its ``wake_at`` wins)."""
        self.records.extend(other.records)
        self.transmits.extend(other.transmits)
        self.events.extend(other.events)
        self.wake_at = other.wake_at
