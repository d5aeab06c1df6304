"""What nrrc reads on the wire is exactly what the published schemas accept: integers within
±(2**53 - 1), RFC 3339 date-times, one duration grammar, canonical base64. Each test puts the
decoder and an independent JSON Schema validator (``jsonschema`` with its format checker) side
by side on the same cases."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from centre_support import T0, make_centres

from nrrc.catalogue import FieldSpec, FieldType
from nrrc.centre import Binding, Delivery
from nrrc.envelope import Verifier, compose, seal
from nrrc.errors import KeyFileError, MalformedEnvelope
from nrrc.exactforms import ExactForms, may_hold_lax_date_time
from nrrc.keys import Keyring, Signer
from nrrc.messages import MAX_SAFE_INTEGER, AwareDatetime, MessageTypes, _py_type
from nrrc.msglog import decode_line
from nrrc.schemas import ENVELOPE_SCHEMA, file_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "messages" / "examples"
SCHEMAS = ROOT / "messages" / "schema"


def schema_accepts(schema: dict[str, Any], doc: Any) -> bool:
    """Whether ``doc`` is valid for ``schema`` with formats asserted (as peers validate)."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(doc)


def kind_schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.json").read_text())  # type: ignore[no-any-return]


def example(kind: str) -> dict[str, Any]:
    """The statement of the published example of ``kind``, as JSON."""
    env = json.loads((EXAMPLES / f"{kind}.envelope.json").read_bytes())
    return json.loads(base64.b64decode(env["payload"]))  # type: ignore[no-any-return]


def decoder_accepts(types: MessageTypes, data: bytes) -> bool:
    try:
        types.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


# -- integers ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["seq", "epoch"])
def test_header_integers_up_to_2_53_minus_1_are_accepted(types: MessageTypes, field: str) -> None:
    """9007199254740991, the largest integer every JSON reader reads exactly, is a valid
    ``seq`` and ``epoch``, for the decoder and the schema alike."""
    doc = {**example("core.ack"), field: MAX_SAFE_INTEGER}
    assert getattr(types.decode(msgspec.json.encode(doc)), field) == MAX_SAFE_INTEGER
    assert schema_accepts(kind_schema("core.ack"), doc)


@pytest.mark.parametrize(
    "value", [2**53, 2**63, 2**64, 10**30], ids=["2^53", "2^63", "2^64", "1e30"]
)
@pytest.mark.parametrize("field", ["seq", "epoch"])
def test_header_integers_beyond_2_53_minus_1_are_refused_naming_field_bound_and_value(
    types: MessageTypes, field: str, value: int
) -> None:
    """Beyond the bound the decoder refuses, saying the field, the bound and the value; the
    schema publishes the same ``maximum``."""
    doc = {**example("core.ack"), field: value}
    expected = f"Expected `int` <= 9007199254740991, found {value} - at `$.{field}`"
    with pytest.raises(msgspec.ValidationError) as refused:
        types.decode(msgspec.json.encode(doc))
    assert str(refused.value) == expected
    with pytest.raises(msgspec.ValidationError, match="found"):
        types.decode_header(msgspec.json.encode(doc))
    assert kind_schema("core.ack")["properties"][field]["maximum"] == MAX_SAFE_INTEGER
    assert not schema_accepts(kind_schema("core.ack"), doc)


def test_a_catalogue_integer_without_bounds_gets_the_wire_range() -> None:
    """An integer field whose catalogue gives no range (or a wider one) still cannot carry a
    value msgspec could not encode again."""
    for spec in (
        FieldSpec("count", FieldType.INTEGER, "no bounds"),
        FieldSpec("count", FieldType.INTEGER, "wide", minimum=-1e30, maximum=1e30),
    ):
        decode = msgspec.json.Decoder(_py_type(spec)).decode
        assert decode(b"9007199254740991") == MAX_SAFE_INTEGER
        assert decode(b"-9007199254740991") == -MAX_SAFE_INTEGER
        for text in (b"9007199254740992", b"-9007199254740992", b"18446744073709551616"):
            with pytest.raises(msgspec.ValidationError):
                decode(text)


