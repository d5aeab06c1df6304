"""JSON Schemas published in ``messages/schema/``: one per kind, the envelope, and the files
nrrc reads and writes (log line, observed-activity line, keyring, audit report).

``nrrc schema --export messages/schema`` regenerates them; a test fails when they drift from the
catalogue or the types. The file formats are generated from the msgspec types that decode them,
then given the constraints the readers check in code (constants, key id and base64 forms), so
that an independent JSON Schema validator accepts what nrrc reads and refuses what it refuses
on its own: what no schema can say (the hash chain, signatures, ``count == n`` of a checkpoint,
``valid_until`` after ``valid_from``) is in each schema's description.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import msgspec

from nrrc.audit.report_json import AuditDocument
from nrrc.envelope import PAYLOAD_TYPE
from nrrc.keys import KEYRING_FORMAT, KeyringWire
from nrrc.messages import MessageTypes
from nrrc.msglog import GENESIS, LOG_FORMAT, LogLine
from nrrc.observed import OBSERVED_FORMAT, ObservedLine
from nrrc.patterns import nested_dicts, publish_patterns

__all__ = [
    "ENVELOPE_SCHEMA",
    "FILE_SCHEMAS",
    "export_schemas",
    "file_schema",
    "kind_schema",
    "schema_files",
]

_ROOT = "https://json-schema.org/draft/2020-12/schema"
_KEY_ID = "^[A-Z][A-Z0-9]{1,15}-[0-9a-f]{16}$"
# Canonical standard base64 with padding: the bits a last character before '=' leaves unused
# are zero (after two characters and '==' it is one of A Q g w; after three and '=', a
# character whose value is a multiple of 4), so each byte string has exactly one text.
_B64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)?$"
_SIG = "^[A-Za-z0-9+/]{85}[AQgw]==$"
"""An Ed25519 signature: 64 bytes, 88 characters."""
_PUBLIC_KEY = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
"""An Ed25519 public key: 32 bytes, 44 characters."""

ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://nrrc.example/schema/envelope.json",
    "title": "nrrc signed envelope (DSSE with one Ed25519 signature)",
    "description": (
        "payload is the canonical standard base64 (with padding, unused bits zero) of the "
        "statement bytes; sig is the "
        "Ed25519 signature over PAE(payloadType, statement bytes) as defined by DSSE: "
        "'DSSEv1' SP len(type) SP type SP len(payload) SP payload. The statement validates "
        "against the schema of its kind."
    ),
    "type": "object",
    "properties": {
        "payloadType": {"const": PAYLOAD_TYPE},
        "payload": {
            "type": "string",
            "pattern": _B64,
            "contentEncoding": "base64",
            "contentMediaType": "application/json",
        },
        "signatures": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "keyid": {"type": "string", "pattern": _KEY_ID},
                    "sig": {
                        "type": "string",
                        "pattern": _SIG,
                        "contentEncoding": "base64",
                    },
                },
                "required": ["keyid", "sig"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["payloadType", "payload", "signatures"],
    "additionalProperties": False,
}
publish_patterns(ENVELOPE_SCHEMA)


def _generated(types: Any, name: str, title: str, description: str) -> dict[str, Any]:
    """msgspec's schema of ``types`` as a published root: docstrings dedented, definitions
    without msgspec's titles (:func:`file_schema` then writes its patterns as published)."""
    generated: dict[str, Any] = msgspec.json.schema(types)
    defs: dict[str, Any] = generated.pop("$defs")
    for d in defs.values():
        d.pop("title", None)
    doc: dict[str, Any] = {
        "$schema": _ROOT,
        "$id": f"https://nrrc.example/schema/{name}.json",
        "title": title,
        "description": description,
        **generated,
        "$defs": defs,
    }
    _dedent(doc)
    return doc


def _dedent(node: Any) -> None:
    for d in nested_dicts(node):
        text = d.get("description")
        if isinstance(text, str):
            d["description"] = inspect.cleandoc(text)


def _constrain(doc: dict[str, Any], where: str, field: str, **constraints: Any) -> None:
    """Add ``constraints`` to property ``field`` of definition ``where`` (which must exist:
    a renamed field fails here, not silently in the published file)."""
    prop = doc["$defs"][where]["properties"][field]
    prop.update(constraints)


