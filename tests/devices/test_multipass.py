"""Port of the reference's `dev_multipass` tests (processes-compute.md §6.2, §7
dev_multipass.erl), plus its behaviour in a stack."""

from __future__ import annotations

import pytest
from stack_helpers import append_device, stack

from aonode.core import resolve
from aonode.errors import BadMessage


def test_basic_multipass() -> None:
    first = {"device": b"multipass@1.0", "passes": 2, "pass": 1}
    second = {**first, "pass": 2}
    assert resolve(first, "Compute").status == "pass"
    assert resolve(second, "Compute").status == "ok"


def test_defaults_are_one_pass() -> None:
    result = resolve({"device": b"multipass@1.0", "x": 1}, "compute")
    assert result.status == "ok" and result.value["x"] == 1


def test_pass_returns_the_base_unchanged() -> None:
    base = {"device": b"multipass@1.0", "passes": 3, "pass": 2, "x": 1}
    result = resolve(base, "anything")
    assert result.status == "pass" and result.value == base


def test_keys_and_set_are_message_functions() -> None:
    base = {"device": b"multipass@1.0", "passes": 2}
    assert resolve(base, "keys").value == [b"device", b"passes"]
    assert resolve(base, {"path": "set", "pass": 2}).value["pass"] == 2


def test_integer_strings_are_read_as_integers() -> None:
    assert resolve({"device": b"multipass@1.0", "passes": b"2", "pass": b"1"}, "compute").status == "pass"


def test_non_integer_counts_are_a_clear_error() -> None:
    with pytest.raises(BadMessage, match="integer 'passes'"):
        resolve({"device": b"multipass@1.0", "passes": b"many"}, "compute")


def test_in_a_stack_every_device_runs_once_per_pass() -> None:
    msg = stack(append_device(b"+A"), append_device(b"+B"), b"multipass@1.0", result=b"INIT", passes=2)
    out = resolve(msg, {"path": "append", "bin": b"."}).value
    assert out["result"] == b"INIT+A.+B.+A.+B."
    assert "pass" not in out
