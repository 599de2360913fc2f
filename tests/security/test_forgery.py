"""Hostile clients against a running node: forged committers, keys no signature covers, and
replayed changes (issue 16 items 1-3; ao-core-1.0-spec-notes.md F1, F2).

Three wallets: the node's operator, a victim whose messages are stored on the node, and an
attacker. After every attack the node's configuration and the victim's stored message are
checked unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, result, running, signed, to_http, verified

from aonode.codecs import ans104, commit, encode, message_id, signers, to_tabm
from aonode.crypto import Ed25519Key, Secp256k1Key, Wallet

INFO = "/~meta@1.0/info"


@pytest.fixture(scope="module")
def operator() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, operator: Wallet) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("forgery")
    config = f"operator: {operator.address}\nsetting: original\n"
    with running(workdir, config=config) as started:
        yield started


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def victims_message(client: httpx.Client, victim: Wallet) -> dict[str, Any]:
    """A message the victim signed and stored on the node."""
    msg = signed({"path": "/note", "note": "the victim's own words", "nonce": uuid.uuid4().hex}, victim)
    assert result(post(client, msg)) == b"the victim's own words"
    return msg


def info(client: httpx.Client) -> dict[str, Any]:
    response = client.get(INFO, headers={"accept-bundle": "true"})
    assert response.status_code == 200
    return verified(response)


@pytest.fixture(autouse=True)
def nothing_changes(client: httpx.Client, victims_message: dict[str, Any], victim: Wallet) -> Iterator[None]:
    """Every attack leaves the configuration and the victim's stored message as they were."""
    before = info(client)
    yield
    after = info(client)
    assert after["setting"] == before["setting"]
    assert after["operator"] == before["operator"]
    assert "evil" not in after and "evil_item" not in after
    vid = message_id(victims_message, committers="all")
    response = client.get(f"/{vid}", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    stored = verified(response)
    assert stored["note"] == b"the victim's own words"
    assert signers(stored) == [victim.address]


def post_json(client: httpx.Client, msg: dict[str, Any], path: str = INFO) -> httpx.Response:
    body = encode(msg, "json@1.0")
    return client.post(path, content=body, headers={"content-type": "application/json", "accept-bundle": "true"})


def _only_commitment(msg: dict[str, Any], who: Wallet) -> tuple[str, dict[str, Any]]:
    for cid, c in msg["commitments"].items():
        if c.get("committer") == who.address.encode():
            return cid, c
    raise AssertionError("no commitment by that wallet")


# --- 1. forged committers -------------------------------------------------------------------

def test_json_commitment_naming_the_operator_over_the_attackers_signature(
        client: httpx.Client, operator: Wallet, attacker: Wallet) -> None:
    msg = commit({"path": INFO, "setting": "evil"}, attacker)
    cid, commitment = _only_commitment(msg, attacker)
    commitment["committer"] = operator.address.encode()
    response = post_json(client, msg)
    assert response.status_code == 400
    assert b"does not verify" in response.content


def test_committer_parameter_in_signature_input_is_ignored(
        client: httpx.Client, operator: Wallet, attacker: Wallet) -> None:
    msg = commit({"path": INFO, "setting": "evil"}, attacker)
    headers, body = to_http(msg)
    # Append a committer parameter to every signature: it lies outside the signature base.
    headers["signature-input"] = ", ".join(
        part + f';committer="{operator.address}"' for part in headers["signature-input"].split(", "))
    response = client.post(INFO, headers=headers, content=body)
    assert response.status_code == 400
    assert result(response) == b"Unauthorized"


def test_hmac_commitment_naming_the_operator(client: httpx.Client, operator: Wallet) -> None:
    # `constant:ao` HMACs can be computed by anyone: they identify content, never a signer.
    msg = commit({"path": INFO, "setting": "evil"}, type="unsigned")
    [(cid, commitment)] = msg["commitments"].items()
    commitment["committer"] = operator.address.encode()
    response = post_json(client, msg)
    assert response.status_code == 400
    assert b"does not verify" in response.content
    # Through httpsig: the committer parameter is dropped, so it is an unsigned request.
    headers, body = to_http(commit({"path": INFO, "setting": "evil"}, type="unsigned"))
    headers["signature-input"] += f';committer="{operator.address}"'
    response = client.post(INFO, headers=headers, content=body)
    assert (response.status_code, result(response)) == (400, b"Unauthorized")


@pytest.mark.parametrize("key_type", ["rsa", "ed25519", "secp256k1"])
def test_ans104_commitment_naming_the_operator(client: httpx.Client, operator: Wallet, key_type: str) -> None:
    key: Any = {"rsa": Wallet, "ed25519": Ed25519Key, "secp256k1": Secp256k1Key}[key_type].generate()
    tabm = to_tabm({"path": INFO, "setting": "evil"}, bundle=True)
    assert isinstance(tabm, dict)
    item = ans104.commit(tabm, key)
    [(cid, commitment)] = item["commitments"].items()
    commitment["committer"] = operator.address.encode()
    response = post_json(client, item)
    assert response.status_code == 400
    assert b"does not verify" in response.content


def test_ans104_item_with_the_operators_owner_and_another_signature(
        client: httpx.Client, operator: Wallet, attacker: Wallet) -> None:
    tabm = to_tabm({"path": INFO, "setting": "evil"}, bundle=True)
    assert isinstance(tabm, dict)
    raw = bytearray(ans104.to_wire(ans104.commit(tabm, attacker)))
    # Type 1 items: 2 bytes of type, 512 of signature, then the 512-byte owner.
    raw[514:1026] = operator.modulus
    response = client.post(INFO, content=bytes(raw), headers={"codec-device": "ans104@1.0"})
    assert response.status_code == 400


def test_forged_signature_in_a_nested_message_is_refused(
        client: httpx.Client, victim: Wallet, attacker: Wallet) -> None:
    # An unsigned request carrying a child "signed" by the victim: the node would store the
    # child under the victim's signed ID.
    child = commit({"note": "words the victim never said"}, attacker)
    _, commitment = _only_commitment(child, attacker)
    commitment["committer"] = victim.address.encode()
    response = post(client, {"path": "/child/note", "child": child})
    assert response.status_code == 400
    assert b"child" in result(response)
    forged_id = message_id(child, committers="all")
    assert client.get(f"/{forged_id}").status_code == 404


def test_a_tampered_copy_of_the_victims_message_is_refused(
        client: httpx.Client, victims_message: dict[str, Any]) -> None:
    tampered = {**victims_message, "note": "changed"}
    response = post(client, tampered)
    assert response.status_code == 400


# --- 2. keys a signature does not cover ------------------------------------------------------

def test_unsigned_keys_beside_an_operator_signed_json_body_are_not_applied(
        client: httpx.Client, operator: Wallet) -> None:
    msg = commit({"path": INFO, "harmless": uuid.uuid4().hex}, operator)
    document = json.loads(encode(msg, "json@1.0"))
    document["setting"] = "evil"
    document["evil_item"] = "x"
    response = client.post(INFO, content=json.dumps(document).encode(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert info(client)["harmless"] == msg["harmless"].encode()


def test_an_attackers_hmac_over_more_keys_adds_nothing(client: httpx.Client, operator: Wallet) -> None:
    base = {"path": INFO, "harmless": uuid.uuid4().hex}
    mine = commit(base, operator)
    extra = commit({**base, "setting": "evil"}, type="unsigned")
    both = {**base, "setting": "evil", "commitments": {**mine["commitments"], **extra["commitments"]}}
    response = post_json(client, both)
    # The request keeps what its signer and its default commitments cover; the attacker's HMAC
    # then covers a key the request no longer has, so it is a commitment that does not hold.
    assert response.status_code == 400
    assert b"does not verify" in response.content


def test_keys_from_the_url_are_not_the_operators(client: httpx.Client, operator: Wallet) -> None:
    # The operator signed a change; the attacker replays its headers to a URL adding keys.
    msg = signed({"path": INFO, "harmless": uuid.uuid4().hex}, operator)
    response = post(client, msg, path=INFO + "?setting=evil&evil_item=x")
    assert response.status_code == 200, response.text


def test_a_change_must_sign_its_path(client: httpx.Client, operator: Wallet) -> None:
    # A message the operator signed for another purpose, without a path, is not a change.
    msg = signed({"harmless": uuid.uuid4().hex, "setting": "evil"}, operator)
    response = post(client, msg, path=INFO)
    assert response.status_code == 400
    assert b"path" in result(response)


def test_scheduler_location_keys_outside_the_signature(client: httpx.Client, victim: Wallet) -> None:
    record = signed({"type": "scheduler-location", "url": "http://victim.example", "nonce": 7}, victim)
    document = json.loads(encode({**record, "path": "/~scheduler@1.0/location"}, "json@1.0"))
    document["url"] = "http://attacker.example"
    response = client.post("/~scheduler@1.0/location", content=json.dumps(document).encode(),
                           headers={"content-type": "application/json"})
    assert response.status_code in (200, 400), response.text
    stored = client.get(f"/~scheduler@1.0/location?address={victim.address}", headers={"accept-bundle": "true"})
    assert b"attacker.example" not in stored.content
    for key, value in stored.headers.items():
        assert "attacker.example" not in value, key


# --- 3. replays --------------------------------------------------------------------------------

def test_a_replayed_change_is_refused(client: httpx.Client, node: Node, operator: Wallet) -> None:
    first = signed({"path": INFO, "replayed": "first", "nonce": uuid.uuid4().hex}, operator)
    second = signed({"path": INFO, "replayed": "second", "nonce": uuid.uuid4().hex}, operator)
    assert post(client, first).status_code == 200
    assert post(client, second).status_code == 200
    again = post(client, first)
    assert again.status_code == 409
    assert b"applied already" in result(again)
    assert info(client)["replayed"] == b"second"


def test_a_location_record_naming_another_scheduler(client: httpx.Client, victim: Wallet, attacker: Wallet) -> None:
    # A record "signed" by the victim scheduler that sends its traffic to the attacker.
    record = commit({"type": "scheduler-location", "url": "http://attacker.example", "nonce": 99}, attacker)
    _, commitment = _only_commitment(record, attacker)
    commitment["committer"] = victim.address.encode()
    response = post_json(client, {**record, "path": "/~scheduler@1.0/location"}, path="/~scheduler@1.0/location")
    assert response.status_code == 400
    stored = client.get(f"/~scheduler@1.0/location?address={victim.address}", headers={"accept-bundle": "true"})
    assert b"attacker.example" not in stored.content
    assert all("attacker.example" not in value for value in stored.headers.values())


def test_a_change_replayed_after_a_restart_is_refused(tmp_path: Path, operator: Wallet) -> None:
    # The record of applied changes is in the store, so a restart does not make a change new.
    config = f"operator: {operator.address}\n"
    change = signed({"path": INFO, "replayed": "once", "nonce": uuid.uuid4().hex}, operator)
    with running(tmp_path / "node", config=config) as first:
        with httpx.Client(base_url=first.url, timeout=30) as client:
            assert post(client, change).status_code == 200
    with running(tmp_path / "node", config=config) as second:  # the same data directory
        with httpx.Client(base_url=second.url, timeout=30) as client:
            again = post(client, change)
            assert again.status_code == 409, again.text
            assert "replayed" not in info(client)
