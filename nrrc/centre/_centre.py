"""The centre: a sans-I/O state machine that notifies, acknowledges, replies, retries and refuses.

Inputs are method calls, each given the current instant ``now`` (the centre never reads a
clock): :meth:`Centre.start`, :meth:`Centre.plan`, :meth:`Centre.plan_message`,
:meth:`Centre.receive`, :meth:`Centre.on_timer` and :meth:`Centre.restart`. Each returns a
:class:`~nrrc.centre.Step` of log records, transmissions, events and the next wake-up instant.
Randomness (message ids, profile draws) comes only from the injected ``random.Random``.

Receiving, in order: verify the envelope (keyring, signature, addressing, payload type) with
:class:`~nrrc.envelope.Verifier`; refuse it when the transport vouches for another origin than
the signed sender (``wrong-origin``); if its (sender, message id) was accepted before, re-send the
acknowledgement when the bytes are identical (a retransmission: nothing is applied twice) and
refuse it as ``replayed`` when they are not; refuse it as ``replayed`` when its (sender, epoch,
seq) is behind what was already accepted from that sender; otherwise log it as received, owe an
acknowledgement, and plan a reply when a rule requires one.
"""

from __future__ import annotations

import heapq
import random
from datetime import date, datetime, timedelta
from hashlib import sha256
from typing import Any

import msgspec

from nrrc.centre._config import Binding, CentreConfig
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
from nrrc.centre._planner import PlanError, Planner
from nrrc.centre._rulebook import ACK_KIND, RuleBook
from nrrc.centre._state import CentreState, OwedAck, Pending, Plan, Seen, Window
from nrrc.envelope import Opened, Verifier, compose
from nrrc.errors import EnvelopeError
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes, ReplyRef, Statement
from nrrc.timeutil import format_delta, midnight_utc

__all__ = ["SEEN_RETENTION", "Centre"]

SEEN_RETENTION = timedelta(days=30)
"""How long the ids of accepted messages are kept for deduplication. Older ones are forgotten
and their senders' sequence windows rise over them, so a duplicate older than this (far beyond
any retransmission) is refused as a replay."""
_PRUNE_EVERY = 512
_WARN = EventLevel.WARNING
_INFO = EventLevel.INFO


