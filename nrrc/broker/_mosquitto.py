"""Mosquitto configurations for any set of centres: one broker, TLS, or federated.

``write_mosquitto_configs`` writes this tree (``ROOT`` is ``config_root``, the directory as the
broker will see it; in compose it is mounted at ``/nrrc/brokers``)::

    single/mosquitto.conf      (a) one broker, a password per centre, pattern ACL
    single/acl                 the ACL every set-up shares (no secrets in it)
    tls/mosquitto.conf         (b) the same over TLS, client certificates, identity = user name
    federated/<C>/mosquitto.conf  (c) one broker per centre, bridged pairwise over TLS
    secrets/passwd             Mosquitto password hashes of every centre
    secrets/<C>.password       each centre's clear password (mode 0600), for its node only
    secrets/certs/             CA, server and per-centre client certificates and keys

``outsiders`` (e.g. ``ZZ``, who injects the scenario's hostile envelopes in a live run) get a
password and a client certificate too, so they can reach the single and TLS brokers, but no
federated broker of their own; the ACL lets them publish only as themselves.

Only ``secrets/`` holds secrets; the configuration files name them by path, so they can be kept
in version control and the secrets generated where the brokers run.

Why these settings (see DESIGN.md, pitfalls 4 and 5): ``persistence`` with a short
``autosave_interval`` so that a killed broker loses at most a few seconds of queued messages
(the nodes' outboxes resend anything unacknowledged in any case); ``max_queued_messages`` sized
for the scenario, because Mosquitto drops overflow silently; ``use_username_as_clientid`` so a
client cannot take over another centre's session by borrowing its client id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nrrc.broker._certs import write_certificates
from nrrc.broker._secrets import generate_passwords, mosquitto_password_file, write_password
from nrrc.errors import NrrcError
from nrrc.transport.topics import PREFIX, TopicError, check_centre, check_regime

__all__ = [
    "BrokerConfigError",
    "BrokerLayout",
    "Membership",
    "acl_text",
    "federated_conf",
    "single_conf",
    "tls_conf",
    "write_mosquitto_configs",
]

DEFAULT_MAX_QUEUED = 100_000
"""Messages Mosquitto may queue per offline client (its default, 1000, is too small for a
145-centre regime broadcast during an outage)."""


class BrokerConfigError(NrrcError):
    """A value for a generated Mosquitto configuration is invalid; ``parameter`` names it (as
    :func:`write_mosquitto_configs` calls it), ``detail`` says what was expected and found."""

    def __init__(self, parameter: str, detail: str) -> None:
        self.parameter = parameter
        self.detail = detail
        super().__init__(f"{parameter}: {detail}")


_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
"""A plain POSIX account name, as ``useradd`` accepts by default (at most 32 characters)."""


def _check_port(parameter: str, value: int, *, last: int | None = None) -> None:
    """``value`` (and ``last``, the end of a range starting there) is a TCP port number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise BrokerConfigError(
            parameter, f"expected a port number from 1 to 65535, found {value!r}"
        )
    if last is not None and last > 65535:
        raise BrokerConfigError(
            parameter,
            f"expected a first port that leaves room for the {last - value + 1} ports of the "
            f"federation (at most {65535 - (last - value)}), found {value}",
        )


def _check_line_text(parameter: str, value: str, *, spaces: bool = True) -> None:
    """``value`` is written into a configuration line: a newline or any other control
    character would end the line and start another option of the attacker's choosing."""
    if not value.isprintable() or (not spaces and any(c.isspace() for c in value)):
        kind = "printable characters" + ("" if spaces else " without spaces")
        raise BrokerConfigError(
            parameter, f"expected {kind} (it is written into mosquitto.conf), found {value!r}"
        )


