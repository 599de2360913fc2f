"""The process result cache (processes-compute.md §3.7): the reference's
`process_cache_suite_test_` on every store backend."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aonode.codecs import commit, message_id
from aonode.crypto import Wallet
from aonode.devices import _process_cache as process_cache
from aonode.store import MessageCache, cache


def _store_helpers() -> Any:
    """tests/store/store_helpers.py, whose directory is on the path only when its tests run."""
    path = Path(__file__).parents[1] / "store" / "store_helpers.py"
    spec = importlib.util.spec_from_file_location("process_store_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HELPERS = _store_helpers()
BACKENDS: list[str] = _HELPERS.BACKENDS
make_store = _HELPERS.make_store


@pytest.fixture(params=BACKENDS)
def message_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageCache]:
    store = make_store(request.param, tmp_path)
    yield MessageCache(store)
    store.close()


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def unsigned(data: bytes) -> dict[str, Any]:
    """`hb_cache:test_unsigned`."""
    return {"base-test-key": os.urandom(8).hex().encode(), "other-test-key": data}


def signed(data: Any, wallet: Wallet) -> dict[str, Any]:
    """`hb_cache:test_signed`."""
    return commit(unsigned(data) if isinstance(data, bytes) else {"test-item": data}, wallet)


def same(read: Any, written: dict[str, Any]) -> bool:
    """`hb_message:match`: the same message (same IDs, signed and unsigned)."""
    return isinstance(read, dict) and all(
        message_id(read, committers=c) == message_id(written, committers=c) for c in ("none", "all")
    )


def test_write_and_read_output(message_cache: MessageCache, wallet: Wallet) -> None:
    proc = signed(unsigned(b"test-body-data"), wallet)
    proc_id = message_id(proc)
    item1 = signed(b"Simple signed output #1", wallet)
    item2 = unsigned(b"Simple unsigned output #2")
    path0 = process_cache.write(proc_id, 0, item1, message_cache)
    path1 = process_cache.write(proc_id, 1, item2, message_cache)
    assert path0 == f"computed/{proc_id}/slot/0"
    assert same(cache.read(path0, message_cache.store), item1)
    assert same(cache.read(path1, message_cache.store), item2)
    assert same(process_cache.read(proc_id, 0, message_cache), item1)
    assert same(process_cache.read(proc_id, 1, message_cache), item2)
    assert same(process_cache.read(proc_id, message_id(item1), message_cache), item1)
    assert same(process_cache.read(proc_id, message_id(item2, committers="all"), message_cache), item2)
    assert process_cache.read(proc_id, 2, message_cache) is None


def test_find_latest_outputs(message_cache: MessageCache, wallet: Wallet) -> None:
    proc = commit({"device": b"process@1.0", "type": b"Process", "seed": os.urandom(8).hex().encode()}, wallet)
    proc_id = message_id(proc)
    msg0 = {"Results": {"Result-Number": 0}}
    msg1 = {"Results": {"Result-Number": 1}, "Process": proc}
    msg2 = {"Results": {"Result-Number": 2}, "Deep": {"Process": proc}}
    for slot, msg in enumerate([msg0, msg1, msg2]):
        process_cache.write(proc_id, slot, msg, message_cache)
    slot, found = process_cache.latest(proc_id, message_cache)
    assert slot == 2 and same(found, msg2)
    slot, found = process_cache.latest(proc_id, message_cache, "Process")
    assert slot == 1 and same(found, msg1)
    slot, found = process_cache.latest(proc_id, message_cache, "Deep/Process")
    assert slot == 2 and same(found, msg2)
    slot, found = process_cache.latest(proc_id, message_cache, [], 1)
    assert slot == 1 and same(found, msg1)
    # Plain keys and `+link` spellings ask the same question.
    assert process_cache.latest(proc_id, message_cache, "Process+link")[0] == 1
    assert process_cache.latest(proc_id, message_cache, "Results/Result-Number")[0] == 2
    assert process_cache.latest(proc_id, message_cache, "Nothing") is None
    assert process_cache.latest(proc_id, message_cache, "Process", 0) is None
    assert process_cache.latest("unknown-process", message_cache) is None


def test_slots_are_numeric_and_sorted(message_cache: MessageCache) -> None:
    for slot in (10, 2, 1):
        process_cache.write("p", slot, {"n": slot}, message_cache)
    assert process_cache.slots("p", message_cache.store) == [1, 2, 10]
    assert process_cache.latest("p", message_cache)[0] == 10
