"""Typed statements: one msgspec type per kind, strict decoding, stable encoding, UUIDv7 ids."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nrrc.catalogue import Catalogue
from nrrc.envelope import new_message_id
from nrrc.messages import (
    CENTRE_PATTERN,
    MESSAGE_ID_PATTERN,
    RECIPIENT_PATTERN,
    MessageTypes,
    python_pattern,
)

ID = "019cad9d-0000-7000-8000-000000000000"
NOTICE: dict[str, Any] = {
    "kind": "bmlna.launch_notice",
    "id": ID,
    "sender": "RU",
    "recipient": "US",
    "sent_at": "2026-03-01T09:30:00Z",
    "epoch": 1,
    "seq": 1,
    "payload": {
        "missile_class": "ICBM",
        "planned_launch_date": "2026-03-03",
        "launch_area": "Plesetsk",
        "impact_areas": [
            {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50.0},
            {"shape": "polygon", "points": [{"lat": 1, "lon": 2}, {"lat": 3, "lon": 4}] * 2},
        ],
    },
}


def notice(**changes: Any) -> dict[str, Any]:
    """The launch notice above with header changes; ``payload__x`` changes payload field x."""
    doc = {**NOTICE, "payload": dict(NOTICE["payload"])}
    for key, value in changes.items():
        target, _, name = key.rpartition("__")
        where = doc["payload"] if target == "payload" else doc
        if value is ...:
            del where[name]
        else:
            where[name] = value
    return doc


def decode(types: MessageTypes, doc: dict[str, Any]) -> Any:
    """Decode a statement given as a dict."""
    return types.decode(msgspec.json.encode(doc))


def test_every_kind_of_the_catalogue_has_a_statement_type(
    cat: Catalogue, types: MessageTypes
) -> None:
    """One payload type and one statement type per kind, no more, no less."""
    assert set(types.statements) == set(cat.kinds) == set(types.payloads)


def test_the_kind_tag_selects_the_type(types: MessageTypes) -> None:
    """Decoding picks the statement type named by ``kind``, with typed payload fields."""
    statement = decode(types, NOTICE)
    assert type(statement) is types.statements["bmlna.launch_notice"]
    assert statement.kind == "bmlna.launch_notice"
    assert statement.payload.planned_launch_date.isoformat() == "2026-03-03"
    assert statement.payload.impact_areas[0].radius_km == 50.0
    assert statement.sent_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_encoding_puts_kind_first_and_the_payload_last(types: MessageTypes) -> None:
    """Compact JSON: kind, the header in a fixed order, then payload; no spaces."""
    data = types.encode(decode(types, NOTICE))
    keys = list(msgspec.json.decode(data))
    assert keys == ["kind", "id", "sender", "recipient", "sent_at", "epoch", "seq", "payload"]
    assert b" " not in data.replace(b"Plesetsk", b"")


def test_absent_optional_fields_are_not_written(types: MessageTypes) -> None:
    """Optional fields left out (None) are omitted, not written as null."""
    data = types.encode(decode(types, NOTICE))
    assert b"in_reply_to" not in data
    assert b"window_end_date" not in data
    assert b"null" not in data


def test_nautical_miles_convert_to_kilometres(types: MessageTypes) -> None:
    """A circle's radius in nautical miles is 1.852 km each."""
    area = {"shape": "circle", "center": {"lat": 0, "lon": 0}, "radius": 10, "unit": "nmi"}
    statement = decode(types, notice(payload__impact_areas=[area]))
    assert statement.payload.impact_areas[0].radius_km == pytest.approx(18.52)


def test_statement_builder_validates_the_payload(types: MessageTypes) -> None:
    """``MessageTypes.statement`` accepts a dict payload and validates it on the way."""
    with pytest.raises(msgspec.ValidationError, match=r"Invalid enum value 'IRBM'"):
        types.statement(
            "bmlna.launch_notice",
            payload={**NOTICE["payload"], "missile_class": "IRBM"},
            id=ID,
            sender="RU",
            recipient="US",
            sent_at=datetime(2026, 3, 1, tzinfo=UTC),
            epoch=1,
            seq=1,
        )


