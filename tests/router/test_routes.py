"""The route table (`aonode.core.routes`): the reference's dev_router tests that need no node
(node-services.md §16), each strategy checked against its formula, and the fixed defects
(§17.3 items 5 and 14)."""

from __future__ import annotations

import hashlib
import random
import statistics

import pytest

from aonode.core import options, routes
from aonode.core.routes import Multi, Target
from aonode.crypto._b64 import b64url_decode, b64url_encode

ID = b64url_encode(hashlib.sha256(b"some process").digest())


def _nodes(count: int) -> list[dict[str, object]]:
    return [{"prefix": f"http://node-{i}", "wallet": b64url_encode(hashlib.sha256(b"w%d" % i).digest())}
            for i in range(count)]


def _uris(found: object) -> list[str]:
    if isinstance(found, Target):
        return [found.uri]
    assert isinstance(found, Multi)
    return [t.uri for t in found.nodes]


# --- templates (route_template_message_matches_test, route_regex_matches_test, explicit_route_test) ---

def test_map_templates_pick_the_matching_route_and_a_templateless_route_catches_the_rest() -> None:
    table = [
        {"template": {"other-key": "other-value"}, "node": "incorrect"},
        {"template": {"special-key": "special-value"}, "node": "correct"},
    ]
    assert routes.route({"path": "/", "special-key": "special-value"}, table) == Target("correct", {}, {}, "routes/2")
    assert routes.route({"path": "/", "special-key": "special-value2"}, table) is None
    assert routes.route({"path": "/", "special-key": b"special-value2"}, [*table, {"node": "fallback"}]) \
        == Target("fallback", {}, {}, "routes/3")


def test_map_templates_compare_keys_case_insensitively_recursively_and_with_wildcards() -> None:
    template = {"Action": "Eval", "tags": {"kind": "_"}}
    assert routes.template_matches({"action": b"Eval", "tags": {"kind": b"x", "more": 1}}, template)
    assert not routes.template_matches({"action": b"Eval", "tags": {"other": 1}}, template)
    assert not routes.template_matches({"action": b"Eval"}, template)
    assert routes.template_matches({"n": b"7"}, {"n": 7})
    # keys a signature or a codec adds do not count
    assert routes.template_matches({"a": 1}, {"a": 1, "commitments": {"x": {}}, "content-type": "x"})


def test_regex_templates_search_the_path() -> None:
    table = [{"template": "/.*/schedule", "node": "sched"}]
    assert _uris(routes.route({"path": "/abc/schedule"}, table)) == ["sched"]
    assert _uris(routes.route({"path": "/a/b/c/schedule"}, table)) == ["sched"]
    assert routes.route({"path": "/a/b/c/bad-key"}, table) is None
    # unanchored, both sides given a leading slash, `*` alone matches everything
    assert routes.regex_matches("/x/c/y", "/c") and routes.regex_matches("c?x", "c")
    assert routes.regex_matches("/anything", "*")
    assert routes.regex_matches("/~meta@1.0/info", "/~meta@1.0/*")
    assert not routes.regex_matches("/xarweave", "^/arweave")
    # route-path wins over path
    assert _uris(routes.route({"path": "/route", "route-path": "/p/schedule"}, table)) == ["sched"]


def test_bad_and_catastrophic_patterns_are_no_match() -> None:
    for pattern in ("[", "(a+)+$", "(a|aa)*b", "(x*)*y", r"(\w+)\1", "(?:a*)+", ".*.*.*x", "a" * 2000):
        assert routes.safe_pattern(pattern) is None, pattern
        assert not routes.regex_matches("/" + "a" * 5000, pattern)
    for pattern in ("/.*~process@1.0/.*", "^/arweave", "/result/.*", "/.*/.*/x", "a{1,50}"):
        assert routes.safe_pattern(pattern) is not None, pattern
    # the path is searched only up to MAX_PATH characters
    assert not routes.regex_matches("/" + "a" * routes.MAX_PATH + "needle", "needle")


