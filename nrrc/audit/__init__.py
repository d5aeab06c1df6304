"""Compliance checker: logs (+ observed activities) -> findings -> reports.

::

    from nrrc.audit import AuditOptions, audit
    result = audit([Path("logs/")], load_catalogue(), Keyring.load("logs/keyring.json"))
    for finding in result.findings:
        print(finding.code, finding.outcome.value, finding.explanation)

Detection (:mod:`~nrrc.audit.engine`), selection (:class:`Selection`) and reporting
(``report_text``, ``report_json``, ``report_junit``, ``report_sarif``, ``report_html``) are
separate. The timing semantics are written out in :mod:`nrrc.audit.semantics`; the audit's own
integrity and reconciliation checks are listed in :mod:`nrrc.audit.codes`. Names are imported
on first use, so importing a reporter does not load the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nrrc.audit.codes import CHECKS, Check, check_for
    from nrrc.audit.collector import Selection
    from nrrc.audit.engine import AuditOptions, audit
    from nrrc.audit.findings import (
        AuditResult,
        Evidence,
        Finding,
        Measurement,
        Outcome,
        RuleSummary,
    )

__all__ = [
    "CHECKS",
    "AuditOptions",
    "AuditResult",
    "Check",
    "Evidence",
    "Finding",
    "Measurement",
    "Outcome",
    "RuleSummary",
    "Selection",
    "audit",
    "check_for",
]

_HOME = {
    "CHECKS": "nrrc.audit.codes",
    "Check": "nrrc.audit.codes",
    "check_for": "nrrc.audit.codes",
    "Selection": "nrrc.audit.collector",
    "AuditOptions": "nrrc.audit.engine",
    "audit": "nrrc.audit.engine",
    "AuditResult": "nrrc.audit.findings",
    "Evidence": "nrrc.audit.findings",
    "Finding": "nrrc.audit.findings",
    "Measurement": "nrrc.audit.findings",
    "Outcome": "nrrc.audit.findings",
    "RuleSummary": "nrrc.audit.findings",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'nrrc.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
