"""`test-device@1.0`: the small device the reference's tests (and ours) resolve against.

    test_func   always `GOOD_FUNCTION`
    info        a description of the device
    load        the base with its device set to this one
    index       an index page: `i like <name>!`
    init        sets `already-seen` to []
    compute     records the request's `slot` in `results/assignment-slot` and `already-seen`
    restore     copies `already-seen` into the private `test-key/started-state`
    snapshot    an empty message
    mul         multiplies the request's two `args`
    delay       sleeps `duration` ms (default 750), then returns `return` or the request's body
    update_state       hands the request to the test worker named by its `test-id`
    increment_counter  adds one to the count of the test worker named by its `test-id`

Test workers stand in for the reference's `hb_name`-registered test processes: a test
registers a `Worker` under an ID with `register_worker`, and the two keys above find it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from aonode.core.access import get, get_first, set_values
from aonode.core.devices import Device
from aonode.core.terms import Result

__all__ = ["TestDevice", "Worker", "register_worker", "unregister_worker"]


class Worker:
    """A test worker: a counter and the last state message handed to it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._state: Any = None

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def state(self) -> Any:
        with self._lock:
            return self._state

    def increment(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def update(self, state: Any) -> None:
        with self._lock:
            self._state = state


_WORKERS: dict[str, Worker] = {}
_WORKERS_LOCK = threading.Lock()


def register_worker(worker_id: str, worker: Worker) -> None:
    """Make `worker` reachable by `update_state` and `increment_counter` as `worker_id`."""
    with _WORKERS_LOCK:
        _WORKERS[worker_id] = worker


def unregister_worker(worker_id: str) -> None:
    with _WORKERS_LOCK:
        _WORKERS.pop(worker_id, None)


def _worker(request: Any, opts: Mapping[str, Any], missing: bytes) -> Worker | Result:
    worker_id = get("test-id", request, None, opts)
    if worker_id is None:
        return Result("error", b"No test ID found in message.")
    key = worker_id.decode("utf-8", "replace") if isinstance(worker_id, bytes) else str(worker_id)
    with _WORKERS_LOCK:
        found = _WORKERS.get(key)
    return found if found is not None else Result("error", missing)


class TestDevice(Device):
    name = "test-device@1.0"

    def test_func(self) -> bytes:
        return b"GOOD_FUNCTION"

    def info(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        paths = ("info", "test_func", "compute", "init", "restore", "mul", "snapshot", "load", "index", "delay",
                 "update_state", "increment_counter")
        return {
            "status": 200,
            "body": {
                "description": b"Test device for testing the AO-Core framework",
                "version": b"1.0",
                "paths": {p: f"{p} function".encode() for p in paths},
            },
        }

    def load(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {**base, "device": b"test-device@1.0"}

    def index(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        name = get("name", base, b"turtles", opts)
        return {"content-type": b"text/html", "body": b"i like " + name + b"!"}

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        return set_values(base, {"already-seen": []}, opts)

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        slot = get("slot", request, None, opts)
        seen = get("already-seen", base, [], opts)
        return set_values(base, {
            "random-key": b"random-value",
            "results": {"assignment-slot": slot},
            "already-seen": [slot, *seen],
        }, opts)

    def restore(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        seen = get("already-seen", base, None, opts)
        if seen is None:
            return Result("error", b"No viable state to restore.")
        priv = dict(base.get("priv", {}))
        priv["test-key"] = {**priv.get("test-key", {}), "started-state": seen}
        return {**base, "priv": priv}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def mul(self, base: Any, request: Any) -> dict[str, Any]:
        state = get("state", base, None, {"hashpath": "ignore"})
        first, second = get("args", request, [0, 0], {"hashpath": "ignore"})
        return {"state": state, "results": [first * second]}

    def delay(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        duration = get_first([(base, "duration"), (request, "duration")], 750, opts)
        time.sleep(int(duration) / 1000)
        found = get("return", base, None, opts)
        if found is not None:
            return found
        return get("body", request, {"result": b"slept"}, opts)

    def update_state(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        worker = _worker(request, opts, b"No test worker found.")
        if isinstance(worker, Result):
            return worker
        worker.update(dict(request))
        return {"status": 200, "body": b"updated"}

    def increment_counter(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        worker = _worker(request, opts, b"No test worker found for increment.")
        if isinstance(worker, Result):
            return worker
        return {"status": 200, "count": worker.increment()}
