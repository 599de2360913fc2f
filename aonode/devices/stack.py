"""`stack@1.0`: run a key through a list of devices in turn (resolution-paths-cache-node.md §6).

The message's `device-stack` holds the devices (`"1".."N"`, or any keys in Map mode).

* Fold mode (the default): the request's key is resolved on device 1, its result on device 2,
  and so on. A device that lacks the key is skipped; `skip` ends the fold early; `pass`
  increments the message's `pass` and starts again from device 1; any other error fails.
* Map mode (`mode: Map` on the request or message): every device resolves the key on the
  original message; the result maps each device key to its answer.
* `transform/<devkey>/<key>` runs `key` on one device of the stack.

While a device runs, the message's `device` is that device, `device-key` its key in the stack,
and `input-prefix`/`output-prefix` come from `input-prefixes`/`output-prefixes` (devices read
them with `input_prefix`/`output_prefix`). The fold restores the stack afterwards. `set` and
`keys` are answered by `message@1.0`; `stack-keys` restricts which keys the stack answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.access import get, set_key
from aonode.core.devices import Device, MapDevice
from aonode.core.path import matches, parts
from aonode.core.resolver import ensure_loaded, resolve
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, MessageDevice, lookup
from aonode.errors import AOError, BadMessage
from aonode.message import Atom, normalize_key

__all__ = ["StackDevice", "input_prefix", "output_prefix"]

_MESSAGE = MessageDevice()
_UNSET = Atom("unset")
_UNDEFINED = Atom("undefined")


def _raw(key: Any, msg: Any, default: Any, opts: Mapping[str, Any]) -> Any:
    """`key` (a path) read from `msg` as `message@1.0` would, whatever the message's device."""
    for part in parts(key) or []:
        if isinstance(msg, list):
            msg = {str(i): v for i, v in enumerate(msg, 1)}
        if not isinstance(msg, Mapping):
            return default
        found = lookup(normalize_key(part), msg)
        if found is ABSENT:
            return default
        msg = ensure_loaded(found, opts)
    return msg


def input_prefix(base: Any, request: Any = None, opts: Mapping[str, Any] | None = None) -> bytes:
    """The input prefix of the device now running in a stack (`b""` when none)."""
    found = _raw("input-prefix", base, b"", opts or {})
    return found if isinstance(found, bytes) else normalize_key(found).encode()


def output_prefix(base: Any, request: Any = None, opts: Mapping[str, Any] | None = None) -> bytes:
    """The output prefix of the device now running in a stack (`b""` when none)."""
    found = _raw("output-prefix", base, b"", opts or {})
    return found if isinstance(found, bytes) else normalize_key(found).encode()


class StackFailed(AOError):
    """A device in the stack returned an error."""


def transform(base: Any, key: Any, opts: Mapping[str, Any]) -> Any | None:
    """`base` with the stack's device `key` in place of its device, or None when the stack
    has no such device."""
    stack = _raw("device-stack", base, None, opts)
    if stack is None:
        raise BadMessage("the message has no valid device-stack")
    norm = normalize_key(key)
    if isinstance(stack, list):
        # A list has no device of its own: message@1.0 would read it by position, as `_raw` does,
        # without a resolution's hashpath and cache work on every step of every slot.
        device = _raw(norm, stack, ABSENT, opts)
    else:
        found = resolve(stack, {"path": norm}, opts)
        device = found.value if found.status == "ok" else ABSENT
    if device is ABSENT:
        return None
    return _MESSAGE.set(base, {
        "device": device,
        "device-key": key if not isinstance(key, int) else str(key),
        "input-prefix": _raw(["input-prefixes", norm], base, _UNDEFINED, opts),
        "output-prefix": _raw(["output-prefixes", norm], base, _UNDEFINED, opts),
        "previous-device": _raw("device", base, _UNDEFINED, opts),
        "previous-input-prefix": _raw("input-prefix", base, _UNDEFINED, opts),
        "previous-output-prefix": _raw("output-prefix", base, _UNDEFINED, opts),
    })


class StackDevice(Device):
    name = "stack@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        info: dict[str, Any] = {"handler": self._router, "excludes": ["set", "keys"]}
        keys = base.get("stack-keys") if isinstance(base, Mapping) else None
        if keys is not None:
            info["exports"] = list(keys.values()) if isinstance(keys, Mapping) else keys
        return info

    def _router(self, key: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        if key == "keys":
            return _MESSAGE.keys(base)
        if matches(key, "transform"):
            return self._transformer(base, opts)
        mode = get("mode", request, None, opts)
        if mode is None:
            mode = _raw("mode", base, b"Fold", opts)
        mode = mode.decode() if isinstance(mode, bytes) else normalize_key(mode)
        if mode == "Fold":
            return self._fold(base, request, opts)
        if mode == "Map":
            return self._map(base, request, opts)
        raise BadMessage(f"stack mode must be Fold or Map, not {mode!r}")

    def _transformer(self, base: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        info = dict(self.device_info(base, opts))

        def handler(key: str, msg: Any) -> Any:
            return transform(msg, key, opts)

        info["handler"] = handler
        return {**base, "device": MapDevice({"info": lambda: info, "type": b"stack-transformer"})}

    def _fold(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        initial_device = base.get("device")
        start_pass = _raw("pass", base, _UNSET, opts)
        result = self._fold_from(set_key(base, "pass", 1, opts), request, 1, opts)
        if result.status != "ok" or not isinstance(result.value, Mapping):
            return result
        done = result.value
        return _MESSAGE.set(done, {
            "device": initial_device,
            "input-prefix": _raw("previous-input-prefix", done, _UNDEFINED, opts),
            "output-prefix": _raw("previous-output-prefix", done, _UNDEFINED, opts),
            "device-key": _UNSET,
            "device-stack-previous": _UNSET,
            "pass": start_pass,
        })

    def _fold_from(self, msg: Any, request: Any, number: int, opts: Mapping[str, Any]) -> Result:
        while True:
            current = transform(msg, number, opts)
            if current is None:
                return Result("ok", msg)
            result = resolve(current, request, opts)
            value = result.value
            if result.status == "ok" and isinstance(value, Mapping):
                msg, number = value, number + 1
            elif result.status == "error" and value == Atom("not_found"):
                msg, number = current, number + 1
            elif result.status == "ok":
                return result
            elif result.status == "skip" and isinstance(value, Mapping):
                return Result("ok", value)
            elif result.status == "pass" and isinstance(value, Mapping):
                passes = _raw("pass", value, 1, opts)
                msg, number = set_key(value, "pass", passes + 1, opts), 1
            else:
                return self._failed(msg, number, result, opts)

    def _failed(self, msg: Any, number: int, result: Result, opts: Mapping[str, Any]) -> Result:
        if opts.get("error_strategy") == "stop":
            return Result("error", {"status": 500, "body": f"stack device {number} failed: {result.value!r}".encode()})
        # A device's own 4xx (a module's failure, say) stays that status; anything else is a 500.
        found = result.value.get("status") if isinstance(result.value, Mapping) else None
        status = found if isinstance(found, int) and 400 <= found < 500 else 500
        raise StackFailed(f"stack device {number} failed with {result.status}: {result.value!r}", status=status)

    def _map(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        stack = _raw("device-stack", base, {}, opts)
        if isinstance(stack, list):
            stack = {str(i): d for i, d in enumerate(stack, 1)}
        out = {}
        for key in stack:
            if key in ("path", "hashpath", "priv"):
                continue
            current = transform(base, key, opts)
            if current is None:
                continue
            result = resolve(current, request, opts)
            if result.status == "ok":
                out[key] = result.value
        return out
