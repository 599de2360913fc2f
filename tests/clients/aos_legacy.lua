-- A small AOS-style legacy module for aonode's client tests (genesis-wasm@1.0 runs it): the
-- contract of AOS's `handle(msg, env)` with legacy messages, written here.
--
--   msg   {Id, Owner, From, Target, Data, Tags = {{name, value}, ...}, Timestamp, ...}
--   env   {Process = {Id, Owner, Tags}, Module = {Id, Tags}}
--   returns {Output = {data, prompt, print = true}, Messages = {...}, Spawns = {}, Assignments = {}}
--           (AOS's `print`: a boolean, which clients read as a JSON boolean)
--           or {Error = "..."} when the evaluated code fails
--
-- Eval (from the process owner) runs msg.Data as Lua; Info answers with the process's name;
-- Balance answers with a counter kept in state; anything else goes to the Inbox.

Inbox = Inbox or {}
Balance = Balance or 0

local outbox, printed = {}, {}

local function tag(msg, name)
    for _, t in ipairs(msg.Tags or {}) do
        if t.name == name then
            return t.value
        end
    end
    return nil
end

local function show(value)
    if type(value) == "table" then
        local parts = {}
        for k, v in pairs(value) do
            parts[#parts + 1] = tostring(k) .. "=" .. tostring(v)
        end
        table.sort(parts)
        return "{" .. table.concat(parts, ",") .. "}"
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
    local tags = {}
    for k, v in pairs(msg) do
        if k ~= "Target" and k ~= "Data" then
            tags[#tags + 1] = { name = k, value = tostring(v) }
        end
    end
    table.sort(tags, function(a, b) return a.name < b.name end)
    outbox[#outbox + 1] = { Target = msg.Target, Data = msg.Data or "", Tags = tags }
end

local function eval(code)
    local chunk = load("return " .. code, "eval")
    if chunk == nil then
        local err
        chunk, err = load(code, "eval")
        if chunk == nil then
            return false, err
        end
    end
    return pcall(chunk)
end

function handle(msg, env)
    outbox, printed = {}, {}
    local action = tag(msg, "Action")
    local owner = env.Process.Owner
    if msg.Id == env.Process.Id then
        return { Output = { data = "", prompt = "aos> " }, Messages = {}, Spawns = {}, Assignments = {} }
    end
    if action == "Eval" then
        if msg.From ~= owner then
            return { Output = { data = "Message is not trusted." }, Messages = {}, Spawns = {}, Assignments = {} }
        end
        local ok, result = eval(msg.Data or "")
        if not ok then
            return { Error = tostring(result) }
        end
        if result ~= nil then
            print(result)
        end
    elseif action == "Info" then
        print("Name: " .. (tag(env.Process, "Name") or "?"))
    elseif action == "Credit" then
        Balance = Balance + (tonumber(tag(msg, "Quantity")) or 0)
        print("Balance: " .. Balance)
        Send({ Target = msg.From, Action = "Credit-Notice", Quantity = tag(msg, "Quantity") })
    else
        Inbox[#Inbox + 1] = { From = msg.From, Action = action, Data = msg.Data }
        print("New Message")
    end
    return {
        Output = { data = table.concat(printed, "\n"), prompt = "aos> ", print = true },
        Messages = outbox, Spawns = {}, Assignments = {},
    }
end
