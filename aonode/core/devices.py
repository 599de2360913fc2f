"""The device protocol: loading a device and choosing the function that answers a key
(resolution-paths-cache-node.md §3.4).

A device is either

* an instance of `Device` (or any object with a `name`): its functions are methods named
  after the keys they answer (`set-mode` → `set_mode`; a Python keyword gets a trailing `_`),
  and an optional `device_info(base, opts)` returns the info map; or
* a plain `dict` from key names to callables (a "map device", handy in tests), whose optional
  `info` entry is a callable returning the info map.

Every device function takes the first N of `(base, request, opts)`, or of
`(key, base, request, opts)` for handlers and defaults, where N is the number of positional
parameters it declares (the reference truncates the argument list to the function's arity).

Info keys that matter: `exports` (whitelist), `excludes` (blacklist), `handler` (a function
for every exported key, or `{"func": f, "excludes": [...]}`), `default` (a function for keys
the device lacks, or a device name to delegate to), `grouper` (see `inflight`).

Devices are found by exact name in the node's `preloaded_devices` option, else in the built-in
table, else among the `aonode.devices` entry points of installed packages. A `device_sandbox`
option (a set of names, set by `lua@5.3a` for resolutions made from Lua) limits which load.
"""

from __future__ import annotations

import importlib
import inspect
import keyword
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from aonode._memo import Memo
from aonode.errors import BadMessage, NotFound
from aonode.message import Atom, is_id, normalize_key

__all__ = [
    "BUILTIN_DEVICES",
    "ENTRY_POINT_GROUP",
    "Device",
    "DeviceNotLoadable",
    "MapDevice",
    "call",
    "device_info",
    "find_function",
    "function_name",
    "is_exported",
    "known_devices",
    "load_device",
    "message_device",
]

ENTRY_POINT_GROUP = "aonode.devices"

# Name → "module:attribute". Imported on first use so that a node only pays for what it runs.
BUILTIN_DEVICES: Mapping[str, str] = {
    "ans104@1.0": "aonode.devices.codecs:Ans104Device",
    "arweave@2.9-pre": "aonode.devices.arweave:ArweaveDevice",
    "apply@1.0": "aonode.devices.apply:ApplyDevice",
    "cacheviz@1.0": "aonode.devices.cacheviz:CacheVizDevice",
    "cache@1.0": "aonode.devices.cache:CacheDevice",
    "copycat@1.0": "aonode.devices.copycat:CopycatDevice",
    "cron@1.0": "aonode.devices.cron:CronDevice",
    "dedup@1.0": "aonode.devices.dedup:DedupDevice",
    "faff@1.0": "aonode.devices.faff:FaffDevice",
    "flat@1.0": "aonode.devices.codecs:FlatDevice",
    "genesis-wasm@1.0": "aonode.devices.genesis_wasm:GenesisWasmDevice",
    "greenzone@1.0": "aonode.devices.greenzone:GreenZoneDevice",
    "httpsig@1.0": "aonode.devices.codecs:HttpsigDevice",
    "hyperbuddy@1.0": "aonode.devices.hyperbuddy:HyperbuddyDevice",
    "json-iface@1.0": "aonode.devices.json_iface:JsonIfaceDevice",
    "json@1.0": "aonode.devices.codecs:JsonDevice",
    "lookup@1.0": "aonode.devices.lookup:LookupDevice",
    "local-name@1.0": "aonode.devices.local_name:LocalNameDevice",
    "lua@5.3a": "aonode.devices.lua:LuaDevice",
    "manifest@1.0": "aonode.devices.manifest:ManifestDevice",
    "message@1.0": "aonode.devices.message:MessageDevice",
    "meta@1.0": "aonode.devices.meta:MetaDevice",
    "multipass@1.0": "aonode.devices.multipass:MultipassDevice",
    "name@1.0": "aonode.devices.name:NameDevice",
    "node-process@1.0": "aonode.devices.node_process:NodeProcessDevice",
    "p4@1.0": "aonode.devices.p4:P4Device",
    "patch@1.0": "aonode.devices.patch:PatchDevice",
    "process@1.0": "aonode.devices.process:ProcessDevice",
    "push@1.0": "aonode.devices.push:PushDevice",
    "query@1.0": "aonode.devices.query:QueryDevice",
    "relay@1.0": "aonode.devices.relay:RelayDevice",
    "router@1.0": "aonode.devices.router:RouterDevice",
    "scheduler@1.0": "aonode.devices.scheduler:SchedulerDevice",
    "simple-pay@1.0": "aonode.devices.simple_pay:SimplePayDevice",
    "snp@1.0": "aonode.devices.snp:SnpDevice",
    "stack@1.0": "aonode.devices.stack:StackDevice",
    "structured@1.0": "aonode.devices.codecs:StructuredDevice",
    "test-device@1.0": "aonode.devices.test_device:TestDevice",
    "wasi@1.0": "aonode.devices.wasi:WasiDevice",
    "wasm-64@1.0": "aonode.devices.wasm:WasmDevice",
    "whois@1.0": "aonode.devices.whois:WhoisDevice",
}


