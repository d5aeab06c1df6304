"""The catalogue's value objects: agreements, message kinds, fields and rules.

Everything here is frozen. The loader (:mod:`nrrc.catalogue._loader`) builds these from TOML and
is the only place that checks them; the rest of nrrc trusts a loaded catalogue.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nrrc.timeutil import Duration

__all__ = [
    "WEEKDAYS",
    "Agreement",
    "Applicability",
    "Citation",
    "Condition",
    "FieldSpec",
    "FieldType",
    "Kind",
    "MeasuredAt",
    "Regime",
    "Rule",
    "RuleType",
    "Severity",
    "Source",
    "Verified",
    "status_to_verified",
]


class FieldType(Enum):
    """Types a message field may have."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    DURATION = "duration"
    ENUM = "enum"
    AREA = "area"
    LIST = "list"


class Verified(Enum):
    """How firmly a rule's source is verified."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    UNVERIFIED = "unverified"


_STATUS = {
    "V": Verified.PRIMARY,
    "V-ru": Verified.PRIMARY,
    "V-hu": Verified.PRIMARY,
    "S": Verified.SECONDARY,
    "R": Verified.UNVERIFIED,
}

STATUS_WORDS = {
    "V": "wording read in a retrieved official English text",
    "V-ru": "wording read in the official Russian text (English is a translation)",
    "V-hu": "wording read in the official Hungarian publication (English is a translation)",
    "S": "confirmed only by a secondary source, not the operative text",
    "R": "unverified: commonly reported, no primary or secondary text found",
}


def status_to_verified(code: str) -> Verified:
    """Map an AGREEMENTS.md status code (V, V-ru, V-hu, S, R) to a verification level."""
    return _STATUS[code]


class Severity(Enum):
    """What breaking a rule is: a violation, or a warning for soft rules ("as a rule")."""

    VIOLATION = "violation"
    WARNING = "warning"


class MeasuredAt(Enum):
    """Which instant of a message a rule measures: its receipt (default) or its sending."""

    RECEIPT = "receipt"
    SENDING = "sending"


class Regime(Enum):
    """Bilateral link, or a multilateral regime (possibly with a central contact)."""

    BILATERAL = "bilateral"
    MULTILATERAL = "multilateral"


class RuleType(Enum):
    """The handful of timing semantics every rule is an instance of."""

    LEAD_TIME = "lead_time"
    """The notice is provided no later than ``anchor - bound``."""
    LAG = "lag"
    """The notice is provided no later than ``anchor + bound`` (report after an event)."""
    RESPONSE = "response"
    """A message of kind ``response`` answers each ``trigger`` within ``bound``."""
    WINDOW = "window"
    """An observed activity falls inside the window of an earlier notice."""
    QUOTA = "quota"
    """Between ``min_count`` and ``max_count`` notices per party per UTC calendar year."""
    PERIODIC = "periodic"
    """One notice per party each year, provided no later than a fixed date (``due``)."""
    SPAN = "span"
    """A notice's window (``start_field`` to ``end_field``) is at most ``bound`` long."""


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a rule or kind comes from."""

    article: str
    url: str = ""
    quote: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """A source document of an agreement."""

    title: str
    url: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One typed field of a message kind."""

    name: str
    type: FieldType
    description: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    values: tuple[str, ...] = ()
    items: FieldSpec | None = None
    min_items: int | None = None
    max_items: int | None = None


@dataclass(frozen=True, slots=True)
class Kind:
    """A message kind: ``<agreement>.<name>`` with typed fields."""

    id: str
    agreement: str
    name: str
    title: str
    description: str
    fields: tuple[FieldSpec, ...]
    citation: Citation | None = None

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name``, or None."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``, e.g. ``troops >= 9000``."""

    field: str
    op: str
    value: Any

    def holds(self, values: dict[str, Any]) -> bool:
        """Whether the condition holds for a payload or activity given as a dict."""
        if self.field not in values or values[self.field] is None:
            return False
        actual = values[self.field]
        expected = self.value
        try:
            if self.op == ">=":
                return bool(actual >= expected)
            if self.op == ">":
                return bool(actual > expected)
            if self.op == "<=":
                return bool(actual <= expected)
            if self.op == "<":
                return bool(actual < expected)
            if self.op == "==":
                return bool(actual == expected)
            if self.op == "!=":
                return bool(actual != expected)
            if self.op == "in":
                return actual in expected
        except TypeError:
            return False
        return False

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True, slots=True)
class Applicability:
    """A rule applies when any of ``any_of`` holds (if given) and all of ``all_of`` hold."""

    any_of: tuple[Condition, ...] = ()
    all_of: tuple[Condition, ...] = ()

    def holds(self, values: dict[str, Any]) -> bool:
        """Whether the rule applies to these field values."""
        if self.any_of and not any(c.holds(values) for c in self.any_of):
            return False
        return all(c.holds(values) for c in self.all_of)

    def __bool__(self) -> bool:
        return bool(self.any_of or self.all_of)

    def __str__(self) -> str:
        parts = []
        if self.any_of:
            parts.append(" or ".join(str(c) for c in self.any_of))
        if self.all_of:
            parts.append(" and ".join(str(c) for c in self.all_of))
        return " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)


