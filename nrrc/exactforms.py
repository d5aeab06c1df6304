"""Exact wire forms of date-times and durations, which msgspec reads more generously.

msgspec decodes a ``datetime`` from RFC 3339 text, but also from two forms that RFC 3339 and
JSON Schema's ``date-time`` format refuse: a space instead of the ``T``
(``2026-03-02 08:15:00Z``) and an offset without its colon (``+0530``). It decodes a
``timedelta`` from ISO 8601 text with a sign (``-PT2H``) or a fraction in days, hours or
minutes (``PT1.5H``), which the published duration pattern refuses. Once decoded, the text is
gone; so the check reads the JSON bytes, in two stages:

* :func:`may_hold_lax_date_time` is a cheap test on the raw bytes (a byte search and one
  regular-expression search, about half a microsecond per statement), exact in one direction:
  when it answers no, no string of the document, free text included, holds a date-time in a
  lax form. It answers yes for a free-text string that merely contains one
  (``"moved from 2026-03-02 08:15"``).
* :class:`ExactForms` then decodes the document again without types and walks it along the
  type that decoded it: only a field *typed* date-time (or duration) is checked, so free text
  is never refused. Its errors read like msgspec's: what was expected, what was found, and the
  JSON path (``Expected an RFC 3339 date-time ..., found '2026-03-02 08:15:00Z' - at
  `$.sent_at```).

Lowercase ``t`` and ``z`` are RFC 3339 (section 5.6, note) and pass, as they pass the
``jsonschema`` format checker the published schemas are tested with.

Duplicate object keys are the other thing a decoder forgets: msgspec keeps the last value of a
key written twice in one object, Python's ``json`` does too, other readers keep the first or
refuse, so ``{"sender":"US",...,"sender":"RU"}`` could mean two things to two readers of one
signed statement. :func:`may_repeat_a_key` is the cheap test (exact when it answers no) and
:func:`duplicate_key` the exact one, which names the key and the object holding it;
:func:`refuse_duplicate_keys` runs both and raises :class:`DuplicateKey`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi

from nrrc.patterns import python_pattern

__all__ = [
    "DATE_TIME_WORDS",
    "DURATION_PATTERN",
    "DURATION_WORDS",
    "DuplicateKey",
    "ExactForms",
    "duplicate_key",
    "lax_date_time_hint",
    "may_escape_a_colon",
    "may_hold_lax_date_time",
    "may_repeat_a_key",
    "refuse_duplicate_keys",
    "value_at",
]

DURATION_PATTERN = r"^P(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$"
"""Durations on the wire: ISO 8601 days, hours, minutes and seconds, whole numbers except the
seconds, no sign (every duration of the catalogue is a length of time, never negative)."""

DATE_TIME_WORDS = (
    "an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS, an optional fraction of a second, "
    "then Z or an offset ±HH:MM)"
)

DURATION_WORDS = (
    "an ISO 8601 duration of days, hours, minutes and seconds (e.g. PT36H, P1DT2H, PT0.5S), "
    "with whole numbers except the seconds and no sign"
)

# The shape only: msgspec has already checked the ranges (month 1-12, hour 0-23 ...).
_date_time = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
).match
_duration = re.compile(python_pattern(DURATION_PATTERN)).search

# Not None when ``data`` (without escapes) may hold a date-time in a lax form. Every date-time
# msgspec accepts and RFC 3339 does not has its date's dashes followed either by something else
# than T, t or the closing quote (the space), or by a time whose offset has no colon. The
# search starts at a literal dash, which keeps Python's regular-expression engine on its fast
# path (about half a microsecond for a statement of 350 bytes).
lax_date_time_hint = re.compile(
    rb"-[0-9]{2}-[0-9]{2}(?:[^Tt\"]|[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?[+-][0-9]{4}\")"
).search


def may_hold_lax_date_time(data: bytes, *, quotes_json: bool = False) -> bool:
    """Whether a string of the JSON document ``data`` may hold a date-time in a form msgspec
    accepts and RFC 3339 refuses. False is certain; True needs :meth:`ExactForms.check`.

    Only a ``\\u`` escape can hide a date-time's characters from the search. A document is
    sent there when it holds any backslash (one C-level search; statements seldom hold one),
    or with ``quotes_json`` (documents holding JSON text in a string, such as log lines, whose
    every quote is escaped) when it holds ``\\u``."""
    escaped = b"\\u" in data if quotes_json else 0x5C in data
    return escaped or lax_date_time_hint(data) is not None


_PATH_STEP = re.compile(r"\.([^.\[]+)|\[([0-9]+)\]")


def value_at(data: bytes, path: str) -> Any:
    """The value at ``path`` (msgspec's form: ``$.payload.items[0].name``) of the JSON
    document ``data``; ``None`` when the document or the path does not lead to a value."""
    try:
        node: Any = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    for name, index in _PATH_STEP.findall(path.removeprefix("$")):
        if name and isinstance(node, dict) and name in node:
            node = node[name]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    return node


class ExactForms:
    """Checks the text of every date-time and duration field of documents of one type.

    Args:
        decoded_as: the type the documents are decoded to (a Struct, a union of tagged
            Structs ...).
    """

    def __init__(self, decoded_as: Any) -> None:
        self._root = _compile(mi.type_info(decoded_as), {})

    def check(self, data: bytes) -> None:
        """Raise ``msgspec.ValidationError`` naming the first field, in document order, whose
        date-time or duration is not in its exact form; ``data`` already decoded as the type."""
        if self._root is None:
            return
        try:
            document = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return  # the typed decoder reports it
        found = self._root(document, "$")
        if found is not None:
            path, value, words = found
            raise msgspec.ValidationError(f"Expected {words}, found {value[:60]!r} - at `{path}`")


_Found = tuple[str, str, str]
_Check = Callable[[Any, str], "_Found | None"]


def _compile(info: mi.Type, structs: dict[type, _Check | None]) -> _Check | None:
    """A function finding the first date-time or duration not in its exact form in a value
    decoded as ``info`` (its path, its text and what was expected); None when ``info`` holds
    no date-time or duration."""
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.DateTimeType):
        return _leaf(_date_time, DATE_TIME_WORDS)
    if isinstance(info, mi.TimeDeltaType):
        return _leaf(_duration, DURATION_WORDS)
    if isinstance(info, mi.StructType):
        return _struct(info, structs)
    if isinstance(info, mi.UnionType):
        return _union(info, structs)
    if isinstance(info, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        item = _compile(info.item_type, structs)
        return None if item is None else _items(item)
    if isinstance(info, mi.DictType):
        value = _compile(info.value_type, structs)
        return None if value is None else _values(value)
    return None


def _leaf(exact: Callable[[str], object], words: str) -> _Check:
    def check(value: Any, path: str) -> _Found | None:
        if isinstance(value, str) and exact(value) is None:
            return path, value, words
        return None

    return check


def _struct(info: mi.StructType, structs: dict[type, _Check | None]) -> _Check | None:
    if info.cls in structs:
        return structs[info.cls]
    structs[info.cls] = None  # (a struct holding itself holds no date-time through itself)
    fields = {f.encode_name: c for f in info.fields if (c := _compile(f.type, structs))}
    if not fields:
        return None

    def check(value: Any, path: str) -> _Found | None:
        if isinstance(value, dict):
            for key, item in value.items():
                field = fields.get(key)
                if field is not None and (found := field(item, f"{path}.{key}")) is not None:
                    return found
        return None

    structs[info.cls] = check
    return check


def _union(info: mi.UnionType, structs: dict[type, _Check | None]) -> _Check | None:
    tagged: dict[tuple[str, object], _Check] = {}
    others: list[_Check] = []
    for member in info.types:
        compiled = _compile(member, structs)
        if compiled is None:
            continue
        if isinstance(member, mi.StructType) and member.tag_field is not None:
            tagged[member.tag_field, member.tag] = compiled
        else:
            others.append(compiled)
    if not tagged and not others:
        return None
    tag_fields = {field for field, _ in tagged}

    def check(value: Any, path: str) -> _Found | None:
        if isinstance(value, dict):
            for field in tag_fields:
                member = tagged.get((field, value.get(field)))
                if member is not None:
                    return member(value, path)
            # (a tagged document with an unknown tag was refused by the typed decoder)
        for other in others:
            if (found := other(value, path)) is not None:
                return found
        return None

    return check


def _items(item: _Check) -> _Check:
    def check(value: Any, path: str) -> _Found | None:
        if isinstance(value, list):
            for i, element in enumerate(value):
                if (found := item(element, f"{path}[{i}]")) is not None:
                    return found
        return None

    return check


def _values(each: _Check) -> _Check:
    def check(value: Any, path: str) -> _Found | None:
        if isinstance(value, dict):
            for key, element in value.items():
                if (found := each(element, f"{path}.{key}")) is not None:
                    return found
        return None

    return check


# -- duplicate keys ---------------------------------------------------------------------------


class DuplicateKey(msgspec.DecodeError):
    """A JSON object of the document writes one key twice (``str()``: ``duplicate key
    "sender" in the object at $``). A ``DecodeError``, so callers that refuse undecodable
    documents refuse these too."""


_plain_decode = msgspec.json.Decoder().decode
_plain_encode = msgspec.json.Encoder().encode


def may_escape_a_colon(data: bytes) -> bool:
    """Whether a string of the JSON document ``data`` may write a colon as ``\\u003a`` (or
    ``\\u003A``); False is certain."""
    return b"\\u003" in data


def may_repeat_a_key(data: bytes) -> bool:
    """Whether an object of the JSON document ``data`` may write a key twice. False is certain;
    True needs :func:`duplicate_key` (a document that is not JSON answers True).

    Every key is followed by one colon, and outside keys a colon can only stand in a string.
    ``data`` decoded without types keeps one entry per key, and encoding that again writes the
    same strings: so unless ``\\u003a`` writes a colon (the only other way to write one) the
    re-encoded document has as many colons as ``data`` exactly when no key was dropped, that
    is when no object wrote a key twice. Both steps run in C (about 2.5 microseconds for a
    statement of 350 bytes)."""
    if may_escape_a_colon(data):
        return True
    try:
        again = _plain_encode(_plain_decode(data))
    except (msgspec.MsgspecError, ValueError, OverflowError, RecursionError):
        return True
    return data.count(b":") != again.count(b":")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, in document order."""

    __slots__ = ()


def _ignore(text: str) -> None:
    """Numbers and constants are not looked at (and never converted)."""


_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII).fullmatch


