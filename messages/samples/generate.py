"""Regenerate the sample logs in this directory, byte for byte.

Run from the repository root::

    .venv/bin/python messages/samples/generate.py

Each sample is a directory with the message logs of two centres (``<centre>.log.jsonl``), the
``keyring.json`` that trusts their keys, and sometimes an ``observed.jsonl`` of what actually
happened. ``nrrc audit DIR`` finds all three by itself. The violations are planted on purpose;
README.md in this directory lists them and walks through the audit.

Everything is deterministic: keys come from fixed seeds (published here, so NEVER use them for
anything but samples), every instant is fixed, message ids take their random bits from a seeded
generator, and Ed25519 signatures are deterministic. A test regenerates the samples and fails
when they differ from the ones committed.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nrrc.catalogue import load_catalogue
from nrrc.envelope import Opened, compose, seal
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes, Point
from nrrc.msglog import FsyncPolicy, LogWriter
from nrrc.observed import Activity, ObservedWriter

HERE = Path(__file__).resolve().parent
SEEDS = {"US": bytes(range(32)), "RU": bytes(range(32, 64)), "GB": bytes(range(64, 96))}
KEYS_FROM = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)
CIRCLE = {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50, "unit": "km"}


def at(text: str) -> datetime:
    """``"2026-03-01 00:50:00"`` as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Sample:
    """The logs of one sample, written in each centre's time order."""

    def __init__(self, name: str, types: MessageTypes, centres: tuple[str, ...]) -> None:
        self.name = name
        self.types = types
        self.signers = {c: Signer.from_seed(c, SEEDS[c]) for c in centres}
        self.rand = random.Random(name)
        self.seq: dict[str, int] = defaultdict(int)
        self.records: dict[str, list[tuple[datetime, int, str, bytes]]] = defaultdict(list)
        self.activities: list[Activity] = []
        self.order = 0

    def log(self, centre: str, direction: str, when: datetime, envelope: bytes) -> None:
        self.order += 1
        self.records[centre].append((when, self.order, direction, envelope))

    def send(
        self,
        sender: str,
        recipient: str,
        kind: str,
        payload: dict[str, Any],
        sent: str,
        received: str | None,
        *,
        reply_to: Opened | None = None,
    ) -> Opened:
        """Sign and log a message (``received`` None: it never arrives)."""
        self.seq[sender] += 1
        opened = compose(
            self.types,
            self.signers[sender],
            kind,
            recipient=recipient,
            sent_at=at(sent),
            epoch=1,
            seq=self.seq[sender],
            payload=payload,
            in_reply_to=reply_to.reply_ref() if reply_to else None,
            rand=self.rand,
        )
        self.log(sender, "sent", at(sent), opened.envelope)
        if received is not None:
            self.log(recipient, "received", at(received), opened.envelope)
        return opened

    def ack(self, notice: Opened, sent: str, received: str) -> Opened:
        """The recipient of ``notice`` acknowledges it."""
        st = notice.statement
        return self.send(
            st.recipient,
            st.sender,
            "core.ack",
            {"received_at": at(sent)},
            sent,
            received,
            reply_to=notice,
        )

    def observe(self, party: str, activity: str, when: str, **extra: Any) -> None:
        n = len(self.activities) + 1
        self.activities.append(
            Activity(id=f"{self.name}-{n}", activity=activity, party=party, at=at(when), **extra)
        )

    def write(self, root: Path, close: datetime) -> Path:
        """Write the sample into ``root/<name>``."""
        d = root / self.name
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.jsonl"):
            old.unlink()
        Keyring(s.entry(KEYS_FROM) for s in self.signers.values()).save(d / "keyring.json")
        for centre, signer in sorted(self.signers.items()):
            w = LogWriter(
                d / f"{centre}.log.jsonl", signer, created=YEAR_START, fsync=FsyncPolicy.NEVER
            )
            for when, _, direction, envelope in sorted(self.records[centre]):
                w.append(direction, when, envelope)  # type: ignore[arg-type]
            w.close(close)
        if self.activities:
            ow = ObservedWriter(d / "observed.jsonl", created=YEAR_START, source=self.name)
            for a in self.activities:
                ow.write(a)
            ow.close()
        return d


def launch(planned: date, end: date | None = None, cls: str = "ICBM") -> dict[str, Any]:
    out: dict[str, Any] = {
        "missile_class": cls,
        "planned_launch_date": planned,
        "launch_area": "Plesetsk test range" if cls == "ICBM" else "Barents Sea",
        "impact_areas": [CIRCLE],
    }
    if end is not None:
        out["window_end_date"] = end
    return out


