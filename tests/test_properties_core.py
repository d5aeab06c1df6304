"""Properties of the core, hunted by Hypothesis with strategies derived from the catalogue.

* Every kind's statements survive encode -> decode unchanged, and re-encode to the same bytes.
* Any single-byte change anywhere in a signed envelope is refused by the Verifier.
* The envelope's fast base64 check accepts exactly the canonical encodings.
"""

from __future__ import annotations

import base64
import binascii
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import aware_datetimes, statements

from nrrc.catalogue import load_catalogue
from nrrc.envelope import Verifier, _b64, compose
from nrrc.errors import EnvelopeError, MalformedEnvelope
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes, Statement

# Collected at import time so that every kind gets its own readable test id.
KINDS = sorted(load_catalogue().kinds)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_round_trips_through_json(types: MessageTypes, kind: str) -> None:
    """A valid statement of any kind decodes back equal and re-encodes to identical bytes."""

    @given(statements(types, kind))
    def check(statement: Statement) -> None:
        data = types.encode(statement)
        decoded = types.decode(data)
        assert decoded == statement
        assert decoded.kind == kind
        assert types.encode(decoded) == data

    check()


@given(aware_datetimes())
def test_datetimes_keep_their_instant_and_offset(types: MessageTypes, at: datetime) -> None:
    """An aware datetime in any whole-minute offset comes back as the same instant and offset."""
    statement = types.statement(
        "core.ack",
        payload={"received_at": at},
        id="019cad9d-0000-7000-8000-000000000000",
        sender="US",
        recipient="RU",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        epoch=0,
        seq=1,
    )
    back = types.decode(types.encode(statement)).payload.received_at  # type: ignore[attr-defined]
    assert back == at
    assert back.utcoffset() == at.utcoffset()


@pytest.fixture(scope="module")
def signed(types: MessageTypes, signers: dict[str, Signer]) -> bytes:
    """One signed launch notice with an in_reply_to, so every header field is present."""
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    earlier = compose(
        types,
        signers["US"],
        "core.free_text",
        recipient="RU",
        sent_at=at - timedelta(hours=1),
        epoch=1,
        seq=1,
        payload={"subject": "s", "text": "t"},
        rand=lambda n: bytes(n),
    )
    return compose(
        types,
        signers["RU"],
        "bmlna.launch_notice",
        recipient="US",
        sent_at=at,
        epoch=1,
        seq=2,
        payload={
            "missile_class": "ICBM",
            "planned_launch_date": "2026-03-03",
            "launch_area": "Plesetsk",
            "impact_areas": [{"shape": "circle", "center": {"lat": 65, "lon": 172}, "radius": 50}],
        },
        in_reply_to=earlier.reply_ref(),
        rand=lambda n: b"\x07" * n,
    ).envelope


def test_the_unchanged_envelope_is_accepted(
    types: MessageTypes, keyring: Keyring, signed: bytes
) -> None:
    """The control for the property below: the untouched envelope opens."""
    assert Verifier(keyring, types, centre="US").open(signed).statement.sender == "RU"


@given(data=st.data())
def test_any_single_byte_change_is_refused(
    types: MessageTypes, keyring: Keyring, signed: bytes, data: st.DataObject
) -> None:
    """Changing any one byte of a signed envelope, to any other value, makes open() refuse it."""
    index = data.draw(st.integers(0, len(signed) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != signed[index]), label="byte")
    tampered = signed[:index] + bytes([value]) + signed[index + 1 :]
    with pytest.raises(EnvelopeError):
        Verifier(keyring, types, centre="US").open(tampered)


def test_every_single_byte_change_is_refused_exhaustively_for_one_value(
    types: MessageTypes, keyring: Keyring, signed: bytes
) -> None:
    """Flipping the lowest bit of each byte in turn: every position is covered at least once."""
    verifier = Verifier(keyring, types, centre="US")
    accepted = []
    for index in range(len(signed)):
        tampered = signed[:index] + bytes([signed[index] ^ 1]) + signed[index + 1 :]
        try:
            verifier.open(tampered)
        except EnvelopeError:
            continue
        accepted.append(index)
    assert accepted == []


B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _canonical_by_definition(text: str) -> bytes | None:
    """``text`` decoded if it is canonical standard base64 by definition (re-encoding the
    decoded bytes gives it back), else None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def _with_last_data_character(encoded: str, char: str) -> str:
    """Replace the last character before the padding (where pad bits live)."""
    data = encoded.rstrip("=")
    return data[:-1] + char + encoded[len(data) :] if data else encoded


BASE64_LIKE = (
    st.text(alphabet="ABQRwx09+/= \n", max_size=12)
    | st.binary(max_size=9).map(lambda b: base64.b64encode(b).decode())
    | st.builds(
        _with_last_data_character,
        st.binary(min_size=1, max_size=9).map(lambda b: base64.b64encode(b).decode()),
        st.sampled_from(B64_ALPHABET),
    )
)


@given(BASE64_LIKE)
def test_the_fast_base64_check_is_canonical_base64_by_definition(text: str) -> None:
    """The envelope's base64 check accepts exactly what re-encoding would give back."""
    expected = _canonical_by_definition(text)
    try:
        found: bytes | None = _b64(text, "payload")
    except MalformedEnvelope:
        found = None
    assert found == expected
