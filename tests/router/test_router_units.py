"""router@1.0 and relay@1.0 on a node in this process (`create_app`), with real peers on
loopback (`peer_server`): route providers, reading the table, Nearest relaying, relay@1.0 as
the request hook, `commit-request`, and the routing process's performance weighing (the
reference's dev_router and dev_relay tests that need one node, node-services.md §16)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from aonode_process import InProcess, free_port, post, signed
from peer_server import Peer, running_peer

from aonode.codecs import commit, signers
from aonode.core import routes
from aonode.core.resolver import resolve_path
from aonode.crypto import Wallet
from aonode.http.server import NodeApp, create_app
from aonode.net import client
from aonode.routing import router_options
from aonode.store import MemoryStore

PROVIDER_SCRIPT = b"""
function provider(base, req)
    return { { template = "*", node = base.node } }
end
"""


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[Peer, Peer]]:
    with running_peer() as one, running_peer() as two:
        yield one, two
    client.close()


@pytest.fixture
def make(wallet: Wallet) -> Iterator[Any]:
    apps: list[NodeApp] = []

    def build(**opts: Any) -> InProcess:
        app = create_app({"store": MemoryStore(), "priv_wallet": wallet, **opts})
        apps.append(app)
        return InProcess(app)

    yield build
    for app in apps:
        app.close()


def _nearest(peers: tuple[Peer, Peer], path: str) -> Peer:
    base = routes.base_int(routes.base_of({"path": path}))
    from aonode.crypto._b64 import b64url_decode

    def distance(peer: Peer) -> int:
        return routes.field_distance(int.from_bytes(b64url_decode(peer.wallet.address), "big"), base)

    return min(peers, key=distance)


def _nearest_route(peers: tuple[Peer, Peer], template: str = "^/echo") -> dict[str, Any]:
    return {"template": template, "strategy": "Nearest",
            "nodes": [{"prefix": p.url, "wallet": p.wallet.address} for p in peers]}


def test_a_static_provider_gives_the_routes(make: Any) -> None:
    """test_provider_test"""
    node = make(router_opts={"provider": {"path": "/test-key/routes", "test-key": {
        "routes": [{"template": "*", "node": "testnode"}]}}})
    assert node.get("/~router@1.0/routes/1/node").text == "testnode"


def test_a_lua_provider_gives_the_routes(make: Any) -> None:
    """dynamic_provider_test"""
    node = make(router_opts={"provider": {
        "device": "lua@5.3a", "path": "provider", "node": "test-dynamic-node",
        "module": {"content-type": "application/lua", "body": PROVIDER_SCRIPT}}})
    assert node.get("/~router@1.0/routes/1/node").text == "test-dynamic-node"


def test_a_failing_provider_is_a_502(make: Any) -> None:
    node = make(router_opts={"provider": {"path": "/~nonexistent@9.9/routes"}})
    answer = node.get("/~router@1.0/routes")
    assert answer.status_code == 502 and "route provider failed" in answer.text


def test_the_routes_key_reads_the_table(make: Any) -> None:
    """get_routes_test and device_call_from_singleton_test"""
    table = [{"template": "*", "node": "our_node", "priority": 10}]
    node = make(routes=table)
    assert node.get("/~router@1.0/routes/1/node").text == "our_node"
    found = resolve_path({"path": "/~router@1.0/routes"}, {"routes": table})
    assert found.ok and found.value[0]["node"] == "our_node"
    assert node.get("/~router@1.0/info/version").text == "1.0"


def test_match_uses_the_routes_of_the_base() -> None:
    table = [{"template": "/a", "node": "A"}, {"template": {"kind": "b"}, "node": "B"}]
    found = resolve_path({"path": "/~router@1.0/match", "routes": table, "route-path": "/a/x"}, {})
    assert found.ok and found.value["node"] == b"A" and found.value["reference"] == "routes/1"
    missing = resolve_path({"path": "/~router@1.0/match", "routes": table, "route-path": "/c"}, {})
    assert missing.status == "error"


def test_relay_call_follows_a_nearest_route(make: Any, peers: tuple[Peer, Peer]) -> None:
    """relay_nearest_test: the answer is signed by the peer nearest the request's base."""
    node = make(routes=[_nearest_route(peers)])
    for path in ("/echo", "/echo?x=1", "/echo?x=2"):
        answer = node.get(f"/~relay@1.0/call?relay-path={path}")
        assert answer.status_code == 200, answer.text
        expected = _nearest(peers, path)
        assert answer.headers["seen-path"] == path
        assert expected.wallet.address in signers(post_decode(answer))


