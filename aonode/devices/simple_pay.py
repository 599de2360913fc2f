"""`simple-pay@1.0`: a price list and a ledger kept by the node itself (`dev_simple_pay`,
node-services.md §4.2). It is the pricing and the ledger device of a `p4@1.0` hook.

    estimate  the price of a request: 0 for the operator; the `price` of the first route of
              `router_opts/offered` its path matches; else `simple_pay_price` (default 1) per
              message of its path, an `apply@1.0` request priced as the request it applies
    charge    take `quantity` from the account of the signer of `request` (the node's charge
              message names it); the balance may go below zero, and then the answer is a 402.
              Only p4 charges (a 403 otherwise: see `CHARGING`)
    charged   (aonode's own) whether the signed request `request-id` names was charged
    balance   the balance of the signer of `request`, else of the request's signer, else of
              `target`
    topup     the operator adds `amount` to `recipient`'s balance (unsigned: 401; signed by
              anyone else: 403; the reference answers 400 to both)

The ledger lives in the store, not in the node message (the reference keeps it in the
`simple_pay_ledger` option and changes it with `set_opts`, so a restart forgets every charge):

    ~simple-pay@1.0/balance/<address>     the balance, a decimal integer
    ~simple-pay@1.0/charged/<request ID>  the charge of one signed request (its quantity)
    ~simple-pay@1.0/topups/<change ID>    one operator top-up (its amount)

`simple_pay_ledger` (address → integer) gives opening balances: an address the store has
never seen starts there. Every change is one store transaction that reads the balance, writes
the new one and records the charge or top-up ID, so a charge is durable before the response
that follows it, two threads never lose each other's changes, and a request or top-up sent
again (the same signed message) changes the balance once.

Differences from the reference (docs/compat.md): `balance` of an unsigned request without a
`target` is a 400 (the reference crashes, a 500); balances and prices are integers whatever
type the ledger option held; a replayed top-up is applied once; `charge` answers only p4
(the reference's can be called over HTTP with anyone's signed request as `request`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aonode.core import authority, hyperpath, options
from aonode.core.devices import Device
from aonode.core.routes import route_list, template_matches
from aonode.core.terms import As, Result
from aonode.crypto import Wallet
from aonode.errors import BadMessage
from aonode.store import Store
from aonode.text import as_text

__all__ = ["CHARGING", "FROM_P4", "INFINITY", "SimplePayDevice", "balance_of", "estimate_price", "first_route",
           "ledger_store", "operator_address", "to_amount"]

NAME = "simple-pay@1.0"
CHARGING = "simple_pay_charging"
"""The option under which `p4@1.0` passes `FROM_P4` when it charges. `charge` is refused
without it: options never come from a client, so no HTTP request can charge an account (the
reference lets anyone charge whoever signed a request they hold)."""
FROM_P4 = object()
PREFIX = "~simple-pay@1.0"
INFINITY = b"infinity"
# Addresses and IDs become store path segments: base64url (and `unknown`), nothing else.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")



def to_amount(value: Any, what: str = "amount") -> int:
    """An integer amount from a message value (`10`, `b"10"`); BadMessage (400) otherwise."""
    if isinstance(value, bool):
        raise BadMessage(f"{what} must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    text = as_text(value, errors="replace").strip()
    if re.fullmatch(r"-?[0-9]{1,40}", text):
        return int(text)
    raise BadMessage(f"{what} must be an integer, got {text[:40]!r}")


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise BadMessage(f"{what} {value[:60]!r} is not an address or ID")
    return value


def ledger_store(opts: Mapping[str, Any]) -> Store:
    """The store the ledger is kept in: the node's (the message cache's) store."""
    store = getattr(opts.get("cache"), "store", None)
    if not isinstance(store, Store):
        raise BadMessage("simple-pay@1.0 needs the node's store (the `cache` option) to keep its ledger")
    return store


def _opening(address: str, opts: Mapping[str, Any]) -> int:
    ledger = options.get(opts, "simple_pay_ledger") or {}
    found = ledger.get(address) if isinstance(ledger, Mapping) else None
    return 0 if found is None else to_amount(found, f"simple_pay_ledger/{address}")


def balance_of(address: str, opts: Mapping[str, Any]) -> int:
    """The balance of `address` now (the store's, else its opening balance)."""
    stored = ledger_store(opts).read(f"{PREFIX}/balance/{_segment(address, 'the account')}")
    return _opening(address, opts) if stored is None else int(stored)


def _apply_change(address: str, delta: int, record: str | None, opts: Mapping[str, Any]) -> tuple[int, int, bool]:
    """Add `delta` to `address` in one store transaction; `record` (a store path) marks the
    change as done, and a change whose record exists is not made again.

    Returns:
        (balance before, balance after, whether this call made the change)."""
    store = ledger_store(opts)
    path = f"{PREFIX}/balance/{_segment(address, 'the account')}"

    def change() -> tuple[int, int, bool]:
        stored = store.read(path)
        before = _opening(address, opts) if stored is None else int(stored)
        if record is not None and store.read(record) is not None:
            return before, before, False
        after = before + delta
        store.write(path, str(after).encode())
        if record is not None:
            store.write(record, str(delta).encode())
        return before, after, True

    return store.transact(change)


# --- pricing ------------------------------------------------------------------------------

def first_route(routes: Any, request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first route of `routes` whose `template` the request matches (node-services.md
    §1.5), matching the request's own `path`: a `route-path` key the client added does not
    count (it would let a client choose its price), nor does an absolute URL route itself."""
    probe = {k: v for k, v in request.items() if k != "route-path"}
    return next((route for route in route_list(routes) if template_matches(probe, route.get("template"))), None)


def _signers(msg: Any, opts: Mapping[str, Any]) -> list[str]:
    return authority.signed_by(msg, opts) if isinstance(msg, Mapping) else []


def operator_address(opts: Mapping[str, Any]) -> str | None:
    """The operator: the `operator` option, else the node wallet's address (`unclaimed` is
    nobody here: an unclaimed node must not give everyone free service)."""
    found = options.get(opts, "operator")
    if found is None:
        wallet = opts.get("priv_wallet")
        return wallet.address if isinstance(wallet, Wallet) else None
    text = as_text(found, errors="replace")
    return None if text == "unclaimed" else text


def _is_operator(msg: Any, opts: Mapping[str, Any]) -> bool:
    operator = operator_address(opts)
    return operator is not None and operator in _signers(msg, opts)


def _device_of(step: Any) -> str | None:
    if isinstance(step, As):
        return as_text(step.device, errors="replace")
    if isinstance(step, Mapping) and "device" in step:
        return as_text(step["device"], errors="replace")
    return None


def _apply_price(request: Mapping[str, Any], steps: list[Any], opts: Mapping[str, Any], depth: int) -> int:
    """`apply_price`: an `apply@1.0` request costs what the request it applies costs, plus
    `simple_pay_price` for each message beyond the two that name the application."""
    price = to_amount(options.get(opts, "simple_pay_price"), "simple_pay_price")
    if len(steps) >= 2 and _device_of(steps[0]) == "apply@1.0" and isinstance(steps[1], Mapping):
        key = steps[1].get("path")
        inner_path = request.get(as_text(key, errors="replace")) if key is not None else None
        if isinstance(inner_path, (bytes, str)) and depth < 8:
            # `source` names the key holding the applied message (router@1.0 relays the user's
            # request as `user-message`); without one, the request itself.
            source = request.get("source")
            if isinstance(source, (bytes, str)):
                source = request.get(as_text(source, errors="replace"))
            inner = dict(source) if isinstance(source, Mapping) else dict(request)
            inner.pop("device", None)
            inner["path"] = inner_path
            try:
                inner_price = _estimate(inner, opts, depth + 1)
            except BadMessage:  # a path that does not parse: the request will fail; price it plainly
                return price * len(steps)
            if inner_price == INFINITY:
                return 0
            assert isinstance(inner_price, int)
            return inner_price + price * (len(steps) - 2)
    return price * len(steps)


def _estimate(request: Mapping[str, Any], opts: Mapping[str, Any], depth: int = 0,
              steps: list[Any] | None = None) -> int | bytes:
    if _is_operator(request, opts):
        return 0
    router_opts = options.get(opts, "router_opts") or {}
    offered = router_opts.get("offered") if isinstance(router_opts, Mapping) else None
    if offered:
        route = first_route(offered, request)
        if route is not None:
            return to_amount(route.get("price", 0), "the offered route's price")
    return _apply_price(request, hyperpath.parse(request) if steps is None else steps, opts, depth)


def estimate_price(request: Mapping[str, Any], opts: Mapping[str, Any]) -> int:
    """The price simple-pay asks for `request` (an HTTP request singleton)."""
    found = _estimate(request, opts)
    return found if isinstance(found, int) else 0


# --- the device ---------------------------------------------------------------------------

def _signer_of(request: Any, opts: Mapping[str, Any]) -> str | None:
    found = _signers(request, opts)
    return found[0] if found else None


class SimplePayDevice(Device):
    """`simple-pay@1.0` (see the module docstring)."""

    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["estimate", "charge", "charged", "balance", "topup"]}

    def estimate(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        inner = request.get("request")
        if not isinstance(inner, Mapping):
            return Result("error", {"status": 400, "body": b"estimate needs the `request` to price."})
        # Before the work, p4 passes the request's messages as parsed (`body`): not parsed twice.
        steps = request.get("body")
        return Result("ok", _estimate(inner, opts, steps=steps if isinstance(steps, list) else None))

    def charge(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        if opts.get(CHARGING) is not FROM_P4:
            return Result("error", {"status": 403, "body": b"Charges come from the node's p4@1.0 hook only."})
        inner = request.get("request")
        payers = _signers(inner, opts)
        if not payers:
            return Result("ok", False)  # nobody to charge (the reference's answer, not an error)
        if len(payers) > 1:
            return Result("error", {"status": 400, "body": b"Multiple signers in charge."})
        quantity = to_amount(request.get("quantity", 0), "quantity")
        if quantity < 0:
            return Result("error", {"status": 400, "body": b"A charge cannot be negative."})
        charge_id = request.get("request-id")
        record = (f"{PREFIX}/charged/{_segment(as_text(charge_id, errors='replace'), 'the request ID')}"
                  if charge_id is not None else None)
        before, after, _made = _apply_change(payers[0], -quantity, record, opts)
        if after >= 0:
            return Result("ok", True)
        return Result("error", {
            "status": 402,
            "body": (f"Insufficient funds. User balance before charge: {before}. Price of request: {quantity}. "
                     f"New balance: {after}.").encode(),
        })

    def charged(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """Whether the signed request `request-id` names has been charged already."""
        found = request.get("request-id")
        if found is None:
            return Result("ok", False)
        record = f"{PREFIX}/charged/{_segment(as_text(found, errors='replace'), 'the request ID')}"
        return Result("ok", ledger_store(opts).read(record) is not None)

    def balance(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        inner = request.get("request")
        if isinstance(inner, Mapping):
            target = _signer_of(inner, opts)
            if target is None:
                return Result("error", {"status": 400, "body": b"The request is not signed: a balance is the "
                                                               b"balance of the request's signer."})
        else:
            target = _signer_of(request, opts)
            if target is None and request.get("target") is not None:
                target = as_text(request["target"], errors="replace")
            if target is None:
                return Result("error", {"status": 400, "body": b"Sign the request (or name a `target`) to read "
                                                               b"a balance."})
        return Result("ok", balance_of(target, opts))

    def topup(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        operator = operator_address(opts)
        signers_now = _signers(request, opts)
        if not signers_now:
            return Result("error", {"status": 401, "body": b"Unauthorized: a top-up must be signed by the operator."})
        if operator is None or operator not in signers_now:
            return Result("error", {"status": 403, "body": b"Unauthorized: only the operator tops up."})
        said = authority.vouched(request, opts, operator)
        if "recipient" not in said:
            return Result("error", {"status": 400, "body": b"topup needs a signed `recipient`."})
        amount = to_amount(said.get("amount", 0), "amount")
        if amount < 0:
            return Result("error", {"status": 400, "body": b"A top-up cannot be negative."})
        change = authority.change_id(request, opts, operator)
        record = f"{PREFIX}/topups/{_segment(change, 'the top-up ID')}"
        _before, after, _made = _apply_change(as_text(said["recipient"], errors="replace"), amount, record, opts)
        return Result("ok", after)
