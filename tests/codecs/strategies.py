"""Hypothesis strategies for rich messages that every codec can carry."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from aonode.message import Atom

# Keys the codecs reserve for themselves, which a user message cannot hold.
RESERVED = {
    "ao-types", "ao-ids", "ao-body-key", "commitments", "content-digest", "content-type",
    "content-disposition", "signature", "signature-input", "unsigned_id", ".",
}

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
               max_size=12).filter(lambda k: k not in RESERVED and not k.startswith("priv"))
atoms = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
    lambda n: n not in ("true", "false", "null")).map(Atom)
floats = st.floats(allow_nan=False, allow_infinity=False)
small_binaries = st.binary(max_size=40)
large_binaries = st.integers(min_value=4097, max_value=6000).map(lambda n: b"v" * n)
scalars = st.one_of(small_binaries, large_binaries, st.integers(), floats, atoms, st.booleans(), st.none())


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


values = st.recursive(scalars, _nested, max_leaves=12)


def _no_lone_empty_body(msg: dict[str, Any]) -> bool:
    # An empty top-level body travels as no body at all (as in the reference): it cannot
    # come back unless a commitment covers it.
    return msg.get("body") != b"" or any(isinstance(v, (dict, list)) or (isinstance(v, bytes) and len(v) > 4096)
                                         for k, v in msg.items() if k != "body")


messages = st.dictionaries(keys, values, max_size=6).filter(_no_lone_empty_body)

text_scalars = st.one_of(st.text(max_size=20).map(str.encode), st.integers(), floats, atoms, st.booleans(),
                         st.none())
list_scalars = st.one_of(st.text(max_size=20).map(str.encode), st.integers(), floats, st.booleans(), st.none())


def _json_nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # An atom inside a JSON list is plain text (only map values are typed), so lists hold no atoms.
    return st.one_of(st.lists(st.recursive(list_scalars, _nested, max_leaves=6), max_size=4),
                     st.dictionaries(keys, children, max_size=4))


json_values = st.recursive(text_scalars, _json_nested, max_leaves=12)
json_messages = st.dictionaries(keys, json_values, max_size=6)
