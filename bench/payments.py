"""What charging costs: requests/s of the same signed requests on a node that serves them free,
on one that charges through `p4@1.0` + `simple-pay@1.0`, and on one that charges through
`p4@1.0` + the Lua token ledger process (issue 21, "done" item 4).

Each node is a real `aonode serve` process on a loopback port. The requests are signed
`POST /~message@1.0&n=N/n` by one wallet, each one different (a charged request sent again is
free, so a repeated one would measure nothing); the wallet's opening balance covers them all.
The three nodes run at once; a load generator in this process keeps 16 keep-alive
connections busy on one node at a time, in turns (`--rounds`), for `--seconds` per node in
all, with pre-encoded requests and a minimal HTTP/1.1 reader, and counts `200` answers, so a
change in the machine's load weighs on the three alike. In one run:

* (f) free: no hooks;
* (s) p4 + simple-pay: price 1 per message, the ledger in the node's store;
* (l) p4 + the Lua ledger: the same price, balances in the `ledger` node process, each charge
  pushed into it (scheduled, then computed).

It prints requests/s for each and the ratios s/f (goal >= 0.8) and l/f (goal >= 0.5).

    .venv/bin/python bench/payments.py [--seconds N] [--rounds N] [--concurrency N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import runpy
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aonode.codecs import commit, encode
from aonode.crypto import Wallet
from aonode.ledger import ledger_options

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





# The load generator's raw HTTP, shared by the HTTP benchmarks.
_RAW = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_raw_http.py"))
raw_request, read_status = _RAW["raw_request"], _RAW["read_status"]


async def load(port: int, pending: Iterator[bytes], seconds: float, concurrency: int) -> tuple[int, float, int, bool]:
    """`200` answers and the seconds they took, the count of other answers, and whether the
    requests ran out, over `concurrency` keep-alive connections for `seconds`."""
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
                if await read_status(reader) == 200:
                    done += 1
                else:
                    bad += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.monotonic() - started, bad, ran_out


def measure(payer: Wallet, requests: list[tuple[str, dict[str, bytes], bytes]], seconds: float, rounds: int,
            concurrency: int, workdir: Path) -> dict[str, tuple[float, int, bool]]:
    """Requests/s per mode. The three nodes run at once and are measured in turn, `rounds`
    times, so that a change in the machine's load weighs on all of them alike."""
    nodes = {mode: start(mode, payer.address, workdir) for _, mode in MODES}
    try:
        pending = {mode: iter([raw_request("POST", path, port, headers, body) for path, headers, body in requests])
                   for mode, (_, port) in nodes.items()}
        for mode, (_, port) in nodes.items():  # imports, the ledger process's spawn
            warm = [next(pending[mode]) for _ in range(2 * concurrency)]
            asyncio.run(load(port, iter(warm), 30.0, concurrency))
        served = dict.fromkeys(nodes, 0)
        elapsed = dict.fromkeys(nodes, 0.0)
        refused = dict.fromkeys(nodes, 0)
        exhausted = dict.fromkeys(nodes, False)
        for _round in range(rounds):
            for mode, (_proc, port) in nodes.items():
                done, took, bad, ran_out = asyncio.run(load(port, pending[mode], seconds / rounds, concurrency))
                served[mode] += done
                elapsed[mode] += took
                refused[mode] += bad
                exhausted[mode] = exhausted[mode] or ran_out
        return {mode: (served[mode] / elapsed[mode], refused[mode], exhausted[mode]) for mode in nodes}
    finally:
        for proc, _ in nodes.values():
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per node, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three nodes")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--requests", type=int, default=4000, help="distinct signed requests per node")
    args = parser.parse_args()
    payer = Wallet.generate()
    requests = signed_requests(payer, args.requests)
    print(f"aonode serve, {args.concurrency} connections, {args.seconds:g} s per node in {args.rounds} rounds, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="aonode-bench-pay-") as tmp:
        measured = measure(payer, requests, args.seconds, args.rounds, args.concurrency, Path(tmp))
    for label, mode in MODES:
        rate, bad, ran_out = measured[mode]
        notes = [f"{bad} non-200 answers" if bad else "", "ran out of requests: raise --requests" if ran_out else ""]
        note = "; ".join(n for n in notes if n)
        print(f"  {label:<24} {rate:9.1f} req/s{'  (' + note + ')' if note else ''}")
    free = measured["free"][0]
    print(f"  ratio s/f {measured['simple-pay'][0] / free:18.3f}   (goal >= 0.8)")
    print(f"  ratio l/f {measured['lua'][0] / free:18.3f}   (goal >= 0.5)")


if __name__ == "__main__":
    main()
