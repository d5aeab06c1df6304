"""The curated public surface of ``nrrc``: pinned, complete, and cheap to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import nrrc

PUBLIC = [
    "PAYLOAD_TYPE",
    "Agreement",
    "AuditError",
    "BadSignature",
    "Catalogue",
    "CatalogueError",
    "Citation",
    "Duration",
    "EnvelopeError",
    "FieldSpec",
    "FieldType",
    "FsyncPolicy",
    "InvalidPayload",
    "KeyEntry",
    "KeyFileError",
    "KeyNotOwnedBySender",
    "KeyNotValidAt",
    "Keyring",
    "Kind",
    "LogEntry",
    "LogError",
    "LogProblem",
    "LogReport",
    "LogWriter",
    "MalformedEnvelope",
    "MeasuredAt",
    "MessageTypes",
    "NotAddressedToUs",
    "NrrcError",
    "Opened",
    "Problem",
    "ReplayedEnvelope",
    "ReplyRef",
    "Rule",
    "RuleType",
    "ScenarioError",
    "Severity",
    "Signer",
    "Statement",
    "TransportError",
    "UnknownKey",
    "Verified",
    "Verifier",
    "compose",
    "generate_key",
    "load_catalogue",
    "load_private_key",
    "new_message_id",
    "parse_duration",
    "scan_log",
    "verify_log",
    "write_private_key",
]


def test_public_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert nrrc.__all__ == PUBLIC


def test_public_names_are_sorted() -> None:
    """``__all__`` is kept sorted (ruff's order: constants, classes, functions)."""
    key = [(not n.isupper(), not n[:1].isupper(), n) for n in nrrc.__all__]
    assert key == sorted(key)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_the_object_of_its_home_module(name: str) -> None:
    """``nrrc.X`` is the very object defined in the module that owns it, with a docstring."""
    value = getattr(nrrc, name)
    home = importlib.import_module(nrrc._MODULE_OF[name])
    assert value is getattr(home, name)
    assert name in dir(nrrc)
    if callable(value):
        assert value.__doc__


def test_every_lazy_name_is_public() -> None:
    """No name is importable from ``nrrc`` without being listed in ``__all__``."""
    assert sorted(nrrc._MODULE_OF) == sorted(PUBLIC)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """Typos fail like any module attribute."""
    with pytest.raises(AttributeError, match="module 'nrrc' has no attribute 'Verifer'"):
        _ = nrrc.Verifer  # type: ignore[attr-defined]


def test_importing_nrrc_is_light() -> None:
    """``import nrrc`` loads no CLI, no MQTT client, no crypto backend and no catalogue."""
    code = (
        "import sys, nrrc; "
        "heavy = [m for m in ('typer', 'rich', 'aiomqtt', 'amqtt', 'cryptography', "
        "'msgspec', 'structlog', 'nrrc.cli', 'nrrc.catalogue') if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
