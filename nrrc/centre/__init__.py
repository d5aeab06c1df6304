"""The centre: a sans-I/O state machine, run unchanged by the simulator and by live nodes.

A driver owns the I/O. For every input it calls one method with the current instant and applies
the returned :class:`Step`::

    centre = Centre(config, signer=signer, keyring=ring, types=types, rng=random.Random(seed))
    step = centre.start(now)                           # plans this year's periodic submissions
    step = centre.plan(now, PlannedActivity(...))      # a launch, an exercise ...
    step = centre.receive(now, Delivery(envelope, origin="RU"))
    step = centre.on_timer(now)                        # when now >= step.wake_at
    step = centre.restart(now)                         # after a crash: new epoch, resend outbox

    for record in step.records:    log.append(record.direction, record.at, record.envelope,
                                              reason=record.reason, detail=record.detail)
    for t in step.transmits:       transport.send(t.to, t.envelope)
    arm a timer for step.wake_at

Records first (durably), then transmissions, then the transport-level acknowledgement of the
delivery, then the timer. :meth:`Centre.snapshot` / :meth:`Centre.from_snapshot` carry the durable
state (outbox, inbox memory, owed acknowledgements, planned notices, timers) across a restart.
"""

from nrrc.centre._centre import SEEN_RETENTION, Centre
from nrrc.centre._config import Behaviour, Binding, CentreConfig, RetryPolicy
from nrrc.centre._distributions import Distribution, parse_distribution
from nrrc.centre._io import (
    Delivery,
    Event,
    EventLevel,
    LogRecord,
    PlannedActivity,
    PlannedMessage,
    Step,
    Transmit,
)
from nrrc.centre._rulebook import ACK_KIND, RuleBook, first_late
from nrrc.centre._state import CentreState

__all__ = [
    "ACK_KIND",
    "SEEN_RETENTION",
    "Behaviour",
    "Binding",
    "Centre",
    "CentreConfig",
    "CentreState",
    "Delivery",
    "Distribution",
    "Event",
    "EventLevel",
    "LogRecord",
    "PlannedActivity",
    "PlannedMessage",
    "RetryPolicy",
    "RuleBook",
    "Step",
    "Transmit",
    "first_late",
    "parse_distribution",
]
