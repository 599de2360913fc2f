"""The scheduler's log on LMDB with group commit (issue 21): the next message of a process takes
its slot while the previous slot is still in the uncommitted batch, both land in one commit,
and neither caller hears of its slot before that commit; many threads scheduling one process
at once still get slots 0..N-1 once each, with one unbroken hash chain."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lmdb_batches import queued, wait_for
from process_http import check_chain

from aonode.codecs import commit
from aonode.crypto import Wallet
from aonode.devices import _scheduler_log as log_store
from aonode.devices._scheduler_formats import BlockInfo
from aonode.store import LMDBStore, _lmdb

PID = "G" * 43


@pytest.fixture(scope="module")
def wallets() -> tuple[Wallet, Wallet]:
    return Wallet.generate(bits=2048), Wallet.generate(bits=2048)  # scheduler, sender


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LMDBStore]:
    with LMDBStore(tmp_path / "lmdb", capacity=64 * 1024 * 1024) as opened:
        yield opened


def _assign(scheduler: log_store.ProcessScheduler, sender: Wallet, n: int) -> int:
    message = commit({"target": PID, "type": b"Message", "n": n}, sender)
    return int(scheduler.assign(message, now_ms=int(time.time() * 1000), block=BlockInfo.zero())["slot"])


def test_the_next_slot_joins_the_uncommitted_batch(store: LMDBStore, wallets: tuple[Wallet, Wallet]) -> None:
    """A batch: a leader, slot 0 (thread A), then a block (C) that holds the batch open. While
    C runs, slot 0 is in the batch but not committed; B's message must get past the scheduler's
    lock and queue for the same batch, and neither A nor B may return before the commit."""
    scheduler = log_store.ProcessScheduler(PID, store, [wallets[0]])
    before = store.commits
    release_leader, release_c, c_running = threading.Event(), threading.Event(), threading.Event()
    slots: dict[str, int] = {}

    def leader() -> None:
        with store.transaction():
            release_leader.wait(10)

    def holder() -> None:
        with store.transaction():
            c_running.set()
            release_c.wait(10)

    def send(name: str, n: int) -> None:
        slots[name] = _assign(scheduler, wallets[1], n)

    threads = {"leader": threading.Thread(target=leader), "a": threading.Thread(target=send, args=("a", 0)),
               "c": threading.Thread(target=holder), "b": threading.Thread(target=send, args=("b", 1))}
    threads["leader"].start()
    wait_for(lambda: store._shared.batch.leading, "the leader")
    threads["a"].start()
    wait_for(lambda: queued(store) == 1, "A to queue")
    threads["c"].start()
    wait_for(lambda: queued(store) == 2, "C to queue")
    threads["b"].start()  # waits for the scheduler's lock, which A holds
    release_leader.set()
    wait_for(c_running.is_set, "C's block")
    wait_for(lambda: queued(store) == 1, "B to queue while slot 0 is not committed")
    assert slots == {}  # nobody has heard of a slot: the commit has not happened
    release_c.set()
    for thread in threads.values():
        thread.join(10)
    assert slots == {"a": 0, "b": 1}  # B read slot 0 from the batch
    assert store.commits == before + 1  # one commit for the leader, A, C and B
    check_chain({slot: log_store.read(PID, slot, store) for slot in log_store.slots(PID, store)}, PID)


def test_many_threads_get_every_slot_once(store: LMDBStore, wallets: tuple[Wallet, Wallet]) -> None:
    scheduler = log_store.ProcessScheduler(PID, store, [wallets[0]])
    got: list[int] = []
    lock = threading.Lock()

    def send(first: int) -> None:
        for n in range(first, first + 4):
            slot = _assign(scheduler, wallets[1], n)
            with lock:
                got.append(slot)

    before = store.commits
    threads = [threading.Thread(target=send, args=(4 * t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got) == list(range(24))
    assert store.commits - before <= 24
    log = {slot: log_store.read(PID, slot, store) for slot in log_store.slots(PID, store)}
    assert sorted(log) == list(range(24))
    check_chain(log, PID)


def test_messages_waiting_for_the_process_share_the_commit(store: LMDBStore, wallets: tuple[Wallet, Wallet],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two messages of one process waiting for its scheduler: the one that gets the slot first
    tells the batch the other follows (`Store.expect_writer`), and the batch waits for it, so
    both slots land in one commit; a message alone commits at once."""
    monkeypatch.setattr(_lmdb, "EXPECT_WAIT", 30.0)  # however loaded the machine, the other one comes
    scheduler = log_store.ProcessScheduler(PID, store, [wallets[0]])
    before = store.commits
    assert _assign(scheduler, wallets[1], 0) == 0  # alone: nobody waits, nothing is awaited
    assert store.commits == before + 1
    slots: list[int] = []
    threads = [threading.Thread(target=lambda n=n: slots.append(_assign(scheduler, wallets[1], n))) for n in (1, 2)]
    with scheduler._lock:  # both queue for the scheduler before either is let in
        for thread in threads:
            thread.start()
        wait_for(lambda: scheduler._waiting.count == 2, "both messages to wait for the scheduler")
    for thread in threads:
        thread.join(60)
    assert sorted(slots) == [1, 2]
    assert store.commits == before + 2  # slots 1 and 2 in one commit
    check_chain({slot: log_store.read(PID, slot, store) for slot in log_store.slots(PID, store)}, PID)
