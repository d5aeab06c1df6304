"""The event every rule check looks at: a message provided to a centre.

A message is *provided* to its receiver when the receiver's log records its receipt. When the
receiver's log is not among the inputs, the sender's log stands in: the statement's signed
``sent_at`` is used as the instant, and every explanation says so ("measured at sending: US's log
is not among the inputs; receipt can only be later"). A message sent to a centre whose log is
given but never received there is provided *never*: rules measured at receipt treat it as
missing (a violation once the deadline lies inside the audited period, open otherwise).
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Any

import msgspec
from msgspec.structs import asdict

from nrrc.audit.findings import EvidenceLike
from nrrc.catalogue import MeasuredAt, Rule
from nrrc.envelope import Opened
from nrrc.messages import Statement
from nrrc.timeutil import to_utc

__all__ = ["Basis", "Provision", "kind_words", "payload_values", "short_id", "values_of"]


class Basis(Enum):
    """How the instant of a provision is known."""

    RECEIVED = "received"
    """The receiver's log records the receipt."""
    SENT = "sent"
    """The receiver's log is not among the inputs: the sending stands in for the receipt."""
    NEVER = "never"
    """The receiver's log is given but has no receipt of the message."""


_SENDING = MeasuredAt.SENDING


class Provision(msgspec.Struct, gc=False):
    """One message provided (or not) to one receiver.

    Built once per provision and handed to every check of its kind (the audit's hot path: a
    C-level struct, no cycle through it, so the cyclic collector never tracks it).
    """

    opened: Opened
    kind: str
    """The message's kind id."""
    receiver: str
    basis: Basis
    at: datetime | None
    """The receipt (RECEIVED), the sending (SENT), or None (NEVER)."""
    first: bool
    """True for the first provision of this message (once-per-message rules look only here)."""
    evidence: tuple[EvidenceLike, ...]
    """The log lines that show it, as :class:`~nrrc.audit.findings.Evidence` or as
    ``(file rank, line, message id, role)`` (resolved to names only when a finding cites them)."""
    note: str = ""
    """Why the instant is not a receipt, for explanations (empty when it is)."""
    ts: float = math.nan
    """``at`` as a POSIX timestamp; NaN when ``at`` is None (every comparison with it is
    false, so no fast path ever takes a provision that never happened)."""
    period_end: datetime | None = None
    """The end of the audited period, known only for NEVER provisions (made at the end)."""
    now: float = 0.0
    """The instant of the audit's pass when this provision was made."""
    values: dict[str, Any] | None = None
    """The payload's fields by name, once a check asked for them (see :func:`values_of`)."""

    @property
    def statement(self) -> Statement:
        """The message's statement."""
        return self.opened.statement

    @property
    def sent_at(self) -> datetime:
        """The statement's signed sending instant, in UTC."""
        return to_utc(self.opened.statement.sent_at)

    def instant(self, rule: Rule) -> datetime | None:
        """The instant ``rule`` measures: the sending, or the receipt (None when never)."""
        if rule.measured_at is _SENDING:
            return self.sent_at
        return self.at

    def verb(self, rule: Rule) -> str:
        """``received`` or ``sent``: what the measured instant is."""
        if rule.measured_at is _SENDING or self.basis is Basis.SENT:
            return "sent"
        return "received"

    def suffix(self, rule: Rule) -> str:
        """The note on a stand-in instant, when it applies to ``rule``."""
        if rule.measured_at is _SENDING or not self.note:
            return ""
        return f" ({self.note})"


def values_of(prov: Provision) -> dict[str, Any]:
    """:func:`payload_values` of a provision's statement, computed once per provision."""
    values = prov.values
    if values is None:
        values = prov.values = asdict(prov.opened.statement.payload)
    return values


def payload_values(statement: Statement) -> dict[str, Any]:
    """The payload's fields by name (for rule conditions and anchors)."""
    return asdict(statement.payload)


def short_id(message_id: str) -> str:
    """The first 13 characters of a message id, for sentences (the full id is in the finding)."""
    return message_id[:13] + "…"


def kind_words(kind_id: str) -> str:
    """``bmlna.launch_notice`` -> ``launch notice``; ``core.ack`` -> ``acknowledgement``."""
    name = kind_id.rsplit(".", 1)[-1]
    return "acknowledgement" if name == "ack" else name.replace("_", " ")
