"""What charging costs: requests/s of the same signed requests on a node that serves them free,
on one that charges through `p4@1.0` + `simple-pay@1.0`, and on one that charges through
`p4@1.0` + the Lua token ledger process (issue 21, "done" item 4).

Each node is a real `aonode serve` process on a loopback port. The requests are signed
`POST /~message@1.0&n=N/n` by one wallet, each one different (a charged request sent again is
free, so a repeated one would measure nothing); the wallet's opening balance covers them all.
A load generator in this process keeps 16 keep-alive connections busy for `--seconds` per node
with pre-encoded requests and a minimal HTTP/1.1 reader, and counts `200` answers. In one run:

* (f) free: no hooks;
* (s) p4 + simple-pay: price 1 per message, the ledger in the node's store;
* (l) p4 + the Lua ledger: the same price, balances in the `ledger` node process, each charge
  pushed into it (scheduled, then computed).

It prints requests/s for each and the ratios s/f (goal >= 0.8) and l/f (goal >= 0.5).

    .venv/bin/python bench/payments.py [--seconds N] [--concurrency N] [--requests N]
"""

from __future__ import annotations

import os
import sys

# bench/ holds a script named `http.py`, and Python puts this file's folder first on sys.path:
# take it off before anything imports the standard library's `http`.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from aonode.codecs import commit, encode  # noqa: E402
from aonode.crypto import Wallet  # noqa: E402
from aonode.ledger import ledger_options  # noqa: E402

MODES = (("(f) free", "free"), ("(s) p4 + simple-pay", "simple-pay"), ("(l) p4 + Lua ledger", "lua"))

CONCURRENCY = 16
STARTUP_SECONDS = 60.0
BALANCE = 10**12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def options(mode: str, payer: str) -> dict[str, Any]:
    if mode == "free":
        return {}
    if mode == "simple-pay":
        hook = {"device": "p4@1.0", "pricing-device": "simple-pay@1.0", "ledger-device": "simple-pay@1.0"}
        return {"on": {"request": hook, "response": hook}, "simple_pay_ledger": {payer: BALANCE}}
    return ledger_options({payer: BALANCE})


def start(mode: str, payer: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / f"{mode}.json"
    config.write_text(json.dumps(_jsonable(options(mode, payer))))
    cmd = [sys.executable, "-m", "aonode.cli", "serve", "--port", str(port), "--host", "127.0.0.1",
           "--data-dir", str(workdir / f"data-{mode}"), "--config", str(config)]
    log = (workdir / f"{mode}.log").open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/payments.py: the {mode} node exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"bench/payments.py: the {mode} node did not listen within {STARTUP_SECONDS}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def signed_requests(wallet: Wallet, count: int) -> list[tuple[str, dict[str, bytes], bytes]]:
    out = []
    for n in range(count):
        path = f"/~message@1.0&n={n}/n"
        wire = encode(commit({"path": path}, wallet), "httpsig@1.0", bundle=True)
        body = wire.pop("body", b"")
        out.append((path, wire, body))
    return out


def raw(path: str, headers: dict[str, bytes], body: bytes, port: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), f"host: 127.0.0.1:{port}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines.append(f"content-length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (content-length or chunked) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], seconds: float, concurrency: int) -> tuple[float, int, bool]:
    """Requests/s of `200` answers, the count of other answers, and whether the requests ran out."""
    pending = iter(requests)
    done = bad = 0
    ran_out = False
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, bad, ran_out
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                request = next(pending, None)
                if request is None:
                    ran_out = True
                    return
                writer.write(request)
                if await read_response(reader) == 200:
                    done += 1
                else:
                    bad += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started), bad, ran_out


def measure(mode: str, payer: Wallet, requests: list[tuple[str, dict[str, bytes], bytes]], seconds: float,
            concurrency: int, workdir: Path) -> tuple[float, int, bool]:
    proc, port = start(mode, payer.address, workdir)
    try:
        wire = [raw(path, headers, body, port) for path, headers, body in requests]
        warm, rest = wire[:2 * concurrency], wire[2 * concurrency:]
        asyncio.run(load(port, warm, 30.0, concurrency))  # imports, the ledger process's spawn
        return asyncio.run(load(port, rest, seconds, concurrency))
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--requests", type=int, default=4000, help="distinct signed requests per node")
    args = parser.parse_args()
    payer = Wallet.generate()
    requests = signed_requests(payer, args.requests)
    rates: dict[str, float] = {}
    print(f"aonode serve, {args.concurrency} connections, {args.seconds:g} s per node, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="aonode-bench-pay-") as tmp:
        for label, mode in MODES:
            rate, bad, ran_out = measure(mode, payer, requests, args.seconds, args.concurrency, Path(tmp))
            rates[mode] = rate
            notes = [f"{bad} non-200 answers" if bad else "",
                     "ran out of requests: raise --requests" if ran_out else ""]
            note = "; ".join(n for n in notes if n)
            print(f"  {label:<24} {rate:9.1f} req/s{'  (' + note + ')' if note else ''}")
    print(f"  ratio s/f {rates['simple-pay'] / rates['free']:18.3f}   (goal >= 0.8)")
    print(f"  ratio l/f {rates['lua'] / rates['free']:18.3f}   (goal >= 0.5)")


if __name__ == "__main__":
    main()
