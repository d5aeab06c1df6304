"""The MQTT transport: aiomqtt (``>=2.5,<3``) behind the same interface as the in-memory one.

What it guarantees, and how (DESIGN.md, pitfalls 1-4):

* **QoS 1, a stable client id and a persistent session** (``clean_session=False``; MQTT 3.1.1,
  which both Mosquitto and amqtt speak): messages published while a node is away are queued
  by the broker. aiomqtt 2.x would otherwise wipe the session on every connect.
* **The MQTT acknowledgement only after the durable write.** aiomqtt 2.x acknowledges a QoS 1
  message before handing it over (a crash then loses it), so paho's manual acknowledgement
  is switched on (``manual_ack_set``; aiomqtt 2.5 does not expose it yet, empicano/aiomqtt#345)
  and the PUBACK is sent once the envelope is in the durable :class:`~nrrc.store.Store` inbox,
  or, without a store, when the driver :meth:`settles <MqttTransport.settle>` it after its log
  record is durable. An acknowledgement never crosses a reconnection: packet ids belong to
  one connection, and the broker redelivers whatever was not acknowledged on it.
* **Application acknowledgements prove delivery.** A publish that the broker's ACL refuses
  looks successful under MQTT 3.1.1; the centre keeps every notice in its own outbox until the
  recipient's signed acknowledgement arrives and retransmits it otherwise.
* **A durable outbox.** With a store, ``send`` writes the transmission to the outbox (in the
  caller's transaction when there is one) and a publisher task hands it to the broker while
  connected; an entry is done when the broker acknowledges it, so nothing decided is lost
  while the broker is unreachable or the node is killed.
* **Reconnection with jittered exponential backoff**; every (re)connection subscribes again, so
  a broker that lost its sessions (amqtt restarted) is served as well as one that kept them.
* **No silent drops in the client**: aiomqtt's incoming queue is left unbounded (its bound
  discards overflow); Mosquitto's ``max_queued_messages`` is sized by ``nrrc brokers generate``.

The topic a message arrives on gives its ``origin`` (the sender segment, which the broker's ACL
binds to the sender's credentials); the centre refuses an envelope signed by anyone else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import msgspec
import structlog

from nrrc.centre import Delivery
from nrrc.errors import TransportError
from nrrc.store import Accepted, Store
from nrrc.transport.topics import Channel, Topic, TopicError, check_centre, subscriptions

__all__ = ["BrokerURL", "MqttSettings", "MqttStats", "MqttTransport", "peek"]

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """Where the broker is: ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS).

    Credentials never go in the URL (they would show in process lists): the user name is the
    centre id, the password comes from a file, TLS identities from certificate files.
    """

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> BrokerURL:
        """Parse a broker URL.

        Raises:
            TransportError: naming what is wrong, e.g. an unknown scheme.
        """
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise TransportError(f"--broker: {exc}, found {text!r}") from exc
        if parts.scheme not in _DEFAULT_PORTS:
            raise TransportError(
                f"--broker: expected mqtt://host:port or mqtts://host:port, found {text!r}"
            )
        if parts.username or parts.password:
            raise TransportError(
                "--broker: credentials do not belong in the URL (the user name is the centre "
                "id; pass the password with --password-file)"
            )
        if not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise TransportError(f"--broker: expected a host and an optional port, found {text!r}")
        return cls(parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme])

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS."""
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class MqttSettings:
    """How one centre connects.

    Attributes:
        url: the broker.
        centre: the centre id; also the MQTT user name and (by default) the client id.
        regimes: regime channels the centre belongs to (subscribed to).
        password: the broker password (None with TLS client certificates).
        ca_file: CA certificate(s) to trust for ``mqtts://`` (default: the system's).
        cert_file: client certificate (its common name is the centre id).
        key_file: the client certificate's private key.
        client_id: stable MQTT client id (default: the centre id; Mosquitto configs generated
            by nrrc force it to the user name anyway).
        keepalive: MQTT keepalive in seconds.
        backoff_initial: first reconnection delay in seconds (then doubled, jittered ±50 %).
        backoff_max: longest reconnection delay.
        publish_window: transmissions in flight to the broker at once.
        timeout: seconds to wait for the broker's answers.
    """

    url: BrokerURL
    centre: str
    regimes: frozenset[str] = frozenset()
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    client_id: str | None = None
    keepalive: int = 20
    backoff_initial: float = 0.2
    backoff_max: float = 1.0
    publish_window: int = 64
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_centre(self.centre)
        if (self.cert_file is None) != (self.key_file is None):
            raise TransportError("a client certificate needs both --cert and --key")
        if not self.url.tls and self.cert_file is not None:
            raise TransportError("client certificates need an mqtts:// broker URL")

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``mqtts://`` (None for plain ``mqtt://``)."""
        if not self.url.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"TLS files: {exc}") from exc
        return ctx


