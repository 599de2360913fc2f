"""Owner-only actions in another user's process (issue 16 item 1): an attacker cannot run `Eval`
in the victim's legacy process by naming the victim as committer, in any encoding, nor by
adding keys beside the victim's signature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, running, to_http

from aonode.client import Client, build_item, message_request, sign_item
from aonode.codecs import decode, encode
from aonode.crypto import Wallet

MODULE = (Path(__file__).parent.parent / "clients" / "aos_legacy.lua").read_bytes()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("owner-only")) as started:
        yield started


@pytest.fixture(scope="module")
def pid(node: Node, victim: Wallet) -> str:
    with Client(node.url, victim) as ao:
        process = ao.spawn(ao.upload_module(MODULE))
        ao.message(process, tags={"Action": "Eval"}, data="Secret = 'mine'")
        return process


def secret(node: Node, victim: Wallet, pid: str) -> str:
    with Client(node.url, victim) as ao:
        output = ao.dryrun(pid, tags={"Action": "Eval"}, data="return Secret")["Output"]
    return json.dumps(output)


def forged_eval(pid: str, attacker: Wallet, victim: Wallet) -> dict[str, object]:
    """The attacker's signed Eval, as a message whose commitment names the victim."""
    request = message_request(pid, tags={"Action": "Eval"}, data="Secret = 'stolen'")
    item = sign_item(build_item(request), attacker).serialize()
    msg = decode(item, "ans104@1.0")
    assert isinstance(msg, dict)
    [commitment] = msg["commitments"].values()
    commitment["committer"] = victim.address.encode()
    return msg


def test_the_owner_can_eval(node: Node, victim: Wallet, pid: str) -> None:
    assert "mine" in secret(node, victim, pid)


def test_a_commitment_naming_the_owner_in_json(node: Node, victim: Wallet, attacker: Wallet, pid: str) -> None:
    body = encode(forged_eval(pid, attacker, victim), "json@1.0")
    response = httpx.post(f"{node.url}/{pid}~process@1.0/push", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert b"does not verify" in response.content
    assert "mine" in secret(node, victim, pid)


def test_a_commitment_naming_the_owner_in_httpsig(node: Node, victim: Wallet, attacker: Wallet, pid: str) -> None:
    headers, body = to_http(forged_eval(pid, attacker, victim))
    response = httpx.post(f"{node.url}/{pid}~process@1.0/push", content=body, headers=headers, timeout=30)
    # In httpsig the committer is derived from the keyid, so this is the attacker's own Eval.
    assert response.status_code == 200, response.text
    assert "mine" in secret(node, victim, pid)


def test_the_attackers_own_eval_is_not_the_owners(node: Node, victim: Wallet, attacker: Wallet, pid: str) -> None:
    with Client(node.url, attacker) as ao:
        ao.message(pid, tags={"Action": "Eval"}, data="Secret = 'stolen'")
    assert "mine" in secret(node, victim, pid)


def test_keys_beside_the_owners_signature_are_not_the_owners(
        node: Node, victim: Wallet, pid: str) -> None:
    # The victim's own signed Eval, with `Data` replaced beside the signature (a JSON body).
    request = message_request(pid, tags={"Action": "Eval"}, data="return 1")
    msg = decode(sign_item(build_item(request), victim).serialize(), "ans104@1.0")
    assert isinstance(msg, dict)
    document = json.loads(encode(msg, "json@1.0"))
    document["data"] = "Secret = 'stolen'"
    response = httpx.post(f"{node.url}/{pid}~process@1.0/push", content=json.dumps(document).encode(),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert "mine" in secret(node, victim, pid)
