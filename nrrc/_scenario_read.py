"""Reading scenario TOML into :mod:`nrrc.scenario` objects, every problem collected at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nrrc.catalogue import Catalogue, Regime
from nrrc.centre import (
    Behaviour,
    Binding,
    Distribution,
    PlannedActivity,
    PlannedMessage,
    RetryPolicy,
    parse_distribution,
)
from nrrc.errors import Problem
from nrrc.messages import CENTRE_PATTERN
from nrrc.scenario import (
    ATTACKS,
    PROFILES,
    ActivityGenerator,
    CentreSpec,
    Injection,
    Restart,
    Scenario,
    ScheduledItem,
)
from nrrc.timeutil import midnight_utc, parse_duration, to_utc
from nrrc.transport.memory import DEFAULT_DELAY, LinkFault

__all__ = ["Reader", "parse"]

_ID = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_CENTRE = re.compile(CENTRE_PATTERN)


class Reader:
    """Reads values out of TOML tables, collecting problems instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def keys(self, table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
        allowed = set(allowed)
        for key in table:
            if key not in allowed:
                hint = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.75)
                more = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.add(
                    _join(path, key),
                    f"unknown key{more}; expected one of: {', '.join(sorted(allowed))}",
                )

    def table(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(path, f"expected a table, found {_describe(value)}")
            return {}
        return value

    def tables(self, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.add(key, f"expected an array of tables ([[{key}]]), found {_describe(value)}")
            return []
        return [self.table(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def text(self, t: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        if key not in t:
            if default is None:
                self.add(_join(path, key), "missing: expected a string")
                return ""
            return default
        value = t[key]
        if not isinstance(value, str) or not value.strip():
            self.add(_join(path, key), f"expected a non-empty string, found {_describe(value)}")
            return default or ""
        return value

    def instant(
        self, t: Mapping[str, Any], key: str, path: str, required: bool = True
    ) -> datetime | None:
        if key not in t:
            if required:
                self.add(
                    _join(path, key), "missing: expected a date-time such as 2026-03-01T12:00:00Z"
                )
            return None
        return self.as_instant(t[key], _join(path, key))

    def as_instant(self, value: Any, path: str) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return to_utc(value)
        if isinstance(value, datetime):
            self.add(
                path,
                f"expected a date-time with a UTC offset (…Z), found naive {value.isoformat()}",
            )
            return None
        if isinstance(value, date):
            return midnight_utc(value)
        self.add(
            path, f"expected a date-time such as 2026-03-01T12:00:00Z, found {_describe(value)}"
        )
        return None

    def duration(
        self, t: Mapping[str, Any], key: str, path: str, default: timedelta | None = None
    ) -> timedelta | None:
        if key not in t:
            if default is None:
                self.add(_join(path, key), "missing: expected a duration such as '24h' or '14d'")
            return default
        value = t[key]
        try:
            return parse_duration(value).delta
        except ValueError as exc:
            self.add(_join(path, key), str(exc))
            return default

    def distribution(
        self, t: Mapping[str, Any], key: str, path: str, default: Distribution
    ) -> Distribution:
        if key not in t:
            return default
        try:
            return parse_distribution(t[key])
        except ValueError as exc:
            self.add(_join(path, key), str(exc))
            return default

    def number(
        self, t: Mapping[str, Any], key: str, path: str, default: float, lo: float, hi: float
    ) -> float:
        if key not in t:
            return default
        value = t[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.add(
                _join(path, key),
                f"expected a number from {lo:g} to {hi:g}, found {_describe(value)}",
            )
            return default
        return float(value)

    def integer(self, t: Mapping[str, Any], key: str, path: str, default: int, lo: int = 0) -> int:
        if key not in t:
            return default
        value = t[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            self.add(_join(path, key), f"expected an integer >= {lo}, found {_describe(value)}")
            return default
        return value

    def strings(self, t: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = t.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(_join(path, key), f"expected an array of strings, found {_describe(value)}")
            return []
        return list(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date):
        return f"date/time {value.isoformat()}"
    if value is None:
        return "nothing"
    return type(value).__name__


_CENTRE_KEYS = {
    "id",
    "ids",
    "name",
    "profile",
    "late_probability",
    "late_delay",
    "silent",
    "ack_delay",
    "reply_delay",
    "safety_margin",
    "periodic_margin",
    "clock_skew",
    "retry",
    "planning",
    "reply_payloads",
}
_DEFAULTS = {
    "diligent": {},
    "late-prone": {"late_probability": 0.2, "late_delay": "exponential(24h)"},
    "silent": {},
    "hostile": {},
}


def _centres(r: Reader, data: Mapping[str, Any], catalogue: Catalogue) -> list[CentreSpec]:
    defaults = r.table(data.get("defaults", {}), "defaults")
    r.keys(defaults, _CENTRE_KEYS - {"id", "ids", "name"}, "defaults")
    out: list[CentreSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(r.tables(data, "centres")):
        path = f"centres[{i}]"
        r.keys(t, _CENTRE_KEYS, path)
        if ("id" in t) == ("ids" in t):
            r.add(path, "expected exactly one of 'id' (one centre) or 'ids' (several)")
            continue
        ids = [t["id"]] if "id" in t else t["ids"]
        if not isinstance(ids, list):
            r.add(f"{path}.ids", f"expected an array of centre ids, found {_describe(ids)}")
            continue
        merged = {**defaults, **t}
        profile = r.text(merged, "profile", path, "diligent")
        if profile not in PROFILES:
            r.add(f"{path}.profile", f"expected one of {', '.join(PROFILES)}, found {profile!r}")
            profile = "diligent"
        merged = {**_DEFAULTS[profile], **merged}
        spec = _centre_spec(r, merged, path, profile, catalogue)
        for j, cid in enumerate(ids):
            where = f"{path}.id" if "id" in t else f"{path}.ids[{j}]"
            if not isinstance(cid, str) or not _CENTRE.fullmatch(cid):
                r.add(
                    where,
                    "expected a centre id (capital letters and digits, e.g. 'US'), "
                    f"found {_describe(cid)}",
                )
                continue
            if cid in seen:
                r.add(where, f"centre {cid} is declared twice")
                continue
            seen.add(cid)
            name = r.text(t, "name", path, cid) if "id" in t else cid
            out.append(replace(spec, id=cid, name=name))
    if not out and not r.problems:
        r.add("centres", "expected at least one [[centres]] table")
    return out


def _centre_spec(
    r: Reader, t: Mapping[str, Any], path: str, profile: str, catalogue: Catalogue
) -> CentreSpec:
    base = Behaviour()
    silent = frozenset(
        _kind_id(r, catalogue, k, f"{path}.silent") for k in r.strings(t, "silent", path)
    )
    replies = r.table(t.get("reply_payloads", {}), f"{path}.reply_payloads")
    behaviour = Behaviour(
        profile=profile,
        safety_margin=r.duration(t, "safety_margin", path, base.safety_margin)
        or base.safety_margin,
        periodic_margin=r.duration(t, "periodic_margin", path, base.periodic_margin)
        or base.periodic_margin,
        late_probability=r.number(t, "late_probability", path, 0.0, 0.0, 1.0),
        late_delay=r.distribution(t, "late_delay", path, base.late_delay),
        silent_kinds=frozenset(k for k in silent if k),
        ack_delay=r.distribution(t, "ack_delay", path, base.ack_delay),
        reply_delay=r.distribution(t, "reply_delay", path, base.reply_delay),
        reply_payloads={
            _kind_id(r, catalogue, k, f"{path}.reply_payloads"): dict(v)
            for k, v in replies.items()
            if isinstance(v, dict)
        },
    )
    rt = r.table(t.get("retry", {}), f"{path}.retry")
    r.keys(rt, {"initial", "factor", "max_interval", "give_up_after"}, f"{path}.retry")
    d = RetryPolicy()
    retry = RetryPolicy(
        initial=r.duration(rt, "initial", f"{path}.retry", d.initial) or d.initial,
        factor=r.number(rt, "factor", f"{path}.retry", d.factor, 1.0, 10.0),
        max_interval=r.duration(rt, "max_interval", f"{path}.retry", d.max_interval)
        or d.max_interval,
        give_up_after=r.duration(rt, "give_up_after", f"{path}.retry", d.give_up_after)
        or d.give_up_after,
    )
    skew = timedelta(0)
    if "clock_skew" in t:
        raw = t["clock_skew"]
        negative = isinstance(raw, str) and raw.strip().startswith("-")
        parsed = r.duration(
            {"clock_skew": raw.strip().lstrip("-") if isinstance(raw, str) else raw},
            "clock_skew",
            path,
            timedelta(0),
        )
        skew = -(parsed or timedelta(0)) if negative else (parsed or timedelta(0))
    planning = r.duration(t, "planning", path, timedelta(days=30)) or timedelta(days=30)
    return CentreSpec("", "", profile, behaviour, retry, skew, planning)


def _kind_id(
    r: Reader, catalogue: Catalogue, kind: str, path: str, agreement: str | None = None
) -> str:
    full = kind if "." in kind else (f"{agreement}.{kind}" if agreement else kind)
    if full not in catalogue.kinds:
        hint = difflib.get_close_matches(full, list(catalogue.kinds), n=1, cutoff=0.6)
        more = f" (did you mean '{hint[0]}'?)" if hint else ""
        r.add(path, f"unknown message kind {kind!r}{more}")
        return ""
    return full


_BINDING_KEYS = {
    "id",
    "parties",
    "multilateral",
    "central_contact",
    "suspended_from",
    "suspended_until",
    "lead",
    "activity_kinds",
}
_DEFAULT_ACTIVITY_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "msea": {"exercise": ("msea.exercise_notice",)},
}
"""Activities that no window rule names but whose notice an agreement requires."""


def _bindings(
    r: Reader, data: Mapping[str, Any], catalogue: Catalogue, centres: set[str]
) -> list[Binding]:
    out: list[Binding] = []
    for i, t in enumerate(r.tables(data, "agreements")):
        path = f"agreements[{i}]"
        r.keys(t, _BINDING_KEYS, path)
        agreement_id = r.text(t, "id", path)
        agreement = catalogue.agreements.get(agreement_id)
        if agreement_id and agreement is None:
            hint = difflib.get_close_matches(agreement_id, list(catalogue.agreements), n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            r.add(f"{path}.id", f"unknown agreement {agreement_id!r}{more}")
            continue
        if agreement is None:
            continue
        raw = t.get("parties", list(agreement.parties) or "all")
        if raw == "all":
            parties = sorted(centres)
        elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            parties = list(raw)
            for j, p in enumerate(parties):
                if p not in centres:
                    r.add(f"{path}.parties[{j}]", f"centre {p!r} is not declared in [[centres]]")
        else:
            r.add(
                f"{path}.parties",
                f'expected an array of centre ids or "all", found {_describe(raw)}',
            )
            continue
        if len(set(parties)) < 2:
            r.add(f"{path}.parties", f"expected at least two parties, found {len(set(parties))}")
        multilateral = t.get("multilateral", agreement.regime is Regime.MULTILATERAL)
        if not isinstance(multilateral, bool):
            r.add(
                f"{path}.multilateral", f"expected true or false, found {_describe(multilateral)}"
            )
            multilateral = False
        contact = t.get("central_contact", agreement.central_contact)
        if contact is not None and contact not in parties:
            r.add(f"{path}.central_contact", f"expected one of the parties, found {contact!r}")
            contact = None
        kinds_raw = r.table(t.get("activity_kinds", {}), f"{path}.activity_kinds")
        activity_kinds = dict(_DEFAULT_ACTIVITY_KINDS.get(agreement.id, {}))
        for name, value in kinds_raw.items():
            values = value if isinstance(value, list) else [value]
            activity_kinds[name] = tuple(
                k
                for k in (
                    _kind_id(r, catalogue, str(v), f"{path}.activity_kinds.{name}", agreement.id)
                    for v in values
                )
                if k
            )
        out.append(
            Binding(
                agreement=agreement.id,
                parties=tuple(sorted(set(parties))),
                multilateral=multilateral,
                central_contact=contact if multilateral else None,
                suspended_from=r.instant(t, "suspended_from", path, required=False),
                suspended_until=r.instant(t, "suspended_until", path, required=False),
                lead=r.duration(t, "lead", path, timedelta(days=2)) or timedelta(days=2),
                activity_kinds=activity_kinds,
            )
        )
    return out


def _attributes(r: Reader, t: Mapping[str, Any], path: str) -> dict[str, Any]:
    attrs = dict(r.table(t.get("attributes", {}), f"{path}.attributes"))
    if "location" in t:
        attrs["location"] = r.table(t["location"], f"{path}.location")
    return attrs


def _activities(
    r: Reader, data: Mapping[str, Any], specs: Mapping[str, CentreSpec], start: datetime
) -> list[ScheduledItem]:
    out: list[ScheduledItem] = []
    allowed = {
        "id",
        "party",
        "activity",
        "at",
        "end_at",
        "window_start",
        "window_end",
        "known_at",
        "attributes",
        "location",
    }
    for i, t in enumerate(r.tables(data, "activities")):
        path = f"activities[{i}]"
        r.keys(t, allowed, path)
        party = r.text(t, "party", path)
        if party and party not in specs:
            r.add(f"{path}.party", f"centre {party!r} is not declared in [[centres]]")
            continue
        at = r.instant(t, "at", path)
        name = r.text(t, "activity", path)
        if at is None or not party:
            continue
        activity = PlannedActivity(
            id=r.text(t, "id", path, f"activity-{i + 1}"),
            activity=name,
            at=at,
            end_at=r.instant(t, "end_at", path, required=False),
            window_start=r.instant(t, "window_start", path, required=False),
            window_end=r.instant(t, "window_end", path, required=False),
            attributes=_attributes(r, t, path),
        )
        known = r.instant(t, "known_at", path, required=False)
        if known is None:
            known = max(start, activity.start - specs[party].planning)
        out.append(ScheduledItem(known, party, activity))
    return out


def _generators(
    r: Reader, data: Mapping[str, Any], specs: Mapping[str, CentreSpec]
) -> list[ActivityGenerator]:
    out: list[ActivityGenerator] = []
    allowed = {
        "activity",
        "parties",
        "per_year",
        "window",
        "duration",
        "attributes",
        "location",
        "name",
    }
    for i, t in enumerate(r.tables(data, "generate")):
        path = f"generate[{i}]"
        r.keys(t, allowed, path)
        raw = t.get("parties", "all")
        parties = list(specs) if raw == "all" else r.strings(t, "parties", path)
        for j, p in enumerate(parties):
            if p not in specs:
                r.add(f"{path}.parties[{j}]", f"centre {p!r} is not declared in [[centres]]")
        activity = r.text(t, "activity", path)
        window = r.duration(t, "window", path, timedelta(days=1)) or timedelta(days=1)
        out.append(
            ActivityGenerator(
                activity=activity,
                parties=tuple(p for p in parties if p in specs),
                per_year=r.integer(t, "per_year", path, 1),
                window=window,
                duration=r.duration(t, "duration", path, timedelta(0)) or timedelta(0),
                attributes=_attributes(r, t, path),
                name=r.text(t, "name", path, f"{activity}{i + 1}"),
            )
        )
    return out


def _messages(
    r: Reader,
    data: Mapping[str, Any],
    catalogue: Catalogue,
    specs: Mapping[str, CentreSpec],
    regimes: set[str],
) -> list[ScheduledItem]:
    out: list[ScheduledItem] = []
    for i, t in enumerate(r.tables(data, "messages")):
        path = f"messages[{i}]"
        r.keys(t, {"id", "from", "to", "kind", "at", "payload"}, path)
        sender = r.text(t, "from", path)
        to = r.text(t, "to", path)
        if sender and sender not in specs:
            r.add(f"{path}.from", f"centre {sender!r} is not declared in [[centres]]")
        if to and to not in specs and to not in regimes:
            r.add(
                f"{path}.to",
                f"expected a declared centre or a regime "
                f"({', '.join(sorted(regimes)) or 'none'}), found {to!r}",
            )
        kind = _kind_id(r, catalogue, r.text(t, "kind", path), f"{path}.kind")
        at = r.instant(t, "at", path)
        payload = r.table(t.get("payload", {}), f"{path}.payload")
        if kind and at is not None and sender in specs:
            msg = PlannedMessage(
                r.text(t, "id", path, f"message-{i + 1}"), kind, to, at, dict(payload)
            )
            out.append(ScheduledItem(at, sender, msg))
    return out


def _faults(r: Reader, data: Mapping[str, Any], centres: set[str]) -> list[LinkFault]:
    out: list[LinkFault] = []
    for i, t in enumerate(r.tables(data, "faults")):
        path = f"faults[{i}]"
        r.keys(t, {"link", "from", "to", "loss", "delay", "outages", "both_ways"}, path)
        if "link" in t:
            link = r.strings(t, "link", path)
            if len(link) != 2:
                r.add(f"{path}.link", f"expected two centre ids, found {len(link)}")
                continue
            source, target = link
        else:
            source, target = t.get("from", "*"), t.get("to", "*")
        for key, value in (("from", source), ("to", target)):
            if value != "*" and value not in centres:
                r.add(
                    f"{path}.{key}", f"expected a declared centre or '*', found {_describe(value)}"
                )
        outages: list[tuple[datetime, datetime]] = []
        for j, pair in enumerate(t.get("outages", [])):
            where = f"{path}.outages[{j}]"
            if not isinstance(pair, list) or len(pair) != 2:
                r.add(where, "expected [start, end] date-times")
                continue
            a, b = r.as_instant(pair[0], where), r.as_instant(pair[1], where)
            if a is not None and b is not None:
                if b <= a:
                    r.add(where, "expected the end after the start")
                outages.append((a, b))
        both = t.get("both_ways", True)
        out.append(
            LinkFault(
                source=str(source),
                target=str(target),
                loss=r.number(t, "loss", path, 0.0, 0.0, 1.0),
                delay=r.distribution(t, "delay", path, DEFAULT_DELAY) if "delay" in t else None,
                outages=tuple(outages),
                both_ways=bool(both),
            )
        )
    return out


def _injections(r: Reader, data: Mapping[str, Any], centres: set[str]) -> list[Injection]:
    out: list[Injection] = []
    for i, t in enumerate(r.tables(data, "injections")):
        path = f"injections[{i}]"
        r.keys(t, {"attack", "target", "by", "count", "at"}, path)
        attack = r.text(t, "attack", path)
        if attack and attack not in ATTACKS:
            r.add(f"{path}.attack", f"expected one of {', '.join(ATTACKS)}, found {attack!r}")
        target = r.text(t, "target", path)
        if target and target not in centres:
            r.add(f"{path}.target", f"centre {target!r} is not declared in [[centres]]")
        by = r.text(t, "by", path, "ZZ")
        if not _CENTRE.fullmatch(by):
            r.add(f"{path}.by", f"expected a centre id, found {by!r}")
        raw_at = t.get("at", [])
        at = (
            [r.as_instant(v, f"{path}.at[{j}]") for j, v in enumerate(raw_at)]
            if isinstance(raw_at, list)
            else []
        )
        out.append(
            Injection(
                attack,
                target,
                by,
                tuple(a for a in at if a),
                r.integer(t, "count", path, 0 if at else 1),
            )
        )
    return out


def _restarts(r: Reader, data: Mapping[str, Any], centres: set[str]) -> list[Restart]:
    out: list[Restart] = []
    for i, t in enumerate(r.tables(data, "restarts")):
        path = f"restarts[{i}]"
        r.keys(t, {"centre", "at", "down"}, path)
        centre = r.text(t, "centre", path)
        if centre and centre not in centres:
            r.add(f"{path}.centre", f"centre {centre!r} is not declared in [[centres]]")
        at = r.instant(t, "at", path)
        down = r.duration(t, "down", path, timedelta(minutes=10)) or timedelta(0)
        if at is not None and centre in centres:
            out.append(Restart(centre, at, down))
    return out


_TOP = {
    "schema",
    "scenario",
    "defaults",
    "centres",
    "agreements",
    "activities",
    "generate",
    "messages",
    "faults",
    "injections",
    "restarts",
}
_HEAD = {"id", "title", "description", "start", "duration", "seed", "keyring", "keys"}


def parse(
    r: Reader, data: dict[str, Any], catalogue: Catalogue, *, builtin: bool
) -> Scenario | None:
    r.keys(data, _TOP, "")
    if data.get("schema") != 1:
        r.add("schema", f"expected schema = 1, found {_describe(data.get('schema'))}")
    head = r.table(data.get("scenario", {}), "scenario")
    r.keys(head, _HEAD, "scenario")
    sid = r.text(head, "id", "scenario")
    if sid and not _ID.fullmatch(sid):
        r.add("scenario.id", f"expected lowercase letters, digits and '-', found {sid!r}")
    start = r.instant(head, "start", "scenario")
    duration = r.duration(head, "duration", "scenario")
    if duration is not None and duration <= timedelta(0):
        r.add("scenario.duration", "expected a positive duration")
    seed = r.integer(head, "seed", "scenario", 1)
    centres = _centres(r, data, catalogue)
    specs = {c.id: c for c in centres}
    ids = set(specs)
    bindings = _bindings(r, data, catalogue, ids)
    regimes = {b.agreement for b in bindings if b.multilateral}
    activities = _activities(r, data, specs, start or datetime(1970, 1, 1, tzinfo=UTC))
    generators = _generators(r, data, specs)
    messages = _messages(r, data, catalogue, specs, regimes)
    faults = _faults(r, data, ids)
    injections = _injections(r, data, ids)
    restarts = _restarts(r, data, ids)
    if r.problems or start is None or duration is None:
        return None
    return Scenario(
        id=sid,
        title=r.text(head, "title", "scenario", sid),
        description=r.text(head, "description", "scenario", "").strip(),
        path=r.file,
        start=start,
        duration=duration,
        seed=seed,
        centres=tuple(centres),
        bindings=tuple(bindings),
        activities=tuple(activities),
        generators=tuple(generators),
        messages=tuple(messages),
        faults=tuple(faults),
        injections=tuple(injections),
        restarts=tuple(restarts),
        keyring=head.get("keyring"),
        keys=head.get("keys"),
        builtin=builtin,
    )
