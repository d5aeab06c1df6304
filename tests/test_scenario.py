"""Scenario files: the built-ins load, and every mistake is reported at once with its key path."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from nrrc.catalogue import Catalogue
from nrrc.errors import ScenarioError
from nrrc.scenario import builtin_scenarios, load_scenario

GOOD = """
schema = 1
[scenario]
id = "tiny"
title = "Tiny"
start = 2026-01-01T00:00:00Z
duration = "90d"
seed = 3

[[centres]]
id = "US"

[[centres]]
id = "RU"

[[agreements]]
id = "bmlna"
parties = ["US", "RU"]

[[generate]]
activity = "launch"
parties = ["RU"]
per_year = 4
attributes = { missile_class = "ICBM" }
"""


def write(tmp_path: Path, text: str) -> Path:
    """A scenario file with ``text``."""
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(cat: Catalogue, path: Path) -> list[tuple[str, str]]:
    """(key path, message) of every problem of a scenario that must fail to load."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, cat)
    assert all(p.file == str(path) for p in info.value.problems)
    return [(p.path, p.message) for p in info.value.problems]


def test_builtin_scenarios_load(cat: Catalogue) -> None:
    """The five built-ins load, with the sizes the product promises."""
    sizes = {sid: len(load_scenario(sid, cat).centres) for sid in builtin_scenarios()}
    assert sizes == {"hcoc": 145, "india-pakistan": 2, "osce": 57, "p5": 5, "us-ru-2024": 2}


def test_hcoc_routes_through_the_central_contact_austria(cat: Catalogue) -> None:
    """The HCoC scenario is one regime whose central contact is AT."""
    s = load_scenario("hcoc", cat)
    assert s.central_contacts() == {"hcoc": "AT"}
    assert len(s.regimes()["hcoc"]) == 145


def test_us_ru_2024_suspends_new_start_only(cat: Catalogue) -> None:
    """In 2024 New START is suspended while the 1988 and 1989 agreements are in force."""
    s = load_scenario("us-ru-2024", cat)
    assert s.agreements_in_force() == ["bmlna", "msea"]


def test_generated_activities_are_deterministic_and_planned_ahead(
    cat: Catalogue, tmp_path: Path
) -> None:
    """The same seed generates the same activities, each known at least the planning horizon
    (30 days by default) before its window opens, and inside the run."""
    s = load_scenario(write(tmp_path, GOOD), cat)
    first = s.schedule(random.Random(1))
    again = s.schedule(random.Random(1))
    assert first == again and len(first) == 1  # 4 a year, prorated to 90 days: one
    (item,) = first
    assert item.item.start - item.known_at >= timedelta(days=30)
    assert s.start <= item.item.at < s.end


def test_every_problem_is_reported_at_once_with_its_key_path(
    cat: Catalogue, tmp_path: Path
) -> None:
    """Unknown keys (with a suggestion), bad durations and distributions, undeclared parties,
    unknown agreements and kinds, naive date-times: all in one error."""
    text = GOOD.replace('duration = "90d"', 'duration = "ninety days"')
    text = text.replace('id = "RU"', 'id = "RU"\nlate_delay = "gaussian(1h)"\nsilnt = []')
    text = text.replace('parties = ["US", "RU"]', 'parties = ["US", "XX"]')
    text += '\n[[agreements]]\nid = "bmlnaa"\n'
    text += '\n[[centres]]\nid = "GB"\nsilent = ["bmlna.launch_notise"]\n'
    text += '\n[[activities]]\nparty = "US"\nactivity = "launch"\nat = 2026-02-01T00:00:00\n'
    found = problems(cat, write(tmp_path, text))
    paths = [p for p, _ in found]
    assert "scenario.duration" in paths
    assert "centres[1].silnt" in paths
    assert any("did you mean 'silent'" in m for _, m in found)
    assert "centres[1].late_delay" in paths
    assert "agreements[0].parties[1]" in paths
    assert ("agreements[1].id", "unknown agreement 'bmlnaa' (did you mean 'bmlna'?)") in found
    assert any(p == "centres[2].silent" and "launch_notice" in m for p, m in found)
    assert any(p == "activities[0].at" and "naive" in m for p, m in found)
    assert len(found) >= 7


def test_malformed_toml_is_one_clear_problem(cat: Catalogue, tmp_path: Path) -> None:
    """Broken TOML is reported with the parser's reason, not a traceback."""
    found = problems(cat, write(tmp_path, "schema = 1\n[scenario\n"))
    assert len(found) == 1 and found[0][1].startswith("malformed TOML")


def test_missing_file_names_the_builtins(cat: Catalogue, tmp_path: Path) -> None:
    """A scenario that is neither a file nor a built-in id lists the built-ins."""
    found = problems(cat, tmp_path / "nope.toml")
    assert "built-in scenarios: hcoc, india-pakistan, osce, p5, us-ru-2024" in found[0][1]


def test_fault_and_injection_mistakes_are_reported(cat: Catalogue, tmp_path: Path) -> None:
    """A loss rate above 1, an outage ending before it starts, an unknown attack."""
    text = (
        GOOD
        + """
[[faults]]
link = ["US", "RU"]
loss = 1.5
outages = [[2026-02-02T00:00:00Z, 2026-02-01T00:00:00Z]]

[[injections]]
attack = "phishing"
target = "US"
"""
    )
    found = problems(cat, write(tmp_path, text))
    assert [p for p, _ in found] == [
        "faults[0].outages[0]",
        "faults[0].loss",
        "injections[0].attack",
    ]


def test_scenario_can_use_existing_keys_and_keyring(cat: Catalogue, tmp_path: Path) -> None:
    """With ``keyring`` and ``keys`` the run signs with the centres' own private keys and
    writes that keyring, instead of deriving keys from the seed."""
    from datetime import UTC, datetime

    from nrrc.keys import Keyring, generate_key, write_private_key
    from nrrc.simulate import run_scenario

    keys = tmp_path / "keys"
    keys.mkdir()
    signers = [generate_key(c) for c in ("US", "RU")]
    for s in signers:
        write_private_key(s, keys / f"{s.centre}.key")
    ring = Keyring(s.entry(datetime(2025, 1, 1, tzinfo=UTC)) for s in signers)
    ring.save(keys / "keyring.json")
    text = GOOD.replace("seed = 3", 'seed = 3\nkeyring = "keys/keyring.json"\nkeys = "keys"')
    scenario = load_scenario(write(tmp_path, text), cat)
    result = run_scenario(scenario, cat, out=tmp_path / "out")
    assert (tmp_path / "out" / "keyring.json").read_bytes() == ring.to_json()
    assert result.summary["messages"]["received"] == result.summary["messages"]["sent"] > 0
