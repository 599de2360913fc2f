"""A test stand-in for AMD's key hierarchy and an SEV-SNP chip's firmware.

AMD's real VCEK for the fixture's chip cannot be fetched here, so tests make their own
hierarchy with AMD's algorithms: an ARK and an ASK (RSA-4096, RSASSA-PSS with SHA-384 and a
48-byte salt, `CN=ARK-<product>` / `CN=SEV-<product>`) and a chip's VCEK (ECDSA P-384, with
AMD's hwID and SPL extensions). `Chip.sign` plays the firmware: it lays out a report and signs
it with the VCEK. The verifier under test trusts this ARK only because the tests pass it in
as configuration (`snp_ark_roots`); nothing in it is switched off.

`report(report_data, vmpl, opts)` is a `snp_report_source` for a node: it loads the chip from
the directory in the node's `snp_test_firmware` option and measures the node's first
`snp_trusted` entry with its `snp_ovmf` layout, as the firmware would have measured the launch.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from aonode.tee.measurement import launch_digest, layout_from_option
from aonode.tee.report import SIGNED_SIZE, from_json, to_json

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
TCB = {"bootloader": 4, "tee": 0, "_reserved": [0, 0, 0, 0], "snp": 22, "microcode": 213}
# CPUID family/model of a report v3 per product (what `aonode.tee.report.product_of` reads).
CPUID = {"Milan": (0x19, 0x01, 0x01), "Genoa": (0x19, 0x11, 0x00)}

# A synthetic OVMF layout (the real OVMF-1.55.fd is not available): sections as AMD's OVMF
# metadata lists them, the reset vector, and the kernel-hashes table inside its page.
OVMF_LAYOUT = {
    "sections": [
        {"gpa": 0x800000, "size": 0x9000, "type": 1},
        {"gpa": 0x809000, "size": 0x2000, "type": 1},
        {"gpa": 0x80B000, "size": 0x1000, "type": 2},
        {"gpa": 0x80C000, "size": 0x1000, "type": 3},
        {"gpa": 0x80D000, "size": 0x1000, "type": 0x10},
        {"gpa": 0x80E000, "size": 0x12000, "type": 1},
    ],
    "sev_es_reset_eip": 0xFFFFF000 - 0x1000 + 0x4,
    "sev_hashes_table_gpa": 0x80DC00,
}

# The fixture's software (../shared/fixtures/admissible-report-message.json local-hashes).
LOCAL_HASHES = {
    "append": "95a34faced5e487991f9cc2253a41cbd26b708bf00328f98dddbbf6b3ea2892e",
    "firmware": "b8c5d4082d5738db6b0fb0294174992738645df70c44cdecf7fad3a62244b788e7e408c582ee48a74b289f3acec78510",
    "guest_features": 1,
    "initrd": "544045560322dbcd2c454bdc50f35edf0147829ec440e6cb487b4a1503f923c1",
    "kernel": "69d0cd7d13858e4fcef6bc7797aebd258730f215bc5642c4ad8e4b893cc67576",
    "vcpu_type": 5,
    "vcpus": 32,
    "vmm_type": 1,
}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aonode test hierarchy")])


def _cert(subject: str, issuer: str, public: Any, signer: rsa.RSAPrivateKey,
          extensions: Sequence[x509.UnrecognizedExtension] = ()) -> x509.Certificate:
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650)))
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(signer, hashes.SHA384(), rsa_padding=PSS)


def _der_int(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(body)]) + body


def vcek_extensions(chip_id: bytes, tcb: Mapping[str, int]) -> list[x509.UnrecognizedExtension]:
    oid = x509.ObjectIdentifier
    return [
        x509.UnrecognizedExtension(oid("1.3.6.1.4.1.3704.1.3.1"), _der_int(tcb["bootloader"])),
        x509.UnrecognizedExtension(oid("1.3.6.1.4.1.3704.1.3.2"), _der_int(tcb["tee"])),
        x509.UnrecognizedExtension(oid("1.3.6.1.4.1.3704.1.3.3"), _der_int(tcb["snp"])),
        x509.UnrecognizedExtension(oid("1.3.6.1.4.1.3704.1.3.8"), _der_int(tcb["microcode"])),
        x509.UnrecognizedExtension(oid("1.3.6.1.4.1.3704.1.4"), bytes([0x04, 64]) + chip_id),
    ]


@dataclass
class Hierarchy:
    product: str
    ark_key: rsa.RSAPrivateKey
    ask_key: rsa.RSAPrivateKey
    ark: x509.Certificate
    ask: x509.Certificate

    @classmethod
    def make(cls, product: str = "Milan", *, ark_key: rsa.RSAPrivateKey | None = None,
             ask_key: rsa.RSAPrivateKey | None = None) -> Hierarchy:
        ark_key = ark_key or rsa.generate_private_key(public_exponent=65537, key_size=4096)
        ask_key = ask_key or rsa.generate_private_key(public_exponent=65537, key_size=4096)
        ark = _cert(f"ARK-{product}", f"ARK-{product}", ark_key.public_key(), ark_key)
        ask = _cert(f"SEV-{product}", f"ARK-{product}", ask_key.public_key(), ark_key)
        return cls(product, ark_key, ask_key, ark, ask)

    def chain_pem(self) -> bytes:
        """What KDS serves at /vcek/v1/<product>/cert_chain: ASK, then ARK."""
        return self.ask.public_bytes(serialization.Encoding.PEM) + self.ark.public_bytes(serialization.Encoding.PEM)

    def ark_pem(self) -> str:
        return self.ark.public_bytes(serialization.Encoding.PEM).decode()

    def chip(self, chip_id: bytes | None = None, tcb: Mapping[str, Any] = TCB) -> Chip:
        chip_id = chip_id or os.urandom(64)
        key = ec.generate_private_key(ec.SECP384R1())
        vcek = _cert("SEV-VCEK", f"SEV-{self.product}", key.public_key(), self.ask_key,
                     vcek_extensions(chip_id, tcb))
        return Chip(self.product, chip_id, dict(tcb), key, vcek)


@dataclass
class Chip:
    product: str
    chip_id: bytes
    tcb: dict[str, Any]
    key: ec.EllipticCurvePrivateKey
    vcek: x509.Certificate

    def vcek_der(self) -> bytes:
        return self.vcek.public_bytes(serialization.Encoding.DER)

    def fields(self, report_data: bytes, measurement: bytes, *, policy: int = 0x30000,
               product: str | None = None) -> dict[str, Any]:
        """A report's fields as the firmware fills them (before signing)."""
        family, model, stepping = CPUID[product or self.product]
        return {
            "version": 3, "guest_svn": 0, "policy": policy, "vmpl": 1, "sig_algo": 1,
            "current_tcb": self.tcb, "reported_tcb": self.tcb, "committed_tcb": self.tcb, "launch_tcb": self.tcb,
            "plat_info": 3, "report_data": list(report_data), "measurement": list(measurement),
            "chip_id": list(self.chip_id), "cpuid_fam_id": family, "cpuid_mod_id": model, "cpuid_step": stepping,
            "current_build": 20, "current_minor": 55, "current_major": 1,
            "committed_build": 20, "committed_minor": 55, "committed_major": 1,
        }

    def sign(self, fields: Mapping[str, Any]) -> bytes:
        """The signed 1184-byte report (ECDSA P-384 over SHA-384 of bytes 0..0x29F)."""
        raw = bytearray(from_json(dict(fields)))
        r, s = decode_dss_signature(self.key.sign(bytes(raw[:SIGNED_SIZE]), ec.ECDSA(hashes.SHA384())))
        raw[0x2A0:0x2A0 + 72] = r.to_bytes(72, "little")
        raw[0x2E8:0x2E8 + 72] = s.to_bytes(72, "little")
        return bytes(raw)

    def report_json(self, report_data: bytes, measurement: bytes, **kw: Any) -> str:
        return json.dumps(to_json(self.sign(self.fields(report_data, measurement, **kw))), separators=(",", ":"))

    def save(self, folder: Path, *, policy: int = 0x30000) -> None:
        """Write the chip where `report` (a node's report source) finds it."""
        folder.mkdir(parents=True, exist_ok=True)
        key = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        (folder / "vcek-key.pem").write_bytes(key)
        (folder / "vcek.der").write_bytes(self.vcek_der())
        (folder / "chip.json").write_text(json.dumps({"product": self.product, "chip_id": self.chip_id.hex(),
                                                      "tcb": self.tcb, "policy": policy}))

    @classmethod
    def load(cls, folder: Path) -> tuple[Chip, int]:
        meta = json.loads((folder / "chip.json").read_text())
        key = serialization.load_pem_private_key((folder / "vcek-key.pem").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        vcek = x509.load_der_x509_certificate((folder / "vcek.der").read_bytes())
        return cls(meta["product"], bytes.fromhex(meta["chip_id"]), meta["tcb"], key, vcek), int(meta["policy"])


def report(report_data: bytes, vmpl: int, opts: Mapping[str, Any]) -> bytes:
    """A node's `snp_report_source`: the report this test chip's firmware would give the node."""
    chip, policy = Chip.load(Path(str(opts["snp_test_firmware"])))
    trusted = opts.get("snp_trusted") or [{}]
    measurement = launch_digest(trusted[0], layout_from_option(opts.get("snp_ovmf")))
    return chip.sign(chip.fields(report_data, measurement, policy=policy))
