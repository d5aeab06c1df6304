"""Signed envelopes: the wire format, every refusal with its own reason, and an independent check.

The Verifier is the gate every received message passes. Each test builds a validly signed
envelope with one thing wrong and checks the specific error (and its stable ``reason``) that
comes out. The last tests check our Ed25519 signatures with the ``openssl`` command-line tool,
which shares no code with the ``cryptography`` package the core uses for signing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nrrc.envelope import PAYLOAD_TYPE, Opened, Verifier, compose, digest, pae, seal
from nrrc.errors import (
    BadSignature,
    EnvelopeError,
    InvalidPayload,
    KeyNotOwnedBySender,
    KeyNotValidAt,
    MalformedEnvelope,
    NotAddressedToUs,
    UnknownKey,
)
from nrrc.keys import KeyEntry, Keyring, Signer, key_id_for
from nrrc.messages import MessageTypes

SENT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ID = "019ca8bb-b5c0-7000-8000-000000000000"
PAYLOAD: dict[str, Any] = {
    "missile_class": "ICBM",
    "planned_launch_date": "2026-03-03",
    "launch_area": "Plesetsk",
    "impact_areas": [{"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50.0}],
}
STATEMENT: dict[str, Any] = {
    "kind": "bmlna.launch_notice",
    "id": ID,
    "sender": "RU",
    "recipient": "US",
    "sent_at": "2026-03-01T09:30:00Z",
    "epoch": 1,
    "seq": 1,
    "payload": PAYLOAD,
}


def statement_bytes(**changes: Any) -> bytes:
    """The launch notice's statement bytes with header or payload (``payload=``) changes."""
    return msgspec.json.encode({**STATEMENT, **changes})


def envelope_doc(data: bytes) -> dict[str, Any]:
    """An envelope's JSON as a dict, to edit."""
    doc: dict[str, Any] = json.loads(data)
    return doc


def to_bytes(doc: dict[str, Any]) -> bytes:
    """Compact JSON of an edited envelope."""
    return json.dumps(doc, separators=(",", ":")).encode()


@pytest.fixture
def us(keyring: Keyring, types: MessageTypes) -> Verifier:
    """The US centre's verifier."""
    return Verifier(keyring, types, centre="US")


@pytest.fixture
def notice(types: MessageTypes, signers: dict[str, Signer]) -> Opened:
    """A valid launch notice from RU to US."""
    return compose(
        types,
        signers["RU"],
        "bmlna.launch_notice",
        recipient="US",
        sent_at=SENT,
        epoch=1,
        seq=1,
        payload=PAYLOAD,
        rand=bytes,
    )


# -- the wire format ------------------------------------------------------------------------


def test_envelope_is_dsse_with_one_signature(notice: Opened, signers: dict[str, Signer]) -> None:
    """payloadType, standard base64 of the exact statement bytes, one signature with key id."""
    doc = envelope_doc(notice.envelope)
    assert list(doc) == ["payloadType", "payload", "signatures"]
    assert doc["payloadType"] == PAYLOAD_TYPE == "application/vnd.nrrc.statement+json; version=1"
    assert base64.b64decode(doc["payload"]) == notice.statement_bytes
    (sig,) = doc["signatures"]
    assert sig["keyid"] == signers["RU"].key_id
    assert len(base64.b64decode(sig["sig"])) == 64


def test_signature_covers_the_pae_of_the_statement_bytes(
    notice: Opened, signers: dict[str, Signer]
) -> None:
    """Ed25519 over ``DSSEv1 <len type> <type> <len payload> <payload>``, nothing else."""
    expected = b"DSSEv1 46 " + PAYLOAD_TYPE.encode() + b" %d " % len(notice.statement_bytes)
    assert pae(PAYLOAD_TYPE, notice.statement_bytes) == expected + notice.statement_bytes
    sig = base64.b64decode(envelope_doc(notice.envelope)["signatures"][0]["sig"])
    entry = signers["RU"].entry(SENT)
    assert entry.verify(sig, pae(PAYLOAD_TYPE, notice.statement_bytes))
    assert not entry.verify(sig, notice.statement_bytes)


