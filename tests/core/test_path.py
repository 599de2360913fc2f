"""Port of the reference's `hb_path` tests (resolution-paths-cache-node.md §14.3)."""

from __future__ import annotations

import pytest

from aonode.codecs import hashpath
from aonode.core.path import hd, parts, pop, regex_matches, tl, to_binary
from aonode.message import Atom


def test_hashpath_is_87_bytes() -> None:
    assert len(hashpath({"priv": {}, "a": b"1"}, {"priv": {}, "b": b"2"})) == 87


def test_hashpath_direct_request_uses_the_key() -> None:
    assert hashpath({"a": b"1"}, {"path": b"base"}).split("/")[1] == "base"


def test_multiple_hashpaths() -> None:
    first = hashpath({"a": b"1"}, {"path": b"x", "b": b"2"})
    second = hashpath({"priv": {"hashpath": first}}, {"path": b"y", "c": b"3"})
    assert len(second) == 87 and second != first


def test_verify_hashpath_chain() -> None:
    from aonode.core import resolve

    m1 = {"a": {"b": {"c": b"1", "d": b"2"}, "e": b"3"}}
    m2 = {"path": "a", "x": b"1"}
    m3 = resolve(m1, m2).value
    m4 = {"path": "b", "y": b"2"}
    m5 = resolve(m3, m4).value
    assert hashpath(m1, m2) == m3["priv"]["hashpath"].decode()
    assert hashpath(m3, m4) == m5["priv"]["hashpath"].decode()
    fake = {**m3, "priv": {"hashpath": hashpath({"z": b"9"}, m2).encode()}}
    assert hashpath(fake, m4) != m5["priv"]["hashpath"].decode()


def test_pop_walks_the_path() -> None:
    msg = {"path": ["a", "b", "c"]}
    first = pop(msg)
    assert first is not None and first[0] == "a"
    second = pop(first[1])  # type: ignore[arg-type]
    assert second is not None and second[0] == "b"
    third = pop(second[1])  # type: ignore[arg-type]
    assert third == ("c", None)
    assert pop({"path": []}) is None


def test_pop_from_path_list() -> None:
    assert pop(["a", "b", "c"]) == ("a", ["b", "c"])
    assert pop(["c"]) == ("c", None)


def test_hd() -> None:
    assert hd({"path": ["a", "b", "c"]}) == "a"
    assert hd({"path": None}) is None


def test_tl() -> None:
    assert tl({"path": ["a", "b", "c"]}) == {"path": ["b", "c"]}
    assert tl({"path": []}) is None
    assert tl({"path": "a"}) is None
    assert tl({"path": None}) is None
    assert tl(["a", "b", "c"]) == ["b", "c"]
    assert tl(["c"]) is None


def test_to_binary() -> None:
    assert to_binary(["a", "b", "c"]) == "a/b/c"
    assert to_binary("a/b/c") == "a/b/c"
    assert to_binary([b"a", Atom("b"), "c"]) == "a/b/c"
    assert to_binary(["a", ["b", "//b"], "c"]) == "a/b/b/c"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("a/b/c", ["a", "b", "c"]),
        ([["/a", ["b", "//b"], "c"]], ["a", "b", "b", "c"]),
        ("/", []),
        ("", None),
        ([], None),
        (5, ["5"]),
        (Atom("a"), ["a"]),
    ],
)
def test_term_to_path_parts(path: object, expected: object) -> None:
    assert parts(path) == expected


@pytest.mark.parametrize(
    "path, pattern, expected",
    [
        ("a/b/c", "a/.*/c", True),
        ("a/b/c", "a/.*/d", False),
        ("a/abcd/c", "a/abc.*/c", True),
        ("a/bcd/c", "a/abc.*/c", False),
        ("a/bcd/ignored/c", "a/.*/c", True),
        ("a/bcd/ignored/c", "a/.*/d", False),
        ("a/b", "([", False),
    ],
)
def test_regex_matches(path: str, pattern: str, expected: bool) -> None:
    assert regex_matches(path, pattern) is expected
