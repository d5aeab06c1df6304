"""Signed envelopes: DSSE (Dead Simple Signing Envelope) carrying a statement, signed with Ed25519.

Wire format (compact JSON, one object)::

    {"payloadType": "application/vnd.nrrc.statement+json; version=1",
     "payload": "<standard base64, with padding, of the statement bytes>",
     "signatures": [{"keyid": "US-3f1c9a0b2d4e6f70", "sig": "<standard base64 of 64 bytes>"}]}

The signature is Ed25519 over DSSE's pre-authentication encoding (PAE)::

    "DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload

where LEN is the ASCII decimal byte length and ``payload`` the raw statement bytes. The fixed
payload type separates these signatures from any other use of the key. A verifier checks the
exact bytes that travelled: it never re-encodes the statement. Exactly one signature is allowed,
and only canonical base64 is accepted, so that no two distinct envelopes carry the same content.
No object of the envelope or of the statement may write a key twice (readers disagree on which
value counts): such an envelope is malformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import random
import string
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from nrrc.errors import (
    BadSignature,
    InvalidPayload,
    KeyNotOwnedBySender,
    KeyNotValidAt,
    MalformedEnvelope,
    NotAddressedToUs,
    UnknownKey,
)
from nrrc.exactforms import DuplicateKey, duplicate_key, may_escape_a_colon
from nrrc.keys import KeyEntry, Keyring, Signer
from nrrc.messages import MessageTypes, ReplyRef, Statement, StatementHeader
from nrrc.timeutil import format_instant, to_utc

__all__ = [
    "PAYLOAD_TYPE",
    "Opened",
    "Verifier",
    "compose",
    "digest",
    "new_message_id",
    "pae",
    "seal",
]

PAYLOAD_TYPE = "application/vnd.nrrc.statement+json; version=1"
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_UUID_KEEP = ~(0xF0 << 72 | 0xC0 << 56) & (1 << 128) - 1
_UUID_SET = 0x70 << 72 | 0x80 << 56


class _Signature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    keyid: str
    sig: str


class _Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    payload_type: str
    payload: str
    signatures: list[_Signature]


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_envelope_encoder = msgspec.json.Encoder()
_ENVELOPE_FIXED = len(
    _envelope_encoder.encode(_Envelope(PAYLOAD_TYPE, "", [_Signature(keyid="", sig="")]))
)
"""Length of the shortest JSON text of an envelope with one signature and an empty payload,
key id and signature (no spaces, each key once, strings without escapes)."""
_ENVELOPE_COLONS = 3 + 2 + PAYLOAD_TYPE.count(":")
"""Colons of such an envelope outside its payload, key id and signature: one per key and those
of the payload type."""


def _refuse_duplicate_keys(envelope: bytes, env: _Envelope) -> None:
    """Raise ``MalformedEnvelope`` when an object of ``envelope`` (decoded as ``env``, with one
    signature and the nrrc payload type) writes a key twice.

    Outside keys a colon stands only in a string, and only ``\\u003a`` writes one other than
    as itself: without it, the envelope has exactly the colons of its five keys and of its
    strings unless a key was written twice (the member dropped leaves its colon at least)."""
    signature = env.signatures[0]
    colons = (
        _ENVELOPE_COLONS
        + env.payload.count(":")
        + signature.keyid.count(":")
        + signature.sig.count(":")
    )
    if envelope.count(b":") != colons or may_escape_a_colon(envelope):
        words = duplicate_key(envelope)
        if words is not None:
            raise MalformedEnvelope(f"envelope: {words}")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding of ``payload`` under ``payload_type``."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


_PAE_PREFIX = b"DSSEv1 %d %s " % (len(PAYLOAD_TYPE.encode()), PAYLOAD_TYPE.encode())


def digest(statement_bytes: bytes) -> str:
    """SHA-256 (hex) of a statement's exact bytes: what ``in_reply_to.digest`` names."""
    return hashlib.sha256(statement_bytes).hexdigest()


