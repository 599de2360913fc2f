"""Retries never take a second slot, even across crashes (issue 16, item 5; done-means 2).

A real `aonode serve` schedules 8 clients x 200 signed messages (each client its own wallet)
while the test SIGKILLs it at 5 random moments and restarts it on the same data directory.
Each client resends a message until it hears of a slot, through the other scheduling path
each time (`POST /~scheduler@1.0/schedule`, then `POST /<pid>/schedule`, ...), so a message
whose assignment was committed just before a kill is sent again, to a node that has just
started. At the end every message has exactly one slot, the slots are gapless, the hash chain
verifies, and every slot a client was told of is the one the schedule holds.

Everything is bounded: the attempts per message, the whole load by a deadline, and the node
only listens on 127.0.0.1. The random moments come from a seed printed on failure.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

import httpx
from aonode_process import Node, response_message, signed, start, stop, to_http

from aonode.codecs import message_id, verify, with_only_committed
from aonode.crypto import Wallet, b64url_encode

CLIENTS = 8
PER_CLIENT = 200
KILLS = 5
DEADLINE_S = 180.0
"""The whole load, kills and restarts included, must finish within this (it takes ~40 s)."""
ATTEMPTS = 200
"""Sends of one message before its client gives up (each failed send waits a little)."""


# --- messages, signed before the load ------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """One signed message, ready to send on either path: its ID and, per path, the request."""

    mid: str
    requests: tuple[tuple[str, dict[str, str], bytes], ...]  # (url path, headers, body)


def _request(path: str, msg: Mapping[str, Any]) -> tuple[str, dict[str, str], bytes]:
    headers, body = to_http({"path": path, "method": "POST", "body": dict(msg)})
    return path, {**headers, "accept-bundle": "true"}, body


def _prepare_client(args: tuple[str, int]) -> list[Prepared]:
    """A fresh wallet's messages to the process, each encoded for both scheduling paths."""
    pid, client = args
    wallet = Wallet.generate()
    out = []
    for n in range(PER_CLIENT):
        msg = signed({"target": pid, "type": "Message", "client": client, "n": n}, wallet)
        out.append(Prepared(message_id(msg, committers="all"),
                            (_request("/~scheduler@1.0/schedule", msg), _request(f"/{pid}/schedule", msg))))
    return out


def prepare(pool: Any, pid: str) -> list[AsyncResult[list[Prepared]]]:
    """Every client's messages, being made in the pool (a new RSA-4096 key per client is the
    slow part); each client starts as soon as its own are ready, while the others are made."""
    return [pool.apply_async(_prepare_client, ((pid, c),)) for c in range(CLIENTS)]


# --- the load -------------------------------------------------------------------------------


@dataclass
class Load:
    """Client threads sending their messages to `url`; `told[mid]` is the slot each message's
    client was answered with. `url` stays the same across restarts (same port)."""

    url: str
    batches: list[AsyncResult[list[Prepared]]]
    deadline: float
    told: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._client, args=(batch,), daemon=True) for batch in self.batches]
        for t in threads:
            t.start()
        return threads

    def _client(self, batch: AsyncResult[list[Prepared]]) -> None:
        try:
            messages = batch.get(timeout=max(self.deadline - time.monotonic(), 0))
        except Exception as exc:  # the pool's failure, re-raised here, or its timeout
            with self.lock:
                self.problems.append(f"preparing a client's messages failed: {exc!r}")
            return
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(20.0, connect=2.0)) as client:
            for prepared in messages:
                if not self._send(client, prepared):
                    return

    def _send(self, client: httpx.Client, prepared: Prepared) -> bool:
        """Send until answered with a slot; False when giving up (recorded as a problem)."""
        for attempt in range(ATTEMPTS):
            if time.monotonic() > self.deadline:
                break
            path, headers, body = prepared.requests[attempt % len(prepared.requests)]
            try:
                response = client.post(path, headers=headers, content=body)
            except httpx.TransportError:
                self._retry()
                continue
            if response.status_code != 200:  # a node shutting down or starting may refuse; retry
                self._retry()
                continue
            answer = response_message(response)
            body_id = message_id(with_only_committed(answer["body"]), committers="all")
            with self.lock:
                if body_id != prepared.mid:
                    self.problems.append(f"{prepared.mid}: answered with the assignment of {body_id}")
                self.told[prepared.mid] = int(answer["slot"])
            return True
        with self.lock:
            self.problems.append(f"{prepared.mid}: no slot after {ATTEMPTS} sends or past the deadline")
        return False

    def _retry(self) -> None:
        with self.lock:
            self.retries += 1
        time.sleep(0.05)

    def answered(self) -> int:
        with self.lock:
            return len(self.told)


# --- the node -------------------------------------------------------------------------------


def process_message(scheduler: str, owner: Wallet) -> dict[str, Any]:
    """A signed process scheduled by `scheduler` (nothing computes it: only its slots matter)."""
    return signed({"device": "process@1.0", "type": "Process", "scheduler": scheduler,
                   "scheduler-device": "scheduler@1.0", "test-random-seed": uuid.uuid4().hex}, owner)


