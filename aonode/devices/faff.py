"""`faff@1.0`: serve only friends and family (`dev_faff`, node-services.md §4.3). It is the
pricing and the ledger device of a `p4@1.0` hook.

    estimate  0 when the request is signed and every signer is in `faff_allow_list`, else
              `infinity` (p4 answers 400: the node will not serve it)
    charge    always succeeds: nothing is owed

Difference from the reference (docs/compat.md): an unsigned request is refused. The reference
checks that *all* signers are allowed, which an unsigned request (no signers) passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core import authority, options
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.devices.simple_pay import INFINITY
from aonode.text import as_text

__all__ = ["FaffDevice", "allowed"]



def allowed(request: Any, opts: Mapping[str, Any]) -> bool:
    """Whether `request` is signed, and only by addresses of `faff_allow_list`."""
    if not isinstance(request, Mapping):
        return False
    found = authority.signed_by(request, opts)
    allow = {as_text(a, errors="replace") for a in (options.get(opts, "faff_allow_list") or [])}
    return bool(found) and all(signer in allow for signer in found)


class FaffDevice(Device):
    """`faff@1.0` (see the module docstring)."""

    name = "faff@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["estimate", "charge"]}

    def estimate(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        return Result("ok", 0 if allowed(request.get("request"), opts) else INFINITY)

    def charge(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        return Result("ok", True)
