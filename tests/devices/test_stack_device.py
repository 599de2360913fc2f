"""Port of the reference's `dev_stack` tests (resolution-paths-cache-node.md §14.6)."""

from __future__ import annotations

from typing import Any

import pytest
from stack_helpers import append_device, stack

from aonode.core import As, Result, get, resolve, set_key
from aonode.devices.message import MessageDevice
from aonode.devices.stack import input_prefix, output_prefix, transform


def test_transform_internal_call_device() -> None:
    msg = stack(append_device(b"_"), b"message@1.0")
    assert get("device", transform(msg, "2", {})) == b"message@1.0"


def test_transform_external_call_device() -> None:
    message = MessageDevice()

    def handler(key: str, base: dict[str, Any]) -> Any:
        if key == "keys":
            return list(base)
        return message.set(base, {key: base[key] + b"-Cool"})

    msg = {
        "device": b"stack@1.0",
        "device-stack": {"make-cool": {"info": lambda: {"handler": handler}, "suffix": b"-Cool"}},
        "value": b"Super",
    }
    result = resolve(msg, {"path": "/transform/make-cool/value"})
    assert result.status == "ok" and result.value["value"] == b"Super-Cool"


def test_example_device_for_stack() -> None:
    result = resolve({"device": append_device(b"_"), "result": b"1"}, {"path": "append", "bin": b"2"})
    assert result.value["result"] == b"1_2"


def test_simple_stack_execute() -> None:
    msg = stack(append_device(b"!D1!"), append_device(b"_D2_"), result=b"INIT")
    assert resolve(msg, {"path": "append", "bin": b"2"}).value["result"] == b"INIT!D1!2_D2_2"


def test_many_devices() -> None:
    msg = stack(*(append_device(f"+D{i}".encode()) for i in range(1, 9)), result=b"INIT")
    assert resolve(msg, {"path": "append", "bin": b"2"}).value["result"] == b"INIT+D12+D22+D32+D42+D52+D62+D72+D82"


def test_fold_restores_the_stack() -> None:
    msg = stack(append_device(b"+D1"), result=b"INIT")
    out = resolve(msg, {"path": "append", "bin": b"2"}).value
    assert out["device"] == b"stack@1.0" and "pass" not in out and "device-key" not in out


def _prefix_msg() -> dict[str, Any]:
    def prefix_set(base: Any, request: Any, opts: Any) -> Any:
        in_prefix = input_prefix(base, request, opts)
        out_prefix = output_prefix(base, request, opts)
        key = get("key", request, None, opts)
        value = get(in_prefix + b"/" + key, request, None, opts)
        return set_key(base, out_prefix + b"/" + key, value, opts)

    return stack({"prefix_set": prefix_set}, {"prefix_set": prefix_set})


def test_no_prefix() -> None:
    out = resolve(_prefix_msg(), {"path": "prefix_set", "key": b"example", "example": 1}).value
    assert get("example", out) == 1


def test_output_prefix() -> None:
    msg = {**_prefix_msg(), "output-prefixes": {"1": b"out1/", "2": b"out2/"}}
    out = resolve(msg, {"path": "prefix_set", "key": b"example", "example": 1}).value
    assert get("out1/example", As("message@1.0", out)) == 1
    assert get("out2/example", As("message@1.0", out)) == 1


def test_input_and_output_prefixes() -> None:
    msg = {
        **_prefix_msg(),
        "input-prefixes": {"1": b"in1/", "2": b"in2/"},
        "output-prefixes": {"1": b"out1/", "2": b"out2/"},
    }
    request = {"path": "prefix_set", "key": b"example", "in1": {"example": 1}, "in2": {"example": 2}}
    out = resolve(msg, request).value
    assert get("out1/example", As("message@1.0", out)) == 1
    assert get("out2/example", As("message@1.0", out)) == 2


def test_input_output_prefixes_passthrough() -> None:
    msg = {**_prefix_msg(), "output-prefix": b"combined-out/", "input-prefix": b"combined-in/"}
    request = {"path": "prefix_set", "key": b"example", "combined-in": {"example": 1}}
    out = resolve(msg, request).value
    assert get("combined-out/example", As("message@1.0", out)) == 1


def test_reinvocation() -> None:
    msg = stack(append_device(b"+D1"), append_device(b"+D2"), result=b"INIT")
    first = resolve(msg, {"path": "append", "bin": b"2"})
    assert first.value["result"] == b"INIT+D12+D22"
    second = resolve(first.value, {"path": "append", "bin": b"3"})
    assert second.value["result"] == b"INIT+D12+D22+D13+D23"


def test_skip() -> None:
    msg = stack(append_device(b"+D1", "skip"), append_device(b"+D2"), result=b"INIT")
    assert resolve(msg, {"path": "append", "bin": b"2"}).value["result"] == b"INIT+D12"


def test_pass() -> None:
    msg = stack(append_device(b"+D1", "pass"), result=b"INIT")
    assert resolve(msg, {"path": "append", "bin": b"_"}).value["result"] == b"INIT+D1_+D1_"


def test_not_found() -> None:
    special = {**append_device(b"+D2"), "special": lambda base: {**base, "output": 1337}}
    msg = stack(append_device(b"+D1"), special, result=b"INIT")
    out = resolve(msg, {"path": "append", "bin": b"_"}).value
    assert out["result"] == b"INIT+D1_+D2_"
    assert get("special/output", out) == 1337


def test_simple_map() -> None:
    msg = stack(append_device(b"+D1"), append_device(b"+D2"), result=b"INIT")
    out = resolve(msg, {"path": "append", "mode": b"Map", "bin": b"/"}).value
    assert get("1/result", out) == b"INIT+D1/"
    assert get("2/result", out) == b"INIT+D2/"


def test_failing_device_raises_by_default() -> None:
    failing = {"append": lambda base: Result("error", b"broken")}
    msg = stack(failing, result=b"INIT")
    with pytest.raises(Exception, match="stack device 1 failed"):
        resolve(msg, {"path": "append", "bin": b"x"})
    stopped = resolve(msg, {"path": "append", "bin": b"x"}, {"error_strategy": "stop"})
    assert stopped.status == "error"


def test_bad_mode_is_a_clear_error() -> None:
    msg = stack(append_device(b"+D1"), result=b"INIT")
    with pytest.raises(Exception, match="Fold or Map"):
        resolve(msg, {"path": "append", "mode": b"Sideways", "bin": b"x"})
