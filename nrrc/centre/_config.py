"""How a centre is set up: which agreements bind it, how it behaves, how it retries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nrrc.centre._distributions import Distribution

__all__ = ["Behaviour", "Binding", "CentreConfig", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One agreement binding a set of parties.

    A bilateral binding of more than two parties is a set of pairwise links: each notice goes to
    every other party in its own message. A multilateral binding addresses one message to the
    regime id (the agreement id, e.g. ``hcoc``), delivered to every member; when the agreement
    has a central contact, the transport routes regime traffic through it.

    Attributes:
        agreement: agreement id (``bmlna``).
        parties: centre ids bound by it.
        multilateral: address notices to the regime rather than to each party.
        central_contact: the regime's central contact (HCoC: ``AT``), if any.
        suspended_from: from this instant on the parties send none of its notices.
        suspended_until: end of the suspension (exclusive), if any.
        lead: how long before a notified window opens a notice goes out when no lead-time rule
            applies (HCoC pre-launch notices have no numeric lead time).
        activity_kinds: activity name to notice kinds, for activities no window rule names
            (``exercise`` -> ``msea.exercise_notice``).
    """

    agreement: str
    parties: tuple[str, ...]
    multilateral: bool = False
    central_contact: str | None = None
    suspended_from: datetime | None = None
    suspended_until: datetime | None = None
    lead: timedelta = timedelta(days=2)
    activity_kinds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def regime(self) -> str | None:
        """The regime id notices are addressed to (multilateral only)."""
        return self.agreement if self.multilateral else None

    def active(self, at: datetime) -> bool:
        """Whether the binding is in force (not suspended) at ``at``."""
        if self.suspended_from is None or at < self.suspended_from:
            return True
        return self.suspended_until is not None and at >= self.suspended_until

    def recipients(self, sender: str) -> list[str]:
        """Where ``sender``'s notices under this binding are addressed."""
        if self.multilateral:
            return [self.agreement]
        return [p for p in self.parties if p != sender]

    def others(self, sender: str) -> tuple[str, ...]:
        """Every party except ``sender``: who must acknowledge its notices."""
        return tuple(p for p in self.parties if p != sender)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retransmission of unacknowledged messages with exponential backoff.

    Attributes:
        initial: wait before the first retransmission.
        factor: each wait is this many times the previous one.
        max_interval: longest wait between two attempts.
        give_up_after: stop retrying this long after the first transmission and report the
            message as undelivered to whoever has not acknowledged it.
    """

    initial: timedelta = timedelta(minutes=10)
    factor: float = 2.0
    max_interval: timedelta = timedelta(hours=6)
    give_up_after: timedelta = timedelta(days=7)

    def interval(self, attempt: int) -> timedelta:
        """The wait after transmission number ``attempt`` (1-based)."""
        seconds = self.initial.total_seconds() * self.factor ** (attempt - 1)
        return timedelta(seconds=min(seconds, self.max_interval.total_seconds()))


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a centre's watch officers behave (the scenario's profile).

    Attributes:
        profile: name for people: ``diligent``, ``late-prone``, ``silent``, ``hostile``.
        safety_margin: notices are scheduled this long before their deadline.
        periodic_margin: periodic submissions are scheduled this long before their due date.
        late_probability: chance that a notice or reply goes out late.
        late_delay: how late, when it does.
        silent_kinds: kinds this centre never sends (``core.ack`` included, if listed).
        ack_delay: time from receipt to acknowledgement.
        reply_delay: time from receipt of a request to the reply (kept inside the response
            bound, less the safety margin, unless the reply is late).
        reply_payloads: payload fields for replies, by kind.
        quota_day: (month, day) on which quota-only submissions (HCoC annual declaration) go out.
    """

    profile: str = "diligent"
    safety_margin: timedelta = timedelta(hours=12)
    periodic_margin: timedelta = timedelta(days=7)
    late_probability: float = 0.0
    late_delay: Distribution = field(default_factory=lambda: Distribution.fixed(0))
    silent_kinds: frozenset[str] = frozenset()
    ack_delay: Distribution = field(default_factory=lambda: Distribution("uniform", 30.0, 300.0))
    reply_delay: Distribution = field(
        default_factory=lambda: Distribution("uniform", 3600.0, 6 * 3600.0)
    )
    reply_payloads: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    quota_day: tuple[int, int] = (7, 31)


@dataclass(frozen=True, slots=True)
class CentreConfig:
    """Everything a centre needs to know besides its key, the keyring and the catalogue.

    Attributes:
        id: the centre id (``US``).
        name: for people.
        bindings: the agreements that bind it (only those naming it as a party matter).
        behaviour: its profile.
        retry: its retransmission policy.
    """

    id: str
    name: str = ""
    bindings: tuple[Binding, ...] = ()
    behaviour: Behaviour = field(default_factory=Behaviour)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def own_bindings(self) -> list[Binding]:
        """Bindings that name this centre as a party."""
        return [b for b in self.bindings if self.id in b.parties]

    @property
    def regimes(self) -> frozenset[str]:
        """Regime ids this centre belongs to (accepted as recipients)."""
        return frozenset(b.agreement for b in self.own_bindings() if b.multilateral)

    def regime_members(self, regime: str) -> tuple[str, ...]:
        """Members of ``regime`` (the union over bindings of that agreement), sorted."""
        members: set[str] = set()
        for b in self.bindings:
            if b.multilateral and b.agreement == regime:
                members.update(b.parties)
        return tuple(sorted(members))
