"""Issue 18 item 3: nested messages signed in the spring-2025 `httpsig@1.0` form, against a
real node over HTTP.

The older form (permaweb/HyperBEAM 52ac9325, `dev_codec_httpsig*.erl`) puts a nested
message's signature in its own multipart part, as `signature`/`signature-input` headers. The
signer here writes that form from its facts (docs/compat.md, `aonode/codecs/_spring2025.py`):
components in the signer's order, lines `name: value` without quotes, no `alg` in the
`@signature-params` line, a bare base64url keyid, a label without `comm-`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aonode_process import post, response_message, signed
from oracle import FIXTURES

from aonode.codecs import _spring2025, commit, decode, encode, message_id, verify
from aonode.crypto import Wallet, b64_encode, b64url_encode, sha256
from aonode.errors import InvalidSignature

NESTED = {"zeta": b"last in byte order", "action": b"Transfer", "quantity": b"100", "memo": b"older form"}
# Not sorted: the older form signs in the signer's order.
ORDER = ["zeta", "action", "quantity", "memo"]


def older_form(wallet: Wallet, message: dict[str, bytes], order: list[str]) -> dict[str, bytes]:
    """`message` with the `signature`/`signature-input` keys a spring-2025 client gave it."""
    keyid = b64url_encode(wallet.modulus)
    inner = "(" + " ".join(f'"{k}"' for k in order) + ")"
    base = b"\n".join(k.encode() + b": " + message[k] for k in order)
    base += b'\n"@signature-params": ' + f'{inner};keyid="{keyid}"'.encode()
    signature = wallet.sign(base, "sha512")
    label = b64url_encode(sha256(signature)).lower()
    extra = f';commitment-device="httpsig@1.0";committer="{wallet.address}";type="rsa-pss-sha512"'
    return {
        **message,
        "signature": f"{label}=:{b64_encode(signature)}:".encode(),
        "signature-input": f'{label}={inner};alg="rsa-pss-sha512";keyid="{keyid}"{extra}'.encode(),
    }


@pytest.fixture(scope="module")
def wallets() -> tuple[Wallet, Wallet]:
    keys = [FIXTURES / "key-1.json", FIXTURES / "key-2.json"]
    if all(k.exists() for k in keys):
        return Wallet.load(keys[0]), Wallet.load(keys[1])
    return Wallet.generate(), Wallet.generate()


def _request(path: str, nested: dict[str, bytes]) -> dict[str, Any]:
    return {"path": path, "method": "POST", "target": "nested", "nested": nested}


def test_the_part_decodes_with_a_commitment_that_verifies(wallets: tuple[Wallet, Wallet]) -> None:
    inner, outer = wallets
    msg = signed(_request("/~message@1.0/verify", older_form(inner, NESTED, ORDER)), outer)
    wire = encode(msg, "httpsig@1.0", bundle=True)
    # The nested message is one part with its own signature headers, as the older form wrote it.
    assert b'name="nested"' in wire["body"] and b"\r\nsignature-input: " in wire["body"]
    decoded = decode(wire, "httpsig@1.0")
    assert isinstance(decoded, dict)
    commitments = decoded["nested"]["commitments"]
    assert [c["committer"] for c in commitments.values()] == [inner.address.encode()]
    assert verify(decoded["nested"]) == [inner.address]
    # The top-level signature covers the body as it came: it still holds.
    assert outer.address in verify(decoded)
    # Re-encoding gives back the received bytes (the commitments ride in the part's headers).
    assert encode(decoded, "httpsig@1.0", bundle=True)["body"] == wire["body"]
    tampered = dict(decoded["nested"], quantity=b"1000000")
    with pytest.raises(InvalidSignature):
        verify(tampered)


def test_a_node_accepts_the_older_form_and_verifies_it(client: httpx.Client,
                                                       wallets: tuple[Wallet, Wallet]) -> None:
    inner, outer = wallets
    nested = older_form(inner, NESTED, ORDER)
    answer = post(client, signed(_request("/~message@1.0/verify", nested), outer))
    assert answer.status_code == 200, answer.text
    assert response_message(answer)["body"] is True
    # The commitment covers the keys in the signer's order, and names the part's signer.
    listed = post(client, {**_request("/~message@1.0/committed", nested), "committers": "all"})
    assert listed.status_code == 200, listed.text
    keys = response_message(listed)
    assert [keys[str(i)] for i in range(1, 5)] == [k.encode() for k in ORDER]
    signer = post(client, {**_request("/~message@1.0/committed", nested), "committers": inner.address})
    assert signer.status_code == 200, signer.text
    assert response_message(signer)["1"] == b"zeta"


def test_a_top_level_signature_in_link_mode_covers_the_part_by_mains_id(
        client: httpx.Client, wallets: tuple[Wallet, Wallet]) -> None:
    """Signed in link mode, the top level covers `nested+link`: the part's ID as main computes
    it, where the part's signature headers are plain keys and it has no commitments (its
    unsigned ID). The node checks both signatures."""
    inner, outer = wallets
    nested = older_form(inner, NESTED, ORDER)
    msg = commit(_request("/~message@1.0/verify", nested), outer, bundle=False)
    wire = encode(msg, "httpsig@1.0", bundle=True)  # sent with the part inline, as main sends it
    assert b"nested+link" in wire["signature-input"] and b"\r\nsignature-input: " in wire["body"]
    decoded = decode(wire, "httpsig@1.0")
    assert isinstance(decoded, dict) and verify(decoded["nested"]) == [inner.address]
    assert message_id(decoded["nested"], committers="none") == message_id(nested, committers="all")
    assert verify(decoded) == [outer.address]
    answer = post(client, msg)
    assert answer.status_code == 200, answer.text
    assert response_message(answer)["body"] is True
    # A tampered part breaks both signatures.
    forged = post(client, commit(_request("/~message@1.0/verify", {**nested, "quantity": b"1"}), outer, bundle=False))
    assert forged.status_code == 400, forged.text


def test_a_tampered_part_is_refused_naming_it(client: httpx.Client, wallets: tuple[Wallet, Wallet]) -> None:
    inner, _ = wallets
    nested = older_form(inner, NESTED, ORDER)
    nested["quantity"] = b"1000000"
    answer = post(client, _request("/~message@1.0/verify", nested))
    assert answer.status_code == 400, answer.text
    assert "nested" in answer.text and "does not verify" in answer.text
    # The same values in any other order than the one signed do not verify either.
    reordered = older_form(inner, NESTED, ORDER)
    reordered["signature-input"] = reordered["signature-input"].replace(b'"zeta" "action"', b'"action" "zeta"')
    answer = post(client, _request("/~message@1.0/verify", reordered))
    assert answer.status_code == 400, answer.text
    assert "nested" in answer.text


def test_a_value_with_a_line_break_cannot_pose_as_another_line(wallets: tuple[Wallet, Wallet]) -> None:
    """Unquoted lines are ambiguous once a value holds a line break: `k: a` + `j: b\\nj: c` is
    also `k: a\\nj: b` + `j: c`. No base of the older form is built for such values."""
    inner, _ = wallets
    honest = older_form(inner, {"k": b"a", "j": b"b\nj: c"}, ["k", "j"])
    commitments = _spring2025.commitments_of(honest)
    assert len(commitments) == 1
    forged = {"k": b"a\nj: b", "j": b"c", "commitments": commitments}
    with pytest.raises(InvalidSignature):
        verify(forged)
    clean = older_form(inner, {"k": b"a", "j": b"b"}, ["k", "j"])
    assert verify({"k": b"a", "j": b"b", "commitments": _spring2025.commitments_of(clean)}) == [inner.address]


def test_a_field_the_older_base_does_not_sign_is_refused(wallets: tuple[Wallet, Wallet]) -> None:
    inner, _ = wallets
    commitments = _spring2025.commitments_of(older_form(inner, {"k": b"a"}, ["k"]))
    assert verify({"k": b"a", "commitments": commitments}) == [inner.address]
    padded = {cid: {**c, "hashpath": b"claimed by nobody"} for cid, c in commitments.items()}
    with pytest.raises(InvalidSignature):
        verify({"k": b"a", "commitments": padded})


def test_the_cache_stores_such_a_part_under_mains_ids(wallets: tuple[Wallet, Wallet]) -> None:
    """The cache links the part as `message_id` does and keeps its signature headers, so a
    parent signed in link mode is found by its ID and its stored copy still verifies."""
    from aonode.store import MemoryStore, cache

    inner, outer = wallets
    nested = decode(encode({"n": older_form(inner, NESTED, ORDER)}, "httpsig@1.0", bundle=True), "httpsig@1.0")["n"]
    assert isinstance(nested, dict) and _spring2025.carries_own_commitments(nested)
    parent = {"a": b"1", "nested": nested}
    store = MemoryStore()
    assert cache.write(parent, store) == message_id(parent)
    signed = commit(parent, outer, bundle=False)
    cache.write(signed, store)
    back = cache.read(message_id(signed, committers="all"), store)
    assert isinstance(back, dict) and back["nested"]["signature"] == nested["signature"]
    assert verify(back) == [outer.address]
    # Through the parent's link the part is what main stores: its headers as keys, no
    # commitments (the link names its ID without them); they come back with its wire form.
    again = decode(encode({"n": back["nested"]}, "httpsig@1.0", bundle=True), "httpsig@1.0")["n"]
    assert isinstance(again, dict) and verify(again) == [inner.address]
    direct = cache.read(message_id(nested, committers="all"), store)
    assert isinstance(direct, dict) and verify(direct) == [inner.address]
