"""Store and cache throughput: aonode's LMDBStore and message cache against bare `lmdb`.

Both sides use one LMDB environment type with the same flags (sync on commit), the
same keys and values, in the same run. Each line prints aonode's rate, the bare
rate and their ratio (aonode / bare):

* store write: `LMDBStore.write` (its own durable commit) vs `txn.put` + commit;
* store write, batched: 100 writes in one `transaction()` vs 100 puts in one txn;
* store read: `LMDBStore.read` (its own read txn) vs `txn.get` in a fresh txn;
* store read, snapshot: reads inside one `snapshot()` vs gets in one txn;
* cache write: `cache.write` of a new 10-key message each time (TABM, ID, links; one
  commit) vs putting 10 new values in one txn;
* cache write again: `cache.write` of a message already written (skipped once the store
  confirms it holds it) vs one get in a read txn;
* cache read: `cache.read` of it by ID (fully typed message) vs 10 gets in one txn.

The engine section resolves a three-step path (`a/b/c`) and, in the same run, makes
the same `message@1.0` calls directly; the ratio is the engine's overhead:

* in memory: `resolve(msg, "a/b/c")` with hashpaths vs three direct key reads;
* in memory, no hashpath: the same with `hashpath: ignore` (what internal calls use);
* from the LMDB cache: the base given by ID, loaded from a warm cache, vs
  `cache.read` plus three direct key reads.

    .venv/bin/python bench/resolve.py [--seconds N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import lmdb

from aonode.core import resolve
from aonode.devices.message import MessageDevice
from aonode.store import LMDBStore, MessageCache, cache

MESSAGE = {f"key-{i}": f"value number {i}".encode() for i in range(8)} | {"count": 42, "ratio": 0.5}
VALUE = b"v" * 100
KEYS = 1000
BATCH = 100
MAP_SIZE = 1024**3

Row = tuple[str, float, float]


def rate(fn: Callable[[], None], seconds: float) -> float:
    fn()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        done += 1
    return done / elapsed


def _bare_env(path: Path) -> lmdb.Environment:
    return lmdb.open(str(path), map_size=MAP_SIZE, subdir=True, max_dbs=0, readahead=False, sync=True, metasync=True)


def store_section(root: Path, seconds: float) -> list[Row]:
    """Rows of (name, aonode ops/s, bare lmdb ops/s) for the store and the cache."""
    store = LMDBStore(root / "aonode", capacity=MAP_SIZE)
    bare = _bare_env(root / "bare")
    paths = [f"data/{i:08d}" for i in range(KEYS)]
    keys = [p.encode() for p in paths]
    ids: Iterator[int] = count()

    def store_write() -> None:
        store.write(paths[next(ids) % KEYS], VALUE)

    def bare_write() -> None:
        with bare.begin(write=True) as txn:
            txn.put(keys[next(ids) % KEYS], VALUE)

    def store_batch() -> None:
        with store.transaction():
            for path in paths[:BATCH]:
                store.write(path, VALUE)

    def bare_batch() -> None:
        with bare.begin(write=True) as txn:
            for key in keys[:BATCH]:
                txn.put(key, VALUE)

    def store_read() -> None:
        store.read(paths[next(ids) % KEYS])

    def bare_read() -> None:
        with bare.begin() as txn:
            txn.get(keys[next(ids) % KEYS])

    def store_snapshot() -> None:
        with store.snapshot():
            for path in paths[:BATCH]:
                store.read(path)

    def bare_snapshot() -> None:
        with bare.begin() as txn:
            for key in keys[:BATCH]:
                txn.get(key)

    for fill in (store_batch, bare_batch):
        fill()
    for _ in range(KEYS):  # every path holds a value before the reads are timed
        store_write()
        bare_write()

    tabm_items = [(f"msg/{k}".encode(), str(v).encode() if not isinstance(v, bytes) else v) for k, v in MESSAGE.items()]
    uid = cache.write(MESSAGE, store)

    fresh = count()

    def cache_write() -> None:
        # A new message each time (its `count` differs): a real write, never the skip of one
        # already written, which `cache_rewrite` times.
        cache.write({**MESSAGE, "count": next(fresh)}, store)

    def bare_message_write() -> None:
        n = next(fresh)
        with bare.begin(write=True) as txn:
            for key, value in tabm_items:
                txn.put(b"%d/" % n + key, value)

    def cache_rewrite() -> None:
        cache.write(MESSAGE, store)

    def bare_message_rewrite() -> None:
        with bare.begin() as txn:  # what the skip amounts to: is the message there?
            txn.get(tabm_items[0][0])

    def cache_read() -> None:
        cache.read(uid, store)

    def bare_message_read() -> None:
        with bare.begin() as txn:
            for key, _ in tabm_items:
                txn.get(key)

    rows = [
        ("store write (1 commit each)", rate(store_write, seconds), rate(bare_write, seconds)),
        (f"store write, {BATCH} per commit", BATCH * rate(store_batch, seconds), BATCH * rate(bare_batch, seconds)),
        ("store read (1 txn each)", rate(store_read, seconds), rate(bare_read, seconds)),
        (f"store read, {BATCH} per snapshot", BATCH * rate(store_snapshot, seconds),
         BATCH * rate(bare_snapshot, seconds)),
        ("cache write, new 10-key message", rate(cache_write, seconds), rate(bare_message_write, seconds)),
        ("cache write, same message again", rate(cache_rewrite, seconds), rate(bare_message_rewrite, seconds)),
        ("cache read, 10-key message", rate(cache_read, seconds), rate(bare_message_read, seconds)),
    ]
    store.close()
    bare.close()
    return rows


NESTED = {"a": {"b": {"c": b"value", "d": b"x" * 64}, "e": b"1"}, "f": b"2", "g": 3}


def engine_section(root: Path, seconds: float) -> list[Row]:
    """Rows of (name, resolutions/s, direct calls/s) for a three-step path."""
    device = MessageDevice()

    def direct(msg: dict[str, object]) -> None:
        value: object = msg
        for key in ("a", "b", "c"):
            value = device._get(key, value).value  # type: ignore[arg-type]
        assert value == b"value"

    def through_engine(opts: dict[str, object]) -> Callable[[], None]:
        def run() -> None:
            assert resolve(NESTED, "a/b/c", opts).value == b"value"
        return run

    store = LMDBStore(root / "engine", capacity=MAP_SIZE)
    warm = MessageCache(store)
    msg_id = warm.write(NESTED)
    cached_opts = {"cache": warm}

    def from_cache() -> None:
        assert resolve(msg_id, "a/b/c", cached_opts).value == b"value"

    def direct_from_cache() -> None:
        loaded = warm.read(msg_id)
        assert isinstance(loaded, dict)
        direct(loaded)

    rows = [
        ("3-step path, in memory", rate(through_engine({}), seconds), rate(lambda: direct(NESTED), seconds)),
        ("3-step path, no hashpath", rate(through_engine({"hashpath": "ignore"}), seconds),
         rate(lambda: direct(NESTED), seconds)),
        ("3-step path, base from LMDB cache", rate(from_cache, seconds), rate(direct_from_cache, seconds)),
    ]
    store.close()
    return rows


def print_rows(title: str, rows: list[Row], reference: str = "bare lmdb /s") -> None:
    print(title)
    print(f"  {'operation':34} {'aonode /s':>12} {reference:>14} {'ratio':>7}")
    for name, ours, theirs in rows:
        print(f"  {name:34} {ours:12.0f} {theirs:14.0f} {ours / theirs:7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aonode-bench-") as root:
        print_rows("stores (LMDB, durable commits)", store_section(Path(root), args.seconds))
        print_rows("engine (resolve vs direct device calls)", engine_section(Path(root), args.seconds), "direct /s")


if __name__ == "__main__":
    main()
