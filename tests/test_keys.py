"""Keys and the keyring: private keys stay private, the keyring is the only source of trust."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nrrc.errors import KeyFileError
from nrrc.keys import (
    KEYRING_FORMAT,
    KeyEntry,
    Keyring,
    Signer,
    generate_key,
    key_id_for,
    load_private_key,
    write_private_key,
)

SEED = bytes(range(32))
FROM = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2027, 1, 1, tzinfo=UTC)


def private_forms(signer: Signer) -> list[bytes]:
    """Ways the private key could leak: raw seed (bytes, hex, base64) and the PEM body."""
    raw = signer._private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = signer._private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body = b"".join(pem.splitlines()[1:-1])
    return [raw, raw.hex().encode(), base64.b64encode(raw), body]


def test_key_id_is_the_centre_and_a_hash_of_the_public_key() -> None:
    """``<centre>-<first 16 hex digits of SHA-256(raw public key)>``."""
    signer = Signer.from_seed("US", SEED)
    expected = "US-" + hashlib.sha256(signer.public_key).hexdigest()[:16]
    assert signer.key_id == key_id_for("US", signer.public_key) == expected


def test_a_seed_gives_the_same_key_every_time() -> None:
    """Simulations with a fixed seed get the same keys and signatures."""
    a, b = Signer.from_seed("US", SEED), Signer.from_seed("US", SEED)
    assert (a.key_id, a.sign(b"x")) == (b.key_id, b.sign(b"x"))


def test_generated_keys_differ() -> None:
    """Fresh keys are random."""
    assert generate_key("US").public_key != generate_key("US").public_key


def test_a_bad_centre_id_is_refused() -> None:
    """Centre ids are capital letters and digits."""
    with pytest.raises(KeyFileError, match=r"centre id: expected capital letters.*found 'us'"):
        Signer.from_seed("us", SEED)


def test_repr_never_shows_the_private_key() -> None:
    """Neither repr nor str of a signer contains the private key in any usual encoding."""
    signer = Signer.from_seed("US", SEED)
    for text in (repr(signer), str(signer)):
        assert "US" in text
        for form in private_forms(signer):
            assert form.decode("latin-1") not in text


def test_private_key_file_is_mode_0600_and_loads_back(tmp_path: Path) -> None:
    """The file is readable by its owner only, and loading it gives the same key."""
    signer = Signer.from_seed("US", SEED)
    path = tmp_path / "US.key"
    write_private_key(signer, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_private_key(path)
    assert (loaded.centre, loaded.key_id) == ("US", signer.key_id)
    assert loaded.sign(b"m") == signer.sign(b"m")


def test_private_key_file_says_whose_key_it_is(tmp_path: Path) -> None:
    """The first line names the centre and key id, so the file explains itself."""
    signer = Signer.from_seed("US", SEED)
    write_private_key(signer, tmp_path / "US.key")
    first = (tmp_path / "US.key").read_text().splitlines()[0]
    assert first == f"# nrrc private key of centre US, key id {signer.key_id}"


def test_an_existing_private_key_is_never_overwritten(tmp_path: Path) -> None:
    """Writing over an existing key file is refused and the file is unchanged."""
    path = tmp_path / "US.key"
    write_private_key(Signer.from_seed("US", SEED), path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        write_private_key(generate_key("US"), path)
    assert path.read_bytes() == before


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    """The atomic write renames its temporary file into place."""
    write_private_key(Signer.from_seed("US", SEED), tmp_path / "US.key")
    assert [p.name for p in tmp_path.iterdir()] == ["US.key"]


def test_loading_a_key_of_another_centre_is_refused(tmp_path: Path) -> None:
    """Asking for RU's key from US's file fails naming both."""
    write_private_key(Signer.from_seed("US", SEED), tmp_path / "US.key")
    with pytest.raises(KeyFileError, match="expected a key of centre RU, found one of US"):
        load_private_key(tmp_path / "US.key", "RU")


def test_a_plain_pem_needs_the_centre(tmp_path: Path) -> None:
    """A PKCS#8 PEM without nrrc's comment line loads when the centre is given."""
    signer = Signer.from_seed("GB", SEED)
    pem = signer._private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "plain.pem"
    path.write_bytes(pem)
    with pytest.raises(KeyFileError, match="cannot tell which centre owns this key"):
        load_private_key(path)
    assert load_private_key(path, "GB").key_id == signer.key_id


