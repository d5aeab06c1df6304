"""A key written twice in one JSON object is refused wherever nrrc reads untrusted JSON.

JSON leaves the meaning of ``{"sender":"US",...,"sender":"RU"}`` open: msgspec keeps the last
value, other readers the first, so one signed statement could say two things. The statement,
the envelope and the keyring are refused with the key and the JSON path of its object: the
centre rejects such an envelope as malformed and the audit reports it as an integrity finding
(INT007), never as evidence.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from centre_support import T0, make_centres
from hypothesis import given
from hypothesis import strategies as st
from test_audit_kit import LAUNCH, Exchange, at, only, run

from nrrc.audit import engine, fastscan
from nrrc.catalogue import Catalogue
from nrrc.centre import Binding, Delivery
from nrrc.envelope import Opened, Verifier, compose, seal
from nrrc.errors import KeyFileError, MalformedEnvelope, UnknownKey
from nrrc.exactforms import DuplicateKey, duplicate_key, may_repeat_a_key
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

EXAMPLES = Path(__file__).resolve().parent.parent / "messages" / "examples"
SENT = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)


def notice(types: MessageTypes, signer: Signer, **extra: Any) -> Opened:
    """A genuine launch notice from RU to US."""
    return compose(
        types,
        signer,
        "bmlna.launch_notice",
        recipient="US",
        sent_at=SENT,
        epoch=1,
        seq=1,
        payload=LAUNCH,
        rand=random.Random(5),
        **extra,
    )


def twice(statement: bytes, old: bytes, new: bytes) -> bytes:
    """``statement`` with ``new`` written right after ``old`` (once)."""
    assert statement.count(old) == 1, old
    return statement.replace(old, old + new)


def refusal(verifier: Verifier, envelope: bytes) -> str:
    with pytest.raises(MalformedEnvelope) as err:
        verifier.open(envelope)
    assert err.value.reason == "malformed"
    assert str(err.value) == f"malformed: {err.value.detail}"
    assert "\n" not in err.value.detail
    return err.value.detail


# -- the statement ----------------------------------------------------------------------------


def test_top_level_duplicate_in_statement_is_malformed(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A validly signed statement naming ``sender`` twice (US, then RU) is malformed, though
    msgspec alone reads RU, the signer, and would accept it; the genuine envelope opens."""
    n = notice(types, signers["RU"])
    doubled = n.statement_bytes.replace(b'"sender":"RU",', b'"sender":"US","sender":"RU",', 1)
    assert msgspec.json.decode(doubled)["sender"] == "RU"  # the last value: RU signed it
    assert json.loads(doubled, object_pairs_hook=list)[2] == ("sender", "US")
    verifier = Verifier(keyring, types, centre="US")
    assert verifier.open(n.envelope).statement.sender == "RU"
    words = refusal(verifier, seal(doubled, signers["RU"]))
    assert words == 'statement: duplicate key "sender" in the object at $'


