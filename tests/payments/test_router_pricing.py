"""The reference's dynamic_router_pricing_test (node-services.md §16): a worker charging with
p4 + simple-pay + the Lua token ledger offers two routes to a router that runs the routing
process (`aonode.routing`): `/c` at price 0 and `/b` at price 1. Requests reach the worker
through the router (relayed as `apply@1.0` requests), and the worker prices them as the
requests they apply: `/c` is served to anyone, `/b` needs funds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, free_port, response_message, start, stop, verified
from payments_helpers import jsonable, lua_ledger_options, wallet

from aonode.codecs import signers
from aonode.crypto import Wallet
from aonode.routing import router_options


def _node(workdir: Path, node_wallet: Wallet, options: dict[str, Any], port: int) -> Node:
    data = workdir / "data"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    node_wallet.save(data / "wallet.json")
    (workdir / "node.json").write_text(json.dumps(jsonable(options)))
    return start(workdir, port=port, data_dir=data, extra=["--config", str(workdir / "node.json")])


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    root = tmp_path_factory.mktemp("router-pricing")
    worker_wallet, router_wallet, operator = wallet(), wallet(), wallet()
    router_port, worker_port = free_port(), free_port()
    router_url, worker_url = f"http://127.0.0.1:{router_port}", f"http://127.0.0.1:{worker_port}"
    offered = [{"registration-peer": router_url, "template": template, "prefix": worker_url, "price": price}
               for template, price in (("/c", 0), ("/b", 1))]
    worker = lua_ledger_options(
        {operator.address: 1_000}, operator=operator.address, router_opts={"offered": offered},
        p4_non_chargable_routes=[{"template": "^/~router@1.0/register$"}, {"template": "^/~meta@1.0/"}],
    )
    configs = [(root / "worker", worker_wallet, worker, worker_port),
               (root / "router", router_wallet, router_options([worker_wallet.address]), router_port)]
    nodes: list[Node] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            nodes.extend(pool.map(lambda config: _node(*config), configs))
        registered = httpx.get(worker_url + "/~router@1.0/register", timeout=60)
        assert registered.status_code == 200, registered.text
        with httpx.Client(base_url=router_url, timeout=60) as client:
            yield client, worker_wallet.address
    finally:
        for node in nodes:
            stop(node)


def test_an_offered_route_at_price_zero_is_served_through_the_router(router: tuple[httpx.Client, str]) -> None:
    client, worker = router
    response = client.get("/c?c+list=1", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    assert response_message(response)["1"] == 1  # the list [1]
    assert signers(verified(response)) == [worker]  # the worker answered


def test_an_offered_route_with_a_price_needs_funds(router: tuple[httpx.Client, str]) -> None:
    client, worker = router
    response = client.get("/b?b+list=1", headers={"accept-bundle": "true"})
    assert response.status_code == 402, response.text
    assert b"Insufficient funds" in response.content
    answer = verified(response)
    assert signers(answer) == [worker]
    # The route's own price, for the request the router's `apply@1.0` message applies.
    assert (answer["price"], answer["balance"]) == (1, 0)
