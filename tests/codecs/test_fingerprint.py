"""`fingerprint` keys the ID memo: equal fingerprints mean equal IDs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from strategies import messages

from aonode.codecs import fingerprint, message_id
from aonode.codecs._ids import _message_id
from aonode.message import Atom


def test_types_are_told_apart() -> None:
    values = [True, 1, 1.0, b"1", "x", Atom("x"), None, False, 0, [1], {"a": 1}]
    prints = [fingerprint({"k": v}) for v in values]
    assert len(set(prints)) == len(values)
    assert message_id({"k": True}) != message_id({"k": 1})


def test_private_keys_do_not_count() -> None:
    assert fingerprint({"a": 1, "priv": {"hashpath": b"x"}}) == fingerprint({"a": 1})
    live = {"a": Atom("x"), "priv": {"instance": object()}}  # the structural form, live objects and all
    assert fingerprint(live) == fingerprint({"a": Atom("x")})


def test_the_structural_form_ignores_key_order() -> None:
    # An Atom keeps a message off the marshal path; so does size.
    assert fingerprint({"a": Atom("x"), "b": 2}) == fingerprint({"b": 2, "a": Atom("x")})
    big = b"x" * (70 * 1024)
    assert fingerprint({"a": big, "b": 2}) == fingerprint({"b": 2, "a": big})
    assert message_id({"a": big, "b": 2}) == _message_id({"b": 2, "a": big})


def test_the_quick_form_is_exact_about_values_and_types() -> None:
    assert fingerprint({"a": [1, 2]}) != fingerprint({"a": [2, 1]})
    assert fingerprint({"a": {"b": 1}}) != fingerprint({"a": {"b": 1.0}})
    assert fingerprint({"a": b"x"}) != fingerprint({"a": "x"})
    assert fingerprint({"a": -0.0}) != fingerprint({"a": 0.0})


def test_objects_have_no_fingerprint() -> None:
    with pytest.raises(TypeError):
        fingerprint({"device": {"f": lambda: 1}})


@settings(max_examples=200, deadline=None)
@given(messages)
def test_memoised_ids_equal_computed_ids(msg: dict[str, object]) -> None:
    assert message_id(msg) == _message_id(msg)
    assert message_id(msg, commitments="all") == _message_id(msg, commitments="all")
