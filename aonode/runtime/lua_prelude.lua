-- The prelude every aonode Lua VM runs once, before any module.
--
-- It closes the VM to the host, makes it deterministic, installs the `ao` library and
-- returns the functions the host drives the VM with (never reachable from Lua code).
--
-- Arguments: the snapshot library (lua_snapshot.lua), the bounds library (lua_bounds.lua),
-- the host's `ao` functions resolve, get, set and event, then `check`: a host function that
-- returns why the current call must stop (its wall time is over, the node is stopping), or nil.
--
-- Why each change:
--   * `python` (lupa's bridge), `io`, `os.execute`/`exit`/`getenv`/`remove`/`rename`/
--     `tmpname`/`setlocale`, `loadfile`, `dofile`, `package.loadlib` and the file
--     searchers are gone: Lua code must not reach the host, its files or its environment.
--     `require` finds only modules in `package.preload` and `package.loaded`.
--   * `load` accepts text only: a crafted binary chunk can crash the C Lua VM.
--   * `debug` keeps `traceback` and `getinfo`: `sethook` would lift the instruction limit
--     and `getregistry` reaches lupa's own references.
--   * `debug.getinfo` never returns one of the C functions lua_bounds.lua replaces (a callback
--     could find the C `string.gsub` one level up): it names the replacement instead.
--   * string.find/match/gmatch/gsub/rep and table.concat/move/insert/remove/sort are the
--     bounded versions of lua_bounds.lua: their C loops could otherwise run unstopped.
--   * `setmetatable` refuses `__gc`: finalizers run with hooks disabled, so an endless
--     finalizer could not be stopped.
--   * `math.random` is a generator whose state is part of the VM (and of its snapshot), and
--     the clock is the host's: `os.time()` is the time the host sets for the current call,
--     `os.date` formats in UTC, `os.clock()` is 0. Every node computes the same results.
--   * `print` goes to the node's log: Lua code does not write to the node's output.

local snapshot, bounds, resolve, get, set, event, check = ...

local debug_sethook, traceback, getinfo = debug.sethook, debug.traceback, debug.getinfo
local running = coroutine.running
local xpcall_c = xpcall

local function is_c_function(f)
    return getinfo(f, "S").what == "C"
end
local xpcall, pcall, select, error, type, rawget, pairs, next = xpcall, pcall, select, error, type, rawget, pairs, next
local tointeger, floor = math.tointeger, math.floor
local real_load, real_setmetatable = load, setmetatable
local os_date = os.date
local pack, unpack, sort = table.pack, table.unpack, table.sort

-- Host-owned values that belong in a snapshot: the generator's state and the clock.
local host = { seed = 0x2545F4914F6CDD1D, now = 0 }

python = nil
io = nil
package.loaded.io = nil
os.execute, os.exit, os.getenv, os.remove, os.rename, os.tmpname, os.setlocale = nil
loadfile, dofile = nil, nil
package.loadlib = nil
package.path, package.cpath = "", ""
package.searchers = { package.searchers[1] }
for name, fn in pairs(bounds.replacements) do
    local lib, key = name:match("^(%a+)%.(%a+)$")
    _G[lib][key] = fn
end
local hidden = bounds.hidden

-- A message handler runs with hooks off when the error came from the hook (a limit), so an
-- endless handler would never be stopped: a Lua handler is not called once the call must stop.
local stopped -- why the current call must stop (see the limits below), or nil
local function safe_xpcall(f, handler, ...)
    if type(handler) == "function" and not is_c_function(handler) then
        local inner = handler
        handler = function(...)
            if stopped then
                return stopped
            end
            return inner(...)
        end
    end
    return xpcall_c(f, handler, ...)
end
_G.xpcall = safe_xpcall
hidden[xpcall_c] = safe_xpcall
local function no_hidden(info)
    if type(info) == "table" and info.func ~= nil and hidden[info.func] ~= nil then
        info.func = hidden[info.func]
    end
    return info
end
-- Levels count from the caller of debug.getinfo, as before: this function is one level more.
local function safe_getinfo(a, b, c)
    if type(a) == "thread" then
        if a == running() and type(b) == "number" and b > 0 then
            b = b + 1
        end
        return no_hidden(getinfo(a, b, c))
    end
    if type(a) == "number" and a > 0 then
        a = a + 1
    end
    if b == nil then
        return no_hidden(getinfo(a))
    end
    return no_hidden(getinfo(a, b))
end
debug = { traceback = traceback, getinfo = safe_getinfo }
package.loaded.debug = debug

load = function(chunk, name, mode, ...)
    if select("#", ...) > 0 then
        return real_load(chunk, name, "t", ...)
    end
    return real_load(chunk, name, "t")
end

setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
        error("__gc metamethods are not available in this VM", 2)
    end
    return real_setmetatable(t, mt)
end

-- xorshift64: integer arithmetic wraps at 64 bits and `>>` is a logical shift in Lua 5.3.
local function next_u64()
    local x = host.seed
    x = x ~ (x << 13)
    x = x ~ (x >> 7)
    x = x ~ (x << 17)
    host.seed = x
    return x
end

math.random = function(m, n)
    local r = next_u64() >> 11 -- 53 random bits, non-negative
    if m == nil then
        return r * (1.0 / 9007199254740992.0)
    end
    local low, high
    if n == nil then
        low, high = 1, tointeger(m)
    else
        low, high = tointeger(m), tointeger(n)
    end
    if low == nil or high == nil then
        error("bad argument to 'random' (number has no integer representation)", 2)
    end
    if low > high then
        error("bad argument to 'random' (interval is empty)", 2)
    end
    return low + r % (high - low + 1)
end

math.randomseed = function(x)
    local seed = tointeger(x) or tointeger(floor(x))
    if seed == nil or seed == 0 then
        seed = 0x2545F4914F6CDD1D
    end
    host.seed = seed
end

-- Days since 1970-01-01 of a proleptic Gregorian date (no time zone, no C library).
local function days_from_civil(y, m, d)
    y = y + (m - 1) // 12
    m = (m - 1) % 12 + 1
    if m <= 2 then y = y - 1 end
    local era = y // 400
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = (153 * mp + 2) // 5 + d - 1
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
end

local function field(t, key, default)
    local value = t[key]
    if value == nil then
        if default == nil then
            error("field '" .. key .. "' missing in date table", 3)
        end
        return default
    end
    local int = tointeger(value)
    if int == nil then
        error("field '" .. key .. "' is not an integer", 3)
    end
    return int
end

os.time = function(t)
    if t == nil then
        return host.now
    end
    local days = days_from_civil(field(t, "year"), field(t, "month"), field(t, "day"))
    return days * 86400 + field(t, "hour", 12) * 3600 + field(t, "min", 0) * 60 + field(t, "sec", 0)
end

os.date = function(format, time)
    format = format or "%c"
    if format:sub(1, 1) ~= "!" then
        format = "!" .. format
    end
    return os_date(format, time or host.now)
end

os.clock = function()
    return 0.0
end

-- `print` writes to the node's log (debug level), not to its standard output.
local tostring, concat = tostring, table.concat
print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do
        parts[i] = tostring((select(i, ...)))
    end
    event("print", concat(parts, "\t"))
end

ao = { resolve = resolve, get = get, set = set, event = event }

-- Everything reachable now is the same in every fresh VM, so a snapshot refers to it by
-- name; the functions defined above are added by hand because the walk records only
-- tables, C functions and userdata.
local natives = snapshot.collect_natives(_G)
natives["@host"] = host
natives["@load"] = load
natives["@setmetatable"] = setmetatable
natives["@math.random"] = math.random
natives["@math.randomseed"] = math.randomseed
natives["@os.time"] = os.time
natives["@os.date"] = os.date
natives["@os.clock"] = os.clock
natives["@print"] = print
natives["@debug.getinfo"] = safe_getinfo
natives["xpcall"] = safe_xpcall
-- The same names the C functions had, so a snapshot made before they were replaced restores.
for name, fn in pairs(bounds.replacements) do
    natives[name] = fn
end

-- The limits. One hook, shared by every coroutine (a coroutine inherits its creator's hook),
-- counts in steps of STEP instructions against the budget of the current call, and every
-- CHECK_EVERY steps asks the host (`check`) whether the call's wall time is over or the node is
-- stopping. Once the call must stop, `stopped` says why and the hook raises that on every
-- instruction of whatever thread runs: a `pcall`, `xpcall` or `coroutine.resume` in the
-- script may catch the first error, but the next instruction after it raises again, so the
-- script cannot go on, and `xpcall` skips a Lua message handler (see above). Only the host's own
-- handler (`on_error`) runs, to end the call. The threads switched to every-instruction hooks
-- are put back to STEP when the next call starts.
local STEP = 1000
local CHECK_EVERY = 16
local used, allowed, ticks = 0, 0, 0
local LIMIT = "instruction limit exceeded"
local slow_all = false -- whether the last call ended with every thread hooked on every instruction

local on_error, hook

-- A Lua hook belongs to one thread (debug.sethook keeps the function per thread), so a new
-- coroutine would run unhooked: coroutine.create and coroutine.wrap hook it first.
local co_create, co_resume = coroutine.create, coroutine.resume

local threads = real_setmetatable({}, { __mode = "k" }) -- every coroutine, to hook them all on a stop
local main_thread = running()

local function safe_create(f)
    local co = co_create(f)
    debug_sethook(co, hook, "", STEP)
    threads[co] = true
    return co
end

local function wrapped(ok, ...)
    if ok then
        return ...
    end
    error((...), 2) -- as the C wrap does: a string error gets the caller's position
end

local function safe_wrap(f)
    local co = safe_create(f)
    return function(...)
        return wrapped(co_resume(co, ...))
    end
end

hidden[co_create], hidden[coroutine.wrap] = safe_create, safe_wrap
coroutine.create, coroutine.wrap = safe_create, safe_wrap
natives["coroutine.create"], natives["coroutine.wrap"] = safe_create, safe_wrap

hook = function()
    if stopped then
        if getinfo(2, "f").func == on_error then
            return
        end
        error(stopped, 0)
    end
    used = used + 1
    if used > allowed then
        stopped = LIMIT
    else
        ticks = ticks + 1
        if ticks < CHECK_EVERY then
            return
        end
        ticks = 0
        stopped = check()
        if stopped == nil then
            return
        end
    end
    -- Every thread, not just this one: a coroutine's caller must not run on after the resume.
    slow_all = true
    debug_sethook(main_thread, hook, "", 1)
    for co in pairs(threads) do
        debug_sethook(co, hook, "", 1)
    end
    error(stopped, 0)
end

on_error = function(err)
    debug_sethook()
    if stopped then
        err = stopped
    end
    return { err, traceback("", 2) }
end

local api = {}

-- Call `fn(...)` with at most `limit` instructions and the clock at `now`. Returns true and
-- the function's results, or false and {error value, traceback}.
function api.run(limit, now, fn, ...)
    host.now = now
    used, allowed, ticks, stopped = 0, limit // STEP + 1, 0, nil
    if slow_all then
        slow_all = false
        for co in pairs(threads) do
            debug_sethook(co, hook, "", STEP)
        end
    end
    debug_sethook(hook, "", STEP)
    local results = pack(xpcall(fn, on_error, ...))
    debug_sethook()
    return unpack(results, 1, results.n)
end

-- Run module source `source` (named `name`) in the global environment.
function api.load_module(source, name)
    local chunk, err = real_load(source, "=" .. name, "t")
    if chunk == nil then
        error(err, 0)
    end
    return chunk
end

-- Put the `ao` library back after modules ran: they may have replaced the `ao` table.
function api.install_ao()
    if type(ao) ~= "table" then
        ao = {}
    end
    ao.resolve, ao.get, ao.set, ao.event = resolve, get, set, event
end

-- The names of the global functions, sorted.
function api.functions()
    local names = {}
    for k, v in pairs(_G) do
        if type(v) == "function" and type(k) == "string" then
            names[#names + 1] = k
        end
    end
    sort(names)
    return names
end

-- Set the value at a path of keys below `_G` (the `sandbox` option of lua@5.3a).
function api.set_path(path, value)
    local t = _G
    for i = 1, #path - 1 do
        local next_t = t[path[i]]
        if type(next_t) ~= "table" then
            return false
        end
        t = next_t
    end
    t[path[#path]] = value
    return true
end

-- Whether `value` has a message form of at most `max_parts` values and `max_depth` levels: nil
-- if so, else why not. A shared table counts at every place it appears, as in the message.
function api.check(value, max_depth, max_parts)
    if type(value) ~= "table" then
        return nil
    end
    local sizes, on_path = {}, {}
    local function size(t, depth)
        if on_path[t] then
            error("a Lua table that contains itself", 0)
        end
        local known = sizes[t]
        if known then
            return known
        end
        if depth > max_depth then
            error("a Lua table nested deeper than " .. max_depth .. " levels", 0)
        end
        on_path[t] = true
        local n = 1
        for _, v in next, t do
            n = n + (type(v) == "table" and size(v, depth + 1) or 1)
            if n > max_parts then
                error("a Lua value of more than " .. max_parts .. " parts", 0)
            end
        end
        on_path[t] = nil
        sizes[t] = n
        return n
    end
    local ok, err = pcall(size, value, 1)
    if not ok then
        return err
    end
    return nil
end

function api.lookup(name)
    return _G[name]
end

function api.dump()
    return snapshot.dump({ _G, host }, natives)
end

function api.restore(data)
    snapshot.load(data, natives)
end

return api