def _log_line_schema() -> dict[str, Any]:
    doc = _generated(
        LogLine,
        "log-line",
        f"nrrc message log line ({LOG_FORMAT})",
        "One line of an nrrc message log (JSON Lines, UTF-8, one JSON object per line, "
        "ending in a newline). Line 1 is the header; every later line has n equal to its "
        "line number minus 1 and prev equal to the lowercase hex SHA-256 of the previous "
        "line's bytes without its newline. sent and received records hold the envelope's "
        "exact text (envelope; envelope_b64 is the standard base64 of its bytes when they are "
        "not UTF-8); rejected records also give the reason. A checkpoint has count equal to n "
        "and head equal to prev; sig is the standard base64 of the owner's Ed25519 signature "
        "over DSSE PAE('application/vnd.nrrc.checkpoint; version=1', text), where text is "
        "'nrrc-checkpoint/1', owner, n, head and at joined by newlines, in UTF-8; at is "
        "converted to UTC and written YYYY-MM-DDTHH:MM:SSZ, with .ffffff (six digits) before "
        "the Z when it has microseconds. A closed log ends with a checkpoint. nrrc verify "
        "checks what a schema cannot.",
    )
    _constrain(doc, "Header", "n", const=0)
    _constrain(doc, "Header", "prev", const=GENESIS)
    _constrain(doc, "Header", "format", const=LOG_FORMAT)
    for record in ("Sent", "Received", "Rejected", "Checkpoint"):
        _constrain(doc, record, "n", minimum=1)
    for record in ("Sent", "Received", "Rejected"):
        _constrain(
            doc,
            record,
            "envelope_b64",
            anyOf=[{"type": "string", "pattern": _B64}, {"type": "null"}],
        )
    _constrain(doc, "Checkpoint", "count", minimum=1)
    _constrain(doc, "Checkpoint", "key_id", pattern=_KEY_ID)
    _constrain(doc, "Checkpoint", "sig", pattern=_SIG, contentEncoding="base64")
    return doc


def _observed_line_schema() -> dict[str, Any]:
    doc = _generated(
        ObservedLine,
        "observed-line",
        f"nrrc observed-activity log line ({OBSERVED_FORMAT})",
        "One line of an observed-activity log (JSON Lines, UTF-8): what actually happened, "
        "as nrrc audit --observed reads it. Line 1 is the header; each later line is an "
        "activity (a launch, an exercise start ..., with the party, the instant, and where "
        "and how large it was in attributes) or a fault the simulator injected, with the "
        "finding codes it should produce.",
    )
    _constrain(doc, "ObservedHeader", "format", const=OBSERVED_FORMAT)
    return doc


def _keyring_schema() -> dict[str, Any]:
    doc = _generated(
        KeyringWire,
        "keyring",
        f"nrrc keyring ({KEYRING_FORMAT})",
        "The public keys an nrrc centre or auditor trusts: the only source of trust. "
        "public_key is the standard base64 of the raw 32-byte Ed25519 public key; key_id is "
        "the centre, a dash and the first 16 hex digits of the SHA-256 of those 32 bytes; "
        "valid_until (exclusive), when given, lies after valid_from (inclusive).",
    )
    _constrain(doc, "KeyringWire", "format", const=KEYRING_FORMAT)
    _constrain(doc, "KeyEntryWire", "key_id", pattern=_KEY_ID)
    _constrain(doc, "KeyEntryWire", "public_key", pattern=_PUBLIC_KEY)
    return doc


def _audit_report_schema() -> dict[str, Any]:
    # Objects stay open to keys added by later versions (no additionalProperties: false).
    return _generated(
        AuditDocument,
        "audit-report",
        "nrrc audit report (nrrc-audit/1)",
        "What nrrc audit --format json writes: findings against the agreements' rules, each "
        "with its evidence, the measured value against the bound and the source's "
        "verification status. Every key is always present (null when a value does not "
        "apply). New keys may be added in later versions of nrrc-audit/1; existing keys "
        "never change meaning or type.",
    )


FILE_SCHEMAS = {
    "log-line": _log_line_schema,
    "observed-line": _observed_line_schema,
    "keyring": _keyring_schema,
    "audit-report": _audit_report_schema,
}
"""Name -> builder of the schema of each file format nrrc reads or writes."""


def file_schema(name: str) -> dict[str, Any]:
    """The schema of a file format (see :data:`FILE_SCHEMAS`); KeyError when unknown."""
    doc = FILE_SCHEMAS[name]()
    publish_patterns(doc)  # including the constraints added after generating
    return doc


def kind_schema(types: MessageTypes, kind: str) -> dict[str, Any]:
    """The schema of ``kind``, of the envelope (``envelope``) or of a file format
    (:data:`FILE_SCHEMAS`); KeyError when unknown."""
    if kind == "envelope":
        return ENVELOPE_SCHEMA
    if kind in FILE_SCHEMAS:
        return file_schema(kind)
    return types.schema(kind)


def schema_files(types: MessageTypes) -> dict[str, bytes]:
    """File name -> content of every published schema."""
    files = {"envelope.json": ENVELOPE_SCHEMA}
    files.update({f"{name}.json": file_schema(name) for name in FILE_SCHEMAS})
    files.update({f"{kind}.json": types.schema(kind) for kind in sorted(types.statements)})
    return {
        name: (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        for name, doc in files.items()
    }


def export_schemas(types: MessageTypes, directory: Path) -> list[Path]:
    """Write every schema into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in schema_files(types).items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written
