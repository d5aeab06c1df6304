"""nrrc: simulated Nuclear Risk Reduction Centres and a compliance checker for their logs.

The public surface of the core, in one place::

    from nrrc import load_catalogue, MessageTypes, Signer, Keyring, compose, Verifier

    catalogue = load_catalogue()              # built-in agreements (+ your TOML files)
    types = MessageTypes(catalogue)           # one typed statement per message kind
    opened = compose(types, signer, "bmlna.launch_notice", recipient="US", ...)
    Verifier(keyring, types, centre="US").open(opened.envelope)

Importing ``nrrc`` is cheap and has no side effects: each name is imported from its module the
first time it is used (PEP 562), so ``import nrrc`` loads neither the catalogue nor the CLI nor
the cryptography backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nrrc.catalogue import (
        Agreement,
        Catalogue,
        Citation,
        FieldSpec,
        FieldType,
        Kind,
        MeasuredAt,
        Rule,
        RuleType,
        Severity,
        Verified,
        load_catalogue,
    )
    from nrrc.envelope import PAYLOAD_TYPE, Opened, Verifier, compose, new_message_id
    from nrrc.errors import (
        AuditError,
        BadSignature,
        CatalogueError,
        EnvelopeError,
        InvalidPayload,
        KeyFileError,
        KeyNotOwnedBySender,
        KeyNotValidAt,
        LogError,
        MalformedEnvelope,
        NotAddressedToUs,
        NrrcError,
        Problem,
        ReplayedEnvelope,
        ScenarioError,
        TransportError,
        UnknownKey,
    )
    from nrrc.keys import (
        KeyEntry,
        Keyring,
        Signer,
        generate_key,
        load_private_key,
        write_private_key,
    )
    from nrrc.messages import MessageTypes, ReplyRef, Statement
    from nrrc.msglog import FsyncPolicy, LogWriter
    from nrrc.timeutil import Duration, parse_duration
    from nrrc.verify import LogEntry, LogProblem, LogReport, scan_log, verify_log

__all__ = [
    "PAYLOAD_TYPE",
    "Agreement",
    "AuditError",
    "BadSignature",
    "Catalogue",
    "CatalogueError",
    "Citation",
    "Duration",
    "EnvelopeError",
    "FieldSpec",
    "FieldType",
    "FsyncPolicy",
    "InvalidPayload",
    "KeyEntry",
    "KeyFileError",
    "KeyNotOwnedBySender",
    "KeyNotValidAt",
    "Keyring",
    "Kind",
    "LogEntry",
    "LogError",
    "LogProblem",
    "LogReport",
    "LogWriter",
    "MalformedEnvelope",
    "MeasuredAt",
    "MessageTypes",
    "NotAddressedToUs",
    "NrrcError",
    "Opened",
    "Problem",
    "ReplayedEnvelope",
    "ReplyRef",
    "Rule",
    "RuleType",
    "ScenarioError",
    "Severity",
    "Signer",
    "Statement",
    "TransportError",
    "UnknownKey",
    "Verified",
    "Verifier",
    "compose",
    "generate_key",
    "load_catalogue",
    "load_private_key",
    "new_message_id",
    "parse_duration",
    "scan_log",
    "verify_log",
    "write_private_key",
]

_HOME = {
    "nrrc.catalogue": (
        "Agreement Catalogue Citation FieldSpec FieldType Kind MeasuredAt Rule RuleType "
        "Severity Verified load_catalogue"
    ),
    "nrrc.envelope": "PAYLOAD_TYPE Opened Verifier compose new_message_id",
    "nrrc.errors": (
        "AuditError BadSignature CatalogueError EnvelopeError InvalidPayload KeyFileError "
        "KeyNotOwnedBySender KeyNotValidAt LogError MalformedEnvelope NotAddressedToUs "
        "NrrcError Problem ReplayedEnvelope ScenarioError TransportError UnknownKey"
    ),
    "nrrc.keys": "KeyEntry Keyring Signer generate_key load_private_key write_private_key",
    "nrrc.messages": "MessageTypes ReplyRef Statement",
    "nrrc.msglog": "FsyncPolicy LogWriter",
    "nrrc.timeutil": "Duration parse_duration",
    "nrrc.verify": "LogEntry LogProblem LogReport scan_log verify_log",
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'nrrc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
