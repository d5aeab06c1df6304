"""The centre's decisions at their exact boundaries: when it schedules, warns, acknowledges,
retries, deduplicates and refuses."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta

import pytest
from centre_support import INSTANT, T0, Wire, make_centres

from nrrc.centre import (
    Behaviour,
    Binding,
    Centre,
    Delivery,
    Distribution,
    PlannedActivity,
    PlannedMessage,
    RetryPolicy,
    first_late,
)
from nrrc.envelope import compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.timeutil import midnight_utc, parse_duration

BML = Binding("bmlna", ("US", "RU"))
MSEA = Binding("msea", ("US", "RU"), activity_kinds={"exercise": ("msea.exercise_notice",)})
NST = Binding("nst", ("US", "RU"), activity_kinds={"launch": ("nst.launch_notice",)})
LAUNCH_DAY = date(2026, 3, 2)


def launch(day: date = LAUNCH_DAY, hour: int = 6) -> PlannedActivity:
    """An ICBM launch by RU on ``day``."""
    return PlannedActivity(
        "a1",
        "launch",
        midnight_utc(day) + timedelta(hours=hour),
        attributes={"missile_class": "ICBM"},
    )


def statement(envelope: bytes) -> dict[str, object]:
    """The statement inside an envelope, as JSON."""
    return json.loads(base64.b64decode(json.loads(envelope)["payload"]))  # type: ignore[no-any-return]


@pytest.fixture
def pair(types: MessageTypes, signers: dict[str, Signer], keyring: Keyring) -> dict[str, Centre]:
    """US and RU bound by the 1988 agreement; both acknowledge at once."""
    return make_centres(types, signers, keyring, [BML], ["US", "RU"])


# -- scheduling --------------------------------------------------------------------------


def test_first_late_instant_of_each_anchor_semantics() -> None:
    """24 h before a date counts from 00:00 UTC; 14 days compares UTC dates; a datetime anchor
    is exact: the first late instant is one microsecond after the last compliant one."""
    day = date(2026, 3, 2)
    assert first_late(day, parse_duration("24h"), before=True) == midnight_utc(
        date(2026, 3, 1)
    ) + timedelta(microseconds=1)
    assert first_late(day, parse_duration("14d"), before=True) == midnight_utc(date(2026, 2, 17))
    eta = T0 + timedelta(hours=40)
    assert first_late(eta, parse_duration("32h"), before=True) == T0 + timedelta(
        hours=8, microseconds=1
    )
    assert first_late(day, parse_duration("5d"), before=False) == midnight_utc(date(2026, 3, 8))


def test_launch_notice_scheduled_safety_margin_before_the_24h_deadline(
    pair: dict[str, Centre],
) -> None:
    """The notice of a launch on 2 March is due by 1 March 00:00 UTC; with a 12 h margin it
    is scheduled for 28 February 12:00 UTC."""
    step = pair["RU"].plan(T0, launch())
    (event,) = [e for e in step.events if e.name == "notice-planned"]
    assert event.codes == ("BML001",)
    assert event.data["send_at"] == datetime(2026, 2, 28, 12, tzinfo=T0.tzinfo)
    assert step.wake_at == datetime(2026, 2, 28, 12, tzinfo=T0.tzinfo)


def test_exercise_notice_scheduled_on_the_last_compliant_day(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """An exercise starting 20 October must be notified on or before 6 October (UTC date):
    the first late instant is 7 October 00:00, so the notice goes out 6 October 12:00."""
    us = make_centres(types, signers, keyring, [MSEA], ["US"])["US"]
    start = datetime(2026, 10, 20, 8, tzinfo=T0.tzinfo)
    activity = PlannedActivity("ex", "exercise", start, attributes={"heavy_bombers": True})
    step = us.plan(T0, activity)
    (event,) = [e for e in step.events if e.name == "notice-planned"]
    assert event.data["first_late"] == datetime(2026, 10, 7, tzinfo=T0.tzinfo)
    assert event.data["send_at"] == datetime(2026, 10, 6, 12, tzinfo=T0.tzinfo)


def test_notice_sent_exactly_at_the_deadline_is_not_flagged_late(pair: dict[str, Centre]) -> None:
    """Learning of a launch at the last compliant instant: the notice goes out at once and
    the pre-send check does not warn."""
    deadline = midnight_utc(date(2026, 3, 1))
    step = pair["RU"].plan(deadline, launch())
    step = pair["RU"].on_timer(deadline)
    assert [e.name for e in step.events if e.name in ("notice-sent", "late-notice")] == [
        "notice-sent"
    ]
    assert len(step.transmits) == 1


def test_pre_send_check_warns_one_millisecond_after_the_deadline(pair: dict[str, Centre]) -> None:
    """One millisecond after the deadline the pre-send check warns with the rule's code, and
    the notice is still sent (late is better than never)."""
    late = midnight_utc(date(2026, 3, 1)) + timedelta(milliseconds=1)
    pair["RU"].plan(late, launch())
    step = pair["RU"].on_timer(late)
    warnings = [e for e in step.events if e.name == "late-notice"]
    assert len(warnings) == 1 and warnings[0].codes == ("BML001",)
    assert "already late" in warnings[0].detail
    assert [r.direction for r in step.records] == ["sent"]


def test_planning_the_same_activity_twice_sends_one_notice(pair: dict[str, Centre]) -> None:
    """Planning is idempotent by activity id (a restarted node may re-plan everything)."""
    pair["RU"].plan(T0, launch())
    second = pair["RU"].plan(T0 + timedelta(days=1), launch())
    assert second.events == []


def test_late_prone_centre_delays_its_notice(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A centre late with probability 1 by exactly 2 days sends 2 days after the schedule."""
    late = Behaviour(late_probability=1.0, late_delay=Distribution.fixed(2 * 86400))
    ru = make_centres(types, signers, keyring, [BML], ["RU"], behaviour=late)["RU"]
    step = ru.plan(T0, launch())
    (event,) = [e for e in step.events if e.name == "notice-planned"]
    assert event.data["send_at"] == datetime(2026, 3, 2, 12, tzinfo=T0.tzinfo)
    assert event.data["profile_late"] is True


