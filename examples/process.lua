-- A small legacy AO process for the examples: aonode's genesis-wasm@1.0 calls
-- `handle(msg, env)` for every message and reads back {Output, Messages, Spawns, Assignments}.
--
--   Action=Eval     (from the process owner) runs the message's Data as Lua and prints the value
--   Action=Count    adds one to a counter kept in the process's state
--   anything else   is answered with a message back to its sender

Count = Count or 0

local function tag(msg, name)
    for _, t in ipairs(msg.Tags or {}) do
        if t.name == name then
            return t.value
        end
    end
end

local function reply(text)
    return { Output = { data = text }, Messages = {}, Spawns = {}, Assignments = {} }
end

function handle(msg, env)
    local action = tag(msg, "Action")
    if msg.Id == env.Process.Id then
        return reply("spawned")
    elseif action == "Eval" and msg.From == env.Process.Owner then
        local chunk, err = load("return " .. (msg.Data or ""))
        if not chunk then
            chunk, err = load(msg.Data or "")
        end
        if not chunk then
            return { Error = err }
        end
        local ok, value = pcall(chunk)
        if not ok then
            return { Error = tostring(value) }
        end
        return reply(tostring(value))
    elseif action == "Count" then
        Count = Count + 1
        return reply("Count: " .. Count)
    end
    local answer = reply("Hello, " .. msg.From)
    answer.Messages = { { Target = msg.From, Data = "Hello back", Tags = { { name = "Action", value = "Hello" } } } }
    return answer
end
