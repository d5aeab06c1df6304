"""Typed statements built from the catalogue with msgspec.

A *statement* is the signed JSON object inside an envelope: the header every message has (id,
kind, sender, recipient, sent_at, epoch, seq, in_reply_to) and a ``payload`` whose type depends
on ``kind``. For each kind in the catalogue this module builds a frozen msgspec Struct for the
payload and a Struct for the statement, tagged by ``kind``, and decodes any statement with one
tagged-union decoder: unknown fields are forbidden, datetimes must carry a UTC offset, and every
constraint of the catalogue (ranges, lengths, enum values) is enforced while decoding.

Integers on the wire lie within ±(2**53 - 1) (:data:`MAX_SAFE_INTEGER`): the largest integers
every JSON implementation, JavaScript's included, reads exactly, and far inside what msgspec
can encode again (a decoded ``seq`` of 2**64 would pass decoding and then fail when the centre
saves its state). Date-times and durations must be in their exact forms (:mod:`nrrc.exactforms`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import msgspec

from nrrc.catalogue import Catalogue, FieldSpec, FieldType, Kind
from nrrc.exactforms import (
    DURATION_PATTERN,
    ExactForms,
    lax_date_time_hint,
    may_hold_lax_date_time,
    refuse_duplicate_keys,
    value_at,
)
from nrrc.patterns import publish_patterns, published_pattern, python_pattern

__all__ = [
    "CENTRE_PATTERN",
    "DURATION_PATTERN",
    "MAX_SAFE_INTEGER",
    "MESSAGE_ID_PATTERN",
    "RECIPIENT_PATTERN",
    "Circle",
    "MessageTypes",
    "Point",
    "Polygon",
    "ReplyRef",
    "Statement",
    "StatementHeader",
    "published_pattern",
    "python_pattern",
]

CENTRE_PATTERN = r"^[A-Z][A-Z0-9]{1,15}$"
"""Centre ids: capital letters and digits, e.g. ``US``, ``RU``, ``AT``."""
REGIME_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
"""Regime ids (multilateral channels): the agreement id in lowercase, e.g. ``hcoc``."""
RECIPIENT_PATTERN = r"^(?:[A-Z][A-Z0-9]{1,15}|[a-z][a-z0-9_]{1,31})$"
MESSAGE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
"""Message ids are UUIDv7 (time-ordered), lowercase canonical form."""
DIGEST_PATTERN = r"^[0-9a-f]{64}$"

CentreId = Annotated[str, msgspec.Meta(pattern=python_pattern(CENTRE_PATTERN))]
Recipient = Annotated[str, msgspec.Meta(pattern=python_pattern(RECIPIENT_PATTERN))]
MessageId = Annotated[str, msgspec.Meta(pattern=python_pattern(MESSAGE_ID_PATTERN))]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a statement may carry (and the smallest is its negative): what every
JSON implementation, JavaScript's included, reads exactly (``Number.MAX_SAFE_INTEGER``)."""
Epoch = Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INTEGER)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SAFE_INTEGER)]


class Point(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A geographic point in decimal degrees (WGS 84)."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class Circle(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="shape", tag="circle"
):
    """An area given by its centre and radius (BMLNA Art. II para 3: km or nautical miles)."""

    center: Point
    radius: Annotated[float, msgspec.Meta(gt=0, le=20000)]
    unit: Literal["km", "nmi"] = "km"

    @property
    def radius_km(self) -> float:
        """Radius in kilometres."""
        return self.radius * 1.852 if self.unit == "nmi" else self.radius


class Polygon(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="shape", tag="polygon"
):
    """An area given by its boundary points, in order (the ring closes by itself)."""

    points: Annotated[list[Point], msgspec.Meta(min_length=3, max_length=1000)]


Area = Circle | Polygon


class ReplyRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The message a statement answers: its id and the SHA-256 of its signed statement bytes."""

    id: str
    """Matches :data:`MESSAGE_ID_PATTERN` (checked by the decoder)."""
    digest: str
    """64 lowercase hex digits (checked by the decoder)."""


class _StrictReplyRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The message a statement answers: its id and the SHA-256 of its signed statement bytes."""

    id: MessageId
    digest: Annotated[str, msgspec.Meta(pattern=python_pattern(DIGEST_PATTERN))]


# The twin of ReplyRef with its constraints: same name and words in the published schemas.
_StrictReplyRef.__name__ = _StrictReplyRef.__qualname__ = "ReplyRef"


class StatementHeader(msgspec.Struct, frozen=True, kw_only=True):
    """The header of any statement, decoded without looking at the payload.

    Unknown fields are tolerated here on purpose: this type is only used to classify a
    statement whose full decoding failed, and to read headers quickly.
    """

    id: MessageId
    kind: str
    sender: CentreId
    recipient: Recipient
    sent_at: AwareDatetime
    epoch: Epoch
    seq: Seq
    in_reply_to: ReplyRef | None = None


class Statement(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    omit_defaults=True,
):
    """Base of every statement type; each kind subclasses it with a typed ``payload``.

    Field order is the order of the JSON this type encodes to.
    """

    id: str
    """Matches :data:`MESSAGE_ID_PATTERN` (checked by the decoder)."""
    sender: str
    """Matches :data:`CENTRE_PATTERN` (checked by the decoder)."""
    recipient: str
    """Matches :data:`RECIPIENT_PATTERN` (checked by the decoder)."""
    sent_at: AwareDatetime
    epoch: Epoch
    seq: Seq
    in_reply_to: ReplyRef | None = None

    if TYPE_CHECKING:
        # Each kind's subclass adds ``payload`` last, so it encodes after the header.
        payload: msgspec.Struct

    @property
    def kind(self) -> str:
        """The kind id, e.g. ``bmlna.launch_notice`` (the struct's tag)."""
        return str(type(self).__struct_config__.tag)


class _StrictStatement(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    omit_defaults=True,
):
    """:class:`Statement` with the header's patterns as msgspec constraints.

    msgspec checks a ``pattern`` constraint with a regular-expression search per field, which
    cost more than the rest of decoding a statement; the runtime types therefore leave the
    three or five header patterns out and :meth:`MessageTypes.decode` checks them itself, with
    the same compiled expressions (and a cache for the few distinct centre ids). These twins
    carry the constraints: they generate the published schemas and, when a statement is
    refused, they give the refusal its exact words (the first error in document order).
    """

    id: MessageId
    sender: CentreId
    recipient: Recipient
    sent_at: AwareDatetime
    epoch: Epoch
    seq: Seq
    in_reply_to: _StrictReplyRef | None = None


_HEX = "0123456789abcdef"
_HEX_DASH = _HEX + "-"


def _is_message_id(value: str) -> bool:
    """``MESSAGE_ID_PATTERN`` as JSON Schema reads it, without a regular expression (three
    times as fast): 36 characters of lowercase hex and dashes, dashes exactly at 8, 13, 18 and
    23, version 7, variant 8-b."""
    if len(value) != 36:
        return False
    return (
        not value.strip(_HEX_DASH)
        and value.count("-") == 4
        and value[8] == value[13] == value[18] == value[23] == "-"
        and value[14] == "7"
        and value[19] in "89ab"
    )


def _remember(value: str, search: Callable[[str], object], good: set[str]) -> bool:
    """Whether ``value`` matches (``search`` finds it); a match is remembered in ``good``."""
    if search(value) is None:
        return False
    if len(good) >= _GOOD_IDS_MAX:
        good.clear()
    good.add(value)
    return True


def _is_digest(value: str) -> bool:
    """``DIGEST_PATTERN`` as JSON Schema reads it, without a regular expression."""
    return len(value) == 64 and not value.strip(_HEX)


