"""The pure parts of issue 17 item 5: header legality, nesting limits, readable error text."""

from __future__ import annotations

import pytest

from aonode.codecs import _depth, commit, decode, encode, httpsig, json, verify
from aonode.codecs._multipart import unflatten
from aonode.crypto import Wallet
from aonode.errors import DecodeError, shown
from aonode.http._outbound import _unrepr, explain


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("a", b"plain", True), ("a", b"", True), ("a", b"in side", True), ("a", b"\xc3\xa9", True),
    ("a", b" lead", False), ("a", b"trail\t", False), ("a", b"x\x01", False), ("a", b"x\r\ny", False),
    ("transfer-encoding", b"chunked", False), ("connection", b"close", False), ("a b", b"x", False),
])
def test_header_allowed(name: str, value: bytes, ok: bool) -> None:
    assert httpsig.header_allowed(name, value) is ok


def test_keys_that_cannot_be_headers_go_to_the_body_and_come_back_signed() -> None:
    msg = {"a": b" x", "transfer-encoding": b"chunked", "content-type": b"text/plain", "body": b"hi", "ok": b"y"}
    signed = commit(msg, Wallet.generate())
    wire = encode(signed, "httpsig@1.0")
    assert all(httpsig.header_allowed(k, v) for k, v in wire.items() if k != "body")
    assert wire["ok"] == b"y"
    back = decode(wire, "httpsig@1.0")
    assert {k: back[k] for k in msg} == msg
    verify(back)


def test_ordinary_messages_keep_their_headers() -> None:
    wire = encode({"a": b"x y", "body": b"hi"}, "httpsig@1.0")
    assert wire["a"] == b"x y" and wire["body"] == b"hi"


def test_json_depth_limit() -> None:
    assert json.loads("[" * 100 + "]" * 100) is not None  # 1000 needs the server's recursion limit
    for depth in (_depth.MAX_DEPTH + 1, 100_000):
        with pytest.raises(DecodeError, match="1000 levels"):
            json.loads("[" * depth + "]" * depth)


def test_flat_depth_limit() -> None:
    unflatten({"/".join(["a"] * _depth.MAX_DEPTH): b"x"})
    with pytest.raises(DecodeError, match="1000 levels"):
        unflatten({"/".join(["a"] * (_depth.MAX_DEPTH + 1)): b"x"})


def test_shown_writes_bytes_as_text() -> None:
    assert shown(b"abc") == "abc"
    assert shown(b"a\xff\x01") == "a\\xff\\x01"
    assert _unrepr("cannot decode b'/%zz': bad") == "cannot decode '/%zz': bad"


def test_explain_puts_the_reason_in_the_body() -> None:
    assert explain({"status": 404, "reason": b"Requested slot not yet available."}, {"path": b"/p/compute"})["body"] \
        == b"Requested slot not yet available: /p/compute"
    assert explain({"status": 404, "body": b"not_found"}, {"path": b"/nothing"})["body"] == b"not_found: /nothing"
    assert explain({"status": 400}, {})["body"] == b"Bad Request"
    ok = {"status": 200, "body": b"fine"}
    assert explain(ok, {"path": b"/x"}) is ok


def test_bundles_nested_beyond_the_limit_are_refused_quickly() -> None:
    # Each level signs all it contains, so deep nesting costs depth x size: refused at 16.
    from aonode.codecs import ans104, to_tabm
    from aonode.crypto import Wallet

    wallet = Wallet.generate()
    msg: dict[str, object] = {"x": "leaf"}
    for _ in range(ans104.MAX_BUNDLE_DEPTH - 2):
        msg = {"a": msg}
    tabm = to_tabm(msg, bundle=True)
    assert isinstance(tabm, dict)
    item = ans104.to_wire(ans104.commit(tabm, wallet))  # at the limit: decodes
    assert ans104.from_wire(item)
    with pytest.raises(DecodeError, match="16 levels"):
        ans104.commit(to_tabm({"b": {"c": msg}}, bundle=True), wallet)
