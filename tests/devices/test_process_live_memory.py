"""Live process states are dropped by size (issue 17, item 3): above `process_live_memory` bytes
held together, least recently used first, never while in use; sizes come from the live
objects in each state's `priv` (a Lua VM's `memory_used()`, a WASM instance's `memory_size()`)."""

from __future__ import annotations

from typing import Any

from aonode.devices._process_worker import Registry, memory_of
from aonode.runtime.lua import LuaVM

MIB = 1024 * 1024


class Blob:
    def __init__(self, size: int) -> None:
        self.size = size

    def memory_used(self) -> int:
        return self.size


class Instance:
    def memory_size(self) -> int:
        return 3 * MIB


def keep(registry: Registry, proc_id: str, size: int, opts: dict[str, Any]) -> None:
    with registry.hold(proc_id, opts) as live:
        live.keep({"priv": {"state": Blob(size)}}, 1)


def test_sizes_come_from_the_live_objects_in_priv() -> None:
    assert memory_of({"priv": {"state": Blob(5)}, "big": b"x" * 100}) == 5
    assert memory_of({"priv": {"wasm": {"instance": Instance()}, "state": Blob(1)}}) == 3 * MIB + 1
    assert memory_of({}) == 0


def test_least_recently_used_states_beyond_the_budget_are_dropped() -> None:
    registry, opts = Registry(), {"process_live_memory": 10 * MIB}
    for name in "abc":
        keep(registry, name, 4 * MIB, opts)
    assert registry.peek("a") is None and registry.peek("b") and registry.peek("c")
    assert registry.memory() == 8 * MIB
    with registry.hold("b", opts):  # b is now the most recently used
        pass
    keep(registry, "d", 4 * MIB, opts)
    assert registry.peek("c") is None and registry.peek("b") and registry.peek("d")


def test_a_state_in_use_is_never_dropped_and_one_over_the_budget_goes_when_released() -> None:
    registry, opts = Registry(), {"process_live_memory": 10 * MIB}
    keep(registry, "small", MIB, opts)
    with registry.hold("huge", opts) as live:
        live.keep({"priv": {"state": Blob(20 * MIB)}}, 1)
        keep(registry, "other", MIB, opts)  # trims: "huge" is in use and stays, the idle ones go
        assert registry.peek("huge") is not None and registry.peek("small") is None
    assert registry.peek("huge") is None
    keep(registry, "small", MIB, opts)
    assert registry.peek("small") is not None and registry.memory() == MIB


def test_a_lua_vm_reports_its_memory_and_an_idle_vm_holds_no_garbage() -> None:
    class Library:
        def resolve(self, *args: Any) -> tuple[Any, ...]:
            return ()

        get = set = event = resolve

    vm = LuaVM(Library(), memory_limit=256 * MIB)
    vm.load_module("m", b"function f() Big = string.rep('x', 40 * 1024 * 1024) .. 'y' return #Big end")
    vm.call("f", [])
    # The temporary of string.rep is garbage, collected after the call; so is the dump's.
    assert 40 * MIB < vm.memory_used() < 50 * MIB
    assert len(vm.snapshot()) > 40 * MIB
    assert vm.memory_used() < 50 * MIB
    assert memory_of({"priv": {"state": vm}}) == vm.memory_used()
