--- The ledger side of `p4@1.0` for a ledger run as a node process (`token.lua`): p4 calls
--- this module through `lua@5.3a` as its `ledger-device`, with `ledger-path` naming the process
--- (`/ledger~node-process@1.0`). Written for aonode after the facts of the reference's
--- hyper-token-p4-client (node-services.md §4.4); the code is ours.

--- The balance of `request.target`: the process's `balance/<target>` now. An account the
--- ledger has never seen has no entry: its balance is 0.
function balance(base, request)
    local target = request.target
    if type(target) ~= "string" then return "ok", 0 end
    local status, found = ao.resolve({ path = base["ledger-path"] .. "/now/balance/" .. target })
    if status ~= "ok" then return "ok", 0 end
    return "ok", found
end

--- Schedule the node's signed charge on the process: once this returns, the charge has its
--- slot in the process's log (durable), and every later read of the ledger computes it.
--- (The reference pushes it, computing it at once; the balance read of the next request does
--- that here, so a charge costs one slot's computation either way.) A charge the scheduler
--- refuses is an error, so the request's answer reports it.
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
--- sent again is served without a second charge).
function charged(base, request)
    local id = request["request-id"]
    if type(id) ~= "string" then return "ok", false end
    local status = ao.resolve({ path = base["ledger-path"] .. "/now/charged/" .. id })
    return "ok", status == "ok"
end