def us_ru_2026(types: MessageTypes, root: Path) -> Path:
    """A year of US-Russia launch and exercise notices with five planted findings."""
    s = Sample("us-ru-2026", types, ("RU", "US"))
    # BML001: received 23 h 10 min before 00:00 UTC on the planned date; 24 h required.
    n = s.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        launch(date(2026, 3, 2)),
        "2026-03-01 00:49:57",
        "2026-03-01 00:50:00",
    )
    s.ack(n, "2026-03-01 00:58:00", "2026-03-01 00:58:02")
    s.observe(
        "RU",
        "launch",
        "2026-03-02 06:10:00",
        location=Point(lat=62.9, lon=40.6),
        attributes={"missile_class": "ICBM"},
    )
    # BML002 (warning): a launch window of six days, 2026-06-20 to 2026-06-25.
    n = s.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        launch(date(2026, 6, 20), date(2026, 6, 25), "SLBM"),
        "2026-06-10 09:00:00",
        "2026-06-10 09:00:03",
    )
    s.ack(n, "2026-06-10 09:04:00", "2026-06-10 09:04:01")
    s.observe("RU", "launch", "2026-06-23 11:40:00", attributes={"missile_class": "SLBM"})
    # BML003: an SLBM launch nobody notified.
    s.observe("RU", "launch", "2026-07-14 03:12:00", attributes={"missile_class": "SLBM"})
    # MSE001: the US heavy-bomber exercise notice arrives 13 days before the start date.
    ex = {"start_date": date(2026, 10, 20), "heavy_bombers": True, "name": "Global Thunder 27"}
    n = s.send("US", "RU", "msea.exercise_notice", ex, "2026-10-07 07:59:58", "2026-10-07 08:00:00")
    s.ack(n, "2026-10-07 08:05:00", "2026-10-07 08:05:01")
    ex = {"start_date": date(2026, 11, 16), "heavy_bombers": True, "name": "Grom-2026"}
    n = s.send("RU", "US", "msea.exercise_notice", ex, "2026-10-20 10:00:00", "2026-10-20 10:00:02")
    s.ack(n, "2026-10-20 10:03:00", "2026-10-20 10:03:01")
    s.observe("US", "exercise", "2026-10-20 00:00:00", attributes={"heavy_bombers": True})
    # REC001: a message RU's log never received.
    s.send(
        "US",
        "RU",
        "core.free_text",
        {"subject": "Season's greetings", "text": "Best wishes from the watch officers."},
        "2026-12-20 12:00:00",
        None,
    )
    return s.write(root, YEAR_END)


def clean(types: MessageTypes, root: Path) -> Path:
    """One launch notice in good time, acknowledged within minutes: nothing to report."""
    s = Sample("clean", types, ("RU", "US"))
    n = s.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        launch(date(2026, 3, 5)),
        "2026-03-02 08:00:00",
        "2026-03-02 08:00:04",
    )
    s.ack(n, "2026-03-02 08:12:04", "2026-03-02 08:12:07")
    return s.write(root, at("2026-03-06 00:00:00"))


def tampered(types: MessageTypes, root: Path) -> Path:
    """The clean exchange, after someone edited the US log and slipped a forged message in."""
    s = Sample("tampered", types, ("RU", "US"))
    n = s.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        launch(date(2026, 3, 5)),
        "2026-03-02 08:00:00",
        "2026-03-02 08:00:04",
    )
    s.ack(n, "2026-03-02 08:12:04", "2026-03-02 08:12:07")
    # A "Russian" notice signed with a key the keyring does not know.
    impostor = Signer.from_seed("RU", bytes(range(200, 232)))
    forged = types.statement(
        "core.free_text",
        payload={"subject": "Stand down", "text": "Disregard the launch notice."},
        id="019cad7c-6d80-7000-8000-000000000001",
        sender="RU",
        recipient="US",
        sent_at=at("2026-03-03 10:00:00"),
        epoch=1,
        seq=99,
    )
    s.log("US", "received", at("2026-03-03 10:00:02"), seal(types.encode(forged), impostor))
    d = s.write(root, at("2026-03-06 00:00:00"))
    # Someone moves the US receipt of the notice one day earlier, after the log was closed.
    path = d / "US.log.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"at":"2026-03-02T08:00:04Z"', b'"at":"2026-03-01T08:00:04Z"')
    path.write_bytes(b"\n".join(lines))
    return d


