"""The `aonode` command line. This is the only module that reads the environment.

    aonode serve [--port N] [--host H] [--data-dir D] [--config F] [--wallet PATH]
    aonode wallet new PATH | aonode wallet address PATH
    aonode process upload FILE | spawn --module ID | message PID | result PID SLOT | results PID
                   | dryrun PID | console PID   (each with --wallet PATH [--node URL] [--timeout S])
    aonode console [--node URL]    an interactive console for any node (requests as lines)
    aonode info [--node URL] [--json]   a node's configuration: a table, or JSON for scripts

Output meant for scripts (IDs, slots, JSON) goes to stdout alone. What is for people alone (a
spinner while the node works, the `info` table) is drawn with `rich`; the spinner is drawn on
stderr and only when stderr is a terminal, so captured or piped output never holds it.

`--node` defaults to the `AONODE_URL` environment variable, else http://localhost:8734; a URL
without a scheme (`localhost:8734`) is taken as http.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import click

from aonode import __version__
from aonode.client import DEFAULT_TIMEOUT, DEFAULT_URL, Client
from aonode.crypto import Wallet
from aonode.errors import AOError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


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


@main.group()
def process() -> None:
    """Talk to a node as aoconnect does: upload a module, spawn processes, message them, read results.

    \b
    aonode process upload aos.lua --wallet w.json                  prints the module ID
    aonode process spawn --module ID --tag Name=demo --wallet w.json   prints the process ID
    aonode process message PID --tag Action=Eval --data '1 + 1' --wallet w.json   prints the slot
    aonode process result PID SLOT --wallet w.json                 prints the result (JSON)
    aonode process results PID --wallet w.json                     the latest result (JSON)
    aonode process dryrun PID --tag Action=Info --wallet w.json    runs without changing the process

    An ID can begin with `-` (one in 64 does): give such a PID after `--`, with the options
    before it, as in `aonode process result --wallet w.json -- -Vx...Q 3`.
    """


NODE_URL_ENV = "AONODE_URL"


def node_url(value: str) -> str:
    """A node URL as given on the command line, with `http://` added when it has no scheme
    (`localhost:8734`, `10.0.0.5:8734/`) and no trailing slash.

    Raises:
        click.BadParameter: not an http(s) URL with a host.
    """
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    scheme, _, rest = text.partition("://")
    host = rest.split("/", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or host.startswith(":"):
        raise click.BadParameter(f"{value!r} is not a node URL (like http://localhost:8734 or localhost:8734)",
                                 param_hint="--node")
    return text.rstrip("/")


def _node_url_option(fn: F) -> F:
    return click.option(
        "--node", "node_url", envvar=NODE_URL_ENV, default=DEFAULT_URL, show_default=True,
        callback=lambda ctx, param, value: node_url(value),
        help=f"The node's URL (or the {NODE_URL_ENV} environment variable); the scheme may be left out.")(fn)


def _client_options(fn: F) -> F:
    """The options every `process` command takes: the node, the signing wallet, the timeout."""
    fn = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
                      show_default=True, help="Seconds to wait for the node.")(fn)
    fn = click.option("--wallet", "wallet_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                      help="Wallet JWK file that signs the requests (`aonode wallet new PATH` makes one).")(fn)
    return _node_url_option(fn)


def _message_options(fn: F) -> F:
    """`--tag K=V` (repeatable), and `--data` or `--data-file`."""
    fn = click.option("--data-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                      help="Read the data from this file.")(fn)
    fn = click.option("--data", help='The data (default "1984", as aoconnect).')(fn)
    fn = click.option("--tag", "tags", multiple=True, metavar="NAME=VALUE", help="A tag; repeat for more.")(fn)
    return fn


def _tags(pairs: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--tag")
        out.append((name, value))
    return out


def _data(data: str | None, data_file: Path | None) -> bytes | str | None:
    if data is not None and data_file is not None:
        raise click.UsageError("give --data or --data-file, not both")
    if data_file is not None:
        try:
            return data_file.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {data_file}: {exc.strerror}") from exc
    return data


def _waiting(what: str | None) -> AbstractContextManager[Any]:
    """A spinner saying `what` on stderr while the node works; nothing when `what` is None or
    stderr is no terminal (rich draws live displays on terminals only)."""
    if what is None:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _call(node_url: str, wallet_path: Path, timeout: float, action: Callable[[Client], Any],
          waiting: str | None = None) -> Any:
    """Run `action` with a client, turning every failure into a one-line error and exit status 1.
    `waiting`, when given, is shown beside a spinner until the node answers (see `_waiting`)."""
    try:
        signer = Wallet.load(wallet_path)
    except OSError as exc:
        raise click.ClickException(f"cannot read the wallet {wallet_path}: {exc.strerror}") from exc
    except AOError as exc:
        raise click.ClickException(f"{wallet_path}: {exc.message}") from exc
    try:
        with Client(node_url, signer, timeout=timeout) as client, _waiting(waiting):
            return action(client)
    except AOError as exc:  # ClientError and its kinds: the node's status and words
        raise click.ClickException(exc.message) from exc
    except (ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@process.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--content-type", default="application/lua", show_default=True, help="The module's content type.")
@_client_options
def process_upload(file: Path, content_type: str, node_url: str, wallet_path: Path, timeout: float) -> None:
    """Store the module in FILE on the node (a signed message) and print its ID."""
    try:
        source = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    click.echo(_call(node_url, wallet_path, timeout, lambda c: c.upload_module(source, content_type),
                     f"uploading {file.name} ({len(source):,} bytes) to {node_url}"))


@process.command("spawn")
@click.option("--module", "module", required=True, help="The module's ID (from `aonode process upload`).")
@click.option("--scheduler", help="The scheduler's address (default: the node's).")
@click.option("--authority", help="The address the process trusts (default: the scheduler).")
@click.option("--no-check-module", is_flag=True, help="Do not ask the node for the module first.")
@_message_options
@_client_options
def process_spawn(module: str, scheduler: str | None, authority: str | None, no_check_module: bool,
                  tags: tuple[str, ...], data: str | None, data_file: Path | None,
                  node_url: str, wallet_path: Path, timeout: float) -> None:
    """Spawn a legacy process running MODULE and print its ID."""
    pairs, body = _tags(tags), _data(data, data_file)
    click.echo(_call(node_url, wallet_path, timeout, lambda c: c.spawn(
        module, tags=pairs, data=body, scheduler=scheduler, authority=authority, check_module=not no_check_module),
        f"spawning a process of {module} on {node_url}"))


@process.command("message")
@click.argument("pid")
@_message_options
@_client_options
def process_message(pid: str, tags: tuple[str, ...], data: str | None, data_file: Path | None,
                    node_url: str, wallet_path: Path, timeout: float) -> None:
    """Send a message to the process PID and print its slot."""
    pairs, body = _tags(tags), _data(data, data_file)
    click.echo(_call(node_url, wallet_path, timeout, lambda c: c.message(pid, tags=pairs, data=body),
                     f"scheduling the message on {node_url}"))


@process.command("result")
@click.argument("pid")
@click.argument("slot")
@_client_options
def process_result(pid: str, slot: str, node_url: str, wallet_path: Path, timeout: float) -> None:
    """Print the result of SLOT of the process PID (JSON: Output, Messages, Spawns, Assignments, Error)."""
    _echo_json(_call(node_url, wallet_path, timeout, lambda c: c.result(pid, slot),
                     f"computing slot {slot} on {node_url}"))


@process.command("results")
@click.argument("pid")
@_client_options
def process_results(pid: str, node_url: str, wallet_path: Path, timeout: float) -> None:
    """Print the latest result of the process PID (JSON: a list of {slot, result})."""
    found = _call(node_url, wallet_path, timeout, lambda c: c.results(pid), f"computing the latest slot on {node_url}")
    _echo_json([{"slot": slot, "result": result} for slot, result in found])


@process.command("dryrun")
@click.argument("pid")
@_message_options
@_client_options
def process_dryrun(pid: str, tags: tuple[str, ...], data: str | None, data_file: Path | None,
                   node_url: str, wallet_path: Path, timeout: float) -> None:
    """Run a message against the process PID without scheduling it, and print the result (JSON)."""
    pairs, body = _tags(tags), _data(data, data_file)
    _echo_json(_call(node_url, wallet_path, timeout, lambda c: c.dryrun(pid, tags=pairs, data=body),
                     f"dry-running on {node_url}"))


@process.command("console")
@click.argument("pid")
@click.option("--poll", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds between looks for results others caused (0: do not look).")
@_client_options
def process_console(pid: str, poll: float, node_url: str, wallet_path: Path, timeout: float) -> None:
    """An interactive console for the process PID, as aos: lines are Lua, sent as Eval messages.

    \b
    <code>       an Eval: its output or error is printed
    ? <code>     a dry run of the same Eval (never scheduled)
    .history     the lines entered so far (arrow keys recall them too)
    .exit        leave (or Ctrl-C, Ctrl-D)
    """
    from aonode.console.repl import ProcessConsole

    stdin = None if sys.stdin.isatty() else sys.stdin

    def run(client: Client) -> int:
        return ProcessConsole(client, pid, sys.stdout, stdin, poll=poll).run()

    sys.exit(_call(node_url, wallet_path, timeout, run))


@main.command("console")
@_node_url_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds to wait for the node.")
def node_console(node_url: str, timeout: float) -> None:
    """An interactive console for any node: each line is a request (`[METHOD] /path [body]`),
    the reply is printed as text."""
    from aonode.console.repl import NodeConsole

    stdin = None if sys.stdin.isatty() else sys.stdin
    sys.exit(NodeConsole(node_url, sys.stdout, stdin, timeout=timeout).run())


INFO_PATH = "/~meta@1.0/info"
INFO_VALUE_WIDTH = 200
"""Characters of a value the `info` table shows; `--json` shows all of it."""


def _fetch_info(node_url: str, timeout: float) -> dict[str, Any]:
    """The node's `meta@1.0` info as JSON (an unsigned GET, as a browser asks).

    Raises:
        click.ClickException: no answer, a status outside 2xx, or an answer that is no JSON object.
    """
    import httpx

    where = node_url + INFO_PATH
    try:
        response = httpx.get(where, headers={"accept": "application/json"}, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise click.ClickException(f"GET {where}: no answer within {timeout:g} s") from exc
    except httpx.TransportError as exc:
        raise click.ClickException(f"GET {where}: cannot reach the node: {exc}") from exc
    if not response.is_success:
        raise click.ClickException(f"GET {where}: {response.status_code} {response.text[:300]}")
    try:
        found = json.loads(response.content)
    except ValueError as exc:
        raise click.ClickException(f"GET {where}: the answer is not JSON ({exc})") from exc
    if not isinstance(found, dict):
        raise click.ClickException(f"GET {where}: the answer is not a JSON object")
    return found


def _shown(value: Any) -> str:
    """A value as one table cell: text as it is, anything else as compact JSON, cut to
    `INFO_VALUE_WIDTH` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= INFO_VALUE_WIDTH else text[:INFO_VALUE_WIDTH - 1] + "…"


