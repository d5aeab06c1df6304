"""Broker credentials: one random password per centre, and the hashes brokers store.

The user name on the broker is the centre id, so a broker ACL that names ``%u`` (Mosquitto) or
the user (amqtt) binds the right to publish as a centre to that centre's password.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from nrrc.errors import KeyFileError
from nrrc.transport.topics import check_centre

__all__ = [
    "amqtt_password_file",
    "generate_passwords",
    "mosquitto_hash",
    "mosquitto_password_file",
    "read_password",
    "write_password",
]

_MOSQUITTO_ITERATIONS = 101
"""Iterations of PBKDF2-SHA512 in Mosquitto 2.0's ``$7$`` hashes (what mosquitto_passwd uses)."""


def generate_passwords(centres: Iterable[str]) -> dict[str, str]:
    """A fresh random password (32 URL-safe characters) for each centre."""
    return {check_centre(c): secrets.token_urlsafe(24) for c in sorted(set(centres))}


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2.0 ``$7$`` hash: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt."""
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _MOSQUITTO_ITERATIONS)
    return (
        f"$7${_MOSQUITTO_ITERATIONS}${base64.b64encode(salt).decode()}"
        f"${base64.b64encode(digest).decode()}"
    )


def mosquitto_password_file(passwords: Mapping[str, str]) -> str:
    """The text of a Mosquitto ``password_file`` for ``passwords`` (user name → password)."""
    return "".join(f"{user}:{mosquitto_hash(pw)}\n" for user, pw in sorted(passwords.items()))


def amqtt_password_file(passwords: Mapping[str, str]) -> str:
    """The text of an amqtt ``password_file``: Argon2id hashes (light parameters: loopback)."""
    from pwdlib.hashers.argon2 import Argon2Hasher

    # amqtt verifies whatever parameters a hash carries; light ones keep a 145-centre demo's
    # start-up fast. The broker listens on loopback only and the passwords are random.
    hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    return "".join(f"{user}:{hasher.hash(pw)}\n" for user, pw in sorted(passwords.items()))


def write_password(path: str | Path, password: str) -> None:
    """Write one centre's broker password to ``path``, mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    path.chmod(0o600)


def read_password(path: str | Path) -> str:
    """Read a password file written by :func:`write_password`.

    Raises:
        KeyFileError: naming the file when it cannot be read or is empty.
    """
    path = Path(path)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the broker password: {exc.strerror}") from exc
    if not text:
        raise KeyFileError(f"{path}: expected a broker password, found an empty file")
    return text
