--- The ledger side of `p4@1.0` for a ledger run as a node process (`token.lua`): p4 calls
--- this module through `lua@5.3a` as its `ledger-device`, with `ledger-path` naming the process
--- (`/ledger~node-process@1.0`). Written for aonode after the facts of the reference's
--- hyper-token-p4-client (node-services.md §4.4); the code is ours.

local function read(path)
    local status, found = ao.resolve({ path = path })
    if status ~= "ok" then return nil end
    return found
end

--- The balance of `request.target` in the newest state of the ledger the node has computed,
--- without computing the slots scheduled after it (with `request.fresh`, after computing them):
--- `{balance, slot, latest}`, where `slot` is the last slot that state includes and `latest`
--- the last slot scheduled. p4 counts the charges it scheduled after `slot` as still to be
--- paid (docs/payments.md, "The overdraw rule"), and asks again with `fresh` when a slot in
--- between is not one of its charges. The balance and its slot come from one state (two reads
--- could see two states, the second older). An account the ledger has never seen has no
--- entry: its balance is 0.
function balance(base, request)
    local ledger = base["ledger-path"]
    if request.fresh then read(ledger .. "/now/at-slot") end
    local state = read(ledger .. "/compute") or {}
    local target = request.target
    local balances = type(state.balance) == "table" and state.balance or {}
    local found = type(target) == "string" and balances[target] or 0
    return "ok", { balance = found, slot = state["at-slot"], latest = read(ledger .. "/slot/current") }
end

--- Schedule the node's signed charge on the process: once this returns, the charge has its
--- slot in the process's log (durable), and every later computation of the ledger includes it.
--- The answer carries that `slot`. A charge the scheduler refuses is an error, so the
--- request's answer reports it.
function charge(base, request)
    local status, found = ao.resolve({
        path = base["ledger-path"] .. "/schedule",
        method = "POST",
        body = request
    })
    if status ~= "ok" then return "error", found end
    return "ok", found
end

--- Whether the signed request `request["request-id"]` names was charged already (a request
--- sent again is served without a second charge): the ledger's `charged`, asked in a dry run
--- once every scheduled charge is computed.
function charged(base, request)
    local id = request["request-id"]
    if type(id) ~= "string" then return "ok", false end
    local ledger = base["ledger-path"]
    read(ledger .. "/now/at-slot")
    return "ok", read(ledger .. "/as=execution/charged&request-id=" .. id .. "/results/charged") == true
end
