"""The node's request pipeline (`dev_meta:handle/2`, resolution-paths-cache-node.md §10.3,
§11.1) and the live node message it runs with.

`handle(singleton, node, runtime)` parses the singleton into messages, refuses everything but
`meta@1.0` `info` on an uninitialized node, runs the `request` hook, resolves the messages with
the HTTP options, embeds an HTTP status in the result and runs the `response` hook. Signing and
encoding the answer belong to the HTTP layer; `info` and the other keys of the node's own device
belong to `meta@1.0` (`aonode.devices.meta`), which this module reaches through the device
registry only.

The live node message is a `NodeMessage` owned by the server. The server puts it in the node
message itself under `NODE_KEY` (a private key: `info` never shows it), so that devices, which
receive options like everything else, can read and change it. Who may change it is the node's
operator (`is_operator`, `operator_said`).

A path that is one device step alone (`/~message@1.0&k=v`) answers with that message; the
reference answers 500 (docs/compat.md).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aonode.codecs import committed_keys
from aonode.core import _node_changes, authority, hooks, hyperpath, options
from aonode.core.devices import load_device
from aonode.core.resolver import resolve_many
from aonode.core.terms import As, Result
from aonode.crypto import Wallet
from aonode.errors import Conflict, Forbidden
from aonode.message import Atom, is_private
from aonode.store import Store
from aonode.text import as_text

__all__ = [
    "HOPS_KEY",
    "HOPS_OPTION",
    "META_DEVICE",
    "NODE_KEY",
    "STATUS_CODES",
    "NodeMessage",
    "embed_status",
    "handle",
    "is_operator",
    "operator_of",
    "operator_said",
    "status_code",
]

NODE_KEY = "priv_node_message"
"""The option under which the server keeps the live `NodeMessage` (private, so never shown)."""

META_DEVICE = "meta@1.0"
"""The node's own device: the one an uninitialized node still serves (`info`)."""

# How many relays a request has come through: every outbound relay carries the count it arrived
# with plus one, beside the message (never signed over, like `ao-peer-port`: signatures hold).
HOPS_KEY = "ao-relay-hops"
# The runtime option under which the pipeline passes the inbound request's HOPS_KEY to the
# devices (relay@1.0 stops a loop; private: never shown, never sent).
HOPS_OPTION = "priv_relay_hops"

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
EMPTY_PATH = b"The request's path is empty: there is nothing to resolve. Name a key, an ID or a device."
# Store paths recording the signed changes applied (one each), so that a replay is refused.
APPLIED = "~meta@1.0/applied"


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


def _applied_path(change: str) -> str:
    return f"{APPLIED}/{change}"


# --- statuses (§10.3 embed_status) --------------------------------------------------------

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
    text = as_text(raw, errors="replace", atoms=True).strip()
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

def operator_of(opts: Mapping[str, Any]) -> str:
    """The node's operator: the `operator` option, else the node wallet's address, else `unclaimed`."""
    found = options.get(opts, "operator")
    if found is None:
        wallet = opts.get("priv_wallet")
        return wallet.address if isinstance(wallet, Wallet) else "unclaimed"
    return as_text(found, errors="replace", atoms=True)


def is_operator(request: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether `request` may change the node message (`dev_meta:is(admin, ...)`).

    The operator is the `operator` option, else the node wallet's address. `unclaimed` lets
    anyone (even unsigned requests) through; otherwise the operator must be among the
    request's verified, key-bound signers (`authority.signed_by`).
    """
    operator = operator_of(opts)
    return operator == "unclaimed" or operator in authority.signed_by(request, opts)


def operator_said(request: Mapping[str, Any], opts: Mapping[str, Any]) -> Mapping[str, Any]:
    """The keys of `request` the operator vouches for: all of them on an `unclaimed` node,
    else those the operator's verified signature covers (empty when the operator did not sign)."""
    operator = operator_of(opts)
    return request if operator == "unclaimed" else authority.vouched(request, opts, operator)


# --- the request pipeline (§10.3) --------------------------------------------------------

def _is_meta_device(value: Any) -> bool:
    return isinstance(value, (bytes, str)) and as_text(value, errors="replace") == META_DEVICE


def _initialize_only(steps: list[Any], opts: Mapping[str, Any]) -> Result:
    """`handle_initialize`: on an uninitialized node only `meta@1.0` `info` is served."""
    for i, step in enumerate(steps):
        base = {"device": b"meta@1.0"} if isinstance(step, As) and _is_meta_device(step.device) else step
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if (isinstance(base, Mapping) and _is_meta_device(base.get("device"))
                and isinstance(nxt, Mapping) and as_text(nxt.get("path", b""), errors="replace", atoms=True) == "info"):
            # The built-in meta@1.0, by the registry (no preloaded device stands in for it here).
            meta: Any = load_device(META_DEVICE, {})
            result: Result = meta.info(base, nxt, opts)
            return result
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
    if HOPS_KEY in singleton:  # how many relays brought the request: relay@1.0 stops a loop
        runtime = {**runtime, HOPS_OPTION: singleton[HOPS_KEY]}
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
