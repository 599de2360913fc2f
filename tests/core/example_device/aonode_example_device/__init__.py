"""A device that lives outside aonode and reaches it through the `aonode.devices` entry point."""

from collections.abc import Mapping
from typing import Any

from aonode.core import Device, get


class Greeter(Device):
    def greet(self, base: Any, request: Any, opts: Mapping[str, Any]) -> bytes:
        name: bytes = get("name", request, b"world", opts)
        return b"Hello, " + name + b"!"
