"""Two real aonode nodes on loopback form a green zone (issue 26, done-means 2).

A hosts the zone; B runs "in an SEV-SNP guest" whose firmware is the test chip (its
`snp_report_source` signs with the test hierarchy's VCEK; A only knows the test ARK as a
pinned root and the loopback KDS). B joins A, receives the zone key, becomes A's identity and
then signs as A. A node whose attestation fails (C: its guest allows debugging), and a client
that presents a report made for another nonce, are refused, and nothing they receive carries
the zone key or a private key.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, free_port, post, response_message, signed, start, stop, verified
from conftest import FIXTURES, verifier_opts
from kds_server import Kds
from snp_hierarchy import LOCAL_HASHES, OVMF_LAYOUT, Chip, Hierarchy

from aonode.codecs import message_id
from aonode.crypto import Wallet, b64url_encode
from aonode.tee import attest, etf, zone
from aonode.tee.measurement import launch_digest, layout_from_option

HERE = Path(__file__).parent


@dataclass
class Zone:
    a: Node
    b: Node
    c: Node
    wallets: dict[str, Wallet]
    root: Path
    configs: dict[str, dict[str, Any]]


WALLETS = {"a": "key-1.json", "b": "key-2.json", "c": "admissible-report-wallet.json"}


def _start(folder: Path, config: dict[str, Any], wallet: str) -> Node:
    """Start a node with a fixture wallet, so that every address is known before any starts."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / wallet, folder / "data" / "wallet.json")
    (folder / "node.json").write_text(json.dumps(config))
    return start(folder, extra=["--config", str(folder / "node.json")], port=config["port"], pythonpath=[HERE])


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, hierarchy: Hierarchy, chip: Chip, kds: Kds) -> Iterator[Zone]:
    root = tmp_path_factory.mktemp("zone")
    wallets = {name: Wallet.load(FIXTURES / file) for name, file in WALLETS.items()}
    base = verifier_opts(hierarchy, kds, snp_default_product="Milan")
    chip.save(root / "chip-b")
    chip.save(root / "chip-c", policy=0x30000 | 1 << 19)  # C's guest allows debugging
    ports = {name: free_port() for name in WALLETS}
    guest = {**base, "snp_report_source": "snp_hierarchy:report", "green_zone_peer_location":
             f"http://127.0.0.1:{ports['a']}", "green_zone_peer_id": wallets["a"].address}
    configs = {
        "a": {**base, "port": ports["a"], "green_zone_required_config": {"snp_default_product": "self"}},
        "b": {**guest, "port": ports["b"], "snp_test_firmware": str(root / "chip-b"),
              "on": {"start": {"device": "greenzone@1.0", "path": "start"}}},
        "c": {**guest, "port": ports["c"], "snp_test_firmware": str(root / "chip-c")},
    }
    # The three start at once: a node's start-up is most of this module's time.
    with ThreadPoolExecutor(3) as pool:
        futures = {n: pool.submit(_start, root / n, configs[n], WALLETS[n]) for n in WALLETS}
    started = {n: f.result() for n, f in futures.items() if f.exception() is None}
    try:
        failed = [f.exception() for f in futures.values() if f.exception() is not None]
        if failed:
            raise failed[0]  # type: ignore[misc]
        zone = Zone(started["a"], started["b"], started["c"], wallets, root, configs)
        _ZONES[root] = zone
        yield zone
    finally:
        for node in started.values():
            stop(node)
        for name in ("a", "b"):  # restarted by test_the_zone_survives_a_restart
            node = getattr(zone, name, None) if (zone := _ZONES.get(root)) else None
            if node is not None and node.process.poll() is None:
                stop(node)


_ZONES: dict[Path, Zone] = {}


def _call(node: Node, path: str, wallet: Wallet | None = None, **keys: Any) -> httpx.Response:
    message = {"path": path, "method": "POST", **keys}
    with httpx.Client(base_url=node.url, timeout=60) as client:
        return post(client, signed(message, wallet) if wallet else message)


