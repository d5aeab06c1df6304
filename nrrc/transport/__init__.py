"""Transports: how envelopes travel between centres. One interface, several implementations.

* :mod:`nrrc.transport.memory` — in-process and deterministic: :class:`~nrrc.transport.memory.
  MemoryNetwork` (the simulator's network, with per-link loss, delay, outages and regime fan-out
  through a central contact) and :class:`~nrrc.transport.memory.MemoryTransport` (an asyncio
  transport over a :class:`~nrrc.transport.memory.MemoryHub`, for live runs without a broker).
* an MQTT transport implements the same :class:`Transport` protocol.

Addressing: ``send(to, envelope)`` takes a centre id (``US``) or a regime id (``hcoc``); a regime
id reaches every member except the sender. A :class:`~nrrc.centre.Delivery` carries the origin
the transport vouches for (the sender segment of the topic, bound to credentials by the broker's
ACL) so that the centre can refuse an envelope whose signed sender is someone else.

:func:`run_centre` is the one loop a live node needs: it feeds deliveries and timer expiries to a
:class:`~nrrc.centre.Centre`, appends records to its log *before* transmitting and before
settling the delivery at the transport level (DESIGN.md, pitfall 1), and sleeps until the
centre's next wake-up on a :class:`LiveClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

from nrrc.centre import Centre, Delivery, Event, PlannedActivity, PlannedMessage, Step
from nrrc.msglog import LogWriter

__all__ = ["LiveClock", "Transport", "apply_step", "run_centre"]


@runtime_checkable
class Transport(Protocol):
    """What a centre's driver needs from a transport.

    Implementations: :class:`nrrc.transport.memory.MemoryTransport`, and the MQTT transport.
    ``send`` returning means the transport accepted the envelope, not that it was delivered:
    only the recipient's signed acknowledgement proves delivery.
    """

    centre: str
    """The centre this transport belongs to."""

    async def send(self, to: str, envelope: bytes) -> None:
        """Queue ``envelope`` for ``to`` (a centre id, or a regime id: every member)."""
        ...

    async def receive(self) -> Delivery:
        """Wait for the next delivery addressed to this centre or one of its regimes."""
        ...

    async def settle(self, delivery: Delivery) -> None:
        """Acknowledge ``delivery`` at the transport level (after its record is durable)."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class LiveClock(Protocol):
    """A clock a live driver can wait on (:class:`nrrc.clock.ScaledClock`)."""

    def now(self) -> datetime:
        """The current simulated instant."""
        ...

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds until simulated time reaches ``instant``."""
        ...


async def apply_step(step: Step, transport: Transport, log: LogWriter) -> None:
    """Apply a step: append every record (durable on return), then transmit."""
    for record in step.records:
        log.append(
            record.direction, record.at, record.envelope, reason=record.reason, detail=record.detail
        )
    for transmit in step.transmits:
        await transport.send(transmit.to, transmit.envelope)


async def run_centre(
    centre: Centre,
    transport: Transport,
    clock: LiveClock,
    log: LogWriter,
    *,
    activities: Iterable[tuple[datetime, PlannedActivity | PlannedMessage]] = (),
    until: datetime | None = None,
    stop: asyncio.Event | None = None,
    on_event: Callable[[Event], Awaitable[None] | None] | None = None,
) -> None:
    """Run ``centre`` until simulated time reaches ``until`` or ``stop`` is set.

    Args:
        centre: the state machine (fresh, or restored and restarted).
        transport: where envelopes come from and go to.
        clock: the shared scaled clock.
        log: the centre's message log; records are appended before anything is transmitted.
        activities: ``(known_at, activity)`` pairs: each is handed to the centre once simulated
            time reaches ``known_at`` (planning is idempotent, so a restarted node may pass the
            same list again).
        until: simulated instant at which to stop.
        stop: set it to stop (e.g. on SIGTERM).
        on_event: called with every event (a live view, structured logging).
    """
    stop = stop or asyncio.Event()
    queue = sorted(activities, key=lambda pair: pair[0])
    receiver: asyncio.Task[Delivery] | None = None

    async def emit(step: Step) -> None:
        await apply_step(step, transport, log)
        if on_event is not None:
            for event in step.events:
                result = on_event(event)
                if result is not None:
                    await result

    await emit(centre.start(clock.now()))
    stopper = asyncio.create_task(stop.wait(), name=f"{centre.id}-stop")
    try:
        while not stop.is_set():
            now = clock.now()
            if until is not None and now >= until:
                break
            while queue and queue[0][0] <= now:
                _, item = queue.pop(0)
                if isinstance(item, PlannedActivity):
                    await emit(centre.plan(now, item))
                else:
                    await emit(centre.plan_message(now, item))
            wake = centre.wake_at
            if wake is not None and wake <= now:
                await emit(centre.on_timer(now))
                continue
            targets = [t for t in (wake, queue[0][0] if queue else None, until) if t is not None]
            timeout = clock.real_seconds_until(min(targets)) if targets else None
            if receiver is None:
                receiver = asyncio.create_task(transport.receive(), name=f"{centre.id}-receive")
            done, _ = await asyncio.wait(
                {receiver, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if receiver in done:
                delivery = receiver.result()
                receiver = None
                await emit(centre.receive(clock.now(), delivery))
                await transport.settle(delivery)
    finally:
        for task in (receiver, stopper):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
