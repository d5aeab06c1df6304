"""compose.yaml without Docker: the same topology as local processes on loopback.

There is no Docker engine on these machines, so this test reads compose.yaml and plays each
service the way Compose would, in dependency order: the container paths of every volume are
mapped to directories under tmp_path (bind mounts are copies of the repository's directories,
named volumes are empty directories), ``mosquitto:1883`` becomes a free loopback port, the
official Mosquitto image is replaced by Debian's mosquitto with the service's own configuration
file (its paths and listener rewritten the same way), and every other service's command runs
with the repository's ``nrrc`` on the PATH. Then the auditor's verdict must be clean.
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
from mqtt_support import Mosquitto, current_user, free_port, require_mosquitto

REPO = Path(__file__).resolve().parent.parent
DAYS = 50
SECONDS = 8.0
NODES = ("us", "ru", "cn", "gb", "fr")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` interpolation (the only form compose.yaml uses)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), text).replace(
        "$$", "$"
    )


class Topology:
    """compose.yaml's services, with container paths mapped into a temporary directory."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.compose = yaml.safe_load((REPO / "compose.yaml").read_text())
        self.tmp = tmp
        self.port = port
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

    def broker(self) -> Mosquitto:
        """Debian's mosquitto with the mosquitto service's configuration, mapped."""
        args = self.command("mosquitto")
        assert args[:2] == ["mosquitto", "-c"], args
        conf = Path(args[2])
        text = self.map(conf.read_text())
        text = re.sub(r"(?m)^listener 1883.*$", f"listener {self.port} 127.0.0.1", text)
        local = self.tmp / "mosquitto.conf"
        local.write_text(f"user {current_user()}\n{text}")
        return Mosquitto(local, self.port, self.tmp / "mosquitto.log")


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
    nodes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in NODES:
            with (tmp_path / f"{name}.out").open("wb") as out:
                nodes[name] = subprocess.Popen(
                    topo.command(name), env=topo.path_env, stdout=out, stderr=subprocess.STDOUT
                )
        for name, proc in nodes.items():
            try:
                code = proc.wait(timeout=5 + SECONDS + 40)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish:\n{(tmp_path / f'{name}.out').read_text()}")
            assert code == 0, (tmp_path / f"{name}.out").read_text()[-3000:]
    finally:
        for proc in nodes.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
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
