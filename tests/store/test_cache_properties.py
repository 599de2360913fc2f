"""Property: any message written to the cache reads back equal, with equal IDs (hypothesis)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import TEST_CAPACITY, wallet

from aonode.codecs import commit, message_id, verify
from aonode.store import FSStore, LMDBStore, MemoryStore, Store, cache


def _codec_strategies() -> Any:
    """tests/codecs/strategies.py, which is on the path only when the codecs tests are collected."""
    if "strategies" in sys.modules:
        return sys.modules["strategies"]
    spec = importlib.util.spec_from_file_location("strategies", Path(__file__).parents[1] / "codecs" / "strategies.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["strategies"] = module
    spec.loader.exec_module(module)
    return module


messages, values = _codec_strategies().messages, _codec_strategies().values
SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module", params=["lmdb", "lru-fs"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store for all examples: the cache is content-addressed, so examples cannot collide."""
    root: Path = tmp_path_factory.mktemp(request.param)
    store: Store = (LMDBStore(root, capacity=TEST_CAPACITY) if request.param == "lmdb"
                    else MemoryStore(2048, persistent=FSStore(root, durable=False)))
    yield store
    store.close()


def _ids(msg: Any) -> tuple[str, str, str]:
    return message_id(msg, "none"), message_id(msg, "all"), message_id(msg, commitments="all")


@SETTINGS
@given(msg=messages | st.lists(values, max_size=4))
def test_write_then_read_preserves_message_and_ids(shared_store: Store, msg: Any) -> None:
    uid = cache.write(msg, shared_store)
    read = cache.read(uid, shared_store)
    assert read == msg
    assert _ids(read) == _ids(msg)


@settings(max_examples=10, deadline=None)
@given(msg=messages)
def test_signed_messages_read_back_verified(msg: dict[str, Any]) -> None:
    # A fresh store each time: signed content shares its uncommitted ID with the unsigned
    # examples, and reading that ID returns every commitment ever written for it (§8.1).
    with tempfile.TemporaryDirectory() as root:
        store = MemoryStore(2048, persistent=FSStore(root, durable=False))
        signed = commit(msg, wallet())
        uid = cache.write(signed, store)
        for ref in (uid, message_id(signed, "all")):
            read = cache.read(ref, store)
            assert read == signed
            verify(read)
            assert _ids(read) == _ids(signed)
