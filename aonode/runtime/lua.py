"""The Lua host: one sandboxed, deterministic Lua 5.3 VM on `lupa.lua53` (processes-compute.md §5).

A `LuaVM` is a fresh C Lua state that has run `lua_prelude.lua` (which closes it to the host and
fixes its clock and random numbers), then the modules given to it. The host calls global
functions with `call`, which converts messages to Lua tables and results back:

    messages → tables (string keys); lists and maps with keys 1..n → array tables; binaries and
    text → strings; integers and floats → numbers (integers beyond 64 bits → floats); atoms →
    strings; `priv` keys are never passed in.
    tables → maps, or lists when their keys are exactly 1..n (the empty table is a map);
    integer keys become decimal keys; strings → binaries; functions, coroutines and userdata
    have no message form and are dropped.

Every call runs under an instruction budget and a wall-time limit, and the VM under a memory
cap; exhausting any is an error result, the VM stays usable. The script cannot catch a limit:
once one is reached, every further instruction raises it again (`lua_prelude.lua`). C functions
are not counted, so those whose loops do not allocate (patterns, `string.rep`, some table
functions) are replaced with bounded versions (`lua_bounds.lua`). `stop_all()` (the node is
exiting) ends every running call within a few milliseconds of Lua work.

Memory (issue 17): a VM's own bytes are counted by lupa's allocator (`memory_used()`) and capped
at `memory_limit`. While `snapshot()` or `restore` runs the cap is twice that: the dump is built
inside the VM next to the data it copies, and a restore holds the data next to the state it
becomes. After a call or a snapshot that left the VM much larger than after its last full
collection, the host collects its garbage, so an idle VM holds its live data, not the
temporaries of its last call. Every run also reserves its VM's cap (twice it for a snapshot or
a restore) from one budget per OS process (`memory_budget`, the `lua_memory_budget` option), so
the Lua runs under way never hold more than the budget together: a run that cannot get its
share within its wall time ends with "the node's Lua memory is in use" (a 503: asked again, it
may succeed). A run nested in another on the same thread (`ao.resolve` computing another
process) does not wait for the budget, as waiting could deadlock; it is counted all the same.

`snapshot()` serialises the VM's globals (including its functions and their upvalues, see
`lua_snapshot.lua`) and `LuaVM.restore` builds an equal VM from that and the same modules'
natives, so a process continues after a restart exactly where it was.

The `ao` library's functions (`ao.resolve`, `ao.get`, `ao.set`, `ao.event`) are supplied by the
caller as a `Library`; they take and return Python values.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Protocol

from lupa import lua53

from aonode.errors import AOError, BadMessage
from aonode.message import Atom, Link

__all__ = [
    "DEFAULT_INSTRUCTION_LIMIT",
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_WALL_TIME_LIMIT",
    "Failure",
    "Library",
    "LuaVM",
    "ModuleError",
    "Outcome",
    "SnapshotError",
    "stop_all",
]

DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024
# The Lua calls running at once, together: three VMs at the default limit (see `_Budget`).
DEFAULT_MEMORY_BUDGET = 768 * 1024 * 1024
# A VM is collected after a call that left it this much larger than its last full collection.
COLLECT_GROWTH = 1.5
COLLECT_ABOVE = 16 * 1024 * 1024  # ... and only above this size: small VMs are left to Lua's GC.
DEFAULT_INSTRUCTION_LIMIT = 2_000_000_000
DEFAULT_WALL_TIME_LIMIT = 30.0  # seconds
# Conversions in either direction stop at this depth, and Lua values at this many parts (shared
# tables counted at every place they appear): a bigger value is an error, not a crash.
MAX_DEPTH = 500
MAX_PARTS = 1_000_000


# Why a call stops early, as the Lua error it ends with.
WALL_TIME_EXCEEDED = b"wall time limit exceeded"
STOPPING = b"the node is stopping"
MEMORY_BUSY = b"the node's Lua memory is in use by other calls; ask again"
_stopping = threading.Event()


class _Budget:
    """The bytes the Lua runs of this OS process reserve together (see the module docstring)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.reserved = 0
        self._changed = threading.Condition()
        self._local = threading.local()

    def take(self, amount: int, timeout: float) -> int | None:
        """Reserve `amount` bytes (at most the whole budget), waiting up to `timeout` seconds;
        the amount reserved, or None when it did not become free in time."""
        amount = min(amount, self.total)
        nested = getattr(self._local, "depth", 0) > 0
        deadline = time.monotonic() + timeout
        with self._changed:
            while not nested and self.reserved > 0 and self.reserved + amount > self.total:
                left = deadline - time.monotonic()
                if left <= 0 or _stopping.is_set():
                    return None
                self._changed.wait(min(left, 0.1))
            self.reserved += amount
        self._local.depth = getattr(self._local, "depth", 0) + 1
        return amount

    def give(self, amount: int) -> None:
        self._local.depth -= 1
        with self._changed:
            self.reserved -= amount
            self._changed.notify_all()


