"""The JUnit XML, SARIF 2.1.0 and HTML reporters, on audit results built by hand.

The results are written out here rather than produced by the engine, so these tests pin the
reporters alone: a launch notice received 23 h 10 min before 00:00 UTC on its planned launch
date (BML001), a CFE inspection notice acknowledged 3 h 20 min after its 3 h deadline (CFE006),
a Vienna Document request still unanswered when the logs end (VD002, open) and a launch window
one day too long (BML002, a warning).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from nrrc.audit import report_html, report_junit, report_sarif
from nrrc.audit.findings import (
    AuditResult,
    Evidence,
    Finding,
    Measurement,
    Outcome,
    RuleSummary,
    fingerprint,
)
from nrrc.catalogue import Catalogue

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

BML_URL = "https://www.fas.org/nuke/control/launch/index.html"
CFE_URL = (
    "https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/treaty/on/conventional/"
    "armed/forces/in/europe/BWBV0002009/README.md"
)
BML002_URL = "https://www.grunge.com/1720673/rule-russia-has-follow-if-use-icbm/"
VD_URL = "https://en.interfax.com.ua/news/general/797754.html"

LAUNCH_ID = "01953a1e-5c00-7000-8000-00000000b001"
INSPECTION_ID = "01953f2a-1000-7000-8000-00000000c004"
ACK_ID = "01953f2a-9c40-7000-8000-00000000c006"
REQUEST_ID = "019560f8-2400-7000-8000-00000000d002"
WINDOW_ID = "01953a1e-5c00-7000-8000-00000000b002"
PASS_IDS = [f"01953000-0000-7000-8000-0000000000a{i}" for i in range(3)]


def at(text: str) -> datetime:
    """An aware UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def late_launch() -> Finding:
    """BML001: received 2026-03-01 00:50 UTC for a launch planned on 2026-03-02."""
    return Finding(
        code="BML001",
        name="bmlna_prelaunch_24h",
        outcome=Outcome.VIOLATION,
        agreement="bmlna",
        article="Art. I",
        citation_url=BML_URL,
        verified="secondary",
        status="S",
        title="Launch notified at least 24 hours before the planned launch date",
        explanation=(
            "received 23 h 10 min before 00:00 UTC on the planned launch date 2026-03-02; "
            "the rule requires at least 24 h; short by 50 min"
        ),
        parties=("US", "RU"),
        message_ids=(LAUNCH_ID,),
        instants={"received_at": at("2026-03-01 00:50"), "deadline": at("2026-03-01 00:00")},
        measured_seconds=23 * 3600 + 600,
        bound_seconds=24 * 3600,
        margin_seconds=-50 * 60,
        evidence=(
            Evidence("logs/us.jsonl", 12, LAUNCH_ID, "notice"),
            Evidence("logs/ru.jsonl", 9, LAUNCH_ID, "receipt"),
        ),
        fingerprint=fingerprint("BML001", LAUNCH_ID),
    )


def late_acknowledgement() -> Finding:
    """CFE006: inspection notice received 08:00, acknowledged 14:20 (bound 3 h)."""
    return Finding(
        code="CFE006",
        name="cfe_inspection_ack_3h",
        outcome=Outcome.VIOLATION,
        agreement="cfe",
        article="Protocol on Inspection, Section IV para 4",
        citation_url=CFE_URL,
        verified="primary",
        status="V",
        title="Notification of intent to inspect acknowledged within 3 hours",
        explanation=(
            "acknowledged 6 h 20 min after receipt of the inspection notice at "
            "2026-03-03 08:00:00 UTC; the rule allows at most 3 h; late by 3 h 20 min"
        ),
        parties=("RU", "GB"),
        message_ids=(INSPECTION_ID, ACK_ID),
        instants={
            "trigger_received_at": at("2026-03-03 08:00"),
            "acknowledged_at": at("2026-03-03 14:20"),
        },
        measured_seconds=6 * 3600 + 20 * 60,
        bound_seconds=3 * 3600,
        margin_seconds=-(3 * 3600 + 20 * 60),
        evidence=(
            Evidence("logs/ru.jsonl", 31, INSPECTION_ID, "trigger"),
            Evidence("logs/gb.jsonl", 18, ACK_ID, "acknowledgement"),
        ),
        fingerprint=fingerprint("CFE006", INSPECTION_ID),
    )


