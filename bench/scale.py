"""Scaling out (issue 20, done-means 3): one mixed load against five set-ups, in one run.

The load, from `--concurrency` client threads for `--seconds` per set-up, each request in turn:

* a signed POST: `POST /key1` with a signed message holding `key1` (verify, resolve, sign the answer);
* a HyperPATH read: `GET /~message@1.0&greeting="Hello"&count+integer=42/count`;
* a scheduler slot: a new signed message scheduled on a process (`POST /~scheduler@1.0/schedule`),
  as AOS clients' messages are.

The set-ups, each real `aonode serve` processes on loopback. The clients spread the signed
POSTs and reads over a set-up's nodes in turn, and send each process's messages (6 processes)
to one node chosen by a hash of the process ID, as a router with `By-Base` does:

    (a) one node, LMDB, one worker                       the reference
    (b) one node, LMDB, `--workers 2`                    goal: >= 1.7 x (a)
    (c) one node, LMDB in front of Redis (`store` [lmdb, redis], `scheduler_store` redis)
                                                         goal: >= 0.7 x (a)
    (d) one node over Redis alone
    (e) three nodes over one Redis, sharing the scheduler (the lease)

Redis is a `redis-server` started here (tests/services.py), AOF `everysec`. Signing is done
before the load, in a process pool, so the clients only send. Every set-up's nodes run from the
start and are measured in turns, `--rounds` times (each round starting with the next set-up), so
a slow spell of this shared machine falls on all of them; it prints requests/s for each set-up
and round, and each ratio's median over the rounds (with the rounds' own ratios); (e) over (d)
is the three-node scaling on this machine.

    .venv/bin/python bench/scale.py [--seconds N] [--rounds N] [--concurrency N] [--only LETTERS]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import multiprocessing
import os
import runpy
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "http")]

import httpx  # noqa: E402
import services  # noqa: E402
from aonode_process import Node, signed, start, stop, to_http  # noqa: E402

from aonode.codecs import message_id  # noqa: E402
from aonode.crypto import Wallet  # noqa: E402

READ_PATH = '/~message@1.0&greeting="Hello"&count+integer=42/count'


def _sign(args: tuple[str, str, int, int]) -> list[tuple[str, dict[str, str], bytes]]:
    """`count` signed messages of one kind, encoded as HTTP requests (headers, body)."""
    kind, pid, start_at, count = args
    wallet = Wallet.generate()
    out = []
    for n in range(start_at, start_at + count):
        if kind == "post":
            msg = signed({"key1": f"value-{n}", "n": n}, wallet)
            headers, body = to_http({**msg, "path": "/key1"})
        else:
            inner = signed({"target": pid, "type": "Message", "n": n, "nonce": uuid.uuid4().hex}, wallet)
            headers, body = to_http({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": inner})
        out.append((pid, headers, body))
    return out


def presign(kind: str, pids: list[str], count: int) -> list[tuple[str, dict[str, str], bytes]]:
    """`count` signed requests; slot requests go to the processes in turn, 100 at a time."""
    jobs = [(kind, pids[n % len(pids)], n * 100, 100) for n in range((count + 99) // 100)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        return [item for part in pool.map(_sign, jobs) for item in part][:count]


# The load generator's raw HTTP, shared by the HTTP benchmarks.
_RAW = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_raw_http.py"))
raw_request, read_status = _RAW["raw_request"], _RAW["read_status"]


class Load:
    """The mixed load against some nodes over keep-alive connections, from pre-encoded request
    bytes on one asyncio loop (a Python HTTP client per thread cost more CPU than the node, on
    the same two cores); counts the 200 answers."""

    def __init__(self, ports: list[int], posts: list[Any], slots: list[tuple[int, Any]], concurrency: int) -> None:
        self.ports = ports
        self.posts = itertools.cycle([raw_request("POST", "/key1", ports[0], h, b) for h, b in posts])
        self.read = raw_request("GET", READ_PATH, ports[0], {}, b"")
        # Each slot request once: a resend would be answered from the index.
        self.slots = iter([(node, raw_request("POST", "/~scheduler@1.0/schedule", ports[node],
                                              {**h, "accept-bundle": "true"}, b)) for node, (h, b) in slots])
        self.concurrency = concurrency
        self.done = 0
        self.failed = 0

    def run(self, seconds: float) -> float:
        return asyncio.run(self._run(seconds))

    async def _run(self, seconds: float) -> float:
        stop_at = time.monotonic() + seconds
        began = time.monotonic()
        await asyncio.gather(*(self._client(n, stop_at) for n in range(self.concurrency)))
        return self.done / (time.monotonic() - began)

    async def _client(self, index: int, stop_at: float) -> None:
        connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            for turn in itertools.count(index):
                if time.monotonic() >= stop_at:
                    return
                # Every node gets every kind of request: the node turns over every third request.
                node = (turn // 3 + index) % len(self.ports)
                kind = turn % 3
                if kind == 0:
                    request = next(self.posts)
                elif kind == 1:
                    request = self.read
                else:
                    found = next(self.slots, None)
                    if found is None:
                        self.failed += 1
                        continue
                    node, request = found
                try:
                    if node not in connections:
                        connections[node] = await asyncio.open_connection("127.0.0.1", self.ports[node])
                    reader, writer = connections[node]
                    writer.write(request)
                    ok = await read_status(reader) == 200
                except (asyncio.IncompleteReadError, ConnectionError):
                    connections.pop(node, None)
                    ok = False
                if ok:
                    self.done += 1
                else:
                    self.failed += 1
        finally:
            for _, writer in connections.values():
                writer.close()


def _process(scheduler: Wallet) -> dict[str, Any]:
    return signed({"device": "process@1.0", "type": "Process", "scheduler": scheduler.address,
                   "authority": scheduler.address, "scheduler-device": "scheduler@1.0",
                   "execution-device": "test-device@1.0", "test-random-seed": uuid.uuid4().hex}, Wallet.generate())


@contextmanager
def nodes(root: Path, count: int, wallet: Path, config: str, extra: list[str]) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for n in range(count):
            started.append(start(root / f"node{n}", config=config, extra=["--wallet", str(wallet), *extra]))
        yield started
    finally:
        for node in started:
            stop(node)


PROCESSES = 6


def preferred(pid: str, count: int) -> int:
    """The node a router spreading processes by a hash of their ID (as `By-Base`) sends `pid` to."""
    return int.from_bytes(hashlib.sha256(pid.encode()).digest()[:4], "big") % count


class SetUp:
    """One set-up's running nodes, its processes, and the load it is measured with, round by round."""

    def __init__(self, label: str, urls: list[str], scheduler: Wallet, posts: list[Any], slots_needed: int,
                 concurrency: int) -> None:
        self.label = label
        pids = []
        for _ in range(PROCESSES):
            process = _process(scheduler)
            pid = message_id(process, committers="all")
            headers, body = to_http({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process})
            with httpx.Client(base_url=urls[preferred(pid, len(urls))], timeout=60) as client:
                response = client.post("/~scheduler@1.0/schedule", headers=headers, content=body)
            if response.status_code != 200:
                raise SystemExit(f"{label}: the process was not scheduled: {response.status_code} {response.text}")
            pids.append(pid)
        signed_slots = presign("slot", pids, slots_needed)
        slots = [(preferred(target, len(urls)), (headers, body)) for target, headers, body in signed_slots]
        self.load = Load([int(url.rsplit(":", 1)[1]) for url in urls], posts, slots, concurrency)
        self.load.run(1.0)  # warm up: imports, first LMDB pages, connections
        self.rates: list[float] = []

    def measure(self, seconds: float) -> float:
        self.load.done = self.load.failed = 0
        rate = self.load.run(seconds)
        self.rates.append(rate)
        print(f"{self.label:<58} {rate:8.1f} req/s  ({self.load.failed} failed)", flush=True)
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="Measure every set-up this many times, in turns.")
    parser.add_argument("--only", default="abcde", help="The set-ups to measure (letters), e.g. ae.")
    parser.add_argument("--workdir", type=Path, help="Keep the nodes' files and logs here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aonode-scale-") as tmp, ExitStack() as stack:
        root = args.workdir or Path(tmp)
        wallet_path = root / "wallet.json"
        scheduler = Wallet.generate()
        scheduler.save(wallet_path)
        posts = [(headers, body) for _, headers, body in presign("post", [""], 600)]
        redis = stack.enter_context(services.redis_server(root / "redis"))

        def redis_store(namespace: str) -> str:
            return (f"store-module: redis\nurl: {redis.url}\nnamespace: {namespace}\n")

        def indent(spec: str, prefix: str) -> str:
            return "".join(f"{prefix}{line}\n" for line in spec.splitlines())

        lmdb_then_redis = (f"store/1/store-module: lmdb\nstore/1/name: {root / 'c-lmdb'}\n"
                           + indent(redis_store("c"), "store/2/") + indent(redis_store("c"), "scheduler_store/1/"))
        setups = [
            ("a", "(a) 1 node, LMDB, 1 worker", 1, "", []),
            ("b", "(b) 1 node, LMDB, --workers 2", 1, "", ["--workers", "2"]),
            ("c", "(c) 1 node, LMDB in front of Redis", 1, lmdb_then_redis, []),
            ("d", "(d) 1 node, Redis alone", 1, indent(redis_store("d"), "store/1/"), []),
            ("e", "(e) 3 nodes, one Redis", 3, indent(redis_store("e"), "store/1/"), []),
        ]
        chosen = [setup for setup in setups if setup[0] in args.only]
        # Slots are never sent twice (a resend is answered from the index): sign enough for every round.
        slots_needed = int(args.rounds * (args.seconds + 1) * 80)
        running: dict[str, SetUp] = {}
        for letter, label, count, config, extra in chosen:
            started = stack.enter_context(nodes(root / letter, count, wallet_path, config, extra))
            running[letter] = SetUp(label, [n.url for n in started], scheduler, posts, slots_needed,
                                    args.concurrency)
        # Every set-up's nodes run from the start; they are measured in turns, each round starting
        # with the next one, so that a slow spell of the machine falls on all of them.
        order = list(running)
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds}", flush=True)
            for letter in order[round_ % len(order):] + order[:round_ % len(order)]:
                running[letter].measure(args.seconds)
    print()
    for top, bottom, what in (("b", "a", "2 workers over 1 (goal >= 1.7)"),
                              ("c", "a", "LMDB in front of Redis over LMDB alone (goal >= 0.7)"),
                              ("d", "a", "Redis alone over LMDB alone"),
                              ("e", "d", "3 nodes over 1, both on Redis")):
        if top in running and bottom in running:
            ratios = [t / b for t, b in zip(running[top].rates, running[bottom].rates, strict=True)]
            each = " ".join(f"{r:.2f}" for r in ratios)
            print(f"({top})/({bottom}) {what:<55} {statistics.median(ratios):5.2f}  (rounds: {each})")

if __name__ == "__main__":
    main()
