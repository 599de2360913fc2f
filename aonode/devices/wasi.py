"""`wasi@1.0`: the WASI calls a process module makes, served from the state (`dev_wasi`,
processes-compute.md §4.4).

`init` mounts the device at `wasm/stdlib/wasi_snapshot_preview1` and gives the state three file
descriptors (`0` /dev/stdin, `1` /dev/stdout, `2` /dev/stderr) over a virtual file system, `vfs`,
whose files are binaries in the state (so a snapshot of the state has them). `compute` does
nothing. As imports (`wasm-64@1.0` resolves them here with `state` and `args`):

    fd_write(fd, iovs, iovs_len, nwritten)   appends the iovecs' bytes to the fd's file
    fd_read(fd, iovs, iovs_len, nread)       copies from the fd's file at its offset
    clock_time_get(...)                      errno 1, nothing written: time is not available
                                             to a deterministic process
    fd_prestat_get(fd, ...)                  EBADF (8): no preopened directories
    environ_sizes_get, args_sizes_get        zero variables, zero arguments

Pointers and lengths are 32- or 64-bit as the module's signature says (`i` or `I`). Other WASI
calls are not served here, so `wasm-64@1.0` answers them with zeros.

What a module writes to fds 1 and 2 also goes to the node's log, logger `aonode.wasm`, at debug
level (`log_output`, shared with `genesis-wasm@1.0`, which keeps no files: only the last
`TAIL` bytes of stderr, for the reason of a failed call).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.devices.wasm import instance_of
from aonode.errors import BadMessage
from aonode.runtime.wasm import WasmInstance

__all__ = ["TAIL", "WasiDevice", "iovecs", "log_output", "stderr_tail", "stdout"]

NAME = "wasi@1.0"
TAIL = 2048  # bytes of stderr kept to explain a failed call
_LOG_LINE = 4096  # bytes of one write shown in the log
log = logging.getLogger("aonode.wasm")


def log_output(fd: int, data: bytes) -> None:
    """A module's write to stdout (1) or stderr (2), at debug level on `aonode.wasm`."""
    if data and fd in (1, 2) and log.isEnabledFor(logging.DEBUG):
        text = data[:_LOG_LINE].decode("utf-8", "replace").rstrip("\n")
        more = f" ... ({len(data)} bytes)" if len(data) > _LOG_LINE else ""
        log.debug("WASM %s: %s%s", "stdout" if fd == 1 else "stderr", text, more)


def stderr_tail(data: bytes) -> str:
    """The last `TAIL` bytes of what a module wrote to stderr, as text for an error reason."""
    return data[-TAIL:].decode("utf-8", "replace").strip()
_FDS = {"0": "/dev/stdin", "1": "/dev/stdout", "2": "/dev/stderr"}
_EBADF = 8


def stdout(state: Mapping[str, Any]) -> bytes:
    """What the module wrote to its standard output."""
    vfs = state.get("vfs") or {}
    dev = vfs.get("dev") if isinstance(vfs, Mapping) else None
    found = dev.get("stdout", b"") if isinstance(dev, Mapping) else b""
    return found if isinstance(found, bytes) else b""


def _instance(state: Mapping[str, Any]) -> WasmInstance:
    found = instance_of(state, b"wasm") or instance_of(state, b"")
    if found is None:
        raise BadMessage("wasi@1.0: no WASM instance in the state")
    return found


def _path(filename: Any) -> list[str]:
    text = filename.decode() if isinstance(filename, bytes) else str(filename)
    return [p for p in text.split("/") if p]


def _file(state: Mapping[str, Any], filename: Any) -> bytes:
    node: Any = state.get("vfs") or {}
    for part in _path(filename):
        node = node.get(part, b"") if isinstance(node, Mapping) else b""
    return node if isinstance(node, bytes) else b""


def _with_file(state: Mapping[str, Any], filename: Any, data: bytes) -> dict[str, Any]:
    parts = _path(filename)
    vfs = dict(state.get("vfs") or {})
    node = vfs
    for part in parts[:-1]:
        child = dict(node.get(part) or {})
        node[part] = child
        node = child
    node[parts[-1]] = data
    return {**state, "vfs": vfs}


