"""Broker set-ups against real brokers: Mosquitto (password + ACL, TLS, federated) and amqtt.

Every test starts its own broker(s) on free loopback ports with configurations generated in
tmp_path, bounds its run time, and stops what it started.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
from mqtt_support import (
    Mosquitto,
    current_user,
    free_port,
    free_port_block,
    mosquitto_pub,
    require_mosquitto,
    running,
)

from nrrc.broker import (
    BrokerLayout,
    EmbeddedBroker,
    Membership,
    generate_passwords,
    read_password,
    write_mosquitto_configs,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MEMBERS = Membership(
    {
        "US": frozenset({"hcoc"}),
        "RU": frozenset({"hcoc"}),
        "CN": frozenset(),
    }
)


def _layout(tmp_path: Path) -> tuple[BrokerLayout, int, int, int]:
    port, tls_port, base = free_port(), free_port(), free_port_block(2 * len(MEMBERS.centres))
    layout = write_mosquitto_configs(
        tmp_path / "brokers",
        MEMBERS,
        now=NOW,
        port=port,
        tls_port=tls_port,
        federated_base_port=base,
        run_as=current_user(),
        autosave_interval=1,
    )
    return layout, port, tls_port, base


def _run(coro: Awaitable[object], timeout: float = 20.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


async def _collect(client: aiomqtt.Client, seconds: float) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    try:
        async with asyncio.timeout(seconds):
            async for m in client.messages:
                got.append((str(m.topic), bytes(m.payload)))  # type: ignore[arg-type]
    except TimeoutError:
        pass
    return got


def _client(port: int, layout: BrokerLayout, centre: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=centre,
        password=read_password(layout.passwords[centre]),
        identifier=centre,
        **kw,  # type: ignore[arg-type]
    )


def test_mosquitto_refuses_a_centre_publishing_as_another(tmp_path: Path) -> None:
    """CN publishing on RU's link to US is dropped by the ACL; RU's own publish arrives."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    with running(layout.single_conf, port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            async with _client(port, layout, "US") as us:
                await us.subscribe("nrrc/v1/link/+/US", qos=1)
                forged = mosquitto_pub(
                    port,
                    "nrrc/v1/link/RU/US",
                    b"forged by CN",
                    user="CN",
                    password=read_password(layout.passwords["CN"]),
                )
                # MQTT 3.1.1 cannot say no: the denied publish looks successful.
                assert forged.returncode == 0, forged.stderr
                genuine = mosquitto_pub(
                    port,
                    "nrrc/v1/link/RU/US",
                    b"from RU",
                    user="RU",
                    password=read_password(layout.passwords["RU"]),
                )
                assert genuine.returncode == 0, genuine.stderr
                got = await _collect(us, 1.5)
            assert got == [("nrrc/v1/link/RU/US", b"from RU")]

        _run(scenario())


def test_mosquitto_refuses_anonymous_and_wrong_passwords(tmp_path: Path) -> None:
    """No anonymous access; a wrong password is refused."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    with running(layout.single_conf, port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client("127.0.0.1", port, identifier="anon"):
                    pass
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client(
                    "127.0.0.1", port, username="US", password="wrong", identifier="US"
                ):
                    pass

        _run(scenario())


def test_mosquitto_keeps_messages_for_an_offline_persistent_session(tmp_path: Path) -> None:
    """With a stable client id and clean session off, messages sent while offline arrive."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    with running(layout.single_conf, port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            async with _client(port, layout, "US", clean_session=False) as us:
                await us.subscribe("nrrc/v1/link/+/US", qos=1)
            async with _client(port, layout, "RU", clean_session=False) as ru:
                await ru.publish("nrrc/v1/link/RU/US", b"while you were away", qos=1)
            async with _client(port, layout, "US", clean_session=False) as us:
                got = await _collect(us, 1.5)
            assert got == [("nrrc/v1/link/RU/US", b"while you were away")]

        _run(scenario())


