"""The published schemas of nrrc's own files (log line, observed line, keyring, audit report),
checked with an independent validator (``jsonschema``) against what nrrc writes and reads.

What nrrc writes validates; a line or keyring the schema accepts is one nrrc's decoder accepts;
the damage nrrc refuses in a field (a wrong constant, a malformed key id, a short public key, an
unknown key) the schema refuses too; and the audit report documents every key it holds.
"""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nrrc.audit import AuditOptions, audit, report_json
from nrrc.catalogue import load_catalogue
from nrrc.errors import KeyFileError
from nrrc.keys import Keyring
from nrrc.msglog import decode_line
from nrrc.observed import decode_observed
from nrrc.schemas import FILE_SCHEMAS, file_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "messages" / "schema"
SAMPLES = ROOT / "messages" / "samples"
SAMPLE_DIRS = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
LOGS = sorted(SAMPLES.glob("*/*.log.jsonl"))


V = jsonschema.Draft202012Validator


def _validator(name: str) -> jsonschema.Draft202012Validator:
    """The published schema, with formats asserted (date-time: RFC 3339)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    V.check_schema(schema)
    return V(schema, format_checker=V.FORMAT_CHECKER)


def test_the_validator_asserts_date_time() -> None:
    """Without rfc3339-validator installed, jsonschema silently skips date-time."""
    checker = V.FORMAT_CHECKER
    assert "date-time" in checker.checkers
    assert not V({"format": "date-time"}, format_checker=checker).is_valid("2026-13-01T00:00Z")


def _valid(name: str, doc: Any) -> bool:
    return _validator(name).is_valid(doc)


def _closed(node: Any) -> Any:
    """A copy of a schema where every object with properties refuses other keys."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if "properties" in out and out.get("type") == "object":
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def test_each_file_schema_is_published_and_valid_2020_12() -> None:
    for name in FILE_SCHEMAS:
        published = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
        assert published == json.loads(json.dumps(file_schema(name)))
        V.check_schema(published)
        assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# -- log lines ------------------------------------------------------------------------------


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


@cache
def _written_log() -> list[bytes]:
    """A log nrrc writes with every kind of line: sent, received, rejected (text and
    non-UTF-8 bytes), checkpoints."""
    from nrrc.keys import generate_key
    from nrrc.msglog import FsyncPolicy, LogWriter

    sample = json.loads(_lines(SAMPLES / "clean" / "US.log.jsonl")[1])
    envelope = sample["envelope"].encode()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "XX.log.jsonl"
        w = LogWriter(path, generate_key("XX"), created=start, fsync=FsyncPolicy.NEVER)
        w.append("sent", start + timedelta(seconds=1), envelope)
        w.append("received", start + timedelta(seconds=2), envelope)
        w.append("rejected", start + timedelta(seconds=3), b'{"x":1}', reason="malformed")
        w.checkpoint(start + timedelta(seconds=4))
        w.append(
            "rejected",
            start + timedelta(hours=1, microseconds=5),
            b"\xff\xfe not UTF-8",
            reason="malformed",
            detail="expected a JSON DSSE envelope",
        )
        w.close(start + timedelta(hours=2))
        return _lines(path)


def test_every_line_of_a_log_nrrc_writes_validates() -> None:
    validator = _validator("log-line")
    kinds = set()
    for i, line in enumerate(_written_log(), 1):
        decode_line(line)
        doc = json.loads(line)
        kinds.add(doc["type"] + ("_b64" if "envelope_b64" in doc else ""))
        assert not [e.message for e in validator.iter_errors(doc)], f"line {i}: {doc}"
    assert kinds == {"header", "sent", "received", "rejected", "rejected_b64", "checkpoint"}


