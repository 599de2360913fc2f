"""Memory bombs on a real `aonode serve` (issue 17, item 3): Lua processes that each hold a big
global, more of them than the live-state budget holds. Each stays within its per-process limit,
the node's resident memory stays within its budgets, live states beyond the budget are dropped
and computed again from their snapshots with the right state, the data directory does not fill
up with snapshots, and other clients are answered within a second throughout."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
from aonode_process import Node, running, send_message, signed
from processes.process_http import schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet

AOS_LUA = (Path(__file__).parent.parent / "devices" / "lua_scripts" / "aos.lua").read_bytes()
MIB = 1024 * 1024
PROCESSES = 6
GLOBAL_MIB = 20
LIVE_BUDGET = 64 * MIB
CONFIG = (f"lua_memory_limit: {48 * MIB}\nlua_memory_budget: {96 * MIB}\nprocess_live_memory: {LIVE_BUDGET}\n"
          "process_snapshot_time: 3600\n")
# A global that does not deflate: 64 KiB of pseudo-random bytes (deflate's window is 32 KiB),
# repeated, and the process's own suffix.
BOMB = ("local t = {{}} for j = 1, 65536 do t[j] = string.char(math.random(0, 255)) end\n"
        "Big = string.rep(table.concat(t), {n}) .. '{tag}'\nCount = (Count or 0) + 1\nreturn #Big")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def disk_mib(path: Path) -> int:
    return int(subprocess.check_output(["du", "-sk", str(path)]).split()[0]) // 1024


def spawn(client: httpx.Client, node: Node, owner: Wallet) -> str:
    address = client.get("/~meta@1.0/info/address").text
    process = signed({
        "device": "process@1.0", "type": "Process", "scheduler": address, "authority": address,
        "scheduler-device": "scheduler@1.0", "execution-device": "lua@5.3a",
        "module": {"content-type": "application/lua", "body": AOS_LUA}, "seed": uuid.uuid4().hex,
    }, owner)
    assert schedule(client, process).status_code == 200
    return message_id(process, committers="all")


def evaluate(client: httpx.Client, pid: str, owner: Wallet, code: str) -> str:
    send_message(client, pid, owner, action="Eval", data=code)
    reply = client.get(f"/{pid}/now/results/output/data")
    assert reply.status_code == 200, reply.text
    return reply.text


class Watch:
    """Polls the node from another client: the slowest answer and the highest RSS seen."""

    def __init__(self, node: Node) -> None:
        self.node, self.slowest, self.peak_kib = node, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.node.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                assert client.get("/~meta@1.0/info/address").status_code == 200
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.peak_kib = max(self.peak_kib, rss_kib(self.node.process.pid))
                time.sleep(0.1)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_memory_bombs_stay_within_the_budgets(tmp_path: Path) -> None:
    owner = Wallet.generate()
    with running(tmp_path / "node", config=CONFIG) as node, \
            httpx.Client(base_url=node.url, timeout=120) as client:
        pids = [spawn(client, node, owner) for _ in range(PROCESSES)]
        evaluate(client, pids[0], owner, "return 1")  # the Lua host loaded and warm
        base_kib, base_mib = rss_kib(node.process.pid), disk_mib(node.data_dir)
        with Watch(node) as watch:
            for i, pid in enumerate(pids):
                assert evaluate(client, pid, owner, BOMB.format(n=GLOBAL_MIB * 16, tag=i)) == str(GLOBAL_MIB * MIB + 1)
            # Over its own limit: an error result, and the process keeps its state.
            over = evaluate(client, pids[1], owner, "Huge = string.rep('y', 60 * 1024 * 1024) .. 'z' return #Huge")
            assert "not enough memory" in over
            # The first processes' live states were dropped (six 20 MiB states over a 64 MiB
            # budget); computed again from their snapshots, they hold what they held.
            assert "bytes dropped" in node.log_text(), "no live state was dropped"
            for i, pid in enumerate(pids):
                assert evaluate(client, pid, owner, "return Count .. ' ' .. #Big .. Big:sub(-1)") \
                    == f"1 {GLOBAL_MIB * MIB + 1}{i}"
        grown_mib = (watch.peak_kib - base_kib) // 1024
        # The live budget (64 MiB) and the running one (96 MiB), plus what the interpreter and
        # the allocator's per-thread arenas keep (measured: 200 to 250 MiB in all; before issue 17
        # the same run grew by about 4 x 120 MiB).
        assert grown_mib < 64 + 96 + 160, f"RSS grew by {grown_mib} MiB"
        assert watch.slowest < 1.0, f"another client waited {watch.slowest:.2f}s"
        # The snapshots that count are the small ones at spawn: no VM of 20 MiB is stored per request.
        assert disk_mib(node.data_dir) - base_mib < GLOBAL_MIB, "the data directory filled with snapshots"
