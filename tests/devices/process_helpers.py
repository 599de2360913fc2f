"""Process fixtures for the `process@1.0` tests: process messages, scheduling, and `recorder@1.0`,
an execution device that counts its calls and keeps part of its state in `priv` (so a state
restored from a snapshot is only right if `normalize` rebuilt it)."""

from __future__ import annotations

import functools
import itertools
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aonode.codecs import commit
from aonode.core import Device, Result, resolve
from aonode.crypto import Wallet
from aonode.store import MemoryStore, MessageCache, Store

_SEEDS = itertools.count(1)


class Recorder(Device):
    """`recorder@1.0`: `total` (the sum of the `value`s computed) lives in `priv`; the message
    holds `count`. `snapshot` saves the total, `normalize` restores it."""

    name = "recorder@1.0"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _note(self, key: str) -> None:
        with self._lock:
            self.calls[key] += 1

    @staticmethod
    def _with_total(base: Mapping[str, Any], total: int) -> dict[str, Any]:
        return {**base, "priv": {**(base.get("priv") or {}), "recorder": {"total": total}}}

    def init(self, base: Mapping[str, Any]) -> dict[str, Any]:
        self._note("init")
        return self._with_total({**base, "count": 0}, 0)

    def compute(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
        self._note("compute")
        live = (base.get("priv") or {}).get("recorder")
        if not isinstance(live, Mapping):
            return Result("error", {"status": 500, "body": b"recorder: no live total (not normalised?)"})
        body = request.get("body") if isinstance(request.get("body"), Mapping) else {}
        if body.get("fail") is not None:
            return Result("error", {"status": 422, "body": b"recorder: asked to fail"})
        total = live["total"] + int(body.get("value", 0))
        state = {**base, "count": base["count"] + 1,
                 "results": {"slot": request.get("slot"), "total": total, "data": str(total).encode()}}
        return self._with_total(state, total)

    def snapshot(self, base: Mapping[str, Any]) -> dict[str, Any]:
        self._note("snapshot")
        return {"body": str(base["priv"]["recorder"]["total"]).encode()}

    def normalize(self, base: Mapping[str, Any]) -> dict[str, Any]:
        self._note("normalize")
        return self._with_total(base, int(base["snapshot"]["body"]))


def node_opts(wallet: Wallet, store: Store | None = None, **extra: Any) -> dict[str, Any]:
    """Options for a node with its own cache (`store`, default a fresh memory store), that
    snapshots every slot (the reference's test build default) unless `extra` says otherwise."""
    return {
        "priv_wallet": wallet,
        "cache": MessageCache(store if store is not None else MemoryStore()),
        "process_snapshot_slots": 1,
        "process_snapshot_time": None,
        **extra,
    }


def base_process(wallet: Wallet, **keys: Any) -> dict[str, Any]:
    """`test_base_process`: a signed process scheduled on `wallet`'s node, unique per call."""
    return commit({
        "device": b"process@1.0",
        "scheduler-device": b"scheduler@1.0",
        "scheduler-location": wallet.address.encode(),
        "type": b"Process",
        "test-random-seed": next(_SEEDS),
        **keys,
    }, wallet)


def dev_test_process(wallet: Wallet) -> dict[str, Any]:
    """`dev_test_process`: a stack of two `test-device@1.0`s."""
    return base_process(wallet, **{"execution-device": b"stack@1.0",
                                   "device-stack": [b"test-device@1.0", b"test-device@1.0"]})


def recorder_process(wallet: Wallet, **keys: Any) -> dict[str, Any]:
    return base_process(wallet, **{"execution-device": b"recorder@1.0", **keys})


def schedule(process: Mapping[str, Any], wallet: Wallet, opts: Mapping[str, Any], **body: Any) -> dict[str, Any]:
    """`schedule_test_message`: POST a signed message with `body`'s keys; the assignment."""
    message = commit({"type": b"Message", **body}, wallet)
    request = commit({"path": "schedule", "method": "POST", "body": message}, wallet)
    result = resolve(process, request, opts)
    assert result.ok, result
    assert isinstance(result.value, dict)
    return result.value


def schedule_values(process: Mapping[str, Any], wallet: Wallet, opts: Mapping[str, Any], *values: int) -> None:
    for value in values:
        schedule(process, wallet, opts, value=value)


@functools.cache
def aos_image() -> bytes:
    """The AOS-style WASM module written here (tests/runtime/wat/ao_process.wat: counts its
    calls, answers in the json-iface shape)."""
    import wasmtime

    wat = Path(__file__).parents[1] / "runtime" / "wat" / "ao_process.wat"
    return bytes(wasmtime.wat2wasm(wat.read_text()))


def aos_process(wallet: Wallet, opts: dict[str, Any]) -> dict[str, Any]:
    """A process running `aos_image()` on the AOS stack (wasi, json-iface, wasm-64, multipass),
    its image stored in `opts["cache"]`, `wallet` its scheduler and authority."""
    image_id = opts["cache"].write({"content-type": b"application/wasm", "body": aos_image()})
    return base_process(wallet, **{
        "execution-device": b"stack@1.0",
        "device-stack": [b"wasi@1.0", b"json-iface@1.0", b"wasm-64@1.0", b"multipass@1.0"],
        "passes": 2, "output-prefix": b"wasm", "input-prefix": b"process", "image": image_id.encode(),
        "authority": [wallet.address.encode()],
    })
