"""Every answer is valid HTTP with its reason in the body (issue 17 item 5), against a real node.

One test per fault: header values and names HTTP cannot carry, empty paths, deep JSON,
ANS-104 items with 127-128 tags, a signed `1.foo` tag, a refused request storing nothing, a
binary anchor, and error bodies that say why in text.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from aonode_process import Node, response_message, running

from aonode.codecs import decode, message_id, parse_item
from aonode.codecs._dataitem import DataItem
from aonode.crypto import Wallet

ANS104 = {"content-type": "application/ans104", "codec-device": "ans104@1.0"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("valid-http")) as started:
        yield started


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def item(wallet: Wallet, tags: list[tuple[str, str]], *, anchor: bytes = b"") -> DataItem:
    return DataItem(tags=[("path", "/data"), *tags], data=b"hi", anchor=anchor).sign(wallet)


def item_id(it: DataItem) -> str:
    return message_id(decode(it.serialize(), "ans104@1.0"), committers="all")


def store(client: httpx.Client, it: DataItem) -> httpx.Response:
    return client.post("/data", content=it.serialize(), headers=ANS104)


def raw_get(node: Node, target: str) -> bytes:
    """A request sent byte for byte (httpx would normalise `//`); the whole answer."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_reason(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    text = response.content.decode("utf-8")
    for word in words:
        assert word in text, text
    assert not re.search(r"(?<![\w.])b['\"]", text), text  # no Python bytes repr


@pytest.mark.parametrize(("name", "value"), [
    ("a", " leading space"), ("a", "trailing tab\t"), ("a", "control\x01char"),
    ("transfer-encoding", "chunked"), ("content-length", "5"), ("connection", "close"),
])
def test_keys_that_cannot_be_headers_travel_in_the_body(client: httpx.Client, wallet: Wallet,
                                                        name: str, value: str) -> None:
    it = item(wallet, [(name, value)])
    assert store(client, it).status_code == 200
    for headers in ({}, {"accept-bundle": "true"}, {"accept": "application/json"}, {"require-codec": "flat@1.0"}):
        response = client.get("/" + item_id(it), headers=headers)
        assert response.status_code == 200, (headers, response.text)
    got = response_message(client.get("/" + item_id(it)))
    assert got[name] == value.encode()


@pytest.mark.parametrize("target", ["/?a=1", "//", "///?x=2"])
def test_an_empty_path_is_a_400(node: Node, target: str) -> None:
    answer = raw_get(node, target)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"path is empty" in answer


def test_a_path_header_of_slash_is_a_400(client: httpx.Client) -> None:
    assert_reason(client.post("/x", headers={"path": "/"}), 400, "path is empty")


def test_deep_json_is_a_400_naming_the_limit(node: Node, client: httpx.Client) -> None:
    lines_before = len(node.log_text().splitlines())
    for depth in (1001, 45_000):
        deep = "[" * depth + "]" * depth
        response = client.post("/x", content=deep, headers={"content-type": "application/json"})
        assert_reason(response, 400, "1000 levels")
    ok = "[" * 1000 + "]" * 1000
    assert client.post("/x", content=ok, headers={"content-type": "application/json"}).status_code < 500
    assert len(node.log_text().splitlines()) - lines_before < 50


def test_deep_multipart_is_a_400(client: httpx.Client) -> None:
    name = "/".join(["a"] * 1001)
    body = (b'--B\r\ncontent-disposition: form-data;name="' + name.encode() + b'"\r\n\r\nx\r\n--B--')
    response = client.post("/x", content=body, headers={"content-type": 'multipart/form-data; boundary="B"'})
    assert_reason(response, 400, "1000 levels")


@pytest.mark.parametrize("count", [126, 127, 128])
def test_items_with_127_and_128_tags_come_back_as_ans104(client: httpx.Client, wallet: Wallet, count: int) -> None:
    it = item(wallet, [(f"t{i}", "v") for i in range(count - 1)])
    assert store(client, it).status_code == 200
    response = client.get("/" + item_id(it), headers={"require-codec": "ans104@1.0"})
    assert response.status_code == 200, response.text
    back = parse_item(response.content)
    assert back.id == it.id
    assert len(back.tags) == count


def test_a_signed_scoped_key_is_refused_and_not_stored(client: httpx.Client, wallet: Wallet) -> None:
    it = item(wallet, [("1.foo", "bar")])
    assert_reason(store(client, it), 400, "1.foo")
    assert_reason(client.get("/" + item_id(it)), 404, item_id(it))


def test_a_refused_request_stores_nothing(client: httpx.Client, wallet: Wallet) -> None:
    it = item(wallet, [("a.b", "bar")])
    assert_reason(store(client, it), 400, "a.b")
    assert_reason(client.get("/" + item_id(it)), 404, item_id(it))


def test_a_binary_anchor_is_answered(client: httpx.Client, wallet: Wallet) -> None:
    it = item(wallet, [], anchor=b"\xff\xfe" * 16)
    assert store(client, it).status_code == 200
    assert client.get("/" + item_id(it)).content == b"hi"
    assert client.get("/" + item_id(it), headers={"accept-bundle": "true"}).content == b"hi"
    back = client.get("/" + item_id(it), headers={"require-codec": "ans104@1.0"})
    assert parse_item(back.content).anchor == it.anchor
    as_json = client.get("/" + item_id(it), headers={"accept": "application/json"})
    assert as_json.status_code in (200, 400)
    if as_json.status_code == 400:
        assert_reason(as_json, 400, "field-anchor")


def test_error_bodies_say_why_and_name_the_key_or_id(client: httpx.Client) -> None:
    missing = "A" * 43
    assert_reason(client.get("/nothing-here"), 404, "not_found", "nothing-here")
    assert_reason(client.get(f"/{missing}/slot/current"), 404, missing)
    assert_reason(client.get(f"/{missing}"), 404, missing)
    assert_reason(client.get(f"/~scheduler@1.0/schedule?target={missing}"), 404, missing)
    assert_reason(client.get("/%zz"), 400, "'/%zz'")
    it = DataItem(tags=[("path", "/data"), ("ao-type", "other\x01")], data=b"x").sign(Wallet.generate()).serialize()
    assert_reason(client.post("/data", content=it, headers=ANS104), 400, "ao-type", "other\\x01")


def test_a_slot_not_yet_scheduled_says_so(client: httpx.Client, node: Node, wallet: Wallet) -> None:
    from aonode_process import post, signed

    address = client.get("/~meta@1.0/info/address").text
    process = signed({"device": "process@1.0", "type": "Process", "scheduler": address,
                      "execution-device": "test-device@1.0"}, wallet)
    assert post(client, {"path": "/~scheduler@1.0/schedule", "body": process}).status_code == 200
    pid = message_id(process, committers="all")
    response = client.get(f"/~scheduler@1.0/schedule?target={pid}&from=5&to=6")
    assert response.status_code < 500
    response = client.get(f"/{pid}/compute?slot=9")
    if response.status_code >= 400:
        assert response.content, "the reason is in the body"
        assert "b'" not in response.text
