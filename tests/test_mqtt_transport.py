"""The aiomqtt transport against a real Mosquitto: QoS 1, persistent sessions, manual
acknowledgement after the durable write, durable outbox, regime channels, reconnection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mqtt_support import Mosquitto, current_user, free_port, require_mosquitto

from nrrc.broker import Membership, read_password, write_mosquitto_configs
from nrrc.centre import Delivery
from nrrc.errors import TransportError
from nrrc.store import Store
from nrrc.transport import Transport
from nrrc.transport.mqtt import BrokerURL, MqttSettings, MqttTransport, peek

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MEMBERS = Membership({"US": frozenset({"hcoc"}), "RU": frozenset({"hcoc"}), "CN": frozenset()})


class Rig:
    """A Mosquitto with the generated single-broker configuration, and transports on it."""

    def __init__(self, tmp_path: Path) -> None:
        require_mosquitto()
        self.tmp = tmp_path
        self.port = free_port()
        self.layout = write_mosquitto_configs(
            tmp_path / "brokers",
            MEMBERS,
            now=NOW,
            port=self.port,
            run_as=current_user(),
            autosave_interval=1,
        )
        self.broker = Mosquitto(self.layout.single_conf, self.port, tmp_path / "mosquitto.log")

    def settings(self, centre: str) -> MqttSettings:
        return MqttSettings(
            url=BrokerURL.parse(f"mqtt://127.0.0.1:{self.port}"),
            centre=centre,
            regimes=MEMBERS.regimes[centre],
            password=read_password(self.layout.passwords[centre]),
            backoff_initial=0.05,
            backoff_max=0.5,
        )

    @asynccontextmanager
    async def transport(self, centre: str, *, durable: bool = True) -> AsyncIterator[MqttTransport]:
        store = Store(self.tmp / f"{centre}.sqlite") if durable else None
        transport = MqttTransport(self.settings(centre), store=store, now=lambda: NOW)
        await transport.start()
        try:
            yield transport
        finally:
            await transport.close()
            if store is not None:
                store.close()


def run(tmp_path: Path, body: Callable[[Rig], Awaitable[None]], timeout: float = 30) -> None:
    rig = Rig(tmp_path)
    rig.broker.start()
    try:

        async def bounded() -> None:
            async with asyncio.timeout(timeout):
                await body(rig)

        asyncio.run(bounded())
    finally:
        rig.broker.stop()


async def next_delivery(t: MqttTransport, timeout: float = 5) -> Delivery:
    async with asyncio.timeout(timeout):
        return await t.receive()


async def nothing_arrives(t: MqttTransport, seconds: float = 0.5) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await t.receive()
    except TimeoutError:
        return True
    return False


def test_mqtt_transport_implements_the_transport_protocol(tmp_path: Path) -> None:
    """The centre's drivers can use it wherever they use the in-memory transport."""
    settings = MqttSettings(url=BrokerURL.parse("mqtt://127.0.0.1:1"), centre="US")

    async def build() -> MqttTransport:
        return MqttTransport(settings)

    assert isinstance(asyncio.run(build()), Transport)


def test_link_message_arrives_with_its_vouched_origin(tmp_path: Path) -> None:
    """RU's envelope to US arrives with origin RU (the ACL-bound topic sender), channel US."""

    async def body(rig: Rig) -> None:
        async with rig.transport("US") as us, rig.transport("RU") as ru:
            await us.wait_connected(5)
            await ru.send("US", b"envelope-1")
            got = await next_delivery(us)
            assert (got.envelope, got.origin, got.channel) == (b"envelope-1", "RU", "US")
            assert us.store is not None and us.store.inbox_count() == 1

    run(tmp_path, body)


def test_regime_broadcast_reaches_members_but_not_the_sender(tmp_path: Path) -> None:
    """A regime message reaches every other member; the sender's own copy is dropped."""

    async def body(rig: Rig) -> None:
        async with rig.transport("US") as us, rig.transport("RU") as ru:
            await asyncio.gather(us.wait_connected(5), ru.wait_connected(5))
            await us.send("hcoc", b"pre-launch")
            got = await next_delivery(ru)
            assert (got.origin, got.channel) == ("US", "hcoc")
            assert await nothing_arrives(us)

    run(tmp_path, body)


def test_unsettled_message_is_redelivered_without_a_store(tmp_path: Path) -> None:
    """Without a store the PUBACK waits for settle(): a node that dies first gets it again."""

    async def body(rig: Rig) -> None:
        async with rig.transport("US", durable=False) as us:
            await us.wait_connected(5)
        async with rig.transport("RU", durable=False) as ru:
            await ru.wait_connected(5)
            await ru.send("US", b"must not be lost")
            await asyncio.sleep(0.3)
        async with rig.transport("US", durable=False) as us:
            first = await next_delivery(us)
            # crash: never settled
        async with rig.transport("US", durable=False) as us:
            again = await next_delivery(us)
            await us.settle(again)
        assert first.envelope == again.envelope == b"must not be lost"

    run(tmp_path, body)


