"""`patch@1.0`: move data from one path of a message to another (`dev_patch`,
processes-compute.md §6.3).

Two modes, one algorithm:

    patches   move the sub-messages of the source that are patches (`method: PATCH` or
              `device: patch@1.0`), minus their `method`, merged in key order (later wins);
              the other entries stay in the source. Also the `compute` key.
    all       move the whole source; its path is removed.

Paths, each found in the first of these that has it (default `/`, the message's root):

    from    request `patch-from`, base `patch-from`, request `from`, base `from`
    to      request `patch-to`,   base `patch-to`,   request `to`,   base `to`

A first segment `req:` or `base:` on the from-path picks the message the source is read
from (default: the base). Everything happens in that source message: the source path is
rewritten, the moved data is set at the to-path (merged when a message is already there,
merged into the root for `/`), and that message is the result. So with `req:` the result is
the updated request, as in the reference. A source that is not there gives `not_found`,
which `stack@1.0` treats as "skip this device".

`init`, `normalize` and `snapshot` return the base unchanged, so the device can sit in an
execution stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.access import get_first, set_key, set_values
from aonode.core.devices import Device
from aonode.core.path import parts
from aonode.core.resolver import ensure_loaded, internal_opts, resolve
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, lookup
from aonode.errors import BadMessage
from aonode.message import Atom, erlang_key_order
from aonode.text import as_text

__all__ = ["PatchDevice"]

_UNSET = Atom("unset")
# Written at the source path before the remaining source, so that it replaces rather than
# merges with what was there (the reference writes the same marker).
_PLACEHOLDER = b"patch-error"


def _path_parts(value: Any, what: str) -> list[str]:
    try:
        found = parts(value)
    except TypeError:
        found = None
    if found is None or not all(isinstance(p, str) for p in found):
        raise BadMessage(f"{what} must be a path such as /results/outbox, not {value!r}")
    return found


def _source(raw: Any, base: Any, request: Any) -> tuple[Any, list[str]]:
    """The message the source is read from and the path inside it."""
    found = _path_parts(raw, "patch-from")
    if found:
        prefix, colon, rest = found[0].partition(":")
        if colon and prefix in ("base", "req"):
            return (base if prefix == "base" else request), ([rest] if rest else []) + found[1:]
    return base, found


def _is_patch(entry: Any) -> bool:
    if not isinstance(entry, Mapping):
        return False
    method, device = lookup("method", entry), lookup("device", entry)
    return (method is not ABSENT and as_text(method, errors="surrogateescape") == "PATCH") or (
        device is not ABSENT and as_text(device, errors="surrogateescape") == "patch@1.0"
    )


def _as_map(value: Any, where: str) -> Mapping[str, Any]:
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value, 1)}
    if not isinstance(value, Mapping):
        raise BadMessage(f"patch@1.0 looks for patches in a message, but {where} holds a {type(value).__name__}")
    return value


def _move(mode: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
    raw_from = get_first(
        [(request, "patch-from"), (base, "patch-from"), (request, "from"), (base, "from")], b"/", opts,
    )
    raw_to = get_first([(request, "patch-to"), (base, "patch-to"), (request, "to"), (base, "to")], b"/", opts)
    holder, from_path = _source(raw_from, base, request)
    to_path = _path_parts(raw_to, "patch-to")
    where = "/" + "/".join(from_path)
    if not isinstance(holder, Mapping):
        raise BadMessage("patch@1.0 needs a message to read the source from")
    if from_path:
        found = resolve(holder, {"path": from_path}, internal_opts(opts))
        if found.status != "ok":
            return found
        source = ensure_loaded(found.value, opts)
    elif mode == "all":
        raise BadMessage("patch@1.0 cannot move a whole message: give `all` a patch-from below the root")
    else:
        source = holder

    if mode == "patches":
        entries = _as_map(source, where)
        patches: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key in erlang_key_order(list(entries)):
            entry = entries[key]
            loaded = ensure_loaded(entry, opts) if key != "priv" else entry
            if key != "priv" and _is_patch(loaded):
                patches[key] = loaded
            else:
                rest[key] = entry
        to_write: Any = {}
        for patch in patches.values():
            to_write = set_values(to_write, {k: v for k, v in patch.items() if k != "method"}, opts)
        remaining: Any = rest
    else:
        to_write, remaining = source, _UNSET

    if from_path:
        holder = set_key(holder, from_path, _PLACEHOLDER, opts)
        holder = set_key(holder, from_path, remaining, opts)
    else:  # patches taken from the root: the root keeps everything else
        holder = dict(remaining)
    if not to_path and not isinstance(to_write, Mapping):
        raise BadMessage(f"patch@1.0 cannot merge the {type(to_write).__name__} at {where} into the root")
    return Result("ok", set_key(holder, to_path, to_write, opts))


class PatchDevice(Device):
    """`patch@1.0`: `patches` (also `compute`) and `all`, plus no-op execution hooks."""

    name = "patch@1.0"

    def all(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Move everything at the from-path to the to-path."""
        return _move("all", base, request, opts)

    def patches(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Move the patch messages found at the from-path to the to-path."""
        return _move("patches", base, request, opts)

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return _move("patches", base, request, opts)

    def init(self, base: Any) -> Any:
        return base

    def normalize(self, base: Any) -> Any:
        return base

    def snapshot(self, base: Any) -> Any:
        return base