def test_explicit_urls_route_to_themselves() -> None:
    for url in ("https://example.com/a?b=1", "http://127.0.0.1:9/x"):
        assert routes.route({"path": url}, []) == Target(url, {}, {}, "explicit")
        assert routes.match_route({"path": "/router", "route-path": url}, []) == {"node": url, "reference": "explicit"}


def test_the_default_table_routes_genesis_wasm_arweave_and_graphql() -> None:
    table = options.get({}, "routes")
    assert _uris(routes.route({"path": "/result/abc?process-id=x"}, table)) == ["http://localhost:6363/result/abc?process-id=x"]
    arweave = routes.route({"path": "/arweave/tx/abc"}, table)
    assert isinstance(arweave, Target) and arweave.uri == "https://arweave.net/tx/abc"
    assert arweave.opts == {"http_client": "httpc", "protocol": "http2"}
    graphql = routes.route({"path": "/graphql"}, table)
    assert isinstance(graphql, Multi) and len(graphql.nodes) == 3
    assert graphql.nodes[2].uri == "https://arweave.net/graphql"
    assert routes.route({"path": "/status/200"}, table) is None


def test_rewriting_prefix_suffix_and_match_with() -> None:
    assert routes.rewrite("/a/b", {"prefix": "http://h:1"}) == "http://h:1/a/b"
    assert routes.rewrite("/a/b", {"suffix": "?x=1"}) == "/a/b?x=1"
    assert routes.rewrite("/a/b/a", {"match": "/a", "with": "/z"}) == "/z/b/z"  # global, as re:replace [global]
    assert routes.rewrite("/p/123/x", {"match": r"^/p/(\d+)", "with": r"http://h/q/\1&"}) == "http://h/q/123/p/123/x"
    assert routes.rewrite("/p", {"match": "(", "with": "x"}) is None
    # prefix wins over suffix, suffix over match/with
    assert routes.rewrite("/a", {"prefix": "P", "suffix": "S", "match": "a", "with": "b"}) == "P/a"
    assert routes.rewrite("/a", {"suffix": "S", "match": "a", "with": "b"}) == "/aS"


def test_a_node_map_without_a_rewrite_rule_is_not_viable() -> None:
    """The reference crashes (function clause); here such a node is skipped."""
    assert routes.route({"path": "/x"}, [{"node": {"host": "h"}}]) is None
    found = routes.route({"path": "/x"}, [{"nodes": [{"host": "h"}, {"prefix": "http://ok"}]}])
    assert _uris(found) == ["http://ok/x"]


def test_node_opts_and_references_travel_with_the_target() -> None:
    table = [{"template": "/x", "node": {"prefix": "http://h", "opts": {"http_client": "httpc"}}}]
    assert routes.route({"path": "/x"}, table) == Target("http://h/x", {"http_client": "httpc"},
                                                        table[0]["node"], "routes/1")  # type: ignore[arg-type]
    multi = routes.route({"path": "/x"}, [{"nodes": _nodes(2)}])
    assert isinstance(multi, Multi)
    assert [t.reference for t in multi.nodes] == ["routes/1/nodes/1", "routes/1/nodes/2"]


def test_ten_or_more_routes_are_tried_in_list_order() -> None:
    """The reference enumerates 10+ routes in binary key order (1, 10, 11, 2, ...)."""
    table = [{"template": f"/r{i}", "node": f"n{i}"} for i in range(1, 12)]
    table.insert(1, {"template": "/r1", "node": "second"})
    assert _uris(routes.route({"path": "/r10"}, table)) == ["n1"]  # `/r1` matches first, in list order
    assert _uris(routes.route({"path": "/r9"}, table)) == ["n9"]


def test_a_numbered_message_is_a_route_table() -> None:
    table = {"2": {"node": "second"}, "1": {"template": "/a", "node": "first"}, "10": {"node": "tenth"}}
    assert _uris(routes.route({"path": "/a"}, table)) == ["first"]
    assert _uris(routes.route({"path": "/b"}, table)) == ["second"]


