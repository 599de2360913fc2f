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
    WASM modules   (`application/wasm`, or bytes starting `\\0asm`) run in a wasmtime instance
                   with the legacy loader's contract: `handle(msg, env)` takes the two as JSON
                   strings (written with the module's `malloc`) and returns a pointer to
                   `{"ok": true, "response": <the legacy result>}`; WASI output goes to the
                   node's log at debug level (`aonode.wasm`), the clock is unavailable, as in
                   the reference. The instance's memory may grow (emscripten's heap resize,
                   or `memory.grow`) up to the process's `Memory-Limit`, else the module's,
                   capped by `wasm_memory_limit` (`wasm.memory_limit`).
                   A call that traps, or whose answer is not that JSON, fails the slot with
                   422 and the module's reason (the trap; the tail of its stderr, e.g. emscripten's
                   "not enough memory for buffer allocation"); the instance is closed, its
                   memory freed, and the next request starts again from a snapshot.

`compute` with an assignment is a real step; with any other request it is a dry run of the
request as a message, answering the `results` message (with its `raw` also under
`results/raw`, where aoconnect before 0.0.98 reads it) and changing nothing. A Lua module's
`init`, `snapshot` and `normalize` are those of `lua@5.3a`; a WASM module's snapshot is its
memory.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices import _legacy_message as legacy
from aonode.devices.lua import LUA_TYPES, LuaDevice, initialize_vm, live_vm, with_vm
from aonode.devices.patch import PatchDevice
from aonode.devices.process import process_id
from aonode.devices.wasi import TAIL, iovecs, log_output, stderr_tail
from aonode.devices.wasm import compiled, instance_of, memory_of, memory_snapshot, with_instance
from aonode.devices.wasm import limits as wasm_limits
from aonode.errors import BadMessage, NotFound, Unsupported
from aonode.message import Link, is_id
from aonode.runtime.lua import Failure, ModuleError
from aonode.runtime.lua_ao import AoLibrary
from aonode.runtime.wasm import WasmError, WasmInstance, WasmTrap, result_count
from aonode.text import as_text

__all__ = ["GenesisWasmDevice"]


