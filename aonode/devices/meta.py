"""`meta@1.0`: the node's own device, and the pipeline every HTTP request runs through
(`dev_meta`, resolution-paths-cache-node.md §10.3, §11.1).

    info    GET: the node message without secrets, plus the node's `address`.
            POST (the request step's `method`): merge the request's keys into the node
            message, when the request is signed by the operator (§11.1).
    build   the name, version and source revision of this build.
    devices every device this node can load: name -> where it comes from (built in, preloaded,
            or an installed package's entry point).

`handle(singleton, node, runtime)` is `dev_meta:handle/2`: it parses the singleton into
messages, refuses everything but `info` on an uninitialized node, runs the `request` hook,
resolves the messages with the HTTP options, embeds an HTTP status in the result and runs
the `response` hook. Signing and encoding the answer belong to the HTTP layer.

The live node message is a `NodeMessage` owned by the server. The server puts it in the
node message itself under `NODE_KEY` (a private key: `info` never shows it), so that this
device, which receives options like every other device, can read and change it.

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
* A path that is one device step alone (`/~message@1.0&k=v`) answers with that message; the
  reference answers 500.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aonode import __version__
from aonode.codecs import committed_keys
from aonode.core import authority, hooks, hyperpath, options
from aonode.core.devices import BUILTIN_DEVICES, Device, known_devices
from aonode.core.resolver import resolve_many
from aonode.core.terms import As, Result
from aonode.crypto import Wallet
from aonode.devices import _node_changes, relay
from aonode.errors import AOError, Conflict, Forbidden
from aonode.message import Atom, is_private, normalize_key
from aonode.store import Store

__all__ = [
    "NODE_KEY",
    "STATUS_CODES",
    "MetaDevice",
    "NodeMessage",
    "embed_status",
    "handle",
    "is_operator",
    "operator_said",
    "status_code",
]

NODE_KEY = "priv_node_message"
"""The option under which the server keeps the live `NodeMessage` (private, so never shown)."""

# `dev_meta:status_code/2` (§10.3); any other status name is 200.
STATUS_CODES: Mapping[str, int] = {
    "ok": 200,
    "error": 400,
    "created": 201,
    "not_found": 404,
    "failure": 500,
    "unavailable": 503,
    "unauthorized": 401,
    "forbidden": 403,
}

log = logging.getLogger("aonode.meta")

UNINITIALIZED = b"Node must be initialized before use."
PERMANENT = b"The node message of this machine is already permanent. It cannot be changed."
UNAUTHORIZED = b"Unauthorized"
EMPTY_PATH = b"The request's path is empty: there is nothing to resolve. Name a key, an ID or a device."
UNSIGNED_PATH = (b"The operator's signature must cover the request's `path`: a change signed for "
                 b"another purpose is not a change of the node message.")
# Store paths recording the signed changes applied (one each), so that a replay is refused.
APPLIED = "~meta@1.0/applied"

# Keys of an info POST that describe the HTTP exchange rather than the node: never merged.
_NOT_OPTIONS = frozenset({
    "path", "method", "commitments", "node_history", "accept", "accept_bundle", "accept_codec",
    "require_codec", "codec_device", "content_type", "content_length", "content_digest", "host",
    "user_agent", "accept_encoding", "connection", "ao_peer", "ao_peer_port", "x_real_ip", "cookie",
    "ao_types", "ao_ids", "ao_body_key", "body_keys", "transfer_encoding",
})


class NodeMessage:
    """The live node message of a running node: read by every request, changed by `info` POSTs.

    `current()` returns a dict that is never mutated afterwards (changes build a new one), so
    readers need no lock. The holder stores itself in the message under `NODE_KEY`.

    Devices that start background work for the node (`cron@1.0` tasks) register a callback
    with `on_close`; the server calls `close()` when the node shuts down.

    Worker processes of one node (`aonode serve --workers N`) each hold one; they share the
    changes through the store (`_node_changes`): `adopt` appends to the log of the node's run
    (the `priv_node_run` option, the same in every worker) and `catch_up` applies what other
    workers appended.
    """

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self._lock = threading.Lock()
        self._opts: dict[str, Any] = {**opts, NODE_KEY: self}
        self._on_close: list[Callable[[], None]] = []
        self._closed = False
        self._applied: set[str] = set()
        self._run = str(opts.get("priv_node_run") or uuid.uuid4().hex)
        self._seen = 0  # entries of the run's change log applied here

    def __repr__(self) -> str:
        return f"NodeMessage({len(self._opts)} options)"

    def current(self) -> dict[str, Any]:
        """The node message now. Treat it as read-only."""
        return self._opts

    @property
    def closed(self) -> bool:
        """Whether the node has shut down (`close()` was called)."""
        return self._closed

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the node shuts down (at once if it already has)."""
        with self._lock:
            if not self._closed:
                self._on_close.append(callback)
                return
        callback()

    def close(self) -> None:
        """Run the shutdown callbacks, newest first. A failing callback is logged and skipped."""
        with self._lock:
            self._closed = True
            callbacks, self._on_close = self._on_close[::-1], []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a shutdown callback of the node failed")

    def _record_once(self, change: str, store: Store | None) -> None:
        if change in self._applied or (store is not None and store.type(_applied_path(change)) is not None):
            raise Conflict(f"this change ({change}) was applied already: a signed change is applied once; "
                           "sign a new message to change the node again")
        if store is not None:
            with store.transaction():
                store.write(_applied_path(change), b"applied")
        self._applied.add(change)

    def replace(self, opts: Mapping[str, Any]) -> None:
        """Replace the whole node message (the `start` hook's result)."""
        with self._lock:
            self._opts = {**opts, NODE_KEY: self}

    def adopt(self, changes: Mapping[str, Any], entry: Mapping[str, Any], *, once: str | None = None,
              store: Store | None = None) -> int:
        """Merge `changes` into the node message and append `entry` to `node_history` (`set_opts/2`).

        Args:
            once: the ID of the signed change; a change whose ID was applied before, on this
                node since its store was made, is refused (a replay).
            store: where applied IDs are recorded, durably before the change takes effect.

        Returns:
            The new length of `node_history`.

        Raises:
            Forbidden: the node message is permanent (`initialized: permanent`).
            Conflict: the change `once` names was applied already.
        """
        kept = {k: v for k, v in changes.items() if not is_private(k)}
        with self._lock:
            if store is not None:
                self._catch_up(store)
            if options.get(self._opts, "initialized") == "permanent":
                raise Forbidden(PERMANENT.decode())
            if once is not None:
                self._record_once(once, store)
            if store is None:
                self._apply(kept, entry)
            else:
                # Applied from the log, after any change another worker made first: every
                # worker takes the changes in the same order.
                _node_changes.append(self._run, kept, entry, store)
                self._catch_up(store)
            return len(options.get(self._opts, "node_history") or [])

    def catch_up(self, store: Store | None) -> None:
        """Apply the changes other workers of this node made since this one last looked."""
        if store is None or _node_changes.count(self._run, store) <= self._seen:
            return
        with self._lock:
            self._catch_up(store)

    def _catch_up(self, store: Store) -> None:
        for number in range(self._seen + 1, _node_changes.count(self._run, store) + 1):
            changes, entry = _node_changes.read(self._run, number, store)
            self._apply(changes, entry)
            self._seen = number

    def _apply(self, changes: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        old = self._opts
        new = {**old, **changes}
        new["node_history"] = [*(options.get(old, "node_history") or []), dict(entry)]
        new[NODE_KEY] = self
        self._opts = new


# --- statuses (§10.3 embed_status) --------------------------------------------------------

def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Atom):
        return value.name
    return str(value)


