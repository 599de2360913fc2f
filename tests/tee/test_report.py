"""The report's binary and JSON forms on the reference's recorded reports, AMD's real Milan
ARK/ASK chain, and the launch digest (node-services.md §6.1, §6.4, §6.5)."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES
from cryptography.hazmat.primitives import serialization
from snp_hierarchy import LOCAL_HASHES, OVMF_LAYOUT

from aonode.tee import certs, measurement
from aonode.tee.errors import CertificateChainInvalid, MeasurementUnavailable, ReportMalformed, UntrustedSoftware
from aonode.tee.report import REPORT_SIZE, Report, from_json, to_json


@pytest.mark.parametrize("name", ["snp-attestation.json", "admissible-report-message.json"])
def test_recorded_report_round_trips_byte_for_byte(name: str) -> None:
    data = json.loads((FIXTURES / name).read_text())
    text = data["report"] if "report" in data else (FIXTURES / name).read_text()
    raw = from_json(text)
    assert len(raw) == REPORT_SIZE
    assert json.dumps(to_json(raw), separators=(",", ":")) == text
    report = Report(raw)
    assert report.version == 2 and report.vmpl == 1 and report.sig_algo == 1
    assert report.policy == 0x30000 and not report.debug_allowed
    tcb = report.reported_tcb
    assert (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode) == (4, 0, 22, 213)
    assert report.product is None  # version 2 does not name its CPU


def test_recorded_fields_at_their_offsets() -> None:
    report = Report.from_json((FIXTURES / "snp-attestation.json").read_text())
    assert report.chip_id.hex().startswith("8cba181a0d5dc659")
    measured = Report.from_json((FIXTURES / "snp-measurement.json").read_text())
    assert measured.measurement.hex() == ("5e5704c5140bff81b3c5926808d498f86e0b3cf652fe1837c92f9de5a3526c42"
                                          "bf8af1e5289085aa746d113e14f19077")
    assert measured.signature_rs == (0, 0)  # that file has no signature: zeros, as in the NIF
    admissible = json.loads((FIXTURES / "admissible-report-message.json").read_text())
    report = Report.from_json(admissible["report"])
    assert report.chip_id.hex().startswith("069a7615")
    assert report.measurement.hex() == ("87a66765a6781512346ecb47511165c26b6da3e729973d9710a0c567c74aa657"
                                        "823af0c162d516f8430054ffa32ec249")


def test_truncated_and_malformed_reports_are_refused() -> None:
    raw = from_json((FIXTURES / "snp-attestation.json").read_text())
    with pytest.raises(ReportMalformed, match="1184 bytes, got 1000"):
        Report(raw[:1000])
    with pytest.raises(ReportMalformed):
        to_json(raw + b"\0")
    obj = json.loads((FIXTURES / "snp-attestation.json").read_text())
    obj["measurement"] = obj["measurement"][:47]
    with pytest.raises(ReportMalformed, match="measurement must be an array of 48 bytes"):
        from_json(obj)
    obj = json.loads((FIXTURES / "snp-attestation.json").read_text())
    obj["signature"]["r"] = obj["signature"]["r"][:10]
    with pytest.raises(ReportMalformed, match="signature.r"):
        from_json(obj)
    with pytest.raises(ReportMalformed, match="not JSON"):
        from_json('{"version": 2')
    with pytest.raises(ReportMalformed, match="integer"):
        from_json({"policy": "0x30000"})
    assert ReportMalformed("x").status == 400


def test_amd_milan_chain_verifies_and_its_ark_is_pinned() -> None:
    ask, ark = certs.load_certificates((FIXTURES / "amd-vcek-v1-Milan-cert_chain.pem").read_bytes())
    certs.verify_ark_ask(ark, ask, "Milan", certs.AMD_ARK_ROOTS)
    assert certs.fingerprint(ark) in certs.AMD_ARK_ROOTS["Milan"]
    # The ASK is not a root; a chain with the ASK in the ARK's place fails on the name first.
    with pytest.raises(Exception, match="ARK-Milan"):
        certs.verify_ark_ask(ask, ask, "Milan", certs.AMD_ARK_ROOTS)


def test_amd_chain_with_a_changed_signature_fails() -> None:
    ask, ark = certs.load_certificates((FIXTURES / "amd-vcek-v1-Milan-cert_chain.pem").read_bytes())
    der = bytearray(ask.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 1  # inside the signature value
    forged = certs.load_certificates(bytes(der))[0]
    with pytest.raises(CertificateChainInvalid, match="ASK signed by ARK"):
        certs.verify_ark_ask(ark, forged, "Milan", certs.AMD_ARK_ROOTS)


def test_launch_digest_from_local_hashes() -> None:
    layout = measurement.layout_from_option(OVMF_LAYOUT)
    digest = measurement.launch_digest(LOCAL_HASHES, layout)
    assert len(digest) == 48
    assert measurement.launch_digest(dict(LOCAL_HASHES), layout) == digest  # a pure function
    for key, value in [("kernel", "00" * 32), ("initrd", "11" * 32), ("append", "22" * 32), ("vcpus", 31),
                       ("firmware", "33" * 48), ("guest_features", 3), ("vcpu_type", 10), ("vmm_type", 2)]:
        assert measurement.launch_digest({**LOCAL_HASHES, key: value}, layout) != digest, key
    with pytest.raises(UntrustedSoftware, match="kernel"):
        measurement.launch_digest({**LOCAL_HASHES, "kernel": "xyz"}, layout)
    with pytest.raises(UntrustedSoftware, match="lacks initrd"):
        measurement.launch_digest({k: v for k, v in LOCAL_HASHES.items() if k != "initrd"}, layout)


def test_launch_digest_needs_a_configured_ovmf_layout() -> None:
    with pytest.raises(MeasurementUnavailable, match="snp_ovmf") as info:
        measurement.layout_from_option({})
    assert info.value.status == 422
    with pytest.raises(MeasurementUnavailable, match="type 7"):
        measurement.layout_from_option({**OVMF_LAYOUT, "sections": [{"gpa": 0, "size": 4096, "type": 7}]})
    with pytest.raises(MeasurementUnavailable, match="cannot be read"):
        measurement.layout_from_option({"file": "/nonexistent/OVMF.fd"})
