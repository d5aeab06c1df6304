"""SARIF 2.1.0 reporter: an audit for code-scanning viewers (GitHub, VS Code SARIF viewer).

One run whose ``tool.driver.rules`` holds every rule the audit covered (id = rule code, name,
short and full description, ``helpUri`` = the citation URL, and in ``properties`` the agreement,
article, verification level and status code) and whose ``results`` hold the findings:

- ``level``: violation → ``error``, warning → ``warning``, open obligation → ``note``;
- ``message.text``: the explanation, the measured value against the bound in words;
- ``locations``: one ``physicalLocation`` per piece of evidence (log file, line);
- ``partialFingerprints["nrrcFingerprint/v1"]``: the finding's stable fingerprint, so viewers
  track a finding across runs.

Rule metadata comes from the findings themselves; rules without findings take it from the
optional ``catalogue`` (pass the one the audit used) or else carry only what the summary knows.
The output validates against the OASIS SARIF 2.1.0 JSON schema (see tests/data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote, urlsplit

from nrrc.audit.findings import AuditResult, Evidence, Finding, Outcome, RuleSummary
from nrrc.catalogue import Catalogue, Rule
from nrrc.timeutil import to_utc

__all__ = ["SCHEMA_URI", "render"]

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "nrrcFingerprint/v1"

_SURROGATE = re.compile("[\ud800-\udfff]")
_LEVEL = {Outcome.VIOLATION: "error", Outcome.WARNING: "warning", Outcome.OPEN: "note"}


@dataclass(frozen=True, slots=True)
class _RuleMeta:
    code: str
    name: str
    title: str
    agreement: str
    article: str = ""
    citation_url: str = ""
    verified: str = ""
    status: str = ""
    description: str = ""


def render(result: AuditResult, *, catalogue: Catalogue | None = None) -> str:
    """The audit as a SARIF 2.1.0 log (JSON text, indented, ending in a newline).

    Args:
        result: what the audit produced.
        catalogue: the catalogue the audit used, to describe rules that have no findings.
    """
    rules = _rule_meta(result.summary, result.findings, catalogue)
    index = {code: i for i, code in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "nrrc",
                "fullName": "nrrc compliance checker",
                "version": _version(),
                "rules": [_descriptor(meta) for meta in rules.values()],
            }
        },
        "invocations": [{"executionSuccessful": True}],
        "artifacts": [
            {"location": {"uri": _uri(log)}, "roles": ["analysisTarget"]}
            for log in dict.fromkeys(result.logs)
        ],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.code]) for f in result.findings],
        "properties": _run_properties(result),
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(_clean(log), indent=2, ensure_ascii=False) + "\n"


def _clean(value: Any) -> Any:
    """``value`` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _version() -> str:
    try:
        return metadata.version("nrrc")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _rule_meta(
    summary: Iterable[RuleSummary], findings: Iterable[Finding], catalogue: Catalogue | None
) -> dict[str, _RuleMeta]:
    """Rule metadata by code, sorted by code: findings first, then catalogue, then summary."""
    metas: dict[str, _RuleMeta] = {}
    for f in findings:
        if f.code not in metas:
            metas[f.code] = _RuleMeta(
                code=f.code,
                name=f.name,
                title=f.title,
                agreement=f.agreement,
                article=f.article,
                citation_url=f.citation_url,
                verified=f.verified,
                status=f.status,
            )
    for s in summary:
        rule = _lookup(catalogue, s.code)
        if rule is not None:
            metas[s.code] = _RuleMeta(
                code=s.code,
                name=s.name,
                title=rule.title,
                agreement=s.agreement,
                article=rule.citation.article,
                citation_url=rule.citation.url,
                verified=s.verified,
                status=rule.status,
                description=" ".join(rule.description.split()),
            )
        elif s.code not in metas:
            metas[s.code] = _RuleMeta(
                code=s.code, name=s.name, title=s.name, agreement=s.agreement, verified=s.verified
            )
    return dict(sorted(metas.items()))


def _lookup(catalogue: Catalogue | None, code: str) -> Rule | None:
    return None if catalogue is None else catalogue.rule(code)


def _descriptor(meta: _RuleMeta) -> dict[str, Any]:
    full = meta.description or meta.title.rstrip(".") + "."
    cite = " ".join(p for p in (meta.agreement, meta.article) if p)
    if cite:
        full += f" Source: {cite}"
        if meta.verified or meta.status:
            checks = ", ".join(
                p for p in (meta.verified, meta.status and f"status {meta.status}") if p
            )
            full += f" ({checks})"
        full += "."
    descriptor: dict[str, Any] = {
        "id": meta.code,
        "name": meta.name,
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": full},
    }
    if _is_web_url(meta.citation_url):
        descriptor["helpUri"] = meta.citation_url
    descriptor["properties"] = {
        "agreement": meta.agreement,
        "article": meta.article,
        "verified": meta.verified,
        "status": meta.status,
    }
    return descriptor


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.outcome],
        "message": {"text": f.explanation},
        "locations": [_location(e) for e in f.evidence],
    }
    if f.fingerprint:
        result["partialFingerprints"] = {FINGERPRINT_KEY: f.fingerprint}
    props: dict[str, Any] = {
        "outcome": f.outcome.value,
        "agreement": f.agreement,
        "article": f.article,
        "citation": f.citation_url,
        "verified": f.verified,
        "status": f.status,
        "parties": list(f.parties),
        "messageIds": list(f.message_ids),
        "instants": {
            k: to_utc(v).isoformat().replace("+00:00", "Z") for k, v in f.instants.items()
        },
    }
    for key, value in (
        ("measuredSeconds", f.measured_seconds),
        ("boundSeconds", f.bound_seconds),
        ("marginSeconds", f.margin_seconds),
    ):
        if value is not None:
            props[key] = value
    result["properties"] = props
    return result


def _location(e: Evidence) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(e.file)}}
    if e.line >= 1:
        physical["region"] = {"startLine": e.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    words = " ".join(p for p in (e.role, e.message_id or "") if p)
    if words:
        location["message"] = {"text": words}
    return location


def _uri(path: str) -> str:
    """A log path as a URI reference: ``file://`` for absolute paths, else percent-encoded."""
    path = _SURROGATE.sub("\ufffd", path)
    if path == "-":
        return "stdin"
    if PureWindowsPath(path).drive:
        return PureWindowsPath(path).as_uri()
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return posix.as_uri()
    return quote(str(posix), safe="/")  # a colon becomes %3A, so it never reads as a scheme


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _run_properties(result: AuditResult) -> dict[str, Any]:
    props: dict[str, Any] = {
        "logs": list(result.logs),
        "messages": result.messages,
        "verifiedMessages": result.verified,
        "violations": result.violations,
        "summary": [
            {
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
            for s in result.summary
        ],
    }
    if result.period_start is not None:
        props["periodStart"] = to_utc(result.period_start).isoformat().replace("+00:00", "Z")
    if result.period_end is not None:
        props["periodEnd"] = to_utc(result.period_end).isoformat().replace("+00:00", "Z")
    return props
