"""Sealing: the envelope's bytes are what msgspec would write, whatever the statement's length."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import msgspec

from nrrc.envelope import PAYLOAD_TYPE, pae, seal
from nrrc.keys import Signer


class _Signature(msgspec.Struct):
    keyid: str
    sig: str


class _Envelope(msgspec.Struct, rename="camel"):
    payload_type: str
    payload: str
    signatures: list[_Signature]


def test_seal_writes_standard_padded_base64_for_every_length(signers: dict[str, Signer]) -> None:
    """Payload and signature are standard base64 with padding (the three padding cases, and
    bytes that map to '+' and '/'), the bytes are exactly msgspec's encoding of the envelope,
    and the signature verifies over the PAE of the statement."""
    entry = signers["RU"].entry(datetime(2026, 1, 1, tzinfo=UTC))
    for n in range(70):
        statement = bytes((7 * i + n) % 256 for i in range(n)) + b"\xfb\xff\xbf" * (n % 3)
        envelope = seal(statement, signers["RU"])
        doc = json.loads(envelope)
        assert doc["payload"] == base64.b64encode(statement).decode()
        sig = base64.b64decode(doc["signatures"][0]["sig"], validate=True)
        expected = _Envelope(
            PAYLOAD_TYPE,
            base64.b64encode(statement).decode(),
            [_Signature(signers["RU"].key_id, base64.b64encode(sig).decode())],
        )
        assert envelope == msgspec.json.encode(expected)
        assert entry.verify(sig, pae(PAYLOAD_TYPE, statement))
