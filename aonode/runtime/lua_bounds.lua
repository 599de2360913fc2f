-- Bounds on the C work a Lua program can start (issue 17).
--
-- The instruction hook counts Lua instructions only: a C function that loops for long can be
-- neither counted nor stopped, and it holds its thread until it returns. The memory cap bounds
-- every C loop that allocates as it goes; these replace the standard functions whose C loops
-- do not allocate, each returning exactly what the original returns:
--
--   string.find, match, gmatch, gsub   Patterns backtrack: ("a"):rep(40):match(("a*"):rep(40)
--       .. "b") takes ages. A call whose worst case, starts x (pattern length + 1) x (n + 1)
--       per `*`, `+`, `-`, `%b` or back-reference x 2 per `?`, is over BUDGET steps runs in
--       the Lua port of lstrlib.c's matcher below, whose steps the hook counts (and which
--       therefore ends at the call's instruction or wall-time limit). A plain find over BUDGET
--       searches window by window. Cheap calls (nearly all) go to C.
--   string.rep    Loops n times even when every copy is empty: ("").rep("", 1e15).
--   table.concat, table.move    Loop over an index range, which need not exist in memory
--       (nils, or a C function as __index): a range over CHUNK items goes in C calls of CHUNK
--       items each, from a Lua loop.
--   table.insert, remove, sort    Loop up to #t, which __len can make huge: on a table with
--       a metatable they run in Lua (sort copies the items into a plain table, sorts that in
--       C, and writes them back).
--
-- The originals are kept here only; `hidden` maps each to its replacement, so the prelude's
-- debug.getinfo never hands one to Lua code (a level above a callback is the C caller).
--
-- Returns a table: name ("string.find", ...) -> replacement, and `hidden`.

local BUDGET = 2e7 -- C pattern steps one call may take (a few tens of ms)
local CHUNK = 1024 -- items per C call of table.concat and table.move (a few µs each)

local type, select, error, tostring, setmetatable = type, select, error, tostring, setmetatable
local tointeger = math.tointeger
local raw_getmetatable = debug.getmetatable
local byte, sub = string.byte, string.sub
local find, match, gmatch, gsub, rep = string.find, string.match, string.gmatch, string.gsub, string.rep
local concat, insert, remove, move, sort = table.concat, table.insert, table.remove, table.move, table.sort
local maxinteger = math.maxinteger

local function pass(...)
    return ...
end

-- The results of a pcall, or its error raised again at the level of the caller's caller (a
-- tail call from a replacement: the user's code, where the C function's error would point).
local pcall = pcall
local function raised(ok, ...)
    if ok then
        return ...
    end
    error((...), 2)
end

-- math.tointeger, but nil for nil (math.tointeger and tonumber raise on a missing argument).
local function toint(v)
    if v == nil then return nil end
    return tointeger(v)
end

-- --- the cost of a C match ---------------------------------------------------------------------

local L_ESC, C_LBRACKET, C_RBRACKET, C_CARET = 37, 91, 93, 94

-- pattern -> { n = factors of (n + 1), two = factors of 2 }; reset when it grows large.
local profiles, nprofiles = {}, 0

local function profile(p)
    local found = profiles[p]
    if found then
        return found
    end
    local quantifiers, optionals = 0, 0
    local i, len = 1, #p
    while i <= len do
        local c = byte(p, i)
        if c == L_ESC then
            local nxt = byte(p, i + 1)
            if nxt == 98 or (nxt and nxt >= 48 and nxt <= 57) then -- %b, %0-9
                quantifiers = quantifiers + 1
            end
            i = i + 2
        elseif c == C_LBRACKET then -- a set: skip to its end (quantifiers inside are literal)
            i = i + 1
            if byte(p, i) == C_CARET then i = i + 1 end
            repeat
                local cc = byte(p, i)
                i = i + 1
                if cc == L_ESC then i = i + 1 end
            until i > len or byte(p, i) == C_RBRACKET
            i = i + 1
        else
            if c == 42 or c == 43 or c == 45 then -- * + -
                quantifiers = quantifiers + 1
            elseif c == 63 then -- ?
                optionals = optionals + 1
            end
            i = i + 1
        end
    end
    found = { n = quantifiers, two = optionals }
    if nprofiles >= 4096 then
        profiles, nprofiles = {}, 0
    end
    profiles[p] = found
    nprofiles = nprofiles + 1
    return found
