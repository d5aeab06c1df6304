"""Delay distributions, written the way a scenario author thinks of them.

``fixed(2s)``, ``uniform(1min, 20min)``, ``exponential(30h)`` (mean), ``lognormal(2s, 0.5)``
(median and shape sigma), or a bare duration (``2s`` = fixed). Samples are drawn from an injected
``random.Random`` and are never negative.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import timedelta

from nrrc.timeutil import parse_duration

__all__ = ["Distribution", "parse_distribution"]

_CALL = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$")

_MILLISECOND = timedelta(milliseconds=1)
_LONGEST = 100 * 366 * 86400.0
"""A draw is capped at 100 years: beyond any run, and within what a timedelta holds."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution of non-negative lengths of time, in seconds.

    Attributes:
        family: ``fixed``, ``uniform``, ``exponential`` or ``lognormal``.
        a: the fixed value, the lower bound, the mean, or the median (seconds).
        b: the upper bound (uniform) or sigma (lognormal); unused otherwise.
    """

    family: str
    a: float
    b: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Distribution:
        """Always ``seconds``."""
        return cls("fixed", float(seconds))

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds (>= 0)."""
        if self.family == "fixed":
            return self.a
        if self.family == "uniform":
            a = self.a
            return a + (self.b - a) * rng.random()  # random.uniform, without the call
        if self.family == "exponential":
            return rng.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        # A heavy tail (lognormal sigma 50) is capped at 100 years, within what floats and
        # timedeltas hold; the draw itself is the same.
        return min(self.a * math.exp(min(rng.gauss(0.0, self.b), 700.0)), _LONGEST)

    def sample_delta(self, rng: random.Random) -> timedelta:
        """One draw as a timedelta rounded to the millisecond."""
        family = self.family
        if family == "uniform":
            a = self.a
            seconds = a + (self.b - a) * rng.random()  # what sample does
        elif family == "fixed":
            seconds = self.a
        else:
            seconds = self.sample(rng)
        return _MILLISECOND * round(seconds * 1000)  # timedelta(milliseconds=n), faster

    @property
    def is_zero(self) -> bool:
        """True for ``fixed(0)``: no randomness is drawn."""
        return self.family == "fixed" and self.a == 0

    def __str__(self) -> str:
        if self.family == "fixed":
            return f"fixed({_fmt(self.a)})"
        if self.family == "uniform":
            return f"uniform({_fmt(self.a)}, {_fmt(self.b)})"
        if self.family == "exponential":
            return f"exponential({_fmt(self.a)})"
        return f"lognormal({_fmt(self.a)}, {self.b:g})"


def _fmt(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _seconds(text: str) -> float:
    text = text.strip()
    try:
        return float(parse_duration(text).seconds)
    except ValueError:
        pass
    m = re.match(r"^(\d+(?:\.\d+)?)\s*(ms|s)$", text)
    if m:
        value = float(m.group(1))
        return value / 1000 if m.group(2) == "ms" else value
    raise ValueError(f"expected a duration such as '2s', '30min' or '24h', found {text!r}")


def parse_distribution(text: str) -> Distribution:
    """Parse ``fixed(2s)``, ``uniform(1s, 5s)``, ``exponential(30h)``, ``lognormal(2s, 0.5)``
    or a bare duration.

    Raises:
        ValueError: saying what was expected and what was found.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a distribution such as 'uniform(1s, 5s)', found {text!r}")
    m = _CALL.match(text)
    if not m:
        return Distribution.fixed(_seconds(text))
    family, args = m.group(1), [p.strip() for p in m.group(2).split(",")]
    if family == "fixed" and len(args) == 1:
        return Distribution.fixed(_seconds(args[0]))
    if family == "uniform" and len(args) == 2:
        lo, hi = _seconds(args[0]), _seconds(args[1])
        if hi < lo:
            raise ValueError(f"uniform: expected low <= high, found {text!r}")
        return Distribution("uniform", lo, hi)
    if family == "exponential" and len(args) == 1:
        return Distribution("exponential", _seconds(args[0]))
    if family == "lognormal" and len(args) == 2:
        try:
            sigma = float(args[1])
        except ValueError:
            raise ValueError(
                f"lognormal: expected (median, sigma) such as 'lognormal(2s, 0.5)', found {text!r}"
            ) from None
        if sigma < 0:
            raise ValueError(f"lognormal: expected sigma >= 0, found {text!r}")
        return Distribution("lognormal", _seconds(args[0]), sigma)
    raise ValueError(
        "expected fixed(D), uniform(D, D), exponential(MEAN) or lognormal(MEDIAN, SIGMA), "
        f"found {text!r}"
    )