# (test id, changes to the valid notice, what msgspec says, the JSON path it names)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown-payload-field", {"payload__colour": "red"}, "unknown field `colour`", "$.payload"),
    ("unknown-header-field", {"priority": 1}, "unknown field `priority`", "$"),
    ("missing-payload-field", {"payload__launch_area": ...}, "missing required field", "$.payload"),
    ("missing-header-field", {"sender": ...}, "missing required field `sender`", "$"),
    ("naive-sent-at", {"sent_at": "2026-03-01T09:30:00"}, "timezone", "$.sent_at"),
    ("bad-enum", {"payload__missile_class": "IRBM"}, "Invalid enum value",
     "$.payload.missile_class"),
    ("empty-string", {"payload__launch_area": ""}, "length >= 1", "$.payload.launch_area"),
    ("long-string", {"payload__launch_area": "x" * 201}, "length <= 200", "$.payload.launch_area"),
    ("too-few-items", {"payload__impact_areas": []}, "length >= 1", "$.payload.impact_areas"),
    ("too-many-items", {"payload__impact_areas": [NOTICE["payload"]["impact_areas"][0]] * 17},
     "length <= 16", "$.payload.impact_areas"),
    ("latitude-out-of-range",
     {"payload__impact_areas": [{"shape": "circle", "center": {"lat": 91, "lon": 0}, "radius": 1}]},
     "<= 90", "$.payload.impact_areas[0].center.lat"),
    ("zero-radius",
     {"payload__impact_areas": [{"shape": "circle", "center": {"lat": 0, "lon": 0}, "radius": 0}]},
     "> 0", "$.payload.impact_areas[0].radius"),
    ("unknown-area-shape",
     {"payload__impact_areas": [{"shape": "square", "center": {"lat": 0, "lon": 0}}]},
     "Invalid value 'square'", "$.payload.impact_areas[0].shape"),
    ("bad-date", {"payload__planned_launch_date": "2026-02-30"}, "Invalid RFC3339 encoded date",
     "$.payload.planned_launch_date"),
    ("wrong-type", {"seq": "1"}, "Expected `int`, got `str`", "$.seq"),
    ("integer-written-as-float", {"seq": 1.0}, "Expected `int`, got `float`", "$.seq"),
    ("seq-zero", {"seq": 0}, ">= 1", "$.seq"),
    ("negative-epoch", {"epoch": -1}, ">= 0", "$.epoch"),
    ("uuid4-id", {"id": str(uuid.UUID(int=1, version=4))}, "matching regex", "$.id"),
    ("lowercase-sender", {"sender": "us"}, "matching regex", "$.sender"),
    ("bad-recipient", {"recipient": "U"}, "matching regex", "$.recipient"),
    ("unknown-kind", {"kind": "bmlna.launch"}, "Invalid value 'bmlna.launch'", "$.kind"),
    ("bad-reply-digest", {"in_reply_to": {"id": ID, "digest": "abc"}}, "matching regex",
     "$.in_reply_to.digest"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message", "path"),
    [pytest.param(c, m, p, id=name) for name, c, m, p in INVALID],
)
def test_invalid_statements_are_refused_naming_the_json_path(
    types: MessageTypes, changes: dict[str, Any], message: str, path: str
) -> None:
    """Each constraint is enforced while decoding; the error names what and where."""
    with pytest.raises(msgspec.ValidationError) as info:
        decode(types, notice(**changes))
    text = str(info.value)
    assert message in text
    assert text.endswith(f"- at `{path}`") or (path == "$" and "- at `" not in text), text


def test_naive_datetime_in_a_payload_is_refused(types: MessageTypes) -> None:
    """Payload datetimes need a UTC offset as much as header ones do."""
    ack = {**notice(kind="core.ack"), "payload": {"received_at": "2026-03-01T09:30:04"}}
    with pytest.raises(msgspec.ValidationError, match=r"timezone.*\$\.payload\.received_at"):
        decode(types, ack)


def test_a_regime_is_a_valid_recipient(types: MessageTypes) -> None:
    """A lowercase agreement id (``hcoc``) addresses a multilateral regime."""
    assert decode(types, notice(recipient="hcoc")).recipient == "hcoc"


