"""The forms a resolution step can take besides a plain message (resolution-paths-cache-node.md §1, §3).

* `As(device, message)`: `{as, Device, Msg}`. As a base, `message` (a map, an ID or a
  path) takes the device `device`; as a request, the key in `message["path"]` is resolved
  on the current message as if its device were `device`.
* `Resolve(messages)`: `{resolve, [Msgs]}`, a pending sub-resolution, e.g. `(x/y/z)` in a
  HyperPATH. Its result is used where it stands.
* `Result(status, value)`: what a resolution returns. `status` is `"ok"` for success;
  devices may return other statuses (`"error"`, `"failure"`, `"skip"`, `"pass"`,
  `"created"`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aonode.message import Atom

__all__ = ["NOT_FOUND", "As", "Resolve", "Result"]


@dataclass(frozen=True, slots=True)
class As:
    """`{as, Device, Msg}`: `message` viewed through the device named `device`."""

    device: Any
    message: Any


@dataclass(frozen=True, slots=True)
class Resolve:
    """`{resolve, Messages}`: the list of messages to resolve; its result stands in its place."""

    messages: list[Any]


@dataclass(frozen=True, slots=True)
class Result:
    """A resolution's status and value. `Result("ok", v)` is success."""

    status: str
    value: Any

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# `{error, not_found}`: the answer for a key a message does not have.
NOT_FOUND = Result("error", Atom("not_found"))