def test_a_valid_envelope_opens_to_its_statement(us: Verifier, notice: Opened) -> None:
    """The Verifier returns the exact bytes, the typed statement and the key used."""
    opened = us.open(notice.envelope)
    assert opened == notice
    assert opened.statement.payload.launch_area == "Plesetsk"  # type: ignore[attr-defined]


def test_reply_ref_names_id_and_sha256_of_the_statement_bytes(notice: Opened) -> None:
    """``in_reply_to.digest`` is the SHA-256 hex of the answered statement's exact bytes."""
    import hashlib

    ref = notice.reply_ref()
    assert ref.id == notice.statement.id
    assert ref.digest == digest(notice.statement_bytes)
    assert ref.digest == hashlib.sha256(notice.statement_bytes).hexdigest()


def test_an_acknowledgement_carries_the_reference(
    types: MessageTypes, signers: dict[str, Signer], notice: Opened, keyring: Keyring
) -> None:
    """A reply built with ``in_reply_to`` verifies and names the message it answers."""
    ack = compose(
        types,
        signers["US"],
        "core.ack",
        recipient="RU",
        sent_at=SENT + timedelta(minutes=5),
        epoch=1,
        seq=1,
        payload={"received_at": SENT + timedelta(seconds=3)},
        in_reply_to=notice.reply_ref(),
    )
    opened = Verifier(keyring, types, centre="RU").open(ack.envelope)
    assert opened.statement.in_reply_to == notice.reply_ref()


def test_compose_normalises_sent_at_to_utc(types: MessageTypes, signers: dict[str, Signer]) -> None:
    """A sent-at given in another offset is written in UTC."""
    from datetime import timezone

    local = SENT.astimezone(timezone(timedelta(hours=3)))
    opened = compose(
        types,
        signers["US"],
        "core.cancellation",
        recipient="RU",
        sent_at=local,
        epoch=0,
        seq=1,
        payload={},
    )
    assert b'"sent_at":"2026-03-01T09:30:00Z"' in opened.statement_bytes