@dataclass(frozen=True, slots=True)
class Rule:
    """A timing rule: stable code, semantics, citation and verification status."""

    code: str
    name: str
    title: str
    agreement: str
    type: RuleType
    description: str
    citation: Citation
    status: str
    severity: Severity = Severity.VIOLATION
    measured_at: MeasuredAt = MeasuredAt.RECEIPT
    kind: str | None = None
    anchor: str | None = None
    bound: Duration | None = None
    trigger: str | None = None
    response: str | None = None
    activity: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    window_length: Duration | None = None
    area_field: str | None = None
    start_field: str | None = None
    end_field: str | None = None
    min_count: int | None = None
    max_count: int | None = None
    due_month: int | None = None
    due_day: int | None = None
    year_field: str | None = None
    year_offset: int = 0
    responder_field: str | None = None
    skip_days: tuple[int, ...] = ()
    """Weekdays (0 = Monday .. 6 = Sunday, UTC) whose time does not count toward the bound."""
    applies_if: Applicability = field(default_factory=Applicability)
    sla: bool = False
    rationale: str = ""
    example: str = ""
    retired: bool = False

    def year_words(self) -> str:
        """Which calendar year a notice counts for, in words (quota and periodic rules)."""
        if not self.year_field:
            m = "receipt" if self.measured_at is MeasuredAt.RECEIPT else "sending"
            return f"the UTC calendar year of its {m}"
        if not self.year_offset:
            return f"the calendar year of its {self.year_field}"
        sign = "+" if self.year_offset > 0 else "-"
        return f"the calendar year of its {self.year_field} {sign} {abs(self.year_offset)}"

    def skip_words(self) -> str:
        """``Saturdays and Sundays`` (the UTC days not counted), or ``""``."""
        names = [WEEKDAYS[d].capitalize() + "s" for d in self.skip_days]
        if len(names) < 2:
            return "".join(names)
        return ", ".join(names[:-1]) + " and " + names[-1]

    @property
    def verified(self) -> Verified:
        """Verification level derived from the status code."""
        return status_to_verified(self.status)

    @property
    def status_words(self) -> str:
        """What the status code means, for people."""
        return STATUS_WORDS[self.status]

    def bound_words(self) -> str:
        """The bound in a few words for tables: ``≥ 24h before planned_launch_date``."""
        t = self.type
        skip = f", {self.skip_words()} not counted" if self.skip_days else ""
        if t is RuleType.LEAD_TIME:
            return f"≥ {self.bound} before {self.anchor}{skip}"
        if t is RuleType.LAG:
            return f"≤ {self.bound} after {self.anchor}{skip}"
        if t is RuleType.RESPONSE:
            return f"≤ {self.bound} after {self.trigger}"
        if t is RuleType.WINDOW:
            return f"{self.activity} inside notified window"
        if t is RuleType.QUOTA:
            lo = "" if self.min_count is None else f"≥ {self.min_count}"
            hi = "" if self.max_count is None else f"≤ {self.max_count}"
            return " and ".join(p for p in (lo, hi) if p) + " per year"
        if t is RuleType.PERIODIC:
            return f"by {self.due_day} {_MONTHS[(self.due_month or 1) - 1]} each year"
        return f"window ≤ {self.bound}"


_MONTHS = tuple(calendar.month_name[1:])
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""Day names a rule's ``skip_days`` may list, in ``date.weekday()`` order."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """An agreement: its identity, parties, channel, sources, kinds and rules."""

    id: str
    code_prefix: str
    title: str
    short_title: str
    year: int
    regime: Regime
    channel: str
    sources: tuple[Source, ...]
    kinds: tuple[Kind, ...]
    rules: tuple[Rule, ...]
    parties: tuple[str, ...] = ()
    central_contact: str | None = None
    status: str = ""
    notes: str = ""
    path: str = ""
    builtin: bool = False
