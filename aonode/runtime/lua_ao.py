"""The `ao` Lua library: AO-Core resolution from inside Lua (`dev_lua_lib`, processes-compute.md §5.3).

    ao.resolve(singleton)        a request message such as {path = "/~relay@1.0/call?..."}, parsed
                                 like an HTTP request and resolved; returns status, result
    ao.resolve(base, "a/b/c")    the path's parts resolved on `base`
    ao.resolve({m1, m2, ...})    a message sequence; an element {"as", device, msg} is `msg`
                                 viewed as `device`
    ao.get(key, base)            AO-Core get (note the argument order); the value or nil
    ao.set(base, key, value)     AO-Core set; the new message (also ao.set(base, {k = v}))
    ao.event([group,] event)     a log line; returns "ok"

Resolutions run with hashpaths ignored and, when the VM's message has a `device-sandbox` list,
only with the devices it names (plus `structured@1.0` and `message@1.0`, without which no message
resolves). Errors come back to Lua as `"error", reason`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aonode.core.access import get, set_key, set_values
from aonode.core.path import parts
from aonode.core.resolver import resolve_many, resolve_path
from aonode.core.terms import As, Result
from aonode.errors import AOError, BadMessage

__all__ = ["AoLibrary", "sandbox_opts"]

log = logging.getLogger("aonode.lua")

ALWAYS_ALLOWED = ("message@1.0", "structured@1.0")


def sandbox_opts(opts: Mapping[str, Any], devices: Iterable[str] | None) -> dict[str, Any]:
    """`opts` for resolutions made from Lua: hashpaths ignored, devices limited to `devices`."""
    out = {**opts, "hashpath": "ignore"}
    if devices is not None:
        out["device_sandbox"] = frozenset((*devices, *ALWAYS_ALLOWED))
    return out


def _as(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 3 and value[0] in (b"as", "as"):
        return As(value[1], value[2])
    return value


def _status(result: Result) -> tuple[Any, ...]:
    return (result.status.encode(), result.value)


class AoLibrary:
    """The host side of the `ao` table for one VM. `opts` is set by the caller before every call
    into the VM (resolutions use the options of the request being computed)."""

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        self.opts: Mapping[str, Any] = opts or {}

    def resolve(self, *args: Any) -> tuple[Any, ...]:
        try:
            if len(args) == 1 and isinstance(args[0], Mapping):
                return _status(resolve_path(args[0], self.opts))
            if len(args) == 2 and isinstance(args[1], bytes):
                steps = parts(args[1]) or []
                return _status(resolve_many([_as(args[0]), *steps], self.opts))
            if len(args) == 1 and isinstance(args[0], list):
                return _status(resolve_many([_as(m) for m in args[0]], self.opts))
            raise BadMessage("ao.resolve takes a request message, a base and a path, or a list of messages")
        except AOError as exc:
            return (b"error", exc.message.encode("utf-8", "replace"))

    def get(self, *args: Any) -> tuple[Any, ...]:
        if len(args) != 2:
            raise BadMessage("ao.get takes a key and a message")
        return (get(_as(args[0]), _as(args[1]), None, self.opts),)

    def set(self, *args: Any) -> tuple[Any, ...]:
        if len(args) == 3:
            return (set_key(args[0], args[1], args[2], self.opts),)
        if len(args) == 2 and isinstance(args[1], Mapping):
            return (set_values(args[0], args[1], self.opts),)
        raise BadMessage("ao.set takes a message, a key and a value, or a message and a table of values")

    def event(self, *args: Any) -> tuple[Any, ...]:
        group, event = (b"global", args[0]) if len(args) == 1 else (args[0], args[1:])
        log.debug("lua event %r: %r", group, event)
        return (b"ok",)
