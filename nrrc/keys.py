"""Ed25519 keys and the keyring, the only source of trust.

A centre's private key is a PKCS#8 PEM file written with mode 0600 and never logged. The keyring
is a JSON file mapping key ids to the owning centre, the raw public key and a validity period;
the key id in an envelope is only a hint for looking a key up here.

Keyring format (``nrrc-keyring/1``)::

    {"format": "nrrc-keyring/1",
     "keys": [{"key_id": "US-3f1c9a0b2d4e6f70", "centre": "US",
               "public_key": "<base64 of the 32 raw bytes>",
               "valid_from": "2026-01-01T00:00:00Z", "valid_until": null}]}

``valid_from`` is inclusive, ``valid_until`` exclusive (null: no end). A key written twice in
one object makes the file unreadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nrrc.errors import KeyFileError
from nrrc.exactforms import DuplicateKey, ExactForms, refuse_duplicate_keys
from nrrc.messages import CENTRE_PATTERN, published_pattern, python_pattern
from nrrc.timeutil import format_instant, to_utc

__all__ = [
    "KEYRING_FORMAT",
    "KeyEntry",
    "KeyEntryWire",
    "Keyring",
    "KeyringWire",
    "Signer",
    "generate_key",
    "key_id_for",
    "load_private_key",
    "write_private_key",
]

KEYRING_FORMAT = "nrrc-keyring/1"
_log = logging.getLogger("nrrc.keys")
_CENTRE = re.compile(CENTRE_PATTERN)


def key_id_for(centre: str, public_key: bytes) -> str:
    """``<centre>-<first 16 hex digits of SHA-256 of the raw public key>``."""
    return f"{centre}-{hashlib.sha256(public_key).hexdigest()[:16]}"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class KeyEntryWire(msgspec.Struct, forbid_unknown_fields=True):
    """One trusted public key, as the keyring file gives it."""

    key_id: str
    centre: Annotated[str, msgspec.Meta(pattern=python_pattern(CENTRE_PATTERN))]
    public_key: str
    valid_from: Annotated[datetime, msgspec.Meta(tz=True)]
    valid_until: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class KeyringWire(msgspec.Struct, forbid_unknown_fields=True):
    """A keyring file (the published schema is generated from this type)."""

    format: str
    keys: list[KeyEntryWire]


_exact_keyring = ExactForms(KeyringWire)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A trusted public key: who owns it and when it is valid."""

    key_id: str
    centre: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None = None
    _verifier: Ed25519PublicKey = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_verifier", Ed25519PublicKey.from_public_bytes(self.public_key))

    def valid_at(self, instant: datetime) -> bool:
        """Whether the key is valid at ``instant`` (from inclusive, until exclusive)."""
        if instant < self.valid_from:
            return False
        return self.valid_until is None or instant < self.valid_until

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message`` by this key."""
        try:
            self._verifier.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def validity_words(self) -> str:
        """``from 2026-01-01 00:00:00 UTC until 2027-01-01 00:00:00 UTC`` (or ``, no end``)."""
        end = format_instant(self.valid_until) if self.valid_until else "no end"
        return f"from {format_instant(self.valid_from)} until {end}"


class Keyring:
    """Trusted public keys by key id."""

    def __init__(self, entries: Iterable[KeyEntry] = ()) -> None:
        self._entries: dict[str, KeyEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: KeyEntry) -> None:
        """Trust ``entry``; a second entry with the same key id must be identical."""
        existing = self._entries.get(entry.key_id)
        if existing is not None and existing != entry:
            raise KeyFileError(f"key {entry.key_id}: already in the keyring with other details")
        self._entries[entry.key_id] = entry

    def get(self, key_id: str) -> KeyEntry | None:
        """The entry for ``key_id`` or None."""
        return self._entries.get(key_id)

    def for_centre(self, centre: str) -> list[KeyEntry]:
        """Every key of ``centre``, oldest first."""
        return sorted(
            (e for e in self._entries.values() if e.centre == centre),
            key=lambda e: (e.valid_from, e.key_id),
        )

    def centres(self) -> list[str]:
        """Every centre that owns a key, sorted."""
        return sorted({e.centre for e in self._entries.values()})

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.centre, e.valid_from)))

    def __len__(self) -> int:
        return len(self._entries)

    def merge(self, other: Keyring) -> None:
        """Add every entry of ``other``."""
        for entry in other:
            self.add(entry)

    # -- files -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        """Read a keyring file.

        Raises:
            KeyFileError: naming the file, the entry and the field that is wrong.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read the keyring: {exc.strerror or exc}") from exc
        try:
            # A key written twice in one object: which value counts depends on the reader.
            refuse_duplicate_keys(raw)
        except DuplicateKey as exc:
            raise KeyFileError(f"{path}: {exc}") from exc
        try:
            wire = msgspec.json.decode(raw, type=KeyringWire)
            _exact_keyring.check(raw)  # valid_from / valid_until as RFC 3339 requires
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise KeyFileError(
                f"{path}: expected a JSON keyring ({KEYRING_FORMAT}): {published_pattern(str(exc))}"
            ) from exc
        if wire.format != KEYRING_FORMAT:
            raise KeyFileError(
                f"{path}: $.format: expected {KEYRING_FORMAT!r}, found {wire.format!r}"
            )
        ring = cls()
        for i, e in enumerate(wire.keys):
            where = f"{path}: $.keys[{i}]"
            try:
                public = base64.b64decode(e.public_key, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise KeyFileError(
                    f"{where}.public_key: expected base64 of 32 bytes, found {e.public_key[:20]!r}"
                ) from exc
            if base64.b64encode(public).decode("ascii") != e.public_key:
                raise KeyFileError(
                    f"{where}.public_key: expected canonical standard base64 (with padding, "
                    f"unused bits zero), found {e.public_key[:60]!r}"
                )
            if len(public) != 32:
                raise KeyFileError(
                    f"{where}.public_key: expected 32 bytes (Ed25519), found {len(public)}"
                )
            if e.valid_until is not None and e.valid_until <= e.valid_from:
                raise KeyFileError(
                    f"{where}.valid_until: expected an instant after valid_from "
                    f"({format_instant(e.valid_from)}), found {format_instant(e.valid_until)}"
                )
            if e.key_id != key_id_for(e.centre, public):
                raise KeyFileError(
                    f"{where}.key_id: expected {key_id_for(e.centre, public)!r} "
                    f"(derived from centre and public key), found {e.key_id!r}"
                )
            try:
                ring.add(
                    KeyEntry(
                        e.key_id,
                        e.centre,
                        public,
                        to_utc(e.valid_from),
                        to_utc(e.valid_until) if e.valid_until else None,
                    )
                )
            except (ValueError, UnsupportedAlgorithm) as exc:
                raise KeyFileError(f"{where}.public_key: not a valid Ed25519 key: {exc}") from exc
            except KeyFileError as exc:
                raise KeyFileError(f"{where}: {exc}") from exc
        return ring

    def to_json(self) -> bytes:
        """The keyring file's content (pretty JSON, entries sorted)."""
        wire = KeyringWire(
            format=KEYRING_FORMAT,
            keys=[
                KeyEntryWire(
                    e.key_id,
                    e.centre,
                    base64.b64encode(e.public_key).decode(),
                    e.valid_from,
                    e.valid_until,
                )
                for e in self
            ],
        )
        return msgspec.json.format(msgspec.json.encode(wire), indent=2) + b"\n"

    def save(self, path: str | Path) -> None:
        """Write the keyring atomically (temporary file, fsync, rename)."""
        _atomic_write(Path(path), self.to_json(), mode=0o644)


def _atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True, slots=True)
class Signer:
    """A centre's private key with its key id. ``repr`` never shows the key."""

    centre: str
    key_id: str
    _private: Ed25519PrivateKey = field(repr=False)

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message``."""
        return self._private.sign(message)

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return _raw_public(self._private.public_key())

    def entry(self, valid_from: datetime, valid_until: datetime | None = None) -> KeyEntry:
        """A keyring entry for this key."""
        return KeyEntry(
            self.key_id,
            self.centre,
            self.public_key,
            to_utc(valid_from),
            to_utc(valid_until) if valid_until else None,
        )

    @classmethod
    def from_private(cls, centre: str, private: Ed25519PrivateKey) -> Signer:
        """Wrap a private key for ``centre``."""
        if not _CENTRE.fullmatch(centre):
            raise KeyFileError(
                f"centre id: expected capital letters and digits (e.g. 'US'), found {centre!r}"
            )
        return cls(centre, key_id_for(centre, _raw_public(private.public_key())), private)

    @classmethod
    def from_seed(cls, centre: str, seed: bytes) -> Signer:
        """A deterministic key from a 32-byte seed (simulations with a fixed seed)."""
        return cls.from_private(centre, Ed25519PrivateKey.from_private_bytes(seed))


def generate_key(centre: str) -> Signer:
    """A fresh random Ed25519 key for ``centre``."""
    return Signer.from_private(centre, Ed25519PrivateKey.generate())


def write_private_key(signer: Signer, path: str | Path) -> None:
    """Write the private key as PKCS#8 PEM, mode 0600, atomically; refuses to overwrite."""
    path = Path(path)
    if path.exists():
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a private key")
    pem = signer._private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    header = f"# nrrc private key of centre {signer.centre}, key id {signer.key_id}\n".encode()
    _atomic_write(path, header + pem, mode=0o600)