# The content type of Arweave path manifests (served by manifest@1.0).
_MANIFEST_TYPES = (b"application/x.arweave-manifest+json", "application/x.arweave-manifest+json")


class DeviceNotLoadable(BadMessage):
    """The message names a device this node cannot load."""


class Device:
    """Base class for devices written in Python. Subclasses set `name` and define key methods."""

    name: str = ""

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        """The device's info map (exports, excludes, handler, default, grouper)."""
        return {}


class MapDevice:
    """A device given as a dict of key → callable."""

    __slots__ = ("functions", "name")

    def __init__(self, functions: Mapping[Any, Any], name: str = "") -> None:
        self.functions = {normalize_key(k): v for k, v in functions.items()}
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MapDevice) and other.functions == self.functions

    def __hash__(self) -> int:
        return id(self.functions)


# Positional parameter counts by function (a bound method's by its function).
_ARITY: Memo[Any, int] = Memo(4096)


def _arity(fn: Callable[..., Any]) -> int:
    target = getattr(fn, "__func__", fn)
    try:
        return _ARITY.get_or_compute(target, lambda: _count_positional(fn))
    except TypeError:  # an unhashable callable
        return _count_positional(fn)


def _count_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 3
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 4
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def call(fn: Callable[..., Any], args: list[Any]) -> Any:
    """Call `fn` with as many of `args` as it declares positional parameters."""
    return fn(*args[: _arity(fn)])


def function_name(key: str) -> str:
    """The Python attribute that answers `key`: lowercased, `-` → `_`, keywords get a `_`."""
    name = key.lower().replace("-", "_")
    return name + "_" if keyword.iskeyword(name) else name


_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def _instantiate(found: Any) -> Any:
    if isinstance(found, type):
        found = found()
    if isinstance(found, Mapping):
        return MapDevice(found)
    return found