def cfe_osce_2026(types: MessageTypes, root: Path) -> Path:
    """A year between the United Kingdom and Russia under the CFE Treaty and the Vienna
    Document: an inspection acknowledged late, a reply late, an annual exchange late."""
    s = Sample("cfe-osce-2026", types, ("GB", "RU"))
    # CFE006: an inspection notice acknowledged 3 h 20 min after it was received.
    inspection = {
        "point_of_entry": "Sheremetyevo",
        "eta": at("2026-04-10 12:00:00"),
        "means_of_arrival": "air",
        "inspection_type": "declared_site",
        "inspection_mode": ["on_foot", "cross_country_vehicle"],
        "designation_interval": timedelta(hours=6),
        "inspection_language": "en",
        "report_language": "en",
        "personnel": ["Lt Col A. Smith", "Maj B. Jones"],
        "sequential_inspections": 0,
    }
    n = s.send(
        "GB",
        "RU",
        "cfe.inspection_notice",
        inspection,
        "2026-04-08 09:00:00",
        "2026-04-08 09:00:05",
    )
    s.ack(n, "2026-04-08 12:20:03", "2026-04-08 12:20:05")
    # VD002: a request about unusual military activities, answered after 49 hours.
    req = s.send(
        "GB",
        "RU",
        "vd11.unusual_activity_request",
        {"concern": "Unscheduled concentration of armoured units near the border."},
        "2026-05-04 07:30:00",
        "2026-05-04 07:30:02",
    )
    s.ack(req, "2026-05-04 07:40:00", "2026-05-04 07:40:01")
    reply = s.send(
        "RU",
        "GB",
        "vd11.unusual_activity_reply",
        {"objectives": "Snap readiness check of a tank division.", "location": "Pskov oblast"},
        "2026-05-06 08:29:59",
        "2026-05-06 08:30:02",
        reply_to=req,
    )
    s.ack(reply, "2026-05-06 08:40:00", "2026-05-06 08:40:01")
    # The yearly obligations, in time: calendars and forecasts by 15 November, the CFE and
    # Vienna Document exchanges by 15 December (VD001: Russia's arrives on the 16th).
    yearly = [
        ("2026-11-10 09:00:00", "GB", "vd11.annual_calendar", {"year": 2027, "activities": []}),
        (
            "2026-11-10 09:30:00",
            "GB",
            "vd11.large_activity_forecast",
            {"year_covered": 2028, "nil_return": True},
        ),
        ("2026-11-12 09:00:00", "RU", "vd11.annual_calendar", {"year": 2027, "activities": []}),
        (
            "2026-11-12 09:30:00",
            "RU",
            "vd11.large_activity_forecast",
            {"year_covered": 2028, "nil_return": True},
        ),
        (
            "2026-12-10 09:00:00",
            "GB",
            "cfe.annual_exchange",
            {"effective_date": date(2027, 1, 1), "language": "en"},
        ),
        (
            "2026-12-10 10:00:00",
            "GB",
            "vd11.annual_information_exchange",
            {"valid_as_of": date(2027, 1, 1)},
        ),
        (
            "2026-12-12 09:00:00",
            "RU",
            "cfe.annual_exchange",
            {"effective_date": date(2027, 1, 1), "language": "ru"},
        ),
        (
            "2026-12-16 08:59:58",
            "RU",
            "vd11.annual_information_exchange",
            {"valid_as_of": date(2027, 1, 1)},
        ),
    ]
    for sent, sender, kind, payload in yearly:
        t = at(sent)
        n = s.send(
            sender,
            "RU" if sender == "GB" else "GB",
            kind,
            payload,
            sent,
            str(t + timedelta(seconds=2))[:19],
        )
        s.ack(
            n, str(t + timedelta(minutes=10))[:19], str(t + timedelta(minutes=10, seconds=1))[:19]
        )
    return s.write(root, YEAR_END)


SAMPLES = (us_ru_2026, clean, tampered, cfe_osce_2026)


def generate(root: Path = HERE) -> list[Path]:
    """Write every sample under ``root``; returns their directories."""
    types = MessageTypes(load_catalogue())
    return [make(types, root) for make in SAMPLES]


if __name__ == "__main__":
    for d in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"wrote {d}")
