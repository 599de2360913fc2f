"""`apply@1.0`: run a request that another message names (`dev_apply`,
resolution-paths-cache-node.md §13, "dev_apply").

Every key but `keys`, `set`, `set-path` and `remove` applies:

* **eval** (the usual form): the key that was called names a key holding a path; the message
  at `source` (a key path, else the base without `device`) is resolved with that path, as a
  singleton request (`/~scheduler@1.0/status` names two messages, as in a URL).
* **pair**: when the request has both `base` and `request`, the message at path `request` is
  resolved on the message at path `base`; its path becomes the key called (unless the key
  called is `pair`).

A path value may start with `base:` or `request:` (`req:`) to say which message holds it;
without one, the request is tried first, then the base. `simple-pay@1.0` prices an `apply`
request as the request it applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core import hyperpath
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.resolver import resolve, resolve_many
from aonode.core.terms import Result
from aonode.text import as_text

__all__ = ["ApplyDevice"]

_EXCLUDED = ("keys", "set", "set-path", "set_path", "remove")
_MISSING = object()


def _plain(msg: Mapping[str, Any]) -> Mapping[str, Any]:
    if as_text(msg.get("device", ""), errors="replace") != "apply@1.0":
        return msg
    return {k: v for k, v in msg.items() if k != "device"}


def _find(path: Any, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    """The value at key path `path`, read from the message its prefix names (request first)."""
    text = as_text(path, errors="replace")
    # A message whose device is apply@1.0 is read as plain keys: through the device, a read
    # would call this function again (router@1.0 preprocess sends such messages to workers;
    # an HTTP request's keys are on both its base and its request).
    base, request = _plain(base), _plain(request)
    sources: tuple[Mapping[str, Any], ...] = (request, base)
    for prefix, only in (("base:", base), ("request:", request), ("req:", request)):
        if text.startswith(prefix):
            text, sources = text[len(prefix):], (only,)
            break
    for source in sources:
        found = get(text, source, _MISSING, {**opts, "hashpath": "ignore"})
        if found is not _MISSING:
            return found
    return _MISSING


def _not_found(what: str) -> Result:
    return Result("error", {"status": 400, "body": f"apply@1.0: {what}".encode()})


class ApplyDevice(Device):
    """`apply@1.0` (see the module docstring)."""

    name = "apply@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"default": self._apply, "excludes": list(_EXCLUDED)}

    def _apply(self, key: str, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        if "base" in request and "request" in request:
            return self._pair(key, base, request, opts)
        source_key = request.get("source", base.get("source"))
        if source_key is not None:
            source = _find(source_key, base, request, opts)
            if source is _MISSING or not isinstance(source, Mapping):
                return _not_found(f"no message at `source` ({as_text(source_key, errors='replace')}).")
        else:
            source = {k: v for k, v in base.items() if k != "device"}
        path = _find(key, base, request, opts)
        if path is _MISSING or not isinstance(path, (bytes, str)):
            return _not_found(f"`{key}` holds no path to apply.")
        steps = hyperpath.parse({**source, "path": path})
        return resolve_many(steps, opts)

    def _pair(self, key: str, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        on = _find(request["base"], base, request, opts)
        applied = _find(request["request"], base, request, opts)
        if on is _MISSING or applied is _MISSING:
            return _not_found("`base` and `request` must name messages.")
        if isinstance(applied, Mapping) and key != "pair":
            applied = {**applied, "path": key}
        return resolve(on, applied, opts)