def test_snp_endpoints_over_http(nodes: Zone, hierarchy: Hierarchy, chip: Chip) -> None:
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        generated = client.get("/~snp@1.0/generate")
    assert generated.status_code == 503 and "not an SEV-SNP guest" in generated.text
    wallet = nodes.wallets["c"]  # any signer; the attestation names it
    node_message = {"port": 1}
    nonce = attest.nonce_for(wallet.address, message_id(node_message))
    digest = launch_digest(LOCAL_HASHES, layout_from_option(OVMF_LAYOUT))
    good = {"address": wallet.address, "node-message": node_message, "local-hashes": dict(LOCAL_HASHES),
            "nonce": b64url_encode(nonce), "report": chip.report_json(nonce, digest)}
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        ok = post(client, {"path": "/~snp@1.0/verify", "body": signed(good, wallet)})
        assert ok.status_code == 200, ok.text
        assert response_message(ok).get("body") == b"true"
        bad = post(client, {"path": "/~snp@1.0/verify", "body": signed({**good, "local-hashes": {
            **LOCAL_HASHES, "kernel": "00" * 32}}, wallet)})
    assert bad.status_code == 403 and "untrusted_software" in bad.text


def test_a_report_generated_by_b_verifies_on_a(nodes: Zone) -> None:
    """The reference's (commented-out) generate test: B generates its attestation over HTTP
    (its firmware being the test chip), signs it in its reply, and A verifies that reply."""
    with httpx.Client(base_url=nodes.b.url, timeout=60) as client:
        generated = client.get("/~snp@1.0/generate", headers={"accept-bundle": "true"})
    assert generated.status_code == 200, generated.text
    report = verified(generated)
    assert report["address"] == nodes.wallets["b"].address.encode() and _signers(report) == [nodes.wallets["b"].address]
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        answer = post(client, {"path": "/~snp@1.0/verify", "body": report})
    assert answer.status_code == 200, answer.text
    assert response_message(answer).get("body") == b"true"


def test_b_joins_a_and_becomes_its_identity(nodes: Zone) -> None:
    a_wallet, b_wallet = nodes.wallets["a"], nodes.wallets["b"]
    assert _call(nodes.a, "/~greenzone@1.0/init").status_code == 403  # only the operator
    assert _call(nodes.a, "/~greenzone@1.0/init", b_wallet).status_code == 403
    init = _call(nodes.a, "/~greenzone@1.0/init", a_wallet)
    assert init.status_code == 200, init.text
    assert _call(nodes.a, "/~greenzone@1.0/init", a_wallet).status_code == 409
    assert _call(nodes.b, "/~greenzone@1.0/join").status_code == 403  # B's operator only

    joined = _call(nodes.b, "/~greenzone@1.0/join", b_wallet)
    assert joined.status_code == 200, joined.text
    assert b"Node joined green zone successfully." in joined.content

    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        trusted = post(client, signed({"path": "/~greenzone@1.0/is_trusted"}, b_wallet))
    assert response_message(trusted).get("body") == b"true"

    before = verified(httpx.get(nodes.b.url + "/~meta@1.0/info/port", timeout=60))
    assert _signers(before) == [b_wallet.address]
    became = _call(nodes.b, "/~greenzone@1.0/become", b_wallet)
    assert became.status_code == 200, became.text
    after = verified(httpx.get(nodes.b.url + "/~meta@1.0/info/port", timeout=60))
    assert _signers(after) == [a_wallet.address]  # B now speaks as A, and that verifies
    # B's operator is still B's own key: A's key on B does not make its holder B's operator.
    assert _call(nodes.b, "/~greenzone@1.0/join", b_wallet).status_code == 409  # already in the zone
    assert _call(nodes.b, "/~greenzone@1.0/join", a_wallet).status_code == 403


def _signers(message: dict[str, Any]) -> list[str]:
    from aonode.codecs import signers

    return signers(message)


def _texts(responses: list[httpx.Response]) -> str:
    return "\n".join(f"{r.status_code} {dict(r.headers)} {r.content.decode('latin-1')}" for r in responses)


