"""`genesis-wasm@1.0`: legacy AO processes, the kind `@permaweb/aoconnect` spawns
(processes-compute.md §6.6).

The reference hands these processes to a separate legacy CU (Node.js). aonode runs the module
itself: the process's `module` names a stored module message, and

    Lua modules    (`content-type: application/lua` or `text/x-lua`) run in a `lua@5.3a` VM:
                   each slot calls the module's global `handle(msg, env)` with the message in
                   its legacy form (`_legacy_message`), and the table it returns (`Output`,
                   `Messages`, `Spawns`, `Assignments`, `Error`) becomes the state's `results`:
                   `raw` (the legacy result as it came, what aoconnect reads), `outbox`,
                   `patches` and `data`; outbox entries that are patches (`device: patch@1.0`
                   or `method: PATCH`) are then applied to the state, as the reference does
                   with `patch@1.0` from `/results/outbox`.
    WASM modules   need the WASM execution devices: a 422 saying so.

`compute` with an assignment is a real step; with any other request it is a dry run of the
request as a message, answering the `results` message and changing nothing. `init`,
`snapshot` and `normalize` are those of `lua@5.3a`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices import _legacy_message as legacy
from aonode.devices.lua import LUA_TYPES, LuaDevice, initialize_vm, live_vm, with_vm
from aonode.devices.patch import PatchDevice
from aonode.devices.process import process_id
from aonode.errors import BadMessage, NotFound, Unsupported
from aonode.message import Link, is_id
from aonode.runtime.lua import Failure, ModuleError
from aonode.runtime.lua_ao import AoLibrary

__all__ = ["GenesisWasmDevice"]


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _module(state: Mapping[str, Any], opts: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The ID and message of the process's module.

    Raises:
        NotFound: the module is not in this node's store.
        Unsupported: it is not a Lua module.
    """
    found = ensure_loaded(state.get("module"), opts)
    if isinstance(found, Link):
        found = found.id
    if not isinstance(found, (bytes, str)) or not is_id(found):
        raise BadMessage("genesis-wasm@1.0: the process's `module` must be the ID of a module message")
    module_id = _text(found)
    cache = opts.get("cache")
    module = cache.read(module_id) if cache is not None else None
    if module is None:
        raise NotFound(f"Module {module_id} is not in this node's store: upload it first.")
    kind = module.get("content-type", b"") if isinstance(module, Mapping) else b""
    if not isinstance(module, Mapping) or (kind.encode() if isinstance(kind, str) else kind) not in LUA_TYPES:
        raise Unsupported(f"Module {module_id} is not a Lua module (content-type {_text(kind) or 'none'}); "
                          "WASM modules need the WASM execution devices, which this node does not have yet.")
    return module_id, module


def _lua_base(state: Mapping[str, Any], module_id: str) -> dict[str, Any]:
    return {**state, "module": module_id.encode()}


def _error(failure: Failure) -> Result:
    return Result("error", {"status": 500, "body": failure.error, "trace": failure.trace})


def _is_assignment(request: Mapping[str, Any]) -> bool:
    return _text(request.get("type", "")).lower() == "assignment" and isinstance(request.get("body"), Mapping)


class GenesisWasmDevice(Device):
    """`genesis-wasm@1.0` (see the module docstring)."""

    name = "genesis-wasm@1.0"

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The state with the module's VM built."""
        module_id, _ = _module(base, opts)
        try:
            vm = initialize_vm(_lua_base(base, module_id), opts)
        except ModuleError as exc:
            return Result("error", {"status": 400, "body": exc.message.encode()})
        return Result("ok", with_vm(base, vm))

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """One slot (an assignment), or a dry run of any other request."""
        if not isinstance(base, Mapping) or not isinstance(request, Mapping):
            raise BadMessage("genesis-wasm@1.0 computes a process state with a request")
        module_id, module = _module(base, opts)
        vm = live_vm(base) or initialize_vm(_lua_base(base, module_id), opts)
        found = base.get("process")
        process: Mapping[str, Any] = found if isinstance(found, Mapping) else base
        pid = process_id(base) if "process" in base else ""
        assignment = request if _is_assignment(request) else None
        message = request["body"] if assignment is not None else {
            k: v for k, v in request.items() if k not in ("path", "method")}
        msg = legacy.message_json(message, module=module_id, assignment=assignment)
        env = legacy.env_json(process, pid, module, module_id)
        if isinstance(vm.library, AoLibrary):
            vm.library.opts = {**opts, "hashpath": "ignore"}
        outcome = vm.call("handle", [msg, env], now=int(msg["Timestamp"]) // 1000)
        if isinstance(outcome, Failure):
            return _error(outcome)
        raw = outcome.values[0] if outcome.values else None
        if not isinstance(raw, Mapping):
            return Result("error", {"status": 500, "body": b"The module's handle did not return a result table."})
        results = legacy.results(raw, pid, module_id)
        if assignment is None:
            return Result("ok", results)
        state = with_vm({**base, "results": results}, vm)
        patched = PatchDevice().patches(state, {"patch-from": b"/results/outbox", "patch-to": b"/"}, opts)
        return Result("ok", patched.value) if patched.ok and isinstance(patched.value, Mapping) else Result("ok", state)

    def snapshot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return LuaDevice().snapshot(base, request, opts)

    def normalize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return LuaDevice().normalize(base, request, opts)
