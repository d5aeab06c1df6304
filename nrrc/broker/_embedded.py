"""The embedded broker: amqtt in the demo's own process, on loopback, passwords required.

amqtt is a pure-Python MQTT 3.1.1 broker, good enough for a demo on a bare machine. Its
traps, and what this module does about them (DESIGN.md, pitfall 6):

* it does not queue messages for anonymous sessions, and anonymous access would let anyone
  publish as anyone: every centre logs in with its own password (``FileAuthPlugin``), and no
  anonymous plugin is loaded;
* its documented hyphenated ACL keys are ignored by its dataclass configuration: the ACL uses
  ``publish_acl`` (what a user may publish on) and ``acl`` (what it may subscribe to); amqtt
  0.12 warns that ``acl`` is deprecated for ``subscribe-acl``, which that same configuration
  does not accept, so the warning is silenced here;
* the user name ``admin`` bypasses its topic plugins: centre ids are capital letters, so no
  centre can be called ``admin``;
* it speaks MQTT 3.1.1 only and does not redeliver in-flight QoS 1 messages after a reconnect,
  nor keep sessions across a restart: the nodes' durable outboxes and signed application
  acknowledgements cover both.
"""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from nrrc.broker._mosquitto import Membership
from nrrc.broker._secrets import amqtt_password_file
from nrrc.errors import TransportError
from nrrc.transport.topics import publish_patterns, subscriptions

__all__ = ["EmbeddedBroker", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """An amqtt broker for ``membership`` on ``host:port`` (a free port when 0).

    Args:
        membership: the centres (their ids are the user names) and their regimes.
        passwords: each centre's password.
        directory: where the broker's password file is written.
        host: the address to listen on; loopback by default.
        port: the port; 0 picks a free one (kept across :meth:`stop` / :meth:`start`).
    """

    def __init__(
        self,
        membership: Membership,
        passwords: Mapping[str, str],
        *,
        directory: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        missing = [c for c in membership.centres if c not in passwords]
        if missing:
            raise TransportError(f"embedded broker: no password for {', '.join(missing)}")
        self.membership = membership
        self.host = host
        self.port = port or free_port(host)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password_file = self.directory / "amqtt.passwd"
        self.password_file.write_text(amqtt_password_file(passwords))
        self.password_file.chmod(0o600)
        self._broker: Any = None

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker is accepting connections."""
        return self._broker is not None

    def config(self) -> dict[str, Any]:
        """amqtt's configuration: listener, password file and the topic ACL."""
        publish: dict[str, list[str]] = {}
        subscribe: dict[str, list[str]] = {}
        for centre, regimes in self.membership.regimes.items():
            publish[centre] = publish_patterns(centre, regimes)
            subscribe[centre] = subscriptions(centre, regimes)
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "timeout_disconnect_delay": 0,
            "plugins": {
                "amqtt.plugins.authentication.FileAuthPlugin": {
                    "password_file": str(self.password_file)
                },
                "amqtt.plugins.topic_checking.TopicAccessControlListPlugin": {
                    "publish_acl": publish,
                    "acl": subscribe,
                },
            },
        }

    async def start(self) -> None:
        """Start listening.

        Raises:
            TransportError: the broker could not start (e.g. the port is taken).
        """
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*'acl' option is deprecated")
            try:
                broker = Broker(self.config())
                await broker.start()
            except Exception as exc:
                raise TransportError(
                    f"embedded broker: cannot listen on {self.host}:{self.port}: {exc}"
                ) from exc
        self._broker = broker

    async def stop(self) -> None:
        """Stop the broker (idempotent); sessions and queued messages are dropped."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
