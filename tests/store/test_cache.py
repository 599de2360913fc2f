"""The message cache (§8), with the reference's `hb_cache` suite (§14.4) on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import BACKENDS, make_store, wallet

from aonode.codecs import commit, hashpath, message_id, verify
from aonode.crypto import Wallet
from aonode.errors import AOError, DecodeError, EncodeError
from aonode.message import Atom, Link
from aonode.store import MessageCache, Store, StoreError, cache
from aonode.store.cache import commitments_base, data_path


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


def assert_same_ids(read: Any, written: Any) -> None:
    assert message_id(read, "none") == message_id(written, "none")
    assert message_id(read, "all") == message_id(written, "all")
    assert message_id(read, commitments="all") == message_id(written, commitments="all")


def unsigned(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != "commitments"}


# -- §14.4, on every backend ---------------------------------------------------------------------


def test_store_unsigned_empty_message(store: Store) -> None:
    uid = cache.write({}, store)
    assert uid == message_id({}) and cache.read(uid, store) == {}


def test_store_binary(store: Store) -> None:
    path = cache.write(b"test data", store)
    assert path == data_path(b"test data") and path.startswith("data/")
    assert cache.read(path, store) == b"test data"
    assert cache.read(cache.write(b"", store), store) == b""


def test_store_nested_empty_messages(store: Store) -> None:
    msg = {"empty": {}, "list": [], "bin": b"", "nested": {"inner-empty": {}, "x": b"1"}}
    uid = cache.write(msg, store)
    assert cache.read(uid, store) == msg


def test_store_simple_unsigned_message_by_id(store: Store) -> None:
    msg = {"key": b"value", "number": 42, "float": 1.5, "atom": Atom("ok"), "yes": True, "none": None}
    uid = cache.write(msg, store)
    assert uid == message_id(msg)
    assert cache.read(uid, store) == msg


def test_store_signed_message_read_by_committed_id(store: Store) -> None:
    signed = commit({"key": b"value", "n": 7}, wallet())
    uid = cache.write(signed, store)
    assert uid == message_id(unsigned(signed))
    committed_id = message_id(signed, [wallet().address])
    for ref in (uid, committed_id, message_id(signed, commitments="all")):
        read = cache.read(ref, store)
        assert isinstance(read, dict) and read == signed
        verify(read)
        assert_same_ids(read, signed)


def test_deeply_nested_multiply_signed_message(store: Store) -> None:
    level3 = commit({"other-test-key": [1, 2, 3]}, wallet(2))
    level1 = commit({"level2": {"level3": level3, "e": b"f", "z": [1, 2, 3]}, "c": b"d", "g": [b"h", b"i"],
                     "j": 1337}, wallet())
    outer = {"level1": level1, "a": b"b"}
    uid = cache.write(outer, store)
    for ref in (uid, message_id(outer, "all")):
        read = cache.read(ref, store)
        assert isinstance(read, dict) and read == outer
        assert read["level1"]["level2"]["level3"]["other-test-key"] == [1, 2, 3]
        assert_same_ids(read, outer)
        verify(read["level1"])
        verify(read["level1"]["level2"]["level3"])
    assert cache.read(f"{uid}/level1/level2/level3/other-test-key", store) == [1, 2, 3]
    signed_level1 = cache.read(message_id(level1, [wallet().address]), store)
    assert signed_level1 == level1


def test_message_with_list_values(store: Store) -> None:
    msg = {"list": [b"a", 1, [2, {"deep": b"x"}], {}, []], "other": b"b"}
    uid = cache.write(msg, store)
    assert cache.read(uid, store) == msg
    top_list = [1, b"two", {"three": 3}]
    assert cache.read(cache.write(top_list, store), store) == top_list


def test_device_map_cannot_be_written(store: Store) -> None:
    with pytest.raises(EncodeError):
        cache.write({"device": {}}, store)
    with pytest.raises(EncodeError):
        cache.write({"child": {"device": {"name": b"x"}}}, store)


# -- layout, paths and keys -----------------------------------------------------------------------


def test_layout(store: Store) -> None:
    signed = commit({"a": b"1", "child": {"b": 2}}, wallet())
    uid = cache.write(signed, store)
    assert store.list(uid) == ["a", "child+link", "commitments"]
    assert store.list(store.resolve(f"{uid}/child+link")) is None  # a data blob holding the child ID
    assert store.resolve(f"{uid}/a") == data_path(b"1")
    assert store.resolve(f"{uid}/commitments") == commitments_base(uid)
    assert sorted(store.list(commitments_base(uid)) or []) == sorted(signed["commitments"])
    for cid in signed["commitments"]:
        assert store.resolve(cid) == uid or cid == uid


def test_private_keys_are_never_written(store: Store) -> None:
    uid = cache.write({"a": b"1", "priv": {"secret": b"s"}, "private-key": b"k", "child": {"priv_x": b"y"}}, store)
    assert cache.read(uid, store) == {"a": b"1", "child": {}}
    assert store.read(data_path(b"s")) is None and store.read(data_path(b"k")) is None


def test_unusual_keys(store: Store) -> None:
    msg = {"a/b": b"slash", "50%": b"percent", "..": b"dots", ".hidden": b"h", "k%2F": b"x", "Caps": b"C"}
    uid = cache.write(msg, store)
    assert cache.read(uid, store) == msg
    assert cache.read(f"{uid}/Caps", store) == b"C"


def test_read_keys_by_path(store: Store) -> None:
    uid = cache.write({"n": 5, "f": 0.25, "b": b"x", "child": {"m": Atom("yes"), "l": [1]}}, store)
    assert cache.read(f"{uid}/n", store) == 5
    assert cache.read(f"{uid}/f", store) == 0.25
    assert cache.read(f"{uid}/b", store) == b"x"
    assert cache.read(f"{uid}/child", store) == {"m": Atom("yes"), "l": [1]}
    assert cache.read(f"{uid}/child/m", store) == Atom("yes")
    assert cache.read(f"{uid}/child/l/1", store) == 1
    assert cache.read(f"{uid}/missing", store) is None
    assert cache.read(f"{uid}/child/missing/deeper", store) is None


def test_missing_paths(store: Store) -> None:
    assert cache.read("A" * 43, store) is None
    assert cache.read("", store) is None
    assert cache.read(data_path(b"never written"), store) is None


def test_rewriting_is_idempotent(store: Store) -> None:
    msg = commit({"a": b"1"}, wallet())
    assert cache.write(msg, store) == cache.write(msg, store)
    assert cache.read(message_id(msg, "all"), store) == msg


def test_same_content_signed_twice_keeps_each_parents_id(store: Store) -> None:
    """Both signers' commitments accumulate under one content ID (as in the reference); a parent
    still loads the child with the commitments its link names."""
    first = commit({"same": b"content"}, wallet(1))
    second = commit({"same": b"content"}, wallet(2))
    parent_one, parent_two = {"child": first}, {"child": second, "other": b"x"}
    cache.write(parent_one, store)
    cache.write(parent_two, store)
    for parent in (parent_one, parent_two):
        read = cache.read(message_id(parent), store)
        assert read == parent
        assert_same_ids(read, parent)
    merged = cache.read(message_id(first), store)
    assert isinstance(merged, dict)
    assert set(merged["commitments"]) == set(first["commitments"]) | set(second["commitments"])
    verify(merged)


def test_unknown_links_stay_links(store: Store) -> None:
    msg = {"ref": Link("B" * 43)}
    uid = cache.write(msg, store)
    read = cache.read(uid, store)
    assert read == msg and message_id(read) == message_id(msg)


# -- other writers and readers ---------------------------------------------------------------------


def test_write_binary_and_read_resolved(store: Store) -> None:
    base = {"a": b"1"}
    request = {"path": b"compute", "x": b"2"}
    base_id = cache.write(base, store)
    hp = hashpath(base, request)
    cache.write_binary(hp, b"result", store)
    assert cache.read(hp, store) == b"result"
    assert cache.read_resolved(base, request, store) == b"result"
    assert cache.read_resolved(base_id, request, store) == b"result"  # `<ID>/<request ID>` is the same path
    assert cache.read_resolved(base_id, "a", store) is None
    assert cache.read_resolved(base_id, base_id, store) is None
    cache.link(data_path(b"1"), f"{base_id}/{'C' * 43}", store)
    assert cache.read_resolved(base_id, "C" * 43, store) == b"1"
    assert cache.read_resolved(b"not an id", request, store) is None
    assert cache.read_resolved(base, {"path": b"compute", "bad": object()}, store) is None  # type: ignore[dict-item]


def test_write_hashpath(store: Store) -> None:
    base, request = {"a": b"1"}, {"path": b"a"}
    hp = hashpath(base, request)
    result = {"result": b"ok", "priv": {"hashpath": hp}}
    uid = cache.write_hashpath(result, store)
    assert cache.read(hp, store) == cache.read(uid, store) == {"result": b"ok"}
    assert cache.write_hashpath({"no": b"hashpath"}, store) == message_id({"no": b"hashpath"})


def test_message_cache_binds_a_store(store: Store) -> None:
    bound = MessageCache(store)
    uid = bound.write({"k": b"v"})
    assert bound.read(uid) == {"k": b"v"} and bound.read(uid.encode()) == {"k": b"v"}
    bound.write_binary("A" * 43 + "/" + "B" * 43, b"v")
    assert bound.read_resolved("A" * 43, "B" * 43) == b"v"
    assert isinstance(MessageCache().store, Store)


def test_a_repeated_write_is_skipped_but_not_after_a_reset(store: Store) -> None:
    bound = MessageCache(store)
    msg = {"k": b"v", "nested": {"n": 1}, "priv": {"hashpath": b"x"}}
    uid = bound.write(msg)
    assert bound.write({**msg, "priv": {"hashpath": b"y"}}) == uid  # private keys do not count
    store.reset()
    assert bound.read(uid) is None
    assert bound.write(msg) == uid
    assert bound.read(uid) == {"k": b"v", "nested": {"n": 1}}
    assert bound.write({**msg, "k": b"w"}) != uid


def test_two_signatures_of_one_signer_over_the_same_keys_both_survive(store: Store) -> None:
    # IDs leave out `signature`, so the commitments must not be stored by content ID alone.
    wallet = Wallet.generate()
    first, second = commit({"k": b"1"}, wallet), commit({"k": b"2"}, wallet)
    ids = [cache.write(first, store), cache.write(second, store)]
    for uid, original in zip(ids, (first, second), strict=True):
        back = cache.read(uid, store)
        verify(back)
        assert back == original


def test_match_lmdb(tmp_path: Path) -> None:
    store = make_store("lmdb", tmp_path)
    messages = [{"x": b"1", "z": b"3"}, {"x": b"2", "z": b"3"}, {"x": b"4", "z": b"5"}, {"y": b"3"}]
    ids = [cache.write(m, store) for m in messages]
    assert sorted(cache.match({"z": b"3"}, store)) == sorted(ids[:2])
    assert cache.match({"x": b"4"}, store) == [ids[2]]
    typed = cache.write({"int": 1337, "atom": Atom("atom")}, store)
    assert cache.match({"int": 1337}, store) == [typed]
    assert cache.match({"atom": Atom("atom")}, store) == [typed]
    nested = {"child": {"inner": b"deep"}, "w": b"w"}
    outer = cache.write(nested, store)
    assert cache.match({"child": {"inner": b"deep"}}, store) == [outer]
    assert message_id(nested["child"]) in cache.match({"inner": b"deep"}, store)
    store.close()


# -- malformed stores -----------------------------------------------------------------------------


def test_corrupt_types_raise_decode_error(store: Store) -> None:
    uid = cache.write({"n": 1}, store)
    store.write(data_path(b"broken"), b"n=(((")
    store.make_link(data_path(b"broken"), f"{uid}/ao-types")
    with pytest.raises(DecodeError):
        cache.read(uid, store)


def test_corrupt_references_raise_store_errors(store: Store) -> None:
    uid = cache.write({"child": {"a": b"1"}}, store)
    store.write(data_path(b"\xff\xfe"), b"\xff\xfe")
    store.make_link(data_path(b"\xff\xfe"), f"{uid}/other+link")
    with pytest.raises(StoreError):
        cache.read(f"{uid}/other", store)
    store.make_link("nowhere", f"{uid}/dangling")
    with pytest.raises(StoreError):
        cache.read(uid, store)


def test_self_referencing_message_is_caught(store: Store) -> None:
    store.make_group("M" * 43)
    ref = cache.write(b"M" * 43, store)
    store.make_link(ref, "M" * 43 + "/self+link")
    with pytest.raises(AOError):
        cache.read("M" * 43, store)


def test_content_signed_elsewhere_stays_as_written_in_parents(store: Store) -> None:
    """The empty message signed by someone is the same content as every empty child: a parent
    still gets its child back without those commitments (and a signed `{}`, whose commitment
    lists no keys, does not load itself in a loop)."""
    signed_empty = commit({}, wallet())
    cache.write(signed_empty, store)
    parent = {"empty": {}, "list": [], "n": 1}
    uid = cache.write(parent, store)
    assert cache.read(uid, store) == parent
    assert cache.read(message_id(signed_empty, "all"), store) == signed_empty


def test_commitment_keys_that_are_not_ids_name_nothing(store: Store) -> None:
    """Only an ID-shaped commitment key becomes a top-level link: a key `data` must not capture
    the data group."""
    msg = {"a": b"1", "commitments": {"data": {"commitment-device": b"x@1.0", "committed": {"1": b"a"}}}}
    uid = cache.write(msg, store)
    assert store.resolve("data") == "data" and store.type("data") == "composite"
    assert cache.read(uid, store) == msg
    assert cache.read(message_id(msg, commitments="all"), store) == msg


def test_keys_no_commitment_covers_are_dropped(store: Store) -> None:
    signed = commit({"a": b"1"}, wallet())
    uid = cache.write({**signed, "added": b"later"}, store)
    assert uid == message_id({"a": b"1"})
    assert cache.read(uid, store) == signed
