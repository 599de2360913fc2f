"""`multipass@1.0`: ask a stack for more passes (`dev_multipass`, processes-compute.md §6.2).

Every key except `keys` and `set` (answered as `message@1.0` would) compares the base's
`pass` with its `passes` (both default to 1): `pass < passes` → `pass` with the base
unchanged, which makes `stack@1.0` start again from its first device with `pass + 1`;
otherwise `ok` with the base unchanged. Put it last in a stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, MessageDevice, lookup
from aonode.errors import BadMessage

__all__ = ["MultipassDevice"]

_MESSAGE = MessageDevice()


def _count(key: str, base: Any, opts: Mapping[str, Any]) -> int:
    """The integer at `key` in `base` (a plain read), 1 when absent."""
    found = lookup(key, base) if isinstance(base, Mapping) else ABSENT
    if found is ABSENT:
        return 1
    found = ensure_loaded(found, opts)
    if isinstance(found, int) and not isinstance(found, bool):
        return found
    if isinstance(found, (bytes, str)):
        text = found.decode("ascii", "replace") if isinstance(found, bytes) else found
        if text.strip().isdigit():
            return int(text)
    raise BadMessage(f"multipass@1.0 needs an integer {key!r}, not {found!r}")


class MultipassDevice(Device):
    """`multipass@1.0`: `pass` until the base's `pass` reaches its `passes`."""

    name = "multipass@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"handler": self._handle}

    def _handle(self, key: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        if key == "keys":
            return _MESSAGE.keys(base)
        if key == "set":
            return _MESSAGE.set(base, request)
        if _count("pass", base, opts) < _count("passes", base, opts):
            return Result("pass", base)
        return Result("ok", base)
