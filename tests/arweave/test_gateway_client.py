"""The gateway client and the gateway / remote-node stores against real servers: arlocal (npm)
for Arweave, an `aonode serve` node for `~cache@1.0`. The reference's hb_gateway_client,
hb_store_gateway and hb_store_remote_node tests (node-services.md §16), ported to arlocal where
they need the internet (docs/conformance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, signed, start, stop
from arweave.arlocal import ArLocal

from aonode.arweave import gateway
from aonode.arweave._gql import read_query, subindex_literal
from aonode.codecs import commit_as, decode, encode, message_id, verify
from aonode.crypto import Wallet
from aonode.store import FSStore, MessageCache, open_store
from aonode.store._gateway import GatewayStore, remote_failure

TAGS = {"App-Name": "aos", "Data-Protocol": "ao", "Type": "Process", "Content-Type": "text/plain"}


@pytest.fixture(scope="module")
def items(arlocal: ArLocal) -> dict[str, str]:
    out = arlocal.publish([
        {"data": b"Hello World", "tags": TAGS},
        {"data": b"", "tags": {"Type": "Scheduler-Location", "Url": "http://su.example", "Time-To-Live": "3600000"}},
        {"data": b"no protocol tag", "tags": {"Content-Type": "text/plain"}},
    ], broken=[{"data": b"tampered", "tags": TAGS}])
    return {"process": out.ids[0], "location": out.ids[1], "plain": out.ids[2], "broken": out.raw_ids[0]}


def opts(arlocal: ArLocal, **extra: Any) -> dict[str, Any]:
    return {"routes": arlocal.routes(), "http_request_send_timeout": 20000, **extra}


def test_subindex_literal_and_query_text() -> None:
    assert subindex_literal([{"name": "Data-Protocol", "value": "ao"}]) == '[{ name: "Data-Protocol", values: ["ao"] }]'
    assert 'tags: [{ name: "a\\"b", values: ["c"] }], first: 1' in read_query([{"name": 'a"b', "value": "c"}])
    assert "tags:" not in read_query()


def test_read_gives_a_verified_message(arlocal: ArLocal, items: dict[str, str]) -> None:
    """graphql_as_store_test_ / verifiability_test: the item's tags as keys, its data, and a
    signature that verifies, also after an httpsig@1.0 round trip."""
    msg = gateway.read(items["process"], opts(arlocal))
    assert msg is not None
    assert msg["app-name"] == b"aos" and msg["data"] == b"Hello World"
    verify(msg)
    assert message_id(msg, committers="all") == items["process"]
    again = decode(encode(msg, "httpsig@1.0", bundle=True), "httpsig@1.0")
    assert isinstance(again, dict)
    verify(again)


def test_subindex_narrows_the_read(arlocal: ArLocal, items: dict[str, str]) -> None:
    """store_opts_test: with subindex Data-Protocol = ao, only items carrying it are found."""
    ao = [{"name": "Data-Protocol", "value": "ao"}]
    assert gateway.read(items["process"], opts(arlocal), ao) is not None
    assert gateway.read(items["plain"], opts(arlocal), ao) is None
    assert gateway.read(items["plain"], opts(arlocal)) is not None
    assert gateway.read("Z" * 43, opts(arlocal)) is None


def test_scheduler_location(arlocal: ArLocal, items: dict[str, str]) -> None:
    query = "query($ids: [ID!]) { transactions(ids: $ids) { edges { node { owner { address } } } } }"
    edges = arlocal.graphql(query, {"ids": [items["location"]]})["transactions"]["edges"]
    owner = edges[0]["node"]["owner"]["address"]
    found = gateway.scheduler_location(owner, opts(arlocal))
    assert found is not None and found["url"] == b"http://su.example"
    verify(found)
    assert gateway.scheduler_location("N" * 43, opts(arlocal)) is None


def test_an_item_that_does_not_verify_is_refused_unless_trusted(arlocal: ArLocal,
                                                                items: dict[str, str]) -> None:
    with pytest.raises(gateway.UnverifiedItem) as refused:
        gateway.read(items["broken"], opts(arlocal))
    assert refused.value.status == 422 and items["broken"] in refused.value.message
    trusted = gateway.read(items["broken"], opts(arlocal, ans104_trust_gql=True))
    assert trusted is not None and trusted["app-name"] == b"aos"


def test_a_trusted_store_serves_an_unverifiable_item_as_described(arlocal: ArLocal, items: dict[str, str],
                                                                  tmp_path: Path) -> None:
    local = {"store-module": "lmdb", "name": str(tmp_path / "lmdb")}
    refusing = open_store([local, {"store-module": "gateway", "local-store": local, **opts(arlocal)}])
    with pytest.raises(gateway.UnverifiedItem):
        MessageCache(refusing).read(items["broken"])
    trusting = open_store([local, {"store-module": "gateway", "local-store": local,
                                   **opts(arlocal, ans104_trust_gql=True)}])
    found = MessageCache(trusting).read(items["broken"])
    assert isinstance(found, dict) and found["app-name"] == b"aos" and "commitments" not in found
    assert MessageCache(open_store(local)).read(items["broken"]) == found


def test_gateway_store_caches_into_its_local_store(arlocal: ArLocal, items: dict[str, str],
                                                   tmp_path: Path) -> None:
    """manual_local_cache_test / cache_read_message_test: read through the store, then found in
    the local fs store alone; the gateway is not asked again."""
    local = {"store-module": "fs", "name": str(tmp_path / "fs")}
    store = open_store({"store-module": "gateway", "local-store": local, **opts(arlocal)})
    assert isinstance(store, GatewayStore)
    found = MessageCache(store).read(items["process"])
    assert isinstance(found, dict) and found["data"] == b"Hello World"
    alone = MessageCache(FSStore(str(tmp_path / "fs"))).read(items["process"])
    assert isinstance(alone, dict) and alone["data"] == b"Hello World"
    verify(alone)
    MessageCache(store).read(items["process"])
    assert store.fetches == 1


def test_store_without_routes_finds_nothing(items: dict[str, str]) -> None:
    """specific_route_test: a store whose own routes are empty cannot reach a gateway."""
    store = open_store({"store-module": "gateway", "local-store": False, "routes": []})
    assert MessageCache(store).read(items["process"]) is None
    failure = remote_failure(items["process"])
    assert failure is not None and failure.status == 502


# --- remote-node: another node's ~cache@1.0 ------------------------------------------------------


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = start(tmp_path_factory.mktemp("peer"))
    try:
        yield started
    finally:
        stop(started)


def test_remote_node_store_reads_another_nodes_cache(peer: Node, tmp_path: Path) -> None:
    """hb_store_remote_node read_test: a message written to a node is read through the store,
    verified, and kept in the local store."""
    msg = signed({"note": "from the peer", "body": b"shared"}, Wallet.generate())
    with httpx.Client(base_url=peer.url, timeout=30) as client:
        assert post(client, msg, path="/~message@1.0").status_code < 400
    uid = message_id(msg, committers="all")
    local = {"store-module": "lmdb", "name": str(tmp_path / "lmdb")}
    store = open_store([local, {"store-module": "remote-node", "node": peer.url, "local-store": local}])
    found = MessageCache(store).read(uid)
    assert isinstance(found, dict) and found["note"] == b"from the peer"
    verify(found)
    assert MessageCache(open_store(local)).read(uid) is not None
    assert MessageCache(store).read("Q" * 43) is None


def test_another_nodes_graphql_as_the_gateway(peer: Node) -> None:
    """remote_hyperbeam_node_ans104_test: another node's `/~query@1.0/graphql` is the `/graphql`
    route (and its `/<id>/data` the `/raw/<id>` one); an ANS-104 message posted there is read
    back and verifies."""
    msg = commit_as("ans104@1.0", {"data-protocol": "ao", "type": "Message", "note": "on a peer",
                                   "data": b"peer data"}, Wallet.generate())
    answer = httpx.post(f"{peer.url}/~message@1.0", content=encode(msg, "ans104@1.0"), timeout=30,
                        headers={"codec-device": "ans104@1.0", "content-type": "application/ans104"})
    assert answer.status_code == 200, answer.text
    uid = message_id(msg, committers="all")
    routes = [{"template": "/graphql", "node": {"match": "^/graphql", "with": f"{peer.url}/~query@1.0/graphql"}},
              {"template": "/raw", "node": {"match": "^/raw/(.*)$", "with": f"{peer.url}/\\1/data"}}]
    found = gateway.read(uid, {"routes": routes})
    assert found is not None and found["note"] == b"on a peer" and found["data"] == b"peer data"
    verify(found)


def test_a_wasm_image_from_arweave(arlocal: ArLocal, tmp_path: Path) -> None:
    """wasm@1.0 reads its image by ID through the store chain: an item's bytes are its `data`."""
    from aonode.devices.wasm import image_of

    image = b"\0asm\x01\0\0\0"
    [uid] = arlocal.publish([{"data": image, "tags": {"Content-Type": "application/wasm", "Type": "Module"}}]).ids
    local = {"store-module": "lmdb", "name": str(tmp_path / "lmdb")}
    cache = MessageCache(open_store([local, {"store-module": "gateway", "local-store": local, **opts(arlocal)}]))
    assert image_of({"image": uid.encode()}, {"cache": cache}) == image
