"""Time to compute one new slot of a process at slot 100 and at slot 10,000, in the same run.

A process on this node's own scheduler (LMDB store in a temporary directory, the node's RSA
wallet signing every assignment) runs `sum@1.0`, a small execution device whose state has a
constant size, so any growth in the cost of a slot comes from the node, not the program.

For each depth D (100, then 10,000): schedule messages up to slot D and compute them (not
timed); then, `--rounds` times, schedule one more message and time `compute` of that new slot
through the resolver, as `GET /<ProcID>/compute?slot=N` does. The medians and their ratio
(10,000 over 100; goal: near 1) are printed. Then the node "restarts" (a fresh cache over the
same store, so no live state) and one new slot is computed from the nearest snapshot: that
time is printed too, with its ratio to the warm one.

    .venv/bin/python -P bench/compute.py [--deep N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from aonode.codecs import commit, message_id
from aonode.core import Device, resolve
from aonode.crypto import Wallet
from aonode.store import MessageCache, open_store


class SumDevice(Device):
    """`sum@1.0`: the state is `total`, the sum of the messages' `value`s."""

    name = "sum@1.0"

    def init(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {**base, "total": 0}

    def normalize(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return dict(base)

    def snapshot(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {"total": base.get("total", 0)}

    def compute(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        body = request.get("body")
        value = body.get("value", 0) if isinstance(body, Mapping) else 0
        total = int(base.get("total", 0)) + int(value)
        return {**base, "total": total, "results": {"data": str(total).encode()}}


def make_opts(wallet: Wallet, store: Any) -> dict[str, Any]:
    return {
        "priv_wallet": wallet,
        "cache": MessageCache(store),
        "preloaded_devices": {"sum@1.0": SumDevice()},
        # The reference's production policy: a snapshot at most every 60 s, and one at the
        # end of every compute request.
        "process_snapshot_time": 60,
    }


class Bench:
    def __init__(self, wallet: Wallet, store: Any) -> None:
        self.wallet = wallet
        self.store = store
        self.opts = make_opts(wallet, store)
        self.sender = Wallet.generate()
        self.process = commit({
            "device": b"process@1.0", "type": b"Process", "scheduler": wallet.address.encode(),
            "authority": wallet.address.encode(), "scheduler-device": b"scheduler@1.0",
            "execution-device": b"sum@1.0", "bench-seed": str(time.time_ns()).encode(),
        }, wallet)
        self.pid = message_id(self.process, committers="all")
        self.slot = -1

    def schedule(self, value: int) -> int:
        msg = commit({"target": self.pid.encode(), "type": b"Message", "value": value,
                      "n": self.slot + 1}, self.sender)
        body = self.process if self.slot < 0 else msg
        result = resolve({"device": "scheduler@1.0"}, {"path": "schedule", "method": "POST", "body": body},
                         self.opts)
        if not result.ok:
            raise SystemExit(f"scheduling failed: {result.value!r}")
        self.slot = int(result.value["slot"])
        return self.slot

    def compute(self, slot: int) -> float:
        started = time.perf_counter()
        result = resolve(self.process, {"path": "compute", "slot": slot}, {**self.opts, "hashpath": "ignore"})
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"compute of slot {slot} failed: {result.value!r}")
        return elapsed

    def fill_to(self, depth: int) -> None:
        step = max(1, depth // 20)
        while self.slot < depth:
            self.schedule(1)
            if self.slot % step == 0:
                self.compute(self.slot)
                print(f"  at slot {self.slot}", file=sys.stderr, end="\r")
        self.compute(self.slot)
        print(file=sys.stderr)

    def new_slot_times(self, rounds: int) -> list[float]:
        return [self.compute(self.schedule(1)) for _ in range(rounds)]

    def restarted(self) -> Bench:
        """The same process and store seen by a node that just started (no live state)."""
        other = Bench.__new__(Bench)
        other.__dict__.update(self.__dict__)
        other.opts = make_opts(self.wallet, self.store)
        return other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shallow", type=int, default=100)
    parser.add_argument("--deep", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aonode-bench-compute-") as directory:
        store = open_store({"store-module": "lmdb", "name": directory})
        bench = Bench(Wallet.generate(), store)
        print(f"filling to slot {args.shallow}", file=sys.stderr)
        bench.fill_to(args.shallow)
        shallow = statistics.median(bench.new_slot_times(args.rounds))
        print(f"filling to slot {args.deep}", file=sys.stderr)
        bench.fill_to(args.deep)
        deep = statistics.median(bench.new_slot_times(args.rounds))
        cold_bench = bench.restarted()
        cold = cold_bench.compute(cold_bench.schedule(1))
        store.close()
    print(f"process@1.0 + scheduler@1.0, LMDB store, {args.rounds} new slots each (median)")
    print(f"  one new slot at slot {args.shallow:>6}        {shallow * 1000:8.2f} ms")
    print(f"  one new slot at slot {args.deep:>6}        {deep * 1000:8.2f} ms")
    print(f"  ratio deep/shallow                 {deep / shallow:8.2f}")
    print(f"  after a restart (from snapshot)  {cold * 1000:8.2f} ms   ratio to warm {cold / deep:.2f}")


if __name__ == "__main__":
    main()
