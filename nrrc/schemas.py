"""JSON Schemas published in ``messages/schema/``: one per kind, plus the envelope and log line.

``nrrc schema --export messages/schema`` regenerates them; a test fails when they drift from the
catalogue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nrrc.envelope import PAYLOAD_TYPE
from nrrc.messages import MessageTypes

__all__ = ["ENVELOPE_SCHEMA", "export_schemas", "kind_schema", "schema_files"]

ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://nrrc.example/schema/envelope.json",
    "title": "nrrc signed envelope (DSSE with one Ed25519 signature)",
    "description": (
        "payload is the standard base64 (with padding) of the statement bytes; sig is the "
        "Ed25519 signature over PAE(payloadType, statement bytes) as defined by DSSE: "
        "'DSSEv1' SP len(type) SP type SP len(payload) SP payload. The statement validates "
        "against the schema of its kind."
    ),
    "type": "object",
    "properties": {
        "payloadType": {"const": PAYLOAD_TYPE},
        "payload": {
            "type": "string",
            "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
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
                    "keyid": {"type": "string", "pattern": "^[A-Z][A-Z0-9]{1,15}-[0-9a-f]{16}$"},
                    "sig": {
                        "type": "string",
                        "pattern": "^[A-Za-z0-9+/]{86}==$",
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


def kind_schema(types: MessageTypes, kind: str) -> dict[str, Any]:
    """The schema of ``kind`` (or of the envelope, for ``envelope``); KeyError when unknown."""
    if kind == "envelope":
        return ENVELOPE_SCHEMA
    return types.schema(kind)


def schema_files(types: MessageTypes) -> dict[str, bytes]:
    """File name -> content of every published schema."""
    files = {"envelope.json": ENVELOPE_SCHEMA}
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