def test_refused_nodes_learn_nothing(nodes: Zone, chip: Chip, kds: Kds) -> None:
    a_wallet = nodes.wallets["a"]
    if _call(nodes.a, "/~greenzone@1.0/init", a_wallet).status_code not in (200, 409):
        pytest.fail("A cannot start its zone")
    # C's guest allows debugging: A refuses its attestation, so C never holds the zone key.
    refused = _call(nodes.c, "/~greenzone@1.0/join", nodes.wallets["c"])
    assert refused.status_code == 403 and "debug_enabled" in refused.text, refused.text
    for path in ("/~greenzone@1.0/become", "/~greenzone@1.0/key"):
        answer = _call(nodes.c, path, nodes.wallets["c"])
        assert answer.status_code == 400 and "Node not part of a green zone." in answer.text

    # A client with a real report from the test chip, made for another node's nonce.
    intruder = nodes.wallets["c"]
    node_message = {"port": 2, "snp_default_product": "Milan"}  # with the zone's required config
    digest = launch_digest(LOCAL_HASHES, layout_from_option(OVMF_LAYOUT))
    other = attest.nonce_for(nodes.wallets["b"].address, message_id(node_message))
    own = attest.nonce_for(intruder.address, message_id(node_message))
    public_key = base64.b64encode(zone.public_term(intruder)).decode()
    attempts = {
        "report for another nonce": {"nonce": b64url_encode(own), "report": chip.report_json(other, digest)},
        "another node's nonce and report": {"nonce": b64url_encode(other), "report": chip.report_json(other, digest)},
    }
    received: list[httpx.Response] = []
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        for name, parts in attempts.items():
            message = {"address": intruder.address, "node-message": node_message, "local-hashes": dict(LOCAL_HASHES),
                       "public_key": public_key, **parts}
            answer = post(client, signed(message, intruder), path="/~greenzone@1.0/join")
            received.append(answer)
            assert answer.status_code in (400, 403), (name, answer.text)
        assert "report_data_mismatch" in received[0].text and "nonce_mismatch" in received[1].text
        sealed = client.get("/~greenzone@1.0/key")  # open to all, as in the reference: sealed
        received.append(sealed)
    everything = _texts(received)
    assert "zone-key" not in everything.lower()
    _assert_no_private_key(everything, a_wallet)
    assert sealed.status_code == 200 and response_message(sealed).get("encrypted_key")


def _assert_no_private_key(text: str, wallet: Wallet) -> None:
    numbers = wallet.key.private_numbers()
    d = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
    for encoded in (base64.b64encode(d).decode()[:40], b64url_encode(d)[:40], d.hex()[:40],
                    base64.b64encode(etf.encode(d)).decode()[:40]):
        assert encoded not in text


def test_an_admitted_joiner_gets_the_key_wrapped_and_only_public_keys(nodes: Zone, chip: Chip, kds: Kds) -> None:
    a_wallet = nodes.wallets["a"]
    if _call(nodes.a, "/~greenzone@1.0/init", a_wallet).status_code not in (200, 409):
        pytest.fail("A cannot start its zone")
    joiner = nodes.wallets["c"]  # C's wallet, with a clean report from the test chip
    node_message = {"port": 3, "snp_default_product": "Milan"}  # the zone requires A's
    nonce = attest.nonce_for(joiner.address, message_id(node_message))
    digest = launch_digest(LOCAL_HASHES, layout_from_option(OVMF_LAYOUT))
    message = {"address": joiner.address, "node-message": node_message, "local-hashes": dict(LOCAL_HASHES),
               "nonce": b64url_encode(nonce), "report": chip.report_json(nonce, digest),
               "public_key": base64.b64encode(zone.public_term(joiner)).decode()}
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        missing = post(client, signed({**message, "node-message": {"port": 3}}, joiner), path="/~greenzone@1.0/join")
        assert missing.status_code == 403 and "invalid_join_request" in missing.text
        answer = post(client, signed(message, joiner), path="/~greenzone@1.0/join")
    assert answer.status_code == 200, answer.text
    reply = verified(answer)
    assert _signers(reply) == [a_wallet.address]
    assert len(zone.unwrap_zone_key(reply["zone-key"], joiner)) == 32
    assert etf.decode(base64.b64decode(reply["public_key"]))[1] == a_wallet.modulus  # type: ignore[index]
    _assert_no_private_key(_texts([answer]), a_wallet)


