"""Round trips: rich -> TABM -> wire -> TABM -> rich is the identity for every codec (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import json_messages, messages, values

from aonode.codecs import decode, encode, flat, httpsig, json, message_id, structured

SETTINGS = settings(max_examples=300, deadline=None)


def _has_empty_map(value: Any) -> bool:
    if isinstance(value, dict):
        return not value or any(_has_empty_map(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_empty_map(v) for v in value)
    return False


@SETTINGS
@given(messages | st.lists(values, max_size=5))
def test_structured(value: Any) -> None:
    tabm = structured.from_wire(value)
    assert structured.to_wire(tabm) == value


@SETTINGS
@given(messages)
def test_httpsig_bundle(msg: dict[str, Any]) -> None:
    wire = encode(msg, httpsig.NAME, bundle=True)
    assert decode(wire, httpsig.NAME) == msg


@SETTINGS
@given(messages)
def test_httpsig_links_keep_the_id(msg: dict[str, Any]) -> None:
    """Without bundling, children travel as links: the ID is what survives."""
    decoded = decode(encode(msg, httpsig.NAME), httpsig.NAME)
    assert message_id(decoded) == message_id(msg)


@SETTINGS
@given(messages)
def test_flat(msg: dict[str, Any]) -> None:
    if _has_empty_map(structured.from_wire(msg)):
        return  # flat@1.0 has no form for an empty map (EncodeError, tested elsewhere)
    assert decode(encode(msg, flat.NAME, bundle=True), flat.NAME) == msg


@SETTINGS
@given(json_messages)
def test_json(msg: dict[str, Any]) -> None:
    assert decode(encode(msg, json.NAME, bundle=True), json.NAME) == msg


@SETTINGS
@given(messages)
def test_id_is_stable_across_bundled_round_trip(msg: dict[str, Any]) -> None:
    assert message_id(decode(encode(msg, httpsig.NAME, bundle=True), httpsig.NAME)) == message_id(msg)
