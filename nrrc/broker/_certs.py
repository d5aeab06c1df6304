"""Certificates for the TLS broker set-up: a private CA, a server certificate and one client
certificate per centre whose common name is the centre id.

Mosquitto's ``use_identity_as_username`` then makes the certificate's common name the user
name, so the same pattern ACL that binds ``%u`` binds the right to publish as a centre to the
holder of that centre's certificate.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nrrc.timeutil import to_utc
from nrrc.transport.topics import check_centre

__all__ = ["write_certificates"]

_VALIDITY = timedelta(days=825)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nrrc demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    *,
    server_names: Iterable[str] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    names = list(server_names)
    if names:
        alt: list[x509.GeneralName] = []
        for n in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def write_certificates(
    directory: str | Path,
    centres: Iterable[str],
    *,
    now: datetime,
    server_names: Iterable[str] = ("localhost", "127.0.0.1", "mosquitto"),
) -> dict[str, Path]:
    """Write ``ca.crt``, ``server.crt``/``.key`` and ``<CENTRE>.crt``/``.key`` to ``directory``.

    Args:
        directory: where to write (created when missing); private keys are mode 0600.
        centres: the centre ids that get a client certificate (common name = centre id).
        now: the start of the certificates' validity (they last 825 days).
        server_names: host names and IP addresses the server certificate is valid for.

    Returns:
        The paths written, by name (``ca``, ``server_cert``, ``server_key``, ``<CENTRE>_cert``,
        ``<CENTRE>_key``).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = to_utc(now)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("nrrc demo CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": out / "ca.crt", "ca_key": out / "ca.key"}
    _write_cert(paths["ca"], ca_cert)
    _write_key(paths["ca_key"], ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        "nrrc broker", server_key, ca_cert, ca_key, now, server_names=list(server_names)
    )
    paths["server_cert"], paths["server_key"] = out / "server.crt", out / "server.key"
    _write_cert(paths["server_cert"], server)
    _write_key(paths["server_key"], server_key)
    for centre in sorted(set(centres)):
        check_centre(centre)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(centre, key, ca_cert, ca_key, now)
        paths[f"{centre}_cert"], paths[f"{centre}_key"] = (
            out / f"{centre}.crt",
            out / f"{centre}.key",
        )
        _write_cert(paths[f"{centre}_cert"], cert)
        _write_key(paths[f"{centre}_key"], key)
    return paths