def test_mosquitto_regime_channel_reaches_members_only(tmp_path: Path) -> None:
    """A regime broadcast reaches its members; a non-member cannot subscribe to it."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    with running(layout.single_conf, port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            async with _client(port, layout, "RU") as ru, _client(port, layout, "CN") as cn:
                await ru.subscribe("nrrc/v1/regime/hcoc/+", qos=1)
                await cn.subscribe("nrrc/v1/regime/hcoc/+", qos=1)
                async with _client(port, layout, "US") as us:
                    await us.publish("nrrc/v1/regime/hcoc/US", b"pre-launch", qos=1)
                got_ru, got_cn = await asyncio.gather(_collect(ru, 1.5), _collect(cn, 1.5))
            assert got_ru == [("nrrc/v1/regime/hcoc/US", b"pre-launch")]
            assert got_cn == []

        _run(scenario())


def test_mosquitto_tls_client_certificate_is_the_identity(tmp_path: Path) -> None:
    """Over TLS the certificate's common name is the user: US may publish as US, not as RU."""
    require_mosquitto()
    layout, _, tls_port, _ = _layout(tmp_path)
    certs = layout.certs

    def context(centre: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        ctx.load_cert_chain(str(certs / f"{centre}.crt"), str(certs / f"{centre}.key"))
        return ctx

    with running(layout.tls_conf, tls_port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            async with aiomqtt.Client(
                "127.0.0.1", tls_port, identifier="RU", tls_context=context("RU")
            ) as ru:
                await ru.subscribe("nrrc/v1/link/+/RU", qos=1)
                async with aiomqtt.Client(
                    "127.0.0.1", tls_port, identifier="US", tls_context=context("US")
                ) as us:
                    await us.publish("nrrc/v1/link/US/RU", b"genuine", qos=1)
                    await us.publish("nrrc/v1/link/CN/RU", b"posing as CN", qos=1)
                got = await _collect(ru, 1.5)
            assert got == [("nrrc/v1/link/US/RU", b"genuine")]
            with pytest.raises(aiomqtt.MqttError):
                plain = ssl.create_default_context(cafile=str(certs / "ca.crt"))
                async with aiomqtt.Client("127.0.0.1", tls_port, tls_context=plain, timeout=2):
                    pass

        _run(scenario())


def test_federated_bridges_deliver_links_and_regimes(tmp_path: Path) -> None:
    """One broker per centre, bridged pairwise: links and regime channels cross the bridges."""
    require_mosquitto()
    layout, _, _, _ = _layout(tmp_path)
    ports = layout.federated_ports
    logs = {c: tmp_path / f"fed-{c}.log" for c in ports}

    async def crosses(pub: aiomqtt.Client, topic: str, sub: aiomqtt.Client) -> bool:
        # Bridges connect (and subscribe on the far side) asynchronously: retry for 10 s.
        for i in range(40):
            await pub.publish(topic, b"probe %d" % i, qos=1)
            if any(t == topic for t, _ in await _collect(sub, 0.25)):
                return True
        return False

    with (
        running(layout.federated["CN"], ports["CN"], logs["CN"]),
        running(layout.federated["RU"], ports["RU"], logs["RU"]),
        running(layout.federated["US"], ports["US"], logs["US"]),
    ):

        async def scenario() -> None:
            async with (
                _client(ports["RU"], layout, "RU", clean_session=False) as ru,
                _client(ports["CN"], layout, "CN", clean_session=False) as cn,
                _client(ports["US"], layout, "US") as us,
            ):
                await ru.subscribe("nrrc/v1/link/+/RU", qos=1)
                await ru.subscribe("nrrc/v1/regime/hcoc/+", qos=1)
                await cn.subscribe("nrrc/v1/link/+/CN", qos=1)
                await cn.subscribe("nrrc/v1/regime/hcoc/+", qos=1)  # refused by the ACL
                await us.subscribe("nrrc/v1/link/+/US", qos=1)
                assert await crosses(us, "nrrc/v1/link/US/RU", ru), "US -> RU bridge"
                assert await crosses(us, "nrrc/v1/link/US/CN", cn), "US -> CN bridge"
                assert await crosses(cn, "nrrc/v1/link/CN/US", us), "CN -> US bridge"
                assert await crosses(us, "nrrc/v1/regime/hcoc/US", ru), "hcoc US -> RU"
                # CN is no member of hcoc: neither its broker nor the bridges give it any.
                assert not [t for t, _ in await _collect(cn, 0.5) if "regime" in t]

        _run(scenario(), timeout=60)


def _embedded(tmp_path: Path) -> tuple[EmbeddedBroker, dict[str, str]]:
    passwords = generate_passwords(MEMBERS.centres)
    return EmbeddedBroker(MEMBERS, passwords, directory=tmp_path / "amqtt"), passwords


def _run_embedded(tmp_path: Path, body: Callable[[int, dict[str, str]], Awaitable[None]]) -> None:
    broker, passwords = _embedded(tmp_path)

    async def scenario() -> None:
        async with broker:
            await body(broker.port, passwords)

    _run(scenario())


def test_embedded_broker_refuses_a_centre_publishing_as_another(tmp_path: Path) -> None:
    """The amqtt broker's publish ACL binds the sender segment to the user, like Mosquitto's."""

    async def body(port: int, pw: dict[str, str]) -> None:
        def client(c: str) -> aiomqtt.Client:
            return aiomqtt.Client("127.0.0.1", port, username=c, password=pw[c], identifier=c)

        async with client("US") as us:
            await us.subscribe("nrrc/v1/link/+/US", qos=1)
            async with client("CN") as cn:
                await cn.publish("nrrc/v1/link/RU/US", b"forged by CN", qos=1)
            async with client("RU") as ru:
                await ru.publish("nrrc/v1/link/RU/US", b"from RU", qos=1)
            got = await _collect(us, 1.0)
        assert got == [("nrrc/v1/link/RU/US", b"from RU")]

    _run_embedded(tmp_path, body)


def test_embedded_broker_never_allows_anonymous(tmp_path: Path) -> None:
    """No password, no connection; a wrong password neither."""

    async def body(port: int, pw: dict[str, str]) -> None:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier="anon"):
                pass
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="US", password="x"):
                pass

    _run_embedded(tmp_path, body)


