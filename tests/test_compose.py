"""compose.yaml without Docker: the same topology as local processes on loopback.

There is no Docker engine on these machines, so this test reads compose.yaml and plays each
service the way Compose would, in dependency order: the container paths of every volume are
mapped to directories under tmp_path (bind mounts are copies of the repository's directories,
named volumes are empty directories), ``mosquitto:1883`` becomes a free loopback port, the
official Mosquitto image is replaced by Debian's mosquitto with the service's own configuration
file (its paths and listener rewritten the same way), and every other service's command runs
with the repository's ``nrrc`` on the PATH. Then the auditor's verdict must be clean.

The ``federated`` profile is played the same way: one Debian mosquitto per ``broker-<id>``
service with its own configuration, whose listeners and bridge addresses (``broker-<id>:port``)
become free loopback ports, so the bridges really connect the brokers pairwise over TLS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mqtt_support import Mosquitto, current_user, free_port, free_port_block, require_mosquitto

REPO = Path(__file__).resolve().parent.parent
DAYS = 50
SECONDS = 8.0
NODES = ("us", "ru", "cn", "gb", "fr")
FEDERATED_PORTS = range(11883, 11893)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` interpolation (the only form compose.yaml uses)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), text).replace(
        "$$", "$"
    )


class Topology:
    """compose.yaml's services, with container paths mapped into a temporary directory."""

    def __init__(self, tmp: Path, port: int, federated_base: int = 0) -> None:
        self.compose = yaml.safe_load((REPO / "compose.yaml").read_text())
        self.tmp = tmp
        self.port = port
        self.ports = {p: federated_base + i for i, p in enumerate(FEDERATED_PORTS)}
        self.env = {"NRRC_DAYS": str(DAYS), "NRRC_SPEED": repr(DAYS * 86400 / SECONDS)}
        self.mounts: dict[str, Path] = {}
        for service in self.compose["services"].values():
            for volume in service.get("volumes", []):
                source, target = volume.split(":")[:2]
                if source.startswith("./"):
                    host = tmp / "bind" / source[2:]
                    if not host.exists():
                        shutil.copytree(REPO / source[2:], host)
                else:
                    host = tmp / "volumes" / source
                    host.mkdir(parents=True, exist_ok=True)
                self.mounts[target] = host
        self.path_env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def map(self, text: str) -> str:
        """Container paths and the broker's host name, as this machine sees them."""
        for target in sorted(self.mounts, key=len, reverse=True):
            text = text.replace(target, str(self.mounts[target]))
        text = re.sub(
            r"broker-[a-z]+:(\d+)", lambda m: f"127.0.0.1:{self.ports[int(m.group(1))]}", text
        )
        return text.replace("mqtt://mosquitto:1883", f"mqtt://127.0.0.1:{self.port}")

    def command(self, name: str) -> list[str]:
        """The service's command, interpolated and mapped."""
        raw = self.compose["services"][name]["command"]
        args = [self.map(interpolate(str(a), self.env)) for a in raw]
        if args[:2] == ["sh", "-ec"] and os.geteuid() != 0:
            args[2] = "chown() { :; }\n" + args[2]  # ownership is the containers' concern
        return args

    def run(self, name: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a one-shot service to completion."""
        return subprocess.run(
            self.command(name),
            env=self.path_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def broker(self, name: str = "mosquitto") -> Mosquitto:
        """Debian's mosquitto with a broker service's configuration, mapped (listeners on
        loopback ports); it is waited for on its first listener."""
        args = self.command(name)
        assert args[:2] == ["mosquitto", "-c"], args
        conf = Path(args[2])
        ports = {1883: self.port, **self.ports}
        text = re.sub(
            r"(?m)^listener (\d+).*$",
            lambda m: f"listener {ports[int(m.group(1))]} 127.0.0.1",
            self.map(conf.read_text()),
        )
        first = re.search(r"(?m)^listener (\d+)", text)
        assert first is not None, conf
        local = self.tmp / f"{name}.conf"
        local.write_text(f"user {current_user()}\n{text}")
        return Mosquitto(local, int(first.group(1)), self.tmp / f"{name}.log")

    def run_nodes(self, names: list[str]) -> None:
        """Start the node services and wait until each has finished cleanly."""
        nodes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name in names:
                with (self.tmp / f"{name}.out").open("wb") as out:
                    nodes[name] = subprocess.Popen(
                        self.command(name), env=self.path_env, stdout=out, stderr=subprocess.STDOUT
                    )
            for name, proc in nodes.items():
                output = self.tmp / f"{name}.out"
                try:
                    code = proc.wait(timeout=8 + SECONDS + 30)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"{name} did not finish:\n{output.read_text()[-3000:]}")
                assert code == 0, output.read_text()[-3000:]
        finally:
            for proc in nodes.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)


def test_compose_services_have_what_the_topology_needs() -> None:
    """The official Mosquitto image, five P5 centres, an auditor that waits for all five."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    assert {n: services[n]["command"][3] for n in NODES} == {n: n.upper() for n in NODES}
    waits = services["auditor"]["depends_on"]
    assert all(waits[n]["condition"] == "service_completed_successfully" for n in NODES)
    assert "mosquitto-data:/mosquitto/data" in services["mosquitto"]["volumes"]


def test_compose_topology_runs_on_local_processes_and_audits_clean(tmp_path: Path) -> None:
    """setup, Mosquitto, the five centres and the auditor, as compose.yaml describes them,
    exchange the P5 scenario's notices over the broker; the auditor finds no violation."""
    require_mosquitto()
    topo = Topology(tmp_path, free_port())
    setup = topo.run("setup", timeout=60)
    assert setup.returncode == 0, setup.stderr
    broker = topo.broker().start()
    try:
        topo.run_nodes(list(NODES))
    finally:
        broker.stop()
    auditor = topo.run("auditor", timeout=120)
    assert auditor.returncode == 0, auditor.stdout + auditor.stderr
    assert "0 violations" in auditor.stdout
    assert (topo.mounts["/nrrc/run"] / "report.html").stat().st_size > 1000
    sent = sum(
        1
        for log in (topo.mounts["/nrrc/run"] / "logs").glob("*.log.jsonl")
        for line in log.read_text().splitlines()
        if '"type":"sent"' in line
    )
    assert sent > 10


def test_compose_federated_profile_has_one_broker_per_centre() -> None:
    """Profile federated: a broker per centre with its federated configuration, each centre's
    node on its own broker, and an auditor of their own run volume; all behind the profile."""
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    federated = {n for n, s in services.items() if "federated" in s.get("profiles", ())}
    expected = {f"broker-{n}" for n in NODES} | {f"fed-{n}" for n in NODES} | {"fed-auditor"}
    assert federated == expected
    for n in NODES:
        conf = f"/nrrc/brokers/federated/{n.upper()}/mosquitto.conf"
        assert services[f"broker-{n}"]["command"] == ["mosquitto", "-c", conf]
        assert services[f"fed-{n}"]["command"][5].startswith(f"mqtt://broker-{n}:")
        assert f"broker-{n}" in services[f"fed-{n}"]["depends_on"]


def test_compose_federated_topology_bridges_and_audits_clean(tmp_path: Path) -> None:
    """setup, five bridged brokers, the five centres each on its own broker, and the federated
    auditor, as compose.yaml's federated profile describes them: the notices cross the TLS
    bridges and the auditor finds no violation."""
    require_mosquitto()
    topo = Topology(tmp_path, free_port(), free_port_block(len(FEDERATED_PORTS)))
    setup = topo.run("setup", timeout=60)
    assert setup.returncode == 0, setup.stderr
    brokers: list[Mosquitto] = []
    try:
        for n in NODES:
            brokers.append(topo.broker(f"broker-{n}").start())
        topo.run_nodes([f"fed-{n}" for n in NODES])
    finally:
        for b in brokers:
            b.stop()
    auditor = topo.run("fed-auditor", timeout=120)
    assert auditor.returncode == 0, auditor.stdout + auditor.stderr
    assert "0 violations" in auditor.stdout
    run = topo.mounts["/nrrc/run-federated"]
    assert (run / "report.html").stat().st_size > 1000
    received = {
        log.name.split(".")[0]: sum(
            1 for line in log.read_text().splitlines() if '"type":"received"' in line
        )
        for log in (run / "logs").glob("*.log.jsonl")
    }
    assert all(count > 0 for count in received.values()) and len(received) == 5, received
    bridged = (tmp_path / "broker-us.log").read_text()  # every peer's bridge, by certificate
    for c in ("CN", "FR", "GB", "RU"):
        assert re.search(rf"New bridge connected from \S+ as {c} .*u'{c}'", bridged), c