@dataclass
class MqttStats:
    """Counters of one transport (for the live view and benchmarks)."""

    connects: int = 0
    disconnects: int = 0
    received: int = 0
    duplicates_dropped: int = 0
    published: int = 0
    acked: int = 0
    last_error: str = ""
    connected_at: list[float] = field(default_factory=list)


class _Peek(msgspec.Struct):
    id: str = ""
    kind: str = ""


class _EnvelopePeek(msgspec.Struct):
    payload: str = ""


_peek_envelope = msgspec.json.Decoder(_EnvelopePeek)
_peek_statement = msgspec.json.Decoder(_Peek)


def peek(envelope: bytes) -> tuple[str, str]:
    """The (message id, kind) an envelope *claims*, unverified; for keys and logs only.

    Unreadable envelopes get ``sha256:<hex of the bytes>`` and an empty kind, so that even
    garbage has a stable inbox key and reaches the centre, which logs why it refused it.
    """
    try:
        inner = base64.b64decode(_peek_envelope.decode(envelope).payload, validate=True)
        found = _peek_statement.decode(inner)
    except (msgspec.DecodeError, ValueError):
        found = _Peek()
    if found.id and len(found.id) <= 64:
        return found.id, found.kind[:120]
    return "sha256:" + hashlib.sha256(envelope).hexdigest(), ""


@dataclass(frozen=True, slots=True)
class _Pending:
    """An MQTT message not yet acknowledged to the broker."""

    generation: int
    mid: int
    qos: int


@dataclass(slots=True)
class _Queued:
    """A transmission waiting for the broker, without a store."""

    topic: str
    envelope: bytes


