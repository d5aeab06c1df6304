"""Golden logs for window, quota and periodic rules, and rules measured at sending.

A small test agreement (``zz``, written into the temporary directory) adds what the built-ins do
not have: a window rule with an area, a maximum quota, and a lead-time rule measured at sending.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from test_audit_kit import Exchange, at, only, run, summary

from nrrc.audit.findings import AuditResult, Outcome
from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes, Point

ZZ = """
schema = 1
[agreement]
id = "zz"
code_prefix = "ZZ"
title = "Test agreement"
short_title = "Test agreement"
year = 2026
regime = "bilateral"
parties = ["IN", "PK"]
channel = "test"
[[agreement.sources]]
title = "none"
status = "R"
[kinds.trial]
title = "Trial notice"
description = "A trial with a window and an area."
[kinds.trial.fields]
first_day = { type = "date", description = "First day." }
last_day = { type = "date", required = false, description = "Last day." }
zone = { type = "area", description = "Where." }
[[rules]]
code = "ZZ001"
name = "zz_trial_window_area"
title = "Trials inside a notified window and zone"
type = "window"
kind = "trial"
activity = "trial"
window_start = "first_day"
window_end = "last_day"
area_field = "zone"
status = "R"
description = "Each trial falls inside the window and zone of an earlier trial notice."
citation = { article = "Art. 1" }
[[rules]]
code = "ZZ002"
name = "zz_trial_quota_max"
title = "At most two trial notices a year"
type = "quota"
kind = "trial"
max = 2
status = "R"
description = "At most two per year."
citation = { article = "Art. 2" }
[[rules]]
code = "ZZ003"
name = "zz_trial_sent_2d"
title = "Trial notices sent 2 days before the first day"
type = "lead_time"
kind = "trial"
anchor = "first_day"
bound = "2d"
measured_at = "sending"
status = "R"
description = "Sent at least two days before."
citation = { article = "Art. 3" }
"""

ZONE = {"shape": "circle", "center": {"lat": 30.0, "lon": 70.0}, "radius": 100, "unit": "km"}


@pytest.fixture(scope="module")
def zz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalogue, MessageTypes, Path]:
    path = tmp_path_factory.mktemp("zz") / "zz.toml"
    path.write_text(ZZ)
    cat = load_catalogue([path])
    return cat, MessageTypes(cat), path


def _trial(first: date, last: date | None = None) -> dict[str, object]:
    out: dict[str, object] = {"first_day": first, "zone": ZONE}
    if last is not None:
        out["last_day"] = last
    return out


# -- window ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "covered"),
    [
        pytest.param("2026-03-10 00:00:00", True, id="first-second-of-window"),
        pytest.param("2026-03-12 23:59:59", True, id="last-second-of-last-day"),
        pytest.param("2026-03-13 00:00:00", False, id="day-after-window"),
        pytest.param("2026-03-09 23:59:59", False, id="day-before-window"),
    ],
)
def test_window_covers_whole_utc_days_inclusive(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
    when: str,
    covered: bool,
) -> None:
    """A date window 2026-03-10..2026-03-12 covers 00:00 on the 10th to 24:00 on the 12th."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 3, 10), date(2026, 3, 12)),
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
    )
    ex.observe("trial", "IN", at(when), location=Point(lat=30.1, lon=70.1))
    result = run(ex.write(tmp_path, close_at=at("2026-03-20 00:00:00")), cat, keyring)
    assert bool(only(result, "ZZ001")) is not covered
    assert summary(result, "ZZ001") == ((1, 1, 0, 0, 0) if covered else (1, 0, 1, 0, 0))


def test_window_area_must_contain_the_location(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Inside the window but 500 km from the notified zone: a violation naming the notice."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    notice = ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 3, 10)),
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
    )
    ex.observe("trial", "IN", at("2026-03-10 06:00:00"), location=Point(lat=34.5, lon=70.0))
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "ZZ001")
    assert "does not contain the location 34.5000, 70.0000" in f.explanation
    assert f.message_ids == (notice.statement.id,)
    assert f.evidence[0].role == "activity"


def test_window_needs_a_notice_provided_before_the_activity(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A notice received one second after the trial does not cover it."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 3, 10)),
        at("2026-03-10 05:59:59"),
        at("2026-03-10 06:00:01"),
    )
    ex.observe("trial", "IN", at("2026-03-10 06:00:00"))
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "ZZ001")
    assert "no trial from IN provided before it" in f.explanation


