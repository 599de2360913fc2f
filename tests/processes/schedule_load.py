"""Many clients scheduling on one process at once over HTTP (issue 6): signed messages prepared
on every core, client threads that remember each slot they were told about, and the checks of
the schedule a node then serves. Used by `test_schedule_load.py` and `test_schedule_load_kill.py`
(two modules, so the two long tests can run on two test workers)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any

import httpx
from aonode_process import Node, signed
from process_http import check_chain, node_wallet, process_message, read_schedule, schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet

CLIENTS = 8
PER_CLIENT = 500


def sign_batch(args: tuple[str, int, int]) -> list[dict[str, Any]]:
    pid, client, per_client = args
    wallet = Wallet.generate()
    return [signed({"target": pid, "type": "Message", "count": 1, "limit": 0, "client": client, "n": n}, wallet)
            for n in range(per_client)]


def messages(pid: str, clients: int, per_client: int) -> list[list[dict[str, Any]]]:
    """Signed messages for each client, prepared before the load (on every core: RSA-4096
    signing would otherwise take longer than the load itself)."""
    jobs = [(pid, c, per_client) for c in range(clients)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        return pool.map(sign_batch, jobs)


class Load:
    """Client threads scheduling their messages; `acked` maps each slot a client was told about
    to the ID of its message."""

    def __init__(self, url: str, batches: list[list[dict[str, Any]]]) -> None:
        self.url = url
        self.batches = batches
        self.acked: dict[int, str] = {}
        self.duplicates: list[tuple[int, str, str]] = []
        self.failures = 0
        self._lock = threading.Lock()
        self.pending = [list(batch) for batch in batches]

    def run(self, stop_after: int | None = None) -> None:
        threads = [threading.Thread(target=self._client, args=(i, stop_after)) for i in range(len(self.batches))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _client(self, index: int, stop_after: int | None) -> None:
        queue = self.pending[index]
        sent = 0
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while queue and (stop_after is None or sent < stop_after):
                msg = queue[0]
                try:
                    response = schedule(client, msg)
                except httpx.TransportError:
                    with self._lock:
                        self.failures += 1
                    return  # the node is down; the message stays pending
                if response.status_code != 200:
                    with self._lock:
                        self.failures += 1
                    return
                from aonode_process import response_message

                slot = int(response_message(response)["slot"])
                with self._lock:
                    mid = message_id(msg, committers="all")
                    if slot in self.acked and self.acked[slot] != mid:
                        self.duplicates.append((slot, self.acked[slot], mid))
                    self.acked[slot] = mid
                queue.pop(0)
                sent += 1


def spawn(node: Node) -> str:
    owner = Wallet.generate()
    process = process_message(node_wallet(node).address, owner)
    with httpx.Client(base_url=node.url, timeout=60) as client:
        response = schedule(client, process)
    assert response.status_code == 200, response.text
    return message_id(process, committers="all")


def check_schedule(node: Node, pid: str, load: Load, total: int) -> dict[int, dict[str, Any]]:
    with httpx.Client(base_url=node.url, timeout=120) as client:
        assignments = read_schedule(client, pid, 0, total + 10)
    assert sorted(assignments) == list(range(total + 1)), "slots must be unique and gapless"
    check_chain(assignments, pid)
    for slot, mid in load.acked.items():  # nothing a client was told about is lost or moved
        assert message_id(assignments[slot]["body"], committers="all") == mid
    return assignments