def test_compose_refuses_an_invalid_payload(
    types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Nothing is signed when the payload is not valid for its kind."""
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value"):
        compose(
            types,
            signers["RU"],
            "bmlna.launch_notice",
            recipient="US",
            sent_at=SENT,
            epoch=1,
            seq=1,
            payload={**PAYLOAD, "missile_class": "IRBM"},
        )


# -- malformed ------------------------------------------------------------------------------


def _malformed_cases(notice: bytes) -> dict[str, tuple[bytes, str]]:
    doc = envelope_doc(notice)
    sig = doc["signatures"][0]
    payload = doc["payload"]
    # The last base64 character before "=" carries pad bits; setting one is non-canonical.
    padded = payload.rstrip("=")
    bumped = padded[:-1] + chr(ord(padded[-1]) + 1) + payload[len(padded) :]
    return {
        "not-json": (b"not json", "expected a JSON DSSE envelope"),
        "not-utf8": (notice.replace(b'"payloadType"', b'"payloadTyp\xe9"'), "JSON DSSE envelope"),
        "json-array": (b"[]", "Expected `object`, got `array`"),
        "null-signatures": (to_bytes({**doc, "signatures": None} | {}), "Expected `array`"),
        "extra-field": (to_bytes({**doc, "comment": "hi"}), "unknown field `comment`"),
        "wrong-payload-type": (
            to_bytes({**doc, "payloadType": "application/vnd.in-toto+json"}),
            "$.payloadType: expected 'application/vnd.nrrc.statement+json; version=1'",
        ),
        "no-signature": (to_bytes({**doc, "signatures": []}), "exactly one signature, found 0"),
        "two-signatures": (
            to_bytes({**doc, "signatures": [sig, sig]}),
            "exactly one signature, found 2",
        ),
        "payload-not-base64": (to_bytes({**doc, "payload": "***"}), "$.payload: expected standard"),
        "payload-unpadded": (
            to_bytes({**doc, "payload": payload.rstrip("=")}),
            "$.payload: expected standard base64",
        ),
        "payload-pad-bits": (
            to_bytes({**doc, "payload": bumped}),
            "$.payload: expected canonical standard base64",
        ),
        "sig-not-base64": (
            to_bytes({**doc, "signatures": [{**sig, "sig": "%%"}]}),
            "$.signatures[0].sig: expected standard base64",
        ),
        # The text itself holds a backslash escape: base64 only if read as JSON a second time.
        "payload-escaped-text": (
            to_bytes({**doc, "payload": payload[:-4] + "\\u0041" + payload[-3:]}),
            "$.payload: expected standard base64",
        ),
        "payload-quote-in-text": (
            to_bytes({**doc, "payload": payload[:4] + '"' + payload[5:]}),
            "$.payload: expected standard base64",
        ),
    }


CASES = [
    "not-json",
    "not-utf8",
    "json-array",
    "null-signatures",
    "extra-field",
    "wrong-payload-type",
    "no-signature",
    "two-signatures",
    "payload-not-base64",
    "payload-unpadded",
    "payload-pad-bits",
    "sig-not-base64",
    "payload-escaped-text",
    "payload-quote-in-text",
]


@pytest.mark.parametrize("case", CASES)
def test_malformed_envelopes_are_refused(us: Verifier, notice: Opened, case: str) -> None:
    """Anything but a DSSE envelope with one canonical signature is ``malformed``."""
    data, message = _malformed_cases(notice.envelope)[case]
    with pytest.raises(MalformedEnvelope) as info:
        us.open(data)
    assert info.value.reason == "malformed"
    assert message in str(info.value)
    assert str(info.value).startswith("malformed: ")


def test_the_pad_bits_case_really_decodes_to_the_same_bytes(notice: Opened) -> None:
    """The control for the case above: lenient base64 would accept it as the same payload."""
    data, _ = _malformed_cases(notice.envelope)["payload-pad-bits"]
    assert base64.b64decode(envelope_doc(data)["payload"]) == notice.statement_bytes


def test_a_signed_statement_that_is_not_json_is_malformed(
    us: Verifier, signers: dict[str, Signer]
) -> None:
    """A correctly signed payload that is not a JSON statement is refused as malformed."""
    with pytest.raises(MalformedEnvelope, match="statement header"):
        us.open(seal(b"hello", signers["RU"]))


def test_a_signed_statement_with_a_bad_header_is_malformed(
    us: Verifier, signers: dict[str, Signer]
) -> None:
    """Header fields are not payload: a bad ``seq`` makes the envelope malformed."""
    refusal = r"statement header: .*>= 1, found 0 - at `\$\.seq`"
    with pytest.raises(MalformedEnvelope, match=refusal):
        us.open(seal(statement_bytes(seq=0), signers["RU"]))


# -- keys -----------------------------------------------------------------------------------


def test_an_unknown_key_is_refused(us: Verifier, types: MessageTypes) -> None:
    """A key id the keyring does not hold is ``unknown-key``, whatever the envelope claims."""
    stranger = Signer.from_seed("RU", b"\x42" * 32)
    with pytest.raises(UnknownKey) as info:
        us.open(seal(statement_bytes(), stranger))
    assert info.value.reason == "unknown-key"
    assert stranger.key_id in str(info.value)


def test_a_key_id_pointing_at_another_key_gives_bad_signature(
    us: Verifier, signers: dict[str, Signer]
) -> None:
    """The key id is only a hint: naming RU's key on a stranger's signature fails to verify."""
    stranger = Signer.from_seed("RU", b"\x42" * 32)
    doc = envelope_doc(seal(statement_bytes(), stranger))
    doc["signatures"][0]["keyid"] = signers["RU"].key_id
    with pytest.raises(BadSignature) as info:
        us.open(to_bytes(doc))
    assert info.value.reason == "bad-signature"


def test_a_key_of_another_centre_is_refused(us: Verifier, signers: dict[str, Signer]) -> None:
    """GB's valid key on a statement whose sender is RU is ``key-not-owned``."""
    with pytest.raises(KeyNotOwnedBySender) as info:
        us.open(seal(statement_bytes(), signers["GB"]))
    assert info.value.reason == "key-not-owned"
    assert info.value.message_id == ID
    assert f"key {signers['GB'].key_id} belongs to GB, but the sender is RU" in str(info.value)


@pytest.fixture
def dated_ring(signers: dict[str, Signer]) -> Keyring:
    """RU's key valid for March 2026 only."""
    return Keyring(
        [
            signers["RU"].entry(
                datetime(2026, 3, 1, 9, 30, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
            )
        ]
    )


@pytest.mark.parametrize(
    ("sent_at", "valid"),
    [
        pytest.param("2026-03-01T09:29:59Z", False, id="before-valid-from"),
        pytest.param("2026-03-01T09:30:00Z", True, id="at-valid-from"),
        pytest.param("2026-03-31T23:59:59.999999Z", True, id="just-before-valid-until"),
        pytest.param("2026-04-01T00:00:00Z", False, id="at-valid-until"),
        pytest.param("2026-04-01T02:00:00+02:00", False, id="at-valid-until-in-another-offset"),
        pytest.param("2027-01-01T00:00:00Z", False, id="after-valid-until"),
    ],
)
def test_key_validity_is_checked_at_sent_at(
    types: MessageTypes,
    signers: dict[str, Signer],
    dated_ring: Keyring,
    sent_at: str,
    valid: bool,
) -> None:
    """A key is valid from ``valid_from`` (inclusive) to ``valid_until`` (exclusive)."""
    verifier = Verifier(dated_ring, types)
    envelope = seal(statement_bytes(sent_at=sent_at), signers["RU"])
    if valid:
        assert verifier.open(envelope).statement.sender == "RU"
        return
    with pytest.raises(KeyNotValidAt) as info:
        verifier.open(envelope)
    assert info.value.reason == "key-not-valid"
    assert "valid from 2026-03-01 09:30:00 UTC until 2026-04-01 00:00:00 UTC" in str(info.value)


# -- signatures -----------------------------------------------------------------------------


def test_a_changed_statement_breaks_the_signature(
    us: Verifier, notice: Opened, signers: dict[str, Signer]
) -> None:
    """Statement bytes other than the signed ones, canonically encoded, are ``bad-signature``."""
    doc = envelope_doc(notice.envelope)
    forged = notice.statement_bytes.replace(b"Plesetsk", b"Kapustin")
    doc["payload"] = base64.b64encode(forged).decode()
    with pytest.raises(BadSignature, match=f"does not verify with key {signers['RU'].key_id}"):
        us.open(to_bytes(doc))


def test_a_re_encoded_statement_is_not_accepted(us: Verifier, notice: Opened) -> None:
    """The same statement with spaces added is other bytes: never re-encode to verify."""
    doc = envelope_doc(notice.envelope)
    pretty = json.dumps(json.loads(notice.statement_bytes), indent=1).encode()
    doc["payload"] = base64.b64encode(pretty).decode()
    with pytest.raises(BadSignature):
        us.open(to_bytes(doc))


def test_a_signature_of_the_wrong_length_is_bad(us: Verifier, notice: Opened) -> None:
    """A canonical base64 of 63 bytes is not an Ed25519 signature."""
    doc = envelope_doc(notice.envelope)
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(63)).decode()
    with pytest.raises(BadSignature):
        us.open(to_bytes(doc))


def test_a_signature_under_another_payload_type_is_bad(
    us: Verifier, signers: dict[str, Signer]
) -> None:
    """Domain separation: a signature over the PAE with another type does not verify."""
    data = statement_bytes()
    sig = signers["RU"].sign(pae("application/json", data))
    doc = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(data).decode(),
        "signatures": [{"keyid": signers["RU"].key_id, "sig": base64.b64encode(sig).decode()}],
    }
    with pytest.raises(BadSignature):
        us.open(to_bytes(doc))