_search_centre = re.compile(python_pattern(CENTRE_PATTERN)).search
_search_recipient = re.compile(python_pattern(RECIPIENT_PATTERN)).search
_GOOD_IDS_MAX = 4096
"""Distinct sender / recipient strings remembered as matching their pattern."""


def _py_type(spec: FieldSpec) -> Any:
    t = spec.type
    if t is FieldType.STRING:
        return Annotated[
            str,
            msgspec.Meta(
                min_length=spec.min_length,
                max_length=spec.max_length,
                pattern=python_pattern(spec.pattern) if spec.pattern is not None else None,
            ),
        ]
    if t is FieldType.INTEGER:
        # Within ±MAX_SAFE_INTEGER whatever the catalogue says (or when it says nothing).
        lo = -MAX_SAFE_INTEGER if spec.minimum is None else int(spec.minimum)
        hi = MAX_SAFE_INTEGER if spec.maximum is None else int(spec.maximum)
        lo, hi = max(lo, -MAX_SAFE_INTEGER), min(hi, MAX_SAFE_INTEGER)
        return Annotated[int, msgspec.Meta(ge=lo, le=hi)]
    if t is FieldType.NUMBER:
        return Annotated[float, msgspec.Meta(ge=spec.minimum, le=spec.maximum)]
    if t is FieldType.BOOLEAN:
        return bool
    if t is FieldType.DATE:
        return date
    if t is FieldType.DATETIME:
        return AwareDatetime
    if t is FieldType.DURATION:
        return timedelta
    if t is FieldType.ENUM:
        return Literal[spec.values]
    if t is FieldType.AREA:
        return Area
    assert spec.items is not None
    return Annotated[
        list[_py_type(spec.items)],  # type: ignore[misc]
        msgspec.Meta(min_length=spec.min_items, max_length=spec.max_items),
    ]


def _has_duration(kind: Kind) -> bool:
    return any(
        FieldType.DURATION in (f.type, f.items.type if f.items is not None else None)
        for f in kind.fields
    )


_INT_RANGE = re.compile(r"Expected `int` [<>]=? -?[0-9]+ - at `(\$[^`]*)`")


def _with_found(text: str, data: bytes) -> str:
    """msgspec's words for an integer out of range, with the integer found (msgspec does
    not say it): ``Expected `int` <= 9007199254740991, found 18446744073709551616 - at
    `$.seq```."""
    m = _INT_RANGE.fullmatch(text)
    if m is None:
        return text
    found = value_at(data, m.group(1))
    if not isinstance(found, int):
        return text
    head, _, at = text.partition(" - at ")
    return f"{head}, found {found} - at {at}"


