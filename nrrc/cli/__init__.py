"""Command-line interface: ``nrrc``."""

# Import order is the order `nrrc --help` lists the commands in: the three jobs first.
from nrrc.cli import _demo  # noqa: F401, I001
from nrrc.cli import _audit  # noqa: F401
from nrrc.cli import _simulate  # noqa: F401
from nrrc.cli import _rules  # noqa: F401
from nrrc.cli import _verify  # noqa: F401
from nrrc.cli import _keys  # noqa: F401
from nrrc.cli import _node  # noqa: F401  (nrrc node and nrrc brokers)
from nrrc.cli._app import app, main, reflow_help

reflow_help(app)

__all__ = ["app", "main"]
