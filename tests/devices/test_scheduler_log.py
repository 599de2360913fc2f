"""The assignment log of scheduler@1.0 (`aonode/devices/_scheduler_log.py`): the ports of
`dev_scheduler_cache`, `dev_scheduler_registry` and `dev_scheduler_server` tests
(processes-compute.md §7), the assignment format and hash chain (§2.5), and slots that stay
unique and gapless under threads, several processes on one store, and failures."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from scheduler_helpers import check_assignment, check_chain, wallet

from aonode.codecs import commit, message_id, signers
from aonode.crypto import b64url_decode, b64url_encode, sha256
from aonode.devices import _scheduler_log as log
from aonode.devices._scheduler_formats import ZERO_ID, BlockInfo
from aonode.devices.scheduler import read_assignment, read_assignments
from aonode.errors import BadMessage
from aonode.store import FSStore, LMDBStore, MemoryStore, MessageCache, Store, StoreError

PROC = "P" * 43
LMDB_CAPACITY = 64 * 1024 * 1024


def assignment(proc_id: str, slot: Any, chain: bytes = b"test-hash-chain", **extra: Any) -> dict[str, Any]:
    return {"variant": b"ao.N.1", "process": proc_id.encode(), "slot": slot, "hash-chain": chain, **extra}


def proc_id(n: int) -> str:
    return b64url_encode(sha256(f"process-{n}".encode()))


@pytest.fixture
def stores(tmp_path: Path) -> tuple[FSStore, FSStore]:
    """(volatile scheduler store, non-volatile main store), as the reference's tests use."""
    return FSStore(tmp_path / "volatile"), FSStore(tmp_path / "non-volatile")


def opts_for(stores: tuple[FSStore, FSStore]) -> dict[str, Any]:
    volatile, main = stores
    return {"cache": MessageCache(main), "scheduler_store": volatile}


# --- dev_scheduler_cache.erl ------------------------------------------------------------------


def test_volatile_schedule(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    written = assignment(PROC, 1)
    log.write(written, volatile)
    assert log.latest(PROC, volatile) == (1, b"test-hash-chain")
    assert read_assignment(PROC, 1, opts_for(stores)) == written
    volatile.reset()
    assert log.latest(PROC, volatile) is None
    assert read_assignment(PROC, 1, opts_for(stores)) is None


def test_concurrent_scheduler_write(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    errors: list[BaseException] = []

    def write(slot: int) -> None:
        try:
            log.write({"process": PROC.encode(), "slot": slot, "hash-chain": f"concurrent-{slot}".encode()}, volatile)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(slot,)) for slot in range(1, 51)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert log.slots(PROC, volatile) == list(range(1, 51))


def test_concurrent_read_write(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    done = threading.Event()
    successes: list[int] = []

    def writer() -> None:
        for slot in range(1, 101):
            log.write(assignment(PROC, slot, f"race-{slot}".encode()), volatile)
        done.set()

    def reader() -> None:
        found = 0
        for slot in range(1, 101):
            if log.read(PROC, slot, volatile) is not None:
                found += 1
        successes.append(found)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader) for _ in range(10))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done.is_set()
    assert log.slots(PROC, volatile) == list(range(1, 101))
    assert all(log.read(PROC, slot, volatile) is not None for slot in range(1, 101))
    assert len(successes) == 10


def test_large_assignment_volume() -> None:
    store = MemoryStore()
    for slot in range(1, 1001):
        log.write(assignment(PROC, slot, bytes(range(64))), store)
    assert log.slots(PROC, store) == list(range(1, 1001))
    assert all(log.read(PROC, slot, store) is not None for slot in range(1, 1001))
    assert log.latest(PROC, store) == (1000, bytes(range(64)))


