"""Golden logs per rule type: compliant, exactly at the bound, one second late, missing, open.

Every log here is written with the core API (compose + LogWriter) into a temporary directory and
audited; each test states one behaviour of the semantics in nrrc.audit.semantics.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from test_audit_kit import LAUNCH, ONE_SECOND, Exchange, at, only, run, summary

from nrrc.audit.collector import Selection
from nrrc.audit.findings import Outcome
from nrrc.catalogue import Catalogue
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

# -- lead time: date anchor, hour bound (BML001: 24 h before the planned launch date) --------

BML_DEADLINE = at("2026-03-01 00:00:00")  # 24 h before 00:00 UTC on 2026-03-02


def _launch(
    tmp_path: Path,
    types: MessageTypes,
    signers: dict[str, Signer],
    received: object,
    *,
    close: str = "2026-03-05 00:00:00",
) -> list[Path]:
    ex = Exchange(types, signers)
    sent = (received if received is not None else BML_DEADLINE) - timedelta(seconds=4)  # type: ignore[operator]
    ex.send("RU", "US", "bmlna.launch_notice", LAUNCH, sent, received)  # type: ignore[arg-type]
    return ex.write(tmp_path, close_at=at(close))


@pytest.mark.parametrize(
    ("received", "ok"),
    [
        pytest.param(at("2026-02-28 12:00:00"), True, id="compliant"),
        pytest.param(BML_DEADLINE, True, id="exactly-at-bound"),
        pytest.param(BML_DEADLINE + ONE_SECOND, False, id="one-second-late"),
    ],
)
def test_lead_time_date_anchor_hour_bound(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: object,
    ok: bool,
) -> None:
    """A launch notice must be received by 00:00 UTC of the day before the planned date:
    exactly then is compliant, one second later is a violation."""
    result = run(_launch(tmp_path, types, signers, received), cat, keyring)
    found = only(result, "BML001")
    assert summary(result, "BML001") == ((1, 1, 0, 0, 0) if ok else (1, 0, 1, 0, 0))
    if not ok:
        (f,) = found
        assert f.outcome is Outcome.VIOLATION
        assert f.margin_seconds == -1
        assert f.measured_seconds == 86399 and f.bound_seconds == 86400
        assert f.parties == ("RU", "US")
        assert "short by 1 s" in f.explanation
        assert "00:00 UTC on the planned launch date 2026-03-02" in f.explanation


def test_lead_time_explanation_reads_like_the_brief(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Received 23 h 10 min before the planned date: the finding says so, the bound in the
    rule's own unit, and the shortfall to the second."""
    received = at("2026-03-01 00:50:00")
    (f,) = only(run(_launch(tmp_path, types, signers, received), cat, keyring), "BML001")
    assert (
        "received 2026-03-01 00:50:00 UTC, 23 h 10 min before 00:00 UTC on the planned launch "
        "date 2026-03-02; the rule requires at least 24 hours; short by 50 min"
    ) in f.explanation
    assert f.citation_url and f.verified == "secondary" and f.status == "S"
    assert f.article == "Art. I"
    assert [e.role for e in f.evidence] == ["receipt", "sending"]
    assert f.evidence[0].file.endswith("US.log.jsonl")


