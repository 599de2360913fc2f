"""The WASM host (aonode/runtime/wasm.py) on modules written here in WAT (tests/runtime/wat)."""

from __future__ import annotations

import ctypes
import gc
import weakref
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from aonode.runtime import wasm
from aonode.runtime.wasm import WasmError, WasmInstance, WasmTrap, compile_module

WAT = Path(__file__).parent / "wat"


def module_bytes(name: str) -> bytes:
    return bytes(wasmtime.wat2wasm((WAT / f"{name}.wat").read_text()))


def no_imports(module: str, field: str, args: list[Any], sig: str) -> list[Any]:
    raise AssertionError(f"unexpected import {module}.{field}")


def arith(**kw: Any) -> tuple[WasmInstance, list[tuple[str, str, list[Any], str]]]:
    calls: list[tuple[str, str, list[Any], str]] = []

    def on_import(module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        calls.append((module, field, args, sig))
        return [sum(args)]

    return WasmInstance(compile_module(module_bytes("arith")), on_import, **kw), calls


def test_arithmetic_and_types() -> None:
    instance, _ = arith()
    assert instance.call("add", 2, 3) == [5]
    assert instance.call("mul64", 1 << 40, 3) == [3 << 40]
    assert instance.call("half", 5.0) == [2.5]
    assert instance.call("split", 1.5, -2) == [-1, 3.0]  # several results, in order
    assert instance.call("add", 2**31 - 1, 1) == [-(2**31)]  # i32 results read as signed, like wasmtime's


def test_calls_with_the_wrong_arguments_are_errors() -> None:
    instance, _ = arith()
    with pytest.raises(WasmError, match="takes 2 arguments, 1 given"):
        instance.call("add", 1)
    with pytest.raises(WasmError, match="is not a WASM i32"):
        instance.call("add", 1.5, 2)
    with pytest.raises(WasmError, match="exports no function 'nothing'"):
        instance.call("nothing")


def test_imports_reach_the_handler_with_their_signature() -> None:
    instance, calls = arith()
    assert instance.call("call_host", 20, 22) == [42]
    assert calls == [("env", "host_add", [20, 22], "(ii)i")]


def test_memory_growth_read_write() -> None:
    instance, _ = arith()
    assert instance.memory_size() == 65536
    assert instance.call("grow", 2) == [1]
    assert instance.memory_size() == 3 * 65536
    instance.call("poke", 3 * 65536 - 1, 7)
    assert instance.read(3 * 65536 - 1, 1) == b"\x07"
    instance.write(10, b"hello\0")
    assert instance.read_string(10) == b"hello"
    with pytest.raises(WasmTrap, match="out of bounds"):
        instance.read(3 * 65536 - 1, 2)


def test_snapshot_and_restore_give_the_same_memory() -> None:
    first, _ = arith()
    first.call("grow", 1)
    first.call("poke", 70_000, 99)
    first.write(100, b"state")
    snap = first.snapshot()
    second, _ = arith()
    second.restore(snap)
    assert second.snapshot() == snap
    assert second.call("peek", 70_000) == [99] and second.read_string(100) == b"state"


def test_a_memory_of_no_pages() -> None:
    code = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 0 2))'))
    instance = WasmInstance(compile_module(code), no_imports)
    assert instance.snapshot() == b"" and instance.read(0, 0) == b""
    instance.restore(b"")
    with pytest.raises(WasmTrap, match="out of bounds"):
        instance.read(0, 1)
    instance.restore(b"\x01" * 70000)  # grows to fit
    assert instance.memory_size() == 2 * 65536 and instance.read(69999, 2) == b"\x01\0"
    with pytest.raises(WasmTrap, match="larger than this instance's memory can grow"):
        instance.restore(bytes(3 * 65536))


def test_endless_loop_runs_out_of_fuel_and_the_instance_stays_usable() -> None:
    instance, _ = arith(fuel=1_000_000)
    with pytest.raises(WasmTrap, match="ran out of fuel"):
        instance.call("forever")
    assert instance.call("add", 1, 1) == [2]  # each call gets its budget again