def iovecs(instance: WasmInstance, iovs: int, count: int, wide: bool) -> list[tuple[int, int]]:
    """The (pointer, length) pairs of `count` iovecs at `iovs` (64-bit fields when `wide`)."""
    size = 16 if wide else 8
    raw = instance.read(iovs, size * count)
    half = size // 2
    return [(int.from_bytes(raw[i * size:i * size + half], "little"),
             int.from_bytes(raw[i * size + half:(i + 1) * size], "little")) for i in range(count)]


def _args(request: Mapping[str, Any]) -> tuple[list[int], bool]:
    args = request.get("args")
    if not isinstance(args, list) or not all(isinstance(a, int) for a in args):
        raise BadMessage("wasi@1.0: an import call needs integer `args`")
    sig = request.get("func-sig", b"")
    return args, b"I" in (sig if isinstance(sig, bytes) else str(sig).encode())


class WasiDevice(Device):
    """`wasi@1.0` (see the module docstring)."""

    name = NAME

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(base, Mapping):
            raise BadMessage("wasi@1.0 needs a message to initialise")
        wasm = dict(base.get("wasm") or {})
        stdlib = dict(wasm.get("stdlib") or {})
        stdlib["wasi_snapshot_preview1"] = {"device": NAME.encode()}
        wasm["stdlib"] = stdlib
        fds = {fd: {"filename": name.encode(), "offset": 0} for fd, name in _FDS.items()}
        vfs = base.get("vfs") or {"dev": {"stdin": b"", "stdout": b"", "stderr": b""}}
        return Result("ok", {**base, "wasm": wasm, "file-descriptors": base.get("file-descriptors", fds), "vfs": vfs})

    def compute(self, base: Any) -> Any:
        return base

    def fd_write(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        state = dict(base.get("state") or {})
        (fd, iovs, count, written_at, *_), wide = _args(request)
        entry = (state.get("file-descriptors") or {}).get(str(fd))
        if not isinstance(entry, Mapping):
            return Result("ok", {"state": state, "results": [_EBADF]})
        instance = _instance(state)
        data = b"".join(instance.read(ptr, length) for ptr, length in iovecs(instance, iovs, count, wide))
        log_output(fd, data)
        filename, offset = entry.get("filename"), int(entry.get("offset", 0))
        current = _file(state, filename)
        updated = current[:offset] + data + current[offset + len(data):]
        state = _with_file(state, filename, updated)
        fds = dict(state.get("file-descriptors") or {})
        fds[str(fd)] = {**entry, "offset": offset + len(data)}
        state["file-descriptors"] = fds
        instance.write(written_at, len(data).to_bytes(8 if wide else 4, "little"))
        return Result("ok", {"state": state, "results": [0]})

    def fd_read(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        state = dict(base.get("state") or {})
        (fd, iovs, count, read_at, *_), wide = _args(request)
        entry = (state.get("file-descriptors") or {}).get(str(fd))
        if not isinstance(entry, Mapping):
            return Result("ok", {"state": state, "results": [_EBADF]})
        instance = _instance(state)
        content, offset, total = _file(state, entry.get("filename")), int(entry.get("offset", 0)), 0
        for ptr, length in iovecs(instance, iovs, count, wide):
            chunk = content[offset + total:offset + total + length]
            instance.write(ptr, chunk)
            total += len(chunk)
            if len(chunk) < length:
                break
        fds = dict(state.get("file-descriptors") or {})
        fds[str(fd)] = {**entry, "offset": offset + total}
        state["file-descriptors"] = fds
        instance.write(read_at, total.to_bytes(8 if wide else 4, "little"))
        return Result("ok", {"state": state, "results": [0]})

    def clock_time_get(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return Result("ok", {"state": base.get("state"), "results": [1]})

    def fd_prestat_get(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """No preopened directories: EBADF ends wasi-libc's scan of descriptors 3, 4, ..."""
        return Result("ok", {"state": base.get("state"), "results": [_EBADF]})

    def environ_sizes_get(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return self._no_strings(base, request)

    def args_sizes_get(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return self._no_strings(base, request)

    @staticmethod
    def _no_strings(base: Any, request: Any) -> Result:
        """No environment variables and no arguments: zero count, zero bytes."""
        state = dict(base.get("state") or {})
        (count_at, size_at, *_), wide = _args(request)
        instance = _instance(state)
        width = 8 if wide else 4
        instance.write(count_at, bytes(width))
        instance.write(size_at, bytes(width))
        return Result("ok", {"state": state, "results": [0]})