def test_signature_checking_can_be_skipped_explicitly(
    keyring: Keyring, types: MessageTypes, notice: Opened
) -> None:
    """``check_signature=False`` (re-reading trusted logs) still decodes and checks the rest."""
    doc = envelope_doc(notice.envelope)
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    verifier = Verifier(keyring, types, centre="US")
    assert verifier.open(to_bytes(doc), check_signature=False).statement.sender == "RU"
    with pytest.raises(BadSignature):
        verifier.open(to_bytes(doc))


# -- payloads -------------------------------------------------------------------------------

AREA = PAYLOAD["impact_areas"][0]

# (test id, statement changes, a fragment of the refusal naming where)
INVALID_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("bad-enum", {"payload": {**PAYLOAD, "missile_class": "IRBM"}}, "$.payload.missile_class"),
    ("string-too-short", {"payload": {**PAYLOAD, "launch_area": ""}}, "length >= 1"),
    ("string-too-long", {"payload": {**PAYLOAD, "launch_area": "x" * 201}}, "length <= 200"),
    ("too-few-items", {"payload": {**PAYLOAD, "impact_areas": []}}, "$.payload.impact_areas"),
    ("too-many-items", {"payload": {**PAYLOAD, "impact_areas": [AREA] * 17}}, "length <= 16"),
    (
        "number-out-of-range",
        {"payload": {**PAYLOAD, "impact_areas": [{**AREA, "center": {"lat": -90.5, "lon": 0}}]}},
        ">= -90.0 - at `$.payload.impact_areas[0].center.lat`",
    ),
    (
        "exclusive-minimum",
        {"payload": {**PAYLOAD, "impact_areas": [{**AREA, "radius": 0}]}},
        "> 0",
    ),
    ("bad-date", {"payload": {**PAYLOAD, "planned_launch_date": "3 March"}}, "date"),
    ("missing-field", {"payload": {k: v for k, v in PAYLOAD.items() if k != "launch_area"}},
     "missing required field `launch_area`"),
    ("unknown-field", {"payload": {**PAYLOAD, "yield_kt": 1}}, "unknown field `yield_kt`"),
    ("wrong-type", {"payload": {**PAYLOAD, "launch_area": 7}}, "Expected `str`, got `int`"),
    (
        "integer-range",
        {"kind": "hcoc.annual_declaration",
         "payload": {"year": 2026, "ballistic_missile_policy": "p",
                     "space_launch_vehicle_policy": "p", "launch_sites": ["Kourou"],
                     "ballistic_missile_launches": -1, "space_launch_vehicle_launches": 0}},
        "$.payload.ballistic_missile_launches",
    ),
    (
        "naive-datetime",
        {"kind": "core.ack", "payload": {"received_at": "2026-03-01T09:30:04"}},
        "timezone",
    ),
    ("unknown-kind", {"kind": "bmlna.launch"}, "$.kind: unknown kind 'bmlna.launch'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [pytest.param(c, f, id=name) for name, c, f in INVALID_PAYLOADS],
)
def test_invalid_payloads_are_refused_naming_the_field(
    us: Verifier, signers: dict[str, Signer], changes: dict[str, Any], fragment: str
) -> None:
    """A correctly signed statement whose payload breaks a constraint is ``invalid-payload``."""
    with pytest.raises(InvalidPayload) as info:
        us.open(seal(statement_bytes(**changes), signers["RU"]))
    assert info.value.reason == "invalid-payload"
    assert info.value.message_id == ID
    assert fragment in str(info.value), str(info.value)


