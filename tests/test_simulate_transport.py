"""The in-memory transports: the simulator's network model and the asyncio hub a live node can
run on, with the same centre."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

from centre_support import INSTANT, T0, make_centres

from nrrc.centre import Binding, Distribution, PlannedActivity
from nrrc.clock import ScaledClock, SkewedClock, VirtualClock
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter
from nrrc.transport import Transport, run_centre
from nrrc.transport.memory import LinkFault, MemoryHub, MemoryNetwork, MemoryTransport

REGIMES = {"hcoc": ("AT", "US", "RU", "GB")}


def network(*faults: LinkFault, hub: bool = True) -> MemoryNetwork:
    """A network of the HCoC-like regime, fixed 1 s links unless a fault says otherwise."""
    return MemoryNetwork(
        regimes=REGIMES,
        central_contacts={"hcoc": "AT"} if hub else {},
        faults=faults,
        rng=random.Random(1),
        default_delay=Distribution.fixed(1.0),
    )


def test_regime_message_travels_through_the_central_contact() -> None:
    """A notice from RU to the regime reaches AT after one hop and every other member after
    two; the sender gets no copy."""
    arrivals = network().route(T0, "RU", "hcoc", b"x")
    assert {(a.recipient, a.at - T0) for a in arrivals} == {
        ("AT", timedelta(seconds=1)),
        ("US", timedelta(seconds=2)),
        ("GB", timedelta(seconds=2)),
    }
    assert all(a.delivery.origin == "RU" and a.delivery.channel == "hcoc" for a in arrivals)


def test_losing_the_hop_to_the_central_contact_loses_every_copy() -> None:
    """When the link to the central contact drops the message, no member receives it."""
    net = network(LinkFault("RU", "AT", loss=1.0, both_ways=False))
    assert net.route(T0, "RU", "hcoc", b"x") == []
    assert net.stats.lost["loss"] == 1


def test_outage_window_drops_only_what_departs_inside_it() -> None:
    """Messages leaving during [start, end) of an outage are lost; at its end they pass."""
    start, end = T0, T0 + timedelta(hours=1)
    net = network(LinkFault("US", "RU", outages=((start, end),)), hub=False)
    assert net.route(start, "US", "RU", b"x") == []
    assert net.route(end - timedelta(milliseconds=1), "RU", "US", b"x") == []
    assert [a.recipient for a in net.route(end, "US", "RU", b"x")] == ["RU"]


def test_link_faults_combine_and_are_deterministic() -> None:
    """Loss rates of matching faults combine; the same seed draws the same fate."""
    faults = (LinkFault("*", "RU", loss=0.5), LinkFault("US", "*", loss=0.5))
    assert network(*faults).link("US", "RU").loss == 0.75
    fates = [
        [bool(network(*faults).route(T0, "US", "RU", b"x")) for _ in range(20)] for _ in range(2)
    ]
    assert fates[0] == fates[1]


def test_clocks_virtual_scaled_and_skewed() -> None:
    """Virtual time moves only forward; scaled time runs ``speed`` times faster than the
    injected source; a skewed clock adds its offset."""
    virtual = VirtualClock(T0)
    virtual.advance(timedelta(hours=1))
    assert virtual.now() == T0 + timedelta(hours=1)
    real = [1000.0]
    scaled = ScaledClock(T0, 1000.0, 86400, source=lambda: real[0])
    real[0] += 0.5
    assert scaled.now() == T0 + timedelta(hours=12)
    assert scaled.real_seconds_until(T0 + timedelta(days=1)) == 0.5
    assert SkewedClock(virtual, timedelta(seconds=-90)).now() == T0 + timedelta(
        minutes=58, seconds=30
    )


def test_live_driver_runs_the_same_centre_over_the_asyncio_hub(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring, tmp_path: Path
) -> None:
    """Two centres on scaled time (one simulated day per 20 ms) over the in-memory hub: the
    launch notice is sent, received once, acknowledged, and both logs hold it."""
    centres = make_centres(types, signers, keyring, [Binding("bmlna", ("US", "RU"))], ["US", "RU"])
    hub = MemoryHub()
    transports = {c: hub.attach(c) for c in centres}
    assert isinstance(transports["US"], Transport)
    launch = PlannedActivity(
        "a1",
        "launch",
        datetime(2026, 1, 4, 6, tzinfo=T0.tzinfo),
        attributes={"missile_class": "ICBM"},
    )
    logs = {
        c: LogWriter(tmp_path / f"{c}.log.jsonl", signers[c], created=T0, fsync=FsyncPolicy.NEVER)
        for c in centres
    }

    async def main() -> None:
        clock = ScaledClock.starting_now(T0, speed=86400 / 0.02)
        until = T0 + timedelta(days=4)
        await asyncio.gather(
            run_centre(
                centres["RU"],
                transports["RU"],
                clock,
                logs["RU"],
                activities=[(T0, launch)],
                until=until,
            ),
            run_centre(centres["US"], transports["US"], clock, logs["US"], until=until),
        )

    asyncio.run(asyncio.wait_for(main(), timeout=30))
    for w in logs.values():
        w.close(T0 + timedelta(days=4))
    ru = (tmp_path / "RU.log.jsonl").read_text()
    us = (tmp_path / "US.log.jsonl").read_text()
    assert ru.count('"type":"sent"') == 1 and ru.count('"type":"received"') == 1
    assert us.count('"type":"received"') == 1 and us.count('"type":"sent"') == 1
    # Every delivery was settled; a retransmission racing the acknowledgement (10 simulated
    # minutes are 0.14 real ms here) is a duplicate: settled, not logged twice.
    assert isinstance(transports["US"], MemoryTransport) and transports["US"].settled >= 1
    assert centres["RU"].state.outbox == {}
    assert INSTANT.ack_delay.is_zero
