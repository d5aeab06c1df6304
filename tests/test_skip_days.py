"""Rules whose bound counts only some weekdays (``skip_days``): Open Skies OS003.

The semantics functions are checked against a deliberately simple oracle (day by day, then a
binary search over whole seconds); the audit is checked on golden logs at the boundary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_audit_kit import ONE_SECOND, Exchange, at, only, run, summary

from nrrc.audit import semantics
from nrrc.audit.findings import Outcome
from nrrc.catalogue import Catalogue, RuleType, load_catalogue
from nrrc.errors import CatalogueError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.timeutil import parse_duration

WEEKEND = (5, 6)


def oracle_counted(lo: datetime, hi: datetime, skip: tuple[int, ...]) -> float:
    """Seconds of [lo, hi] on days not skipped, one UTC day at a time."""
    total = 0.0
    day = lo.date()
    while datetime.combine(day, datetime.min.time(), tzinfo=UTC) < hi:
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        if day.weekday() not in skip:
            overlap = (min(end, hi) - max(start, lo)).total_seconds()
            total += max(overlap, 0.0)
        day += timedelta(days=1)
    return total


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
skips = st.sets(st.integers(0, 6), min_size=1, max_size=6).map(lambda s: tuple(sorted(s)))


@settings(max_examples=200, deadline=None)
@given(instants, instants, skips)
def test_counted_equals_the_day_by_day_oracle(
    a: datetime, b: datetime, skip: tuple[int, ...]
) -> None:
    lo, hi = min(a, b), max(a, b)
    assert semantics.counted(lo, hi, skip).total_seconds() == oracle_counted(lo, hi, skip)
    assert semantics.counted(hi, lo, skip).total_seconds() == -oracle_counted(lo, hi, skip)


@settings(max_examples=200, deadline=None)
@given(instants, st.integers(1, 24 * 40).map(lambda h: h * 3600), skips, st.booleans())
def test_shifted_is_the_last_compliant_instant(
    ref: datetime, seconds: int, skip: tuple[int, ...], back: bool
) -> None:
    """Back: the latest instant with at least ``seconds`` counted up to ``ref``; forward: the
    earliest at which ``seconds`` have been counted since ``ref`` (found by binary search)."""
    got = semantics.shifted(ref, timedelta(seconds=seconds), skip, back=back)
    if back:
        assert oracle_counted(got, ref, skip) == seconds
        assert oracle_counted(got + ONE_SECOND, ref, skip) < seconds
    else:
        assert oracle_counted(ref, got, skip) == seconds
        assert oracle_counted(ref, got - ONE_SECOND, skip) < seconds


def _notice(eta: str) -> dict[str, object]:
    return {
        "point_of_entry": "Rzeszow",
        "eta": at(eta),
        "pre_flight_inspection_location": "Rzeszow",
        "pre_flight_inspection_start": at(eta) + timedelta(hours=2),
        "diplomatic_clearance_number": "OS-2026-17",
        "flight_distance_km": 900,
        "personnel": ["A. Observer"],
    }


ETA = "2026-05-18 10:00:00"  # a Monday
WEEKDAY_DEADLINE = at("2026-05-13 10:00:00")  # Wednesday: Mon 10 h + Fri 24 h + Thu 24 h + Wed 14 h


def _flight(
    tmp_path: Path, types: MessageTypes, signers: dict[str, Signer], received: datetime
) -> list[Path]:
    ex = Exchange(types, signers)
    notice = ex.send(
        "GB", "RU", "openskies.flight_notice", _notice(ETA), received - ONE_SECOND, received
    )
    ex.ack("RU", notice, received + timedelta(hours=1), received + timedelta(hours=1, seconds=1))
    return ex.write(tmp_path)


@pytest.mark.parametrize(
    ("received", "os001", "os003"),
    [
        pytest.param(WEEKDAY_DEADLINE, True, True, id="exactly-72-weekday-hours"),
        pytest.param(WEEKDAY_DEADLINE + ONE_SECOND, True, False, id="one-second-less"),
        pytest.param(at("2026-05-15 10:00:00"), True, False, id="friday-minimum-over-weekend"),
        pytest.param(at("2026-05-15 10:00:01"), False, False, id="too-late-for-both"),
        pytest.param(at("2026-05-01 09:00:00"), True, True, id="weeks-ahead"),
    ],
)
def test_open_skies_weekend_request_is_a_warning(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    received: datetime,
    os001: bool,
    os003: bool,
) -> None:
    """OS001 counts 72 elapsed hours; OS003 warns when the 72 hours are reached only by
    counting Saturday and Sunday hours (UTC). Exactly at the weekday bound: no warning."""
    result = run(_flight(tmp_path, types, signers, received), cat, keyring)
    assert bool(only(result, "OS001")) is not os001
    found = only(result, "OS003")
    assert bool(found) is not os003
    assert summary(result, "OS003") == ((1, 1, 0, 0, 0) if os003 else (1, 0, 0, 1, 0))
    if not os003:
        (f,) = found
        assert f.outcome is Outcome.WARNING
        assert f.bound_seconds == 72 * 3600
        assert "Saturdays and Sundays" in f.explanation
        assert "2026-05-13 10:00:00 UTC" in f.explanation  # the deadline, said
    if os001:
        assert result.violations == 0


def test_warning_measures_the_weekday_hours(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Friday 10:00 for a Monday 10:00 ETA: 72 h elapsed, 24 h of them on weekdays (14 h of
    Friday, 10 h of Monday)."""
    result = run(_flight(tmp_path, types, signers, at("2026-05-15 10:00:00")), cat, keyring)
    (f,) = only(result, "OS003")
    assert f.measured_seconds == 24 * 3600
    assert f.margin_seconds == -48 * 3600
    assert "3 d before the eta 2026-05-18 10:00:00 UTC, of which 1 d count" in f.explanation
    assert "short by 2 d" in f.explanation


