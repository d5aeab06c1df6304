"""Collect findings, per-rule counts and measurements while the audit runs.

Detection (the checks), selection (``--select`` / ``--ignore``) and reporting are separate: the
checks report every outcome here; the selection decides what is kept; reporters only format the
:class:`~nrrc.audit.findings.AuditResult` built at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nrrc.audit.codes import CHECKS, Check
from nrrc.audit.findings import (
    Evidence,
    EvidenceLike,
    Finding,
    Measurement,
    Outcome,
    RuleSummary,
    fingerprint,
)
from nrrc.catalogue import Catalogue, Rule, Severity

__all__ = ["Collector", "Selection"]


@dataclass(frozen=True)
class Selection:
    """Which codes to report: ``select`` and ``ignore`` hold codes, rule names, agreement ids
    (``bmlna``), the groups ``integrity`` and ``reconciliation``, or code prefixes (``INT``,
    ``BML``). Empty ``select`` means everything; ``ignore`` wins over ``select``."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @staticmethod
    def _matches(patterns: Iterable[str], code: str, name: str, agreement: str) -> bool:
        for p in patterns:
            if p.upper() == code or p.lower() == name or p.lower() == agreement:
                return True
            if p.isalpha() and p.isupper() and code.startswith(p):
                return True
        return False

    def wants(self, code: str, name: str, agreement: str) -> bool:
        """Whether findings of this code are reported."""
        if self.ignore and self._matches(self.ignore, code, name, agreement):
            return False
        return not self.select or self._matches(self.select, code, name, agreement)

    def names(self, code: str, name: str, agreement: str) -> bool:
        """Whether ``--select`` names this code (or its agreement) explicitly."""
        return bool(self.select) and self._matches(self.select, code, name, agreement)

    def unknown(self, catalogue: Catalogue) -> list[str]:
        """Patterns that match no rule, check or agreement (to report them as mistakes)."""
        bad = []
        targets = [(r.code, r.name, r.agreement) for r in catalogue.rules.values()]
        targets += [(c.code, c.name, c.group) for c in CHECKS.values()]
        for p in (*self.select, *self.ignore):
            if not any(self._matches((p,), *t) for t in targets):
                bad.append(p)
        return bad


@dataclass
class _Count:
    checked: int = 0
    passed: int = 0
    violated: int = 0
    warned: int = 0
    open: int = 0