def test_embedded_broker_queues_for_offline_persistent_sessions(tmp_path: Path) -> None:
    """Authenticated persistent sessions get what was published while they were away."""

    async def body(port: int, pw: dict[str, str]) -> None:
        def client(c: str) -> aiomqtt.Client:
            return aiomqtt.Client(
                "127.0.0.1", port, username=c, password=pw[c], identifier=c, clean_session=False
            )

        async with client("US") as us:
            await us.subscribe("nrrc/v1/link/+/US", qos=1)
        async with client("RU") as ru:
            await ru.publish("nrrc/v1/link/RU/US", b"queued", qos=1)
        async with client("US") as us:
            got = await _collect(us, 1.0)
        assert got == [("nrrc/v1/link/RU/US", b"queued")]

    _run_embedded(tmp_path, body)


def test_generated_configs_hold_no_secrets(tmp_path: Path) -> None:
    """Configuration files name secret files by path; passwords appear only under secrets/."""
    layout, _, _, _ = _layout(tmp_path)
    secrets = [read_password(p) for p in layout.passwords.values()]
    confs = [layout.single_conf, layout.tls_conf, layout.acl, *layout.federated.values()]
    for conf in confs:
        text = conf.read_text()
        assert not any(s in text for s in secrets), conf
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in layout.passwords.values())


def test_mosquitto_sessions_survive_a_broker_killed_after_autosave(tmp_path: Path) -> None:
    """With a writable persistence dir and a short autosave, a SIGKILLed broker keeps sessions."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    broker = Mosquitto(layout.single_conf, port, tmp_path / "mosquitto.log")
    try:
        broker.start()

        async def subscribe() -> None:
            async with _client(port, layout, "US", clean_session=False) as us:
                await us.subscribe("nrrc/v1/link/+/US", qos=1)

        _run(subscribe())
        time.sleep(2.2)  # autosave_interval is 1 s
        broker.kill()
        broker.start()

        async def deliver() -> None:
            async with _client(port, layout, "RU") as ru:
                await ru.publish("nrrc/v1/link/RU/US", b"after the crash", qos=1)
            async with _client(port, layout, "US", clean_session=False) as us:
                got = await _collect(us, 1.0)
            assert got == [("nrrc/v1/link/RU/US", b"after the crash")]

        _run(deliver())
    finally:
        broker.stop()


def test_committed_broker_configs_match_the_generator(tmp_path: Path) -> None:
    """brokers/ holds exactly what `nrrc brokers generate` writes for p5 (minus secrets)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "brokers"
    args = [
        *("p5", str(out), "--config-root", "/nrrc/brokers", "--data-root", "/mosquitto/data"),
        *("--bind", "", "--no-secrets", "--federated-host", "broker-{id}"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", "from nrrc.cli import main; main()", "brokers", "generate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    generated = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert generated, "nothing generated"
    for rel in generated:
        assert (repo / "brokers" / rel).read_text() == (out / rel).read_text(), rel


def test_mosquitto_drops_overflow_silently_so_the_queue_is_sized(tmp_path: Path) -> None:
    """Pitfall 4: beyond max_queued_messages an offline client's messages vanish without a
    word; generated configurations size the queue for the scenario (at least 100 000)."""
    require_mosquitto()
    layout, port, _, _ = _layout(tmp_path)
    assert "max_queued_messages 100000" in layout.single_conf.read_text()
    small = tmp_path / "small.conf"
    small.write_text(
        layout.single_conf.read_text().replace(
            "max_queued_messages 100000", "max_queued_messages 5"
        )
    )
    with running(small, port, tmp_path / "mosquitto.log"):

        async def scenario() -> None:
            async with _client(port, layout, "US", clean_session=False) as us:
                await us.subscribe("nrrc/v1/link/+/US", qos=1)
            async with _client(port, layout, "RU") as ru:
                for i in range(20):
                    await ru.publish("nrrc/v1/link/RU/US", b"%d" % i, qos=1)
            async with _client(port, layout, "US", clean_session=False) as us:
                got = await _collect(us, 1.0)
            assert len(got) == 5

        _run(scenario())
