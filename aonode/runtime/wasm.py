"""The WASM host: modules compiled ahead of time by wasmtime (Cranelift), instances whose
imports call back into Python, fuel and memory limits, and memory snapshots
(processes-compute.md §4.2-4.3).

    compile(wasm, cache_dir)   a `wasmtime.Module`; compiled code is kept in `cache_dir` (by the
                               module's SHA-256 and the engine's settings), so a second load
                               deserialises instead of compiling. Modules that use the legacy
                               exception opcodes (try/catch/delegate), which wasmtime refuses, are
                               first translated to the standard form with Binaryen's `wasm-opt
                               --translate-to-exnref` (found on PATH, or `wasm_opt` given).
    WasmInstance(module, on_import, ...)
                               an instance: every imported function calls
                               `on_import(module, field, args, signature)`, which returns the
                               results as a list; emscripten's `invoke_*` glue is served here
                               (the table call, and on a longjmp or C++ exception the stack restore
                               and `setThrew(1, 0)`), and so are `emscripten_resize_heap` (the heap
                               grows as emscripten's JavaScript grows it, up to `memory_limit`) and
                               `emscripten_notify_memory_growth` (nothing to do).

Signatures use the reference's letters: `i` i32, `I` i64, `f` f32, `F` f64, as in `(iI)f`.
A call that runs out of fuel, traps, or exceeds the memory limit raises `WasmTrap`; the
instance should then be dropped (`close()` frees its memory at once), the node keeps serving.
The callbacks an instance gives wasmtime hold it weakly: wasmtime-py keeps every host function
in a global table until its store is deleted, so a strong reference there would keep the store,
and the whole linear memory, alive for the life of the node.

Memory is copied in and out with ctypes in chunks of at most `COPY_CHUNK` bytes (`ctypes.string_at`
takes its length as a C int: one call cannot copy 2 GiB or more).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi
from wasmtime._func import maybe_raise_last_exn

from aonode._memo import Memo
from aonode.errors import AOError, Unsupported

_log = logging.getLogger("aonode.wasm")

__all__ = [
    "COPY_CHUNK",
    "DEFAULT_FUEL",
    "DEFAULT_MEMORY_LIMIT",
    "HOST_CALL_FUEL",
    "METERINGS",
    "ImportHandler",
    "WasmError",
    "WasmInstance",
    "WasmTrap",
    "compile_module",
    "copy_in",
    "copy_out",
    "engine",
    "result_count",
    "signature",
]

DEFAULT_FUEL = 50_000_000_000
# What an instance may grow to unless told otherwise: the legacy CU's PROCESS_WASM_MEMORY_MAX_LIMIT.
DEFAULT_MEMORY_LIMIT = 1024 * 1024 * 1024
PAGE = 65536
# The largest copy between linear memory and Python in one ctypes call.
COPY_CHUNK = 256 * 1024 * 1024
# What one call from WASM to the host costs in fuel: about its time in Python (tens of µs) at
# the rate WASM code burns fuel, so a budget bounds time spent in host calls too.
HOST_CALL_FUEL = 100_000
# emscripten's JavaScript memcpy for large copies, served here as a memmove.
_MEMCPY = ("_emscripten_memcpy_js", "emscripten_memcpy_big")
_LEGACY_EH = "legacy_exceptions feature required"
# emscripten's JavaScript heap growth (library.js `_emscripten_resize_heap`): over-grow by 20%
# (then 10%, 5%), but by at most this much beyond the request.
_OVERGROW_CAP = 96 * 1024 * 1024

ImportHandler = Callable[[str, str, list[Any], str], Sequence[Any]]


class WasmError(AOError):
    """A module that cannot be loaded or instantiated."""

    status = 422


class WasmTrap(AOError):
    """A call that trapped: out of fuel, out of memory, unreachable, an uncaught exception."""

    status = 500


_ENGINE_LOCK = threading.Lock()
_ENGINES: dict[str, wasmtime.Engine] = {}
# How a call's work is bounded (the `wasm_metering` option; docs/decisions.md):
#   fuel    wasmtime counts instructions: a call that runs out fails the same way on every
#           machine, at the cost of a counter update in every basic block.
#   epoch   wasmtime checks a counter a background thread raises every `EPOCH_TICK` seconds: no
#           per-instruction cost, but when a call runs out depends on the machine and its load.
METERINGS = ("fuel", "epoch")
EPOCH_TICK = 0.01
DEFAULT_TIME_LIMIT = 30.0
# The settings every compiled module depends on: part of the cache key (the fuel key is the one
# used before the epoch engine existed, so compiled modules already cached stay valid).
_SETTINGS = {"fuel": "memory64,exceptions,fuel,speed", "epoch": "memory64,exceptions,epoch,speed"}


def _checked(metering: str) -> str:
    if metering not in METERINGS:
        raise WasmError(f"unknown WASM metering {metering!r}: use one of {', '.join(METERINGS)}")
    return metering


def engine(metering: str = "fuel") -> wasmtime.Engine:
    """The node's wasmtime engine for `metering` (memory64, exceptions, Cranelift `speed`, and
    fuel or epoch interruption); the first epoch engine starts the thread that ticks it.

    Raises:
        WasmError: `metering` is neither `fuel` nor `epoch`.
    """
    _checked(metering)
    with _ENGINE_LOCK:
        found = _ENGINES.get(metering)
        if found is None:
            config = wasmtime.Config()
            config.wasm_memory64 = True
            config.wasm_exceptions = True
            config.consume_fuel = metering == "fuel"
            config.epoch_interruption = metering == "epoch"
            config.cranelift_opt_level = "speed"
            found = _ENGINES[metering] = wasmtime.Engine(config)
            if metering == "epoch":
                threading.Thread(target=_tick, args=(found,), name="aonode-wasm-epoch", daemon=True).start()
        return found


def _tick(ticked: wasmtime.Engine) -> None:
    """Raise `ticked`'s epoch every `EPOCH_TICK` seconds, for the life of the OS process."""
    while True:
        time.sleep(EPOCH_TICK)
        ticked.increment_epoch()


