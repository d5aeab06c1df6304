"""The built-in agreement files: facts users rely on, pinned against AGREEMENTS.md.

Each row of ``RULES`` is a rule a user may cite in a report: its name (the rule id of
AGREEMENTS.md), type, bound and verification status code must not drift silently.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from nrrc.catalogue import Catalogue, FieldType, Rule, RuleType, Severity, load_catalogue


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    """The built-in catalogue, loaded once."""
    return load_catalogue()


# (rule name, rule type, bound or None, status code) for every rule encoded from AGREEMENTS.md.
RULES: list[tuple[str, RuleType, str | None, str]] = [
    ("msea_exercise_start_14d", RuleType.LEAD_TIME, "14d", "V"),
    ("msea_exercise_annual_quota", RuleType.QUOTA, None, "V"),
    ("ama_nuclear_incident_immediate", RuleType.LAG, "1h", "R"),
    ("ama_warning_anomaly_immediate", RuleType.LAG, "1h", "R"),
    ("ama_missile_launch_advance", RuleType.LEAD_TIME, "1h", "S"),
    ("incsea_hazard_notice_3to5d", RuleType.LEAD_TIME, "3d", "V-ru"),
    ("nst_initial_data_45d", RuleType.LAG, "45d", "V"),
    ("nst_semiannual_data_30d", RuleType.LAG, "30d", "V"),
    ("nst_change_in_data_5d", RuleType.LAG, "5d", "V"),
    ("nst_launch_24h", RuleType.LEAD_TIME, "24h", "V-ru"),
    ("nst_telemetry_deficiency_180d", RuleType.LAG, "180d", "V-ru"),
    ("nst_telemetry_explanation_60d", RuleType.RESPONSE, "60d", "V-ru"),
    ("nst_inspection_intent_32h", RuleType.LEAD_TIME, "32h", "R"),
    ("nst_ack_1h", RuleType.RESPONSE, "1h", "R"),
    ("nst_ack_1h_launch_notice", RuleType.RESPONSE, "1h", "R"),
    ("nst_ack_1h_inspection_intent", RuleType.RESPONSE, "1h", "R"),
    ("hcoc_pln", RuleType.WINDOW, None, "R"),
    ("hcoc_annual_declaration", RuleType.QUOTA, None, "R"),
    ("vd11_aemi_dec15", RuleType.PERIODIC, None, "V-ru"),
    ("vd11_unusual_activity_reply_48h", RuleType.RESPONSE, "48h", "S"),
    ("vd11_prior_notification_42d", RuleType.LEAD_TIME, "42d", "R"),
    ("vd11_prior_notification_covers_activity", RuleType.WINDOW, None, "R"),
    ("vd11_annual_calendar_nov15", RuleType.PERIODIC, None, "R"),
    ("vd11_large_activity_2y_notice", RuleType.PERIODIC, None, "V-hu"),
    ("cfe_annual_dec15", RuleType.PERIODIC, None, "V"),
    ("cfe_structure_change_42d", RuleType.LEAD_TIME, "42d", "V"),
    ("cfe_holdings_change_5d", RuleType.LAG, "5d", "V"),
    ("cfe_inspection_notice_36h", RuleType.LEAD_TIME, "36h", "V"),
    ("cfe_inspection_notice_96h", RuleType.LEAD_TIME, "96h", "V"),
    ("cfe_inspection_ack_3h", RuleType.RESPONSE, "3h", "V"),
    ("cfe_reduction_inspection_ack_3h", RuleType.RESPONSE, "3h", "V"),
    ("cfe_flight_plan_10h", RuleType.LEAD_TIME, "10h", "V"),
    ("cfe_flight_plan_approval_3h", RuleType.RESPONSE, "3h", "V"),
    ("cfe_poe_change_90d", RuleType.LEAD_TIME, "90d", "V"),
    ("os_flight_notice_72h", RuleType.LEAD_TIME, "72h", "V"),
    ("os_ack_24h", RuleType.RESPONSE, "24h", "V"),
    ("os_flight_notice_weekends", RuleType.LEAD_TIME, "72h", "V"),
    ("start1_initial_data_30d", RuleType.LAG, "30d", "V"),
    ("start1_update_30d", RuleType.LAG, "30d", "V"),
    ("start1_change_5d", RuleType.LAG, "5d", "V"),
    ("start1_inspection_16h", RuleType.LEAD_TIME, "16h", "V-ru"),
    ("start1_clearance_30d", RuleType.PERIODIC, None, "V-ru"),
    ("start1_ack_1h", RuleType.RESPONSE, "1h", "V-ru"),
    ("start1_ack_1h_initial_data", RuleType.RESPONSE, "1h", "V-ru"),
    ("start1_ack_1h_update", RuleType.RESPONSE, "1h", "V-ru"),
    ("start1_ack_1h_change", RuleType.RESPONSE, "1h", "V-ru"),
    ("start1_ack_1h_clearance", RuleType.RESPONSE, "1h", "V-ru"),
    ("inf_inspection_16h", RuleType.LEAD_TIME, "16h", "V-ru"),
    ("inf_elimination_inspection_72h", RuleType.LEAD_TIME, "72h", "V-ru"),
    ("inf_inspection_ack_1h", RuleType.RESPONSE, "1h", "V-ru"),
    ("inpk_window_notice_3d", RuleType.LEAD_TIME, "3d", "V"),
    ("inpk_window_5d", RuleType.WINDOW, None, "V"),
]

# Rules that are not a row of AGREEMENTS.md themselves but split a row into several checks
# (a response rule has one trigger kind; a quota or window is a separate check): the row each
# one derives from.
DERIVED = {
    "msea_exercise_annual_quota": "msea_exercise_start_14d",
    "nst_ack_1h_launch_notice": "nst_ack_1h",
    "nst_ack_1h_inspection_intent": "nst_ack_1h",
    "vd11_prior_notification_covers_activity": "vd11_prior_notification_42d",
    "cfe_reduction_inspection_ack_3h": "cfe_inspection_ack_3h",
    "os_flight_notice_weekends": "os_flight_notice_72h",
    "cfe_flight_plan_approval_3h": "cfe_flight_plan_10h",
    "start1_initial_data_30d": "start1_notif_periods",
    "start1_update_30d": "start1_notif_periods",
    "start1_change_5d": "start1_notif_periods",
    "start1_clearance_30d": "start1_inspection_16h",
    "start1_ack_1h_initial_data": "start1_ack_1h",
    "start1_ack_1h_update": "start1_ack_1h",
    "start1_ack_1h_change": "start1_ack_1h",
    "start1_ack_1h_clearance": "start1_ack_1h",
    "inf_inspection_16h": "inf_inspection_ack_1h",
    "inf_elimination_inspection_72h": "inf_inspection_ack_1h",
}

# The rule-name prefix AGREEMENTS.md §0.2 gives each agreement file.
NAME_PREFIX = {
    "msea": "msea_",
    "ama": "ama_",
    "incsea": "incsea_",
    "nst": "nst_",
    "hcoc": "hcoc_",
    "vd11": "vd11_",
    "cfe": "cfe_",
    "openskies": "os_",
    "inpk": "inpk_",
    "start1": "start1_",
    "inf": "inf_",
}

OBSERVED_ACTIVITIES = {"launch", "exercise", "military_activity"}


def _rule(catalogue: Catalogue, name: str) -> Rule:
    rule = catalogue.rule(name)
    assert rule is not None, f"no rule named {name!r}"
    return rule


def _builtin_rules(catalogue: Catalogue) -> list[Rule]:
    return [r for a in catalogue if a.id in NAME_PREFIX for r in a.rules]


@pytest.mark.parametrize(("name", "rtype", "bound", "status"), RULES, ids=[r[0] for r in RULES])
def test_rule_has_the_type_bound_and_status_of_agreements_md(
    catalogue: Catalogue, name: str, rtype: RuleType, bound: str | None, status: str
) -> None:
    """Each encoded rule has the type, bound and status code AGREEMENTS.md gives its row."""
    rule = _rule(catalogue, name)
    assert rule.type is rtype
    assert (str(rule.bound) if rule.bound is not None else None) == bound
    assert rule.status == status


def test_every_rule_of_the_new_files_is_in_the_table(catalogue: Catalogue) -> None:
    """No rule ships without a pinned row: the table and the files list the same rules."""
    assert sorted(r.name for r in _builtin_rules(catalogue)) == sorted(r[0] for r in RULES)


@pytest.mark.parametrize("agreement_id", sorted(NAME_PREFIX))
def test_codes_carry_the_prefix_and_count_from_001_in_file_order(
    catalogue: Catalogue, agreement_id: str
) -> None:
    """Rule codes are the agreement's prefix plus 001, 002, ... in file order."""
    agreement = catalogue.agreements[agreement_id]
    codes = [r.code for r in agreement.rules]
    assert codes == [f"{agreement.code_prefix}{i:03d}" for i in range(1, len(codes) + 1)]