def _message_status(value: Any) -> int | None:
    """`message_to_status`: the status a result message names for itself, if any."""
    if isinstance(value, Atom):
        return STATUS_CODES.get(value.name, 200)
    if not isinstance(value, Mapping):
        return None
    body = value.get("body")
    if isinstance(body, Atom):
        return STATUS_CODES.get(body.name, 200)
    raw = value.get("status")
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return raw
    text = _text(raw).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return STATUS_CODES.get(text)


def status_code(result: Result) -> int:
    """The HTTP status of a resolution result: the message's own, else its status name's."""
    found = _message_status(result.value)
    return found if found is not None else STATUS_CODES.get(result.status, 200)


def embed_status(result: Result) -> dict[str, Any]:
    """The result as a message carrying its HTTP `status` (`embed_status/2`).

    A map keeps a `status` its commitments cover; any other map gets the computed status; a
    value that is not a map becomes `{status, body: value}`.
    """
    value = result.value
    if isinstance(value, Mapping):
        if "status" in value and "status" in committed_keys(dict(value), "all"):
            return dict(value)
        return {**value, "status": status_code(result)}
    return {"status": status_code(result), "body": value}


def _force_message(result: Result) -> Result:
    """`hb_ao:force_message`: a literal becomes `{ao-result: body, body: value}`."""
    if isinstance(result.value, Mapping):
        return result
    return Result(result.status, {"ao-result": b"body", "body": result.value})


# --- the operator ----------------------------------------------------------------------

