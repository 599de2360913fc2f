"""`lua@5.3a`: call Lua functions on messages (`dev_lua`, processes-compute.md §5).

Every key the base message lacks (but `keys`, `set`, `encode`, `decode`) calls the Lua function
of the same name in the base's VM:

    function    first of the request's `body/function`, its `function`, the base's `function`,
                else the key
    arguments   first of the request's `body/parameters`, its `parameters`, the base's
                `parameters`, else (base without `priv`, request, {})
    results     `v` is status ok; `status, v` sets the status. A map `v` is the new state and
                carries the VM in `priv/state`; anything else is returned as it is. A Lua
                error (or a count of values that is neither 1 nor 2) is a 422 with the error
                as `body` and the traceback as `trace`: the script failed, not the node.

What Lua sees of the messages (for hyper-aos, processes-compute.md §5.5; docs/compat.md):

* every commitment carries `alg`, the name its signature has on the wire (httpsig@1.0's
  `alg`: the `type`, prefixed by the `commitment-device` when that is not httpsig@1.0), as
  HyperBEAM's commitments did when hyper-aos was written. hyper-aos's owner check reads it:
  without it, a message its owner signed is trusted only when the owner is in `authority`.
  A state a function returns keeps the base's own `process`;
* when the base is a process's state and the request has no message as its `body` (a dry
  run: `/<pid>~process@1.0/as=execution/compute&K=V...`), the request gets as `body` the
  message it stands for, as an assignment carries the message it schedules: its keys but
  `path`, `method` and `body` (a non-message `body` stays the message's `body`), names
  lower-cased (as ANS-104 tags are when scheduled). hyper-aos reads `req.body`; the
  reference gives the request as it is, and hyper-aos fails. The dry run's answer also
  carries the legacy result its `results` stand for as `raw`, at the top and under
  `results` (where aoconnect 0.0.98 and 0.0.93 read a dry run), as a json-iface process's
  does; the reference's has none, and aoconnect shows an empty result.

The VM lives in the base's `priv/state`. Without one, it is built from the base's `module`
(§5.1): an ID (read from the store), a message whose `content-type` is `application/lua` or
`text/x-lua` (source in `body`, else `data`), any other message (its values are modules), or a
list of these; a plain binary that is not an ID is taken as source. The `sandbox` key (true, a
list of paths, or a map path → value) replaces globals after the modules ran, as in the
reference; `device-sandbox` (a list of device names) limits what `ao.resolve` may use.

Whatever the base says, every VM is closed to the host (no files, environment, processes or
binary chunks) and runs under `lua_instruction_limit`, `lua_wall_time_limit` and
`lua_memory_limit` (`aonode.runtime.lua`); a call that reaches one ends with the limit as its
`body`, whatever the script's `pcall`s do: a 422 for instructions and memory (the script's own
doing), a 503 for wall time (the node's: asked again, it may succeed).

As a process's execution device: `init` builds the VM, `snapshot` answers `{body: <the VM's
state>}` (`aonode.runtime.lua_snapshot.lua`'s format, not the reference's luerl terms), and
`normalize` rebuilds the VM from `snapshot[/<device-key>]/body` when none is live. A state that
compresses (its first MiB deflates to under 90%: a VM's state usually does) is stored deflated,
with `content-encoding: deflate`, as `wasm-64@1.0` stores memories; `normalize` reads both.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from aonode.codecs import message_id
from aonode.core import options
from aonode.core.access import get_first
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, lookup
from aonode.errors import AOError, BadMessage, NotFound
from aonode.hyper_aos import legacy_result
from aonode.message import Link, is_id
from aonode.runtime import snapshot_body
from aonode.runtime.lua import Failure, LuaVM, ModuleError, SnapshotError
from aonode.runtime.lua_ao import AoLibrary, sandbox_opts
from aonode.text import as_text

__all__ = ["DEFAULT_SANDBOX", "LuaDevice", "initialize_vm", "live_vm", "with_vm"]

NAME = "lua@5.3a"
LUA_TYPES = (b"application/lua", b"text/x-lua")

# What `sandbox: true` replaces with the string "sandboxed" (the reference's list).
DEFAULT_SANDBOX = (
    "io", "file", "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname",
    "package", "loadfile", "require", "dofile", "load", "loadstring",
)

_EXCLUDED = ("keys", "set", "encode", "decode")


def _field(msg: Mapping[str, Any], key: str, opts: Mapping[str, Any]) -> Any:
    found = lookup(key, msg)
    return ABSENT if found is ABSENT else ensure_loaded(found, opts)


def _request_field(req: Mapping[str, Any], key: str, opts: Mapping[str, Any]) -> Any:
    """The request's `body/<key>`, else its `<key>`, else None, as `get_first` resolves them.
    Maps without a device are read as message@1.0 reads a key (`lookup`), directly: a slot's
    request is such a map, and two resolutions a slot cost more than its Lua call. A device or
    a link on the way is left to the resolutions."""
    def plain(msg: Any) -> bool:
        return isinstance(msg, dict) and lookup("device", msg) is ABSENT

    if plain(req):
        body = lookup("body", req)
        found = ABSENT if body is ABSENT or not plain(body) else lookup(key, body)
        if body is ABSENT or (plain(body) and not isinstance(found, Link)):
            if found is ABSENT:
                found = lookup(key, req)
            if not isinstance(found, Link):
                return None if found is ABSENT else found
    return get_first([(req, f"body/{key}"), (req, key)], None, opts)


def _loaded(value: Any, opts: Mapping[str, Any], depth: int = 0) -> Any:
    """`value` as Lua sees it: every link in it replaced by what it points at, every commitment
    with its `alg` (see the module docstring)."""
    if isinstance(value, Link):
        value = ensure_loaded(value, opts)
    if depth > 100:
        return value
    if isinstance(value, Mapping):
        out = {k: _loaded(v, opts, depth + 1) for k, v in value.items() if k != "priv"}
        commitments = out.get("commitments")
        if isinstance(commitments, dict):
            out["commitments"] = {cid: _with_alg(c) for cid, c in commitments.items()}
        return out
    if isinstance(value, list):
        return [_loaded(v, opts, depth + 1) for v in value]
    return value


def _with_alg(commitment: Any) -> Any:
    """A commitment with `alg`, the name httpsig@1.0 gives its signature on the wire."""
    if not isinstance(commitment, Mapping) or "alg" in commitment:
        return commitment
    type_ = commitment.get("type")
    if not isinstance(type_, (bytes, str)):
        return commitment
    device = commitment.get("commitment-device", b"httpsig@1.0")
    device = as_text(device, errors="surrogateescape") if isinstance(device, (bytes, str)) else "httpsig@1.0"
    type_text = as_text(type_, errors="surrogateescape")
    alg = type_text if device == "httpsig@1.0" else f"{device}/{type_text}"
    return {**commitment, "alg": alg.encode()}


_NOT_OF_THE_MESSAGE = ("path", "method", "body", "priv")


def _as_scheduled(base: Mapping[str, Any], req: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request a process's function sees: as it is when it carries a message as its `body`
    (an assignment) or the base is no process's state; otherwise (a dry run) with `body` the
    message it stands for (see the module docstring)."""
    body = req.get("body")
    if "process" not in base or isinstance(body, (Mapping, Link)):
        return req
    message: dict[str, Any] = {} if body is None else {"body": body}
    for key, value in req.items():
        if key in _NOT_OF_THE_MESSAGE:
            continue
        lower = key.lower()
        if lower not in message or key == lower:  # an exact lower-case key wins
            message[lower] = value
    return {**req, "body": message}


