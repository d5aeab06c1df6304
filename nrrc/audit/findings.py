"""Findings: immutable records of what the audit found. Reporters only format them.

A finding carries the rule's code, its outcome (violation, warning, or open when a deadline lies
after the end of the logs), the agreement and article, the parties, the messages that prove it,
the instants involved, the measured value against the bound in words, the citation with its
verification status, and a stable fingerprint.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import Enum

import msgspec

__all__ = [
    "AuditResult",
    "Evidence",
    "EvidenceLike",
    "EvidenceRef",
    "Finding",
    "Measurement",
    "Outcome",
    "RuleSummary",
    "fingerprint",
]


class Outcome(Enum):
    """What a finding says about its rule."""

    VIOLATION = "violation"
    WARNING = "warning"
    OPEN = "open"


class Evidence(msgspec.Struct, frozen=True, omit_defaults=True):
    """A log line that proves a finding."""

    file: str
    line: int
    message_id: str | None = None
    role: str = ""
    """What the line is to the finding: ``notice``, ``receipt``, ``acknowledgement`` ..."""


EvidenceRef = tuple[int, int, str | None, str]
"""Evidence not yet named: ``(file rank, line, message id, role)``. The audit carries these
(cheap tuples) and the collector turns the ones a finding cites into :class:`Evidence`."""
EvidenceLike = Evidence | EvidenceRef


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One breach (or open obligation) of one rule."""

    code: str
    name: str
    outcome: Outcome
    agreement: str
    article: str
    citation_url: str
    verified: str
    """primary | secondary | unverified"""
    status: str
    """The status code as the sources give it: V, V-ru, V-hu, S, R."""
    title: str
    explanation: str
    """The measured value against the bound, in words a person reads at once."""
    parties: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    instants: dict[str, datetime] = msgspec.field(default_factory=dict)
    measured_seconds: int | None = None
    bound_seconds: int | None = None
    margin_seconds: int | None = None
    """Signed distance to the bound: negative means the rule is broken by that much (a lead
    time short by it, a report or answer late by it); positive, the time to spare."""
    evidence: tuple[Evidence, ...] = ()
    fingerprint: str = ""

    def sort_key(self) -> tuple[str, str, str, str]:
        """Order findings by first instant, then code, then message ids, then fingerprint."""
        first = min(self.instants.values()).isoformat() if self.instants else ""
        return (first, self.code, ",".join(self.message_ids), self.fingerprint)


def fingerprint(code: str, *keys: str) -> str:
    """Stable fingerprint: SHA-256 over the rule code and the identifying keys (message ids,
    parties, year ...), independent of file names and input order."""
    h = hashlib.sha256(code.encode())
    for k in keys:
        h.update(b"\x1f" + k.encode())
    return h.hexdigest()[:32]


class Measurement(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One check of a timed rule on one message, passed or not (for timelines and counts).

    ``measured_seconds`` is the actual lead time (lead_time rules) or delay (lag, response)
    and ``bound_seconds`` what the rule requires.
    """

    code: str
    sender: str
    recipient: str
    message_id: str
    at: datetime
    """The instant measured (receipt of the notice, by default)."""
    measured_seconds: int
    bound_seconds: int
    outcome: str
    """pass | violation | warning | open"""


class RuleSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Per-rule counts for the summary table."""

    code: str
    name: str
    agreement: str
    verified: str
    checked: int = 0
    passed: int = 0
    violated: int = 0
    warned: int = 0
    open: int = 0


class AuditResult(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one audit produced; reporters format it and nothing else."""

    findings: tuple[Finding, ...]
    summary: tuple[RuleSummary, ...]
    logs: tuple[str, ...]
    messages: int
    verified: int
    period_start: datetime | None = None
    period_end: datetime | None = None
    measurements: tuple[Measurement, ...] = ()
    observed: tuple[str, ...] = ()
    """Observed-activity logs read (``logs`` holds the message logs)."""

    @property
    def violations(self) -> int:
        """Number of findings with outcome violation."""
        return sum(1 for f in self.findings if f.outcome is Outcome.VIOLATION)
