"""The `remote-node` store: messages read from another node's `~cache@1.0`, cached locally
(`hb_store_remote_node`, node-services.md §10.3).

    {"store-module": "remote-node", "node": "http://peer:8734",
     "local-store": [{"store-module": "lmdb", "name": ".../lmdb"}]}

As the `gateway` store (whose fetch-once, cache and miss bookkeeping it shares): the first
read of an ID asks `GET <node>/~cache@1.0/read?target=<id>`, keeps only the answer's committed
keys (a node's answer is signed by that node; the client verifies the signature, and the
stored message must carry its own), writes it to `local-store` and serves it from there.
A peer that is down or slow raises a 502/504 naming it; a 404 is a miss.

Writing through this store (the reference's `write`/`make_link` POSTs to the peer) is not
done here: the store is read-only (StoreError 405).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aonode.codecs import verify, with_only_committed
from aonode.errors import AOError, InvalidSignature
from aonode.store._base import Store
from aonode.store._gateway import GatewayStore, store_options
from aonode.text import as_text

__all__ = ["RemoteNodeStore", "open_remote_node"]


class RemoteNodeStore(GatewayStore):
    """Read-through from another node's cache into `local`."""

    def __init__(self, node: str, local: Store | None, opts: Mapping[str, Any]) -> None:
        super().__init__(local, opts)
        self.node = node.rstrip("/")

    def __repr__(self) -> str:
        return f"RemoteNodeStore({self.node!r}, local={self.local!r})"

    def _read(self, uid: str) -> Any:
        from aonode.arweave.gateway import GatewayError, UnverifiedItem
        from aonode.net.client import request

        what = f"GET {self.node}/~cache@1.0/read?target={uid}"
        result = request("GET", self.node, {"path": f"/~cache@1.0/read?target={uid}"}, self.opts)
        value = result.value
        status = value.get("status", 200) if isinstance(value, Mapping) else 200
        text = str(status) if isinstance(status, int) else as_text(status, errors="surrogateescape")
        status = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 502
        if status == 404:
            return None
        if not result.ok or status != 200 or not isinstance(value, Mapping):
            body = value.get("body", b"") if isinstance(value, Mapping) else value
            detail = as_text(body, errors="surrogateescape")[:300]
            raise GatewayError(f"{what}: the node answered {status}: {detail}",
                               status=504 if status == 504 else 502)
        found = {k: v for k, v in value.items() if k != "status"}
        if not found.get("commitments"):
            raise UnverifiedItem(f"{what}: the node answered a message without commitments; it cannot be verified")
        found = dict(with_only_committed(found))
        try:
            verify(found)
        except (InvalidSignature, AOError) as exc:
            raise UnverifiedItem(f"{what}: the message does not verify: {exc}") from exc
        return found


def open_remote_node(spec: Mapping[str, Any], open_store: Callable[[Any], Store]) -> RemoteNodeStore:
    """A `RemoteNodeStore` from its spec (`store-module: remote-node`, `node` required).

    Raises:
        ValueError: no `node`, or `local-store` is neither a store spec nor false.
    """
    node = spec.get("node")
    if not isinstance(node, (str, bytes)) or not node:
        raise ValueError("store spec for 'remote-node' needs a 'node' (http://host:port)")
    local_spec = spec.get("local-store", False)
    local = None
    if local_spec not in (False, None, b"false", "false"):
        if not isinstance(local_spec, (Mapping, list)):
            raise ValueError(f"remote-node store: local-store must be a store spec or false, got {local_spec!r}")
        local = open_store(local_spec)
    return RemoteNodeStore(as_text(node, errors="surrogateescape"), local, store_options(spec))
