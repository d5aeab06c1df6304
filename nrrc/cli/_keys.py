"""``nrrc keys generate|list|export|import``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nrrc.cli._app import console, fail, keys_app
from nrrc.keys import Keyring, generate_key, write_private_key
from nrrc.messages import CENTRE_PATTERN
from nrrc.timeutil import format_instant, parse_instant

CENTRE = re.compile(CENTRE_PATTERN)
KeyringOpt = Annotated[Path, typer.Option("--keyring", "-k", help="Keyring file (JSON).")]


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _load_or_new(path: Path) -> Keyring:
    return Keyring.load(path) if path.exists() else Keyring()


@keys_app.command("generate")
def keys_generate(
    centres: Annotated[list[str], typer.Argument(help="Centre ids, e.g. US RU.")],
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", "-d", help="Where to write <CENTRE>.key (mode 0600) and keyring.json."
        ),
    ] = Path("keys"),
    valid_from: Annotated[
        str | None,
        typer.Option(help="Start of validity (RFC 3339, UTC offset required). Default: now."),
    ] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="End of validity, exclusive. Default: none.")
    ] = None,
) -> None:
    """Generate an Ed25519 key per centre and add its public half to the keyring.

    Private keys are written with mode 0600 and never printed.
    """
    start = _instant(valid_from, "--valid-from") or datetime.now(UTC).replace(microsecond=0)
    end = _instant(valid_until, "--valid-until")
    if end is not None and end <= start:
        fail(f"--valid-until: expected an instant after {format_instant(start)}")
    if directory.exists() and not directory.is_dir():
        fail(f"--dir: expected a directory, found a file: {directory}")
    ring_path = directory / "keyring.json"
    if ring_path.is_dir():
        fail(f"{ring_path}: expected a keyring file, found a directory")
    ring = _load_or_new(ring_path)
    # Check every argument first: a failure halfway would leave private keys without keyring
    # entries.
    seen: set[str] = set()
    for centre in centres:
        if not CENTRE.fullmatch(centre):
            fail(f"centre id: expected capital letters and digits (e.g. 'US'), found {centre!r}")
        if centre in seen:
            fail(f"centre id: expected each centre once, found {centre} twice")
        seen.add(centre)
        key_path = directory / f"{centre}.key"
        if key_path.exists() or key_path.is_symlink():
            fail(f"{key_path}: already exists; refusing to overwrite a private key")
    signers = [generate_key(centre) for centre in centres]
    written: list[Path] = []
    try:
        for signer in signers:
            path = directory / f"{signer.centre}.key"
            write_private_key(signer, path)
            written.append(path)
            ring.add(signer.entry(start, end))
        ring.save(ring_path)
    except BaseException:
        # Keys nobody trusts yet and nobody has seen: remove them rather than leave orphans.
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for signer in signers:
        key_file = directory / f"{signer.centre}.key"
        console.print(f"{signer.centre}: key {signer.key_id} -> {key_file} (0600)")
    console.print(f"keyring: {ring_path} ({len(ring)} keys)")


@keys_app.command("list")
def keys_list(keyring: KeyringOpt = Path("keys/keyring.json")) -> None:
    """The keys a keyring trusts: key id, owner centre and validity."""
    ring = Keyring.load(keyring)
    table = Table(title=f"{keyring}: {len(ring)} keys", title_justify="left")
    for col in ("key id", "centre", "valid from", "valid until"):
        table.add_column(col, no_wrap=True)
    for e in ring:
        table.add_row(
            e.key_id,
            e.centre,
            format_instant(e.valid_from),
            format_instant(e.valid_until) if e.valid_until else "-",
        )
    console.print(table)


@keys_app.command("export")
def keys_export(
    centre: Annotated[str, typer.Argument(help="Centre whose public keys to export.")],
    keyring: KeyringOpt = Path("keys/keyring.json"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Write here instead of standard output."),
    ] = None,
) -> None:
    """Export a centre's public keys as a keyring file to hand to its peers."""
    ring = Keyring.load(keyring)
    entries = ring.for_centre(centre)
    if not entries:
        fail(f"{keyring}: no key of centre {centre!r}; centres: {', '.join(ring.centres())}")
    data = Keyring(entries).to_json()
    if out is None:
        typer.echo(data.decode(), nl=False)
    else:
        Keyring(entries).save(out)
        console.print(f"wrote {len(entries)} public key(s) of {centre} to {out}")


@keys_app.command("import")
def keys_import(
    files: Annotated[list[Path], typer.Argument(help="Keyring files exported by peers.")],
    keyring: KeyringOpt = Path("keys/keyring.json"),
) -> None:
    """Trust the public keys in peers' exported keyrings."""
    ring = _load_or_new(keyring)
    before = len(ring)
    for f in files:
        ring.merge(Keyring.load(f))
    ring.save(keyring)
    console.print(f"{keyring}: {len(ring) - before} key(s) added, {len(ring)} in all")
