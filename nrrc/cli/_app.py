"""The typer application and the helpers every command shares.

The CLI is the only layer that reads the environment, configures logging, calls asyncio.run
and prints. Bad input ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import typing
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn

import typer
import typer.core
from rich.console import Console

# What `main` catches to print click's own usage errors as one line (see `_usage_error`).
# typer 0.29 vendors click and re-exports only BadParameter of its exceptions: a private
# module, hence the pin `typer>=0.29,<0.30` in pyproject.toml.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from nrrc.catalogue import Catalogue, load_catalogue
from nrrc.errors import CatalogueError, NrrcError

app = typer.Typer(
    name="nrrc",
    help=(
        "Simulated Nuclear Risk Reduction Centres: signed, typed notifications under the timing "
        "rules of real agreements, and a compliance checker for their message logs.\n\n"
        "Start with `nrrc rules list` to see every rule with its source and how firmly that "
        "source is verified, `nrrc rules show BML001` for one rule, `nrrc demo` to watch five "
        "centres exchange notices live, and `nrrc audit messages/samples/us-ru-2026` to audit "
        "sample logs."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
rules_app = typer.Typer(
    help="List the rules of the built-in and your own agreements, or show "
    "one with its citation and verification status.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="Generate, list and export centres' Ed25519 keys and keyrings.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
app.add_typer(keys_app, name="keys")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

AGREEMENTS_HELP = (
    "Extra agreement TOML file or directory, loaded exactly like the built-ins (repeatable)."
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit."""
    err_console.print(f"nrrc: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print one warning line to stderr and carry on."""
    err_console.print(f"nrrc: warning: {message}", markup=False, soft_wrap=True)


class _WarningLine(logging.Handler):
    """The library's warnings (``logging.getLogger("nrrc.…").warning``) as one
    ``nrrc: warning: …`` line each on stderr: the core never prints, the CLI does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            warn(record.getMessage())
        except Exception:  # logging's contract: never raise from emit
            self.handleError(record)


def _install_warning_line() -> None:
    logger = logging.getLogger("nrrc")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        handler = _WarningLine(logging.WARNING)
        logger.addHandler(handler)
        # Not also through the root logger (`nrrc node` configures one on stderr): once.
        logger.propagate = False


_install_warning_line()


def check_out_dir(directory: Path, option: str, *, force: bool) -> None:
    """Refuse (one line, exit 2) to write a run into ``directory`` when it already holds
    files, unless ``force``: a second run must not silently replace the logs, keys or
    secrets of the first. A missing or empty directory is fine."""
    if directory.exists() and not directory.is_dir():
        fail(f"{option}: expected a directory, found a file: {directory}")
    if force or not directory.is_dir():
        return
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    except OSError as exc:
        fail(f"{option}: {directory}: cannot list the directory: {exc.strerror or exc}")
    if names:
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        fail(
            f"{option}: {directory} already exists and holds files ({shown}); pass --force "
            "to replace them, or choose another directory"
        )


def catalogue(extra: Sequence[Path] | None) -> Catalogue:
    """Load built-ins plus ``extra``; every problem printed one per line, then exit 2."""
    try:
        return load_catalogue(extra or ())
    except CatalogueError as exc:
        for line in exc.lines():
            err_console.print(f"nrrc: error: {line}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        # Not standalone: click's own usage errors come here, to be printed as one line.
        code = app(
            args=list(argv) if argv is not None else None,
            prog_name="nrrc",
            standalone_mode=False,
        )
    except NoArgsIsHelpError:
        sys.exit(2)  # `nrrc` or `nrrc keys` alone: the help is printed already
    except ClickException as exc:
        for line in _usage_error(exc):
            err_console.print(line, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("nrrc: aborted", markup=False)
        sys.exit(1)
    except NrrcError as exc:
        err_console.print(f"nrrc: error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except BrokenPipeError:
        # The reader went away (`nrrc rules list | head`): stop quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        # A directory that cannot be created, a file that cannot be written: the user's
        # input named a path the system refuses; say which and why, without a traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        err_console.print(
            f"nrrc: error: {where}{exc.strerror or exc}", markup=False, soft_wrap=True
        )
        sys.exit(2)
    except (RecursionError, OverflowError) as exc:
        # Last resort for input beyond what a reader expected (nesting, magnitudes): one line.
        err_console.print(
            f"nrrc: error: the input holds a value beyond what nrrc can read: {exc}",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("nrrc: interrupted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: ClickException) -> list[str]:
    """click's usage error (bad option value, missing argument, unknown option) as one line
    naming the command, then how to get help: ``nrrc audit: error: Invalid value for
    '--jobs' / '-j': … (found 'x')`` and ``Try 'nrrc audit --help'.``"""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "nrrc"
    message = " ".join(exc.format_message().split())
    # typer checks values with pydantic, whose message does not show the value it refused.
    errors = getattr(exc.__cause__, "errors", None)
    if callable(errors):
        found = [e["input"] for e in errors() if "input" in e]
        if found and repr(found[0]) not in message:
            message = f"{message.rstrip('.')} (found {found[0]!r})."
    lines = [f"{command}: error: {message}"]
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        lines.append(f"Try '{command} {ctx.help_option_names[0]}'.")
    return lines


_KEEP_BREAKS = (" ", "-", "*", "|", "$", "\b")


def reflow(text: str) -> str:
    """``text`` with the lines of each paragraph joined, so the terminal wraps them: typer
    keeps a docstring's own line breaks, which wrap raggedly in a narrow terminal. A paragraph
    with a list, a table, a shell line or indentation (or starting with ``\\b``) is kept as
    written."""
    out = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith(_KEEP_BREAKS) for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_help(application: typer.Typer) -> None:
    """Reflow the help of every command and group of ``application`` (see :func:`reflow`)."""
    info = application.info
    if isinstance(info.help, str):
        info.help = reflow(info.help)
    for command in application.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if isinstance(doc, str):
            command.help = reflow(doc)
    for group in application.registered_groups:
        if isinstance(group.help, str):
            group.help = reflow(group.help)
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


METAVARS: dict[str, str] = {
    "agreement": "ID",
    "agreements": "PATH",
    "bind": "ADDRESS",
    "broker": "BROKER",
    "ca": "FILE",
    "centre": "CENTRE",
    "centres": "CENTRE",
    "cert": "FILE",
    "clock_epoch": "SECONDS",
    "clock_file": "FILE",
    "code": "CODE",
    "config_root": "DIR",
    "data_root": "DIR",
    "days": "DAYS",
    "directory": "DIR",
    "export": "DIR",
    "federated_host": "HOST",
    "files": "FILE",
    "forge": "CENTRE",
    "ignore": "CODE",
    "inputs": "LOG",
    "key": "FILE",
    "keyring": "FILE",
    "kill": "CENTRE",
    "kind": "NAME",
    "log_format": "FORMAT",
    "logs": "LOG",
    "min_give_up_real": "SECONDS",
    "min_retry_real": "SECONDS",
    "observed": "FILE",
    "outsider": "ID",
    "output": "FILE",
    "password_file": "FILE",
    "run_as": "USER",
    "run_dir": "DIR",
    "scenario": "SCENARIO",
    "seconds": "SECONDS",
    "secrets": "DIR",
    "select": "CODE",
    "skew": "DURATION",
    "speed": "FACTOR",
    "startup": "SECONDS",
    "until": "TIME",
    "valid_from": "TIME",
    "valid_until": "TIME",
}
"""What each parameter's value is, by parameter name, as help shows it (``--until TIME``); a
parameter whose name is not here is named by its type (see :func:`metavar`), and one that
declares its own ``metavar`` keeps it."""


def metavar(param: typer.core.TyperOption | typer.core.TyperArgument) -> str:
    """What help calls the value of ``param``: its declared metavar, else its name in
    :data:`METAVARS`, else its type (``N``, ``NUMBER``, ``PATH``, the choices), else its name in
    capitals; nothing for a flag."""
    if param.metavar is not None:
        return param.metavar
    if isinstance(param, typer.core.TyperOption) and param.is_flag:
        return ""
    name = param.name or ""
    if name in METAVARS:
        return METAVARS[name]
    descriptor = getattr(param, "type_descriptor", None)
    kind = getattr(descriptor, "annotation", None)
    if typing.get_origin(kind) is list:
        (kind,) = typing.get_args(kind)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "|".join(str(member.value) for member in kind)
    return {int: "N", float: "NUMBER", Path: "PATH"}.get(kind, name.upper())  # type: ignore[arg-type]


def _option_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    return metavar(self) or None


def _argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    return None  # the name column shows it already (LOG...)


def _argument_name(self: typer.core.TyperArgument) -> str:
    return metavar(self) + ("..." if self.nargs != 1 else "")


def _argument_display_name(self: typer.core.TyperArgument) -> str:
    return metavar(self)


def _argument_usage(self: typer.core.TyperArgument) -> str:
    name = _argument_name(self)
    return name if self.required else f"[{name}]"


# typer 0.29 shows each parameter's Python type in help (`<list[Path]>`, `<bool>`, `<int
# range>`, `{inputs}...` in the usage line): these show what the value is instead, as click
# does (`--until TIME`, `LOG...`), and nothing for a flag.
typer.core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
typer.core.TyperArgument._rich_display_name = _argument_name  # type: ignore[method-assign]
typer.core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
typer.core.TyperArgument.display_name_raw = property(_argument_display_name)  # type: ignore[assignment]
