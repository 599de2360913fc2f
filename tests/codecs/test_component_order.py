"""Signatures whose `signature-input` lists the components in the client's order (RFC 9421
§2.5): the base lists the covered components in the order of the inner list, then
`@signature-params`. The reference rebuilds bases in Erlang map order only; aonode also
accepts the order the client signed in (messages-codecs-ids.md §3.4, docs/compat.md).

Each request here is signed by hand: the base is built from the wire headers in the chosen
order, as a client would, and signed with the wallet's RSA-PSS primitive."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from aonode_process import InProcess
from oracle import FIXTURES

from aonode.codecs import decode, encode, httpsig, signers, verify
from aonode.crypto import Wallet, b64_encode, b64url_encode, sha256
from aonode.errors import InvalidSignature
from aonode.http import NodeApp, create_app
from aonode.store import MemoryStore


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    if (FIXTURES / "key-1.json").exists():
        return Wallet.load(FIXTURES / "key-1.json")
    return Wallet.generate()


def _name(component: str) -> str:
    return "@" + component if component in httpsig.DERIVED else component


def sign_in_order(wallet: Wallet, wire: dict[str, bytes], order: Sequence[str],
                  *, bundle: bool = False) -> dict[str, bytes]:
    """`wire` (headers plus `body`, as `httpsig.to_wire` gives them) signed over the
    components in `order`. Component lines are written as the reference writes them (no `@`);
    the inner list names derived components with `@`, as RFC 9421 does."""
    lines = {k: v for k, v in wire.items() if k != "body"}
    if wire.get("body"):
        lines["content-digest"] = httpsig.content_digest(wire["body"])
    keyid = "publickey:" + b64_encode(wallet.modulus)
    inner = "(" + " ".join(f'"{_name(n)}"' for n in order) + ")"
    bundled = ';bundle="true"' if bundle else ""
    params = f'{inner};alg="rsa-pss-sha512"{bundled};keyid="{keyid}"'
    base = b"\n".join(f'"{n}": '.encode() + lines[n] for n in order)
    base += b'\n"@signature-params": ' + params.encode()
    signature = wallet.sign(base, "sha512")
    label = "comm-" + b64url_encode(sha256(signature)).lower()
    return {
        **wire,
        "signature": f"{label}=:{b64_encode(signature)}:".encode(),
        "signature-input": f"{label}={params}".encode(),
    }


def _decoded(wire: dict[str, bytes]) -> dict[str, Any]:
    msg = decode(wire, httpsig.NAME)
    assert isinstance(msg, dict)
    return msg


def _components(wire: dict[str, bytes]) -> list[str]:
    names = [k for k in wire if k != "body"]
    return names + ["content-digest"] if wire.get("body") and "content-digest" not in names else names


def test_every_ordering_of_headers_and_body_verifies(wallet: Wallet) -> None:
    wire = httpsig.to_wire({"x": b"1", "a": b"2", "ao-types": b'a="integer"', "body": b"hello"})
    components = _components(wire)
    assert sorted(components) == ["a", "ao-types", "content-digest", "x"]
    for order in itertools.permutations(components):
        msg = _decoded(sign_in_order(wallet, wire, order))
        verify(msg)
        assert signers(msg) == [wallet.address]
        assert msg["body"] == b"hello" and msg["a"] == 2


def test_the_committed_list_keeps_the_client_order(wallet: Wallet) -> None:
    wire = httpsig.to_wire({"k1": b"a", "k2": b"b", "k3": b"c"})
    msg = _decoded(sign_in_order(wallet, wire, ["k3", "k1", "k2"]))
    (commitment,) = msg["commitments"].values()
    assert httpsig.committed_list(commitment) == ["k3", "k1", "k2"]
    assert len(httpsig.signature_bases(msg, commitment)) == 2
    verify(msg)


def test_ids_link_and_derived_components_in_any_order(wallet: Wallet) -> None:
    some_id = b64url_encode(sha256(b"an id"))
    wire = httpsig.to_wire({"path": b"/~meta@1.0/info", "method": b"POST", some_id: b"v", "z": b"1"})
    assert "ao-ids" in wire
    for order in (["z", "path", "ao-ids", "method"], ["method", "z", "ao-ids", "path"]):
        msg = _decoded(sign_in_order(wallet, wire, order))
        verify(msg)
        assert signers(msg) == [wallet.address]


def test_bundle_in_client_order(wallet: Wallet) -> None:
    """A nested message as a multipart part (`bundle="true"`): `content-type` is covered but
    names no key, so it is taken right after `content-digest`, where a sorted list has it."""
    wire = encode({"a": "1", "n": {"b": "2"}}, httpsig.NAME, bundle=True)
    for order in (["content-digest", "content-type", "a"], ["a", "content-digest", "content-type"]):
        msg = _decoded(sign_in_order(wallet, wire, order, bundle=True))
        verify(msg)
        assert signers(msg) == [wallet.address]
        assert msg["n"] == {"b": b"2"}


def test_tampered_reordered_signature_fails(wallet: Wallet) -> None:
    wire = httpsig.to_wire({"k1": b"a", "k2": b"b", "body": b"data"})
    signed = sign_in_order(wallet, wire, ["k2", "content-digest", "k1"])
    for change in ({"k1": b"A"}, {"body": b"other"}):
        with pytest.raises(InvalidSignature):
            verify(_decoded({**signed, **change}))
    # The order is signed: the same signature under a different inner list does not verify.
    label, _, rest = signed["signature-input"].partition(b"=")
    swapped = rest.replace(b'("k2" "content-digest" "k1")', b'("k1" "content-digest" "k2")')
    with pytest.raises(InvalidSignature):
        verify(_decoded({**signed, "signature-input": label + b"=" + swapped}))


def test_own_commitments_keep_the_reference_order(wallet: Wallet) -> None:
    """aonode writes the reference's bases: its committed list follows Erlang map order, so a
    commit has one base, and it is `signature_base`."""
    tabm = httpsig.commit({"k3": b"c", "k1": b"a", "body": b"x"}, type="signed", wallet=wallet,
                          committed=["k3", "k1", "body"])
    for commitment in tabm["commitments"].values():
        assert isinstance(commitment, dict)
        assert httpsig.committed_list(commitment) == ["body", "k1", "k3"]
        assert httpsig.signature_bases(tabm, commitment) == [httpsig.signature_base(tabm, commitment)]


# --- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def node(wallet: Wallet) -> Iterator[InProcess]:
    app: NodeApp = create_app({"store": MemoryStore(), "priv_wallet": wallet, "test_config_item": "old"})
    yield InProcess(app)
    app.close()


def _post(node: InProcess, wire: dict[str, bytes]) -> Any:
    headers = {k: v.decode("latin-1") for k, v in wire.items() if k != "body"}
    return node.post(str(wire.get("path", b"/").decode()), headers=headers, content=wire.get("body", b""))


def test_operator_signed_in_client_order_changes_meta(node: InProcess, wallet: Wallet) -> None:
    wire = httpsig.to_wire({"path": b"/~meta@1.0/info", "test_config_item": b"new"})
    signed = sign_in_order(wallet, wire, ["test_config_item", "path"])
    assert _post(node, signed).status_code == 200
    info = node.get("/~meta@1.0/info/test_config_item")
    assert info.status_code == 200 and info.content == b"new"


def test_tampered_client_order_request_is_refused(node: InProcess, wallet: Wallet) -> None:
    wire = httpsig.to_wire({"path": b"/~meta@1.0/info", "test_config_item": b"new"})
    signed = sign_in_order(wallet, wire, ["test_config_item", "path"])
    response = _post(node, {**signed, "test_config_item": b"evil"})
    assert response.status_code == 400
    assert node.get("/~meta@1.0/info/test_config_item").content == b"old"
