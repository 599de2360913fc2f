"""aonode/core/hyperpath.py (resolution-paths-cache-node.md §7): the oracle's hyperpath.json and
the parses recorded in resolve.json, the reference's own hb_singleton tests (§7.7), the rules
one at a time, the documented differences, a round-trip property and a fuzzer."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import term, vectors

from aonode.core.hyperpath import MAX_NESTING, MAX_SEGMENT_LENGTH, from_path, parse, to_singleton
from aonode.core.terms import As, Resolve
from aonode.errors import BadMessage, EncodeError
from aonode.message import Atom

HYPERPATH = vectors("hyperpath.json")
RESOLVE_PARSES = [v for v in vectors("resolve.json") if "parsed" in v and "singleton" in v]
TABLE = json.loads((Path(__file__).parent / "vectors" / "hb_singleton_tests.json").read_text())["cases"]

# Oracle records where aonode deliberately differs (one line each in docs/compat.md): the
# reason, and what aonode returns instead.
DIVERGENCES: dict[str, tuple[str, list[Any]]] = {
    "typed-atom": (
        "+atom=hello: the reference raises badarg (no atom `hello` in its VM); aonode returns Atom('hello')",
        [{}, {"path": b"a", "at": Atom("hello")}],
    ),
    "typed-map": (
        "+map token values: the reference made the atom `val1` only because its VM knew that atom; "
        "aonode keeps tokens as binaries, as the HyperBEAM docs show",
        [{}, {"path": b"a", "m": {"key1": b"val1"}}],
    ),
}


def steps(value: Any) -> list[Any]:
    """Tagged JSON -> parse() form: IDs as str, `{as, ...}` as As, `{resolve, ...}` as Resolve."""
    return [_step(item) for item in term(value)]


def _step(item: Any) -> Any:
    if isinstance(item, bytes):
        return item.decode()
    if isinstance(item, tuple) and item[0] == Atom("as"):
        device = _step(item[1]) if isinstance(item[1], tuple) else item[1].decode()
        return As(device, _value(item[2]))
    return _value(item)


def _value(item: Any) -> Any:
    if isinstance(item, tuple) and item[0] == Atom("resolve"):
        return Resolve([_step(s) for s in item[1]])
    if isinstance(item, dict):
        return {k: _value(v) for k, v in item.items()}
    if isinstance(item, list):
        return [_value(v) for v in item]
    return item


def random_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _oracle_params() -> list[Any]:
    out = []
    for record in HYPERPATH:
        quirk = DIVERGENCES.get(record["name"])
        marks = [pytest.mark.xfail(reason=quirk[0], strict=True)] if quirk else []
        out.append(pytest.param(record, id=record["name"], marks=marks))
    return out


# --- the oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("record", _oracle_params())
def test_oracle_parse(record: dict[str, Any]) -> None:
    expected = record.get("output_loaded", record["output"])
    if "ok" in expected:
        assert parse(term(record["input"])) == steps(expected["ok"])
    else:
        with pytest.raises(BadMessage):
            parse(term(record["input"]))


@pytest.mark.parametrize("record", [pytest.param(r, id=r["name"]) for r in HYPERPATH])
def test_oracle_from_path(record: dict[str, Any]) -> None:
    path, expected = record["input"]["path"], record["from_path"]
    for given_path in (path, path.encode()):
        if "ok" in expected:
            parts, query = from_path(given_path)
            assert parts == expected["ok"]["parts"]
            assert query == term(expected["ok"]["query"])
        else:
            with pytest.raises(BadMessage):
                from_path(given_path)


@pytest.mark.parametrize("record", [pytest.param(r, id=r["name"]) for r in HYPERPATH if "server_input" in r])
def test_oracle_server_singleton(record: dict[str, Any]) -> None:
    assert parse(term(record["server_input"])) == steps(record["server_output"]["ok"])


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_documented_divergence(name: str) -> None:
    (record,) = [r for r in HYPERPATH if r["name"] == name] or [None]
    if record is None:
        pytest.skip("oracle vectors not present")
    assert parse(term(record["input"])) == DIVERGENCES[name][1]


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in RESOLVE_PARSES])
def test_resolve_vector_parses(case: dict[str, Any]) -> None:
    assert parse(term(case["singleton"])) == steps(case["parsed"])


# --- §7.7: the reference's own tests ------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{i:02}-{c['test']}") for i, c in enumerate(TABLE)])
def test_reference_table(case: dict[str, Any]) -> None:
    text = json.dumps(case)
    for placeholder in ("{ID}", "{HP}"):
        text = text.replace(placeholder, random_id())
    case = json.loads(text)
    if "from" in case:
        assert parse(term(case["from"])) == steps(case["expect"])
    elif "to" in case:
        messages = steps(case["to"])
        singleton = to_singleton(messages)
        if "expect" in case:
            assert singleton == term(case["expect"])
        assert parse(singleton) == messages
    else:
        assert from_path(case["path_parts"])[0] == case["expect"]


# --- the rules, one at a time -------------------------------------------------------------

ID = "e5ohB7TgMYRoc0BLllkmAqkqLy1SrliEkOPJlNPXBQ8"

PARSES: list[tuple[str, Any, list[Any]]] = [
    ("512-byte segment is allowed", "/" + "x" * MAX_SEGMENT_LENGTH, [{}, {"path": b"x" * MAX_SEGMENT_LENGTH}]),
    ("%2F is a separator", "/a%2Fb", [{}, {"path": b"a"}, {"path": b"b"}]),
    ("%3F starts the query", "/a%3Fk=v", [{"k": b"v"}, {"path": b"a", "k": b"v"}]),
    ("the query is decoded twice", "/a?k=%2541", [{"k": b"A"}, {"path": b"a", "k": b"A"}]),
    ("+ in the query is a space", "/a?k=1+2", [{"k": b"1 2"}, {"path": b"a", "k": b"1 2"}]),
    ("a ? in parentheses is no query", "/(x?k=v)", [Resolve([{"k": b"v"}, {"path": b"x", "k": b"v"}])]),
    ("~ after & belongs to the value", "/a&k=v~dev", [{}, {"path": b"a", "k": b"v~dev"}]),
    ("the device runs to the first &", "/a~b@1.0=x", [As("b@1.0=x", {"path": b"a"})]),
    ("= sugar keeps later inlines", "/a=1&b=2", [{}, {"path": b"a", "a": b"1", "b": b"2"}]),
    ("an inline value may hold =", "/a&b=1=2", [{}, {"path": b"a", "b": b"1=2"}]),
    ("+ sugar without a value", "/a+integer", [{}, {"path": b"a", "a+integer": True}]),
    ("an unterminated quote is closed", '/a&k="x', [{}, {"path": b"a", "k": b"x"}]),
    ("an unterminated quote swallows /", '/a"b/c', [{}, {"path": b'a"b/c"'}]),
    ("quotes keep & in a value", '/a&k="x&y"&z', [{}, {"path": b"a", "k": b"x&y", "z": True}]),
    ("empty parentheses", "/()", [Resolve([])]),
    ("a bare device mid-path", "/a/~x@1.0/b", [{}, {"path": b"a"}, As("x@1.0", {}), {"path": b"b"}]),
    ("a sub-path as a value", "/a&k=(x)", [{}, {"path": b"a", "k": Resolve([{}, {"path": b"x"}])}]),
    ("a sub-path as the device", "/a~(x/y)", [As(Resolve([{}, {"path": b"x"}, {"path": b"y"}]), {"path": b"a"})]),
    ("sub-paths are decoded again", "/(a%2525b)", [Resolve([{}, {"path": b"a%b"}])]),
    ("+integer of a token is dropped", "/a&k+integer=abc", [{}, {"path": b"a"}]),
    ("+integer of a decimal is dropped", "/a&k+integer=1.5", [{}, {"path": b"a"}]),
    ("type names ignore case", "/a&k+INTEGER=5", [{}, {"path": b"a", "k": 5}]),
    ("+float with an exponent", "/a&k+float=-1.5e3", [{}, {"path": b"a", "k": -1500.0}]),
    ("+atom true", "/a&k+atom=true", [{}, {"path": b"a", "k": True}]),
    ("+atom of a string", '/a&k+atom="ok"', [{}, {"path": b"a", "k": Atom("ok")}]),
    ("an empty +list", "/a&k+list=", [{}, {"path": b"a", "k": []}]),
    ("+resolve of a bare path", "/a&k+resolve=x/y", [{}, {"path": b"a", "k": Resolve([{}, {"path": b"x"}])},
                                                     {"path": b"y"}]),
    ("an ID takes no globals", {"path": f"/{ID}", "k": "v"}, [ID]),
    ("an As on an ID takes no globals", {"path": f"/{ID}~p@1.0", "k": "v"}, [As("p@1.0", {"path": ID.encode()})]),
    ("an As with a path takes globals", {"path": "/a~p@1.0", "k": "v"}, [As("p@1.0", {"path": b"a", "k": b"v"})]),
    ("inline beats scoped beats global", {"path": "/a&k=i/b", "k": "g", "1.k": "s", "2.k": "s2"},
     [{"k": b"g"}, {"path": b"a", "k": b"i"}, {"path": b"b", "k": b"s2"}]),
    ("query beats header", {"path": "/a?k=q", "k": "h"}, [{"k": b"q"}, {"path": b"a", "k": b"q"}]),
    ("0. scopes the base", {"path": "/a", "0.k": "v"}, [{"k": b"v"}, {"path": b"a"}]),
    ("-0. is the base too", {"path": "/a", "-0.k": "v"}, [{"k": b"v"}, {"path": b"a"}]),
    ("two dots are global", {"path": "/a", "1.k.x": "v"}, [{"1.k.x": b"v"}, {"path": b"a", "1.k.x": b"v"}]),
    ("a scope past the end is ignored", {"path": "/a", "5.k": "v"}, [{}, {"path": b"a"}]),
    ("a space types a header", {"path": "/a", "k integer": "7"}, [{"k": 7}, {"path": b"a", "k": 7}]),
    ("+list members", {"path": "/a", "1.k+list": '1,2.5,?0,:aGk=:,tok,\\"(ao-type-integer) 7\\"'},
     [{}, {"path": b"a", "k": [1, 2.5, False, b"hi", b"tok", 7]}]),
    ("+map members", {"path": "/a", "1.k+map": "x=1, y=?0, z, n=null"},
     [{}, {"path": b"a", "k": {"x": 1, "y": False, "z": True, "n": None}}]),
    ("+integer of ?1", {"path": "/a", "1.k+integer": "?1"}, [{}, {"path": b"a", "k": True}]),
    ("text values become bytes", {"path": "/a", "k": "text", "n": 5}, [{"k": b"text", "n": 5},
                                                                        {"path": b"a", "k": b"text", "n": 5}]),
    ("regenerated and private keys go", {"path": "/a", "content-digest": "x", "private": "y", "priv-z": "z"},
     [{}, {"path": b"a"}]),
    ("a priv map is kept", {"path": "/a", "priv": {"x": 1}}, [{"priv": {"x": 1}}, {"path": b"a", "priv": {"x": 1}}]),
    ("no path at all", {"k": "v"}, []),
]


@pytest.mark.parametrize(("singleton", "expected"), [pytest.param(s, e, id=n) for n, s, e in PARSES])
def test_rule(singleton: Any, expected: list[Any]) -> None:
    assert parse(singleton) == expected


REJECTS: list[tuple[str, Any]] = [
    ("a space after the key", "/a b"),
    ("a bad percent-escape", "/a%zz"),
    ("non-UTF-8 after decoding", "/a%FF"),
    ("non-UTF-8 bytes", b"/a\xff"),
    ("a lone surrogate", "/a\ud800"),
    ("a query pair with no key", "/a?=x"),
    ("a bad escape in the second decoding", "/a?k=%25zz"),
    ("a 513-byte segment", "/" + "x" * (MAX_SEGMENT_LENGTH + 1)),
    ("binary is not a type", "/a&k+binary=xyz"),
    ("an unknown type", "/a&k+nope=1"),
    ("+Resolve is not +resolve", "/a&k+Resolve=x"),
    ("+resolve of a parenthesised path", "/a&k+resolve=(/x/y)"),
    ("a typed sub-path", "/a&k+integer=(/x)"),
    ("+float needs a dot", "/a&k+float=1"),
    ("+float out of range", "/a&k+float=1.0e999"),
    ("+integer of 16 digits", "/a&k+integer=1234567890123456"),
    ("+integer with a space", "/a&k+integer=%205"),
    ("+integer of nothing", "/a&k+integer="),
    ("+list with an inner list", "/a&k+list=(1 2)"),
    ("+atom of a number", "/a&k+atom=1"),
    ("a typed query flag", "/a?k+integer"),
    ("a non-integer scope", {"path": "/a", "x.y": "1"}),
    ("a negative scope", {"path": "/a", "-2.y": "1"}),
    ("an empty scope", {"path": "/a", ".y": "1"}),
    ("a typed non-text header", {"path": "/a", "k+integer": 5}),
    ("an integer too long to carry", {"path": "/a", "k": 10**15}),
    ("a non-finite float", {"path": "/a", "k": float("inf")}),
    ("an atom that is no token", {"path": "/a", "k": Atom("two words")}),
    ("a path that is no text", {"path": 5}),
    ("a key that is no text", {"path": "/a", 5: "v"}),
    # The core is long enough that no level is 32, 42 or 43 bytes long (an ID).
    ("sub-paths nested too deep", "/" + "(" * (MAX_NESTING + 1) + "x" * 50 + ")" * (MAX_NESTING + 1)),
]


@pytest.mark.parametrize("singleton", [pytest.param(s, id=n) for n, s in REJECTS])
def test_reject(singleton: Any) -> None:
    with pytest.raises(BadMessage) as info:
        parse(singleton)
    assert info.value.status == 400
    assert str(info.value).startswith("hyperpath: ")


def test_nesting_limit_is_inclusive() -> None:
    deep = "/" + "(" * MAX_NESTING + "x" * 50 + ")" * MAX_NESTING
    result: Any = parse(deep)
    for _ in range(MAX_NESTING):
        (result,) = result
        assert isinstance(result, Resolve)
        result = result.messages
    assert result == [{}, {"path": b"x" * 50}]


def test_to_singleton_writes_as_steps() -> None:
    messages: list[Any] = [As("meta@1.0", {}), {"path": b"info"}, As("p@1.0", {"path": b"k", "n": 3})]
    singleton = to_singleton(messages)
    assert singleton == {"path": b"/~meta@1.0/info/k~p@1.0", "2.n+integer": b"3"}
    assert parse(singleton) == messages


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([{}, Resolve([{}])], id="a Resolve with no path"),
        pytest.param([As("p@1.0", {"path": ID, "k": b"v"})], id="keys on an As of an ID"),
        pytest.param([As(Resolve([{}, {"path": b"x"}]), {})], id="an As on a sub-path device"),
        pytest.param([{}, {"path": 5}], id="a path that is no text"),
        pytest.param([{}, 5], id="a step of no known type"),
    ],
)
def test_to_singleton_rejects(messages: list[Any]) -> None:
    with pytest.raises(EncodeError):
        to_singleton(messages)


# --- properties ----------------------------------------------------------------------------

SAFE = "abcdefghijklmnopqrstuvwxyz0123456789-_"
RESERVED = {"path", "method", "commitments", "unsigned_id", "content-digest"}
names = st.text(SAFE, min_size=1, max_size=8).filter(lambda k: k not in RESERVED and not k.startswith("priv"))
# Short enough that no written segment, such as `(a/b/c)` or `k~dev@1.0`, is 32 bytes long (an ID).
segments = st.text(SAFE, min_size=1, max_size=6).map(str.encode)
ids = st.binary(min_size=32, max_size=32).map(lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode())
devices = st.from_regex(r"[a-z]{1,8}@1\.0", fullmatch=True)
subpaths = st.one_of(
    st.lists(segments, min_size=1, max_size=3).map(lambda segs: Resolve([{}, *({"path": s} for s in segs)])),
    st.tuples(ids, segments).map(lambda t: Resolve([t[0], {"path": t[1]}])),
)
values = st.one_of(
    st.binary(max_size=12),
    st.integers(-999_999_999_999_999, 999_999_999_999_999),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.binary(max_size=4), max_size=3),
    subpaths,
)


@st.composite
def step_lists(draw: st.DrawFn) -> list[Any]:
    """Step lists that `parse` could have produced and `to_singleton` can write: each key
    belongs to one step (else it would become global), and `method`, always global, is in
    every step that takes globals."""
    pool = draw(st.lists(names, unique=True, max_size=10))
    method = draw(st.sampled_from([None, b"GET", b"POST"]))

    def keyed() -> dict[str, Any]:
        nonlocal pool
        count = draw(st.integers(0, min(3, len(pool))))
        taken, pool = pool[:count], pool[count:]
        msg = {key: draw(values) for key in taken}
        if method is not None:
            msg["method"] = method
        return msg

    def step(kind: str) -> Any:
        if kind == "id":
            return draw(ids)
        if kind == "resolve":
            return draw(subpaths)
        if kind == "map":
            return {**keyed(), "path": draw(segments)}
        shape = draw(st.sampled_from(["bare", "path", "id"]))
        if shape == "id":
            return As(draw(devices), {"path": draw(ids).encode()})
        msg = keyed()
        if shape == "path":
            msg["path"] = draw(segments)
        return As(draw(devices), msg)

    kinds = st.sampled_from(["map", "id", "as", "resolve"])
    base = draw(kinds)
    # A map base must be followed by a map: anything else would be taken as the base.
    out = [keyed(), step("map")] if base == "map" else [step(base)]
    out += [step(kind) for kind in draw(st.lists(kinds, max_size=4))]
    return out


@settings(max_examples=200, deadline=None)
@given(step_lists())
def test_round_trip(messages: list[Any]) -> None:
    assert parse(to_singleton(messages)) == messages


SYNTAX = '/&~+= ()"\\%?.,;:abAZ019-_!*@é'
fuzz_paths = st.one_of(st.text(SYNTAX, max_size=40), st.text(max_size=40), st.binary(max_size=40))
fuzz_values = st.one_of(st.text(SYNTAX, max_size=16), st.binary(max_size=16), st.booleans(), st.integers())


def _only_bad_message(call: Callable[[], Any]) -> None:
    try:
        result = call()
    except BadMessage as exc:
        assert 400 <= exc.status < 500
    else:
        assert isinstance(result, list)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz_paths)
def test_fuzz_path(path: str | bytes) -> None:
    _only_bad_message(lambda: parse({"path": path}))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz_paths, st.dictionaries(st.text(SYNTAX, max_size=10), fuzz_values, max_size=4))
def test_fuzz_singleton(path: str | bytes, headers: dict[str, Any]) -> None:
    _only_bad_message(lambda: parse({**headers, "path": path}))
