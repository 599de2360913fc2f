"""Port of the reference's `dev_patch` tests (processes-compute.md §6.3, §7 dev_patch.erl),
plus the path rules of §6.3."""

from __future__ import annotations

from typing import Any

import pytest
from stack_helpers import stack

from aonode.codecs import commit
from aonode.core import get, resolve
from aonode.core.terms import NOT_FOUND
from aonode.crypto import Wallet
from aonode.errors import BadMessage

MISSING = object()


def at(path: str, msg: Any) -> Any:
    return get(path, msg, MISSING)


def _outbox() -> dict[str, Any]:
    return {
        "1": {"method": b"PATCH", "prices": {"apple": 100, "banana": 200}},
        "2": {"method": b"GET", "prices": {"apple": 1000}},
    }


def test_uninitialized_patch() -> None:
    state = {
        "device": b"patch@1.0",
        "results": {"outbox": _outbox()},
        "other-message": b"other-value",
        "patch-to": b"/",
        "patch-from": b"/results/outbox",
    }
    result = resolve(state, "compute")
    assert result.status == "ok"
    out = result.value
    assert at("prices/apple", out) == 100
    assert at("results/outbox/1", out) is MISSING
    assert at("results/outbox/2/method", out) == b"GET"  # not a patch: it stays
    assert at("other-message", out) == b"other-value"


def test_patch_to_submessage() -> None:
    signed = commit({"method": b"PATCH", "prices": {"apple": 100, "banana": 200}}, Wallet.generate())
    state = {
        "device": b"patch@1.0",
        "results": {"outbox": {"1": signed}},
        "state": {"prices": {"apple": 1000}},
        "other-message": b"other-value",
        "patch-to": b"/state",
        "patch-from": b"/results/outbox",
    }
    out = resolve(state, "compute").value
    assert at("state/prices/apple", out) == 100
    assert at("state/prices/banana", out) == 200
    assert at("state/method", out) is MISSING


def test_all_mode() -> None:
    state = {
        "device": b"patch@1.0",
        "input": {"zones": {
            "1": {"method": b"PATCH", "prices": {"apple": 100, "banana": 200}},
            "2": {"method": b"GET", "prices": {"orange": 300}},
        }},
        "state": {"prices": {"apple": 1000}},
    }
    out = resolve(state, {"path": "all", "patch-to": b"/state", "patch-from": b"/input/zones"}).value
    assert at("state/1/prices/apple", out) == 100
    assert at("state/2/prices/orange", out) == 300
    assert at("state/prices/apple", out) == 1000  # merged beside what was there
    assert at("input/zones", out) is MISSING


def test_req_prefix() -> None:
    base = {"device": b"patch@1.0", "state": {"prices": {"apple": 1000}}}
    request = {
        "path": "all",
        "patch-from": b"req:/results/outbox/1",
        "patch-to": b"/state",
        "results": {"outbox": {"1": {"method": b"PATCH", "prices": {"apple": 100, "banana": 200}}}},
    }
    out = resolve(base, request).value
    assert at("state/prices/apple", out) == 100
    assert at("state/prices/banana", out) == 200
    assert at("results/outbox/1", out) is MISSING


# --- §6.3 rule by rule ------------------------------------------------------------------

def test_req_prefix_result_is_the_updated_request() -> None:
    # As in the reference: the to-path is applied to the message the source came from.
    base = {"device": b"patch@1.0", "state": {"prices": {"apple": 1000}}, "kept": b"base"}
    request = {"path": "all", "patch-from": b"req:/box", "patch-to": b"/state", "box": {"x": 1}}
    out = resolve(base, request).value
    assert at("state/x", out) == 1
    assert at("state/prices", out) is MISSING and at("kept", out) is MISSING


def test_base_prefix_and_from_and_to_keys() -> None:
    base = {"device": b"patch@1.0", "from": b"base:/box", "to": b"/dest", "box": {"p": {"method": b"PATCH", "v": 1}}}
    out = resolve(base, "patches").value
    assert at("dest/v", out) == 1 and at("box/p", out) is MISSING


def test_request_paths_win_over_base_paths() -> None:
    base = {
        "device": b"patch@1.0", "patch-from": b"/a", "patch-to": b"/x",
        "a": {"1": {"method": b"PATCH", "from-a": 1}}, "b": {"1": {"method": b"PATCH", "from-b": 2}},
    }
    out = resolve(base, {"path": "patches", "patch-from": b"/b", "to": b"/y"}).value
    # request patch-from beats base patch-from; base patch-to beats request `to`.
    assert at("x/from-b", out) == 2 and at("a/1/from-a", out) == 1 and at("y", out) is MISSING


def test_device_patch_entries_are_patches_and_later_keys_win() -> None:
    base = {
        "device": b"patch@1.0", "patch-from": b"/inbox", "patch-to": b"/state",
        "inbox": {
            "1": {"device": b"patch@1.0", "v": 1, "only-1": b"a"},
            "2": {"method": b"PATCH", "v": 2},
            "3": b"not a message",
        },
    }
    out = resolve(base, "compute").value
    assert at("state/v", out) == 2 and at("state/only-1", out) == b"a"
    assert at("inbox/3", out) == b"not a message"
    assert at("inbox/1", out) is MISSING and at("inbox/2", out) is MISSING


def test_patches_from_the_root() -> None:
    base = {"device": b"patch@1.0", "patch-to": b"/state", "p": {"method": b"PATCH", "v": 1}, "keep": 1}
    out = resolve(base, "compute").value
    assert at("state/v", out) == 1 and at("keep", out) == 1 and at("p", out) is MISSING


def test_missing_source_is_not_found() -> None:
    result = resolve({"device": b"patch@1.0", "patch-from": b"/nowhere"}, "compute")
    assert result == NOT_FOUND


def _after() -> dict[str, Any]:
    """A device whose `compute` marks the message, to show the stack went on."""
    return {"compute": lambda base: {**base, "after": True}}


def test_missing_source_is_skipped_in_a_stack() -> None:
    msg = stack(b"patch@1.0", _after(), **{"patch-from": b"/nowhere"})
    out = resolve(msg, "compute").value
    assert out["after"] is True and "nowhere" not in out


def test_in_a_stack_patches_then_the_next_device_runs() -> None:
    msg = stack(b"patch@1.0", _after(), **{
        "patch-from": b"/results/outbox", "patch-to": b"/state", "results": {"outbox": _outbox()},
    })
    out = resolve(msg, "compute").value
    assert out["state"]["prices"]["apple"] == 100 and "1" not in out["results"]["outbox"]
    assert out["after"] is True and out["device"] == b"stack@1.0"


def test_execution_hooks_are_identity() -> None:
    base = {"device": b"patch@1.0", "x": 1}
    for key in ("init", "normalize", "snapshot"):
        assert resolve(base, key).value["x"] == 1


@pytest.mark.parametrize(("request_keys", "message"), [
    ({"path": "patches", "patch-from": b"/x"}, "looks for patches in a message"),
    ({"path": "all", "patch-from": b"/"}, "cannot move a whole message"),
    ({"path": "all", "patch-from": b"/x", "patch-to": b"/"}, "cannot merge"),
    ({"path": "patches", "patch-from": {"not": b"a path"}}, "patch-from must be a path"),
])
def test_bad_input_is_a_clear_error(request_keys: dict[str, Any], message: str) -> None:
    with pytest.raises(BadMessage, match=message):
        resolve({"device": b"patch@1.0", "x": b"a binary"}, request_keys)
