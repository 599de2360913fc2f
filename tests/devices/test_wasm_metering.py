"""Issue 24: `wasm_metering` (`fuel` by default, or `epoch`) for `wasm-64@1.0`. Both meters
compute the same answers and both end an endless loop with an error result (epoch by its time
limit, `wasm_time_limit`); the instance stays usable; an unknown meter is refused by name."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from aonode.core import resolve
from aonode.errors import AOError

WAT = Path(__file__).parents[1] / "runtime" / "wat"
POW = bytes(wasmtime.wat2wasm((WAT / "pow.wat").read_text()))


def _run(state: dict[str, Any], function: str, *params: Any, **opts: Any) -> dict[str, Any]:
    request = {"path": "compute", "function": function.encode(), "parameters": list(params)}
    result = resolve(state, request, {"hashpath": "ignore", **opts})
    assert result.ok, result
    assert isinstance(result.value, dict)
    return result.value


def _started(**opts: Any) -> dict[str, Any]:
    base = {"device": b"wasm-64@1.0", "image": POW, "stdlib": {"my_lib": {"device": b"test-device@1.0"}}}
    result = resolve(base, {"path": "init"}, {"hashpath": "ignore", **opts})
    assert result.ok, result
    assert isinstance(result.value, dict)
    return result.value


@pytest.mark.parametrize("metering", ["fuel", "epoch"])
def test_both_meters_compute_the_same(metering: str) -> None:
    state = _started(wasm_metering=metering)
    assert state["priv"]["instance"].metering == metering
    assert _run(state, "pow", 3, 4, wasm_metering=metering)["results"]["output"] == [81]


def test_epoch_ends_an_endless_loop_by_time_and_the_instance_goes_on() -> None:
    opts = {"wasm_metering": "epoch", "wasm_time_limit": 0.2}
    state = _started(**opts)
    started = time.monotonic()
    after = _run(state, "forever", **opts)
    assert time.monotonic() - started < 10
    assert after["results"]["type"] == b"error" and b"ran out of time" in after["results"]["body"]
    assert _run(after, "pow", 2, 5, **opts)["results"]["output"] == [32]


def test_an_unknown_meter_is_refused_by_name() -> None:
    with pytest.raises(AOError, match="wasm_metering must be one of fuel, epoch"):
        _started(wasm_metering="cycles")
