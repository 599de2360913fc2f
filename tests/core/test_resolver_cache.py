"""The resolver with a message cache: lookups, stores and cache-control (§3.3 stages 2 and 10,
§8.6, and the reference's `hb_cache_control` result tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aonode.codecs import hashpath, message_id
from aonode.core import Result, resolve
from aonode.store import LMDBStore, MessageCache


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    store = LMDBStore(tmp_path / "lmdb")
    yield MessageCache(store)
    store.close()


def test_cache_binary_result(cache: Any) -> None:
    base = {"test-key": b"test-message"}
    assert resolve(base, "test-key", {"cache": cache, "cache_control": ["always"]}) == Result("ok", b"test-message")
    again = resolve(base, "test-key", {"cache": cache, "cache_control": ["only-if-cached"]})
    assert again == resolve(base, "test-key", {"cache": cache, "cache_control": ["only-if-cached"]})
    assert again.value == b"test-message"
    # The binary result is linked at the step's hashpath.
    assert cache.read(hashpath(base, {"path": "test-key"})) == b"test-message"


def test_cache_message_result(cache: Any) -> None:
    cached = {"purpose": b"Test-Message", "aux": {"aux-message": b"Aux-Message-Value"}, "test-key": 1234}
    base = {"test-key": cached, "local": b"Binary"}
    first = resolve(base, "test-key", {"cache": cache, "cache_control": ["always"]})
    assert first.status == "ok"
    second = resolve(base, "test-key", {"cache": cache, "cache_control": ["only-if-cached"]})
    assert second == resolve(base, "test-key", {"cache": cache, "cache_control": ["only-if-cached"]})
    # The map result, its base and its request were written under their IDs.
    stored = cache.read(message_id(first.value))
    assert stored is not None and message_id(stored) == message_id(cached)
    assert cache.read(message_id(base)) is not None


def test_no_store_by_default(cache: Any) -> None:
    base = {"k": b"never-stored-value"}
    resolve(base, "k", {"cache": cache})
    assert cache.read(message_id(base)) is None


def test_id_base_is_loaded_from_the_cache(cache: Any) -> None:
    msg_id = cache.write({"a": {"b": b"deep"}})
    assert resolve(msg_id, "a/b", {"cache": cache}) == Result("ok", b"deep")
    assert resolve(msg_id.encode(), "a/b", {"cache": cache}) == Result("ok", b"deep")


def test_missing_id_base(cache: Any) -> None:
    missing = "A" * 43
    assert resolve(missing, "a", {"cache": cache}).status == "error"
    looked_up = resolve(missing, "a", {"cache": cache, "cache_control": ["always"]})
    assert looked_up.status == "error" and looked_up.value["status"] == 404


def test_only_if_cached_miss_is_504(cache: Any) -> None:
    msg_id = cache.write({"a": b"1"})
    result = resolve(msg_id, {"path": "a", "extra": b"x"}, {"cache": cache, "cache_control": ["only-if-cached"]})
    assert result.status == "error" and result.value["status"] == 504


def test_id_base_hit_skips_execution(cache: Any) -> None:
    msg_id = cache.write({"a": b"1"})
    request = {"path": "a", "extra": b"x"}
    cache.write_binary(f"{msg_id}/{message_id(request, committers='all')}", b"from-cache")
    hit = resolve(msg_id, request, {"cache": cache, "cache_control": ["always"]})
    assert hit == Result("ok", b"from-cache")


def test_resolve_many_single_id(cache: Any) -> None:
    from aonode.core import resolve_many

    msg_id = cache.write({"x": b"y"})
    found = resolve_many([msg_id], {"cache": cache})
    assert found.status == "ok" and found.value["x"] == b"y"
    assert resolve_many(["B" * 43], {"cache": cache}).status == "error"