def test_rapid_restart(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    for cycle in range(1, 6):
        for slot in range(1, 11):
            log.write(assignment(PROC, slot + cycle * 10, f"restart-cycle-{cycle}".encode()), volatile)
        assert log.slots(PROC, volatile)
        volatile.reset()
        assert log.slots(PROC, volatile) == []


def test_mixed_store_reset_operations(stores: tuple[FSStore, FSStore]) -> None:
    volatile, main = stores
    log.write(assignment(PROC, 1, b"mixed-test-1"), volatile)
    main.reset()
    assert read_assignment(PROC, 1, opts_for(stores)) is not None
    volatile.reset()
    assert read_assignment(PROC, 1, opts_for(stores)) is None


@pytest.mark.parametrize("bad", [
    {},
    {"process": b"invalid"},
    {"slot": 1},
    {"process": b"", "slot": 1},
    {"process": b"valid", "slot": -1},
    {"process": b"valid", "slot": b"not-integer"},
])
def test_invalid_assignment(stores: tuple[FSStore, FSStore], bad: dict[str, Any]) -> None:
    with pytest.raises(BadMessage):
        log.write(bad, stores[0])


def test_scheduler_location_stress(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    owner = wallet()
    for n in range(1, 11):
        record = {"scheduler": owner.address.encode(), "location": f"http://scheduler{n}.com".encode(),
                  "timestamp": 1700000000000 + n, "ttl": 3600000}
        with pytest.raises(BadMessage):
            log.write_location(record, volatile)  # unsigned: nothing to link it under
        assert log.write_location(commit(record, owner), volatile) == [owner.address]
    found = log.read_location(owner.address, volatile)
    assert found is not None and found["location"] == b"http://scheduler10.com"


def test_volatile_store_corruption(stores: tuple[FSStore, FSStore]) -> None:
    volatile, _ = stores
    log.write(assignment(PROC, 1, b"corruption-test"), volatile)
    assert log.read(PROC, 1, volatile) is not None
    volatile.reset()
    assert log.read(PROC, 1, volatile) is None
    assert log.slots(PROC, volatile) == []
    assert log.latest(PROC, volatile) is None


def test_latest_hint_falls_behind_and_is_corrected() -> None:
    store = MemoryStore()
    for slot in range(3):
        log.write(assignment(PROC, slot), store)
    # A crash on a store without transactions can leave the hint behind, or lose it.
    store.write(f"{log.PREFIX}/latest/{PROC}", b"1")
    assert log.latest(PROC, store) == (2, b"test-hash-chain")
    store.write(f"{log.PREFIX}/latest/{PROC}", b"junk")
    assert log.latest(PROC, store) == (2, b"test-hash-chain")


def test_read_assignments_is_the_contiguous_prefix() -> None:
    store = MemoryStore()
    for slot in (0, 1, 2, 4):
        log.write(assignment(PROC, slot), store)
    opts = {"scheduler_store": store}
    assert [a["slot"] for a in read_assignments(PROC, 0, None, opts)] == [0, 1, 2]
    assert [a["slot"] for a in read_assignments(PROC, 1, 1, opts)] == [1]
    assert read_assignments(PROC, 5, None, opts) == []


# --- dev_scheduler_registry.erl -----------------------------------------------------------------


def test_registry_find_create_and_list() -> None:
    store = MemoryStore()
    registry = log.registry_for(store)
    owner = wallet()
    proc1 = commit({"type": b"Process", "image": bytes(1024 * 4)}, owner)
    proc2 = commit({"type": b"Process", "image": bytes(1024 * 4), "n": 2}, owner)
    id1, id2 = message_id(proc1, committers="all"), message_id(proc2, committers="all")
    assert registry.find(id1) is None  # find_non_existent_process_test
    server1 = registry.start(id1, proc1, store, [owner])  # create_and_find_process_test
    assert registry.start(id1, proc1, store, [owner]) is server1 and registry.find(id1) is server1
    server2 = registry.start(id2, proc2, store, [owner])  # create_multiple_processes_test
    assert server2 is not server1 and registry.find(id2) is server2
    assert {id1, id2} <= set(registry.processes())  # get_all_processes_test
    assert log.registry_for(store) is registry and log.registry_for(MemoryStore()) is not registry
    # The scheduler is the provider of last resort for the processes it runs.
    assert MessageCache(store).read(id1) is not None


# --- dev_scheduler_server.erl and the assignment format (§2.5) -----------------------------------


def test_new_proc() -> None:
    owner = wallet()
    items = [
        commit({"data": b"test", "random-key": 1234}, owner),
        commit({"data": b"test2"}, owner),
        commit({"data": b"test2", "deep-key": {"data": b"test3"}}, owner),
    ]
    server = log.ProcessScheduler(message_id(items[0], committers="all"), MemoryStore(), [owner])
    for item in items:
        server.assign(item, now_ms=1, block=BlockInfo.zero())
    assert server.current() == 2


def test_assignment_format() -> None:
    owner = wallet()
    store = MemoryStore()
    server = log.ProcessScheduler(PROC, store, [owner])
    msg = commit({"type": b"Message", "path": b"/foo/bar", "test-key": b"v"}, owner)
    plain = commit({"type": b"Message", "test-key": b"w"}, owner)
    first = server.assign({**msg, "unsigned-extra": b"dropped"}, now_ms=1700000000123, block=BlockInfo.zero())
    second = server.assign(plain, now_ms=1700000000124, block=BlockInfo(1700000000, 1500000, "H" * 43))
    assert sorted(k for k in first if k != "commitments") == [
        "block-hash", "block-height", "block-timestamp", "body", "data-protocol", "epoch", "hash-chain",
        "path", "process", "slot", "timestamp", "type", "variant",
    ]
    assert first["path"] == [b"foo", b"bar"] and second["path"] == b"compute"
    assert (first["data-protocol"], first["variant"], first["type"]) == (b"ao", b"ao.N.1", b"assignment")
    assert first["process"] == PROC.encode() and first["epoch"] == b"0"
    assert (first["slot"], second["slot"]) == (0, 1)
    assert (first["block-height"], first["block-timestamp"], first["block-hash"]) == (0, 0, ZERO_ID.encode())
    assert (second["block-height"], second["block-timestamp"], second["block-hash"]) == (1500000, 1700000000,
                                                                                        b"H" * 43)
    assert first["timestamp"] == 1700000000123
    assert "unsigned-extra" not in first["body"]  # only the committed keys are scheduled
    assert signers(first) == [owner.address]
    for found in (first, second):
        check_assignment(found, owner.address)
        assert log.read(PROC, found["slot"], store) == found  # exactly as signed
    expected = sha256(message_id(msg, committers="all").encode())
    assert first["hash-chain"] == b64url_encode(expected).encode()
    assert second["hash-chain"] == b64url_encode(sha256(expected + message_id(plain, committers="all").encode())
                                                 ).encode()


def test_hash_chain_after_restart_continues_from_the_raw_hash() -> None:
    owner = wallet()
    store = MemoryStore()
    first = log.ProcessScheduler(PROC, store, [owner]).assign(commit({"n": 1}, owner), now_ms=1,
                                                                block=BlockInfo.zero())
    msg = commit({"n": 2}, owner)
    second = log.ProcessScheduler(PROC, store, [owner]).assign(msg, now_ms=2, block=BlockInfo.zero())
    # The reference would hash the stored 43-character text here; aonode keeps one rule.
    raw = b64url_decode(first["hash-chain"].decode())
    assert second["hash-chain"] == b64url_encode(sha256(raw + message_id(msg, committers="all").encode())).encode()
    assert second["slot"] == 1


def test_every_wallet_signs_the_assignment() -> None:
    one, two = wallet(1), wallet(2)
    server = log.ProcessScheduler(PROC, MemoryStore(), [one, two])
    found = server.assign(commit({"n": 1}, one), now_ms=1, block=BlockInfo.zero())
    assert set(signers(found)) == {one.address, two.address}
    check_assignment(found, two.address)


def test_a_failed_write_consumes_no_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = wallet()
    store = MemoryStore()
    server = log.ProcessScheduler(PROC, store, [owner])
    server.assign(commit({"n": 0}, owner), now_ms=1, block=BlockInfo.zero())
    real = log._pack

    def broken(msg: Any) -> bytes:
        raise StoreError("disk full")

    monkeypatch.setattr(log, "_pack", broken)
    with pytest.raises(StoreError):
        server.assign(commit({"n": 1}, owner), now_ms=2, block=BlockInfo.zero())
    monkeypatch.setattr(log, "_pack", real)
    again = server.assign(commit({"n": 2}, owner), now_ms=3, block=BlockInfo.zero())
    assert again["slot"] == 1 and log.slots(PROC, store) == [0, 1]
    check_chain([log.read(PROC, s, store) for s in (0, 1)])  # type: ignore[misc]


# --- concurrency ----------------------------------------------------------------------------------


def _all(store: Store, count: int) -> list[dict[str, Any]]:
    found = [log.read(PROC, slot, store) for slot in range(count)]
    assert all(a is not None for a in found)
    return found  # type: ignore[return-value]


def test_eight_threads_get_unique_gapless_slots(tmp_path: Path) -> None:
    owner = wallet()
    store = LMDBStore(tmp_path / "lmdb", capacity=LMDB_CAPACITY)
    server = log.ProcessScheduler(PROC, store, [owner])
    messages = [[commit({"client": t, "n": n}, owner) for n in range(6)] for t in range(8)]
    got: list[tuple[int, str]] = []
    lock = threading.Lock()

    def client(batch: list[dict[str, Any]]) -> None:
        for msg in batch:
            a = server.assign(msg, now_ms=1, block=BlockInfo.zero())
            with lock:
                got.append((a["slot"], message_id(a["body"], committers="all")))

    threads = [threading.Thread(target=client, args=(batch,)) for batch in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in got) == list(range(48))
    stored = _all(store, 48)
    assert {message_id(a["body"], committers="all") for a in stored} == {i for _, i in got}
    for a in stored:
        check_assignment(a, owner.address)
    check_chain(stored)
    store.close()


def _worker(kind: str, root: str, wallet_json: dict[str, str], worker: int, count: int) -> None:
    from aonode.crypto import Wallet

    owner = Wallet.from_jwk(wallet_json)
    store: Store = LMDBStore(root, capacity=LMDB_CAPACITY) if kind == "lmdb" else FSStore(root)
    server = log.ProcessScheduler(PROC, store, [owner])
    for n in range(count):
        server.assign(commit({"worker": worker, "n": n}, owner), now_ms=n, block=BlockInfo.zero())
    store.close()


@pytest.mark.parametrize("kind", ["lmdb", "fs"])
def test_processes_sharing_a_store_get_unique_gapless_slots(tmp_path: Path, kind: str) -> None:
    owner = wallet()
    root = str(tmp_path / kind)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(kind, root, owner.to_jwk(), w, 5)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    store: Store = LMDBStore(root, capacity=LMDB_CAPACITY) if kind == "lmdb" else FSStore(root)
    assert log.slots(PROC, store) == list(range(15))
    stored = _all(store, 15)
    assert sorted((a["body"]["worker"], a["body"]["n"]) for a in stored) == [(w, n) for w in range(3)
                                                                            for n in range(5)]
    for a in stored:
        check_assignment(a, owner.address)
    check_chain(stored)
    store.close()