@main.command("info")
@_node_url_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds to wait for the node.")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON (for scripts).")
def node_info(node_url: str, timeout: float, as_json: bool) -> None:
    """Show a node's configuration (`/~meta@1.0/info`): its options as a table, or as JSON."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    with _waiting(f"asking {node_url}"):
        found = _fetch_info(node_url, timeout)
    if as_json:
        _echo_json(found)
        return
    table = Table(title=f"{escape(node_url)}: {len(found)} options", title_justify="left")
    table.add_column("option", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in sorted(found):
        table.add_row(escape(key), escape(_shown(found[key])))
    Console().print(table)


WALLET_FILE = "wallet.json"
"""The node's wallet inside its data directory, unless `--wallet` or `priv_key_location` says otherwise."""


def _node_options(port: int | None, host: str | None, data_dir: Path | None, config: Path | None) -> dict[str, Any]:
    """The options of `aonode serve`: defaults < environment < config file < flags (docs/configuration.md).
    The config file read, if any, is under the private key `priv_config_file` (None: none was)."""
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
    found = Path(path).resolve() if (named or Path(path).exists()) else None
    return {**options.layer(env, loaded, flags), "priv_config_file": found}


LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_levels(level: str, debug_print: Any) -> None:
    """Set the log's level, and debug for the `HB_PRINT`/`debug_print` topics: `true` is every
    aonode logger; a topic `lua` is the `aonode.lua` logger (Lua's `print`), `http`, `wasm`,
    `scheduler`, ... likewise."""
    logging.getLogger().setLevel(level.upper())
    if debug_print is True:
        logging.getLogger("aonode").setLevel(logging.DEBUG)
    elif isinstance(debug_print, (list, tuple)):
        for topic in debug_print:
            name = topic.decode() if isinstance(topic, bytes) else str(topic)
            logging.getLogger(name if name.startswith("aonode") else f"aonode.{name}").setLevel(logging.DEBUG)


