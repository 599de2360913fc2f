-- A small AOS-style process for lua@5.3a, written for aonode's tests. It keeps the contract
-- of hyper-aos (processes-compute.md §5.5) that the tests rely on:
--
--   compute(base, req)  handles the scheduled message req.body and returns base with
--                       results = {output = {data, prompt}, outbox = {"1" = msg, ...}}
--   Eval                from the owner: runs req.body.body.body (a nested Lua message) or
--                       req.body.data, first as an expression, then as statements
--   trust               a message is handled when its sender (`from-process`, else the signer
--                       of its RSA-PSS commitment) is the owner or one of the process's
--                       authorities; otherwise the output is "Message is not trusted."
--   other messages      are kept in Inbox; "New Message" is printed (but the process's own
--                       definition, at slot 0)
--   Send(msg)           adds msg to the outbox of the current message
--
-- Globals (Inbox, Owner, and whatever Eval defines) are the process's state.

Inbox = Inbox or {}
Owner = Owner or nil

local outbox, printed = {}, {}

local function show(value)
    if type(value) == "table" then
        local parts = {}
        for k, v in pairs(value) do
            parts[#parts + 1] = tostring(k) .. " = " .. tostring(v)
        end
        table.sort(parts)
        return "{ " .. table.concat(parts, ", ") .. " }"
    end
    return tostring(value)
end

function print(...)
    local parts = {}
    for i = 1, select("#", ...) do
        parts[#parts + 1] = show((select(i, ...)))
    end
    printed[#printed + 1] = table.concat(parts, "\t")
end

function Send(msg)
    outbox[#outbox + 1] = msg
    return msg
end

local function signer(msg)
    for _, commitment in pairs(msg.commitments or {}) do
        if type(commitment) == "table" and commitment.type == "rsa-pss-sha512" then
            return commitment.committer
        end
    end
    return nil
end

local function authorities(process)
    local found = process.authority
    if type(found) == "string" then
        local list = {}
        for id in found:gmatch("[^,%s]+") do
            list[#list + 1] = id
        end
        return list
    end
    return found or {}
end

local function trusted(process, msg)
    local sender = msg["from-process"] or signer(msg)
    if sender == nil then
        return false
    end
    if sender == Owner then
        return true
    end
    for _, authority in ipairs(authorities(process)) do
        if authority == sender then
            return true
        end
    end
    return false
end

local function eval(code)
    local chunk = load("return " .. code, "eval")
    if chunk == nil then
        local err
        chunk, err = load(code, "eval")
        if chunk == nil then
            return nil, err
        end
    end
    local ok, result = pcall(chunk)
    if not ok then
        return nil, result
    end
    return result
end

function compute(base, req)
    local msg = req.body or {}
    local process = base.process or {}
    Owner = Owner or process["from-process"] or signer(process)
    outbox, printed = {}, {}
    local output
    if msg.type == "Process" then
        output = { data = "", prompt = "aos> " } -- slot 0: the process's own definition
    elseif not trusted(process, msg) then
        output = { data = "Message is not trusted." }
    elseif msg.action == "Eval" and (msg["from-process"] or signer(msg)) == Owner then
        local code = (type(msg.body) == "table" and msg.body.body) or msg.data or ""
        local result, err = eval(code)
        if err ~= nil then
            output = { data = "Error: " .. tostring(err), prompt = "aos> " }
        else
            if result ~= nil then
                printed[#printed + 1] = show(result)
            end
            output = { data = table.concat(printed, "\n"), prompt = "aos> " }
        end
    else
        Inbox[#Inbox + 1] = { action = msg.action, data = msg.data, from = msg["from-process"] or signer(msg) }
        print("New Message")
        output = { data = table.concat(printed, "\n"), prompt = "aos> ", print = true }
    end
    local messages = {}
    for i, m in ipairs(outbox) do
        messages[tostring(i)] = m
    end
    base.results = { output = output, outbox = messages }
    return base
end
