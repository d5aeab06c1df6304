"""Shared fixtures: the catalogue, message types, keys and a keyring (all deterministic)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

KEYS_FROM = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def cat() -> Catalogue:
    """The built-in catalogue."""
    return load_catalogue()


@pytest.fixture(scope="session")
def types(cat: Catalogue) -> MessageTypes:
    """Statement types of the built-in catalogue."""
    return MessageTypes(cat)


def signer(centre: str) -> Signer:
    """A deterministic key for ``centre`` (tests only)."""
    seed = (centre.encode() * 32)[:32]
    return Signer.from_seed(centre, seed)


@pytest.fixture(scope="session")
def signers() -> dict[str, Signer]:
    """Keys of US, RU, CN, GB, FR, IN, PK, AT."""
    return {c: signer(c) for c in ("US", "RU", "CN", "GB", "FR", "IN", "PK", "AT")}


@pytest.fixture(scope="session")
def keyring(signers: dict[str, Signer]) -> Keyring:
    """A keyring trusting every test key from 2020 on."""
    return Keyring(s.entry(KEYS_FROM) for s in signers.values())
