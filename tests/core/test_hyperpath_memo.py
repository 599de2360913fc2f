"""A parse served from the memo is the caller's own, at every depth."""

from __future__ import annotations

import copy
from typing import Any

from aonode.core import hyperpath
from aonode.core.terms import Resolve


def test_changing_a_parse_at_any_depth_leaves_the_next_parse_alone() -> None:
    request = {"path": b"/a/(b/c)/d", "x+list": b'"1", "2"', "m": {"k": b"v"}}
    first: list[Any] = hyperpath.parse(dict(request))
    expected = copy.deepcopy(hyperpath.parse(dict(request)))
    for step in first:
        if isinstance(step, Resolve):
            step.messages.append({"path": b"EVIL"})
            step = step.messages[1]
        if isinstance(step, dict):
            step.get("x", []).append(b"EVIL")
            step.get("m", {})["k"] = b"EVIL"
    assert hyperpath.parse(dict(request)) == expected