BUDGET = _Budget(DEFAULT_MEMORY_BUDGET)


def stop_all() -> None:
    """End every Lua call running in this process, and every later one, with "the node is
    stopping": the process is exiting. There is no way back."""
    _stopping.set()


class ModuleError(BadMessage):
    """A module's source does not compile or fails while it runs."""


class SnapshotError(AOError):
    """A VM's state cannot be serialised, or serialised data cannot be restored."""


class Library(Protocol):
    """The host side of the `ao` Lua table. Each function takes the call's arguments as Python
    values and returns a tuple of Python values (the Lua results)."""

    def resolve(self, *args: Any) -> tuple[Any, ...]: ...
    def get(self, *args: Any) -> tuple[Any, ...]: ...
    def set(self, *args: Any) -> tuple[Any, ...]: ...
    def event(self, *args: Any) -> tuple[Any, ...]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """A call that returned: its results, converted."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Failure:
    """A call that raised a Lua error (or ran out of instructions or memory)."""

    error: Any
    trace: list[bytes] = field(default_factory=list)

    @property
    def status(self) -> int:
        """422 when the call failed in the script itself (an error, the instruction or memory
        limit): every node fails it alike. 503 when it was stopped from outside (wall time,
        shutdown): asked again, it may succeed."""
        text = self.error if isinstance(self.error, bytes) else str(self.error).encode()
        return 503 if WALL_TIME_EXCEEDED in text or STOPPING in text or MEMORY_BUSY in text else 422


@functools.cache
def _source(name: str) -> bytes:
    return files("aonode.runtime").joinpath(name).read_bytes()


# Frames of the host's own chunks are left out of tracebacks, and their positions out of errors.
_PRELUDE_NAME = b"aonode.prelude"
_HOST_POSITION = re.compile(rb"^aonode\.prelude:\d+: ")


def _deny_attribute(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("Python attributes are not reachable from Lua")


def _too_big(value: int) -> float:
    return float(value)


class LuaVM:
    """One Lua 5.3 state with the prelude and some modules loaded. Not thread-safe: a process
    calls its VM from one request at a time."""

    def __init__(self, library: Library, *, memory_limit: int = DEFAULT_MEMORY_LIMIT,
                 instruction_limit: int = DEFAULT_INSTRUCTION_LIMIT,
                 wall_time_limit: float = DEFAULT_WALL_TIME_LIMIT, memory_budget: int | None = None) -> None:
        if memory_budget is not None:
            BUDGET.total = memory_budget
        self.memory_limit = memory_limit
        self._collected = 0  # bytes in use after the last full collection
        self.instruction_limit = instruction_limit
        self.wall_time_limit = wall_time_limit
        self._deadline = 0.0
        self._running = False
        self.modules: list[tuple[str, bytes]] = []
        self._runtime = lua53.LuaRuntime(
            encoding=None, register_eval=False, register_builtins=False, unpack_returned_tuples=True,
            attribute_filter=_deny_attribute, overflow_handler=_too_big, max_memory=memory_limit,
        )
        self.library = library
        proxy = weakref.proxy(self)
        snapshot_lib = self._runtime.execute(_source("lua_snapshot.lua"), name=b"=aonode.snapshot", mode=b"t")
        bounds_lib = self._runtime.execute(_source("lua_bounds.lua"), name=b"=" + _PRELUDE_NAME, mode=b"t")
        prelude = self._runtime.compile(_source("lua_prelude.lua"), name=b"=" + _PRELUDE_NAME, mode=b"t")
        self._api = prelude(snapshot_lib, bounds_lib,
                            *(self._host(proxy, name) for name in ("resolve", "get", "set", "event")),
                            self._checker(proxy))
        self._table = self._runtime.table_from
        # Taken before any module runs: a module may replace the global.
        self._collectgarbage = self._runtime.globals()[b"collectgarbage"]

    def memory_used(self) -> int:
        """The bytes the VM holds (lupa's allocator count)."""
        return int(self._runtime.get_memory_used() or 0)

    def collect(self) -> None:
        """Run a full garbage collection (under the call limits: `__gc` handlers are Lua code)."""
        self._run(self._collectgarbage, b"collect")
        self._collected = self.memory_used()

    def _tidy(self) -> None:
        used = self.memory_used()
        if used > COLLECT_ABOVE and used > self._collected * COLLECT_GROWTH:
            self.collect()

    @staticmethod
    def _host(vm: LuaVM, name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                values = getattr(vm.library, name)(*(vm.from_lua(a) for a in args))
                return tuple(vm.to_lua(v) for v in values)
            except Exception as exc:  # an error in the host is an error result in Lua, never a crash
                return (b"error", str(exc).encode("utf-8", "replace"))
        return call

    @staticmethod
    def _checker(vm: LuaVM) -> Callable[[], bytes | None]:
        def check() -> bytes | None:
            if _stopping.is_set():
                return STOPPING
            if time.monotonic() > vm._deadline:
                return WALL_TIME_EXCEEDED
            return None
        return check

    # --- building -----------------------------------------------------------------------------

    def load_module(self, name: str, source: bytes) -> None:
        """Run one module's source in the global environment."""
        ok, *rest = self._run(self._api.load_module, source, name.encode("utf-8", "replace"))
        if ok:
            ok, *rest = self._run(rest[0])
        if not ok:
            failure = self._failure(rest[0])
            raise ModuleError(f"Lua module {name!r} failed to load: {_describe(failure.error)}")
        self.modules.append((name, source))

    def install_ao(self) -> None:
        """Put the `ao` library back into the global `ao` table (modules may have replaced it)."""
        self._api.install_ao()

    @classmethod
    def restore(cls, data: bytes, library: Library, **limits: Any) -> LuaVM:
        """A VM equal to the one `snapshot()` returned `data` for.

        Raises:
            SnapshotError: `data` is not a snapshot this host can read.
        """
        vm = cls(library, **limits)
        vm._runtime.set_max_memory(2 * vm.memory_limit)  # the data and the state it becomes
        try:
            ok, *rest = vm._run(vm._api.restore, bytes(data), reserve=2 * vm.memory_limit)
        finally:
            vm._runtime.set_max_memory(vm.memory_limit)
        if not ok:
            raise SnapshotError(f"cannot restore the Lua state: {_describe(vm._failure(rest[0]).error)}")
        del rest
        vm._tidy()
        return vm

    def snapshot(self) -> bytes:
        """The VM's globals (data, functions and their upvalues) as bytes.

        Raises:
            SnapshotError: the state holds something with no serial form (a suspended
                coroutine, a foreign function).
        """
        self._runtime.set_max_memory(2 * self.memory_limit)
        try:
            ok, *rest = self._run(self._api.dump, reserve=2 * self.memory_limit)
        finally:
            self._runtime.set_max_memory(self.memory_limit)
        if not ok:
            raise SnapshotError(f"cannot snapshot the Lua state: {_describe(self._failure(rest[0]).error)}")
        data = bytes(rest[0])
        del rest
        self._tidy()
        return data

    def sandbox(self, path: Sequence[str], value: Any) -> bool:
        """Replace the global at `path` (e.g. `["os", "getenv"]`) with `value`."""
        keys = self._table([p.encode() for p in path])
        return bool(self._api.set_path(keys, self.to_lua(value)))

    # --- calling ------------------------------------------------------------------------------

    def functions(self) -> list[str]:
        """The names of the VM's global functions, sorted."""
        names = self._api.functions()
        return [names[i].decode("utf-8", "replace") for i in range(1, len(names) + 1)]

    def call(self, name: str, args: Sequence[Any], *, now: int = 0) -> Outcome | Failure:
        """Call global function `name` with `args` (Python values), the clock at `now` seconds.

        Raises:
            BadMessage: an argument has no Lua form.
        """
        fn = self._api.lookup(name.encode("utf-8", "surrogateescape"))
        if lua53.lua_type(fn) != "function":
            return Failure(f"Lua function '{name}' not found.".encode())
        lua_args = [self.to_lua(a) for a in args]
        ok, *rest = self._run(fn, *lua_args, now=now)
        if not ok:
            failure = self._failure(rest[0])
            del rest
            self._tidy()
            return failure
        try:
            return Outcome(tuple(self.from_lua(v) for v in rest))
        except ValueError as exc:
            return Failure(f"the Lua function's result has no message form: {exc}".encode())
        finally:
            del rest
            self._tidy()

    def _run(self, fn: Any, *args: Any, now: int = 0, reserve: int | None = None) -> list[Any]:
        if self._running:  # a host function called back into this VM: its limits would be reset
            return [False, b"the Lua VM is already running a call"]
        if _stopping.is_set():
            return [False, STOPPING]
        reserved = BUDGET.take(reserve or self.memory_limit, self.wall_time_limit)
        if reserved is None:
            return [False, MEMORY_BUSY]
        self._running = True
        self._deadline = time.monotonic() + self.wall_time_limit
        try:
            result = self._api.run(self.instruction_limit, now, fn, *args)
        except lua53.LuaMemoryError:
            return [False, b"not enough memory"]
        except lua53.LuaError as exc:
            return [False, str(exc).encode("utf-8", "replace")]
        finally:
            self._running = False
            BUDGET.give(reserved)
        return list(result) if isinstance(result, tuple) else [result]

    def _failure(self, raw: Any) -> Failure:
        if lua53.lua_type(raw) == "table":
            error, trace = raw[1], raw[2]
            lines = [line.strip() for line in (trace or b"").splitlines()[1:]]
            lines = [line for line in lines if line and line != b"stack traceback:" and _PRELUDE_NAME not in line
                     and b"'xpcall'" not in line]
            try:
                value = self.from_lua(error)
            except ValueError:
                value = None
            if not isinstance(value, (bytes, dict, list, int, float)):
                value = str(error).encode("utf-8", "replace")
            if isinstance(value, bytes):  # a C function's error raised from a host wrapper
                value = _HOST_POSITION.sub(b"", value, count=1)
            return Failure(value, lines)
        if isinstance(raw, bytes) and raw.startswith(b"not enough memory"):
            return Failure(b"not enough memory: the Lua VM reached its memory limit")
        return Failure(self.from_lua(raw))

    # --- conversions ----------------------------------------------------------------------------

    def to_lua(self, value: Any, depth: int = 0) -> Any:
        """`value` as a Lua value (see the module docstring).

        Raises:
            BadMessage: the value is nested too deeply or has a type with no Lua form.
        """
        if isinstance(value, (bytes, int, float, bool)) or value is None:
            return value
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if depth >= MAX_DEPTH:
            raise BadMessage(f"a message nested deeper than {MAX_DEPTH} levels cannot be passed to Lua")
        if isinstance(value, Mapping):
            if _is_ordered(value):
                return self._table([self.to_lua(value[str(i)], depth + 1) for i in range(1, len(value) + 1)])
            return self._table({
                k.encode("utf-8", "surrogateescape") if isinstance(k, str) else k: self.to_lua(v, depth + 1)
                for k, v in value.items() if k != "priv"
            })
        if isinstance(value, (list, tuple)):
            return self._table([self.to_lua(v, depth + 1) for v in value])
        if isinstance(value, Atom):
            return value.name.encode()
        if isinstance(value, Link):
            return value.id.encode()
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise BadMessage(f"a {type(value).__name__} cannot be passed to Lua")

    def from_lua(self, value: Any) -> Any:
        """A Lua value as a message value (see the module docstring).

        Raises:
            ValueError: the value contains a cycle, is nested too deeply or is too large.
        """
        if lua53.lua_type(value) == "table":
            problem = self._api.check(value, MAX_DEPTH, MAX_PARTS)
            if problem is not None:
                raise ValueError(_describe(problem))
        return _convert(value)


def _convert(value: Any) -> Any:
    kind = lua53.lua_type(value)
    if kind is None:
        return value if isinstance(value, (bytes, int, float)) or value is None else None
    if kind != "table":
        return None  # functions, coroutines and userdata have no message form
    items = list(value.items())
    if items and all(type(k) is int for k, _ in items) and \
            sorted(k for k, _ in items) == list(range(1, len(items) + 1)):
        items.sort(key=lambda kv: kv[0])
        return [_convert(v) for _, v in items]
    out: dict[str, Any] = {}
    for k, v in items:
        if lua53.lua_type(v) in (None, "table"):
            out[_key(k)] = _convert(v)
    return out


def _key(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _is_ordered(value: Mapping[str, Any]) -> bool:
    return bool(value) and all(str(i) in value for i in range(1, len(value) + 1))


def _describe(error: Any) -> str:
    if isinstance(error, bytes):
        return error.decode("utf-8", "replace")
    return repr(error)