# --- modules (§5.1) -----------------------------------------------------------------------------


def _module_list(found: Any, opts: Mapping[str, Any]) -> list[Any]:
    if isinstance(found, (bytes, str)):
        return [found]
    if isinstance(found, Mapping):
        if as_text(found.get("content-type", b""), errors="surrogateescape").encode() in LUA_TYPES:
            return [found]
        return [v for k, v in found.items() if k not in ("priv", "commitments")]
    if isinstance(found, list):
        return found
    raise BadMessage(f"lua@5.3a: `module` must be a message, an ID or a list, not a {type(found).__name__}")


def _module(entry: Any, index: int, opts: Mapping[str, Any]) -> tuple[str, bytes]:
    if isinstance(entry, Link):
        entry = entry.id
    if isinstance(entry, (bytes, str)) and is_id(entry):
        cache = opts.get("cache")
        loaded = cache.read(as_text(entry, errors="surrogateescape")) if cache is not None else None
        if loaded is None:
            raise NotFound(f"Lua module '{as_text(entry, errors='surrogateescape')}' not found.")
        if isinstance(loaded, (bytes, str)):
            return as_text(entry, errors="surrogateescape"), loaded if isinstance(loaded, bytes) else loaded.encode()
        entry = loaded
    if isinstance(entry, (bytes, str)):
        return f"module-{index}", entry if isinstance(entry, bytes) else entry.encode()
    if not isinstance(entry, Mapping):
        raise BadMessage(f"lua@5.3a: a module must be a message or an ID, not a {type(entry).__name__}")
    source = next((ensure_loaded(entry[k], opts) for k in ("body", "data") if k in entry), None)
    if not isinstance(source, (bytes, str)):
        raise NotFound("Lua module not loadable. Lua modules must have a `body` element set to a binary of the "
                       "code to load.")
    name = entry.get("name")
    if name is None:
        try:
            name = message_id(dict(entry))
        except AOError:
            name = f"module-{index}"
    return as_text(name, errors="surrogateescape"), source if isinstance(source, bytes) else source.encode()


