"""Issue 19, done-means 5: uploads through the node reach the bundler, durably.

A message signed as an ANS-104 item is posted to `/~arweave@2.9-pre/tx` of a node whose
`bundler_ans104` is arlocal's bundler front; it appears in arlocal's GraphQL under the same ID
and arbundles verifies it there. With arlocal stopped, the upload is kept in the node's outbox
(202, naming the bundler) and delivered once arlocal is back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, start, stop
from arweave.arlocal import ArLocal

from aonode.codecs import commit_as, encode, message_id
from aonode.crypto import Wallet


@pytest.fixture(scope="module")
def node(arlocal: ArLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("upload-node")
    config = workdir / "node.json"
    config.write_text(json.dumps({"bundler_ans104": arlocal.bundler_url, "arweave_outbox_retry": 200,
                                  "http_connect_timeout": 1000, "http_request_send_timeout": 20000}))
    started = start(workdir, extra=["--config", str(config)])
    try:
        yield started
    finally:
        stop(started)


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def signed_item(wallet: Wallet, text: str) -> tuple[bytes, str]:
    msg = commit_as("ans104@1.0", {"data-protocol": "ao", "type": "Message", "note": text, "data": text.encode()},
                    wallet)
    body = encode(msg, "ans104@1.0")
    assert isinstance(body, bytes)
    return body, message_id(msg, committers="all")


def upload(node: Node, body: bytes) -> httpx.Response:
    return httpx.post(f"{node.url}/~arweave@2.9-pre/tx", content=body, timeout=60,
                      headers={"codec-device": "ans104@1.0", "content-type": "application/ans104"})


def in_graphql(arlocal: ArLocal, item_id: str) -> list[str]:
    found = arlocal.graphql("query($ids: [ID!]) { transactions(ids: $ids) { edges { node { id } } } }",
                            {"ids": [item_id]})
    return [edge["node"]["id"] for edge in found["transactions"]["edges"]]


def test_upload_appears_in_arlocal_and_verifies_there(node: Node, arlocal: ArLocal, wallet: Wallet) -> None:
    body, item_id = signed_item(wallet, "uploaded through the node")
    answer = upload(node, body)
    assert answer.status_code == 200, answer.text
    assert in_graphql(arlocal, item_id) == [item_id]
    verdict = arlocal.verify(item_id)
    assert verdict["valid"] is True, verdict
    assert {"name": "note", "value": "uploaded through the node"} in verdict["tags"]


def test_unsigned_or_broken_uploads_are_refused(node: Node, wallet: Wallet) -> None:
    body, _ = signed_item(wallet, "to be broken")
    broken = body[:-1] + bytes([body[-1] ^ 1])
    answer = upload(node, broken)
    assert 400 <= answer.status_code < 500, answer.text
    unsigned = httpx.post(f"{node.url}/~arweave@2.9-pre/tx", headers={"note": "nobody signed me"}, timeout=30)
    assert unsigned.status_code == 400 and "unsigned" in unsigned.text


def test_upload_while_the_bundler_is_down_is_delivered_when_it_returns(
        node: Node, arlocal: ArLocal, wallet: Wallet) -> None:
    body, item_id = signed_item(wallet, "kept in the outbox")
    arlocal.stop()
    try:
        answer = upload(node, body)
        assert answer.status_code == 202, answer.text
        assert arlocal.bundler_url in answer.text and "outbox" in answer.text
        pending = list(Path(node.data_dir, "outbox", "pending").glob("*.json"))
        assert [p.name.split(".")[0] for p in pending] == [item_id]
        # The same upload again (a client retrying) is still one upload.
        assert upload(node, body).status_code == 202
        assert len(list(Path(node.data_dir, "outbox", "pending").glob("*.json"))) == 1
    finally:
        arlocal.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and list(Path(node.data_dir, "outbox", "pending").glob("*.json")):
        time.sleep(0.2)
    assert not list(Path(node.data_dir, "outbox", "pending").glob("*.json")), node.log_text()[-3000:]
    assert in_graphql(arlocal, item_id) == [item_id]
    assert arlocal.verify(item_id)["valid"] is True


# --- arweave@2.9-pre's reads, against arlocal through the `/arweave` route ---------------------


def arweave_routed_node(arlocal: ArLocal, workdir: Path, data_dir: Path | None = None, **extra: object) -> Node:
    config = workdir / "node.json"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"routes": arlocal.routes(), "bundler_ans104": arlocal.bundler_url,
                                  "arweave_outbox_retry": 200, **extra}))
    return start(workdir, data_dir=data_dir, extra=["--config", str(config)])


@pytest.fixture(scope="module")
def reader(arlocal: ArLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = arweave_routed_node(arlocal, tmp_path_factory.mktemp("arweave-reader"))
    try:
        yield started
    finally:
        stop(started)


def get_json(node: Node, path: str) -> tuple[int, object]:
    answer = httpx.get(f"{node.url}{path}", timeout=60, headers={"accept": "application/json"})
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text


def test_status_and_blocks(reader: Node, arlocal: ArLocal) -> None:
    info = httpx.get(f"{arlocal.url}/info", timeout=30).json()
    status, found = get_json(reader, "/~arweave@2.9-pre/status")
    assert status == 200 and isinstance(found, dict) and found["network"] == info["network"]
    height = info["height"]
    status, block = get_json(reader, f"/~arweave@2.9-pre/block?block={height}")
    assert status == 200 and isinstance(block, dict) and int(block["height"]) == height, block
    indep = block["indep_hash"]
    # Now in the block cache: by height and by hash, without asking arlocal again.
    before = arlocal.requests("GET", f"/block/hash/{indep}")
    status, again = get_json(reader, f"/~arweave@2.9-pre/block?block={indep}")
    assert status == 200 and isinstance(again, dict) and again["indep_hash"] == indep
    assert arlocal.requests("GET", f"/block/hash/{indep}") == before
    status, bad = get_json(reader, "/~arweave@2.9-pre/block?block=not-a-block")
    assert status == 400 and "Invalid block reference" in str(bad)


def test_tx_header_and_data(reader: Node, arlocal: ArLocal) -> None:
    out = arlocal.publish([{"data": b"in a bundle", "tags": {"Type": "Tx-Test"}}])
    bundle = out.bundles[0]
    status, tx = get_json(reader, f"/~arweave@2.9-pre/tx?tx={bundle}&data=false")
    assert status == 200 and isinstance(tx, dict) and tx["id"] == bundle, tx
    assert int(tx["data_size"]) == len(arlocal.data(bundle).content), tx
    with_data = httpx.get(f"{reader.url}/~arweave@2.9-pre/tx?tx={bundle}", timeout=60)
    assert with_data.status_code == 200
    assert arlocal.data(bundle).content in with_data.content  # the bundle, from /raw/<id>
    status, missing = get_json(reader, f"/~arweave@2.9-pre/tx?tx={'M' * 43}&data=false")
    assert status == 404 and "/tx/" in str(missing), missing


def test_kept_uploads_are_delivered_after_a_restart(arlocal: ArLocal, wallet: Wallet,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("restart")
    body, item_id = signed_item(wallet, "kept across a restart")
    arlocal.stop()
    first = arweave_routed_node(arlocal, workdir / "a", data_dir=workdir / "data")
    try:
        assert upload(first, body).status_code == 202
    finally:
        stop(first)
    arlocal.start()
    # A new node on the same data, whose start hook resumes the outbox: no request needed.
    second = arweave_routed_node(arlocal, workdir / "b", data_dir=workdir / "data",
                                 on={"start": {"device": "arweave@2.9-pre", "path": "start"}})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not in_graphql(arlocal, item_id):
            time.sleep(0.3)
        assert in_graphql(arlocal, item_id) == [item_id], second.log_text()[-3000:]
    finally:
        stop(second)


def test_an_upload_the_bundler_refuses_is_kept_as_rejected(node: Node, wallet: Wallet) -> None:
    """arbundles refuses items whose tag section is over 4096 bytes, which ANS-104 as HyperBEAM
    reads it allows: the bundler's 400 is reported, and the upload is kept under rejected/."""
    msg = commit_as("ans104@1.0", {"data-protocol": "ao", "type": "Message", "a": "x" * 2500, "b": "y" * 2500,
                                   "data": b"big tags"}, wallet)
    body = encode(msg, "ans104@1.0")
    assert isinstance(body, bytes)
    answer = upload(node, body)
    assert answer.status_code == 400, answer.text
    assert node_bundler(node) in answer.text and "refused" in answer.text
    uid = message_id(msg, committers="all")
    rejected = list(Path(node.data_dir, "outbox", "rejected").glob(f"{uid}.*.json"))
    assert len(rejected) == 1 and b'"reason": "400' in rejected[0].read_bytes()
    assert not list(Path(node.data_dir, "outbox", "pending").glob(f"{uid}.*.json"))


def node_bundler(node: Node) -> str:
    config = json.loads((node.data_dir.parent / "node.json").read_text())
    return str(config["bundler_ans104"])
