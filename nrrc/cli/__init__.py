"""Command-line interface: ``nrrc``."""

from nrrc.cli import _demo, _keys, _rules, _verify  # noqa: F401  (registers commands)
from nrrc.cli._app import app, main

__all__ = ["app", "main"]