def test_unnotified_launch_is_a_violation_of_bml003(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """An observed ICBM launch with no launch notice at all breaks BML003; a covered one passes."""
    from test_audit_kit import LAUNCH

    ex = Exchange(types, signers)
    ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        LAUNCH,
        at("2026-02-20 00:00:00"),
        at("2026-02-20 00:00:01"),
    )
    ex.observe("launch", "RU", at("2026-03-02 06:10:00"), attributes={"missile_class": "ICBM"})
    ex.observe("launch", "RU", at("2026-03-09 06:10:00"), attributes={"missile_class": "ICBM"})
    ex.observe("launch", "RU", at("2026-03-09 07:10:00"), attributes={"missile_class": "SLV"})
    result = run(ex.write(tmp_path, close_at=at("2026-03-10 00:00:00")), cat, keyring)
    (f,) = only(result, "BML003")
    assert f.instants["activity"] == at("2026-03-09 06:10:00")
    assert summary(result, "BML003") == (2, 1, 1, 0, 0)


def test_window_length_in_days_from_a_date(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """INPK002: a five-day window from 2026-03-10 covers the 14th, not the 15th."""
    ex = Exchange(types, signers)
    payload = {
        "window_start": date(2026, 3, 10),
        "missile_type": "Agni",
        "launch_area": "x",
        "impact_area": ZONE,
    }
    ex.send(
        "IN",
        "PK",
        "inpk.prenotification",
        payload,
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
    )
    ex.observe("launch", "IN", at("2026-03-14 23:59:59"), attributes={"missile_class": "MRBM"})
    ex.observe("launch", "IN", at("2026-03-15 00:00:00"), attributes={"missile_class": "MRBM"})
    result = run(ex.write(tmp_path, close_at=at("2026-03-20 00:00:00")), cat, keyring)
    assert [f.instants["activity"] for f in only(result, "INPK002")] == [at("2026-03-15 00:00:00")]


# -- quota -----------------------------------------------------------------------------------------


def _exercise(ex: Exchange, when: str, heavy: bool = True) -> None:
    payload = {"start_date": date(2026, 12, 30), "heavy_bombers": heavy}
    ex.send("US", "RU", "msea.exercise_notice", payload, at(when), at(when) + timedelta(seconds=1))


def test_quota_minimum_over_a_whole_year(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """MSE002 over all of 2026: US notified one heavy-bomber exercise (pass), RU none
    (violation); a notice without heavy bombers does not count."""
    ex = Exchange(types, signers)
    _exercise(ex, "2026-06-01 00:00:00")
    payload = {"start_date": date(2026, 12, 30), "heavy_bombers": False}
    ex.send(
        "RU",
        "US",
        "msea.exercise_notice",
        payload,
        at("2026-06-01 00:00:00"),
        at("2026-06-01 00:00:01"),
    )
    result = run(
        ex.write(tmp_path, close_at=at("2027-01-01 00:00:00")),
        cat,
        keyring,
        until=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    (f,) = only(result, "MSE002")
    assert f.outcome is Outcome.VIOLATION and f.parties == ("RU",)
    assert "RU: 0 exercise notices" in f.explanation
    assert summary(result, "MSE002") == (2, 1, 1, 0, 0)


def test_quota_minimum_is_open_for_a_partial_year(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """One second short of the whole year: RU's missing notice is open, not a violation."""
    ex = Exchange(types, signers)
    _exercise(ex, "2026-06-01 00:00:00")
    result = run(ex.write(tmp_path, close_at=at("2026-12-31 23:59:58")), cat, keyring)
    (f,) = only(result, "MSE002")
    assert f.outcome is Outcome.OPEN and "not the whole year" in f.explanation


def test_quota_maximum_is_a_violation_as_soon_as_exceeded(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """ZZ002 (at most 2 a year): the third notice of 2026 is one too many, even mid-year."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    sent = []
    for month in (3, 4, 5):
        sent.append(
            ex.send(
                "IN",
                "PK",
                "zz.trial",
                _trial(date(2026, month, 20)),
                at(f"2026-0{month}-01 00:00:00"),
                at(f"2026-0{month}-01 00:00:01"),
            )
        )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "ZZ002")
    assert "3 trials" in f.explanation and "1 too many" in f.explanation
    assert f.message_ids == (sent[2].statement.id,)


# -- measured at sending ---------------------------------------------------------------------------


def test_rule_measured_at_sending_uses_sent_at(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """ZZ003 is measured at sending: sent on time, received days late, still compliant."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 3, 10)),
        at("2026-03-08 23:59:59"),
        at("2026-03-09 12:00:00"),
    )
    ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 4, 10)),
        at("2026-04-09 00:00:00"),
        at("2026-04-09 00:00:01"),
    )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "ZZ003")
    assert "sent 2026-04-09 00:00:00 UTC" in f.explanation
    assert summary(result, "ZZ003") == (2, 1, 1, 0, 0)