class Centre:
    """One Nuclear Risk Reduction Centre as a pure state machine.

    Args:
        config: identity, bindings, behaviour and retry policy.
        signer: the centre's private key (its centre must be ``config.id``).
        keyring: trusted keys of every centre.
        types: statement types of the catalogue.
        rng: the only source of randomness (message ids, profile draws).
        book: indexed rules (shared between centres of one catalogue); built when omitted.
        state: durable state to resume from (see :meth:`snapshot`); a fresh state otherwise.
    """

    def __init__(
        self,
        config: CentreConfig,
        *,
        signer: Signer,
        keyring: Keyring,
        types: MessageTypes,
        rng: random.Random,
        book: RuleBook | None = None,
        state: CentreState | None = None,
    ) -> None:
        if signer.centre != config.id:
            raise ValueError(f"signer belongs to {signer.centre}, not to {config.id}")
        self.config = config
        self.id = config.id
        self.signer = signer
        self.types = types
        self.rng = rng
        self.book = book or RuleBook(types.catalogue)
        self.verifier = Verifier(keyring, types, centre=config.id, regimes=config.regimes)
        self.planner = Planner(config, self.book, types)
        self.state = state or CentreState(centre=config.id)
        self._ack_type = types.payloads[ACK_KIND]
        self._silent = config.behaviour.silent_kinds
        # Derived once from the (frozen) configuration: these are looked up for every message.
        regimes = config.regimes
        self._expected: dict[str, tuple[str, ...]] = {
            r: tuple(m for m in config.regime_members(r) if m != self.id) for r in regimes
        }
        self._suspendable: dict[str, tuple[Binding, ...]] = {}
        for b in config.own_bindings():
            if b.suspended_from is not None:
                self._suspendable[b.agreement] = (*self._suspendable.get(b.agreement, ()), b)
        self._first_retry = config.retry.interval(1)
        self._give_up_after = config.retry.give_up_after
        self._ack_delay = config.behaviour.ack_delay
        self._payload_decoders: dict[str, msgspec.json.Decoder[Any]] = {}
        self._ack_codes: dict[str, tuple[str, ...]] = {}
        self._last_payload: tuple[str, bytes, Any] | None = None
        """(kind, payload bytes, decoded payload) of the last plan sent (never mutated)."""
        self._kinds: dict[type[Statement], str] = {}
        """Statement type -> its kind (``Statement.kind`` works it out each time)."""
        self._replies: dict[str, bool] = {}
        """Kind -> whether some rule requires a reply (other than an acknowledgement) to it."""

    # -- durable state -------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The durable state as bytes (MessagePack); restore with :meth:`from_snapshot`."""
        return msgspec.msgpack.encode(self.state)

    @classmethod
    def from_snapshot(cls, data: bytes, config: CentreConfig, **kwargs: Any) -> Centre:
        """A centre resumed from :meth:`snapshot` bytes (call :meth:`restart` next)."""
        state = msgspec.msgpack.decode(data, type=CentreState)
        return cls(config, state=state, **kwargs)

    @property
    def epoch(self) -> int:
        """The current epoch (incremented by every restart)."""
        return self.state.epoch

    @property
    def wake_at(self) -> datetime | None:
        """When the centre next needs :meth:`on_timer` (None: nothing scheduled)."""
        self._drop_stale()
        return self.state.timers[0][0] if self.state.timers else None

    # -- timers --------------------------------------------------------------------------

    def _arm(self, at: datetime, what: str, key: str) -> None:
        s = self.state
        s.timer_count += 1
        heapq.heappush(s.timers, (at, s.timer_count, what, key))

    def _stale(self, what: str, key: str, at: datetime) -> bool:
        s = self.state
        if what == "plan":
            plan = s.plans.get(key)
            return plan is None or plan.send_at != at
        if what == "ack":
            owed = s.acks.get(key)
            return owed is None or owed.send_at != at
        if what == "retry":
            pending = s.outbox.get(key)
            return pending is None or min(pending.next_retry, pending.expires_at) != at
        return False

    def _drop_stale(self) -> None:
        timers = self.state.timers
        while timers and self._stale(timers[0][2], timers[0][3], timers[0][0]):
            heapq.heappop(timers)

    def _finish(self, step: Step) -> Step:
        s = self.state
        timers = s.timers
        while timers:
            at, _, what, key = timers[0]
            # What _stale says, inlined: this runs after every input.
            if what == "plan":
                plan = s.plans.get(key)
                if plan is not None and plan.send_at == at:
                    break
            elif what == "ack":
                owed = s.acks.get(key)
                if owed is not None and owed.send_at == at:
                    break
            elif what == "retry":
                pending = s.outbox.get(key)
                if pending is not None and min(pending.next_retry, pending.expires_at) == at:
                    break
            else:
                break
            heapq.heappop(timers)
        step.wake_at = timers[0][0] if timers else None
        return step

    # -- inputs --------------------------------------------------------------------------

    def start(self, now: datetime) -> Step:
        """Begin (or resume) operation: plan this year's periodic submissions."""
        step = Step()
        self._plan_year(now, now.year, step)
        return self._finish(step)

    def plan(self, now: datetime, activity: PlannedActivity) -> Step:
        """Learn of a planned activity and schedule the notices it requires (idempotent)."""
        step = Step()
        if activity.id in self.state.activities:
            return self._finish(step)
        self.state.activities[activity.id] = True
        plans, errors = self.planner.for_activity(now, activity, self.rng)
        self._report_errors(now, errors, step)
        for plan in plans:
            self._schedule(now, plan, step)
        return self._finish(step)

    def plan_message(self, now: datetime, message: PlannedMessage) -> Step:
        """Schedule a one-off message (idempotent by ``message.id``)."""
        step = Step()
        plan, error = self.planner.for_message(now, message)
        self._report_errors(now, [error] if error else [], step)
        if plan is not None:
            self._schedule(now, plan, step)
        return self._finish(step)

    def on_timer(self, now: datetime) -> Step:
        """Do everything that is due at or before ``now``."""
        step = Step()
        s = self.state
        timers = s.timers
        pop = heapq.heappop
        while timers and timers[0][0] <= now:
            at, _, what, key = pop(timers)
            # A timer whose object is gone or was rescheduled is skipped (see _stale).
            if what == "plan":
                plan = s.plans.get(key)
                if plan is not None and plan.send_at == at:
                    del s.plans[key]
                    self._send_plan(now, plan, step)
            elif what == "ack":
                owed = s.acks.get(key)
                if owed is not None and owed.send_at == at:
                    del s.acks[key]
                    self._send_ack(now, owed, step)
            elif what == "retry":
                if not self._stale(what, key, at):
                    self._retry(now, key, step)
            elif what == "year":
                self._plan_year(now, int(key), step)
        return self._finish(step)

    def restart(self, now: datetime) -> Step:
        """Resume after a crash or shutdown: new epoch, sequence numbers from 1, and every
        unacknowledged message retransmitted at once (same bytes)."""
        s = self.state
        s.epoch += 1
        s.next_seq = 1
        step = Step()
        step.events.append(Event("restarted", now, _WARN, detail=f"resumed in epoch {s.epoch}"))
        for pending in list(s.outbox.values()):
            pending.next_retry = now
            self._arm(now, "retry", pending.message_id)
        step.extend(self.on_timer(now))
        return step

    # -- planning ------------------------------------------------------------------------

    def _report_errors(self, now: datetime, errors: list[PlanError], step: Step) -> None:
        for e in errors:
            step.events.append(
                Event("invalid-plan", now, EventLevel.ERROR, kind=e.kind, detail=e.detail)
            )

    def _schedule(self, now: datetime, plan: Plan, step: Step) -> None:
        s = self.state
        if plan.key in s.done or plan.key in s.plans:
            return
        if plan.kind in self._silent:
            s.done[plan.key] = "withheld"
            step.events.append(
                Event(
                    "notice-withheld",
                    now,
                    _WARN,
                    kind=plan.kind,
                    peer=plan.to,
                    detail=f"this centre is silent on {plan.kind}",
                    codes=tuple(plan.codes + plan.window_codes),
                    data=_plan_data(plan),
                )
            )
            return
        s.plans[plan.key] = plan
        self._arm(plan.send_at, "plan", plan.key)
        step.events.append(
            Event(
                "notice-planned",
                now,
                kind=plan.kind,
                peer=plan.to,
                codes=tuple(plan.codes),
                data=_plan_data(plan),
            )
        )

    def _plan_year(self, now: datetime, year: int, step: Step) -> None:
        s = self.state
        if year not in s.years:
            s.years.append(year)
            plans, errors = self.planner.for_year(now, year, self.rng)
            self._report_errors(now, errors, step)
            for plan in plans:
                self._schedule(now, plan, step)
        self._arm(midnight_utc(date(year + 1, 1, 1)), "year", str(year + 1))

    # -- sending -------------------------------------------------------------------------

    def _compose(
        self, now: datetime, kind: str, to: str, payload: Any, in_reply_to: ReplyRef | None
    ) -> Opened:
        s = self.state
        seq = s.next_seq
        s.next_seq += 1
        return compose(
            self.types,
            self.signer,
            kind,
            recipient=to,
            sent_at=now,
            epoch=s.epoch,
            seq=seq,
            payload=payload,
            in_reply_to=in_reply_to,
            rand=self.rng,
        )

    def _send_plan(self, now: datetime, plan: Plan, step: Step) -> None:
        s = self.state
        suspendable = self._suspendable.get(plan.agreement)
        if suspendable and not all(b.active(now) for b in suspendable):
            s.done[plan.key] = "suspended"
            step.events.append(
                Event(
                    "notice-withheld",
                    now,
                    kind=plan.kind,
                    peer=plan.to,
                    detail=f"{plan.agreement} is suspended",
                    data=_plan_data(plan),
                )
            )
            return
        late = plan.first_late is not None and now >= plan.first_late
        if late:
            assert plan.first_late is not None
            overdue = (now - plan.first_late).total_seconds()
            step.events.append(
                Event(
                    "late-notice",
                    now,
                    _WARN,
                    kind=plan.kind,
                    peer=plan.to,
                    detail=(
                        f"pre-send check: {plan.kind} to {plan.to} is already late under "
                        f"{', '.join(plan.codes)} by {format_delta(overdue)}"
                    ),
                    codes=tuple(plan.codes),
                    data=_plan_data(plan),
                )
            )
        last = self._last_payload
        if last is not None and last[0] == plan.kind and last[1] == plan.payload:
            payload = last[2]  # the copies of one notice to several partners: decoded once
        else:
            decoder = self._payload_decoders.get(plan.kind)
            if decoder is None:
                decoder = msgspec.json.Decoder(self.types.payloads[plan.kind])
                self._payload_decoders[plan.kind] = decoder
            payload = decoder.decode(plan.payload)
            self._last_payload = (plan.kind, plan.payload, payload)
        opened = self._compose(now, plan.kind, plan.to, payload, plan.in_reply_to)
        s.done[plan.key] = opened.statement.id
        self._transmit_new(now, opened, plan.kind, plan.to, step)
        data = _plan_data(plan)
        data["late"] = late
        step.events.append(
            Event(
                f"{plan.purpose}-sent" if plan.purpose != "notice" else "notice-sent",
                now,
                message_id=opened.statement.id,
                kind=plan.kind,
                peer=plan.to,
                codes=tuple(plan.codes),
                data=data,
            )
        )

    def _transmit_new(self, now: datetime, opened: Opened, kind: str, to: str, step: Step) -> None:
        st = opened.statement
        step.records.append(LogRecord("sent", now, opened.envelope))
        step.transmits.append(Transmit(to, opened.envelope, st.id, kind, 1))
        members = self._expected.get(to)  # who must acknowledge it: a regime's other members
        waiting = list(members) if members is not None else [to]
        if not waiting:
            return
        pending = Pending(
            message_id=st.id,
            kind=kind,
            to=to,
            envelope=opened.envelope,
            digest=sha256(opened.statement_bytes).hexdigest(),  # opened.digest
            first_sent=now,
            attempts=1,
            waiting=waiting,
            next_retry=now + self._first_retry,
            expires_at=now + self._give_up_after,
        )
        s = self.state
        s.outbox[st.id] = pending
        s.timer_count += 1  # what _arm does
        heapq.heappush(
            s.timers, (min(pending.next_retry, pending.expires_at), s.timer_count, "retry", st.id)
        )

    def _retry(self, now: datetime, message_id: str, step: Step) -> None:
        pending = self.state.outbox[message_id]
        if now >= pending.expires_at:
            del self.state.outbox[message_id]
            step.events.append(
                Event(
                    "undelivered",
                    now,
                    _WARN,
                    message_id=message_id,
                    kind=pending.kind,
                    peer=pending.to,
                    detail=(
                        f"no acknowledgement from {', '.join(pending.waiting)} after "
                        f"{pending.attempts} transmissions; giving up"
                    ),
                    data={"waiting": list(pending.waiting), "attempts": pending.attempts},
                )
            )
            return
        pending.attempts += 1
        for to in pending.waiting:
            step.transmits.append(
                Transmit(to, pending.envelope, message_id, pending.kind, pending.attempts)
            )
        step.events.append(
            Event(
                "retransmitted",
                now,
                message_id=message_id,
                kind=pending.kind,
                peer=pending.to,
                detail=f"attempt {pending.attempts} to {', '.join(pending.waiting)}",
                data={"attempt": pending.attempts, "waiting": len(pending.waiting)},
            )
        )
        pending.next_retry = now + self.config.retry.interval(pending.attempts)
        self._arm(min(pending.next_retry, pending.expires_at), "retry", message_id)

    def _send_ack(self, now: datetime, owed: OwedAck, step: Step) -> None:
        ref = ReplyRef(id=owed.message_id, digest=owed.digest)
        payload = self._ack_type(received_at=owed.received_at)
        opened = self._compose(now, ACK_KIND, owed.sender, payload, ref)
        envelope = opened.envelope
        ack_id = opened.statement.id
        step.records.append(LogRecord("sent", now, envelope))
        step.transmits.append(Transmit(owed.sender, envelope, ack_id, ACK_KIND))
        seen = self.state.seen.get(f"{owed.sender}/{owed.message_id}")
        if seen is not None:
            seen.ack = envelope
            seen.ack_id = ack_id
        late = owed.first_late is not None and now >= owed.first_late
        step.events.append(
            Event(
                "ack-sent",
                now,
                _WARN if late else EventLevel.INFO,
                message_id=ack_id,
                kind=ACK_KIND,
                peer=owed.sender,
                detail=f"acknowledges {owed.kind} {owed.message_id}" + (" (late)" if late else ""),
                codes=tuple(owed.codes),
                data={
                    "acknowledges": owed.message_id,
                    "delay": (now - owed.received_at).total_seconds(),
                    "late": late,
                },
            )
        )

    # -- receiving -----------------------------------------------------------------------

    def _reject(
        self,
        now: datetime,
        delivery: Delivery,
        reason: str,
        detail: str,
        step: Step,
        opened: Opened | None = None,
    ) -> Step:
        """Log and report a refused envelope (naming its message id and kind when it opened)."""
        step.records.append(LogRecord("rejected", now, delivery.envelope, reason, detail))
        step.events.append(
            Event(
                "rejected",
                now,
                _WARN,
                message_id=opened.statement.id if opened is not None else None,
                kind=opened.statement.kind if opened is not None else None,
                peer=delivery.origin,
                detail=f"{reason}: {detail}",
                data={"reason": reason},
            )
        )
        return self._finish(step)

    def receive(self, now: datetime, delivery: Delivery) -> Step:
        """Handle an envelope that arrived now."""
        step = Step()
        try:
            opened = self.verifier.open(delivery.envelope)
        except EnvelopeError as exc:
            return self._reject(now, delivery, exc.reason, exc.detail, step)
        st = opened.statement
        sender = st.sender
        message_id = st.id
        kind = self._kinds.get(type(st))
        if kind is None:
            kind = self._kinds[type(st)] = st.kind
        if sender == self.id:
            step.events.append(Event("own-message", now, message_id=message_id, kind=kind))
            return self._finish(step)
        digest = sha256(opened.statement_bytes).hexdigest()  # opened.digest
        s = self.state
        key = f"{sender}/{message_id}"
        origin = delivery.origin
        origin_ok = origin is None or origin == sender
        seen = s.seen.get(key)
        if seen is not None:
            if origin_ok and seen.digest == digest:
                return self._duplicate(now, sender, message_id, kind, seen, step)
            why = (
                f"delivered by {origin}, signed by {sender}"
                if not origin_ok
                else "same message id with different content"
            )
            return self._reject(
                now,
                delivery,
                "replayed",
                f"message {message_id} from {sender} was received before ({why})",
                step,
                opened,
            )
        if not origin_ok:
            return self._reject(
                now,
                delivery,
                "wrong-origin",
                f"signed by {sender} but delivered by {origin}",
                step,
                opened,
            )
        epoch, seq = st.epoch, st.seq
        windows = s.windows.get(sender)
        if windows is None:
            windows = s.windows[sender] = {}
        window = windows.get(epoch)
        if window is not None and (seq <= window.floor or seq in window.above):  # window.has
            return self._reject(
                now,
                delivery,
                "replayed",
                f"sequence number {seq} of epoch {epoch} from {sender} was used before",
                step,
                opened,
            )
        if window is None:
            window = windows[epoch] = Window()
        # What window.add(seq) does, directly (seq lies above the floor and is new).
        above = window.above
        floor = window.floor
        if seq == floor + 1:
            floor = seq  # the next in order
        else:
            above.add(seq)
        while floor + 1 in above:
            floor += 1
            above.discard(floor)
        window.floor = floor
        s.seen[key] = Seen(digest=digest, received_at=now, epoch=epoch, seq=seq)
        s.accepted += 1
        if s.accepted % _PRUNE_EVERY == 0:
            self._prune(now)
        step.records.append(LogRecord("received", now, delivery.envelope))
        step.events.append(Event("received", now, _INFO, message_id, kind, sender))
        if kind == ACK_KIND:
            self._on_ack(now, st, sender, step)
        else:
            self._owe_ack(now, key, st, kind, digest, step)
            # Only a kind some rule answers with a reply needs the planner.
            replies = self._replies.get(kind)
            if replies is None:
                replies = self._replies[kind] = bool(self.book.reply_rules(kind))
            if replies and st.recipient == self.id:
                plan, error = self.planner.for_reply(
                    now, kind, sender, ReplyRef(id=message_id, digest=digest), self.rng
                )
                self._report_errors(now, [error] if error else [], step)
                if plan is not None:
                    self._schedule(now, plan, step)
        return self._finish(step)

    def _duplicate(
        self, now: datetime, sender: str, message_id: str, kind: str, seen: Seen, step: Step
    ) -> Step:
        step.events.append(
            Event(
                "duplicate",
                now,
                message_id=message_id,
                kind=kind,
                peer=sender,
                detail="already received; not applied again",
            )
        )
        if seen.ack is not None and seen.ack_id is not None:
            step.transmits.append(Transmit(sender, seen.ack, seen.ack_id, ACK_KIND, 2))
        return self._finish(step)

    def _owe_ack(
        self, now: datetime, key: str, st: Statement, kind: str, digest: str, step: Step
    ) -> None:
        if ACK_KIND in self._silent:
            step.events.append(
                Event("ack-withheld", now, _WARN, message_id=st.id, kind=kind, peer=st.sender)
            )
            return
        codes = self._ack_codes.get(kind)
        if codes is None:
            codes = self._ack_codes[kind] = tuple(r.code for r in self.book.ack_rules(kind))
        first_late = self.book.ack_first_late(kind, now)
        send_at = now + self._ack_delay.sample_delta(self.rng)
        owed = OwedAck(
            sender=st.sender,
            message_id=st.id,
            digest=digest,
            kind=kind,
            received_at=now,
            send_at=send_at,
            first_late=first_late,
            codes=list(codes),
        )
        if send_at <= now:
            self.state.acks.pop(key, None)
            self._send_ack(now, owed, step)
        else:
            s = self.state
            s.acks[key] = owed
            s.timer_count += 1  # what _arm does
            heapq.heappush(s.timers, (send_at, s.timer_count, "ack", key))

    def _on_ack(self, now: datetime, st: Statement, sender: str, step: Step) -> None:
        ref = st.in_reply_to
        outbox = self.state.outbox
        pending = outbox.get(ref.id) if ref is not None else None
        if ref is None or pending is None:
            step.events.append(
                Event(
                    "unexpected-ack",
                    now,
                    message_id=st.id,
                    peer=sender,
                    detail="acknowledges no message awaiting acknowledgement",
                )
            )
            return
        if ref.digest != pending.digest:
            step.events.append(
                Event(
                    "unexpected-ack",
                    now,
                    _WARN,
                    message_id=st.id,
                    peer=sender,
                    detail=f"digest does not match message {ref.id}",
                )
            )
            return
        waiting = pending.waiting
        if sender not in waiting:
            return
        waiting.remove(sender)
        step.events.append(
            Event(
                "acknowledged",
                now,
                message_id=ref.id,
                kind=pending.kind,
                peer=sender,
                data={
                    "latency": (now - pending.first_sent).total_seconds(),
                    "attempts": pending.attempts,
                },
            )
        )
        if not waiting:
            del outbox[ref.id]

    def _prune(self, now: datetime) -> None:
        """Forget accepted messages older than :data:`SEEN_RETENTION`; their senders' windows
        rise over them, so an older duplicate is refused as a replay."""
        s = self.state
        horizon = now - SEEN_RETENTION
        old = [(k, v) for k, v in s.seen.items() if v.received_at < horizon]
        through: dict[tuple[str, int], int] = {}
        for key, seen in old:
            del s.seen[key]
            sender = key.split("/", 1)[0]
            mark = (sender, seen.epoch)
            through[mark] = max(through.get(mark, 0), seen.seq)
        for (sender, epoch), seq in through.items():
            window = s.windows.get(sender, {}).get(epoch)
            if window is not None:
                window.forget_through(seq)


def _plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "key": plan.key,
        "purpose": plan.purpose,
        "activity": plan.activity,
        "agreement": plan.agreement,
        "first_late": plan.first_late,
        "deadlines": dict(plan.deadlines),
        "window_codes": list(plan.window_codes),
        "in_reply_to": plan.in_reply_to.id if plan.in_reply_to else None,
        "profile_late": plan.late,
        "send_at": plan.send_at,
        "payload": plan.payload,
    }
