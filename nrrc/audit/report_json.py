"""JSON reporter: the audit as one JSON document with a documented, stable schema.

Format ``nrrc-audit/1``. Keys are always present (``null`` when a value does not apply), lists
keep the audit's order (findings sorted by first instant, code, message ids, fingerprint), and
instants are RFC 3339 strings in UTC (``2026-03-01T00:00:00Z``). New keys may be added in later
versions of ``nrrc-audit/1``; existing keys never change meaning or type. The JSON Schema is
published as ``messages/schema/audit-report.json`` (generated from :class:`AuditDocument` by
:mod:`nrrc.schemas`; ``nrrc schema audit-report`` prints it)::

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
from typing import Annotated, Any, Final, Literal

import msgspec

from nrrc.audit.findings import AuditResult, Finding, Measurement, Outcome, RuleSummary
from nrrc.timeutil import to_utc

__all__ = ["FORMAT", "AuditDocument", "document", "exit_code", "render", "to_document"]

FORMAT: Final = "nrrc-audit/1"

Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$",
        description="RFC 3339 instant in UTC, with a fraction of a second only when it has one",
    ),
]
Seconds = Annotated[int | None, msgspec.Meta(description="whole seconds; null when none applies")]
Verification = Annotated[
    Literal["primary", "secondary", "unverified", "n/a"],
    msgspec.Meta(
        description="how firmly the rule's source is verified (n/a for integrity and "
        "reconciliation checks)"
    ),
]
Count = Annotated[int, msgspec.Meta(ge=0)]


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class PeriodDoc(msgspec.Struct):
    """The audited period: first and last instant of the logs (null when they hold none)."""

    start: Instant | None
    end: Instant | None


class TotalsDoc(msgspec.Struct):
    """Counts over the whole audit."""

    records: Annotated[Count, _d("sent, received and rejected records read")]
    verified: Annotated[Count, _d("records whose envelope is trusted as evidence")]
    findings: Count
    violations: Count
    warnings: Count
    open: Annotated[Count, _d("obligations whose deadline lies after the end of the logs")]


class SummaryDoc(msgspec.Struct):
    """One rule checked (or one integrity/reconciliation code with findings)."""

    code: Annotated[str, _d("stable rule code, e.g. BML001; nrrc rules show CODE explains it")]
    name: Annotated[str, _d("the rule id of AGREEMENTS.md")]
    agreement: Annotated[str, _d("agreement id, or integrity / reconciliation")]
    verified: Verification
    checked: Count
    passed: Count
    violated: Count
    warned: Count
    open: Count


class EvidenceDoc(msgspec.Struct):
    """A log line that proves the finding."""

    file: Annotated[str, _d("the log as named on the command line")]
    line: Annotated[int, msgspec.Meta(ge=1, description="1-based line number in that file")]
    message_id: str | None
    role: Annotated[str, _d("what the line is to the finding: receipt, sending, line ...")]


class FindingDoc(msgspec.Struct):
    """One breach, warning or open obligation of one rule."""

    code: str
    name: str
    outcome: Literal["violation", "warning", "open"]
    title: str
    agreement: str
    article: Annotated[str, _d("article of the agreement the rule comes from")]
    citation_url: str
    verified: Verification
    status: Annotated[
        Literal["V", "V-ru", "V-hu", "S", "R", "n/a"],
        _d("the source's verification status code as AGREEMENTS.md gives it"),
    ]
    explanation: Annotated[str, _d("the measured value against the bound, in words")]
    parties: Annotated[list[str], _d("sender first, then receiver")]
    message_ids: list[str]
    instants: Annotated[
        dict[str, Instant], _d("the instants involved, by role: sent, received, deadline ...")
    ]
    measured_seconds: Annotated[Seconds, _d("lead time obtained, or delay; null if none")]
    bound_seconds: Seconds
    margin_seconds: Annotated[
        Seconds, _d("signed distance to the bound: negative means broken by that much")
    ]
    evidence: list[EvidenceDoc]
    fingerprint: Annotated[
        str,
        msgspec.Meta(
            pattern="^[0-9a-f]{32}$",
            description="stable across runs, input order and file names",
        ),
    ]


class MeasurementDoc(msgspec.Struct):
    """One check of a timed rule on one message, passed or not (the HTML timeline's points)."""

    code: str
    sender: str
    recipient: str
    message_id: str
    at: Annotated[Instant, _d("the instant measured (receipt of the notice, by default)")]
    measured_seconds: int
    bound_seconds: int
    outcome: Literal["pass", "violation", "warning", "open"]


class AuditDocument(msgspec.Struct):
    """An nrrc audit: findings against the agreements' rules with their evidence.

    Every key is always present (null when a value does not apply). New keys may be added in
    later versions of nrrc-audit/1; existing keys never change meaning or type.
    """

    format: Literal["nrrc-audit/1"]
    logs: Annotated[list[str], _d("message logs, by owner then name")]
    observed: Annotated[list[str], _d("observed-activity logs")]
    period: PeriodDoc
    totals: TotalsDoc
    exit_code: Annotated[
        Literal[0, 1], _d("0 no violations, 1 violations (an audit that cannot run exits 2)")
    ]
    summary: list[SummaryDoc]
    findings: Annotated[
        list[FindingDoc], _d("sorted by first instant, code, message ids, fingerprint")
    ]
    measurements: Annotated[list[MeasurementDoc], _d("only when asked for, else empty")]


def _instant(value: datetime) -> str:
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S") + _fraction(value) + "Z"


def _maybe(value: datetime | None) -> str | None:
    return None if value is None else _instant(value)


def _fraction(value: datetime) -> str:
    return f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""


def exit_code(result: AuditResult) -> Literal[0, 1]:
    """0 when no finding is a violation, 1 otherwise."""
    return 1 if result.violations else 0


def _finding(f: Finding) -> FindingDoc:
    return FindingDoc(
        code=f.code,
        name=f.name,
        outcome=f.outcome.value,
        title=f.title,
        agreement=f.agreement,
        article=f.article,
        citation_url=f.citation_url,
        verified=f.verified,  # type: ignore[arg-type]
        status=f.status,  # type: ignore[arg-type]
        explanation=f.explanation,
        parties=list(f.parties),
        message_ids=list(f.message_ids),
        instants={k: _instant(v) for k, v in sorted(f.instants.items())},
        measured_seconds=f.measured_seconds,
        bound_seconds=f.bound_seconds,
        margin_seconds=f.margin_seconds,
        evidence=[EvidenceDoc(e.file, e.line, e.message_id, e.role) for e in f.evidence],
        fingerprint=f.fingerprint,
    )


def _summary(s: RuleSummary) -> SummaryDoc:
    return SummaryDoc(
        s.code,
        s.name,
        s.agreement,
        s.verified,  # type: ignore[arg-type]
        s.checked,
        s.passed,
        s.violated,
        s.warned,
        s.open,
    )


def _measurement(m: Measurement) -> MeasurementDoc:
    return MeasurementDoc(
        m.code,
        m.sender,
        m.recipient,
        m.message_id,
        _instant(m.at),
        m.measured_seconds,
        m.bound_seconds,
        m.outcome,  # type: ignore[arg-type]
    )


def document(result: AuditResult) -> AuditDocument:
    """The ``nrrc-audit/1`` document."""
    outcomes = [f.outcome for f in result.findings]
    return AuditDocument(
        format=FORMAT,
        logs=list(result.logs),
        observed=list(result.observed),
        period=PeriodDoc(_maybe(result.period_start), _maybe(result.period_end)),
        totals=TotalsDoc(
            records=result.messages,
            verified=result.verified,
            findings=len(outcomes),
            violations=outcomes.count(Outcome.VIOLATION),
            warnings=outcomes.count(Outcome.WARNING),
            open=outcomes.count(Outcome.OPEN),
        ),
        exit_code=exit_code(result),
        summary=[_summary(s) for s in result.summary],
        findings=[_finding(f) for f in result.findings],
        measurements=[_measurement(m) for m in result.measurements],
    )


def to_document(result: AuditResult) -> dict[str, Any]:
    """The ``nrrc-audit/1`` document as Python data."""
    data: dict[str, Any] = msgspec.to_builtins(document(result))
    return data


def render(result: AuditResult) -> str:
    """The audit as ``nrrc-audit/1`` JSON (indented, ending in a newline)."""
    raw = msgspec.json.encode(document(result))
    return msgspec.json.format(raw, indent=2).decode() + "\n"
