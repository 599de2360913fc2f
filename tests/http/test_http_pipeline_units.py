"""The pure parts of the HTTP node: request -> singleton, codec choice, statuses (§10.2-10.4)."""

from __future__ import annotations

import json

import pytest

from aonode.codecs import commit, encode
from aonode.core.node import embed_status, status_code
from aonode.core.terms import NOT_FOUND, Result
from aonode.crypto import Wallet
from aonode.errors import BadMessage, InvalidSignature, NotFound, Unsupported
from aonode.http._inbound import mime_to_codec, to_singleton
from aonode.http._outbound import accept_to_codec, error_message
from aonode.message import Atom


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.mark.parametrize(("mime", "codec"), [
    ("application/json", "json@1.0"),
    ("application/ans104", "ans104@1.0"),
    ("application/json; charset=utf-8", "httpsig@1.0"),  # pitfall 19, kept inbound
    ("application/unknown", "httpsig@1.0"),
    ("multipart/form-data; boundary=x", "httpsig@1.0"),
    ("text/plain", "httpsig@1.0"),
    ("device/flat@1.0", "flat@1.0"),
    ("json@1.0", "json@1.0"),
])
def test_mime_to_codec(mime: str, codec: str) -> None:
    assert mime_to_codec(mime) == codec


def test_accept_to_codec() -> None:
    assert accept_to_codec({"require-codec": b"application/json", "accept": b"application/ans104"}) == "json@1.0"
    assert accept_to_codec({"accept-codec": b"ans104@1.0"}) == "ans104@1.0"
    assert accept_to_codec({"accept": b"application/json"}, {"content-type": b"text/html"}) == "httpsig@1.0"
    assert accept_to_codec({"accept": b"application/json; charset=utf-8"}) == "json@1.0"
    assert accept_to_codec({"accept": b"text/html,application/xhtml+xml,application/json;q=0.9"}) == "json@1.0"
    assert accept_to_codec({"accept": b"*/*"}) == "httpsig@1.0"
    assert accept_to_codec({}) == "httpsig@1.0"


def pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def test_unsigned_request() -> None:
    headers = [(b"Host", b"node"), (b"Content-Length", b"0"), (b"X-Thing", b"a"), (b"x-thing", b"b"),
               (b"ao-peer-port", b"8734"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]
    got = to_singleton("GET", b"/~message@1.0&k=v/k?q=1&flag", headers, b"", {}, peer="10.0.0.7")
    single = got.singleton
    assert single["path"] == b"/~message@1.0&k=v/k?q=1&flag"  # raw, still encoded, query kept
    assert single["method"] == b"GET"
    assert single["accept"] == b"*/*"
    assert single["accept-bundle"] is False
    assert single["x-thing"] == b"a, b"
    assert single["cookie"] == b"a=1; b=2"
    assert single["q"] == b"1"
    assert single["ao-peer"] == b"10.0.0.7:8734"
    assert "ao-peer-port" not in single and "content-length" not in single and "body" not in single
    assert got.signers == [] and got.signed is None


def test_signed_request_keeps_only_committed_keys(wallet: Wallet) -> None:
    wire = encode(commit({"path": "/key1", "key1": "Value1"}, wallet), "httpsig@1.0")
    headers = {k: v.decode() for k, v in wire.items()}
    headers["extra"] = "not signed"
    got = to_singleton("POST", b"/ignored", pairs(headers), b"", {})
    assert got.signers == [wallet.address]
    assert got.signed is not None and "extra" not in got.signed
    assert "extra" not in got.singleton
    assert got.singleton["path"] == b"/key1"
    assert got.singleton["method"] == b"POST"


def test_broken_signature(wallet: Wallet) -> None:
    wire = encode(commit({"path": "/key1", "key1": "Value1"}, wallet), "httpsig@1.0")
    headers = {k: v.decode() for k, v in wire.items()}
    headers["key1"] = "Forged"
    # A broken signature is refused whatever force_signed_requests says: a request that ran
    # with it would be stored, and read back, under its signed ID.
    for opts in ({}, {"force_signed_requests": True}):
        with pytest.raises(InvalidSignature, match="does not verify"):
            to_singleton("POST", b"/", pairs(headers), b"", opts)


@pytest.mark.parametrize(("headers", "body", "error"), [
    ({"signature": "x"}, b"", BadMessage),
    ({"content-type": 'multipart/form-data; boundary="b"'}, b"--b\r\nbroken", BadMessage),
    ({"codec-device": "ans104@1.0"}, b"", BadMessage),
    ({"codec-device": "structured@1.0"}, b"{}", Unsupported),
    ({"content-type": "application/json"}, b"[1, 2", BadMessage),
])
def test_bad_requests(headers: dict[str, str], body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_singleton("POST", b"/", pairs(headers), body, {})
    with pytest.raises(BadMessage):
        to_singleton("GET", b"/%zz", [], b"", {})


@pytest.mark.parametrize(("result", "code"), [
    (Result("ok", {"a": 1}), 200),
    (Result("created", {"a": 1}), 201),
    (Result("error", b"x"), 400),
    (NOT_FOUND, 404),
    (Result("failure", b"x"), 500),
    (Result("unavailable", b"x"), 503),
    (Result("unauthorized", b"x"), 401),
    (Result("forbidden", b"x"), 403),
    (Result("skip", b"x"), 200),
    (Result("ok", {"status": 418}), 418),
    (Result("ok", {"status": b"201"}), 201),
    (Result("ok", {"status": b"not_found"}), 404),
    (Result("ok", {"body": Atom("forbidden")}), 403),
])
def test_status_code(result: Result, code: int) -> None:
    assert status_code(result) == code
    assert embed_status(result)["status"] == code


def test_embed_status_keeps_a_committed_status(wallet: Wallet) -> None:
    msg = commit({"status": 202, "body": "queued"}, wallet)
    assert embed_status(Result("error", msg))["status"] == 202
    assert embed_status(Result("ok", b"text")) == {"status": 200, "body": b"text"}


def test_error_message() -> None:
    assert error_message(NotFound("gone")) == {"status": 404, "ao-result": b"body", "body": b"gone"}
    assert error_message(KeyError("secret detail"))["status"] == 500
    assert b"secret detail" not in error_message(KeyError("secret detail"))["body"]


def test_a_query_key_named_body_is_not_the_http_body() -> None:
    got = to_singleton("POST", b"/x?body=sneaky", [], b"real", {})
    assert got.singleton["body"] == b"real"


def test_too_many_keys_is_a_400_naming_the_limit() -> None:
    flat = json.dumps({f"k{i}": "v" for i in range(101)}).encode()
    nested = json.dumps({"a": [{"b": i} for i in range(60)]}).encode()
    for body in (flat, nested):
        with pytest.raises(BadMessage, match="http_max_keys"):
            to_singleton("POST", b"/k1", pairs({"content-type": "application/json"}), body, {"http_max_keys": 100})
    assert to_singleton("POST", b"/k1", pairs({"content-type": "application/json"}), flat, {"http_max_keys": 200})
