"""The event every rule check looks at: a message provided to a centre.

A message is *provided* to its receiver when the receiver's log records its receipt. When the
receiver's log is not among the inputs, the sender's log stands in: the statement's signed
``sent_at`` is used as the instant, and every explanation says so ("measured at sending: US's log
is not among the inputs; receipt can only be later"). A message sent to a centre whose log is
given but never received there is provided *never*: rules measured at receipt treat it as
missing (a violation once the deadline lies inside the audited period, open otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from nrrc.audit.findings import Evidence
from nrrc.catalogue import MeasuredAt, Rule
from nrrc.envelope import Opened
from nrrc.messages import Statement
from nrrc.timeutil import to_utc

__all__ = ["Basis", "Provision", "kind_words", "payload_values", "short_id"]


class Basis(Enum):
    """How the instant of a provision is known."""

    RECEIVED = "received"
    """The receiver's log records the receipt."""
    SENT = "sent"
    """The receiver's log is not among the inputs: the sending stands in for the receipt."""
    NEVER = "never"
    """The receiver's log is given but has no receipt of the message."""


@dataclass(slots=True)
class Provision:
    """One message provided (or not) to one receiver."""

    opened: Opened
    kind: str
    """The message's kind id."""
    receiver: str
    basis: Basis
    at: datetime | None
    """The receipt (RECEIVED), the sending (SENT), or None (NEVER)."""
    first: bool
    """True for the first provision of this message (once-per-message rules look only here)."""
    evidence: tuple[Evidence, ...]
    note: str = ""
    """Why the instant is not a receipt, for explanations (empty when it is)."""

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
        if rule.measured_at is MeasuredAt.SENDING:
            return self.sent_at
        return self.at

    def verb(self, rule: Rule) -> str:
        """``received`` or ``sent``: what the measured instant is."""
        if rule.measured_at is MeasuredAt.SENDING or self.basis is Basis.SENT:
            return "sent"
        return "received"

    def suffix(self, rule: Rule) -> str:
        """The note on a stand-in instant, when it applies to ``rule``."""
        if rule.measured_at is MeasuredAt.SENDING or not self.note:
            return ""
        return f" ({self.note})"


def payload_values(statement: Statement) -> dict[str, Any]:
    """The payload's fields by name (for rule conditions and anchors)."""
    payload = statement.payload
    return {f: getattr(payload, f) for f in payload.__struct_fields__}


def short_id(message_id: str) -> str:
    """The first 13 characters of a message id, for sentences (the full id is in the finding)."""
    return message_id[:13] + "…"


def kind_words(kind_id: str) -> str:
    """``bmlna.launch_notice`` -> ``launch notice``; ``core.ack`` -> ``acknowledgement``."""
    name = kind_id.rsplit(".", 1)[-1]
    return "acknowledgement" if name == "ack" else name.replace("_", " ")
