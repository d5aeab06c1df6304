"""Hypothesis properties of the audit, and a brute-force oracle written separately from it.

The generated world: RU and US notify each other of ICBM launches under New START (NST004, a
24 h lead time before 00:00 UTC of the planned date; NST009, an acknowledgement within 1 h of
receipt). Each notice may be delayed or lost, and acknowledged late, never, or in a message that
is itself lost. The oracle below recomputes what the audit must find with nothing but the
definitions, by plain arithmetic on the generated numbers.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_audit_kit import LAUNCH

from nrrc.audit.collector import Selection
from nrrc.audit.engine import AuditOptions, audit
from nrrc.audit.findings import AuditResult
from nrrc.catalogue import Catalogue
from nrrc.envelope import Opened, compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import FsyncPolicy, LogWriter

BASE = datetime(2026, 3, 1, tzinfo=UTC)
END = BASE + timedelta(days=14)
HOUR = 3600
DAY = 86400
SELECT = Selection(select=("NST004", "NST009", "REC001"))


@dataclass(frozen=True)
class Ack:
    """An acknowledgement: sent ``delay`` s after the notice's receipt; ``transit`` s on the
    way; ``lost`` never reaches the notifier."""

    delay: int
    transit: int
    lost: bool


@dataclass(frozen=True)
class Notice:
    """A launch notice received at BASE + ``received`` s after ``transit`` s on the way."""

    sender: str
    planned_day: int
    received: int
    transit: int
    lost: bool
    ack: Ack | None


acks = st.builds(
    Ack,
    delay=st.one_of(st.integers(0, 2 * HOUR), st.sampled_from([HOUR - 1, HOUR, HOUR + 1])),
    transit=st.integers(0, 3),
    lost=st.booleans(),
)
notices = st.builds(
    Notice,
    sender=st.sampled_from(["RU", "US"]),
    planned_day=st.integers(1, 12),
    # Receipts bunch around midnights so that the 24 h boundary is hit exactly.
    received=st.one_of(
        st.integers(0, 12 * DAY),
        st.integers(0, 12)
        .flatmap(lambda d: st.integers(d * DAY - 2, d * DAY + 2))
        .map(lambda s: max(s, 10)),
    ),
    transit=st.integers(0, 5),
    lost=st.booleans(),
    ack=st.none() | acks,
)
worlds = st.lists(notices, min_size=1, max_size=6)


def _other(c: str) -> str:
    return "US" if c == "RU" else "RU"


def _payload(n: Notice) -> dict[str, object]:
    return {**LAUNCH, "planned_launch_date": BASE.date() + timedelta(days=n.planned_day)}


@dataclass
class Written:
    """What :func:`write_world` wrote: log paths, each notice as sent, acknowledged ids."""

    paths: list[Path]
    sent: list[Opened]
    acks: dict[str, str]
    """Acknowledgement id -> id of the notice it answers."""


def write_world(
    world: list[Notice], directory: Path, types: MessageTypes, signers: dict[str, Signer]
) -> Written:
    """Write RU's and US's logs for a world."""
    rand = random.Random(11)
    events: list[tuple[int, int, str, object]] = []  # (time, order, what, data)
    for i, n in enumerate(world):
        events.append((n.received - n.transit, i, "notice", n))
    events.sort(key=lambda e: (e[0], e[1]))
    seq = {"RU": 0, "US": 0}
    records: dict[str, list[tuple[int, int, str, bytes]]] = {"RU": [], "US": []}
    order = itertools.count()
    sent: list[Opened] = [None] * len(world)  # type: ignore[list-item]
    acked: dict[str, str] = {}
    queue = list(events)
    while queue:
        queue.sort(key=lambda e: (e[0], e[1]))
        t, i, what, data = queue.pop(0)
        if what == "notice":
            n = data
            assert isinstance(n, Notice)
            seq[n.sender] += 1
            opened = compose(
                types,
                signers[n.sender],
                "nst.launch_notice",
                recipient=_other(n.sender),
                sent_at=BASE + timedelta(seconds=t),
                epoch=1,
                seq=seq[n.sender],
                payload=_payload(n),
                rand=rand,
            )
            sent[i] = opened
            records[n.sender].append((t, next(order), "sent", opened.envelope))
            if not n.lost:
                records[_other(n.sender)].append(
                    (n.received, next(order), "received", opened.envelope)
                )
                if n.ack is not None:
                    queue.append((n.received + n.ack.delay, i, "ack", (n, opened)))
        else:
            n, notice = data  # type: ignore[misc]
            acker = _other(n.sender)
            seq[acker] += 1
            ack = compose(
                types,
                signers[acker],
                "core.ack",
                recipient=n.sender,
                sent_at=BASE + timedelta(seconds=t),
                epoch=1,
                seq=seq[acker],
                payload={"received_at": BASE + timedelta(seconds=n.received)},
                in_reply_to=notice.reply_ref(),
                rand=rand,
            )
            acked[ack.statement.id] = notice.statement.id
            records[acker].append((t, next(order), "sent", ack.envelope))
            if not n.ack.lost:
                records[n.sender].append((t + n.ack.transit, next(order), "received", ack.envelope))
    paths = []
    for centre in ("RU", "US"):
        path = directory / f"{centre}.log.jsonl"
        w = LogWriter(path, signers[centre], created=BASE, fsync=FsyncPolicy.NEVER)
        for t, _, direction, env in sorted(records[centre], key=lambda r: (r[0], r[1])):
            w.append(direction, BASE + timedelta(seconds=t), env)  # type: ignore[arg-type]
        w.close(END)
        paths.append(path)
    return Written(paths, sent, acked)


def oracle(world: list[Notice], sent: list[Opened]) -> set[tuple[str, str, str]]:
    """What the audit must find, from the definitions alone: (code, message id, outcome)."""
    end = (END - BASE).total_seconds()
    out: set[tuple[str, str, str]] = set()
    for n, opened in zip(world, sent, strict=True):
        mid = opened.statement.id
        midnight = n.planned_day * DAY  # 00:00 UTC of the planned date, in s from BASE
        deadline = midnight - DAY
        if n.lost:
            out.add(("REC001", mid, "violation"))
            out.add(("NST004", mid, "violation" if deadline <= end else "open"))
            continue
        if n.received > deadline:
            out.add(("NST004", mid, "violation"))
        due = n.received + HOUR
        if n.ack is None:
            out.add(("NST009", mid, "violation" if due <= end else "open"))
            continue
        if n.ack.lost:
            out.add(("REC001", "ack-of-" + mid, "violation"))
            out.add(("NST009", mid, "violation" if due <= end else "open"))
            continue
        if n.ack.delay + n.ack.transit > HOUR:
            out.add(("NST009", mid, "violation"))
    return out


def observed(result: AuditResult, written: Written) -> set[tuple[str, str, str]]:
    """The audit's findings in the oracle's terms (a lost acknowledgement named by its notice)."""
    out = set()
    for f in result.findings:
        mid = f.message_ids[0]
        if mid in written.acks:
            mid = "ack-of-" + written.acks[mid]
        out.add((f.code, mid, f.outcome.value))
    return out


def audit_world(
    world: list[Notice],
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> tuple[AuditResult, Written]:
    """Write a world into a temporary directory and audit NST004, NST009 and REC001."""
    with tempfile.TemporaryDirectory() as tmp:
        written = write_world(world, Path(tmp), types, signers)
        return audit(written.paths, cat, keyring, AuditOptions(selection=SELECT)), written


def positions(result: AuditResult, written: Written, code: str, *outcomes: str) -> set[int]:
    """Indices (in the world) of the notices with a finding of ``code``."""
    ids = {
        f.message_ids[0]
        for f in result.findings
        if f.code == code and (not outcomes or f.outcome.value in outcomes)
    }
    return {i for i, o in enumerate(written.sent) if o.statement.id in ids}


@settings(max_examples=60)
@given(world=worlds)
def test_findings_equal_the_brute_force_oracle(
    world: list[Notice],
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """For generated logs, the audit finds exactly what the definitions say, outcome included."""
    result, written = audit_world(world, cat, types, signers, keyring)
    assert observed(result, written) == oracle(world, written.sent)


@settings(max_examples=40)
@given(world=worlds, which=st.integers(0, 5), earlier=st.integers(0, 3 * DAY))
def test_moving_a_notice_earlier_never_adds_a_lead_time_finding(
    world: list[Notice],
    which: int,
    earlier: int,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Sending and receiving one notice earlier never creates a lead-time finding."""
    i = which % len(world)
    n = world[i]
    # Never later than it was (a notice received before its transit time was sent before BASE;
    # clamping it up to its transit would move it later).
    moved = replace(n, received=max(min(n.transit, n.received), n.received - earlier))
    before, wb = audit_world(world, cat, types, signers, keyring)
    after, wa = audit_world([*world[:i], moved, *world[i + 1 :]], cat, types, signers, keyring)
    # Message ids are drawn in send order, so compare by position in the world.
    assert positions(after, wa, "NST004") <= positions(before, wb, "NST004")


