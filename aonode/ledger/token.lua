--- A token ledger for `lua@5.3a`, run by `process@1.0` as a node process (`ledger` in the
--- node's `node_processes`). Written for aonode; what it does follows the facts of the
--- reference's hyper-token (node-services.md §4.4); the code is ours.
---
--- State (the process's own keys, readable over HTTP):
---   balance    address -> integer    (`/ledger~node-process@1.0/now/balance/<address>`)
---   admin      the address allowed to charge (the node; set in the process definition)
---   ledgers    process ID -> "registered": sub-ledgers this ledger sends credit to
---   results    what the last message did: {status = "ok"|"error", error = ...}
---
--- The record of the charges made (request ID -> quantity, so each is made once) is the VM's
--- global `Charged`, not a key of the state: it grows by one entry a charge, and the state is
--- converted to and from Lua and stored after every slot, so a record in it would make every
--- slot cost more than the one before. The live VM, its snapshots and a replay of the log keep
--- it as they keep any global. `charged` (below) reads it.
---
--- Messages (the assignment's body; `action` is compared lower-cased, or the message's path
--- names the action):
---   transfer        from the signer to `recipient`, `quantity` (a positive integer); with
---                   `route` (a registered sub-ledger) the sub-ledger's own account is
---                   credited and a credit-notice for the recipient goes out to it
---   credit-notice   from a registered sub-ledger (its `from-process`): credit `recipient`
---   register        from the admin: register `ledger` (a process ID) as a sub-ledger
---   path `charge`   from the admin only: take `quantity` from `account`, give it to
---                   `recipient`; the balance may go below zero (the node charges for work it
---                   has done); a charge whose `request-id` was charged before changes nothing
---   path `charged`  whether `request-id` was charged: `results.charged` is true or false
---                   (p4's client asks it in a dry run; as a slot it changes nothing else)
---   anything else   initialises the ledger (the process's first slot does this)
---
--- Amounts are integers; a text amount from a config file ("100") is read as one. Every
--- signature was checked by the scheduler when the message was scheduled, so the committers a
--- body names are its signers.

local function integer(value)
    if math.type(value) == "integer" then return value end
    if type(value) == "string" and value:match("^%-?%d+$") then return math.tointeger(tonumber(value)) end
    return nil
end

-- The admin: the definition's `admin`, else the node that runs the ledger (node-process@1.0
-- puts the node's address last in `scheduler`).
local function admin_of(base)
    if type(base.admin) == "string" then return base.admin end
    local schedulers = base.scheduler
    if type(schedulers) == "string" then return schedulers end
    if type(schedulers) == "table" then
        local last = nil
        for i = 1, #schedulers do last = schedulers[i] end
        if last == nil then last = schedulers[tostring(#schedulers)] end
        return last
    end
    return nil
end

Charged = Charged or {}

local function init(base)
    base.admin = admin_of(base)
    -- A state stored before the record became a global carries it as `charged`: move it.
    if type(base.charged) == "table" then
        for id, quantity in pairs(base.charged) do Charged[id] = Charged[id] or quantity end
    end
    base.charged = nil
    local balances = {}
    for address, amount in pairs(base.balance or {}) do
        balances[address] = integer(amount) or 0
    end
    base.balance = balances
    base.ledgers = base.ledgers or {}
    return base
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

-- The single signer of a message, or nil when it has none or several.
local function signer(msg)
    local found = committers(msg)
    if #found ~= 1 then return nil end
    return found[1]
end

local function fail(base, reason)
    base.results = { status = "error", error = reason }
    return "ok", base
end

local function succeed(base, extra)
    base.results = extra or { status = "ok" }
    return "ok", base
end

local function credit(base, address, quantity)
    base.balance[address] = (base.balance[address] or 0) + quantity
end

local function do_transfer(base, msg)
    local from = signer(msg)
    local quantity = integer(msg.quantity)
    if not from or not msg.recipient or msg.quantity == nil then
        return fail(base, "Fund source or quantity not found in request.")
    end
    if not quantity then return fail(base, "Invalid quantity value.") end
    if quantity < 0 then return fail(base, "Quantity to deduct is negative.") end
    if base.balance[from] == nil then return fail(base, "Source balance not found.") end
    if base.balance[from] < quantity then return fail(base, "Insufficient funds.") end
    base.balance[from] = base.balance[from] - quantity
    if msg.route then
        if base.ledgers[msg.route] == nil then
            base.balance[from] = base.balance[from] + quantity
            return fail(base, "The route is not a registered ledger.")
        end
        credit(base, msg.route, quantity)
        return succeed(base, { status = "ok", outbox = { ["1"] = {
            target = msg.route, action = "Credit-Notice", recipient = msg.recipient,
            quantity = quantity, sender = from } } })
    end
    credit(base, msg.recipient, quantity)
    return succeed(base, { status = "ok", ["credit-notice"] = {
        recipient = msg.recipient, quantity = quantity, sender = from } })
end

local function do_credit_notice(base, msg)
    local ledger = msg["from-process"]
    local quantity = integer(msg.quantity)
    if not ledger or base.ledgers[ledger] == nil then
        return fail(base, "Credit-notice from a ledger that is not registered.")
    end
    if not quantity or quantity < 0 or not msg.recipient then
        return fail(base, "Invalid credit-notice.")
    end
    credit(base, msg.recipient, quantity)
    return succeed(base)
end

local function do_register(base, msg)
    if signer(msg) ~= base.admin then return fail(base, "Only the admin registers ledgers.") end
    if type(msg.ledger) ~= "string" then return fail(base, "register needs the `ledger` to register.") end
    base.ledgers[msg.ledger] = "registered"
    return succeed(base)
end

local ACTIONS = { transfer = do_transfer, ["credit-notice"] = do_credit_notice, register = do_register }

--- A process slot: dispatch on the message's `action`.
function compute(base, assignment)
    init(base)
    local msg = assignment.body or {}
    local action = msg.action or msg.Action
    local handler = action and ACTIONS[string.lower(action)]
    if handler then return handler(base, msg) end
    return succeed(base)
end

-- A message whose path names the action (`path: transfer`) calls it directly.
for name, handler in pairs(ACTIONS) do
    _G[name] = function(base, assignment)
        init(base)
        return handler(base, assignment.body or {})
    end
end

--- A charge from the node (`p4@1.0` schedules it, signed by the node).
function charge(base, assignment)
    init(base)
    local msg = assignment.body or {}
    local found = committers(msg)
    local admins = 0
    for _, address in ipairs(found) do
        if address == base.admin then admins = admins + 1 end
    end
    if admins ~= 1 then return fail(base, "A charge must be signed by the ledger's admin.") end
    local quantity = integer(msg.quantity)
    if not quantity or type(msg.account) ~= "string" then
        return fail(base, "Quantity or account not found in request.")
    end
    if quantity < 0 then return fail(base, "A charge cannot be negative.") end
    local id = msg["request-id"]
    if id ~= nil and Charged[id] ~= nil then
        return succeed(base, { status = "ok", duplicate = true })
    end
    base.balance[msg.account] = (base.balance[msg.account] or 0) - quantity
    if msg.recipient then credit(base, msg.recipient, quantity) end
    if id ~= nil then Charged[id] = quantity end
    return succeed(base)
end

--- Whether a charge with `request-id` (the message's, or its body's) was made.
function charged(base, assignment)
    init(base)
    local id = assignment["request-id"] or (assignment.body or {})["request-id"]
    return succeed(base, { status = "ok", charged = type(id) == "string" and Charged[id] ~= nil })
end
