"""wasm-64@1.0: the reference's dev_wasm tests (processes-compute.md §7) on modules written here
in WAT (tests/runtime/wat), and the device's own contract."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from aonode.core import resolve
from aonode.devices.wasm import WasmDevice, instance_of, memory_limit
from aonode.runtime.wasm import WasmInstance
from aonode.store import MemoryStore, MessageCache

WAT = Path(__file__).parents[1] / "runtime" / "wat"


def image(name: str) -> bytes:
    return bytes(wasmtime.wat2wasm((WAT / f"{name}.wat").read_text()))


def init(base: dict[str, Any], opts: dict[str, Any] | None = None) -> dict[str, Any]:
    result = resolve(base, {"path": "init"}, {"hashpath": "ignore", **(opts or {})})
    assert result.ok, result
    assert isinstance(result.value, dict)
    return result.value


def compute(state: dict[str, Any], function: str, *params: Any, **opts: Any) -> dict[str, Any]:
    result = resolve(state, {"path": "compute", "function": function.encode(), "parameters": list(params)},
                     {"hashpath": "ignore", **opts})
    assert result.ok, result
    assert isinstance(result.value, dict)
    return result.value


def pow_base() -> dict[str, Any]:
    return {"device": b"wasm-64@1.0", "image": image("pow"), "stdlib": {"my_lib": {"device": b"test-device@1.0"}}}


# --- §7 dev_wasm.erl ----------------------------------------------------------------------------


def test_init() -> None:
    state = init({"device": b"wasm-64@1.0", "image": image("fac")})
    assert isinstance(state["priv"]["instance"], WasmInstance)


def test_input_prefix() -> None:
    state = init({"device": b"wasm-64@1.0", "input-prefix": b"test-in", "test-in": {"image": image("fac")}})
    assert isinstance(state["priv"]["instance"], WasmInstance)


def test_process_prefixes() -> None:
    state = init({"device": b"wasm-64@1.0", "output-prefix": b"wasm", "input-prefix": b"process",
                  "process": {"image": image("fac")}})
    assert isinstance(state["priv"]["wasm"]["instance"], WasmInstance)


def test_basic_execution() -> None:
    state = compute(init({"device": b"wasm-64@1.0", "image": image("fac")}), "fac", 5.0)
    assert state["results"]["type"] == b"ok" and state["results"]["output"] == [120.0]


def test_basic_execution_64() -> None:
    state = compute(init({"device": b"wasm-64@1.0", "image": image("fac64")}), "fac", 5.0)
    assert state["results"]["output"] == [120.0]


def test_imported_function() -> None:
    state = compute(init(pow_base()), "pow", 2, 5)
    assert state["results"]["output"] == [32]


def test_state_export_and_restore() -> None:
    state = compute(init(pow_base()), "pow", 2, 2)
    assert state["results"]["output"] == [4]
    snap = resolve(state, {"path": "snapshot"}, {"hashpath": "ignore"})
    assert snap.ok
    fresh = {**pow_base(), "snapshot": snap.value}  # no init: normalize restores the memory
    restored = compute(fresh, "last")
    assert restored["results"]["output"] == [4]
    assert "snapshot" not in restored


# --- the device's own contract -----------------------------------------------------------------


def test_image_by_id() -> None:
    cache = MessageCache(MemoryStore())
    image_id = cache.write({"content-type": b"application/wasm", "body": image("fac")})
    state = compute(init({"device": b"wasm-64@1.0", "image": image_id.encode()}, {"cache": cache}), "fac", 3.0,
                    cache=cache)
    assert state["results"]["output"] == [6.0]


def test_unserved_import_returns_zero_and_is_recorded() -> None:
    state = compute(init(pow_base()), "ask_nobody")
    assert state["results"]["output"] == [0]
    [call] = state["results"]["undefined-calls"]
    assert (call["module"], call["func"], call["args"], call["func-sig"]) == (b"my_lib", b"unserved", [9], b"(i)i")


def test_undefined_calls_accumulate_without_changing_earlier_states() -> None:
    first = compute(init(pow_base()), "ask_nobody")
    second = compute(first, "ask_nobody")
    assert len(second["results"]["undefined-calls"]) == 2
    assert len(first["results"]["undefined-calls"]) == 1  # the earlier state is as it was


def test_endless_loop_is_an_error_result() -> None:
    state = compute(init(pow_base(), {"wasm_fuel": 1_000_000}), "forever", wasm_fuel=1_000_000)
    assert state["results"]["type"] == b"error" and b"fuel" in state["results"]["body"]
    assert compute(state, "pow", 3, 2)["results"]["output"] == [9]


def test_no_function_is_a_no_op() -> None:
    state = init({"device": b"wasm-64@1.0", "image": image("fac")})
    after = resolve(state, {"path": "compute"}, {"hashpath": "ignore"})
    assert after.ok and "results" not in after.value


def test_later_passes_do_nothing() -> None:
    state = {**init({"device": b"wasm-64@1.0", "image": image("fac")}), "pass": 2}
    after = compute(state, "fac", 3.0)
    assert "results" not in after


def test_bad_images() -> None:
    with pytest.raises(Exception, match="No viable image"):
        init({"device": b"wasm-64@1.0"})
    with pytest.raises(Exception, match="AOT"):
        init({"device": b"wasm-64@1.0", "image": b"\0aot\1\0\0\0"})
    with pytest.raises(Exception, match="not a valid WASM module"):
        init({"device": b"wasm-64@1.0", "image": b"\0asm\1\0\0\0junk"})


def test_terminate_drops_the_instance() -> None:
    state = init({"device": b"wasm-64@1.0", "image": image("fac")})
    done = WasmDevice().terminate(state, {}, {})
    assert done.ok and instance_of(done.value) is None


def test_snapshots_are_deflated_and_raw_ones_are_read() -> None:
    state = compute(init(pow_base()), "pow", 3, 3)
    snap = resolve(state, {"path": "snapshot"}, {"hashpath": "ignore"}).value
    assert snap["content-encoding"] == b"deflate" and len(snap["body"]) < 65536 // 10
    raw = {"body": zlib.decompress(snap["body"])}  # the reference's form: the memory as it is
    restored = compute({**pow_base(), "snapshot": raw}, "last")
    assert restored["results"]["output"] == [27]
    with pytest.raises(Exception, match="does not decompress"):
        compute({**pow_base(), "snapshot": {"body": b"junk", "content-encoding": b"deflate"}}, "last")


# --- memory: limits, growth, trapped instances ------------------------------------------------------


def test_a_trapped_instance_is_dropped_and_closed() -> None:
    state = init(pow_base(), {"wasm_fuel": 1_000_000})
    trapped = instance_of(state)
    assert trapped is not None
    after = compute(state, "forever", wasm_fuel=1_000_000)
    assert after["results"]["type"] == b"error"
    assert instance_of(after) is None and trapped.closed  # its memory freed now, not at the next GC
    assert compute(after, "pow", 2, 5)["results"]["output"] == [32]  # a new instance


def test_the_memory_limit_is_the_nodes_lowered_by_the_process() -> None:
    node = {"wasm_memory_limit": 64 * 1024 * 1024}
    assert memory_limit(node) == 64 * 1024 * 1024
    assert memory_limit(node, {"memory-limit": b"1-mb"}) == 1024 * 1024
    assert memory_limit(node, {"memory-limit": "512 KB"}, {"memory-limit": b"1-mb"}) == 512 * 1024  # process first
    assert memory_limit(node, {}, {"memory-limit": 2 * 65536}) == 2 * 65536  # then the module
    assert memory_limit(node, {"memory-limit": b"16-gb"}) == 64 * 1024 * 1024  # never above the node's
    assert memory_limit(node, {"memory-limit": b"lots"}) == 64 * 1024 * 1024
    assert memory_limit({}) == 1024 * 1024 * 1024  # the default: 1 GiB


def test_the_process_memory_limit_reaches_the_instance() -> None:
    base = {"device": b"wasm-64@1.0", "image": image("fac"), "process": {"memory-limit": b"2-mb"}}
    found = instance_of(init(base))
    assert found is not None and found.memory_limit == 2 * 1024 * 1024
