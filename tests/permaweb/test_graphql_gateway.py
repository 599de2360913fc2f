"""`/~query@1.0/graphql` semantics over a local store: filters, fields and pagination of the gateway
schema (node-services.md §11.2, dev_query_test_vectors), on ANS-104 items and httpsig messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from permaweb_helpers import item, lmdb_cache, store_items, wallet

from aonode.codecs import commit
from aonode.crypto import b64url_encode
from aonode.devices.query import has_results, run_graphql
from aonode.store.cache import MessageCache

ALICE, BOB = wallet(1), wallet(2)
RECIPIENT = bytes(range(32))
ANCHOR = bytes(range(32, 64))

ITEMS = [
    item(ALICE, [("Data-Protocol", "ao"), ("Type", "Module"), ("Content-Type", "text/plain")], b"module one"),
    item(ALICE, [("Data-Protocol", "ao"), ("Type", "Process"), ("Module", "x" * 43)], b"", target=RECIPIENT),
    item(BOB, [("Data-Protocol", "ao"), ("Type", "Message"), ("Action", "Eval")], b"1+1", anchor=ANCHOR),
    item(BOB, [("App-Name", "other")], b"unrelated"),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessageCache]:
    c = lmdb_cache(tmp_path_factory.mktemp("gql"))
    store_items(c, ITEMS)
    yield c
    c.store.close()


IDS = [b64url_encode(i.id) for i in ITEMS]


def gql(cache: MessageCache, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    status, answer = run_graphql(query, variables or {}, None, cache)
    assert status == 200, answer
    assert "errors" not in answer, answer
    data = answer["data"]
    assert isinstance(data, dict)
    return data


def ids_of(data: dict[str, Any]) -> set[str]:
    return {e["node"]["id"] for e in data["transactions"]["edges"]}


def test_tags_filter_is_exact_and_intersects(cache: MessageCache) -> None:
    q = 'query { transactions(tags: [{name: "Data-Protocol", values: ["ao"]}]) { edges { node { id } } } }'
    assert ids_of(gql(cache, q)) == set(IDS[:3])
    q = '{ transactions(tags: [{name: "Data-Protocol", values: ["ao"]}, ' \
        '{name: "Type", values: ["Module", "Message"]}]) { edges { node { id } } } }'
    assert ids_of(gql(cache, q)) == {IDS[0], IDS[2]}
    # Gateways match tag names exactly: the store's case-folded names must not leak through.
    q = '{ transactions(tags: [{name: "data-protocol", values: ["ao"]}]) { edges { node { id } } } }'
    assert ids_of(gql(cache, q)) == set()
    q = 'query($o: [String!]) { transactions(tags: [{name: "Type", values: ["Module"], op: NEQ}], owners: $o) ' \
        '{ edges { node { id } } } }'
    assert ids_of(gql(cache, q, {"o": [ALICE.address]})) == {IDS[1]}


def test_owners_recipients_ids(cache: MessageCache) -> None:
    q = 'query($o: [String!]) { transactions(owners: $o) { edges { node { id owner { address key } } } } }'
    data = gql(cache, q, {"o": [BOB.address]})
    assert ids_of(data) == {IDS[2], IDS[3]}
    assert all(e["node"]["owner"]["address"] == BOB.address for e in data["transactions"]["edges"])
    assert all(e["node"]["owner"]["key"] == b64url_encode(BOB.modulus) for e in data["transactions"]["edges"])
    q = 'query($r: [String!]) { transactions(recipients: $r) { edges { node { id recipient } } } }'
    data = gql(cache, q, {"r": [b64url_encode(RECIPIENT)]})
    assert [e["node"] for e in data["transactions"]["edges"]] == [{"id": IDS[1], "recipient": b64url_encode(RECIPIENT)}]
    q = 'query($ids: [ID!]!) { transactions(ids: $ids, first: 1) { edges { node { id } } } }'
    assert ids_of(gql(cache, q, {"ids": [IDS[3], "A" * 43]})) == {IDS[3]}


def test_full_transaction_fields(cache: MessageCache) -> None:
    q = """query GetTx($id: ID!) { transaction(id: $id) { id anchor signature recipient
        owner { address key } fee { winston ar } quantity { winston } data { size type }
        tags { name value } block { id } bundledIn { id } } }"""
    tx = gql(cache, q, {"id": IDS[0]})["transaction"]
    it = ITEMS[0]
    assert tx == {
        "id": IDS[0], "anchor": "", "signature": b64url_encode(it.signature), "recipient": "",
        "owner": {"address": ALICE.address, "key": b64url_encode(ALICE.modulus)},
        "fee": {"winston": "0", "ar": "0.000000000000"}, "quantity": {"winston": "0"},
        "data": {"size": "10", "type": "text/plain"},
        "tags": [{"name": "Data-Protocol", "value": "ao"}, {"name": "Type", "value": "Module"},
                 {"name": "Content-Type", "value": "text/plain"}],
        "block": None, "bundledIn": None,
    }
    assert gql(cache, q, {"id": IDS[2]})["transaction"]["anchor"] == b64url_encode(ANCHOR)
    assert gql(cache, q, {"id": "B" * 43})["transaction"] is None


def test_pagination_first_after(cache: MessageCache) -> None:
    q = """query($after: String) {
           transactions(tags: [{name: "Data-Protocol", values: ["ao"]}], first: 2, after: $after) {
             count pageInfo { hasNextPage } edges { cursor node { id } } } }"""
    page1 = gql(cache, q)["transactions"]
    assert page1["pageInfo"]["hasNextPage"] is True and len(page1["edges"]) == 2 and page1["count"] == 3
    page2 = gql(cache, q, {"after": page1["edges"][-1]["cursor"]})["transactions"]
    assert page2["pageInfo"]["hasNextPage"] is False and len(page2["edges"]) == 1
    seen = [e["node"]["id"] for e in page1["edges"] + page2["edges"]]
    assert sorted(seen) == sorted(IDS[:3]) and len(set(seen)) == 3


def test_fragments_aliases_and_no_filter(cache: MessageCache) -> None:
    q = """query($o: [String!]) { mine: transactions(owners: $o) { ...Conn } all: transactions(first: 100) { count } }
           fragment Conn on TransactionConnection { edges { node { ... on Transaction { id __typename } } } }"""
    data = gql(cache, q, {"o": [ALICE.address]})
    assert {e["node"]["id"] for e in data["mine"]["edges"]} == set(IDS[:2])
    assert data["mine"]["edges"][0]["node"]["__typename"] == "Transaction"
    assert data["all"]["count"] == 4


def test_httpsig_messages_are_transactions_too(tmp_path: Path) -> None:
    c = lmdb_cache(tmp_path)
    try:
        signed = commit({"type": b"Scheduler-Location", "url": b"http://x", "data-protocol": b"ao"}, ALICE)
        c.write(signed)
        q = 'query($o: [String!]) { transactions(owners: $o, tags: [{name: "type", values: ["Scheduler-Location"]}]) ' \
            '{ edges { node { id owner { address } tags { name value } } } } }'
        edges = gql(c, q, {"o": [ALICE.address]})["transactions"]["edges"]
        assert len(edges) == 1
        node = edges[0]["node"]
        assert node["id"] in signed["commitments"] and node["owner"]["address"] == ALICE.address
        assert {"name": "url", "value": "http://x"} in node["tags"]
    finally:
        c.store.close()


@pytest.mark.parametrize("query, message", [
    ("{ transactions(", "Syntax Error"),
    ("mutation { x }", "queries only"),
    ("query A { a } query B { b }", "operation name"),
    ("query($x: ID!) { transaction(id: $x) { id } }", "was not provided"),
])
def test_request_errors_are_400(cache: MessageCache, query: str, message: str) -> None:
    status, answer = run_graphql(query, {}, None, cache)
    assert status == 400 and message in answer["errors"][0]["message"]


def test_field_errors_are_reported_with_null(cache: MessageCache) -> None:
    status, answer = run_graphql("{ transactions(first: -1) { count } nope }", {}, None, cache)
    assert status == 200 and answer["data"] == {"transactions": None, "nope": None}
    assert len(answer["errors"]) == 2


def test_has_results() -> None:
    assert has_results(json.dumps({"data": {"transactions": {"edges": [{"node": {}}]}}}))
    assert not has_results(b'{"data": {"transactions": {"edges": []}}}')
    assert not has_results(b"not json")


def test_query_timeout_is_a_503(cache: MessageCache) -> None:
    status, answer = run_graphql("{ transactions { count } }", {}, None, cache, timeout_ms=0)
    assert status == 503 and "query_timeout" in answer["errors"][0]["message"]


@pytest.mark.parametrize("query, message", [
    ("{ a " * 70 + "}" * 70, "nest deeper"),
    ("{ transactions { count } }" + " " * 100_001, "at most"),
    ('{ transactions(tags: [{name: "a", values: ["\\q"]}]) { count } }', "invalid escape"),
    ("{ transactions(ids: [1, 2]) { count } } fragment F on X { a } fragment F on X { b }", "only one fragment"),
    ("{ ...Missing }", "Unknown fragment"),
    ("{ transactions { count @skip(if: 3) } }", "boolean"),
])
def test_hostile_queries_are_400(cache: MessageCache, query: str, message: str) -> None:
    status, answer = run_graphql(query, {}, None, cache)
    assert status == 400 and message in answer["errors"][0]["message"], answer


@pytest.mark.parametrize("args, message", [
    ("ids: 5", "`ids` must be a list of strings"),
    ('tags: [{values: ["x"]}]', "needs a `name`"),
    ('tags: [{name: "a", values: ["x"], op: LIKE}]', "EQ or NEQ"),
    ('after: "not a cursor"', "not a cursor"),
    ('bundledIn: ["abc"]', "cannot filter transactions by `bundledIn`"),
    ("block: {min: 1, max: 2}", "cannot filter transactions by `block`"),
    ('tags: [{name: "a", values: [' + ", ".join(f'"{i}"' for i in range(21)) + "]}]", "Too many filter values"),
])
def test_bad_arguments_are_field_errors(cache: MessageCache, args: str, message: str) -> None:
    status, answer = run_graphql(f"{{ transactions({args}) {{ count }} }}", {}, None, cache)
    assert status == 200 and answer["data"]["transactions"] is None
    assert message in answer["errors"][0]["message"]


def test_first_is_capped_and_skip_include_work(cache: MessageCache) -> None:
    data = gql(cache, "query($no: Boolean!) { transactions(first: 1000000) { count edges @skip(if: $no) "
                      "{ node { id } } pageInfo @include(if: $no) { hasNextPage } } }", {"no": True})
    assert data["transactions"] == {"count": 4, "pageInfo": {"hasNextPage": False}}


def test_count_is_the_total_whatever_the_page(cache: MessageCache) -> None:
    data = gql(cache, '{ transactions(first: 1, tags: [{name: "Data-Protocol", values: ["ao"]}]) '
                      "{ a: count b: count edges { node { id } } } }")
    assert data["transactions"]["a"] == data["transactions"]["b"] == 3
    assert len(data["transactions"]["edges"]) == 1