def _class_name(kind_id: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", kind_id))


def _payload_type(kind: Kind) -> type[msgspec.Struct]:
    required = [(f.name, _py_type(f)) for f in kind.fields if f.required]
    optional = [(f.name, _py_type(f) | None, None) for f in kind.fields if not f.required]
    fields: list[Any] = [*required, *optional]
    return msgspec.defstruct(
        _class_name(kind.id) + "Payload",
        fields,
        frozen=True,
        forbid_unknown_fields=True,
        omit_defaults=True,
        module=__name__,
    )


def invalid_utf8(exc: UnicodeDecodeError, data: bytes | None = None) -> msgspec.DecodeError:
    """msgspec reports invalid UTF-8 inside JSON strings as a bare UnicodeDecodeError; this
    turns it into the ``DecodeError`` every caller already handles. msgspec's offset is within
    the string it was decoding; with ``data`` (what was being decoded) the offset given is the
    first invalid byte's in ``data``."""
    start = exc.start
    if data is not None:
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as whole:
            start = whole.start
    return msgspec.DecodeError(f"JSON malformed: invalid UTF-8 byte at offset {start}")


class MessageTypes:
    """The statement types of a catalogue and a decoder for them.

    Args:
        catalogue: the loaded catalogue (built-ins plus any user files).
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.payloads: dict[str, type[msgspec.Struct]] = {}
        self.statements: dict[str, type[Statement]] = {}
        for kind_id in sorted(catalogue.kinds):
            payload = _payload_type(catalogue.kinds[kind_id])
            self.payloads[kind_id] = payload
            self.statements[kind_id] = msgspec.defstruct(  # type: ignore[assignment]
                _class_name(kind_id),
                [("payload", payload)],
                bases=(Statement,),
                kw_only=True,
                tag=kind_id,
                module=__name__,
            )
        self._strict: dict[str, type[msgspec.Struct]] = {
            kind_id: msgspec.defstruct(
                _class_name(kind_id),
                [("payload", payload)],
                bases=(_StrictStatement,),
                kw_only=True,
                tag=kind_id,
                module=__name__,
            )
            for kind_id, payload in self.payloads.items()
        }
        union: Any = Union[tuple(self.statements.values())]  # noqa: UP007 - built at run time
        self.union = union
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)
        strict: Any = Union[tuple(self._strict.values())]  # noqa: UP007 - built at run time
        self._strict_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(strict)
        self._senders: set[str] = set()
        self._recipients: set[str] = set()
        self._header_decoder = msgspec.json.Decoder(StatementHeader)
        self._encoder = msgspec.json.Encoder()
        self._encode_into = self._encoder.encode_into
        self._canonical = bytearray()
        self._exact = ExactForms(union)
        self._exact_header = ExactForms(StatementHeader)
        # msgspec reads '-PT2H' and 'PT1.5H'; the few kinds with a duration are always checked.
        self._with_durations = frozenset(
            self.statements[k] for k in self.statements if _has_duration(catalogue.kinds[k])
        )

    def decode(self, data: bytes) -> Statement:
        """Decode and validate a statement; ``msgspec.ValidationError`` or ``DecodeError``
        (:class:`~nrrc.exactforms.DuplicateKey`, a ``DecodeError``, when an object of the
        statement writes a key twice: that comes before any other refusal of valid JSON)."""
        try:
            statement: Statement = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise invalid_utf8(exc, data) from exc
        except msgspec.ValidationError:
            refuse_duplicate_keys(data)  # the value msgspec kept may be the one refused
            self._refuse(data)
            raise
        # Duplicate keys. The bytes msgspec writes for a statement name no key twice; every
        # statement nrrc composes is those bytes, and one C-level encoding (into a reused
        # buffer) and comparison, a third of a microsecond, clears it. (Were another thread to
        # encode into the buffer between the two, equal bytes would still be the encoding of a
        # statement: the test cannot clear a duplicate.) Any other form of a statement gets
        # the colon count of may_repeat_a_key, and the exact reading when that differs.
        canonical = self._canonical
        try:
            self._encode_into(statement, canonical)
            cleared = canonical == data
        except (msgspec.MsgspecError, ValueError, OverflowError):  # pragma: no cover
            cleared = False
        if not cleared:
            refuse_duplicate_keys(data)
        # The header patterns msgspec was not asked to check (see _StrictStatement).
        ref = statement.in_reply_to
        if (
            (statement.sender not in self._senders and not self._good_sender(statement.sender))
            or (
                statement.recipient not in self._recipients
                and not self._good_recipient(statement.recipient)
            )
            or not _is_message_id(statement.id)
            or (ref is not None and not (_is_message_id(ref.id) and _is_digest(ref.digest)))
        ):
            self._refuse(data)
            raise msgspec.ValidationError("statement header does not match its patterns")
        # Date-times and durations in forms msgspec reads but RFC 3339 / the schemas refuse.
        # (may_hold_lax_date_time inline: 0x5C is a backslash, the only way to write an escape.)
        if (
            0x5C in data
            or lax_date_time_hint(data) is not None
            or type(statement) in self._with_durations
        ):
            self._exact.check(data)
        return statement

    def _good_sender(self, value: str) -> bool:
        return _remember(value, _search_centre, self._senders)

    def _good_recipient(self, value: str) -> bool:
        return _remember(value, _search_recipient, self._recipients)

    def _refuse(self, data: bytes) -> None:
        """Raise the error the fully constrained types give for ``data`` (if any), naming
        patterns as published."""
        try:
            self._strict_decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise invalid_utf8(exc, data) from exc
        except msgspec.ValidationError as exc:
            raise msgspec.ValidationError(_with_found(published_pattern(str(exc)), data)) from None

    def decode_header(self, data: bytes) -> StatementHeader:
        """Decode only the header fields (payload ignored); same errors as :meth:`decode`."""
        try:
            header: StatementHeader = self._header_decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise invalid_utf8(exc, data) from exc
        except msgspec.ValidationError as exc:
            raise msgspec.ValidationError(_with_found(str(exc), data)) from None
        if may_hold_lax_date_time(data):
            self._exact_header.check(data)
        return header

    def encode(self, statement: Statement) -> bytes:
        """Encode a statement to compact JSON (the bytes that get signed)."""
        return self._encoder.encode(statement)

    def payload(self, kind_id: str, **fields: Any) -> msgspec.Struct:
        """Build and validate a payload of ``kind_id`` from keyword fields.

        Raises:
            KeyError: unknown kind.
            msgspec.ValidationError: a field is missing or invalid.
        """
        ptype = self.payloads[kind_id]
        return msgspec.convert(fields, ptype, from_attributes=False)

    def statement(
        self, kind_id: str, *, payload: msgspec.Struct | dict[str, Any], **header: Any
    ) -> Statement:
        """Build a statement of ``kind_id``; ``payload`` may be a dict of fields."""
        if isinstance(payload, dict):
            payload = self.payload(kind_id, **payload)
        stype = self.statements[kind_id]
        return stype(payload=payload, **header)

    def schema(self, kind_id: str) -> dict[str, Any]:
        """JSON Schema (2020-12) of a full statement of ``kind_id``."""
        return _schema_for(self._strict[kind_id], self.catalogue.kinds[kind_id])


def _schema_for(stype: type[msgspec.Struct], kind: Kind) -> dict[str, Any]:
    (out,), components = msgspec.json.schema_components([stype], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://nrrc.example/schema/{kind.id}.json",
        "title": f"{kind.id}: {kind.title}",
        "description": kind.description.strip(),
    }
    name = out["$ref"].rsplit("/", 1)[-1]
    body = components.pop(name)
    body.pop("title", None)
    body.pop("description", None)  # the Statement docstring; the kind's own words are kept
    schema.update(body)
    # Describe the payload's fields with the catalogue's words.
    payload_name = schema["properties"]["payload"]["$ref"].rsplit("/", 1)[-1]
    payload_schema = components[payload_name]
    payload_schema.pop("title", None)
    payload_schema["description"] = f"Payload of {kind.id}."
    for spec in kind.fields:
        prop = payload_schema["properties"].get(spec.name)
        if prop is not None:
            prop["description"] = spec.description.strip()
    _tighten(components)
    schema["$defs"] = components
    publish_patterns(schema)
    return schema


def _tighten(components: dict[str, Any]) -> None:
    """Make the generated schemas say what the decoder enforces."""
    for comp in components.values():
        comp.pop("title", None)
        if comp.get("type") == "object":
            comp["additionalProperties"] = comp.get("additionalProperties", False)
        _durations(comp)


def _durations(node: Any) -> None:
    """Pin ``format: duration`` to the subset of ISO 8601 the decoder accepts (no Y, M, W, no
    sign, a fraction only in the seconds)."""
    if isinstance(node, dict):
        if node.get("format") == "duration":
            node["pattern"] = DURATION_PATTERN
        for value in node.values():
            _durations(value)
    elif isinstance(node, list):
        for value in node:
            _durations(value)