def test_invalid_utf8_is_a_decode_error(types: MessageTypes) -> None:
    """Bytes that are not UTF-8 inside a string are a DecodeError, like any malformed JSON."""
    data = msgspec.json.encode(NOTICE).replace(b'"US"', b'"US\xff"')
    with pytest.raises(msgspec.DecodeError, match="invalid UTF-8"):
        types.decode(data)
    with pytest.raises(msgspec.DecodeError, match="invalid UTF-8"):
        types.decode_header(data)


def test_header_decoding_ignores_the_payload(types: MessageTypes) -> None:
    """``decode_header`` reads the header of a statement whose payload is invalid."""
    header = types.decode_header(msgspec.json.encode(notice(payload__colour="red")))
    assert (header.kind, header.sender, header.seq) == ("bmlna.launch_notice", "RU", 1)


def test_message_ids_are_uuid7_with_the_time_in_milliseconds() -> None:
    """Version 7, RFC 9562 variant, the first 48 bits the Unix time in milliseconds."""
    at = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    text = new_message_id(at, lambda n: b"\xff" * n)
    value = uuid.UUID(text)
    assert re.match(MESSAGE_ID_PATTERN, text)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 1772357400123  # ms since 1970-01-01T00:00:00Z
    assert text == str(value)


def test_message_ids_sort_by_time() -> None:
    """Ids of later milliseconds sort after earlier ones whatever the random bits."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ids = [
        new_message_id(start + timedelta(milliseconds=i), lambda n: b"\xff" * n) for i in range(3)
    ]
    ids[1] = new_message_id(start + timedelta(milliseconds=1), lambda n: b"\x00" * n)
    assert ids == sorted(ids)


def test_message_ids_take_the_offset_into_account() -> None:
    """The same instant written in another offset gives the same time part."""
    utc = datetime(2026, 3, 1, 12, tzinfo=UTC)
    plus_three = utc.astimezone(timezone(timedelta(hours=3)))
    assert new_message_id(utc, bytes) == new_message_id(plus_three, bytes)


def test_message_ids_are_random_by_default() -> None:
    """Without ``rand``, two ids of the same millisecond differ."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert new_message_id(at) != new_message_id(at)


def test_an_instant_before_1970_cannot_make_an_id() -> None:
    """UUIDv7 counts milliseconds from the Unix epoch; earlier instants are refused clearly."""
    with pytest.raises(ValueError, match="from 1970 on"):
        new_message_id(datetime(1969, 12, 31, 23, 59, tzinfo=UTC))


def test_a_naive_instant_cannot_make_an_id() -> None:
    """The core refuses naive datetimes at the edge."""
    with pytest.raises(ValueError, match="naive"):
        new_message_id(datetime(2026, 3, 1))


def test_statement_schema_names_the_kind(types: MessageTypes) -> None:
    """``schema(kind)`` is a 2020-12 JSON Schema titled with the kind, payload documented."""
    schema = types.schema("core.ack")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "core.ack: Acknowledgement of receipt"
    assert schema["properties"]["kind"] == {"enum": ["core.ack"]}
    payload = schema["$defs"]["CoreAckPayload"]
    assert payload["additionalProperties"] is False
    assert payload["properties"]["received_at"]["format"] == "date-time"
    assert "description" in payload["properties"]["received_at"]


def test_the_first_error_in_document_order_is_named(types: MessageTypes) -> None:
    """The header's patterns are checked outside msgspec for speed; a statement wrong in its
    header and in its payload still gets the error of the first field, as msgspec gives it."""
    with pytest.raises(msgspec.ValidationError) as info:
        decode(types, notice(sender="us", payload__launch_area=""))
    assert str(info.value).endswith("- at `$.sender`"), str(info.value)


_HEADER_TEXT = st.text(alphabet="0123456789abcdefABF7-\n _xUSRhcoUS", max_size=40)


