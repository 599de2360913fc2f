"""The `aonode` command line. This is the only module that reads the environment.

    aonode serve [--port N] [--host H] [--data-dir D] [--config F] [--wallet PATH]
    aonode wallet new PATH | aonode wallet address PATH
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

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


WALLET_FILE = "wallet.json"
"""The node's wallet inside its data directory, unless `--wallet` or `priv_key_location` says otherwise."""


def _node_options(port: int | None, host: str | None, data_dir: Path | None, config: Path | None) -> dict[str, Any]:
    """The options of `aonode serve`: defaults < environment < config file < flags (docs/configuration.md)."""
    from aonode.core import options

    env = options.from_environ(os.environ)
    flags: dict[str, Any] = {}
    if port is not None:
        flags["port"] = port
    if host is not None:
        flags["host"] = host
    if data_dir is not None:
        flags["data_dir"] = str(data_dir)
    # The default location may be absent; a file the user named must exist.
    named = config is not None or "hb_config_location" in env
    path = config if config is not None else options.get(env, "hb_config_location")
    loaded = options.load_config(path, missing_ok=not named)
    return options.layer(env, loaded, flags)


def _handled(signum: int, frame: object) -> None:
    """The handler left in place while uvicorn runs: the signal has been dealt with."""


def _node_wallet(path: Path) -> tuple[Wallet, bool]:
    """The wallet at `path`, created (mode 0600) on first start. Returns it and whether it is new."""
    if path.exists():
        return Wallet.load(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    new = Wallet.generate()
    new.save(path)
    return new, True


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), help="TCP port (default 8734, or HB_PORT).")
@click.option("--host", help="Address to listen on (default localhost; 0.0.0.0 for every interface).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the store and the wallet (default ./aonode-data, or AONODE_DATA_DIR).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file, flat or .json (default ./config.flat if present, or HB_CONFIG).")
@click.option("--wallet", "wallet_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Wallet JWK file, created if missing (default <data-dir>/wallet.json, or HB_KEY).")
def serve(port: int | None, host: str | None, data_dir: Path | None, config: Path | None,
          wallet_path: Path | None) -> None:
    """Run a node: HTTP on PORT, state in DATA_DIR, responses signed with the node wallet."""
    import uvicorn

    from aonode.core import options
    from aonode.http.metrics import METRICS_PATH
    from aonode.http.server import DEFAULT_MAX_HEADER_SIZE, create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    try:
        opts = _node_options(port, host, data_dir, config)
        data = Path(options.get(opts, "data_dir"))
        data.mkdir(parents=True, exist_ok=True)
        if wallet_path is None:
            explicit = opts.get("priv_key_location")
            wallet_path = Path(explicit) if explicit else data / WALLET_FILE
        node_wallet, created = _node_wallet(wallet_path)
        app = create_app({**opts, "priv_wallet": node_wallet, "priv_key_location": str(wallet_path)})
    except AOError as exc:
        raise click.ClickException(exc.message) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    log = logging.getLogger("aonode")
    if created:
        log.info("created a new wallet at %s", wallet_path)
    bind = str(options.get(opts, "host"))
    listen_port = int(options.get(opts, "port"))
    log.info("aonode %s: node %s, data in %s, listening on http://%s:%d (metrics at %s)",
             __version__, node_wallet.address, data, bind, listen_port, METRICS_PATH)
    # uvicorn handles SIGINT/SIGTERM itself (stop accepting, finish in-flight requests, run
    # the lifespan shutdown that closes the store) and then re-raises the signal to whatever
    # handler was there before it. Make that a no-op, so a stopped node exits 0 and says so.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handled)
    try:
        uvicorn.run(
            app, host=bind, port=listen_port, lifespan="on", log_config=None, access_log=False,
            server_header=False, http="h11",
            h11_max_incomplete_event_size=int(options.get(opts, "http_max_header_size", DEFAULT_MAX_HEADER_SIZE)),
            timeout_keep_alive=max(1, int(options.get(opts, "idle_timeout")) // 1000),
        )
    finally:
        app.close()  # uvicorn closed it at lifespan shutdown unless start-up failed
    log.info("aonode stopped")


if __name__ == "__main__":
    sys.exit(main())
