"""router@1.0 over HTTP with real nodes on loopback (`aonode serve`): two workers register
with a router, the router's `preprocess` hook relays matching requests to a chosen worker and
returns the worker's signed answer; the route table is read and added to by its owners
(the reference's dev_router and dev_relay node tests, node-services.md §16)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import InProcess, Node, free_port, post, signed, start, stop, verified

from aonode.codecs import commit, message_id, signers
from aonode.crypto import Wallet
from aonode.http.server import create_app
from aonode.net import client
from aonode.routing import router_options
from aonode.store import MemoryStore

TEMPLATE = "^/~message@1.0"


@dataclass
class Cluster:
    router: Node
    workers: list[Node]
    router_wallet: Wallet
    worker_wallets: list[Wallet]
    operator: Wallet
    registrations: list[httpx.Response]


def _node(workdir: Path, wallet: Wallet, config: dict[str, Any], port: int) -> Node:
    data = workdir / "data"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    wallet.save(data / "wallet.json")
    (workdir / "node.json").write_text(json.dumps(config))
    return start(workdir, port=port, data_dir=data, extra=["--config", str(workdir / "node.json")])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("router")
    operator, router_wallet = Wallet.generate(), Wallet.generate()
    worker_wallets = [Wallet.generate(), Wallet.generate()]
    router_port, worker_ports = free_port(), [free_port(), free_port()]
    router_url = f"http://127.0.0.1:{router_port}"
    configs: list[tuple[Path, Wallet, dict[str, Any], int]] = [
        (root / f"worker{i}", wallet, {
            "router_opts": {"offered": [{"registration-peer": router_url, "template": TEMPLATE,
                                         "prefix": f"http://127.0.0.1:{port}", "price": 0}]},
            "gateway": "http://127.0.0.1:9",  # offline
        }, port)
        for i, (wallet, port) in enumerate(zip(worker_wallets, worker_ports, strict=True))
    ]
    configs.append((root / "router", router_wallet, {
        "operator": operator.address,
        "route_owners": [operator.address, *(w.address for w in worker_wallets)],
        "on": {"request": {"device": "router@1.0", "path": "preprocess"}},
        "routes": [{"template": "^/w1", "priority": 10,
                    "node": {"match": "^/w1", "with": f"http://127.0.0.1:{worker_ports[1]}"}},
                   {"template": "^/~scheduler@1.0", "priority": 20,
                    "node": {"prefix": f"http://127.0.0.1:{worker_ports[0]}"}},
                   {"template": "^/all/", "priority": 30, "nodes": [
                       {"match": "^/all", "with": f"http://127.0.0.1:{free_port()}"},  # nothing listens there
                       *({"match": "^/all", "with": f"http://127.0.0.1:{port}"} for port in worker_ports)]}],
    }, router_port))
    nodes: list[Node] = []
    try:
        with ThreadPoolExecutor(3) as pool:  # the nodes start at once
            nodes.extend(pool.map(lambda c: _node(*c), configs))
        # each worker announces itself (twice for the first: a second registration changes nothing)
        registrations = [_get(nodes[0], "/~router@1.0/register"), _get(nodes[1], "/~router@1.0/register"),
                         _get(nodes[0], "/~router@1.0/register")]
        yield Cluster(nodes[2], nodes[:2], router_wallet, worker_wallets, operator, registrations)
    finally:
        for node in nodes:
            stop(node)
        client.close()


def _get(node: Node, path: str) -> httpx.Response:
    return httpx.get(node.url + path, timeout=30)


def test_workers_register_and_the_router_lists_them(cluster: Cluster) -> None:
    for response in cluster.registrations:
        assert response.status_code == 200, response.text
        assert response.text == "Routes registered."
    table = client.get(cluster.router.url, "/~router@1.0/routes", {"http_only_result": False})
    assert table.status == "ok", table.value
    registered = _get(cluster.router, "/~router@1.0/routes/4/template")
    assert registered.text == TEMPLATE
    prefixes = {_get(cluster.router, f"/~router@1.0/routes/4/nodes/{i}/prefix").text for i in (1, 2)}
    assert prefixes == {w.url for w in cluster.workers}
    assert _get(cluster.router, "/~router@1.0/routes/4/nodes/3/prefix").status_code == 404
    assert _get(cluster.router, "/~router@1.0/routes/1/priority").text == "10"
    assert _get(cluster.router, "/~router@1.0/routes/4/template").text == TEMPLATE


def test_preprocess_relays_to_a_worker_and_returns_its_signed_answer(cluster: Cluster) -> None:
    for i in range(4):
        response = _get(cluster.router, f"/~message@1.0&hello=world{i}/hello")
        assert response.status_code == 200, response.text
        assert response.text == f"world{i}"
        found = set(signers(verified(response)))
        assert found & {w.address for w in cluster.worker_wallets}, found  # a worker signed it
        assert cluster.router_wallet.address not in found  # and the router passed it on as it was


def test_a_route_to_all_nodes_relays_to_them_in_turn(cluster: Cluster) -> None:
    """No strategy: a multirequest, one node after another until one answers (the first is
    down); the answer is the first worker's, signed by it."""
    response = _get(cluster.router, "/all/~message@1.0&hello=everyone/hello")
    assert response.status_code == 200 and response.text == "everyone", response.text
    assert cluster.worker_wallets[0].address in signers(verified(response))