PATTERNED = """\
schema = 1
[agreement]
id = "pat"
code_prefix = "PAT"
title = "Pattern test"
short_title = "Pattern test"
year = 2026
regime = "bilateral"
channel = "test"
[[agreement.sources]]
title = "test"
[kinds.notice]
title = "Notice"
description = "A notice with a patterned field."
[kinds.notice.fields]
states = { type = "list", items = { type = "string", pattern = "^[A-Z]{2}$" }, description = "x" }
"""


def test_a_pattern_constraint_is_enforced(
    tmp_path: Path, keyring: Keyring, signers: dict[str, Signer]
) -> None:
    """A string field with a pattern refuses a value that does not match."""
    from nrrc.catalogue import load_catalogue

    (tmp_path / "pat.toml").write_text(PATTERNED)
    types = MessageTypes(load_catalogue([tmp_path / "pat.toml"]))
    verifier = Verifier(keyring, types)
    good = statement_bytes(kind="pat.notice", payload={"states": ["GB"]})
    assert verifier.open(seal(good, signers["RU"])).statement.kind == "pat.notice"
    bad = statement_bytes(kind="pat.notice", payload={"states": ["GB", "gb"]})
    with pytest.raises(InvalidPayload, match=r"matching regex .* - at `\$\.payload\.states\[1\]`"):
        verifier.open(seal(bad, signers["RU"]))