def _sandbox_spec(spec: Any) -> list[tuple[list[str], Any]]:
    if spec is True or spec in (b"true", "true"):
        return [(p.split("."), b"sandboxed") for p in DEFAULT_SANDBOX]
    if isinstance(spec, Mapping):
        return [(as_text(k, errors="surrogateescape").replace("/", ".").split("."), v)
                for k, v in spec.items() if k != "priv"]
    if isinstance(spec, list):
        return [(as_text(p, errors="surrogateescape").replace("/", ".").split("."), b"sandboxed") for p in spec]
    return []


def _limits(opts: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "memory_limit": int(options.get(opts, "lua_memory_limit")),
        "instruction_limit": int(options.get(opts, "lua_instruction_limit")),
        "wall_time_limit": float(options.get(opts, "lua_wall_time_limit")),
        "memory_budget": int(options.get(opts, "lua_memory_budget")),
    }


def _unpacked(snap: Mapping[str, Any], body: bytes, opts: Mapping[str, Any]) -> bytes:
    """The VM state a snapshot message holds.

    Raises:
        SnapshotError: it says deflate and does not decompress.
    """
    encoding = ensure_loaded(snap.get("content-encoding", b""), opts)
    if as_text(encoding, errors="surrogateescape").lower() != "deflate":
        return body
    try:
        return zlib.decompress(body)
    except zlib.error as exc:
        raise SnapshotError(f"the Lua state snapshot does not decompress: {exc}") from None


def _ao_opts(base: Mapping[str, Any], opts: Mapping[str, Any]) -> dict[str, Any]:
    """The options of resolutions made from the base's Lua code (its `device-sandbox`)."""
    devices = _field(base, "device-sandbox", opts)
    names = (None if devices is ABSENT or devices is False
             else [as_text(d, errors="surrogateescape") for d in _module_list(devices, opts)])
    return sandbox_opts(opts, names)


def live_vm(base: Mapping[str, Any]) -> LuaVM | None:
    priv = base.get("priv")
    found = priv.get("state") if isinstance(priv, Mapping) else None
    return found if isinstance(found, LuaVM) else None


def with_vm(base: Mapping[str, Any], vm: LuaVM) -> dict[str, Any]:
    priv = base.get("priv")
    return {**base, "priv": {**(priv if isinstance(priv, Mapping) else {}), "state": vm}}


def initialize_vm(base: Mapping[str, Any], opts: Mapping[str, Any]) -> LuaVM:
    """The base's live VM, or a new one from its modules.

    Raises:
        NotFound: a module is not in the store, or has no source.
        BadMessage: there are no modules, or one does not run.
    """
    live = live_vm(base)
    if live is not None:
        return live
    found = _field(base, "module", opts)
    if found is ABSENT:
        raise BadMessage("no-modules-found")
    modules = [_module(entry, i, opts) for i, entry in enumerate(_module_list(found, opts), 1)]
    library = AoLibrary(_ao_opts(base, opts))
    vm = LuaVM(library, **_limits(opts))
    for name, source in modules:
        vm.load_module(name, source)
    spec = _field(base, "sandbox", opts)
    for path, value in _sandbox_spec(None if spec is ABSENT else spec):
        vm.sandbox(path, value)
    vm.install_ao()
    return vm


def _now(request: Any) -> int:
    """The clock a call sees: the request's `timestamp` (ms) in seconds, else its
    `block-timestamp`, else 0."""
    if isinstance(request, Mapping):
        for key, scale in (("timestamp", 1000), ("block-timestamp", 1)):
            try:
                return int(request[key]) // scale
            except (KeyError, TypeError, ValueError):
                continue
    return 0


def _with_raw(state: dict[str, Any]) -> dict[str, Any]:
    """A dry run's state with the legacy result its `results` stand for as `raw`, at the top
    (where aoconnect 0.0.98 reads a dry run) and under `results` (where 0.0.93 does), as the
    json-iface path answers; a state whose `results` hold no hyper-aos result, or already a
    `raw`, is left as it is."""
    results = state.get("results")
    if not isinstance(results, Mapping) or "raw" in results:
        return state
    raw = legacy_result(results)
    if raw is None:
        return state
    return {**state, "raw": raw, "results": {**results, "raw": raw}}