def test_seq_2_64_is_refused_by_the_centre_which_can_still_save_its_state(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A correctly signed statement with seq 2**64 is rejected as malformed, and the centre's
    snapshot (what ``nrrc node`` saves after each step) still encodes: the node no longer
    crashes on it, at once or at every restart."""
    us = make_centres(types, signers, keyring, [Binding("bmlna", ("US", "RU"))], ["US", "RU"])["US"]
    for field, value, reason in (
        ("seq", 2**64, "malformed"),
        ("epoch", 2**64, "malformed"),
        ("seq", MAX_SAFE_INTEGER, None),
    ):
        genuine = compose(
            types,
            signers["RU"],
            "core.free_text",
            recipient="US",
            sent_at=T0,
            epoch=1,
            seq=7,
            payload={"subject": "test", "text": "big numbers"},
            rand=random.Random(value),
        )
        doc = {**msgspec.json.decode(genuine.statement_bytes), field: value}
        envelope = seal(msgspec.json.encode(doc), signers["RU"])
        step = us.receive(T0, Delivery(envelope, "RU"))
        received = [(r.direction, r.reason) for r in step.records]
        assert received[0] == (("rejected", reason) if reason else ("received", None))
        us.snapshot()


# -- date-times --------------------------------------------------------------------------

DATE_TIMES = [
    "2026-03-02T08:15:00Z",
    "2026-03-02t08:15:00z",
    "2026-03-02T08:15:00.5Z",
    "2026-03-02T08:15:00.123456789Z",
    "2026-03-02T13:45:00+05:30",
    "2026-03-02T03:15:00-05:00",
    "2026-03-02T08:15:00-00:00",
    "2026-03-02 08:15:00Z",
    "2026-03-02T13:45:00+0530",
    "2026-03-02T03:15:00-0500",
    "2026-03-02T08:15:00+0000",
    "2026-03-02T08:15:00.5-0000",
    "2026-03-02 13:45:00+0530",
    "2026-03-02T08:15:00",
    "2026-03-02T08:15Z",
    "2026-06-30T23:59:60Z",
    "2026-03-02T08:15:00+24:00",
    "2026-02-30T08:15:00Z",
]


@pytest.mark.parametrize("text", DATE_TIMES)
@pytest.mark.parametrize("where", ["sent_at", "payload.received_at"])
def test_date_times_the_decoder_accepts_are_those_the_schema_accepts(
    types: MessageTypes, where: str, text: str
) -> None:
    """In the header and in a payload, a date-time passes the decoder exactly when it passes
    JSON Schema's ``date-time`` format: a space for the T and an offset without its colon are
    refused, lowercase t and z (RFC 3339 allows them) are accepted."""
    doc = example("core.ack")
    if where == "sent_at":
        doc["sent_at"] = text
    else:
        doc["payload"]["received_at"] = text
    data = msgspec.json.encode(doc)
    assert decoder_accepts(types, data) == schema_accepts(kind_schema("core.ack"), doc)


@pytest.mark.parametrize(
    "text", ["2026-03-02 08:15:00Z", "2026-03-02T13:45:00+0530"], ids=["space", "no-colon"]
)
def test_a_lax_date_time_is_refused_with_the_field_and_the_text(
    types: MessageTypes, verifier_us: Verifier, signers: dict[str, Signer], text: str
) -> None:
    """The refusal says what was expected, what was found and where; in the header it makes
    the envelope malformed."""
    doc = {**example("core.ack"), "sent_at": text}
    with pytest.raises(msgspec.ValidationError) as refused:
        types.decode(msgspec.json.encode(doc))
    assert str(refused.value) == (
        "Expected an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS, an optional fraction of a "
        f"second, then Z or an offset ±HH:MM), found {text!r} - at `$.sent_at`"
    )
    doc["recipient"] = "US"
    envelope = seal(msgspec.json.encode(doc), signers[doc["sender"]])
    with pytest.raises(MalformedEnvelope, match=r"statement header: Expected an RFC 3339"):
        verifier_us.open(envelope)


@pytest.fixture
def verifier_us(keyring: Keyring, types: MessageTypes, signers: dict[str, Signer]) -> Verifier:
    """A verifier for centre US that trusts the example keys as well as the test keys."""
    ring = Keyring(list(keyring))
    ring.merge(Keyring.load(EXAMPLES / "keyring.json"))
    return Verifier(ring, types, centre="US")


def test_an_escaped_lax_date_time_is_refused(types: MessageTypes) -> None:
    """A JSON escape cannot smuggle a lax form past the check (``\\u0020`` is a space)."""
    data = msgspec.json.encode(example("core.ack")).replace(
        b'"sent_at":"2026-03-02T08:27:00Z"', b'"sent_at":"2026-03-02\\u002008:27:00Z"'
    )
    assert b"\\u0020" in data
    with pytest.raises(msgspec.ValidationError, match="RFC 3339"):
        types.decode(data)


@pytest.mark.parametrize(
    "text",
    ["moved from 2026-03-02 08:15:00Z", "2026-03-02 08:15:00Z", "ends 2026-03-02T08:15:00+0530"],
)
def test_free_text_that_merely_holds_a_lax_date_is_accepted(types: MessageTypes, text: str) -> None:
    """Only fields typed date-time are checked: free text may say anything."""
    doc = example("core.free_text")
    doc["payload"]["text"] = text
    data = msgspec.json.encode(doc)
    assert may_hold_lax_date_time(data)
    types.decode(data)
    assert schema_accepts(kind_schema("core.free_text"), doc)


def _mutations(text: str) -> set[str]:
    """Every one-character deletion, insertion and substitution of ``text`` over the
    characters a date-time is made of."""
    alphabet = "0123456789-:.+TtZz _,/"
    out: set[str] = set()
    for i in range(len(text) + 1):
        out.add(text[:i] + text[i + 1 :])
        for c in alphabet:
            out.add(text[:i] + c + text[i:])
            out.add(text[:i] + c + text[i + 1 :])
    return out


def test_the_raw_byte_hint_misses_no_lax_date_time_msgspec_accepts() -> None:
    """The fast test on the bytes is exact in the direction that matters: every one-edit
    variant of a date-time that msgspec decodes but RFC 3339 refuses is flagged, so the exact
    check runs."""
    aware = msgspec.json.Decoder(Any).decode
    rfc3339 = jsonschema.Draft202012Validator.FORMAT_CHECKER
    lax = 0
    seeds = ("2026-03-02T08:15:00Z", "2026-03-02T13:45:00.25+05:30", "2026-03-02T03:15:00-05:00")
    for seed in seeds:
        for text in _mutations(seed):
            data = msgspec.json.encode({"at": text})
            try:
                msgspec.json.decode(data, type=dict[str, AwareDatetime])
            except msgspec.ValidationError:
                continue
            if not rfc3339.conforms(text, "date-time"):
                lax += 1
                assert may_hold_lax_date_time(data), text
            assert aware(data)["at"] == text
    assert lax >= 5  # the space for T in each seed, the colon dropped from each offset


def test_keyring_log_and_observed_date_times_are_rfc_3339(tmp_path: Path) -> None:
    """valid_from in a keyring, at in a log line and in an observed line: the same rule."""
    ring = json.loads((EXAMPLES / "keyring.json").read_text())
    ring["keys"][0]["valid_from"] = "2026-01-01 00:00:00Z"
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(ring))
    with pytest.raises(KeyFileError, match=r"RFC 3339 .* at `\$\.keys\[0\]\.valid_from`"):
        Keyring.load(path)
    assert not schema_accepts(file_schema("keyring"), ring)

    log = ROOT / "messages" / "samples" / "clean" / "US.log.jsonl"
    line = log.read_bytes().splitlines()[1]
    decode_line(line)
    lax = line.replace(b'"at":"2026-03-02T', b'"at":"2026-03-02 ', 1)
    assert lax != line
    with pytest.raises(msgspec.ValidationError, match=r"RFC 3339 .* at `\$\.at`"):
        decode_line(lax)
    assert not schema_accepts(file_schema("log-line"), json.loads(lax))


def test_exact_forms_names_the_path_inside_lists() -> None:
    """Errors carry msgspec's JSON path, list indexes included."""

    class Window(msgspec.Struct):
        starts: list[datetime]

    with pytest.raises(msgspec.ValidationError, match=r"at `\$\.starts\[1\]`"):
        ExactForms(Window).check(b'{"starts":["2026-03-02T08:15:00Z","2026-03-02 08:15:00Z"]}')


# -- durations ---------------------------------------------------------------------------

DURATIONS = [
    "PT2H",
    "PT7200S",
    "P1DT2H",
    "PT36H",
    "PT0.5S",
    "PT2H0.5S",
    "P0D",
    "PT0S",
    "PT1.5H",
    "PT1.5M",
    "P1.5D",
    "-PT2H",
    "-PT0S",
    "+PT2H",
    "pt2h",
    "P1W",
    "P1Y",
    "PT",
    "P1DT",
]


@pytest.mark.parametrize("text", DURATIONS)
def test_durations_the_decoder_accepts_are_those_the_schema_accepts(
    types: MessageTypes, text: str
) -> None:
    """One grammar for both: ISO 8601 days, hours, minutes, seconds; whole numbers except the
    seconds; no sign."""
    doc = example("cfe.inspection_notice")
    doc["payload"]["designation_interval"] = text
    data = msgspec.json.encode(doc)
    accepted = decoder_accepts(types, data)
    assert accepted == schema_accepts(kind_schema("cfe.inspection_notice"), doc)
    assert accepted == (
        text in {"PT2H", "PT7200S", "P1DT2H", "PT36H", "PT0.5S", "PT2H0.5S", "P0D", "PT0S"}
    )


# -- base64 ------------------------------------------------------------------------------


def _bump_last(text: str) -> str:
    """``text`` with the last character before the padding one step up the alphabet: the
    same bytes, other (non-zero) unused bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    return body[:-1] + alphabet[alphabet.index(body[-1]) + 1] + text[len(body) :]


def test_envelope_base64_canonical_for_both_schema_and_verifier(
    types: MessageTypes, verifier_us: Verifier
) -> None:
    """The published envelope schema refuses exactly the non-canonical base64 the verifier
    refuses, in ``payload`` and in ``sig``."""
    raw = (EXAMPLES / "bmlna.launch_notice.envelope.json").read_bytes().rstrip(b"\n")
    genuine = json.loads(raw)
    assert schema_accepts(ENVELOPE_SCHEMA, genuine)
    verifier_us.open(raw)
    payload = {**genuine, "payload": _bump_last(genuine["payload"])}
    sig = {**genuine, "signatures": [{**genuine["signatures"][0]}]}
    sig["signatures"][0]["sig"] = _bump_last(sig["signatures"][0]["sig"])
    for changed in (payload, sig):
        assert base64.b64decode(changed["payload"]) == base64.b64decode(genuine["payload"])
        assert not schema_accepts(ENVELOPE_SCHEMA, changed)
        with pytest.raises(MalformedEnvelope, match="canonical"):
            verifier_us.open(json.dumps(changed).encode())


@pytest.mark.parametrize("length", range(0, 7))
def test_the_published_base64_pattern_accepts_exactly_canonical_text(length: int) -> None:
    """For every byte string of a few lengths, its own encoding matches and every other text
    decoding to it (other unused bits) does not."""
    pattern = ENVELOPE_SCHEMA["properties"]["payload"]["pattern"]
    for _ in range(20):
        data = random.Random(length * 100 + _).randbytes(length)
        text = base64.b64encode(data).decode()
        assert jsonschema.Draft202012Validator({"pattern": pattern}).is_valid(text)
        if text.endswith("="):
            assert not jsonschema.Draft202012Validator({"pattern": pattern}).is_valid(
                _bump_last(text)
            )


def test_keyring_public_keys_and_log_base64_are_canonical(tmp_path: Path) -> None:
    """The keyring's public key, a log line's envelope_b64 and a checkpoint's sig are
    published as canonical base64; the keyring loader refuses a non-canonical key too."""
    ring = json.loads((EXAMPLES / "keyring.json").read_text())
    ring["keys"][0]["public_key"] = _bump_last(ring["keys"][0]["public_key"])
    assert not schema_accepts(file_schema("keyring"), ring)
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(ring))
    with pytest.raises(KeyFileError, match="canonical"):
        Keyring.load(path)
    log_line = file_schema("log-line")["$defs"]
    b64 = log_line["Rejected"]["properties"]["envelope_b64"]["anyOf"][0]["pattern"]
    sig = log_line["Checkpoint"]["properties"]["sig"]["pattern"]
    assert b64 == ENVELOPE_SCHEMA["properties"]["payload"]["pattern"]
    assert (
        sig == ENVELOPE_SCHEMA["properties"]["signatures"]["items"]["properties"]["sig"]["pattern"]
    )