def test_signed_messages_are_scheduled_through_the_router(cluster: Cluster) -> None:
    """A signed process and a signed message POSTed to the router are scheduled by the worker
    its route names, which signs the assignments."""
    user = Wallet.generate()
    process = commit({"device": b"scheduler@1.0", "type": b"Process", "test-random-seed": random.randint(1, 10**15 - 1),
                      "scheduler-location": cluster.worker_wallets[0].address.encode()}, user)
    proc_id = message_id(process, committers="all")
    with httpx.Client(base_url=cluster.router.url, timeout=30) as http:
        spawned = post(http, signed({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process}, user))
        assert spawned.status_code == 200, spawned.text
        assert cluster.worker_wallets[0].address in signers(verified(spawned))
        body = commit({"target": proc_id.encode(), "type": b"Message", "n": 1}, user)
        sent = post(http, signed({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": body}, user))
        assert sent.status_code == 200, sent.text
        assert sent.headers.get("slot") == "1"
    slot = httpx.get(f"{cluster.workers[0].url}/~scheduler@1.0/slot?target={proc_id}", timeout=30)
    assert slot.status_code == 200 and "1" in slot.headers.get("current", slot.text), slot.text


def test_requests_no_route_matches_run_on_the_router(cluster: Cluster) -> None:
    response = _get(cluster.router, "/~meta@1.0/info/address")
    assert response.status_code == 200 and response.text == cluster.router_wallet.address
    assert cluster.router_wallet.address in signers(verified(response))


def test_a_rewritten_route_keeps_its_path(cluster: Cluster) -> None:
    """`^/w1` rewritten to worker 1's URL: the worker answers the rewritten path (the
    reference drops the rewrite and sends `/w1/...`)."""
    response = _get(cluster.router, "/w1/~meta@1.0/info/address")
    assert response.status_code == 200, response.text
    assert response.text == cluster.worker_wallets[1].address
    assert cluster.worker_wallets[1].address in signers(verified(response))


def test_route_lookups(cluster: Cluster) -> None:
    uri = _get(cluster.router, "/~router@1.0/route/uri?route-path=/~message@1.0/x")
    assert uri.status_code == 200 and uri.text in {w.url + "/~message@1.0/x" for w in cluster.workers}
    explicit = _get(cluster.router, "/~router@1.0/route?route-path=https://example.com/a")
    assert explicit.text == "https://example.com/a"
    missing = _get(cluster.router, "/~router@1.0/route?route-path=/nowhere")
    assert missing.status_code == 404 and "/nowhere" in missing.text


def test_only_route_owners_add_routes(cluster: Cluster) -> None:
    route = {"path": "/~router@1.0/routes", "method": "POST", "template": "/added", "priority": 5,
             "node": "http://new.example"}
    message = signed(route, cluster.operator)
    with httpx.Client(base_url=cluster.router.url, timeout=30) as http:
        stranger = post(http, signed(route, Wallet.generate()))
        assert stranger.status_code == 403 and "not_authorized" in stranger.text
        assert post(http, route).status_code == 403  # unsigned
        added = post(http, message)
        assert added.status_code == 200 and added.text == "Route added.", added.text
        assert post(http, message).status_code == 200  # a replay is applied once
    assert _get(cluster.router, "/~router@1.0/routes/1/node").text == "http://new.example"
    assert _get(cluster.router, "/~router@1.0/routes/2/priority").text == "10"
    assert _get(cluster.router, "/~router@1.0/routes/6/node").status_code == 404


# --- the routing process (dynamic-router, §3.10; local_dynamic_router_test_) ---

@pytest.fixture(scope="module")
def dynamic(cluster: Cluster) -> Iterator[InProcess]:
    """A router in this process whose table is a routing process; the two workers registered
    with it (their signed registrations, prices 250 and 500)."""
    app = create_app({"store": MemoryStore(), "priv_wallet": Wallet.generate(),
                      **router_options([w.address for w in cluster.worker_wallets], pricing_weight=9,
                                       performance_weight=1, score_preference=1)})
    node = InProcess(app)
    for i, (worker, wallet) in enumerate(zip(cluster.workers, cluster.worker_wallets, strict=True)):
        registration = commit({"method": "POST", "subject": "self", "action": "register",
                               "route": {"template": TEMPLATE, "prefix": worker.url, "price": 250 * (i + 1)}}, wallet)
        assert post(node, {**registration, "path": "/~router@1.0/routes"}).text == "Route added."
    yield node
    app.close()


def test_the_routing_process_weighs_the_registered_workers(cluster: Cluster, dynamic: InProcess) -> None:
    routes = dynamic.get("/router~node-process@1.0/now/routes/1/template")
    assert routes.status_code == 200 and routes.text == TEMPLATE, routes.text
    weights = {}
    for i in (1, 2):
        prefix = dynamic.get(f"/router~node-process@1.0/now/routes/1/nodes/{i}/prefix").text
        weights[prefix] = float(dynamic.get(f"/router~node-process@1.0/now/routes/1/nodes/{i}/weight").text)
    assert set(weights) == {w.url for w in cluster.workers}
    # equal performance; pricing weighs 9 to 1: the cheaper worker (price 250) weighs more
    assert weights[cluster.workers[0].url] > weights[cluster.workers[1].url]
    # the node's routes come from the process: lookups spread over both workers (By-Weight; the
    # pricier one weighs 0.65 against 1, so 15 lookups all miss it with probability 0.0006)
    uris = {dynamic.get("/~router@1.0/route/uri?route-path=/~message@1.0/now").text for _ in range(15)}
    assert uris == {w.url + "/~message@1.0/now" for w in cluster.workers}


def test_the_routing_process_relays_to_a_worker(cluster: Cluster, dynamic: InProcess) -> None:
    response = dynamic.get("/~message@1.0&hello=dynamic/hello")
    assert response.status_code == 200 and response.text == "dynamic", response.text
    assert set(signers(verified(response))) & {w.address for w in cluster.worker_wallets}


def test_the_routing_process_refuses_strangers(dynamic: InProcess) -> None:
    stranger = Wallet.generate()
    registration = {**signed({"method": "POST", "subject": "self", "action": "register",
                              "route": {"template": "/x", "prefix": "http://evil.example"}}, stranger),
                    "path": "/~router@1.0/routes"}
    post(dynamic, registration)
    assert dynamic.get("/router~node-process@1.0/now/routes/2").status_code == 404
    assert dynamic.get("/router~node-process@1.0/now/results/status").text == "error"
