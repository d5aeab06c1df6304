"""Filling in a notice's payload from what the centre knows about an activity.

A notice's fields come, in this order of precedence, from: the activity's attributes (by field
name, or through a few aliases such as ``missile_class`` for HCoC's ``generic_class``); the
timing the rules need (window start and end, anchors); per-kind templates for periodic
submissions (the year an annual calendar covers); and neutral defaults for any required field
still missing (first enum value, the smallest number allowed, a circle around the activity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nrrc.catalogue import Catalogue, FieldSpec, FieldType, Kind
from nrrc.messages import python_pattern

__all__ = ["PERIODIC_TEMPLATES", "build_payload"]

ALIASES: dict[str, tuple[str, ...]] = {
    "generic_class": ("missile_class",),
    "missile_type": ("missile_class",),
    "designation": ("name",),
}
"""Activity attributes that may stand in for a notice field of another name."""

PERIODIC_TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "vd11.annual_information_exchange": lambda y: {"valid_as_of": date(y + 1, 1, 1)},
    "vd11.annual_calendar": lambda y: {"year": y + 1, "activities": []},
    "vd11.large_activity_forecast": lambda y: {"year_covered": y + 2, "nil_return": True},
    "hcoc.annual_declaration": lambda y: {
        "year": y - 1,
        "ballistic_missile_policy": "Outline of the ballistic missile policy.",
        "space_launch_vehicle_policy": "Outline of the space launch vehicle policy.",
        "launch_sites": [],
        "ballistic_missile_launches": 0,
        "space_launch_vehicle_launches": 0,
    },
}
"""Fields of periodic submissions that depend on the year they are due in."""


def _default_string(spec: FieldSpec) -> str | None:
    text = spec.name.replace("_", " ")
    if spec.pattern:
        for candidate in ("XX", "X", "0", text):
            if re.search(python_pattern(spec.pattern), candidate):
                return candidate
        return None
    if spec.min_length and len(text) < spec.min_length:
        text = text.ljust(spec.min_length, ".")
    if spec.max_length is not None:
        text = text[: spec.max_length]
    return text


def _circle(location: Any) -> dict[str, Any]:
    lat, lon = 0.0, 0.0
    if isinstance(location, Mapping):
        lat = float(location.get("lat", 0.0))
        lon = float(location.get("lon", 0.0))
    return {"shape": "circle", "center": {"lat": lat, "lon": lon}, "radius": 50.0, "unit": "km"}


def _default(spec: FieldSpec, start: datetime, context: Mapping[str, Any]) -> Any:
    t = spec.type
    # The types whose default is built each time come first (the others are constants).
    if t is FieldType.LIST:
        assert spec.items is not None
        if not spec.min_items:
            return []
        item = _default(spec.items, start, context)
        return [item] * spec.min_items if item is not None else None
    if t is FieldType.AREA:
        return _circle(context.get("location"))
    if t is FieldType.DATE:
        return start.date()
    if t is FieldType.DATETIME:
        return start
    if t is FieldType.STRING:
        return _default_string(spec)
    if t is FieldType.INTEGER:
        return int(max(spec.minimum or 0, 0))
    if t is FieldType.NUMBER:
        return float(max(spec.minimum or 0.0, 0.0))
    if t is FieldType.BOOLEAN:
        return False
    if t is FieldType.DURATION:
        return timedelta(0)
    assert t is FieldType.ENUM
    return spec.values[0] if spec.values else None


def _coerce(spec: FieldSpec, value: Any) -> Any:
    """Dates from datetimes, and the like: what the activity says, in the field's type."""
    if spec.type is FieldType.DATE and isinstance(value, datetime):
        return value.date()
    if spec.type is FieldType.AREA and isinstance(value, Mapping) and "shape" not in value:
        return _circle(value)
    return value


def build_payload(
    catalogue: Catalogue,
    kind: str,
    *,
    start: datetime,
    given: Mapping[str, Any],
    timing: Mapping[str, Any],
    sender: str,
) -> dict[str, Any]:
    """The payload fields of a ``kind`` notice, as Python values (validate before use).

    Args:
        catalogue: to look the kind's fields up.
        kind: the kind id.
        start: the activity's (or submission's) start, for date and datetime defaults.
        given: attributes of the activity, or fields given by the scenario.
        timing: fields the rules need (window, anchor), which ``given`` does not override.
        sender: the notifying centre (default for lists of participating States).
    """
    # Where each field comes from depends only on the kind and on which names are given:
    # worked out once per combination (and per catalogue's definition of the kind).
    spec = catalogue.kinds[kind]
    recipe_key = (kind, *timing, None, *given)
    cached = _RECIPES.get(recipe_key)
    if cached is not None and cached[0] is spec:
        recipe = cached[1]
    else:
        if len(_RECIPES) >= _RECIPES_SIZE:
            _RECIPES.clear()
        recipe = _recipe(spec, timing, given)
        _RECIPES[recipe_key] = (spec, recipe)
    payload: dict[str, Any] = {}
    for field_spec, name, source, alias, coerce, constant in recipe:
        if source is _TIMING:
            value = timing[name]
        elif source is _GIVEN:
            value = given[name]
        elif source is _CONSTANT:
            value = constant
        elif source is _ALIAS:
            value = given[alias]
        elif source is _SENDER:
            value = [sender]
        else:
            value = _default(field_spec, start, given)
        if value is None:
            continue
        payload[name] = _coerce(field_spec, value) if coerce else value
    return payload


_TIMING, _GIVEN, _ALIAS, _SENDER, _DEFAULT = "timing", "given", "alias", "sender", "default"
_CONSTANT = "constant"
"""A default that depends on nothing (the same immutable value every time)."""
_CONSTANT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.INTEGER,
        FieldType.NUMBER,
        FieldType.BOOLEAN,
        FieldType.DURATION,
        FieldType.ENUM,
    }
)
_Recipe = tuple[tuple[FieldSpec, str, str, str, bool, Any], ...]
_RECIPES: dict[tuple[Any, ...], tuple[Kind, _Recipe]] = {}
_RECIPES_SIZE = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _recipe(kind: Kind, timing: Mapping[str, Any], given: Mapping[str, Any]) -> _Recipe:
    """Where each field of ``kind`` comes from, given which names ``timing`` and ``given``
    hold (the order of precedence of :func:`build_payload`); fields left out are skipped."""
    out: list[tuple[FieldSpec, str, str, str, bool, Any]] = []
    for spec in kind.fields:
        alias = ""
        if spec.name in timing:
            source = _TIMING
        elif spec.name in given:
            source = _GIVEN
        else:
            found = next((a for a in ALIASES.get(spec.name, ()) if a in given), None)
            if found is not None:
                source, alias = _ALIAS, found
            elif spec.name == "participating_states":
                source = _SENDER
            elif spec.required:
                source = _DEFAULT
            else:
                continue
        constant = None
        if source is _DEFAULT and spec.type in _CONSTANT_TYPES:
            # Neither the start nor the given fields matter; the value is immutable.
            source, constant = _CONSTANT, _default(spec, _EPOCH, {})
        coerce = spec.type in (FieldType.DATE, FieldType.AREA)
        out.append((spec, spec.name, source, alias, coerce, constant))
    return tuple(out)
