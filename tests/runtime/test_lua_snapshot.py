"""Tests for aonode/runtime/lua_snapshot.lua: snapshot a Lua 5.3 VM's globals, restore them in
a fresh VM and check the restored VM behaves like the original."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lupa import lua53

import aonode

CHUNK = (Path(aonode.__file__).parent / "runtime" / "lua_snapshot.lua").read_bytes()


class VM:
    """A fresh Lua VM with the snapshot library loaded and its natives collected."""

    def __init__(self, before_collect: str = "") -> None:
        self.lua = lua53.LuaRuntime(
            encoding=None, register_eval=False, register_builtins=False, unpack_returned_tuples=True
        )
        self.snap = self.lua.execute(CHUNK)
        if before_collect:
            self.run(before_collect)
        self.natives = self.snap.collect_natives(self.lua.globals())

    def run(self, code: str) -> Any:
        return self.lua.execute(code.encode())

    def dump(self) -> bytes:
        data = self.snap.dump(self.lua.globals(), self.natives)
        assert isinstance(data, bytes)
        return data

    def load(self, data: bytes) -> Any:
        return self.snap.load(data, self.natives)


def restored(setup: str, before_collect: str = "") -> VM:
    """Run `setup` in a VM, snapshot it and return a fresh VM the snapshot was loaded into."""
    first = VM(before_collect)
    first.run(setup)
    data = first.dump()
    second = VM(before_collect)
    second.load(data)
    return second


def lua_error(fn: Any, *args: Any) -> str:
    with pytest.raises(lua53.LuaError) as info:
        fn(*args)
    message = info.value.args[0]
    return message.decode() if isinstance(message, bytes) else str(message)


# --- natives ------------------------------------------------------------------------------------


def test_collect_natives_names() -> None:
    vm = VM()
    vm.lua.globals().N = vm.natives
    assert vm.run("""
        assert(N["_G"] == _G)
        assert(N["string"] == string)
        assert(N["string.format"] == string.format)
        assert(N["package.loaded"] == package.loaded)
        assert(N["@string_mt"] == debug.getmetatable(""))
        assert(N["io.stdout"] == io.stdout)
        -- C functions stored under integer keys are named too
        assert(N["package.searchers[1]"] == package.searchers[1])
        for name, v in pairs(N) do
            local t = type(v)
            assert(t == "table" or t == "userdata" or (t == "function" and debug.getinfo(v, "S").what == "C"), name)
        end
        -- the shortest path wins: _G.string, not package.loaded.string
        for name, v in pairs(N) do
            if v == string then assert(name == "string") end
        end
        return true
    """)


def test_collect_natives_is_deterministic() -> None:
    setup = "Mod = {a = {}, b = {}, f = string.len, [1] = {}, [true] = {}}"
    names = []
    for _ in range(3):
        vm = VM(setup)
        names.append(sorted((bytes(k), lua53.lua_type(v)) for k, v in vm.natives.items()))
    assert names[0] == names[1] == names[2]
    assert ("Mod.a", "table") in [(k.decode(), t) for k, t in names[0]]


def test_collect_natives_skips_lua_functions() -> None:
    vm = VM("function F() end Keep = {}")
    vm.lua.globals().N = vm.natives
    assert vm.run("for _, v in pairs(N) do assert(v ~= F) end return N.Keep == Keep")


# --- values -------------------------------------------------------------------------------------


def test_scalars() -> None:
    vm = restored(r"""
        S = {
            maxi = math.maxinteger, mini = math.mininteger, small = -7, mid = 70000, big = 1 << 40,
            f = 0.1, nz = -0.0, inf = math.huge, ninf = -math.huge, nan = 0/0, fi = 3.0,
            t = true, ff = false,
            bin = "\0\1\2\255\0 end", empty = "",
            long = string.rep("ab\0", 200), huge = string.rep("x", 70000),
        }
        Bits = {}
        for k, v in pairs(S) do
            if type(v) == "number" and math.type(v) == "float" then Bits[k] = string.pack("<d", v) end
        end
        Plain = 42
        Str = "top"
    """)
    assert vm.run(r"""
        assert(S.maxi == math.maxinteger and math.type(S.maxi) == "integer")
        assert(S.mini == math.mininteger)
        assert(S.small == -7 and S.mid == 70000 and S.big == 1 << 40)
        assert(math.type(S.fi) == "float" and S.fi == 3)
        assert(S.f == 0.1 and 1 / S.nz == -math.huge and S.inf == math.huge and S.ninf == -math.huge)
        assert(S.nan ~= S.nan)
        for k, bits in pairs(Bits) do assert(string.pack("<d", S[k]) == bits, k) end
        assert(S.t == true and S.ff == false)
        assert(S.bin == "\0\1\2\255\0 end" and S.empty == "")
        assert(S.long == string.rep("ab\0", 200) and #S.huge == 70000)
        return Plain == 42 and Str == "top"
    """)


def test_non_table_root() -> None:
    vm = VM()
    for value in (None, True, 12, 2.5, b"text\x00"):
        assert vm.load(vm.snap.dump(value, vm.natives)) == value


def test_shared_tables_and_cycles() -> None:
    vm = restored("""
        local shared = {n = 1}
        A = {x = shared, y = shared}
        B = {shared}
        Cycle = {}
        Cycle.self = Cycle
        Ring = {name = "a"}
        Ring.next = {name = "b", next = Ring}
    """)
    assert vm.run("""
        assert(A.x == A.y and A.x == B[1])
        A.x.n = 2
        assert(B[1].n == 2)
        assert(Cycle.self == Cycle)
        return Ring.next.next == Ring and Ring.next.name == "b"
    """)


def test_tables_and_functions_as_keys() -> None:
    vm = restored("""
        K = {}
        function F() return "f" end
        M = {[K] = "table key", [F] = "function key", [1.5] = "float", [true] = "bool"}
    """)
    assert vm.run("""
        return M[K] == "table key" and M[F] == "function key" and M[1.5] == "float" and M[true] == "bool"
    """)


def test_metatables() -> None:
    vm = restored("""
        local Account = {}
        Account.__index = Account
        Account.__metatable = "locked"
        function Account.new(balance) return setmetatable({balance = balance}, Account) end
        function Account:deposit(v) self.balance = self.balance + v end
        Acc = Account.new(10)
        Vec = setmetatable({1, 2}, {__add = function(a, b) return a[1] + b[1] + a[2] + b[2] end})
    """)
    assert vm.run("""
        Acc:deposit(5)
        assert(Acc.balance == 15)
        assert(getmetatable(Acc) == "locked")
        assert(debug.getmetatable(Acc).__index == debug.getmetatable(Acc))
        return Vec + Vec == 6
    """)


def test_metamethods_are_not_triggered() -> None:
    vm = restored("""
        local function boom() error("metamethod called") end
        P = setmetatable({a = 1}, {__pairs = boom, __index = boom, __newindex = boom, __len = boom})
    """)
    assert vm.run("return rawget(P, 'a') == 1 and pcall(function() return P.b end) == false")


def test_string_metatable_changes_survive() -> None:
    vm = restored('debug.getmetatable("").__add = function(a, b) return a .. "+" .. b end')
    assert vm.run('return "a" + "b"') == b"a+b"
    vm.lua.globals().N = vm.natives
    assert vm.run('return debug.getmetatable("") == N["@string_mt"] and debug.getmetatable("").__index == string')


# --- functions ----------------------------------------------------------------------------------


def test_closure_keeps_private_state() -> None:
    first = VM()
    first.run("""
        local function counter()
            local n = 0
            return function() n = n + 1 return n end
        end
        Next = counter()
        Other = counter()
    """)
    assert first.run("return Next(), Next()") == (1, 2)
    second = VM()
    second.load(first.dump())
    assert second.run("return Next(), Other()") == (3, 1)


def test_shared_upvalues_stay_shared() -> None:
    vm = restored("""
        local n = 0
        function Inc() n = n + 1 return n end
        function Get() return n end
        local function pair()
            local v = "start"
            return function(x) v = x end, function() return v end
        end
        Set1, Get1 = pair()
        Set2, Get2 = pair()
        Inc()
    """)
    assert vm.run("""
        assert(Inc() == 2 and Get() == 2)
        Set1("one")
        assert(Get1() == "one" and Get2() == "start")
        Set2("two")
        return Get1() == "one" and Get2() == "two"
    """)


def test_same_function_twice_is_one_function() -> None:
    vm = restored("function F() end  T = {F, F, f = F}")
    assert vm.run("return T[1] == F and T[2] == F and T.f == F")


def test_recursive_local_function() -> None:
    vm = restored("""
        local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
        Fact = fact
        local even, odd
        function even(n) if n == 0 then return true end return odd(n - 1) end
        function odd(n) if n == 0 then return false end return even(n - 1) end
        Even = even
    """)
    assert vm.run("return Fact(10), Even(10), Even(7)") == (3628800, True, False)


def test_functions_see_the_restored_globals() -> None:
    vm = restored("X = 1  function GetX() return X end  function SetX(v) X = v end")
    assert vm.run("assert(GetX() == 1) X = 5 assert(GetX() == 5) SetX(9) return X") == 9


def test_function_debug_info_is_kept() -> None:
    vm = restored("F = load('local a = 1\\nreturn function() error(\"here\") end', '=mychunk')()")
    assert b"mychunk:2:" in vm.run("local ok, err = pcall(F) return err")


# --- standard library and globals ---------------------------------------------------------------


def test_modified_stdlib_keeps_identity() -> None:
    vm = restored("string.shout = function(s) return s:upper() .. '!' end  table.extra = 1")
    assert vm.run('return ("x"):shout(), table.extra, string.format("%d", 3)') == (b"X!", 1, b"3")


def test_removed_globals_stay_removed() -> None:
    vm = restored("io = nil  os.exit = nil  print = nil")
    assert vm.run("return io == nil, os.exit == nil, print == nil, os.time ~= nil") == (True, True, True, True)


def test_native_userdata_and_c_functions_by_reference() -> None:
    vm = restored("Out = io.stdout  Fmt = string.format  Handles = {io.stderr, tostring}")
    assert vm.run("return Out == io.stdout and Fmt == string.format and Handles[1] == io.stderr")


def test_package_loaded_module() -> None:
    vm = restored("""
        local M = {}
        function M.hello() return "hi" end
        package.loaded["mymod"] = M
        Mod = require("mymod")
    """)
    assert vm.run('return require("mymod").hello(), require("mymod") == Mod') == (b"hi", True)


def test_captured_library_survives_replaced_globals() -> None:
    # The host replaces `debug` and `load` after the library ran; the library must not care.
    reduce = """
        debug = {traceback = debug.traceback, getinfo = debug.getinfo}
        local real_load = load
        load = function(chunk, name) return real_load(chunk, name, "t") end
        string.dump = nil
        pairs, next, rawset, type = nil, nil, nil, nil
    """
    first = VM()
    first.run(reduce)
    first.run("local n = 0  function Tick() n = n + 1 return n end  Tick()")
    data = first.dump()
    second = VM()
    second.run(reduce)
    second.load(data)
    assert second.run("return Tick(), debug.sethook == nil, pairs == nil") == (2, True, True)


# --- size and depth -----------------------------------------------------------------------------


def test_deep_chain() -> None:
    vm = restored("""
        local head = {depth = 0}
        local t = head
        for i = 1, 20000 do
            local n = {depth = i}
            t.next = n
            t = n
        end
        Chain = head
    """)
    assert vm.run("local t, n = Chain, 0 while t.next do t = t.next n = n + 1 end return n, t.depth") == (20000, 20000)


def test_large_table_round_trip() -> None:
    first = VM()
    first.run("""
        Big = {}
        for i = 1, 100000 do Big[i] = {id = i, name = "n" .. i} end
        Flat = {}
        for i = 1, 100000 do Flat["k" .. i] = i * 2 end
    """)
    start = time.perf_counter()
    data = first.dump()
    dumped = time.perf_counter() - start
    second = VM()
    start = time.perf_counter()
    second.load(data)
    loaded = time.perf_counter() - start
    assert second.run("""
        assert(#Big == 100000)
        for i = 1, 100000 do assert(Big[i].id == i and Big[i].name == "n" .. i) end
        for i = 1, 100000 do assert(Flat["k" .. i] == i * 2) end
        return true
    """)
    # Generous bounds: they catch quadratic behaviour, not a slow machine.
    assert dumped < 5 and loaded < 5, (dumped, loaded)


# --- errors -------------------------------------------------------------------------------------


def test_coroutine_is_an_error() -> None:
    vm = VM()
    vm.run("Tasks = {co = coroutine.create(function() end)}")
    message = lua_error(vm.dump)
    assert "lua snapshot: cannot serialize a coroutine at _G.Tasks.co" in message


def test_coroutine_in_upvalue_is_an_error_with_path() -> None:
    vm = VM()
    vm.run("local co = coroutine.create(print)  function Run() return co end")
    assert "cannot serialize a coroutine at _G.Run<upvalue co>" in lua_error(vm.dump)


def test_foreign_c_function_is_an_error() -> None:
    vm = VM()
    vm.run('Iter = string.gmatch("abc", ".")')
    assert "lua snapshot: cannot serialize C function at _G.Iter" in lua_error(vm.dump)


def test_foreign_userdata_is_an_error() -> None:
    vm = VM()
    vm.lua.globals()[b"Callback"] = lambda: 1  # a Python callable: userdata only this VM has
    assert "lua snapshot: cannot serialize userdata at _G.Callback" in lua_error(vm.dump)
    vm.run("Callback = nil  Holder = {[2] = {}}")
    vm.lua.globals()[b"Holder"][2][b"odd key"] = lambda: 1
    assert 'cannot serialize userdata at _G.Holder[2]["odd key"]' in lua_error(vm.dump)


def test_corrupt_data_is_an_error() -> None:
    first = VM()
    first.run("T = {1, 2, 3, s = 'str'}  function F() return T end")
    data = first.dump()
    second = VM()
    assert "not a snapshot" in lua_error(second.load, b"XXXX" + data[4:])
    assert "not a snapshot" in lua_error(second.load, b"AO")
    assert "version" in lua_error(second.load, data[:4] + bytes([99]) + data[5:])
    for cut in range(5, len(data)):  # every truncation is caught, whatever it cuts through
        message = lua_error(second.load, data[:cut])
        assert message.startswith("lua snapshot: "), message
        assert "truncated" in message or "corrupt" in message, message
    assert "unexpected bytes" in lua_error(second.load, data + b"\x00")
    assert "unknown tag" in lua_error(second.load, data[:5] + b"\xee" + data[6:])
    # A failed load leaves the VM as it was.
    assert second.run("return T == nil and string.format('%d', 1) == '1' and _G.print ~= nil")
    second.load(data)
    assert second.run("return F()[3]") == 3


def test_missing_native_is_an_error() -> None:
    first = VM("Extra = {}")
    first.run("Extra.x = 1")
    data = first.dump()
    second = VM()
    assert "native 'Extra' does not exist" in lua_error(second.load, data)


# --- an AOS-like process ------------------------------------------------------------------------


def test_aos_like_process() -> None:
    first = VM()
    first.run("""
        Inbox = {}
        Handlers = {list = {}}
        function Handlers.add(name, pattern, handle)
            table.insert(Handlers.list, {name = name, pattern = pattern, handle = handle})
        end
        function Handlers.evaluate(msg)
            local ran = {}
            for _, h in ipairs(Handlers.list) do
                if h.pattern(msg) then h.handle(msg) ran[#ran + 1] = h.name end
            end
            return table.concat(ran, ",")
        end
        local function hasAction(action) return function(msg) return msg.Action == action end end
        local count = 0
        Handlers.add("count", hasAction("Count"), function(msg)
            count = count + 1
            table.insert(Inbox, msg)
        end)
        Handlers.add("get", hasAction("Get"), function(msg) Result = count end)
        Handlers.evaluate({Action = "Count", Data = "a"})
        Handlers.evaluate({Action = "Count", Data = "b"})
    """)
    second = VM()
    second.load(first.dump())
    assert second.run("""
        assert(#Inbox == 2 and Inbox[2].Data == "b")
        Handlers.add("echo", function(msg) return msg.Action == "Count" end, function(msg) Echo = msg.Data end)
        assert(Handlers.evaluate({Action = "Count", Data = "c"}) == "count,echo")
        assert(Handlers.evaluate({Action = "Get"}) == "get")
        return Result, #Inbox, Echo
    """) == (3, 3, b"c")
    # And once more: a restored VM snapshots and restores again.
    third = VM()
    third.load(second.dump())
    assert third.run("Handlers.evaluate({Action = 'Count'}) Handlers.evaluate({Action = 'Get'}) return Result") == 4


def test_restoring_never_adds_a_finalizer() -> None:
    """`__gc` added to a metatable after `setmetatable` registers no finalizer in Lua; the
    restored table must not get one either (finalizers run out of the instruction limit's reach)."""
    vm = restored("""
        local mt = {}
        Holder = setmetatable({}, mt)
        mt.__gc = function() FINALIZED = true end
    """)
    assert vm.run("""
        Holder = nil
        collectgarbage(); collectgarbage()
        return FINALIZED == nil and "no finalizer"
    """) == b"no finalizer"
