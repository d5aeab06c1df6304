"""Clocks: where a centre's ``now`` comes from.

The centre never reads time; its driver asks a :class:`Clock` and hands the instant in. Two
clocks implement the protocol:

* :class:`VirtualClock` — simulated time that moves only when told to (the simulator, tests).
* :class:`ScaledClock` — live runs: every node derives simulated time from one shared epoch and
  speed (``speed=86400`` is one simulated day per real second), so separate processes agree on
  the simulated instant without talking to each other. It is the only object in nrrc that
  reads the system clock, and the reading function is injected so tests can drive it.

:class:`SkewedClock` shifts another clock by a fixed offset: a centre whose clock is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from nrrc.timeutil import to_utc

__all__ = ["Clock", "ScaledClock", "SkewedClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current (simulated) instant as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current instant (aware, UTC)."""
        ...


class VirtualClock:
    """Simulated time that only moves forward, and only when told to.

    Args:
        start: the first instant (aware; converted to UTC).
    """

    def __init__(self, start: datetime) -> None:
        self._now = to_utc(start)

    def now(self) -> datetime:
        """The current simulated instant."""
        return self._now

    def advance_to(self, instant: datetime) -> None:
        """Move to ``instant``; moving backwards raises ``ValueError``."""
        instant = to_utc(instant)
        if instant < self._now:
            raise ValueError(
                f"virtual time only moves forward: now {self._now.isoformat()}, "
                f"asked for {instant.isoformat()}"
            )
        self._now = instant

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta`` (not negative)."""
        self.advance_to(self._now + delta)


class ScaledClock:
    """Simulated time derived from real time: ``sim_epoch + (real - real_epoch) * speed``.

    Every node of a live run is given the same ``sim_epoch``, ``real_epoch`` and ``speed`` (for
    example on the command line), so they agree on the simulated instant to within their hosts'
    clock agreement.

    Args:
        sim_epoch: the simulated instant at ``real_epoch``.
        real_epoch: the real instant (seconds on the ``source`` scale, POSIX time by default)
            at which simulated time is ``sim_epoch``.
        speed: simulated seconds per real second (> 0).
        source: the real-time reading function; ``time.time`` by default. Injected at the edge
            so that nothing else in nrrc reads the system clock.
    """

    def __init__(
        self,
        sim_epoch: datetime,
        real_epoch: float,
        speed: float,
        source: Callable[[], float] = time.time,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected a positive number, found {speed!r}")
        self.sim_epoch = to_utc(sim_epoch)
        self.real_epoch = float(real_epoch)
        self.speed = float(speed)
        self._source = source

    @classmethod
    def starting_now(
        cls, sim_epoch: datetime, speed: float, source: Callable[[], float] = time.time
    ) -> ScaledClock:
        """A clock whose simulated time is ``sim_epoch`` right now."""
        return cls(sim_epoch, source(), speed, source)

    def now(self) -> datetime:
        """The simulated instant that corresponds to the real time now (millisecond steps)."""
        elapsed = (self._source() - self.real_epoch) * self.speed
        return self.sim_epoch + timedelta(milliseconds=round(elapsed * 1000))

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds to wait until simulated time reaches ``instant`` (0 if passed)."""
        ahead = (to_utc(instant) - self.now()).total_seconds()
        return max(0.0, ahead / self.speed)

    def real_time_of(self, instant: datetime) -> float:
        """The real instant (on the ``source`` scale) at which simulated time is ``instant``."""
        return self.real_epoch + (to_utc(instant) - self.sim_epoch).total_seconds() / self.speed


class SkewedClock:
    """Another clock shifted by a fixed offset: a centre whose clock runs ahead or behind.

    Args:
        inner: the true clock.
        skew: added to every reading (negative: the clock is behind).
    """

    def __init__(self, inner: Clock, skew: timedelta) -> None:
        self.inner = inner
        self.skew = skew

    def now(self) -> datetime:
        """The inner clock's reading plus the skew."""
        return self.inner.now() + self.skew