def test_garbage_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A file that is not a key gives one line that does not print the file's content."""
    path = tmp_path / "US.key"
    path.write_bytes(b"# nrrc private key of centre US, x\nSECRET-LOOKING-TEXT\n")
    with pytest.raises(KeyFileError) as info:
        load_private_key(path)
    assert "expected an unencrypted Ed25519 private key in PKCS#8 PEM" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_a_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    """An EC key in PEM form is named as such."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="expected an Ed25519 private key, found a"):
        load_private_key(path, "US")


def test_a_missing_key_file_is_one_clear_error(tmp_path: Path) -> None:
    """No traceback for a path that does not exist."""
    with pytest.raises(KeyFileError, match=r"nope\.key: cannot read the private key"):
        load_private_key(tmp_path / "nope.key")


def test_validity_is_from_inclusive_until_exclusive() -> None:
    """A key is valid at its start instant and up to, not at, its end instant."""
    entry = Signer.from_seed("US", SEED).entry(FROM, UNTIL)
    second = timedelta(seconds=1)
    assert not entry.valid_at(FROM - second)
    assert entry.valid_at(FROM)
    assert entry.valid_at(UNTIL - second)
    assert not entry.valid_at(UNTIL)
    assert Signer.from_seed("US", SEED).entry(FROM).valid_at(datetime(9999, 1, 1, tzinfo=UTC))


def test_an_entry_verifies_its_own_signatures_only() -> None:
    """Ed25519 verification with the keyring entry."""
    signer = Signer.from_seed("US", SEED)
    entry = signer.entry(FROM)
    assert entry.verify(signer.sign(b"message"), b"message")
    assert not entry.verify(signer.sign(b"message"), b"messagE")
    assert not entry.verify(Signer.from_seed("US", bytes(32)).sign(b"message"), b"message")


def test_keyring_round_trips_through_its_file(tmp_path: Path) -> None:
    """Saved and loaded back: the same entries, validity included."""
    ring = Keyring(
        [
            Signer.from_seed("US", SEED).entry(FROM, UNTIL),
            Signer.from_seed("RU", bytes(32)).entry(FROM),
        ]
    )
    path = tmp_path / "ring" / "keyring.json"
    ring.save(path)
    loaded = Keyring.load(path)
    assert list(loaded) == list(ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    doc = json.loads(path.read_bytes())
    assert doc["format"] == KEYRING_FORMAT
    assert doc["keys"][1]["valid_until"] == "2027-01-01T00:00:00Z"
    assert doc["keys"][0]["valid_until"] is None


def test_keyring_never_contains_a_private_key(tmp_path: Path) -> None:
    """Only public halves go in the keyring."""
    signer = Signer.from_seed("US", SEED)
    data = Keyring([signer.entry(FROM)]).to_json()
    for form in private_forms(signer):
        assert form not in data


def test_keyring_queries() -> None:
    """Entries by id, by centre (oldest first), the centres, and merging."""
    old = Signer.from_seed("US", SEED).entry(FROM, UNTIL)
    new = Signer.from_seed("US", bytes(32)).entry(UNTIL)
    ru = Signer.from_seed("RU", bytes(range(1, 33))).entry(FROM)
    ring = Keyring([new, ru])
    ring.merge(Keyring([old]))
    assert ring.get(old.key_id) == old
    assert ring.get("US-0000000000000000") is None
    assert ring.for_centre("US") == [old, new]
    assert ring.centres() == ["RU", "US"]
    assert len(ring) == 3


def test_a_conflicting_entry_is_refused() -> None:
    """The same key id with other details cannot be trusted twice."""
    signer = Signer.from_seed("US", SEED)
    ring = Keyring([signer.entry(FROM)])
    ring.add(signer.entry(FROM))  # identical: fine
    with pytest.raises(KeyFileError, match="already in the keyring with other details"):
        ring.add(signer.entry(UNTIL))


def _ring_file(tmp_path: Path, **changes: object) -> Path:
    signer = Signer.from_seed("US", SEED)
    doc = json.loads(Keyring([signer.entry(FROM)]).to_json())
    for key, value in changes.items():
        if key == "format":
            doc["format"] = value
        elif key == "duplicate":
            doc["keys"].append({**doc["keys"][0], "valid_from": "2030-01-01T00:00:00Z"})
        else:
            doc["keys"][0][key] = value
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(doc))
    return path


# (test id, change to a valid keyring file, what the error must say)
BAD_KEYRINGS: list[tuple[str, dict[str, object], str]] = [
    ("format", {"format": "nrrc-keyring/2"}, r"\$\.format: expected 'nrrc-keyring/1'"),
    ("base64", {"public_key": "!!"}, r"\$\.keys\[0\]\.public_key: expected base64"),
    ("length", {"public_key": "AAAA"}, r"\$\.keys\[0\]\.public_key: expected 32 bytes"),
    ("key-id", {"key_id": "US-0000000000000000"}, r"\$\.keys\[0\]\.key_id: expected 'US-"),
    ("centre", {"centre": "us"}, r"Expected `str` matching regex .* - at `\$\.keys\[0\]\.centre`"),
    ("naive", {"valid_from": "2026-01-01T00:00:00"}, r"timezone.*\$\.keys\[0\]\.valid_from"),
    ("unknown-field", {"owner": "US"}, r"unknown field `owner`"),
    (
        "empty-validity",
        {"valid_until": "2026-01-01T00:00:00Z"},
        r"\$\.keys\[0\]\.valid_until: expected an instant after valid_from",
    ),
    ("conflict", {"duplicate": True}, r"\$\.keys\[1\]: key US-.*already in the keyring"),
]


@pytest.mark.parametrize(
    ("changes", "message"), [pytest.param(c, m, id=name) for name, c, m in BAD_KEYRINGS]
)
def test_bad_keyrings_name_the_file_entry_and_field(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    """Every mistake in a keyring file is one line with the file, the entry and the field."""
    path = _ring_file(tmp_path, **changes)
    with pytest.raises(KeyFileError) as info:
        Keyring.load(path)
    assert str(info.value).startswith(str(path))
    assert re.search(message, str(info.value)), str(info.value)


def test_a_keyring_that_is_not_json_is_refused(tmp_path: Path) -> None:
    """Not JSON, or not UTF-8: one clear line."""
    path = tmp_path / "keyring.json"
    for data in (b"{", b'{"format": "\xff"}'):
        path.write_bytes(data)
        with pytest.raises(KeyFileError, match=r"keyring\.json: expected a JSON keyring"):
            Keyring.load(path)


def test_a_missing_keyring_is_one_clear_error(tmp_path: Path) -> None:
    """No traceback for a keyring that does not exist."""
    with pytest.raises(KeyFileError, match="cannot read the keyring"):
        Keyring.load(tmp_path / "missing.json")


def test_entries_are_compared_without_their_verifier() -> None:
    """Two entries with the same details are equal (the cached verifier is not compared)."""
    raw = Signer.from_seed("US", SEED).public_key
    assert KeyEntry("US-x", "US", raw, FROM) == KeyEntry("US-x", "US", raw, FROM)
    assert "_verifier" not in repr(KeyEntry("US-x", "US", raw, FROM))