def host_calls(answer: Any, **kw: Any) -> WasmInstance:
    def on_import(module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        if field == "now":
            return answer() if callable(answer) else [answer]
        return []

    return WasmInstance(compile_module(module_bytes("host_calls")), on_import, **kw)


def test_a_loop_on_a_host_call_runs_out_of_fuel() -> None:
    # Each host call costs HOST_CALL_FUEL: 10 of them exhaust this budget, however little
    # WASM runs between them.
    instance = host_calls(0, fuel=10 * wasm.HOST_CALL_FUEL)
    with pytest.raises(WasmTrap, match="ran out of fuel .*calling env.tick"):
        instance.call("spin")


def test_emscripten_memcpy_is_a_memmove() -> None:
    instance = host_calls(0)
    instance.call("copy", 18, 16, 5)  # overlapping, as memmove allows
    assert instance.read(16, 7) == b"hehello"


@pytest.mark.parametrize(("answer", "expected"), [(0, 0.0), (1.5, 1.5), (True, 1.0)])
def test_import_results_take_their_signature_type(answer: Any, expected: float) -> None:
    assert host_calls(answer).call("now") == [expected]


@pytest.mark.parametrize(("answer", "message"), [
    (b"0", "returned b'0' where its signature has a number"),
    (lambda: [], "returned 0 values"),
    (lambda: {}["missing"], "import env.now failed: KeyError"),
])
def test_bad_import_answers_are_traps(answer: Any, message: str) -> None:
    with pytest.raises(WasmTrap, match=message):
        host_calls(answer).call("now")


def test_trap_is_an_error() -> None:
    instance, _ = arith()
    with pytest.raises(WasmTrap, match="boom"):
        instance.call("boom")
    with pytest.raises(WasmError, match="no function"):
        instance.call("missing")


def test_memory_limit() -> None:
    instance, _ = arith(memory_limit=2 * 65536)
    assert instance.call("grow", 1) == [1]
    assert instance.call("grow", 1) == [-1]  # refused, as memory.grow reports it


def test_memory64() -> None:
    instance = WasmInstance(compile_module(module_bytes("memory64")), no_imports)
    instance.call("store", 65_000, 1234)
    assert instance.call("load", 65_000) == [1234]
    assert instance.call("grow", 1) == [1]
    instance.call("store", 70_000, 5)
    assert instance.read(70_000, 4) == (5).to_bytes(4, "little")


def test_exceptions_caught_in_the_module_and_escaping() -> None:
    instance = WasmInstance(compile_module(module_bytes("exceptions")), no_imports)
    assert instance.call("catch_it", 7) == [7]  # the payload of the caught exception
    with pytest.raises(WasmTrap, match="escape"):
        instance.call("escape", 1)


def test_emscripten_longjmp_through_invoke() -> None:
    instance = WasmInstance(compile_module(module_bytes("emscripten_sjlj")), no_imports)
    assert instance.call("run", 1) == [0, 42]  # the normal table entry ran; nothing thrown
    assert instance.call("run", 0) == [1, 100]  # longjmp: setThrew(1), stack pointer restored


def test_compiled_modules_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = module_bytes("arith")
    compile_module(code, tmp_path)
    assert len(list(tmp_path.glob("*.cwasm"))) == 1
    compiled: list[bytes] = []
    real = wasmtime.Module.__init__

    def counting(self: Any, engine: Any, wasm_code: Any, *args: Any) -> None:
        compiled.append(wasm_code)
        real(self, engine, wasm_code, *args)

    monkeypatch.setattr(wasmtime.Module, "__init__", counting)
    again = compile_module(code, tmp_path)
    assert compiled == []  # deserialised, not compiled
    assert WasmInstance(again, lambda *a: [0]).call("add", 1, 2) == [3]


def test_not_a_module() -> None:
    with pytest.raises(WasmError, match="not a valid WASM module"):
        compile_module(b"\0asm\1\0\0\0garbage")


def test_signature_letters() -> None:
    kind = wasmtime.FuncType([wasmtime.ValType.i32(), wasmtime.ValType.i64(), wasmtime.ValType.f64()],
                             [wasmtime.ValType.f32()])
    assert wasm.signature(kind) == "(iIF)f"


# --- emscripten's heap growth, memory copies, instances dropped -----------------------------------

MiB = 1024 * 1024
PAGE = 65536


def heap(name: str = "emscripten_heap", **kw: Any) -> WasmInstance:
    return WasmInstance(compile_module(module_bytes(name)), no_imports, **kw)


def test_emscripten_resize_heap_grows_as_emscripten_does() -> None:
    instance = heap()
    assert instance.call("resize", 3 * PAGE + 1) == [1]
    assert instance.memory_size() == 4 * PAGE  # the request, rounded up to pages (20% of 1 page is less)
    assert instance.call("resize", 10 * MiB) == [1]
    assert instance.memory_size() == 10 * MiB
    assert instance.call("resize", 10 * MiB + 1) == [1]
    assert instance.memory_size() == 12 * MiB  # over-grown by 20%, as emscripten's JavaScript does
    assert instance.call("resize", 5 * MiB) == [1]  # already that large: nothing to do
    assert instance.memory_size() == 12 * MiB
    instance.call("notify")  # emscripten_notify_memory_growth: served, nothing to do
    assert instance.call("pages") == [12 * MiB // PAGE]  # the module sees the new size


def test_emscripten_resize_heap_stops_at_the_memory_limit() -> None:
    instance = heap(memory_limit=16 * MiB)
    assert instance.call("resize", 16 * MiB + 1) == [0]  # refused: malloc fails in the module
    assert instance.memory_size() == PAGE
    assert instance.call("resize", 15 * MiB) == [1]
    assert instance.call("resize", 15 * MiB + 1) == [1]
    assert instance.memory_size() == 16 * MiB  # over-growth is capped by the limit
    assert instance.call("resize", -1) == [0]  # size_t 0xFFFFFFFF, not a negative size
    assert instance.heap_max() == 16 * MiB


def test_emscripten_resize_heap_wasm64() -> None:
    instance = heap("emscripten_heap64", memory_limit=64 * MiB)
    assert instance.call("resize", 2 * MiB) == [1]
    assert instance.memory_size() == 2 * MiB
    assert instance.call("resize", (1 << 32) + PAGE) == [0]  # above the limit, not truncated to 32 bits
    assert instance.call("resize", 300 * MiB) == [0]
    assert heap("emscripten_heap64", memory_limit=1 << 40).heap_max() == 4096 * PAGE  # the declared maximum


def test_copies_go_chunk_by_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 40 + b"tail"
    buffer = ctypes.create_string_buffer(data, len(data))
    address = ctypes.addressof(buffer)
    for chunk in (1, 7, 256, len(data) - 1, len(data), 1 << 20):
        assert wasm.copy_out(address, len(data), chunk) == data
        assert wasm.copy_out(address + 5, 1000, chunk) == data[5:1005]
        target = ctypes.create_string_buffer(len(data))
        wasm.copy_in(ctypes.addressof(target), data, chunk)
        assert target.raw == data
    # an instance's reads, writes, strings, snapshots and restores, 4 KiB per ctypes call
    monkeypatch.setattr(wasm, "COPY_CHUNK", 4096)
    instance, _ = arith()
    instance.call("grow", 2)
    pattern = bytes(i * 7 % 251 for i in range(3 * PAGE - 100))
    instance.write(50, pattern)
    instance.write(3 * PAGE - 40, b"x" * 20 + b"\0")
    assert instance.read(50, len(pattern)) == pattern
    assert instance.read_string(3 * PAGE - 40) == b"x" * 20
    snap = instance.snapshot()
    assert len(snap) == 3 * PAGE and snap[50:50 + len(pattern)] == pattern
    other, _ = arith()
    other.restore(snap)
    assert other.snapshot() == snap


def test_a_memory_above_2_gib_snapshots_and_restores() -> None:
    """`ctypes.string_at` takes a C int: one copy of 2 GiB or more fails without chunks."""
    size = 2048 * MiB + 4 * PAGE
    first, _ = arith(memory_limit=3 * 1024 * MiB)
    assert first.call("grow", size // PAGE - 1) == [1]
    marks = {0: b"start", 2**31 - 3: b"across INT_MAX", size - 4: b"end!"}
    for offset, mark in marks.items():
        first.write(offset, mark)
    snap = first.snapshot()
    assert len(snap) == size
    first.close()
    second, _ = arith(memory_limit=3 * 1024 * MiB)
    second.restore(snap)
    del snap
    assert second.memory_size() == size
    for offset, mark in marks.items():
        assert second.read(offset, len(mark)) == mark
    assert second.call("peek", 2**31 + 1) == [ord("s")]  # the module reads it too
    assert second.read(2**31 + PAGE, 8) == bytes(8)


def test_a_dropped_instance_frees_its_memory_at_once() -> None:
    """Without a garbage collector pass: wasmtime-py's global table of host functions holds
    only weak references to the instance, so its store goes with its last reference."""
    from wasmtime._func import FUNCTIONS

    gc.disable()
    try:
        before = len(FUNCTIONS.handles)
        instance, _ = arith()
        instance.call("grow", 10)
        dropped = weakref.ref(instance)
        del instance
        assert dropped() is None
        assert len(FUNCTIONS.handles) == before
    finally:
        gc.enable()


def test_a_closed_instance_is_not_called_again() -> None:
    instance, _ = arith()
    with pytest.raises(WasmTrap):
        instance.call("boom")
    instance.close()
    instance.close()  # twice is fine
    assert instance.closed and not instance.has_export("add")
    with pytest.raises(WasmTrap, match="closed"):
        instance.call("add", 1, 2)
    with pytest.raises(WasmTrap, match="closed"):
        instance.read(0, 4)
