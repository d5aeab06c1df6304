"""The rule-aware scheduler: which messages a centre owes, to whom, and when to send them.

For a planned activity the centre looks up, in each agreement that binds it, the window rules
that name the activity (``launch`` under the 1988 agreement, HCoC and India-Pakistan;
``military_activity`` under the Vienna Document) and any activity kinds the binding names
(``exercise`` under the 1989 agreement). For each notice kind it fills in the payload, computes
the deadline of every lead-time (or lag) rule that applies, and schedules the notice a safety
margin ahead of the earliest one. A notice no lead-time rule bounds (HCoC) goes out the binding's
``lead`` before its window opens.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from nrrc.catalogue import FieldSpec, FieldType, Rule, RuleType
from nrrc.centre._config import Behaviour, Binding, CentreConfig
from nrrc.centre._io import PlannedActivity, PlannedMessage
from nrrc.centre._payloads import PERIODIC_TEMPLATES, build_payload
from nrrc.centre._rulebook import RuleBook
from nrrc.centre._state import Plan
from nrrc.messages import MessageTypes, ReplyRef
from nrrc.timeutil import midnight_utc

__all__ = ["PlanError", "Planner"]


@dataclass(frozen=True, slots=True)
class PlanError:
    """A message that could not be planned (its payload is not valid for its kind)."""

    key: str
    kind: str
    detail: str


_TimingRecipe = tuple[tuple[str, int, bool], ...]
"""Which fields the rules time, in order: (name, 0 start / 1 end / 2 at, optional date)."""
_Notices = tuple[Binding, tuple[str, ...], tuple[tuple[str, _TimingRecipe, tuple[str, ...]], ...]]
"""Of one binding: its recipients, and the notices an activity owes (kind, how to time it, the
codes of its window rules sorted)."""


def _ms(at: datetime) -> datetime:
    """Truncate to the millisecond (message ids carry milliseconds)."""
    extra = at.microsecond % 1000
    return at.replace(microsecond=at.microsecond - extra) if extra else at


def _instant(pair: tuple[Any, datetime]) -> datetime:
    return pair[1]


class Planner:
    """Turns activities, requests and calendars into :class:`Plan` objects for one centre.

    Args:
        config: the centre's configuration.
        book: the indexed rules.
        types: statement types, to validate payloads.
    """

    def __init__(self, config: CentreConfig, book: RuleBook, types: MessageTypes) -> None:
        self.config = config
        self.book = book
        self.types = types
        self.behaviour: Behaviour = config.behaviour
        mapped = {k for b in config.bindings for ks in b.activity_kinds.values() for k in ks}
        window_kinds = {r.kind for rs in book.window_by_activity.values() for r in rs if r.kind}
        self._activity_kinds = mapped | window_kinds | set(book.lead) | set(book.lag)
        self._notice_memo: dict[tuple[str, ...], tuple[_Notices, ...]] = {}
        self._own_bindings = config.own_bindings()

    # -- payloads ------------------------------------------------------------------------

    def _encode(
        self, key: str, kind: str, fields: Mapping[str, Any]
    ) -> tuple[bytes | None, PlanError | None]:
        try:
            payload = self.types.payload(kind, **fields)
        except (msgspec.ValidationError, TypeError, KeyError) as exc:
            return None, PlanError(key, kind, f"{kind}: {exc}")
        return msgspec.json.encode(payload), None

    def _late(self, rng: random.Random) -> timedelta | None:
        b = self.behaviour
        if b.late_probability > 0 and rng.random() < b.late_probability:
            return b.late_delay.sample_delta(rng)
        return None

    # -- activities ----------------------------------------------------------------------

    def _timing(self, recipe: _TimingRecipe, activity: PlannedActivity) -> dict[str, Any]:
        timing: dict[str, Any] = {}
        start = activity.start
        choices = (start, activity.end, activity.at)
        start_date = None
        for name, which, optional_date in recipe:
            if name in timing:
                continue
            value = choices[which]
            if optional_date:
                if start_date is None:
                    start_date = start.date()
                if value.date() == start_date:
                    continue  # an optional end date equal to the start date says nothing
            timing[name] = value
        return timing

    def _timing_recipe(self, kind: str, windows: Sequence[Rule]) -> _TimingRecipe:
        """Which fields the rules time, in order: (name, 0 start / 1 end / 2 at, whether it is
        an optional date); fields the kind lacks are left out."""
        specs: dict[str, FieldSpec] = {}
        for f in self.book.catalogue.kinds[kind].fields:
            specs.setdefault(f.name, f)  # the first of a name, as Kind.field finds it
        wanted: list[tuple[str | None, int]] = []
        for rule in windows:
            wanted += [(rule.window_start, 0), (rule.window_end, 1)]
        wanted += [(rule.anchor, 0) for rule in self.book.lead.get(kind, ())]
        wanted += [(rule.anchor, 2) for rule in self.book.lag.get(kind, ())]
        for rule in self.book.by_kind.get(kind, ()):
            if rule.type is RuleType.SPAN:
                wanted += [(rule.start_field, 0), (rule.end_field, 1)]
        recipe: list[tuple[str, int, bool]] = []
        for name, which in wanted:
            spec = specs.get(name) if name else None
            if name and spec is not None:
                optional_date = spec.type is FieldType.DATE and not spec.required
                if (name, which, optional_date) not in recipe:  # a repeat decides nothing new
                    recipe.append((name, which, optional_date))
        return tuple(recipe)

    def _kinds_for(
        self, binding: Binding, activity: str, windows: Sequence[Rule]
    ) -> dict[str, list[Any]]:
        kinds: dict[str, list[Any]] = {}
        for rule in windows:
            if rule.agreement == binding.agreement and rule.kind:
                kinds.setdefault(rule.kind, []).append(rule)
        for kind in binding.activity_kinds.get(activity, ()):
            kinds.setdefault(kind, [])
        return kinds

    def _notices(self, activity: str, applicable: Sequence[Rule]) -> tuple[_Notices, ...]:
        """For each own binding: its recipients and, by kind, the notices an activity owes
        (kind, timing recipe, window rule codes sorted); worked out once per activity and
        rules."""
        key = (activity, *[r.code for r in applicable])
        found = self._notice_memo.get(key)
        if found is None:
            me = self.config.id
            out: list[_Notices] = []
            for binding in self._own_bindings:
                kinds = self._kinds_for(binding, activity, applicable)
                notices = tuple(
                    (
                        kind,
                        self._timing_recipe(kind, kinds[kind]),
                        tuple(sorted(r.code for r in kinds[kind])),
                    )
                    for kind in sorted(kinds)
                )
                out.append((binding, tuple(binding.recipients(me)), notices))
            found = self._notice_memo[key] = tuple(out)
        return found

    def for_activity(
        self, now: datetime, activity: PlannedActivity, rng: random.Random
    ) -> tuple[list[Plan], list[PlanError]]:
        """Plans for every notice ``activity`` requires under the centre's bindings."""
        plans: list[Plan] = []
        errors: list[PlanError] = []
        me = self.config.id
        book = self.book
        for binding, recipients, notices in self._notices(
            activity.activity, book.activity_windows(activity)
        ):
            for kind, recipe, window_codes in notices:
                timing = self._timing(recipe, activity)
                fields = build_payload(
                    book.catalogue,
                    kind,
                    start=activity.start,
                    given=activity.attributes,
                    timing=timing,
                    sender=me,
                )
                leads = book.lead_deadlines(kind, fields)
                lags = book.lag_deadlines(kind, fields)
                # Each list is sorted by (instant, code); a stable sort by instant of leads
                # alone would leave them as they are.
                deadlines = sorted(leads + lags, key=_instant) if lags else leads
                first_late = deadlines[0][1] if deadlines else None
                if leads:
                    send_at = leads[0][1] - self.behaviour.safety_margin
                elif lags:
                    assert first_late is not None
                    quarter = (first_late - activity.at) / 4
                    send_at = activity.at + min(quarter, self.behaviour.safety_margin)
                else:
                    send_at = activity.start - binding.lead
                payload, error = self._encode(f"notice/{activity.id}/{kind}", kind, fields)
                if payload is None:
                    errors.extend([error] if error else [])
                    continue
                codes = [r.code for r, _ in deadlines]
                by_code = {r.code: at for r, at in deadlines}
                for i, to in enumerate(recipients):
                    late = self._late(rng)
                    at = send_at + late if late is not None else send_at
                    plans.append(
                        Plan(
                            key=f"notice/{activity.id}/{kind}/{to}",
                            purpose="notice",
                            kind=kind,
                            to=to,
                            agreement=binding.agreement,
                            payload=payload,
                            send_at=_ms(at if at > now else now),
                            first_late=first_late,
                            # Each plan owns its lists (the first takes the originals).
                            codes=list(codes) if i else codes,
                            deadlines=dict(by_code) if i else by_code,
                            window_codes=list(window_codes),
                            activity=activity.id,
                            late=late is not None,
                        )
                    )
        return plans, errors

    # -- messages, replies ---------------------------------------------------------------

    def for_message(
        self, now: datetime, message: PlannedMessage
    ) -> tuple[Plan | None, PlanError | None]:
        """A plan for a one-off message."""
        key = f"message/{message.id}"
        fields = build_payload(
            self.book.catalogue,
            message.kind,
            start=message.at,
            given=message.payload,
            timing={},
            sender=self.config.id,
        )
        payload, error = self._encode(key, message.kind, fields)
        if payload is None:
            return None, error
        agreement = message.kind.split(".", 1)[0]
        plan = Plan(
            key=key,
            purpose="message",
            kind=message.kind,
            to=message.to,
            agreement=agreement,
            payload=payload,
            send_at=_ms(max(message.at, now)),
        )
        return plan, None

    def for_reply(
        self,
        now: datetime,
        request_kind: str,
        sender: str,
        ref: ReplyRef,
        rng: random.Random,
    ) -> tuple[Plan | None, PlanError | None]:
        """A plan for the reply a request received now requires, if any."""
        rules = sorted(
            self.book.reply_rules(request_kind), key=lambda r: r.bound.seconds if r.bound else 0
        )
        if not rules or not rules[0].response:
            return None, None
        rule = rules[0]
        kind = rule.response
        assert kind is not None
        first_late = self.book.response_first_late(rule, now)
        b = self.behaviour
        send_at = now + b.reply_delay.sample_delta(rng)
        send_at = min(send_at, max(now, first_late - b.safety_margin))
        late = self._late(rng)
        if late is not None:
            send_at += late
        key = f"reply/{sender}/{ref.id}/{kind}"
        fields = build_payload(
            self.book.catalogue,
            kind,
            start=now,
            given=dict(b.reply_payloads.get(kind, {})),
            timing={},
            sender=self.config.id,
        )
        payload, error = self._encode(key, kind, fields)
        if payload is None:
            return None, error
        return (
            Plan(
                key=key,
                purpose="reply",
                kind=kind,
                to=sender,
                agreement=rule.agreement,
                payload=payload,
                send_at=_ms(send_at),
                first_late=first_late,
                codes=[r.code for r in rules],
                deadlines={r.code: self.book.response_first_late(r, now) for r in rules if r.bound},
                in_reply_to=ref,
                late=late is not None,
            ),
            None,
        )

    # -- calendars -----------------------------------------------------------------------

    def for_year(
        self, now: datetime, year: int, rng: random.Random
    ) -> tuple[list[Plan], list[PlanError]]:
        """Periodic submissions (due on a fixed date) and quota-only submissions of ``year``."""
        plans: list[Plan] = []
        errors: list[PlanError] = []
        me = self.config.id
        b = self.behaviour
        jan1 = midnight_utc(date(year, 1, 1))
        for binding in self.config.own_bindings():
            due: list[tuple[str, str, datetime, datetime | None, list[str]]] = []
            for rule in self.book.periodic.get(binding.agreement, ()):
                if not rule.kind:
                    continue
                due_by = self.book.periodic_first_late(rule, year)
                send_at = due_by - b.periodic_margin
                due.append((rule.code, rule.kind, send_at, due_by, [rule.code]))
            for rule in self.book.quota.get(binding.agreement, ()):
                if not rule.kind or not rule.min_count or rule.kind in self._activity_kinds:
                    continue
                month, day = b.quota_day
                for i in range(rule.min_count):
                    at = midnight_utc(date(year, month, day)) + timedelta(hours=12, days=i)
                    due.append((f"{rule.code}.{i}", rule.kind, at, None, [rule.code]))
            for tag, kind, send_at, first_late, codes in due:
                if first_late is not None and now >= first_late:
                    continue  # this year's due date has passed before the centre started
                template = PERIODIC_TEMPLATES.get(kind)
                given = template(year) if template else {}
                fields = build_payload(
                    self.book.catalogue, kind, start=jan1, given=given, timing={}, sender=me
                )
                for to in binding.recipients(me):
                    key = f"periodic/{tag}/{year}/{to}"
                    payload, error = self._encode(key, kind, fields)
                    if error is not None:
                        errors.append(error)
                        continue
                    assert payload is not None
                    late = self._late(rng)
                    at = send_at + late if late is not None else send_at
                    plans.append(
                        Plan(
                            key=key,
                            purpose="periodic",
                            kind=kind,
                            to=to,
                            agreement=binding.agreement,
                            payload=payload,
                            send_at=_ms(max(at, now)),
                            first_late=first_late,
                            codes=codes,
                            deadlines={codes[0]: first_late} if first_late else {},
                            late=late is not None,
                        )
                    )
        return plans, errors