# -- addressing -----------------------------------------------------------------------------


def test_a_message_for_another_centre_is_refused(
    keyring: Keyring, types: MessageTypes, notice: Opened
) -> None:
    """GB's centre refuses RU's notice to US as ``misaddressed``."""
    with pytest.raises(NotAddressedToUs) as info:
        Verifier(keyring, types, centre="GB").open(notice.envelope)
    assert info.value.reason == "misaddressed"
    assert "addressed to US, not to GB" in str(info.value)


def test_a_message_to_a_regime_reaches_its_members_only(
    keyring: Keyring, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """A notice to ``hcoc`` opens at a member centre and is misaddressed at a non-member."""
    envelope = seal(statement_bytes(recipient="hcoc"), signers["RU"])
    member = Verifier(keyring, types, centre="AT", regimes={"hcoc", "vd11"})
    assert member.open(envelope).statement.recipient == "hcoc"
    outsider = Verifier(keyring, types, centre="AT", regimes={"vd11"})
    with pytest.raises(NotAddressedToUs, match="addressed to hcoc, not to AT or its regimes vd11"):
        outsider.open(envelope)


def test_an_auditor_accepts_any_recipient(
    keyring: Keyring, types: MessageTypes, notice: Opened
) -> None:
    """Without a centre the Verifier checks everything but the addressing."""
    assert Verifier(keyring, types).open(notice.envelope).statement.recipient == "US"


def test_ownership_is_checked_before_the_payload(us: Verifier, signers: dict[str, Signer]) -> None:
    """A statement that is both wrongly signed-for and invalid reports the key problem."""
    bad = statement_bytes(payload={**PAYLOAD, "missile_class": "IRBM"})
    with pytest.raises(KeyNotOwnedBySender):
        us.open(seal(bad, signers["GB"]))


def test_addressing_is_checked_before_the_payload(
    keyring: Keyring, types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """A misaddressed invalid statement is reported as misaddressed."""
    bad = statement_bytes(payload={**PAYLOAD, "missile_class": "IRBM"})
    with pytest.raises(NotAddressedToUs):
        Verifier(keyring, types, centre="GB").open(seal(bad, signers["RU"]))


def test_every_refusal_is_an_envelope_error_with_a_one_line_message(
    us: Verifier, signers: dict[str, Signer]
) -> None:
    """Callers can catch one type; the text is one line starting with the reason."""
    with pytest.raises(EnvelopeError) as info:
        us.open(
            seal(statement_bytes(payload={**PAYLOAD, "launch_area": "x\ny" * 200}), signers["RU"])
        )
    assert "\n" not in str(info.value)


def test_decode_unverified_reads_any_envelope_for_reports(us: Verifier, notice: Opened) -> None:
    """Reports can show what a refused envelope claimed; garbage gives an empty view."""
    assert us.decode_unverified(notice.envelope)["sender"] == "RU"
    assert us.decode_unverified(b"\xff\xfe") == {}
    assert us.decode_unverified(b'{"payloadType":"x","payload":"!!","signatures":[]}') == {}


# -- an independent Ed25519 implementation: the openssl command-line tool --------------------

OPENSSL = shutil.which("openssl")


def _openssl_has_raw_ed25519() -> bool:
    if OPENSSL is None:
        return False
    done = subprocess.run([OPENSSL, "pkeyutl", "-help"], capture_output=True, text=True)
    return "-rawin" in done.stdout + done.stderr


# Skipped on a developer's machine without openssl; in CI (NRRC_REQUIRE_BROKER=1, openssl
# installed by .ci/run) the tests run, and fail if the tool is missing.
needs_openssl = pytest.mark.skipif(
    not _openssl_has_raw_ed25519() and os.environ.get("NRRC_REQUIRE_BROKER") != "1",
    reason="openssl with Ed25519 (pkeyutl -rawin) not available",
)


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True)


@needs_openssl
def test_openssl_verifies_our_signature(
    tmp_path: Path, notice: Opened, signers: dict[str, Signer]
) -> None:
    """openssl accepts our signature over the PAE bytes and rejects it over changed bytes."""
    public = Ed25519PublicKey.from_public_bytes(signers["RU"].public_key)
    (tmp_path / "pub.pem").write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    doc = envelope_doc(notice.envelope)
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(doc["signatures"][0]["sig"]))
    statement = base64.b64decode(doc["payload"])
    (tmp_path / "pae.bin").write_bytes(pae(doc["payloadType"], statement))
    (tmp_path / "forged.bin").write_bytes(pae(doc["payloadType"], statement + b" "))
    common = ["pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin"]
    sig = ["-sigfile", str(tmp_path / "sig.bin")]
    good = _openssl(*common, "-in", str(tmp_path / "pae.bin"), *sig)
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout
    bad = _openssl(*common, "-in", str(tmp_path / "forged.bin"), *sig)
    assert bad.returncode != 0