def _leave(signum: int, frame: object) -> None:
    """A worker's handler outside uvicorn's: the node is stopping, so the worker ends (status 0)."""
    raise SystemExit(0)


def _handled(signum: int, frame: object) -> None:
    """The handler left in place while uvicorn runs: the signal has been dealt with."""


def _exit_after(seconds: float) -> None:
    """Exit the process `seconds` from now, whatever is still running: durable writes are LMDB
    transactions, so an exit between them loses nothing that was acknowledged."""
    time.sleep(seconds)
    logging.getLogger("aonode").warning("shutdown did not finish within %g s; exiting now", seconds)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


def _server(config: Any, grace: float) -> Any:
    """A uvicorn server that, on the first SIGINT/SIGTERM, also ends every running Lua call
    (`aonode.runtime.lua.stop_all`) and exits the process `grace` seconds later if the graceful
    shutdown has not finished by then (`shutdown_timeout`)."""
    import uvicorn

    from aonode.runtime.lua import stop_all

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            first = not self.should_exit
            super().handle_exit(sig, frame)
            if first:
                stop_all()
                threading.Thread(target=_exit_after, args=(grace,), name="aonode-exit", daemon=True).start()

    return Server(config)


def _private_data_dir(path: Path) -> None:
    """Create the data directory readable by its owner alone (0700), or tighten an existing one
    open to group or others: the store holds the node's private state (`priv_store`) and
    every message it has seen. Files inside are left alone; the directory is what guards them."""
    log = logging.getLogger("aonode")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError as exc:
            log.warning("the data directory %s is open to other users (mode %03o) and cannot be made private: %s",
                        path, mode, exc.strerror)
        else:
            log.warning("the data directory %s was open to other users (mode %03o): now 0700", path, mode)


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
@click.option("--workers", type=click.IntRange(1, 1024),
              help="Processes serving the port, one per core (default 1, or the `workers` option).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), envvar="AONODE_LOG_LEVEL",
              default="info", show_default=True,
              help="What the log shows (or AONODE_LOG_LEVEL). HB_PRINT=lua,http,... shows those topics at debug.")
