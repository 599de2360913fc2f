"""`snp@1.0`: AMD SEV-SNP attestation of a node (`dev_snp`; node-services.md §6).

    generate   this node's attestation message: a report from its SEV-SNP firmware whose
               `report_data` is native(address) ‖ native(node-message ID), with the node's
               address, node message, local hashes (first `snp_trusted` entry) and nonce.
               503 "not an SEV-SNP guest" elsewhere.
    verify     "true" for an attestation message (the request's `body`, else the request)
               that passes every check of `aonode.tee.attest.check`; otherwise the failed
               check's typed error (4xx; 502 when AMD's KDS cannot be reached).

Options: `snp_trusted`, `snp_enforced_keys`, `snp_ovmf` (the OVMF layout for the launch
digest), `snp_ark_roots` (pinned roots besides AMD's Milan ARK), `routes` (where
`/vcek/v1/` goes: AMD's KDS by default), `snp_default_product` (version-2 reports do not
name their CPU), `snp_report_source`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.codecs import committed_keys, message_id, signers
from aonode.core import authority, options
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.crypto import Wallet, b64url_encode
from aonode.errors import BadMessage, Unauthorized, Unsupported
from aonode.message import Message
from aonode.tee import attest, guest
from aonode.tee.report import Report, to_json

__all__ = ["SnpDevice", "attestation_of", "generate_attestation", "node_message", "verify_attestation"]

# Keys of the options a request runs with that are not part of the node's configuration.
_RUNTIME_KEYS = frozenset({"cache", authority.VERIFIED_REQUEST, "force_message", "hashpath", "cache_control",
                           "priv_node_message"})
# The VMPL the reference asks the firmware for (its REPORT_DATA_VERSION, passed as the VMPL).
_VMPL = 1


def _node_options(opts: Mapping[str, Any]) -> Mapping[str, Any]:
    holder = opts.get("priv_node_message")
    current = getattr(holder, "current", None)
    return current() if callable(current) else opts


def node_message(opts: Mapping[str, Any]) -> Message:
    """The node message a report speaks for: the node's options without private keys,
    runtime values or anything no message can hold (as `meta@1.0 info` shows it)."""
    node = {k: v for k, v in _node_options(opts).items() if k not in _RUNTIME_KEYS}
    return dict(options.public_view(node))


def generate_attestation(opts: Mapping[str, Any]) -> Message:
    """This node's attestation message (unsigned; `generate`'s contract above).

    Raises:
        Unauthorized: the node has no wallet.
        Unsupported: `snp_trusted` is empty or not a list (no local hashes to claim).
        NotSnpGuest: no SEV-SNP firmware to ask (503).
        ReportMalformed: the firmware's answer is not a report.
    """
    wallet = opts.get("priv_wallet")
    if not isinstance(wallet, Wallet):
        raise Unauthorized("no_wallet_available: the node has no wallet to attest")
    trusted = options.get(opts, "snp_trusted")
    if not isinstance(trusted, list):
        raise Unsupported("invalid_trusted_configs_format: snp_trusted must be a list of local-hash maps")
    if not trusted or not isinstance(trusted[0], Mapping):
        raise Unsupported("no_trusted_configs: snp_trusted names no local hashes for this node")
    node = node_message(opts)
    nonce = attest.nonce_for(wallet.address, message_id(node))
    report = Report(guest.report_source(opts)(nonce, _VMPL, opts))
    return {
        "local-hashes": dict(trusted[0]),
        "nonce": b64url_encode(nonce),
        "address": wallet.address,
        "node-message": node,
        "report": json.dumps(to_json(report.raw), separators=(",", ":")),
    }


def attestation_of(request: Mapping[str, Any], opts: Mapping[str, Any]) -> tuple[Message, list[str]]:
    """The attestation a request carries (its `body` when that is a message, else the request
    as its signers committed it), reduced to the keys its verified signers cover, and those signers."""
    body = request.get("body")
    raw: Mapping[str, Any] = body if isinstance(body, Mapping) else authority.authority(request, opts)
    who = signers(dict(raw))
    covered = set(committed_keys(dict(raw), who)) if who else set()
    return {k: v for k, v in raw.items() if k in covered}, who


def verify_attestation(request: Mapping[str, Any], opts: Mapping[str, Any]) -> attest.Attested:
    """Check the attestation a request carries (see `attestation_of`, `attest.check`).

    Raises:
        AttestationError: the failed check.
    """
    message, who = attestation_of(request, opts)
    return attest.check(message, who, opts)


class SnpDevice(Device):
    name = "snp@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["generate", "verify"]}

    def generate(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """This node's attestation message (503 where the node is no SEV-SNP guest)."""
        return Result("ok", generate_attestation(opts))

    def verify(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """`true` for an attestation that passes every check; else the check's error."""
        if not isinstance(request, Mapping):
            raise BadMessage("snp@1.0 verify needs the attestation message as the request or its body")
        verify_attestation(request, opts)
        return Result("ok", b"true")