def _agreement(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / "try.toml"
    path.write_text(
        f"""schema = 1
[agreement]
id = "trial"
code_prefix = "TRY"
title = "Trial"
short_title = "Trial"
year = 2026
regime = "bilateral"
parties = ["US", "RU"]
channel = "NRRC"
[[agreement.sources]]
title = "Draft"
url = "https://example.org/draft"
status = "R"
[kinds.notice]
title = "Notice"
description = "A notice."
citation = {{ article = "Art. 1" }}
[kinds.notice.fields]
due_at = {{ type = "datetime", description = "When." }}
[[rules]]
code = "TRY001"
name = "try_rule"
title = "Trial rule"
type = "lead_time"
kind = "notice"
anchor = "due_at"
status = "R"
description = "Trial."
citation = {{ article = "Art. 1" }}
{rule}
""",
        encoding="utf-8",
    )
    return path


def test_a_new_arrangement_can_skip_other_days(tmp_path: Path) -> None:
    """Researchers can try working-day bounds with another weekend (Friday and Saturday)."""
    path = _agreement(tmp_path, 'bound = "48h"\nskip_days = ["friday", "saturday"]')
    rule = load_catalogue(extra=[path]).rule("TRY001")
    assert rule.type is RuleType.LEAD_TIME
    assert rule.skip_days == (4, 5)
    assert rule.bound_words() == "≥ 48h before due_at, Fridays and Saturdays not counted"
    b = semantics.lead_time_skipping(
        rule.skip_days,
        rule.skip_words(),
        at("2026-05-16 00:00:00"),
        at("2026-05-17 00:00:00"),
        parse_duration("48h"),
        "due_at",
        "received",
    )
    assert not b.ok and b.measured == 0  # Saturday does not count
    assert b.deadline == at("2026-05-13 00:00:00")  # Thursday and Wednesday count


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('bound = "3d"\nskip_days = ["sunday"]', "skip_days needs a bound in hours"),
        ('bound = "3h"\nskip_days = ["Sunday"]', "expected a day name"),
        ('bound = "3h"\nskip_days = ["sunday", "sunday"]', "'sunday' is listed twice"),
        ('bound = "3h"\nskip_days = []', "expected a non-empty array of day names"),
        (
            'bound = "3h"\nskip_days = ["monday", "tuesday", "wednesday", "thursday", '
            '"friday", "saturday", "sunday"]',
            "every day of the week is skipped",
        ),
    ],
)
def test_bad_skip_days_are_named(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(CatalogueError) as err:
        load_catalogue(extra=[_agreement(tmp_path, rule)])
    assert "rules[0].skip_days" in str(err.value)
    assert message in str(err.value)


def test_builtin_os003_is_soft_and_cited() -> None:
    rule = load_catalogue().rule("OS003")
    assert rule.skip_days == WEEKEND
    assert rule.severity.value == "warning"
    assert "over weekends" in (rule.citation.quote or "")
    assert date(2026, 5, 16).weekday() == 5  # the test's calendar: Saturday 16 May 2026


def test_centres_plan_lead_times_with_the_skipped_days() -> None:
    """A simulated centre's deadline for OS003 is the weekday one (its ledger and the audit
    agree on what is late)."""
    from nrrc.centre._rulebook import RuleBook

    book = RuleBook(load_catalogue())
    deadlines = {
        rule.code: first_late
        for rule, first_late in book.lead_deadlines("openskies.flight_notice", {"eta": at(ETA)})
    }
    assert deadlines["OS001"] == at("2026-05-15 10:00:00") + timedelta(microseconds=1)
    assert deadlines["OS003"] == WEEKDAY_DEADLINE + timedelta(microseconds=1)
