"""The route table: which node an outbound message goes to (router@1.0's `route` and `match`;
node-services.md §1.5, §3.1-3.2). Pure: no I/O, no resolution; the HTTP client and
`router@1.0` load the table and act on the answer.

A route table is an ordered list of route messages (or a numbered message `{"1": .., "2": ..}`);
the first whose `template` matches wins:

* `template` a map: every key of the template is in the message with an equal value
  (`"_"` matches any value; sub-maps recursively); missing or empty matches everything.
* `template` text: a regex searched (unanchored) in the message's target path
  (`route-path`, else `path`); both get a leading `/` (a pattern starting with `^` keeps its
  start). A pattern that does not compile, or that could backtrack for long (nested or
  alternated unbounded repeats, backreferences, more than `MAX_OPEN_REPEATS` unbounded
  repeats), is no match; paths longer than `MAX_PATH` are cut there before the search.

A message whose path is an absolute `http://` or `https://` URL routes to that URL.

The matched route has one of:

* `node`: text (the URI, as it is: no rewriting), or a node map;
* `nodes`: a list of node maps, with `strategy` (`All` when absent, `Random`, `By-Base`,
  `By-Weight`, `Nearest`) and `choose` (how many, default 1).

A node map gives the URI by rewriting the target path: `prefix` + path, else path + `suffix`,
else every match of regex `match` replaced by `with` (`&` and `\\N` as in Erlang's
`re:replace`); its `opts` are options for that one request (`http_client`, ...).

`route(message, routes)` answers a `Target` (one URI and its options), a `Multi` (several
nodes: a multirequest, see `aonode.net.client`), or None (no route matches). Defects of the
reference fixed here (docs/compat.md): `choose` above the number of nodes picks them all (the
reference crashes); several chosen nodes make a proper `Multi`; a node map with no rewrite rule
is not viable (the reference crashes), nor is one whose `match` is not found in the path (the
reference sends the unchanged path as the URI), and a route without a viable node gives way to
the next matching route; a table of 10 or more routes is tried in list order.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aonode.crypto._b64 import b64url_decode
from aonode.errors import AOError
from aonode.message import is_private, normalize_key
from aonode.text import key_text

__all__ = [
    "MAX_OPEN_REPEATS",
    "MAX_PATH",
    "MAX_PATTERN",
    "MAX_REWRITE",
    "STRATEGIES",
    "Multi",
    "Target",
    "base_of",
    "base_int",
    "choose",
    "field_distance",
    "match_route",
    "regex_matches",
    "rewrite",
    "route",
    "route_list",
    "safe_pattern",
    "target_path",
    "template_matches",
]

# Paths are cut to this many characters before a regex search, and patterns longer than
# MAX_PATTERN are refused. With no nested unbounded repeats and at most MAX_OPEN_REPEATS
# unbounded ones, a search backtracks at most about MAX_PATH ** (MAX_OPEN_REPEATS + 1) steps
# (`.*.*x` over 1024 characters: ~0.15 s; three such repeats would take a minute).
MAX_PATH = 1024
MAX_PATTERN = 1024
MAX_OPEN_REPEATS = 2
# `match`/`with` rewrites the whole path (cutting it would lose its tail), so a longer path has
# no rewritten URI: the node is not viable for it.
MAX_REWRITE = 4 * MAX_PATH
STRATEGIES = ("All", "Random", "By-Base", "By-Weight", "Nearest")
_FIELD = 1 << 256

# Keys a map template ignores (hb_message:match ... primary): they differ between equal messages.
_IGNORED_KEYS = frozenset({"commitments", "hashpath", "content-type", "ao-body-key", "content-digest"})
_WILDCARD = "_"


@dataclass(frozen=True)
class Target:
    """One node to send the request to: the full `uri` and the node's `opts`; `fallbacks` are
    the nodes a strategy would choose next (a caller may try them when this one cannot be
    connected to)."""

    uri: str
    opts: Mapping[str, Any] = field(default_factory=dict)
    node: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    # The strategy's next choices, in order: where to go when this node cannot be reached.
    fallbacks: tuple[Target, ...] = ()


@dataclass(frozen=True)
class Multi:
    """Several nodes to send the request to (a route with `nodes` and strategy All, or more
    than one chosen): `route` is the matched route, with its multirequest settings."""

    route: Mapping[str, Any]
    nodes: tuple[Target, ...]


def route_list(routes: Any) -> list[Mapping[str, Any]]:
    """The routes of a table given as a list or as a numbered message, in order; entries that
    are not maps are dropped."""
    if isinstance(routes, Mapping):
        numbered = []
        for key, value in routes.items():
            name = key_text(key, errors="surrogateescape", floats=True)
            if name.isdigit():
                numbered.append((int(name), value))
        items: list[Any] = [v for _, v in sorted(numbered, key=lambda pair: pair[0])]
    elif isinstance(routes, (list, tuple)):
        items = list(routes)
    else:
        items = []
    return [item for item in items if isinstance(item, Mapping)]


def target_path(message: Mapping[str, Any]) -> str:
    """The path a message is routed by: `route-path`, else `path`, else empty."""
    for key in ("route-path", "path"):
        value = message.get(key)
        if isinstance(value, (str, bytes)):
            return key_text(value, errors="surrogateescape")
        if isinstance(value, list):
            return "/".join(key_text(part, errors="surrogateescape", floats=True) for part in value)
    return ""


# --- regex templates ---

def _sre_parser() -> Any:
    return importlib.import_module("re._parser")


_UNBOUNDED = 65535  # re's MAXREPEAT shows as this or larger


def _max_width(pattern: Any) -> int:
    try:
        return int(pattern.getwidth()[1])
    except (AttributeError, OverflowError, TypeError):
        return _UNBOUNDED


def _dangerous(items: Any, inside_repeat: bool) -> bool:
    """True when parsed regex `items` can backtrack exponentially: an unbounded repeat inside
    another repeat, an alternation under an unbounded repeat, or a backreference."""
    for op, arg in items:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return True
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            unbounded = high >= _UNBOUNDED or high - low > 64
            if unbounded and (inside_repeat or _has_branch(sub)):
                return True
            if _dangerous(sub, inside_repeat or unbounded):
                return True
        elif name == "SUBPATTERN":
            if _dangerous(arg[-1], inside_repeat):
                return True
        elif name == "BRANCH":
            if any(_dangerous(branch, inside_repeat) for branch in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT"):
            if _dangerous(arg[1], inside_repeat):
                return True
        elif name == "ATOMIC_GROUP":
            if _dangerous(arg, inside_repeat):
                return True
    return False


def _open_repeats(items: Any) -> int:
    """How many unbounded (or widely bounded) repeats parsed regex `items` holds."""
    count = 0
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            count += (high >= _UNBOUNDED or high - low > 64) + _open_repeats(sub)
        elif name == "SUBPATTERN":
            count += _open_repeats(arg[-1])
        elif name == "BRANCH":
            count += sum(_open_repeats(branch) for branch in arg[1])
        elif name in ("ASSERT", "ASSERT_NOT"):
            count += _open_repeats(arg[1])
        elif name == "ATOMIC_GROUP":
            count += _open_repeats(arg)
    return count


def _has_branch(items: Any) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "BRANCH":
            return True
        if name == "SUBPATTERN" and _has_branch(arg[-1]):
            return True
    return False


_SAFE_CACHE: dict[str, re.Pattern[str] | None] = {}
_SAFE_CACHE_MAX = 1024


def safe_pattern(pattern: str) -> re.Pattern[str] | None:
    """The compiled `pattern`, or None when it does not compile, is longer than `MAX_PATTERN`,
    or has a shape that can backtrack for long: nested or alternated unbounded repeats,
    backreferences, or more than `MAX_OPEN_REPEATS` unbounded repeats."""
    if pattern in _SAFE_CACHE:
        return _SAFE_CACHE[pattern]
    compiled: re.Pattern[str] | None
    if len(pattern) > MAX_PATTERN:
        compiled = None
    else:
        try:
            parsed = _sre_parser().parse(pattern)
            risky = _dangerous(parsed, False) or _open_repeats(parsed) > MAX_OPEN_REPEATS
            compiled = None if risky else re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError):
            compiled = None
    if len(_SAFE_CACHE) >= _SAFE_CACHE_MAX:
        _SAFE_CACHE.clear()
    _SAFE_CACHE[pattern] = compiled
    return compiled


def _leading_slash(text: str) -> str:
    return text if text.startswith("/") else "/" + text


def regex_matches(path: str, pattern: str) -> bool:
    """`pattern` searched in `path` as the reference does (both with a leading `/`, unless the
    pattern starts with `^`); an unusable pattern (see `safe_pattern`) is no match."""
    regex = pattern if pattern.startswith("^") else _leading_slash(pattern)
    compiled = safe_pattern(regex)
    if compiled is None:
        return False
    return compiled.search(_leading_slash(path)[:MAX_PATH]) is not None


# --- map templates ---

def _norm(msg: Mapping[Any, Any]) -> dict[str, Any]:
    return {normalize_key(k).lower(): v for k, v in msg.items()}


def _equal(want: Any, have: Any) -> bool:
    if isinstance(want, (str, bytes)) and key_text(want, errors="surrogateescape") == _WILDCARD:
        return True
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and _map_matches(want, have)
    if isinstance(want, (list, tuple)):
        return (isinstance(have, (list, tuple)) and len(want) == len(have)
                and all(_equal(w, h) for w, h in zip(want, have, strict=True)))
    if isinstance(have, (Mapping, list, tuple)) or have is None or want is None:
        return want is have
    return (key_text(want, errors="surrogateescape", floats=True)
            == key_text(have, errors="surrogateescape", floats=True))


def _map_matches(template: Mapping[Any, Any], message: Mapping[Any, Any]) -> bool:
    have = _norm(message)
    for key, want in _norm(template).items():
        if key in _IGNORED_KEYS or is_private(key):
            continue
        if key not in have or not _equal(want, have[key]):
            return False
    return True


def template_matches(message: Mapping[str, Any], template: Any) -> bool:
    """Whether `message` matches a route `template` (§1.5): a map (every key equal, `"_"` any
    value), a regex over the target path, or nothing (matches all)."""
    if template is None:
        return True
    if isinstance(template, Mapping):
        return _map_matches(template, message)
    if isinstance(template, (str, bytes)):
        return regex_matches(target_path(message), key_text(template, errors="surrogateescape"))
    return False


def _explicit(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def match_route(message: Mapping[str, Any], routes: Any) -> dict[str, Any] | None:
    """The first route of `routes` whose template `message` matches, with `reference` set to
    `routes/<n>` (1-based); `{node: URL, reference: explicit}` for an absolute URL path; None
    when nothing matches."""
    return next(_matching_routes(message, routes), None)


def _matching_routes(message: Mapping[str, Any], routes: Any) -> Iterator[dict[str, Any]]:
    """Every route of `routes` whose template `message` matches, in order (see `match_route`)."""
    path = target_path(message)
    if _explicit(path):
        yield {"node": path, "reference": "explicit"}
        return
    for index, candidate in enumerate(route_list(routes), start=1):
        if template_matches(message, candidate.get("template")):
            yield {**candidate, "reference": f"routes/{index}"}


# --- rewriting ---

_REPLACEMENT = re.compile(r"\\g\{(\d+)\}|\\g(\d+)|\\(\d+)|\\(.)|&", re.S)


def _erlang_replacement(template: str) -> Any:
    """A `re.sub` function that expands `template` as Erlang's `re:replace` does: `&` is the
    whole match, `\\N`, `\\gN`, `\\g{N}` group N (empty when it did not take part), `\\&`
    and `\\\\` the character itself."""

    def expand(found: re.Match[str]) -> str:
        def one(token: re.Match[str]) -> str:
            if token.group(0) == "&":
                return found.group(0)
            number = token.group(1) or token.group(2) or token.group(3)
            if number is not None:
                index = int(number)
                if index > (found.re.groups or 0):
                    return ""
                return found.group(index) or ""
            return token.group(4)
        return _REPLACEMENT.sub(one, template)

    return expand


def rewrite(path: str, node: Mapping[str, Any]) -> str | None:
    """The URI a node map gives for `path`: `prefix` + path, path + `suffix`, or `match`
    replaced by `with` everywhere; None when the node has none of these, or an unusable
    `match` pattern, or a `match` that is not found in `path`, or a path longer than
    `MAX_REWRITE` to rewrite with it."""
    if "prefix" in node:
        return key_text(node["prefix"], errors="surrogateescape", floats=True) + path
    if "suffix" in node:
        return path + key_text(node["suffix"], errors="surrogateescape", floats=True)
    if "match" in node and "with" in node:
        compiled = safe_pattern(key_text(node["match"], errors="surrogateescape", floats=True))
        if compiled is None or len(path) > MAX_REWRITE or compiled.search(path) is None:
            # Nothing to replace: the reference sends the path itself as the URI
            # (`http://http:/user-path` once relayed). This node is not viable for this path.
            return None
        return compiled.sub(_erlang_replacement(key_text(node["with"], errors="surrogateescape", floats=True)), path)
    if isinstance(node.get("uri"), (str, bytes)):
        return key_text(node["uri"], errors="surrogateescape")
    return None


def _route_path(message: Mapping[str, Any]) -> str:
    """The path rewriting works on: the target path with its leading `/` (`call` is `/call`)."""
    return _leading_slash(target_path(message))


def _target(message: Mapping[str, Any], node: Any, reference: str) -> Target | None:
    if isinstance(node, (str, bytes)):
        return Target(key_text(node, errors="surrogateescape"), {}, {}, reference)
    if not isinstance(node, Mapping):
        return None
    plain = {k: v for k, v in node.items() if k != "opts"}
    uri = rewrite(_route_path(message), plain)
    if uri is None:
        return None
    opts = node.get("opts")
    node_ref = node.get("reference")
    return Target(uri, dict(opts) if isinstance(opts, Mapping) else {}, dict(node),
                  key_text(node_ref, errors="surrogateescape") if isinstance(node_ref, (str, bytes)) else reference)


# --- strategies ---

def base_of(message: Mapping[str, Any]) -> bytes:
    """The 32-byte base a strategy chooses by (§3.2): the first path segment when it is an ID,
    else its text before the first `~`, `?` or `&` when that is an ID, else SHA-256 of the
    segment."""
    path = target_path(message)
    segment = next((part for part in path.split("/") if part), "")
    for candidate in (segment, re.split(r"[~?&]", segment, maxsplit=1)[0]):
        native = _native_id(candidate)
        if native is not None:
            return native
    return hashlib.sha256(segment.encode("utf-8", "surrogateescape")).digest()


def _native_id(text: str) -> bytes | None:
    if len(text) == 43:
        try:
            raw = b64url_decode(text)
        except AOError:
            return None
        return raw if len(raw) == 32 else None
    raw = text.encode("utf-8", "surrogateescape")
    return raw if len(raw) == 32 else None


def base_int(base: bytes) -> int:
    """A 32-byte base (or wallet) as a 256-bit big-endian integer."""
    return int.from_bytes(base, "big")


def field_distance(a: int, b: int) -> int:
    """The distance between two points of the 256-bit ring: min(|a - b|, 2^256 - |a - b|)."""
    diff = abs(a - b)
    return min(diff, _FIELD - diff)


def _weight(node: Mapping[str, Any]) -> float:
    try:
        value = float(key_text(node.get("weight", 0), errors="surrogateescape", floats=True))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _wallet_int(node: Mapping[str, Any]) -> int | None:
    wallet = node.get("wallet")
    if not isinstance(wallet, (str, bytes)):
        return None
    if isinstance(wallet, str) or len(wallet) != 32:
        native = _native_id(key_text(wallet, errors="surrogateescape"))
    else:
        native = wallet
    return None if native is None else base_int(native)


def choose(count: int, strategy: str, base: bytes, nodes: Sequence[Target],
           rng: random.Random | None = None) -> list[Target]:
    """Pick `count` distinct nodes (all of them when `count` is larger) by `strategy`:

    * `Random`: uniformly, without replacement.
    * `By-Weight`: each draw picks a node with probability weight / total weight of the nodes
      left (a missing, negative or non-numeric `weight` is 0; all zero: uniformly).
    * `By-Base`: index = base (as an integer) mod the number of nodes left, repeated with the
      same integer over the remaining nodes.
    * `Nearest`: the nodes whose `wallet` (as an integer) is nearest to the base on the
      2^256 ring; nodes without a wallet come last; ties keep list order.

    Raises:
        ValueError: an unknown strategy.
    """
    rng = rng or random.SystemRandom()
    left = list(nodes)
    count = max(0, min(count, len(left)))
    picked: list[Target] = []
    if strategy == "Random":
        return rng.sample(left, count)
    if strategy == "By-Weight":
        for _ in range(count):
            weights = [_weight(n.node) for n in left]
            total = sum(weights)
            if total <= 0:
                index = rng.randrange(len(left))
            else:
                draw = rng.random() * total
                index = len(left) - 1
                for i, weight in enumerate(weights):
                    draw -= weight
                    if draw < 0 and weight > 0:
                        index = i
                        break
            picked.append(left.pop(index))
        return picked
    if strategy == "By-Base":
        number = base_int(base)
        for _ in range(count):
            picked.append(left.pop(number % len(left)))
        return picked
    if strategy == "Nearest":
        number = base_int(base)

        def distance(item: tuple[int, Target]) -> tuple[int, int, int]:
            wallet = _wallet_int(item[1].node)
            if wallet is None:
                return (1, 0, item[0])
            return (0, field_distance(wallet, number), item[0])

        ranked = sorted(enumerate(left), key=distance)
        return [node for _, node in ranked[:count]]
    raise ValueError(f"unknown routing strategy {strategy!r} (one of {', '.join(STRATEGIES)})")


def _nodes_of(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(route_list(value))
    if isinstance(value, (list, tuple)):
        return list(value)
    return []


def _choose_count(route: Mapping[str, Any]) -> int:
    raw = route.get("choose", 1)
    try:
        count = int(key_text(raw, errors="surrogateescape", floats=True))
    except ValueError as exc:
        raise ValueError(f"route {route.get('reference', '')}: choose must be an integer, not {raw!r}") from exc
    if count < 1:
        raise ValueError(f"route {route.get('reference', '')}: choose must be at least 1, not {count}")
    return count


def route(message: Mapping[str, Any], routes: Any, *, rng: random.Random | None = None) -> Target | Multi | None:
    """Where `message` goes by the route table `routes` (§3.2): a `Target`, a `Multi`, or None
    when no route matches with a viable node. A matching route none of whose nodes is viable
    for the path (no rewrite rule, or a `match` not found in it) is passed over for the next.

    Raises:
        ValueError: the matched route names an unknown strategy or an invalid `choose`.
    """
    for found in _matching_routes(message, routes):
        chosen = _route_to(message, found, rng)
        if chosen is not None:
            return chosen
    return None


def _route_to(message: Mapping[str, Any], found: Mapping[str, Any], rng: random.Random | None
              ) -> Target | Multi | None:
    """Where the matched route `found` sends `message`; None when none of its nodes is viable
    for the message's path (`route` then tries the next matching route).

    Raises:
        ValueError: the route names an unknown strategy or an invalid `choose`.
    """
    reference = key_text(found.get("reference", ""), errors="surrogateescape", floats=True)
    node = found.get("node")
    if node is not None:
        return _target(message, node, reference)
    targets = tuple(t for t in (_target(message, n, f"{reference}/nodes/{i}")
                                for i, n in enumerate(_nodes_of(found.get("nodes")), start=1)) if t is not None)
    if not targets:
        return None
    strategy = key_text(found.get("strategy", "All"), errors="surrogateescape", floats=True)
    if strategy == "All":
        return Multi(found, targets)
    if strategy not in STRATEGIES:
        raise ValueError(f"route {reference}: unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    count = _choose_count(found)
    if count == 1:
        # The whole order the strategy gives: its first choice, then where to go without it.
        ranked = choose(len(targets), strategy, base_of(message), targets, rng)
        return replace(ranked[0], fallbacks=tuple(ranked[1:]))
    chosen = choose(count, strategy, base_of(message), targets, rng)
    if len(chosen) == 1:
        return chosen[0]
    return Multi({**found, "strategy": "All"}, tuple(chosen))