def open_request() -> Finding:
    """VD002: request received 2026-03-04 10:00, logs end before the 48 h deadline."""
    return Finding(
        code="VD002",
        name="vd11_unusual_activity_reply_48h",
        outcome=Outcome.OPEN,
        agreement="vd11",
        article="Ch. III para 16.1",
        citation_url=VD_URL,
        verified="secondary",
        status="S",
        title="Request about unusual military activities answered within 48 hours",
        explanation=(
            "no reply yet to the request received 2026-03-04 10:00:00 UTC; the reply is due by "
            "2026-03-06 10:00:00 UTC, after the end of the logs (2026-03-05 12:00:00 UTC)"
        ),
        parties=("RU", "AT"),
        message_ids=(REQUEST_ID,),
        instants={
            "trigger_received_at": at("2026-03-04 10:00"),
            "deadline": at("2026-03-06 10:00"),
        },
        measured_seconds=26 * 3600,
        bound_seconds=48 * 3600,
        evidence=(Evidence("logs/ru.jsonl", 40, REQUEST_ID, "trigger"),),
        fingerprint=fingerprint("VD002", REQUEST_ID),
    )


def long_window() -> Finding:
    """BML002 (soft): a launch window of 5 days."""
    return Finding(
        code="BML002",
        name="bmlna_launch_window_4d",
        outcome=Outcome.WARNING,
        agreement="bmlna",
        article="Art. II/III (exact article unknown)",
        citation_url=BML002_URL,
        verified="unverified",
        status="R",
        title="A launch notice covers a window of at most 4 days",
        explanation="the notified launch window 2026-03-10 to 2026-03-14 covers 5 days; at most 4",
        parties=("US", "RU"),
        message_ids=(WINDOW_ID,),
        instants={"received_at": at("2026-03-02 09:00")},
        measured_seconds=5 * 86400,
        bound_seconds=4 * 86400,
        margin_seconds=-86400,
        evidence=(Evidence("logs/us.jsonl", 15, WINDOW_ID, "notice"),),
        fingerprint=fingerprint("BML002", WINDOW_ID),
    )


def measurements() -> tuple[Measurement, ...]:
    """Timeline rows: passes, the two violations and the open request."""
    rows = [
        Measurement(
            code="BML001", sender="US", recipient="RU", message_id=LAUNCH_ID,
            at=at("2026-03-01 00:50"), measured_seconds=83400, bound_seconds=86400,
            outcome="violation",
        ),
        Measurement(
            code="BML001", sender="US", recipient="RU", message_id=PASS_IDS[0],
            at=at("2026-02-27 06:00"), measured_seconds=2 * 86400 + 18 * 3600, bound_seconds=86400,
            outcome="pass",
        ),
        Measurement(
            code="BML001", sender="US", recipient="RU", message_id=PASS_IDS[1],
            at=at("2026-02-28 00:00"), measured_seconds=86400, bound_seconds=86400,
            outcome="pass",
        ),
        Measurement(
            code="CFE006", sender="RU", recipient="GB", message_id=ACK_ID,
            at=at("2026-03-03 14:20"), measured_seconds=22800, bound_seconds=10800,
            outcome="violation",
        ),
        Measurement(
            code="CFE006", sender="RU", recipient="GB", message_id=PASS_IDS[2],
            at=at("2026-02-28 11:05"), measured_seconds=3900, bound_seconds=10800,
            outcome="pass",
        ),
        Measurement(
            code="VD002", sender="RU", recipient="AT", message_id=REQUEST_ID,
            at=at("2026-03-05 12:00"), measured_seconds=26 * 3600, bound_seconds=48 * 3600,
            outcome="open",
        ),
    ]  # fmt: skip
    return tuple(rows)


def summary() -> tuple[RuleSummary, ...]:
    """Per-rule counts, including a rule nothing exercised (BML003)."""
    return (
        RuleSummary(code="BML001", name="bmlna_prelaunch_24h", agreement="bmlna",
                    verified="secondary", checked=3, passed=2, violated=1),
        RuleSummary(code="BML002", name="bmlna_launch_window_4d", agreement="bmlna",
                    verified="unverified", checked=3, passed=2, warned=1),
        RuleSummary(code="BML003", name="bmlna_launch_notified", agreement="bmlna",
                    verified="secondary"),
        RuleSummary(code="CFE006", name="cfe_inspection_ack_3h", agreement="cfe",
                    verified="primary", checked=2, passed=1, violated=1),
        RuleSummary(code="VD002", name="vd11_unusual_activity_reply_48h", agreement="vd11",
                    verified="secondary", checked=1, open=1),
    )  # fmt: skip


