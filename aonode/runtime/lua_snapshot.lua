--[[
lua_snapshot.lua -- snapshot the value graph of a C Lua 5.3 VM (normally its globals) into a
string, and restore it into a fresh VM.

Running this chunk returns a table of three functions:

  collect_natives(root) -> natives
      `natives` maps a name to each table, C function and userdata reachable from `root`
      (itself named "_G"; then "string", "string.format", "package.loaded", ...) through
      keys that are strings, numbers or booleans, plus the string metatable ("@string_mt")
      and the metatables of everything recorded ("<name>@mt"). Number keys count because
      package.searchers holds C functions at 1..n; metatables because userdata methods
      (io.stdout:write) are reachable only through them. The walk is breadth first over
      sorted keys, so the shortest path names an object and two VMs set up the same way
      get the same names. Lua functions are not recorded: they are serialized by value.
      The host may add entries of its own (any type, Lua functions too) by hand.
  dump(root, natives) -> data
  load(data, natives) -> root
      `natives` must be the table collect_natives returned in a fresh VM set up exactly like
      the one the snapshot comes from (same names for the same things).

Why natives: C functions and userdata have no serial form, and some tables must keep their
identity in the new VM (`_G` is the registry's global table, `string` is the string
metatable's __index, `package.loaded` is what `require` looks in). A native is written as its
name; a native *table* is written as its name plus its current contents and metatable, and
on load the fresh VM's table of that name is cleared and refilled, so it keeps its identity
but gets the saved state.

Data format (numbers little endian, written with string.pack):

  "AOLS" <u8 format version>       header
  <value>                          the root
  <value> x 5                      the metatables of the types string, number, boolean, nil
                                   and function (type-wide, set with debug.setmetatable)
  <body> ...                       one body per table and Lua function, in the order the
                                   objects first appear in the stream

  A value is a tag byte and a payload:
    0 nil   1 false   2 true
    3 <i1>  4 <i4>  5 <i8>         integers (smallest form that fits)
    6 <f8>                         float, bit exact (NaN payloads, -0.0, infinities)
    7 <s1>  8 <s4>                 a string seen for the first time: it gets the next
                                   string number (1, 2, ...)
    9 <u4>                         a string seen before, by number
   10 <u4>                         an object (table/function/native) seen before, by number
   11                              a new table: gets the next object number, body follows
                                   later
   12 <s2 name>                    a native table: next object number, body follows later
   13 <s2 name>                    any other native (C function, userdata, host-added value):
                                   next object number, no body
   14 <value bytecode> <u1 nups>   a new Lua function (string.dump with debug info, itself
                                   a string value so identical prototypes are stored once):
                                   next object number, body follows later

  Objects (tables, functions, natives) share one numbering, strings have their own; both
  count from 1 in stream order, so the reader rebuilds the numbering as it goes.

  Body of a table: <key> <value> pairs, then tag 0 (a key is never nil), then <metatable>.
  Body of a Lua function: one entry per upvalue, either a <value> or
    15 <u4 function> <u1 upvalue>  this upvalue is the same variable (debug.upvalueid) as
                                   upvalue <u1> of the earlier function <u4>: the loader
                                   calls debug.upvaluejoin, so sharing survives.

Objects are discovered breadth first and each body holds only scalars and references, so
neither writer nor reader recurses: a chain of any depth costs no stack.

The reader changes nothing in the VM until the whole input has been read and checked: native
tables are cleared and refilled, and all metatables set, only at the end. Metatables are set
last so a table whose metatable has __gc or __mode gets them from its complete metatable.

Limits:
  * Function bytecode is loaded as is, and C Lua does not verify bytecode: load only data
    that dump produced (crafted data can crash the VM). Other damage is detected: bad
    header, version, tags, references, truncation and trailing bytes raise an error.
  * A native C function or userdata is restored by name only; state kept inside it (C
    upvalues, userdata memory) is whatever the fresh VM has.
  * Finalizers: a restored metatable with __gc registers its table for finalization, even
    if the original table got its metatable before __gc was added (Lua cannot tell).
]]

-- Captured now: user code runs later and may replace or remove any global (the host itself
-- replaces `debug` and `load`), and the functions below must keep working.
local type, next, rawget, rawset = type, next, rawget, rawset
local error, pcall, tostring, load = error, pcall, tostring, load
local sort, concat = table.sort, table.concat
local pack, unpack = string.pack, string.unpack
local sbyte, schar, ssub, sformat, sfind, smatch = string.byte, string.char, string.sub, string.format,
    string.find, string.match
local sdump = string.dump
local mtype = math.type
local getinfo, getupvalue, setupvalue = debug.getinfo, debug.getupvalue, debug.setupvalue
local upvalueid, upvaluejoin = debug.upvalueid, debug.upvaluejoin
local getmeta, setmeta = debug.getmetatable, debug.setmetatable

local MAGIC = "AOLS"
local VERSION = 1

local T_NIL, T_FALSE, T_TRUE = 0, 1, 2
local T_INT1, T_INT4, T_INT8, T_FLOAT = 3, 4, 5, 6
local T_STR1, T_STR4, T_STRREF = 7, 8, 9
local T_REF, T_TABLE, T_NTABLE, T_NATIVE, T_FUNC, T_JOIN = 10, 11, 12, 13, 14, 15

-- Pieces the writer would otherwise build with string.pack again and again; a pack call
-- costs more than everything else done for a small value.
local C_NIL, C_FALSE, C_TRUE, C_TABLE = schar(T_NIL), schar(T_FALSE), schar(T_TRUE), schar(T_TABLE)
local SMALL_INT = {} -- -128..127 -> encoded integer
for i = -128, 127 do
    SMALL_INT[i] = pack("<Bi1", T_INT1, i)
end
local STR1_HEAD = {} -- length 0..255 -> tag and length of a new short string
for len = 0, 255 do
    STR1_HEAD[len] = pack("<BB", T_STR1, len)
end

-- The writer joins its output pieces every this many (see dump).
local FLUSH_AT = 4096

-- One value of each type that has a type-wide metatable, in format order. Index 4 is nil.
local function sample_function() end
local TYPE_SAMPLES = { "", 0, false, nil, sample_function }
local TYPE_NAMES = { "string", "number", "boolean", "nil", "function" }
local NTYPES = 5

local function fail(msg)
    error("lua snapshot: " .. msg, 0)
end

local function is_c_function(f)
    return getinfo(f, "S").what == "C"
end

-- How a key reads in a name or path: `.name` for identifiers, `[...]` otherwise.
local function key_suffix(k)
    local tk = type(k)
    if tk == "string" then
        if smatch(k, "^[%a_][%w_]*$") then
            return "." .. k
        end
        return "[" .. sformat("%q", k) .. "]"
    elseif tk == "number" then
        if mtype(k) == "integer" then
            return "[" .. sformat("%d", k) .. "]"
        end
        return "[" .. sformat("%.17g", k) .. "]"
    elseif tk == "boolean" then
        return k and "[true]" or "[false]"
    end
    return "[<" .. tk .. " key>]"
end

local TYPE_RANK = { boolean = 1, number = 2, string = 3 }

local function key_less(a, b)
    local ra, rb = TYPE_RANK[type(a)], TYPE_RANK[type(b)]
    if ra ~= rb then
        return ra < rb
    end
    if ra == 1 then
        return (not a) and b
    end
    return a < b
end

local function collect_natives(root)
    local natives, names = {}, {}
    local queue, qn = {}, 0

    local function record(v, name)
        local tv = type(v)
        if names[v] ~= nil or natives[name] ~= nil then
            return
        end
        if tv == "table" or tv == "userdata" then
            qn = qn + 1
            queue[qn] = v
        elseif not (tv == "function" and is_c_function(v)) then
            return
        end
        names[v] = name
        natives[name] = v
    end

    record(root, "_G")
    -- The string metatable is reachable only through strings, never through keys.
    record(getmeta(""), "@string_mt")

    local qi = 1
    while qi <= qn do
        local obj = queue[qi]
        qi = qi + 1
        local name = names[obj]
        if type(obj) == "table" then
            -- Sorted so names do not depend on the table's (address-seeded) hash order.
            local keys, nk = {}, 0
            local k = next(obj)
            while k ~= nil do
                if TYPE_RANK[type(k)] then
                    nk = nk + 1
                    keys[nk] = k
                end
                k = next(obj, k)
            end
            sort(keys, key_less)
            for i = 1, nk do
                k = keys[i]
                local suffix = key_suffix(k)
                if name == "_G" and ssub(suffix, 1, 1) == "." then
                    suffix = ssub(suffix, 2) -- "string.format", not "_G.string.format"
                else
                    suffix = name .. suffix
                end
                record(rawget(obj, k), suffix)
            end
        end
        -- Methods of userdata (and of tables with metatables) are reachable only here.
        local mt = getmeta(obj)
        if mt ~= nil then
            record(mt, name .. "@mt")
        end
    end
    return natives
end

-- natives (name -> object) reversed; if an object has several names the smallest wins, so
-- the output does not depend on traversal order.
local function reverse_natives(natives)
    if type(natives) ~= "table" then
        fail("natives must be a table (from collect_natives)")
    end
    local rev = {}
    local name, obj = next(natives)
    while name ~= nil do
        if type(name) == "string" and obj ~= nil then
            local old = rev[obj]
            if old == nil or name < old then
                rev[obj] = name
            end
        end
        name, obj = next(natives, name)
    end
    return rev
end

local function dump(root, natives)
    local rev = reverse_natives(natives)
    -- Output pieces go to `buf`, which is joined into `chunks` every FLUSH_AT pieces: a
    -- table of millions of small strings costs memory and makes every GC cycle slow.
    local chunks, nchunks = {}, 0
    local buf, n = { MAGIC .. schar(VERSION) }, 1

    local function flush()
        nchunks = nchunks + 1
        chunks[nchunks] = concat(buf, "", 1, n)
        n = 0
    end

    local ids, nobj = {}, 0 -- object -> number
    -- Encoded references are cached: string.pack per repeated key would dominate the time.
    local str_num, nstr = {}, 0 -- string -> number
    local str_ref = {} -- string -> its encoded reference, once it is referenced twice
    local obj_ref = {} -- object -> its encoded reference, once it is referenced twice
    local queue, qn = {}, 0 -- objects whose body is still to be written
    local nups_of = {} -- Lua function -> number of upvalues
    local up_owner, up_slot = {}, {} -- upvalue id -> first (function number, upvalue index)

    -- For error messages only: how each object was reached (parent number and key, or a
    -- label such as "<metatable>"). Paths are built only when something fails.
    local parent, via, label = {}, {}, {}

    local function path_of(idx)
        local parts, np = {}, 0
        while idx ~= nil do
            np = np + 1
            parts[np] = label[idx] or key_suffix(via[idx])
            idx = parent[idx]
        end
        local out = {}
        for i = np, 1, -1 do
            out[np - i + 1] = parts[i]
        end
        return concat(out)
    end

    local function cannot(what, pidx, key, lab)
        fail("cannot serialize " .. what .. " at " .. path_of(pidx) .. (lab or key_suffix(key)))
    end

    -- Write value v, found in object number pidx under key `key` (or described by `lab`).
    local function put(v, pidx, key, lab)
        local tv = type(v)
        if tv == "string" then
            local ref = str_ref[v]
            n = n + 1
            if ref then
                buf[n] = ref
            else
                local si = str_num[v]
                if si then
                    ref = pack("<BI4", T_STRREF, si)
                    str_ref[v] = ref
                    buf[n] = ref
                else
                    nstr = nstr + 1
                    str_num[v] = nstr
                    -- Tag and length as their own piece: no copy of the string itself.
                    local len = #v
                    buf[n] = STR1_HEAD[len] or pack("<BI4", T_STR4, len)
                    n = n + 1
                    buf[n] = v
                end
            end
        elseif tv == "number" then
            n = n + 1
            if mtype(v) == "integer" then
                if v >= -128 and v <= 127 then
                    buf[n] = SMALL_INT[v]
                elseif v >= -2147483648 and v <= 2147483647 then
                    buf[n] = pack("<Bi4", T_INT4, v)
                else
                    buf[n] = pack("<Bi8", T_INT8, v)
                end
            else
                buf[n] = pack("<Bd", T_FLOAT, v)
            end
        elseif tv == "boolean" then
            n = n + 1
            buf[n] = v and C_TRUE or C_FALSE
        elseif tv == "nil" then
            n = n + 1
            buf[n] = C_NIL
        else
            local idx = ids[v]
            if idx then
                local ref = obj_ref[v]
                if ref == nil then
                    ref = pack("<BI4", T_REF, idx)
                    obj_ref[v] = ref
                end
                n = n + 1
                buf[n] = ref
                return
            end
            local name = rev[v]
            if tv == "table" or name ~= nil then
                -- ok
            elseif tv == "function" then
                if is_c_function(v) then
                    cannot("C function", pidx, key, lab)
                end
            elseif tv == "thread" then
                cannot("a coroutine", pidx, key, lab)
            else
                cannot(tv, pidx, key, lab)
            end
            nobj = nobj + 1
            idx = nobj
            ids[v] = idx
            parent[idx], via[idx], label[idx] = pidx, key, lab
            n = n + 1
            if tv == "table" then
                qn = qn + 1
                queue[qn] = v
                buf[n] = name and pack("<Bs2", T_NTABLE, name) or C_TABLE
            elseif name ~= nil then
                buf[n] = pack("<Bs2", T_NATIVE, name)
            else
                qn = qn + 1
                queue[qn] = v
                local nups = getinfo(v, "u").nups
                nups_of[v] = nups
                buf[n] = schar(T_FUNC)
                put(sdump(v, false), idx, nil, "<bytecode>")
                n = n + 1
                buf[n] = pack("<B", nups)
            end
        end
    end

    put(root, nil, nil, rev[root] or "root")
    for i = 1, NTYPES do
        put(getmeta(TYPE_SAMPLES[i]), nil, nil, "<" .. TYPE_NAMES[i] .. " metatable>")
    end

    local qi = 1
    while qi <= qn do
        local obj = queue[qi]
        qi = qi + 1
        local oi = ids[obj]
        if n > FLUSH_AT then
            flush()
        end
        if type(obj) == "table" then
            -- next, not pairs: __pairs must not run (nor see the snapshot happen).
            local k, v = next(obj)
            while k ~= nil do
                put(k, oi, nil, "<key>")
                put(v, oi, k)
                k, v = next(obj, k)
                if n > FLUSH_AT then
                    flush()
                end
            end
            n = n + 1
            buf[n] = C_NIL
            put(getmeta(obj), oi, nil, "<metatable>")
        else
            for j = 1, nups_of[obj] do
                local id = upvalueid(obj, j)
                local owner = up_owner[id]
                if owner then
                    n = n + 1
                    buf[n] = pack("<BI4B", T_JOIN, owner, up_slot[id])
                else
                    up_owner[id], up_slot[id] = oi, j
                    local uname, value = getupvalue(obj, j)
                    put(value, oi, nil, "<upvalue " .. tostring(uname) .. ">")
                end
            end
        end
    end
    flush()
    return concat(chunks)
end

-- Read a whole snapshot; see load_snapshot for the checks around it.
local function decode(data, natives)
    local pos = #MAGIC + 2
    local objs, nobj = {}, 0
    local strs, nstr = {}, 0
    local queue, qn = {}, 0
    local is_native = {} -- native tables, refilled only at the end
    local nups_of = {}

    local function native(name, want_table)
        local obj = rawget(natives, name)
        if obj == nil then
            fail("native '" .. name .. "' does not exist in this VM")
        end
        if want_table ~= (type(obj) == "table") then
            fail("native '" .. name .. "' has a different type in this VM")
        end
        return obj
    end

    -- Most frequent tags first.
    local function value()
        local at = pos -- for error messages
        local tag = sbyte(data, pos)
        if tag == T_STRREF then
            local i
            i, pos = unpack("<I4", data, pos + 1)
            local s = strs[i]
            if s == nil then
                fail("corrupt data (bad string reference at offset " .. at .. ")")
            end
            return s
        elseif tag == T_STR1 then
            local s
            s, pos = unpack("<s1", data, pos + 1)
            nstr = nstr + 1
            strs[nstr] = s
            return s
        elseif tag == T_INT1 then
            local v
            v, pos = unpack("<i1", data, pos + 1)
            return v
        elseif tag == T_REF then
            local i
            i, pos = unpack("<I4", data, pos + 1)
            local o = objs[i]
            if o == nil then
                fail("corrupt data (bad object reference at offset " .. at .. ")")
            end
            return o
        elseif tag == T_TABLE then
            pos = pos + 1
            local t = {}
            nobj = nobj + 1
            objs[nobj] = t
            qn = qn + 1
            queue[qn] = t
            return t
        elseif tag == T_INT4 then
            local v
            v, pos = unpack("<i4", data, pos + 1)
            return v
        elseif tag == T_FALSE then
            pos = pos + 1
            return false
        elseif tag == T_TRUE then
            pos = pos + 1
            return true
        elseif tag == T_NIL then
            pos = pos + 1
            return nil
        elseif tag == T_FLOAT then
            local v
            v, pos = unpack("<d", data, pos + 1)
            return v
        elseif tag == T_INT8 then
            local v
            v, pos = unpack("<i8", data, pos + 1)
            return v
        elseif tag == T_STR4 then
            local s
            s, pos = unpack("<s4", data, pos + 1)
            nstr = nstr + 1
            strs[nstr] = s
            return s
        elseif tag == T_FUNC then
            pos = pos + 1
            local code = value()
            if type(code) ~= "string" then
                fail("corrupt data (function without bytecode at offset " .. at .. ")")
            end
            local nups
            nups, pos = unpack("<B", data, pos)
            local f, err = load(code, "=(snapshot)", "b")
            if f == nil then
                fail("cannot load function bytecode: " .. tostring(err))
            end
            if getinfo(f, "u").nups ~= nups then
                fail("corrupt data (upvalue count mismatch at offset " .. at .. ")")
            end
            nobj = nobj + 1
            objs[nobj] = f
            qn = qn + 1
            queue[qn] = f
            nups_of[f] = nups
            return f
        elseif tag == T_NTABLE then
            local name
            name, pos = unpack("<s2", data, pos + 1)
            local t = native(name, true)
            nobj = nobj + 1
            objs[nobj] = t
            qn = qn + 1
            queue[qn] = t
            is_native[t] = true
            return t
        elseif tag == T_NATIVE then
            local name
            name, pos = unpack("<s2", data, pos + 1)
            local o = native(name, false)
            nobj = nobj + 1
            objs[nobj] = o
            return o
        elseif tag == nil then
            fail("truncated data")
        end
        fail("corrupt data (unknown tag " .. tag .. " at offset " .. at .. ")")
    end

    local root = value()
    local type_mts = {}
    for i = 1, NTYPES do
        local mt = value()
        if mt ~= nil and type(mt) ~= "table" then
            fail("corrupt data (metatable is not a table)")
        end
        type_mts[i] = mt
    end

    local set_obj, set_mt, nset = {}, {}, 0 -- metatables, set at the end
    local fills, nfill = {}, 0 -- native tables and their saved pairs
    local qi = 1
    while qi <= qn do
        local obj = queue[qi]
        qi = qi + 1
        if type(obj) == "table" then
            local native_table = is_native[obj]
            local saved, ns
            if native_table then
                saved, ns = {}, 0
            end
            while true do
                local k = value()
                if k == nil then
                    break
                end
                local v = value()
                if k ~= k then
                    fail("corrupt data (NaN key)")
                end
                if native_table then
                    saved[ns + 1], saved[ns + 2] = k, v
                    ns = ns + 2
                else
                    rawset(obj, k, v)
                end
            end
            local mt = value()
            if mt ~= nil and type(mt) ~= "table" then
                fail("corrupt data (metatable is not a table)")
            end
            -- A native table's saved "no metatable" must also be applied.
            if mt ~= nil or native_table then
                nset = nset + 1
                set_obj[nset], set_mt[nset] = obj, mt
            end
            if native_table then
                nfill = nfill + 1
                fills[nfill] = { obj, saved, ns }
            end
        else
            for j = 1, nups_of[obj] do
                if sbyte(data, pos) == T_JOIN then
                    local fi, fj
                    fi, fj, pos = unpack("<I4B", data, pos + 1)
                    local other = objs[fi]
                    if type(other) ~= "function" or nups_of[other] == nil or fj < 1 or fj > nups_of[other] then
                        fail("corrupt data (bad shared upvalue at offset " .. pos .. ")")
                    end
                    upvaluejoin(obj, j, other, fj)
                else
                    setupvalue(obj, j, value())
                end
            end
        end
    end
    if pos ~= #data + 1 then
        fail("corrupt data (" .. (#data + 1 - pos) .. " unexpected bytes after the end)")
    end

    -- Everything was read: only now touch what the VM already had.
    for i = 1, nfill do
        local fill = fills[i]
        local t, saved = fill[1], fill[2]
        local k = next(t)
        while k ~= nil do
            rawset(t, k, nil) -- clearing fields during next is allowed
            k = next(t, k)
        end
        for j = 1, fill[3], 2 do
            rawset(t, saved[j], saved[j + 1])
        end
    end
    -- A finalizer is registered only when a metatable already holds `__gc` as it is set.
    -- Hide the field while setting, so that restoring never adds a finalizer (they run with
    -- hooks off, out of reach of the instruction limit).
    for i = 1, nset do
        local mt = set_mt[i]
        local gc = type(mt) == "table" and rawget(mt, "__gc") or nil
        if gc ~= nil then
            rawset(mt, "__gc", nil)
        end
        setmeta(set_obj[i], mt)
        if gc ~= nil then
            rawset(mt, "__gc", gc)
        end
    end
    for i = 1, NTYPES do
        setmeta(TYPE_SAMPLES[i], type_mts[i])
    end
    return root
end

local function load_snapshot(data, natives)
    if type(data) ~= "string" then
        fail("snapshot data must be a string, got " .. type(data))
    end
    if type(natives) ~= "table" then
        fail("natives must be a table (from collect_natives)")
    end
    if #data < #MAGIC + 1 or ssub(data, 1, #MAGIC) ~= MAGIC then
        fail("not a snapshot (bad header)")
    end
    local version = sbyte(data, #MAGIC + 1)
    if version ~= VERSION then
        fail("unsupported format version " .. version .. " (this reader supports " .. VERSION .. ")")
    end
    -- string.unpack running off the end is how truncation shows up; give it a clear message.
    -- Any other error (ours, out of memory, the host's instruction limit) passes unchanged.
    local ok, result = pcall(decode, data, natives)
    if ok then
        return result
    end
    if type(result) == "string" and sfind(result, "data string too short", 1, true) then
        fail("truncated or corrupt data (" .. result .. ")")
    end
    error(result, 0)
end

return {
    collect_natives = collect_natives,
    dump = dump,
    load = load_snapshot,
}