def test_lead_time_missing_notice_is_violation_once_deadline_passed(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A notice sent but never received in the recipient's (given) log breaks the rule when
    the deadline lies inside the audited period."""
    ex = Exchange(types, signers)
    ex.send("RU", "US", "bmlna.launch_notice", LAUNCH, at("2026-02-27 09:00:00"), None)
    ex.log("US", "received", at("2026-01-02 00:00:00"), _free_text(ex).envelope)
    result = run(ex.write(tmp_path, close_at=at("2026-03-05 00:00:00")), cat, keyring)
    (f,) = only(result, "BML001")
    assert f.outcome is Outcome.VIOLATION
    assert "never received in US's log" in f.explanation
    assert [c for c, o in ((f.code, f.outcome) for f in result.findings)].count("REC001") == 1


def test_lead_time_missing_notice_is_open_before_deadline(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A notice not yet received when the logs end, with its deadline after the end, is open."""
    ex = Exchange(types, signers)
    ex.send("RU", "US", "bmlna.launch_notice", LAUNCH, at("2026-02-27 09:00:00"), None)
    ex.log("US", "received", at("2026-01-02 00:00:00"), _free_text(ex).envelope)
    result = run(ex.write(tmp_path, close_at=at("2026-02-28 00:00:00")), cat, keyring)
    (f,) = only(result, "BML001")
    assert f.outcome is Outcome.OPEN
    assert "after the end of the logs" in f.explanation


def _free_text(ex: Exchange) -> object:
    return ex.compose(
        "RU", "US", "core.free_text", {"subject": "hi", "text": "hi"}, at("2026-01-02 00:00:00")
    )


# -- lead time: date anchor, day bound (MSE001: 14 days before the UTC start date) -----------


@pytest.mark.parametrize(
    ("received", "ok"),
    [
        pytest.param("2026-10-01 12:00:00", True, id="compliant"),
        pytest.param("2026-10-06 23:59:59", True, id="last-second-of-last-day"),
        pytest.param("2026-10-07 00:00:00", False, id="first-second-of-next-day"),
    ],
)
def test_lead_time_date_anchor_day_bound_compares_calendar_dates(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: str,
    ok: bool,
) -> None:
    """14 days before an exercise starting 2026-10-20 means received on or before 2026-10-06,
    any time that UTC day."""
    ex = Exchange(types, signers)
    payload = {"start_date": date(2026, 10, 20), "heavy_bombers": True}
    ex.send("US", "RU", "msea.exercise_notice", payload, at(received) - ONE_SECOND, at(received))
    result = run(ex.write(tmp_path), cat, keyring)
    found = only(result, "MSE001")
    assert bool(found) is not ok
    if not ok:
        assert "1 day late" in found[0].explanation
        assert found[0].margin_seconds == -86400


def test_applies_if_filters_notices(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A late exercise notice without heavy bombers is not held to MSE001 (voluntary)."""
    ex = Exchange(types, signers)
    payload = {"start_date": date(2026, 10, 20), "heavy_bombers": False}
    ex.send(
        "US",
        "RU",
        "msea.exercise_notice",
        payload,
        at("2026-10-19 00:00:00"),
        at("2026-10-19 00:00:01"),
    )
    result = run(ex.write(tmp_path), cat, keyring)
    assert not only(result, "MSE001")
    assert summary(result, "MSE001") is None


# -- lead time: datetime anchor (CFE004: 36 h before the ETA) ---------------------------------


def _inspection(eta: str) -> dict[str, object]:
    return {
        "point_of_entry": "Frankfurt",
        "eta": at(eta),
        "means_of_arrival": "air",
        "inspection_type": "declared_site",
        "inspection_mode": ["on_foot"],
        "designation_interval": timedelta(hours=6),
        "inspection_language": "en",
        "report_language": "en",
        "personnel": ["A. Inspector"],
        "sequential_inspections": 0,
    }


@pytest.mark.parametrize(
    ("received", "ok"),
    [("2026-03-01 00:00:00", True), ("2026-03-01 00:00:01", False)],
    ids=["exactly-36h", "one-second-late"],
)
def test_lead_time_datetime_anchor(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: str,
    ok: bool,
) -> None:
    """A datetime anchor is used as is: received at most ETA − 36 h."""
    ex = Exchange(types, signers)
    notice = ex.send(
        "GB",
        "RU",
        "cfe.inspection_notice",
        _inspection("2026-03-02 12:00:00"),
        at(received) - ONE_SECOND,
        at(received),
    )
    ex.ack("RU", notice, at(received) + timedelta(minutes=5), at(received) + timedelta(minutes=6))
    result = run(ex.write(tmp_path), cat, keyring)
    assert bool(only(result, "CFE004")) is not ok
    assert summary(result, "CFE006") == (1, 1, 0, 0, 0)


# -- lag ---------------------------------------------------------------------------------------


def test_lag_soft_rule_gives_a_warning(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """AMA001 (incident notified within 1 h, an SLA) is soft: late gives a warning, exit 0."""
    ex = Exchange(types, signers)
    payload = {
        "detected_at": at("2026-02-01 10:00:00"),
        "nature": "x",
        "possible_detonation": False,
    }
    ex.send(
        "US",
        "RU",
        "ama.nuclear_incident",
        payload,
        at("2026-02-01 11:00:00"),
        at("2026-02-01 11:00:01"),
    )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "AMA001")
    assert f.outcome is Outcome.WARNING
    assert "late by 1 s" in f.explanation
    assert result.violations == 0


@pytest.mark.parametrize(
    ("received", "ok"),
    [("2026-03-06 23:59:59", True), ("2026-03-07 00:00:00", False)],
    ids=["last-second-of-day-5", "day-6"],
)
def test_lag_date_anchor_day_bound(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: str,
    ok: bool,
) -> None:
    """NST003: received on or before change_date + 5 days (UTC calendar dates)."""
    ex = Exchange(types, signers)
    payload = {
        "change_date": date(2026, 3, 1),
        "category": "ICBM",
        "item": "launcher",
        "change_type": "other",
    }
    notice = ex.send(
        "US", "RU", "nst.change_in_data", payload, at(received) - ONE_SECOND, at(received)
    )
    ex.ack("RU", notice, at(received) + timedelta(minutes=1), at(received) + timedelta(minutes=2))
    result = run(ex.write(tmp_path), cat, keyring)
    assert bool(only(result, "NST003")) is not ok


# -- span ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("end", "ok"), [(5, True), (6, False)], ids=["4-days", "5-days"])
def test_span_counts_inclusive_days(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    end: int,
    ok: bool,
) -> None:
    """BML002: a window 2026-03-02..2026-03-05 spans 4 days (allowed); to 03-06, 5 (warning)."""
    ex = Exchange(types, signers)
    payload = {**LAUNCH, "window_end_date": date(2026, 3, end)}
    ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        payload,
        at("2026-02-20 00:00:00"),
        at("2026-02-20 00:00:01"),
    )
    result = run(ex.write(tmp_path), cat, keyring)
    found = only(result, "BML002")
    assert bool(found) is not ok
    if found:
        assert found[0].outcome is Outcome.WARNING
        assert "spans 5 days" in found[0].explanation and "1 day too long" in found[0].explanation


# -- response and acknowledgement ---------------------------------------------------------------


def _nst_launch(ex: Exchange, received: str) -> object:
    return ex.send(
        "RU", "US", "nst.launch_notice", LAUNCH, at(received) - timedelta(seconds=3), at(received)
    )


@pytest.mark.parametrize(
    ("ack_received", "ok"),
    [
        pytest.param("2026-02-20 10:30:00", True, id="compliant"),
        pytest.param("2026-02-20 11:00:00", True, id="exactly-1h"),
        pytest.param("2026-02-20 11:00:01", False, id="one-second-late"),
    ],
)
def test_acknowledgement_within_bound_after_receipt(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    ack_received: str,
    ok: bool,
) -> None:
    """NST009: the acknowledgement is received by the notifier at most 1 h after the notice
    was received."""
    ex = Exchange(types, signers)
    notice = _nst_launch(ex, "2026-02-20 10:00:00")
    ex.ack("US", notice, at(ack_received) - timedelta(seconds=2), at(ack_received))  # type: ignore[arg-type]
    result = run(ex.write(tmp_path), cat, keyring)
    found = only(result, "NST009")
    assert summary(result, "NST009") == ((1, 1, 0, 0, 0) if ok else (1, 0, 1, 0, 0))
    if not ok:
        assert found[0].margin_seconds == -1 and found[0].measured_seconds == 3601
        assert found[0].parties == ("US", "RU")
        assert "late by 1 s" in found[0].explanation


def test_missing_acknowledgement_inside_period_is_violation(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """No acknowledgement at all, deadline inside the audited period: violation."""
    ex = Exchange(types, signers)
    _nst_launch(ex, "2026-02-20 10:00:00")
    result = run(ex.write(tmp_path, close_at=at("2026-02-20 11:00:00")), cat, keyring)
    (f,) = only(result, "NST009")
    assert f.outcome is Outcome.VIOLATION
    assert "it was due by 2026-02-20 11:00:00 UTC" in f.explanation


def test_missing_acknowledgement_after_end_of_logs_is_open(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Deadline one second after the end of the logs: open, not a violation."""
    ex = Exchange(types, signers)
    _nst_launch(ex, "2026-02-20 10:00:00")
    result = run(ex.write(tmp_path, close_at=at("2026-02-20 10:59:59")), cat, keyring)
    (f,) = only(result, "NST009")
    assert f.outcome is Outcome.OPEN


def test_until_sets_the_end_of_the_audited_period(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """--until before the acknowledgement arrived: records after it are not audited."""
    ex = Exchange(types, signers)
    notice = _nst_launch(ex, "2026-02-20 10:00:00")
    ex.ack("US", notice, at("2026-02-20 10:10:00"), at("2026-02-20 10:10:01"))  # type: ignore[arg-type]
    paths = ex.write(tmp_path)
    (f,) = only(run(paths, cat, keyring, until=at("2026-02-20 10:05:00")), "NST009")
    assert f.outcome is Outcome.OPEN
    assert not only(run(paths, cat, keyring), "NST009")


def test_reply_with_wrong_digest_is_integrity_finding_and_no_answer(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """An acknowledgement naming the notice with another digest is INT011 and does not count."""
    ex = Exchange(types, signers)
    notice = _nst_launch(ex, "2026-02-20 10:00:00")
    other = ex.compose("RU", "US", "nst.launch_notice", LAUNCH, at("2026-02-20 09:00:00"))
    forged_ref = type(notice.reply_ref())(id=notice.statement.id, digest=other.digest)  # type: ignore[attr-defined]
    ack = ex.compose(
        "US",
        "RU",
        "core.ack",
        {"received_at": at("2026-02-20 10:00:00")},
        at("2026-02-20 10:10:00"),
    )
    statement = types.statement(
        "core.ack",
        payload=ack.statement.payload,
        id=ack.statement.id,
        sender="US",
        recipient="RU",
        sent_at=at("2026-02-20 10:10:00"),
        epoch=1,
        seq=2,
        in_reply_to=forged_ref,
    )
    from nrrc.envelope import seal

    env = seal(types.encode(statement), signers["US"])
    ex.log("US", "sent", at("2026-02-20 10:10:00"), env)
    ex.log("RU", "received", at("2026-02-20 10:10:01"), env)
    result = run(ex.write(tmp_path, close_at=at("2026-02-20 12:00:00")), cat, keyring)
    assert {f.code for f in result.findings} >= {"INT011", "NST009"}
    assert only(result, "NST009")[0].outcome is Outcome.VIOLATION


def test_response_rule_with_its_own_kind(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """VD002: a request about unusual activities answered 48 h + 1 s after receipt."""
    ex = Exchange(types, signers)
    req = ex.send(
        "GB",
        "RU",
        "vd11.unusual_activity_request",
        {"concern": "troops"},
        at("2026-04-01 08:00:00"),
        at("2026-04-01 08:00:00"),
    )
    ex.ack("RU", req, at("2026-04-01 08:01:00"), at("2026-04-01 08:01:01"))
    ex.send(
        "RU",
        "GB",
        "vd11.unusual_activity_reply",
        {"objectives": "x", "location": "y"},
        at("2026-04-03 08:00:00"),
        at("2026-04-03 08:00:01"),
        reply_to=req,
    )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "VD002")
    assert "late by 1 s" in f.explanation and f.parties == ("RU", "GB")


# -- measured where the logs allow ---------------------------------------------------------------


def test_only_sender_log_measures_at_sending_with_a_note(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """With only the notifier's log, the sending stands in for the receipt, and says so."""
    ex = Exchange(types, signers)
    ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        LAUNCH,
        at("2026-03-01 01:00:00"),
        at("2026-03-01 01:00:01"),
    )
    paths = ex.write(tmp_path)
    ru_only = [p for p in paths if p.name.startswith("RU")]
    (f,) = only(run(ru_only, cat, keyring), "BML001")
    assert f.outcome is Outcome.VIOLATION
    assert "sent 2026-03-01 01:00:00 UTC" in f.explanation
    assert "US's log is not among the inputs" in f.explanation
    assert [e.role for e in f.evidence] == ["sending"]


# -- selection -------------------------------------------------------------------------------------


def test_select_and_ignore_by_code_and_agreement(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """--select keeps only the named codes/agreements; --ignore drops them."""
    paths = _launch(tmp_path, types, signers, BML_DEADLINE + ONE_SECOND)
    sel = run(paths, cat, keyring, selection=Selection(select=("bmlna",)))
    assert {f.code for f in sel.findings} == {"BML001"}
    ign = run(paths, cat, keyring, selection=Selection(ignore=("BML001", "msea")))
    assert not {f.code for f in ign.findings} & {"BML001", "MSE002"}


@pytest.mark.parametrize("named", [True, False], ids=["names-the-state-asked", "names-none"])
def test_a_request_copied_to_all_is_owed_a_reply_by_the_state_asked_only(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    named: bool,
) -> None:
    """VD002: GB asks RU for an explanation, with copies to all participating States (sent to
    the vd11 regime, received by RU, FR and US); RU replies in 2 h. Naming RU in
    requested_state, the copies owe nothing; naming nobody, every recipient owes a reply."""
    ex = Exchange(types, signers)
    t = at("2026-02-11 10:00:00")
    payload: dict[str, object] = {"concern": "forces near the border"}
    if named:
        payload["requested_state"] = "RU"
    request = ex.send(
        "GB",
        "vd11",
        "vd11.unusual_activity_request",
        payload,
        t - timedelta(seconds=5),
        t,
        receivers=("RU", "FR", "US"),
    )
    reply = {"objectives": "x", "location": "y"}
    ex.send(
        "RU",
        "GB",
        "vd11.unusual_activity_reply",
        reply,
        t + timedelta(hours=2),
        t + timedelta(hours=2, seconds=1),
        reply_to=request,
    )
    result = run(ex.write(tmp_path, close_at=at("2026-02-20 00:00:00")), cat, keyring)
    if named:
        assert not only(result, "VD002")
        assert summary(result, "VD002") == (1, 1, 0, 0, 0)
    else:
        assert sorted(f.parties for f in only(result, "VD002")) == [("FR", "GB"), ("US", "GB")]
