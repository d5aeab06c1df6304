"""Load agreement TOML files into a :class:`Catalogue`, reporting every problem at once.

A user's file (``--agreements PATH``) is loaded exactly like a built-in. Each problem names the
file, the key path (``rules[2].bound``) and what was expected against what was found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from nrrc.catalogue._model import (
    WEEKDAYS,
    Agreement,
    Applicability,
    Citation,
    Condition,
    FieldSpec,
    FieldType,
    Kind,
    MeasuredAt,
    Regime,
    Rule,
    RuleType,
    Severity,
    Source,
)
from nrrc.errors import CatalogueError, Problem
from nrrc.patterns import python_pattern
from nrrc.timeutil import Duration, parse_duration

__all__ = ["Catalogue", "builtin_paths", "load_catalogue"]

FORMAT_VERSION = 1
AGREEMENT_ID = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RULE_CODE = re.compile(r"^[A-Z]{2,6}[0-9]{3}$")
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
CENTRE_ID = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_PYTHON_ONLY = re.compile(r"(?<!\\)(?:\\\\)*\\[AZ]|\(\?(?:P[<=>]|#|[aiLmsux-]+[:)])")
"""Python regular expression syntax that ECMA-262 (JSON Schema's dialect) does not have:
``\\A``, ``\\Z``, named groups ``(?P<name>…)``, comments and inline flags."""
STATUS_CODES = ("V", "V-ru", "V-hu", "S", "R")
OPS = (">=", ">", "<=", "<", "==", "!=", "in")

# Header fields every statement has; a kind may not declare a field with these names.
RESERVED_FIELDS = frozenset(
    {"id", "kind", "sender", "recipient", "sent_at", "epoch", "seq", "in_reply_to", "payload"}
)

_AGREEMENT_KEYS = {
    "id",
    "code_prefix",
    "title",
    "short_title",
    "year",
    "regime",
    "parties",
    "central_contact",
    "channel",
    "status",
    "notes",
    "sources",
}
_KIND_KEYS = {"title", "description", "fields", "citation"}
_FIELD_KEYS = {
    "type",
    "description",
    "required",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "values",
    "items",
    "min_items",
    "max_items",
}
_CITATION_KEYS = {"article", "url", "quote", "note"}
_RULE_COMMON = {
    "code",
    "name",
    "title",
    "type",
    "description",
    "rationale",
    "example",
    "citation",
    "status",
    "severity",
    "measured_at",
    "applies_if",
    "sla",
    "retired",
}
_RULE_PARAMS: dict[RuleType, tuple[set[str], set[str]]] = {
    # type: (required params, optional params)
    RuleType.LEAD_TIME: ({"kind", "anchor", "bound"}, {"skip_days"}),
    RuleType.LAG: ({"kind", "anchor", "bound"}, {"skip_days"}),
    RuleType.RESPONSE: ({"trigger", "response", "bound"}, {"responder_field"}),
    RuleType.WINDOW: (
        {"kind", "activity", "window_start"},
        {"window_end", "window_length", "area_field"},
    ),
    RuleType.QUOTA: ({"kind"}, {"min", "max", "year_field", "year_offset"}),
    RuleType.PERIODIC: ({"kind", "due"}, {"year_field", "year_offset"}),
    RuleType.SPAN: ({"kind", "start_field", "end_field", "bound"}, set()),
}


@dataclass
class _Ctx:
    """Collects problems for one file."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    rule_indices: list[int] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date):
        return f"date/time {value.isoformat()}"
    return type(value).__name__


def _str(
    ctx: _Ctx,
    table: Mapping[str, Any],
    key: str,
    path: str,
    *,
    required: bool = True,
    default: str = "",
) -> str:
    if key not in table:
        if required:
            ctx.add(f"{path}.{key}" if path else key, "missing: expected a string")
        return default
    value = table[key]
    if not isinstance(value, str) or (required and not value.strip()):
        ctx.add(
            f"{path}.{key}" if path else key,
            f"expected a non-empty string, found {_describe(value)}",
        )
        return default
    return value


def _int(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.add(f"{path}.{key}", f"expected an integer, found {_describe(value)}")
        return None
    return value


def _number(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        ctx.add(f"{path}.{key}", f"expected a number, found {_describe(value)}")
        return None
    return float(value)


def _unknown_keys(ctx: _Ctx, table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
    allowed = set(allowed)
    for key in table:
        if key not in allowed:
            hint = _closest(key, allowed)
            more = f" (did you mean '{hint}'?)" if hint else ""
            expected = ", ".join(sorted(allowed))
            ctx.add(
                f"{path}.{key}" if path else key, f"unknown key{more}; expected one of: {expected}"
            )


def _closest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return found[0] if found else None


def _enum(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str, enum: Any, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    choices = [m.value for m in enum]
    if value not in choices:
        ctx.add(
            f"{path}.{key}",
            f"expected one of {', '.join(repr(c) for c in choices)}, found {_describe(value)}",
        )
        return default
    return enum(value)


def _duration(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str) -> Duration | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str):
        ctx.add(
            f"{path}.{key}",
            f"bad duration: expected a string such as '24h' or '14d', found {_describe(value)}",
        )
        return None
    try:
        bound = parse_duration(value)
    except ValueError as exc:
        ctx.add(f"{path}.{key}", f"bad duration: {exc}")
        return None
    if bound.amount <= 0:
        ctx.add(f"{path}.{key}", f"bad duration: expected a positive length, found {value!r}")
        return None
    return bound


def _citation(ctx: _Ctx, value: Any, path: str, *, required: bool) -> Citation | None:
    if value is None:
        if required:
            ctx.add(
                path,
                "missing citation: expected a table with at least 'article' (and usually 'url')",
            )
        return None
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table with 'article' and 'url', found {_describe(value)}")
        return None
    _unknown_keys(ctx, value, _CITATION_KEYS, path)
    article = _str(ctx, value, "article", path)
    return Citation(
        article=article,
        url=_str(ctx, value, "url", path, required=False),
        quote=_str(ctx, value, "quote", path, required=False),
        note=_str(ctx, value, "note", path, required=False),
    )


def _field_spec(
    ctx: _Ctx, name: str, value: Any, path: str, *, nested: bool = False
) -> FieldSpec | None:
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table describing the field, found {_describe(value)}")
        return None
    _unknown_keys(ctx, value, _FIELD_KEYS, path)
    ftype = _enum(ctx, value, "type", path, FieldType, None)
    if "type" not in value:
        ctx.add(
            f"{path}.type",
            "missing: expected one of " + ", ".join(repr(t.value) for t in FieldType),
        )
    description = _str(ctx, value, "description", path, required=not nested)
    required = value.get("required", True)
    if not isinstance(required, bool):
        ctx.add(f"{path}.required", f"expected true or false, found {_describe(required)}")
        required = True
    # Checks that do not depend on the type come first, so an unknown type hides nothing else.
    pattern = _str(ctx, value, "pattern", path, required=False) or None
    if pattern:
        python_only = _PYTHON_ONLY.search(pattern)
        if python_only:
            ctx.add(
                f"{path}.pattern",
                f"expected an ECMA-262 regular expression (JSON Schema's dialect), found the "
                f"Python-only {python_only.group()!r} in {pattern!r}",
            )
        else:
            try:
                re.compile(python_pattern(pattern))
            except re.error as exc:
                ctx.add(f"{path}.pattern", f"bad regular expression: {exc}")
    minimum = _number(ctx, value, "min", path)
    maximum = _number(ctx, value, "max", path)
    if minimum is not None and maximum is not None and minimum > maximum:
        ctx.add(path, f"min {minimum} is greater than max {maximum}")
    counts = {
        key: _count(ctx, value, key, path)
        for key in ("min_length", "max_length", "min_items", "max_items")
    }
    for low, high in (("min_length", "max_length"), ("min_items", "max_items")):
        lo, hi = counts[low], counts[high]
        if lo is not None and hi is not None and lo > hi:
            ctx.add(path, f"{low} {lo} is greater than {high} {hi}")
    if ftype is None:
        return None
    values: tuple[str, ...] = ()
    if ftype is FieldType.ENUM:
        raw = value.get("values")
        if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
            ctx.add(
                f"{path}.values",
                "an enum needs 'values', a non-empty array of strings, "
                f"found {_describe(raw) if raw is not None else 'nothing'}",
            )
        else:
            values = tuple(raw)
            if len(set(values)) != len(values):
                ctx.add(f"{path}.values", "duplicate enum values")
    elif "values" in value:
        ctx.add(f"{path}.values", f"'values' only applies to enum fields, not {ftype.value}")
    items = None
    if ftype is FieldType.LIST:
        if "items" not in value:
            ctx.add(f"{path}.items", "a list needs 'items', a table with the item type")
        else:
            items = _field_spec(ctx, name, value["items"], f"{path}.items", nested=True)
            if items is not None and items.type is FieldType.LIST:
                ctx.add(f"{path}.items.type", "lists of lists are not supported")
    for key, types in (
        ("min", (FieldType.INTEGER, FieldType.NUMBER)),
        ("max", (FieldType.INTEGER, FieldType.NUMBER)),
        ("min_length", (FieldType.STRING,)),
        ("max_length", (FieldType.STRING,)),
        ("pattern", (FieldType.STRING,)),
        ("min_items", (FieldType.LIST,)),
        ("max_items", (FieldType.LIST,)),
    ):
        if key in value and ftype not in types:
            ctx.add(f"{path}.{key}", f"'{key}' does not apply to a {ftype.value} field")
    if ftype is FieldType.INTEGER:
        # int(1.5) would silently move the bound: an integer field takes integer bounds.
        for key in ("min", "max"):
            if isinstance(value.get(key), float):
                ctx.add(
                    f"{path}.{key}",
                    "expected an integer bound for an integer field, "
                    f"found {_describe(value[key])}",
                )
    return FieldSpec(
        name=name,
        type=ftype,
        description=description,
        required=required,
        minimum=minimum,
        maximum=maximum,
        min_length=counts["min_length"],
        max_length=counts["max_length"],
        pattern=pattern,
        values=values,
        items=items,
        min_items=counts["min_items"],
        max_items=counts["max_items"],
    )


def _count(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str) -> int | None:
    """A length or item count: a whole number, zero or more."""
    value = _int(ctx, table, key, path)
    if value is not None and value < 0:
        ctx.add(f"{path}.{key}", f"expected zero or more, found integer {value}")
        return None
    return value


def _kind(ctx: _Ctx, agreement: str, name: str, value: Any) -> Kind | None:
    path = f"kinds.{name}"
    if not KIND_NAME.fullmatch(name):
        ctx.add(path, f"bad kind name: expected lowercase letters, digits and '_', found {name!r}")
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table, found {_describe(value)}")
        return None
    _unknown_keys(ctx, value, _KIND_KEYS, path)
    fields_raw = value.get("fields", {})
    specs: list[FieldSpec] = []
    if not isinstance(fields_raw, dict):
        ctx.add(f"{path}.fields", f"expected a table of fields, found {_describe(fields_raw)}")
        fields_raw = {}
    for fname, fvalue in fields_raw.items():
        fpath = f"{path}.fields.{fname}"
        if not FIELD_NAME.fullmatch(fname):
            ctx.add(fpath, "bad field name: expected lowercase letters, digits and '_'")
        if fname in RESERVED_FIELDS:
            ctx.add(fpath, f"'{fname}' is an envelope header field; choose another name")
        spec = _field_spec(ctx, fname, fvalue, fpath)
        if spec is not None:
            specs.append(spec)
    citation = _citation(ctx, value.get("citation"), f"{path}.citation", required=False)
    return Kind(
        id=f"{agreement}.{name}",
        agreement=agreement,
        name=name,
        title=_str(ctx, value, "title", path),
        description=_str(ctx, value, "description", path),
        fields=tuple(specs),
        citation=citation,
    )


def _applicability(ctx: _Ctx, value: Any, path: str) -> Applicability:
    if value is None:
        return Applicability()
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table with 'any' and/or 'all', found {_describe(value)}")
        return Applicability()
    _unknown_keys(ctx, value, {"any", "all"}, path)
    groups: dict[str, tuple[Condition, ...]] = {}
    for key in ("any", "all"):
        conds: list[Condition] = []
        raw = value.get(key, [])
        if not isinstance(raw, list):
            ctx.add(f"{path}.{key}", f"expected an array of conditions, found {_describe(raw)}")
            raw = []
        for i, c in enumerate(raw):
            cpath = f"{path}.{key}[{i}]"
            if not isinstance(c, dict):
                ctx.add(
                    cpath,
                    f"expected {{ field = ..., op = ..., value = ... }}, found {_describe(c)}",
                )
                continue
            _unknown_keys(ctx, c, {"field", "op", "value"}, cpath)
            op = c.get("op")
            if op not in OPS:
                ctx.add(
                    f"{cpath}.op",
                    f"expected one of {', '.join(OPS)}, found "
                    f"{_describe(op) if op is not None else 'nothing'}",
                )
                continue
            if "value" not in c:
                ctx.add(f"{cpath}.value", "missing: expected the value to compare with")
                continue
            if op == "in" and not isinstance(c["value"], list):
                ctx.add(
                    f"{cpath}.value",
                    f"'in' compares with an array of values, found {_describe(c['value'])}",
                )
                continue
            conds.append(Condition(field=_str(ctx, c, "field", cpath), op=op, value=c["value"]))
        groups[key] = tuple(conds)
    return Applicability(any_of=groups["any"], all_of=groups["all"])


def _skip_days(ctx: _Ctx, value: Mapping[str, Any], path: str) -> tuple[int, ...]:
    """The weekdays (0 = Monday) a lead-time or lag rule does not count, from ``skip_days``."""
    raw = value.get("skip_days")
    if raw is None:
        return ()
    where = f"{path}.skip_days"
    names = ", ".join(repr(d) for d in WEEKDAYS)
    if not isinstance(raw, list) or not raw:
        ctx.add(where, f"expected a non-empty array of day names ({names}), found {_describe(raw)}")
        return ()
    days: list[int] = []
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in WEEKDAYS:
            ctx.add(
                f"{where}[{i}]", f"expected a day name, one of {names}, found {_describe(name)}"
            )
            return ()
        day = WEEKDAYS.index(name)
        if day in days:
            ctx.add(f"{where}[{i}]", f"{name!r} is listed twice")
            return ()
        days.append(day)
    if len(days) == len(WEEKDAYS):
        ctx.add(where, "every day of the week is skipped: no time would count toward the bound")
        return ()
    return tuple(sorted(days))


def _rule(ctx: _Ctx, agreement: str, prefix: str, index: int, value: Any) -> Rule | None:
    path = f"rules[{index}]"
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table, found {_describe(value)}")
        return None
    rtype = _enum(ctx, value, "type", path, RuleType, None)
    if "type" not in value:
        ctx.add(
            f"{path}.type", "missing: expected one of " + ", ".join(repr(t.value) for t in RuleType)
        )
    if rtype is not None:
        required, optional = _RULE_PARAMS[rtype]
        _unknown_keys(ctx, value, _RULE_COMMON | required | optional, path)
        for key in sorted(required):
            if key not in value:
                ctx.add(f"{path}.{key}", f"missing: a {rtype.value} rule needs '{key}'")
    else:
        # The type is wrong, so which parameters belong is unknown: check against all of them.
        every = set().union(*(r | o for r, o in _RULE_PARAMS.values()))
        _unknown_keys(ctx, value, _RULE_COMMON | every, path)
    code = _str(ctx, value, "code", path)
    if code and not RULE_CODE.fullmatch(code):
        ctx.add(
            f"{path}.code",
            f"bad rule code: expected 2-6 capital letters and 3 digits "
            f"like 'BML001', found {code!r}",
        )
    elif code and prefix and not code.startswith(prefix):
        ctx.add(
            f"{path}.code", f"rule codes of this agreement start with {prefix!r}, found {code!r}"
        )
    name = _str(ctx, value, "name", path)
    if name and not RULE_NAME.fullmatch(name):
        ctx.add(f"{path}.name", f"bad rule name: expected snake_case, found {name!r}")
    status = value.get("status")
    if status not in STATUS_CODES:
        ctx.add(
            f"{path}.status",
            "expected the verification status code from AGREEMENTS.md, "
            f"one of {', '.join(STATUS_CODES)}, found "
            f"{_describe(status) if status is not None else 'nothing'}",
        )
        status = "R"
    citation = _citation(ctx, value.get("citation"), f"{path}.citation", required=True)
    window_length = _duration(ctx, value, "window_length", path)
    if rtype is RuleType.WINDOW and ("window_end" in value) == ("window_length" in value):
        ctx.add(path, "a window rule needs exactly one of 'window_end' or 'window_length'")
    min_count = _int(ctx, value, "min", path)
    max_count = _int(ctx, value, "max", path)
    if rtype is RuleType.QUOTA and min_count is None and max_count is None:
        ctx.add(path, "a quota rule needs 'min', 'max' or both")
    year_offset = _int(ctx, value, "year_offset", path)
    if year_offset is not None and "year_field" not in value:
        ctx.add(f"{path}.year_offset", "year_offset needs year_field (the field it is added to)")
    skip_days = _skip_days(ctx, value, path)
    due_month = due_day = None
    if "due" in value:
        due = value["due"]
        m = re.fullmatch(r"^(\d{2})-(\d{2})$", due, re.ASCII) if isinstance(due, str) else None
        if not m:
            ctx.add(
                f"{path}.due",
                f"expected a month and day as 'MM-DD' (e.g. '12-15'), found {_describe(due)}",
            )
        else:
            due_month, due_day = int(m.group(1)), int(m.group(2))
            try:
                date(2001, due_month, due_day)
            except ValueError:
                ctx.add(f"{path}.due", f"no such day in a (non-leap) year: {due!r}")
                due_month = due_day = None
    sla = value.get("sla", False)
    retired = value.get("retired", False)
    for key, flag in (("sla", sla), ("retired", retired)):
        if not isinstance(flag, bool):
            ctx.add(f"{path}.{key}", f"expected true or false, found {_describe(flag)}")

    def qualify(key: str) -> str | None:
        raw = value.get(key)
        if raw is None:
            return None
        if not isinstance(raw, str):
            ctx.add(f"{path}.{key}", f"expected a kind name, found {_describe(raw)}")
            return None
        return raw if "." in raw else f"{agreement}.{raw}"

    def text(key: str) -> str | None:
        raw = value.get(key)
        if raw is None:
            return None
        if not isinstance(raw, str):
            ctx.add(f"{path}.{key}", f"expected a field name, found {_describe(raw)}")
            return None
        return raw

    # Every key is checked before deciding whether a Rule can be built, so that one pass
    # reports every mistake of the rule, not only the first that stops construction.
    params: dict[str, Any] = {
        "title": _str(ctx, value, "title", path),
        "description": _str(ctx, value, "description", path),
        "severity": _enum(ctx, value, "severity", path, Severity, Severity.VIOLATION),
        "measured_at": _enum(ctx, value, "measured_at", path, MeasuredAt, MeasuredAt.RECEIPT),
        "kind": qualify("kind"),
        "anchor": text("anchor"),
        "bound": _duration(ctx, value, "bound", path),
        "trigger": qualify("trigger"),
        "response": qualify("response"),
        "activity": text("activity"),
        "window_start": text("window_start"),
        "window_end": text("window_end"),
        "area_field": text("area_field"),
        "year_field": text("year_field"),
        "responder_field": text("responder_field"),
        "start_field": text("start_field"),
        "end_field": text("end_field"),
        "applies_if": _applicability(ctx, value.get("applies_if"), f"{path}.applies_if"),
        "rationale": _str(ctx, value, "rationale", path, required=False),
        "example": _str(ctx, value, "example", path, required=False),
    }
    bound = params["bound"]
    if skip_days and bound is not None and bound.is_days:
        ctx.add(
            f"{path}.skip_days",
            f"skip_days needs a bound in hours, minutes or seconds (elapsed time on the days "
            f"that count), found the bound {bound} (whole days count calendar dates)",
        )
    if rtype is None:
        return None
    return Rule(
        code=code,
        name=name,
        agreement=agreement,
        type=rtype,
        # A missing citation is already a problem; the placeholder only lets the rule's
        # references be checked too.
        citation=citation or Citation(article=""),
        status=str(status),
        window_length=window_length,
        min_count=min_count,
        max_count=max_count,
        due_month=due_month,
        due_day=due_day,
        year_offset=year_offset or 0,
        skip_days=skip_days,
        sla=bool(sla),
        retired=bool(retired),
        **params,
    )


def _agreement(ctx: _Ctx, data: dict[str, Any], *, builtin: bool) -> Agreement | None:
    _unknown_keys(ctx, data, {"schema", "agreement", "kinds", "rules"}, "")
    version = data.get("schema")
    if version != FORMAT_VERSION:
        ctx.add(
            "schema",
            f"expected the catalogue format version {FORMAT_VERSION}, found "
            f"{_describe(version) if version is not None else 'nothing'}",
        )
    head = data.get("agreement")
    if not isinstance(head, dict):
        ctx.add("agreement", "missing: expected an [agreement] table")
        return None
    _unknown_keys(ctx, head, _AGREEMENT_KEYS, "agreement")
    agreement_id = _str(ctx, head, "id", "agreement")
    if agreement_id and not AGREEMENT_ID.fullmatch(agreement_id):
        ctx.add(
            "agreement.id", f"expected lowercase letters, digits and '_', found {agreement_id!r}"
        )
    prefix = _str(ctx, head, "code_prefix", "agreement")
    if prefix and not re.fullmatch(r"^[A-Z]{2,6}$", prefix):
        ctx.add("agreement.code_prefix", f"expected 2-6 capital letters, found {prefix!r}")
    year = _int(ctx, head, "year", "agreement")
    if year is None and "year" not in head:
        ctx.add("agreement.year", "missing: expected the year the agreement was signed")
    parties_raw = head.get("parties", [])
    parties: tuple[str, ...] = ()
    if not isinstance(parties_raw, list) or not all(isinstance(p, str) for p in parties_raw):
        ctx.add(
            "agreement.parties", f"expected an array of centre ids, found {_describe(parties_raw)}"
        )
    else:
        parties = tuple(parties_raw)
        for i, party in enumerate(parties):
            if not CENTRE_ID.fullmatch(party):
                ctx.add(
                    f"agreement.parties[{i}]",
                    "expected a centre id (capital letters and "
                    f"digits, e.g. 'US'), found {party!r}",
                )
    central = head.get("central_contact")
    if central is not None and (not isinstance(central, str) or not CENTRE_ID.fullmatch(central)):
        ctx.add("agreement.central_contact", f"expected a centre id, found {_describe(central)}")
        central = None
    sources: list[Source] = []
    raw_sources = head.get("sources", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        ctx.add(
            "agreement.sources",
            "missing: expected at least one [[agreement.sources]] with a title and url",
        )
        raw_sources = []
    for i, src in enumerate(raw_sources):
        spath = f"agreement.sources[{i}]"
        if not isinstance(src, dict):
            ctx.add(spath, f"expected a table, found {_describe(src)}")
            continue
        _unknown_keys(ctx, src, {"title", "url", "status"}, spath)
        sources.append(
            Source(
                title=_str(ctx, src, "title", spath),
                url=_str(ctx, src, "url", spath, required=False),
                status=_str(ctx, src, "status", spath, required=False),
            )
        )
    kinds_raw = data.get("kinds", {})
    kinds: list[Kind] = []
    if not isinstance(kinds_raw, dict):
        ctx.add("kinds", f"expected a table of kinds, found {_describe(kinds_raw)}")
        kinds_raw = {}
    for name, value in kinds_raw.items():
        kind = _kind(ctx, agreement_id, name, value)
        if kind is not None:
            kinds.append(kind)
    rules_raw = data.get("rules", [])
    rules: list[Rule] = []
    if not isinstance(rules_raw, list):
        ctx.add("rules", f"expected an array of [[rules]], found {_describe(rules_raw)}")
        rules_raw = []
    for i, value in enumerate(rules_raw):
        rule = _rule(ctx, agreement_id, prefix, i, value)
        if rule is not None:
            rules.append(rule)
            ctx.rule_indices.append(i)
    regime = _enum(ctx, head, "regime", "agreement", Regime, Regime.BILATERAL)
    if "regime" not in head:
        ctx.add("agreement.regime", "missing: expected 'bilateral' or 'multilateral'")
    return Agreement(
        id=agreement_id,
        code_prefix=prefix,
        title=_str(ctx, head, "title", "agreement"),
        short_title=_str(ctx, head, "short_title", "agreement"),
        year=year or 0,
        regime=regime,
        channel=_str(ctx, head, "channel", "agreement"),
        sources=tuple(sources),
        kinds=tuple(kinds),
        rules=tuple(rules),
        parties=parties,
        central_contact=central,
        status=_str(ctx, head, "status", "agreement", required=False),
        notes=_str(ctx, head, "notes", "agreement", required=False),
        path=ctx.file,
        builtin=builtin,
    )


class Catalogue:
    """Agreements, kinds and rules, indexed. Build it with :func:`load_catalogue`."""

    def __init__(self, agreements: Sequence[Agreement]) -> None:
        self.agreements: dict[str, Agreement] = {a.id: a for a in agreements}
        self.kinds: dict[str, Kind] = {k.id: k for a in agreements for k in a.kinds}
        self.rules: dict[str, Rule] = {r.code: r for a in agreements for r in a.rules}
        self._by_name: dict[str, Rule] = {r.name: r for r in self.rules.values()}

    def kind(self, kind_id: str) -> Kind:
        """The kind with this id; ``KeyError`` when unknown."""
        return self.kinds[kind_id]

    def rule(self, code_or_name: str) -> Rule | None:
        """A rule by code (``BML001``, case-insensitive) or name (``bmlna_prelaunch_24h``)."""
        return self.rules.get(code_or_name.upper()) or self._by_name.get(code_or_name.lower())

    def active_rules(self) -> list[Rule]:
        """Rules not retired, ordered by code."""
        return sorted((r for r in self.rules.values() if not r.retired), key=lambda r: r.code)

    def __iter__(self) -> Iterator[Agreement]:
        return iter(self.agreements.values())


def builtin_paths() -> list[Path]:
    """The agreement files shipped inside the package, sorted by name."""
    root = resources.files("nrrc") / "agreements"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml"))


def _read(path: Path, ctx: _Ctx) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        ctx.add("", f"cannot read the file: {exc.strerror or exc}")
        return None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        ctx.add("", f"expected UTF-8 text, found an invalid byte at offset {exc.start}")
    except tomllib.TOMLDecodeError as exc:
        ctx.add("", f"malformed TOML: {exc}")
    return None


def load_catalogue(extra: Iterable[str | Path] = (), *, builtins: bool = True) -> Catalogue:
    """Load the built-in agreements and any extra files or directories of ``*.toml``.

    Raises:
        CatalogueError: listing every problem in every file, each with file, key path, reason.
    """
    paths: list[tuple[Path, bool]] = [(p, True) for p in builtin_paths()] if builtins else []
    for item in extra:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.toml"))
            if not found:
                raise CatalogueError(
                    [Problem(str(p), "", "no *.toml agreement files in this directory")]
                )
            paths.extend((f, False) for f in found)
        else:
            paths.append((p, False))
    problems: list[Problem] = []
    agreements: list[tuple[Agreement, list[int]]] = []
    for path, builtin in paths:
        ctx = _Ctx(str(path))
        data = _read(path, ctx)
        if data is not None:
            agreement = _agreement(ctx, data, builtin=builtin)
            # Kept even when the file has problems, so that references and duplicates in it
            # are checked in the same pass; the catalogue is only built when nothing is wrong.
            if agreement is not None:
                agreements.append((agreement, ctx.rule_indices))
        problems.extend(ctx.problems)
    problems.extend(_cross_check(agreements))
    if problems:
        order = {str(p): i for i, (p, _) in enumerate(paths)}
        problems.sort(key=lambda p: order.get(p.file, len(order)))
        raise CatalogueError(problems)
    return Catalogue([a for a, _ in agreements])


def _cross_check(agreements: Sequence[tuple[Agreement, Sequence[int]]]) -> list[Problem]:
    """Checks that need every file: duplicates and references between files.

    Each agreement comes with the index in its file of each of its rules, so that problems
    name ``rules[i]`` as the file has it even when an earlier rule could not be built.
    """
    problems: list[Problem] = []
    seen_ids: dict[str, str] = {}
    seen_codes: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    seen_prefix: dict[str, str] = {}
    kinds: dict[str, Kind] = {}
    for a, _ in agreements:
        if a.id not in seen_ids:  # a duplicate agreement's kinds do not shadow the first's
            kinds.update((k.id, k) for k in a.kinds)
            seen_ids[a.id] = a.path
    seen_ids.clear()
    for a, indices in agreements:
        if a.id and a.id in seen_ids:
            problems.append(
                Problem(
                    a.path,
                    "agreement.id",
                    f"duplicate agreement id {a.id!r}, already defined in {seen_ids[a.id]}",
                )
            )
            continue  # its rules would be checked against the other agreement's kinds
        seen_ids[a.id] = a.path
        if a.code_prefix and a.code_prefix in seen_prefix and seen_prefix[a.code_prefix] != a.path:
            problems.append(
                Problem(
                    a.path,
                    "agreement.code_prefix",
                    f"duplicate code prefix {a.code_prefix!r}, already used by "
                    f"{seen_prefix[a.code_prefix]}",
                )
            )
        seen_prefix.setdefault(a.code_prefix, a.path)
        for i, r in zip(indices, a.rules, strict=True):
            path = f"rules[{i}]"
            where = f"{a.path} {path}"
            if r.code and r.code in seen_codes:
                problems.append(
                    Problem(
                        a.path,
                        f"{path}.code",
                        f"duplicate rule code {r.code!r}, already used in {seen_codes[r.code]}",
                    )
                )
            seen_codes.setdefault(r.code, where)
            if r.name and r.name in seen_names:
                problems.append(
                    Problem(
                        a.path,
                        f"{path}.name",
                        f"duplicate rule name {r.name!r}, already used in {seen_names[r.name]}",
                    )
                )
            seen_names.setdefault(r.name, where)
            problems.extend(_check_rule_refs(a, r, path, kinds))
    return problems


def _check_rule_refs(a: Agreement, r: Rule, path: str, kinds: Mapping[str, Kind]) -> list[Problem]:
    problems: list[Problem] = []

    def need_kind(key: str, kind_id: str | None) -> Kind | None:
        if kind_id is None:
            return None
        kind = kinds.get(kind_id)
        if kind is None:
            close = _closest(kind_id, kinds)
            hint = f" (did you mean {close!r}?)" if close else ""
            problems.append(Problem(a.path, f"{path}.{key}", f"unknown kind {kind_id!r}{hint}"))
        return kind

    def need_field(
        kind: Kind | None, key: str, name: str | None, types: tuple[FieldType, ...]
    ) -> FieldSpec | None:
        if kind is None or name is None:
            return None
        spec = kind.field(name)
        if spec is None:
            names = ", ".join(f.name for f in kind.fields) or "none"
            problems.append(
                Problem(
                    a.path,
                    f"{path}.{key}",
                    f"unknown field {name!r} of kind {kind.id!r}; its fields are: {names}",
                )
            )
        elif types and spec.type not in types:
            want = " or ".join(t.value for t in types)
            problems.append(
                Problem(
                    a.path,
                    f"{path}.{key}",
                    f"field {name!r} of {kind.id!r} is "
                    f"a {spec.type.value}; this rule needs a {want} field",
                )
            )
        return spec

    instant = (FieldType.DATE, FieldType.DATETIME)
    kind = need_kind("kind", r.kind)
    trigger = need_kind("trigger", r.trigger)
    need_kind("response", r.response)
    need_field(kind, "anchor", r.anchor, instant)
    need_field(kind, "window_start", r.window_start, instant)
    need_field(kind, "window_end", r.window_end, instant)
    need_field(kind, "start_field", r.start_field, instant)
    need_field(kind, "end_field", r.end_field, instant)
    need_field(kind, "area_field", r.area_field, (FieldType.AREA, FieldType.LIST))
    need_field(kind, "year_field", r.year_field, (*instant, FieldType.INTEGER))
    need_field(trigger, "responder_field", r.responder_field, (FieldType.STRING,))
    if r.type is not RuleType.WINDOW:
        for group in (r.applies_if.any_of, r.applies_if.all_of):
            for c in group:
                spec = need_field(
                    kind or (kinds.get(r.trigger) if r.trigger else None), "applies_if", c.field, ()
                )
                wrong = _condition_mismatch(c, spec)
                if wrong:
                    problems.append(Problem(a.path, f"{path}.applies_if", wrong))
    return problems


def _condition_mismatch(c: Condition, spec: FieldSpec | None) -> str | None:
    """Why a condition's value can never be compared with its field, or None.

    A mismatch would not raise at audit time: the condition would silently never hold and the
    rule never apply (``troops >= "9000"``).
    """
    if spec is None:
        return None
    values = c.value if c.op == "in" else [c.value]
    t = spec.type
    for value in values:
        if t in (FieldType.INTEGER, FieldType.NUMBER):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif t is FieldType.BOOLEAN:
            ok = isinstance(value, bool)
        elif t is FieldType.STRING:
            ok = isinstance(value, str)
        elif t is FieldType.ENUM:
            if value not in spec.values:
                return (
                    f"condition '{c}': {value!r} is not a value of the enum field "
                    f"{spec.name!r} ({', '.join(spec.values)})"
                )
            ok = True
        else:
            ok = True  # dates, durations, areas and lists are compared as the audit decides
        if not ok:
            return (
                f"condition '{c}': field {spec.name!r} holds {t.value} values, "
                f"found {_describe(value)} to compare with"
            )
    return None
