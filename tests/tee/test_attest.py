"""snp@1.0 verify: every check, each failure refused with its own error (issue 26, done-means 1
and 3). Reports are signed by a test key hierarchy made with AMD's algorithms (the fixture's
chip's real VCEK cannot be fetched here); the verifier gets the test ARK as a pinned root and
a route to the loopback KDS, and checks everything else as in production."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FIXTURES, verifier_opts
from cryptography.hazmat.primitives import serialization
from kds_server import Kds, running_kds
from snp_hierarchy import LOCAL_HASHES, OVMF_LAYOUT, Chip, Hierarchy, _cert

from aonode.codecs import commit, message_id
from aonode.crypto import Wallet, b64url_encode
from aonode.devices.snp import verify_attestation
from aonode.tee import attest, errors
from aonode.tee import kds as kds_module
from aonode.tee.certs import AMD_ARK_ROOTS
from aonode.tee.measurement import launch_digest, layout_from_option
from aonode.tee.report import Report

NODE_MESSAGE = {"snp_trusted": [dict(LOCAL_HASHES)], "port": 8734}


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.load(FIXTURES / "key-1.json")


def attestation(wallet: Wallet, chip: Chip, *, node_message: dict[str, Any] | None = None,
                report_data: bytes | None = None, nonce: bytes | None = None, local: dict[str, Any] | None = None,
                measured: dict[str, Any] | None = None, sign: bool = True, **report: Any) -> dict[str, Any]:
    """A signed attestation message as a node's `generate` makes it, with parts overridable."""
    node_message = NODE_MESSAGE if node_message is None else node_message
    bound = attest.nonce_for(wallet.address, message_id(node_message))
    layout = layout_from_option(OVMF_LAYOUT)
    digest = launch_digest(measured or local or LOCAL_HASHES, layout)
    message = {
        "address": wallet.address,
        "node-message": node_message,
        "local-hashes": local or dict(LOCAL_HASHES),
        "nonce": b64url_encode(bound if nonce is None else nonce),
        "report": chip.report_json(bound if report_data is None else report_data, digest, **report),
    }
    return commit(message, wallet, bundle=True) if sign else message


def verify(message: dict[str, Any], opts: dict[str, Any]) -> attest.Attested:
    return verify_attestation({"path": "verify", "body": message}, opts)


def test_a_bound_report_from_the_test_chip_verifies(wallet: Wallet, chip: Chip, hierarchy: Hierarchy,
                                                    kds: Kds) -> None:
    opts = verifier_opts(hierarchy, kds)
    found = verify(attestation(wallet, chip), opts)
    assert found.address == wallet.address and found.product == "Milan"
    fetched = len(kds.requests)
    verify(attestation(wallet, chip), opts)
    assert len(kds.requests) == fetched  # the verified VCEK is kept
    assert any("blSPL=04&teeSPL=00&snpSPL=22&ucodeSPL=213" in r for r in kds.requests)


CASES = [
    ("tampered measurement", dict(measured={**LOCAL_HASHES, "initrd": "00" * 32}), errors.MeasurementMismatch),
    ("wrong nonce", dict(nonce=bytes(64)), errors.NonceMismatch),
    ("report_data not binding the node", dict(report_data=b"\x01" * 64), errors.ReportNotBound),
    ("debug bit", dict(policy=0x30000 | 1 << 19), errors.DebugEnabled),
    ("untrusted kernel hash", dict(local={**LOCAL_HASHES, "kernel": "ab" * 32}), errors.UntrustedSoftware),
    ("unsigned", dict(sign=False), errors.SignerMismatch),
]


