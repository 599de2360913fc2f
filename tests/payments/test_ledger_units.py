"""The pieces of the payment devices that need no node: amounts, route matching, and
simple-pay's ledger in a real LMDB store (each change one transaction, each request ID once)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from payments_helpers import wallet

from aonode.codecs import commit
from aonode.core import hooks, resolve
from aonode.crypto import Wallet
from aonode.devices.faff import allowed
from aonode.devices.simple_pay import CHARGING, FROM_P4, balance_of, first_route, to_amount
from aonode.errors import BadMessage
from aonode.store import MessageCache, open_store

SIMPLE_PAY = {"device": b"simple-pay@1.0"}


@pytest.fixture
def opts(tmp_path: Path) -> Any:
    store = open_store([{"store-module": "lmdb", "name": str(tmp_path / "lmdb")}])
    yield {"cache": MessageCache(store), "priv_wallet": wallet()}
    store.close()


def test_amounts_are_integers() -> None:
    assert (to_amount(b"100"), to_amount("-3"), to_amount(7)) == (100, -3, 7)
    for bad in (b"1e3", "ten", True, 1.5, b""):
        with pytest.raises(BadMessage):
            to_amount(bad)


def test_a_client_added_route_path_does_not_pick_the_route() -> None:
    routes = [{"template": "^/free"}, {"template": {"tier": "gold"}, "price": 5}]
    assert first_route(routes, {"path": "/paid", "route-path": "/free"}) is None
    assert first_route(routes, {"path": "/free/x"}) == routes[0]
    assert first_route(routes, {"path": "/x", "tier": "gold"}) == routes[1]


def test_faff_needs_a_signature(opts: Any) -> None:
    friend = wallet()
    with_allow_list = {**opts, "faff_allow_list": [friend.address]}
    assert allowed(commit({"path": "/x"}, friend), with_allow_list)
    assert not allowed({"path": "/x"}, with_allow_list)
    assert not allowed(commit({"path": "/x"}, wallet()), with_allow_list)


def _charge(payer: Wallet, quantity: int, request_id: str | None, opts: Any) -> Any:
    request = commit({"path": "/x", "n": request_id or "none"}, payer)
    charge: dict[str, Any] = {"path": "charge", "quantity": quantity, "request": request}
    if request_id is not None:
        charge["request-id"] = request_id.encode()
    return resolve(SIMPLE_PAY, charge, {**opts, CHARGING: FROM_P4})


def test_a_request_id_is_charged_once(opts: Any) -> None:
    payer = wallet()
    opts["simple_pay_ledger"] = {payer.address: b"10"}  # a config file's text
    assert _charge(payer, 3, "A" * 43, opts).value is True
    assert _charge(payer, 3, "A" * 43, opts).value is True
    assert balance_of(payer.address, opts) == 7
    refused = _charge(payer, 9, "B" * 43, opts)
    assert refused.value["status"] == 402
    assert balance_of(payer.address, opts) == -2  # stored even when negative, as the reference


def test_concurrent_charges_lose_no_update(opts: Any) -> None:
    payer = wallet()
    opts["simple_pay_ledger"] = {payer.address: 10_000}
    requests = [commit({"path": "/x", "n": n}, payer) for n in range(40)]

    def charge(n: int) -> None:
        resolve(SIMPLE_PAY, {"path": "charge", "quantity": 7, "request": requests[n],
                             "request-id": f"{n:043d}".encode()}, {**opts, CHARGING: FROM_P4})

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert balance_of(payer.address, opts) == 10_000 - 7 * 40


def test_unsigned_charge_and_balance(opts: Any) -> None:
    unsigned = {"path": "charge", "quantity": 5, "request": {"path": "/x"}}
    assert resolve(SIMPLE_PAY, unsigned, {**opts, CHARGING: FROM_P4}).value is False
    answered = resolve(SIMPLE_PAY, {"path": "balance", "request": {"path": "/x"}}, opts)
    assert answered.status == "error" and answered.value["status"] == 400


def test_only_p4_charges(opts: Any) -> None:
    victim = wallet()
    opts["simple_pay_ledger"] = {victim.address: 50}
    # Someone holding a request the victim signed asks simple-pay to charge it (as over HTTP).
    held = commit({"path": "/x"}, victim)
    refused = resolve(SIMPLE_PAY, {"path": "charge", "quantity": 50, "request": held}, opts)
    assert refused.status == "error" and refused.value["status"] == 403
    assert balance_of(victim.address, opts) == 50


def test_a_hook_that_finds_the_request_malformed_answers_with_its_status(opts: Any) -> None:
    # A request hook that raises a typed fault (here apply@1.0 on a path that does not parse)
    # stops the request with that fault's status: the client's 400, not the node's 500.
    handler = {"device": b"apply@1.0", "path": b"user-path", "user-path": b"/%zz"}
    result = hooks.on("request", {"body": []}, {**opts, "on": {"request": handler}})
    assert result.status == "error" and result.value["status"] == 400
    assert b"percent-escape" in result.value["body"]