def sample_result() -> AuditResult:
    """Two violations, a warning and an open request over one week of three centres' logs."""
    findings = (late_launch(), long_window(), late_acknowledgement(), open_request())
    return AuditResult(
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        summary=summary(),
        logs=("logs/us.jsonl", "logs/ru.jsonl", "logs/gb.jsonl"),
        messages=48,
        verified=48,
        period_start=at("2026-02-27 00:00"),
        period_end=at("2026-03-05 12:00"),
        measurements=measurements(),
    )


def clean_result() -> AuditResult:
    """An audit that found nothing and measured nothing."""
    return AuditResult(findings=(), summary=(), logs=("logs/empty.jsonl",), messages=0, verified=0)


def with_finding(f: Finding) -> AuditResult:
    """The sample result with ``f`` as its only finding."""
    base = sample_result()
    return AuditResult(
        findings=(f,), summary=base.summary, logs=base.logs, messages=1, verified=1,
        measurements=base.measurements,
    )  # fmt: skip


def hostile(f: Finding) -> Finding:
    """``f`` with markup, quotes and control characters in every free text field."""
    nasty = '<script>alert("x")</script> & ]]> \x00\x1b\x7f \ud800 end'
    return Finding(
        code=f.code, name=f.name, outcome=f.outcome, agreement=f.agreement, article=nasty,
        citation_url="javascript:alert(1)", verified=f.verified, status=f.status, title=nasty,
        explanation=nasty, parties=(nasty,), message_ids=f.message_ids, instants=f.instants,
        evidence=(Evidence(f"logs/{nasty}.jsonl", 3, None, nasty),), fingerprint=f.fingerprint,
    )  # fmt: skip


def broken_chain() -> Finding:
    """INT001, one of the audit's own checks: no treaty citation, no verification level."""
    return Finding(
        code="INT001", name="log_chain_broken", outcome=Outcome.VIOLATION, agreement="integrity",
        article="nrrc-log/1 format (nrrc.msglog)", citation_url="", verified="", status="",
        title="Log records deleted, inserted, reordered or edited",
        explanation="RU.log:17: record n=15 is missing before this line (found n=16)",
        parties=("RU",), evidence=(Evidence("logs/ru.jsonl", 17, None, "record"),),
        fingerprint=fingerprint("INT001", "logs/ru.jsonl", "17"),
    )  # fmt: skip


# ---------------------------------------------------------------- JUnit XML


def junit(result: AuditResult) -> ET.Element:
    """Render and parse back."""
    return ET.fromstring(report_junit.render(result).encode())


def test_junit_has_one_suite_per_agreement_and_one_case_per_rule() -> None:
    """Suites are the agreements, sorted; cases are the rules of each, named code + name."""
    root = junit(sample_result())
    suites = {s.get("name"): [c.get("name") for c in s.iter("testcase")] for s in root}
    assert suites == {
        "bmlna": [
            "BML001 bmlna_prelaunch_24h",
            "BML002 bmlna_launch_window_4d",
            "BML003 bmlna_launch_notified",
        ],
        "cfe": ["CFE006 cfe_inspection_ack_3h"],
        "vd11": ["VD002 vd11_unusual_activity_reply_48h"],
    }


def test_junit_violation_is_a_failure_with_explanation_citation_and_evidence() -> None:
    """The late launch notice fails BML001 with the words, the article link and file:line."""
    case = junit(sample_result()).find(".//testcase[@name='BML001 bmlna_prelaunch_24h']")
    assert case is not None
    failures = case.findall("failure")
    assert len(failures) == 1
    assert failures[0].get("message") == late_launch().explanation
    text = failures[0].text or ""
    assert BML_URL in text and "Art. I" in text and "status S" in text
    assert "logs/us.jsonl:12 (notice" in text and "logs/ru.jsonl:9 (receipt" in text
    assert "Measured 23 h 10 min; bound 24 h; outside the bound by 50 min" in text


