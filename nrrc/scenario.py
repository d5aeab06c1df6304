"""Scenarios: who takes part, which agreements bind whom, what happens, and what goes wrong.

A scenario is a TOML file (``schema = 1``); the built-ins ship in ``nrrc/scenarios``. Every
mistake in a file is reported at once, each as a :class:`~nrrc.errors.Problem` with the file, the
key path and what was expected and found (:class:`~nrrc.errors.ScenarioError`).

::

    schema = 1
    [scenario]
    id = "p5"                       # lowercase, digits, '-'
    title = "..."
    description = "..."
    start = 2026-01-01T00:00:00Z    # TOML date-time with offset
    duration = "365d"
    seed = 5
    # keyring = "keys/keyring.json" and keys = "keys/" to use existing keys instead of
    # keys derived from the seed (private keys <keys>/<ID>.key)

    [defaults]                      # any centre setting, for every centre
    planning = "30d"                # activities are known this long before their window opens

    [[centres]]
    id = "US"                       # or ids = ["AD", "AL", ...] for many alike
    name = "United States NRRC"
    profile = "late-prone"          # diligent | late-prone | silent | hostile
    late_probability = 0.2          # late-prone: chance a notice or reply goes out late
    late_delay = "exponential(24h)" # ... and by how much
    silent = ["msea.exercise_notice"]
    ack_delay = "uniform(30s, 5min)"
    reply_delay = "uniform(1h, 6h)"
    safety_margin = "12h"           # notices go out this long before their deadline
    clock_skew = "90s"
    retry = { initial = "10min", factor = 2.0, max_interval = "6h", give_up_after = "7d" }

    [[agreements]]
    id = "bmlna"                    # an agreement of the catalogue
    parties = ["US", "RU"]          # or "all"
    multilateral = false            # default: the agreement's regime
    central_contact = "AT"          # default: the agreement's
    suspended_from = 2023-02-21T00:00:00Z
    lead = "2d"                     # notices no lead-time rule bounds go out this long ahead
    activity_kinds = { exercise = ["exercise_notice"] }

    [[activities]]                  # explicit
    party = "RU"
    activity = "launch"
    at = 2026-03-02T06:10:00Z
    attributes = { missile_class = "ICBM", launch_area = "Plesetsk" }

    [[generate]]                    # "each year N ... at random times"
    activity = "launch"
    parties = ["US", "RU"]
    per_year = 4
    window = "1d"                   # the notified window the activity falls in
    attributes = { missile_class = "ICBM" }

    [[messages]]                    # one-off messages, e.g. requests
    from = "UA"
    to = "RU"
    kind = "vd11.unusual_activity_request"
    at = 2026-02-11T10:00:00Z
    payload = { concern = "..." }

    [[faults]]                      # per link (both ways unless both_ways = false)
    link = ["US", "RU"]             # or from = "US", to = "*"
    loss = 0.05
    delay = "lognormal(2s, 0.5)"
    outages = [[2026-05-01T00:00:00Z, 2026-05-01T06:00:00Z]]

    [[injections]]                  # hostile envelopes
    attack = "forged"               # forged | tampered | replayed | misaddressed
    target = "US"
    by = "ZZ"                       # who injects (need not take part)
    count = 2                       # at random times (or at = [...])

    [[restarts]]
    centre = "RU"
    at = 2026-06-01T00:00:00Z
    down = "2h"
"""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from nrrc.catalogue import Catalogue
from nrrc.centre import (
    Behaviour,
    Binding,
    CentreConfig,
    PlannedActivity,
    PlannedMessage,
    RetryPolicy,
)
from nrrc.errors import Problem, ScenarioError
from nrrc.messages import CENTRE_PATTERN
from nrrc.timeutil import midnight_utc
from nrrc.transport.memory import LinkFault

__all__ = [
    "ATTACKS",
    "PROFILES",
    "ActivityGenerator",
    "CentreSpec",
    "Injection",
    "Restart",
    "Scenario",
    "ScheduledItem",
    "builtin_scenarios",
    "load_scenario",
]

PROFILES = ("diligent", "late-prone", "silent", "hostile")
ATTACKS = ("forged", "tampered", "replayed", "misaddressed")
_ID = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_CENTRE = re.compile(CENTRE_PATTERN)


@dataclass(frozen=True, slots=True)
class CentreSpec:
    """A centre of the scenario and how it behaves."""

    id: str
    name: str
    profile: str
    behaviour: Behaviour
    retry: RetryPolicy
    clock_skew: timedelta
    planning: timedelta


@dataclass(frozen=True, slots=True)
class ActivityGenerator:
    """``per_year`` activities of each party at random times (prorated for a part year)."""

    activity: str
    parties: tuple[str, ...]
    per_year: int
    window: timedelta
    duration: timedelta
    attributes: Mapping[str, Any]
    name: str


@dataclass(frozen=True, slots=True)
class Injection:
    """Hostile envelopes injected towards ``target`` by ``by``."""

    attack: str
    target: str
    by: str
    at: tuple[datetime, ...]
    count: int


@dataclass(frozen=True, slots=True)
class Restart:
    """A centre goes down at ``at`` and comes back after ``down``."""

    centre: str
    at: datetime
    down: timedelta


class ScheduledItem(msgspec.Struct, frozen=True):
    """An activity or message a centre learns of at ``known_at`` (a struct: built in C)."""

    known_at: datetime
    party: str
    item: PlannedActivity | PlannedMessage


