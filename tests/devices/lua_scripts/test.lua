-- Functions the lua@5.3a tests call (the facts of the reference's test/test.lua: names,
-- arguments and results; the code is ours).

function assoctable()
    return { a = 1, b = 2, c = 3 }
end

function ListTable()
    return { 1, 2, 3 }
end

function error_response()
    return "error", "Very bad, but Lua caught it."
end

function ao_resolve()
    local status, result = ao.resolve({ path = "/hello", hello = "Hello, AO world!" })
    return status, result
end

function ao_relay()
    local status, result = ao.resolve({ path = "/~relay@1.0/call?relay-path=https://example.invalid/" })
    return status, result
end

-- A process's compute: every slot sets the same output.
function compute(process, message, opts)
    process.results = { output = { body = 42 } }
    return process
end

function json_result()
    return '{"ok": true, "response": {"Output": {"data": 42}, "Messages": []}}'
end

function hello(base, req)
    base.hello = req.name or "world"
    return base
end

-- An HTTP `request` hook: answers every request itself.
function request()
    return "ok", { body = { { body = "i like turtles" } } }
end

function sandboxed_fail()
    return load("return 1")()
end

-- A process's counter: `path: inc` messages add one to `count`.
function inc(base)
    base.count = (base.count or 0) + 1
    base.results = { output = { count = base.count } }
    return base
end