def test_rule_codes_are_unique_across_the_catalogue(catalogue: Catalogue) -> None:
    """No two rules share a code, built-in files included."""
    codes = [r.code for a in catalogue for r in a.rules]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("agreement_id", sorted(NAME_PREFIX))
def test_rule_names_carry_the_agreement_prefix(catalogue: Catalogue, agreement_id: str) -> None:
    """Rule names start with their agreement's AGREEMENTS.md prefix (os_ for Open Skies)."""
    prefix = NAME_PREFIX[agreement_id]
    for rule in catalogue.agreements[agreement_id].rules:
        assert rule.name.startswith(prefix), rule.name


def test_every_rule_cites_an_article_and_a_url(catalogue: Catalogue) -> None:
    """Every rule names the article it implements and a URL where it can be checked."""
    for rule in _builtin_rules(catalogue):
        assert rule.citation.article.strip(), rule.name
        assert re.match(r"^https?://\S+$", rule.citation.url), rule.name


def test_every_rule_explains_itself(catalogue: Catalogue) -> None:
    """Every rule has a title, a description, a rationale and an example with a UTC date."""
    for rule in _builtin_rules(catalogue):
        assert rule.title.strip() and rule.description.strip(), rule.name
        assert rule.rationale.strip(), rule.name
        assert re.search(r"\d{4}-\d{2}-\d{2}", rule.example), rule.name


