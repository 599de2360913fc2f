-- Written for aonode's tests: reads what hyper-aos reads (processes-compute.md §5.5), no more.
--
--   req.body               the message: the assignment's body, or a dry run's request
--   Owner                  from the process's commitments: `from-process`, else the committer
--                          of the one whose `alg` is rsa-pss-sha512 (permaweb/aos hyper/)
--   trust                  the message was signed by its sender (`alg` rsa-pss-sha512, no
--                          other `from-process`), or its `from-process` or signer is an
--                          authority; otherwise "Message is not trusted."
--   Eval                   from the owner (the committer whose `type` is rsa-pss-sha512):
--                          `return <data>`; anyone else's message is kept in Inbox
--
-- The output is {data = <the verdict>, action = req.body.action, seen = req.body.data}.

Owner = Owner or nil
Inbox = Inbox or {}

local function signer(msg, field)
    for _, c in pairs(msg.commitments or {}) do
        if type(c) == "table" and c[field] == "rsa-pss-sha512" then
            return c.committer
        end
    end
    return nil
end

local function sender(msg)
    return msg["from-process"] or signer(msg, "alg") or ""
end

local function authorities(process)
    local found = process.authority
    if type(found) == "string" then return { found } end
    return found or {}
end

local function includes(list, value)
    for _, v in ipairs(list) do
        if v == value then return true end
    end
    return false
end

local function trusted(process, msg)
    local own = signer(msg, "alg")
    if own ~= nil and (msg["from-process"] or own) == own then
        return true
    end
    return includes(authorities(process), sender(msg))
end

function compute(base, req)
    if Owner == nil then
        Owner = sender(base.process)
    end
    local msg = req.body
    msg.data = msg.data -- as hyper-aos does first: a request without a `body` fails here
    local verdict
    if not trusted(base.process, msg) then
        verdict = "Message is not trusted."
    elseif msg.action == "Eval" and signer(msg, "type") == Owner then
        verdict = tostring(load("return " .. (msg.data or "nil"))())
    else
        table.insert(Inbox, msg.action or "")
        verdict = "New Message " .. #Inbox
    end
    base.results = { output = { data = verdict, action = msg.action, seen = msg.data } }
    return base
end