def _step(key: str) -> str:
    return f".{key}" if _SIMPLE_KEY(key) else f"[{json.dumps(key[:80])}]"


def duplicate_key(data: bytes | str) -> str | None:
    """``duplicate key "sender" in the object at $``: the first key, in document order, that
    an object of the JSON document ``data`` writes a second time (keys compared after their
    escapes are read: ``"\\u0073ender"`` is ``"sender"``), with the JSON path of that object.
    None when no object writes a key twice, or when ``data`` is not JSON (the typed decoder
    says what is wrong with it)."""
    try:
        root = json.loads(
            data,
            object_pairs_hook=_Pairs,
            parse_int=_ignore,
            parse_float=_ignore,
            parse_constant=_ignore,
        )
    except (ValueError, RecursionError):
        return None
    # An explicit stack: a document may nest deeper than Python's recursion allows.
    stack: list[tuple[Iterator[tuple[Any, Any]], str, set[str] | None]] = []
    node: Any = root
    path = "$"
    while True:
        if type(node) is _Pairs:
            stack.append((iter(node), path, set()))
        elif type(node) is list:
            stack.append((enumerate(node), path, None))
        node = None
        while stack and node is None:
            items, where, seen = stack[-1]
            for key, value in items:
                if seen is None:
                    path = f"{where}[{key}]"
                elif key in seen:
                    if len(where) > 200:
                        where = where[:200] + "..."
                    return f"duplicate key {json.dumps(key[:80])} in the object at {where}"
                else:
                    seen.add(key)
                    path = where + _step(key)
                if type(value) is _Pairs or type(value) is list:
                    node = value
                    break
            else:
                stack.pop()
        if node is None:
            return None


def refuse_duplicate_keys(data: bytes) -> None:
    """Raise :class:`DuplicateKey` when an object of the JSON document ``data`` writes a key
    twice (nothing when ``data`` is not JSON: the typed decoder refuses it)."""
    if may_repeat_a_key(data):
        words = duplicate_key(data)
        if words is not None:
            raise DuplicateKey(words)