def post_decode(response: Any) -> dict[str, Any]:
    from aonode_process import verified
    return verified(response)


def test_relay_as_the_request_hook_reroutes_everything(make: Any, peers: tuple[Peer, Peer]) -> None:
    """request_hook_reroute_to_nearest_test"""
    node = make(routes=[_nearest_route(peers, "*")], on={"request": {"device": "relay@1.0"}})
    answer = node.get("/echo")
    assert answer.status_code == 200, answer.text
    assert _nearest(peers, "/echo").wallet.address in signers(post_decode(answer))


def test_preprocess_with_commit_request_signs_the_relayed_request(make: Any, wallet: Wallet,
                                                                   peers: tuple[Peer, Peer]) -> None:
    """commit_request_test: the worker receives the request signed by the router, the user's
    own request inside it; without relay_allow_commit_request the router refuses."""
    one, _ = peers
    hook = {"request": {"device": "router@1.0", "path": "preprocess", "commit-request": True}}
    table = [{"template": "^/test-key", "node": {"prefix": one.url}}]
    node = make(routes=table, on=hook, relay_allow_commit_request=True)
    before = len(one.requests)
    node.get("/test-key")
    relayed = one.requests[before:]
    assert len(relayed) == 1 and relayed[0]["url-path"] == "/user-path"
    assert relayed[0]["verified"] and relayed[0]["signers"] == [wallet.address]
    message = relayed[0]["message"]
    assert message["device"] == b"apply@1.0" and message["user-path"] == b"/test-key"
    assert message["user-message"]["path"] == b"/test-key"
    refused = make(routes=table, on=hook).get("/test-key")
    assert refused.status_code == 403 and "relay_allow_commit_request" in refused.text


def test_preprocess_can_refuse_what_no_route_matches(make: Any) -> None:
    node = make(routes=[{"template": "^/elsewhere", "node": "http://127.0.0.1:9"}],
                on={"request": {"device": "router@1.0", "path": "preprocess"}},
                router_preprocess_default="error")
    answer = node.get("/~meta@1.0/info/address")
    assert answer.status_code == 404 and "No matching template" in answer.text


def test_the_routing_process_weighs_by_performance(make: Any, wallet: Wallet) -> None:
    """dynamic_routing_by_performance_test_ (the process's side): durations the node reports
    move a node's weight; the fastest ends above 0.5, the slowest below."""
    workers = [Wallet.generate() for _ in range(3)]
    # without the preprocess hook: nothing here is relayed, and each request would compute the table
    options = router_options([w.address for w in workers], performance_weight=99, pricing_weight=1,
                             score_preference=4)
    node = make(**{k: v for k, v in options.items() if k != "on"})
    for i, worker in enumerate(workers):
        registration = commit({"method": "POST", "subject": "self", "action": "register",
                               "route": {"template": "/p", "prefix": f"http://w{i}", "price": 0}}, worker)
        assert post(node, {**registration, "path": "/~router@1.0/routes"}).status_code == 200
    for _ in range(1):
        for i in range(3):
            report = signed({"path": "duration", "reference": f"routes/1/nodes/{i + 1}",
                             "duration": 100 * (i + 1)}, wallet)
            sent = post(node, {"path": "/router~node-process@1.0/schedule", "method": "POST", "body": report})
            assert sent.status_code == 200, sent.text
    weights = [float(node.get(f"/router~node-process@1.0/now/routes/1/nodes/{i}/weight").text)
               for i in range(1, 4)]
    assert weights[0] > 0.5 > weights[2], weights
    assert weights == sorted(weights, reverse=True)
    # a duration signed by anyone but the node changes nothing
    forged = signed({"path": "duration", "reference": "routes/1/nodes/3", "duration": 1}, workers[0])
    post(node, {"path": "/router~node-process@1.0/schedule", "method": "POST", "body": forged})
    assert float(node.get("/router~node-process@1.0/now/routes/1/nodes/3/weight").text) == weights[2]


