"""START I and INF: the acknowledgement and inspection-notice precedents of the NRRC link.

Golden logs at each bound (exactly on it, one second past it), written with the core API and
audited; the dates are in 2026 (a what-if exercise under the historical rules) because the test
keys are valid from 2020.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_audit_kit import ONE_SECOND, Exchange, at, only, run, summary

from nrrc.audit.findings import Outcome
from nrrc.catalogue import Catalogue
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

ETA = at("2026-04-10 06:00:00")


def _inf(basis: str) -> dict[str, object]:
    return {
        "point_of_entry": "Travis AFB",
        "eta": ETA,
        "inspection_basis": basis,
        "inspectors": ["A. Inspector", "B. Inspector"],
    }


@pytest.mark.parametrize(
    ("basis", "received", "code", "ok"),
    [
        pytest.param("XI.5", ETA - timedelta(hours=16), "INF001", True, id="short-notice-at-16h"),
        pytest.param(
            "XI.5", ETA - timedelta(hours=16) + ONE_SECOND, "INF001", False, id="16h-less-1s"
        ),
        pytest.param("XI.7", ETA - timedelta(hours=72), "INF002", True, id="elimination-at-72h"),
        pytest.param(
            "XI.7", ETA - timedelta(hours=72) + ONE_SECOND, "INF002", False, id="72h-less-1s"
        ),
    ],
)
def test_inf_lead_time_depends_on_the_article(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    basis: str,
    received: datetime,
    code: str,
    ok: bool,
) -> None:
    """Art. XI paras 3-5: 16 h; paras 7-8: 72 h. Only the rule of the notice's article is
    checked; the acknowledgement comes within the hour."""
    ex = Exchange(types, signers)
    notice = ex.send(
        "US", "RU", "inf.inspection_intent", _inf(basis), received - ONE_SECOND, received
    )
    ex.ack("RU", notice, received + timedelta(minutes=59), received + timedelta(minutes=60))
    result = run(ex.write(tmp_path), cat, keyring)
    other = "INF002" if code == "INF001" else "INF001"
    assert summary(result, other) is None  # not applicable to this article
    assert summary(result, code) == ((1, 1, 0, 0, 0) if ok else (1, 0, 1, 0, 0))
    assert summary(result, "INF003") == (1, 1, 0, 0, 0)
    if not ok:
        (f,) = only(result, code)
        assert f.outcome is Outcome.VIOLATION and f.margin_seconds == -1
        assert f.parties == ("US", "RU") and "short by 1 s" in f.explanation


@pytest.mark.parametrize(
    ("delay", "ok"),
    [(timedelta(hours=1), True), (timedelta(hours=1, seconds=1), False)],
    ids=["ack-at-1h", "ack-1h-1s"],
)
def test_start_acknowledgement_within_one_hour(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    delay: timedelta,
    ok: bool,
) -> None:
    """START I Art. VIII para 4: receipt confirmed no later than one hour after receipt."""
    ex = Exchange(types, signers)
    payload = {
        "change_date": at("2026-03-04 00:00:00").date(),
        "category": "deployed ICBMs",
        "item": "SS-25 launcher",
    }
    received = at("2026-03-06 09:15:00")
    notice = ex.send("RU", "US", "start1.change_in_data", payload, received - ONE_SECOND, received)
    ex.ack("US", notice, received + delay - ONE_SECOND, received + delay)
    result = run(ex.write(tmp_path), cat, keyring)
    assert summary(result, "STA003") == (1, 1, 0, 0, 0)  # 2 days after the change
    assert summary(result, "STA009") == ((1, 1, 0, 0, 0) if ok else (1, 0, 1, 0, 0))
    if not ok:
        (f,) = only(result, "STA009")
        assert f.parties == ("US", "RU") and f.margin_seconds == -1


@pytest.mark.parametrize(
    ("when", "late"),
    [("2026-12-02 23:59:59", False), ("2026-12-03 00:00:00", True)],
    ids=["last-second-of-2-december", "3-december"],
)
def test_start_clearance_30_days_before_the_year(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    when: str,
    late: bool,
) -> None:
    """The standing clearance for 2027 is due 30 days before 1 January 2027: by the end of
    2 December 2026 (UTC); it counts for 2026 whenever it arrives."""
    ex = Exchange(types, signers)
    for party, other, arrival in (("US", "RU", when), ("RU", "US", "2026-11-20 08:00:00")):
        notice = ex.send(
            party,
            other,
            "start1.diplomatic_clearance",
            {"valid_for_year": 2027, "clearance_number": f"{party}-CLR-2027"},
            at(arrival) - ONE_SECOND,
            at(arrival),
        )
        ex.ack(
            other, notice, at(arrival) + timedelta(minutes=5), at(arrival) + timedelta(minutes=6)
        )
    result = run(ex.write(tmp_path, close_at=at("2026-12-31 00:00:00")), cat, keyring)
    found = only(result, "STA005")
    if not late:
        assert not found and summary(result, "STA005") == (2, 2, 0, 0, 0)
    else:
        (f,) = found
        assert f.outcome is Outcome.VIOLATION and f.parties == ("US",)
        assert "2026-12-02" in f.explanation


# -- CFE flight plans and points of entry (Protocol on Inspection §IV ¶8-9, §III ¶11) ----------

ENTRY = at("2026-04-20 14:00:00")


def _flight_plan() -> dict[str, object]:
    return {
        "airspace_entry": ENTRY,
        "point_of_entry": "Frankfurt",
        "diplomatic_clearance_number": "CFE-2026-044",
        "icao_flight_plan": "(FPL-GAF123-IN ... RMK/CFE INSPECTION AIRCRAFT. PRIORITY CLEARANCE "
        "PROCESSING REQUIRED.)",
    }


@pytest.mark.parametrize(
    ("received", "approved_after", "plan_ok", "approval_ok"),
    [
        (ENTRY - timedelta(hours=10), timedelta(hours=3), True, True),
        (ENTRY - timedelta(hours=10) + ONE_SECOND, timedelta(hours=3, seconds=1), False, False),
    ],
    ids=["on-both-bounds", "one-second-past-both"],
)
def test_cfe_flight_plan_10h_ahead_and_approved_within_3h(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: datetime,
    approved_after: timedelta,
    plan_ok: bool,
    approval_ok: bool,
) -> None:
    ex = Exchange(types, signers)
    plan = ex.send("GB", "RU", "cfe.flight_plan", _flight_plan(), received - ONE_SECOND, received)
    ex.send(
        "RU",
        "GB",
        "cfe.flight_plan_approval",
        {"approved": True},
        received + approved_after - ONE_SECOND,
        received + approved_after,
        reply_to=plan,
    )
    result = run(ex.write(tmp_path), cat, keyring)
    assert summary(result, "CFE008") == ((1, 1, 0, 0, 0) if plan_ok else (1, 0, 1, 0, 0))
    assert summary(result, "CFE009") == ((1, 1, 0, 0, 0) if approval_ok else (1, 0, 1, 0, 0))


@pytest.mark.parametrize(
    ("when", "ok"),
    [("2026-07-03 23:59:59", True), ("2026-07-04 00:00:00", False)],
    ids=["last-second-of-day-90", "day-89"],
)
def test_cfe_points_of_entry_change_90_days_ahead(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    when: str,
    ok: bool,
) -> None:
    """A date anchor with a day bound compares UTC calendar dates: 90 days before 1 October."""
    ex = Exchange(types, signers)
    payload = {
        "effective_date": at("2026-10-01 00:00:00").date(),
        "points_of_entry": ["Frankfurt", "Ramstein"],
    }
    ex.send("GB", "RU", "cfe.poe_change", payload, at(when) - ONE_SECOND, at(when))
    result = run(ex.write(tmp_path), cat, keyring)
    assert summary(result, "CFE010") == ((1, 1, 0, 0, 0) if ok else (1, 0, 1, 0, 0))
    if not ok:
        (f,) = only(result, "CFE010")
        assert "1 day late" in f.explanation and "2026-07-03" in f.explanation
