"""The AO-Core resolver: `resolve(base, request)` and everything it implies
(resolution-paths-cache-node.md §3).

`resolve(base, request, opts)` splits the request's path into one step per key and folds
`resolve_many` over them. Each step runs the stages of §3.3:

 1. normalisation: links are loaded, `As` and `Resolve` forms are rewritten or evaluated,
    lists become numbered maps, a bare request becomes `{"path": request}`;
 2. cache lookup: only for a base given by ID (§8.6); a hit ends the step;
 3. validation: base and request must be maps by now, else `NOT_FOUND`;
 4. grouping: concurrent identical executions share one computation (§12, `inflight`);
 5. device and function lookup (§3.4, `devices.find`);
 6. execution, with the argument list cut to the function's arity; a bare return value
    means `ok`; `force_message` wraps literals for HTTP;
 7. the `step` hook, if the options carry one;
 8. a `Resolve` result is resolved in turn;
 9. the hashpath: `priv.hashpath` of an `ok` map result becomes `hashpath(base, request)`;
10. result caching, when cache-control allows it.

The resolver does no I/O itself: the message cache, if any, arrives in `opts["cache"]`
(an object with the methods of `Cache`). Device exceptions propagate to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aonode.codecs import hashpath as compute_hashpath
from aonode.core import cache_control, devices, inflight
from aonode.core.path import parts
from aonode.core.terms import NOT_FOUND, As, Resolve, Result
from aonode.errors import AOError, BadMessage, EncodeError, NotFound
from aonode.message import Atom, Link, is_id, normalize_key

__all__ = ["Cache", "TEMP_OPTS", "internal_opts", "resolve", "resolve_many", "resolve_path", "ensure_loaded"]

# Options that describe one call, not the node: device code never sees them (§3.3 stage 6).
TEMP_OPTS = ("add_key", "force_message", "cache_control", "spawn_worker", "trace")


class Cache(Protocol):
    """What the resolver needs from the message cache (`aonode.store.MessageCache`)."""

    def read(self, path: str) -> Any: ...

    def read_resolved(self, base: Any, request: Any) -> Any: ...

    def write(self, msg: Any) -> str: ...

    def write_binary(self, path: str, data: bytes) -> None: ...


def internal_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    """Options for plumbing calls (`set`, `remove`, `keys`): no hashpaths, no cache, no grouping."""
    return {
        **opts,
        "topic": "ao_internal",
        "hashpath": "ignore",
        "cache_control": ["no-cache", "no-store"],
        "spawn_worker": False,
        "await_inprogress": False,
    }


def _is_id(value: Any) -> bool:
    return isinstance(value, (str, bytes)) and is_id(value)


def _id_text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _raise_remote_failure(ref: str | bytes) -> None:
    """A message missing because the gateway (or remote node) failed is a 502/504 naming it."""
    from aonode.store._gateway import remote_failure

    failure = remote_failure(ref)
    if failure is not None:
        raise failure


def _load_id(ref: str | bytes, opts: Mapping[str, Any]) -> Any:
    cache = opts.get("cache")
    found = cache.read(_id_text(ref)) if cache is not None else None
    if found is None:
        _raise_remote_failure(ref)
        raise NotFound(f"necessary message {_id_text(ref)!r} not found")
    return found


def ensure_loaded(value: Any, opts: Mapping[str, Any]) -> Any:
    """`value` with a `Link` replaced by the message it points at.

    Raises:
        NotFound: the linked message is in no store.
    """
    if isinstance(value, Link):
        return _load_id(value.id, opts)
    return value


def resolve(base: Any, request: Any, opts: Mapping[str, Any] | None = None) -> Result:
    """Resolve `request` on `base`, one step per part of the request's path (`hb_ao:resolve/3`).

    Every other key of the request is copied into every step.

    Raises:
        BadMessage: the request has no path.
        AOError: a device raised.
    """
    opts = opts if opts is not None else {}
    if not isinstance(request, Mapping):
        request = {"path": request}
    path = request.get("path", request.get("Path"))
    found = parts(ensure_loaded(path, opts))
    if found is None:
        raise BadMessage("the request has no path")
    return resolve_many([base, *({**request, "path": part} for part in found)], opts)


def resolve_path(singleton: Mapping[str, Any] | str | bytes, opts: Mapping[str, Any] | None = None) -> Result:
    """Resolve a HyperPATH request (a path, or a flat message with `path`) (`hb_ao:resolve/2`)."""
    from aonode.core import hyperpath

    opts = opts if opts is not None else {}
    if not isinstance(singleton, Mapping):
        singleton = {"path": singleton}
    if "path" not in singleton:
        return Result("error", b"Attempted to resolve a message without a path.")
    return resolve_many(hyperpath.parse(singleton), opts)


def _ordered(msg: Mapping[str, Any]) -> list[Any]:
    keys = [k for k in msg if k not in ("priv", "commitments")]
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(1, len(keys) + 1)]:
        raise BadMessage("a message to resolve as a sequence needs exactly the keys 1..N")
    return [msg[str(i)] for i in range(1, len(keys) + 1)]


def resolve_many(messages: Any, opts: Mapping[str, Any] | None = None) -> Result:
    """Fold the steps of a message sequence: `[base, step1, step2, ...]` (§3.2).

    A single ID is read from the cache; a non-`ok` step ends the fold and is returned.
    """
    opts = opts if opts is not None else {}
    if isinstance(messages, list) and len(messages) == 1 and _is_id(messages[0]):
        try:
            return Result("ok", _load_id(messages[0], opts))
        except NotFound:
            return NOT_FOUND
    if isinstance(messages, Mapping):
        return resolve_many(_ordered(messages), opts)
    if isinstance(messages, As):
        return _subresolve({}, messages.device, messages.message, opts)
    if isinstance(messages, Resolve):
        return resolve_many(messages.messages, opts)
    if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], Resolve):
        return resolve_many(messages[0].messages, opts)
    if not messages:
        # Always a path a client gave that names nothing (the reference's failure is a 500).
        return Result("error", {"status": 400, "body": b"Attempted to resolve an empty message sequence."})
    current = messages[0]
    for step in messages[1:]:
        result = _stage1(current, step, opts)
        if result.status != "ok":
            return result
        current = result.value
    return Result("ok", ensure_loaded(current, opts))


def _subresolve(base: Any, device: Any, request: Any, opts: Mapping[str, Any]) -> Result:
    """Resolve `request` on `base` viewed through `device` (§3.5)."""
    from aonode.core.access import set_values

    own = request is base  # an `As` base (§3.5): its own keys are the request
    if isinstance(request, (str, bytes)) and not _is_id(request):
        request = {"path": request}
    elif _is_id(request):
        request = {"path": request}
    base = _load_id(base, opts) if _is_id(base) else ensure_loaded(base, opts)
    if device is not None:
        base = _with_device(base, device, opts)
    if isinstance(request, Mapping) and request.get("path") not in (None, b"", ""):
        return resolve(base, request, opts)
    rest = {k: v for k, v in request.items() if k != "path"} if isinstance(request, Mapping) else {}
    if rest and not (own and _sets_nothing(base, rest, opts)):
        base = set_values(base, rest, {**opts, "force_message": False})
    return Result("ok", base)


def _with_device(base: Any, device: Any, opts: Mapping[str, Any]) -> Any:
    """`set_key(base, "device", device)`: the base viewed through `device` (§3.5).

    A plain base (no `device`, `priv` or `commitments` of its own, whose `set` is
    `message@1.0`'s, no step hook) gets the key added as that `set` would add it, at the end,
    without running a resolution for it."""
    from aonode.core.access import set_key

    if (isinstance(base, dict) and isinstance(device, (str, bytes))
            and not any(k in base for k in ("device", "priv", "commitments")) and _plain_set(base, opts)):
        return {**base, "device": device}
    return set_key(base, "device", device, opts)


def _plain_set(base: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether `set` on `base` is `message@1.0`'s own, seen by no step hook."""
    on = opts.get("on")
    if isinstance(on, Mapping) and "step" in on:
        return False
    try:
        add_key, fn, device, _ = devices.find(base, "set", opts)
    except AOError:
        return False
    return (not add_key and getattr(device, "name", None) == "message@1.0"
            and type(device).__module__ == "aonode.devices.message" and getattr(fn, "__name__", "") == "set")


def _sets_nothing(base: Any, values: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether `set_values(base, values)` would give `base` back unchanged, with no device
    code run: an `As` base re-setting its own keys (the reference sets each of them again).

    True only when `message@1.0`'s own `set` would do it (the base's device has no `set` of its
    own), no step hook would see the resolution, and every key to set holds exactly that value
    already: not a path (`a/b`), not `device` (the `As` base's own device wins over the one it
    is viewed as), not `unset`. Setting a key to the value it holds changes nothing there:
    `deep_merge` of equal values is the same map, in the same key order, and commitments stay
    (`_same_on_the_wire`)."""
    if not isinstance(base, Mapping) or "device" in values:
        return False
    for key, value in values.items():
        if key in ("hashpath", "priv") or key.startswith("priv"):
            continue  # `set_values` leaves these alone
        if "/" in key or isinstance(value, Atom) and value.name == "unset" or key not in base:
            return False
        held = base[key]
        if held is not value and (type(held) is not type(value) or held != value):
            return False
    return _plain_set(base, opts)


def _stage1(base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
    """Normalise one step until base and request are maps (§3.3 stage 1), then run it."""
    while True:
        if isinstance(base, Link):
            base = ensure_loaded(base, opts)
        elif isinstance(request, Link):
            request = ensure_loaded(request, opts)
        elif isinstance(base, As):
            inner = base.message
            if _is_id(inner) or isinstance(inner, Link):
                base = As(base.device, {"path": inner})
                continue
            if isinstance(inner, Mapping) and _is_id(inner.get("path")):
                loaded = _load_id(inner["path"], opts)
                from aonode.core.access import set_key

                merged = {**loaded, **{k: v for k, v in inner.items() if k != "path"}}
                base = set_key(merged, "device", base.device, opts)
                continue
            result = _subresolve(inner, base.device, inner, opts)
            if result.status != "ok":
                return result
            base = result.value
        elif isinstance(request, Mapping) and isinstance(request.get("path"), As):
            target = request["path"]
            inner = ensure_loaded(_load_id(target.message, opts) if _is_id(target.message) else target.message, opts)
            if not isinstance(inner, Mapping):
                inner = {"path": inner}
            merged = {**{k: v for k, v in request.items() if k != "path"}, **inner}
            return _subresolve(base, target.device, merged, opts)
        elif isinstance(base, Resolve):
            result = resolve_many(base.messages, opts)
            if result.status != "ok":
                return result
            base = result.value
        elif isinstance(request, Resolve):
            result = resolve_many(request.messages, {k: v for k, v in opts.items() if k != "force_message"})
            if result.status != "ok":
                return result
            request = result.value
        elif isinstance(base, list):
            base = {str(i): v for i, v in enumerate(base, 1)}
        elif not isinstance(request, Mapping):
            request = {"path": request}
        else:
            return _stage2(base, request, opts)


def _stage2(base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    """Cache lookup for ID bases, validation, then grouping and execution (§3.3 stages 2-4)."""
    if _is_id(base):
        cache = opts.get("cache")
        lookup = cache is not None and cache_control.lookup_enabled(opts, base, request)
        if lookup and cache is not None:
            hit = cache.read_resolved(_id_text(base), request)
            if hit is not None:
                return Result("ok", hit)
            if cache_control.only_if_cached(opts, base, request):
                return Result("error", {
                    "status": 504, "cache-status": b"miss", "body": b"Computed result not available in cache.",
                })
        # Unlike the reference, an ID base is loaded even when lookups are off (§15.3 q5).
        loaded = cache.read(_id_text(base)) if cache is not None else None
        if loaded is None:
            if not lookup:
                return NOT_FOUND
            _raise_remote_failure(base)
            return Result("error", {"status": 404, "body": b"Necessary messages not found in cache."})
        base = loaded
    if not isinstance(base, Mapping):
        return NOT_FOUND
    key = _first_key(request)
    add_key, fn, device, info = devices.find(base, key, opts)
    group = inflight.group_of(info, base, request, opts)
    if group is None:
        return _execute(base, request, key, add_key, fn, opts)
    return inflight.run(group, lambda: _execute(base, request, key, add_key, fn, opts), opts)


def _first_key(request: Mapping[str, Any]) -> str:
    found = parts(request.get("path", request.get("Path")))
    if not found:
        raise BadMessage("the request has no path")
    first = found[0]
    return first if isinstance(first, str) else normalize_key(first)


def _device_opts(opts: Mapping[str, Any]) -> Mapping[str, Any]:
    if not any(k in opts for k in TEMP_OPTS):
        return opts
    keep_worker = opts.get("spawn_worker") == "recursive"
    return {k: v for k, v in opts.items() if k not in TEMP_OPTS or (k == "spawn_worker" and keep_worker)}


def _force_message(result: Result) -> Result:
    value = result.value
    if isinstance(value, list):
        return Result(result.status, {str(i): v for i, v in enumerate(value, 1)})
    if isinstance(value, Resolve):
        return result
    if isinstance(value, Mapping):
        if set(value) == {"status", "body"} and normalize_key(value["status"]) == result.status:
            return Result(result.status, {**value, "ao-result": b"body"})
        return result
    return Result(result.status, {"ao-result": b"body", "body": value})


def _execute(
    base: Mapping[str, Any], request: Mapping[str, Any], key: str, add_key: bool, fn: Any, opts: Mapping[str, Any]
) -> Result:
    """Stages 6-10: call the device function, then hooks, sub-resolution, hashpath, caching."""
    args = [key, base, request, _device_opts(opts)] if add_key else [base, request, _device_opts(opts)]
    returned = devices.call(fn, args)
    result = returned if isinstance(returned, Result) else Result("ok", returned)
    if opts.get("force_message"):
        result = _force_message(result)
    on = opts.get("on")
    if isinstance(on, Mapping) and "step" in on:
        from aonode.core import hooks

        result = hooks.step(base, request, result, opts)
    if result.status == "ok" and isinstance(result.value, Resolve):
        result = resolve_many(result.value.messages, opts)
    result = _with_hashpath(base, request, result, opts)
    if result.status == "ok":
        _maybe_store(base, request, result.value, opts)
    return result


def _with_hashpath(
    base: Mapping[str, Any], request: Mapping[str, Any], result: Result, opts: Mapping[str, Any]
) -> Result:
    value = result.value
    if not isinstance(value, Mapping):
        return result
    priv = value.get("priv")
    if result.status == "ok":
        mode = opts.get("hashpath", "update")
        if mode == "ignore":
            return result
        if mode == "update":
            try:
                new_hashpath = compute_hashpath(dict(base), dict(request)).encode()
            except EncodeError:
                # A message holding Python objects (a map device) has no ID, hence no hashpath.
                return result
            new_priv = {**priv} if isinstance(priv, Mapping) else {}
            new_priv["hashpath"] = new_hashpath
            return Result("ok", {**value, "priv": new_priv})
    if isinstance(priv, Mapping) and "hashpath" in priv:
        rest = {k: v for k, v in priv.items() if k != "hashpath"}
        return Result(result.status, {**value, "priv": rest})
    return result


def _maybe_store(base: Mapping[str, Any], request: Mapping[str, Any], value: Any, opts: Mapping[str, Any]) -> None:
    cache = opts.get("cache")
    if cache is None or not cache_control.store_enabled(opts, request, value):
        return
    try:
        cache.write(base)
        cache.write(request)
        if isinstance(value, bytes):
            cache.write_binary(compute_hashpath(dict(base), dict(request)), value)
        elif isinstance(value, Mapping):
            cache.write(value)
    except EncodeError:
        # A message holding Python objects (a map device, a wallet) has no wire form;
        # it can be computed but not cached.
        pass
    except AOError:
        raise
