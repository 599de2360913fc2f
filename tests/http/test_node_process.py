"""End to end against a real `aonode serve` process on a loopback port: the request -> response
pairs of clients-legacy-users.md §6.1-6.2 and the hb_http / dev_meta tests that need no WASM
(resolution-paths-cache-node.md §14.7-14.8)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, post, result, running, signed, to_http, verified

from aonode.codecs import message_id, signers
from aonode.crypto import Wallet


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, owner: Wallet) -> Iterator[Node]:
    config = (
        "test_config_item: test\n"
        f"operator: {owner.address}\n"
        "http_max_body: 1048576\n"
        "http_max_header_size: 16384\n"
    )
    with running(tmp_path_factory.mktemp("node"), config=config) as started:
        yield started


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as c:
        yield c


def node_address(node: Node) -> str:
    return Wallet.load(node.data_dir / "wallet.json").address


def info(client: httpx.Client) -> dict[str, object]:
    response = client.get("/~meta@1.0/info", headers={"accept-bundle": "true"})
    assert response.status_code == 200
    return verified(response)


# --- §6.2 #11, dev_meta config_test / priv_inaccessible_test, hb_http cors_get_test ----------

def test_info_is_signed_by_the_node_and_shows_its_address(node: Node, client: httpx.Client) -> None:
    response = client.get("/~meta@1.0/info")
    assert response.status_code == 200
    msg = verified(response)  # the node's RSA-PSS signature and the HMAC both hold
    assert signers(msg) == [node_address(node)]
    assert msg["address"] == node_address(node).encode()
    assert msg["test_config_item"] == b"test"
    assert msg["port"] == node.port
    assert not [k for k in response.headers if k.lower().startswith("priv")]
    assert b"priv" not in b"".join(k.encode() for k in msg)
    assert response.headers["access-control-allow-origin"] == "*"


def test_options_preflight_answers_cors(client: httpx.Client) -> None:
    response = client.options("/~meta@1.0/info", headers={"access-control-request-method": "POST"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]


# --- §6.1: resolution and the path grammar ---------------------------------------------

def test_docs_example_count_is_the_integer_42(client: httpx.Client) -> None:
    response = client.get('/~message@1.0&greeting="Hello"&count+integer=42/count')
    assert response.status_code == 200
    assert response.text == "42"
    assert result(response) == 42
    assert 'body="integer"' in response.headers["ao-types"]


def test_typed_map_and_list_values(client: httpx.Client) -> None:
    assert result(client.get('/~message@1.0&config+map=key1="val1";key2=true/config/key1')) == b"val1"
    # HyperBEAM lists are 1-indexed. (`&x=y` keeps the first segment from being 43 bytes long,
    # which would make it an ID, §15.2 pitfall 1.)
    assert result(client.get('/~message@1.0&items+list="apple",1,"banana"&x=y/items/1')) == b"apple"


def test_inline_keys_are_scoped_to_their_step(client: httpx.Client) -> None:
    # §6.1 #8: `&k=v` on a step belongs to that step's request; a quoted value may hold `/`.
    assert result(client.get('/~message@1.0&x=1/set&k1="v/1"/k1')) == b"v/1"
    assert result(client.get("/~message@1.0&x=1/set&k2+integer=4/k2")) == 4
    # The request to `set` carried k1; the base never had it, so a later step cannot see
    # it on the base of a fresh path.
    assert client.get("/~message@1.0&x=1/k1").status_code == 404


def test_sub_resolution_in_a_path(client: httpx.Client) -> None:
    # `(...)` resolves a path and uses its result as that step's message.
    response = client.get('/~message@1.0&a=(~message@1.0&b="deep")/a/b')
    assert (response.status_code, result(response)) == (200, b"deep")


def test_key_lookup_lowercases_only_the_request_key(client: httpx.Client) -> None:
    # The docs promise `Value`; HyperBEAM main lowercases the requested key only (§15.1), so
    # `key` does not find `Key`, while `Key` and `hello` are found.
    assert client.get("/~message@1.0&hello=world&Key=Value/key").status_code == 404
    assert result(client.get("/~message@1.0&hello=world&Key=Value/Key")) == b"Value"
    assert result(client.get("/~message@1.0&hello=world&Key=Value/hello")) == b"world"


def test_info_as_json_through_the_json_codec_device(node: Node, client: httpx.Client) -> None:
    # §6.1 #10: codecs are devices, so a path can re-encode the previous step's result.
    response = client.get("/~meta@1.0/info/~json@1.0/serialize", headers={"accept-bundle": "true"})
    assert response.status_code == 200
    reply = verified(response)
    assert reply["content-type"] == b"application/json"
    document = json.loads(reply["body"])
    assert document["address"] == node_address(node)
    assert document["test_config_item"] == "test"
    assert not [k for k in document if k.startswith("priv")]


def test_json_body_of_a_serialized_message_is_served_raw(client: httpx.Client) -> None:
    response = client.get('/~message@1.0&greeting="Hello"&count+integer=42/~json@1.0/serialize/body')
    assert response.status_code == 200
    document = json.loads(response.content)
    # The request's headers are keys of the base too (hb_singleton), so only check ours.
    assert (document["count"], document["greeting"], document["device"]) == (42, "Hello", "json@1.0")


def test_simple_ao_resolve_unsigned(client: httpx.Client) -> None:
    response = post(client, {"path": "/key1", "key1": "Value1"})
    assert (response.status_code, result(response)) == (200, b"Value1")


def test_simple_ao_resolve_signed(client: httpx.Client) -> None:
    response = post(client, signed({"path": "/key1", "key1": "Value1"}, Wallet.generate()))
    assert (response.status_code, result(response)) == (200, b"Value1")


def test_nested_ao_resolve_signed(client: httpx.Client) -> None:
    msg = signed({"path": "/key1/key2/key3", "key1": {"key2": {"key3": "Value2"}}}, Wallet.generate())
    response = post(client, msg)
    assert (response.status_code, result(response)) == (200, b"Value2")


def test_index_page_from_the_result_device(client: httpx.Client) -> None:
    response = client.get("/~test-device@1.0/load", headers={"accept-bundle": "false"})
    assert (response.status_code, response.text) == (200, "i like turtles!")
    response = client.get("/~test-device@1.0/load?name=dogs", headers={"accept-bundle": "false"})
    assert response.text == "i like dogs!"


def test_buildinfo(client: httpx.Client) -> None:
    assert result(client.get("/~meta@1.0/build/node")) == b"aonode"
    assert result(client.get("/~meta@1.0/build/version")) == b"0.1.0"
    for key in ("source", "source-short", "build-time"):
        assert client.get(f"/~meta@1.0/build/{key}").status_code == 200


def test_a_signed_request_is_stored_and_read_back_by_id(client: httpx.Client) -> None:
    msg = signed({"path": "/greeting", "greeting": "hi", "nonce": uuid.uuid4().hex}, Wallet.generate())
    assert result(post(client, msg)) == b"hi"
    for committers in ("all", "none"):
        response = client.get(f"/{message_id(msg, committers=committers)}/greeting")
        assert (response.status_code, result(response)) == (200, b"hi")


# --- §6.2 #12-13: only the operator changes the node message -----------------------------

def test_node_message_changes_only_for_the_operator(client: httpx.Client, owner: Wallet) -> None:
    unsigned = post(client, {"path": "/~meta@1.0/info", "evil_config_item": "BAD"})
    stranger = post(client, signed({"path": "/~meta@1.0/info", "evil_config_item": "BAD"}, Wallet.generate()))
    forged = signed({"path": "/~meta@1.0/info", "evil_config_item": "fine"}, owner)
    forged["evil_config_item"] = "BAD"  # changed after signing: the owner never said this
    tampered = post(client, forged)
    for response in (unsigned, stranger):
        assert response.status_code == 400
        assert result(response) == b"Unauthorized"
    assert tampered.status_code == 400
    assert b"does not verify" in result(tampered)
    before = info(client)
    assert "evil_config_item" not in before
    assert before["node_history"] == []

    response = post(client, signed({"path": "/~meta@1.0/info", "test_config_item": "test2"}, owner))
    assert response.status_code == 200
    assert verified(response)["history-length"] == 1
    after = info(client)
    assert after["test_config_item"] == b"test2"
    assert len(after["node_history"]) == 1  # type: ignore[arg-type]


# --- bad input: a 4xx with a message, and the node keeps serving --------------------------

def assert_still_serving(client: httpx.Client) -> None:
    assert client.get("/~meta@1.0/info").status_code == 200


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/%zz", 400, "bad percent-escape"),
    ("/" + "a" * 513, 400, "segment too long"),
    ("/a b&c", 400, "space"),
    ("/nothing-here", 404, "not_found"),
    ("/~no-such-device@1.0/x", 400, "not loadable"),
    ("/~message@1.0&n+integer=1/n/deeper", 404, "not_found"),
])
def test_bad_paths(client: httpx.Client, path: str, status: int, text: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert text in response.text
    verified(response)  # errors are signed like any answer
    assert_still_serving(client)


def test_bad_encodings(client: httpx.Client) -> None:
    cases: list[tuple[dict[str, str], bytes, int]] = [
        ({"signature": "sig1=:AAAA:"}, b"", 400),  # a signature without its input
        ({"signature": "x", "signature-input": "((("}, b"", 400),
        ({"content-type": 'multipart/form-data; boundary="b"'}, b"--b\r\nno blank line--b--", 400),
        ({"ao-types": 'n="integer"', "n": "twelve"}, b"", 400),
        ({"codec-device": "ans104@1.0"}, b"\x01\x00 not an item", 400),
        ({"content-type": "application/json"}, b"{not json", 400),
        ({"codec-device": "nope@1.0"}, b"x", 422),
    ]
    for headers, body, status in cases:
        response = client.post("/x", headers=headers, content=body)
        assert response.status_code == status, (headers, response.text)
        assert response.text, "the error names the fault"
    assert_still_serving(client)


def test_oversized_headers_and_bodies(node: Node, client: httpx.Client) -> None:
    # Just over the limit: the app's check (431). Far over it: uvicorn's h11 parser, which the
    # CLI sets to the same limit, stops reading first (400).
    for size, status in ((20_000, 431), (400_000, 400)):
        response = client.get("/~meta@1.0/info", headers={"x-big": "a" * size})
        assert response.status_code == status
        assert response.text
    response = client.post("/x", content=b"a" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.text
    # A client that announces a huge body is refused before it sends it.
    with socket.create_connection(("127.0.0.1", node.port)) as raw:
        raw.sendall(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 413")
    assert_still_serving(client)


def test_a_request_with_a_broken_signature_is_refused(client: httpx.Client) -> None:
    headers, body = to_http(signed({"path": "/key1", "key1": "Value1"}, Wallet.generate()))
    headers["key1"] = "Other"  # not what was signed
    response = client.post("/key1", headers=headers, content=body)
    # The reference runs it (without force_signed_requests) and trusts its claimed committer;
    # aonode refuses it, saying why (docs/compat.md).
    assert response.status_code == 400
    assert b"does not verify" in result(response)


# --- the node's own routes --------------------------------------------------------------

def test_root_redirects_to_a_page_this_node_has(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["location"] == "/~hyperbuddy@1.0/dashboard"  # the reference's default_request
    assert client.get(response.headers["location"]).status_code == 200


def test_prometheus_metrics(client: httpx.Client) -> None:
    client.get("/~meta@1.0/info")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'aonode_http_requests_total{method="GET",status="200"}' in response.text
    assert "aonode_http_request_duration_seconds_bucket" in response.text
    assert "process_resident_memory_bytes" in response.text


def test_one_structured_log_line_per_request(node: Node, client: httpx.Client) -> None:
    client.get("/~meta@1.0/build/node?marker=log-test")
    # The line is written when the response is done, which the client may see first.
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in node.log_text().splitlines() if "log-test" in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1
    record = json.loads(lines[0][lines[0].index("{"):])
    assert record["method"] == "GET"
    assert record["path"] == "/~meta@1.0/build/node?marker=log-test"
    assert record["status"] == 200
    assert record["ms"] > 0


def test_wallet_file_is_private(node: Node) -> None:
    path = Path(node.data_dir) / "wallet.json"
    assert path.stat().st_mode & 0o777 == 0o600