# --- the base and the strategies ---

def test_the_base_is_the_first_segment_as_an_id_else_its_sha256() -> None:
    raw = hashlib.sha256(b"some process").digest()
    assert routes.base_of({"path": f"/{ID}/now"}) == raw
    assert routes.base_of({"path": f"/{ID}~process@1.0/now"}) == raw
    assert routes.base_of({"path": f"{ID}?slot=1"}) == raw
    assert routes.base_of({"path": "/~meta@1.0/info"}) == hashlib.sha256(b"~meta@1.0").digest()
    assert routes.base_of({"path": "/"}) == hashlib.sha256(b"").digest()


def test_by_base_is_the_base_modulo_the_nodes_left() -> None:
    nodes = _nodes(7)
    for i in range(50):
        path = f"/{b64url_encode(hashlib.sha256(b'%d' % i).digest())}/compute"
        number = int.from_bytes(routes.base_of({"path": path}), "big")
        found = routes.route({"path": path}, [{"nodes": nodes, "strategy": "By-Base", "choose": 3}])
        left = [str(n["prefix"]) for n in nodes]
        expected = []
        for _ in range(3):
            expected.append(left.pop(number % len(left)) + path)
        assert _uris(found) == expected
        # by_base_determinism_test: the same request always goes to the same node
        again = routes.route({"path": path}, [{"nodes": nodes, "strategy": "By-Base"}])
        assert _uris(again) == expected[:1]


def test_nearest_picks_the_wallets_closest_on_the_ring() -> None:
    nodes = _nodes(9)
    for i in range(30):
        path = f"/{b64url_encode(hashlib.sha256(b'n%d' % i).digest())}~process@1.0/now"
        base = int.from_bytes(routes.base_of({"path": path}), "big")

        def distance(node: dict[str, object], base: int = base) -> int:
            wallet = int.from_bytes(b64url_decode(str(node["wallet"])), "big")
            diff = abs(wallet - base)
            return min(diff, 2**256 - diff)

        expected = [str(n["prefix"]) + path for n in sorted(nodes, key=distance)[:2]]
        found = routes.route({"path": path}, [{"nodes": nodes, "strategy": "Nearest", "choose": 2}])
        assert _uris(found) == expected
    assert routes.field_distance(1, 2**256 - 1) == 2
    assert routes.field_distance(5, 9) == 4


@pytest.mark.parametrize("strategy", ["Random", "By-Base", "Nearest", "By-Weight"])
def test_choosing_as_many_or_more_than_there_are_gives_each_node_once(strategy: str) -> None:
    """strategy_suite_test_: choose 5 of 5 gives 5 distinct nodes; choose 9 of 5 (a crash in
    the reference) gives the 5."""
    nodes = [{**n, "weight": 1} for n in _nodes(5)]
    for count in (5, 9):
        found = routes.route({"path": "/x"}, [{"nodes": nodes, "strategy": strategy, "choose": count}])
        assert isinstance(found, Multi)
        assert sorted(_uris(found)) == sorted(f"{n['prefix']}/x" for n in nodes)


@pytest.mark.parametrize("strategy", ["Random", "By-Base", "Nearest"])
def test_choosing_one_of_twenty_spreads_requests_within_three_sigma(strategy: str) -> None:
    """strategy_suite_test_: 1500 requests over 20 nodes; the mean is exact and the busiest
    node gets at most mean + 3 sigma of the counts. Random and By-Base also stay within 4 sigma
    of a binomial spread (Nearest's cells on the ring are as unequal as the wallets make them)."""
    nodes = _nodes(20)
    rng = random.Random(7)
    counts = dict.fromkeys((str(n["prefix"]) for n in nodes), 0)
    for i in range(1500):
        path = f"/{b64url_encode(hashlib.sha256(b'r%d' % i).digest())}/now"
        found = routes.route({"path": path}, [{"nodes": nodes, "strategy": strategy}], rng=rng)
        assert isinstance(found, Target)
        counts[found.uri[: -len(path)]] += 1
    assert statistics.mean(counts.values()) == 1500 / 20
    assert max(counts.values()) <= 1500 / 20 + 3 * statistics.pstdev(counts.values())
    if strategy != "Nearest":
        sigma = (1500 * (1 / 20) * (19 / 20)) ** 0.5
        assert max(counts.values()) <= 75 + 4 * sigma and min(counts.values()) >= 75 - 4 * sigma