def spawn(node: Node, process: Mapping[str, Any]) -> None:
    path, headers, body = _request("/~scheduler@1.0/schedule", process)
    response = httpx.post(node.url + path, headers=headers, content=body, timeout=60)
    assert response.status_code == 200, response.text
    assert int(response_message(response)["slot"]) == 0


def read_schedule(url: str, pid: str) -> dict[int, dict[str, Any]]:
    """Every assignment of the process from slot 0, following `continues` pages (bounded)."""
    out: dict[int, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(CLIENTS * PER_CLIENT // 1000 + 3):
            response = client.get("/~scheduler@1.0/schedule", params={"target": pid, "from": len(out)},
                                  headers={"accept-bundle": "true"})
            assert response.status_code == 200, response.text
            page = response_message(response)
            for key, assignment in (page.get("assignments") or {}).items():
                out[int(key)] = assignment
            if page.get("continues") is not True:
                break
    return out


def check_chain(assignments: Mapping[int, Mapping[str, Any]], pid: str) -> list[str]:
    """Each assignment verifies and names the process at its slot, and each hash-chain link is
    SHA-256(previous link's raw bytes || the scheduled message's ID). The messages' IDs, by slot."""
    previous = b""
    ids = []
    for slot in range(len(assignments)):
        committed = with_only_committed(dict(assignments[slot]))
        verify(committed)
        assert (committed["slot"], committed["process"]) == (slot, pid.encode())
        mid = message_id(with_only_committed(committed["body"]), committers="all")
        link = hashlib.sha256(previous + mid.encode()).digest()
        assert committed["hash-chain"] == b64url_encode(link).encode(), f"the hash chain breaks at slot {slot}"
        previous = link
        ids.append(mid)
    return ids


class Nodes:
    """The node, SIGKILLed and restarted on the same port and data directory at will; `stop`
    stops whichever is running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.node = start(workdir)

    def kill_and_restart(self) -> None:
        stop(self.node, signal.SIGKILL)
        self.node = start(self.workdir, port=self.node.port, data_dir=self.node.data_dir)

    def stop(self) -> None:
        stop(self.node)


# --- the test -------------------------------------------------------------------------------


def test_resends_across_sigkills_keep_one_slot_per_message(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    workdir = tmp_path / "node"
    # The node's wallet is made here, so the process (and the messages to it) can be signed
    # while the node starts.
    (workdir / "data").mkdir(parents=True)
    scheduler = Wallet.generate()
    scheduler.save(workdir / "data" / "wallet.json")
    process = process_message(scheduler.address, Wallet.generate())
    pid = message_id(process, committers="all")
    total = CLIENTS * PER_CLIENT
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        batches = prepare(pool, pid)
        nodes = Nodes(workdir)
        try:
            spawn(nodes.node, process)
            told = load_with_kills(nodes, batches, rng, seed)
            assignments = read_schedule(nodes.node.url, pid)
        finally:
            nodes.stop()
        sent = {p.mid for batch in batches for p in batch.get(timeout=1)}

    assert sorted(assignments) == list(range(total + 1)), f"seed {seed}: slots must be 0..{total}, gapless"
    ids = check_chain(assignments, pid)
    assert ids[0] == pid
    counts = Counter(ids[1:])
    assert set(counts) == sent and set(counts.values()) == {1}, f"seed {seed}: a message lacks or repeats a slot"
    wrong = {mid: slot for mid, slot in told.items() if ids[slot] != mid}
    assert not wrong, f"seed {seed}: clients were told slots the schedule gives to others: {list(wrong)[:5]}"


def load_with_kills(nodes: Nodes, batches: list[AsyncResult[list[Prepared]]], rng: random.Random,
                    seed: int) -> dict[str, int]:
    """Run the load to its end, SIGKILLing and restarting the node at `KILLS` random moments;
    the slot each client was told of, by message ID."""
    total = CLIENTS * PER_CLIENT
    # Kill once this many messages were answered, plus a random few milliseconds, so a kill
    # lands amid requests (8 clients always have some in flight).
    moments = sorted(rng.sample(range(total // 20, total * 9 // 10), KILLS))
    load = Load(nodes.node.url, batches, time.monotonic() + DEADLINE_S)
    threads = load.run()
    kills = 0
    for moment in moments:
        while load.answered() < moment and any(t.is_alive() for t in threads) and time.monotonic() < load.deadline:
            time.sleep(0.01)
        if not any(t.is_alive() for t in threads):
            break
        time.sleep(rng.uniform(0, 0.05))
        nodes.kill_and_restart()
        kills += 1
    for t in threads:
        t.join(timeout=max(load.deadline - time.monotonic(), 0) + 5)
    assert not any(t.is_alive() for t in threads), f"seed {seed}: the clients did not finish in time"
    assert not load.problems, f"seed {seed}: {load.problems[:5]}"
    assert kills == KILLS, f"seed {seed}: only {kills} kills before the load ended"
    assert load.retries > 0, "every kill should have cost some clients a send"
    return load.told
