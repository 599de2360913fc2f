"""The AO-Core engine: the resolver, the device protocol, paths and hashpaths, HyperPATHs,
options and hooks (resolution-paths-cache-node.md §3-7, §11-12)."""

from aonode.core import cache_control, hyperpath, options
from aonode.core.access import get, get_first, keys, remove, set_key, set_values, unwrap
from aonode.core.devices import Device, DeviceNotLoadable, MapDevice, load_device
from aonode.core.resolver import Cache, ensure_loaded, internal_opts, resolve, resolve_many, resolve_path
from aonode.core.terms import NOT_FOUND, As, Resolve, Result

__all__ = [
    "NOT_FOUND",
    "As",
    "Cache",
    "Device",
    "DeviceNotLoadable",
    "MapDevice",
    "Resolve",
    "Result",
    "cache_control",
    "ensure_loaded",
    "get",
    "hyperpath",
    "get_first",
    "internal_opts",
    "keys",
    "load_device",
    "options",
    "remove",
    "resolve",
    "resolve_many",
    "resolve_path",
    "set_key",
    "set_values",
    "unwrap",
]
