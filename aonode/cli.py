"""The `aonode` command line. This is the only module that reads the environment."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aonode import __version__
from aonode.crypto import Wallet
from aonode.errors import AOError

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="aonode")
def main() -> None:
    """aonode: an AO-Core node that speaks HyperBEAM's wire format."""


@main.group()
def wallet() -> None:
    """Arweave RSA-4096 wallets (JWK files)."""


@wallet.command("new")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def wallet_new(path: Path, force: bool) -> None:
    """Create a new wallet at PATH and print its address."""
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; refusing to overwrite it (use --force)")
    if not path.parent.exists():
        raise click.ClickException(f"directory {path.parent} does not exist")
    new = Wallet.generate()
    try:
        new.save(path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from exc
    click.echo(new.address)


@wallet.command("address")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def wallet_address(path: Path) -> None:
    """Print the Arweave address of the wallet at PATH."""
    try:
        click.echo(Wallet.load(path).address)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except AOError as exc:
        raise click.ClickException(exc.message) from exc


if __name__ == "__main__":
    sys.exit(main())
