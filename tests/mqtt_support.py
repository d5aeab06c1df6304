"""Helpers for tests against a real Mosquitto on loopback (and the embedded broker).

Every broker is started on a free port with a configuration generated in the test's tmp_path,
bounded by timeouts, and stopped by the test that started it. Tests needing Mosquitto call
:func:`require_mosquitto`: it skips when Mosquitto is missing, except when the environment has
``NRRC_REQUIRE_BROKER=1`` (CI), where a missing broker fails the test.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nrrc.broker import free_port

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def _find(name: str, *extra: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for path in extra:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return None


def require_tool(name: str, *extra: str) -> str:
    """Path of ``name``; skip the test when missing, or fail under NRRC_REQUIRE_BROKER=1."""
    found = _find(name, *extra)
    if found is None:
        message = f"{name} is not installed (apt-get install mosquitto mosquitto-clients)"
        if os.environ.get("NRRC_REQUIRE_BROKER") == "1":
            pytest.fail(f"NRRC_REQUIRE_BROKER=1 but {message}")
        pytest.skip(message)
    return found


def require_mosquitto() -> str:
    """Path of the mosquitto binary (skip, or fail in CI, when missing)."""
    return require_tool("mosquitto", *MOSQUITTO_CANDIDATES[1:])


def current_user() -> str:
    """The user Mosquitto should stay as (it drops privileges to 'mosquitto' when root)."""
    return pwd.getpwuid(os.getuid()).pw_name


def free_port_block(count: int) -> int:
    """A base port such that ``base .. base + count - 1`` were all free a moment ago."""
    import random

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        sockets: list[socket.socket] = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError(f"no block of {count} free ports found")


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


class Mosquitto:
    """One Mosquitto process started from a configuration file.

    Args:
        conf: the configuration file.
        port: the port to wait for.
        log: where stdout and stderr go.
    """

    def __init__(self, conf: Path, port: int, log: Path) -> None:
        self.conf = conf
        self.port = port
        self.log = log
        self.binary = require_mosquitto()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start and wait until it listens."""
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=fh, stderr=subprocess.STDOUT
        )
        fh.close()
        try:
            wait_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"mosquitto did not start:\n{self.log.read_text()}") from None
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file), then SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(conf: Path, port: int, log: Path) -> Iterator[Mosquitto]:
    """Start Mosquitto for the block, stop it afterwards whatever happens."""
    broker = Mosquitto(conf, port, log)
    try:
        yield broker.start()
    finally:
        broker.stop()


def mosquitto_pub(
    port: int,
    topic: str,
    message: bytes,
    *,
    user: str,
    password: str,
    client_id: str | None = None,
    timeout: float = 10.0,
) -> subprocess.CompletedProcess[bytes]:
    """Publish one QoS 1 message with the mosquitto_pub command-line client."""
    binary = require_tool("mosquitto_pub")
    args = [binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-s"]
    args += ["-u", user, "-P", password]
    if client_id:
        args += ["-i", client_id]
    return subprocess.run(args, input=message, capture_output=True, timeout=timeout, check=False)


__all__ = [
    "Mosquitto",
    "current_user",
    "free_port",
    "free_port_block",
    "mosquitto_pub",
    "require_mosquitto",
    "require_tool",
    "running",
    "wait_port",
]


class NodeProcess:
    """One ``nrrc node`` subprocess, its JSON event lines in ``<log_dir>/node-<ID>.out``."""

    def __init__(self, centre: str, args: list[str], log_dir: Path) -> None:
        import sys

        self.centre = centre
        self.args = [sys.executable, "-c", "from nrrc.cli import main; main()", "node", *args]
        self.out = log_dir / f"node-{centre}.out"
        self.err = log_dir / f"node-{centre}.err"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
        """Start (again): output is appended, so a restarted node's lines follow the old ones."""
        with self.out.open("ab") as out, self.err.open("ab") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to close anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def wait(self, timeout: float) -> int:
        """Wait for the node to stop by itself; kill it and fail when it does not."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"node {self.centre} did not stop within {timeout} s:\n{self.err.read_text()}"
            ) from None

    def events(self) -> list[dict[str, object]]:
        """Every JSON line the node printed."""
        import json

        lines = self.out.read_text().splitlines() if self.out.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]