# -- periodic --------------------------------------------------------------------------------------


def _exchange_info(ex: Exchange, sender: str, when: str) -> None:
    ex.send(
        sender,
        "RU" if sender != "RU" else "GB",
        "vd11.annual_information_exchange",
        {"valid_as_of": date(2027, 1, 1)},
        at(when) - timedelta(seconds=1),
        at(when),
    )


@pytest.mark.parametrize(
    ("when", "late"),
    [
        pytest.param("2026-12-15 23:59:59", None, id="last-second-of-due-date"),
        pytest.param("2026-12-16 00:00:00", "1 day late", id="first-second-after"),
    ],
)
def test_periodic_due_date_is_a_whole_utc_day(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    when: str,
    late: str | None,
) -> None:
    """VD001: the annual exchange is due by the end of 15 December (UTC)."""
    ex = Exchange(types, signers)
    _exchange_info(ex, "GB", when)
    _exchange_info(ex, "RU", "2026-12-01 00:00:00")
    result = run(ex.write(tmp_path, close_at=at("2026-12-31 00:00:00")), cat, keyring)
    found = only(result, "VD001")
    if late is None:
        assert not found and summary(result, "VD001") == (2, 2, 0, 0, 0)
    else:
        (f,) = found
        assert f.parties == ("GB",) and late in f.explanation