def _check_options(
    *,
    root: str,
    root_parameter: str,
    data: str,
    bind: str,
    port: int,
    tls_port: int,
    federated_hosts: Mapping[str, str],
    federated_base_port: int,
    centres: int,
    max_queued: int,
    autosave_interval: int,
    run_as: str | None,
) -> None:
    """Every value :func:`write_mosquitto_configs` writes into a file, checked before it
    writes anything."""
    _check_line_text(root_parameter, root)
    _check_line_text("data_root", data)
    _check_line_text("bind", bind, spaces=False)
    for host in federated_hosts.values():
        _check_line_text("federated_hosts", host, spaces=False)
        if not host:
            raise BrokerConfigError("federated_hosts", "expected a host name, found ''")
    _check_port("port", port)
    _check_port("tls_port", tls_port)
    _check_port(
        "federated_base_port", federated_base_port, last=federated_base_port + 2 * centres - 1
    )
    for parameter, value in (("max_queued", max_queued), ("autosave_interval", autosave_interval)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BrokerConfigError(parameter, f"expected a whole number >= 0, found {value!r}")
    if run_as is not None and not _USER.fullmatch(run_as):
        raise BrokerConfigError(
            "run_as",
            "expected a user name (lowercase letters, digits, '_' and '-', starting with a "
            f"letter or '_', at most 32 characters), found {run_as!r}",
        )


@dataclass(frozen=True)
class Membership:
    """Which centres exist and which regime channels each belongs to."""

    regimes: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        for centre, regimes in self.regimes.items():
            check_centre(centre)
            for r in regimes:
                check_regime(r)

    @property
    def centres(self) -> list[str]:
        """Every centre id, sorted."""
        return sorted(self.regimes)

    def common(self, a: str, b: str) -> list[str]:
        """Regimes both ``a`` and ``b`` belong to, sorted."""
        return sorted(self.regimes[a] & self.regimes[b])


def acl_text(membership: Membership) -> str:
    """Mosquitto ACL: each centre publishes only as itself and reads only what is addressed to it.

    ``%u`` is the authenticated user name: the centre id (password or certificate identity).
    """
    lines = [
        "# nrrc topic ACL (generated by `nrrc brokers generate`).",
        "# A centre may publish only on topics that name it as the sender, and read only",
        "# its own inbound links and the channels of the regimes it belongs to.",
        f"pattern write {PREFIX}/link/%u/+",
        f"pattern read {PREFIX}/link/+/%u",
        f"pattern write {PREFIX}/regime/+/%u",
        "",
    ]
    for centre in membership.centres:
        regimes = sorted(membership.regimes[centre])
        if not regimes:
            continue
        lines.append(f"user {centre}")
        lines += [f"topic read {PREFIX}/regime/{r}/+" for r in regimes]
        lines.append("")
    return "\n".join(lines)


def _common(
    *,
    persistence_dir: str,
    max_queued: int,
    autosave_interval: int,
    run_as: str | None,
    log_dest: str,
) -> list[str]:
    lines = [
        "per_listener_settings false",
        "allow_anonymous false",
        "persistence true",
        f"persistence_location {persistence_dir.rstrip('/')}/",
        f"autosave_interval {autosave_interval}",
        f"max_queued_messages {max_queued}",
        "max_queued_bytes 0",
        "max_inflight_messages 100",
        "persistent_client_expiration 30d",
        "connection_messages true",
        f"log_dest {log_dest}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if run_as is not None:
        lines.insert(0, f"user {run_as}")
    return lines


def single_conf(
    *,
    port: int,
    password_file: str,
    acl_file: str,
    persistence_dir: str,
    bind: str = "127.0.0.1",
    max_queued: int = DEFAULT_MAX_QUEUED,
    autosave_interval: int = 5,
    run_as: str | None = None,
    log_dest: str = "stderr",
) -> str:
    """(a) One broker: a password per centre, the pattern ACL, persistent sessions."""
    lines = [
        "# nrrc (a): one broker, one password per centre, pattern ACL.",
        *_common(
            persistence_dir=persistence_dir,
            max_queued=max_queued,
            autosave_interval=autosave_interval,
            run_as=run_as,
            log_dest=log_dest,
        ),
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "",
        f"listener {port} {bind}".rstrip(),
        "use_username_as_clientid true",
    ]
    return "\n".join(lines) + "\n"


def tls_conf(
    *,
    port: int,
    certs_dir: str,
    acl_file: str,
    persistence_dir: str,
    bind: str = "127.0.0.1",
    max_queued: int = DEFAULT_MAX_QUEUED,
    autosave_interval: int = 5,
    run_as: str | None = None,
    log_dest: str = "stderr",
) -> str:
    """(b) One broker over TLS: client certificates, the certificate's CN as the user name."""
    c = certs_dir.rstrip("/")
    lines = [
        "# nrrc (b): one broker over TLS; a client certificate per centre, its common name",
        "# is the user name (use_identity_as_username), the same pattern ACL applies.",
        *_common(
            persistence_dir=persistence_dir,
            max_queued=max_queued,
            autosave_interval=autosave_interval,
            run_as=run_as,
            log_dest=log_dest,
        ),
        f"acl_file {acl_file}",
        "",
        f"listener {port} {bind}".rstrip(),
        f"cafile {c}/ca.crt",
        f"certfile {c}/server.crt",
        f"keyfile {c}/server.key",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "tls_version tlsv1.2",
    ]
    return "\n".join(lines) + "\n"


def federated_conf(
    centre: str,
    membership: Membership,
    *,
    local_port: int,
    bridge_port: int,
    peer_addresses: Mapping[str, str],
    password_file: str,
    acl_file: str,
    certs_dir: str,
    persistence_dir: str,
    bind: str = "127.0.0.1",
    max_queued: int = DEFAULT_MAX_QUEUED,
    autosave_interval: int = 5,
    run_as: str | None = None,
    log_dest: str = "stderr",
) -> str:
    """(c) ``centre``'s own broker, bridged to each peer's broker like a point-to-point link.

    The centre's node connects to ``local_port`` with its password. Peers' brokers connect to
    ``bridge_port`` over TLS with their centre's client certificate, so the shared ACL binds
    what a bridge may publish to the centre at its other end. Of each pair, the broker of the
    centre whose id sorts first opens the bridge.

    Args:
        peer_addresses: ``host:port`` of each peer broker's bridge listener.
    """
    c = certs_dir.rstrip("/")
    lines = [
        f"# nrrc (c): the broker of {centre} in a federation of one broker per centre,",
        "# bridged pairwise over TLS (client certificate = the centre at the other end).",
        *_common(
            persistence_dir=persistence_dir,
            max_queued=max_queued,
            autosave_interval=autosave_interval,
            run_as=run_as,
            log_dest=log_dest,
        ),
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "",
        "# The centre's own node.",
        f"listener {local_port} {bind}".rstrip(),
        "use_username_as_clientid true",
        "",
        "# Bridges from peers' brokers.",
        f"listener {bridge_port} {bind}".rstrip(),
        f"cafile {c}/ca.crt",
        f"certfile {c}/server.crt",
        f"keyfile {c}/server.key",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
    ]
    for peer in membership.centres:
        if peer <= centre:
            continue
        lines += [
            "",
            f"connection {centre}-{peer}",
            f"address {peer_addresses[peer]}",
            "bridge_protocol_version mqttv311",
            "cleansession false",
            f"local_clientid bridge-{centre}-{peer}",
            f"remote_clientid {centre}",
            "notifications false",
            "try_private true",
            "restart_timeout 1 10",
            "keepalive_interval 20",
            f"bridge_cafile {c}/ca.crt",
            f"bridge_certfile {c}/{centre}.crt",
            f"bridge_keyfile {c}/{centre}.key",
            "bridge_insecure false",
            f"topic {PREFIX}/link/{centre}/{peer} out 1",
            f"topic {PREFIX}/link/{peer}/{centre} in 1",
        ]
        for regime in membership.common(centre, peer):
            lines += [
                f"topic {PREFIX}/regime/{regime}/{centre} out 1",
                f"topic {PREFIX}/regime/{regime}/{peer} in 1",
            ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BrokerLayout:
    """What :func:`write_mosquitto_configs` wrote, and where the brokers listen."""

    directory: Path
    single_conf: Path
    tls_conf: Path
    acl: Path
    password_file: Path
    certs: Path
    passwords: dict[str, Path]
    federated: dict[str, Path] = field(default_factory=dict)
    federated_ports: dict[str, int] = field(default_factory=dict)


def write_mosquitto_configs(
    directory: str | Path,
    membership: Membership,
    *,
    now: datetime,
    config_root: str | None = None,
    data_root: str | None = None,
    bind: str = "127.0.0.1",
    port: int = 1883,
    tls_port: int = 8883,
    federated_hosts: Mapping[str, str] | None = None,
    federated_base_port: int = 11883,
    max_queued: int = DEFAULT_MAX_QUEUED,
    autosave_interval: int = 5,
    run_as: str | None = None,
    secrets: bool = True,
    outsiders: Iterable[str] = (),
) -> BrokerLayout:
    """Write the three Mosquitto set-ups and their secrets for ``membership``.

    Args:
        directory: where to write.
        membership: the centres and their regimes.
        now: start of the certificates' validity.
        config_root: ``directory`` as the broker will see it (default: its absolute path).
        data_root: where the brokers keep their persistence files, each set-up in its own
            subdirectory that must exist and be writable by the broker's user (default:
            ``<config_root>/data``, created here).
        bind: listener address ('' for all interfaces, e.g. in a container).
        port: port of the single broker; ``tls_port`` of the TLS one.
        federated_hosts: host of each centre's broker in the federation (default: ``bind``
            or 127.0.0.1); broker ``i`` (sorted) listens on ``federated_base_port + 2i`` for
            its node and the next port for bridges.
        max_queued: Mosquitto's ``max_queued_messages``.
        autosave_interval: seconds between persistence saves.
        run_as: Mosquitto's ``user`` option (the account it drops to when started as root).
            Every value written into a file is checked before anything is written: ports
            from 1 to 65535, no control character in a path or host, a plain user name.
        secrets: write ``secrets/`` (passwords, hashes, certificates); False writes only the
            configuration files.
        outsiders: identities that are no centre of ``membership`` but need credentials
            (a password and a client certificate) for the single and TLS brokers.

    Raises:
        BrokerConfigError: naming the parameter whose value cannot go into a configuration.
    """
    out = Path(directory)
    root = (config_root or str(out.resolve())).rstrip("/")
    data = (data_root or f"{root}/data").rstrip("/")
    centres = membership.centres
    hosts = dict(federated_hosts or {})
    _check_options(
        root=root,
        root_parameter="config_root" if config_root else "directory",
        data=data,
        bind=bind,
        port=port,
        tls_port=tls_port,
        federated_hosts=hosts,
        federated_base_port=federated_base_port,
        centres=len(centres),
        max_queued=max_queued,
        autosave_interval=autosave_interval,
        run_as=run_as,
    )
    try:
        identities = sorted({*centres, *(check_centre(o, "outsider") for o in outsiders)})
    except TopicError as exc:
        raise BrokerConfigError("outsiders", str(exc).removeprefix("outsider: ")) from exc
    for sub in ("single", "tls", "federated"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if data_root is None:
        # Mosquitto does not create its persistence directory and, without it, silently
        # keeps nothing across a restart (it only logs an error at each autosave).
        for sub in ["single", "tls", *(f"federated-{c}" for c in centres)]:
            (out / "data" / sub).mkdir(parents=True, exist_ok=True)
    acl = out / "single" / "acl"
    acl.write_text(acl_text(membership))
    acl_path = f"{root}/single/acl"
    password_path = f"{root}/secrets/passwd"
    certs_path = f"{root}/secrets/certs"
    opts = {
        "max_queued": max_queued,
        "autosave_interval": autosave_interval,
        "run_as": run_as,
    }
    single = out / "single" / "mosquitto.conf"
    single.write_text(
        single_conf(
            port=port,
            bind=bind,
            password_file=password_path,
            acl_file=acl_path,
            persistence_dir=f"{data}/single",
            **opts,  # type: ignore[arg-type]
        )
    )
    tls = out / "tls" / "mosquitto.conf"
    tls.write_text(
        tls_conf(
            port=tls_port,
            bind=bind,
            certs_dir=certs_path,
            acl_file=acl_path,
            persistence_dir=f"{data}/tls",
            **opts,  # type: ignore[arg-type]
        )
    )
    ports = {c: federated_base_port + 2 * i for i, c in enumerate(centres)}
    addresses = {c: f"{hosts.get(c, bind or '127.0.0.1')}:{ports[c] + 1}" for c in centres}
    federated: dict[str, Path] = {}
    for c in centres:
        path = out / "federated" / c / "mosquitto.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            federated_conf(
                c,
                membership,
                local_port=ports[c],
                bridge_port=ports[c] + 1,
                peer_addresses=addresses,
                bind=bind,
                password_file=password_path,
                acl_file=acl_path,
                certs_dir=certs_path,
                persistence_dir=f"{data}/federated-{c}",
                **opts,  # type: ignore[arg-type]
            )
        )
        federated[c] = path
    passwords: dict[str, Path] = {c: out / "secrets" / f"{c}.password" for c in identities}
    if secrets:
        clear = generate_passwords(identities)
        (out / "secrets").mkdir(parents=True, exist_ok=True)
        (out / "secrets").chmod(0o755)
        (out / "secrets" / "passwd").write_text(mosquitto_password_file(clear))
        (out / "secrets" / "passwd").chmod(0o644)
        for c, pw in clear.items():
            write_password(passwords[c], pw)
        names = {"localhost", "127.0.0.1", "mosquitto", *hosts.values()}
        if bind:
            names.add(bind)
        write_certificates(
            out / "secrets" / "certs", identities, now=now, server_names=sorted(names)
        )
    return BrokerLayout(
        directory=out,
        single_conf=single,
        tls_conf=tls,
        acl=acl,
        password_file=out / "secrets" / "passwd",
        certs=out / "secrets" / "certs",
        passwords=passwords,
        federated=federated,
        federated_ports=ports,
    )
