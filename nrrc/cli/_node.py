"""``nrrc node`` (one centre over MQTT) and ``nrrc brokers generate`` (Mosquitto set-ups)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import structlog
import typer

from nrrc.cli._app import AGREEMENTS_HELP, app, catalogue, check_out_dir, console, fail
from nrrc.errors import NrrcError
from nrrc.timeutil import MAX_DURATION_DAYS

brokers_app = typer.Typer(
    help="Mosquitto configurations for a scenario: one broker with a password per centre and a "
    "pattern ACL, the same over TLS with client certificates, or one broker per centre "
    "bridged pairwise.",
    no_args_is_help=True,
)
app.add_typer(brokers_app, name="brokers")

ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="Built-in scenario id (p5, hcoc, ...) or a file.")
]


def configure_logging(json_lines: bool, level: int = logging.INFO) -> None:
    """structlog: one JSON object per line on stdout (or readable lines on a terminal)."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")


@app.command("node")
def node(
    centre: Annotated[str, typer.Option("--centre", "-c", help="The centre this node runs.")],
    broker: Annotated[
        str, typer.Option("--broker", "-b", help="mqtt://host:port or mqtts://host:port.")
    ],
    scenario: ScenarioOpt = "p5",
    run_dir: Annotated[
        Path, typer.Option("--run-dir", "-d", help="Run directory: keys, logs, state.")
    ] = Path("run"),
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the broker password (default: <run-dir>/secrets/<ID>.password, "
            "or the NRRC_MQTT_PASSWORD environment variable)."
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option("--ca", "--cafile", help="CA certificate to trust for mqtts://."),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert", "--certfile", help="Client certificate for mqtts:// (CN = the centre id)."
        ),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", "--keyfile", help="The client certificate's key.")
    ] = None,
    secrets: Annotated[
        Path | None,
        typer.Option(
            help="The secrets/ directory `nrrc brokers generate` wrote: <ID>.password, and for "
            "mqtts:// certs/ca.crt, certs/<ID>.crt and certs/<ID>.key (explicit options win)."
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(help="Simulated seconds per real second (86400: one day a second)."),
    ] = 86400.0,
    clock_epoch: Annotated[
        float | None,
        typer.Option(
            help="POSIX time at which simulated time is the scenario's start; every node of a "
            "run must get the same value (default: now)."
        ),
    ] = None,
    clock_file: Annotated[
        Path | None,
        typer.Option(
            help="Share the clock epoch through this file: the first node of a run writes "
            "now + --startup into it, the others read it (containers started one by one)."
        ),
    ] = None,
    startup: Annotated[
        float, typer.Option(help="With --clock-file: real seconds before simulated time starts.")
    ] = 10.0,
    days: Annotated[
        float | None, typer.Option(help="Stop after this many simulated days (default: all).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    min_retry_real: Annotated[
        float,
        typer.Option(
            help="Shortest retransmission interval in real seconds: in scaled time a real "
            "round trip is minutes of simulated time (0: the scenario's policy as is)."
        ),
    ] = 0.5,
    min_give_up_real: Annotated[
        float,
        typer.Option(
            help="Shortest time before giving up retransmitting, in real seconds: a real outage "
            "of a few seconds can be weeks of simulated time (0: the scenario's policy as is)."
        ),
    ] = 30.0,
    late_prone: Annotated[
        float | None,
        typer.Option(
            metavar="CHANCE",
            help="Make this centre late-prone: the chance that a notice or reply goes out late "
            "(by 36 simulated hours on average).",
        ),
    ] = None,
    link_faults: Annotated[
        bool,
        typer.Option(
            "--link-faults/--no-link-faults",
            help="Simulate the scenario's \\[\\[faults]] (loss, delay, outages) on links into this "
            "centre, on top of the real broker.",
        ),
    ] = True,
    log_format: Annotated[
        str, typer.Option(help="json (one object per line) or console.")
    ] = "json",
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """Run one centre as a long-running process over an MQTT broker.

    SIGTERM or Ctrl-C stops it cleanly (log closed with a signed checkpoint, broker session
    kept); run the same command again to resume where it stopped, also after a SIGKILL.
    """
    from nrrc.broker import read_password
    from nrrc.centre import Distribution
    from nrrc.clock import ScaledClock
    from nrrc.node import Node, NodeOptions
    from nrrc.scenario import load_scenario
    from nrrc.timeutil import to_utc
    from nrrc.transport.mqtt import BrokerURL, MqttSettings

    if log_format not in ("json", "console"):
        fail(f"--log-format: expected json or console, found {log_format!r}")
    if not 0 < speed < math.inf:
        fail(f"--speed: expected a positive finite number, found {speed}")
    if clock_epoch is not None and not 0 <= clock_epoch < 1e11:
        fail(f"--clock-epoch: expected a POSIX time in seconds (0 to 1e11), found {clock_epoch}")
    if days is not None:
        _days(days)
    reals = (("--min-retry-real", min_retry_real), ("--min-give-up-real", min_give_up_real))
    for flag, real in reals:
        if not 0 <= real < 1e9:
            fail(f"{flag}: expected a number of seconds from 0 to 1e9, found {real}")
    configure_logging(log_format == "json")
    cat = catalogue(agreements)
    scen = load_scenario(scenario, cat)
    url = BrokerURL.parse(broker)
    password = os.environ.get("NRRC_MQTT_PASSWORD")
    default_pw = run_dir / "secrets" / f"{centre}.password"
    if secrets is not None:
        ca, cert, key, default_pw = _from_secrets(secrets, centre, url.tls, ca, cert, key)
    if password_file is not None:
        password = read_password(password_file)
    elif password is None and default_pw.exists():
        password = read_password(default_pw)
    if password is None and cert is None:
        fail(
            f"no broker password for {centre}: pass --password-file, set NRRC_MQTT_PASSWORD, "
            f"or put it in {default_pw} (or use --secrets DIR, or --cert/--key with mqtts://)"
        )
    if centre not in scen.centre_ids:
        fail(
            f"--centre: {centre} is not a centre of scenario {scen.id} "
            f"(its centres: {', '.join(scen.centre_ids)})"
        )
    for flag, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            fail(f"{flag}: {path} is not a readable file")
    try:
        settings = MqttSettings(
            url=url,
            centre=centre,
            regimes=scen.config(centre).regimes,
            password=password,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
        )
        settings.tls_context()  # unreadable or mismatched TLS files: one line, before starting
    except NrrcError as exc:
        fail(str(exc))
    if clock_epoch is not None:
        epoch = clock_epoch
    elif clock_file is not None:
        epoch = _shared_epoch(clock_file, startup)
    else:
        epoch = time.time()
    clock = ScaledClock(scen.start, epoch, speed)
    until = None if days is None else to_utc(scen.start) + _days(days)
    behaviour = None
    if late_prone is not None:
        if not 0 <= late_prone <= 1:
            fail(f"--late-prone: expected a probability between 0 and 1, found {late_prone}")
        behaviour = replace(
            scen.centre(centre).behaviour,
            profile="late-prone",
            late_probability=late_prone,
            late_delay=Distribution("exponential", 36 * 3600.0),
        )
    options = NodeOptions(
        centre,
        scen,
        run_dir,
        settings,
        clock,
        until=until,
        seed=seed,
        min_retry=timedelta(seconds=speed * min_retry_real) if min_retry_real > 0 else None,
        min_give_up=timedelta(seconds=speed * min_give_up_real) if min_give_up_real > 0 else None,
        behaviour=behaviour,
        link_faults=link_faults,
    )
    runner = Node(options, cat)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await runner.run(stop)

    asyncio.run(main())


def _from_secrets(
    secrets: Path, centre: str, tls: bool, ca: Path | None, cert: Path | None, key: Path | None
) -> tuple[Path | None, Path | None, Path | None, Path]:
    """(CA, certificate, key, password file) from a ``nrrc brokers generate`` secrets
    directory; explicit options win, and certificates are used only for ``mqtts://``."""
    if not secrets.is_dir():
        fail(f"--secrets: {secrets} is not a directory (nrrc brokers generate writes secrets/)")
    certs = secrets / "certs"
    if tls:
        if ca is None and (certs / "ca.crt").is_file():
            ca = certs / "ca.crt"
        if cert is None and key is None and (certs / f"{centre}.crt").is_file():
            cert, key = certs / f"{centre}.crt", certs / f"{centre}.key"
    return ca, cert, key, secrets / f"{centre}.password"


def _shared_epoch(path: Path, startup: float) -> float:
    """The run's clock epoch from ``path``, written there first (exclusively) if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{time.time() + startup:.6f}\n")
            fh.flush()
            os.fsync(fh.fileno())
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            try:
                return float(text)
            except ValueError:
                fail(f"{path}: expected a POSIX time (seconds), found {text[:40]!r}")
        time.sleep(0.05)  # another node created it and is still writing
    raise typer.Exit(fail(f"{path}: the clock file stays empty"))


def _days(days: float) -> timedelta:
    if not 0 < days <= MAX_DURATION_DAYS:
        fail(f"--days: expected a positive number up to {MAX_DURATION_DAYS}, found {days}")
    return timedelta(days=days)


_BROKER_OPTIONS = {
    "directory": "DIR",
    "federated_hosts": "--federated-host",
    "outsiders": "--outsider",
    **{
        name: "--" + name.replace("_", "-")
        for name in (
            "config_root",
            "data_root",
            "bind",
            "port",
            "tls_port",
            "federated_base_port",
            "max_queued",
            "run_as",
        )
    },
}
"""The option of `nrrc brokers generate` for each parameter of write_mosquitto_configs."""


@brokers_app.command("generate")
def brokers_generate(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario id or scenario file.")],
    directory: Annotated[
        Path,
        typer.Argument(
            help="Where to write the configurations (a new or empty directory, or --force)."
        ),
    ],
    config_root: Annotated[
        str | None,
        typer.Option(help="The directory as the broker sees it (e.g. /nrrc/brokers in compose)."),
    ] = None,
    data_root: Annotated[
        str | None,
        typer.Option(help="Persistence directory as the broker sees it (must be writable)."),
    ] = None,
    bind: Annotated[
        str, typer.Option(help="Listener address; '' for every interface (containers).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the single broker.")] = 1883,
    tls_port: Annotated[int, typer.Option(help="Port of the TLS broker.")] = 8883,
    federated_base_port: Annotated[
        int, typer.Option(help="First port of the federated brokers (two per centre).")
    ] = 11883,
    federated_host: Annotated[
        str | None,
        typer.Option(
            help="Host of each centre's broker in the federation, '{id}' replaced by the "
            "lowercase centre id (e.g. broker-{id}); default: --bind or 127.0.0.1."
        ),
    ] = None,
    max_queued: Annotated[
        int | None,
        typer.Option(help="Mosquitto max_queued_messages (default: sized for the scenario)."),
    ] = None,
    run_as: Annotated[
        str | None, typer.Option(help="Mosquitto's `user` option (when started as root).")
    ] = None,
    no_secrets: Annotated[
        bool, typer.Option("--no-secrets", help="Write only the configuration files.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into DIR even when it already holds files, overwriting the "
            "configurations and (without --no-secrets) the passwords, CA and certificates.",
        ),
    ] = False,
    outsider: Annotated[
        list[str] | None,
        typer.Option(
            help="An identity that is no centre but needs broker credentials (repeatable; "
            "default: who injects the scenario's hostile envelopes, and ZZ, the demo's "
            "injector)."
        ),
    ] = None,
    agreements: Annotated[
        list[Path] | None, typer.Option("--agreements", help=AGREEMENTS_HELP)
    ] = None,
) -> None:
    """Write Mosquitto configurations, passwords, certificates, ACL and bridges for a scenario."""
    import random

    from nrrc.broker import (
        DEFAULT_MAX_QUEUED,
        BrokerConfigError,
        Membership,
        write_mosquitto_configs,
    )
    from nrrc.scenario import load_scenario

    # Regenerating into a set-up in use would replace its CA and passwords: only on purpose.
    check_out_dir(directory, "DIR", force=force)
    cat = catalogue(agreements)
    scen = load_scenario(scenario, cat)
    membership = Membership({c: scen.config(c).regimes for c in scen.centre_ids})
    if outsider is None:
        from nrrc.demo import INJECTOR

        outsider = [INJECTOR, *(i.by for i in scen.injections)]
    outsiders = sorted(set(outsider) - set(membership.centres))
    if max_queued is None:
        # Every message a centre can be sent in the whole run, ten times over (retransmissions,
        # acknowledgements), never below the default: Mosquitto drops overflow silently.
        items = len(scen.schedule(random.Random(scen.seed)))
        max_queued = max(DEFAULT_MAX_QUEUED, 10 * items * len(scen.centre_ids))
    try:
        layout = write_mosquitto_configs(
            directory,
            membership,
            now=datetime.now(UTC),
            config_root=config_root,
            data_root=data_root,
            bind=bind,
            port=port,
            tls_port=tls_port,
            federated_base_port=federated_base_port,
            federated_hosts=(
                {c: federated_host.replace("{id}", c.lower()) for c in membership.centres}
                if federated_host
                else None
            ),
            max_queued=max_queued,
            run_as=run_as,
            secrets=not no_secrets,
            outsiders=outsiders,
        )
    except BrokerConfigError as exc:
        fail(f"{_BROKER_OPTIONS.get(exc.parameter, exc.parameter)}: {exc.detail}")

    def say(text: str, markup: bool = True) -> None:
        console.print(text, markup=markup, soft_wrap=True)

    say(
        f"[bold]Mosquitto set-ups for scenario {scen.id}[/bold] ({len(membership.centres)} centres)"
    )
    say(f"  (a) one broker, passwords + ACL:  mosquitto -c {layout.single_conf}", markup=False)
    say(f"  (b) TLS, client certificates:     mosquitto -c {layout.tls_conf}", markup=False)
    federated = f"{directory}/federated/<ID>/mosquitto.conf"
    say(f"  (c) federated, one per centre:    mosquitto -c {federated}", markup=False)
    if not no_secrets:
        say(f"  secrets (keep private): {directory}/secrets/", markup=False)
        if outsiders:
            say(f"  outsiders with credentials (injectors): {', '.join(outsiders)}", markup=False)
        say(
            f"Run a centre: nrrc node --centre {membership.centres[0]} --broker "
            f"mqtt://127.0.0.1:{port} --scenario {scenario} "
            f"--password-file {layout.passwords[membership.centres[0]]}",
            markup=False,
        )
        say(
            f"  over TLS (b):  nrrc node --centre {membership.centres[0]} --broker "
            f"mqtts://127.0.0.1:{tls_port} --scenario {scenario} --secrets {directory}/secrets",
            markup=False,
        )
