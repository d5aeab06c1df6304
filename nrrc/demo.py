"""The live demo: a broker, one ``nrrc node`` process per centre, a live view, then the audit.

``nrrc demo`` runs a scenario (``p5`` by default) in scaled time — sixty simulated days in about
a minute — over the embedded amqtt broker (or a local Mosquitto it starts, or any broker given
by URL). Every centre is its own operating-system process speaking MQTT, exactly as
``nrrc node`` runs in production-like set-ups; the demo only starts them, reads the JSON lines
they print, and draws them. Fault flags put the system under stress:

* ``late_prone``: one centre's watch officers are late with half of their notices;
* ``kill``: one node is SIGKILLed mid-run and restarted from its durable state;
* ``restart_broker``: the broker goes away for a moment and comes back;
* ``forge``: an outsider holding broker credentials injects a forged, a tampered, a replayed
  and a misaddressed envelope towards one centre, which refuses and logs each.

At the end the logs are audited (:func:`nrrc.audit.engine.audit`) and the report is printed,
with the path of a self-contained HTML report. The run directory has the layout of
``nrrc simulate``'s, so ``nrrc audit`` and ``nrrc verify`` work on it directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console
from rich.live import Live

from nrrc._demo_view import DemoModel
from nrrc.audit.collector import Selection
from nrrc.audit.engine import AuditOptions, audit
from nrrc.audit.findings import AuditResult
from nrrc.broker import (
    EmbeddedBroker,
    Membership,
    free_port,
    generate_passwords,
    read_password,
    write_mosquitto_configs,
    write_password,
)
from nrrc.catalogue import Catalogue
from nrrc.centre import PlannedActivity
from nrrc.clock import ScaledClock
from nrrc.envelope import compose
from nrrc.errors import NrrcError, TransportError
from nrrc.keys import Signer
from nrrc.messages import MessageTypes
from nrrc.msglog import decode_line
from nrrc.observed import Activity, Fault, ObservedWriter
from nrrc.scenario import Scenario
from nrrc.simulate import scenario_keys
from nrrc.transport.mqtt import BrokerURL

__all__ = ["INJECTOR", "DemoOptions", "DemoResult", "busiest_centres", "run_demo"]

INJECTOR = "ZZ"
"""The outsider who injects hostile envelopes: it holds broker credentials (a compromised
relay, an insider) but no centre's signing key, and the ACL lets it publish only as itself."""
LATE_PROBABILITY = 0.5


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs.

    Attributes:
        scenario_arg: the scenario as given on the command line (id or file), passed to nodes.
        out: the run directory (emptied first).
        broker: ``embedded`` (amqtt in this process), ``mosquitto`` (a local Mosquitto the
            demo starts), or a URL ``mqtt://host:port`` / ``mqtts://host:port``.
        secrets: with a broker URL, the directory holding ``<ID>.password`` for each centre
            (``nrrc brokers generate`` writes it as ``secrets/``).
        days: simulated days to run (at most the scenario's duration).
        seconds: real seconds the simulated days take.
        late_prone: a centre to make late-prone.
        kill: a centre whose node is SIGKILLed mid-run and restarted.
        restart_broker: stop and restart the broker mid-run.
        forge: a centre that receives hostile envelopes mid-run.
        startup: real seconds between starting the nodes and the start of simulated time
            (default: 4 s plus 0.4 s per centre, for Python to start that many processes).
        live: draw the live view (otherwise print warnings line by line).
    """

    scenario_arg: str
    out: Path
    broker: str = "embedded"
    secrets: Path | None = None
    days: float = 60.0
    seconds: float = 60.0
    late_prone: str | None = None
    kill: str | None = None
    restart_broker: bool = False
    forge: str | None = None
    startup: float | None = None
    live: bool = True


@dataclass
class DemoResult:
    """What a demo run produced."""

    out: Path
    keyring: Path
    observed: Path
    report_html: Path
    audit: AuditResult
    model: DemoModel
    exits: dict[str, list[int]] = field(default_factory=dict)


class _Broker:
    """The broker the demo uses: started, stopped and restarted on request."""

    url: str
    label: str

    async def start(self) -> None:
        """Start (again)."""

    async def stop(self) -> None:
        """Stop."""

    @property
    def restartable(self) -> bool:
        """Whether the demo controls this broker."""
        return True


class _Embedded(_Broker):
    def __init__(self, membership: Membership, passwords: dict[str, str], out: Path) -> None:
        self.broker = EmbeddedBroker(membership, passwords, directory=out / "broker")
        self.url = self.broker.url
        self.label = f"embedded amqtt {self.url}"

    async def start(self) -> None:
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()


class _Mosquitto(_Broker):
    def __init__(self, membership: Membership, out: Path) -> None:
        binary = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
            None,
        )
        if binary is None:
            raise TransportError(
                "--broker mosquitto: the mosquitto binary is not installed "
                "(apt-get install mosquitto), or use the embedded broker"
            )
        self.binary = binary
        self.port = free_port()
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
        self.layout = write_mosquitto_configs(
            out / "broker",
            membership,
            now=datetime.now(UTC),
            port=self.port,
            run_as=user,
            autosave_interval=1,
        )
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.label = f"Mosquitto {self.url}"
        self.log = out / "broker" / "mosquitto.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, "-c", str(self.layout.single_conf), stdout=fh, stderr=fh
            )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise TransportError(f"Mosquitto did not start; see {self.log}")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


class _External(_Broker):
    def __init__(self, url: str) -> None:
        self.url = str(BrokerURL.parse(url))
        self.label = self.url

    @property
    def restartable(self) -> bool:
        return False


class _NodeProc:
    """One node subprocess and the task reading what it prints."""

    def __init__(self, centre: str, args: list[str], out: Path) -> None:
        self.centre = centre
        self.args = args
        self.events = out / "nodes" / f"{centre}.events.jsonl"
        self.errors = out / "nodes" / f"{centre}.stderr.txt"
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.exits: list[int] = []
        self.killed = False
        self.connected = asyncio.Event()

    async def start(self, on_line: Callable[[str, dict[str, Any]], None]) -> None:
        with self.errors.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, stdout=asyncio.subprocess.PIPE, stderr=err
            )
        self.reader = asyncio.create_task(self._read(self.proc, on_line))

    async def _read(
        self, proc: asyncio.subprocess.Process, on_line: Callable[[str, dict[str, Any]], None]
    ) -> None:
        assert proc.stdout is not None
        with self.events.open("ab") as sink:
            async for raw in proc.stdout:
                sink.write(raw)
                if raw.startswith(b"{"):
                    with contextlib.suppress(ValueError):
                        on_line(self.centre, json.loads(raw))

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.killed = True
            self.proc.kill()
            await self.wait()

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self.reader is not None:
            await self.reader
        self.exits.append(code)
        return code

    async def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)


def busiest_centres(scenario: Scenario, days: float) -> list[str]:
    """Centres by the number of activities they undertake in the first ``days`` (most first),
    so that fault flags land where there is traffic to disturb."""
    until = scenario.start + timedelta(days=days)
    counts = dict.fromkeys(scenario.centre_ids, 0)
    for s in scenario.schedule(random.Random(f"{scenario.seed}/schedule")):
        if s.item.at < until:
            counts[s.party] += 1
    return sorted(counts, key=lambda c: (-counts[c], scenario.centre_ids.index(c)))


def _write_keys(scenario: Scenario, out: Path) -> dict[str, Signer]:
    signers, ring = scenario_keys(scenario, scenario.seed)
    ring.save(out / "keyring.json")
    return signers


def _observed(scenario: Scenario, until: datetime, faults: list[Fault], path: Path) -> None:
    writer = ObservedWriter(path, created=scenario.start, source=f"{scenario.id} (live demo)")
    items = scenario.schedule(random.Random(f"{scenario.seed}/schedule"))
    for s in sorted(items, key=lambda s: (s.item.at, s.item.id)):
        act = s.item
        if not isinstance(act, PlannedActivity) or act.at >= until:
            continue
        attributes = {k: v for k, v in act.attributes.items() if k != "location"}
        writer.write(
            Activity(
                id=act.id,
                activity=act.activity,
                party=s.party,
                at=act.at,
                end_at=act.end_at,
                attributes=attributes,
            )
        )
    for i, f in enumerate(sorted(faults, key=lambda f: f.at)):
        writer.write(
            Fault(
                id=f"f-{i + 1}", fault=f.fault, party=f.party, at=f.at, detail=f.detail, expect=[]
            )
        )
    writer.close()


def _hostile(
    types: MessageTypes,
    signers: dict[str, Signer],
    scenario: Scenario,
    target: str,
    at: datetime,
    captured: bytes | None,
) -> list[tuple[str, bytes, str]]:
    """(attack, envelope, expected refusal) for each kind of hostile envelope."""
    claimed = next(c for c in scenario.centre_ids if c != target)
    other = next((c for c in scenario.centre_ids if c not in (target, claimed)), claimed)

    def free_text(signer: Signer, to: str) -> bytes:
        return compose(
            types,
            signer,
            "core.free_text",
            recipient=to,
            sent_at=at,
            epoch=0,
            seq=1,
            payload={"subject": "Routine", "text": "Nothing to report."},
        ).envelope

    forged = free_text(Signer.from_seed(claimed, os.urandom(32)), target)
    genuine = json.loads(free_text(signers[claimed], target))
    statement = base64.b64decode(genuine["payload"]).replace(b"Routine", b"Urgent!")
    genuine["payload"] = base64.b64encode(statement).decode()
    tampered = json.dumps(genuine, separators=(",", ":")).encode()
    attacks = [
        ("forged", forged, "unknown-key"),
        ("tampered", tampered, "bad-signature"),
        ("misaddressed", free_text(signers[claimed], other), "misaddressed"),
    ]
    if captured is not None:
        attacks.append(("replayed", captured, "replayed"))
    return attacks


def _captured(log: Path) -> bytes | None:
    """The first envelope a centre logged as received (for the replay attack)."""
    if not log.exists():
        return None
    for line in log.read_bytes().splitlines():
        with contextlib.suppress(ValueError):
            rec = decode_line(line)
            if getattr(rec, "direction", None) == "received":
                return rec.envelope_bytes()  # type: ignore[union-attr]
    return None


async def run_demo(
    options: DemoOptions, scenario: Scenario, catalogue: Catalogue, console: Console
) -> DemoResult:
    """Run the live demo and audit it (see the module docstring).

    Raises:
        NrrcError: bad options (an unknown centre, a broker that cannot be reached).
    """
    for flag, value in (
        ("--late-prone", options.late_prone),
        ("--kill", options.kill),
        ("--forge", options.forge),
    ):
        if value is not None and value not in scenario.centre_ids:
            raise NrrcError(
                f"{flag}: {value} is not a centre of scenario {scenario.id} "
                f"(its centres: {', '.join(scenario.centre_ids)})"
            )
    if not options.seconds > 0 or not options.days > 0:
        raise NrrcError("--days and --seconds: expected positive numbers")
    days = min(options.days, scenario.duration.total_seconds() / 86400)
    speed = days * 86400 / options.seconds
    until = scenario.start + timedelta(days=days)
    out = options.out
    if out.exists():
        for sub in ("logs", "state", "nodes", "broker", "secrets"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in ("observed.jsonl", "report.html", "keyring.json"):
            (out / name).unlink(missing_ok=True)
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    signers = _write_keys(scenario, out)
    types = MessageTypes(catalogue)
    members = {c: scenario.config(c).regimes for c in scenario.centre_ids}
    if options.forge:
        members[INJECTOR] = frozenset()
    membership = Membership(members)

    passwords: dict[str, str]
    broker: _Broker
    if options.broker == "embedded":
        passwords = generate_passwords(membership.centres)
        broker = _Embedded(membership, passwords, out)
    elif options.broker == "mosquitto":
        mosq = _Mosquitto(membership, out)
        passwords = {c: read_password(p) for c, p in mosq.layout.passwords.items()}
        broker = mosq
    else:
        broker = _External(options.broker)
        if options.secrets is None:
            raise NrrcError(
                "--broker URL needs --secrets DIR with <ID>.password for each centre "
                "(nrrc brokers generate writes it)"
            )
        passwords = {c: read_password(options.secrets / f"{c}.password") for c in members}
    if options.restart_broker and not broker.restartable:
        raise NrrcError("--restart-broker: the demo can only restart a broker it started")
    for c in scenario.centre_ids:
        write_password(out / "secrets" / f"{c}.password", passwords[c])

    model = DemoModel(scenario.title, scenario.start, until, broker.label, speed=speed)
    printer = _Printer(console, model, live=options.live)
    await broker.start()
    startup = options.startup if options.startup is not None else 4 + 0.4 * len(scenario.centres)
    real_epoch = time.time() + startup
    clock = ScaledClock(scenario.start, real_epoch, speed)
    base = [sys.executable, "-c", "from nrrc.cli import main; main()", "node"]
    nodes: dict[str, _NodeProc] = {}
    for c in scenario.centre_ids:
        args = [
            *base,
            *("--centre", c, "--broker", broker.url, "--scenario", options.scenario_arg),
            *("--run-dir", str(out.resolve()), "--speed", repr(speed)),
            *("--clock-epoch", repr(real_epoch), "--days", repr(days)),
            *("--password-file", str((out / "secrets" / f"{c}.password").resolve())),
        ]
        if c == options.late_prone:
            args += ["--late-prone", str(LATE_PROBABILITY)]
        nodes[c] = _NodeProc(c, args, out)
        model.row(c)
    faults: list[Fault] = []

    def on_line(centre: str, fields: dict[str, Any]) -> None:
        if fields.get("event") == "mqtt.connected":
            nodes[centre].connected.set()
        warning = model.update(fields)
        if warning is not None:
            printer.line(warning)

    async def sleep_until(real_offset: float) -> None:
        await asyncio.sleep(max(0.0, real_epoch + real_offset - time.time()))

    async def kill_and_restart(centre: str) -> None:
        await sleep_until(options.seconds * 0.35)
        node = nodes[centre]
        await node.connected.wait()  # a slow start must not turn the kill into a cold start
        at = clock.now()
        await node.kill()
        model.row(centre).status = "killed"
        model.note(centre, "node SIGKILLed by the demo", at)
        printer.line(f"{centre}: node SIGKILLed by the demo")
        down = max(1.0, options.seconds * 0.04)
        await asyncio.sleep(down)
        faults.append(
            Fault(
                id="",
                fault="node-killed",
                party=centre,
                at=at,
                detail=f"SIGKILLed, restarted {down:.1f} s (real) later from its durable state",
            )
        )
        await node.start(on_line)
        model.note(centre, "node restarted")

    async def restart_broker() -> None:
        await sleep_until(options.seconds * 0.6)
        model.broker_status = "down"
        model.note("broker", "broker stopped by the demo", clock.now())
        printer.line("broker: stopped by the demo")
        await broker.stop()
        await asyncio.sleep(max(1.0, options.seconds * 0.03))
        await broker.start()
        model.broker_status = "up"
        model.note("broker", "broker restarted", clock.now())
        printer.line("broker: restarted")

    async def forge(target: str) -> None:
        # Mid-run, once the target has received something genuine to replay (or at 85 %).
        await sleep_until(options.seconds * 0.5)
        await nodes[target].connected.wait()
        log = out / "logs" / f"{target}.log.jsonl"
        captured = _captured(log)
        while captured is None and time.time() < real_epoch + options.seconds * 0.85:
            await asyncio.sleep(0.25)
            captured = _captured(log)
        at = clock.now()
        attacks = _hostile(types, signers, scenario, target, at, captured)
        url = BrokerURL.parse(broker.url)
        async with aiomqtt.Client(
            url.host,
            url.port,
            username=INJECTOR,
            password=passwords[INJECTOR],
            identifier=INJECTOR,
            timeout=10,
        ) as client:
            for attack, envelope, reason in attacks:
                await client.publish(f"nrrc/v1/link/{INJECTOR}/{target}", envelope, qos=1)
                faults.append(
                    Fault(
                        id="",
                        fault=f"{attack}-envelope",
                        party=target,
                        at=at,
                        detail=f"{INJECTOR} injected a {attack} envelope; expected refusal: "
                        f"{reason}",
                    )
                )
        model.note(target, f"{len(attacks)} hostile envelopes injected by {INJECTOR}", at)
        printer.line(f"{target}: {len(attacks)} hostile envelopes injected by {INJECTOR}")

    printer.line(
        f"Starting {len(nodes)} centres (one process each) on {broker.label}; "
        f"{days:g} simulated days in {options.seconds:g} s"
    )
    try:
        for node in nodes.values():
            await node.start(on_line)
        extras: list[asyncio.Task[None]] = []
        if options.kill:
            extras.append(asyncio.create_task(kill_and_restart(options.kill)))
        if options.restart_broker:
            extras.append(asyncio.create_task(restart_broker()))
        if options.forge:
            extras.append(asyncio.create_task(forge(options.forge)))
        async with printer.running(clock):
            await asyncio.gather(*extras)
            deadline = startup + options.seconds + 60
            async with asyncio.timeout(deadline):
                codes = await asyncio.gather(*(n.wait() for n in nodes.values()))
        for c, code in zip(nodes, codes, strict=True):
            if code != 0:
                printer.line(f"{c}: node exited with code {code}; see {nodes[c].errors}")
    finally:
        for node in nodes.values():
            await node.terminate()
        for node in nodes.values():
            if node.proc is not None and node.proc.returncode is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await node.wait()
                await node.kill()
        await broker.stop()
    observed = out / "observed.jsonl"
    _observed(scenario, until, faults, observed)
    from nrrc.keys import Keyring

    ring = Keyring.load(out / "keyring.json")
    result = audit(
        [out / "logs"],
        catalogue,
        ring,
        AuditOptions(
            observed=(observed,),
            # The scenario's agreements only: the catalogue's other window rules would ask
            # every observed launch for notices under agreements these centres never signed.
            selection=Selection((*scenario.agreements_in_force(), "integrity", "reconciliation")),
            measurements=True,
            jobs=1,
        ),
    )
    from nrrc.audit.report_html import render

    html = out / "report.html"
    html.write_text(render(result, catalogue=catalogue), encoding="utf-8")
    return DemoResult(
        out=out,
        keyring=out / "keyring.json",
        observed=observed,
        report_html=html,
        audit=result,
        model=model,
        exits={c: n.exits for c, n in nodes.items()},
    )


class _Printer:
    """The live view when the console is a terminal; plain lines otherwise."""

    def __init__(self, console: Console, model: DemoModel, *, live: bool) -> None:
        self.console = console
        self.model = model
        self.live_view = live
        self._live: Live | None = None

    def line(self, text: str) -> None:
        if self._live is None:
            self.console.print(text, markup=False, soft_wrap=True)

    @contextlib.asynccontextmanager
    async def running(self, clock: ScaledClock) -> Any:
        if not self.live_view:
            yield
            return
        with Live(self.model.render(), console=self.console, auto_refresh=False) as live:
            self._live = live

            async def refresh() -> None:
                while True:
                    now = min(max(clock.now(), self.model.start), self.model.end)
                    live.update(self.model.render(now), refresh=True)
                    await asyncio.sleep(0.25)

            task = asyncio.create_task(refresh())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                live.update(self.model.render(), refresh=True)
                self._live = None
