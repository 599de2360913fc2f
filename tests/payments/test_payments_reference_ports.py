"""The reference's payment tests (node-services.md §16: dev_p4, dev_simple_pay, the pricing of
dynamic_router_pricing_test), each against a real `aonode serve` node over HTTP (the shared
nodes of conftest.py, and one with `faff@1.0`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from aonode_process import post, response_message, signed
from payments_helpers import ask, body, ledger_balance, node_with, p4_options, wallet

from aonode.crypto import Wallet


@pytest.fixture(scope="module")
def faff_node(tmp_path_factory: pytest.TempPathFactory, wallets: dict[str, Wallet]) -> Iterator[httpx.Client]:
    options = p4_options("faff@1.0", "faff@1.0", faff_allow_list=[wallets["alice"].address])
    with node_with(tmp_path_factory.mktemp("faff"), options) as node, \
            httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


# --- dev_p4 faff_test (and the fix: an unsigned request is refused) -------------------------

def test_faff_serves_only_the_allow_list(faff_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    good = ask(faff_node, "/greeting", wallets["alice"], greeting="Hello, world!")
    assert (good.status_code, body(good)) == (200, b"Hello, world!")
    bad = ask(faff_node, "/greeting", wallets["bob"], greeting="Hello, world!")
    assert bad.status_code == 400
    assert b"will not service this request" in bad.content


def test_faff_refuses_unsigned_requests(faff_node: httpx.Client) -> None:
    # The reference admits them: "every signer is allowed" holds for no signers (compat.md).
    unsigned = ask(faff_node, "/greeting", greeting="Hello, world!")
    assert unsigned.status_code == 400
    assert b"will not service this request" in unsigned.content


# --- dev_p4 non_chargable_route_test -----------------------------------------------------

def test_non_chargeable_routes_are_free(pay_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    stranger = wallet()
    balance = ask(pay_node, "/~p4@1.0/balance", stranger)
    assert (balance.status_code, body(balance)) == (200, 0)
    operator = ask(pay_node, "/~meta@1.0/info/operator", stranger, method="GET")
    assert (operator.status_code, body(operator)) == (200, wallets["operator"].address.encode())
    refused = ask(pay_node, "/~scheduler@1.0", stranger)
    assert refused.status_code == 402
    answer = response_message(refused)
    # `/~scheduler@1.0` is one message: 10.
    assert (answer["price"], answer["balance"]) == (10, 0)


# --- dev_simple_pay get_balance_and_top_up_test ------------------------------------------

def test_balance_and_top_up(pay_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    client, operator = wallets["client"], wallets["operator"]
    # The balance is read before the request is charged (2 messages at 10).
    first = ask(pay_node, "/~simple-pay@1.0/balance", client)
    assert (first.status_code, body(first)) == (200, 100)
    topped = ask(pay_node, "/~simple-pay@1.0/topup", operator, amount=100, recipient=client.address)
    assert (topped.status_code, body(topped)) == (200, 180)
    now = ask(pay_node, "/~p4@1.0/balance", client)
    assert (now.status_code, body(now)) == (200, 180)


def test_only_the_operator_tops_up(pay_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    client = wallets["client"]
    before = body(ask(pay_node, "/~p4@1.0/balance", client))
    refused = ask(pay_node, "/~simple-pay@1.0/topup", client, amount=1000, recipient=client.address)
    assert refused.status_code == 403, refused.text
    unsigned = ask(pay_node, "/~simple-pay@1.0/topup", None, amount=1000, recipient=client.address)
    assert unsigned.status_code == 401, unsigned.text
    assert body(ask(pay_node, "/~p4@1.0/balance", client)) == before


def test_unsigned_balance_is_a_400(pay_node: httpx.Client) -> None:
    # The reference crashes (500) reading the signer of an unsigned request.
    response = pay_node.get("/~simple-pay@1.0/balance")
    assert response.status_code == 400
    assert b"not signed" in response.content


# --- dev_simple_pay apply_price_test -------------------------------------------------------

def test_apply_is_priced_as_the_request_it_applies(pay_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    applier = wallets["applier"]
    response = ask(pay_node, "/~apply@1.0/user-path", applier,
                   **{"user-path": "/~scheduler@1.0/status/keys/1", "user-message": {"a": 1}})
    assert response.status_code == 200, response.text
    # The inner path is 4 messages at 10; the two that name the application are free.
    assert body(ask(pay_node, "/~p4@1.0/balance", applier)) == 60


def test_an_apply_of_a_malformed_path_is_a_client_error(pay_node: httpx.Client) -> None:
    response = ask(pay_node, "/~apply@1.0/user-path", wallet(), **{"user-path": "/%zz"})
    assert 400 <= response.status_code < 500, response.text


# --- dynamic_router_pricing_test: offered routes carry their own price -------------------

def test_offered_routes_price_their_requests(pay_node: httpx.Client) -> None:
    broke = wallet()
    free = pay_node.get("/c?c+list=1")
    assert free.status_code == 200, free.text
    assert response_message(free)["1"] == 1  # the list [1], as a message
    priced = ask(pay_node, "/b", broke, method="GET", b=[1])
    assert priced.status_code == 402
    assert b"Insufficient funds" in priced.content
    assert response_message(priced)["price"] == 1


# --- dev_p4 hyper_token_ledger_test ----------------------------------------------------------

def test_token_ledger_process(lua_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    client = lua_node
    alice, bob, operator = wallets["alice"], wallets["bob"], wallets["operator"]
    # The shared node's operator also funds other tests: count from what it has now.
    operator_before = ledger_balance(client, operator.address)
    request = signed({"path": "/greeting", "greeting": "Hello, world!"}, bob)
    refused = post(client, request)
    assert refused.status_code == 402
    transfer = signed({"path": "transfer", "quantity": 50, "recipient": bob.address}, alice)
    scheduled = post(client, signed({"path": "/ledger~node-process@1.0/schedule", "body": transfer}, operator))
    assert scheduled.status_code == 200, scheduled.text
    served = post(client, request)
    assert (served.status_code, body(served)) == (200, b"Hello, world!")
    # Two messages at 1 each went from Bob to the operator.
    assert ledger_balance(client, bob.address) == 48
    assert ledger_balance(client, operator.address) == operator_before + 2
    assert ledger_balance(client, alice.address) == 50
    balances = client.get("/ledger~node-process@1.0/now/balance", headers={"accept-bundle": "true"})
    assert balances.status_code == 200
    whole = response_message(balances)
    assert (whole[bob.address], whole[operator.address]) == (48, operator_before + 2)


# --- node-services.md §17.3 item 4: p4 behind another request-hook handler ------------------

def test_p4_works_behind_another_request_hook(pay_node: httpx.Client, wallets: dict[str, Wallet]) -> None:
    first = pay_node.get("/~meta@1.0/info/on/request/1/hook/result")
    second = pay_node.get("/~meta@1.0/info/on/request/2/device")
    assert (first.text, second.text) == ("ignore", "p4@1.0")  # the shared node has two handlers
    # ... and p4's `balance` finds its handler among them, while charging works (the other tests).
    assert ask(pay_node, "/~p4@1.0/balance", wallets["client"]).status_code == 200
