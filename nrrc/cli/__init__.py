"""Command-line interface: ``nrrc``."""

import nrrc.cli._node  # noqa: F401  (registers nrrc node and nrrc brokers)
from nrrc.cli import _audit, _demo, _keys, _rules, _simulate, _verify  # noqa: F401  (registers commands)
from nrrc.cli._app import app, main

__all__ = ["app", "main"]
