"""`json-iface@1.0`: the JSON interface of AO process modules (`dev_json_iface`,
processes-compute.md §4.5-4.6), between `wasi@1.0` and `wasm-64@1.0` in the AOS stack.

    init       sets `function: handle`
    compute    pass 1: writes the message and the env as JSON strings into the instance's memory
               (with its `malloc`) and sets `function: handle`, `parameters: [msg, env]`, so that
               `wasm-64@1.0` calls `handle(msg, env)` next; pass 2: reads the JSON string whose
               pointer `handle` returned, `{"ok": true, "response": R}`, and sets `results` to R
               as a message (`raw`, `outbox`, `patches`, `data`, as `_legacy_message.results`),
               and for a dry run (a request without a `body` message) `raw` also at the top of
               the state it answers, where aoconnect 0.0.98 reads it; other passes: nothing

The message and env are in the legacy form of `_legacy_message` (the legacy CU's fields, which
AOS reads). A WASM error, a string that is not JSON, or `ok: false` fails the step with a 422
saying which, in the reference's words ("WASM execution error.", "JSON error parsing result
output.") followed by the module's own reason: the trap, and what it wrote to stderr during
the call (`wasi@1.0`'s `/dev/stderr`, its length noted at pass 1 in `priv/stderr-at`). The
reference answers the whole state with `results: {body: ...}`; a module's failure is not a
node crash, so not a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import message_id
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.devices import _legacy_message as legacy
from aonode.devices.message import ABSENT, lookup
from aonode.devices.stack import output_prefix
from aonode.devices.wasi import stderr_tail
from aonode.devices.wasm import instance_of
from aonode.errors import AOError, BadMessage
from aonode.runtime.wasm import WasmTrap
from aonode.text import as_text

__all__ = ["JsonIfaceDevice"]


def _results_node(state: Mapping[str, Any], prefix: bytes) -> Any:
    node: Any = state.get("results")
    for part in [p for p in as_text(prefix, errors="surrogateescape").split("/") if p]:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _stderr(state: Mapping[str, Any]) -> bytes:
    vfs = state.get("vfs")
    dev = vfs.get("dev") if isinstance(vfs, Mapping) else None
    found = dev.get("stderr") if isinstance(dev, Mapping) else None
    return found if isinstance(found, bytes) else b""


def _failed(state: Mapping[str, Any], why: str) -> Result:
    # The reference answers the whole state with `results: {body: why}`; the reason is enough.
    priv = state.get("priv")
    start = priv.get("stderr-at") if isinstance(priv, Mapping) else None
    written = _stderr(state)[start:] if isinstance(start, int) else b""
    if written:
        why = f"{why} The module's stderr: {stderr_tail(written)}"
    return Result("error", {"status": 422, "body": why.encode()})


class JsonIfaceDevice(Device):
    """`json-iface@1.0` (see the module docstring)."""

    name = "json-iface@1.0"

    def init(self, base: Any) -> Any:
        return {**base, "function": b"handle"}

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping) or not isinstance(request, Mapping):
            raise BadMessage("json-iface@1.0 computes a state with a request")
        passes = lookup("pass", base)
        current = as_text(passes, errors="surrogateescape") if passes is not ABSENT else "1"
        if current == "1":
            return self._prepare(base, request, opts)
        if current == "2":
            return self._read(base, opts)
        return Result("ok", base)

    def _prepare(self, state: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        process = state.get("process") if isinstance(state.get("process"), Mapping) else {}
        assert isinstance(process, Mapping)
        body = request.get("body")
        message: Mapping[str, Any] = body if isinstance(body, Mapping) else request
        image = process.get("image", b"")
        module_id = (as_text(image, errors="surrogateescape")
                     if isinstance(image, (bytes, str)) and len(image) == 43 else "")
        pid = message_id(dict(process), committers="all") if process else ""
        msg = legacy.message_json(message, module=module_id,
                                  assignment=request if isinstance(request.get("body"), Mapping) else None)
        env = legacy.env_json(process, pid, None, module_id)
        instance = instance_of(state, output_prefix(state, None, opts))
        if instance is None:
            raise BadMessage("json-iface@1.0: no WASM instance in the state (is wasm-64@1.0 initialised?)")
        try:
            msg_ptr = instance.write_string(legacy.encode(msg))
            env_ptr = instance.write_string(legacy.encode(env))
        except WasmTrap as exc:
            return _failed(state, f"json-iface@1.0 could not write the message: {exc.message}")
        priv = {k: v for k, v in (state.get("priv") or {}).items() if k != "dry-run"}
        priv["stderr-at"] = len(_stderr(state))
        if not isinstance(body, Mapping):
            priv["dry-run"] = True
        return Result("ok", {**state, "function": b"handle", "parameters": [msg_ptr, env_ptr], "priv": priv})

    def _read(self, state: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        prefix = output_prefix(state, None, opts)
        node = _results_node(state, prefix)
        if not isinstance(node, Mapping) or as_text(node.get("type", b""), errors="surrogateescape") != "ok":
            reason = node.get("body") if isinstance(node, Mapping) else None
            detail = f" {as_text(reason, errors='surrogateescape')}." if reason else ""
            return _failed(state, "WASM execution error." + detail)
        output = node.get("output")
        instance = instance_of(state, prefix)
        if not isinstance(output, list) or not output or instance is None:
            return _failed(state, "WASM execution error.")
        try:
            found = legacy.response(instance.read_string(int(output[0])))
        except (WasmTrap, AOError):
            found = None
        if found is None:
            return _failed(state, "JSON error parsing result output.")
        process = state.get("process") if isinstance(state.get("process"), Mapping) else {}
        assert isinstance(process, Mapping)
        pid = message_id(dict(process), committers="all") if process else ""
        image = process.get("image", b"")
        module_id = (as_text(image, errors="surrogateescape")
                     if isinstance(image, (bytes, str)) and len(image) == 43 else "")
        results = legacy.results(found, pid, module_id)
        clean = {k: v for k, v in state.items() if k not in ("function", "parameters")}
        priv = clean.get("priv")
        if isinstance(priv, Mapping) and priv.get("dry-run") is True:
            # A dry run answers its state: the legacy result also at the top, where aoconnect
            # 0.0.98 reads it (0.0.93 reads `results/raw`). The state is not kept.
            clean = {**clean, "raw": results["raw"], "priv": {k: v for k, v in priv.items() if k != "dry-run"}}
        return Result("ok", {**clean, "results": results})