def load_private_key(path: str | Path, centre: str | None = None) -> Signer:
    """Read a private key file written by :func:`write_private_key` (or any Ed25519 PKCS#8 PEM).

    The centre comes from the file's comment line, or from ``centre``. A file that group or
    others may read is loaded with a warning on the ``nrrc.keys`` logger (``chmod 600``).

    Raises:
        KeyFileError: naming the file and what is wrong; the key itself is never printed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the private key: {exc.strerror or exc}") from exc
    if mode & 0o077 and os.name == "posix":
        # Warn, not refuse: keys made by other Ed25519 tools under a default umask are 0644.
        _log.warning(
            "%s: private key is accessible to group/others (mode %04o); chmod 600 %s",
            path,
            mode,
            shlex.quote(str(path)),
        )
    m = re.match(rb"# nrrc private key of centre ([A-Z][A-Z0-9]{1,15}),", raw)
    found_centre = m.group(1).decode() if m else None
    if centre and found_centre and centre != found_centre:
        raise KeyFileError(
            f"{path}: expected a key of centre {centre}, found one of {found_centre}"
        )
    owner = centre or found_centre
    if owner is None:
        raise KeyFileError(f"{path}: cannot tell which centre owns this key; pass the centre")
    start = raw.find(b"-----BEGIN")
    try:
        key = serialization.load_pem_private_key(raw[start:] if start >= 0 else raw, None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"{path}: expected an unencrypted Ed25519 private key in PKCS#8 PEM "
            "form, found something else"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"{path}: expected an Ed25519 private key, found a "
            f"{type(key).__name__.removeprefix('_')}"
        )
    return Signer.from_private(owner, key)
