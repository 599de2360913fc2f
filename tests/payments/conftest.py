"""Nodes shared by the payment tests (each start costs seconds of the suite's budget): one
charging through `simple-pay@1.0`, one through the Lua token ledger process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from payments_helpers import LUA_PRICE, SIMPLE_PAY_PRICE, lua_ledger_options, node_with, p4_options, wallet

from aonode.crypto import Wallet

# A request hook before p4's that changes nothing (its result is ignored): with it, p4 is one
# of several request-hook handlers, as with the reference's default auth-hook in front of it
# (the reference's `/~p4@1.0/balance` crashes then, node-services.md §17.3 item 4).
PASS_THROUGH = {"device": "message@1.0", "path": "hook-seen", "hook": {"result": "ignore"}}


@pytest.fixture(scope="session")
def wallets() -> dict[str, Wallet]:
    return {name: wallet() for name in ("operator", "client", "applier", "alice", "bob")}


@pytest.fixture(scope="session")
def pay_node(tmp_path_factory: pytest.TempPathFactory, wallets: dict[str, Wallet]) -> Iterator[httpx.Client]:
    options = p4_options(
        "simple-pay@1.0", "simple-pay@1.0",
        request_first=PASS_THROUGH,
        operator=wallets["operator"].address,
        simple_pay_price=SIMPLE_PAY_PRICE,
        simple_pay_ledger={wallets["client"].address: 100, wallets["applier"].address: 100},
        # dynamic_router_pricing_test's offered routes (anchored: the reference's `/b` would also
        # price every path that contains `/b`, such as `/~simple-pay@1.0/balance`).
        router_opts={"offered": [{"template": "^/c", "price": 0}, {"template": "^/b", "price": 1}]},
    )
    with node_with(tmp_path_factory.mktemp("pay"), options) as node, \
            httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def lua_node(tmp_path_factory: pytest.TempPathFactory, wallets: dict[str, Wallet]) -> Iterator[httpx.Client]:
    options = lua_ledger_options(
        {wallets["alice"].address: 100, wallets["operator"].address: 10_000},
        operator=wallets["operator"].address,
        simple_pay_price=LUA_PRICE,
        # As in the reference's hyper_token_ledger_test, requests to node processes are free;
        # and so is reading one's balance.
        p4_non_chargable_routes=[{"template": "/*~node-process@1.0/*"}, {"template": "^/~p4@1.0/balance$"}],
    )
    with node_with(tmp_path_factory.mktemp("lua"), options) as node, \
            httpx.Client(base_url=node.url, timeout=60) as client:
        yield client