@needs_openssl
def test_verifier_accepts_a_statement_signed_by_openssl(
    tmp_path: Path, types: MessageTypes
) -> None:
    """A key made and used by openssl, an envelope assembled by hand: the Verifier accepts it."""
    key = tmp_path / "key.pem"
    made = _openssl("genpkey", "-algorithm", "ed25519", "-out", str(key))
    assert made.returncode == 0, made.stderr
    pub = _openssl("pkey", "-in", str(key), "-pubout")
    public = serialization.load_pem_public_key(pub.stdout.encode())
    assert isinstance(public, Ed25519PublicKey)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = key_id_for("CN", raw)
    data = statement_bytes(
        kind="core.free_text", sender="CN", recipient="US", payload={"subject": "Hi", "text": "ok"}
    )
    (tmp_path / "pae.bin").write_bytes(pae(PAYLOAD_TYPE, data))
    signed = _openssl(
        "pkeyutl", "-sign", "-inkey", str(key), "-rawin",
        "-in", str(tmp_path / "pae.bin"), "-out", str(tmp_path / "sig.bin"),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    sig = base64.b64encode((tmp_path / "sig.bin").read_bytes()).decode()
    payload = base64.b64encode(data).decode()
    envelope = (
        f'{{"payloadType":"{PAYLOAD_TYPE}","payload":"{payload}",'
        f'"signatures":[{{"keyid":"{key_id}","sig":"{sig}"}}]}}'
    ).encode()
    ring = Keyring([KeyEntry(key_id, "CN", raw, datetime(2026, 1, 1, tzinfo=UTC))])
    opened = Verifier(ring, types, centre="US").open(envelope)
    assert (opened.statement.sender, opened.statement.kind) == ("CN", "core.free_text")
