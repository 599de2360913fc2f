"""`test-device@1.0`: the small device the reference's tests (and ours) resolve against.

    test_func   always `GOOD_FUNCTION`
    info        a description of the device
    load        the base with its device set to this one
    index       an index page: `i like <name>!`
    init        sets `already-seen` to []
    compute     records the request's `slot` in `results/assignment-slot` and `already-seen`
    restore     copies `already-seen` into the private `test-key/started-state`
    snapshot    an empty message
    mul         multiplies the request's two `args`
    delay       sleeps `duration` ms (default 750), then returns `return` or the request's body
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aonode.core.access import get, get_first, set_values
from aonode.core.devices import Device
from aonode.core.terms import Result

__all__ = ["TestDevice"]


class TestDevice(Device):
    name = "test-device@1.0"

    def test_func(self) -> bytes:
        return b"GOOD_FUNCTION"

    def info(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        paths = ("info", "test_func", "compute", "init", "restore", "mul", "snapshot", "load", "index", "delay")
        return {
            "status": 200,
            "body": {
                "description": b"Test device for testing the AO-Core framework",
                "version": b"1.0",
                "paths": {p: f"{p} function".encode() for p in paths},
            },
        }

    def load(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {**base, "device": b"test-device@1.0"}

    def index(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        name = get("name", base, b"turtles", opts)
        return {"content-type": b"text/html", "body": b"i like " + name + b"!"}

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        return set_values(base, {"already-seen": []}, opts)

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        slot = get("slot", request, None, opts)
        seen = get("already-seen", base, [], opts)
        return set_values(base, {
            "random-key": b"random-value",
            "results": {"assignment-slot": slot},
            "already-seen": [slot, *seen],
        }, opts)

    def restore(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        seen = get("already-seen", base, None, opts)
        if seen is None:
            return Result("error", b"No viable state to restore.")
        priv = dict(base.get("priv", {}))
        priv["test-key"] = {**priv.get("test-key", {}), "started-state": seen}
        return {**base, "priv": priv}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def mul(self, base: Any, request: Any) -> dict[str, Any]:
        state = get("state", base, None, {"hashpath": "ignore"})
        first, second = get("args", request, [0, 0], {"hashpath": "ignore"})
        return {"state": state, "results": [first * second]}

    def delay(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        duration = get_first([(base, "duration"), (request, "duration")], 750, opts)
        time.sleep(int(duration) / 1000)
        found = get("return", base, None, opts)
        if found is not None:
            return found
        return get("body", request, {"result": b"slept"}, opts)
