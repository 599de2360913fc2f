"""The Lua host's limits (issue 17, item 1): every endless form ends with an error the script
cannot catch, C-level work is bounded, a wall-time limit abandons a call, and the bounded
replacements of lua_bounds.lua answer exactly what the C functions answer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lupa import lua53

import aonode
from aonode.runtime.lua import Failure, LuaVM, Outcome

BOUNDS = (Path(aonode.__file__).parent / "runtime" / "lua_bounds.lua").read_bytes()


class NoLibrary:
    def resolve(self, *args: Any) -> tuple[Any, ...]:
        return ()

    get = set = event = resolve


def vm(source: str, **limits: Any) -> LuaVM:
    limits.setdefault("instruction_limit", 20_000_000)
    limits.setdefault("wall_time_limit", 5.0)
    limits.setdefault("memory_limit", 64 * 1024 * 1024)
    machine = LuaVM(NoLibrary(), **limits)
    machine.load_module("test", source.encode())
    return machine


def run(source: str, **limits: Any) -> tuple[Outcome | Failure, float]:
    machine = vm(f"function f()\n{source}\nend", **limits)
    started = time.monotonic()
    outcome = machine.call("f", [])
    return outcome, time.monotonic() - started


ENDLESS = {
    "loop": "while true do end",
    "pcall loop": "while true do pcall(function() while true do end end) end",
    "pcall catches, script goes on": "local ok = pcall(function() while true do end end) while true do end",
    "xpcall with an endless handler":
        "while true do xpcall(function() while true do end end, function() while true do end end) end",
    "xpcall of error, endless handler": "while true do xpcall(error, function() while true do end end) end",
    "coroutine.wrap": "local co = coroutine.wrap(function() while true do end end) co()",
    "coroutine.wrap in a pcall loop":
        "local co = coroutine.wrap(function() while true do end end) while true do pcall(co) end",
    "coroutine.resume loop":
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
    "pattern bomb": 'return string.rep("a", 40):match(string.rep("a*", 40) .. "b")',
    "pattern bomb in gsub": 'return (string.rep("a", 40)):gsub(string.rep("a-", 30) .. "b", "")',
    "pattern bomb in gmatch": 'for x in string.rep("a", 40):gmatch(string.rep("a?", 40) .. "b") do end',
    "quadratic find": 'return ("a"):rep(200000):find(".-b")',
    "table.move over nils": "table.move({}, 1, math.maxinteger - 1, 2)",
    "table.concat over a C __index": 'return table.concat(setmetatable({}, {__index = table.concat}), "", 1, 1e15)',
    "table.insert under a huge __len":
        "table.insert(setmetatable({}, {__len = function() return 1 << 40 end}), 1, 0)",
    "table.remove under a huge __len":
        "table.remove(setmetatable({}, {__len = function() return 1 << 40 end}), 1)",
    "table.sort under a huge __len":
        "table.sort(setmetatable({}, {__len = function() return (1 << 31) - 2 end, __index = rawlen}))",
    "endless __index": "local t = setmetatable({}, {__index = function(t, k) while true do end end}) return t.x",
}


@pytest.mark.parametrize("source", ENDLESS.values(), ids=list(ENDLESS))
def test_endless_forms_end_with_a_limit(source: str) -> None:
    outcome, seconds = run(source, wall_time_limit=3.0)
    assert isinstance(outcome, Failure), outcome
    assert outcome.error in (b"instruction limit exceeded", b"wall time limit exceeded",
                             b"not enough memory: the Lua VM reached its memory limit"), outcome
    assert seconds < 4


@pytest.mark.parametrize(("source", "expected"), [
    ('return ("a"):rep(1 << 22):find(("a"):rep(1 << 12) .. "b", 1, true)', (None,)),
    ('local s = ("a"):rep(1 << 22) .. "b" return s:find(("a"):rep(1 << 12) .. "b", 1, true)',
     ((1 << 22) - (1 << 12) + 1, (1 << 22) + 1)),
    ('return #string.rep("", 1e15), #string.rep("", 1 << 62, "")', (0, 0)),
    ('return (" x "):rep(1000):match("^%s*(.-)%s*$"):sub(1, 5)', (b"x  x ",)),
], ids=["plain find, absent", "plain find, at the end", "empty string.rep", "trim"])
def test_bounded_c_work_still_answers(source: str, expected: tuple[Any, ...]) -> None:
    outcome, seconds = run(source, wall_time_limit=3.0, instruction_limit=10**9)
    assert outcome == Outcome(expected)
    assert seconds < 4


def test_a_caught_limit_does_not_let_the_script_go_on() -> None:
    machine = vm("""
        Reached = 0
        function f()
            for _ = 1, 3 do
                local ok, err = pcall(function() while true do end end)
                Reached = Reached + 1
            end
        end
        function g()
            local ok = xpcall(function() while true do end end, function(e) Reached = Reached + 100 return e end)
            Reached = Reached + 1
        end
        function h()
            local co = coroutine.create(function() while true do end end)
            coroutine.resume(co)
            Reached = Reached + 1
        end
        function reached() return Reached end
    """)
    for name in ("f", "g", "h"):
        outcome = machine.call(name, [])
        assert isinstance(outcome, Failure) and outcome.error == b"instruction limit exceeded"
    assert machine.call("reached", []) == Outcome((0,))


def test_the_vm_stays_usable_after_a_limit() -> None:
    machine = vm("function loop() while true do end end\nfunction ok() return 'fine' end")
    assert isinstance(machine.call("loop", []), Failure)
    assert machine.call("ok", []) == Outcome((b"fine",))
    assert isinstance(machine.call("loop", []), Failure)  # the budget is the call's, every time
    assert machine.call("ok", []) == Outcome((b"fine",))


def test_coroutines_count_against_the_budget_across_calls() -> None:
    machine = vm("""
        Co = coroutine.wrap(function() while true do for i = 1, 1000 do end coroutine.yield(1) end end)
        Endless = coroutine.wrap(function() while true do end end)
        function step() return Co() end
        function spin() Endless() end
    """)
    assert machine.call("step", []) == Outcome((1,))
    assert isinstance(machine.call("spin", []), Failure)  # a coroutine made in an earlier call
    for _ in range(3):  # the surviving coroutine's hook is back to normal: its budget is intact
        assert machine.call("step", []) == Outcome((1,))


def test_wall_time_limit_abandons_a_call() -> None:
    outcome, seconds = run("while true do pcall(function() while true do end end) end",
                           instruction_limit=10**15, wall_time_limit=0.5)
    assert isinstance(outcome, Failure) and outcome.error == b"wall time limit exceeded"
    assert seconds < 1.5


@pytest.mark.parametrize("source", [
    'local s = string.rep("x", 1 << 27) return #s',
    'local s = string.rep("x", 1 << 24, ",") return #s',
    "local t = {} for i = 1, 1e8 do t[i] = i end",
    'local t = {} for i = 1, 1e8 do t["k" .. i] = true end',
    "local t = {} local n = 0 while true do n = n + 1 t[n] = {} end",
], ids=["string.rep", "string.rep with a separator", "array", "hash", "nested tables"])
def test_memory_cap_refuses_huge_strings_and_tables(source: str) -> None:
    outcome, seconds = run(source, instruction_limit=10**10, memory_limit=16 * 1024 * 1024)
    assert isinstance(outcome, Failure), outcome
    assert outcome.error.startswith(b"not enough memory"), outcome  # type: ignore[union-attr]
    assert seconds < 10


def test_debug_getinfo_never_hands_out_a_replaced_c_function() -> None:
    outcome, _ = run("""
        local seen = {}
        string.gsub("a", "a", function() seen[1] = debug.getinfo(2, "f").func end)
        table.sort({2, 1}, function(a, b) seen[2] = debug.getinfo(2, "f").func return a < b end)
        xpcall(function() seen[3] = debug.getinfo(2, "f").func end, debug.traceback)
        return seen[1] == string.gsub, seen[2] == table.sort, seen[3] == xpcall, debug.getinfo(1, "l").currentline
    """)
    assert outcome == Outcome((True, True, True, 7))


def test_a_snapshot_keeps_the_bounded_functions() -> None:
    machine = vm("local find, wrap = string.find, coroutine.wrap\nfunction f(s) return find(s, 'b') end\n"
                 "function g() return wrap(function() return 7 end)() end")
    restored = LuaVM.restore(machine.snapshot(), NoLibrary())
    assert restored.call("f", [b"abc"]) == Outcome((2, 2))
    assert restored.call("g", []) == Outcome((7,))
    assert restored.call("string.find", []) != Outcome(())


# --- the bounded functions answer what the C functions answer ----------------------------------

SUBJECTS = ["", "a", "aaa", "hello world", "  trim me  ", "x = 10, y = 20", "THE (quick) [brown] fox",
            "a.b.c", "key=value;k2=v2", "aaab", "abcabc", "f(a(b)c)d", "THE END", "\0a\0b", "1.5e10 -3"]
PATTERNS = ["a", "a*", "a+", "a-", "a?", ".", "^a", "a$", "^$", "%a+", "%d+", "%s*", "^%s*(.-)%s*$",
            "(%w+)=(%w+)", "()a()", "%b()", "%b[]", "%f[%w]%w+", "%f[%W]", "(a)(b)(c)", "(a*(.)%w(%s*))",
            "[%a_][%w_]*", "[^%s]+", "[a-c]+", "[%]]", "[]]", "[^]]", "%u+", "%l+", "%p", "%c", "%x+", "%g+",
            "(.)%1", "((a)%2)", "b*", "[%-]", "[a-]", "x*$", ".-b", "(h)(e)(l)(l)(o)", "%.", "\0", "[\0-a]",
            "%S+", "%A", "%D*", "%W", "%U", "%L", "%X", "%C", "%P", "%G", "a?a?aaa", "(()", "^(a+)", "%f[%a]"]
BAD = ["(", "%", "[a", "%b", "%f", "(()", "a)", "%1", "(a)%2", "[%"]


@pytest.fixture(scope="module")
def lua() -> Any:
    runtime = lua53.LuaRuntime(encoding=None, register_eval=False, unpack_returned_tuples=True)
    runtime.globals().B = runtime.execute(BOUNDS)
    runtime.execute(b"""
        function both(name, ...)
            local function call(fn, ...) return table.pack(fn(...)) end  -- errors point here, both
            local c_ok, c = pcall(call, string[name], ...)
            local l_ok, l = pcall(call, B["lua_" .. name], ...)
            local function show(ok, r)
                if not ok then return "error: " .. tostring(r) end
                local parts = {}
                for i = 1, r.n do parts[i] = type(r[i]) .. ":" .. tostring(r[i]) end
                return table.concat(parts, ",")
            end
            return show(c_ok, c), show(l_ok, l)
        end
        function gmatch_both(s, p)
            local function all(iter)
                local out = {}
                for a, b in iter do out[#out + 1] = tostring(a) .. "/" .. tostring(b) end
                return table.concat(out, " ")
            end
            return all(string.gmatch(s, p)), all(B.lua_gmatch(s, p))
        end
    """)
    return runtime


def _check(lua: Any, name: bytes, *args: Any) -> None:
    c, mine = lua.globals().both(name, *args)
    assert c == mine, (name, args)


@pytest.mark.parametrize("pattern", PATTERNS + BAD)
def test_lua_matcher_agrees_with_c(lua: Any, pattern: str) -> None:
    p = pattern.encode()
    for s in SUBJECTS:
        subject = s.encode()
        for init in (None, 1, 2, -3, 100):
            _check(lua, b"find", subject, p, init)
            _check(lua, b"match", subject, p, init)
        _check(lua, b"find", subject, p, 1, True)
        for repl in (b"<%0>", b"%1-%1", b"%%", b"x%", b"%9"):
            _check(lua, b"gsub", subject, p, repl)
        _check(lua, b"gsub", subject, p, b"[%0]", 1)


def test_lua_gsub_with_functions_and_tables_agrees_with_c(lua: Any) -> None:
    lua.execute(b"""
        Fn = function(a, b) if a == "a" then return nil end return (a or "") .. "!" end
        Tb = setmetatable({hello = "HI", x = false}, {__index = function(t, k) if k == "world" then return 7 end end})
        Bad = function() return {} end
    """)
    g = lua.globals()
    for s in SUBJECTS:
        for p in ("%w+", "(%w)(%w*)", "a", "^%s*", "%s*$", "x"):
            for repl in (g.Fn, g.Tb, g.Bad, 3.5, 42):
                _check(lua, b"gsub", s.encode(), p.encode(), repl)


@pytest.mark.parametrize("pattern", ["%a+", "(%w)(%w?)", "a*", "()", ".-", "%f[%w]%w+", "^a", "", "(a)(b)"])
def test_lua_gmatch_agrees_with_c(lua: Any, pattern: str) -> None:
    for s in SUBJECTS:
        c, mine = lua.globals().gmatch_both(s.encode(), pattern.encode())
        assert c == mine, (s, pattern)


def test_the_bounded_table_functions_agree_with_c() -> None:
    big = "local t = {} for i = 1, 5000 do t[i] = tostring(i) end"
    cases = [
        (f"{big} return table.concat(t, ',')", f"{big} return table.concat(t, ',', 1, #t)"),
        (f"{big} return #table.concat(t, '', 3, 4999)", None),
        (f"{big} table.move(t, 1, 4000, 3) return table.concat(t, ',')", None),
        (f"{big} table.move(t, 3, 5000, 1) return table.concat(t, ',')", None),
        (f"{big} local u = table.move(t, 1, 5000, 10, {{}}) return u[10] .. u[5009] .. tostring(u[9])", None),
        ("local t = setmetatable({}, {__index = function(_, k) return k * 2 end}) "
         "return table.concat(t, '-', 1, 3000):sub(1, 20)", None),
        ("local log = {} local t = setmetatable({3, 1, 2}, {__newindex = function(t, k, v) rawset(t, k, v) end}) "
         "table.insert(t, 2, 9) table.insert(t, 7) local r = table.remove(t, 1) table.sort(t) "
         "return r, table.concat(t, ',')", None),
    ]
    for source, same in cases:
        outcome, _ = run(source)
        assert isinstance(outcome, Outcome), (source, outcome)
        plain = lua53.LuaRuntime(encoding=None, unpack_returned_tuples=True)
        expected = plain.execute(source.encode())
        assert outcome.values == (expected if isinstance(expected, tuple) else (expected,)), source
        if same is not None:
            assert run(same)[0] == outcome
