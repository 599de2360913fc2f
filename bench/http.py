"""HTTP throughput of an aonode node against a bare ASGI hello-world on the same server.

Each app runs in its own subprocess under uvicorn with the settings `aonode serve` uses
(one worker, the `h11` parser, no access log; docs/decisions.md) on a loopback port. A load
generator in this process keeps 16 keep-alive connections busy for `--seconds` each and
counts complete `200` answers; it writes pre-encoded request bytes and parses answers with a
minimal HTTP/1.1 reader, so the client costs as little as possible and the server is what is
measured. In one run:

* (c) `GET /` on a bare ASGI app that answers `hello` (the ceiling of the ASGI server);
* (a) `GET /~meta@1.0/info` on aonode (the node message, signed by the node);
* (b) a signed `POST /key1` with `key1` in the message (verify the request, resolve
  `message@1.0`, sign the answer).

It prints requests/s for each and the ratios a/c and b/c.

    .venv/bin/python bench/http.py [--seconds N] [--concurrency N]
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `http` package, and Python puts its folder
# first on sys.path: take it off before anything imports `http`.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib  # noqa: E402
import runpy  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

CONCURRENCY = 16
STARTUP_SECONDS = 30.0
Scope = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def have_server() -> str | None:
    """None when `aonode.http.server.create_app` and uvicorn can be imported, else why not."""
    try:
        importlib.import_module("uvicorn")
    except ImportError:
        return "uvicorn is not installed (pip install uvicorn)"
    try:
        module = importlib.import_module("aonode.http.server")
    except ImportError as exc:
        return f"aonode.http.server cannot be imported ({exc}); the HTTP server is not built yet"
    if not callable(getattr(module, "create_app", None)):
        return "aonode.http.server has no create_app(opts); the HTTP server is not built yet"
    return None


async def hello_app(scope: Scope, receive: Callable[[], Awaitable[Scope]],
                    send: Callable[[Scope], Awaitable[None]]) -> None:
    """The bare ASGI reference: `hello` for every request (and the lifespan handshake)."""
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            kind = event["type"].rsplit(".", 1)[1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] != "http":
        return
    body = b"hello"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve(kind: str, port: int) -> None:
    """Run one app under uvicorn until killed (the subprocess side)."""
    import uvicorn

    if kind == "hello":
        app: Any = hello_app
    else:
        from aonode.crypto import Wallet

        create_app = importlib.import_module("aonode.http.server").create_app
        data_dir = tempfile.mkdtemp(prefix="aonode-bench-")
        app = create_app({"priv_wallet": Wallet.generate(), "port": port, "data_dir": data_dir})
    # The settings `aonode serve` uses (aonode/cli.py; docs/decisions.md), for both apps.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on",
                server_header=False, http="h11", h11_max_incomplete_event_size=64 * 1024)


def start(kind: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/http.py: the {kind} server exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"bench/http.py: the {kind} server did not listen on port {port} within {STARTUP_SECONDS}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# The load generator's raw HTTP, shared by the HTTP benchmarks (bench/ is not on sys.path).
_RAW = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_raw_http.py"))
raw_request, read_status = _RAW["raw_request"], _RAW["read_status"]


async def load(port: int, request: bytes, seconds: float, concurrency: int) -> tuple[float, int]:
    """Requests/s of `200` answers over `concurrency` keep-alive connections, and the count of others."""
    done = 0
    bad = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, bad
        while time.monotonic() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while time.monotonic() < deadline:
                    writer.write(request)
                    status = await read_status(reader)
                    if status == 200:
                        done += 1
                    else:
                        bad += 1
            except (asyncio.IncompleteReadError, ConnectionError):
                bad += 1  # the server closed the connection: open another
            finally:
                writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started), bad


def measure(kind: str, request_for: Callable[[int], bytes], seconds: float, concurrency: int) -> tuple[float, int]:
    port = free_port()
    proc = start(kind, port)
    try:
        request = request_for(port)
        asyncio.run(load(port, request, min(seconds, 0.5), concurrency))  # warm up
        return asyncio.run(load(port, request, seconds, concurrency))
    finally:
        stop(proc)


def signed_post(port: int) -> bytes:
    from aonode.codecs import commit, encode
    from aonode.crypto import Wallet

    signed = commit({"path": "/key1", "key1": "value1"}, Wallet.generate())
    wire = encode(signed, "httpsig@1.0", bundle=True)
    body = wire.pop("body", b"")
    return raw_request("POST", "/key1", port, wire, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--serve", choices=["hello", "aonode"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    missing = have_server()
    if missing is not None:
        raise SystemExit(f"bench/http.py: cannot run: {missing}")
    rows = [
        ("(c) bare ASGI hello-world, GET /", "hello", lambda port: raw_request("GET", "/", port)),
        ("(a) aonode GET /~meta@1.0/info", "aonode", lambda port: raw_request("GET", "/~meta@1.0/info", port)),
        ("(b) aonode signed POST /key1", "aonode", signed_post),
    ]
    rates: dict[str, float] = {}
    print(f"uvicorn (h11), 1 worker, {args.concurrency} connections, {args.seconds:g} s each, {os.cpu_count()} cores")
    for label, kind, request_for in rows:
        rate, bad = measure(kind, request_for, args.seconds, args.concurrency)
        rates[label[:3]] = rate
        note = f"  ({bad} non-200 answers)" if bad else ""
        print(f"  {label:<36} {rate:9.1f} req/s{note}")
    print(f"  ratio a/c {rates['(a)'] / rates['(c)']:24.3f}")
    print(f"  ratio b/c {rates['(b)'] / rates['(c)']:24.3f}")


if __name__ == "__main__":
    main()