end

-- Whether matching pattern `p` against `n` subject bytes from `starts` positions stays within
-- BUDGET steps in the worst case.
local function cheap(n, p, starts)
    local prof = profile(p)
    local cost = starts * (#p + 1)
    for _ = 1, prof.two do
        cost = cost * 2
        if cost > BUDGET then return false end
    end
    for _ = 1, prof.n do
        cost = cost * (n + 1)
        if cost > BUDGET then return false end
    end
    return cost <= BUDGET
end

-- --- lstrlib.c's matcher (Lua 5.3), in Lua ---------------------------------------------------

local MAXCCALLS = 200
local MAXCAPTURES = 32
local CAP_UNFINISHED, CAP_POSITION = -1, -2

-- Character classes of the C locale, as sets of bytes.
local classes = {}
for _, cl in ipairs({ "a", "c", "d", "g", "l", "p", "s", "u", "w", "x" }) do
    local set = {}
    for c = 0, 255 do
        if find(string.char(c), "^%" .. cl) then set[c] = true end
    end
    classes[byte(cl)] = set
end

local function match_class(c, cl)
    if cl == nil then return false end
    local set = classes[cl | 32]
    if set == nil or cl < 65 or (cl > 90 and cl < 97) or cl > 122 then
        return cl == c
    end
    local res = set[c] == true
    if cl < 97 then -- an upper-case class is the complement
        return not res
    end
    return res
end

local function matchbracketclass(c, p, pi, ec)
    local sig = true
    if byte(p, pi + 1) == C_CARET then
        sig = false
        pi = pi + 1
    end
    pi = pi + 1
    while pi < ec do
        local pc = byte(p, pi)
        if pc == L_ESC then
            pi = pi + 1
            if match_class(c, byte(p, pi)) then return sig end
        elseif byte(p, pi + 1) == 45 and pi + 2 < ec then -- a range
            if pc <= c and c <= byte(p, pi + 2) then return sig end
            pi = pi + 2
        elseif pc == c then
            return sig
        end
        pi = pi + 1
    end
    return not sig
end

local Matcher = {}
Matcher.__index = Matcher

local function matcher(s, p)
    return setmetatable({ s = s, n = #s, p = p, pn = #p, level = 0, init = {}, len = {},
        depth = MAXCCALLS }, Matcher)
end

function Matcher:class_end(pi)
    local p = self.p
    local c = byte(p, pi)
    pi = pi + 1
    if c == L_ESC then
        if pi > self.pn then error("malformed pattern (ends with '%')", 0) end
        return pi + 1
    elseif c == C_LBRACKET then
        if byte(p, pi) == C_CARET then pi = pi + 1 end
        repeat
            if pi > self.pn then error("malformed pattern (missing ']')", 0) end
            local cc = byte(p, pi)
            pi = pi + 1
            if cc == L_ESC and pi <= self.pn then pi = pi + 1 end
        until byte(p, pi) == C_RBRACKET
        return pi + 1
    end
    return pi
end

function Matcher:single(si, pi, ep)
    if si > self.n then return false end
    local c = byte(self.s, si)
    local pc = byte(self.p, pi)
    if pc == 46 then return true -- '.'
    elseif pc == L_ESC then return match_class(c, byte(self.p, pi + 1))
    elseif pc == C_LBRACKET then return matchbracketclass(c, self.p, pi, ep - 1)
    end
    return pc == c
end

function Matcher:check_capture(l)
    l = l - 49 -- '1'
    if l < 0 or l >= self.level or self.len[l] == CAP_UNFINISHED then
        error("invalid capture index %" .. (l + 1), 0)
    end
    return l
end

function Matcher:capture_to_close()
    for level = self.level - 1, 0, -1 do
        if self.len[level] == CAP_UNFINISHED then return level end
    end
    error("invalid pattern capture", 0)
end

function Matcher:match(si, pi)
    if self.depth == 0 then error("pattern too complex", 0) end
    self.depth = self.depth - 1
    local s, p, pn = self.s, self.p, self.pn
    while true do
        if pi > pn then break end
        local pc = byte(p, pi)
        if pc == 40 then -- '('
            local what, from = CAP_UNFINISHED, pi + 1
            if byte(p, pi + 1) == 41 then what, from = CAP_POSITION, pi + 2 end
            local level = self.level
            if level >= MAXCAPTURES then error("too many captures", 0) end
            self.init[level], self.len[level] = si, what
            self.level = level + 1
            si = self:match(si, from)
            if si == nil then self.level = self.level - 1 end
            break
        elseif pc == 41 then -- ')'
            local l = self:capture_to_close()
            self.len[l] = si - self.init[l]
            si = self:match(si, pi + 1)
            if si == nil then self.len[l] = CAP_UNFINISHED end
            break
        elseif pc == 36 and pi == pn then -- '$' at the end
            if si ~= self.n + 1 then si = nil end
            break
        elseif pc == L_ESC and byte(p, pi + 1) == 98 then -- %b
            pi = pi + 2
            if pi >= pn then error("malformed pattern (missing arguments to '%b')", 0) end
            local b, e = byte(p, pi), byte(p, pi + 1)
            if byte(s, si) ~= b then
                si = nil
                break
            end
            local cont, found = 1, nil
            local j = si + 1
            while j <= self.n do
                local c = byte(s, j)
                if c == e then
                    cont = cont - 1
                    if cont == 0 then
                        found = j + 1
                        break
                    end
                elseif c == b then
                    cont = cont + 1
                end
                j = j + 1
            end
            if found == nil then
                si = nil
                break
            end
            si, pi = found, pi + 2
        elseif pc == L_ESC and byte(p, pi + 1) == 102 then -- %f
            pi = pi + 2
            if byte(p, pi) ~= C_LBRACKET then error("missing '[' after '%f' in pattern", 0) end
            local ep = self:class_end(pi)
            local previous = si == 1 and 0 or byte(s, si - 1)
            local current = byte(s, si) or 0
            if not matchbracketclass(previous, p, pi, ep - 1) and matchbracketclass(current, p, pi, ep - 1) then
                pi = ep
            else
                si = nil
                break
            end
        elseif pc == L_ESC and (byte(p, pi + 1) or 0) >= 48 and byte(p, pi + 1) <= 57 then -- %0-9
            local l = self:check_capture(byte(p, pi + 1))
            local len = self.len[l]
            local init = self.init[l]
            if len >= 0 and self.n - si + 1 >= len and sub(s, si, si + len - 1) == sub(s, init, init + len - 1) then
                si, pi = si + len, pi + 2
            else
                si = nil
                break
            end
        else
            local ep = self:class_end(pi)
            local epc = byte(p, ep)
            if not self:single(si, pi, ep) then
                if epc == 42 or epc == 63 or epc == 45 then -- * ? -: may match zero times
                    pi = ep + 1
                else
                    si = nil
                    break
                end
            elseif epc == 63 then -- ?
                local res = self:match(si + 1, ep + 1)
                if res ~= nil then
                    si = res
                    break
                end
                pi = ep + 1
            elseif epc == 43 or epc == 42 then -- + *
                local i = epc == 43 and 1 or 0
                while self:single(si + i, pi, ep) do i = i + 1 end
                local res = nil
                while i >= (epc == 43 and 1 or 0) do
                    res = self:match(si + i, ep + 1)
                    if res ~= nil then break end
                    i = i - 1
                end
                si = res
                break
            elseif epc == 45 then -- -
                local res
                while true do
                    res = self:match(si, ep + 1)
                    if res ~= nil then break end
                    if self:single(si, pi, ep) then
                        si = si + 1
                    else
                        break
                    end
                end
                si = res
                break
            else
                si, pi = si + 1, ep
            end
        end
    end
    self.depth = self.depth + 1
    return si
end

function Matcher:reset()
    self.level, self.depth = 0, MAXCCALLS
end

function Matcher:capture(i, s1, e1)
    if i >= self.level then
        if i ~= 0 then error("invalid capture index %" .. (i + 1), 0) end
        return sub(self.s, s1, e1 - 1)
    end
    local len = self.len[i]
    if len == CAP_UNFINISHED then error("unfinished capture", 0) end
    local init = self.init[i]
    if len == CAP_POSITION then return init end
    return sub(self.s, init, init + len - 1)
end

-- All captures (the whole match when there are none and s1 is given).
function Matcher:captures(s1, e1)
    local levels = (self.level == 0 and s1) and 1 or self.level
    local out = {}
    for i = 0, levels - 1 do
        out[i + 1] = self:capture(i, s1, e1)
    end
    return table.unpack(out, 1, levels)
end

-- --- the pattern functions -------------------------------------------------------------------

local function subject(value)
    local tv = type(value)
    if tv == "string" then return value end
    if tv == "number" then return tostring(value) end
    return nil
end

local function relative(pos, len)
    if pos >= 0 then return pos end
    if -pos > len then return 0 end
    return len + pos + 1
end

local function nospecials(p)
    return find(p, "[%^%$%*%+%?%.%(%[%%%-]") == nil
end

-- Plain search for `p` in `s` from `init`, in windows of at most BUDGET steps each.
local function plain_find(s, p, init)
    local n, m = #s, #p
    if m == 0 then return init, init - 1 end
    local window = BUDGET // m + 1
    local i = init
    while i + m - 1 <= n do
        local a = find(sub(s, i, i + window + m - 2), p, 1, true)
        if a then return i + a - 1, i + a + m - 2 end
        i = i + window
    end
    return nil
end

local function find_aux(is_find, s, p, init, plain)
    local ls = #s
    init = relative(init, ls)
    if init < 1 then init = 1 end
    if init > ls + 1 then return nil end
    if is_find and (plain or nospecials(p)) then
        return plain_find(s, p, init)
    end
    local anchor = byte(p, 1) == C_CARET
        local m = matcher(s, anchor and sub(p, 2) or p)
    local s1 = init
    repeat
        m:reset()
        local e = m:match(s1, 1)
        if e ~= nil then
            if is_find then
                return s1, e - 1, m:captures(nil, 0)
            end
            return m:captures(s1, e)
        end
        s1 = s1 + 1
    until s1 > ls + 1 or anchor
    return nil
end

local function pattern_args(s, p, init)
    local ss, pp = subject(s), subject(p)
    local i = init == nil and 1 or toint(init)
    if ss == nil or pp == nil or i == nil then
        return nil -- let the C function raise the argument error
    end
    return ss, pp, i
end

local function safe_find(s, p, init, plain, ...)
    local ss, pp, i = pattern_args(s, p, init)
    if ss ~= nil then
        local n = #ss - relative(i, #ss) + 1
        if plain or nospecials(pp) then
            if n * #pp > BUDGET then return raised(pcall(find_aux, true, ss, pp, i, true)) end
        elseif not cheap(n, pp, byte(pp, 1) == C_CARET and 1 or n + 1) then
            return raised(pcall(find_aux, true, ss, pp, i, plain))
        end
    end
    return pass(find(s, p, init, plain, ...))
end

local function safe_match(s, p, init, ...)
    local ss, pp, i = pattern_args(s, p, init)
    if ss ~= nil then
        local n = #ss - relative(i, #ss) + 1
        if not cheap(n, pp, byte(pp, 1) == C_CARET and 1 or n + 1) then
            return raised(pcall(find_aux, false, ss, pp, i))
        end
    end
    return pass(match(s, p, init, ...))
end

local function gmatch_lua(ss, pp)
    local m = matcher(ss, pp)
    local src, lastmatch = 1, nil
    local function step()
        while src <= #ss + 1 do
            m:reset()
            local e = m:match(src, 1)
            if e ~= nil and e ~= lastmatch then
                local start = src
                src, lastmatch = e, e
                return m:captures(start, e)
            end
            src = src + 1
        end
        return nil
    end
    return function()
        return raised(pcall(step))
    end
end

local function safe_gmatch(s, p, ...)
    local ss, pp = subject(s), subject(p)
    if ss == nil or pp == nil or cheap(#ss, pp, #ss + 1) then
        return pass(gmatch(s, p, ...))
    end
    return gmatch_lua(ss, pp)
end

local function add_string(m, parts, np, repl, s1, e1)
    local i, l = 1, #repl
    while i <= l do
        local j = find(repl, "%", i, true)
        if j == nil then
            np = np + 1
            parts[np] = sub(repl, i)
            break
        end
        if j > i then
            np = np + 1
            parts[np] = sub(repl, i, j - 1)
        end
        local d = byte(repl, j + 1)
        if d == L_ESC then
            np = np + 1
            parts[np] = "%"
        elseif d == 48 then -- %0
            np = np + 1
            parts[np] = sub(m.s, s1, e1 - 1)
        elseif d and d >= 49 and d <= 57 then
            local v = m:capture(d - 49, s1, e1)
            np = np + 1
            parts[np] = tostring(v)
        else
            error("invalid use of '%' in replacement string", 0)
        end
        i = j + 2
    end
    return np
end

local function gsub_lua(ss, pp, repl, max_s)
    local tr = type(repl)
    local anchor = byte(pp, 1) == C_CARET
    local m = matcher(ss, anchor and sub(pp, 2) or pp)
    if tr == "number" then
        repl, tr = tostring(repl), "string"
    end
    local parts, np = {}, 0
    local src, lastmatch, count, n = 1, nil, 0, #ss
    while count < max_s do
        m:reset()
        local e = m:match(src, 1)
        if e ~= nil and e ~= lastmatch then
            count = count + 1
            if tr == "string" then
                np = add_string(m, parts, np, repl, src, e)
            else
                local v
                if tr == "function" then
                    v = repl(m:captures(src, e))
                else
                    v = repl[m:capture(0, src, e)]
                end
                if not v then
                    v = sub(ss, src, e - 1)
                elseif type(v) ~= "string" and type(v) ~= "number" then
                    error("invalid replacement value (a " .. type(v) .. ")", 0)
                end
                np = np + 1
                parts[np] = v
            end
            src, lastmatch = e, e
        elseif src <= n then
            np = np + 1
            parts[np] = sub(ss, src, src)
            src = src + 1
        else
            break
        end
        if anchor then break end
    end
    np = np + 1
    parts[np] = sub(ss, src)
    return concat(parts, "", 1, np), count
end

local function safe_gsub(s, p, repl, max_s, ...)
    local ss, pp = subject(s), subject(p)
    local tr = type(repl)
    local max = max_s == nil and (ss and #ss + 1) or toint(max_s)
    if ss == nil or pp == nil or max == nil or not (tr == "string" or tr == "number" or tr == "function"
            or tr == "table") or cheap(#ss, pp, byte(pp, 1) == C_CARET and 1 or #ss + 1) then
        return pass(gsub(s, p, repl, max_s, ...))
    end
    return raised(pcall(gsub_lua, ss, pp, repl, max))
end

local function safe_rep(s, n, sep, ...)
    local count = toint(n)
    if s == "" and (sep == nil or sep == "") and count and count > 0 then
        return ""
    end
    return pass(rep(s, n, sep, ...))
end

-- --- table functions -------------------------------------------------------------------------

local function length(t)
    local n = #t
    local int = tointeger(n)
    if int == nil then error("object length is not an integer", 0) end
    return int
end

local function safe_concat(t, sep, i, j, ...)
    if type(t) ~= "table" then return pass(concat(t, sep, i, j, ...)) end
    local first = i == nil and 1 or toint(i)
    local last = j == nil and length(t) or toint(j)
    if first == nil or last == nil or last - first < CHUNK or (sep ~= nil and type(sep) ~= "string"
            and type(sep) ~= "number") then
        return pass(concat(t, sep, i, j == nil and last or j, ...))
    end
    sep = sep == nil and "" or tostring(sep)
    local parts, np = {}, 0
    local from = first
    while from <= last do
        local to = from + CHUNK - 1
        if to > last or to < from then to = last end
        np = np + 1
        parts[np] = concat(t, sep, from, to)
        if to == last then break end
        from = to + 1
    end
    return concat(parts, sep, 1, np)
end

local function safe_move(a1, f, e, t, a2, ...)
    local ff, ee, tt = toint(f), toint(e), toint(t)
    if ff == nil or ee == nil or tt == nil or ee < ff or ee - ff < CHUNK or type(a1) ~= "table"
            or (a2 ~= nil and type(a2) ~= "table") or not (ff > 0 or ee < maxinteger + ff) then
        return pass(move(a1, f, e, t, a2, ...))
    end
    local n = ee - ff + 1
    if tt > maxinteger - n + 1 then return pass(move(a1, f, e, t, a2, ...)) end
    local dest = a2 == nil and a1 or a2
    if tt > ee or tt <= ff or dest ~= a1 then
        local i = 0
        while i < n do
            local c = n - i < CHUNK and n - i or CHUNK
            move(a1, ff + i, ff + i + c - 1, tt + i, dest)
            i = i + c
        end
    else
        local i = n
        while i > 0 do
            local c = i < CHUNK and i or CHUNK
            move(a1, ff + i - c, ff + i - 1, tt + i - c, dest)
            i = i - c
        end
    end
    return dest
end

local function safe_insert(t, ...)
    if type(t) ~= "table" or raw_getmetatable(t) == nil then return pass(insert(t, ...)) end
    local nargs = select("#", ...)
    local e = length(t) + 1
    if nargs == 1 then
        t[e] = ...
        return
    elseif nargs ~= 2 then
        error("wrong number of arguments to 'insert'", 2)
    end
    local pos, v = ...
    local p = toint(pos)
    if p == nil then return pass(insert({}, pos, v)) end -- the C argument error
    if p < 1 or p > e then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
    for i = e, p + 1, -1 do
        t[i] = t[i - 1]
    end
    t[p] = v
end

local function safe_remove(t, ...)
    if type(t) ~= "table" or raw_getmetatable(t) == nil then return pass(remove(t, ...)) end
    local size = length(t)
    local pos = size
    if select("#", ...) > 0 and (...) ~= nil then
        pos = toint((...))
        if pos == nil then return pass(remove({}, ...)) end -- the C argument error
    end
    if pos ~= size and (pos < 1 or pos > size + 1) then
        error("bad argument #1 to 'remove' (position out of bounds)", 2)
    end
    local result = t[pos]
    while pos < size do
        t[pos] = t[pos + 1]
        pos = pos + 1
    end
    t[pos] = nil
    return result
end

local function safe_sort(t, comp, ...)
    if type(t) ~= "table" or raw_getmetatable(t) == nil then return pass(sort(t, comp, ...)) end
    local n = length(t)
    if n >= 0x7fffffff then error("bad argument #1 to 'sort' (array too big)", 2) end
    local copy = {}
    for i = 1, n do copy[i] = t[i] end
    setmetatable(copy, { __len = function() return n end })
    sort(copy, comp)
    for i = 1, n do t[i] = copy[i] end
end

local replacements = {
    ["string.find"] = safe_find, ["string.match"] = safe_match, ["string.gmatch"] = safe_gmatch, ["string.gsub"] = safe_gsub,
    ["string.rep"] = safe_rep, ["table.concat"] = safe_concat, ["table.move"] = safe_move, ["table.insert"] = safe_insert,
    ["table.remove"] = safe_remove, ["table.sort"] = safe_sort,
}
local hidden = {
    [find] = safe_find, [match] = safe_match, [gmatch] = safe_gmatch, [gsub] = safe_gsub, [rep] = safe_rep,
    [concat] = safe_concat, [move] = safe_move, [insert] = safe_insert, [remove] = safe_remove, [sort] = safe_sort,
}

return { replacements = replacements, hidden = hidden, budget = BUDGET, chunk = CHUNK,
    -- for tests: the Lua matcher, whatever the cost
    lua_find = function(s, p, init, plain) return raised(pcall(find_aux, true, s, p, init or 1, plain)) end,
    lua_match = function(s, p, init) return raised(pcall(find_aux, false, s, p, init or 1)) end,
    lua_gsub = function(s, p, repl, max_s) return raised(pcall(gsub_lua, s, p, repl, max_s or #s + 1)) end,
    lua_gmatch = gmatch_lua,
}
