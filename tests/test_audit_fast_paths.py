"""The audit's fast paths decide exactly as the exact semantics do.

The engine passes a plainly compliant message on POSIX timestamps (with a margin of one second)
and takes everything near or past a bound, or never provided, the exact way. These tests put the
instants right at the bounds (to the microsecond, anchors in any UTC offset) and compare the fast
checks with the exact reference (``TimingChecks.on_provision``, and ``ResponseChecks`` keeping
measurements): same findings, same counts. End to end, an audit that keeps its measurements
(which takes the exact way everywhere) finds exactly what the fast audit finds.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import payloads, utc_offsets
from test_audit_properties import SELECT, Notice, worlds, write_world

from nrrc.audit import engine, semantics
from nrrc.audit.collector import Collector
from nrrc.audit.engine import AuditOptions, audit
from nrrc.audit.events import Basis, Provision
from nrrc.audit.responses import ResponseChecks
from nrrc.audit.timing import TimingChecks
from nrrc.catalogue import Catalogue, FieldType, RuleType, load_catalogue
from nrrc.envelope import Opened, compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes, ReplyRef

BASE = datetime(2026, 3, 1, tzinfo=UTC)
NAMES = ["RU.log.jsonl", "US.log.jsonl"]
_CAT = load_catalogue()
TIMED = sorted(r.code for r in _CAT.active_rules() if r.type in (RuleType.LEAD_TIME, RuleType.LAG))
RESPONSE = sorted(r.code for r in _CAT.active_rules() if r.type is RuleType.RESPONSE)

near = st.one_of(
    st.sampled_from([0, 1, -1, 999_999, -999_999, 1_000_000, -1_000_000, 1_000_001, -1_000_001]),
    st.integers(-3 * 86_400 * 10**6, 3 * 86_400 * 10**6),
)
"""Offsets from a bound in microseconds: on it, a microsecond or a second either side, or more."""


def _compose(
    types: MessageTypes,
    signer: Signer,
    kind: str,
    payload: dict[str, Any],
    sent_at: datetime,
    recipient: str,
    reply: ReplyRef | None = None,
) -> Opened:
    return compose(
        types,
        signer,
        kind,
        recipient=recipient,
        sent_at=sent_at,
        epoch=1,
        seq=1,
        payload=payload,
        in_reply_to=reply,
        rand=lambda n: b"\x07" * n,
    )


def _provided(opened: Opened, kind: str, receiver: str, at: datetime) -> Provision:
    evidence = ((1, 2, opened.statement.id, "receipt"),)
    return Provision(opened, kind, receiver, Basis.RECEIVED, at, True, evidence, "", at.timestamp())


def _outcome(collector: Collector) -> tuple[dict[str, dict[str, int]], list[Any]]:
    return {code: vars(c) for code, c in collector.counts.items()}, collector.findings


@pytest.mark.parametrize("code", TIMED)
@settings(max_examples=30)
@given(data=st.data(), delta=near, days=st.integers(-40, 40), tz=utc_offsets())
def test_fast_lead_time_and_lag_checks_equal_the_exact_semantics(
    code: str,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    data: st.DataObject,
    delta: int,
    days: int,
    tz: timezone,
) -> None:
    """Received on the bound, a microsecond or a second off it, or days away: the fast check
    of a lead-time or lag rule counts and finds exactly what the exact semantics do."""
    rule = cat.rules[code]
    assert rule.kind is not None and rule.anchor is not None and rule.bound is not None
    spec = cat.kinds[rule.kind].field(rule.anchor)
    assert spec is not None
    payload = data.draw(payloads(cat.kinds[rule.kind]))
    anchor: date = BASE.date() + timedelta(days=days)
    if spec.type is FieldType.DATETIME:
        anchor = (BASE + timedelta(days=days, microseconds=delta % 10**6)).astimezone(tz)
    payload[rule.anchor] = anchor
    evaluate = semantics.lead_time if rule.type is RuleType.LEAD_TIME else semantics.lag
    at = evaluate(BASE, anchor, rule.bound, rule.anchor, "received").deadline
    at += timedelta(microseconds=delta)
    opened = _compose(types, signers["RU"], rule.kind, payload, at - timedelta(seconds=30), "US")
    fast, exact = Collector(cat, NAMES), Collector(cat, NAMES)
    checks = TimingChecks([rule], fast)
    provision = _provided(opened, rule.kind, "US", at)
    for check in checks.handlers(rule.kind):
        check(provision)
    checks.flush()
    reference = _provided(opened, rule.kind, "US", at)
    TimingChecks([rule], exact).on_provision(reference, None, None)
    assert _outcome(fast) == _outcome(exact)


@pytest.mark.parametrize("code", RESPONSE)
@settings(max_examples=25)
@given(data=st.data(), delta=near, right_digest=st.booleans())
def test_fast_answers_equal_the_exact_semantics(
    code: str,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    data: st.DataObject,
    delta: int,
    right_digest: bool,
) -> None:
    """An answer on the deadline, a microsecond or a second off it, days away, or naming the
    wrong digest: the fast path counts and finds exactly what the exact semantics do."""
    rule = cat.rules[code]
    assert rule.trigger is not None and rule.response is not None and rule.bound is not None
    trigger_payload = data.draw(payloads(cat.kinds[rule.trigger]))
    trigger = _compose(types, signers["RU"], rule.trigger, trigger_payload, BASE, "US")
    received = BASE + timedelta(seconds=2)
    answered = received + rule.bound.delta + timedelta(microseconds=delta)
    ref = trigger.reply_ref()
    if not right_digest:
        ref = ReplyRef(id=ref.id, digest="0" * 64)
    answer_payload = data.draw(payloads(cat.kinds[rule.response]))
    answer = _compose(
        types, signers["US"], rule.response, answer_payload, answered, "RU", reply=ref
    )
    skew = timedelta(minutes=5)
    end = answered + timedelta(days=90)
    outcomes = []
    for way in ("fast", "exact"):
        # Keeping measurements takes every answer the exact way.
        collector = Collector(cat, NAMES, keep_measurements=way == "exact")
        checks = ResponseChecks([rule], collector, skew)
        for provision in (
            _provided(trigger, rule.trigger, "US", received),
            _provided(answer, rule.response, "RU", answered),
        ):
            if way == "fast":
                for check in checks.handlers(provision.kind):
                    check(provision)
                checks.expire(provision.now)
            else:
                checks.on_provision(provision, None, provision.now)
        checks.flush()
        checks.finish(end)
        outcomes.append(_outcome(collector))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=300)
@given(
    seqs=st.lists(st.tuples(st.integers(1, 60), st.sampled_from([3, 3, 3, 4])), max_size=150),
    ordered=st.booleans(),
)
def test_forgetting_old_sequence_numbers_keeps_exactly_the_window(
    seqs: list[tuple[int, int]], ordered: bool
) -> None:
    """The sequence numbers remembered after every record are those of the plain definition
    (when more than twice the window are held, keep those above the highest minus the window;
    here a window of 4, so that a few dozen numbers exercise the forgetting), each with the
    message id, file and line it came with, whichever of the two logs of its owner it is in."""
    if ordered:
        seqs = sorted(dict(seqs).items())
    window = 4
    remembered = engine._Seqs(3)
    reference: dict[int, tuple[str, int, int]] = {}
    top = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "SEQ_WINDOW", window)
        for seq, file in seqs:
            line = seq * 10 + file
            if seq not in reference:
                reference[seq] = ("id", file, line)
                top = max(top, seq)
                if len(reference) > 2 * window:
                    reference = {s: v for s, v in reference.items() if s > top - window}
            if seq > remembered.top:  # what _Engine.run does inline
                lines = remembered.lines
                if lines is not None and file == remembered.file:
                    remembered.ids[seq] = "id"
                    lines.append(line)
                else:
                    remembered.add(seq, "id", file, line)
                remembered.top = seq
                if len(remembered.ids) > 2 * window:
                    remembered.prune()
            else:
                remembered.again(seq, "id", file, line)
            assert sorted(remembered.ids) == sorted(reference)
        # Looking up the highest (always remembered) finds it and shows every entry in full.
        if reference:
            assert remembered.again(top, "other", 9, 9) == reference[top]
            assert remembered.ids == reference


@settings(max_examples=40)
@given(world=worlds)
def test_the_fast_audit_finds_what_the_exact_audit_finds(
    world: list[Notice],
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Launch notices received around midnights, acknowledgements around the hour: an audit
    that keeps its measurements (the exact way for every check) finds exactly what the fast
    audit finds, with the same counts."""
    with tempfile.TemporaryDirectory() as tmp:
        written = write_world(world, Path(tmp), types, signers)
        fast = audit(written.paths, cat, keyring, AuditOptions(selection=SELECT))
        exact = audit(
            written.paths, cat, keyring, AuditOptions(selection=SELECT, measurements=True)
        )
    assert exact.findings == fast.findings
    assert exact.summary == fast.summary


def test_a_receipt_in_the_owners_other_log_is_cited_from_that_log(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """US keeps two logs; a message received in the second and again in the first is a
    duplicate whose first receipt is cited from the second log, at its own line."""
    from test_audit_kit import Exchange, at, run

    ex = Exchange(types, {**signers, "US2": signers["US"]})
    text = {"subject": "s", "text": "t"}
    ex.send(
        "RU", "US", "core.free_text", text, at("2026-03-01 01:00:00"), at("2026-03-01 01:00:01")
    )
    second = ex.send("RU", "US", "core.free_text", text, at("2026-03-01 02:00:00"))
    ex.log("US2", "received", at("2026-03-01 02:00:01"), second.envelope)
    ex.log("US", "received", at("2026-03-01 03:00:00"), second.envelope)
    paths = ex.write(tmp_path, close_at=at("2026-03-02 00:00:00"))
    duplicates = [f for f in run(paths, cat, keyring).findings if f.code == "REC004"]
    assert [(Path(e.file).name, e.line, e.role) for f in duplicates for e in f.evidence] == [
        ("US2.log.jsonl", 2, "receipt"),
        ("US.log.jsonl", 3, "duplicate receipt"),
    ]