def test_by_weight_draws_in_proportion_to_the_weights() -> None:
    """weighted_random_strategy_test: weights 1 and 99, 1000 draws: the first gets < 5%."""
    nodes = [{"prefix": "http://light", "weight": 1}, {"prefix": "http://heavy", "weight": "99"}]
    rng = random.Random(11)
    picks = [_uris(routes.route({"path": "/x"}, [{"nodes": nodes, "strategy": "By-Weight"}], rng=rng))[0]
             for _ in range(1000)]
    share = picks.count("http://light/x") / 1000
    assert 0.0001 <= share < 0.05
    # three weights: each share within 4 sigma of weight / total
    nodes3 = [{"prefix": f"http://w{w}", "weight": w} for w in (1, 3, 6)]
    draws = [_uris(routes.route({"path": "/y"}, [{"nodes": nodes3, "strategy": "By-Weight"}], rng=rng))[0]
             for _ in range(4000)]
    for weight in (1, 3, 6):
        p = weight / 10
        observed = draws.count(f"http://w{weight}/y") / 4000
        assert abs(observed - p) <= 4 * (p * (1 - p) / 4000) ** 0.5
    # a node with no usable weight is never drawn while another has weight
    zero = [{"prefix": "http://zero", "weight": "nope"}, {"prefix": "http://one", "weight": 1}]
    assert {_uris(routes.route({"path": "/"}, [{"nodes": zero, "strategy": "By-Weight"}], rng=rng))[0]
            for _ in range(50)} == {"http://one/"}


def test_random_is_uniform() -> None:
    nodes = _nodes(4)
    rng = random.Random(5)
    firsts = [_uris(routes.route({"path": "/z"}, [{"nodes": nodes, "strategy": "Random"}], rng=rng))[0]
              for _ in range(4000)]
    shares = [firsts.count(f"{n['prefix']}/z") / 4000 for n in nodes]
    assert statistics.pstdev(shares) < 0.02 and min(shares) > 0.2


def test_all_or_no_strategy_is_a_multirequest_and_bad_settings_are_errors() -> None:
    nodes = _nodes(3)
    for route in ({"nodes": nodes}, {"nodes": nodes, "strategy": "All"}):
        found = routes.route({"path": "/q"}, [route])
        assert isinstance(found, Multi) and len(found.nodes) == 3
    with pytest.raises(ValueError, match="unknown strategy"):
        routes.route({"path": "/q"}, [{"nodes": nodes, "strategy": "Fastest"}])
    with pytest.raises(ValueError, match="choose"):
        routes.route({"path": "/q"}, [{"nodes": nodes, "strategy": "Random", "choose": 0}])
    with pytest.raises(ValueError, match="choose"):
        routes.route({"path": "/q"}, [{"nodes": nodes, "strategy": "Random", "choose": "many"}])


def test_match_with_rewrites_the_whole_path_up_to_a_bound() -> None:
    long_path = "/arweave/" + "x" * 3000
    assert routes.rewrite(long_path, {"match": "^/arweave", "with": "https://a"}) == "https://a/" + "x" * 3000
    too_long = "/arweave/" + "x" * routes.MAX_REWRITE
    assert routes.rewrite(too_long, {"match": "^/arweave", "with": "https://a"}) is None
    assert routes.rewrite(too_long, {"prefix": "https://a"}) == "https://a" + too_long


def test_a_relative_path_is_rewritten_with_its_leading_slash() -> None:
    assert _uris(routes.route({"path": "user-path"}, [{"node": {"prefix": "http://h:1"}}])) == ["http://h:1/user-path"]
