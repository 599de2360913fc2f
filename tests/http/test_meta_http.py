"""meta@1.0 and the request pipeline, in process through httpx's ASGI transport: the dev_meta
tests of resolution-paths-cache-node.md §14.7 that need node options a config file cannot
carry (Python hooks) or a fresh node each, plus the reply codecs and error statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from aonode_process import InProcess, post, result, signed, to_http, verified

from aonode.codecs import ans104, decode, message_id, parse_item, signers
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.errors import Forbidden
from aonode.http import NodeApp, create_app
from aonode.message import Link
from aonode.store import MemoryStore


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def node_wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def make(node_wallet: Wallet) -> Iterator[Any]:
    apps: list[NodeApp] = []

    def build(**opts: Any) -> InProcess:
        app = create_app({"store": MemoryStore(), "priv_wallet": node_wallet, **opts})
        apps.append(app)
        return InProcess(app)

    yield build
    for app in apps:
        app.close()


def info(node: InProcess) -> dict[str, Any]:
    response = node.get("/~meta@1.0/info", headers={"accept-bundle": "true"})
    assert response.status_code == 200
    return verified(response)


def set_info(node: InProcess, wallet: Wallet | None, **keys: Any) -> Any:
    msg = {"path": "/~meta@1.0/info", **keys}
    return post(node, signed(msg, wallet) if wallet else msg)


# --- §14.7 dev_meta --------------------------------------------------------------------

def test_priv_keys_are_not_shown(make: Any) -> None:
    node = make(test_config_item="test", priv_key="BAD", private_thing="x")
    shown = info(node)
    assert shown["test_config_item"] == b"test"
    assert not [k for k in shown if k.startswith("priv")]


def test_uninitialized_node_serves_only_info(make: Any) -> None:
    node = make(initialized=False)
    response = node.get("/key1?1.key1=value1")
    assert (response.status_code, result(response)) == (400, b"Node must be initialized before use.")
    assert node.get("/~meta@1.0/info").status_code == 200


def test_permanent_node_message(make: Any, owner: Wallet) -> None:
    node = make(operator="unclaimed", initialized=False, test_config_item="test")
    response = set_info(node, owner, test_config_item="test2", initialized="permanent")
    assert response.status_code == 200
    assert info(node)["test_config_item"] == b"test2"
    response = set_info(node, owner, test_config_item="bad_value")
    assert response.status_code == 400
    assert b"permanent" in result(response)
    shown = info(node)
    assert shown["test_config_item"] == b"test2"
    assert len(shown["node_history"]) == 1


def test_claim_node(make: Any, owner: Wallet) -> None:
    node = make(operator="unclaimed", test_config_item="test")
    assert set_info(node, owner, operator=owner.address).status_code == 200
    assert info(node)["operator"] == owner.address.encode()
    assert set_info(node, owner, test_config_item="test2").status_code == 200
    assert set_info(node, Wallet.generate(), test_config_item="stolen").status_code == 400
    shown = info(node)
    assert shown["test_config_item"] == b"test2"
    assert len(shown["node_history"]) == 2
    # Each history entry keeps the signature of whoever made the change.
    assert all(signers(entry) == [owner.address] for entry in shown["node_history"])


def test_unclaimed_node_takes_unsigned_changes(make: Any) -> None:
    node = make(operator="unclaimed")
    assert set_info(node, None, port="9999", cache_control="always,no-store").status_code == 200
    shown = info(node)
    assert shown["port"] == 9999  # typed like a config file's values
    assert shown["cache_control"] == [b"always", b"no-store"]
    assert "host" in shown and shown["host"] == b"localhost"  # the request's Host header is not an option


def test_operator_defaults_to_the_node_wallet(make: Any, node_wallet: Wallet, owner: Wallet) -> None:
    node = make()
    assert set_info(node, owner, test_config_item="x").status_code == 400
    assert set_info(node, node_wallet, test_config_item="x").status_code == 200


def test_forged_operator_signature(make: Any, owner: Wallet) -> None:
    forged = signed({"path": "/~meta@1.0/info", "test_config_item": "fine"}, owner)
    forged["test_config_item"] = "evil"
    # Refused as a broken signature whatever force_signed_requests says.
    relaxed = make(operator=owner.address, test_config_item="test")
    strict = make(operator=owner.address, test_config_item="test", force_signed_requests=True)
    for node in (relaxed, strict):
        response = post(node, forged)
        assert response.status_code == 400
        assert b"does not verify" in result(response)
    for node in (relaxed, strict):
        assert info(node)["test_config_item"] == b"test"
        assert info(node)["node_history"] == []


def test_request_and_response_hooks(make: Any) -> None:
    seen: list[str] = []

    def on_request(base: Any, request: Mapping[str, Any]) -> Result:
        seen.append("request")
        return Result("ok", {"body": request["body"]})

    def on_response(base: Any, request: Mapping[str, Any]) -> Result:
        seen.append("response")
        return Result("ok", {"body": request["body"]})

    node = make(on={
        "request": {"device": {"request": on_request}},
        "response": {"device": {"response": on_response}},
    }, http_extra_opts={"cache-control": ["no-store", "no-cache"]})
    assert node.get("/~meta@1.0/info").status_code == 200
    assert seen == ["request", "response"]


def test_halt_request(make: Any) -> None:
    node = make(on={"request": {"device": {"request": lambda base, req: Result("error", b"Bad")}}})
    response = node.get("/~meta@1.0/info")
    assert (response.status_code, result(response)) == (400, b"Bad")


def test_modify_request(make: Any) -> None:
    def add(base: Any, request: Mapping[str, Any]) -> Result:
        first, *rest = request["body"]
        return Result("ok", {"body": [{**first, "added": b"value"}, *rest]})

    node = make(on={"request": {"device": {"request": add}}})
    response = node.get("/added")
    assert (response.status_code, result(response)) == (200, b"value")


def test_start_hook_sets_node_options(make: Any) -> None:
    def start(base: Any, request: Mapping[str, Any]) -> Result:
        return Result("ok", {"body": {**request["body"], "test_config_item": "from-start"}})

    node = make(on={"start": {"device": {"start": start}}})
    assert info(node)["test_config_item"] == b"from-start"


# --- reply codecs -------------------------------------------------------------------------

def test_json_reply(make: Any, node_wallet: Wallet) -> None:
    node = make()
    response = node.get("/~message@1.0&a+integer=1&b=two/b", headers={"accept": "application/json"})
    assert response.headers["codec-device"] == "json@1.0"
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.content)
    assert body["body"] == "two"
    signed_reply = decode(response.content, "json@1.0")
    assert isinstance(signed_reply, dict) and signers(signed_reply) == [node_wallet.address]


def test_ans104_reply_and_request(make: Any, node_wallet: Wallet, owner: Wallet) -> None:
    node = make()
    item = ans104.to_wire(ans104.commit({"path": b"/key1", "key1": b"Value1"}, owner))
    response = node.post("/key1", content=item, headers={"content-type": "application/ans104",
                                                          "require-codec": "ans104@1.0"})
    assert response.status_code == 200
    assert response.headers["codec-device"] == "ans104@1.0"
    reply = parse_item(response.content)
    reply.verify()
    msg = decode(response.content, "ans104@1.0")
    assert isinstance(msg, dict)
    assert msg["body"] == b"Value1"
    assert signers(msg) == [node_wallet.address]
    # The request was signed and verified, so it is in the cache under its ID.
    stored = node.get(f"/{message_id(decode(item, 'ans104@1.0'), committers='all')}/key1")
    assert result(stored) == b"Value1"


def test_forged_ans104_request_is_refused(make: Any, owner: Wallet) -> None:
    item = bytearray(ans104.to_wire(ans104.commit({"path": b"/key1", "key1": b"Value1"}, owner)))
    item[-1] ^= 1  # the last byte of the data... or of a tag: either way, not what was signed
    response = make().post("/key1", content=bytes(item), headers={"codec-device": "ans104@1.0"})
    assert response.status_code == 400


def test_json_request(make: Any) -> None:
    response = make().post("/key1", content=b'{"path": "/key1", "key1": "Value1"}',
                           headers={"content-type": "application/json"})
    assert (response.status_code, result(response)) == (200, b"Value1")


def test_flat_reply(make: Any) -> None:
    response = make().get("/~message@1.0&a=1/a", headers={"require-codec": "flat@1.0"})
    assert response.headers["codec-device"] == "flat@1.0"
    assert b"body: 1" in response.content


def test_bundle_and_link_replies(make: Any) -> None:
    node = make()
    headers, body = to_http({"path": "/inner", "inner": {"x": "1", "y": {"z": "2"}}})
    linked = node.post("/inner", headers=headers, content=body)
    bundled = node.post("/inner", headers={**headers, "accept-bundle": "true"}, content=body)
    assert isinstance(verified(linked)["y"], Link)
    assert verified(bundled)["y"] == {"z": b"2"}


# --- statuses and faults --------------------------------------------------------------------

class Faulty:
    name = "faulty@1.0"

    def boom(self) -> None:
        raise RuntimeError("device bug")

    def forbidden(self) -> None:
        raise Forbidden("not for you")

    def created(self) -> Result:
        return Result("created", {"made": b"yes"})

    def teapot(self) -> dict[str, Any]:
        return {"status": 418, "body": b"short and stout"}

    def unavailable(self) -> Result:
        return Result("unavailable", b"later")


@pytest.mark.parametrize(("key", "status", "text"), [
    ("boom", 500, "Internal error: RuntimeError"),
    ("forbidden", 403, "not for you"),
    ("created", 201, ""),
    ("teapot", 418, "short and stout"),
    ("unavailable", 503, "later"),
])
def test_statuses(make: Any, key: str, status: int, text: str) -> None:
    node = make(preloaded_devices={"faulty@1.0": Faulty})
    response = node.get(f"/~faulty@1.0/{key}")
    assert response.status_code == status
    assert text in response.text
    verified(response)
    assert node.get("/~meta@1.0/info").status_code == 200


def test_limits_in_process(make: Any) -> None:
    node = make(http_max_header_size=2048, http_max_body=100)
    response = node.get("/~meta@1.0/info", headers={"x-big": "a" * 3000})
    assert response.status_code == 431
    assert "larger than 2048 bytes" in response.text
    response = node.post("/x", content=b"a" * 101)
    assert response.status_code == 413
    assert node.get("/~meta@1.0/info").status_code == 200


def test_unsigned_replies_when_not_forced(make: Any) -> None:
    response = make(force_signed=False).get("/~meta@1.0/build/node")
    assert response.status_code == 200
    assert "signature" not in response.headers
