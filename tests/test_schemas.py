"""The published catalogue: JSON Schemas in messages/schema and examples in messages/examples.

The schemas are checked with the independent ``jsonschema`` library (Draft 2020-12, formats
asserted), so a peer written in another language that validates with them accepts exactly what
nrrc's own decoder accepts, for the examples and for statements Hypothesis generates.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import statements

from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.envelope import Verifier
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.schemas import ENVELOPE_SCHEMA, schema_files

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "messages" / "schema"
EXAMPLE_DIR = ROOT / "messages" / "examples"
SUFFIX = ".envelope.json"
EXAMPLES = sorted(p.name for p in EXAMPLE_DIR.glob(f"*{SUFFIX}"))

# RFC 3339 section 5.6 ``date-time``: an offset is required (``Z`` or ``+hh:mm``).
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def format_checker() -> jsonschema.FormatChecker:
    """jsonschema's checkers, plus a strict RFC 3339 ``date-time`` that needs no extra package.

    (jsonschema only asserts ``date-time`` when ``rfc3339-validator`` is installed; without it
    a naive datetime would pass silently, which is exactly what must not happen here.)
    """
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not RFC3339.match(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    @checker.checks("date", raises=ValueError)
    def is_date(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(date.fromisoformat(value))

    return checker


FORMATS = format_checker()


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for a published schema file (``envelope`` or a kind id)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_bytes())
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def errors(name: str, instance: Any) -> list[str]:
    """Every validation error of ``instance`` against a published schema."""
    return [e.message for e in validator(name).iter_errors(instance)]


@cache
def generator() -> ModuleType:
    """``messages/examples/generate.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location("generate", EXAMPLE_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_statement(name: str) -> tuple[bytes, dict[str, Any]]:
    """The statement bytes inside an example envelope, and as JSON."""
    envelope = json.loads((EXAMPLE_DIR / name).read_bytes())
    data = base64.b64decode(envelope["payload"])
    return data, json.loads(data)


# -- the schemas ----------------------------------------------------------------------------


def test_published_schemas_match_the_catalogue(types: MessageTypes) -> None:
    """messages/schema holds exactly what the catalogue generates now, byte for byte."""
    expected = schema_files(types)
    found = {p.name: p.read_bytes() for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(set(found) - set(expected))
    missing = sorted(set(expected) - set(found))
    changed = sorted(n for n in set(found) & set(expected) if found[n] != expected[n])
    assert not (stale or missing or changed), (
        f"messages/schema is out of date with the catalogue (changed: {changed}, missing: "
        f"{missing}, stale: {stale}); regenerate with `make schemas` "
        "(.venv/bin/nrrc schema --export messages/schema) and delete stale files"
    )


@pytest.mark.parametrize("name", sorted(p.stem for p in SCHEMA_DIR.glob("*.json")))
def test_every_schema_is_a_valid_2020_12_schema(name: str) -> None:
    """Each published file is a correct JSON Schema of the draft it declares."""
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_bytes())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_envelope_schema_is_published(types: MessageTypes) -> None:
    """``envelope.json`` is the DSSE envelope schema of nrrc.schemas."""
    assert json.loads((SCHEMA_DIR / "envelope.json").read_bytes()) == ENVELOPE_SCHEMA


# -- the examples ---------------------------------------------------------------------------


def test_every_kind_has_an_example(cat: Catalogue) -> None:
    """One example envelope per kind of the built-in catalogue, and nothing else."""
    assert sorted(n.removesuffix(SUFFIX) for n in EXAMPLES) == sorted(cat.kinds)


def test_regenerating_the_examples_gives_identical_bytes() -> None:
    """``generate.py`` is deterministic, and the committed files are its output."""
    built = generator().build(load_catalogue())
    on_disk = {p.name: p.read_bytes() for p in EXAMPLE_DIR.iterdir() if p.suffix == ".json"}
    assert set(built) == set(on_disk), (
        "messages/examples is out of date: run .venv/bin/python messages/examples/generate.py"
    )
    changed = sorted(name for name in built if built[name] != on_disk[name])
    assert not changed, f"regenerate messages/examples (generate.py); these differ: {changed}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_envelope_validates_against_the_envelope_schema(name: str) -> None:
    """The envelope's JSON satisfies envelope.json (payload and signature encodings included)."""
    assert errors("envelope", json.loads((EXAMPLE_DIR / name).read_bytes())) == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_statement_in_each_example_validates_against_its_kind_schema(name: str) -> None:
    """The signed statement inside validates against the schema of its kind."""
    _, statement = example_statement(name)
    assert statement["kind"] == name.removesuffix(SUFFIX)
    assert errors(statement["kind"], statement) == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_verifies_with_the_example_keyring(name: str, types: MessageTypes) -> None:
    """Each example opens at its recipient with nothing but the published keyring."""
    data = (EXAMPLE_DIR / name).read_bytes()
    assert data.endswith(b"}\n")
    _, statement = example_statement(name)
    recipient = statement["recipient"]
    ring = Keyring.load(EXAMPLE_DIR / "keyring.json")
    if recipient.isupper():
        verifier = Verifier(ring, types, centre=recipient)
    else:
        verifier = Verifier(ring, types, centre="DE", regimes={recipient})
    opened = verifier.open(data.removesuffix(b"\n"))
    assert opened.statement.kind == statement["kind"]


def test_example_keys_come_from_the_published_seeds() -> None:
    """The keyring's public keys are those of generate.py's fixed seeds."""
    module = generator()
    ring = Keyring.load(EXAMPLE_DIR / "keyring.json")
    for entry in ring:
        assert module.signer(entry.centre).key_id == entry.key_id


def test_example_replies_name_the_digest_of_what_they_answer() -> None:
    """``in_reply_to.digest`` is the SHA-256 hex of the answered example's statement bytes."""
    by_id = {}
    for name in EXAMPLES:
        data, statement = example_statement(name)
        by_id[statement["id"]] = hashlib.sha256(data).hexdigest()
    replies = 0
    for name in EXAMPLES:
        _, statement = example_statement(name)
        ref = statement.get("in_reply_to")
        if ref:
            replies += 1
            assert by_id[ref["id"]] == ref["digest"], name
    assert replies >= 2


# -- invalid statements are refused by both validators ----------------------------------------

NOTICE = "bmlna.launch_notice" + SUFFIX
PRIOR = "vd11.prior_notification" + SUFFIX
INSPECTION = "cfe.inspection_notice" + SUFFIX


def _edit(name: str, path: str, value: Any) -> dict[str, Any]:
    """An example statement with the value at a dotted path (``payload.x``) replaced or (for
    ``...``) deleted."""
    _, doc = example_statement(name)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


INVALID = [
    ("out-of-range-latitude", NOTICE, "payload.impact_areas.0.center.lat", 90.5),
    ("out-of-range-radius", NOTICE, "payload.impact_areas.0.radius", 0),
    ("unknown-payload-field", NOTICE, "payload.warhead", "none"),
    ("unknown-header-field", NOTICE, "priority", "high"),
    ("naive-sent-at", NOTICE, "sent_at", "2026-03-02T08:15:00"),
    ("bad-enum", NOTICE, "payload.missile_class", "IRBM"),
    ("too-long", NOTICE, "payload.launch_area", "x" * 201),
    ("missing-required", NOTICE, "payload.launch_area", ...),
    ("bad-date", NOTICE, "payload.planned_launch_date", "2026-02-30"),
    ("too-few-items", NOTICE, "payload.impact_areas", []),
    ("pattern", PRIOR, "payload.participating_states", ["gb"]),
    ("integer-below-minimum", PRIOR, "payload.troops", -1),
    ("integer-as-string", PRIOR, "payload.troops", "9000"),
    ("duration-in-weeks", INSPECTION, "payload.designation_interval", "P1W"),
    ("seq-zero", NOTICE, "seq", 0),
    ("uuid4-id", NOTICE, "id", "6f1c8e9a-0d4b-4c1e-8a7f-2b3c4d5e6f70"),
    ("bad-digest", "core.ack" + SUFFIX, "in_reply_to.digest", "ABC"),
]


@pytest.mark.parametrize(
    ("name", "path", "value"), [pytest.param(n, p, v, id=i) for i, n, p, v in INVALID]
)
def test_invalid_statements_are_refused_by_msgspec_and_jsonschema(
    types: MessageTypes, name: str, path: str, value: Any
) -> None:
    """The decoder and the published schema agree on what is invalid."""
    doc = _edit(name, path, value)
    assert errors(doc["kind"], doc), "jsonschema accepted it"
    with pytest.raises(msgspec.ValidationError):
        types.decode(msgspec.json.encode(doc))


def test_the_unedited_statements_above_are_valid_for_both(types: MessageTypes) -> None:
    """The control for the table above: the statements it edits are valid for both."""
    for name in {n for _, n, _, _ in INVALID}:
        data, doc = example_statement(name)
        assert errors(doc["kind"], doc) == []
        types.decode(data)


@given(data=st.data())
def test_every_statement_the_encoder_writes_validates_against_its_schema(
    types: MessageTypes, data: st.DataObject
) -> None:
    """Statements of any kind, generated from the catalogue, satisfy the published schema."""
    kind = data.draw(st.sampled_from(sorted(types.statements)), label="kind")
    statement = data.draw(statements(types, kind), label="statement")
    doc = json.loads(types.encode(statement))
    assert errors(kind, doc) == []


def test_the_format_page_quotes_the_examples_exactly() -> None:
    """messages/README.md's worked example shows the real bytes of the example files."""
    page = (ROOT / "messages" / "README.md").read_text(encoding="utf-8")
    notice = (EXAMPLE_DIR / NOTICE).read_bytes().removesuffix(b"\n")
    data, _ = example_statement(NOTICE)
    ack, _ = example_statement("core.ack" + SUFFIX)
    for quoted in (notice, data, ack, hashlib.sha256(data).hexdigest().encode()):
        assert quoted.decode() in page, "update the worked example in messages/README.md"
    assert f"these {len(notice)} bytes" in page
    assert f"the statement, {len(data)} bytes" in page
