"""The typed refusals of attestation checking (node-services.md §6.3, done properly).

Every way an SEV-SNP report or a green-zone exchange can be refused has its own class, so a
caller (and a test) can tell a wrong nonce from a broken certificate chain. Each carries a
short `reason` (the reference's error atom where it has one) and an HTTP status:

    AttestationError (403)            base: the evidence was read but does not convince
    ├── ReportMalformed (400)         the report is not a 1184-byte ABI report / valid JSON
    ├── MissingNodeMessage (400)      neither `node-message` nor `node-message-id`
    ├── NonceMismatch (400)           `nonce` is not address ‖ node-message ID
    ├── ReportNotBound (403)          the report's `report_data` does not carry that nonce
    ├── SignerMismatch (403)          the message is not signed by the address it names
    ├── DebugEnabled (403)            policy bit 19 (guest debugging) is set
    ├── UntrustedSoftware (403)       local hashes match no `snp_trusted` entry
    ├── MeasurementMismatch (403)     the recomputed launch digest is not the report's
    ├── MeasurementUnavailable (422)  no OVMF layout is configured to recompute it with
    ├── UnsupportedProduct (422)      the report's CPU is no product with a pinned ARK
    ├── WrongProduct (403)            the certificates are another product's than the report's
    ├── CertificateChainInvalid (403) ARK -> ASK -> VCEK does not verify or is not pinned
    ├── ReportSignatureInvalid (403)  the VCEK did not sign this report
    └── VcekUnavailable (502)         AMD's KDS (through the node's routes) gave no certificate

`NotSnpGuest` (503) is the answer of `generate` on a machine that is no SEV-SNP guest.
"""

from __future__ import annotations

from aonode.errors import AOError

__all__ = [
    "AttestationError",
    "CertificateChainInvalid",
    "DebugEnabled",
    "MeasurementMismatch",
    "MeasurementUnavailable",
    "MissingNodeMessage",
    "NonceMismatch",
    "NotSnpGuest",
    "ReportMalformed",
    "ReportNotBound",
    "ReportSignatureInvalid",
    "SignerMismatch",
    "UnsupportedProduct",
    "UntrustedSoftware",
    "VcekUnavailable",
    "WrongProduct",
]


class AttestationError(AOError):
    """An attestation that was read but is refused; `reason` names the failed check."""

    status = 403
    reason = "attestation_invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail}")


class ReportMalformed(AttestationError):
    status = 400
    reason = "report_malformed"


class MissingNodeMessage(AttestationError):
    status = 400
    reason = "missing_node_msg_id"


class NonceMismatch(AttestationError):
    status = 400
    reason = "nonce_mismatch"


class ReportNotBound(AttestationError):
    reason = "report_data_mismatch"


class SignerMismatch(AttestationError):
    reason = "signature_or_address_invalid"


class DebugEnabled(AttestationError):
    reason = "debug_enabled"


class UntrustedSoftware(AttestationError):
    reason = "untrusted_software"


class MeasurementMismatch(AttestationError):
    reason = "measurement_invalid"


class MeasurementUnavailable(AttestationError):
    status = 422
    reason = "measurement_unavailable"


class UnsupportedProduct(AttestationError):
    status = 422
    reason = "unsupported_product"


class WrongProduct(AttestationError):
    reason = "wrong_product"


class CertificateChainInvalid(AttestationError):
    reason = "certificate_chain_invalid"


class ReportSignatureInvalid(AttestationError):
    reason = "report_signature_invalid"


class VcekUnavailable(AttestationError):
    status = 502
    reason = "vcek_unavailable"


class NotSnpGuest(AOError):
    """`generate` on a machine with neither `/dev/sev-guest` nor configfs-tsm."""

    status = 503
