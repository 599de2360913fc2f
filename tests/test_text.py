"""`aonode.text`: each policy on good and bad UTF-8, and each non-bytes form."""

from __future__ import annotations

import pytest

from aonode.errors import BadMessage
from aonode.message import Atom, Link, to_bytes
from aonode.text import as_text, decode, key_text

BAD = b"ok\xff\xfe"


def test_good_utf8_is_the_same_under_every_policy() -> None:
    raw = "caf\u00e9 \u2603".encode()
    assert {decode(raw, errors=e) for e in ("strict", "replace", "surrogateescape")} == {"caf\u00e9 \u2603"}


def test_strict_raises_bad_message_naming_where_and_the_byte() -> None:
    with pytest.raises(BadMessage) as caught:
        decode(BAD, errors="strict", where="the header 'x-name'")
    assert caught.value.status == 400
    assert caught.value.message == "the header 'x-name' is not UTF-8 text (byte 2: \\xff)"
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_replace_is_lossy_and_surrogateescape_round_trips() -> None:
    assert decode(BAD, errors="replace") == "ok\ufffd\ufffd"
    kept = decode(BAD, errors="surrogateescape")
    assert kept != decode(BAD, errors="replace")
    assert to_bytes(kept) == BAD


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="errors must be one of"):
        decode(b"x", errors="ignore")  # type: ignore[arg-type]


def test_text_of_values_that_are_not_bytes() -> None:
    assert as_text("already", errors="strict") == "already"
    assert as_text(12, errors="strict") == "12"
    assert as_text(True, errors="strict") == "True"
    assert [as_text(v, errors="strict", bools=True) for v in (True, False, 1)] == ["true", "false", "1"]
    assert as_text(None, errors="strict") == "None"
    assert as_text(None, errors="strict", none="") == ""
    assert as_text(Atom("ok"), errors="strict") == str(Atom("ok"))
    assert as_text(Atom("ok"), errors="strict", atoms=True) == "ok"
    assert as_text(Link("x" * 43), errors="strict", atoms=True) == str(Link("x" * 43))
    with pytest.raises(BadMessage, match="^target is not UTF-8"):
        as_text(BAD, errors="strict", where="target")


def test_key_text_is_the_key_form() -> None:
    assert key_text(b"a\xff", errors="replace") == "a\ufffd"
    assert key_text(b"a\xff", errors="surrogateescape") == "a\udcff"
    assert [key_text(v, errors="strict") for v in ("k", 7, Atom("at"), True, False, None, ["a", b"b"])] == [
        "k", "7", "at", "true", "false", "null", "a/b"]
    with pytest.raises(TypeError):
        key_text(1.5, errors="strict")
    with pytest.raises(BadMessage):
        key_text(BAD, errors="strict")


def test_key_text_takes_floats_only_when_asked() -> None:
    assert [key_text(v, errors="surrogateescape", floats=True) for v in (1.5, 2.0, float("inf"))] == [
        "1.5", "2.0", "inf"]
    assert [key_text(v, errors="surrogateescape", floats=True) for v in (b"k", 7, True, None, Atom("at"))] == [
        "k", "7", "true", "null", "at"]
    with pytest.raises(TypeError):
        key_text(1.5, errors="surrogateescape")
    with pytest.raises(TypeError):
        key_text(["a", 1.5], errors="surrogateescape", floats=True)
    with pytest.raises(TypeError):
        key_text({"a": 1}, errors="surrogateescape", floats=True)