def serve(port: int | None, host: str | None, data_dir: Path | None, config: Path | None,
          wallet_path: Path | None, workers: int | None, log_level: str) -> None:
    """Run a node: HTTP on PORT, state in DATA_DIR, responses signed with the node wallet."""
    import uvicorn

    from aonode.core import options
    from aonode.http._protocol import guarded_protocol, limits_from
    from aonode.http.metrics import METRICS_PATH
    from aonode.http.server import DEFAULT_MAX_HEADER_SIZE, create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    log = logging.getLogger("aonode")
    try:
        opts = _node_options(port, host, data_dir, config)
        _log_levels(log_level, options.get(opts, "debug_print"))
        config_file = opts.pop("priv_config_file", None)
        if config_file is not None:
            log.info("loaded the config file %s", config_file)
        else:
            log.info("no config file: %s is absent (give one with --config or HB_CONFIG); using defaults",
                     options.get(opts, "hb_config_location"))
        data = Path(options.get(opts, "data_dir"))
        _private_data_dir(data)
        if wallet_path is None:
            explicit = opts.get("priv_key_location")
            wallet_path = Path(explicit) if explicit else data / WALLET_FILE
        node_wallet, created = _node_wallet(wallet_path)
        if not options.get(opts, "wasm_cache_dir"):  # compiled WASM survives restarts
            opts = {**opts, "wasm_cache_dir": str(data / "wasm-cache")}
        node_opts = {**opts, "priv_wallet": node_wallet, "priv_key_location": str(wallet_path)}
        count = workers if workers is not None else int(options.get(opts, "workers"))
        node_opts["workers"] = count  # each worker shares its numbers with the others (dashboard)
        node_opts["priv_node_run"] = uuid.uuid4().hex  # the workers' shared log of run-time option changes
        # Bind before anything claims to listen: a port in use is reported, not a crash later.
        from aonode.http._workers import bind as bind_socket
        bind = str(options.get(opts, "host"))
        wanted = int(options.get(opts, "port"))
        try:
            sock = bind_socket(bind, wanted)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {bind}:{wanted}: {exc.strerror or exc}"
                + (" (another node or program is using this port; choose another with --port or HB_PORT)"
                   if exc.errno == errno.EADDRINUSE else "")) from exc
        listen_port = int(sock.getsockname()[1])
        if count == 1:
            app = create_app(node_opts)
    except AOError as exc:
        raise click.ClickException(exc.message) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if created:
        log.info("created a new wallet at %s", wallet_path)
    log.info("aonode %s: node %s, data in %s, listening on http://%s:%d (metrics at %s)",
             __version__, node_wallet.address, data, bind, listen_port, METRICS_PATH)
    # uvicorn handles SIGINT/SIGTERM itself (stop accepting, finish in-flight requests, run
    # the lifespan shutdown that closes the store) and then re-raises the signal to whatever
    # handler was there before it. Make that a no-op, so a stopped node exits 0 and says so.
    # Running Lua calls end at once, and a shutdown still unfinished after `shutdown_timeout`
    # seconds ends with an exit (status 1).
    grace = float(options.get(opts, "shutdown_timeout"))

    def run(served: Any, sockets: list[Any] | None = None, before: Callable[[int, Any], None] = _handled) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, before)
        try:
            _server(uvicorn.Config(
                served, host=bind, port=listen_port, lifespan="on", log_config=None, access_log=False,
                server_header=False, http=guarded_protocol(limits_from(opts)),
                h11_max_incomplete_event_size=int(options.get(opts, "http_max_header_size", DEFAULT_MAX_HEADER_SIZE)),
                timeout_keep_alive=max(1, int(options.get(opts, "idle_timeout")) // 1000),
            ), grace).run(sockets=sockets)
        finally:
            served.close()  # uvicorn closed it at lifespan shutdown unless start-up failed

    if count > 1:
        from aonode.http._workers import run_workers

        def worker(shared: Any) -> int:
            # A signal before uvicorn handles them (a worker still starting) ends the worker.
            run(create_app(node_opts), [shared], _leave)
            return 0

        code = run_workers(count, sock, worker, grace + 2)
        log.info("aonode stopped")
        sys.exit(code)
    run(app, [sock])
    log.info("aonode stopped")


if __name__ == "__main__":
    sys.exit(main())
