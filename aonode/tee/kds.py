"""Fetching a chip's VCEK and its product's ASK/ARK from AMD's Key Distribution Service.

    GET <kds>/vcek/v1/<product>/cert_chain                        PEM: ASK then ARK
    GET <kds>/vcek/v1/<product>/<chip_id hex>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..   DER VCEK

The TCB in the query is the report's `reported_tcb` (the reference uses `current_tcb`, which
names the wrong certificate after a firmware update; docs/compat.md). The paths are relative:
the node's route table says where they go (`aonode.net.client.request_routed`; the default
table sends `^/vcek/v1/` to `https://kdsintf.amd.com`). A chain that verified is kept in a
process-wide memo by (product, chip, TCB, pinned roots), so later reports of the same chip cost
one ECDSA verification; where it came from does not matter, as it is checked against the roots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode._memo import Memo
from aonode.tee.certs import VerifiedVcek, load_certificates, verify_ark_ask, verify_vcek
from aonode.tee.errors import VcekUnavailable
from aonode.tee.report import Report

__all__ = ["cert_chain_path", "forget_verified", "vcek_for", "vcek_path"]

_VERIFIED: Memo[tuple[str, bytes, Any, frozenset[tuple[str, frozenset[str]]]], VerifiedVcek] = Memo(256)


def forget_verified() -> None:
    """Drop every memoised VCEK (the next report of each chip fetches and checks its chain again)."""
    _VERIFIED.clear()


def cert_chain_path(product: str) -> str:
    return f"/vcek/v1/{product}/cert_chain"


def vcek_path(product: str, report: Report) -> str:
    tcb = report.reported_tcb
    return (f"/vcek/v1/{product}/{report.chip_id.hex()}?blSPL={tcb.bootloader:02d}&teeSPL={tcb.tee:02d}"
            f"&snpSPL={tcb.snp:02d}&ucodeSPL={tcb.microcode:02d}")


def _fetch(path: str, opts: Mapping[str, Any]) -> bytes:
    from aonode.net.client import request_routed  # the HTTP layer sits above this one

    result = request_routed({"path": path, "method": "GET"}, opts)
    value = result.value
    body = value.get("body") if isinstance(value, Mapping) else value
    if result.status != "ok" or not isinstance(body, bytes) or not body:
        status = value.get("status") if isinstance(value, Mapping) else None
        detail = body.decode("utf-8", "replace")[:200] if isinstance(body, bytes) else ""
        raise VcekUnavailable(f"GET {path} (through the node's routes) gave {status or result.status}: {detail}")
    return body


def vcek_for(report: Report, product: str, roots: Mapping[str, frozenset[str]], opts: Mapping[str, Any]
             ) -> VerifiedVcek:
    """The verified VCEK of the report's chip at its reported TCB (fetched once, then memoised).

    Args:
        opts: the node's options: `routes` (where `/vcek/v1/...` goes) and HTTP settings.

    Raises:
        VcekUnavailable: the KDS could not be reached or gave no certificate (502).
        AttestationError: the certificates do not form a valid, pinned chain for the chip.
    """
    key = (product, report.chip_id, report.reported_tcb, frozenset(roots.items()))
    found = _VERIFIED.get(key)
    if found is not None:
        return found
    chain = load_certificates(_fetch(cert_chain_path(product), opts))
    if len(chain) != 2:
        raise VcekUnavailable(f"the KDS cert_chain for {product} holds {len(chain)} certificates, not ASK and ARK")
    ask, ark = chain
    verify_ark_ask(ark, ask, product, roots)  # before asking for the chip's certificate
    vcek = load_certificates(_fetch(vcek_path(product, report), opts))[0]
    verified = verify_vcek(ask, vcek, product, report.chip_id, report.reported_tcb)
    _VERIFIED.put(key, verified)
    return verified
