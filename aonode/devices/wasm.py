"""`wasm-64@1.0`: run a WASM module's functions on a message (`dev_wasm`, processes-compute.md §4.2).

    init        the image (`<input-prefix>/image`: an ID read from the store, a message's
                `body`, or the bytes; else the base's `body`), compiled (cached by content)
                and instantiated; the instance lives in `priv/<output-prefix>/instance`
    compute     on pass 1 (or without passes): call `function` (request `body/function`, its
                `function`, the base's `function`) with `parameters` (integers and floats,
                default none); sets `results/<output-prefix>/type` (`ok` or `error`) and
                `results/<output-prefix>/output` (the returned values); no function: no-op
    snapshot    `{body: <the whole linear memory, deflated>, content-encoding: deflate}` (raw
                memory, as the reference writes it, is read too)
    normalize   without a live instance: a fresh one from the image with
                `snapshot[/<device-key>]/body` written into its memory; `snapshot` removed
    terminate   drop the instance

Imported functions are served by the device mounted at `<output-prefix>/stdlib/<module>` in
the state (`wasi@1.0` mounts `wasm/stdlib/wasi_snapshot_preview1`): the function's name is
resolved on that message (plus `state`: the current state) with `module`, `func`, `args` and
`func-sig`; the reply's `state` becomes the current state and its `results` the values. An
import nobody serves returns zeros and is recorded under `results/<prefix>/undefined-calls`.

Every call runs with `wasm_fuel` fuel, or under `wasm_metering: epoch` for `wasm_time_limit`
seconds (an endless loop is an error result, the node keeps serving), and the instance's memory
under its limit: the process's `memory-limit` (the legacy `Memory-Limit` tag: bytes, or `1-gb`,
`512-mb`, ...) when it asks for less than the node's
`wasm_memory_limit`, else that option. emscripten's heap growth (`emscripten_resize_heap`) is
served up to that limit by the WASM host. A call that traps drops the instance and closes it
(its memory is freed at once); the next call starts again from a snapshot. Modules in the legacy
WASM exception form are translated with Binaryen's `wasm-opt` (`wasm_opt` option, or PATH); WAMR
AOT images (`\\0aot`) are refused.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import wasmtime

from aonode._memo import Memo
from aonode.core import options
from aonode.core.access import get_first
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded, resolve
from aonode.core.terms import NOT_FOUND, Result
from aonode.devices.message import ABSENT, lookup
from aonode.devices.stack import input_prefix, output_prefix
from aonode.errors import AOError, BadMessage, NotFound, Unsupported
from aonode.message import Link, is_id
from aonode.runtime import snapshot_body
from aonode.runtime.wasm import METERINGS, WasmError, WasmInstance, WasmTrap, compile_module, result_count
from aonode.text import as_text

__all__ = ["WasmDevice", "compiled", "image_of", "instance_of", "limits", "memory_limit", "memory_of", "metering",
           "memory_snapshot", "with_instance"]

NAME = "wasm-64@1.0"

# Compiled modules by the SHA-256 of their bytes.
_MODULES: Memo[str, wasmtime.Module] = Memo(16)


def _join(prefix: bytes, key: str) -> list[str]:
    return [p for p in as_text(prefix, errors="surrogateescape").split("/") if p] + key.split("/")


def _at(msg: Any, path: list[str], opts: Mapping[str, Any]) -> Any:
    for part in path:
        if not isinstance(msg, Mapping):
            return ABSENT
        msg = lookup(part, msg)
        if msg is ABSENT:
            return ABSENT
        msg = ensure_loaded(msg, opts)
    return msg


def _priv(base: Mapping[str, Any], prefix: bytes) -> dict[str, Any]:
    priv = base.get("priv")
    node: Any = priv if isinstance(priv, Mapping) else {}
    for part in _join(prefix, ""):
        if part:
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return dict(node) if isinstance(node, Mapping) else {}


def instance_of(base: Mapping[str, Any], prefix: bytes = b"") -> WasmInstance | None:
    """The live instance of the state, if any."""
    found = _priv(base, prefix).get("instance")
    return found if isinstance(found, WasmInstance) else None


def with_instance(base: Mapping[str, Any], prefix: bytes, instance: WasmInstance | None) -> dict[str, Any]:
    """The state with `priv/<prefix>/instance` set (or removed when None)."""
    parts = [p for p in _join(prefix, "") if p]
    priv = dict(base.get("priv") or {})
    node = priv
    for part in parts:
        child = dict(node.get(part) or {})
        node[part] = child
        node = child
    if instance is None:
        node.pop("instance", None)
    else:
        node["instance"] = instance
    return {**base, "priv": priv}


def image_of(base: Mapping[str, Any], opts: Mapping[str, Any]) -> bytes:
    """The WASM bytes the state runs (§4.2 init step 1).

    Raises:
        NotFound: the image is an ID this node does not have.
        BadMessage: there is no image.
    """
    found = _at(base, _join(input_prefix(base, None, opts), "image"), opts)
    if isinstance(found, Link):
        found = found.id
    if isinstance(found, (bytes, str)) and is_id(found):
        cache = opts.get("cache")
        loaded = cache.read(as_text(found, errors="surrogateescape")) if cache is not None else None
        if loaded is None:
            raise NotFound(f"WASM image {as_text(found, errors='surrogateescape')} is not in this node's store")
        found = loaded
    if isinstance(found, Mapping):
        # An image read from Arweave (an ANS-104 item) holds its bytes as `data`.
        found = ensure_loaded(found.get("body", found.get("data", ABSENT)), opts)
    if found is ABSENT or found is None:
        found = ensure_loaded(base.get("body", ABSENT), opts)
    if not isinstance(found, bytes) or not found:
        where = as_text(input_prefix(base, None, opts), errors="surrogateescape")
        raise BadMessage(f"No viable image found in {where}/image.")
    if found.startswith(b"\0aot"):
        raise Unsupported("WAMR AOT images are not supported: give the module's WASM bytes")
    return found


def metering(opts: Mapping[str, Any]) -> str:
    """The node's `wasm_metering` (`fuel` or `epoch`).

    Raises:
        Unsupported: the option has another value.
    """
    found = as_text(options.get(opts, "wasm_metering") or "fuel", errors="surrogateescape")
    if found not in METERINGS:
        raise Unsupported(f"wasm_metering must be one of {', '.join(METERINGS)}, not {found!r}")
    return found


def compiled(wasm: bytes, opts: Mapping[str, Any]) -> wasmtime.Module:
    """`wasm` compiled for the node's `wasm_metering` (kept in memory by content, and in
    `wasm_cache_dir` when set)."""
    cache_dir = options.get(opts, "wasm_cache_dir")
    wasm_opt = options.get(opts, "wasm_opt")
    kind = metering(opts)
    return _MODULES.get_or_compute(
        f"{kind}:{hashlib.sha256(wasm).hexdigest()}",
        lambda: compile_module(wasm, Path(cache_dir) if cache_dir else None,
                               wasm_opt=str(wasm_opt) if wasm_opt else None, metering=kind))


class _Imports:
    """The import handler of one instance: resolves imports on the current state."""

    def __init__(self, prefix: bytes, opts: Mapping[str, Any]) -> None:
        self.prefix = prefix
        self.opts = opts
        self.state: dict[str, Any] = {}
        self._calls: list[Any] | None = None  # this call's undefined-calls list, appended in place

    def begin(self, state: dict[str, Any], opts: Mapping[str, Any]) -> None:
        """Serve the imports of one call on `state`."""
        self.state, self.opts, self._calls = state, opts, None

    def end(self) -> dict[str, Any]:
        """The state after the call; the handler forgets it (the state holds the instance, which
        holds this handler: kept, that cycle would keep the instance's memory until a GC pass)."""
        state, self.state, self._calls = self.state, {}, None
        return state

    def __call__(self, module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        wanted = result_count(sig)
        library = _at(self.state, _join(self.prefix, f"stdlib/{module}"), self.opts)
        if isinstance(library, Mapping):
            base = {**library, "state": self.state}
            request = {"path": field, "module": module.encode(), "func": field.encode(), "args": list(args),
                       "func-sig": sig.encode()}
            answer = resolve(base, request, {**self.opts, "hashpath": "ignore"})
            if answer.ok and isinstance(answer.value, Mapping):
                new_state = answer.value.get("state")
                if isinstance(new_state, Mapping):
                    self.state = dict(new_state)
                results = answer.value.get("results", [])
                return list(results) if isinstance(results, list) else [results]
            if answer != NOT_FOUND:
                raise WasmTrap(f"import {module}.{field} failed: {answer.value!r}")
        self._record(module, field, args, sig)
        return [0] * wanted

    def _record(self, module: str, field: str, args: list[Any], sig: str) -> None:
        """Note the call under `results/<prefix>/undefined-calls`. The maps on the way are copied
        (they may belong to an earlier state); the list is copied once per call, then appended
        to, so a module calling a missing import in a loop costs time linear in the calls."""
        results = dict(self.state.get("results") or {})
        node = results
        for part in _join(self.prefix, "")[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, Mapping) else {}
            node = node[part]
        found = node.get("undefined-calls")
        ours = self._calls is not None and found is self._calls
        calls: list[Any] = cast(list[Any], found) if ours else list(found or [])
        self._calls = calls
        calls.append({"module": module.encode(), "func": field.encode(), "args": list(args),
                      "func-sig": sig.encode()})
        node["undefined-calls"] = calls
        self.state = {**self.state, "results": results}


# `Memory-Limit` as the legacy CU reads it (the `bytes` npm package, with `-` for the space):
# a number of bytes, or a number and a unit of 1024s.
_UNITS = {"": 1, "b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*[- ]?\s*([a-z]*)\s*")


def _size(value: Any) -> int | None:
    """Bytes from `4294967296`, `"1-gb"`, `"512 MB"`; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    found = (_SIZE.fullmatch(as_text(value, errors="surrogateescape").lower())
             if isinstance(value, (bytes, str)) else None)
    if found is None or found.group(2) not in _UNITS:
        return None
    size = int(float(found.group(1)) * _UNITS[found.group(2)])
    return size if size > 0 else None


def memory_limit(opts: Mapping[str, Any], *asking: Any) -> int:
    """The memory limit of an instance: `wasm_memory_limit`, lowered by the first of `asking`
    (the process, then its module) with a `memory-limit` key. A process cannot raise it: the
    option is what the node's machine affords."""
    node = int(options.get(opts, "wasm_memory_limit"))
    for message in asking:
        found = lookup("memory-limit", message) if isinstance(message, Mapping) else ABSENT
        if found is not ABSENT:
            wanted = _size(found)
            return min(node, wanted) if wanted is not None else node
    return node


def limits(opts: Mapping[str, Any], *asking: Any) -> dict[str, Any]:
    """The `fuel`, `memory_limit`, `metering` and `time_limit` of instances, from the node's
    options (see `memory_limit`): `WasmInstance`'s keyword arguments."""
    return {"fuel": int(options.get(opts, "wasm_fuel")), "memory_limit": memory_limit(opts, *asking),
            "metering": metering(opts), "time_limit": float(options.get(opts, "wasm_time_limit"))}


def _start(base: Mapping[str, Any], opts: Mapping[str, Any]) -> dict[str, Any]:
    prefix = output_prefix(base, None, opts)
    handler = _Imports(prefix, opts)
    handler.begin(dict(base), opts)
    try:
        instance = WasmInstance(compiled(image_of(base, opts), opts), handler, **limits(opts, base.get("process")))
    except WasmError as exc:
        raise Unsupported(f"wasm-64@1.0: {exc.message}") from None
    except WasmTrap as exc:
        raise WasmTrap(f"wasm-64@1.0: the module trapped while starting: {exc.message}") from None
    return with_instance(handler.end(), prefix, instance)


def memory_snapshot(instance: WasmInstance, opts: Mapping[str, Any]) -> dict[str, Any]:
    """`{body, content-encoding: deflate}`: the instance's memory, compressed
    (`aonode.runtime.snapshot_body`); raw when the resolution asks for it (a dry run's copy, a
    snapshot stored in the background)."""
    return snapshot_body.body(instance.snapshot(), opts)


def memory_of(snapshot: Mapping[str, Any], opts: Mapping[str, Any]) -> bytes | None:
    """The memory a snapshot message holds (compressed as `memory_snapshot` writes it, or raw
    as the reference does), or None when it has none.

    Raises:
        BadMessage: the body does not decompress.
    """
    body = ensure_loaded(snapshot.get("body"), opts)
    if not isinstance(body, bytes):
        return None
    if as_text(snapshot.get("content-encoding", b""), errors="surrogateescape") != "deflate":
        return body
    try:
        return zlib.decompress(body)
    except zlib.error as exc:
        raise BadMessage(f"the WASM memory snapshot does not decompress: {exc}") from None


def _set_results(state: dict[str, Any], prefix: bytes, values: dict[str, Any]) -> dict[str, Any]:
    results = dict(state.get("results") or {})
    node = results
    for part in [p for p in _join(prefix, "") if p]:
        child = dict(node.get(part) or {})
        node[part] = child
        node = child
    node.update(values)
    return {**state, "results": results}


def _number(value: Any) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise BadMessage(f"wasm-64@1.0: parameters must be integers or floats, not {value!r}")


class WasmDevice(Device):
    """`wasm-64@1.0` (see the module docstring)."""

    name = NAME

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("wasm-64@1.0 needs a message to initialise")
        return Result("ok", _start(base, opts))

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("wasm-64@1.0 computes on a message")
        passes = lookup("pass", base)
        if passes is not ABSENT and as_text(passes, errors="surrogateescape") not in ("1",):
            return Result("ok", base)
        state = dict(self.normalize(base, request, opts).value)
        req = request if isinstance(request, Mapping) else {}
        quiet = {**opts, "hashpath": "ignore"}
        function = get_first([(req, "body/function"), (req, "function"), (state, "function")], None, quiet)
        if function is None:
            return Result("ok", state)
        params = get_first([(req, "body/parameters"), (req, "parameters"), (state, "parameters")], [], quiet)
        if isinstance(params, Mapping):
            params = [params[str(i)] for i in range(1, len(params) + 1) if str(i) in params]
        args = [_number(p) for p in (params if isinstance(params, list) else [params])]
        prefix = output_prefix(state, None, opts)
        instance = instance_of(state, prefix)
        assert instance is not None
        handler = instance.on_import
        if isinstance(handler, _Imports):
            handler.begin(state, opts)
        try:
            output = instance.call(as_text(function, errors="surrogateescape"), *args)
        except (WasmTrap, WasmError) as exc:
            # A trapped instance may be half way through a change: drop it and free its memory
            # now, so the next call starts again from a snapshot.
            after = handler.end() if isinstance(handler, _Imports) else state
            instance.close()
            return Result("ok", _set_results(with_instance(after, prefix, None), prefix,
                                             {"type": b"error", "body": exc.message.encode()}))
        after = handler.end() if isinstance(handler, _Imports) else state
        return Result("ok", _set_results(with_instance(after, prefix, instance), prefix,
                                         {"type": b"ok", "output": output}))

    def snapshot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        instance = instance_of(base, output_prefix(base, None, opts)) if isinstance(base, Mapping) else None
        if instance is None:
            return Result("error", b"No WASM instance to snapshot.")
        return Result("ok", memory_snapshot(instance, opts))

    def normalize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("wasm-64@1.0 needs a message to normalise")
        prefix = output_prefix(base, None, opts)
        if instance_of(base, prefix) is not None:
            return Result("ok", {k: v for k, v in base.items() if k != "snapshot"})
        snap: Any = _at(base, ["snapshot"], opts)
        device_key = lookup("device-key", base)
        key_name = as_text(device_key, errors="surrogateescape") if device_key is not ABSENT else ""
        if device_key is not ABSENT and isinstance(snap, Mapping) and key_name in snap:
            snap = ensure_loaded(snap[key_name], opts)
        body = memory_of(snap, opts) if isinstance(snap, Mapping) else None
        if body is None:
            if snap is ABSENT:
                return Result("ok", _start(base, opts))  # no snapshot: start from the image
            raise BadMessage("no_wasm_instance_or_snapshot")
        state = _start({k: v for k, v in base.items() if k != "snapshot"}, opts)
        instance = instance_of(state, prefix)
        assert instance is not None
        try:
            instance.restore(body)
        except (WasmTrap, AOError) as exc:
            raise BadMessage(f"wasm-64@1.0: the snapshot does not fit this module: {exc}") from None
        return Result("ok", state)

    def terminate(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("wasm-64@1.0 needs a message")
        return Result("ok", with_instance(base, output_prefix(base, None, opts), None))