def _import(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _from_registry(name: str, opts: Mapping[str, Any]) -> Any:
    preloaded = opts.get("preloaded_devices")
    if isinstance(preloaded, Mapping) and name in preloaded:
        found = preloaded[name]
        return _instantiate(_import(found) if isinstance(found, str) else found)
    with _lock:
        if name in _loaded:
            return _loaded[name]
    if name in BUILTIN_DEVICES:
        device = _instantiate(_import(BUILTIN_DEVICES[name]))
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            raise DeviceNotLoadable(
                f"device {name!r} is not loadable: no preloaded device or entry point has that name. "
                f"Devices this node knows: {', '.join(known_devices(opts))}"
            )
        try:
            device = _instantiate(matches[0].load())
        except Exception as exc:  # a broken third-party package must not take the node down
            raise DeviceNotLoadable(f"device {name!r} is not loadable: {exc}") from exc
    if isinstance(device, Device) and not device.name:
        device.name = name
    with _lock:
        return _loaded.setdefault(name, device)


def known_devices(opts: Mapping[str, Any]) -> list[str]:
    """The names of every device this node can load: preloaded, built in, and from entry points."""
    preloaded = opts.get("preloaded_devices")
    names = set(preloaded) if isinstance(preloaded, Mapping) else set()
    names.update(BUILTIN_DEVICES)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(str(n) for n in names)


def load_device(spec: Any, opts: Mapping[str, Any]) -> Any:
    """The device that `spec` (a message's `device` value) names.

    Raises:
        DeviceNotLoadable: no device has that name, or the value names a remote device by ID
            (remote device code is not loaded by aonode).
    """
    if isinstance(spec, (Device, MapDevice)):
        return spec
    if isinstance(spec, Mapping):
        return MapDevice(spec)
    if isinstance(spec, Atom):
        spec = spec.name
    if isinstance(spec, bytes):
        spec = spec.decode("utf-8", "surrogateescape")
    if not isinstance(spec, str):
        if hasattr(spec, "name"):
            return spec
        raise DeviceNotLoadable(f"a device cannot be named by a {type(spec).__name__}")
    if is_id(spec):
        raise DeviceNotLoadable(f"device {spec!r} is not loadable: remote devices are disabled")
    allowed = opts.get("device_sandbox")
    if allowed is not None and spec not in allowed:
        raise DeviceNotLoadable(f"device {spec!r} is not available here: the device sandbox allows only "
                                f"{', '.join(sorted(allowed))}")
    return _from_registry(spec, opts)


def message_device(msg: Any, opts: Mapping[str, Any]) -> Any:
    """The device of a message: its `device` key (exact, then lower-case), else `manifest@1.0`
    for an Arweave path manifest (by its content type, so `/<manifest-id>/<path>` works as on a
    gateway), else `message@1.0`."""
    spec = None
    if isinstance(msg, Mapping):
        spec = msg.get("device")
        if spec is None:
            spec = next((v for k, v in msg.items() if isinstance(k, str) and k.lower() == "device"), None)
        if spec is None and msg.get("content-type") in _MANIFEST_TYPES:
            spec = "manifest@1.0"
    return load_device("message@1.0" if spec is None else spec, opts)


def device_info(device: Any, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
    """The info map of a device (empty when it declares none)."""
    if isinstance(device, MapDevice):
        fn = device.functions.get("info")
        if callable(fn) and _arity(fn) <= 2:
            found = call(fn, [base, opts])
            return found if isinstance(found, Mapping) else {}
        return {}
    info_fn = getattr(device, "device_info", None)
    if info_fn is None:
        return {}
    found = call(info_fn, [base, opts])
    return found if isinstance(found, Mapping) else {}


def _keyset(values: Any) -> set[str]:
    return {normalize_key(v) for v in values} if values else set()


def is_exported(info: Mapping[str, Any], key: str) -> bool:
    """Whether `key` is answered by the device rather than falling through to `message@1.0`."""
    if key == "info":
        return True
    if normalize_key(key) in _keyset(info.get("excludes")):
        return False
    if "exports" in info and info["exports"] is not None:
        return normalize_key(key) in _keyset(info["exports"])
    return True


def find_function(device: Any, key: str) -> Callable[..., Any] | None:
    """The device's own function for `key` (no handlers or defaults), or None."""
    if isinstance(device, MapDevice):
        fn = device.functions.get(key)
        if fn is None:
            fn = device.functions.get(key.lower())
        if key == "info" and fn is not None and _arity(fn) <= 2:
            return None
        return fn if callable(fn) else None
    name = function_name(key)
    if name.startswith("_") or name == "device_info":
        return None
    fn = getattr(device, name, None)
    return fn if callable(fn) and not isinstance(fn, type) else None


Found = tuple[bool, Callable[..., Any], Any, Mapping[str, Any]]


def find(msg: Any, key: str, opts: Mapping[str, Any]) -> Found:
    """`message_to_fun`: `(add_key, function, device, info)` for resolving `key` on `msg`.

    `add_key` is True when the function is a handler or default that takes the key first.

    Raises:
        DeviceNotLoadable: the message's device cannot be loaded.
        NotFound: not even `message@1.0` answers the key.
    """
    device = message_device(msg, opts)
    return _find_on(device, msg, key, opts)


def _find_on(device: Any, msg: Any, key: str, opts: Mapping[str, Any]) -> Found:
    info = device_info(device, msg, opts)
    exported = is_exported(info, key)
    handler = info.get("handler")
    if handler is not None and exported:
        if isinstance(handler, Mapping):
            if normalize_key(key) in _keyset(handler.get("excludes")):
                return _find_on(load_device("message@1.0", opts), msg, key, opts)
            return True, handler["func"], device, info
        return True, handler, device, info
    fn = find_function(device, key) if exported else None
    if fn is not None:
        return False, fn, device, info
    default = info.get("default")
    if default is not None and exported:
        if callable(default) and not isinstance(default, type):
            return True, default, device, info
        return _find_on(load_device(default, opts), msg, key, opts)
    message = load_device("message@1.0", opts)
    if device is message:
        raise NotFound(f"message@1.0 cannot resolve key {key!r}")
    return _find_on(message, msg, key, opts)