def test_junit_warnings_and_open_obligations_are_not_failures() -> None:
    """BML002 (warning) and VD002 (open) pass as test cases, their findings in system-out."""
    root = junit(sample_result())
    for name, word in (("BML002 bmlna_launch_window_4d", "WARNING"), ("VD002", "OPEN")):
        case = next(c for c in root.iter("testcase") if (c.get("name") or "").startswith(name))
        assert case.find("failure") is None
        assert word in (case.findtext("system-out") or "")


def test_junit_case_carries_the_rule_counts_as_properties() -> None:
    """Checked / passed / violated / warned / open from the summary, plus verification."""
    case = junit(sample_result()).find(".//testcase[@name='CFE006 cfe_inspection_ack_3h']")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["checked"] == "2" and props["passed"] == "1" and props["violated"] == "1"
    assert props["verified"] == "primary" and props["status"] == "V"


def test_junit_rule_nothing_exercised_is_skipped() -> None:
    """BML003 checked nothing and found nothing: skipped, not passed silently."""
    case = junit(sample_result()).find(".//testcase[@name='BML003 bmlna_launch_notified']")
    assert case is not None and case.find("skipped") is not None


def test_junit_cites_rules_without_findings_from_the_catalogue(cat: Catalogue) -> None:
    """BML003 has no finding: with the catalogue its case still names article and URL."""
    root = ET.fromstring(report_junit.render(sample_result(), catalogue=cat).encode())
    case = root.find(".//testcase[@name='BML003 bmlna_launch_notified']")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    rule = cat.rule("BML003")
    assert rule is not None
    assert (props["article"], props["citation"]) == (rule.citation.article, rule.citation.url)


def test_junit_totals_add_up() -> None:
    """The root counts 5 rules, 2 failing (BML001, CFE006) and 1 skipped."""
    root = junit(sample_result())
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "2", "1")


def test_junit_escapes_markup_and_drops_control_characters() -> None:
    """Markup in every field survives as text; NUL, ESC, DEL-free XML still parses."""
    text = report_junit.render(with_finding(hostile(late_launch())))
    assert "\x00" not in text and "\x1b" not in text and "\ud800" not in text
    failure = ET.fromstring(text.encode()).find(".//failure")
    assert failure is not None
    assert failure.get("message", "").startswith('<script>alert("x")</script> & ]]>')


def test_junit_reports_the_audits_own_checks_without_a_citation_url() -> None:
    """An integrity finding is a failure in suite 'integrity', citing its format, no '<>'."""
    root = junit(with_finding(broken_chain()))
    failure = root.find(".//testsuite[@name='integrity']/testcase/failure")
    assert failure is not None
    assert "Citation: integrity nrrc-log/1 format (nrrc.msglog)\n" in (failure.text or "")


def test_junit_of_a_clean_audit_is_an_empty_valid_document() -> None:
    """No rules, no findings: a parseable document with zero tests."""
    root = junit(clean_result())
    assert root.tag == "testsuites" and root.get("tests") == "0" and len(root) == 0


# ---------------------------------------------------------------- SARIF


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft7Validator:
    """The official OASIS SARIF 2.1.0 schema (vendored, see tests/data)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def sarif(result: AuditResult, **kwargs: Catalogue) -> dict:  # type: ignore[type-arg]
    """Render and parse back."""
    return json.loads(report_sarif.render(result, **kwargs))  # type: ignore[no-any-return]


def test_vendored_sarif_schema_is_the_complete_official_file() -> None:
    """Same length as the OASIS file (112,318 characters) and a valid draft-07 schema."""
    text = SCHEMA.read_text(encoding="utf-8")
    assert len(text) == 112_318
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")


@pytest.mark.parametrize("result", [sample_result(), clean_result()], ids=["findings", "clean"])
def test_sarif_validates_against_the_official_schema(
    result: AuditResult, sarif_validator: jsonschema.Draft7Validator
) -> None:
    """Every document the reporter writes is valid SARIF 2.1.0."""
    errors = [e.message for e in sarif_validator.iter_errors(sarif(result))]
    assert errors == []


def test_sarif_levels_follow_outcomes() -> None:
    """violation -> error, warning -> warning, open -> note."""
    results = sarif(sample_result())["runs"][0]["results"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {"BML001": "error", "CFE006": "error", "BML002": "warning", "VD002": "note"}


def test_sarif_result_points_at_every_evidence_line() -> None:
    """One physicalLocation per evidence: log path as URI, startLine = line, role as message."""
    results = sarif(sample_result())["runs"][0]["results"]
    ack = next(r for r in results if r["ruleId"] == "CFE006")
    where = [
        (
            loc["physicalLocation"]["artifactLocation"]["uri"],
            loc["physicalLocation"]["region"]["startLine"],
        )
        for loc in ack["locations"]
    ]
    assert where == [("logs/ru.jsonl", 31), ("logs/gb.jsonl", 18)]
    assert ack["message"]["text"] == late_acknowledgement().explanation
    assert ack["partialFingerprints"] == {"nrrcFingerprint/v1": late_acknowledgement().fingerprint}


def test_sarif_rule_descriptor_cites_its_source() -> None:
    """The rule's helpUri is its citation; properties carry agreement, article, verification."""
    run = sarif(sample_result())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    bml = next(r for r in rules if r["id"] == "BML001")
    assert bml["name"] == "bmlna_prelaunch_24h"
    assert bml["helpUri"] == BML_URL
    assert bml["shortDescription"]["text"].startswith("Launch notified at least 24 hours")
    assert bml["properties"] == {
        "agreement": "bmlna", "article": "Art. I", "verified": "secondary", "status": "S",
    }  # fmt: skip
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]


