"""The outbound client (`aonode.net.client`) against a real peer on loopback (`peer_server`)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from peer_server import Peer, running_peer

from aonode.codecs import signers, verify
from aonode.core import Result
from aonode.crypto import Wallet
from aonode.errors import Unauthorized
from aonode.net import client


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    with running_peer() as found:
        yield found
    client.close()


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def test_signed_request_reaches_peer_and_signed_answer_is_decoded(peer: Peer, wallet: Wallet) -> None:
    result = client.post(peer.url, {"path": "/echo", "key1": "value1", "n": 7}, {"priv_wallet": wallet}, sign=True)
    assert result.status == "ok"
    answer = result.value
    assert answer["status"] == 200
    verify(answer)  # the peer's signature holds after the round trip
    assert peer.wallet.address in signers(answer)
    assert answer["seen-method"] == b"POST"
    assert answer["seen-path"] == b"/echo"
    assert answer["seen-verified"] == b"true"
    assert answer["seen-signers"] == wallet.address.encode()
    keys = answer["seen-keys"].split(b",")
    assert {b"key1", b"n", b"path", b"accept-bundle", b"ao-peer-port"} <= set(keys)
    request = peer.requests[-1]["message"]
    assert request["key1"] in (b"value1", "value1") and request["n"] == 7


def test_unsigned_request_is_not_signed_by_default(peer: Peer, wallet: Wallet) -> None:
    result = client.get(peer.url, "/echo", {"priv_wallet": wallet})
    assert result.status == "ok"
    assert result.value["seen-signers"] == b""
    assert result.value["seen-method"] == b"GET"


def test_signing_without_a_wallet_raises(peer: Peer) -> None:
    with pytest.raises(Unauthorized):
        client.get(peer.url, "/echo", {}, sign=True)


def test_already_signed_message_is_sent_as_is(peer: Peer, wallet: Wallet) -> None:
    from aonode.codecs import commit

    other = Wallet.generate()
    signed = commit({"path": "/echo", "x": "1"}, other)
    result = client.post(peer.url, signed, {"priv_wallet": wallet}, sign=True)
    assert result.value["seen-signers"] == other.address.encode()
    assert result.value["seen-verified"] == b"true"


@pytest.mark.parametrize(("code", "status"), [
    (200, "ok"), (201, "created"), (202, "ok"), (400, "error"), (404, "error"), (500, "failure"), (503, "failure"),
])
def test_status_mapping(peer: Peer, code: int, status: str) -> None:
    result = client.get(peer.url, f"/status/{code}")
    assert result.status == status
    assert result.value["status"] == code
    assert result.value["body"] == f"status {code}".encode()


def test_status_to_result_table() -> None:
    assert [client.status_to_result(s) for s in (200, 201, 204, 302, 400, 404, 499, 500, 504)] == [
        "ok", "created", "ok", "ok", "error", "error", "error", "failure", "failure"]


def test_ao_result_header_returns_only_that_key(peer: Peer) -> None:
    assert client.get(peer.url, "/result") == Result("ok", b"hello")
    full = client.get(peer.url, "/result", {"http_only_result": False})
    assert full.status == "ok" and full.value["body"] == b"hello" and full.value["ao-result"] == b"body"


def test_other_content_is_kept_as_body(peer: Peer) -> None:
    result = client.get(peer.url, "/html")
    assert result.status == "ok"
    assert result.value["body"] == b"<html><body>hi</body></html>"
    assert result.value["content-type"].startswith(b"text/html")
    assert "content-length" not in result.value


def test_set_cookie_lines_go_to_priv(peer: Peer) -> None:
    result = client.get(peer.url, "/cookie")
    assert "set-cookie" not in result.value
    assert result.value["priv"]["set-cookie"] == [b"a=1; Path=/", b"b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]


def test_response_with_broken_signature_is_an_error(peer: Peer) -> None:
    result = client.get(peer.url, "/forged")
    assert result.status == "error"
    assert result.value["status"] == client.BAD_GATEWAY
    assert b"does not verify" in result.value["body"]


def test_stalled_peer_times_out_quickly(peer: Peer) -> None:
    started = time.monotonic()
    result = client.get(peer.url, "/slow", {"http_request_send_timeout": 200})
    assert time.monotonic() - started < 2
    assert result.status == "error" and result.value["status"] == client.GATEWAY_TIMEOUT
    assert b"timed out" in result.value["body"]


def test_dripping_peer_hits_the_whole_response_deadline(peer: Peer) -> None:
    started = time.monotonic()
    result = client.get(peer.url, "/drip", {"http_request_send_timeout": 300})
    assert time.monotonic() - started < 2
    assert result.value["status"] == client.GATEWAY_TIMEOUT


def test_connection_refused_is_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = client.get(f"http://127.0.0.1:{port}", "/anything")
    assert time.monotonic() - started < 2
    assert result.status == "error" and result.value["status"] == client.BAD_GATEWAY
    assert f"127.0.0.1:{port}".encode() in result.value["body"]


def test_timeouts_come_from_the_options() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.extensions["timeout"])
        seen["headers"] = dict(request.headers)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as mock:
        result = client.get("http://peer.test", "/x", {"http_connect_timeout": 100, "http_request_send_timeout": 300},
                            client=mock)
    assert result.status == "ok" and result.value["status"] == 204
    assert seen["connect"] == 0.1 and seen["read"] == 0.3 and seen["write"] == 0.3


def test_no_client_default_headers_reach_the_peer(peer: Peer) -> None:
    client.get(peer.url, "/status/200")
    sent = peer.requests[-1]["headers"]
    assert not {"user-agent", "accept-encoding", "accept", "connection"} & set(sent)


def test_request_routed_needs_an_absolute_url(peer: Peer) -> None:
    result = client.request_routed({"path": f"{peer.url}/status/201", "method": "GET"}, {})
    assert result.status == "created"
    relative = client.request_routed({"path": "/status/200"}, {})
    assert relative.status == "error" and b"no viable route" in relative.value["body"]


def test_split_url() -> None:
    assert client.split_url("http://a:1/x/y?z=1") == ("http://a:1", "/x/y?z=1")
    assert client.split_url("https://a") == ("https://a", "/")
    assert client.split_url("a:443/p") == ("https://a:443", "/p")
    assert client.split_url("a:8734") == ("http://a:8734", "/")


def test_peer_with_bare_host_and_port(peer: Peer) -> None:
    result = client.get(peer.url.removeprefix("http://"), "/status/200")
    assert result.status == "ok"
