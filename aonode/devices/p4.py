"""`p4@1.0`: charge for the requests a node serves (`dev_p4`, node-services.md §4.1).

It is both the `request` and the `response` hook of the node, with one handler message:

    on/request  = on/response = {device: p4@1.0, pricing-device: D1, ledger-device: D2, ...}

The pricing and ledger devices are called on that same message with `device` replaced, so its
other keys (`module`, `ledger-path`) reach them. A pricing device answers `estimate` (and may
answer `price`) with an integer or `infinity`; a ledger answers `balance` (an integer, or
`true`/`infinity` for "no limit") and `charge`.

    request   a request whose path matches none of `p4_non_chargable_routes` is priced
              (`estimate`): `infinity` is a 400, 0 is free; otherwise the signer's balance must
              cover the price, else a 402 carrying `price` and `balance`
    response  a chargeable request that succeeded (status below 400) is charged its `price`
              (else `estimate`): a charge message signed by the node, naming the `account`
              (the signer), the `recipient` (`p4_recipient`, else the operator), the `quantity`,
              the `request` and its `request-id`, goes to the ledger's `charge`; a refused
              charge replaces the result
    balance   the caller's balance, from the ledger of the node's p4 request hook

Money is neither lost nor created (docs/payments.md):

* The ledger's `charge` returns only once the charge is durable (simple-pay: one store
  transaction; a Lua ledger process: its assignment is scheduled), and it runs in the
  `response` hook, before the answer leaves the node.
* The charge carries `request-id`, the ID of the payer's signature on the request; ledgers
  record it with the charge, so the same signed request sent again is charged once. When the
  balance does not cover a request, p4 asks the ledger's `charged` (aonode's own key; a
  ledger without it answers no) whether that ID was charged before refusing it: a request
  sent again after its answer was lost is served (it was paid for), so a client's retry
  always gets an answer. (When the balance covers it, it is admitted as any request, and
  its charge changes nothing.)
* The charge message is signed by the node when it leaves the node's own code (any ledger
  but `simple-pay@1.0` and `faff@1.0`, which take it from p4 in the same process).
* Overdraw rule: a request is admitted only while `balance - reserved >= price`, where
  `reserved` is the sum of the prices of the same account's admitted requests whose charge has
  not been made yet. Reading the balance, the check and the reservation happen under one lock
  per account, so concurrent requests cannot all pass a check that only one of them could pay
  for; a reservation is released only after its charge is durable, so a check never misses
  an admitted request (it may count one twice, in between, and refuse a request it could
  have served). A ledger's balance therefore never falls below zero when each request
  costs what its estimate said; a request priced above its estimate can take it down by the
  difference, never by more than one request's price.

Differences from the reference (docs/compat.md): a request that fails (status 400 or more) is
not charged; several request-hook handlers work together (each gets the whole hook request,
and `balance` finds the p4 handler among them); balances compare as integers; the default
non-chargeable routes are anchored, and include the balance reads `aos` makes.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Mapping
from typing import Any

from aonode.codecs import commit
from aonode.core import authority, hooks, options
from aonode.core.devices import Device
from aonode.core.resolver import resolve
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.devices.simple_pay import CHARGING, FROM_P4, INFINITY, first_route, operator_address, to_amount
from aonode.errors import BadMessage
from aonode.message import is_id
from aonode.text import as_text

__all__ = ["P4Device", "reserved"]

NAME = "p4@1.0"
UNSERVICEABLE = b"Node will not service this request under any circumstances."
_STRIPES = 64
# Ledgers that are part of the node: they take the charge message from p4 directly.
_IN_NODE_LEDGERS = frozenset({"simple-pay@1.0", "faff@1.0"})

# Admission and settlement of one account's requests take the same lock (striped by account).
_LOCKS = [threading.Lock() for _ in range(_STRIPES)]
_HOLDS_LOCK = threading.Lock()
_HOLDS: dict[tuple[str, str], int] = {}
# The reservation a thread's request made, settled by its response hook. A request whose
# response hook never runs (the resolution raised) frees it when the thread serves its next
# request; until then it only makes the account look poorer (never richer).
_CURRENT = threading.local()



def _lock(key: tuple[str, str]) -> threading.Lock:
    return _LOCKS[zlib.crc32("\0".join(key).encode()) % _STRIPES]


def reserved(ledger: str, account: str) -> int:
    """What admitted, not yet charged requests of `account` hold on `ledger` (for tests)."""
    with _HOLDS_LOCK:
        return _HOLDS.get((ledger, account), 0)


def _hold(key: tuple[str, str], amount: int) -> None:
    with _HOLDS_LOCK:
        left = _HOLDS.get(key, 0) + amount
        if left > 0:
            _HOLDS[key] = left
        else:
            _HOLDS.pop(key, None)


def _settle_leftover() -> None:
    hold = getattr(_CURRENT, "hold", None)
    if hold is not None:
        _CURRENT.hold = None
        _hold(hold[0], -hold[1])


def _payer(singleton: Mapping[str, Any], opts: Mapping[str, Any]) -> str | list[str]:
    found = authority.signed_by(singleton, opts)
    if not found:
        return "unknown"
    return found[0] if len(found) == 1 else found


def _is_chargeable(singleton: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    routes = options.get(opts, "p4_non_chargable_routes") or []
    return first_route(routes, singleton) is None


def _with_device(base: Mapping[str, Any], key: str,
                 opts: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    device = base.get(key)
    if device is None:
        return None
    message = {**base, "device": device}
    if opts is not None and as_text(device, errors="replace") == "lua@5.3a" and "priv" not in base:
        message = _with_thread_vm(message, opts)
    return message


def _with_thread_vm(message: dict[str, Any], opts: Mapping[str, Any]) -> dict[str, Any]:
    """`message` with this thread's Lua VM for its modules: a p4 client module keeps no state
    between calls, and building its VM for every call (three per request) costs more than the
    call. The VM is kept per thread (a VM runs one call at a time) and per module value."""
    from aonode.devices.lua import initialize_vm, with_vm

    cache: dict[int, tuple[Any, Any]] = getattr(_CURRENT, "vms", None) or {}
    _CURRENT.vms = cache
    module = message.get("module")
    found = cache.get(id(module))
    if found is None or found[0] is not module:
        found = (module, initialize_vm(message, opts))  # keeps `module` alive, so its id stays its own
        cache[id(module)] = found
    return with_vm(message, found[1])


def _ledger_key(base: Mapping[str, Any]) -> str:
    device = as_text(base.get("ledger-device"), errors="replace")
    return f"{device}|{as_text(base.get('ledger-path', ''), errors='replace')}"


def _price(value: Any) -> int | bytes:
    if isinstance(value, (bytes, str)) and as_text(value, errors="replace").strip().lower() == "infinity":
        return INFINITY
    return to_amount(value, "the price")


def _unlimited(value: Any) -> bool:
    return value is True or (isinstance(value, (bytes, str))
                             and as_text(value, errors="replace").strip().lower() in ("true", "infinity"))


def _status(value: Any) -> int:
    found = value.get("status") if isinstance(value, Mapping) else None
    try:
        return to_amount(found, "status") if found is not None else 200
    except BadMessage:
        return 200


def _error(status: int, body: bytes, **extra: Any) -> Result:
    return Result("error", {"status": status, "body": body, **extra})


def _passed_on(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {"body": value}


def _request_id(singleton: Mapping[str, Any], payer: str | list[str], opts: Mapping[str, Any]) -> str | None:
    """The ID of the payer's signature on the request: the same signed request sent again has
    the same one (None when nobody, or several, signed it)."""
    if not isinstance(payer, str) or payer == "unknown":
        return None
    return authority.change_id(singleton, opts, payer)


def _already_charged(ledger: Mapping[str, Any], singleton: Mapping[str, Any], payer: str | list[str],
                     opts: Mapping[str, Any]) -> bool:
    """Whether the ledger says this signed request was charged (a ledger without `charged`
    says no)."""
    found = _request_id(singleton, payer, opts)
    if found is None:
        return False
    answered = resolve(ledger, {"path": "charged", "request-id": found.encode()}, {**opts, "hashpath": "ignore"})
    return answered.ok and (answered.value is True or as_text(answered.value, errors="replace") == "true")


class P4Device(Device):
    """`p4@1.0` (see the module docstring)."""

    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["request", "response", "balance"]}

    # --- before the work ---------------------------------------------------------------

    def request(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        _settle_leftover()
        _CURRENT.estimate = None
        singleton = request.get("request")
        messages = request.get("body")
        proceed = Result("ok", {"request": singleton, "body": messages})
        if not isinstance(singleton, Mapping) or not _is_chargeable(singleton, opts):
            return proceed
        pricing, ledger = _with_device(base, "pricing-device"), _with_device(base, "ledger-device", opts)
        if pricing is None or ledger is None:
            return proceed
        estimated = resolve(pricing, {"path": "estimate", "request": singleton, "body": messages},
                            {**opts, "hashpath": "ignore"})
        if not estimated.ok:
            return Result("error", {"status": _status(estimated.value) if _status(estimated.value) >= 400 else 400,
                                    "body": b"Could not estimate price of request."})
        price = _price(estimated.value)
        if price == INFINITY:
            return _error(400, UNSERVICEABLE)
        assert isinstance(price, int)
        _CURRENT.estimate = (id(singleton), price)
        if price <= 0:
            return proceed
        payer = _payer(singleton, opts)
        key = (_ledger_key(base), as_text(payer, errors="replace") if isinstance(payer, str) else ",".join(payer))
        with _lock(key):
            answered = resolve(ledger, {"path": "balance", "target": payer, "request": singleton},
                               {**opts, "hashpath": "ignore"})
            if not answered.ok:
                status = _status(answered.value)
                if 400 <= status < 500:
                    found = answered.value
                    body = found.get("body", b"") if isinstance(found, Mapping) else found
                    raw = body if isinstance(body, bytes) else as_text(body, errors="replace").encode()
                    return _error(status, raw, price=price)
                return _error(500, b"Error checking ledger balance.")
            if _unlimited(answered.value):
                return proceed
            balance = to_amount(answered.value, "the ledger's balance")
            if balance - reserved(*key) < price:
                if _already_charged(ledger, singleton, payer, opts):
                    return proceed  # the same signed request again: it was paid for once
                return _error(402, b"Insufficient funds", price=price, balance=balance)
            _hold(key, price)
            _CURRENT.hold = (key, price)
        return proceed

    # --- after the work ----------------------------------------------------------------

    def response(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        hold = getattr(_CURRENT, "hold", None)
        _CURRENT.hold = None
        try:
            return self._settle(base, request, opts, hold)
        finally:
            _CURRENT.estimate = None

    def _settle(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any],
                hold: tuple[tuple[str, str], int] | None) -> Result:
        singleton = request.get("request")
        result = request.get("body")
        passed = Result("ok", {"request": singleton, "body": result})
        try:
            if not isinstance(singleton, Mapping) or not _is_chargeable(singleton, opts) or _status(result) >= 400:
                return passed
            pricing, ledger = _with_device(base, "pricing-device"), _with_device(base, "ledger-device", opts)
            if pricing is None or ledger is None:
                return passed
            quiet = {**opts, "hashpath": "ignore"}
            priced = resolve(pricing, {"path": "price", "request": singleton, "body": result}, quiet)
            if not priced.ok:
                # No `price` (simple-pay and faff have none): the estimate again, which this
                # thread's request hook computed for this very request.
                known = getattr(_CURRENT, "estimate", None)
                priced = (Result("ok", known[1]) if known is not None and known[0] == id(singleton) else
                          resolve(pricing, {"path": "estimate", "request": singleton, "body": result}, quiet))
            if not priced.ok:
                return Result("error", _passed_on(priced.value))
            price = _price(priced.value)
            if price == INFINITY or not isinstance(price, int) or price <= 0:
                return passed
            payer = _payer(singleton, opts)
            ledger_device = as_text(base.get("ledger-device"), errors="replace")
            charge = self._charge_message(singleton, payer, price, ledger_device, opts)
            # The charge is durable before the reservation goes (`finally`): a balance check in
            # between counts this request twice (refusing, at worst, one that could have paid),
            # never zero times.
            charged = resolve(ledger, charge, {**quiet, CHARGING: FROM_P4})
            if charged.ok:
                return passed
            return Result("error", _passed_on(charged.value))
        finally:
            if hold is not None:
                _hold(hold[0], -hold[1])

    @staticmethod
    def _charge_message(singleton: Mapping[str, Any], payer: str | list[str], price: int, ledger: str,
                        opts: Mapping[str, Any]) -> dict[str, Any]:
        recipient = options.get(opts, "p4_recipient")
        if recipient is None or not is_id(as_text(recipient, errors="replace")):
            recipient = operator_address(opts) or "unknown"
        charge: dict[str, Any] = {
            "path": b"charge",
            "quantity": price,
            "account": payer.encode() if isinstance(payer, str) else [p.encode() for p in payer],
            "recipient": as_text(recipient, errors="replace").encode(),
            "request": dict(singleton),
        }
        request_id = _request_id(singleton, payer, opts)
        if request_id is not None:
            charge["request-id"] = request_id.encode()
        wallet = opts.get("priv_wallet")
        # The node's own ledgers read the charge in this process, from the node's own code: a
        # signature there would be checked by nobody (and costs a quarter of a paid request).
        if isinstance(wallet, Wallet) and ledger not in _IN_NODE_LEDGERS:
            charge = commit(charge, wallet)
        return charge

    # --- the caller's balance ----------------------------------------------------------

    def balance(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        handler = next((h for h in hooks.handlers("request", opts)
                        if isinstance(h, Mapping) and as_text(h.get("device", b""), errors="replace") == NAME), None)
        if handler is None:
            return Result("error", {"status": 400, "body": b"No request hook found."})
        ledger = _with_device(handler, "ledger-device")
        if ledger is None:
            return Result("error", {"status": 400, "body": b"The p4 request hook names no ledger-device."})
        signer = authority.signed_by(request, opts)
        query: dict[str, Any] = {"path": "balance", "request": request}
        if signer:
            query["target"] = signer[0]
        return resolve(ledger, query, {**opts, "hashpath": "ignore"})