def test_sarif_describes_rules_without_findings_from_the_catalogue(cat: Catalogue) -> None:
    """BML003 has no finding: with the catalogue it still gets its title and citation."""
    rules = sarif(sample_result(), catalogue=cat)["runs"][0]["tool"]["driver"]["rules"]
    bml3 = next(r for r in rules if r["id"] == "BML003")
    rule = cat.rule("BML003")
    assert rule is not None
    assert bml3["shortDescription"]["text"] == rule.title
    assert bml3["helpUri"] == rule.citation.url


def test_sarif_turns_awkward_paths_into_uri_references(
    sarif_validator: jsonschema.Draft7Validator,
) -> None:
    """Absolute paths become file:// URIs; spaces and colons are percent-encoded."""
    f = late_launch()
    odd = Finding(
        **{k: getattr(f, k) for k in f.__struct_fields__ if k != "evidence"},  # type: ignore[arg-type]
        evidence=(
            Evidence("/var/log/nrrc/us.jsonl", 1),
            Evidence("C:/logs/us.jsonl", 2),
            Evidence("my logs/ru:1.jsonl", 3),
        ),
    )
    doc = sarif(with_finding(odd))
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for loc in doc["runs"][0]["results"][0]["locations"]
    ]
    assert uris == [
        "file:///var/log/nrrc/us.jsonl",
        "file:///C:/logs/us.jsonl",
        "my%20logs/ru%3A1.jsonl",
    ]
    assert list(sarif_validator.iter_errors(doc)) == []


def test_sarif_reports_the_audits_own_checks(sarif_validator: jsonschema.Draft7Validator) -> None:
    """INT001 without a citation URL: a valid rule without helpUri and an error result."""
    doc = sarif(with_finding(broken_chain()))
    assert list(sarif_validator.iter_errors(doc)) == []
    rule = next(r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "INT001")
    assert "helpUri" not in rule and doc["runs"][0]["results"][0]["level"] == "error"


def test_sarif_does_not_link_non_web_citations() -> None:
    """A javascript: citation is never offered as helpUri."""
    rules = sarif(with_finding(hostile(late_launch())))["runs"][0]["tool"]["driver"]["rules"]
    assert all("helpUri" not in r for r in rules if r["id"] == "BML001")


# ---------------------------------------------------------------- HTML

_VOID = {"meta", "br", "input", "link", "img", "hr", "wbr", "source", "col", "area", "base"}
_SVG_EMPTY = {"line", "rect", "path", "circle", "polyline", "polygon"}