@pytest.mark.parametrize(("case", "change", "error"), CASES, ids=[c[0] for c in CASES])
def test_each_failed_check_has_its_own_error(case: str, change: dict[str, Any], error: type[Exception],
                                             wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    with pytest.raises(error) as info:
        verify(attestation(wallet, chip, **change), verifier_opts(hierarchy, kds))
    assert 400 <= info.value.status < 500  # type: ignore[attr-defined]


def test_a_signature_by_another_key_is_refused(wallet: Wallet, chip: Chip, hierarchy: Hierarchy,
                                              kds: Kds) -> None:
    message = attestation(wallet, chip, sign=False)
    report = json.loads(message["report"])
    report["signature"]["r"][0] ^= 1
    message["report"] = json.dumps(report, separators=(",", ":"))
    with pytest.raises(errors.ReportSignatureInvalid):
        verify(commit(message, wallet, bundle=True), verifier_opts(hierarchy, kds))


def test_a_truncated_report_is_refused(wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    message = attestation(wallet, chip, sign=False)
    report = json.loads(message["report"])
    del report["signature"]["r"][40:]
    message["report"] = json.dumps(report)
    with pytest.raises(errors.ReportMalformed, match="signature.r"):
        verify(commit(message, wallet, bundle=True), verifier_opts(hierarchy, kds))


def test_a_broken_chain_is_refused(wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    # The KDS answers with an ASK that claims the ARK as issuer but signed itself.
    forged_ask = _cert("SEV-Milan", "ARK-Milan", hierarchy.ask_key.public_key(), hierarchy.ask_key)
    pem = forged_ask.public_bytes(serialization.Encoding.PEM) + hierarchy.ark.public_bytes(serialization.Encoding.PEM)
    real = kds.chains["Milan"]
    kds.chains["Milan"] = pem
    try:
        kds_module.forget_verified()  # the VCEK verified by other tests is not reused
        opts = verifier_opts(hierarchy, kds)
        with pytest.raises(errors.CertificateChainInvalid, match="ASK signed by ARK"):
            verify(attestation(wallet, chip), opts)
    finally:
        kds.chains["Milan"] = real
        kds_module.forget_verified()


def test_an_unpinned_root_is_refused(wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    opts = verifier_opts(hierarchy, kds, snp_ark_roots={})  # only AMD's real Milan ARK
    with pytest.raises(errors.CertificateChainInvalid, match="not a pinned root"):
        verify(attestation(wallet, chip), opts)


def test_the_wrong_product_is_refused(wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    # The report says Genoa; the KDS's Genoa chain is the (Milan) one the chip belongs to.
    kds.chains["Genoa"] = hierarchy.chain_pem()
    vcek_path = next(p for p in kds.vceks if p.startswith("/vcek/v1/Milan/"))
    kds.vceks[vcek_path.replace("Milan", "Genoa")] = chip.vcek_der()
    opts = verifier_opts(hierarchy, kds, snp_ark_roots={"Milan": hierarchy.ark_pem(), "Genoa": hierarchy.ark_pem()})
    with pytest.raises(errors.WrongProduct, match="ARK-Genoa"):
        verify(attestation(wallet, chip, product="Genoa"), opts)
    with pytest.raises(errors.UnsupportedProduct, match="Genoa"):
        verify(attestation(wallet, chip, product="Genoa"), verifier_opts(hierarchy, kds))


def test_another_chips_vcek_is_refused(wallet: Wallet, hierarchy: Hierarchy, kds: Kds) -> None:
    other = hierarchy.chip()  # never published: the KDS has no certificate for it
    with pytest.raises(errors.VcekUnavailable) as info:
        verify(attestation(wallet, other), verifier_opts(hierarchy, kds))
    assert info.value.status == 502


def test_an_unreachable_kds_is_a_502(wallet: Wallet, chip: Chip, hierarchy: Hierarchy, kds: Kds) -> None:
    kds_module.forget_verified()
    down = [{"template": "^/vcek/v1/", "node": {"prefix": "http://127.0.0.1:9"}}]
    opts = verifier_opts(hierarchy, kds, routes=down, http_connect_timeout=2000)
    with pytest.raises(errors.VcekUnavailable) as info:
        verify(attestation(wallet, chip), opts)
    assert info.value.status == 502
    with pytest.raises(errors.VcekUnavailable, match="no viable route"):
        verify(attestation(wallet, chip), verifier_opts(hierarchy, kds, routes=[]))


def test_the_reference_admissible_report_is_not_bound_to_its_node(hierarchy: Hierarchy, kds: Kds) -> None:
    """Done-means 3: the reference's shipped report message passes its own nonce check, but its
    report was made for an older node message (docs/compat.md)."""
    message = json.loads((FIXTURES / "admissible-report-message.json").read_text())
    wallet = Wallet.load(FIXTURES / "admissible-report-wallet.json")
    assert wallet.address == message["address"]
    assert message_id(message["node-message"]) == "sF243ZMYHJ7ettU9M4fd0ngNJRg7LtSRGVH2S2TysnM"
    opts = verifier_opts(hierarchy, kds, snp_trusted=message["node-message"]["snp_trusted"])
    with pytest.raises(errors.ReportNotBound, match="report_data_mismatch") as info:
        verify(commit(message, wallet, bundle=True), opts)
    assert info.value.status == 403


def test_the_recorded_report_meets_amds_real_chain_through_the_kds_route() -> None:
    """The reference's real report and AMD's real Milan ASK/ARK, served by a loopback KDS: the
    pinned ARK and the ASK verify, then the chip's VCEK is asked for at the reported TCB; it
    cannot be had offline, which is a 502, not a pass."""
    report = Report.from_json((FIXTURES / "snp-attestation.json").read_text())
    chain = (FIXTURES / "amd-vcek-v1-Milan-cert_chain.pem").read_bytes()
    with running_kds() as kds:
        kds.chains["Milan"] = chain
        opts = {"routes": [{"template": "^/vcek/v1/", "node": {"prefix": kds.url}}]}
        kds_module.forget_verified()
        with pytest.raises(errors.VcekUnavailable) as info:
            kds_module.vcek_for(report, "Milan", AMD_ARK_ROOTS, opts)
        assert info.value.status == 502
        assert kds.requests == ["/vcek/v1/Milan/cert_chain",
                                f"/vcek/v1/Milan/{report.chip_id.hex()}?blSPL=04&teeSPL=00&snpSPL=22&ucodeSPL=213"]
        forged = bytearray(chain)
        forged[chain.index(b"-----END CERTIFICATE-----") - 10] ^= 1  # inside the ASK's signature
        kds.chains["Milan"] = bytes(forged)
        with pytest.raises(errors.CertificateChainInvalid):
            kds_module.vcek_for(report, "Milan", AMD_ARK_ROOTS, opts)
        assert len(kds.requests) == 3  # refused before the VCEK was asked for
