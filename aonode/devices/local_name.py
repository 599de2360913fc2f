"""`local-name@1.0`: names this node gives to values, such as process IDs (`dev_local_name`).

    lookup     the value registered under the request's `key` (also: any other key is looked
               up as a name, `GET /~local-name@1.0/<name>`)
    register   `key` → `value`, for requests signed by the node's operator (403 otherwise)

Names come from the node's `local_names` option (a map), then from the store, where a name is a
link `local-name@1.0/<key>` to the stored value, so registrations survive a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.node import is_operator, operator_said
from aonode.core.terms import NOT_FOUND, Result
from aonode.errors import BadMessage
from aonode.message import normalize_key

__all__ = ["LocalNameDevice", "lookup_name", "register_name"]

PREFIX = "local-name@1.0"


def _key(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if not isinstance(value, str) or not value or "/" in value:
        raise BadMessage(f"local-name@1.0: a name is a non-empty text without '/', not {value!r}")
    return normalize_key(value)


def lookup_name(name: Any, opts: Mapping[str, Any]) -> Any:
    """The value registered under `name`, or None."""
    key = _key(name)
    preset = opts.get("local_names")
    if isinstance(preset, Mapping) and key in preset:
        return preset[key]
    cache = opts.get("cache")
    return cache.read(f"{PREFIX}/{key}") if cache is not None else None


def register_name(name: Any, value: Any, opts: Mapping[str, Any]) -> None:
    """Register `value` under `name` in the node's store (no permission check).

    Raises:
        BadMessage: the name is not a plain text, or the node has no store.
    """
    key = _key(name)
    cache = opts.get("cache")
    if cache is None:
        raise BadMessage("local-name@1.0: this node has no store to keep names in")
    cache.link(cache.write(value), f"{PREFIX}/{key}")


def _lookup(name: Any, opts: Mapping[str, Any]) -> Result:
    found = lookup_name(name, opts)
    return NOT_FOUND if found is None else Result("ok", found)


class LocalNameDevice(Device):
    name = PREFIX

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"excludes": ["keys", "set"], "default": lambda key, base, request, opts: _lookup(key, opts)}

    def lookup(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The value registered under the request's `key`."""
        key = get("key", request, None, opts)
        if key is None:
            raise BadMessage("local-name@1.0: lookup needs a `key`")
        return _lookup(key, opts)

    def register(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Register the request's `value` under its `key`; only the operator may."""
        if not isinstance(request, Mapping) or not is_operator(request, opts):
            return Result("error", {"status": 403, "message": b"Unauthorized."})
        said = operator_said(request, opts)
        key, value = get("key", said, None, opts), get("value", said, None, opts)
        if key is None or value is None:
            raise BadMessage("local-name@1.0: register needs a `key` and a `value`")
        register_name(key, value, opts)
        return Result("ok", b"Registered.")
