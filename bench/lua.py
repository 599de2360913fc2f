"""Slots/s of a Lua process computed by aonode, against the same Lua script called in bare lupa.

The workload is a small ledger written here (`LEDGER`): a global `Balances` table, and a
`compute(base, req)` that moves `req.body.quantity` from the treasury to `req.body.recipient`
and sets `base.results.output.data`.

aonode: a process (`process@1.0`, `scheduler@1.0` on the node's own wallet, `lua@5.3a`, LMDB
store in a temporary directory, snapshots only at the end of a compute request) gets
`--messages` signed messages scheduled (not timed); then one `now` computes them all, slot by
slot, as `GET /<ProcID>/now` does: for each slot the scheduler's assignment is read, the state
and the assignment are converted to Lua tables, `compute` runs, its result is converted back
and the state after the slot is written to the store.

Reference, in the same run: a fresh `lupa.lua53.LuaRuntime` loads the same script, and
`compute(base, req)` is called `--messages` times in a loop, with a `req` table (slot, timestamp
and `body = {quantity, recipient}`) built by Python for each call and the returned base fed
back in; the output is read from each result. That is the minimum any host must do; rounds
on fresh runtimes are repeated for about `--seconds` and the median round is kept. The ratio
aonode/lupa shows aonode's overhead per slot. Both sides must end with the same output.

Also in the same run: LMDB's rate of durable single commits (a small write, each in its own
transaction), the reference of issue 24's goal (aonode's slots/s at least 0.5 of it).

Then the time to snapshot the final VM (`LuaVM.snapshot`) and to restore it
(`LuaVM.restore`) is printed, with the snapshot's size.

    .venv/bin/python -P bench/lua.py [--messages N] [--seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from lupa import lua53

from aonode.codecs import commit
from aonode.core import get, resolve
from aonode.crypto import Wallet
from aonode.runtime.lua import LuaVM
from aonode.runtime.lua_ao import AoLibrary
from aonode.store import LMDBStore, MessageCache

LEDGER = b"""
Balances = Balances or { treasury = 1000000000 }
Transfers = Transfers or 0

function compute(base, req)
  local body = req.body
  local quantity = math.tointeger(body.quantity) or 0
  local recipient = body.recipient
  if Balances.treasury >= quantity then
    Balances.treasury = Balances.treasury - quantity
    Balances[recipient] = (Balances[recipient] or 0) + quantity
    Transfers = Transfers + 1
  end
  base.results = { output = { data = string.format("slot %d: %s has %d (%d transfers)",
    math.tointeger(req.slot) or -1, recipient, Balances[recipient] or 0, Transfers) } }
  return base
end
"""

RECIPIENTS = 100  # distinct accounts in the ledger


def message_keys(i: int) -> dict[str, Any]:
    """The keys of the `i`th message (0-based): a transfer to one of `RECIPIENTS` accounts."""
    return {"quantity": 1 + i % 7, "recipient": f"account-{i % RECIPIENTS:03d}".encode()}


def median_of(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The median time of `rounds` calls of `fn`, and the last call's result."""
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# --- aonode ------------------------------------------------------------------------------------


class Node:
    def __init__(self, directory: str) -> None:
        self.wallet = Wallet.generate()
        self.store = LMDBStore(directory, capacity=1024 * 1024 * 1024)
        self.opts = {
            "priv_wallet": self.wallet,
            "cache": MessageCache(self.store),
            # No snapshot between slots; one at the end of the compute request (as a node
            # with the reference's test policy off and no time policy does).
            "process_snapshot_slots": None,
            "process_snapshot_time": None,
        }
        address = self.wallet.address.encode()
        self.process = commit({
            "device": b"process@1.0", "type": b"Process", "scheduler-device": b"scheduler@1.0",
            "scheduler-location": address, "execution-device": b"lua@5.3a",
            "module": {"content-type": b"application/lua", "body": LEDGER},
            "authority": [address], "seed": time.time_ns(),
        }, self.wallet)

    def schedule(self, keys: dict[str, Any]) -> None:
        message = commit({"type": b"Message", **keys}, self.wallet)
        request = commit({"path": "schedule", "method": "POST", "body": message}, self.wallet)
        result = resolve(self.process, request, self.opts)
        if not result.ok:
            raise SystemExit(f"scheduling failed: {result.value!r}")

    def now(self) -> dict[str, Any]:
        state = get("now", self.process, None, self.opts)
        if not isinstance(state, dict):
            raise SystemExit(f"now failed: {state!r}")
        return state


# --- bare lupa ---------------------------------------------------------------------------------


