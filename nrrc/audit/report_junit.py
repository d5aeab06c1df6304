"""JUnit XML reporter: an audit as test results, for CI dashboards.

One ``<testsuite>`` per agreement, one ``<testcase>`` per rule. Each violation is a
``<failure>`` carrying the explanation, the citation with its verification status and the
evidence (file:line). Warnings and open obligations are not failures: they are listed in the
test case's ``<system-out>``, and every test case carries its counts (checked, passed, violated,
warned, open) as ``<property>`` elements. A rule that nothing in the logs exercised (checked 0,
no findings) is ``<skipped>``.

The document is built with :mod:`xml.etree.ElementTree`, which escapes markup; characters that
XML 1.0 cannot carry at all (control characters, lone surrogates) are removed first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable

from nrrc.audit.findings import AuditResult, Finding, Outcome, RuleSummary
from nrrc.catalogue import Catalogue
from nrrc.timeutil import format_delta, format_instant

__all__ = ["render"]

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: object) -> str:
    """``text`` as a string XML 1.0 can carry: control characters and lone surrogates removed."""
    return _NOT_XML.sub("", str(text))


def render(result: AuditResult, *, catalogue: Catalogue | None = None) -> str:
    """The audit as a JUnit XML document (UTF-8 declaration, indented).

    Args:
        result: what the audit produced.
        catalogue: the catalogue the audit used, to cite rules that have no findings.

    Returns:
        The XML text, ending in a newline.
    """
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_code[f.code].append(f)
    summaries = {s.code: s for s in result.summary}
    suites: dict[str, list[str]] = defaultdict(list)
    for code in sorted(set(summaries) | set(by_code)):
        agreement = summaries[code].agreement if code in summaries else by_code[code][0].agreement
        suites[agreement or "nrrc"].append(code)

    root = ET.Element("testsuites", name="nrrc audit")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for agreement in sorted(suites):
        suite = _suite(result, agreement, suites[agreement], summaries, by_code, catalogue)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    root.set("time", "0")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _suite(
    result: AuditResult,
    agreement: str,
    codes: list[str],
    summaries: dict[str, RuleSummary],
    by_code: dict[str, list[Finding]],
    catalogue: Catalogue | None,
) -> ET.Element:
    suite = ET.Element("testsuite", name=clean(agreement))
    props = ET.SubElement(suite, "properties")
    _property(props, "logs", ", ".join(result.logs))
    _property(props, "messages", result.messages)
    _property(props, "verified", result.verified)
    if result.period_start is not None:
        _property(props, "period_start", format_instant(result.period_start))
    if result.period_end is not None:
        _property(props, "period_end", format_instant(result.period_end))
    failures = skipped = 0
    for code in codes:
        rule = catalogue.rule(code) if catalogue is not None else None
        cite = (rule.title, rule.citation.article, rule.citation.url, rule.status) if rule else None
        case = _testcase(agreement, code, summaries.get(code), by_code.get(code, []), cite)
        suite.append(case)
        failures += case.find("failure") is not None
        skipped += case.find("skipped") is not None
    suite.set("tests", str(len(codes)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", "0")
    return suite


def _testcase(
    agreement: str,
    code: str,
    summary: RuleSummary | None,
    findings: list[Finding],
    cite: tuple[str, str, str, str] | None,
) -> ET.Element:
    name = summary.name if summary else findings[0].name
    case = ET.Element(
        "testcase", classname=clean(f"nrrc.{agreement}"), name=clean(f"{code} {name}"), time="0"
    )
    props = ET.SubElement(case, "properties")
    violations = [f for f in findings if f.outcome is Outcome.VIOLATION]
    others = [f for f in findings if f.outcome is not Outcome.VIOLATION]
    if findings:
        first = findings[0]
        cite = (first.title, first.article, first.citation_url, first.status)
    if cite is not None:
        for name, text in zip(("title", "article", "citation", "status"), cite, strict=True):
            _property(props, name, text)
    _property(props, "verified", summary.verified if summary else findings[0].verified)
    counts = _counts(summary, findings)
    for key, value in counts.items():
        _property(props, key, value)
    for f in violations:
        failure = ET.SubElement(
            case, "failure", message=clean(f.explanation), type=clean(f.outcome.value)
        )
        failure.text = clean(_finding_text(f))
    if not findings and counts["checked"] == 0:
        ET.SubElement(
            case, "skipped", message="nothing in the audited logs was subject to this rule"
        )
    if others:
        out = ET.SubElement(case, "system-out")
        out.text = clean("\n\n".join(_finding_text(f) for f in others))
    return case


def _counts(summary: RuleSummary | None, findings: Iterable[Finding]) -> dict[str, int]:
    if summary is not None:
        return {
            "checked": summary.checked,
            "passed": summary.passed,
            "violated": summary.violated,
            "warned": summary.warned,
            "open": summary.open,
        }
    outcomes = [f.outcome for f in findings]
    return {
        "checked": len(outcomes),
        "passed": 0,
        "violated": outcomes.count(Outcome.VIOLATION),
        "warned": outcomes.count(Outcome.WARNING),
        "open": outcomes.count(Outcome.OPEN),
    }


def _property(parent: ET.Element, name: str, value: object) -> None:
    ET.SubElement(parent, "property", name=name, value=clean(value))


def _finding_text(f: Finding) -> str:
    """A finding as plain text lines, everything a reader needs without the JSON."""
    lines = [f"{f.outcome.value.upper()} {f.code} {f.name}: {f.title}", f.explanation]
    if f.parties:
        lines.append("Parties: " + " → ".join(f.parties))
    for label, instant in sorted(f.instants.items(), key=lambda kv: kv[1]):
        lines.append(f"{label}: {format_instant(instant)}")
    if f.measured_seconds is not None and f.bound_seconds is not None:
        line = f"Measured {_span(f.measured_seconds)}; bound {_span(f.bound_seconds)}"
        if f.margin_seconds is not None:
            side = "outside" if f.margin_seconds < 0 else "inside"
            line += f"; {side} the bound by {_span(abs(f.margin_seconds))}"
        lines.append(line)
    cite = " ".join(p for p in (f.agreement, f.article) if p)
    if f.citation_url:
        cite += f" <{f.citation_url}>"
    checks = ", ".join(p for p in (f.verified, f.status and f"status {f.status}") if p)
    lines.append(f"Citation: {cite}" + (f" (verification: {checks})" if checks else ""))
    if f.message_ids:
        lines.append("Messages: " + ", ".join(f.message_ids))
    if f.evidence:
        lines.append("Evidence:")
        for e in f.evidence:
            extra = " ".join(p for p in (e.role, e.message_id or "") if p)
            lines.append(f"  {e.file}:{e.line}" + (f" ({extra})" if extra else ""))
    if f.fingerprint:
        lines.append(f"Fingerprint: {f.fingerprint}")
    return "\n".join(lines)


def _span(seconds: int) -> str:
    """A length of time as the agreements state it: hours below 4 days (``48 h``), else days."""
    sign = "minus " if seconds < 0 else ""
    s = abs(seconds)
    if 86400 <= s < 4 * 86400:
        hours, rest = divmod(s, 3600)
        return sign + " ".join([f"{hours} h", *([format_delta(rest)] if rest else [])])
    return sign + format_delta(s)
