"""C compiled to WebAssembly during the test (tests/wasm_c/build.py: clang, wasi-libc, Binaryen)
under aonode's WASM host: arithmetic, imports, WASI output through `wasi@1.0`, memory growth and
limits, setjmp/longjmp lowered both ways, snapshots and fuel, for wasm32 and wasm64; and the
Lua process module of tests/devices/test_aos_lua_wasm.py called directly."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasm_c import build

from aonode.core import resolve
from aonode.devices.wasi import stdout
from aonode.errors import Unsupported
from aonode.runtime.wasm import WasmInstance, WasmTrap, compile_module, engine

ARCHS = ["wasm32", "wasm64"]
PAGE = 65536
Calls = list[tuple[str, str, list[Any], str]]


@pytest.fixture(scope="module")
def tools() -> build.Toolchain:
    try:
        return build.toolchain()
    except build.ToolchainError as exc:
        pytest.fail(str(exc))


def module_bytes(make: Callable[..., Path], *args: Any, **kw: Any) -> bytes:
    try:
        return make(*args, **kw).read_bytes()
    except build.ToolchainError as exc:
        pytest.fail(str(exc))


def instance(wasm: bytes, calls: Calls | None = None, **kw: Any) -> WasmInstance:
    """`wasm` instantiated; `env.host_add` answers the sum of its arguments; calls are recorded."""

    def on_import(module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        if calls is not None:
            calls.append((module, field, args, sig))
        if (module, field) != ("env", "host_add"):
            raise AssertionError(f"unexpected import {module}.{field}")
        return [sum(args)]

    return WasmInstance(compile_module(wasm), on_import, **kw)


def freestanding(arch: str, calls: Calls | None = None, **kw: Any) -> WasmInstance:
    return instance(module_bytes(build.freestanding, arch), calls, **kw)


# --- freestanding C -------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_arithmetic(tools: build.Toolchain, arch: str) -> None:
    c = freestanding(arch)
    assert c.call("add", 2, 3) == [5]
    assert c.call("add", 2**31 - 1, 1) == [-(2**31)]  # i32 wraps
    assert c.call("mul64", 1 << 40, 3) == [3 << 40]
    assert c.call("half", 5.0) == [2.5]
    assert c.call("sum_to", 100_000) == [5_000_050_000]


@pytest.mark.parametrize("arch", ARCHS)
def test_host_import(tools: build.Toolchain, arch: str) -> None:
    calls: Calls = []
    c = freestanding(arch, calls)
    assert c.call("call_host", 20, 22) == [84]  # (20 + 22) from the host, doubled in C
    assert calls == [("env", "host_add", [20, 22], "(ii)i")]


@pytest.mark.parametrize("arch", ARCHS)
def test_memory_growth_and_limit(tools: build.Toolchain, arch: str) -> None:
    c = freestanding(arch)
    [pages] = c.call("mem_pages")
    assert c.memory_size() == pages * PAGE
    assert c.call("grow", 2) == [pages]
    assert c.memory_size() == (pages + 2) * PAGE
    end = (pages + 2) * PAGE
    assert c.call("poke_sum", end - 1000, 1000) == [sum(i % 256 for i in range(1000))]  # the new pages are usable
    assert c.read(end - 1000, 256) == bytes(range(256))
    with pytest.raises(WasmTrap):
        c.call("poke_sum", end - 10, 20)  # past the end of memory

    limited = freestanding(arch, memory_limit=(pages + 1) * PAGE)
    assert limited.call("grow", 1) == [pages]
    assert limited.call("grow", 1) == [-1]  # refused, as memory.grow reports it
    assert limited.memory_size() == (pages + 1) * PAGE


@pytest.mark.parametrize("arch", ARCHS)
def test_snapshot_and_restore_carry_the_c_state(tools: build.Toolchain, arch: str) -> None:
    first = freestanding(arch)
    for value in (5, 7, 11):
        first.call("remember", value)  # a list on the heap, its head and count in static data
    first.call("grow", 1)
    first.write(first.memory_size() - 6, b"state\0")
    snap = first.snapshot()

    second = freestanding(arch)
    assert second.call("recall") == [0]
    second.restore(snap)
    assert second.snapshot() == snap
    assert second.call("recall") == first.call("recall") == [5 * 1 + 7 * 2 + 11 * 3]
    assert second.read_string(second.memory_size() - 6) == b"state"
    # both go on the same way from there
    assert first.call("remember", 13) == second.call("remember", 13) == [4]
    assert first.snapshot() == second.snapshot()


@pytest.mark.parametrize("arch", ARCHS)
def test_endless_loop_runs_out_of_fuel(tools: build.Toolchain, arch: str) -> None:
    c = freestanding(arch, fuel=2_000_000)
    with pytest.raises(WasmTrap, match="ran out of fuel"):
        c.call("forever")
    assert c.call("add", 1, 1) == [2]  # each call gets its budget again


# --- WASI output through wasi@1.0 and wasm-64@1.0 --------------------------------------------


def wasi_stack(image: bytes) -> dict[str, Any]:
    base = {"device": b"stack@1.0", "device-stack": [b"wasi@1.0", b"wasm-64@1.0"], "output-prefix": b"wasm",
            "image": image}
    state = resolve(base, {"path": "init"}, {"hashpath": "ignore"})
    assert state.ok, state
    assert isinstance(state.value, dict)
    return state.value


def call(state: dict[str, Any], function: str, *params: Any) -> dict[str, Any]:
    after = resolve(state, {"path": "compute", "function": function.encode(), "parameters": list(params)},
                    {"hashpath": "ignore"})
    assert after.ok, after
    assert isinstance(after.value, dict)
    return after.value


@pytest.mark.parametrize("arch", ARCHS)
def test_fd_write_reaches_the_vfs(tools: build.Toolchain, arch: str) -> None:
    state = call(wasi_stack(module_bytes(build.wasi_write, arch)), "greet", 1, 7)
    assert state["results"]["wasm"] == {"type": b"ok", "output": [16]}  # the byte count the host wrote back
    assert stdout(state) == b"hello from C #7\n"
    state = call(state, "greet", 1, 12345)
    assert stdout(state) == b"hello from C #7\nhello from C #12345\n"
    state = call(state, "greet", 2, 1)
    assert state["vfs"]["dev"]["stderr"] == b"hello from C #1\n"
    assert call(state, "greet", 9, 1)["results"]["wasm"]["output"] == [-8]  # EBADF: no fd 9


def test_wasi_libc_printf_reaches_the_vfs(tools: build.Toolchain) -> None:
    state = call(wasi_stack(module_bytes(build.hello_libc)), "greet", 12)
    line = b"hello from wasi-libc, 12 squared is 144\n"
    assert state["results"]["wasm"]["output"] == [len(line)]
    assert stdout(state) == line
    assert stdout(call(state, "greet", 3)) == line + b"hello from wasi-libc, 3 squared is 9\n"


def test_wasi_libc_preopen_scan_ends(tools: build.Toolchain) -> None:
    base = {"device": b"stack@1.0", "device-stack": [b"wasi@1.0", b"wasm-64@1.0"], "output-prefix": b"wasm",
            "image": module_bytes(build.libc_files)}
    opts = {"hashpath": "ignore", "wasm_fuel": 50_000_000}
    state = resolve(base, {"path": "init"}, opts)
    assert state.ok, state
    after = resolve(state.value, {"path": "compute", "function": b"open_file"}, opts)
    assert after.ok and after.value["results"]["wasm"]["type"] == b"ok"


# --- emscripten's heap growth through wasm-64@1.0 --------------------------------------------

MiB = 1024 * 1024


def em_stack(arch: str, opts: dict[str, Any]) -> dict[str, Any]:
    base = {"device": b"stack@1.0", "device-stack": [b"wasi@1.0", b"wasm-64@1.0"], "output-prefix": b"wasm",
            "image": module_bytes(build.em_heap, arch)}
    state = resolve(base, {"path": "init"}, opts)
    assert state.ok, state
    assert isinstance(state.value, dict)
    return state.value


def em_call(state: dict[str, Any], opts: dict[str, Any], function: str, *params: Any) -> dict[str, Any]:
    after = resolve(state, {"path": "compute", "function": function.encode(), "parameters": list(params)}, opts)
    assert after.ok, after
    assert isinstance(after.value, dict)
    return after.value


@pytest.mark.parametrize("arch", ARCHS)
def test_emscripten_heap_grows_beyond_the_initial_memory(tools: build.Toolchain, arch: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """malloc -> sbrk -> the `emscripten_resize_heap` import, as in an AOS module: served by the
    host (not an undefined call answered 0), up to the memory limit; the module's output is in
    the node's log at debug level."""
    opts = {"hashpath": "ignore"}
    state = em_stack(arch, opts)
    [initial] = em_call(state, opts, "heap_size")["results"]["wasm"]["output"]
    assert initial < MiB
    with caplog.at_level(logging.DEBUG, logger="aonode.wasm"):
        state = em_call(state, opts, "fill", 3 * MiB)
    assert state["results"]["wasm"] == {"type": b"ok", "output": [sum(i % 256 for i in range(256)) * (3 * MiB // 256)]}
    assert "undefined-calls" not in state["results"]
    [grown] = em_call(state, opts, "heap_size")["results"]["wasm"]["output"]
    assert 3 * MiB < grown <= 4 * MiB
    assert stdout(state) == b"filled\n"
    assert "WASM stdout: filled" in caplog.text


@pytest.mark.parametrize("arch", ARCHS)
def test_emscripten_heap_stops_at_the_memory_limit(tools: build.Toolchain, arch: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    opts = {"hashpath": "ignore", "wasm_memory_limit": 2 * MiB}
    state = em_stack(arch, opts)
    with caplog.at_level(logging.DEBUG, logger="aonode.wasm"):
        state = em_call(state, opts, "fill", 3 * MiB)
    assert state["results"]["wasm"] == {"type": b"ok", "output": [-1]}  # malloc failed; the module goes on
    assert state["vfs"]["dev"]["stderr"] == b"not enough memory for buffer allocation\n"
    assert "WASM stderr: not enough memory for buffer allocation" in caplog.text
    assert em_call(state, opts, "fill", MiB)["results"]["wasm"]["output"] == [sum(range(256)) * (MiB // 256)]


# --- setjmp/longjmp -------------------------------------------------------------------------

# try_jump(0) does not jump; try_jump(v) longjmps to an inner setjmp, then to the outer one
JUMPS = {0: -2, 1: 1001, 7: 1007, 41: 1041}


def check_jumps(c: WasmInstance) -> None:
    assert {v: c.call("try_jump", v)[0] for v in JUMPS} == JUMPS
    for _ in range(50):
        assert c.call("try_jump", 5) == [1005]


def need_sjlj(tools: build.Toolchain, arch: str) -> None:
    if arch == "wasm64" and not tools.wasm64_sjlj:
        pytest.skip(f"clang-{tools.version} lowers setjmp/longjmp wrongly for wasm64 (install clang-16)")


def wasm_eh_sjlj(tools: build.Toolchain, arch: str) -> bytes:
    need_sjlj(tools, arch)
    return module_bytes(build.sjlj_wasm, arch)


@pytest.mark.parametrize("arch", ARCHS)
def test_setjmp_longjmp_with_wasm_exceptions(tools: build.Toolchain, arch: str) -> None:
    legacy = wasm_eh_sjlj(tools, arch)
    with pytest.raises(wasmtime.WasmtimeError, match="legacy_exceptions"):
        wasmtime.Module(engine(), legacy)  # what clang emits: try/catch
    translated = instance(build.exnref(build.sjlj_wasm(arch)).read_bytes())  # wasm-opt --translate-to-exnref
    check_jumps(translated)
    with pytest.raises(WasmTrap):
        translated.call("jump_nowhere")  # a longjmp nothing catches
    assert translated.call("try_jump", 3) == [1003]


@pytest.mark.parametrize("arch", ARCHS)
def test_compile_module_translates_legacy_exceptions_itself(tools: build.Toolchain, arch: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = wasm_eh_sjlj(tools, arch)
    own = WasmInstance(compile_module(legacy, wasm_opt=str(tools.wasm_opt)), lambda *a: [0])
    check_jumps(own)
    monkeypatch.setenv("PATH", "")  # no wasm-opt given or found
    with pytest.raises(Unsupported, match="wasm-opt"):
        compile_module(legacy)


def test_traps_say_what_happened(tools: build.Toolchain) -> None:
    c = freestanding("wasm32")
    with pytest.raises(WasmTrap, match="out of bounds"):
        c.call("poke_sum", c.memory_size() - 10, 20)
    jumper = instance(build.exnref(build.sjlj_wasm("wasm32")).read_bytes())
    with pytest.raises(WasmTrap, match="exception"):
        jumper.call("jump_nowhere")


@pytest.mark.parametrize("arch", ARCHS)
def test_setjmp_longjmp_emscripten_style(tools: build.Toolchain, arch: str) -> None:
    """`invoke_*` through the host; longjmp by `emscripten_longjmp` (in C) calling the
    `_emscripten_throw_longjmp` import; the host restores the stack pointer."""
    need_sjlj(tools, arch)
    c = instance(module_bytes(build.sjlj_emscripten, arch))
    assert {imp.name for imp in c.module.imports} == {"invoke_ii", "invoke_vi", "_emscripten_throw_longjmp"}
    [sp] = c.call("stackSave")
    check_jumps(c)
    assert c.call("stackSave") == [sp]  # every longjmp unwound the shadow stack it used
    with pytest.raises(WasmTrap, match="longjmp"):
        c.call("jump_nowhere")


@pytest.mark.parametrize("arch", ARCHS)
def test_setjmp_longjmp_emscripten_longjmp_import(tools: build.Toolchain, arch: str) -> None:
    """The older emscripten protocol: `emscripten_longjmp` itself is the import."""
    need_sjlj(tools, arch)
    c = instance(module_bytes(build.sjlj_emscripten, arch, host_longjmp=True))
    assert "emscripten_longjmp" in {imp.name for imp in c.module.imports}
    check_jumps(c)


# --- the Lua process module -----------------------------------------------------------------

OWNER = "owner-address"
ENV = {"Process": {"Id": "process-id", "Owner": OWNER, "Tags": [{"name": "Name", "value": "test"}]}}


@functools.cache
def lua_module() -> wasmtime.Module:
    try:
        return compile_module(build.exnref(build.lua_process()).read_bytes())
    except build.ToolchainError as exc:
        pytest.fail(str(exc))


def lua(**kw: Any) -> tuple[WasmInstance, list[bytes]]:
    """The Lua process, and what it writes to stdout (the host serves fd_write as wasi@1.0 does)."""
    written: list[bytes] = []

    def on_import(module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        if field == "fd_write":
            fd, iovs, count, out = args
            raw = process.read(iovs, 8 * count)
            chunks = [process.read(int.from_bytes(raw[i:i + 4], "little"), int.from_bytes(raw[i + 4:i + 8], "little"))
                      for i in range(0, 8 * count, 8)]
            written.append(b"".join(chunks))
            process.write(out, len(written[-1]).to_bytes(4, "little"))
        return [1] if field == "clock_time_get" else [0]  # no clock, as wasi@1.0

    process = WasmInstance(lua_module(), on_import, **kw)
    return process, written


def handle(process: WasmInstance, data: str, action: str = "Eval", sender: str = OWNER) -> dict[str, Any]:
    msg = {"Id": "m", "Owner": sender, "From": sender, "Tags": [{"name": "Action", "value": action}], "Data": data}
    [answer] = process.call("handle", process.write_string(json.dumps(msg).encode()),
                            process.write_string(json.dumps(ENV).encode()))
    parsed = json.loads(process.read_string(answer))
    assert parsed["ok"] is True
    response: dict[str, Any] = parsed["response"]
    return response


def output(process: WasmInstance, code: str) -> str:
    response = handle(process, code)
    assert "Error" not in response, response
    assert response["Output"]["prompt"] == "aos> "
    data: str = response["Output"]["data"]
    return data


def test_lua_process_evaluates_and_keeps_its_globals(tools: build.Toolchain) -> None:
    process, written = lua()
    assert output(process, "1 + 1") == "2"
    assert output(process, "Counter = 40") == ""
    assert output(process, "Counter = Counter + 1 return Counter") == "41"
    assert output(process, "{a = 1, list = {1, 2.5, 'x\\n'}}") == '{"a":1,"list":[1,2.5,"x\\n"]}'
    assert output(process, "ao.id .. ' ' .. Owner") == f"process-id {OWNER}"
    assert output(process, "'héllo ✓ 😀 \"q\" \\\\ \\t'") == 'héllo ✓ 😀 "q" \\ \t'  # JSON escapes both ways
    assert output(process, "'\\xff\\x01'") == "\xff\x01"  # not UTF-8: the bytes as Latin-1
    assert output(process, "print('to stdout') return 'printed'") == "printed"
    assert b"".join(written) == b"to stdout\n"

    sent = handle(process, "Send({Target = 'abc', Action = 'Ping', Data = 'hi'}) return 'sent'")
    assert sent["Output"]["data"] == "sent" and sent["Spawns"] == [] and sent["Assignments"] == []
    [ping] = sent["Messages"]
    assert (ping["Target"], ping["Data"]) == ("abc", "hi")
    assert {"name": "Action", "value": "Ping"} in ping["Tags"]

    assert handle(process, "error('boom')") == {"Error": '[string "aos"]:1: boom'}
    assert handle(process, "return +")["Error"].startswith('[string "aos"]')
    assert handle(process, "hello", action="Ping", sender="someone")["Output"]["data"] == "New Message"
    assert handle(process, "Counter = 0", sender="someone")["Output"]["data"] == "New Message"  # not the owner
    assert output(process, "Counter .. ' ' .. #Inbox .. ' ' .. Inbox[2].Data") == "41 2 Counter = 0"
    assert output(process, "io.open('/etc/passwd') == nil and os.getenv('HOME') == nil") == "true"


def test_lua_process_state_survives_a_snapshot(tools: build.Toolchain) -> None:
    first, _ = lua()
    output(first, "Greeting = 'hello' Numbers = {} for i = 1, 1000 do Numbers[i] = i * i end")
    snap = first.snapshot()
    second, _ = lua()
    second.restore(snap)
    assert second.snapshot() == snap
    assert output(second, "Greeting .. ' ' .. Numbers[1000]") == "hello 1000000"
    assert output(first, "Greeting .. ' ' .. Numbers[1000]") == "hello 1000000"
    assert first.snapshot() == second.snapshot()


def test_lua_process_endless_loop_runs_out_of_fuel(tools: build.Toolchain) -> None:
    process, _ = lua(fuel=200_000_000)
    assert output(process, "6 * 7") == "42"
    with pytest.raises(WasmTrap, match="fuel"):
        handle(process, "while true do end")


def test_compile_module_translates_the_lua_process_itself(tools: build.Toolchain) -> None:
    legacy = build.lua_process().read_bytes()
    process = WasmInstance(compile_module(legacy, wasm_opt=str(tools.wasm_opt)), lambda *a: [0])
    assert process.has_export("handle")