@pytest.mark.parametrize(("name", "row"), sorted(DERIVED.items()))
def test_derived_rules_name_the_row_they_come_from(
    catalogue: Catalogue, name: str, row: str
) -> None:
    """A rule split off an AGREEMENTS.md row says which row in its citation note."""
    assert f"row {row}" in _rule(catalogue, name).citation.note


def test_every_field_has_a_description(catalogue: Catalogue) -> None:
    """Every field of every kind tells a person what to put in it."""
    for agreement in catalogue:
        for kind in agreement.kinds:
            for spec in kind.fields:
                assert spec.description.strip(), f"{kind.id}.{spec.name}"


def test_anchor_and_window_fields_are_required(catalogue: Catalogue) -> None:
    """A field a deadline is counted from is required, so no notice escapes its rule."""
    for rule in _builtin_rules(catalogue):
        assert rule.kind is not None or rule.type is RuleType.RESPONSE, rule.name
        if rule.kind is None:
            continue
        kind = catalogue.kind(rule.kind)
        for name in (rule.anchor, rule.window_start):
            if name is not None:
                spec = kind.field(name)
                assert spec is not None and spec.required, f"{rule.name}: {name}"


def test_service_level_rules_are_warnings_that_say_they_are_not_treaty_constants(
    catalogue: Catalogue,
) -> None:
    """'Immediately' and 'in advance' bounds are SLA parameters, reported as warnings."""
    sla = {r.name for r in _builtin_rules(catalogue) if r.sla}
    assert sla == {
        "ama_nuclear_incident_immediate",
        "ama_warning_anomaly_immediate",
        "ama_missile_launch_advance",
    }
    for name in sla:
        rule = _rule(catalogue, name)
        assert rule.severity is Severity.WARNING
        assert "not a treaty constant" in " ".join(rule.description.lower().split())


