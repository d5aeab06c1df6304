"""Monte Carlo studies: one scenario over many seeds, in parallel, summarised as distributions."""

from __future__ import annotations

import multiprocessing
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.centre import RuleBook
from nrrc.messages import MessageTypes
from nrrc.scenario import Scenario, load_scenario
from nrrc.simulate._engine import run_scenario
from nrrc.simulate._ledger import RunMetrics

__all__ = ["METRICS", "Study", "run_many"]

STUDY_FORMAT = "nrrc-study/1"

METRICS: tuple[tuple[str, str, str], ...] = (
    ("share_late_or_missing", "launches late or missing", "share"),
    ("share_late", "launches with a late notice", "share"),
    ("share_missing", "launches missing a notice", "share"),
    ("ack_median", "time to ack, median", "seconds"),
    ("ack_p95", "time to ack, p95", "seconds"),
    ("retransmissions_per_notice", "retransmissions per notice", "count"),
    ("undelivered", "undelivered messages", "count"),
    ("faults", "findings expected", "count"),
)
"""(key, label, unit) of every per-run value a study reports."""


def _per_run(m: RunMetrics) -> dict[str, float]:
    acks = sorted(m.ack_seconds)

    def q(p: float) -> float:
        if not acks:
            return 0.0
        return acks[min(len(acks) - 1, round(p * (len(acks) - 1)))]

    launches = m.launches or 1
    return {
        "share_late_or_missing": m.launches_late_or_missing / launches,
        "share_late": m.launches_late / launches,
        "share_missing": m.launches_missing / launches,
        "ack_median": q(0.5),
        "ack_p95": q(0.95),
        "retransmissions_per_notice": m.retransmissions_per_notice,
        "undelivered": float(m.undelivered),
        "faults": float(m.faults),
    }


def _quantile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = p * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Study:
    """The runs of one Monte Carlo study, ordered by seed."""

    scenario: str
    title: str
    runs: list[RunMetrics]

    def values(self, key: str) -> list[float]:
        """One metric over every run."""
        return [_per_run(m)[key] for m in self.runs]

    def pooled_ack_seconds(self) -> list[float]:
        """Every time to acknowledgement of every run."""
        return [s for m in self.runs for s in m.ack_seconds]

    def distribution(self, key: str) -> dict[str, float]:
        """mean, min, p5, median, p95, max of one metric over the runs."""
        v = self.values(key)
        if not v:
            return {}
        return {
            "mean": statistics.fmean(v),
            "min": min(v),
            "p5": _quantile(v, 0.05),
            "median": _quantile(v, 0.5),
            "p95": _quantile(v, 0.95),
            "max": max(v),
        }

    def as_json(self) -> dict[str, Any]:
        """The study as JSON-ready data (``nrrc-study/1``)."""
        launches = sum(m.launches for m in self.runs)
        return {
            "format": STUDY_FORMAT,
            "scenario": self.scenario,
            "title": self.title,
            "runs": len(self.runs),
            "seeds": [m.seed for m in self.runs],
            "launches": launches,
            "metrics": {
                key: {"label": label, "unit": unit, **self.distribution(key)}
                for key, label, unit in METRICS
            },
            "per_run": [m.as_dict() for m in self.runs],
        }


# -- parallel runs -------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init(scenario_ref: str, extra: Sequence[str]) -> None:
    catalogue = load_catalogue(extra)
    _WORKER["catalogue"] = catalogue
    _WORKER["types"] = MessageTypes(catalogue)
    _WORKER["book"] = RuleBook(catalogue)
    _WORKER["scenario"] = load_scenario(scenario_ref, catalogue)


def _one(seed: int) -> RunMetrics:
    result = run_scenario(
        _WORKER["scenario"],
        _WORKER["catalogue"],
        seed=seed,
        types=_WORKER["types"],
        book=_WORKER["book"],
    )
    return result.metrics


def run_many(
    scenario_ref: str | Path,
    seeds: Iterable[int],
    *,
    extra_agreements: Sequence[str | Path] = (),
    jobs: int = 1,
    progress: Callable[[RunMetrics], None] | None = None,
    catalogue: Catalogue | None = None,
    scenario: Scenario | None = None,
) -> Study:
    """Run the scenario once per seed, on ``jobs`` processes, and collect the metrics.

    Args:
        scenario_ref: built-in scenario id or scenario file (re-loaded in each worker).
        seeds: the seeds to run.
        extra_agreements: agreement files the scenario needs besides the built-ins.
        jobs: worker processes (1: run here).
        progress: called with each run's metrics as it finishes.
        catalogue: an already loaded catalogue (used when ``jobs`` is 1).
        scenario: an already loaded scenario (used when ``jobs`` is 1).
    """
    seeds = list(seeds)
    extra = [str(p) for p in extra_agreements]
    results: list[RunMetrics] = []
    if jobs <= 1:
        if catalogue is None or scenario is None:
            _init(str(scenario_ref), extra)
        else:
            _WORKER.update(
                catalogue=catalogue,
                types=MessageTypes(catalogue),
                book=RuleBook(catalogue),
                scenario=scenario,
            )
        for seed in seeds:
            metrics = _one(seed)
            results.append(metrics)
            if progress is not None:
                progress(metrics)
        loaded: Scenario = _WORKER["scenario"]
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs, initializer=_init, initargs=(str(scenario_ref), extra)) as pool:
            for metrics in pool.imap_unordered(_one, seeds):
                results.append(metrics)
                if progress is not None:
                    progress(metrics)
        loaded = scenario or load_scenario(str(scenario_ref), catalogue or load_catalogue(extra))
    results.sort(key=lambda m: m.seed)
    return Study(loaded.id, loaded.title, results)
