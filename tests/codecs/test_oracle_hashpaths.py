"""Hashpaths and the IDs they are made of, from the reference's resolutions (vectors/oracle/resolve.json)."""

from __future__ import annotations

from typing import Any

import pytest
from oracle import term, vectors

from aonode.codecs import hashpath, message_id

RESOLVE3 = [v for v in vectors("resolve.json") if v.get("call", "").startswith("hb_ao:resolve(Base, Request")]
VALUES = [v for v in vectors("resolve.json") if isinstance(v.get("result", {}).get("value_id_none"), str)]


def _name(case: dict[str, Any]) -> str:
    return str(case.get("name", case.get("call")))


@pytest.mark.parametrize("case", RESOLVE3, ids=_name)
def test_base_and_request_ids(case: dict[str, Any]) -> None:
    assert message_id(term(case["base"]), commitments="all") == case["base_id_all"]
    if "request_id_all" in case:
        assert message_id(term(case["request"]), commitments="all") == case["request_id_all"]


@pytest.mark.parametrize("case", [c for c in RESOLVE3 if "hashpath" in c["result"]], ids=_name)
def test_hashpath_of_resolution(case: dict[str, Any]) -> None:
    assert hashpath(term(case["base"]), term(case["request"])) == case["result"]["hashpath"]


@pytest.mark.parametrize("case", VALUES, ids=_name)
def test_result_ids(case: dict[str, Any]) -> None:
    value = term(case["result"]["value"])
    value.pop("priv", None)
    assert message_id(value) == case["result"]["value_id_none"]
    assert message_id(value, committers="all") == case["result"]["value_id_all"]


def test_a_bare_key_is_the_request_path_key() -> None:
    # The resolver takes a bare key as `{path: key}`; so does `hashpath` (issue 18 item 5).
    from aonode.codecs import hashpath

    base = {"a": "b"}
    assert hashpath(base, "key") == hashpath(base, {"path": "key"})
    assert hashpath(base, b"key") == hashpath(base, {"path": b"key"})
