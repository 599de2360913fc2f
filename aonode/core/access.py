"""Reading and writing keys through devices (`hb_ao:get/set/remove/keys`,
resolution-paths-cache-node.md §3.1 and §3.6).

These run ordinary resolutions (`path: set`, `path: remove`, ...) with internal options
(no hashpath, no caching), so a device's own `set` or `keys` is honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.path import parts
from aonode.core.resolver import internal_opts, resolve
from aonode.core.terms import As, Result
from aonode.errors import AOError, NotFound
from aonode.message import Atom, erlang_key_order, is_private, normalize_key

__all__ = ["get", "get_first", "keys", "remove", "set_key", "set_values", "unwrap"]

_MISSING: Any = object()


def unwrap(result: Result, what: str = "resolution") -> Any:
    """The value of an `ok` result.

    Raises:
        AOError: the result is not `ok` (NotFound for `{error, not_found}`).
    """
    if result.status == "ok":
        return result.value
    value = result.value
    if isinstance(value, Mapping) and isinstance(value.get("status"), int):
        body = value.get("body", b"")
        raise AOError(f"{what} failed: {body!r}", status=value["status"])
    if value == Atom("not_found"):
        raise NotFound(f"{what}: not found")
    raise AOError(f"{what} failed with status {result.status}: {value!r}")


def get(path: Any, msg: Any, default: Any = None, opts: Mapping[str, Any] | None = None) -> Any:
    """The value at `path` in `msg` resolved through its device, or `default` when the
    resolution does not succeed. `msg` may be `As(device, message)`."""
    opts = opts if opts is not None else {}
    if isinstance(msg, As):
        msg = set_key(msg.message, "device", msg.device, opts)
    result = resolve(msg, {"path": path}, {**opts, "spawn_worker": False})
    return result.value if result.status == "ok" else default


def get_first(pairs: list[tuple[Any, Any]], default: Any = None, opts: Mapping[str, Any] | None = None) -> Any:
    """The first `get(path, base)` over `(base, path)` pairs that finds something."""
    for base, path in pairs:
        found = get(path, base, _MISSING, opts)
        if found is not _MISSING:
            return found
    return default


def keys(msg: Any, opts: Mapping[str, Any] | None = None, *, remove_core: bool = False) -> list[str]:
    """The public keys of a message, as its device reports them.

    With `remove_core`, `path`, `hashpath` and `priv` are dropped too.
    """
    found = get("keys", msg, [], opts)
    if isinstance(found, Mapping):
        found = list(found.values())
    out = [normalize_key(k) for k in found if not is_private(normalize_key(k))]
    if remove_core:
        out = [k for k in out if k not in ("path", "hashpath")]
    return out


def _device_set(msg: Any, key: str, value: Any, mode: str, opts: Mapping[str, Any]) -> Any:
    if key == "path":
        request: dict[str, Any] = {"path": "set_path", "value": value}
    elif key == "/" and isinstance(value, Mapping):
        request = {**value, "path": "set"}
    else:
        request = {"path": "set", key: value}
    if mode == "explicit":
        request["set-mode"] = b"explicit"
    return unwrap(resolve(msg, request, internal_opts(opts)), f"set {key!r}")


def _deep_set(msg: Any, path: list[Any], value: Any, opts: Mapping[str, Any]) -> Any:
    if not path:
        if isinstance(msg, (Mapping, list)):
            return _device_set(msg, "/", value, "deep", opts)
        return value
    key = normalize_key(path[0])
    if len(path) == 1:
        return _device_set(msg, key, value, "deep", opts)
    sub = resolve(msg, {"path": key}, internal_opts(opts))
    if sub.status == "ok":
        return _device_set(msg, key, _deep_set(sub.value, path[1:], value, opts), "explicit", opts)
    return {**msg, key: _deep_set({}, path[1:], value, opts)}


def set_key(msg: Any, key: Any, value: Any, opts: Mapping[str, Any] | None = None) -> Any:
    """`msg` with `key` (a path such as `"a/b"` sets a nested key) set to `value`, through
    the device's `set`. The value `Atom("unset")` removes the key."""
    return _deep_set(msg, parts(key) or [], value, opts if opts is not None else {})


def set_values(msg: Any, values: Mapping[str, Any], opts: Mapping[str, Any] | None = None) -> Any:
    """`msg` with every public key of `values` set on it, in the order the reference iterates
    maps.

    The reference sets one key at a time; the plain keys (no `/`, not `path`) are set here in
    one `set` request instead, which gives the same message (distinct keys do not interact) in
    time linear in the number of keys rather than quadratic. Paths and `path` follow, one at a
    time, as in the reference.
    """
    opts = opts if opts is not None else {}
    todo = {normalize_key(k): v for k, v in values.items() if k not in ("hashpath", "priv")}
    ordered = [k for k in erlang_key_order(list(todo)) if not is_private(k)]
    plain = {k: todo[k] for k in ordered if k != "path" and "/" not in k}
    if len(plain) > 1 and isinstance(msg, Mapping):
        msg = _device_set_many(msg, plain, opts)
    else:
        plain = {}
    for key in ordered:
        if key not in plain:
            msg = set_key(msg, key, todo[key], opts)
    return msg


def _device_set_many(msg: Any, values: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    return unwrap(resolve(msg, {**values, "path": "set"}, internal_opts(opts)), f"set {len(values)} keys")


def remove(msg: Any, key: Any, opts: Mapping[str, Any] | None = None) -> Any:
    """`msg` without `key` (through the device's `remove`)."""
    opts = opts if opts is not None else {}
    return unwrap(resolve(msg, {"path": "remove", "item": normalize_key(key)}, internal_opts(opts)), "remove")
