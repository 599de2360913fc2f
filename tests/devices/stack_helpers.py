"""The reference's stack test devices (`dev_stack:generate_append_device`), shared by the
stack, dedup and multipass tests."""

from __future__ import annotations

from typing import Any

from aonode.core import Result


def append_device(separator: bytes, status: str = "ok") -> dict[str, Any]:
    """The reference's test device: appends the request's `bin` to `result`."""

    def append(base: dict[str, Any], request: dict[str, Any]) -> Any:
        if base.get("pass") == 3:
            return base
        return Result(status, {**base, "result": base["result"] + separator + request["bin"]})

    return {"append": append}


def stack(*devices: Any, **extra: Any) -> dict[str, Any]:
    """A `stack@1.0` message over `devices` (numbered from 1), with `extra` keys."""
    return {"device": b"stack@1.0", "device-stack": {str(i): d for i, d in enumerate(devices, 1)}, **extra}