def test_incsea_as_a_rule_bound_is_a_warning(catalogue: Catalogue) -> None:
    """INCSEA's 'as a rule, 3 to 5 days' is soft: a short notice is a warning."""
    assert _rule(catalogue, "incsea_hazard_notice_3to5d").severity is Severity.WARNING


def test_window_rules_watch_known_observed_activities(catalogue: Catalogue) -> None:
    """Window rules refer to the observed activities the audit knows."""
    windows = [r for r in _builtin_rules(catalogue) if r.type is RuleType.WINDOW]
    assert windows
    for rule in windows:
        assert rule.activity in OBSERVED_ACTIVITIES, rule.name


def test_inpk_window_is_five_days_from_its_start(catalogue: Catalogue) -> None:
    """The India-Pakistan window is fixed at five days from window_start."""
    rule = _rule(catalogue, "inpk_window_5d")
    assert rule.window_start == "window_start"
    assert str(rule.window_length) == "5d"


def test_acknowledgement_rules_answer_with_core_ack(catalogue: Catalogue) -> None:
    """Acknowledgement rules expect the common core.ack message."""
    acks = [r for r in _builtin_rules(catalogue) if "_ack_" in r.name]
    assert len(acks) == 12
    for rule in acks:
        assert rule.response == "core.ack", rule.name


@pytest.mark.parametrize(
    ("name", "due"),
    [
        ("vd11_aemi_dec15", (12, 15)),
        ("vd11_annual_calendar_nov15", (11, 15)),
        ("vd11_large_activity_2y_notice", (11, 15)),
        ("cfe_annual_dec15", (12, 15)),
    ],
)
def test_periodic_rules_fall_due_on_their_date(
    catalogue: Catalogue, name: str, due: tuple[int, int]
) -> None:
    """Periodic rules are due on the day and month AGREEMENTS.md gives."""
    rule = _rule(catalogue, name)
    assert (rule.due_month, rule.due_day) == due


@pytest.mark.parametrize(
    ("values", "applies"),
    [
        ({"troops": 9000, "alert_activity": False}, True),
        ({"troops": 8999, "alert_activity": False}, False),
        ({"troops": 100, "battle_tanks": 250, "alert_activity": False}, True),
        ({"troops": 100, "acv": 500, "alert_activity": False}, True),
        ({"troops": 100, "artillery": 250, "alert_activity": False}, True),
        ({"troops": 100, "airborne_troops": 3000, "alert_activity": False}, True),
        ({"troops": 100, "amphibious_troops": 3000, "alert_activity": False}, True),
        ({"troops": 20000, "alert_activity": True}, False),
    ],
    ids=["9000", "8999", "tanks", "acv", "artillery", "airborne", "amphibious", "alert"],
)
def test_vd11_42_day_rule_applies_from_any_threshold_except_alert_activities(
    catalogue: Catalogue, values: dict[str, object], applies: bool
) -> None:
    """The 42-day lead time applies when any Chapter V threshold is met, not to alert activities."""
    assert _rule(catalogue, "vd11_prior_notification_42d").applies_if.holds(values) is applies


