"""copycat@1.0's indexing loop (`index_graphql`) paging through a real GraphQL server: this node's
own `/graphql` schema over one store, copied into another store (no gateway needed); and the
filters it builds. The same device against arlocal: tests/permaweb/test_permaweb_arlocal.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from permaweb_helpers import item, lmdb_cache, store_items, wallet

from aonode.arweave.gateway import message_from_node
from aonode.devices.copycat import ITEM_SPEC, filter_query, index_graphql
from aonode.devices.query import run_graphql
from aonode.errors import BadMessage
from aonode.graphql import parse
from aonode.store.cache import MessageCache

ALICE = wallet(1)
ITEMS = [item(ALICE, [("App-Name", "copycat-test"), ("N", str(i))], f"item {i}".encode()) for i in range(5)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessageCache]:
    c = lmdb_cache(tmp_path_factory.mktemp("source"))
    store_items(c, ITEMS)
    store_items(c, [item(ALICE, [("App-Name", "other")], b"not copied")])
    yield c
    c.store.close()


def test_index_pages_through_a_graphql_server(source: MessageCache, tmp_path: Path) -> None:
    target = lmdb_cache(tmp_path)
    seen_after: list[Any] = []

    def fetch_page(query: str, variables: dict[str, Any]) -> Any:
        seen_after.append(variables.get("after"))
        status, answer = run_graphql(query, variables, None, source)
        assert status == 200, answer
        return answer

    def store_node(node: Any) -> None:
        data = source.read(node["id"])
        assert isinstance(data, dict)
        target.write(message_from_node(node, data["data"], {}))

    query = ('query($after: String) { transactions(after: $after, first: 2, tags: [{name: "App-Name", '
             'values: ["copycat-test"]}]) { edges { ' + ITEM_SPEC + " } pageInfo { hasNextPage } } }")
    try:
        done = index_graphql(query, {}, fetch_page, store_node)
        assert (done.written, done.skipped, done.pages) == (5, 0, 3)
        assert seen_after[0] is None and len(set(seen_after)) == 3
        for it in ITEMS:
            from aonode.crypto import b64url_encode

            copied = target.read(b64url_encode(it.id))
            assert isinstance(copied, dict) and copied["data"] == it.data
    finally:
        target.store.close()


def test_a_node_that_fails_is_skipped_and_counted(source: MessageCache) -> None:
    def fetch_page(query: str, variables: dict[str, Any]) -> Any:
        return run_graphql(query, variables, None, source)[1]

    def store_node(node: Any) -> None:
        raise BadMessage("refused")

    done = index_graphql(filter_query({"tag": "App-Name", "value": "copycat-test"}) or "", {}, fetch_page, store_node)
    assert (done.written, done.skipped, done.pages) == (0, 5, 1)


@pytest.mark.parametrize("spec, fragment", [
    ({"tag": "Type", "value": "Process"}, 'tags: [{name: "Type", values: ["Process"]}]'),
    ({"query": {"Type": "Module", "Data-Protocol": "ao"}},
     'tags: [{name: "Type", values: ["Module"]}, {name: "Data-Protocol", values: ["ao"]}]'),
    ({"owner": "abc"}, 'owners: ["abc"]'),
    ({"recipient": 'r"x'}, r'recipients: ["r\"x"]'),
    ({"all": True}, "first: 100)"),
])
def test_filters(spec: dict[str, Any], fragment: str) -> None:
    query = filter_query(spec)
    assert query is not None and fragment in query
    parse(query)  # every generated query is valid GraphQL, quotes escaped


def test_no_filter() -> None:
    assert filter_query({"unrelated": "x"}) is None
    assert filter_query({"query": "{ transactions { edges { node { id } } } }"}) == \
        "{ transactions { edges { node { id } } } }"