@dataclass
class Collector:
    """Where every check reports; builds findings with citations and fingerprints."""

    catalogue: Catalogue
    names: Sequence[str]
    """Display name of each log, by rank."""
    selection: Selection = field(default_factory=Selection)
    keep_measurements: bool = False
    findings: list[Finding] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    counts: dict[str, _Count] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._wanted: dict[str, bool] = {}

    def wants(self, code: str) -> bool:
        """Whether ``code`` (a rule or a check) is selected."""
        w = self._wanted.get(code)
        if w is None:
            rule = self.catalogue.rules.get(code)
            if rule is not None:
                w = self.selection.wants(code, rule.name, rule.agreement)
            else:
                c = CHECKS[code]
                w = self.selection.wants(code, c.name, c.group)
            self._wanted[code] = w
        return w

    def explicit(self, rule: Rule) -> bool:
        """Whether ``--select`` asked for this rule by code, name or agreement."""
        return self.selection.names(rule.code, rule.name, rule.agreement)

    def evidence(self, file: int, line: int, message_id: str | None, role: str) -> Evidence:
        """Evidence at line ``line`` of the log ranked ``file``."""
        return Evidence(self.names[file], line, message_id, role)

    def resolve(self, evidence: Iterable[EvidenceLike]) -> tuple[Evidence, ...]:
        """Evidence as findings carry it: ``(file rank, line, message id, role)`` tuples named."""
        names = self.names
        return tuple(
            e if isinstance(e, Evidence) else Evidence(names[e[0]], e[1], e[2], e[3])
            for e in evidence
        )

    # -- counting ------------------------------------------------------------------------------

    def _count(self, code: str) -> _Count:
        c = self.counts.get(code)
        if c is None:
            c = self.counts[code] = _Count()
        return c

    def passed(self, code: str, n: int = 1) -> None:
        """``n`` checks of ``code`` passed (the checks count their passes in plain ints on the
        hot path and hand them over here in one call at the end)."""
        c = self._count(code)
        c.checked += n
        c.passed += n

    def checked(self, code: str, n: int = 1) -> None:
        """``n`` checks of ``code`` ran (integrity and reconciliation: outcomes come apart)."""
        self._count(code).checked += n

    def _tally(self, code: str, outcome: Outcome, *, count_check: bool) -> None:
        c = self._count(code)
        if count_check:
            c.checked += 1
        if outcome is Outcome.VIOLATION:
            c.violated += 1
        elif outcome is Outcome.WARNING:
            c.warned += 1
        else:
            c.open += 1

    # -- findings ------------------------------------------------------------------------------

    def rule_outcome(self, rule: Rule, broken: bool) -> Outcome:
        """Outcome of a rule that is broken (violation or warning) or still open."""
        if not broken:
            return Outcome.OPEN
        return Outcome.WARNING if rule.severity is Severity.WARNING else Outcome.VIOLATION

    def rule_finding(
        self,
        rule: Rule,
        outcome: Outcome,
        explanation: str,
        *,
        keys: Sequence[str],
        parties: Sequence[str] = (),
        message_ids: Sequence[str] = (),
        instants: dict[str, datetime] | None = None,
        measured: int | None = None,
        bound: int | None = None,
        margin: int | None = None,
        evidence: Sequence[EvidenceLike] = (),
    ) -> None:
        """A rule was broken (or is open): count it and keep a finding if selected."""
        self._tally(rule.code, outcome, count_check=True)
        if not self.wants(rule.code):
            return
        self.findings.append(
            Finding(
                code=rule.code,
                name=rule.name,
                outcome=outcome,
                agreement=rule.agreement,
                article=rule.citation.article,
                citation_url=rule.citation.url,
                verified=rule.verified.value,
                status=rule.status,
                title=rule.title,
                explanation=explanation,
                parties=tuple(parties),
                message_ids=tuple(message_ids),
                instants=dict(instants or {}),
                measured_seconds=measured,
                bound_seconds=bound,
                margin_seconds=margin,
                evidence=self.resolve(evidence),
                fingerprint=fingerprint(rule.code, *keys),
            )
        )

    def check_finding(
        self,
        code: str,
        explanation: str,
        *,
        keys: Sequence[str],
        outcome: Outcome | None = None,
        parties: Sequence[str] = (),
        message_ids: Sequence[str] = (),
        instants: dict[str, datetime] | None = None,
        evidence: Sequence[EvidenceLike] = (),
        count_check: bool = False,
    ) -> None:
        """An integrity or reconciliation check found something."""
        check: Check = CHECKS[code]
        result = outcome or check.outcome
        self._tally(code, result, count_check=count_check)
        if not self.wants(code):
            return
        self.findings.append(
            Finding(
                code=code,
                name=check.name,
                outcome=result,
                agreement=check.group,
                article=check.reference,
                citation_url="",
                verified="n/a",
                status="n/a",
                title=check.title,
                explanation=explanation,
                parties=tuple(parties),
                message_ids=tuple(message_ids),
                instants=dict(instants or {}),
                evidence=self.resolve(evidence),
                fingerprint=fingerprint(code, *keys),
            )
        )

    def measure(self, m: Measurement) -> None:
        """Keep one measurement (for timelines) when asked to."""
        if self.keep_measurements and self.wants(m.code):
            self.measurements.append(m)

    # -- results -------------------------------------------------------------------------------

    def summary(self) -> tuple[RuleSummary, ...]:
        """Per-code counts of every selected rule that was checked and every check that found
        something, ordered by code. ``passed`` of a check is what remains of ``checked``."""
        rows = []
        for code in sorted(self.counts):
            c = self.counts[code]
            if not self.wants(code):
                continue
            rule = self.catalogue.rules.get(code)
            if rule is not None:
                if c.checked == 0:
                    continue
                rows.append(
                    RuleSummary(
                        code=code,
                        name=rule.name,
                        agreement=rule.agreement,
                        verified=rule.verified.value,
                        checked=c.checked,
                        passed=c.passed,
                        violated=c.violated,
                        warned=c.warned,
                        open=c.open,
                    )
                )
                continue
            found = c.violated + c.warned + c.open
            if found == 0:
                continue
            check = CHECKS[code]
            checked = max(c.checked, found)
            rows.append(
                RuleSummary(
                    code=code,
                    name=check.name,
                    agreement=check.group,
                    verified="n/a",
                    checked=checked,
                    passed=checked - found,
                    violated=c.violated,
                    warned=c.warned,
                    open=c.open,
                )
            )
        return tuple(rows)
