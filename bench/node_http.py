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
  `message@1.0`, sign the answer);
* (d) `GET /~message@1.0&a=1&b=2/a` with `accept: application/json` on a node that does not
  sign its answers (`force_signed: false`): a two-step HyperPATH answered in JSON;
* (r) bare RSA-4096 signing (RSA-PSS, SHA-512, as the node signs) with `cryptography` in one
  thread of a process of its own, the floor of every signed answer, for `--seconds`.

It prints requests/s for each and the ratios a/r (goal >= 0.6), d/c (goal >= 0.3), a/c and b/c.

    .venv/bin/python bench/node_http.py [--seconds N] [--concurrency N]
"""

from __future__ import annotations

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib  # noqa: E402
import os
import runpy  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys
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
        app = create_app({"priv_wallet": Wallet.generate(), "port": port, "data_dir": data_dir,
                          "force_signed": kind != "aonode-unsigned"})
    # The settings `aonode serve` uses (aonode/cli.py; docs/decisions.md), for both apps.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on",
                server_header=False, http="h11", h11_max_incomplete_event_size=64 * 1024)


def start(kind: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/node_http.py: the {kind} server exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"bench/node_http.py: the {kind} server did not listen on port {port} within {STARTUP_SECONDS}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# The load generator's raw HTTP, shared by the HTTP benchmarks.
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


def rsa_signing(seconds: float) -> float:
    """Signatures/s of bare RSA-4096 PSS SHA-512 signing of a 2 KiB base (about what the
    node's info reply signs), in a process of its own like the servers."""
    code = f"""
import time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
pss = padding.PSS(padding.MGF1(hashes.SHA512()), hashes.SHA512.digest_size)
data = bytes(range(256)) * 8
key.sign(data, pss, hashes.SHA512())
done, start = 0, time.perf_counter()
while (elapsed := time.perf_counter() - start) < {seconds!r}:
    key.sign(data, pss, hashes.SHA512())
    done += 1
print(done / elapsed)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def json_hyperpath(port: int) -> bytes:
    return raw_request("GET", "/~message@1.0&a=1&b=2/a", port, {"accept": "application/json"})


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--serve", choices=["hello", "aonode", "aonode-unsigned"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    missing = have_server()
    if missing is not None:
        raise SystemExit(f"bench/node_http.py: cannot run: {missing}")
    rows = [
        ("(c) bare ASGI hello-world, GET /", "hello", lambda port: raw_request("GET", "/", port)),
        ("(a) aonode GET /~meta@1.0/info", "aonode", lambda port: raw_request("GET", "/~meta@1.0/info", port)),
        ("(b) aonode signed POST /key1", "aonode", signed_post),
        ("(d) unsigned JSON, 2-step HyperPATH", "aonode-unsigned", json_hyperpath),
    ]
    rates: dict[str, float] = {}
    print(f"uvicorn (h11), 1 worker, {args.concurrency} connections, {args.seconds:g} s each, {os.cpu_count()} cores")
    for label, kind, request_for in rows:
        rate, bad = measure(kind, request_for, args.seconds, args.concurrency)
        rates[label[:3]] = rate
        note = f"  ({bad} non-200 answers)" if bad else ""
        print(f"  {label:<36} {rate:9.1f} req/s{note}")
    rates["(r)"] = rsa_signing(args.seconds)
    print(f"  {'(r) bare RSA-4096 PSS signing':<36} {rates['(r)']:9.1f} signatures/s")
    print(f"  ratio a/r (goal >= 0.6) {rates['(a)'] / rates['(r)']:10.3f}")
    print(f"  ratio d/c (goal >= 0.3) {rates['(d)'] / rates['(c)']:10.3f}")
    print(f"  ratio a/c {rates['(a)'] / rates['(c)']:24.3f}")
    print(f"  ratio b/c {rates['(b)'] / rates['(c)']:24.3f}")


if __name__ == "__main__":
    main()
