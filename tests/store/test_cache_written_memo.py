"""The cache's memo of written messages never stands in for a write that did not happen, and
never changes what `message_id` says of a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from store_helpers import wallet

from aonode.codecs import _ids, commit, message_id
from aonode.store import cache
from aonode.store._lmdb import LMDBStore
from aonode.store._memory import MemoryStore


def test_a_retry_after_a_rolled_back_write_stores_the_signed_message(tmp_path: Path) -> None:
    store = LMDBStore(str(tmp_path), capacity=64 << 20)
    try:
        content = {"a": b"1", "b": b"two"}
        cache.write(dict(content), store)  # the same content, unsigned, is stored first
        signed = commit(dict(content), wallet(1))
        with pytest.raises(RuntimeError), store.transaction():
            cache.write(signed, store)
            raise RuntimeError("the commit failed")
        cache.write(signed, store)  # the client's retry
        assert cache.read(message_id(signed, "all"), store) is not None
    finally:
        store.close()


def test_writing_a_message_with_a_false_nested_commitment_leaves_its_id_alone() -> None:
    child = commit({"x": b"2"}, wallet(1))
    parent: dict[str, Any] = {"a": b"1", "child": {**child, "x": b"3"}}  # the child's signature no longer holds
    before = message_id(parent)
    cache.write(parent, MemoryStore(10**8))  # writes it without the false commitment
    assert message_id(parent) == before
    _ids._MEMO.clear()
    assert message_id(parent) == before