def _module(state: Mapping[str, Any], opts: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
    """The ID and message of the process's module, and its kind: `lua` or `wasm`.

    Raises:
        NotFound: the module is not in this node's store.
        Unsupported: it is neither a Lua nor a WASM module.
    """
    found = ensure_loaded(state.get("module"), opts)
    if isinstance(found, Link):
        found = found.id
    if not isinstance(found, (bytes, str)) or not is_id(found):
        raise BadMessage("genesis-wasm@1.0: the process's `module` must be the ID of a module message")
    module_id = as_text(found, errors="surrogateescape")
    cache = opts.get("cache")
    module = cache.read(module_id) if cache is not None else None
    if module is None:
        from aonode.store._gateway import remote_failure

        failure = remote_failure(module_id)  # the gateway store could not ask the gateway
        if failure is not None:
            raise failure
        raise NotFound(f"Module {module_id} is not in this node's store: upload it first.")
    if not isinstance(module, Mapping):
        module = {"body": module}
    kind = module.get("content-type", b"")
    kind = kind.encode() if isinstance(kind, str) else kind
    body = ensure_loaded(module.get("body", module.get("data")), opts)
    if kind in LUA_TYPES:
        return module_id, module, "lua"
    if kind == b"application/wasm" or (isinstance(body, bytes) and body.startswith(b"\0asm")):
        return module_id, module, "wasm"
    kind_text = as_text(kind, errors="surrogateescape")
    raise Unsupported(f"Module {module_id} is neither a Lua module (application/lua) nor a WASM module "
                      f"(application/wasm); its content-type is {kind_text or 'not given'}.")


def _lua_base(state: Mapping[str, Any], module_id: str) -> dict[str, Any]:
    return {**state, "module": module_id.encode()}


def _error(failure: Failure) -> Result:
    return Result("error", {"status": failure.status, "body": failure.error, "trace": failure.trace})


def _is_assignment(request: Mapping[str, Any]) -> bool:
    kind = as_text(request.get("type", ""), errors="surrogateescape")
    return kind.lower() == "assignment" and isinstance(request.get("body"), Mapping)


# --- WASM modules: the legacy loader's contract (handle(msgJSON, envJSON) -> resultJSON) ---------


class _LegacyHost:
    """The few WASI calls a legacy module makes: output goes to the log (its result is what
    counts), with the last `TAIL` bytes of stderr kept for an error's reason; the clock fails
    (errno 1, as in the reference), no preopened directories, no environment or arguments;
    anything else returns zeros. It holds its instance weakly (the instance holds it)."""

    def __init__(self) -> None:
        self.instance: weakref.ref[WasmInstance] | None = None
        self.stderr = bytearray()

    def __call__(self, module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        instance = self.instance() if self.instance is not None else None
        if field == "fd_write" and instance is not None:
            wide = "I" in sig
            data = b"".join(instance.read(ptr, length) for ptr, length in
                            iovecs(instance, int(args[1]), int(args[2]), wide))
            log_output(int(args[0]), data)
            if int(args[0]) == 2:
                self.stderr = (self.stderr + data)[-TAIL:]
            instance.write(int(args[3]), len(data).to_bytes(8 if wide else 4, "little"))
            return [0]
        if field == "clock_time_get":
            return [1]
        if field == "fd_prestat_get":
            return [8]  # EBADF: no preopened directories
        if field in ("environ_sizes_get", "args_sizes_get") and instance is not None:
            width = 8 if "I" in sig else 4
            for pointer in args[:2]:
                instance.write(int(pointer), bytes(width))
            return [0]
        return [0] * result_count(sig)


def _wasm_instance(module: Mapping[str, Any], process: Any, opts: Mapping[str, Any]) -> WasmInstance:
    body = ensure_loaded(module.get("body", module.get("data")), opts)
    if not isinstance(body, bytes):
        raise BadMessage("genesis-wasm@1.0: the WASM module message has no body")
    host = _LegacyHost()
    try:
        instance = WasmInstance(compiled(body, opts), host, **wasm_limits(opts, process, module))
    except WasmError as exc:
        raise Unsupported(f"genesis-wasm@1.0: {exc.message}") from None
    host.instance = weakref.ref(instance)
    return instance


def _module_failed(instance: WasmInstance, why: str) -> Result:
    """The slot fails with the module's reason; the instance, perhaps half way through a
    change, is closed (its memory freed now)."""
    host = instance.on_import
    written = stderr_tail(bytes(host.stderr)) if isinstance(host, _LegacyHost) else ""
    if written:
        why = f"{why} The module's stderr: {written}"
    instance.close()
    return Result("error", {"status": 422, "body": why.encode()})


def _wasm_handle(instance: WasmInstance, msg: Mapping[str, Any], env: Mapping[str, Any]) -> Mapping[str, Any] | Result:
    host = instance.on_import
    if isinstance(host, _LegacyHost):
        host.stderr = bytearray()
    try:
        msg_ptr = instance.write_string(legacy.encode(msg))
        env_ptr = instance.write_string(legacy.encode(env))
        [pointer] = instance.call("handle", msg_ptr, env_ptr)
        found = legacy.response(instance.read_string(int(pointer)))
    except (WasmTrap, WasmError) as exc:
        return _module_failed(instance, f"WASM execution error: {exc.message}.")
    if found is None:
        return _module_failed(instance, "JSON error parsing result output.")
    return found


def _process(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The process definition of a state (or the state itself, a definition)."""
    found = state.get("process")
    return found if isinstance(found, Mapping) else state


def _live_wasm(state: Mapping[str, Any]) -> WasmInstance | None:
    return instance_of(state, b"genesis")


class GenesisWasmDevice(Device):
    """`genesis-wasm@1.0` (see the module docstring)."""

    name = "genesis-wasm@1.0"

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The state with the module's VM or instance built."""
        module_id, module, kind = _module(base, opts)
        if kind == "wasm":
            return Result("ok", with_instance(base, b"genesis", _wasm_instance(module, _process(base), opts)))
        try:
            vm = initialize_vm(_lua_base(base, module_id), opts)
        except ModuleError as exc:
            return Result("error", {"status": 400, "body": exc.message.encode()})
        return Result("ok", with_vm(base, vm))

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """One slot (an assignment), or a dry run of any other request."""
        if not isinstance(base, Mapping) or not isinstance(request, Mapping):
            raise BadMessage("genesis-wasm@1.0 computes a process state with a request")
        module_id, module, kind = _module(base, opts)
        found = base.get("process")
        process: Mapping[str, Any] = found if isinstance(found, Mapping) else base
        pid = process_id(base) if "process" in base else ""
        assignment = request if _is_assignment(request) else None
        message = request["body"] if assignment is not None else {
            k: v for k, v in request.items() if k not in ("path", "method")}
        msg = legacy.message_json(message, module=module_id, assignment=assignment)
        env = legacy.env_json(process, pid, module, module_id)
        state: dict[str, Any]
        if kind == "wasm":
            instance = _live_wasm(base) or _wasm_instance(module, process, opts)
            answered = _wasm_handle(instance, msg, env)
            if isinstance(answered, Result):
                return answered
            raw: Any = answered
            state = with_instance(base, b"genesis", instance)
        else:
            vm = live_vm(base) or initialize_vm(_lua_base(base, module_id), opts)
            if isinstance(vm.library, AoLibrary):
                vm.library.opts = {**opts, "hashpath": "ignore"}
            outcome = vm.call("handle", [msg, env], now=int(msg["Timestamp"]) // 1000)
            if isinstance(outcome, Failure):
                return _error(outcome)
            raw = outcome.values[0] if outcome.values else None
            if not isinstance(raw, Mapping):
                return Result("error", {"status": 500, "body": b"The module's handle did not return a result table."})
            state = with_vm(base, vm)
        results = legacy.results(raw, pid, module_id)
        if assignment is None:
            return Result("ok", legacy.dry_run_answer(results))
        state = {**state, "results": results}
        patched = PatchDevice().patches(state, {"patch-from": b"/results/outbox", "patch-to": b"/"}, opts)
        return Result("ok", patched.value) if patched.ok and isinstance(patched.value, Mapping) else Result("ok", state)

    def snapshot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        instance = _live_wasm(base) if isinstance(base, Mapping) else None
        if instance is not None:
            return Result("ok", memory_snapshot(instance, opts))
        return LuaDevice().snapshot(base, request, opts)

    def normalize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("genesis-wasm@1.0 needs a message to normalise")
        _, module, kind = _module(base, opts)
        if kind == "lua":
            return LuaDevice().normalize(base, request, opts)
        if _live_wasm(base) is not None:
            return Result("ok", base)
        snap = ensure_loaded(base.get("snapshot"), opts)
        body = memory_of(snap, opts) if isinstance(snap, Mapping) else None
        if body is None:
            return Result("error", b"no_wasm_snapshot_found")
        instance = _wasm_instance(module, _process(base), opts)
        try:
            instance.restore(body)
        except WasmTrap as exc:
            raise BadMessage(f"genesis-wasm@1.0: the snapshot does not fit this module: {exc.message}") from None
        return Result("ok", with_instance({k: v for k, v in base.items() if k != "snapshot"}, b"genesis", instance))