def test_periodic_missing_notice_violation_or_open(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """No exchange from RU: a violation once 15 December lies inside the audited period,
    open when the logs end before it."""
    ex = Exchange(types, signers)
    _exchange_info(ex, "GB", "2026-11-01 00:00:00")
    ex.send(
        "RU",
        "GB",
        "core.free_text",
        {"subject": "s", "text": "t"},
        at("2026-11-02 00:00:00"),
        at("2026-11-02 00:00:01"),
    )
    paths = ex.write(tmp_path, close_at=at("2026-12-16 00:00:00"))
    (f,) = only(run(paths, cat, keyring), "VD001")
    assert f.outcome is Outcome.VIOLATION and f.parties == ("RU",)
    (g,) = only(run(paths, cat, keyring, until=at("2026-12-15 23:59:58")), "VD001")
    assert g.outcome is Outcome.OPEN


def test_a_late_annual_exchange_counts_for_the_year_it_is_for(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """CFE001: GB's exchange effective 2027-01-01 (the 2026 exchange) arrives on 2027-01-05.
    It is the 2026 exchange, 21 days late; it does not satisfy 2027, for which nothing came
    by 2027-12-15."""
    ex = Exchange(types, signers)
    for sender, recipient, effective, when in [
        ("RU", "GB", date(2027, 1, 1), "2026-12-10 00:00:00"),
        ("RU", "GB", date(2028, 1, 1), "2027-12-10 00:00:00"),
        ("GB", "RU", date(2027, 1, 1), "2027-01-05 00:00:00"),
    ]:
        payload = {"effective_date": effective, "language": "en"}
        ex.send(sender, recipient, "cfe.annual_exchange", payload, at(when), at(when))
    result = run(ex.write(tmp_path, close_at=at("2028-01-01 00:00:00")), cat, keyring)
    late, missing = sorted(only(result, "CFE001"), key=lambda f: "late" not in f.explanation)
    assert late.parties == ("GB",) and "for 2026 was received 2027-01-05" in late.explanation
    assert "21 days late" in late.explanation
    assert missing.outcome is Outcome.VIOLATION
    assert "no annual exchange for 2027 (effective_date in 2028)" in missing.explanation
    assert summary(result, "CFE001") == (4, 2, 2, 0, 0)


def test_exercise_quota_counts_the_year_the_exercise_is_held(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """MSE002 counts per calendar year of the exercise's start date: US's 2027 exercise,
    notified on 2026-12-20, satisfies 2027, not 2026; RU notified one for each year."""
    notices = [
        ("US", "RU", date(2026, 6, 1), "2026-05-01 00:00:00"),
        ("US", "RU", date(2027, 1, 10), "2026-12-20 00:00:00"),
        ("RU", "US", date(2026, 9, 1), "2026-08-01 00:00:00"),
        ("RU", "US", date(2027, 9, 1), "2026-08-02 00:00:00"),
    ]

    def audit_of(rows: list[tuple[str, str, date, str]], directory: Path) -> AuditResult:
        ex = Exchange(types, signers)
        for sender, recipient, start, when in rows:
            payload = {"start_date": start, "heavy_bombers": True}
            ex.send(sender, recipient, "msea.exercise_notice", payload, at(when), at(when))
        return run(ex.write(directory, close_at=at("2028-01-01 00:00:00")), cat, keyring)

    result = audit_of(notices, tmp_path)
    assert not only(result, "MSE002")
    assert summary(result, "MSE002") == (4, 4, 0, 0, 0)
    # Without the January exercise's notice, US has none for 2027: a violation for 2027 only.
    result = audit_of([n for n in notices if n[2] != date(2027, 1, 10)], tmp_path / "2")
    (f,) = only(result, "MSE002")
    assert f.parties == ("US",) and "for 2027 (start_date in 2027)" in f.explanation


def test_year_field_must_name_a_date_or_integer_field(tmp_path: Path) -> None:
    """A rule's year_field is checked like its other field references."""
    from nrrc.errors import CatalogueError

    bad = ZZ.replace("max = 2\n", 'max = 2\nyear_field = "zone"\n')
    path = tmp_path / "zz.toml"
    path.write_text(bad)
    with pytest.raises(CatalogueError) as err:
        load_catalogue([path])
    assert "year_field" in str(
        err.value
    ) and "this rule needs a date or datetime or integer" in str(err.value)
    path.write_text(ZZ.replace("max = 2\n", "max = 2\nyear_offset = -1\n"))
    with pytest.raises(CatalogueError) as err:
        load_catalogue([path])
    assert "year_offset needs year_field" in str(err.value)


@pytest.mark.parametrize(
    ("end", "covered"),
    [
        pytest.param("2026-03-12 23:59:59", True, id="ends-last-second-of-window"),
        pytest.param("2026-03-13 00:00:00", True, id="ends-exactly-at-window-end"),
        pytest.param("2026-03-13 00:00:01", False, id="ends-one-second-after"),
        pytest.param("2026-03-20 00:00:00", False, id="runs-a-week-past"),
    ],
)
def test_a_lasting_activity_must_end_inside_the_window(
    tmp_path: Path,
    zz: tuple[Catalogue, MessageTypes, Path],
    signers: dict[str, Signer],
    keyring: Keyring,
    end: str,
    covered: bool,
) -> None:
    """An activity falls inside a window from its start to its end: one notified for
    2026-03-10..2026-03-12 that runs on after 24:00 on the 12th is not covered, and the
    finding names the notice that covered its start."""
    cat, types, _ = zz
    ex = Exchange(types, signers)
    notice = ex.send(
        "IN",
        "PK",
        "zz.trial",
        _trial(date(2026, 3, 10), date(2026, 3, 12)),
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
    )
    ex.observe("trial", "IN", at("2026-03-11 06:00:00"), end_at=at(end))
    result = run(ex.write(tmp_path), cat, keyring)
    if covered:
        assert summary(result, "ZZ001") == (1, 1, 0, 0, 0)
        return
    (f,) = only(result, "ZZ001")
    assert "covers its start but not its end" in f.explanation
    assert f"ran until {end} UTC" in f.explanation
    assert f.message_ids == (notice.statement.id,)


def test_vd004_checks_the_notified_area(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A notifiable military activity 1,500 km from the area of the only prior notification
    covering its dates is not covered by it (Vienna Document Ch. V: the notice gives the area)."""
    ex = Exchange(types, signers)
    area = {"shape": "circle", "center": {"lat": 55.0, "lon": 30.0}, "radius": 100, "unit": "km"}
    payload = {
        "designation": "Zapad",
        "purpose": "exercise",
        "participating_states": ["RU"],
        "start_date": date(2026, 9, 10),
        "end_date": date(2026, 9, 20),
        "area": area,
        "troops": 12000,
        "battle_tanks": 100,
        "acv": 100,
        "artillery": 50,
        "alert_activity": False,
    }
    ex.send(
        "RU",
        "GB",
        "vd11.prior_notification",
        payload,
        at("2026-07-01 00:00:00"),
        at("2026-07-01 00:00:01"),
    )
    attrs = {"troops": 12000}
    ex.observe(
        "military_activity",
        "RU",
        at("2026-09-15 00:00:00"),
        location=Point(lat=55.1, lon=30.1),
        attributes=attrs,
    )
    ex.observe(
        "military_activity",
        "RU",
        at("2026-09-16 00:00:00"),
        location=Point(lat=43.0, lon=45.0),
        attributes=attrs,
    )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "VD004")
    assert "does not contain the location 43.0000, 45.0000" in f.explanation
    assert summary(result, "VD004") == (2, 1, 1, 0, 0)
