"""`message@1.0`: the device of every message that names no other (resolution-paths-cache-node.md §5).

Any key that is not one of its functions reads that key from the message: exactly, then
with the requested key lower-cased (so `A` finds `a`, but `a` does not find `A`, as in the
reference). Private keys (`priv...`) are never readable. The functions:

    keys        the public keys
    set         merge new values in (deep unless `set-mode: explicit`); `unset` removes
    set_path    replace `path` (the `path` key cannot go through `set`)
    remove      drop `item` or `items`
    id          the message ID, selecting commitments by `committers` / `commitments`
    commit      sign with the node's wallet (`priv_wallet` option)
    committed   the keys every selected commitment covers
    committers  the committer addresses
    verify      check the selected commitments
    index       resolve the node's `default_index` on the message
    get         the value of the request's `key` (the reference crashes here; see docs/compat.md)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import commit as sign
from aonode.codecs import committed_keys, message_id, signers, to_tabm
from aonode.codecs import verify as check
from aonode.core.devices import Device
from aonode.core.path import parts
from aonode.core.terms import NOT_FOUND, As, Result
from aonode.errors import AOError, InvalidSignature, Unauthorized, Unsupported
from aonode.message import Atom, erlang_key_order, is_private
from aonode.text import key_text

__all__ = ["ABSENT", "DEVICE_KEYS", "MessageDevice", "deep_merge", "lookup"]

# Keys `set` never writes: they are this device's functions or carry the message's identity.
DEVICE_KEYS = frozenset({"id", "commitments", "committers", "keys", "path", "set", "remove", "verify"})

UNSET = Atom("unset")
UNDEFINED = Atom("undefined")


def lookup(key: str, msg: Mapping[str, Any]) -> Any:
    """The value of `key` in `msg` by the asymmetric case-insensitive rule, or `ABSENT`."""
    if key in msg:
        return msg[key]
    lowered = key.lower()
    if lowered in msg:
        return msg[lowered]
    return ABSENT


ABSENT: Any = object()


def _deep_get(path: list[str], msg: Mapping[str, Any]) -> Any:
    for i, key in enumerate(path):
        if not isinstance(msg, Mapping) or key not in msg:
            return ABSENT
        if i == len(path) - 1:
            return msg[key]
        msg = msg[key]
    return ABSENT


def _deep_set(path: list[str], value: Any, msg: dict[str, Any]) -> dict[str, Any]:
    key = path[0]
    if len(path) == 1:
        if value == UNSET:
            msg.pop(key, None)
        elif isinstance(msg.get(key), Mapping) and isinstance(value, Mapping):
            msg[key] = {**msg[key], **value}
        else:
            msg[key] = value
        return msg
    sub = msg.get(key)
    msg[key] = _deep_set(path[1:], value, dict(sub) if isinstance(sub, Mapping) else {})
    return msg


def deep_merge(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`hb_util:deep_merge`: keys of `new` are paths; nested maps merge, other values replace."""
    out = dict(base)
    for key in erlang_key_order(list(new)):
        value = new[key]
        if value == UNDEFINED:
            continue
        path = parts(key) or [key]
        existing = _deep_get(path, out)
        if isinstance(existing, Mapping) and isinstance(value, Mapping):
            value = deep_merge(existing, value)
        out = _deep_set(path, value, out)
    return out


def _selector(value: Any) -> Any:
    # A map is a signed request's own `commitments`, not a choice of commitments.
    if value is None or isinstance(value, Mapping):
        return "none"
    if isinstance(value, list):
        return [key_text(v, errors="surrogateescape") for v in value]
    text = key_text(value, errors="surrogateescape")
    return text if text in ("none", "all") else [text]