def new_message_id(at: datetime, rand: Callable[[int], bytes] | random.Random | None = None) -> str:
    """A UUIDv7 (RFC 9562) whose time part is ``at`` in milliseconds.

    ``rand`` supplies the 74 random bits: a ``random.Random`` for deterministic simulations,
    or by default the operating system's randomness.
    """
    if at.tzinfo is not UTC:
        at = to_utc(at)  # refuses a naive datetime
    # Integer arithmetic: exact for every datetime, unlike a float timestamp.
    ms = (at - _UNIX_EPOCH) // _MILLISECOND
    if ms < 0:
        raise ValueError(f"expected an instant from 1970 on for a UUIDv7, found {at.isoformat()}")
    if isinstance(rand, random.Random):
        # 48 bits of milliseconds, then the random bits with the version (7) in the top nibble
        # of byte 6 and the variant (0b10) in the top bits of byte 8.
        h = "%032x" % ((ms << 80 | rand.getrandbits(80)) & _UUID_KEEP | _UUID_SET)
    else:
        bits = rand(10) if rand is not None else os.urandom(10)
        value = bytearray(ms.to_bytes(6, "big") + bits)
        value[6] = 0x70 | (value[6] & 0x0F)
        value[8] = 0x80 | (value[8] & 0x3F)
        h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def seal(statement_bytes: bytes, signer: Signer) -> bytes:
    """Sign ``statement_bytes`` and return the envelope's exact bytes."""
    sig = signer.sign(_PAE_PREFIX + b"%d %s" % (len(statement_bytes), statement_bytes))
    # The bytes msgspec would write for an _Envelope, assembled directly (base64 text needs no
    # JSON escaping; the key id is encoded by msgspec once per key). msgspec writes bytes as a
    # JSON string of their standard base64 with padding, faster than binascii.
    keyid = _KEYID_JSON.get(signer.key_id)
    if keyid is None:
        if len(_KEYID_JSON) > 4096:
            _KEYID_JSON.clear()
        keyid = _KEYID_JSON[signer.key_id] = _envelope_encoder.encode(signer.key_id)
    b64_json = _envelope_encoder.encode
    return b"".join(
        (
            _ENVELOPE_HEAD,
            b64_json(statement_bytes),
            b',"signatures":[{"keyid":',
            keyid,
            b',"sig":',
            b64_json(sig),
            b"}]}",
        )
    )


_KEYID_JSON: dict[str, bytes] = {}
_ENVELOPE_HEAD = b'{"payloadType":%s,"payload":' % _envelope_encoder.encode(PAYLOAD_TYPE)


_B64_VALUE = {
    c: i for i, c in enumerate(string.ascii_uppercase + string.ascii_lowercase + "0123456789+/")
}


_b64_json = msgspec.json.Decoder(bytes).decode


_TOO_DEEP = "expected JSON nested at most a few hundred levels deep, found deeper nesting"


def _b64(text: str, what: str) -> bytes:
    """Decode canonical standard base64 (the audit's hot path: twice per envelope).

    Strict decoding already refuses other characters, missing or misplaced padding and data
    after it; what remains non-canonical is a last character with pad bits set ("QR==" decodes
    like "QQ=="), checked here without re-encoding the whole text.
    """
    raw: bytes | None = None
    if "\\" not in text:
        # msgspec's base64 decoder is twice as fast as binascii's strict mode and accepts no
        # text that strict mode refuses (a JSON escape inside the quotes could smuggle one in:
        # hence no backslash); strict mode still names what is wrong with refused text.
        try:
            raw = _b64_json(f'"{text}"')
        except (msgspec.DecodeError, msgspec.ValidationError):
            raw = None
    if raw is None:
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedEnvelope(
                f"$.{what}: expected standard base64, found invalid text"
            ) from exc
    if text.endswith("="):
        pad_bits = 0x0F if text.endswith("==") else 0x03
        last = text[-3] if pad_bits == 0x0F else text[-2]
        if _B64_VALUE[last] & pad_bits:
            raise MalformedEnvelope(
                f"$.{what}: expected canonical standard base64 (with padding, "
                "zero pad bits), found a non-canonical encoding"
            )
    return raw