@example(ID + "\n", "US", "RU", "ab" * 32)
@example(ID, "US\n", "RU", "ab" * 32)
@example(ID, "US", "hcoc\n", "ab" * 32)
@example(ID, "US", "RU", "ab" * 32 + "\n")
@example(ID, "US", "RU", "ab" * 32)
@given(
    st.one_of(_HEADER_TEXT, st.just(ID), st.just(ID + "\n"), st.just("\n" + ID)),
    st.one_of(_HEADER_TEXT, st.sampled_from(["US", "RU", "US\n", "U", "A1", "1A", "us"])),
    st.one_of(_HEADER_TEXT, st.sampled_from(["RU", "hcoc", "hcoc\n", "h", "Hcoc", "ru_x"])),
    st.one_of(_HEADER_TEXT, st.just("ab" * 32), st.just("ab" * 32 + "\n"), st.just("AB" * 32)),
)
def test_header_patterns_accept_exactly_what_the_published_schema_does(
    types: MessageTypes, mid: str, sender: str, recipient: str, digest: str
) -> None:
    """The decoder's own checks of id, sender, recipient and the reply reference accept
    exactly the strings the published patterns accept as JSON Schema reads them (ECMA-262:
    ``$`` is the end of the text, so unlike Python's ``re`` a trailing newline does not pass;
    none of these patterns can match a newline anywhere else)."""
    expected = all(
        re.search(pattern, value) is not None and not value.endswith("\n")
        for pattern, value in [
            (MESSAGE_ID_PATTERN, mid),
            (CENTRE_PATTERN, sender),
            (RECIPIENT_PATTERN, recipient),
            (MESSAGE_ID_PATTERN, mid),
            (r"^[0-9a-f]{64}$", digest),
        ]
    )
    doc = notice(id=mid, sender=sender, recipient=recipient)
    doc["in_reply_to"] = {"id": mid, "digest": digest}
    try:
        decode(types, doc)
        accepted = True
    except msgspec.ValidationError:
        accepted = False
    assert accepted == expected


def test_a_trailing_newline_is_refused_as_json_schema_refuses_it(types: MessageTypes) -> None:
    """Python's ``$`` also matches before a final newline; JSON Schema's (ECMA-262) does not.
    The decoder reads the published patterns as JSON Schema does, and names them as published."""
    with pytest.raises(msgspec.ValidationError) as info:
        decode(types, notice(sender="RU\n"))
    assert str(info.value) == (
        "Expected `str` matching regex '^[A-Z][A-Z0-9]{1,15}$' - at `$.sender`"
    )
    with pytest.raises(msgspec.ValidationError, match=r"- at `\$.id`"):
        decode(types, notice(id=ID + "\n"))


def test_payload_patterns_are_read_as_json_schema_reads_them(types: MessageTypes) -> None:
    """A payload field's pattern from the catalogue (the participating States of a VD 2011
    prior notification, ``^[A-Z]{2}$``) refuses a trailing newline; the refusal names the
    pattern as the catalogue wrote it."""
    example = Path(__file__).parent.parent / "messages/examples"
    envelope = msgspec.json.decode((example / "vd11.prior_notification.envelope.json").read_bytes())
    doc = msgspec.json.decode(base64.b64decode(envelope["payload"]))
    decode(types, doc)  # the example itself is valid
    doc["payload"]["participating_states"] = ["RU\n"]
    with pytest.raises(msgspec.ValidationError) as info:
        decode(types, doc)
    assert "matching regex '^[A-Z]{2}$'" in str(info.value), str(info.value)
    assert "participating_states[0]" in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "value", "accepted"),
    [
        (r"^[A-Z]{2}$", "US", True),
        (r"^[A-Z]{2}$", "US\n", False),
        (r"^[$A]{2}$", "$A", True),  # a $ in a class is a character
        (r"^a\$$", "a$", True),  # so is an escaped one
        (r"^\d+$", "42", True),
        (r"^\d+$", "٤٢", False),  # ECMA-262 \d is [0-9]; Python's is any decimal digit
        (r"^(?:ab|c)$", "c\n", False),
    ],
)
def test_python_pattern_matches_as_ecma_262(pattern: str, value: str, accepted: bool) -> None:
    """The Python form of a published pattern accepts what an ECMA-262 search accepts."""
    assert (re.search(python_pattern(pattern), value) is not None) is accepted