def test_silent_centre_withholds_the_kind_it_is_silent_on(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A centre silent on launch notices plans none and says so."""
    silent = Behaviour(silent_kinds=frozenset({"bmlna.launch_notice"}))
    ru = make_centres(types, signers, keyring, [BML], ["RU"], behaviour=silent)["RU"]
    step = ru.plan(T0, launch())
    assert [e.name for e in step.events] == ["notice-withheld"]
    assert step.wake_at is None  # nothing to send, ever


def test_suspended_agreement_withholds_its_notices(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A notice under a binding suspended at sending time is withheld, not sent."""
    suspended = Binding("bmlna", ("US", "RU"), suspended_from=T0)
    ru = make_centres(types, signers, keyring, [suspended], ["RU"])["RU"]
    ru.plan(T0, launch())
    step = ru.on_timer(datetime(2026, 2, 28, 12, tzinfo=T0.tzinfo))
    assert step.transmits == []
    assert [e.name for e in step.events] == ["notice-withheld"]


# -- acknowledgements ----------------------------------------------------------------------


def test_notice_acknowledged_with_its_id_digest_and_receipt_time(pair: dict[str, Centre]) -> None:
    """The acknowledgement names the notice by id and SHA-256 digest and states when it was
    received; the sender's outbox clears."""
    wire = Wire(pair)
    wire.apply("RU", pair["RU"].plan(T0, launch()), T0)
    wire.run_until(datetime(2026, 3, 1, tzinfo=T0.tzinfo))
    (sent,) = wire.out.direction("RU", "sent")
    (received,) = wire.out.direction("US", "received")
    (ack,) = wire.out.direction("US", "sent")
    ack_st = statement(ack.envelope)
    notice_st = statement(sent.envelope)
    assert ack_st["kind"] == "core.ack"
    assert ack_st["in_reply_to"]["id"] == notice_st["id"]  # type: ignore[index]
    inner = base64.b64decode(json.loads(sent.envelope)["payload"])
    import hashlib

    assert ack_st["in_reply_to"]["digest"] == hashlib.sha256(inner).hexdigest()  # type: ignore[index]
    assert ack_st["payload"]["received_at"] == received.at.isoformat().replace("+00:00", "Z")  # type: ignore[index]
    assert pair["RU"].state.outbox == {}
    assert len(wire.out.named("RU", "acknowledged")) == 1


def ack_rule_centres(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring, delay: timedelta
) -> dict[str, Centre]:
    """US acknowledges New START launch notices (1 h rule) after exactly ``delay``."""
    slow = Behaviour(ack_delay=Distribution.fixed(delay.total_seconds()))
    return make_centres(
        types, signers, keyring, [NST], ["US", "RU"], behaviours={"US": slow, "RU": INSTANT}
    )


@pytest.mark.parametrize(
    ("delay", "late"),
    [(timedelta(hours=1), False), (timedelta(hours=1, milliseconds=1), True)],
    ids=["exactly-1h-on-time", "1h-plus-1ms-late"],
)
def test_acknowledgement_at_the_bound_is_on_time_and_after_it_late(
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
    delay: timedelta,
    late: bool,
) -> None:
    """An acknowledgement sent exactly 1 h after receipt meets NST009; 1 ms later warns."""
    centres = ack_rule_centres(types, signers, keyring, delay)
    wire = Wire(centres, transit=timedelta(0))
    wire.apply("RU", centres["RU"].plan(T0, launch()), T0)
    wire.run_until(datetime(2026, 3, 1, tzinfo=T0.tzinfo))
    (ack,) = wire.out.named("US", "ack-sent")
    assert ack.codes == ("NST009",)
    assert ack.data["delay"] == delay.total_seconds()
    assert ack.data["late"] is late


# -- retransmission ------------------------------------------------------------------------


def test_unacknowledged_notice_retransmitted_with_backoff_then_given_up(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """Without acknowledgements the same bytes go out again after 10, 20, 40, 80 min (capped
    at 1 h here), until 4 h after the first transmission; then the message is reported
    undelivered."""
    retry = RetryPolicy(
        initial=timedelta(minutes=10),
        factor=2,
        max_interval=timedelta(hours=1),
        give_up_after=timedelta(hours=4),
    )
    centres = make_centres(types, signers, keyring, [BML], ["US", "RU"], retry=retry)
    wire = Wire(centres)
    wire.drop.add("core.ack")
    wire.apply("RU", centres["RU"].plan(T0, launch()), T0)
    first = datetime(2026, 2, 28, 12, tzinfo=T0.tzinfo)
    sends: list[tuple[datetime, bytes]] = []
    centre = centres["RU"]
    while centre.wake_at is not None and centre.wake_at < first + timedelta(hours=5):
        at = centre.wake_at
        step = centre.on_timer(at)
        sends.extend((at, t.envelope) for t in step.transmits)
        wire.out.add("RU", step)
    offsets = [int((at - first).total_seconds() // 60) for at, _ in sends]
    assert offsets == [0, 10, 30, 70, 130, 190]
    assert len({env for _, env in sends}) == 1
    (gave_up,) = wire.out.named("RU", "undelivered")
    assert gave_up.at == first + timedelta(hours=4)
    assert gave_up.data["attempts"] == 6


def test_retransmission_after_a_lost_acknowledgement_is_not_applied_twice(
    pair: dict[str, Centre],
) -> None:
    """When the first acknowledgement is lost, the retransmitted notice is recognised as a
    duplicate: logged once, and acknowledged again with the very same acknowledgement."""
    wire = Wire(pair)
    wire.drop.add("core.ack")
    wire.apply("RU", pair["RU"].plan(T0, launch()), T0)
    wire.run_until(datetime(2026, 2, 28, 12, 5, tzinfo=T0.tzinfo))
    wire.drop.clear()
    wire.run_until(datetime(2026, 3, 1, tzinfo=T0.tzinfo))
    assert len(wire.out.direction("US", "received")) == 1
    assert len(wire.out.direction("US", "sent")) == 1  # one acknowledgement, sent twice
    assert len(wire.out.named("US", "duplicate")) == 1
    assert pair["RU"].state.outbox == {}


# -- refusal -------------------------------------------------------------------------------


def notice_envelope(
    types: MessageTypes, signer: Signer, *, to: str = "US", epoch: int = 1, seq: int = 1
) -> bytes:
    """A launch notice from ``signer``'s centre."""
    return compose(
        types,
        signer,
        "bmlna.launch_notice",
        recipient=to,
        sent_at=T0,
        epoch=epoch,
        seq=seq,
        payload={
            "missile_class": "ICBM",
            "planned_launch_date": LAUNCH_DAY,
            "launch_area": "Plesetsk",
            "impact_areas": [
                {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50}
            ],
        },
        rand=__import__("random").Random(seq * 7 + epoch),
    ).envelope


def test_tampered_envelope_refused_and_logged_with_its_reason(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """An envelope whose statement was altered after signing is logged as rejected
    (bad-signature) and not acknowledged."""
    env = json.loads(notice_envelope(types, signers["RU"]))
    inner = base64.b64decode(env["payload"]).replace(b"Plesetsk", b"Kapustin")
    env["payload"] = base64.b64encode(inner).decode()
    step = pair["US"].receive(T0, Delivery(json.dumps(env).encode(), "RU"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "bad-signature")]
    assert step.transmits == []


def test_misaddressed_envelope_refused(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """A genuine envelope addressed to another centre is refused as misaddressed."""
    step = pair["US"].receive(T0, Delivery(notice_envelope(types, signers["RU"], to="CN"), "RU"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "misaddressed")]


def test_replay_from_another_origin_refused(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """A message already received, delivered again by someone other than its sender, is
    refused as replayed; from its sender it is a harmless duplicate."""
    env = notice_envelope(types, signers["RU"])
    us = pair["US"]
    first = us.receive(T0, Delivery(env, "RU"))
    assert [r.direction for r in first.records] == ["received", "sent"]  # notice, its ack
    again = us.receive(T0 + timedelta(minutes=1), Delivery(env, "RU"))
    assert again.records == []
    assert [t.envelope for t in again.transmits] == [first.records[1].envelope]
    replay = us.receive(T0 + timedelta(minutes=2), Delivery(env, "ZZ"))
    assert [(r.direction, r.reason) for r in replay.records] == [("rejected", "replayed")]
    # The warning names the message and its kind: an operator finds it in the logs.
    (event,) = [e for e in replay.events if e.name == "rejected"]
    notice_id = next(e.message_id for e in first.events if e.kind == event.kind)
    assert event.kind is not None and event.message_id == notice_id is not None


def test_new_message_from_wrong_origin_refused(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """A message whose signed sender is not the origin the transport vouches for is refused."""
    step = pair["US"].receive(T0, Delivery(notice_envelope(types, signers["RU"]), "CN"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "wrong-origin")]


def test_sequence_number_reused_with_another_message_refused(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Two different messages with the same (sender, epoch, seq): the second is refused."""
    us = pair["US"]
    us.receive(T0, Delivery(notice_envelope(types, signers["RU"], seq=1), "RU"))
    other = compose(
        types,
        signers["RU"],
        "core.free_text",
        recipient="US",
        sent_at=T0,
        epoch=1,
        seq=1,
        payload={"subject": "s", "text": "t"},
        rand=__import__("random").Random(99),
    ).envelope
    step = us.receive(T0 + timedelta(seconds=1), Delivery(other, "RU"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "replayed")]
    assert "sequence number 1 of epoch 1" in (step.records[0].detail or "")


def test_out_of_order_and_older_epoch_messages_are_accepted(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Sequence numbers may arrive out of order, and a message of an earlier epoch (sent
    before a restart, retransmitted after it) is still new: neither is a replay."""
    us = pair["US"]
    for epoch, seq in ((1, 2), (2, 1), (1, 1)):
        env = notice_envelope(types, signers["RU"], epoch=epoch, seq=seq)
        step = us.receive(T0, Delivery(env, "RU"))
        assert [r.direction for r in step.records][:1] == ["received"], (epoch, seq)


# -- restart, replies, regimes ---------------------------------------------------------------


def test_restart_starts_a_new_epoch_and_resends_the_outbox(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """After a restart from a snapshot the epoch is one higher, new messages count from seq
    1, and unacknowledged messages go out again with the same bytes."""
    ru = pair["RU"]
    ru.plan(T0, launch())
    send_at = datetime(2026, 2, 28, 12, tzinfo=T0.tzinfo)
    first = ru.on_timer(send_at).transmits[0]
    revived = Centre.from_snapshot(
        ru.snapshot(), ru.config, signer=signers["RU"], keyring=keyring, types=types, rng=ru.rng
    )
    step = revived.restart(send_at + timedelta(minutes=1))
    assert revived.epoch == 2 and revived.state.next_seq == 1
    assert [t.envelope for t in step.transmits] == [first.envelope]
    assert [e.name for e in step.events][:1] == ["restarted"]


def test_request_answered_within_its_response_bound(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A Vienna Document request to RU gets a reply naming it, one hour later (RU's reply
    delay), well inside the 48 h bound; the requester acknowledges the reply."""
    vd = Binding("vd11", ("US", "RU", "GB"), multilateral=True)
    centres = make_centres(types, signers, keyring, [vd], ["US", "RU", "GB"])
    wire = Wire(centres)
    request = PlannedMessage(
        "q", "vd11.unusual_activity_request", "RU", T0, {"concern": "Forces near the border."}
    )
    wire.apply("US", centres["US"].plan_message(T0, request), T0)
    wire.run_until(T0 + timedelta(days=3))
    (reply,) = wire.out.named("RU", "reply-sent")
    (sent_request,) = wire.out.named("US", "message-sent")
    assert reply.data["in_reply_to"] == sent_request.message_id
    assert reply.codes == ("VD002",)
    assert reply.at == T0 + timedelta(hours=1, seconds=2)
    assert wire.out.named("GB", "reply-sent") == []


def test_regime_notice_reaches_every_member_and_clears_after_all_acknowledge(
    types: MessageTypes, signers: dict[str, Signer], keyring: Keyring
) -> None:
    """A prior notification addressed to the regime is received once by each other member;
    the outbox entry clears only when all of them have acknowledged."""
    vd = Binding("vd11", ("US", "RU", "GB", "FR"), multilateral=True)
    centres = make_centres(types, signers, keyring, [vd], ["US", "RU", "GB", "FR"])
    wire = Wire(centres)
    activity = PlannedActivity(
        "ex",
        "military_activity",
        datetime(2026, 4, 1, tzinfo=T0.tzinfo),
        end_at=datetime(2026, 4, 8, tzinfo=T0.tzinfo),
        attributes={
            "troops": 12000,
            "battle_tanks": 0,
            "acv": 0,
            "artillery": 0,
            "alert_activity": False,
        },
    )
    wire.apply("RU", centres["RU"].plan(T0, activity), T0)
    wire.run_until(datetime(2026, 3, 1, tzinfo=T0.tzinfo))
    (sent,) = wire.out.named("RU", "notice-sent")
    assert sent.peer == "vd11" and sent.codes == ("VD003",)
    for member in ("US", "GB", "FR"):
        assert len(wire.out.direction(member, "received")) == 1
    assert len(wire.out.named("RU", "acknowledged")) == 3
    assert centres["RU"].state.outbox == {}


def test_duplicate_older_than_the_retention_is_refused_as_a_replay(
    pair: dict[str, Centre], types: MessageTypes, signers: dict[str, Signer]
) -> None:
    """Message ids are remembered for 30 days; after that they are forgotten and the sender's
    window rises over them, so the same envelope arriving again is refused as a replay rather
    than applied a second time."""
    import random

    us = pair["US"]
    old = notice_envelope(types, signers["RU"], seq=1)
    us.receive(T0, Delivery(old, "RU"))
    later = T0 + timedelta(days=31)
    for seq in range(2, 2 + 512):  # pruning runs every 512 accepted messages
        env = compose(
            types,
            signers["RU"],
            "core.free_text",
            recipient="US",
            sent_at=later,
            epoch=1,
            seq=seq,
            payload={"subject": "s", "text": "t"},
            rand=random.Random(seq),
        ).envelope
        us.receive(later, Delivery(env, "RU"))
    assert all(not key.endswith(statement(old)["id"]) for key in us.state.seen)  # type: ignore[operator]
    step = us.receive(later, Delivery(old, "RU"))
    assert [(r.direction, r.reason) for r in step.records] == [("rejected", "replayed")]
