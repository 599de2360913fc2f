"""`meta@1.0`: the node's own device (`dev_meta`, resolution-paths-cache-node.md §10.3, §11.1).

    info    GET: the node message without secrets, plus the node's `address`.
            POST (the request step's `method`): merge the request's keys into the node
            message, when the request is signed by the operator (§11.1).
    build   the name, version and source revision of this build.
    devices every device this node can load: name -> where it comes from (built in, preloaded,
            or an installed package's entry point).

The pipeline every HTTP request runs through (`dev_meta:handle/2`) and the live node message
(`NodeMessage`, found in the options under `NODE_KEY`) are `aonode.core.node`'s: this device
reads and changes that node message.

Differences from the reference (docs/compat.md):

* A POST is accepted from the operator only when the operator's signature on the HTTP
  request verified and is bound to the operator's key (the server passes the request as
  signed under `authority.VERIFIED_REQUEST`); only the keys that signature covers are
  applied, the signature must cover `path`, and each signed change is applied once (its
  commitment ID is recorded in the store under `~meta@1.0/applied/`; a replay is a 409).
  The reference trusts the `committer` a commitment claims unless `force_signed_requests`
  is set, applies every key of the request, and accepts replays.
* Only option keys are merged: the request's `path`, `method`, `commitments` and HTTP
  transport headers (`host`, `accept`, ...) are left out, and values are typed like a
  config file's (`options.coerce`). The reference merges the whole request.
* `build` names this node (`aonode`, its version and git revision), not HyperBEAM.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aonode import __version__
from aonode.core import authority, options
from aonode.core.devices import BUILTIN_DEVICES, Device, known_devices
from aonode.core.node import NODE_KEY, PERMANENT, NodeMessage, is_operator, operator_of, operator_said
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.errors import AOError
from aonode.message import is_private, normalize_key
from aonode.store import Store
from aonode.text import as_text

__all__ = ["MetaDevice"]

UNAUTHORIZED = b"Unauthorized"
UNSIGNED_PATH = (b"The operator's signature must cover the request's `path`: a change signed for "
                 b"another purpose is not a change of the node message.")

# Keys of an info POST that describe the HTTP exchange rather than the node: never merged.
_NOT_OPTIONS = frozenset({
    "path", "method", "commitments", "node_history", "accept", "accept_bundle", "accept_codec",
    "require_codec", "codec_device", "content_type", "content_length", "content_digest", "host",
    "user_agent", "accept_encoding", "connection", "ao_peer", "ao_peer_port", "x_real_ip", "cookie",
    "ao_types", "ao_ids", "ao_body_key", "body_keys", "transfer_encoding",
})


# --- the device --------------------------------------------------------------------------

def _source_revision() -> str:
    """The git commit of the source tree this package runs from, or `unknown`."""
    git = Path(__file__).resolve().parents[2] / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return "unknown"


_BUILD: dict[str, Any] = {}


def _build_info() -> dict[str, Any]:
    if not _BUILD:
        source = _source_revision()
        try:
            built = int(Path(__file__).resolve().parent.parent.joinpath("__init__.py").stat().st_mtime)
        except OSError:
            built = 0
        _BUILD.update({
            "node": b"aonode",
            "version": __version__.encode(),
            "source": source.encode(),
            "source-short": source[:7].encode(),
            "build-time": built,
        })
    return dict(_BUILD)


def _holder(opts: Mapping[str, Any]) -> NodeMessage | None:
    found = opts.get(NODE_KEY)
    return found if isinstance(found, NodeMessage) else None


def _changes(said: Mapping[str, Any]) -> dict[str, Any]:
    """The option keys an info POST sets, typed like a config file's."""
    raw = {k: v for k, v in said.items()
           if not is_private(normalize_key(k)) and options.config_key(k) not in _NOT_OPTIONS}
    return options.coerce(raw, source="the info request")


def _store_of(opts: Mapping[str, Any]) -> Store | None:
    cache = opts.get("cache")
    store = getattr(cache, "store", None)
    return store if isinstance(store, Store) else None


class MetaDevice(Device):
    """`meta@1.0`: `info` (read or change the node message) and `build`."""

    name = "meta@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["info", "build", "devices"]}

    def info(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        holder = _holder(opts)
        node = holder.current() if holder is not None else opts
        if as_text(request.get("method", b"GET"), errors="replace", atoms=True).upper() == "POST":
            # The operator comes from the node message; the verified signers from this request.
            context = {**node, **{k: opts[k] for k in (authority.VERIFIED_REQUEST, "cache") if k in opts}}
            return self._update(request, context, holder)
        view = options.public_view(options.with_defaults(node))
        wallet = node.get("priv_wallet")
        if isinstance(wallet, Wallet):
            view["address"] = wallet.address
        return Result("ok", {**view, "status": 200})

    def _update(self, request: Mapping[str, Any], node: Mapping[str, Any], holder: NodeMessage | None) -> Result:
        if options.get(node, "initialized") == "permanent":
            return Result("error", PERMANENT)
        if not is_operator(request, node):
            return Result("error", UNAUTHORIZED)
        if holder is None:
            return Result("error", b"This node message is not held by a server: it cannot be changed.")
        operator = operator_of(node)
        change: str | None = None
        # Only what the operator signed is applied, and each signed change once.
        said = operator_said(request, node)
        if operator != "unclaimed":
            if "path" not in said:
                return Result("error", {"status": 400, "ao-result": b"body", "body": UNSIGNED_PATH})
            change = authority.change_id(request, node, operator)
        # The history keeps the operator's signature on what was applied.
        signed = authority.authority(request, node)
        entry = {k: v for k, v in signed.items()
                 if (k in said or k == "commitments") and k != "node_history" and not is_private(k)}
        try:
            length = holder.adopt(_changes(said), entry, once=change, store=_store_of(node))
        except AOError as exc:
            return Result("error", {"status": exc.status, "ao-result": b"body", "body": exc.message.encode()})
        return Result("ok", {
            "body": f"Node message updated. History: {length} updates.".encode(),
            "history-length": length,
        })

    def build(self) -> dict[str, Any]:
        return _build_info()

    def devices(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        holder = _holder(opts)
        node = holder.current() if holder is not None else opts
        preloaded = node.get("preloaded_devices")
        out: dict[str, Any] = {}
        for name in known_devices(node):
            if isinstance(preloaded, Mapping) and name in preloaded:
                found = preloaded[name]
                out[name] = (found if isinstance(found, str) else "preloaded").encode()
            elif name in BUILTIN_DEVICES:
                out[name] = BUILTIN_DEVICES[name].encode()
            else:
                out[name] = b"entry point"
        return out
