"""`client.request_routed` follows the node's route table to real peers on loopback
(`peer_server`): one node with its `opts`, strategies, and multirequests (serial, parallel,
`responses`, `admissible-status`, bounded waits)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aonode_process import free_port
from peer_server import Peer, running_peer

from aonode.codecs import signers, verify
from aonode.core import routes
from aonode.net import client


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[Peer, Peer]]:
    with running_peer() as one, running_peer() as two:
        yield one, two
    client.close()


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_relative_path_goes_to_its_routes_node_with_the_nodes_opts(peers: tuple[Peer, Peer]) -> None:
    one, _ = peers
    opts = {"routes": [{"template": "/result", "node": {"prefix": one.url, "opts": {"http_only_result": False}}},
                       {"template": "/.*", "node": {"prefix": one.url}}]}
    answer = client.request_routed({"path": "/echo?x=1", "method": "POST", "key": "v"}, opts)
    assert answer.status == "ok" and answer.value["seen-path"] == b"/echo?x=1"
    assert answer.value["seen-method"] == b"POST"
    assert b"key" in answer.value["seen-keys"].split(b",") and b"path" not in answer.value["seen-keys"].split(b",")
    verify(answer.value)
    assert one.wallet.address in signers(answer.value)
    # the route's node opts apply to this request only: the whole message, not just `ao-result`'s key
    whole = client.request_routed({"path": "/result"}, opts)
    assert whole.status == "ok" and whole.value["body"] == b"hello"
    assert client.request_routed({"path": "/result"}, {"routes": opts["routes"][1:]}).value == b"hello"


def test_route_path_chooses_the_route_and_no_route_is_a_502(peers: tuple[Peer, Peer]) -> None:
    one, _ = peers
    opts = {"routes": [{"template": "/only-this", "node": {"match": "^/only-this", "with": one.url + "/echo"}}]}
    answer = client.request_routed({"path": "/only-this"}, opts)
    assert answer.status == "ok" and answer.value["seen-path"] == b"/echo"
    missing = client.request_routed({"path": "/elsewhere"}, opts)
    assert missing.status == "error" and missing.value["status"] == 502
    assert b"no viable route for path '/elsewhere'" in missing.value["body"]
    bad = client.request_routed({"path": "/x"}, {"routes": [{"nodes": [{"prefix": one.url}], "strategy": "Best"}]})
    assert bad.value["status"] == 502 and b"unknown strategy" in bad.value["body"]


def test_a_strategy_sends_to_the_chosen_node(peers: tuple[Peer, Peer]) -> None:
    one, two = peers
    table = [{"nodes": [{"prefix": one.url}, {"prefix": two.url}], "strategy": "By-Base"}]
    seen = set()
    for name in ("a", "b", "c", "d", "e", "f", "g", "h"):
        answer = client.request_routed({"path": f"/echo?{name}"}, {"routes": table})
        assert answer.status == "ok"
        seen |= set(signers(answer.value)) & {one.wallet.address, two.wallet.address}
    assert seen == {one.wallet.address, two.wallet.address}


def test_all_nodes_serially_until_one_answers(peers: tuple[Peer, Peer]) -> None:
    """The default for `nodes` without a strategy: try each in order (a dead one, one that
    answers 500) until an admissible answer."""
    one, two = peers
    table = [{"template": "/echo", "nodes": [
        {"prefix": _dead()},
        {"match": "^/echo", "with": one.url + "/status/500"},
        {"prefix": two.url},
    ]}]
    answer = client.request_routed({"path": "/echo"}, {"routes": table, "http_connect_timeout": 500})
    assert answer.status == "ok" and two.wallet.address in signers(answer.value)
    # none admissible: a 502 that names every node's outcome
    table[0]["nodes"] = table[0]["nodes"][:2]  # type: ignore[index]
    failed = client.request_routed({"path": "/echo"}, {"routes": table, "http_connect_timeout": 500})
    assert failed.status == "error" and failed.value["status"] == 502
    assert b"no viable responses" in failed.value["body"] and b"status/500" in failed.value["body"]


def test_admissible_status_and_responses(peers: tuple[Peer, Peer]) -> None:
    one, two = peers
    table = [{"template": "/s", "admissible-status": "404, 201", "nodes": [
        {"match": "^/s", "with": one.url + "/status/200"},
        {"match": "^/s", "with": one.url + "/status/201"},
        {"match": "^/s", "with": two.url + "/status/404"},
    ]}]
    first = client.request_routed({"path": "/s"}, {"routes": table})
    assert first.status == "created" and first.value["status"] == 201
    # error answers are never admissible, whatever the statuses allow: two wanted, one found
    both = client.request_routed({"path": "/s", "multirequest-responses": 2}, {"routes": table})
    assert both.status == "ok" and [m["status"] for m in both.value] == [201]
    table[0]["admissible-status"] = [200, 201]
    both = client.request_routed({"path": "/s", "multirequest-responses": 2}, {"routes": table})
    assert both.status == "ok" and [m["status"] for m in both.value] == [200, 201]
    # `multirequest-*` keys of an unsigned message are not sent
    echo = [{"template": "/echo", "nodes": [{"prefix": one.url}]}]
    answer = client.request_routed({"path": "/echo", "multirequest-responses": 1, "k": 1}, {"routes": echo})
    assert b"multirequest-responses" not in answer.value["seen-keys"]


def test_parallel_returns_the_first_answers_and_waits_a_bounded_time(peers: tuple[Peer, Peer]) -> None:
    one, two = peers
    fast = [{"match": "^/p", "with": one.url + "/echo"}, {"match": "^/p", "with": two.url + "/echo"}]
    slow = {"match": "^/p", "with": one.url + "/slow"}
    table = [{"template": "/p", "parallel": True, "responses": 2, "nodes": [slow, *fast]}]
    answer = client.request_routed({"path": "/p"}, {"routes": table})
    assert answer.status == "ok" and len(answer.value) == 2
    assert {s for m in answer.value for s in signers(m)} >= {one.wallet.address, two.wallet.address}
    # three wanted, one never answers: the wait ends at multirequest-timeout with the two
    waited = client.request_routed({"path": "/p", "multirequest-responses": 3, "multirequest-timeout": 400},
                                   {"routes": table})
    assert waited.status == "ok" and len(waited.value) == 2
    # only the silent node: a 502 saying so, after the timeout
    alone = [{"template": "/p", "parallel": True, "nodes": [slow]}]
    nothing = client.request_routed({"path": "/p", "multirequest-timeout": 300}, {"routes": alone})
    assert nothing.status == "error" and nothing.value["status"] == 502
    assert b"did not answer" in nothing.value["body"]


def test_a_strategy_fails_over_to_its_next_choice_when_a_node_cannot_be_reached(peers: tuple[Peer, Peer]) -> None:
    """By-Base's first choice is down (nothing listens): the request goes to its next choice,
    which is safe, as the first never saw it. A node that answers, even with an error, is
    not retried elsewhere."""
    one, _ = peers
    dead = _dead()
    table = [{"nodes": [{"prefix": dead}, {"prefix": one.url}], "strategy": "By-Base"}]
    # paths whose By-Base first choice is the dead node (index 0)
    paths = [p for p in (f"/echo?n={i}" for i in range(40))
             if int.from_bytes(routes.base_of({"path": p}), "big") % 2 == 0][:3]
    assert paths
    for path in paths:
        found = routes.route({"path": path}, table)
        assert isinstance(found, routes.Target) and found.uri.startswith(dead)
        answer = client.request_routed({"path": path}, {"routes": table, "http_connect_timeout": 1000})
        assert answer.status == "ok" and one.wallet.address in signers(answer.value)
    refused = client.request_routed({"path": "/x"}, {"routes": [{"node": {"prefix": dead}}]})
    assert client.unreached(refused) and refused.value["status"] == 502
    erring = client.request_routed({"path": "/status/500"}, {"routes": [
        {"nodes": [{"prefix": one.url}, {"prefix": dead}], "strategy": "Random"}]})
    assert not client.unreached(erring)


ADMISSIBLE = b"""
function check(base, answer)
    if answer["seen-path"] ~= nil then return "true" end
    return "false"
