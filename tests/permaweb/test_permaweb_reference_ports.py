"""The reference's tests of query@1.0, name@1.0, lookup@1.0, manifest@1.0 and the GraphQL
`message` root, ported (node-services.md §16: dev_query, dev_query_graphql, dev_name,
dev_lookup, dev_manifest). In process, on an LMDB store (the only backend that can match)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from permaweb_helpers import lmdb_cache, wallet

from aonode.codecs import commit, message_id
from aonode.core import resolve
from aonode.core.terms import NOT_FOUND
from aonode.devices.lookup import LookupDevice
from aonode.devices.query import QueryDevice, run_graphql
from aonode.message import Atom
from aonode.store.cache import MessageCache

ALICE = wallet(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessageCache]:
    c = lmdb_cache(tmp_path_factory.mktemp("ports"))
    yield c
    c.store.close()


@pytest.fixture(scope="module")
def stored(cache: MessageCache) -> dict[str, Any]:
    basic = commit({"basic": b"binary-value", "basic-2": b"binary-value-2", "wrong": b"2"}, ALICE)
    nested = commit({"test-key": b"nested-value", "nested": {"inner": b"value"}}, ALICE)
    listed = {"a-list": [b"a", 2, Atom("ok")]}
    for msg in (basic, nested, listed):
        cache.write(msg)
    return {"basic": basic, "nested": nested, "listed": listed}


def opts(cache: MessageCache, **extra: Any) -> dict[str, Any]:
    return {"cache": cache, "hashpath": "ignore", **extra}


# -- dev_query ----------------------------------------------------------------------------------


def test_basic(cache: MessageCache, stored: dict[str, Any]) -> None:
    found = resolve({"device": "query@1.0"}, {"path": "all", "basic": b"binary-value"}, opts(cache))
    assert found.ok and len(found.value) == 1
    msgs = QueryDevice().all({}, {"basic": b"binary-value", "return": "messages"}, opts(cache))
    assert msgs.ok and msgs.value[0]["basic"] == b"binary-value"


def test_only(cache: MessageCache, stored: dict[str, Any]) -> None:
    # `wrong` does not match, but only `basic` is searched for.
    found = QueryDevice().only({}, {"only": "basic", "basic": b"binary-value", "wrong": b"1"}, opts(cache))
    assert found.ok and len(found.value) == 1
    assert QueryDevice().all({}, {"basic": b"binary-value", "wrong": b"1"}, opts(cache)) == NOT_FOUND


def test_multiple(cache: MessageCache, stored: dict[str, Any]) -> None:
    found = QueryDevice().only({}, {"only": "basic,basic-2", "basic": b"binary-value",
                                    "basic-2": b"binary-value-2"}, opts(cache))
    assert found.ok and len(found.value) == 1


def test_nested(cache: MessageCache, stored: dict[str, Any]) -> None:
    found = QueryDevice().all({}, {"test-key": b"nested-value", "return": "first-message"}, opts(cache))
    assert found.ok and found.value["nested"] == {"inner": b"value"}


def test_list(cache: MessageCache, stored: dict[str, Any]) -> None:
    found = QueryDevice().all({}, {"2": 2, "3": Atom("ok"), "return": "count"}, opts(cache))
    assert found.ok and found.value == 1


def test_return_key(cache: MessageCache, stored: dict[str, Any]) -> None:
    # The default handler: a key the device lacks acts as `all`.
    found = resolve({"device": "query@1.0"}, {"path": "anything", "basic": b"binary-value",
                                              "return": "count"}, opts(cache))
    assert found.ok and found.value == 1


def test_return_types(cache: MessageCache, stored: dict[str, Any]) -> None:
    q = QueryDevice()
    spec = {"basic": b"binary-value"}
    assert q.all({}, {**spec, "return": "messages"}, opts(cache)).value[0]["basic"] == b"binary-value"
    assert q.all({}, {**spec, "return": "count"}, opts(cache)).value == 1
    assert q.all({}, {**spec, "return": "boolean"}, opts(cache)).value is True
    assert q.all({}, {"basic": b"absent", "return": "boolean"}, opts(cache)).value is False
    first = resolve({"device": "query@1.0"}, {"path": "all", **spec, "return": "first-message"}, opts(cache))
    assert first.ok and first.value["basic"] == b"binary-value"
    with pytest.raises(Exception, match="return"):
        q.all({}, {**spec, "return": "everything"}, opts(cache))


# -- dev_query_graphql: message(keys) -------------------------------------------------------------


LOOKUP = """query GetMessage($keys: [KeyInput]) { message(keys: $keys) { id keys { name value } } }"""


@pytest.mark.parametrize("how", ["literal", "variables", "no-operation-name"])
def test_graphql_message_lookup(cache: MessageCache, stored: dict[str, Any], how: str) -> None:
    if how == "literal":
        status, answer = run_graphql('query { message(keys: [{name: "basic", value: "binary-value"}]) '
                                     '{ id keys { name value } } }', {}, None, cache)
    elif how == "variables":
        status, answer = run_graphql(LOOKUP, {"keys": [{"name": "basic", "value": "binary-value"}]},
                                     "GetMessage", cache)
    else:
        status, answer = run_graphql(LOOKUP, {"keys": [{"name": "basic", "value": "binary-value"}]}, None, cache)
    assert status == 200, answer
    found = answer["data"]["message"]
    assert found["id"] == message_id(stored["basic"], "all")
    names = {k["name"] for k in found["keys"]}
    assert {"basic", "basic-2"} <= names
    status, answer = run_graphql('{ message(keys: [{name: "basic", value: "nope"}]) { id } }', {}, None, cache)
    assert answer["data"]["message"]["id"] == "not-found"


# -- dev_name -----------------------------------------------------------------------------------


def resolver(names: dict[str, Any]) -> dict[str, Any]:
    """A name resolver as a message: a map device answering `lookup`."""
    from aonode.core.devices import MapDevice

    def lookup(base: Any, request: Any, opts: Any) -> Any:
        from aonode.core.terms import Result

        key = request.get("key")
        return Result("ok", names[key]) if key in names else NOT_FOUND

    return {"device": MapDevice({"lookup": lookup})}


def test_no_resolvers(cache: MessageCache) -> None:
    found = resolve({"device": "name@1.0"}, {"path": "hello", "load": False}, opts(cache))
    assert not found.ok and found.value["status"] == 404


def test_single_resolver(cache: MessageCache) -> None:
    o = opts(cache, name_resolvers=[resolver({"hello": b"world"})])
    found = resolve({"device": "name@1.0"}, {"path": "hello", "load": False}, o)
    assert found.ok and found.value == b"world"


def test_multiple_resolvers(cache: MessageCache) -> None:
    o = opts(cache, name_resolvers=[resolver({"hello": b"world"}), resolver({"hello": b"bigger-world",
                                                                                "big": b"bigger-world"})])
    assert resolve({"device": "name@1.0"}, {"path": "big", "load": False}, o).value == b"bigger-world"
    assert resolve({"device": "name@1.0"}, {"path": "hello", "load": False}, o).value == b"world"


def test_load_and_execute(cache: MessageCache) -> None:
    target = commit({"deep": b"PING"}, ALICE)
    cache.write(target)
    o = opts(cache, name_resolvers=[resolver({"ping": message_id(target, "all").encode()})])
    found = resolve({"device": "name@1.0"}, {"path": "ping"}, o)
    assert found.ok and found.value["deep"] == b"PING"
    deep = resolve(found.value, {"path": "deep"}, o)
    assert deep.ok and deep.value == b"PING"


def test_host_hook_names() -> None:
    from aonode.core.names import host_name

    assert host_name(b"myapp.localhost:8734") == "myapp"
    assert host_name("app.example.com") == "app"
    assert host_name("localhost:8734") is None
    assert host_name("127.0.0.1:8734") is None
    assert host_name("[::1]:8734") is None


# -- dev_lookup ---------------------------------------------------------------------------------


def test_binary_lookup(cache: MessageCache) -> None:
    path = cache.write(b"Simple unsigned data item")
    assert LookupDevice().read({}, {"target": path}, opts(cache)).value == b"Simple unsigned data item"


def test_message_lookup(cache: MessageCache) -> None:
    msg = commit({"test-key": b"test-value", "data": b"Some data"}, ALICE)
    cache.write(msg)
    found = LookupDevice().read({}, {"target": message_id(msg, "all")}, opts(cache))
    assert found.ok and found.value["test-key"] == b"test-value"


def test_aos2_message_lookup(cache: MessageCache) -> None:
    msg = commit({"test-key": b"test-value", "data": b"Some data"}, ALICE)
    cache.write(msg)
    found = LookupDevice().read({}, {"target": message_id(msg, "all"), "accept": "application/aos-2"}, opts(cache))
    assert found.ok and found.value["content-type"] == b"application/aos-2"
    assert json.loads(found.value["body"])["Data"] == "Some data"


def test_missing_lookup_is_404(cache: MessageCache) -> None:
    found = LookupDevice().read({}, {"target": "D" * 43}, opts(cache))
    assert not found.ok and found.value["status"] == 404


# -- dev_manifest -------------------------------------------------------------------------------


def test_manifest_resolve(cache: MessageCache) -> None:
    page1 = commit({"body": b"Page 1"}, ALICE)
    page2 = commit({"body": b"Page 2"}, ALICE)
    for page in (page1, page2):
        cache.write(page)
    manifest = {"index": {"path": "index"}, "paths": {"index": {"id": message_id(page1, "all")},
                          "nested": {"page2": {"id": message_id(page2, "all")}}}}
    base = {"device": "manifest@1.0", "body": json.dumps(manifest).encode()}
    o = opts(cache)
    assert resolve(base, {"path": "index"}, o).value["body"] == b"Page 1"
    nested = resolve(base, {"path": "nested"}, o)
    assert nested.ok
    assert resolve(nested.value, {"path": "page2"}, o).value["body"] == b"Page 2"
    missing = resolve(base, {"path": "nope"}, o)
    assert not missing.ok and missing.value["status"] == 404
    no_index = {"device": "manifest@1.0", "body": json.dumps({"paths": manifest["paths"]}).encode()}
    assert resolve(no_index, {"path": "index"}, o).value["body"] == b"Page 1"
    bad = {"device": "manifest@1.0", "body": b"not json"}
    with pytest.raises(Exception, match="not JSON"):
        resolve(bad, {"path": "index"}, o)
