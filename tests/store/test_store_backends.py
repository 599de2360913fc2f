"""The store interface (§9.1), run against every backend: values, groups, links, resolution."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import BACKENDS, make_store

from aonode.store import Store, StoreError


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


def test_values(store: Store) -> None:
    assert store.read("a") is None and store.type("a") is None
    store.write("a", b"1")
    assert store.read("a") == b"1" and store.type("a") == "simple"
    store.write("a", b"2")
    assert store.read("a") == b"2"
    store.write("e", b"")
    assert store.read("e") == b"" and store.type("e") == "simple"


@pytest.mark.parametrize("value", [b"group", b"link:a", b"\x01a", b"\x02", b"\x03", bytes(range(256))])
def test_values_that_look_like_metadata_read_back(store: Store, value: bytes) -> None:
    """The reference's LMDB misreads `group` and `link:...`; no backend here may."""
    store.write("v", value)
    assert store.read("v") == value and store.type("v") == "simple"


def test_groups(store: Store) -> None:
    store.make_group("g")
    assert store.type("g") == "composite" and store.read("g") is None and store.list("g") == []
    store.make_group("g")  # idempotent
    store.write("g/b", b"2")
    store.write("g/a", b"1")
    store.make_group("g/sub")
    store.write("g/sub/x", b"3")
    assert store.list("g") == ["a", "b", "sub"]
    assert store.list("g/a") is None and store.list("missing") is None


def test_writes_create_parent_groups(store: Store) -> None:
    store.write("a/b/c", b"x")
    assert store.type("a") == "composite" and store.type("a/b") == "composite"
    assert store.list("a") == ["b"] and store.list("a/b") == ["c"]


def test_paths_are_normalized(store: Store) -> None:
    store.write("/a//b/", b"x")
    assert store.read("a/b") == b"x" and store.list("/a/") == ["b"]


def test_a_group_is_never_replaced(store: Store) -> None:
    store.write("g/a", b"1")
    with pytest.raises(StoreError):
        store.write("g", b"x")
    with pytest.raises(StoreError):
        store.make_link("elsewhere", "g")
    store.write("v", b"1")
    with pytest.raises(StoreError):
        store.make_group("v")
    with pytest.raises(StoreError):
        store.write("v/below", b"1")
    assert store.read("g/a") == b"1" and store.read("v") == b"1"


def test_links(store: Store) -> None:
    store.write("data/x", b"X")
    store.make_link("data/x", "l1")
    store.make_link("l1", "l2")
    assert store.read("l2") == b"X" and store.type("l2") == "simple"
    assert store.resolve("l2") == "data/x"
    store.write("data/y", b"Y")
    store.make_link("data/y", "l1")  # replaces the link
    assert store.read("l2") == b"Y"
    store.make_link("l1", "l1")  # a link to itself is a no-op
    assert store.read("l1") == b"Y"


def test_links_resolve_through_every_segment(store: Store) -> None:
    store.write("msg/key", b"v")
    store.make_link("msg", "alias")
    store.make_link("alias", "alias2")
    assert store.read("alias2/key") == b"v"
    assert store.resolve("alias2/key") == "msg/key"
    assert store.type("alias") == "composite" and store.list("alias2") == ["key"]
    store.make_link("msg/key", "other/k")
    store.make_link("other", "o")
    assert store.read("o/k") == b"v"


def test_several_links_at_once_are_the_links_one_by_one(store: Store) -> None:
    store.write("data/a", b"A")
    store.write("data/b", b"B")
    store.make_group("T1")
    store.make_group("T2")
    store.make_link("T1", "m")
    # Siblings under one parent, then a link that moves that parent, then one more under it:
    # it must land where the moved parent leads, as it would one by one.
    store.make_links([("data/a", "m/x"), ("data/b", "m/y"), ("T2", "m"), ("data/a", "m/z"), ("data/a", "m/z")])
    assert (store.read("T1/x"), store.read("T1/y")) == (b"A", b"B")
    assert store.read("T2/z") == b"A" and store.read("T1/z") is None
    store.make_group("g/sub")
    with pytest.raises(StoreError):
        store.make_links([("data/a", "g/k"), ("data/b", "g/sub")])  # a group is never replaced


def test_writes_under_a_link_land_in_its_target(store: Store) -> None:
    store.make_group("msg")
    store.make_link("msg", "alias")
    store.write("alias/new", b"1")
    store.make_link("alias/new", "alias/lnk")
    assert store.read("msg/new") == b"1" and store.read("msg/lnk") == b"1"
    assert store.list("msg") == ["lnk", "new"]


def test_write_replaces_a_link(store: Store) -> None:
    store.write("a", b"A")
    store.make_link("a", "l")
    store.write("l", b"L")
    assert store.read("l") == b"L" and store.read("a") == b"A"


def test_dangling_links_and_missing_paths(store: Store) -> None:
    store.make_link("nowhere", "l")
    assert store.read("l") is None and store.type("l") is None and store.list("l") is None
    assert store.resolve("l/x") == "nowhere/x"
    assert store.resolve("missing/path") == "missing/path"
    assert store.read("missing/path") is None


def test_link_loops_raise(store: Store) -> None:
    store.make_link("b", "a")
    store.make_link("a", "b")
    with pytest.raises(StoreError, match="loop"):
        store.read("a")


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "%2e", "a%b", "%", "ключ", " sp ace", "a+link", "0"])
def test_any_segment_round_trips(store: Store, name: str) -> None:
    store.write(f"g/{name}", name.encode())
    store.make_link(f"g/{name}", f"links/{name}")
    assert store.read(f"g/{name}") == name.encode()
    assert store.read(f"links/{name}") == name.encode()
    assert store.list("g") == [name]


def test_root_listing(store: Store) -> None:
    store.write("a/x", b"1")
    store.make_group("b")
    store.make_link("a", "c")
    assert {"a", "b", "c"} <= set(store.list("") or [])


def test_empty_path_cannot_be_written(store: Store) -> None:
    with pytest.raises(StoreError):
        store.write("/", b"x")


def test_reset(store: Store) -> None:
    store.write("a/b", b"1")
    store.make_link("a", "l")
    store.reset()
    assert store.read("a/b") is None and store.read("l") is None and store.type("a") is None


def test_transaction_and_snapshot_blocks(store: Store) -> None:
    with store.transaction():
        store.write("t/a", b"1")
        with store.transaction():
            store.make_link("t/a", "t/b")
        assert store.read("t/b") == b"1"
    with store.snapshot():
        assert store.read("t/b") == b"1" and store.list("t") == ["a", "b"]


def test_closed_store_refuses(store: Store) -> None:
    store.close()
    assert store.closed
    with pytest.raises(StoreError):
        store.write("a", b"1")
    with pytest.raises(StoreError):
        store.read("a")
    store.close()  # again: nothing happens


def test_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                with store.transaction():
                    store.write(f"t{n}/v{i}", f"{n}-{i}".encode())
                    store.make_link(f"t{n}/v{i}", f"t{n}/l{i}")
                assert store.read(f"t{n}/l{i}") == f"{n}-{i}".encode()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(len(store.list(f"t{n}") or []) == 20 for n in range(4))
