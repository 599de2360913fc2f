"""The arlocal harness itself: a gateway and a bundler on loopback, fed only by npm packages."""

from __future__ import annotations

import httpx
from arweave.arlocal import ArLocal


def test_published_items_are_indexed_and_served(arlocal: ArLocal) -> None:
    out = arlocal.publish([{"data": b"hello", "tags": {"Content-Type": "text/plain", "Type": "Smoke"}}])
    [item_id] = out.ids
    assert arlocal.data(item_id).content == b"hello"
    query = "query($ids: [ID!]) { transactions(ids: $ids) { edges { node { id tags { name value } } } } }"
    found = arlocal.graphql(query, {"ids": [item_id]})
    [edge] = found["transactions"]["edges"]
    assert edge["node"]["tags"] == [{"name": "Content-Type", "value": "text/plain"}, {"name": "Type", "value": "Smoke"}]


def test_bundler_front_takes_a_signed_item_and_refuses_a_broken_one(arlocal: ArLocal) -> None:
    # An item signed by the harness but not posted: take a published one's bytes, change a tag value.
    out = arlocal.publish([{"data": b"x", "tags": {"Type": "Front"}}])
    good = out.items[0]
    answer = httpx.post(arlocal.bundler_url + "/tx", content=good,
                        headers={"content-type": "application/octet-stream"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == out.ids[0]
    broken = good[:-1] + bytes([good[-1] ^ 1])
    refused = httpx.post(arlocal.bundler_url + "/tx", content=broken, timeout=60)
    assert refused.status_code == 400
    assert "verify" in refused.json()["error"]


def test_a_restart_resumes_from_the_highest_block(arlocal: ArLocal) -> None:
    # Two blocks in one second (arlocal's created_at resolution), then a restart: the chain must
    # go on from the higher one, or the next block reuses a height and GraphQL lists items twice.
    arlocal.mine()
    arlocal.mine()
    height = httpx.get(arlocal.url + "/info", timeout=10).json()["height"]
    arlocal.stop()
    arlocal.start()
    assert httpx.get(arlocal.url + "/info", timeout=10).json()["height"] == height