def _letter(kind: wasmtime.ValType) -> str:
    return {"i32": "i", "i64": "I", "f32": "f", "f64": "F"}.get(str(kind), "?")


def signature(functype: wasmtime.FuncType) -> str:
    """`(iI)f` for a function of an i32 and an i64 returning an f32."""
    return "(" + "".join(_letter(p) for p in functype.params) + ")" + "".join(_letter(r) for r in functype.results)


# What a process module may use; named one by one, as `--all-features` also turns on encodings
# (compact imports) that wasmtime does not read.
_FEATURES = ("--enable-exception-handling", "--enable-memory64", "--enable-bulk-memory", "--enable-multivalue",
             "--enable-mutable-globals", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
             "--enable-reference-types", "--enable-simd", "--enable-tail-call")
_TRANSLATES: Memo[str, bool] = Memo(16)


def _can_translate(tool: str) -> bool:
    """Whether this wasm-opt has `--translate-to-exnref` (Binaryen 117 and later); asked once per tool."""
    return _TRANSLATES.get_or_compute(tool, lambda: _has_exnref(tool))


def _has_exnref(tool: str) -> bool:
    try:
        done = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--translate-to-exnref" in done.stdout


def result_count(sig: str) -> int:
    """How many values a function of signature `sig` returns (one letter each after `)`)."""
    return len(sig) - sig.index(")") - 1


def _wasm_opt(given: str | None) -> str | None:
    for candidate in (given, shutil.which("wasm-opt")):
        if candidate and os.access(candidate, os.X_OK) and _can_translate(candidate):
            return candidate
    return None