@pytest.mark.parametrize(
    ("values", "applies"),
    [({"troops": 9000}, True), ({"troops": 8999, "battle_tanks": 249}, False)],
    ids=["at-threshold", "below"],
)
def test_vd11_window_rule_applies_to_activities_above_the_thresholds(
    catalogue: Catalogue, values: dict[str, object], applies: bool
) -> None:
    """Only observed activities at or above a Chapter V threshold need a covering notice."""
    rule = _rule(catalogue, "vd11_prior_notification_covers_activity")
    assert rule.applies_if.holds(values) is applies


@pytest.mark.parametrize(("percent", "applies"), [(10, True), (9.9, False), (35.5, True)])
def test_cfe_holdings_rule_applies_from_ten_percent(
    catalogue: Catalogue, percent: float, applies: bool
) -> None:
    """The CFE 5-day change notice is due for changes of 10 percent or more."""
    rule = _rule(catalogue, "cfe_holdings_change_5d")
    assert rule.applies_if.holds({"percent_change": percent}) is applies


@pytest.mark.parametrize("name", ["msea_exercise_start_14d", "msea_exercise_annual_quota"])
def test_msea_rules_concern_heavy_bomber_exercises_only(catalogue: Catalogue, name: str) -> None:
    """MSEA obliges notice of the exercise with heavy bombers; others are voluntary."""
    rule = _rule(catalogue, name)
    assert rule.applies_if.holds({"heavy_bombers": True})
    assert not rule.applies_if.holds({"heavy_bombers": False})


def test_msea_quota_requires_one_notice_per_year(catalogue: Catalogue) -> None:
    """One heavy-bomber exercise notice is required each calendar year; more are allowed."""
    rule = _rule(catalogue, "msea_exercise_annual_quota")
    assert (rule.min_count, rule.max_count) == (1, None)


def test_nst_launch_notice_reuses_the_1988_fields(catalogue: Catalogue) -> None:
    """New START's launch notice has the same fields and types as the 1988 notice."""
    nst = catalogue.kind("nst.launch_notice")
    bmlna = catalogue.kind("bmlna.launch_notice")
    assert [(f.name, f.type) for f in nst.fields] == [(f.name, f.type) for f in bmlna.fields]


def test_nst_records_suspension_and_expiry(catalogue: Catalogue) -> None:
    """New START says it was suspended by Russia in 2023 and expired on 5 February 2026."""
    nst = catalogue.agreements["nst"]
    assert "5 February 2026" in nst.status
    assert "2023" in nst.status


def test_hcoc_is_multilateral_with_austria_as_central_contact(catalogue: Catalogue) -> None:
    """HCoC notices go through the Immediate Central Contact, Austria."""
    hcoc = catalogue.agreements["hcoc"]
    assert hcoc.regime.value == "multilateral"
    assert hcoc.central_contact == "AT"


def test_hcoc_planned_direction_is_a_compass_bearing(catalogue: Catalogue) -> None:
    """The planned direction of a pre-launch notice is a number of degrees from 0 to 360."""
    spec = catalogue.kind("hcoc.prelaunch_notice").field("planned_direction")
    assert spec is not None
    assert (spec.type, spec.minimum, spec.maximum) == (FieldType.NUMBER, 0, 360)


def test_vd11_travels_over_the_osce_network(catalogue: Catalogue) -> None:
    """Vienna Document notices use the OSCE Communications Network."""
    vd11 = catalogue.agreements["vd11"]
    assert vd11.regime.value == "multilateral"
    assert vd11.channel == "OSCE Communications Network"


def test_inpk_parties_are_india_and_pakistan(catalogue: Catalogue) -> None:
    """The India-Pakistan agreement binds exactly IN and PK."""
    assert catalogue.agreements["inpk"].parties == ("IN", "PK")


def test_examples_use_real_calendar_dates(catalogue: Catalogue) -> None:
    """Every date quoted in an example exists (no 30 February)."""
    for rule in _builtin_rules(catalogue):
        for y, m, d in re.findall(r"(\d{4})-(\d{2})-(\d{2})", rule.example):
            date(int(y), int(m), int(d))