def test_the_zone_survives_a_restart(nodes: Zone) -> None:
    """What a node was told succeeded is durable: after both restart, B still signs as A from
    its first reply (its start hook reads the zone state back) and A still holds the zone key."""
    before = verified(httpx.get(nodes.b.url + "/~meta@1.0/info/port", timeout=60))
    if _signers(before) != [nodes.wallets["a"].address]:
        pytest.fail("B has not become A")
    for name in ("a", "b"):
        stop(getattr(nodes, name))
    with ThreadPoolExecutor(2) as pool:
        futures = {n: pool.submit(_start, nodes.root / n, nodes.configs[n], WALLETS[n]) for n in ("a", "b")}
    nodes.a, nodes.b = futures["a"].result(), futures["b"].result()
    first = verified(httpx.get(nodes.b.url + "/~meta@1.0/info/port", timeout=60))
    assert _signers(first) == [nodes.wallets["a"].address]
    assert _call(nodes.a, "/~greenzone@1.0/init", nodes.wallets["a"]).status_code == 409  # still initialised
    assert httpx.get(nodes.a.url + "/~greenzone@1.0/key", timeout=60).status_code == 200  # still has its key
    assert _call(nodes.b, "/~greenzone@1.0/join", nodes.wallets["b"]).status_code == 409  # B too
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:  # and A still knows B
        trusted = post(client, signed({"path": "/~greenzone@1.0/is_trusted"}, nodes.wallets["b"]))
    assert response_message(trusted).get("body") == b"true"
    assert (nodes.root / "a" / "data" / "greenzone.json").stat().st_mode & 0o077 == 0


def test_hostile_input_gets_a_4xx_never_a_500(nodes: Zone, chip: Chip) -> None:
    intruder = nodes.wallets["c"]
    node_message = {"port": 4, "snp_default_product": "Milan"}
    nonce = attest.nonce_for(intruder.address, message_id(node_message))
    digest = launch_digest(LOCAL_HASHES, layout_from_option(OVMF_LAYOUT))
    good = {"address": intruder.address, "node-message": node_message, "local-hashes": dict(LOCAL_HASHES),
            "nonce": b64url_encode(nonce), "report": chip.report_json(nonce, digest),
            "public_key": base64.b64encode(zone.public_term(intruder)).decode()}
    bomb = base64.b64encode(bytes([131, 108, 255, 255, 255, 255, 97, 1])).decode()
    cases = {
        "report not JSON": {**good, "report": "{not json"},
        "report of the wrong size": {**good, "report": json.dumps({"measurement": [1, 2, 3]})},
        "nonce not base64": {**good, "nonce": "%%%"},
        "local hashes not a map": {**good, "local-hashes": "kernel"},
        "vcpus not a number": {**good, "local-hashes": {**LOCAL_HASHES, "vcpus": "many"}},
        "public key not base64": {**good, "public_key": "%%%"},
        "public key an Erlang list bomb": {**good, "public_key": bomb},
        "public key of another wallet": {**good, "public_key": base64.b64encode(
            zone.public_term(nodes.wallets["b"])).decode()},
    }
    with httpx.Client(base_url=nodes.a.url, timeout=60) as client:
        for name, message in cases.items():
            answer = post(client, signed(message, intruder), path="/~greenzone@1.0/join")
            assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
            assert "zone-key" not in answer.headers and b"zone-key" not in answer.content, name
        garbage = client.post("/~snp@1.0/verify", content=b"\x00\xff" * 100, headers={"content-type": "text/plain"})
        assert 400 <= garbage.status_code < 500, garbage.text
