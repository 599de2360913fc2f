"""Checking an SEV-SNP attestation message (node-services.md §6.3, with the binding the
reference misses), and building the nonce a node's report must carry (§6.2).

An attestation message says "node `address`, running with node message `node-message`, is
this hardware-attested software":

    address         the node's wallet address
    node-message    the node's configuration (or `node-message-id`, its unsigned ID)
    nonce           b64url(native(address) ‖ native(ID of node-message)), 64 bytes
    local-hashes    the software: vcpus, vcpu_type, vmm_type, guest_features, firmware,
                    kernel, initrd, append
    report          the SEV-SNP report, in the reference's JSON form

`check` refuses it, with a distinct `AttestationError`, unless it is signed and, in this order:
1. the nonce is address ‖ node-message ID (`NonceMismatch`);
2. the report's `report_data` is that nonce (`ReportNotBound`; the reference skips this);
3. `address` is a verified signer of the message (`SignerMismatch`);
4. policy bit 19 (debug) is clear (`DebugEnabled`);
5. every key of `snp_enforced_keys` in local-hashes equals some `snp_trusted` entry's
   (`UntrustedSoftware`);
6. the launch digest recomputed from local-hashes and the `snp_ovmf` layout is the report's
   `measurement` (`MeasurementMismatch`);
7. the report's VCEK chains to a pinned ARK of the report's product, and signed it
   (`CertificateChainInvalid`, `WrongProduct`, `UnsupportedProduct`,
   `ReportSignatureInvalid`, `VcekUnavailable`).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aonode.codecs import message_id
from aonode.core import options
from aonode.crypto import b64url_decode, b64url_encode
from aonode.errors import AOError
from aonode.tee import kds
from aonode.tee.certs import roots_from_option, verify_report_signature
from aonode.tee.errors import (
    DebugEnabled,
    MeasurementMismatch,
    MissingNodeMessage,
    NonceMismatch,
    ReportMalformed,
    ReportNotBound,
    SignerMismatch,
    UntrustedSoftware,
)
from aonode.tee.measurement import launch_digest, layout_from_option
from aonode.tee.report import Report
from aonode.text import as_text

__all__ = ["DEFAULT_PRODUCT", "Attested", "check", "nonce_for", "trusted_match"]

DEFAULT_PRODUCT = "Milan"
"""The product of a version-2 report, which does not say (the reference assumes Milan always)."""


def _native_id(value: str, what: str) -> bytes:
    try:
        raw = b64url_decode(value)
    except (ValueError, binascii.Error, AOError) as exc:
        raise NonceMismatch(f"{what} is not base64url") from exc
    if len(raw) != 32:
        raise NonceMismatch(f"{what} is not a 32-byte ID")
    return raw


def nonce_for(address: str, node_message_id: str) -> bytes:
    """The 64 bytes a node's report must carry: native(address) ‖ native(node-message ID)."""
    return _native_id(address, "the address") + _native_id(node_message_id, "the node-message ID")


def _same(a: Any, b: Any) -> bool:
    return a == b or as_text(a, errors="surrogateescape") == as_text(b, errors="surrogateescape")


def trusted_match(local: Mapping[str, Any], trusted: Any, enforced: Sequence[Any]) -> bool:
    """Whether the local hashes match some trusted entry on every enforced key they hold."""
    if not isinstance(trusted, list):
        return False
    keys = [as_text(k, errors="surrogateescape") for k in enforced]
    for entry in trusted:
        if isinstance(entry, Mapping) and all(k not in local or (k in entry and _same(local[k], entry[k]))
                                              for k in keys):
            return True
    return False


@dataclass(frozen=True)
class Attested:
    """An attestation that passed every check."""

    address: str
    node_message_id: str
    report: Report
    product: str


def check(message: Mapping[str, Any], signers: Sequence[str], opts: Mapping[str, Any]) -> Attested:
    """Check an attestation message whose keys are those its `signers` committed.

    Args:
        message: the attestation keys (only signed keys: the caller filters them).
        signers: the verified signers of `message`.
        opts: the verifier's node options: `snp_trusted`, `snp_enforced_keys`, `snp_ovmf`,
            `snp_ark_roots`, `snp_default_product`, `routes` (AMD's KDS at `/vcek/v1/`) and HTTP settings.

    Raises:
        AttestationError: the first check that fails, as its own subclass (see the module).
    """
    if not signers:
        raise SignerMismatch("the attestation message carries no signature that verifies")
    address = message.get("address")
    nonce = message.get("nonce")
    report_json = message.get("report")
    if not isinstance(address, (str, bytes)) or not isinstance(nonce, (str, bytes)):
        raise NonceMismatch("the message needs a signed `address` and `nonce`")
    if not isinstance(report_json, (str, bytes)):
        raise ReportMalformed("the message needs a signed `report` (the report's JSON)")
    address = as_text(address, errors="surrogateescape")
    node_message = message.get("node-message")
    if isinstance(node_message, Mapping):
        node_id = message_id(dict(node_message))
    elif isinstance(message.get("node-message-id"), (str, bytes)):
        node_id = as_text(message["node-message-id"], errors="surrogateescape")
    else:
        raise MissingNodeMessage("the message carries neither `node-message` nor `node-message-id`")
    expected = nonce_for(address, node_id)
    try:
        given = b64url_decode(as_text(nonce, errors="surrogateescape"))
    except (ValueError, binascii.Error, AOError) as exc:
        raise NonceMismatch("the nonce is not base64url") from exc
    if given != expected:
        raise NonceMismatch("the nonce is not the address followed by the node message's ID")
    report = Report.from_json(report_json)
    if report.report_data != expected:
        raise ReportNotBound("the report's report_data is not this node's nonce (address ‖ node-message ID): "
                             "the hardware report was made for another node or configuration")
    if address not in signers:
        raise SignerMismatch(f"the message is not signed by {address}")
    if report.debug_allowed:
        raise DebugEnabled("the guest policy allows debugging (bit 19): its memory is open to the host")
    local = message.get("local-hashes")
    if not isinstance(local, Mapping):
        raise UntrustedSoftware("the message has no signed `local-hashes`")
    local = {as_text(k, errors="surrogateescape"): v for k, v in local.items()}
    enforced = options.get(opts, "snp_enforced_keys") or []
    if not trusted_match(local, options.get(opts, "snp_trusted") or [], enforced):
        names = ", ".join(as_text(k, errors="surrogateescape") for k in enforced)
        raise UntrustedSoftware("the local hashes match no snp_trusted entry on " + names)
    layout = layout_from_option(options.get(opts, "snp_ovmf"))
    if launch_digest(local, layout) != report.measurement:
        raise MeasurementMismatch("the launch digest recomputed from local-hashes is not the report's measurement")
    configured = options.get(opts, "snp_default_product", DEFAULT_PRODUCT) or DEFAULT_PRODUCT
    product = report.product or as_text(configured, errors="surrogateescape")
    roots = roots_from_option(options.get(opts, "snp_ark_roots"))
    vcek = kds.vcek_for(report, product, roots, opts)
    verify_report_signature(report, vcek)
    return Attested(address, node_id, report, product)


def encode_nonce(nonce: bytes) -> str:
    """The `nonce` key's value: base64url without padding."""
    return b64url_encode(nonce)
