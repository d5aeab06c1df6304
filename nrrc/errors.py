"""One exception tree for the whole of nrrc.

Every error a user can cause by bad input is an :class:`NrrcError`, whose ``str()`` is one line
naming the file/line/field, what was expected and what was found. Third-party exceptions are
translated at the boundary with ``raise ... from exc``.

::

    NrrcError
    ├── CatalogueError          agreement TOML files (carries every problem found)
    ├── ScenarioError           scenario TOML files (carries every problem found)
    ├── KeyFileError            private key files, keyrings
    ├── LogError                message logs that cannot be read at all
    ├── AuditError              the audit could not run (no logs, unreadable input)
    ├── TransportError          broker / network failures
    └── EnvelopeError           an envelope was refused; ``reason`` is a stable code
        ├── MalformedEnvelope       not a well-formed signed envelope        (malformed)
        ├── UnknownKey              key id not in the keyring                  (unknown-key)
        ├── KeyNotOwnedBySender     key owned by another centre                (key-not-owned)
        ├── KeyNotValidAt           key not valid at sent-at                   (key-not-valid)
        ├── BadSignature            signature does not verify                  (bad-signature)
        ├── InvalidPayload          payload not valid for its kind             (invalid-payload)
        ├── NotAddressedToUs        not addressed to this centre or its regimes (misaddressed)
        └── ReplayedEnvelope        seen before, or older than the sender's sequence (replayed)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuditError",
    "BadSignature",
    "CatalogueError",
    "EnvelopeError",
    "InvalidPayload",
    "KeyFileError",
    "KeyNotOwnedBySender",
    "KeyNotValidAt",
    "LogError",
    "MalformedEnvelope",
    "NotAddressedToUs",
    "NrrcError",
    "Problem",
    "ReplayedEnvelope",
    "ScenarioError",
    "TransportError",
    "UnknownKey",
]


class NrrcError(Exception):
    """Base of every error nrrc raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a file: where it is and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class _ProblemsError(NrrcError):
    """An error carrying every problem found in one pass over a file."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        """One line per problem, for printing."""
        return [str(p) for p in self.problems]


class CatalogueError(_ProblemsError):
    """An agreement file is invalid; ``problems`` lists every mistake found."""


class ScenarioError(_ProblemsError):
    """A scenario file is invalid; ``problems`` lists every mistake found."""


class KeyFileError(NrrcError):
    """A private key file or keyring cannot be read or is invalid."""


class LogError(NrrcError):
    """A message log cannot be opened or read at all."""


class AuditError(NrrcError):
    """The audit could not run (exit code 2)."""


class TransportError(NrrcError):
    """The broker or the network failed."""


class EnvelopeError(NrrcError):
    """An envelope was refused. ``reason`` is a stable short code for logs and reports."""

    reason = "refused"

    def __init__(self, detail: str, *, message_id: str | None = None) -> None:
        self.detail = detail
        self.message_id = message_id
        super().__init__(f"{self.reason}: {detail}")


class MalformedEnvelope(EnvelopeError):
    """The bytes are not a well-formed signed envelope."""

    reason = "malformed"


class UnknownKey(EnvelopeError):
    """The envelope's key id is not in the keyring."""

    reason = "unknown-key"


class KeyNotOwnedBySender(EnvelopeError):
    """The key exists but the keyring says another centre owns it."""

    reason = "key-not-owned"


class KeyNotValidAt(EnvelopeError):
    """The key was not valid at the envelope's sent-at instant."""

    reason = "key-not-valid"


class BadSignature(EnvelopeError):
    """The Ed25519 signature does not verify over the exact payload bytes."""

    reason = "bad-signature"


class InvalidPayload(EnvelopeError):
    """The payload is not valid for its kind (or the kind is unknown)."""

    reason = "invalid-payload"


class NotAddressedToUs(EnvelopeError):
    """The envelope is addressed neither to this centre nor to a regime it belongs to."""

    reason = "misaddressed"


class ReplayedEnvelope(EnvelopeError):
    """The envelope was seen before, or its sequence number is behind the sender's."""

    reason = "replayed"
