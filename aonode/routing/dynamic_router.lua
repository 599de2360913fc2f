--- A routing process for `lua@5.3a` run by `process@1.0` as a node process (`router` in the
--- node's `node_processes`): workers register with it, and it weighs them by price and by
--- measured performance. Written for aonode; what it does follows the facts of the
--- reference's scripts/dynamic-router.lua (node-services.md §3.10); the code is ours.
---
--- The node reads the table through `router_opts/provider`
--- (`/router~node-process@1.0/now/routes~message@1.0`) and sends registrations here
--- through `router_opts/registrar` (`/router~node-process@1.0`, `registrar-path: schedule`).
---
--- State (the process's keys; the definition may set the tunables):
---   routes               the route table: {template, strategy = "By-Weight", reference,
---                        nodes = {{prefix, price, topup, performance, weight, reference,
---                        opts = {http_reference}}}}
---   trusted-peer         an address, or a list of them, whose registrations are admitted
---   is-admissible        a message resolved with the registration (its `path`, default
---                        `is-admissible`); "true" admits it
---   sampling-rate 0.1, pricing-weight 1, performance-weight 1, score-preference 1,
---   performance-period 1000, initial-performance 30000 (ms)
---   results              what the last message did: {status = "ok"|"error", error = ...}
---
--- Messages (the assignment's body; its `action`, else its `path`, names what to do):
---   register      `route = {template, prefix, price, topup}` from an admitted signer: the
---                 worker becomes a node of the route with that template (created with
---                 strategy By-Weight when missing); registering the same prefix again
---                 updates its price instead of adding a second node
---   duration      (or action `performance`) from the node itself: `reference` names a node
---                 (`routes/<r>/nodes/<n>`), `duration` its latest request time in ms; the
---                 node's performance moves towards it by 1/performance-period
---   recalculate   weighs every node again (done after each register and duration too)
---   anything else sets the defaults (the process's first slot does this)
---
--- Differences from the reference script: with neither `trusted-peer` nor `is-admissible` in
--- the definition nobody is admitted (the reference admits every registration); durations
--- count only when the node that runs the process signed them; a re-registration updates.

local DEFAULTS = {
    ["sampling-rate"] = 0.1,
    ["pricing-weight"] = 1,
    ["performance-weight"] = 1,
    ["score-preference"] = 1,
    ["performance-period"] = 1000,
    ["initial-performance"] = 30000,
}

local function number(value, fallback)
    if type(value) == "number" then return value end
    if type(value) == "string" then
        local found = tonumber(value)
        if found then return found end
    end
    return fallback
end

-- A table given as a Lua sequence or as a numbered message ({"1" = .., "2" = ..}), in order.
local function items(value)
    local found = {}
    if type(value) ~= "table" then return found end
    if #value > 0 then
        for i = 1, #value do found[#found + 1] = value[i] end
        return found
    end
    local i = 1
    while value[tostring(i)] ~= nil do
        found[#found + 1] = value[tostring(i)]
        i = i + 1
    end
    return found
end

local function ensure_defaults(base)
    base.routes = items(base.routes)
    for _, route in ipairs(base.routes) do route.nodes = items(route.nodes) end
    for key, value in pairs(DEFAULTS) do base[key] = number(base[key], value) end
    return base
end

-- The node running this process: node-process@1.0 puts its address last in `scheduler`.
local function node_address(base)
    local schedulers = base.scheduler
    if type(schedulers) == "string" then return schedulers end
    local listed = items(schedulers)
    return listed[#listed]
end

local function committers(msg)
    local found = {}
    for _, commitment in pairs((msg and msg.commitments) or {}) do
        if type(commitment) == "table" and commitment.committer then
            found[#found + 1] = commitment.committer
        end
    end
    return found
end

local function signed_by(msg, address)
    if address == nil then return false end
    for _, committer in ipairs(committers(msg)) do
        if committer == address then return true end
    end
    return false
end

local function fail(base, reason)
    base.results = { status = "error", error = reason }
    return "ok", base
end

local function succeed(base)
    base.results = { status = "ok" }
    return "ok", base
end

--- The rank of `value` among `values`, from 0 (the smallest) towards 1.
local function percentile(values, value)
    local sorted = {}
    for i, v in ipairs(values) do sorted[i] = v end
    table.sort(sorted)
    for i, v in ipairs(sorted) do
        if v >= value then return (i - 1) / #sorted end
    end
    return 1
end

function recalculate(base)
    ensure_defaults(base)
    local decay = function(x) return math.exp(-base["score-preference"] * x) end
    local total = base["performance-weight"] + base["pricing-weight"]
    local pw, qw = 0.5, 0.5
    if total > 0 then
        pw = base["performance-weight"] / total
        qw = base["pricing-weight"] / total
    end
    for _, route in ipairs(base.routes) do
        local performances, prices = {}, {}
        for i, node in ipairs(route.nodes) do
            performances[i] = number(node.performance, base["initial-performance"])
            prices[i] = number(node.price, 0)
        end
        for i, node in ipairs(route.nodes) do
            local perf_score = decay(percentile(performances, performances[i])) * (1 - base["sampling-rate"])
                + base["sampling-rate"]
            local price_score = decay(percentile(prices, prices[i]))
            node.weight = perf_score * pw + price_score * qw
        end
    end
    return "ok", base
end

local function admitted(base, req)
    for _, peer in ipairs(type(base["trusted-peer"]) == "table" and items(base["trusted-peer"])
            or { base["trusted-peer"] }) do
        if signed_by(req, peer) then return true end
    end
    local check = base["is-admissible"]
    if type(check) ~= "table" then return false end
    local asked = {}
    for k, v in pairs(req) do asked[k] = v end
    asked.path = check.path or "is-admissible"
    local policy = {}
    for k, v in pairs(check) do if k ~= "path" then policy[k] = v end end
    local status, answer = ao.resolve({ policy, asked })
    return status == "ok" and (answer == "true" or answer == true)
end

local function find_route(base, template)
    for index, route in ipairs(base.routes) do
        if route.template == template then return route, index end
    end
    return nil
end

function register(base, assignment)
    ensure_defaults(base)
    local req = assignment.body or {}
    local offered = req.route
    if type(offered) ~= "table" or type(offered.prefix) ~= "string" then
        return fail(base, "A registration needs `route` with a `prefix`.")
    end
    if not admitted(base, req) then
        ao.event("dynamic-router", "registration refused")
        return fail(base, "The registration is not admissible.")
    end
    local template = offered.template
    local route, index = find_route(base, template)
    if route == nil then
        index = #base.routes + 1
        route = { strategy = "By-Weight", template = template, nodes = {},
                  reference = "routes/" .. index }
        base.routes[index] = route
    end
    local node = nil
    for _, existing in ipairs(route.nodes) do
        if existing.prefix == offered.prefix then node = existing end
    end
    if node == nil then
        local reference = route.reference .. "/nodes/" .. (#route.nodes + 1)
        node = { prefix = offered.prefix, performance = base["initial-performance"], reference = reference,
                 opts = { http_reference = reference } }
        route.nodes[#route.nodes + 1] = node
    end
    node.price = number(offered.price, 0)
    node.topup = offered.topup
    recalculate(base)
    return succeed(base)
end

function duration(base, assignment)
    ensure_defaults(base)
    local req = assignment.body or {}
    if not signed_by(req, node_address(base)) then
        return fail(base, "Durations are taken from the node that runs the router only.")
    end
    if type(req.reference) ~= "string" then return succeed(base) end
    local r, n = req.reference:match("^routes/(%d+)/nodes/(%d+)$")
    local route = r and base.routes[tonumber(r)]
    local node = route and route.nodes[tonumber(n)]
    local took = number(req.duration, nil)
    if node == nil or took == nil then return fail(base, "No such node, or no duration.") end
    local period = base["performance-period"]
    node.performance = number(node.performance, base["initial-performance"]) * (1 - 1 / period) + took / period
    return recalculate(base)
end

local ACTIONS = { register = register, performance = duration, duration = duration, recalculate = recalculate }

--- A process slot: dispatch on the message's `action`, else its `path`.
function compute(base, assignment)
    ensure_defaults(base)
    local msg = assignment.body or {}
    local action = msg.action or msg.Action or msg.path
    local handler = type(action) == "string" and ACTIONS[string.lower(action)]
    if handler then return handler(base, assignment) end
    return "ok", base
end
