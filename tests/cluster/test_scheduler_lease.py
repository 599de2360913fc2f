"""The scheduler lease over a real redis-server (issue 20): one node assigns a process at a
time, another takes over only when the lease has run out and continues the same slots and hash
chain, workers of one node take turns, a scheduler that lost its lease cannot write, and a
takeover publishes the new location."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import services
from process_http import check_chain

from aonode.codecs import commit
from aonode.crypto import Wallet
from aonode.devices import _scheduler_log as log_store
from aonode.devices._scheduler_formats import BlockInfo
from aonode.devices._scheduler_lease import LeaseHeld, SchedulerLease, publish_location
from aonode.store import StoreError
from aonode.store._redis import RedisStore

TTL = 1000  # ms: longer than a few assignments take on a loaded machine
PID = "L" * 43


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    with services.redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def store(server: services.RedisServer) -> Iterator[RedisStore]:
    made = RedisStore.from_url(server.url, namespace=f"t{uuid.uuid4().hex[:12]}")
    yield made
    made.reset()
    made.close()


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def scheduler(store: RedisStore, wallet: Wallet, url: str) -> log_store.ProcessScheduler:
    """A process's scheduler as the node at `url` runs it (a lease, as `attach` gives it)."""
    made = log_store.ProcessScheduler(PID, store, [wallet])
    made.lease = SchedulerLease(store, PID, url, TTL)
    return made


def send(server: log_store.ProcessScheduler, sender: Wallet, n: int) -> int:
    message = commit({"target": PID, "type": b"Message", "n": n}, sender)
    assignment = server.assign(message, now_ms=int(time.time() * 1000), block=BlockInfo.zero())
    return int(assignment["slot"])


def test_one_node_at_a_time_and_takeover_continues_the_chain(store: RedisStore, wallet: Wallet) -> None:
    a = scheduler(store, wallet, "http://a")
    b = scheduler(store, wallet, "http://b")
    taken: list[str] = []
    b.on_takeover = taken.append
    sender = Wallet.generate()
    assert [send(a, sender, n) for n in range(3)] == [0, 1, 2]
    with pytest.raises(LeaseHeld) as held:
        send(b, sender, 3)
    assert held.value.holder == "http://a" and 0 < held.value.remaining_ms <= TTL
    assert held.value.status == 503
    time.sleep(TTL / 1000 + 0.1)  # a stops assigning (it died): its lease runs out
    assert send(b, sender, 3) == 3 and taken == ["http://a"]
    assert send(b, sender, 4) == 4 and taken == ["http://a"]  # one takeover, not one per slot
    with pytest.raises(LeaseHeld):
        send(a, sender, 5)
    log = {slot: log_store.read(PID, slot, store) for slot in log_store.slots(PID, store)}
    assert sorted(log) == [0, 1, 2, 3, 4]
    check_chain(log, PID)  # one hash chain across the takeover


def test_a_resend_through_the_new_scheduler_keeps_its_slot(store: RedisStore, wallet: Wallet) -> None:
    a = scheduler(store, wallet, "http://a")
    b = scheduler(store, wallet, "http://b")
    message = commit({"target": PID, "type": b"Message", "n": 1}, Wallet.generate())
    first = a.assign(message, now_ms=1, block=BlockInfo.zero())
    time.sleep(TTL / 1000 + 0.1)
    again = b.assign(message, now_ms=2, block=BlockInfo.zero())
    assert again["slot"] == first["slot"] == 0 and log_store.slots(PID, store) == [0]


def test_workers_of_one_node_take_turns(store: RedisStore, wallet: Wallet) -> None:
    # Two schedulers with one URL are two worker processes of one node: separate locks, one lease.
    workers = [scheduler(store, wallet, "http://node") for _ in range(2)]
    sender = Wallet.generate()
    slots: list[int] = []
    lock = threading.Lock()

    def run(worker: log_store.ProcessScheduler, base: int) -> None:
        for n in range(10):
            slot = send(worker, sender, base + n)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=run, args=(w, 100 * i)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slots) == list(range(20))
    check_chain({slot: log_store.read(PID, slot, store) for slot in range(20)}, PID)


def test_a_scheduler_that_lost_its_lease_cannot_write(store: RedisStore, wallet: Wallet) -> None:
    a = scheduler(store, wallet, "http://a")
    sender = Wallet.generate()
    assert send(a, sender, 0) == 0
    lease = a.lease
    assert lease is not None
    original = store.transaction

    def paused_past_the_lease(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Between taking the mutex and writing: the mutex passes to another node meanwhile.
        store.client.set(lease.mutex_key, b"another node")
        return original(*args, **kwargs)

    store.transaction = paused_past_the_lease  # type: ignore[method-assign]
    try:
        with pytest.raises(StoreError) as caught:
            send(a, sender, 1)
    finally:
        del store.transaction
    assert caught.value.status == 503
    assert log_store.slots(PID, store) == [0] and log_store.latest(PID, store) is not None
    assert log_store.latest(PID, store)[0] == 0  # type: ignore[index]


def test_a_takeover_publishes_the_location(store: RedisStore, wallet: Wallet) -> None:
    b = scheduler(store, wallet, "http://b:8734")
    publish_location(b, "http://a:8734", {})
    first = log_store.read_location(wallet.address, store)
    assert first is not None and first["url"] == b"http://b:8734"
    publish_location(b, "http://c:8734", {})
    second = log_store.read_location(wallet.address, store)
    assert second is not None and int(second["nonce"]) == int(first["nonce"]) + 1