@dataclass(frozen=True)
class Scenario:
    """A loaded, checked scenario."""

    id: str
    title: str
    description: str
    path: str
    start: datetime
    duration: timedelta
    seed: int
    centres: tuple[CentreSpec, ...]
    bindings: tuple[Binding, ...]
    activities: tuple[ScheduledItem, ...]
    generators: tuple[ActivityGenerator, ...]
    messages: tuple[ScheduledItem, ...]
    faults: tuple[LinkFault, ...]
    injections: tuple[Injection, ...]
    restarts: tuple[Restart, ...]
    keyring: str | None = None
    keys: str | None = None
    builtin: bool = False

    @property
    def end(self) -> datetime:
        """The first instant after the run."""
        return self.start + self.duration

    @property
    def centre_ids(self) -> tuple[str, ...]:
        """Every centre id, in file order."""
        return tuple(c.id for c in self.centres)

    def centre(self, centre_id: str) -> CentreSpec:
        """The centre with this id."""
        return next(c for c in self.centres if c.id == centre_id)

    def config(self, centre_id: str) -> CentreConfig:
        """The :class:`~nrrc.centre.CentreConfig` of one centre."""
        spec = self.centre(centre_id)
        return CentreConfig(
            id=spec.id,
            name=spec.name,
            bindings=tuple(b for b in self.bindings if spec.id in b.parties),
            behaviour=spec.behaviour,
            retry=spec.retry,
        )

    def regimes(self) -> dict[str, tuple[str, ...]]:
        """Regime id -> members, for multilateral bindings."""
        out: dict[str, set[str]] = {}
        for b in self.bindings:
            if b.multilateral:
                out.setdefault(b.agreement, set()).update(b.parties)
        return {r: tuple(sorted(m)) for r, m in sorted(out.items())}

    def central_contacts(self) -> dict[str, str]:
        """Regime id -> central contact."""
        return {b.agreement: b.central_contact for b in self.bindings if b.central_contact}

    def agreements_in_force(self) -> list[str]:
        """Agreements bound and not suspended for the whole run, sorted."""
        out = set()
        for b in self.bindings:
            if b.active(self.start) or b.active(self.end - timedelta(microseconds=1)):
                out.add(b.agreement)
        return sorted(out)

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with another seed (Monte Carlo runs)."""
        return replace(self, seed=seed)

    def schedule(self, rng: random.Random) -> list[ScheduledItem]:
        """Explicit and generated activities and messages, ordered by when they become known."""
        items = list(self.activities) + list(self.messages)
        for n, gen in enumerate(self.generators):
            items.extend(self._generate(n, gen, rng))
        return sorted(items, key=lambda s: (s.known_at, s.item.id))

    def _generate(self, n: int, gen: ActivityGenerator, rng: random.Random) -> list[ScheduledItem]:
        out: list[ScheduledItem] = []
        instant = gen.duration == timedelta(0)
        for party in gen.parties:
            planning = self.centre(party).planning
            for year in range(self.start.year, self.end.year + 1):
                lo = max(self.start + planning, midnight_utc(date(year, 1, 1)))
                hi = min(self.end - gen.window - gen.duration, midnight_utc(date(year + 1, 1, 1)))
                first_day = (lo + timedelta(days=1) - timedelta(microseconds=1)).date()
                days = (hi.date() - first_day).days
                if days <= 0:
                    continue
                year_start = midnight_utc(date(year, 1, 1))
                year_end = midnight_utc(date(year + 1, 1, 1))
                overlap = min(self.end, year_end) - max(self.start, year_start)
                count = round(gen.per_year * overlap / (year_end - year_start))
                # Loop invariants: midnight UTC of first_day + n days is midnight_utc of that day.
                first_midnight = midnight_utc(first_day)
                span = int((gen.window if instant else timedelta(days=1)).total_seconds())
                last_second = gen.window - timedelta(seconds=1)
                for i in range(count):
                    day = first_midnight + timedelta(days=rng.randrange(days))
                    at = day + timedelta(seconds=rng.randrange(span))
                    activity = PlannedActivity(
                        id=f"{gen.name}-{party}-{year}-{i + 1}",
                        activity=gen.activity,
                        at=at,
                        end_at=None if instant else at + gen.duration,
                        window_start=day if instant else None,
                        window_end=day + last_second if instant else None,
                        attributes=dict(gen.attributes),
                    )
                    known = max(self.start, (day if instant else at) - planning)
                    out.append(ScheduledItem(known, party, activity))
        return out


def builtin_scenarios() -> dict[str, Path]:
    """Built-in scenario files by id (file name without ``.toml``)."""
    root = resources.files("nrrc") / "scenarios"
    return {
        Path(str(p)).stem: Path(str(p))
        for p in sorted(root.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".toml")
    }


def load_scenario(name_or_path: str | Path, catalogue: Catalogue) -> Scenario:
    """Load a built-in scenario by id (``p5``) or a scenario file by path.

    Raises:
        ScenarioError: listing every problem, each with file, key path and reason.
    """
    builtins = builtin_scenarios()
    text = str(name_or_path)
    builtin = text in builtins and not Path(text).exists()
    path = builtins[text] if builtin else Path(text)
    from nrrc._scenario_read import Reader, parse  # the reader builds this module's types

    r = Reader(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        known = ", ".join(sorted(builtins))
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    "",
                    f"cannot read the scenario ({exc.strerror or exc}); "
                    f"built-in scenarios: {known}",
                )
            ]
        ) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    "",
                    f"expected UTF-8 text, found an invalid byte at offset {exc.start}",
                )
            ]
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(str(path), "", f"malformed TOML: {exc}")]) from exc
    scenario = parse(r, data, catalogue, builtin=builtin)
    if scenario is None:
        raise ScenarioError(r.problems)
    return scenario