def _translate(wasm: bytes, wasm_opt: str | None) -> bytes:
    tool = _wasm_opt(wasm_opt)
    if tool is None:
        raise Unsupported("the module uses the legacy WASM exception opcodes, which must be translated with "
                          "Binaryen's wasm-opt 117 or later (`npm install binaryen`, then set the `wasm_opt` option "
                          "or PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.wasm", Path(tmp) / "out.wasm"
        source.write_bytes(wasm)
        done = subprocess.run([tool, *_FEATURES, "--translate-to-exnref", str(source), "-o", str(target)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise WasmError(f"wasm-opt could not translate the module's exceptions: {done.stderr.strip()[:500]}")
        return target.read_bytes()


def _cache_file(cache_dir: Path, wasm: bytes, metering: str) -> Path:
    key = hashlib.sha256(wasm + _SETTINGS[metering].encode()).hexdigest()
    return cache_dir / f"{key}.cwasm"


def compile_module(wasm: bytes, cache_dir: Path | None = None, *, wasm_opt: str | None = None,
                   metering: str = "fuel") -> wasmtime.Module:
    """The compiled form of `wasm` for the `metering` engine, from `cache_dir` when it was
    compiled before.

    Raises:
        WasmError: the bytes are not a module wasmtime accepts (after any translation).
        Unsupported: the module needs a translation and no `wasm-opt` is available.
    """
    _checked(metering)
    if not wasm.startswith(b"\0asm"):  # wasmtime would read anything else as the text format
        raise WasmError("not a WASM module: the bytes do not start with \\0asm")
    found = _cache_file(cache_dir, wasm, metering) if cache_dir is not None else None
    if found is not None and found.exists():
        try:
            return wasmtime.Module.deserialize_file(engine(metering), str(found))
        except wasmtime.WasmtimeError:
            found.unlink(missing_ok=True)  # another wasmtime build wrote it: compile again
    # A first compile of a large module (AOS: ~10 MiB) takes tens of seconds: say so, then how long.
    _log.info("compiling a WASM module (%.1f MiB)%s; the first compile of a module is slow, later "
              "starts reuse the compiled code", len(wasm) / 2**20, f" into {cache_dir}" if cache_dir else "")
    started = time.monotonic()
    try:
        module = wasmtime.Module(engine(metering), wasm)
    except wasmtime.WasmtimeError as exc:
        if _LEGACY_EH not in str(exc):
            raise WasmError(f"not a valid WASM module: {str(exc).splitlines()[0]}") from None
        try:
            module = wasmtime.Module(engine(metering), _translate(wasm, wasm_opt))
        except wasmtime.WasmtimeError as again:
            raise WasmError(f"not a valid WASM module: {str(again).splitlines()[0]}") from None
    _log.info("compiled the WASM module in %.1f s", time.monotonic() - started)
    if found is not None:
        found.parent.mkdir(parents=True, exist_ok=True)
        partial = found.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(module.serialize())
        os.replace(partial, found)
    return module


def _cause(text: str) -> str:
    """The reason in one of wasmtime's error texts ("error while executing at wasm backtrace:
    ... Caused by: wasm trap: out of bounds memory access")."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Caused by:" in lines:
        after = lines[lines.index("Caused by:") + 1:]
        if after:
            return " ".join(after)
    return lines[-1] if lines else text


# Functions of other value types (references, vectors) are not something a process exports.
_RAW_FIELD = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}

_memchr = ctypes.CDLL(None).memchr
_memchr.restype = ctypes.c_size_t
_memchr.argtypes = [ctypes.c_size_t, ctypes.c_int, ctypes.c_size_t]
_memcmp = ctypes.CDLL(None).memcmp
_memcmp.restype = ctypes.c_int
_memcmp.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t]
# A bytes object of a given size, uninitialised (NULL source), for `copy_out` to fill.
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]


def _buffer_address(data: bytes) -> int:
    """Where the bytes of `data` are (the buffer a `c_char_p` of it points at)."""
    return int(ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0)


def copy_out(address: int, length: int, chunk: int | None = None) -> bytes:
    """The `length` bytes at `address`, copied `chunk` (default `COPY_CHUNK`) bytes at a time into
    one new bytes object (`ctypes.string_at` cannot copy 2 GiB or more; each memmove releases
    the GIL)."""
    chunk = chunk or COPY_CHUNK
    if length <= chunk:
        return ctypes.string_at(address, length) if length else b""
    out: bytes = _new_bytes(None, length)
    target = _buffer_address(out)
    for at in range(0, length, chunk):
        ctypes.memmove(target + at, address + at, min(chunk, length - at))
    return out


def copy_in(address: int, data: bytes, chunk: int | None = None) -> None:
    """Write `data` at `address`, `chunk` (default `COPY_CHUNK`) bytes at a time."""
    chunk = chunk or COPY_CHUNK
    if len(data) <= chunk:
        ctypes.memmove(address, data, len(data))
        return
    source = _buffer_address(data)
    for at in range(0, len(data), chunk):
        ctypes.memmove(address + at, source + at, min(chunk, len(data) - at))


# `restore` compares and writes memory in blocks of this size (one WASM page).
_RESTORE_BLOCK = 64 * 1024


def _typed(value: Any, letter: str, what: str) -> int | float:
    """An import's result as the WASM type its signature letter names (`i`/`I` integers,
    `f`/`F` floats): a handler may answer `0` for a double, not text for a number."""
    if not isinstance(value, (int, float)):
        raise WasmTrap(f"{what} returned {value!r} where its signature has a number ({letter})")
    if letter in "fF":
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise WasmTrap(f"{what} returned {value!r} where its signature has an integer ({letter})")
    return int(value)


class _LongJump(Exception):
    """emscripten's longjmp, raised by the host through the WASM frames up to an `invoke_*`."""


class _Export:
    """An exported function of numbers, called through wasmtime's unchecked entry point with its
    type resolved once: `wasmtime.Func.__call__` looks the type up and converts every value on
    each call, which is most of the cost of a short call (malloc, free)."""

    __slots__ = ("func", "params", "ref", "results", "width")

    def __init__(self, func: wasmtime.Func, functype: wasmtime.FuncType) -> None:
        if any(str(kind) not in _RAW_FIELD for kind in [*functype.params, *functype.results]):
            raise WasmError(f"a function of {signature(functype)} takes or returns values other than numbers")
        self.func = func
        self.ref = ctypes.byref(func._func)
        self.params = [_RAW_FIELD[str(kind)] for kind in functype.params]
        self.results = [_RAW_FIELD[str(kind)] for kind in functype.results]
        self.width = max(len(self.params), len(self.results), 1)

    def call(self, store: wasmtime.Store, args: Sequence[int | float]) -> list[Any]:
        """The results; raises wasmtime.Trap or WasmtimeError as `Func.__call__` does, and
        re-raises what a host import raised (a `_LongJump`)."""
        slots = (_ffi.wasmtime_val_raw_t * self.width)()
        for slot, field, value in zip(slots, self.params, args, strict=False):  # args counted by the caller
            try:
                setattr(slot, field, value)
            except TypeError:
                raise WasmError(f"{value!r} is not a WASM {field}") from None
        trap = ctypes.POINTER(_ffi.wasm_trap_t)()
        error = _ffi.wasmtime_func_call_unchecked(store._context(), self.ref, slots, self.width, ctypes.byref(trap))
        if trap:
            raised = wasmtime.Trap._from_ptr(trap)
            maybe_raise_last_exn()  # what a host import raised, if that is what trapped
            raise raised
        if error:
            maybe_raise_last_exn()
            raise wasmtime.WasmtimeError._from_ptr(error)
        return [getattr(slot, field) for slot, field in zip(slots, self.results, strict=False)]


class WasmInstance:
    """A module instantiated in its own store. Not thread-safe: one call at a time."""

    def __init__(self, module: wasmtime.Module, on_import: ImportHandler, *, fuel: int = DEFAULT_FUEL,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, metering: str = "fuel",
                 time_limit: float = DEFAULT_TIME_LIMIT) -> None:
        """`module` must be compiled for the `metering` engine (`compile_module(..., metering=)`):
        with `fuel`, each call may burn `fuel`; with `epoch`, it may run `time_limit` seconds."""
        self.module = module
        self.fuel = fuel
        self.metering = _checked(metering)
        self._ticks = max(1, math.ceil(time_limit / EPOCH_TICK))
        self.memory_limit = memory_limit
        self.closed = False
        self._store = wasmtime.Store(engine(metering))
        self._store.set_limits(memory_size=memory_limit)
        self._arm()
        self.on_import = on_import
        imports = [self._import(imp) for imp in module.imports]
        try:
            self._instance = wasmtime.Instance(self._store, module, imports)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise WasmError(f"the module cannot be instantiated: {str(exc).splitlines()[0]}") from None
        self._exports = self._instance.exports(self._store)
        self._callables: dict[str, _Export] = {}
        self._entries: dict[bytes, _Export] = {}
        self._memory_extern: wasmtime.Memory | None = None
        self._memory = next((e for e in module.exports if isinstance(e.type, wasmtime.MemoryType)), None)
        initialize = self._export_func("_initialize")
        if initialize is not None:  # a WASI reactor's constructors
            self.call("_initialize")

    # --- imports ------------------------------------------------------------------------------

    def _import(self, imp: wasmtime.ImportType) -> Any:
        kind = imp.type
        if not isinstance(kind, wasmtime.FuncType):
            raise WasmError(f"the module imports a {type(kind).__name__} ({imp.module}.{imp.name}); only "
                            "functions can be provided")
        name = imp.name or ""
        sig = signature(kind)
        me = weakref.proxy(self)  # wasmtime-py keeps these callbacks in a global table (see above)
        if name.startswith("invoke_"):
            return wasmtime.Func(self._store, kind, lambda *args: me._invoke(kind, args))
        if name == "_emscripten_throw_longjmp":
            return wasmtime.Func(self._store, kind, self._throw_longjmp)
        if name == "emscripten_longjmp":
            return wasmtime.Func(self._store, kind, lambda *args: me._longjmp(*args))
        if name in _MEMCPY and sig[:5] in ("(iii)", "(III)"):
            return wasmtime.Func(self._store, kind, lambda *args: me._memcpy(kind, *args))
        if name == "emscripten_resize_heap" and sig in ("(i)i", "(I)i"):
            wide = sig == "(I)i"
            return wasmtime.Func(self._store, kind, lambda requested: me._resize_heap(requested, wide))
        if name == "emscripten_notify_memory_growth" and not kind.results:
            return wasmtime.Func(self._store, kind, lambda *args: None)

        letters = sig[sig.index(")") + 1:]

        def trampoline(*args: Any) -> Any:
            me._charge(f"{imp.module}.{name}")
            try:
                results = list(me.on_import(imp.module, name, list(args), sig))
            except (AOError, _LongJump):
                raise
            except Exception as exc:  # a handler's bug is this call's trap, not the node's crash
                raise WasmTrap(f"import {imp.module}.{name} failed: {type(exc).__name__}: {exc}") from exc
            if len(results) != len(letters):
                raise WasmTrap(f"import {imp.module}.{name} returned {len(results)} values, {sig} needs "
                               f"{len(letters)}")
            typed = [_typed(value, letter, f"import {imp.module}.{name}") for value, letter in zip(results, letters,
                                                                                                   strict=True)]
            return None if not typed else typed[0] if len(typed) == 1 else tuple(typed)

        return wasmtime.Func(self._store, kind, trampoline)

    def _arm(self) -> None:
        """Give the next call its whole budget: `fuel`, or `time_limit` from now."""
        if self.metering == "fuel":
            self._store.set_fuel(self.fuel)
        else:
            self._store.set_epoch_deadline(self._ticks)

    def _charge(self, what: str) -> None:
        """Take `HOST_CALL_FUEL` from the call's budget: fuel counts WASM instructions only, and a
        module that loops on a host call (an import it lacks, a write that never completes) would
        otherwise burn it thousands of times slower than it runs, holding the node for hours.
        (Under epoch metering the time limit counts host calls already.)"""
        if self.metering != "fuel":
            return
        remaining = self._store.get_fuel()
        if remaining < HOST_CALL_FUEL:
            self._store.set_fuel(0)
            raise WasmTrap(f"the call ran out of fuel (its instruction budget), calling {what}")
        self._store.set_fuel(remaining - HOST_CALL_FUEL)

    def _memcpy(self, kind: wasmtime.FuncType, dest: int, src: int, count: int) -> int | None:
        """emscripten's `_emscripten_memcpy_js` (and the older `emscripten_memcpy_big`): a
        memmove inside linear memory, which emscripten's JavaScript runtime provides."""
        self._charge("memcpy")
        if count:
            target = self._address(dest, count, "Write")
            ctypes.memmove(target, self._address(src, count, "Read"), count)
        return dest if kind.results else None

    def heap_max(self) -> int:
        """The most linear memory this instance may have: `memory_limit`, the memory's declared
        maximum and its index type's, whichever is least, in whole pages."""
        if self._memory is None:
            return 0
        kind = self._memory.type
        assert isinstance(kind, wasmtime.MemoryType)
        pages = [self.memory_limit // PAGE, 1 << (48 if kind.is_64 else 16)]
        if kind.limits.max is not None:
            pages.append(kind.limits.max)
        return min(pages) * PAGE

    def _resize_heap(self, requested: int, wide: bool) -> int:
        """emscripten's `emscripten_resize_heap(requested)`: grow the memory to at least
        `requested` bytes as emscripten's JavaScript runtime does (over-grown by 20%, 10%, then 5%,
        at most 96 MiB beyond the request, never beyond `heap_max()`); 1 when the memory is that
        large now, 0 when it cannot be (the module's malloc then fails as it would in a browser)."""
        self._charge("emscripten_resize_heap")
        requested &= (1 << 64) - 1 if wide else (1 << 32) - 1  # unsigned, as JavaScript's `>>> 0`
        old = self.memory_size()
        if requested <= old:
            return 1
        ceiling = self.heap_max()
        if requested > ceiling:
            return 0
        for cut in (1, 2, 4):
            over = min(old * (1 + 0.2 / cut), requested + _OVERGROW_CAP)
            size = min(ceiling, math.ceil(max(requested, over) / PAGE) * PAGE)
            try:
                self.memory.grow(self._store, -(-(size - self.memory_size()) // PAGE))
            except wasmtime.WasmtimeError:
                continue
            return 1
        return 0

    @staticmethod
    def _throw_longjmp(*args: Any) -> None:
        raise _LongJump()

    def _longjmp(self, env: int, value: int) -> None:
        """The older glue: record the jump (`setThrew(env, value or 1)`), then unwind. The
        module's `setThrew` keeps the first value, so the `setThrew(1, 0)` of `invoke_*` after
        it changes nothing."""
        self._charge("emscripten_longjmp")
        threw = self._export_func("setThrew")
        if threw is None:
            raise WasmTrap("emscripten_longjmp: the module exports no setThrew")
        threw(self._store, env, value or 1)
        raise _LongJump()

    def _invoke(self, kind: wasmtime.FuncType, args: tuple[Any, ...]) -> Any:
        """emscripten's `invoke_<sig>(index, ...)`: call table entry `index`; if it longjmps or
        throws, restore the stack pointer and tell the module with `setThrew(1, 0)`."""
        self._charge("invoke_*")
        table = self._exports.get("__indirect_function_table")
        if not isinstance(table, wasmtime.Table):
            raise WasmTrap("invoke_* needs the exported __indirect_function_table")
        target = table.get(self._store, int(args[0]))
        if not isinstance(target, wasmtime.Func):
            raise WasmTrap(f"invoke_*: no function at table index {args[0]}")
        save = self._stack_function("stackSave", "emscripten_stack_get_current")
        restore = self._stack_function("stackRestore", "_emscripten_stack_restore")
        saved = save.call(self._store, ()) if save is not None else None
        try:
            results = self._entry(target).call(self._store, args[1:])
        except (_LongJump, wasmtime.Trap) as exc:
            if isinstance(exc, wasmtime.Trap) and "exception" not in str(exc).lower():
                raise
            if restore is not None and saved is not None:
                restore.call(self._store, saved)
            threw = self._export_func("setThrew")
            if threw is None:
                raise WasmTrap("invoke_*: the module longjmp'd but exports no setThrew") from None
            threw(self._store, 1, 0)
            return None if not kind.results else 0
        return None if not results else results[0] if len(results) == 1 else tuple(results)

    def _stack_function(self, *names: str) -> _Export | None:
        """The first of `names` the module exports, callable the fast way."""
        for name in names:
            if self._export_func(name) is not None:
                return self._callable(name)
        return None

    def _entry(self, func: wasmtime.Func) -> _Export:
        """A table entry, callable the fast way; known by the function's identity in the store
        (a table entry can change, its function cannot)."""
        identity = bytes(func._func)
        export = self._entries.get(identity)
        if export is None:
            export = self._entries[identity] = _Export(func, func.type(self._store))
        return export

    # --- calls ----------------------------------------------------------------------------------

    def _export_func(self, name: str) -> wasmtime.Func | None:
        if self.closed:
            return None
        found = self._exports.get(name)
        return found if isinstance(found, wasmtime.Func) else None

    def has_export(self, name: str) -> bool:
        return self._export_func(name) is not None

    def _callable(self, name: str) -> _Export:
        export = self._callables.get(name)
        if export is None:
            fn = self._export_func(name)
            if fn is None:
                raise WasmError(f"the module exports no function {name!r}")
            export = self._callables[name] = _Export(fn, fn.type(self._store))
        return export

    def call(self, name: str, *args: int | float) -> list[Any]:
        """Call exported function `name`; its results as a list.

        Raises:
            WasmError: no such exported function, or not its number of arguments.
            WasmTrap: the call trapped (fuel, memory, unreachable, an uncaught exception).
        """
        self._check_open()
        export = self._callable(name)
        if len(args) != len(export.params):
            raise WasmError(f"{name} takes {len(export.params)} arguments, {len(args)} given")
        self._arm()
        try:
            return export.call(self._store, args)
        except wasmtime.Trap as exc:
            message = _cause(str(exc))
            if exc.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
                message = "the call ran out of fuel (its instruction budget)"
            elif exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                message = "the call ran out of time (its time limit, under epoch metering)"
            raise WasmTrap(f"WASM trap in {name}: {message}") from None
        except _LongJump:
            raise WasmTrap(f"WASM trap in {name}: a longjmp with no matching setjmp") from None
        except wasmtime.WasmtimeError as exc:
            raise WasmTrap(f"WASM error in {name}: {_cause(str(exc))}") from None

    def _check_open(self) -> None:
        if self.closed:
            raise WasmTrap("the WASM instance was closed (it trapped before): start again from a snapshot")

    def close(self) -> None:
        """Free the instance's store and linear memory now. A trapped instance is never called
        again; closing it means its memory (up to `memory_limit`) does not wait for the last
        reference to go. Any later use raises `WasmTrap`."""
        if self.closed:
            return
        self.closed = True
        self._callables.clear()
        self._entries.clear()
        self._memory_extern = None
        self._store.close()

    # --- memory ---------------------------------------------------------------------------------

    @property
    def memory(self) -> wasmtime.Memory:
        self._check_open()
        if self._memory_extern is None:
            found = self._exports.get(self._memory.name) if self._memory is not None else None
            if not isinstance(found, wasmtime.Memory):
                raise WasmError("the module exports no memory")
            self._memory_extern = found
        return self._memory_extern

    def memory_size(self) -> int:
        return int(self.memory.data_len(self._store))

    def _address(self, offset: int, length: int, what: str) -> int:
        """Where `length` bytes at `offset` of linear memory are in this process. Read and write
        copy with ctypes: wasmtime-py's `Memory.read`/`write` check and slice per byte range in
        Python. The address is good until the memory next grows (any call may grow it)."""
        size = self.memory_size()
        if offset < 0 or length < 0 or offset + length > size:
            raise WasmTrap(f"{what} request out of bounds")
        if not size:  # no memory yet: no address either (and nothing to copy)
            return 0
        return ctypes.addressof(self.memory.data_ptr(self._store).contents) + offset

    def read(self, offset: int, length: int) -> bytes:
        address = self._address(offset, length, "Read")
        return copy_out(address, length) if length else b""

    def write(self, offset: int, data: bytes) -> None:
        address = self._address(offset, len(data), "Write")
        if data:
            copy_in(address, bytes(data))

    def write_string(self, data: bytes) -> int:
        """`data` and a NUL in memory the module's `malloc` gave; the pointer."""
        [pointer] = self.call("malloc", len(data) + 1)
        if not pointer:
            raise WasmTrap("malloc_failed")
        address = self._address(int(pointer), len(data) + 1, "Write")
        ctypes.memmove(address, data, len(data))
        ctypes.memset(address + len(data), 0, 1)
        return int(pointer)

    def read_string(self, pointer: int) -> bytes:
        """The NUL-terminated bytes at `pointer`."""
        size = self.memory_size()
        if pointer >= size:
            raise WasmTrap("Read request out of bounds")
        start = self._address(pointer, 0, "Read")
        nul = _memchr(start, 0, size - pointer)
        if not nul:
            raise WasmTrap("Read request out of bounds: no NUL before the end of memory")
        return copy_out(start, nul - start)

    def snapshot(self) -> bytes:
        """The whole linear memory (what the reference's snapshot holds)."""
        return self.read(0, self.memory_size())

    def restore(self, data: bytes) -> None:
        """Grow memory to `data`'s size and make its first `len(data)` bytes `data` (a snapshot
        of this module). Only the 64 KiB blocks that differ are written: a fresh instance's
        pages hold zeros or the module's data already, and an AOS memory is mostly zeros, so a
        restore writes (and has the OS back with real pages) only the parts the snapshot uses."""
        data = bytes(data)
        before = self.memory_size()
        missing = -(-(len(data) - before) // PAGE)
        if missing > 0:
            try:
                self.memory.grow(self._store, missing)
            except wasmtime.WasmtimeError:
                raise WasmTrap("the snapshot is larger than this instance's memory can grow") from None
        if not data:
            return
        base = self._address(0, len(data), "Write")
        source = _buffer_address(data)
        for at in range(0, len(data), _RESTORE_BLOCK):
            count = min(_RESTORE_BLOCK, len(data) - at)
            if _memcmp(base + at, source + at, count) != 0:
                ctypes.memmove(base + at, source + at, count)