@pytest.mark.parametrize("path", LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_line_of_the_sample_logs_validates(path: Path) -> None:
    """Every line nrrc wrote (the tampered sample's edits keep each line well formed)."""
    validator = _validator("log-line")
    for i, line in enumerate(_lines(path), 1):
        decode_line(line)
        errors = [e.message for e in validator.iter_errors(json.loads(line))]
        assert not errors, f"{path.name}:{i}: {errors}"


def _sample_line(kind: str) -> dict[str, Any]:
    for line in _written_log():
        doc: dict[str, Any] = json.loads(line)
        if doc["type"] == kind:
            return doc
    raise AssertionError(f"no {kind} line")


REFUSED_LINES = [
    ("header", "format", "nrrc-log/2"),
    ("header", "n", 1),
    ("header", "prev", "1" * 64),
    ("header", "owner", "us"),
    ("header", "owner", "US\n"),
    ("sent", "n", 0),
    ("sent", "n", "1"),
    ("sent", "prev", "A" * 64),
    ("sent", "prev", "a" * 63),
    ("sent", "prev", "a" * 64 + "\n"),
    ("sent", "envelope_b64", "not base64!"),
    ("received", "colour", "red"),
    ("received", "at", 1767225600),
    ("checkpoint", "key_id", "US-123"),
    ("checkpoint", "sig", "c2ln"),
    ("checkpoint", "count", 0),
    ("checkpoint", "head", "xyz"),
]


@pytest.mark.parametrize(("kind", "field", "value"), REFUSED_LINES)
def test_a_damaged_log_line_nrrc_refuses_the_schema_refuses(
    kind: str, field: str, value: Any
) -> None:
    doc = _sample_line(kind)
    doc[field] = value
    assert not _valid("log-line", doc), f"{kind}.{field}={value!r} passed the schema"
    # nrrc refuses it too: the decoder, or, for the constants, numbering, envelope and
    # checkpoint fields that only the log check reads, `nrrc verify` (which names the line).
    try:
        decode_line(json.dumps(doc).encode())
    except (msgspec.ValidationError, msgspec.DecodeError):
        return
    assert (kind, field) in {
        ("header", "format"),
        ("header", "n"),
        ("header", "prev"),
        ("sent", "n"),
        ("sent", "envelope_b64"),
        ("checkpoint", "key_id"),
        ("checkpoint", "sig"),
        ("checkpoint", "count"),
    }


_FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "US", "us", "a" * 64, "A" * 64, "x", "2026-01-01T00:00:00Z"]),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["header", "sent", "received", "rejected", "checkpoint"]),
    field=st.sampled_from(
        ["type", "n", "prev", "at", "envelope", "reason", "count", "head", "owner", "zz"]
    ),
    value=_FIELD_VALUES,
    drop=st.booleans(),
)
def test_a_line_the_schema_accepts_is_one_the_decoder_accepts(
    kind: str, field: str, value: Any, drop: bool
) -> None:
    doc = _sample_line(kind)
    if drop:
        doc.pop(field, None)
    else:
        doc[field] = value
    if _valid("log-line", doc):
        decode_line(json.dumps(doc).encode())


# -- keyrings -------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLE_DIRS, ids=lambda p: p.name)
def test_the_sample_keyrings_validate(sample: Path) -> None:
    doc = json.loads((sample / "keyring.json").read_text())
    assert not [e.message for e in _validator("keyring").iter_errors(doc)]
    Keyring.load(sample / "keyring.json")


def _keyring() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLE_DIRS[0] / "keyring.json").read_text())
    return doc


REFUSED_KEYRINGS = [
    ("format", "nrrc-keyring/2"),
    ("key_id", "us-0123456789abcdef"),
    ("key_id", "US-0123456789ABCDEF"),
    ("centre", "us"),
    ("public_key", "AAAA"),
    ("public_key", "A" * 42 + "=="),
    ("public_key", "A" * 43 + "!"),
    ("valid_from", None),
    ("comment", "trusted"),
]


@pytest.mark.parametrize(("field", "value"), REFUSED_KEYRINGS)
def test_a_damaged_keyring_is_refused_by_nrrc_and_by_the_schema(
    tmp_path: Path, field: str, value: Any
) -> None:
    doc = _keyring()
    if field == "format":
        doc["format"] = value
    else:
        doc["keys"][0][field] = value
    assert not _valid("keyring", doc)
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError):
        Keyring.load(path)