@settings(max_examples=40)
@given(world=worlds, later=st.integers(0, 2 * HOUR))
def test_delaying_an_acknowledgement_never_removes_an_ack_violation(
    world: list[Notice],
    later: int,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """Every acknowledgement sent later: each acknowledgement violation remains."""
    delayed = [
        replace(n, ack=replace(n.ack, delay=n.ack.delay + later)) if n.ack else n for n in world
    ]
    before, wb = audit_world(world, cat, types, signers, keyring)
    after, wa = audit_world(delayed, cat, types, signers, keyring)
    assert positions(before, wb, "NST009", "violation") <= positions(
        after, wa, "NST009", "violation"
    )


@settings(max_examples=30)
@given(world=worlds, order=st.permutations([0, 1]))
def test_permuting_input_files_never_changes_findings(
    world: list[Notice],
    order: list[int],
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """The same logs given in another order give the same findings in the same order."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_world(world, Path(tmp), types, signers).paths
        a = audit(paths, cat, keyring)
        b = audit([paths[i] for i in order], cat, keyring)
        assert a.findings == b.findings and a.summary == b.summary


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=40)
@given(
    lead=st.integers(30 * HOUR, 40 * HOUR),
    ack=st.integers(2 * HOUR, 4 * HOUR),
    offset=offsets,
    activity_offset=offsets,
)
def test_other_utc_offsets_never_change_findings(
    lead: int,
    ack: int,
    offset: timezone,
    activity_offset: timezone,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """An inspection notice's ETA, the instants it is sent and received at, and an observed
    launch written in other UTC offsets: the same findings."""

    def write(tz: timezone, act_tz: timezone, directory: Path) -> list[Path]:
        rand = random.Random(5)
        eta = (BASE + timedelta(days=5)).astimezone(tz)
        received = (BASE + timedelta(days=5, seconds=-lead)).astimezone(tz)
        payload = {
            "point_of_entry": "Frankfurt",
            "eta": eta,
            "means_of_arrival": "air",
            "inspection_type": "declared_site",
            "inspection_mode": ["on_foot"],
            "designation_interval": timedelta(hours=6),
            "inspection_language": "en",
            "report_language": "en",
            "personnel": ["A"],
            "sequential_inspections": 0,
        }
        n = compose(
            types,
            signers["GB"],
            "cfe.inspection_notice",
            recipient="RU",
            sent_at=received,
            epoch=1,
            seq=1,
            payload=payload,
            rand=rand,
        )
        a = compose(
            types,
            signers["RU"],
            "core.ack",
            recipient="GB",
            sent_at=received + timedelta(seconds=ack),
            epoch=1,
            seq=1,
            payload={"received_at": received},
            in_reply_to=n.reply_ref(),
            rand=rand,
        )
        paths = []
        for centre, recs in (
            ("GB", [("sent", received, n), ("received", received + timedelta(seconds=ack), a)]),
            ("RU", [("received", received, n), ("sent", received + timedelta(seconds=ack), a)]),
        ):
            p = directory / f"{centre}.log.jsonl"
            w = LogWriter(p, signers[centre], created=BASE.astimezone(tz), fsync=FsyncPolicy.NEVER)
            for direction, when, o in recs:
                w.append(direction, when, o.envelope)  # type: ignore[arg-type]
            w.close(END.astimezone(tz))
            paths.append(p)
        obs = directory / "observed.jsonl"
        launch_at = (BASE + timedelta(days=3, hours=5)).astimezone(act_tz)
        obs.write_text(
            '{"type":"header","format":"nrrc-observed/1","created":"2026-03-01T00:00:00Z"}\n'
            f'{{"type":"activity","id":"a-1","activity":"launch","party":"RU",'
            f'"at":"{launch_at.isoformat()}","attributes":{{"missile_class":"ICBM"}}}}\n'
        )
        return [*paths, obs]

    with tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        utc = audit(write(UTC, UTC, Path(t1)), cat, keyring)
        other = audit(write(offset, activity_offset, Path(t2)), cat, keyring)
        strip = [
            (
                f.code,
                f.outcome,
                f.explanation.replace(t2, t1),
                f.instants,
                f.measured_seconds,
                f.margin_seconds,
                f.fingerprint,
            )
            for f in other.findings
        ]
        assert strip == [
            (
                f.code,
                f.outcome,
                f.explanation,
                f.instants,
                f.measured_seconds,
                f.margin_seconds,
                f.fingerprint,
            )
            for f in utc.findings
        ]
        assert {f.code for f in utc.findings} >= {"BML003"}
