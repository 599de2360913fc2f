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
  `reserved` is the sum of the prices of the same account's admitted requests whose charge the
  balance does not show yet (`_p4_reservations.Book`). The check and the reservation are one
  atomic step, so concurrent requests cannot all pass a check that only one of them could pay
  for. A ledger that is exact at once (simple-pay) shows a charge when it returns, and its
  balance is read under a lock per account; the Lua ledger process shows it once its slot is
  computed, and its balance is read from the newest computed state (no computing on the
  request's path) while the charges scheduled after that state stay reserved, a background
  run computing them. A check may count a charge twice for a moment (refusing, at worst, a
  request it could have served), never zero times. A ledger's balance therefore never falls
  below zero when each request costs what its estimate said; a request priced above its
  estimate can take it down by the difference, never by more than one request's price.

Differences from the reference (docs/compat.md): a request that fails (status 400 or more) is
not charged; several request-hook handlers work together (each gets the whole hook request,
and `balance` finds the p4 handler among them); balances compare as integers; the default
non-chargeable routes are anchored, and include the balance reads `aos` makes.
"""

from __future__ import annotations

import logging
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
from aonode.devices._p4_reservations import Admission, Book, book_for
from aonode.devices.simple_pay import CHARGING, FROM_P4, INFINITY, first_route, operator_address, to_amount
from aonode.errors import BadMessage
from aonode.message import is_id
from aonode.text import as_text

__all__ = ["P4Device", "reserved"]

log = logging.getLogger(__name__)

NAME = "p4@1.0"
UNSERVICEABLE = b"Node will not service this request under any circumstances."
_STRIPES = 64
# Ledgers that are part of the node: they take the charge message from p4 directly.
_IN_NODE_LEDGERS = frozenset({"simple-pay@1.0", "faff@1.0"})
# The memory limit of a ledger client's VM. Each Lua call reserves its VM's limit from the node's
# Lua memory budget while it runs; a client reads balances and schedules charges in a few KiB,
# and reserving the default limit for it let only three requests read balances at once.
_CLIENT_MEMORY = 32 * 1024 * 1024
# How often an admission reads the ledger again when its state is older than one already seen.
_READS = 3

# Admission of one account's requests takes one lock (striped by account).
_LOCKS = [threading.Lock() for _ in range(_STRIPES)]
# The reservation a thread's request made (its book and token), settled by its response hook.
# A request whose response hook never runs (the resolution raised) frees it when the thread
# serves its next request; until then it only makes the account look poorer (never richer).
_CURRENT = threading.local()


def _lock(key: tuple[str, str]) -> threading.Lock:
    return _LOCKS[zlib.crc32("\0".join(key).encode()) % _STRIPES]


def reserved(ledger: str, account: str, opts: Mapping[str, Any] | None = None) -> int:
    """What admitted requests of `account` hold on `ledger` until the ledger shows their charge
    (for tests)."""
    return book_for((opts or {}).get("cache"), ledger).total(account)


def _settle_leftover() -> None:
    hold = getattr(_CURRENT, "hold", None)
    if hold is not None:
        _CURRENT.hold = None
        book, token, _ = hold
        book.release(token)


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
        client_opts = {**opts, "lua_memory_limit": min(_CLIENT_MEMORY, int(options.get(opts, "lua_memory_limit")))}
        found = (module, initialize_vm(message, client_opts))  # keeps `module` alive, so its id stays its own
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


def _slot(value: Any) -> int | None:
    try:
        return to_amount(value, "a slot") if value is not None else None
    except BadMessage:
        return None


def _read_balance(ledger: Mapping[str, Any], payer: str | list[str], singleton: Mapping[str, Any],
                  fresh: bool, opts: Mapping[str, Any]) -> Any:
    """The ledger's answer to `balance` (with `fresh`: after computing its slots), or an error
    Result: the ledger's 4xx passed on, anything else a 500."""
    query: dict[str, Any] = {"path": "balance", "target": payer, "request": singleton}
    if fresh:
        query["fresh"] = True
    answered = resolve(ledger, query, {**opts, "hashpath": "ignore"})
    if answered.ok:
        return answered.value
    status = _status(answered.value)
    if 400 <= status < 500:
        found = answered.value
        body = found.get("body", b"") if isinstance(found, Mapping) else found
        raw = body if isinstance(body, bytes) else as_text(body, errors="replace").encode()
        return _error(status, raw)
    return _error(500, b"Error checking ledger balance.")


def _slotted(value: Any) -> tuple[int, int | None, int | None] | None:
    """`(balance, slot, latest)` of a ledger that answers balances from computed slots, else None."""
    if not isinstance(value, Mapping) or "balance" not in value:
        return None
    return to_amount(value.get("balance"), "the ledger's balance"), _slot(value.get("slot")), _slot(value.get("latest"))


_UNLIMITED = Admission("unlimited")


def _admit(ledger: Mapping[str, Any], book: Book, ledger_name: str, payer: str | list[str], account: str,
           singleton: Mapping[str, Any], price: int, opts: Mapping[str, Any]) -> Result | tuple[Admission, int]:
    """Read the account's balance and admit the request against it (`Book.admit`): the
    admission and the balance read, or an error Result.

    A ledger answers `balance` with an amount, exact at once (simple-pay), or with `{balance,
    slot, latest}`: the balance in its newest computed state, the slot that state is after,
    and the last slot scheduled. An exact balance is read, checked and reserved under the
    account's lock. A computed one needs no lock: it is read as exact when every slot after
    `slot` is a charge reserved here, and otherwise (or when the state is older than one
    already seen) read again with `fresh`, the ledger computing its slots first.
    """
    if not book.slotted:
        with _lock((ledger_name, account)):
            value = _read_balance(ledger, payer, singleton, False, opts)
            if isinstance(value, Result) or _unlimited(value):
                return value if isinstance(value, Result) else (_UNLIMITED, 0)
            if _slotted(value) is None:
                balance = to_amount(value, "the ledger's balance")
                return book.admit(account, balance, price), balance
        book.slotted = True
    fresh = False
    for _ in range(_READS + 1):
        value = _read_balance(ledger, payer, singleton, fresh, opts)
        if isinstance(value, Result) or _unlimited(value):
            return value if isinstance(value, Result) else (_UNLIMITED, 0)
        view = _slotted(value)
        if view is None:
            book.slotted = False  # an amount after all: the exact way
            return _admit(ledger, book, ledger_name, payer, account, singleton, price, opts)
        balance, computed, latest = view
        if computed is None and not fresh:
            fresh = True
            continue
        admission = book.admit(account, balance, price, computed, latest, fresh)
        if admission.outcome in ("admitted", "refused"):
            return admission, balance
        fresh = True
    return _error(503, b"The ledger's balance changed while it was read; ask again.")


def _catch_up(book: Book, base: Mapping[str, Any], opts: Mapping[str, Any]) -> None:
    """Have the ledger compute its new slots in the background, so that balances are read
    from states that include the charges and their reservations can go (one run at a time
    per ledger; charges made while it runs start one more)."""
    if not book.start_catch_up():
        return
    quiet = {**opts, "hashpath": "ignore"}

    def run() -> None:
        while True:
            try:
                ledger = _with_device(base, "ledger-device", quiet)
                answered = resolve(ledger, {"path": "balance", "fresh": True}, quiet) if ledger else None
                value = answered.value if answered is not None and answered.ok else None
                computed = _slot(value.get("slot")) if isinstance(value, Mapping) else None
                if computed is not None:
                    book.observe(computed)
            except Exception:  # noqa: BLE001 - a background reader must not die silently
                log.exception("p4@1.0: computing the ledger's new slots failed")
            if book.catch_up_done():
                return

    try:
        threading.Thread(target=run, name="p4-ledger-catch-up", daemon=True).start()
    except RuntimeError:  # no thread to be had (the process is stopping): the next charge tries again
        book.catch_up_failed()


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
        account = as_text(payer, errors="replace") if isinstance(payer, str) else ",".join(payer)
        ledger_name = _ledger_key(base)
        book = book_for(opts.get("cache"), ledger_name)
        found = _admit(ledger, book, ledger_name, payer, account, singleton, price, opts)
        if isinstance(found, Result):
            value = found.value
            return _error(value["status"], value["body"], price=price) if value["status"] < 500 else found
        admission, balance = found
        if admission.outcome == "refused":
            if _already_charged(ledger, singleton, payer, opts):
                return proceed  # the same signed request again: it was paid for once
            return _error(402, b"Insufficient funds", price=price, balance=balance)
        if admission.outcome == "admitted":
            _CURRENT.hold = (book, admission.token, book.slotted)
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
                hold: tuple[Book, int, bool] | None) -> Result:
        singleton = request.get("request")
        result = request.get("body")
        passed = Result("ok", {"request": singleton, "body": result})
        kept = False
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
            # The charge is durable before the reservation goes: a balance check in between
            # counts this request twice (refusing, at worst, one that could have paid), never
            # zero times. A ledger of computed slots shows the charge once its slot is computed:
            # until then the reservation stays, tagged with it; and when this raises or names
            # no slot, it stays untagged (the account looks poorer, never richer).
            kept = hold is not None and hold[2]
            charged = resolve(ledger, charge, {**quiet, CHARGING: FROM_P4})
            if not charged.ok:
                kept = False  # refused: no slot was taken
                return Result("error", _passed_on(charged.value))
            slot = _slot(charged.value.get("slot")) if isinstance(charged.value, Mapping) else None
            if hold is not None and hold[2]:
                if slot is None:
                    log.warning("p4@1.0: the ledger's charge answer names no slot; its reservation stays")
                else:
                    hold[0].tag(hold[1], slot)
                    _catch_up(hold[0], base, opts)
            return passed
        finally:
            if hold is not None and not kept:
                hold[0].release(hold[1])

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
        query: dict[str, Any] = {"path": "balance", "request": request, "fresh": True}
        if signer:
            query["target"] = signer[0]
        answered = resolve(ledger, query, {**opts, "hashpath": "ignore"})
        if answered.ok and isinstance(answered.value, Mapping) and "balance" in answered.value:
            return Result("ok", answered.value["balance"])  # a process ledger's, after its slots
        return answered