def lupa_round(n: int) -> tuple[float, bytes]:
    """A fresh runtime with `LEDGER` loaded; the time of `n` calls of `compute` and the last output."""
    runtime = lua53.LuaRuntime(encoding=None)
    runtime.execute(LEDGER)
    compute = runtime.globals()[b"compute"]
    table = runtime.table_from
    process = table({b"type": b"Process", b"device": b"process@1.0", b"execution-device": b"lua@5.3a",
                     b"scheduler-device": b"scheduler@1.0"})
    base = table({b"device": b"process@1.0", b"type": b"Process", b"initialized": b"true",
                  b"at-slot": -1, b"process": process})
    output = b""
    started = time.perf_counter()
    for slot in range(n):
        keys = message_keys(slot)
        req = table({b"slot": slot, b"path": b"compute", b"timestamp": 1_700_000_000_000 + slot,
                     b"body": table({b"type": b"Message", b"quantity": keys["quantity"],
                                     b"recipient": keys["recipient"]})})
        base = compute(base, req)
        output = base[b"results"][b"output"][b"data"]
    return time.perf_counter() - started, output


def lupa_rate(n: int, seconds: float) -> tuple[float, bytes]:
    """Calls/s of the median round of `n` calls, rounds repeated for about `seconds`."""
    times: list[float] = []
    output = b""
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        elapsed, output = lupa_round(n)
        times.append(elapsed)
    return n / statistics.median(times), output


def lmdb_commit_rate(directory: str, n: int) -> float:
    """Durable single commits/s of LMDB: `n` small writes, each in its own store transaction (each
    committed and synced before the next), the reference of the issue's goal: a slot, whatever
    else it does, is at least one durable write of its result."""
    store = LMDBStore(directory, capacity=64 * 1024 * 1024)
    try:
        started = time.perf_counter()
        for i in range(n):
            with store.transaction():
                store.write(f"bench/commit/{i}", b"x" * 64)
        return n / (time.perf_counter() - started)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on the lupa rounds")
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="aonode-bench-lua-") as directory:
        node = Node(directory)
        print(f"scheduling {n} messages", file=sys.stderr)
        for i in range(n):
            node.schedule(message_keys(i))
        print(f"computing {n} slots", file=sys.stderr)
        started = time.perf_counter()
        state = node.now()
        aonode_time = time.perf_counter() - started
        if state.get("at-slot") != n - 1:
            raise SystemExit(f"now stopped at slot {state.get('at-slot')!r}, not {n - 1}")
        aonode_output = state["results"]["output"]["data"]
        vm = state["priv"]["state"]
        snapshot_time, data = median_of(vm.snapshot, 5)
        restore_time, restored = median_of(lambda: LuaVM.restore(data, AoLibrary()), 5)
        # The restored VM must carry on as the live one does (the bytes of a new snapshot may
        # differ: the dump follows Lua's table order, which is not the same in a new VM).
        after = [{"at-slot": n - 1}, {"slot": n, "body": message_keys(n)}]
        if restored.call("compute", after) != vm.call("compute", after):
            raise SystemExit("the restored VM does not compute as the live one does")
        node.store.close()
    with tempfile.TemporaryDirectory(prefix="aonode-bench-lua-lmdb-") as directory:
        lmdb_per_s = lmdb_commit_rate(directory, n)
    lupa_per_s, lupa_output = lupa_rate(n, args.seconds)
    if aonode_output != lupa_output:
        raise SystemExit(f"outputs differ: aonode {aonode_output!r}, lupa {lupa_output!r}")
    aonode_per_s = n / aonode_time
    rows = [
        ("bare lupa compute(base, req)", f"{lupa_per_s:10.0f} calls/s"),
        ("aonode now, slot by slot", f"{aonode_per_s:10.1f} slots/s   ({aonode_time * 1000 / n:.2f} ms a slot)"),
        ("ratio aonode / lupa", f"{aonode_per_s / lupa_per_s:10.4f}"),
        ("LMDB durable single commits", f"{lmdb_per_s:10.0f} commits/s"),
        ("ratio aonode / LMDB commits (goal 0.5)", f"{aonode_per_s / lmdb_per_s:10.4f}"),
        (f"VM snapshot ({len(data)} bytes)", f"{snapshot_time * 1000:10.2f} ms"),
        ("VM restore", f"{restore_time * 1000:10.2f} ms"),
    ]
    print(f"lua@5.3a ledger, {n} messages, LMDB store, one `now` against bare lupa calls")
    for label, value in rows:
        print(f"  {label:<40}{value}")


if __name__ == "__main__":
    main()
