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

The scenario's own stresses are applied too (``scenario_faults``): each ``[[injections]]``
envelope is published by its outsider (``by``) at its scaled instant (explicit ``at``
instants inside the run, or ``count`` random instants in its middle 60 %); each
``[[restarts]]`` SIGKILLs the centre's node at its scaled instant and restarts it ``down``
later (scaled, at least one real second); and every node simulates the ``[[faults]]`` of its
incoming links on top of the real broker (:mod:`nrrc.transport.link_faults`).

Brokers: ``embedded`` and ``mosquitto`` are started by the demo; with a URL the demo uses an
existing broker and the ``secrets/`` directory ``nrrc brokers generate`` wrote: passwords for
``mqtt://``, and for ``mqtts://`` the CA and each identity's client certificate and key (the
TLS set-up of ``nrrc brokers generate`` takes the certificate's common name as user name).

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
from nrrc.scenario import Injection, Scenario
from nrrc.simulate import scenario_keys
from nrrc.timeutil import MAX_DURATION_DAYS
from nrrc.transport.mqtt import BrokerURL, MqttSettings

__all__ = [
    "INJECTOR",
    "DemoOptions",
    "DemoResult",
    "busiest_centres",
    "planned_injections",
    "run_demo",
]

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
        secrets: with a broker URL, the ``secrets/`` directory ``nrrc brokers generate``
            wrote: ``<ID>.password`` for each identity and, for ``mqtts://``, ``certs/ca.crt``,
            ``certs/<ID>.crt`` and ``certs/<ID>.key``.
        days: simulated days to run (at most the scenario's duration).
        seconds: real seconds the simulated days take.
        late_prone: a centre to make late-prone.
        kill: a centre whose node is SIGKILLed mid-run and restarted.
        restart_broker: stop and restart the broker mid-run.
        forge: a centre that receives hostile envelopes mid-run.
        startup: real seconds between starting the nodes and the start of simulated time
            (default: 4 s plus 0.4 s per centre, for Python to start that many processes).
        live: draw the live view (otherwise print warnings line by line).
        scenario_faults: apply the scenario's ``[[injections]]``, ``[[restarts]]`` and
            ``[[faults]]`` (see the module docstring).
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
    scenario_faults: bool = True


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


_EXPECTED = {
    "forged": "unknown-key",
    "tampered": "bad-signature",
    "replayed": "replayed",
    "misaddressed": "misaddressed",
}
"""The reason each attack is refused with (the simulator's expectations, too)."""


def _partner(scenario: Scenario, target: str) -> str:
    """The centre an attacker poses as: the target's first treaty partner."""
    bound = {p for b in scenario.config(target).own_bindings() for p in b.parties} - {target}
    others = [c for c in scenario.centre_ids if c != target]
    return (sorted(bound) or others or [target])[0]


def _attack(
    types: MessageTypes,
    signers: dict[str, Signer],
    scenario: Scenario,
    attack: str,
    target: str,
    at: datetime,
    captured: bytes | None,
) -> bytes | None:
    """A hostile envelope of kind ``attack`` towards ``target`` (None: nothing to replay yet)."""
    claimed = _partner(scenario, target)
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

    if attack == "forged":
        return free_text(Signer.from_seed(claimed, os.urandom(32)), target)
    if attack == "tampered":
        genuine = json.loads(free_text(signers[claimed], target))
        statement = base64.b64decode(genuine["payload"]).replace(b"Routine", b"Urgent!")
        genuine["payload"] = base64.b64encode(statement).decode()
        return json.dumps(genuine, separators=(",", ":")).encode()
    if attack == "misaddressed":
        return free_text(signers[claimed], other)
    return captured


@dataclass(frozen=True)
class _Planned:
    """One hostile envelope of the scenario, at its true simulated instant."""

    at: datetime
    injection: Injection


def planned_injections(scenario: Scenario, until: datetime, seed: int) -> list[_Planned]:
    """The scenario's ``[[injections]]`` inside ``[start, until)``: explicit instants as given,
    ``count`` random ones in the middle 60 % of the run (seeded), in time order."""
    rng = random.Random(f"{seed}/inject/live")
    span = until - scenario.start
    planned: list[_Planned] = []
    for inj in scenario.injections:
        times = [t for t in inj.at if scenario.start <= t < until]
        if not inj.at:
            times = [scenario.start + span * (0.2 + 0.6 * rng.random()) for _ in range(inj.count)]
        planned += [_Planned(t, inj) for t in times]
    return sorted(planned, key=lambda p: p.at)


@dataclass(frozen=True)
class _Credentials:
    """How one identity logs in to the broker: a password, or (mqtts) a client certificate."""

    password: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


def _external_credentials(
    secrets: Path, url: BrokerURL, identities: list[str]
) -> dict[str, _Credentials]:
    """Each identity's credentials from a ``nrrc brokers generate`` secrets directory.

    Raises:
        NrrcError: naming the identity whose password or certificate is missing.
    """
    certs = secrets / "certs"
    ca = certs / "ca.crt" if url.tls and (certs / "ca.crt").is_file() else None
    found: dict[str, _Credentials] = {}
    for who in identities:
        pw_file = secrets / f"{who}.password"
        password = read_password(pw_file) if pw_file.is_file() else None
        cert = certs / f"{who}.crt" if url.tls and (certs / f"{who}.crt").is_file() else None
        if password is None and cert is None:
            need = f"{pw_file} or {certs / f'{who}.crt'}" if url.tls else str(pw_file)
            raise NrrcError(
                f"--secrets: no credentials for {who} (expected {need}; `nrrc brokers generate "
                f"SCENARIO DIR --outsider {who}` writes them for an outsider)"
            )
        key = certs / f"{who}.key" if cert is not None else None
        found[who] = _Credentials(None if cert else password, ca, cert, key)
    return found


def _client(url: BrokerURL, who: str, cred: _Credentials) -> aiomqtt.Client:
    """An MQTT client logged in as ``who`` (an injector)."""
    settings = MqttSettings(
        url=url,
        centre=who,
        password=cred.password,
        ca_file=cred.ca,
        cert_file=cred.cert,
        key_file=cred.key,
    )
    return aiomqtt.Client(
        url.host,
        url.port,
        username=None if cred.cert else who,
        password=cred.password,
        identifier=who,
        timeout=10,
        tls_context=settings.tls_context(),
    )


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
    if not 0 < options.seconds < 1e9 or not 0 < options.days <= MAX_DURATION_DAYS:
        raise NrrcError(
            f"--days and --seconds: expected positive finite numbers (days up to "
            f"{MAX_DURATION_DAYS}), found {options.days} and {options.seconds}"
        )
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
    injections = (
        planned_injections(scenario, until, scenario.seed) if options.scenario_faults else []
    )
    restarts = [r for r in (scenario.restarts if options.scenario_faults else ()) if r.at < until]
    if options.forge:
        members[INJECTOR] = frozenset()
    for p in injections:
        members.setdefault(p.injection.by, frozenset())
    membership = Membership(members)

    creds: dict[str, _Credentials]
    broker: _Broker
    if options.broker == "embedded":
        passwords = generate_passwords(membership.centres)
        creds = {c: _Credentials(pw) for c, pw in passwords.items()}
        broker = _Embedded(membership, passwords, out)
    elif options.broker == "mosquitto":
        mosq = _Mosquitto(membership, out)
        creds = {c: _Credentials(read_password(p)) for c, p in mosq.layout.passwords.items()}
        broker = mosq
    else:
        broker = _External(options.broker)
        if options.secrets is None:
            raise NrrcError(
                "--broker URL needs --secrets DIR: the secrets/ directory `nrrc brokers "
                "generate` wrote (<ID>.password; certs/ for mqtts://)"
            )
        creds = _external_credentials(
            options.secrets, BrokerURL.parse(broker.url), membership.centres
        )
    if options.restart_broker and not broker.restartable:
        raise NrrcError("--restart-broker: the demo can only restart a broker it started")
    for c in scenario.centre_ids:
        password = creds[c].password
        if password is not None:
            write_password(out / "secrets" / f"{c}.password", password)

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
        ]
        cred = creds[c]
        if cred.password is not None:
            args += ["--password-file", str((out / "secrets" / f"{c}.password").resolve())]
        for flag, path in (("--ca", cred.ca), ("--cert", cred.cert), ("--key", cred.key)):
            if path is not None:
                args += [flag, str(path.resolve())]
        if not options.scenario_faults:
            args.append("--no-link-faults")
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

    locks: dict[str, asyncio.Lock] = {}

    def lock(name: str) -> asyncio.Lock:
        return locks.setdefault(name, asyncio.Lock())

    async def kill_and_restart(centre: str, offset: float, down: float, why: str) -> None:
        await sleep_until(offset)
        node = nodes[centre]
        await node.connected.wait()  # a slow start must not turn the kill into a cold start
        async with lock(f"node/{centre}"):
            at = clock.now()
            await node.kill()
            model.row(centre).status = "killed"
            model.note(centre, f"node SIGKILLed by the demo ({why})", at)
            printer.line(f"{centre}: node SIGKILLed by the demo ({why})")
            await asyncio.sleep(down)
            faults.append(
                Fault(
                    id="",
                    fault="node-killed",
                    party=centre,
                    at=at,
                    detail=f"SIGKILLed ({why}), restarted {down:.1f} s (real) later from its "
                    "durable state",
                )
            )
            await node.start(on_line)
            model.note(centre, "node restarted")
            printer.line(f"{centre}: node restarted")

    async def scenario_restarts(centre: str) -> None:
        for r in sorted((r for r in restarts if r.centre == centre), key=lambda r: r.at):
            offset = (r.at - scenario.start).total_seconds() / speed
            down = max(1.0, r.down.total_seconds() / speed)
            await kill_and_restart(centre, offset, down, f"scenario restart, down {r.down}")

    async def publish_hostile(by: str, target: str, attack: str, envelope: bytes) -> None:
        """Publish one hostile envelope as ``by`` and record the fault it is."""
        at = clock.now() + scenario.centre(target).clock_skew
        async with lock(f"client/{by}"), _client(BrokerURL.parse(broker.url), by, creds[by]) as c:
            await c.publish(f"nrrc/v1/link/{by}/{target}", envelope, qos=1)
        faults.append(
            Fault(
                id="",
                fault=f"{attack}-envelope",
                party=target,
                at=at,
                detail=f"{by} injected a {attack} envelope; expected refusal: {_EXPECTED[attack]}",
            )
        )

    async def captured_for(target: str) -> bytes | None:
        """A genuine envelope the target received, once it has one (None by 85 % of the run)."""
        log = out / "logs" / f"{target}.log.jsonl"
        captured = _captured(log)
        while captured is None and time.time() < real_epoch + options.seconds * 0.85:
            await asyncio.sleep(0.25)
            captured = _captured(log)
        return captured

    async def inject(planned: _Planned) -> None:
        inj = planned.injection
        await sleep_until((planned.at - scenario.start).total_seconds() / speed)
        await nodes[inj.target].connected.wait()
        captured = await captured_for(inj.target) if inj.attack == "replayed" else None
        at = clock.now()
        envelope = _attack(types, signers, scenario, inj.attack, inj.target, at, captured)
        if envelope is None:
            printer.line(f"{inj.target}: nothing to replay yet; the replay by {inj.by} is skipped")
            return
        await publish_hostile(inj.by, inj.target, inj.attack, envelope)
        model.note(inj.target, f"{inj.attack} envelope injected by {inj.by}", at)
        printer.line(f"{inj.target}: {inj.attack} envelope injected by {inj.by}")

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
        captured = await captured_for(target)
        at = clock.now()
        count = 0
        for attack in _EXPECTED:
            envelope = _attack(types, signers, scenario, attack, target, at, captured)
            if envelope is not None:
                await publish_hostile(INJECTOR, target, attack, envelope)
                count += 1
        model.note(target, f"{count} hostile envelopes injected by {INJECTOR}", at)
        printer.line(f"{target}: {count} hostile envelopes injected by {INJECTOR}")

    printer.line(
        f"Starting {len(nodes)} centres (one process each) on {broker.label}; "
        f"{days:g} simulated days in {options.seconds:g} s"
    )
    try:
        for node in nodes.values():
            await node.start(on_line)
        extras: list[asyncio.Task[None]] = []
        if options.kill:
            down = max(1.0, options.seconds * 0.04)
            offset = options.seconds * 0.35
            extras.append(
                asyncio.create_task(kill_and_restart(options.kill, offset, down, "--kill"))
            )
        for centre in sorted({r.centre for r in restarts}):
            extras.append(asyncio.create_task(scenario_restarts(centre)))
        extras += [asyncio.create_task(inject(p)) for p in injections]
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
