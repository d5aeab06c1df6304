"""JSON reporter: the audit as one JSON document with a documented, stable schema.

Format ``nrrc-audit/1``. Keys are always present (``null`` when a value does not apply), lists
keep the audit's order (findings sorted by first instant, code, message ids, fingerprint), and
instants are RFC 3339 strings in UTC (``2026-03-01T00:00:00Z``). New keys may be added in later
versions of ``nrrc-audit/1``; existing keys never change meaning or type::

    {
      "format": "nrrc-audit/1",
      "logs": ["RU.log.jsonl", "US.log.jsonl"],        // message logs, by owner then name
      "observed": ["observed.jsonl"],                  // observed-activity logs
      "period": {"start": "…Z", "end": "…Z"},           // the audited period
      "totals": {
        "records": 812,          // sent/received/rejected records read
        "verified": 810,         // records whose envelope is trusted as evidence
        "findings": 3, "violations": 2, "warnings": 0, "open": 1
      },
      "exit_code": 1,            // 0 no violations, 1 violations (2: the audit could not run)
      "summary": [               // one row per rule checked (and per INT/REC code with findings)
        {"code": "BML001", "name": "bmlna_prelaunch_24h", "agreement": "bmlna",
         "verified": "secondary", "checked": 40, "passed": 39, "violated": 1,
         "warned": 0, "open": 0}
      ],
      "findings": [
        {"code": "BML001",
         "name": "bmlna_prelaunch_24h",
         "outcome": "violation",             // violation | warning | open
         "title": "Launch notified at least 24 hours before the planned launch date",
         "agreement": "bmlna",               // or "integrity" / "reconciliation"
         "article": "Art. I",
         "citation_url": "https://…",
         "verified": "secondary",            // primary | secondary | unverified | n/a
         "status": "S",                      // V, V-ru, V-hu, S, R (n/a for INT/REC)
         "explanation": "launch notice 019c… received 2026-03-01 00:50:00 UTC, …",
         "parties": ["RU", "US"],            // sender first, then receiver
         "message_ids": ["019c…"],
         "instants": {"sent": "…Z", "received": "…Z", "deadline": "…Z"},
         "measured_seconds": 83400,          // lead time obtained, or delay; null if none
         "bound_seconds": 86400,
         "margin_seconds": -3000,            // negative: broken by that much
         "evidence": [{"file": "US.log.jsonl", "line": 2, "message_id": "019c…",
                       "role": "receipt"}],
         "fingerprint": "5d0c…"}             // stable across runs and file names
      ],
      "measurements": [          // only when asked for (the HTML timeline uses them)
        {"code": "BML001", "sender": "RU", "recipient": "US", "message_id": "019c…",
         "at": "…Z", "measured_seconds": 83400, "bound_seconds": 86400,
         "outcome": "violation"}
      ]
    }
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from nrrc.audit.findings import AuditResult, Finding, Measurement, Outcome, RuleSummary
from nrrc.timeutil import to_utc

__all__ = ["FORMAT", "exit_code", "render", "to_document"]

FORMAT = "nrrc-audit/1"


def _instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S") + _fraction(value) + "Z"


def _fraction(value: datetime) -> str:
    return f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""


def exit_code(result: AuditResult) -> int:
    """0 when no finding is a violation, 1 otherwise."""
    return 1 if result.violations else 0


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "name": f.name,
        "outcome": f.outcome.value,
        "title": f.title,
        "agreement": f.agreement,
        "article": f.article,
        "citation_url": f.citation_url,
        "verified": f.verified,
        "status": f.status,
        "explanation": f.explanation,
        "parties": list(f.parties),
        "message_ids": list(f.message_ids),
        "instants": {k: _instant(v) for k, v in sorted(f.instants.items())},
        "measured_seconds": f.measured_seconds,
        "bound_seconds": f.bound_seconds,
        "margin_seconds": f.margin_seconds,
        "evidence": [
            {"file": e.file, "line": e.line, "message_id": e.message_id, "role": e.role}
            for e in f.evidence
        ],
        "fingerprint": f.fingerprint,
    }


def _summary(s: RuleSummary) -> dict[str, Any]:
    return {
        "code": s.code,
        "name": s.name,
        "agreement": s.agreement,
        "verified": s.verified,
        "checked": s.checked,
        "passed": s.passed,
        "violated": s.violated,
        "warned": s.warned,
        "open": s.open,
    }


def _measurement(m: Measurement) -> dict[str, Any]:
    return {
        "code": m.code,
        "sender": m.sender,
        "recipient": m.recipient,
        "message_id": m.message_id,
        "at": _instant(m.at),
        "measured_seconds": m.measured_seconds,
        "bound_seconds": m.bound_seconds,
        "outcome": m.outcome,
    }


def to_document(result: AuditResult) -> dict[str, Any]:
    """The ``nrrc-audit/1`` document as Python data."""
    outcomes = [f.outcome for f in result.findings]
    return {
        "format": FORMAT,
        "logs": list(result.logs),
        "observed": list(result.observed),
        "period": {"start": _instant(result.period_start), "end": _instant(result.period_end)},
        "totals": {
            "records": result.messages,
            "verified": result.verified,
            "findings": len(outcomes),
            "violations": outcomes.count(Outcome.VIOLATION),
            "warnings": outcomes.count(Outcome.WARNING),
            "open": outcomes.count(Outcome.OPEN),
        },
        "exit_code": exit_code(result),
        "summary": [_summary(s) for s in result.summary],
        "findings": [_finding(f) for f in result.findings],
        "measurements": [_measurement(m) for m in result.measurements],
    }


def render(result: AuditResult) -> str:
    """The audit as ``nrrc-audit/1`` JSON (indented, ending in a newline)."""
    raw = msgspec.json.encode(to_document(result))
    return msgspec.json.format(raw, indent=2).decode() + "\n"