def _error(failure: Failure) -> Result:
    return Result("error", {"status": failure.status, "body": failure.error, "trace": failure.trace})


def _call(key: str, base: Mapping[str, Any], request: Any, opts: Mapping[str, Any]) -> Result:
    """The default handler: call the Lua function that `key` (or the request) names."""
    try:
        vm = initialize_vm(base, opts)
    except ModuleError as exc:
        return Result("error", {"status": 400, "body": exc.message.encode()})
    quiet = {**opts, "hashpath": "ignore"}
    req = request if isinstance(request, Mapping) else {}
    function = _request_field(req, "function", quiet)
    if function is None:
        function = _field(base, "function", opts)
    name = as_text(key if function is None or function is ABSENT else function, errors="surrogateescape")
    params = _request_field(req, "parameters", quiet)
    if params is None:
        found = _field(base, "parameters", opts)
        params = None if found is ABSENT else found
    dry_run = False
    if params is None:
        scheduled = _as_scheduled(base, req)
        dry_run = scheduled is not req
        args: list[Any] = [base, scheduled, {}]
    elif isinstance(params, Mapping):
        args = [params[str(i)] for i in range(1, len(params) + 1) if str(i) in params]
    else:
        args = list(params) if isinstance(params, list) else [params]
    if isinstance(vm.library, AoLibrary):  # resolutions from Lua use this request's options
        vm.library.opts = _ao_opts(base, opts)
    outcome = vm.call(name, [_loaded(a, opts) for a in args], now=_now(req))
    if isinstance(outcome, Failure):
        return _error(outcome)
    values = outcome.values
    if len(values) == 1:
        status, value = "ok", values[0]
    elif len(values) == 2:
        status, value = as_text(values[0], errors="surrogateescape"), values[1]
    else:
        return Result("error", {"status": 422, "body": f"Lua function '{name}' returned {len(values)} values; "
                                                        f"a device function returns a value, or a status and a "
                                                        f"value.".encode()})
    if isinstance(value, dict):
        old = base.get("priv")
        value = {**value, "priv": {**(old if isinstance(old, Mapping) else {}), "state": vm}}
        if "process" in base and "process" in value and params is None:  # not its Lua view (`alg`)
            value["process"] = base["process"]
        if dry_run:
            value = _with_raw(value)
    return Result(status, value)


class LuaDevice(Device):
    """`lua@5.3a` (see the module docstring)."""

    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        present = [k for k in base if k != "priv"] if isinstance(base, Mapping) else []
        return {"default": _call, "excludes": [*_EXCLUDED, *present]}

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The base with its VM built (a no-op when it has one)."""
        if not isinstance(base, Mapping):
            raise BadMessage("lua@5.3a needs a message to initialise")
        try:
            return Result("ok", with_vm(base, initialize_vm(base, opts)))
        except ModuleError as exc:
            return Result("error", {"status": 400, "body": exc.message.encode()})

    def functions(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The names of the global functions in the base's VM."""
        vm = live_vm(base) if isinstance(base, Mapping) else None
        if vm is None:
            return Result("error", b"not_found")
        return Result("ok", [name.encode() for name in vm.functions()])

    def snapshot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """`{body: <the VM's state>}`."""
        vm = live_vm(base) if isinstance(base, Mapping) else None
        if vm is None:
            return Result("error", b"Cannot snapshot Lua state: state not initialized.")
        try:
            return Result("ok", snapshot_body.body(vm.snapshot(), opts))
        except SnapshotError as exc:
            return Result("error", exc.message.encode())

    def normalize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The base with a live VM: as it is, or rebuilt from its stored snapshot."""
        if not isinstance(base, Mapping):
            raise BadMessage("lua@5.3a needs a message to normalise")
        if live_vm(base) is not None:
            return Result("ok", base)
        device_key = _field(base, "device-key", opts)
        snap: Any = _field(base, "snapshot", opts)
        if device_key is not ABSENT and isinstance(snap, Mapping):
            snap = ensure_loaded(snap.get(as_text(device_key, errors="surrogateescape"), ABSENT), opts)
        body = ensure_loaded(snap.get("body"), opts) if isinstance(snap, Mapping) else None
        if not isinstance(body, bytes):
            return Result("error", b"no_lua_state_snapshot_found")
        try:
            state = _unpacked(snap if isinstance(snap, Mapping) else {}, body, opts)
            vm = LuaVM.restore(state, AoLibrary(_ao_opts(base, opts)), **_limits(opts))
        except SnapshotError as exc:
            return Result("error", exc.message.encode())
        return Result("ok", with_vm(base, vm))
