"""Schedulers in a cluster (issue 20, done-means 2): three worker nodes over one real 3-master
Redis Cluster on loopback, 8 clients x 300 signed messages to 6 processes, and one worker
SIGKILLed mid-load and not restarted.

The clients send everything to a router node: `router@1.0`'s `preprocess` hook relays each
`POST /<ProcID>/schedule` to a worker chosen `By-Base` (by the process ID), and to the next one
when a worker cannot be reached. Every worker shares the scheduler wallet and the store; the
Redis lease decides which one schedules a process (the others pass its messages on to it), so
after the kill the dead worker's processes are taken over once its lease runs out. A client
that gets an error sends the same signed message again.

Checked afterwards: every message a client was told was scheduled has exactly one slot (and no
message has two); each process's slots are gapless and its hash chain verifies; each process
computes to the state its log implies (the sum of every count sent to it exactly once, and the
count of its last slot), the same on both surviving workers; the location of the scheduler
names a surviving worker; and no client saw errors for longer than the lease time (plus the
time a loaded 2-core machine takes to notice).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import services
from aonode_process import Node, free_port, post, response_message, signed, start, stop, verified
from process_http import HERE, check_chain, process_message, read_schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet
from aonode.devices._scheduler_lease import SchedulerLease
from aonode.store._redis import RedisStore

# The load is 8 clients x 300 messages: AONODE_CLUSTER_PER_CLIENT=300 (passed 2026-12-07 through
# the router in 6 min on the busy 2-core machine: 11 failed sends, longest error 1.75 s). The suite's
# time budget allows 8 x 30 by default.
CLIENTS = int(os.environ.get("AONODE_CLUSTER_CLIENTS", "8"))
PER_CLIENT = int(os.environ.get("AONODE_CLUSTER_PER_CLIENT", "30"))
PROCESSES = 6
WORKERS = 3
LEASE_MS = 1500
NAMESPACE = "cluster-test"
# What a client may wait beyond the lease: noticing the dead worker (a refused connection is
# immediate), the retry pause, and a busy 2-core machine.
ERROR_SLACK = 3.0


def _config(cluster: services.RedisCluster, namespace: str) -> str:
    return (
        "preloaded_devices/counter@1.0: counter_device:CounterDevice\n"
        "store/1/store-module: redis\n"
        f"store/1/url: {cluster.url}\n"
        "store/1/cluster: true\n"
        f"store/1/namespace: {namespace}\n"
        f"scheduler_lease_time: {LEASE_MS}\n"
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisCluster]:
    with services.redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def workers(cluster: services.RedisCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """The three workers, then the router in front of them (the last node)."""
    root = tmp_path_factory.mktemp("workers")
    wallet = root / "scheduler-wallet.json"
    Wallet.generate().save(wallet)
    nodes: list[Node] = []
    try:
        for n in range(WORKERS):
            nodes.append(start(root / f"w{n}", config=_config(cluster, NAMESPACE), pythonpath=[HERE],
                               extra=["--wallet", str(wallet)]))
        router = root / "router"
        router.mkdir()
        (router / "node.json").write_text(json.dumps({
            "on": {"request": {"device": "router@1.0", "path": "preprocess"}},
            "routes": [{"template": template, "strategy": "By-Base", "nodes": [{"prefix": node.url} for node in nodes]}
                       for template in ("^/[A-Za-z0-9_-]{43}/schedule", "^/~scheduler@1.0/schedule")],
        }))
        nodes.append(start(router, port=free_port(), extra=["--config", str(router / "node.json")]))
        yield nodes
    finally:
        for node in nodes:
            stop(node)


def schedule(client: httpx.Client, pid: str, message: dict[str, Any]) -> httpx.Response:
    """POST a signed message to be scheduled on `pid`, at the path a router routes by (a
    process itself, which no node has yet, to the scheduler's own path)."""
    path = "/~scheduler@1.0/schedule" if message.get("type") == "Process" else f"/{pid}/schedule"
    return post(client, {"path": path, "method": "POST", "body": message})


def lease_holders(cluster: services.RedisCluster, pids: list[str]) -> list[str]:
    """The node holding each process's scheduler lease now (as Redis has it)."""
    store = RedisStore.from_url(cluster.url, cluster=True, namespace=NAMESPACE, durability="server")
    try:
        return [(store.client.get(SchedulerLease(store, pid, "", LEASE_MS).lease_key) or b"").decode()
                for pid in pids]
    finally:
        store.close()


def _sign_batch(args: tuple[list[str], int, int]) -> list[dict[str, Any]]:
    pids, client, per_client = args
    wallet = Wallet.generate()
    return [signed({"target": pids[(client + n) % len(pids)], "type": "Message", "limit": 0,
                    "count": client * 100_000 + n + 1, "client": client, "n": n}, wallet)
            for n in range(per_client)]


class Clients:
    """Client threads sending their messages, each until a worker says it is scheduled."""

    def __init__(self, router: str, batches: list[list[dict[str, Any]]]) -> None:
        self.router = router
        self.batches = batches
        self.acked: dict[str, tuple[str, int]] = {}  # message ID -> (process, slot)
        self.longest_error = 0.0
        self.errors = 0  # messages that needed more than one send
        self.failed = 0  # sends that failed
        self._lock = threading.Lock()

    def run(self) -> None:
        threads = [threading.Thread(target=self._client, args=(batch,)) for batch in self.batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, batch: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=self.router, timeout=60) as client:
            for msg in batch:
                target = msg["target"]
                pid = target.decode() if isinstance(target, bytes) else str(target)
                failing_since: float | None = None
                while True:
                    try:
                        response = schedule(client, pid, msg)
                        if response.status_code == 200:
                            break
                        why = f"{response.status_code} {response.text[:300]}"
                    except httpx.TransportError as exc:
                        why = repr(exc)
                    with self._lock:
                        self.failed += 1
                    now = time.monotonic()
                    if failing_since is None:
                        failing_since = now
                    elif now - failing_since > 60:
                        raise AssertionError(f"the router got no message scheduled for 60 s: {why}")
                    time.sleep(0.1)
                answer = response_message(response)
                with self._lock:
                    if failing_since is not None:
                        self.errors += 1
                        self.longest_error = max(self.longest_error, time.monotonic() - failing_since)
                    self.acked[message_id(msg, committers="all")] = (pid, int(answer["slot"]))


def _compute(url: str, pid: str, slot: int) -> tuple[int, int]:
    with httpx.Client(base_url=url, timeout=300) as client:
        response = client.get(f"/{pid}/compute", params={"slot": slot}, headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    state = response_message(response)
    return int(state["counter"]), int(state["total"])


def test_a_worker_killed_mid_load_loses_and_repeats_nothing(cluster: services.RedisCluster,
                                                            workers: list[Node]) -> None:
    *workers, router = workers
    scheduler = Wallet.load(workers[0].data_dir.parent.parent / "scheduler-wallet.json")
    pids = []
    with httpx.Client(base_url=router.url, timeout=60) as client:
        for _ in range(PROCESSES):
            process = process_message(scheduler.address, Wallet.generate())
            pid = message_id(process, committers="all")
            response = schedule(client, pid, process)  # slot 0, on the worker the router picks
            assert response.status_code == 200, response.text
            assert verified(response)["slot"] == 0  # the worker's signed answer, passed on
            pids.append(pid)
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        batches = pool.map(_sign_batch, [(pids, c, PER_CLIENT) for c in range(CLIENTS)])
    load = Clients(router.url, batches)
    runner = threading.Thread(target=load.run)
    runner.start()
    total = CLIENTS * PER_CLIENT
    while len(load.acked) < total // 3 and runner.is_alive():
        time.sleep(0.05)
    # The worker holding the most leases: its death moves the most processes.
    holders = lease_holders(cluster, pids)
    victim = max(workers, key=lambda node: holders.count(node.url))
    assert holders.count(victim.url) > 0, holders
    stop(victim, signal.SIGKILL)
    runner.join()
    assert len(load.acked) == total
    assert load.failed > 0, "a worker died under load, so some requests must have failed"
    print(f"{load.failed} failed sends, {load.errors} messages sent again, longest error {load.longest_error:.2f} s")
    assert load.longest_error <= LEASE_MS / 1000 + ERROR_SLACK, load.longest_error

    survivors = [node for node in workers if node is not victim]
    sent = {message_id(msg, committers="all"): msg for batch in batches for msg in batch}
    with httpx.Client(base_url=survivors[0].url, timeout=120) as client:
        for pid in pids:
            log = read_schedule(client, pid, 0, total + 10)
            last = max(log)
            assert sorted(log) == list(range(last + 1)), f"{pid}: slots must be gapless"
            check_chain(log, pid)
            seen: dict[str, int] = {}
            for slot in range(1, last + 1):
                mid = message_id(log[slot]["body"], committers="all")
                assert mid not in seen, f"{pid}: message {mid} has slots {seen[mid]} and {slot}"
                seen[mid] = slot
            mine = {mid: slot for mid, (p, slot) in load.acked.items() if p == pid}
            assert mine == seen, f"{pid}: every acknowledged message has exactly its one slot, and no other"
            expected = (int(log[last]["body"]["count"]), sum(int(sent[mid]["count"]) for mid in mine))
            states = {_compute(node.url, pid, last) for node in survivors}
            assert states == {expected}, (pid, states, expected)
        where = client.get("/~scheduler@1.0/location", params={"address": scheduler.address},
                           headers={"accept-bundle": "true"})
    assert where.status_code == 200, where.text
    record = response_message(where)["body"]
    assert record["url"].decode() in {node.url for node in survivors}
