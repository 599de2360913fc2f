"""`aonode serve --workers N` (issue 20): several processes serve one port on one LMDB store.

A real node with two workers: clients schedule on one process through both at once, and the
slots stay gapless with a chain that verifies (the LMDB write transaction is the one writer
across processes); a worker killed with SIGKILL is replaced while the other keeps serving; and
SIGTERM stops the node and every worker, with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, response_message, signed, start, stop
from process_http import CONFIG, HERE, check_chain, node_wallet, process_message, read_schedule, schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet
from aonode.store import LMDBStore

# 16 connections: all of them hashed to one worker by SO_REUSEPORT is a 1 in 32,768 chance.
CLIENTS = 16
PER_CLIENT = 8


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time a process has used, in clock ticks (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def workers_of(node: Node) -> set[int]:
    """The PIDs of the node's worker processes (its children)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(node.process.pid):
            found.add(int(fields["Pid"]))
    return found


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = start(tmp_path_factory.mktemp("workers") / "node", config=CONFIG, pythonpath=[HERE],
                    extra=["--workers", "2"])
    try:
        yield started
    finally:
        stop(started)


def test_two_workers_schedule_one_gapless_chain(node: Node) -> None:
    workers = workers_of(node)
    assert len(workers) == 2
    process = process_message(node_wallet(node).address, Wallet.generate())
    pid = message_id(process, committers="all")
    with httpx.Client(base_url=node.url, timeout=60) as client:
        assert schedule(client, process).status_code == 200
    sender = Wallet.generate()
    batches = [[signed({"target": pid, "type": "Message", "count": 1, "limit": 0, "c": c, "n": n}, sender)
                for n in range(PER_CLIENT)] for c in range(CLIENTS)]
    acked: dict[int, str] = {}
    lock = threading.Lock()

    # Each client keeps its own connection open, as load generators and routers do: the workers
    # must share the connections (with one socket for both, the first to wake accepted them
    # all). One pool for all the threads would open as few connections as the threads overlap,
    # which under load may be one or two, all of them on one worker by chance.
    start_together = threading.Barrier(CLIENTS)

    def client_run(batch: list[dict[str, object]]) -> None:
        with httpx.Client(base_url=node.url, timeout=60) as own:
            start_together.wait()  # the connections open at once, as when a router or a load starts
            for msg in batch:
                response = schedule(own, msg)
                assert response.status_code == 200, response.text
                with lock:
                    acked[int(response_message(response)["slot"])] = message_id(msg, committers="all")

    before = {pid: cpu_ticks(pid) for pid in workers}
    threads = [threading.Thread(target=client_run, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = {pid: cpu_ticks(pid) - before[pid] for pid in workers}
    total = CLIENTS * PER_CLIENT
    assert sorted(acked) == list(range(1, total + 1))
    with httpx.Client(base_url=node.url, timeout=60) as client:
        log = read_schedule(client, pid, 0, total)
    assert sorted(log) == list(range(total + 1))
    check_chain(log, pid)
    for slot, mid in acked.items():
        assert message_id(log[slot]["body"], committers="all") == mid
    # Both workers did the work (each scheduling costs an RSA signature: well over a tick); with
    # one socket shared by both, one worker took every connection: {2, 183} ticks.
    assert all(ticks >= 20 for ticks in used.values()), used


def test_a_killed_worker_is_replaced(node: Node) -> None:
    before = workers_of(node)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = workers_of(node)
        if len(now) == 2 and victim not in now:
            break
        with httpx.Client(base_url=node.url, timeout=10) as client:
            assert client.get("/~meta@1.0/info").status_code == 200  # the other worker serves meanwhile
        time.sleep(0.2)
    else:
        raise AssertionError(f"worker {victim} was not replaced: {workers_of(node)}")
    for _ in range(6):
        with httpx.Client(base_url=node.url, timeout=30) as client:
            assert client.get("/~meta@1.0/info").status_code == 200


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    started = start(tmp_path / "node", extra=["--workers", "2"])
    children = workers_of(started)
    assert len(children) == 2
    assert stop(started, signal.SIGTERM) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    started = start(tmp_path / "node", extra=["--workers", "2"])
    children = workers_of(started)
    assert len(children) == 2
    stop(started, signal.SIGKILL)  # the supervisor dies without a word to its workers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    for pid in alive:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the workers outlived their parent"


def test_a_map_grown_by_another_worker_is_adopted(tmp_path: Path) -> None:
    """Workers share one LMDB directory; when one grows the map, the others' next transaction
    finds MAP_RESIZED, which they adopt (reads were a 500 until this one wrote)."""
    capacity = 1 << 20
    store = LMDBStore(tmp_path / "lmdb", capacity=capacity)
    try:
        store.write("before", b"1")
        grow = (f"import os\nfrom aonode.store import LMDBStore\nstore = LMDBStore({str(tmp_path / 'lmdb')!r}, "
                f"capacity={capacity})\nfor i in range(400):\n    store.write(f'big/{{i}}', os.urandom(8000))\n")
        subprocess.run([sys.executable, "-c", grow], check=True, timeout=120)
        assert store.read("before") == b"1"  # a read first: it must adopt the new size itself
        assert store.read("big/399") is not None and len(store.list("big") or []) == 400
        with store.snapshot():
            assert store.read("big/0") is not None
        store.write("after", b"2")
        assert store.read("after") == b"2"
    finally:
        store.close()