def test_duplicate_kind_is_malformed_not_an_unknown_kind(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A duplicate the typed decoder refuses for another reason (two different tags) is still
    named as the duplicate, not as an invalid payload."""
    n = notice(types, signers["RU"])
    doubled = twice(n.statement_bytes, b'"kind":"bmlna.launch_notice",', b'"kind":"core.ack",')
    words = refusal(Verifier(keyring, types), seal(doubled, signers["RU"]))
    assert words == 'statement: duplicate key "kind" in the object at $'


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (b'"launch_area":"Plesetsk test range",', b'"launch_area":"Kura",', "$.payload"),
        (b'"lat":65.0,', b'"lat":-65.0,', "$.payload.impact_areas[0].center"),
        (b'"unit":"km"', b',"unit":"mi"', "$.payload.impact_areas[0]"),
    ],
    ids=["payload", "point", "last-key"],
)
def test_nested_duplicate_in_payload_is_malformed(
    old: bytes,
    new: bytes,
    where: str,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Duplicates inside the payload are named with the JSON path of their object."""
    n = notice(types, signers["RU"])
    key = old.split(b'"')[1].decode()
    doubled = twice(n.statement_bytes, old, new)
    words = refusal(Verifier(keyring, types), seal(doubled, signers["RU"]))
    assert words == f'statement: duplicate key "{key}" in the object at {where}'


def test_duplicate_written_with_an_escape_is_a_duplicate(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """``"\\u0073ender"`` is ``"sender"``: a second sender written with an escape."""
    n = notice(types, signers["RU"])
    doubled = twice(n.statement_bytes, b'"sender":"RU",', b'"\\u0073ender":"RU",')
    words = refusal(Verifier(keyring, types), seal(doubled, signers["RU"]))
    assert words == 'statement: duplicate key "sender" in the object at $'


def test_duplicate_in_a_non_compact_statement_is_malformed(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """Spaces, another key order and strings holding quotes, colons and braces (the form
    another implementation may write) do not hide a duplicate."""
    n = notice(types, signers["RU"])
    doc = json.loads(n.statement_bytes)
    doc["payload"]["launch_area"] = 'a "b": {c} \\ d:'
    pretty = json.dumps(doc, indent=1, sort_keys=True).encode()
    verifier = Verifier(keyring, types)
    assert verifier.open(seal(pretty, signers["RU"])).statement.sender == "RU"
    doubled = pretty.replace(b'"epoch": 1,', b'"epoch": 1,\n "epoch" : 2,', 1)
    words = refusal(verifier, seal(doubled, signers["RU"]))
    assert words == 'statement: duplicate key "epoch" in the object at $'


# -- the envelope -----------------------------------------------------------------------------


def test_duplicate_in_envelope_is_malformed(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """An envelope carrying two payloads (a reader keeping the first sees another statement,
    unsigned) or a signature naming two key ids is malformed."""
    n = notice(types, signers["RU"])
    other = base64.b64encode(b'{"kind":"core.free_text"}')
    two_payloads = twice(
        n.envelope,
        b'"payloadType":"application/vnd.nrrc.statement+json; version=1",',
        b'"payload":"' + other + b'",',
    )
    verifier = Verifier(keyring, types)
    assert refusal(verifier, two_payloads) == (
        'envelope: duplicate key "payload" in the object at $'
    )
    two_keyids = twice(n.envelope, b'"keyid":', b'"XX-1","keyid":')
    assert refusal(verifier, two_keyids) == (
        'envelope: duplicate key "keyid" in the object at $.signatures[0]'
    )
    escaped = twice(n.envelope, b'{"keyid":', b'"XX-1","\\u006beyid":')
    assert refusal(verifier, escaped) == (
        'envelope: duplicate key "keyid" in the object at $.signatures[0]'
    )
    assert verifier.open(n.envelope).key_id == signers["RU"].key_id
    # other forms of a genuine envelope open; colons in its strings are no keys
    doc = json.loads(n.envelope)
    pretty = json.dumps(doc, indent=2, sort_keys=True).encode()
    assert verifier.open(pretty).statement == n.statement
    doubled = pretty.replace(b'"payloadType": ', b'"payloadType": "x:y",\n  "payloadType": ', 1)
    assert refusal(verifier, doubled) == (
        'envelope: duplicate key "payloadType" in the object at $'
    )
    doc["signatures"][0]["keyid"] = "RU:{x}:"
    with pytest.raises(UnknownKey):
        verifier.open(json.dumps(doc, separators=(",", ":")).encode())


# -- the keyring ------------------------------------------------------------------------------


def test_duplicate_in_keyring_is_refused(tmp_path: Path, signers: dict[str, Signer]) -> None:
    """A keyring entry naming its centre twice is refused with the file, key and object."""
    ring = Keyring([signers["RU"].entry(SENT)])
    path = tmp_path / "keyring.json"
    text = ring.to_json()
    path.write_bytes(text)
    assert len(Keyring.load(path)) == 1
    path.write_bytes(text.replace(b'"centre": "RU",', b'"centre": "RU",\n"centre": "US",', 1))
    with pytest.raises(KeyFileError) as err:
        Keyring.load(path)
    assert str(err.value) == f'{path}: duplicate key "centre" in the object at $.keys[0]'
    path.write_bytes(text.replace(b'"format"', b'"format": "x", "format"', 1))
    with pytest.raises(KeyFileError, match=r'duplicate key "format" in the object at \$$'):
        Keyring.load(path)


# -- the centre and the audit -----------------------------------------------------------------


def test_centre_rejects_a_duplicate_as_malformed(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """The centre logs the envelope as rejected (malformed, naming the key) and does not
    acknowledge it."""
    centres = make_centres(types, signers, keyring, [Binding("bmlna", ("US", "RU"))], ["US", "RU"])
    n = notice(types, signers["RU"])
    doubled = twice(n.statement_bytes, b'"recipient":"US",', b'"recipient":"CN",')
    step = centres["US"].receive(T0, Delivery(seal(doubled, signers["RU"]), "RU"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "malformed")]
    assert 'duplicate key "recipient"' in (step.records[0].detail or "")
    assert step.transmits == []


@pytest.mark.parametrize("reader", ["fast", "scan-log", "pool"])
def test_audit_reports_a_duplicate_as_integrity_not_evidence(
    reader: str,
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A received envelope whose statement names ``id`` twice is INT007 at its line, naming
    the key; it is not evidence of a receipt (no REC002 for a message RU never sent), and it
    is not counted as verified. Every reader of the logs finds it."""
    ex = Exchange(types, signers)
    genuine = ex.send(
        "RU",
        "US",
        "core.free_text",
        {"subject": "s", "text": "t"},
        at("2026-02-01 00:00:00"),
        at("2026-02-01 00:00:01"),
    )
    ghost = ex.compose(
        "RU", "US", "core.free_text", {"subject": "s", "text": "u"}, at("2026-02-02 00:00:00")
    )
    doubled = twice(
        ghost.statement_bytes,
        b'"id":"' + ghost.statement.id.encode() + b'",',
        b'"id":"' + genuine.statement.id.encode() + b'",',
    )
    ex.log("US", "received", at("2026-02-02 00:00:01"), seal(doubled, signers["RU"]))
    paths = ex.write(tmp_path, close_at=at("2026-02-03 00:00:00"))
    if reader == "scan-log":
        monkeypatch.setattr(fastscan, "ENABLED", False)
    options: dict[str, Any] = {"jobs": 1}
    if reader == "pool":
        monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
        options["jobs"] = 2
    result = run(paths, cat, keyring, **options)
    (f,) = only(result, "INT007")
    assert f.evidence[0].file.endswith("US.log.jsonl") and f.evidence[0].line == 3
    assert 'statement: duplicate key "id" in the object at $' in f.explanation
    assert not only(result, "REC002") and not only(result, "REC004")
    assert not only(result, "REC007")
    assert result.messages == 3 and result.verified == 2


# -- what is not a duplicate ------------------------------------------------------------------


def test_same_key_in_different_objects_is_fine(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """``id`` in the statement and in ``in_reply_to``, ``lat``/``lon`` in every point of a
    polygon, and strings holding keys, quotes, colons and escapes are no duplicates; written
    another way (with spaces, escapes, keys in another order) they still open."""
    verifier = Verifier(keyring, types)
    n = notice(types, signers["RU"])
    ack = compose(
        types,
        signers["US"],
        "core.ack",
        recipient="RU",
        sent_at=SENT,
        epoch=1,
        seq=1,
        payload={"received_at": SENT},
        in_reply_to=n.reply_ref(),
        rand=random.Random(3),
    )
    tricky = compose(
        types,
        signers["RU"],
        "core.free_text",
        recipient="US",
        sent_at=SENT,
        epoch=1,
        seq=2,
        payload={"subject": '"sender":"US",', "text": '{"text": "x", "text": "y"} \\u0073: \u00e9'},
        rand=random.Random(4),
    )
    for opened in (n, ack, tricky):
        assert verifier.open(opened.envelope).statement == opened.statement
        doc = json.loads(opened.statement_bytes)
        for form in (
            json.dumps(doc, indent=2).encode(),
            json.dumps(doc, sort_keys=True, ensure_ascii=True).encode(),
            json.dumps(doc, separators=(" , ", " : ")).encode(),
        ):
            assert duplicate_key(form) is None
            again = verifier.open(seal(form, signers[opened.statement.sender]))
            assert again.statement == opened.statement
    assert not may_repeat_a_key(ack.statement_bytes)
    # and the same documents with one key written twice are refused
    doubled = twice(ack.statement_bytes, b'"epoch":1,', b'"epoch":1,')
    with pytest.raises(DuplicateKey, match=r'"epoch" in the object at \$$'):
        types.decode(doubled)


def test_every_example_opens_and_is_no_candidate(types: MessageTypes) -> None:
    """The published examples hold no duplicate (the cheap test clears each of them); each
    with its payload type written twice is refused."""
    ring = Keyring.load(EXAMPLES / "keyring.json")
    verifier = Verifier(ring, types)
    examples = sorted(EXAMPLES.glob("*.envelope.json"))
    assert examples
    for path in examples:
        envelope = path.read_bytes().strip()
        opened = verifier.open(envelope)
        assert not may_repeat_a_key(opened.statement_bytes)
        assert not may_repeat_a_key(envelope)
        doubled = envelope.replace(b'{"payloadType":', b'{"payloadType":"x","payloadType":', 1)
        assert refusal(verifier, doubled) == (
            'envelope: duplicate key "payloadType" in the object at $'
        )


# -- the cheap test never clears a duplicate --------------------------------------------------

_keys = st.sampled_from(["a", "b", "sender", "s\u00e9", ":", '"', "{", "\\"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=':"{}[],\\ a\u00e9\u2028', max_size=6),
)


def _pairs(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(st.tuples(_keys, children, st.booleans()), max_size=4).map(lambda p: ("obj", p)),
    )


_documents = st.recursive(_scalars, _pairs, max_leaves=12)


def _write(node: Any, escape: bool, space: str) -> str:
    """JSON text that keeps every pair as given (duplicates included)."""
    if isinstance(node, tuple):
        items = [
            (
                '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"'
                if escape_key
                else _write(key, escape, space)
            )
            + space
            + ":"
            + space
            + _write(value, escape, space)
            for key, value, escape_key in node[1]
        ]
        return "{" + ("," + space).join(items) + "}"
    if isinstance(node, list):
        return "[" + ("," + space).join(_write(v, escape, space) for v in node) + "]"
    return json.dumps(node, ensure_ascii=escape)


def _has_duplicate(node: Any) -> bool:
    if isinstance(node, tuple):
        keys = [k for k, _, _ in node[1]]
        return len(set(keys)) != len(keys) or any(_has_duplicate(v) for _, v, _ in node[1])
    if isinstance(node, list):
        return any(_has_duplicate(v) for v in node)
    return False


@given(_documents, st.booleans(), st.sampled_from(["", " ", "\n"]))
def test_cheap_test_and_exact_reading_agree(node: Any, escape: bool, space: str) -> None:
    """``may_repeat_a_key`` answers no only for documents without duplicates, and
    ``duplicate_key`` finds exactly the documents with one (escaped keys included)."""
    data = _write(node, escape, space).encode()
    found = duplicate_key(data)
    assert (found is not None) == _has_duplicate(node), (data, found)
    if found is not None:
        assert may_repeat_a_key(data), data