def test_the_http_monitor_feeds_durations_to_the_routing_process(make: Any, peers: tuple[Peer, Peer]) -> None:
    """dynamic_routing_by_performance_test_ (the node's side): with `http_monitor` naming the
    routing process's schedule, each relayed request's duration reaches the node that served
    it (by the route's `http_reference`), and its performance leaves the initial 30000 ms."""
    one, _ = peers
    worker = Wallet.generate()
    node = make(**router_options([worker.address]),
                http_monitor={"method": "POST", "path": "/router~node-process@1.0/schedule"})
    registration = commit({"method": "POST", "subject": "self", "action": "register",
                           "route": {"template": "^/monitored", "prefix": one.url, "price": 1}}, worker)
    assert post(node, {**registration, "path": "/~router@1.0/routes"}).text == "Route added."
    before = len(one.requests)
    relayed = node.get("/monitored")
    assert relayed.status_code == 404, relayed.text  # the peer has no /user-path: it answers 404
    assert len(one.requests) == before + 1, relayed.text  # relayed to the worker
    deadline = time.monotonic() + 20
    performance = 30000.0
    while time.monotonic() < deadline and performance == 30000.0:
        time.sleep(0.2)
        found = node.get("/router~node-process@1.0/now/routes/1/nodes/1/performance")
        performance = float(found.text) if found.status_code == 200 else performance
    assert performance < 30000.0


def test_preprocess_fails_over_from_a_worker_that_cannot_be_reached(make: Any, peers: tuple[Peer, Peer]) -> None:
    """A Random route over a dead worker and a live one: every request reaches the live one."""
    one, _ = peers
    dead = f"http://127.0.0.1:{free_port()}"
    node = make(routes=[{"template": "^/spread", "strategy": "Random",
                         "nodes": [{"prefix": dead}, {"prefix": one.url}]}],
                on={"request": {"device": "router@1.0", "path": "preprocess"}}, http_connect_timeout=1000)
    before = len(one.requests)
    for _ in range(6):
        assert node.get("/spread").status_code == 404  # the live peer's answer to /user-path
    assert len(one.requests) == before + 6


def test_a_provider_that_sends_requests_routes_them_by_the_static_table(make: Any, peers: tuple[Peer, Peer]) -> None:
    one, _ = peers
    before = len(one.requests)
    node = make(routes=[{"template": "^/echo", "node": {"prefix": one.url}}],
                router_opts={"provider": {"device": "relay@1.0", "path": "call", "relay-path": "/echo"}})
    answer = node.get("/~router@1.0/routes")
    assert answer.status_code == 200, answer.text
    assert len(one.requests) == before + 1  # the provider's own request went by `routes`, once


def test_added_routes_are_kept_in_the_store_for_every_worker_and_restart(wallet: Wallet) -> None:
    """Two nodes on one store (as the worker processes of `--workers N`, or a node and its
    restart): a route the operator adds on one is in the other's table, once."""
    store = MemoryStore()
    first, second = (create_app({"store": store, "priv_wallet": wallet, "routes": []}) for _ in range(2))
    try:
        route = signed({"path": "/~router@1.0/routes", "method": "POST", "template": "/kept",
                        "node": "http://kept.example"}, wallet)
        assert post(InProcess(first), route).text == "Route added."
        assert post(InProcess(second), route).text == "Route added."  # a replay: applied once
        for app in (first, second):
            assert InProcess(app).get("/~router@1.0/routes/1/node").text == "http://kept.example"
            assert InProcess(app).get("/~router@1.0/routes/2").status_code == 404
        restarted = create_app({"store": store, "priv_wallet": wallet, "routes": []})
        try:
            assert InProcess(restarted).get("/~router@1.0/route?route-path=/kept").text == "http://kept.example"
        finally:
            restarted.close()
    finally:
        first.close()
        second.close()


def test_register_signs_as_another_identity_only_for_the_operator(make: Any, wallet: Wallet,
                                                                   peers: tuple[Peer, Peer]) -> None:
    one, _ = peers
    other = Wallet.generate()
    node = make(identities={"other": {"priv_wallet": other}},
                router_opts={"offered": [{"registration-peer": one.url, "template": "/t", "prefix": "http://me"}]})
    assert node.get("/~router@1.0/register?as=other").status_code == 403
    before = len(one.requests)
    answer = post(node, signed({"path": "/~router@1.0/register", "as": "other"}, wallet))
    assert answer.status_code == 404 and "registration with" in answer.text  # the peer has no router
    sent = one.requests[before:]
    assert len(sent) == 1 and sent[0]["url-path"] == "/~router@1.0/routes" and sent[0]["signers"] == [other.address]
    assert sent[0]["message"]["route"]["prefix"] == b"http://me"
    plain = node.get("/~router@1.0/register")
    assert plain.status_code == 404 and one.requests[-1]["signers"] == [wallet.address]