class MqttTransport:
    """One centre's connection to an MQTT broker (see the module docstring).

    Args:
        settings: broker, identity and tuning.
        store: the durable inbox/outbox; without it, messages are acknowledged to the broker
            at :meth:`settle` and transmissions are queued in memory.
        now: the node's clock (simulated time), for the store's timestamps.
        rng: randomness for the backoff jitter.
        on_state: called with ``"connected"`` / ``"disconnected"`` (a live view).
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        store: Store | None = None,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.centre = settings.centre
        self.store = store
        self._now = now
        self._rng = rng or random.Random()
        self._on_state = on_state
        self.stats = MqttStats()
        self.log = structlog.get_logger("nrrc.mqtt").bind(centre=self.centre)
        self._deliveries: asyncio.Queue[Delivery] = asyncio.Queue()
        self._pending: dict[int, _Pending] = {}
        self._keys: dict[int, tuple[str, str]] = {}
        self._memory_outbox: list[_Queued] = []
        self._client: aiomqtt.Client | None = None
        self._generation = 0
        self._connected = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        self._closed = False
        self._runner: asyncio.Task[None] | None = None
        self._tls = settings.tls_context()
        self._subscriptions = subscriptions(self.centre, settings.regimes)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Hand back what the store holds unprocessed, then connect (in the background)."""
        if self.store is not None:
            for entry in self.store.unprocessed():
                delivery = Delivery(entry.envelope, entry.sender, entry.channel)
                self._keys[id(delivery)] = (entry.sender, entry.message_id)
                self._deliver(delivery)
            if self.store.unpublished(limit=1):
                self._outbox_ready.set()
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.centre}")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the transport is connected and subscribed."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    @property
    def connected(self) -> bool:
        """Whether the transport is connected now."""
        return self._connected.is_set()

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def __aenter__(self) -> MqttTransport:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the Transport protocol -----------------------------------------------------------

    async def send(self, to: str, envelope: bytes, *, attempt: int = 1) -> None:
        """Queue ``envelope`` for ``to`` (a centre id or a regime id).

        With a store the transmission is durable on return. Returning says nothing about
        delivery: only the recipient's signed acknowledgement does.
        """
        self.stage(to, envelope, attempt=attempt)
        self.kick()

    def stage(
        self,
        to: str,
        envelope: bytes,
        *,
        attempt: int = 1,
        message_id: str | None = None,
        kind: str | None = None,
    ) -> None:
        """Write a transmission to the outbox without waking the publisher.

        Called inside the driver's :meth:`Store.transaction`, the transmission commits with the
        centre state that decided it; :meth:`kick` after the commit publishes it.
        """
        topic = str(Topic.for_recipient(self.centre, to))
        if self.store is None:
            self._memory_outbox.append(_Queued(topic, envelope))
            return
        if message_id is None or kind is None:
            message_id, kind = peek(envelope)
        self.store.enqueue(
            message_id=message_id,
            kind=kind,
            recipient=to,
            topic=topic,
            envelope=envelope,
            attempt=attempt,
            queued_at=self._timestamp(),
        )

    def kick(self) -> None:
        """Wake the publisher: committed transmissions are waiting."""
        self._outbox_ready.set()

    async def receive(self) -> Delivery:
        """The next envelope addressed to this centre or one of its regimes."""
        return await self._deliveries.get()

    def receive_nowait(self) -> Delivery | None:
        """The next envelope if one is waiting, else None (for batching)."""
        try:
            return self._deliveries.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def inbox_key(self, delivery: Delivery) -> tuple[str, str] | None:
        """The store's ``(sender, message id)`` of a delivery still to be marked processed."""
        return self._keys.get(id(delivery))

    async def settle(self, delivery: Delivery) -> None:
        """The driver has made ``delivery``'s outcome durable: finish it at the transport.

        With a store, the inbox entry is marked processed (unless the driver already did so in
        its own transaction and called :meth:`forget`). Without one, the broker gets its PUBACK.
        """
        key = self._keys.pop(id(delivery), None)
        if key is not None and self.store is not None:
            self.store.mark_processed([key])
        pending = self._pending.pop(id(delivery), None)
        if pending is not None:
            self._ack(pending)

    def forget(self, delivery: Delivery) -> None:
        """Drop the inbox key of ``delivery`` (the driver marked it processed itself)."""
        self._keys.pop(id(delivery), None)

    # -- connection -----------------------------------------------------------------------

    def _timestamp(self) -> datetime:
        if self._now is None:
            raise TransportError("the MQTT transport needs a clock when it has a store")
        return self._now()

    def _client_for_connection(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.url.host,
            s.url.port,
            username=None if s.cert_file else s.centre,
            password=s.password,
            identifier=s.client_id or s.centre,
            clean_session=False,
            protocol=aiomqtt.ProtocolVersion.V311,
            keepalive=s.keepalive,
            timeout=s.timeout,
            tls_context=self._tls,
            max_inflight_messages=max(20, s.publish_window),
        )
        # DESIGN.md pitfall 1: acknowledge only after the durable write.
        client._client.manual_ack_set(True)
        # Publishing a window of transmissions at once is intended, not a leak.
        client.pending_calls_threshold = s.publish_window + 16
        return client

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            client = self._client_for_connection()
            try:
                async with client:
                    self._generation += 1
                    self._client = client
                    await client.subscribe([(f, 1) for f in self._subscriptions])
                    attempt = 0
                    self.stats.connects += 1
                    self._connected.set()
                    self.log.info("mqtt.connected", broker=str(self.settings.url))
                    if self._on_state is not None:
                        self._on_state("connected")
                    publisher = asyncio.create_task(self._publish_loop(client))
                    try:
                        await self._read_loop(client)
                    finally:
                        publisher.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await publisher
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
            finally:
                # Unacknowledged messages of this connection are redelivered on the next one;
                # their packet ids must not be acknowledged there (see _ack).
                self._client = None
                if self._connected.is_set():
                    self._connected.clear()
                    self.stats.disconnects += 1
                    if self._on_state is not None:
                        self._on_state("disconnected")
            if self._closed:
                break
            delay = min(self.settings.backoff_max, self.settings.backoff_initial * 2**attempt)
            delay *= self._rng.uniform(0.5, 1.5)
            attempt = min(attempt + 1, 16)
            self.log.warning(
                "mqtt.disconnected", error=self.stats.last_error, retry_in=round(delay, 3)
            )
            await asyncio.sleep(delay)

    # -- receiving ------------------------------------------------------------------------

    async def _read_loop(self, client: aiomqtt.Client) -> None:
        messages = aiter(client.messages)
        while True:
            batch = [await anext(messages)]
            while len(client.messages) > 0 and len(batch) < 256:
                batch.append(await anext(messages))
            self._accept_batch(client, batch)

    def _accept_batch(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        generation = self._generation
        ready: list[tuple[Delivery, aiomqtt.Message, tuple[str, str] | None, bool]] = []
        store = self.store
        with store.transaction() if store is not None else contextlib.nullcontext():
            for message in batch:
                self.stats.received += 1
                try:
                    topic = Topic.parse(str(message.topic))
                except TopicError as exc:
                    self.log.warning(
                        "mqtt.unexpected-topic", topic=str(message.topic), error=str(exc)
                    )
                    ready.append((Delivery(b""), message, None, False))
                    continue
                if topic.channel is Channel.REGIME and topic.sender == self.centre:
                    ready.append((Delivery(b""), message, None, False))  # our own copy
                    continue
                payload = message.payload
                envelope = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
                delivery = Delivery(envelope, origin=topic.sender, channel=topic.to)
                key: tuple[str, str] | None = None
                keep = True
                if store is not None:
                    message_id, _ = peek(envelope)
                    outcome = store.accept(
                        sender=topic.sender,
                        message_id=message_id,
                        channel=topic.to,
                        envelope=envelope,
                        received_at=self._timestamp(),
                    )
                    if outcome is Accepted.NEW:
                        key = (topic.sender, message_id)
                    elif outcome is Accepted.QUEUED:
                        keep = False
                        self.stats.duplicates_dropped += 1
                ready.append((delivery, message, key, keep))
        # Durable now (or no store): acknowledge in order, then hand over.
        for delivery, message, key, keep in ready:
            pending = _Pending(generation, message.mid, message.qos)
            if store is not None or not keep:
                self._ack(pending)
            else:
                self._pending[id(delivery)] = pending
            if keep:
                if key is not None:
                    self._keys[id(delivery)] = key
                self._deliver(delivery)

    def _deliver(self, delivery: Delivery) -> None:
        self._deliveries.put_nowait(delivery)

    def _ack(self, pending: _Pending) -> None:
        client = self._client
        if pending.qos == 0 or client is None or pending.generation != self._generation:
            return
        client._client.ack(pending.mid, pending.qos)
        self.stats.acked += 1

    # -- publishing -----------------------------------------------------------------------

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        window = self.settings.publish_window
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while True:
                try:
                    if not await self._publish_window(client, window):
                        break
                except aiomqtt.MqttError as exc:
                    # A PUBACK that never came on a live connection: keep the entries and try
                    # again; a dead connection ends the read loop, which cancels this task.
                    self.log.warning("mqtt.publish-retry", error=str(exc))
                    await asyncio.sleep(self.settings.backoff_initial)

    async def _publish_window(self, client: aiomqtt.Client, window: int) -> bool:
        """Publish up to ``window`` waiting transmissions; False when there were none."""
        if self.store is not None:
            entries = self.store.unpublished(limit=window)
            if not entries:
                return False
            await self._publish_all(client, [(e.topic, e.envelope) for e in entries])
            self.store.mark_published([e.position for e in entries], self._timestamp())
            self.stats.published += len(entries)
            return True
        batch = self._memory_outbox[:window]
        if not batch:
            return False
        await self._publish_all(client, [(q.topic, q.envelope) for q in batch])
        del self._memory_outbox[: len(batch)]
        self.stats.published += len(batch)
        return True

    async def _publish_all(
        self, client: aiomqtt.Client, items: Iterable[tuple[str, bytes]]
    ) -> None:
        """Publish with QoS 1 and wait for every PUBACK (raises MqttError on disconnection)."""
        calls: list[Any] = [client.publish(topic, envelope, qos=1) for topic, envelope in items]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