def _target(base: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
    target = request.get("target")
    if target is None or key_text(target, errors="surrogateescape") == "self":
        return base
    found = request.get(key_text(target, errors="surrogateescape"))
    return found if found is not None else request.get("body", base)


def _same_on_the_wire(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two messages encode alike, private keys aside: setting a committed key to the
    value it has (`"process@1.0"` over `b"process@1.0"`, as a `~process@1.0` cast does) keeps
    the commitments, so the message keeps its ID (a process its identity)."""
    public = [{k: v for k, v in m.items() if k != "priv"} for m in (one, other)]
    if public[0] == public[1]:
        return True
    try:
        return to_tabm(public[0]) == to_tabm(public[1])
    except (AOError, TypeError):
        return False


class MessageDevice(Device):
    """The default device: a message as a plain map of keys."""

    name = "message@1.0"

    def device_info(self, base: Any = None, opts: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        return {"default": self._get}

    def _get(self, key: str, base: Mapping[str, Any]) -> Any:
        if is_private(key):
            return NOT_FOUND
        found = lookup(key, base)
        return NOT_FOUND if found is ABSENT else Result("ok", found)

    def get(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
        key = request.get("key")
        if key is None:
            return NOT_FOUND
        return self._get(key_text(key, errors="surrogateescape"), base)

    def keys(self, base: Mapping[str, Any]) -> list[bytes]:
        return [k.encode() for k in erlang_key_order([k for k in base if not is_private(k)])]

    def set(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        original_priv = base.get("priv")
        to_set = [
            k for k in request
            if not is_private(k) and k not in DEVICE_KEYS and k != "set-mode" and request[k] != UNDEFINED
        ]
        unset = {k for k, v in request.items() if k in base and v == UNSET}
        values = {k: request[k] for k in to_set if request[k] != UNSET}
        kept = {k: v for k, v in base.items() if k not in unset}
        if key_text(request.get("set-mode", b"deep"), errors="surrogateescape") == "explicit":
            merged = {**kept, **values}
        else:
            merged = deep_merge(kept, values)
        merged.pop("priv", None)
        if original_priv is not None:
            merged["priv"] = original_priv
        if "commitments" in merged and set(to_set) & set(committed_keys(dict(base), committers="all")):
            if not _same_on_the_wire(merged, base):
                merged.pop("commitments")
        return merged

    def set_path(self, base: Mapping[str, Any], request: Any) -> dict[str, Any]:
        value = request.get("value") if isinstance(request, Mapping) else request
        out = dict(base)
        if out.get("path") != value and "commitments" in out and "path" in committed_keys(out, committers="all"):
            out.pop("commitments")
        if value == UNSET:
            out.pop("path", None)
        else:
            out["path"] = value
        return out

    def remove(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        if "item" in request:
            drop = {key_text(request["item"], errors="surrogateescape")}
        else:
            items = request.get("items", [])
            listed = items.values() if isinstance(items, Mapping) else items
            drop = {key_text(i, errors="surrogateescape") for i in listed}
        return {k: v for k, v in base.items() if k not in drop}

    def id(self, base: Any, request: Mapping[str, Any]) -> bytes:
        committers = _selector(request.get("committers"))
        commitments = _selector(request.get("commitments"))
        return message_id(dict(base), committers=committers, commitments=commitments).encode()

    def committers(self, base: Mapping[str, Any]) -> list[bytes]:
        return [s.encode() for s in signers(dict(base))]

    def committed(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> list[bytes]:
        target = _target(base, request)
        committers = _selector(request.get("committers"))
        return [k.encode() for k in committed_keys(dict(target), committers=committers)]

    def commit(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
        device = key_text(request.get("commitment-device", opts.get("commitment_device", "httpsig@1.0")),
                          errors="surrogateescape")
        if device != "httpsig@1.0":
            raise Unsupported(f"commit with device {device!r} is not supported")
        kind = key_text(request.get("type", b"signed"), errors="surrogateescape")
        wallet = opts.get("priv_wallet")
        if kind == "signed" and wallet is None:
            raise Unauthorized("this node has no wallet to sign with")
        return sign(dict(_target(base, request)), wallet, type=kind)

    def verify(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
        target = _target(base, request)
        if not isinstance(target, Mapping):
            return False
        try:
            check(
                dict(target),
                committers=_selector(request.get("committers")),
                commitments=_selector(request.get("commitments")),
            )
        except InvalidSignature:
            return False
        return True

    def index(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        from aonode.core.resolver import resolve

        default_index = opts.get("default_index")
        if default_index is None:
            return Result("error", b"No default index message set.")
        path = opts.get("default_index_path", "index")
        if isinstance(default_index, Mapping):
            path = default_index.get("path", path)
            target: Any = {**base, **default_index}
        else:
            target = As(default_index, dict(base))
        return resolve(target, {**request, "path": path}, opts)
