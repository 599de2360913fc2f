-- Self-checking Lua tests: every global function whose name ends in `_test` is called by
-- tests/devices/test_lua.py and must return status "ok" (the reference's dev_lua_test runner).

function basic_test()
    return "ok"
end

function return_message_test()
    return "ok", { key1 = "value1", key2 = "value2" }
end

-- AO-Core resolutions from Lua: a message built inline in the path, then read back.
function resolve_test()
    local status, value = ao.resolve({ path = "/~message@1.0&greeting=hi/greeting" })
    assert(status == "ok", "resolve failed: " .. tostring(value))
    assert(value == "hi", "unexpected value: " .. tostring(value))
    local set = ao.set({ a = "1" }, "b", "2")
    assert(ao.get("b", set) == "2")
    return "ok"
end

-- Lua code cannot reach the host, whatever the message asks for.
function sandbox_test()
    assert(io == nil and os.execute == nil and os.getenv == nil and loadfile == nil)
    assert(python == nil and debug.sethook == nil and debug.getregistry == nil)
    assert(load(string.dump(function() end), "x", "b") == nil)
    return "ok"
end

-- Not collected: the name does not end in `_test`.
function meta_test_ignored()
    return "error", "this function must not be run"
end
