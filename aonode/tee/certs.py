"""AMD's certificate chain for SEV-SNP reports: ARK -> ASK -> VCEK, and the report signature
(node-services.md §6.3 step 7, done properly).

* ARK (AMD Root Key) and ASK (AMD SEV Key) are RSA-4096 certificates signed with RSASSA-PSS,
  SHA-384, salt 48; the ARK signs itself and the ASK, the ASK signs the chip's VCEK.
* The ARK must be *pinned*: its public key's SHA-256 (over the SubjectPublicKeyInfo DER) is one
  of the product's roots. AMD's Milan ARK is pinned by default; other roots (Genoa, Turin, a
  test hierarchy) come from the `snp_ark_roots` option.
* The certificates must be the product's (`ARK-<product>`, `SEV-<product>`), and the VCEK
  must be for the report's chip (hwID extension = `chip_id`) at its `reported_tcb` (the SPL
  extensions), so a VCEK cannot be reused for another chip or firmware level.
* The report is signed with ECDSA P-384 over SHA-384 of its first 0x2A0 bytes.

Pure functions over DER bytes; no I/O. Every failure is a typed `AttestationError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from aonode._memo import Memo
from aonode.tee.errors import (
    CertificateChainInvalid,
    ReportMalformed,
    ReportSignatureInvalid,
    UnsupportedProduct,
    WrongProduct,
)
from aonode.tee.report import Report, Tcb

__all__ = [
    "AMD_ARK_ROOTS",
    "VerifiedVcek",
    "fingerprint",
    "load_certificates",
    "roots_from_option",
    "verify_ark_ask",
    "verify_chain",
    "verify_vcek",
    "verify_report_signature",
]

AMD_ARK_ROOTS: Mapping[str, frozenset[str]] = {
    # SHA-256 of the SubjectPublicKeyInfo of AMD's ARK-Milan (RSA-4096, self-signed), as in
    # KDS's /vcek/v1/Milan/cert_chain and ../shared/fixtures/amd-vcek-v1-Milan-cert_chain.pem.
    "Milan": frozenset({"9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9"}),
}
"""The ARK public keys trusted without configuration, by product."""

# AMD's VCEK extensions (SEV-SNP "Versioned Chip Endorsement Key" specification).
_OID_BL_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.1")
_OID_TEE_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.2")
_OID_SNP_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.3")
_OID_UCODE_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.8")
_OID_HWID = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of a certificate's SubjectPublicKeyInfo: what a root is pinned by."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (one or more) or a single DER certificate.

    Raises:
        CertificateChainInvalid: the bytes hold no certificate.
    """
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertificateChainInvalid(f"not a certificate: {exc}") from exc


_ROOTS: Memo[str, Mapping[str, frozenset[str]]] = Memo(64)
# (option value, result): the value is kept, so its id cannot be reused by another object.
_LAST_ROOTS: list[tuple[Any, Mapping[str, frozenset[str]]] | None] = [None]


def roots_from_option(value: Any) -> Mapping[str, frozenset[str]]:
    """The pinned ARKs: AMD's defaults plus the `snp_ark_roots` option, a map of product to a
    PEM certificate, a SPKI SHA-256 fingerprint (hex) or a list of those (memoised by value).

    Raises:
        CertificateChainInvalid: an entry is neither a certificate nor a fingerprint.
    """
    last = _LAST_ROOTS[0]  # one tuple, read and replaced whole: safe across threads
    if last is not None and last[0] is value:  # a node passes the same option object every time
        return last[1]
    found = _ROOTS.get_or_compute(repr(value), lambda: _roots(value))
    _LAST_ROOTS[0] = (value, found)
    return found


def _roots(value: Any) -> Mapping[str, frozenset[str]]:
    roots = {k: set(v) for k, v in AMD_ARK_ROOTS.items()}
    if not isinstance(value, Mapping):
        return {k: frozenset(v) for k, v in roots.items()}
    for product, entries in value.items():
        name = product.decode() if isinstance(product, bytes) else str(product)
        items = entries if isinstance(entries, list) else [entries]
        for entry in items:
            text = entry.decode() if isinstance(entry, bytes) else str(entry)
            if "BEGIN CERTIFICATE" in text:
                found = {fingerprint(c) for c in load_certificates(text.encode())[:1]}
            elif len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
                found = {text.lower()}
            else:
                raise CertificateChainInvalid(f"snp_ark_roots[{name}]: not a PEM certificate or a SHA-256 fingerprint")
            roots.setdefault(name, set()).update(found)
    return {k: frozenset(v) for k, v in roots.items()}


def _cn(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = found[0].value if found else ""
    return value.decode() if isinstance(value, bytes) else value


def _pss_check(issuer: x509.Certificate, cert: x509.Certificate, what: str) -> None:
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateChainInvalid(f"{what}: the issuer's key is not RSA")
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, _PSS, hashes.SHA384())
    except InvalidSignature as exc:
        raise CertificateChainInvalid(f"{what}: the RSA-PSS/SHA-384 signature does not verify") from exc


