"""Deterministic simulation of a scenario's centres over the in-memory network.

:func:`run_scenario` runs one scenario once (same seed, byte-identical outputs);
:func:`run_many` runs it over many seeds in parallel into a :class:`Study` that summarises
the distributions (share of launches with a late or missing notice, time to acknowledgement,
retransmissions per notice), which :func:`study_svg` draws.
"""

from nrrc.simulate._engine import RunResult, run_scenario, scenario_keys
from nrrc.simulate._ledger import SKEW_TOLERANCE, Ledger, RunMetrics
from nrrc.simulate._montecarlo import METRICS, Study, run_many
from nrrc.simulate._plot import study_svg

__all__ = [
    "METRICS",
    "SKEW_TOLERANCE",
    "Ledger",
    "RunMetrics",
    "RunResult",
    "Study",
    "run_many",
    "run_scenario",
    "scenario_keys",
    "study_svg",
]