end
"""


def test_an_admissible_message_judges_each_answer(peers: tuple[Peer, Peer]) -> None:
    """`admissible` is resolved with each answer (its `path` names the key): only an answer
    it says `true` to counts."""
    one, two = peers
    admissible = {"device": "lua@5.3a", "path": "check",
                  "module": {"content-type": "application/lua", "body": ADMISSIBLE}}
    table = [{"template": "/a", "admissible": admissible, "nodes": [
        {"match": "^/a", "with": one.url + "/status/200"},  # answers, but has no seen-path
        {"match": "^/a", "with": two.url + "/echo"},
    ]}]
    answer = client.request_routed({"path": "/a"}, {"routes": table})
    assert answer.status == "ok" and two.wallet.address in signers(answer.value)
    table[0]["nodes"] = table[0]["nodes"][:1]  # type: ignore[index]
    refused = client.request_routed({"path": "/a"}, {"routes": table})
    assert refused.status == "error" and refused.value["status"] == 502


def test_the_schedulers_gateway_reads_follow_the_route_table_unless_a_gateway_is_set(
        peers: tuple[Peer, Peer]) -> None:
    """scheduler@1.0's `/raw` and `/graphql` reads go where the route table sends them on a node
    without a `gateway` option (as the reference's gateway client), and to `gateway` when set."""
    from aonode.devices import _scheduler_remote as remote
    from aonode.errors import AOError

    one, two = peers
    table = [{"template": "^/raw/", "node": {"prefix": one.url}},
             {"template": "^/graphql", "node": {"prefix": one.url}}]
    before = len(one.requests)
    with pytest.raises(AOError):  # the peer has no such item: 404
        remote.fetch_data("some-item", {"routes": table})
    with pytest.raises(remote.GatewayUnavailable):  # the peer answers /graphql with a 404
        remote.gateway_scheduler_location("addr", {"routes": table})
    assert [r["url-path"] for r in one.requests[before:]] == ["/raw/some-item", "/graphql"]
    before_two = len(two.requests)
    with pytest.raises(AOError):
        remote.fetch_data("other-item", {"routes": table, "gateway": two.url})
    assert [r["url-path"] for r in two.requests[before_two:]] == ["/raw/other-item"]