def _der_int(raw: bytes) -> int:
    """The value of a DER INTEGER (AMD's SPL extensions)."""
    if len(raw) < 3 or raw[0] != 0x02 or raw[1] != len(raw) - 2:
        raise CertificateChainInvalid("a VCEK SPL extension is not a DER INTEGER")
    return int.from_bytes(raw[2:], "big")


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes:
    try:
        ext = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound as exc:
        raise CertificateChainInvalid(f"the VCEK lacks extension {oid.dotted_string}") from exc
    if not isinstance(ext, x509.UnrecognizedExtension):
        raise CertificateChainInvalid(f"the VCEK's extension {oid.dotted_string} has an unexpected form")
    return ext.value


def _hwid(raw: bytes) -> bytes:
    # Some VCEKs wrap the 64 bytes in a DER OCTET STRING, others carry them bare.
    if len(raw) == 66 and raw[0] == 0x04 and raw[1] == 64:
        return raw[2:]
    return raw


@dataclass(frozen=True)
class VerifiedVcek:
    """A VCEK whose chain to a pinned ARK verified, for one chip at one TCB."""

    product: str
    chip_id: bytes
    tcb: Tcb
    key: ec.EllipticCurvePublicKey


def verify_ark_ask(ark: x509.Certificate, ask: x509.Certificate, product: str,
                   roots: Mapping[str, Iterable[str]]) -> None:
    """Check that `ark` is a pinned root of `product`, signed itself, and signed `ask`.

    Raises:
        UnsupportedProduct: no ARK is pinned for `product`.
        WrongProduct: a certificate names another product.
        CertificateChainInvalid: the ARK is not pinned or a signature fails.
    """
    pinned = roots.get(product)
    if not pinned:
        raise UnsupportedProduct(f"no ARK is pinned for product {product!r} (known: {sorted(roots)})")
    for cert, expected in ((ark, f"ARK-{product}"), (ask, f"SEV-{product}")):
        if _cn(cert.subject) != expected:
            raise WrongProduct(f"expected a certificate for {expected}, got {_cn(cert.subject)!r}")
    if fingerprint(ark) not in set(pinned):
        raise CertificateChainInvalid(f"the ARK presented for {product} is not a pinned root")
    _pss_check(ark, ark, "ARK self-signature")
    _pss_check(ark, ask, "ASK signed by ARK")


def verify_chain(ark: x509.Certificate, ask: x509.Certificate, vcek: x509.Certificate, product: str,
                 roots: Mapping[str, Iterable[str]], chip_id: bytes, tcb: Tcb) -> VerifiedVcek:
    """Check ARK -> ASK -> VCEK for `product`, the chip and the TCB; return the VCEK's key.

    Raises:
        UnsupportedProduct: no ARK is pinned for `product`.
        WrongProduct: a certificate names another product.
        CertificateChainInvalid: the ARK is not pinned, a signature fails, or the VCEK is for
            another chip or TCB.
    """
    verify_ark_ask(ark, ask, product, roots)
    return verify_vcek(ask, vcek, product, chip_id, tcb)


def verify_vcek(ask: x509.Certificate, vcek: x509.Certificate, product: str, chip_id: bytes, tcb: Tcb
                ) -> VerifiedVcek:
    """Check that an ASK already checked by `verify_ark_ask` signed `vcek` for the chip and TCB.

    Raises:
        WrongProduct: the VCEK names another product's ASK.
        CertificateChainInvalid: the signature fails, or the VCEK is for another chip or TCB.
    """
    if _cn(vcek.issuer) != f"SEV-{product}":
        raise WrongProduct(f"the VCEK is issued by {_cn(vcek.issuer)!r}, not SEV-{product}")
    _pss_check(ask, vcek, "VCEK signed by ASK")
    if _hwid(_extension(vcek, _OID_HWID)) != chip_id:
        raise CertificateChainInvalid("the VCEK is for another chip (hwID differs from the report's chip_id)")
    spl = (_der_int(_extension(vcek, _OID_BL_SPL)), _der_int(_extension(vcek, _OID_TEE_SPL)),
           _der_int(_extension(vcek, _OID_SNP_SPL)), _der_int(_extension(vcek, _OID_UCODE_SPL)))
    if spl != (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode):
        raise CertificateChainInvalid(f"the VCEK is for TCB {spl}, the report's reported_tcb is {tcb}")
    key = vcek.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise CertificateChainInvalid("the VCEK's key is not ECDSA P-384")
    return VerifiedVcek(product, chip_id, tcb, key)


def verify_report_signature(report: Report, vcek: VerifiedVcek) -> None:
    """Check the report's ECDSA P-384 / SHA-384 signature with a verified VCEK.

    Raises:
        ReportMalformed: the report names another signature algorithm.
        ReportSignatureInvalid: the signature does not verify, or the VCEK is another chip's.
    """
    if report.sig_algo != 1:
        raise ReportMalformed(f"signature algorithm {report.sig_algo} is not 1 (ECDSA P-384 with SHA-384)")
    if report.chip_id != vcek.chip_id or report.reported_tcb != vcek.tcb:
        raise ReportSignatureInvalid("the VCEK was fetched for another chip or TCB than the report's")
    r, s = report.signature_rs
    if not r or not s:
        raise ReportSignatureInvalid("the report is not signed")
    try:
        vcek.key.verify(encode_dss_signature(r, s), report.signed_part, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature as exc:
        raise ReportSignatureInvalid("the report's ECDSA P-384 signature does not verify with the chip's VCEK") from exc
