"""`name@1.0`: names resolved through the node's resolvers (`dev_name`, node-services.md §5.3).

    <K>       each message in the `name_resolvers` option is asked `{path: lookup, key: K}` in
              order; the first `ok` answer wins (none: 404). With `load` (default true) the
              answer is read from the cache as a message ID, so `/~name@1.0/<K>/deep` resolves
              the named message's `deep`; with `load=false` the answer itself is returned.
    request   a `request` hook (`{"device": "name@1.0", "path": "request"}` in the `on`
              option): a request whose `host` header's first label is a registered name (as in
              `myapp.example.com` or `myapp.localhost:8734`) is resolved on the named message,
              so `http://myapp.<node>/` serves a permaweb app by its name. A host that names
              nothing (an IP address, a bare host name, an unknown label) passes through.

The lookups themselves (`resolve_name`, `host_name`) are `aonode.core.names`'s: the HTTP
server asks them too, without importing this device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.names import host_name, resolve_name
from aonode.core.terms import Result
from aonode.message import is_id
from aonode.text import as_text

__all__ = ["NameDevice"]

NAME = "name@1.0"


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, (bytes, str)) and as_text(value, errors="replace").lower() == "false")


def _loaded(value: Any, opts: Mapping[str, Any]) -> Result:
    if not isinstance(value, (bytes, str)):
        return Result("ok", value)
    cache = opts.get("cache")
    found = cache.read(as_text(value, errors="replace")) if cache is not None else None
    if found is None:
        named = as_text(value, errors="replace")
        return Result("error", {"status": 404, "body": f"name@1.0: the named {named} is not stored".encode()})
    return Result("ok", found)


def _lookup(key: str, request: Any, opts: Mapping[str, Any]) -> Result:
    found = resolve_name(key, opts)
    if found is None:
        return Result("error", {"status": 404, "body": f"name@1.0: no resolver knows the name {key!r}".encode()})
    load = request.get("load", True) if isinstance(request, Mapping) else True
    return Result("ok", found) if _false(load) else _loaded(found, opts)


class NameDevice(Device):
    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"excludes": ["keys", "set"],
                "default": lambda key, base, request, opts: _lookup(key, request, opts)}

    def request(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """`request` hook: resolve the request on the message its `host` names."""
        if not isinstance(request, Mapping) or not isinstance(request.get("request"), Mapping):
            return Result("ok", request)
        name = host_name(request["request"].get("host"))
        steps = request.get("body")
        if name is None or not isinstance(steps, list):
            return Result("ok", request)
        found = resolve_name(name, opts)
        if not isinstance(found, (bytes, str)) or not is_id(as_text(found, errors="replace")):
            return Result("ok", request)
        if steps and isinstance(steps[0], Mapping) and "path" not in steps[0]:
            steps = steps[1:]  # the request itself as the base: the named message replaces it
        return Result("ok", {**request, "body": [as_text(found, errors="replace"), *steps]})