def test_a_keyring_nrrc_writes_validates(tmp_path: Path) -> None:
    from nrrc.keys import generate_key

    ring = Keyring()
    for centre in ("US", "RU", "OSCE"):
        ring.add(generate_key(centre).entry(datetime(2026, 1, 1, tzinfo=UTC)))
    assert _valid("keyring", json.loads(ring.to_json()))


# -- observed-activity lines ----------------------------------------------------------------

OBSERVED = sorted(SAMPLES.glob("*/observed*.jsonl"))


@pytest.mark.parametrize("path", OBSERVED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_line_of_the_sample_observed_logs_validates(path: Path) -> None:
    validator = _validator("observed-line")
    for i, line in enumerate(_lines(path), 1):
        decode_observed(line)
        errors = [e.message for e in validator.iter_errors(json.loads(line))]
        assert not errors, f"{path.name}:{i}: {errors}"


@pytest.mark.parametrize(
    ("field", "value"),
    [("party", "us"), ("party", "US\n"), ("at", None), ("colour", "red"), ("id", 7)],
)
def test_a_damaged_activity_is_refused_by_nrrc_and_by_the_schema(field: str, value: Any) -> None:
    line = next(
        json.loads(x) for p in OBSERVED for x in _lines(p) if json.loads(x)["type"] == "activity"
    )
    line[field] = value
    assert not _valid("observed-line", line)
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        decode_observed(json.dumps(line).encode())


# -- the audit report -----------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLE_DIRS, ids=lambda p: p.name)
def test_the_audit_report_of_each_sample_validates_and_every_key_is_documented(
    sample: Path,
) -> None:
    observed = sorted(sample.glob("observed*.jsonl"))
    result = audit(
        sorted(sample.glob("*.log.jsonl")),
        load_catalogue(),
        Keyring.load(sample / "keyring.json"),
        AuditOptions(measurements=True, observed=tuple(observed), jobs=1),
    )
    doc = json.loads(report_json.render(result))
    published = json.loads((SCHEMA_DIR / "audit-report.json").read_text())
    errors = [e.message for e in _validator("audit-report").iter_errors(doc)]
    assert not errors
    # No key the schema does not name (the published schema stays open for later versions).
    closed = V(_closed(copy.deepcopy(published)), format_checker=V.FORMAT_CHECKER)
    assert not [f"{list(e.path)}: {e.message}" for e in closed.iter_errors(doc)]
    assert doc["measurements"] or not result.measurements


def test_the_schema_refuses_a_report_with_a_changed_meaning() -> None:
    sample = SAMPLES / "us-ru-2026"
    result = audit(
        sorted(sample.glob("*.log.jsonl")),
        load_catalogue(),
        Keyring.load(sample / "keyring.json"),
        AuditOptions(jobs=1),
    )
    doc = json.loads(report_json.render(result))
    assert doc["findings"], "the sample has findings"
    for path, value in [
        (("findings", 0, "outcome"), "breach"),
        (("findings", 0, "measured_seconds"), "83400"),
        (("findings", 0, "instants", "received"), "2026-03-01 00:00:00"),
        (("findings", 0, "fingerprint"), "X"),
        (("totals", "violations"), -1),
        (("format",), "nrrc-audit/2"),
        (("exit_code",), 2),
    ]:
        damaged = copy.deepcopy(doc)
        node: Any = damaged
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert not _valid("audit-report", damaged), path
    dropped = copy.deepcopy(doc)
    del dropped["findings"][0]["evidence"]
    assert not _valid("audit-report", dropped)


# -- patterns read alike by nrrc and by validators that use Python's (or PCRE's) rules ---------


def _published_patterns(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(_published_patterns(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_published_patterns(v) for v in node))
    return set()


PUBLISHED_PATTERNS = sorted(
    set().union(
        *(_published_patterns(json.loads(p.read_text())) for p in SCHEMA_DIR.glob("*.json"))
    )
)


@cache
def _decoder_forms() -> dict[str, str]:
    """Published pattern -> the Python form nrrc's decoders check it with (when they do)."""
    from nrrc.messages import MessageTypes
    from nrrc.patterns import ECMA_OF, portable_pattern

    MessageTypes(load_catalogue())  # registers the catalogue's field patterns
    return {portable_pattern(ecma): python for python, ecma in list(ECMA_OF.items())}


def test_the_published_patterns_include_those_the_decoders_check() -> None:
    checked = set(_decoder_forms()) & set(PUBLISHED_PATTERNS)
    # centre, recipient, message id, digest, and the VD 2011 participating State
    assert len(checked) >= 5, sorted(checked)


_TWISTS = st.sampled_from(["", "\n", " ", "\u0663", "\r\n", "x"])


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_a_published_pattern_reads_alike_under_ecma_and_python_rules(
    data: st.DataObject,
) -> None:
    """The Python jsonschema library searches with ``re``, where ``$`` also matches before a
    final newline and ``\\d`` is any Unicode digit; JSON Schema says ECMA-262, and nrrc's
    decoders read patterns as ECMA-262 does. The published text (``(?!\\n)$``, ``[0-9]``)
    gives the same answer under both rules, and the decoder's answer where a decoder checks it."""
    import re

    from nrrc.patterns import python_pattern

    published = data.draw(st.sampled_from(PUBLISHED_PATTERNS))
    ecma = python_pattern(published)  # how an ECMA-262 engine reads the published text
    text = data.draw(st.from_regex(ecma, fullmatch=True) | st.from_regex(published))
    where = data.draw(st.sampled_from(["end", "start", "digit"]))
    twist = data.draw(_TWISTS)
    if where == "end":
        text += twist
    elif where == "start":
        text = twist + text
    else:
        text = re.sub("[0-9]", "\u0663", text, count=1)
    answer = bool(re.search(published, text))
    assert answer == bool(re.search(ecma, text)), (published, text)
    decoder = _decoder_forms().get(published)
    if decoder is not None:
        assert answer == bool(re.search(decoder, text)), (published, decoder, text)


def test_python_jsonschema_refuses_a_trailing_newline_in_a_statement_as_nrrc_does() -> None:
    """A statement whose sender, or a payload field checked by a catalogue pattern, ends in a
    newline: refused by nrrc and, with the published schema, by the Python jsonschema library
    (whose ``re.search`` would accept ``"RU\\n"`` against ``^[A-Z]{2}$``)."""
    import base64

    from nrrc.messages import MessageTypes

    types = MessageTypes(load_catalogue())
    kind = "vd11.prior_notification"
    envelope = json.loads((ROOT / "messages" / "examples" / f"{kind}.envelope.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    validator = _validator(kind)
    assert validator.is_valid(statement)
    types.decode(json.dumps(statement).encode())
    for field, value in [("sender", "RU\n"), ("recipient", "US\n"), ("id", statement["id"] + "\n")]:
        damaged = {**statement, field: value}
        assert not validator.is_valid(damaged), field
        with pytest.raises(msgspec.ValidationError):
            types.decode(json.dumps(damaged).encode())
    damaged = copy.deepcopy(statement)
    damaged["payload"]["participating_states"] = ["RU\n"]
    assert not validator.is_valid(damaged)
    with pytest.raises(msgspec.ValidationError):
        types.decode(json.dumps(damaged).encode())


@pytest.mark.parametrize("path", LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_checkpoint_verifies_by_the_recipe_in_the_log_line_schema(path: Path) -> None:
    """A peer follows the schema's description, with no nrrc code: DSSE PAE of the checkpoint
    type and text, Ed25519 over it, the key found in the keyring by key_id."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = {
        k["key_id"]: k["public_key"]
        for k in json.loads((path.parent / "keyring.json").read_text())["keys"]
    }
    lines = [json.loads(x) for x in _lines(path)]
    owner = lines[0]["owner"]
    checked = 0
    for cp in (x for x in lines if x["type"] == "checkpoint"):
        at = datetime.fromisoformat(cp["at"]).astimezone(UTC)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{at:%f}" if at.microsecond else "") + "Z"
        text = f"nrrc-checkpoint/1\n{owner}\n{cp['n']}\n{cp['head']}\n{stamp}".encode()
        kind = b"application/vnd.nrrc.checkpoint; version=1"
        pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(text), text)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[cp["key_id"]]))
        key.verify(base64.b64decode(cp["sig"]), pae)  # raises InvalidSignature if not
        checked += 1
    assert checked >= 1