class Page(HTMLParser):
    """Collects the tags, checks nesting, and records every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.svg_titles: list[str] = []
        self._in: str = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data") and value is not None:
                self.urls.append((tag, name, value))
            if name == "style" and value and "url(" in value:
                self.urls.append((tag, name, value))
        if tag not in _VOID:
            self.stack.append(tag)
        self._in = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self._in = self.stack[-1] if self.stack else ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in == "title" and "svg" in self.stack:
            self.svg_titles.append(data)


def page(result: AuditResult, **kwargs: Catalogue) -> tuple[str, Page]:
    """Render, parse, and assert the nesting is sound."""
    text = report_html.render(result, **kwargs)
    parsed = Page()
    parsed.feed(text)
    parsed.close()
    assert parsed.problems == [] and parsed.stack == [], (parsed.problems, parsed.stack)
    return text, parsed


def test_html_is_well_formed() -> None:
    """Every tag closes in order (html.parser), one html/head/body, a doctype first."""
    text, parsed = page(sample_result())
    assert text.startswith("<!DOCTYPE html>")
    assert [parsed.tags.count(t) for t in ("html", "head", "body")] == [1, 1, 1]


@pytest.mark.parametrize("result", [sample_result(), clean_result()], ids=["findings", "clean"])
def test_html_loads_nothing_from_the_network(result: AuditResult) -> None:
    """No src at all, no stylesheet links, no url() in CSS: only <a> citations are external."""
    text, parsed = page(result)
    assert not [u for u in parsed.urls if u[1] != "href"]
    assert all(tag == "a" for tag, _, _ in parsed.urls)
    assert all(url.startswith(("#", "https://", "http://")) for _, _, url in parsed.urls)
    assert "url(" not in text and "@import" not in text and "<link" not in text


def test_html_header_names_logs_period_and_counts() -> None:
    """Audited logs, the period in UTC and the message counts are in the header."""
    text, _ = page(sample_result())
    header = text[text.index("<header>") : text.index("</header>")]
    for expected in (
        "logs/us.jsonl", "logs/gb.jsonl", "2026-02-27 00:00:00 UTC", "2026-03-05 12:00:00 UTC",
        "48 read, 48 with verified signatures", "2 violations, 1 warning, 1 open obligation",
    ):  # fmt: skip
        assert expected in header


def test_html_rule_table_shows_counts_and_verification() -> None:
    """One row per rule with its verification badge and checked/passed/violated/open."""
    text, _ = page(sample_result())
    table = text[text.index('<table class="rules">') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 1 + 5
    row = table[table.index("<code>CFE006</code>") :]
    row = row[: row.index("</tr>")]
    assert "v-primary" in row and "primary · V<" in row
    cells = re.findall(r'<td class="n[^"]*">([\d,]+)</td>', row)
    assert cells == ["2", "1", "1", "0", "0"]


def test_html_findings_table_has_badges_links_and_evidence() -> None:
    """Each finding: outcome badge, explanation, citation link, evidence file:line."""
    text, parsed = page(sample_result())
    assert text.count('<tr class="o-violation"') == 2
    assert ">open</span>" in text and ">warning</span>" in text
    assert ("a", "href", BML_URL) in parsed.urls
    assert "<code>logs/gb.jsonl:18</code> acknowledgement" in text
    assert "short by 50 min" in text


def test_html_draws_a_timeline_per_pair_with_bounds_and_marked_violations() -> None:
    """Pairs US → RU, RU → GB, RU → AT each get an SVG; bars carry tooltips; ✗ on violations."""
    text, parsed = page(sample_result())
    captions = re.findall(r"<figcaption><strong>(.*?)</strong>", text)
    assert captions == ["US → RU", "RU → GB", "RU → AT"]  # most violations, then most rows
    assert parsed.tags.count("svg") == 3
    assert text.count('<g class="row o-') == len(measurements())
    assert text.count('<g class="row o-violation"') == 2
    assert text.count("✗ ") == 2
    assert "bound 24 h" in text and "bound 3 h" in text
    tips = "".join(parsed.svg_titles)
    assert LAUNCH_ID in tips and "measured at 2026-03-01 00:50:00 UTC" in tips


def test_html_timeline_axis_is_labelled_in_hours_or_days() -> None:
    """Short bounds read in hours (the 3 h acknowledgement), long ones in days (42 days)."""
    text, _ = page(sample_result())
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', text)
    assert {"0", "3 h", "48 h"} <= set(ticks)
    exercise = Measurement(
        code="VD003", sender="RU", recipient="osce", message_id="x", at=at("2026-07-01 00:00"),
        measured_seconds=45 * 86400, bound_seconds=42 * 86400, outcome="pass",
    )  # fmt: skip
    result = AuditResult(
        findings=(), summary=(), logs=("x",), messages=1, verified=1, measurements=(exercise,)
    )
    text, _ = page(result)
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', text)
    assert {"0", "42 d"} <= set(ticks) and all(t == "0" or t.endswith(" d") for t in ticks)


def test_html_timeline_knows_lead_time_from_delay(cat: Catalogue) -> None:
    """With the catalogue, BML001 reads 'lead time ≥ 24 h' and CFE006 'time taken ≤ 3 h'."""
    text, _ = page(sample_result(), catalogue=cat)
    assert "required: lead time ≥ 24 h" in text and "required: time taken ≤ 3 h" in text


def test_html_infers_the_direction_without_a_catalogue() -> None:
    """From passes and violations alone: BML001 wants at least, CFE006 at most."""
    text, _ = page(sample_result())
    assert "required: lead time ≥ 24 h" in text and "required: time taken ≤ 3 h" in text


def test_html_of_a_clean_audit_reads_well() -> None:
    """Zero findings and measurements: a green verdict and plain sentences, no empty tables."""
    text, parsed = page(clean_result())
    assert 'class="verdict good">No violations<' in text
    assert "No findings: every checked message met its rule." in text
    assert "No timed notices were measured" in text
    assert "svg" not in parsed.tags


def test_html_caps_bars_and_says_how_many_were_omitted() -> None:
    """5,000 notices on one pair: at most MAX_BARS bars, every violation among them, a note."""
    start = at("2026-01-01 00:00")
    many = tuple(
        Measurement(
            code="BML001", sender="US", recipient="RU", message_id=f"m{i:05d}",
            at=start + timedelta(hours=i), measured_seconds=86400 + 3600 * (i % 50),
            bound_seconds=86400, outcome="violation" if i % 1000 == 7 else "pass",
        )
        for i in range(5000)
    )  # fmt: skip
    result = AuditResult(
        findings=(), summary=(), logs=("big.jsonl",), messages=5000, verified=5000,
        measurements=many,
    )  # fmt: skip
    text, _ = page(result)
    assert text.count('<g class="row o-') == report_html.MAX_BARS
    assert text.count('<g class="row o-violation"') == 5
    assert "Showing 40 of 5,000" in text and "Not drawn: 4,960 pass." in text
    assert len(text) < 200_000


def test_html_caps_pairs_and_lists_the_rest() -> None:
    """More pairs than MAX_PAIRS: the rest are listed in a table, not drawn."""
    centres = [f"C{i:02d}" for i in range(12)]
    ms = tuple(
        Measurement(
            code="BML001", sender=a, recipient=b, message_id=f"{a}{b}", at=at("2026-03-01 00:00"),
            measured_seconds=90000, bound_seconds=86400, outcome="pass",
        )
        for a in centres for b in centres if a != b
    )  # fmt: skip
    result = AuditResult(
        findings=(), summary=(), logs=("x",), messages=1, verified=1, measurements=ms
    )
    text, parsed = page(result)
    assert parsed.tags.count("svg") == report_html.MAX_PAIRS
    assert f"{len(ms) - report_html.MAX_PAIRS:,} more pairs are not drawn" in text


def test_html_escapes_every_text_and_refuses_non_web_links() -> None:
    """Markup from the logs stays text; a javascript: citation is shown, not linked."""
    text, parsed = page(with_finding(hostile(late_launch())))
    assert parsed.tags.count("script") == 1  # the report's own filter script
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "javascript:" not in [u for _, _, u in parsed.urls]
    assert "\x00" not in text and "\x1b" not in text and "\ud800" not in text


def test_html_shows_the_audits_own_checks_without_badge_or_link() -> None:
    """INT001 cites its format as text, with no verification badge and no link."""
    text, _ = page(with_finding(broken_chain()))
    row = text[text.index('<tr class="o-violation"') :]
    row = row[: row.index("</tr>")]
    assert "integrity nrrc-log/1 format (nrrc.msglog)" in row
    assert "<a " not in row and 'class="badge v-' not in row


def test_html_clips_outliers_at_the_edge() -> None:
    """A reply 40 days late on a 48 h rule is cut at the edge and marked »."""
    ms = (
        Measurement(
            code="VD002", sender="RU", recipient="AT", message_id="late", at=at("2026-03-01 00:00"),
            measured_seconds=40 * 86400, bound_seconds=48 * 3600, outcome="violation",
        ),
    )  # fmt: skip
    result = AuditResult(
        findings=(), summary=(), logs=("x",), messages=1, verified=1, measurements=ms
    )
    text, _ = page(result)
    assert '<text class="clip"' in text and "»" in text and "40 d" in text