def test_stored_message_survives_a_crash_before_processing(tmp_path: Path) -> None:
    """With a store the PUBACK follows the durable write; the restarted node gets it from disk."""

    async def body(rig: Rig) -> None:
        async with rig.transport("US") as us:
            await us.wait_connected(5)
            async with rig.transport("RU") as ru:
                await ru.send("US", b"kept on disk")
                await next_delivery(us)  # then the node dies before processing it
        async with rig.transport("US") as us:
            got = await next_delivery(us, timeout=1)
            assert got.envelope == b"kept on disk"
            await us.settle(got)
            assert us.store is not None and us.store.unprocessed() == []
        async with rig.transport("US") as us:
            await us.wait_connected(5)
            assert await nothing_arrives(us)

    run(tmp_path, body)


def test_outbox_holds_sends_while_the_broker_is_down(tmp_path: Path) -> None:
    """Transmissions queued with no broker are published once it is back (reconnection)."""

    async def body(rig: Rig) -> None:
        async with rig.transport("US") as us:
            await us.wait_connected(5)
            rig.broker.stop()
            async with rig.transport("RU") as ru:
                await ru.send("US", b"sent during the outage")
                assert ru.store is not None and ru.store.outbox_counts() == (1, 0)
                rig.broker.start()
                got = await next_delivery(us, timeout=10)
                assert got.envelope == b"sent during the outage"
                assert us.stats.connects >= 2
                for _ in range(50):
                    if ru.store.outbox_counts() == (0, 1):
                        break
                    await asyncio.sleep(0.1)
                assert ru.store.outbox_counts() == (0, 1)

    run(tmp_path, body)


def test_identical_redelivery_of_an_unprocessed_message_is_dropped(tmp_path: Path) -> None:
    """Two identical copies of one unprocessed message reach the centre once."""

    async def body(rig: Rig) -> None:
        envelope = b'{"payload":"' + b"eyJpZCI6InRlc3QtaWQiLCJraW5kIjoiayJ9" + b'"}'
        async with rig.transport("US") as us, rig.transport("RU") as ru:
            await us.wait_connected(5)
            await ru.send("US", envelope)
            await ru.send("US", envelope)
            await next_delivery(us)
            assert await nothing_arrives(us)
            assert us.stats.duplicates_dropped == 1

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://127.0.0.1:1884", ("mqtt", "127.0.0.1", 1884)),
        ("mqtt://broker.example", ("mqtt", "broker.example", 1883)),
        ("mqtts://broker.example", ("mqtts", "broker.example", 8883)),
    ],
    ids=["explicit-port", "default-port", "tls-default-port"],
)
def test_broker_url_parses(text: str, expected: tuple[str, str, int]) -> None:
    """mqtt:// and mqtts:// URLs give scheme, host and port (with defaults)."""
    url = BrokerURL.parse(text)
    assert (url.scheme, url.host, url.port) == expected


@pytest.mark.parametrize(
    "text",
    ["http://host:1883", "mqtt://US:secret@host:1883", "mqtt://", "mqtt://host:99999", "host"],
    ids=["wrong-scheme", "credentials", "no-host", "bad-port", "no-scheme"],
)
def test_broker_url_rejects_bad_input(text: str) -> None:
    """A bad URL is one clear error naming the option; credentials in it are refused."""
    with pytest.raises(TransportError, match="--broker"):
        BrokerURL.parse(text)


def test_peek_reads_the_claimed_id_and_kind(types: object) -> None:
    """peek() reads the id and kind a well-formed envelope claims, without verifying."""
    envelope = b'{"payload":"eyJpZCI6ImFiYyIsImtpbmQiOiJjb3JlLmFjayJ9","signatures":[]}'
    assert peek(envelope) == ("abc", "core.ack")


def test_peek_gives_garbage_a_stable_key() -> None:
    """Unreadable bytes get a content hash as their key, so they still reach the centre."""
    first, second = peek(b"\xff garbage"), peek(b"\xff garbage")
    assert first == second and first[0].startswith("sha256:")


def test_transport_over_tls_with_client_certificates(tmp_path: Path) -> None:
    """mqtts:// with a client certificate: the certificate is the identity, no password."""
    require_mosquitto()
    port = free_port()
    layout = write_mosquitto_configs(
        tmp_path / "brokers", MEMBERS, now=NOW, tls_port=port, run_as=current_user()
    )
    certs = layout.certs

    def settings(centre: str) -> MqttSettings:
        return MqttSettings(
            url=BrokerURL.parse(f"mqtts://127.0.0.1:{port}"),
            centre=centre,
            ca_file=certs / "ca.crt",
            cert_file=certs / f"{centre}.crt",
            key_file=certs / f"{centre}.key",
        )

    async def body() -> None:
        async with asyncio.timeout(30):
            us = MqttTransport(settings("US"), store=Store(tmp_path / "US.sqlite"), now=lambda: NOW)
            ru = MqttTransport(settings("RU"), store=Store(tmp_path / "RU.sqlite"), now=lambda: NOW)
            await us.start()
            await ru.start()
            try:
                await us.wait_connected(10)
                await ru.send("US", b"over TLS")
                got = await next_delivery(us)
                assert (got.envelope, got.origin) == (b"over TLS", "RU")
            finally:
                await us.close()
                await ru.close()

    broker = Mosquitto(layout.tls_conf, port, tmp_path / "mosquitto.log").start()
    try:
        asyncio.run(body())
    finally:
        broker.stop()
