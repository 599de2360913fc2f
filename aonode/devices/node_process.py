"""`node-process@1.0`: processes the node runs under names (`dev_node_process`,
processes-compute.md §6.7).

Any key but `set` and `keys` is a name. `GET /~node-process@1.0/<name>/now/...` reads the
process registered under that name with `local-name@1.0`; the first time (unless the request
says `spawn: false`), the node spawns it from the definition `node_processes[<name>]` of its
options: the definition's `scheduler` and `authority` lists get the node's address (last), it is
signed by the node with `node_process_spawn_codec` (default `httpsig@1.0`), scheduled on this
node at slot 0, and its ID registered under the name.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aonode._memo import Memo
from aonode.codecs import commit_as, message_id
from aonode.core import options
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.resolver import resolve
from aonode.core.terms import NOT_FOUND, Result
from aonode.crypto import Wallet
from aonode.devices.local_name import lookup_name, register_name
from aonode.errors import BadMessage
from aonode.text import as_text

__all__ = ["NodeProcessDevice"]

# One spawn at a time, so that two first requests for a name do not spawn two processes.
_SPAWNING = threading.Lock()

# Node processes read by ID. An ID names one content, and a node process is asked for on every
# request that names it (a p4 ledger: several times a request), where reading it from the store
# (its module inline) cost more than what was asked of it.
_PROCESSES: Memo[str, Any] = Memo(64)


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [as_text(v, errors="surrogateescape") for v in value]
    return [part.strip() for part in as_text(value, errors="surrogateescape").split(",") if part.strip()]


def _augmented(definition: Mapping[str, Any], address: str) -> dict[str, Any]:
    """The definition with the node's address last in its `scheduler` and `authority` lists."""
    out = dict(definition)
    for key in ("scheduler", "authority"):
        listed = [a for a in _addresses(definition.get(key)) if a != address]
        out[key] = [a.encode() for a in (*listed, address)]
    return out


def _spawn(name: str, opts: Mapping[str, Any]) -> Result:
    definitions = options.get(opts, "node_processes") or {}
    definition = definitions.get(name) if isinstance(definitions, Mapping) else None
    if not isinstance(definition, Mapping):
        return NOT_FOUND
    wallet = opts.get("priv_wallet")
    if not isinstance(wallet, Wallet):
        raise BadMessage("node-process@1.0: the node needs a wallet to sign its processes")
    codec = as_text(options.get(opts, "node_process_spawn_codec") or "httpsig@1.0", errors="surrogateescape")
    signed = commit_as(codec, _augmented(definition, wallet.address), wallet)
    scheduled = resolve(signed, {"path": "schedule", "method": "POST", "body": signed}, opts)
    if not scheduled.ok:
        return Result("error", {"status": 500, "body": b"Failed to schedule the node process.",
                                "details": scheduled.value})
    register_name(name, message_id(signed, committers="all").encode(), opts)
    return Result("ok", signed)


def _lookup(name: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
    found = lookup_name(name, opts)
    if found is None:
        spawn = get("spawn", request, True, opts) if isinstance(request, Mapping) else True
        if spawn is False or spawn in (b"false", "false"):
            return NOT_FOUND
        with _SPAWNING:
            found = lookup_name(name, opts)
            if found is None:
                return _spawn(name, opts)
    cache = opts.get("cache")
    if cache is None:
        return NOT_FOUND
    process_id = as_text(found, errors="surrogateescape")
    process = _PROCESSES.get(process_id)
    if process is None:
        process = cache.read(process_id)
        if process is None:
            return NOT_FOUND
        _PROCESSES.put(process_id, process)
    return Result("ok", process)


class NodeProcessDevice(Device):
    name = "node-process@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"default": _lookup, "excludes": ["set", "keys"]}