def _operator(opts: Mapping[str, Any]) -> str:
    found = options.get(opts, "operator")
    if found is None:
        wallet = opts.get("priv_wallet")
        return wallet.address if isinstance(wallet, Wallet) else "unclaimed"
    return _text(found)


def is_operator(request: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether `request` may change the node message (`dev_meta:is(admin, ...)`).

    The operator is the `operator` option, else the node wallet's address. `unclaimed` lets
    anyone (even unsigned requests) through; otherwise the operator must be among the
    request's verified, key-bound signers (`authority.signed_by`).
    """
    operator = _operator(opts)
    return operator == "unclaimed" or operator in authority.signed_by(request, opts)


def operator_said(request: Mapping[str, Any], opts: Mapping[str, Any]) -> Mapping[str, Any]:
    """The keys of `request` the operator vouches for: all of them on an `unclaimed` node,
    else those the operator's verified signature covers (empty when the operator did not sign)."""
    operator = _operator(opts)
    return request if operator == "unclaimed" else authority.vouched(request, opts, operator)


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


def _applied_path(change: str) -> str:
    return f"{APPLIED}/{change}"


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
        if _text(request.get("method", b"GET")).upper() == "POST":
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
        operator = _operator(node)
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


# --- the request pipeline (§10.3) --------------------------------------------------------

def _is_meta_device(value: Any) -> bool:
    return isinstance(value, (bytes, str)) and _text(value) == MetaDevice.name


def _initialize_only(steps: list[Any], opts: Mapping[str, Any]) -> Result:
    """`handle_initialize`: on an uninitialized node only `meta@1.0` `info` is served."""
    for i, step in enumerate(steps):
        base = {"device": b"meta@1.0"} if isinstance(step, As) and _is_meta_device(step.device) else step
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if (isinstance(base, Mapping) and _is_meta_device(base.get("device"))
                and isinstance(nxt, Mapping) and _text(nxt.get("path", b"")) == "info"):
            return MetaDevice().info(base, nxt, opts)
    return Result("error", UNINITIALIZED)


def _http_opts(node: Mapping[str, Any], runtime: Mapping[str, Any]) -> dict[str, Any]:
    extra = options.get(node, "http_extra_opts") or {}
    return {
        **node,
        **runtime,
        **{options.option_key(k): v for k, v in extra.items()},
        "force_message": True,
    }


def _hook(name: str, singleton: Mapping[str, Any], body: Any, opts: Mapping[str, Any]) -> Result:
    """`resolve_hook`: `ok` with the hook's new `body`, or the error that halts the request."""
    result = hooks.on(name, {"request": singleton, "body": body}, opts)
    if result.status == "ok" and isinstance(result.value, Mapping) and "body" in result.value:
        return Result("ok", result.value["body"])
    if result.status in ("ok", "error"):
        return Result("error", result.value)
    return result


def handle(singleton: Mapping[str, Any], node: NodeMessage, runtime: Mapping[str, Any] | None = None
           ) -> dict[str, Any]:
    """Run one HTTP request through the node (`dev_meta:handle/2`) and return the result message.

    Args:
        singleton: the request as one message (`aonode.http` builds it), with `path` and `method`.
        node: the live node message.
        runtime: per-process options that are not part of the node message (the message
            cache, the request's verified signers).

    Returns:
        The result with an HTTP `status` (§10.3 embed_status); not yet signed.

    Raises:
        BadMessage: the path does not parse.
        AOError: a device raised (the caller turns it into an error response).
    """
    runtime = runtime or {}
    if relay.HOPS_KEY in singleton:  # how many relays brought the request: relay@1.0 stops a loop
        runtime = {**runtime, relay.HOPS_OPTION: singleton[relay.HOPS_KEY]}
    opts = {**node.current(), **runtime}
    steps = hyperpath.parse(singleton)
    if options.get(opts, "initialized") is False:
        return embed_status(_force_message(_initialize_only(steps, opts)))
    hooked = _hook("request", singleton, steps, opts)
    if hooked.status != "ok":
        return embed_status(_force_message(hooked))
    messages = hooked.value
    if isinstance(messages, list) and not messages:
        # The hooks routed nothing either (`/?a=1`): the client's request names nothing.
        return embed_status(Result("error", {"status": 400, "body": EMPTY_PATH}))
    if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], As):
        # `/~dev@1.0&k=v` alone: the message itself. The reference returns the `{as, ...}`
        # tuple, which it then fails to encode (a 500).
        messages = messages[0]
    # Hooks may have changed the node message: read it again (`get_opts`).
    result = resolve_many(messages, _http_opts(node.current(), runtime))
    message = embed_status(result)
    answered = _hook("response", singleton, message, {**node.current(), **runtime})
    return embed_status(_force_message(answered))