class Opened(msgspec.Struct, frozen=True):
    """An envelope that passed every check (a frozen msgspec Struct: made once per message on
    every hot path, it costs a fifth of a frozen dataclass to build)."""

    envelope: bytes
    statement_bytes: bytes
    statement: Statement
    key_id: str

    @property
    def digest(self) -> str:
        """SHA-256 of the statement bytes."""
        return digest(self.statement_bytes)

    def reply_ref(self) -> ReplyRef:
        """A reference to this message for ``in_reply_to``."""
        return ReplyRef(id=self.statement.id, digest=self.digest)


class Verifier:
    """Checks envelopes against a keyring and the catalogue's types.

    Args:
        keyring: the trusted keys; the only source of trust.
        types: statement types of the catalogue.
        centre: when given, an envelope must be addressed to this centre or to one of
            ``regimes``; otherwise any recipient is accepted (auditing).
        regimes: regime ids (e.g. ``hcoc``) this centre belongs to.
    """

    def __init__(
        self,
        keyring: Keyring,
        types: MessageTypes,
        *,
        centre: str | None = None,
        regimes: Collection[str] = (),
    ) -> None:
        self.keyring = keyring
        self.types = types
        self.centre = centre
        self.regimes = frozenset(regimes)

    def open(self, envelope: bytes, *, check_signature: bool = True) -> Opened:
        """Verify ``envelope`` and decode its statement.

        The checks run in this order and the first failure raises its own error:
        malformed envelope (a key written twice included), unknown key, bad signature,
        malformed statement (a key written twice) or statement header, key not owned by the
        sender, key not valid at sent-at, not addressed to this centre,
        payload not valid for its kind.
        """
        try:
            env = _envelope_decoder.decode(envelope)
        except msgspec.ValidationError as exc:
            raise MalformedEnvelope(f"{exc}") from exc
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise MalformedEnvelope(f"expected a JSON DSSE envelope: {exc}") from exc
        except RecursionError as exc:
            raise MalformedEnvelope(_TOO_DEEP) from exc
        if env.payload_type != PAYLOAD_TYPE:
            raise MalformedEnvelope(
                f"$.payloadType: expected {PAYLOAD_TYPE!r}, found {env.payload_type[:80]!r}"
            )
        if len(env.signatures) != 1:
            raise MalformedEnvelope(
                f"$.signatures: expected exactly one signature, found {len(env.signatures)}"
            )
        signature = env.signatures[0]
        # Duplicate keys. Without a backslash every string of the envelope is written as its
        # own characters, so the envelope is at least _ENVELOPE_FIXED bytes (its keys, once
        # each, and punctuation) plus its ASCII strings; a key written twice adds a member and
        # bytes. Equal length clears it: a few O(1) checks and one memchr.
        payload, keyid, sig_text = env.payload, signature.keyid, signature.sig
        if (
            len(envelope) != _ENVELOPE_FIXED + len(payload) + len(keyid) + len(sig_text)
            or 0x5C in envelope
            or not (payload.isascii() and keyid.isascii() and sig_text.isascii())
        ):
            _refuse_duplicate_keys(envelope, env)
        statement_bytes = _b64(env.payload, "payload")
        sig = _b64(signature.sig, "signatures[0].sig")
        entry = self.keyring.get(signature.keyid)
        if entry is None:
            raise UnknownKey(f"key id {signature.keyid[:80]!r} is not in the keyring")
        if check_signature and (
            len(sig) != 64
            or not entry.verify(
                sig, _PAE_PREFIX + b"%d %s" % (len(statement_bytes), statement_bytes)
            )
        ):
            raise BadSignature(
                f"the signature does not verify with key {entry.key_id} of {entry.centre}"
            )
        try:
            statement = self.types.decode(statement_bytes)
        except DuplicateKey as exc:
            raise MalformedEnvelope(f"statement: {exc}") from exc
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self._classify(statement_bytes, entry, exc)
            raise  # pragma: no cover - _classify always raises
        except RecursionError as exc:
            raise MalformedEnvelope(f"statement: {_TOO_DEEP}") from exc
        # The usual case checked inline; _check_header names whichever check fails.
        recipient = statement.recipient
        if (
            entry.centre != statement.sender
            or not entry.valid_at(statement.sent_at)
            or (
                self.centre is not None
                and recipient != self.centre
                and recipient not in self.regimes
            )
        ):
            self._check_header(statement, entry)
        return Opened(envelope, statement_bytes, statement, entry.key_id)

    def _check_header(self, statement: Statement | StatementHeader, entry: KeyEntry) -> None:
        key_id = entry.key_id
        if entry.centre != statement.sender:
            raise KeyNotOwnedBySender(
                f"key {key_id} belongs to {entry.centre}, but the sender is {statement.sender}",
                message_id=statement.id,
            )
        # Aware datetimes compare as instants whatever their offsets: no conversion needed.
        if not entry.valid_at(statement.sent_at):
            raise KeyNotValidAt(
                f"key {key_id} is valid {entry.validity_words()}; the message "
                f"was sent at {format_instant(statement.sent_at)}",
                message_id=statement.id,
            )
        if (
            self.centre is not None
            and statement.recipient != self.centre
            and statement.recipient not in self.regimes
        ):
            regimes = f" or its regimes {', '.join(sorted(self.regimes))}" if self.regimes else ""
            raise NotAddressedToUs(
                f"addressed to {statement.recipient}, not to {self.centre}{regimes}",
                message_id=statement.id,
            )

    def _classify(self, statement_bytes: bytes, entry: KeyEntry, exc: Exception) -> None:
        """Turn a failed statement decode into the right error."""
        try:
            header = self.types.decode_header(statement_bytes)
        except (msgspec.ValidationError, msgspec.DecodeError) as inner:
            raise MalformedEnvelope(f"statement header: {inner}") from exc
        except RecursionError:
            raise MalformedEnvelope(f"statement: {_TOO_DEEP}") from exc
        # The header is well formed: ownership, validity and addressing come before the payload.
        self._check_header(header, entry)
        if header.kind not in self.types.statements:
            raise InvalidPayload(
                f"$.kind: unknown kind {header.kind[:80]!r}", message_id=header.id
            ) from exc
        text = str(exc)
        where = text.rsplit(" - at ", 1)
        detail = f"{where[0]} - at {where[1]}" if len(where) == 2 else text
        raise InvalidPayload(f"{header.kind}: {detail}", message_id=header.id) from exc

    def decode_unverified(self, envelope: bytes) -> dict[str, Any]:
        """Best-effort view of an envelope's statement for reports (no trust implied)."""
        try:
            env = _envelope_decoder.decode(envelope)
            data = msgspec.json.decode(base64.b64decode(env.payload))
        except (msgspec.DecodeError, binascii.Error, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}


