"""Hypothesis strategies, all in one place, derived from the catalogue itself.

Each message kind's payload strategy is built from its :class:`~nrrc.catalogue.FieldSpec` list,
so a new kind or a changed constraint in an agreement file is property-tested without touching
this module. Values respect every constraint the catalogue states (ranges, lengths, patterns,
enum values, item counts); datetimes are aware, in arbitrary whole-minute UTC offsets (RFC 3339
cannot write seconds in an offset).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from nrrc.catalogue import FieldSpec, FieldType, Kind
from nrrc.envelope import new_message_id
from nrrc.messages import CENTRE_PATTERN, MAX_SAFE_INTEGER, MessageTypes, ReplyRef, Statement

__all__ = [
    "area_values",
    "aware_datetimes",
    "centre_ids",
    "field_values",
    "headers",
    "message_ids",
    "payloads",
    "recipients",
    "reply_refs",
    "statements",
    "utc_offsets",
]

MAX_GENERATED_LENGTH = 40
"""Upper bound on generated strings and lists where the catalogue allows more (keeps tests fast)."""

MIN_INSTANT = datetime(1970, 1, 2)
MAX_INSTANT = datetime(2200, 1, 1)


def utc_offsets() -> st.SearchStrategy[timezone]:
    """Fixed UTC offsets from -23:59 to +23:59 in whole minutes."""
    return st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Aware datetimes with microseconds, in any whole-minute UTC offset."""
    return st.datetimes(min_value=MIN_INSTANT, max_value=MAX_INSTANT, timezones=utc_offsets())


def centre_ids() -> st.SearchStrategy[str]:
    """Centre ids such as ``US`` or ``X1``."""
    return st.from_regex(CENTRE_PATTERN, fullmatch=True)


def recipients() -> st.SearchStrategy[str]:
    """A centre id, or a regime id (a lowercase agreement id)."""
    return centre_ids() | st.from_regex(r"^[a-z][a-z0-9_]{1,31}$", fullmatch=True)


def message_ids() -> st.SearchStrategy[str]:
    """UUIDv7 message ids, time part anywhere from 1970 to 2200."""
    return st.builds(
        lambda at, bits: new_message_id(at, lambda n: bits[:n]),
        aware_datetimes(),
        st.binary(min_size=10, max_size=10),
    )


def reply_refs() -> st.SearchStrategy[ReplyRef]:
    """References to a message answered: UUIDv7 id and a SHA-256 hex digest."""
    return st.builds(
        ReplyRef,
        id=message_ids(),
        digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    )


def area_values() -> st.SearchStrategy[dict[str, Any]]:
    """A circle (centre and radius in km or nmi) or a polygon of 3 or more points."""
    points = st.fixed_dictionaries(
        {
            "lat": st.floats(-90, 90, allow_nan=False),
            "lon": st.floats(-180, 180, allow_nan=False),
        }
    )
    circle = st.fixed_dictionaries(
        {
            "shape": st.just("circle"),
            "center": points,
            "radius": st.floats(0, 20000, exclude_min=True, allow_nan=False),
            "unit": st.sampled_from(["km", "nmi"]),
        }
    )
    polygon = st.fixed_dictionaries(
        {"shape": st.just("polygon"), "points": st.lists(points, min_size=3, max_size=8)}
    )
    return circle | polygon


def _strings(spec: FieldSpec) -> st.SearchStrategy[str]:
    lo = spec.min_length or 0
    hi = spec.max_length if spec.max_length is not None else max(lo, MAX_GENERATED_LENGTH)
    if spec.pattern:
        return st.from_regex(spec.pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
    return st.text(min_size=lo, max_size=min(hi, max(lo, MAX_GENERATED_LENGTH)))


def _integers(spec: FieldSpec) -> st.SearchStrategy[int]:
    lo = -MAX_SAFE_INTEGER if spec.minimum is None else max(int(spec.minimum), -MAX_SAFE_INTEGER)
    hi = MAX_SAFE_INTEGER if spec.maximum is None else min(int(spec.maximum), MAX_SAFE_INTEGER)
    return st.integers(lo, hi)


def field_values(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values of one field that satisfy every constraint of its spec."""
    t = spec.type
    if t is FieldType.STRING:
        return _strings(spec)
    if t is FieldType.INTEGER:
        return _integers(spec)
    if t is FieldType.NUMBER:
        return st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)
    if t is FieldType.BOOLEAN:
        return st.booleans()
    if t is FieldType.DATE:
        return st.dates()
    if t is FieldType.DATETIME:
        return aware_datetimes()
    if t is FieldType.DURATION:
        return st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650))
    if t is FieldType.ENUM:
        return st.sampled_from(spec.values)
    if t is FieldType.AREA:
        return area_values()
    assert t is FieldType.LIST and spec.items is not None
    lo = spec.min_items or 0
    hi = spec.max_items if spec.max_items is not None else lo + 4
    return st.lists(field_values(spec.items), min_size=lo, max_size=min(hi, lo + 4))


def payloads(kind: Kind) -> st.SearchStrategy[dict[str, Any]]:
    """Payload dicts of ``kind``: every required field, each optional field present or not."""
    required = {f.name: field_values(f) for f in kind.fields if f.required}
    optional = {f.name: field_values(f) for f in kind.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def headers() -> st.SearchStrategy[dict[str, Any]]:
    """Statement header fields (everything but kind and payload)."""
    return st.fixed_dictionaries(
        {
            "id": message_ids(),
            "sender": centre_ids(),
            "recipient": recipients(),
            "sent_at": aware_datetimes(),
            "epoch": st.integers(0, MAX_SAFE_INTEGER),
            "seq": st.integers(1, MAX_SAFE_INTEGER),
            "in_reply_to": st.none() | reply_refs(),
        }
    )


def statements(types: MessageTypes, kind: str) -> st.SearchStrategy[Statement]:
    """Valid statements of ``kind``, built through :meth:`MessageTypes.statement`."""
    spec = types.catalogue.kinds[kind]
    return st.builds(
        lambda header, payload: types.statement(kind, payload=payload, **header),
        headers(),
        payloads(spec),
    )