def compose(
    types: MessageTypes,
    signer: Signer,
    kind: str,
    *,
    recipient: str,
    sent_at: datetime,
    epoch: int,
    seq: int,
    payload: Any,
    in_reply_to: ReplyRef | None = None,
    rand: Callable[[int], bytes] | random.Random | None = None,
) -> Opened:
    """Build, validate, encode and sign a statement; returns it as an :class:`Opened`.

    Raises:
        KeyError: unknown kind.
        msgspec.ValidationError: the payload is not valid for its kind.
    """
    if sent_at.tzinfo is not UTC:
        sent_at = to_utc(sent_at)
    ms = (sent_at - _UNIX_EPOCH) // _MILLISECOND
    if ms >= 0 and isinstance(rand, random.Random):
        # What new_message_id does with a random.Random (simulations), without the call.
        h = "%032x" % ((ms << 80 | rand.getrandbits(80)) & _UUID_KEEP | _UUID_SET)
        message_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    else:
        message_id = new_message_id(sent_at, rand)
    if isinstance(payload, dict):
        payload = types.payload(kind, **payload)
    # What types.statement does, without its keyword plumbing: this runs for every message.
    statement: Statement = types.statements[kind](
        payload=payload,
        id=message_id,
        sender=signer.centre,
        recipient=recipient,
        sent_at=sent_at,
        epoch=epoch,
        seq=seq,
        in_reply_to=in_reply_to,
    )
    statement_bytes = types.encode(statement)
    return Opened(seal(statement_bytes, signer), statement_bytes, statement, signer.key_id)
