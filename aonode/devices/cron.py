"""`cron@1.0`: run a request through the node later, once or on a timer (`dev_cron`,
processes-compute.md §6.5). These are node-level timers, not AO's legacy `Cron` messages.

    once?cron-path=/p&k=v              run `/p` (with `k=v`) once, now, in the background
    every?cron-path=/p&interval=N-unit  run it now and then every interval until stopped
    stop?task=<id>                     stop a task
    info                               what the paths do

`once` and `every` answer with the task ID: the ID of the request over all its
commitments. The task runs the request without `cron-path` (and `interval`), with `path`
set to the cron path, through the same pipeline as an HTTP request (`aonode.core.node.handle`), with
the node's current options and the caller's verified signers. A run that fails is logged
and the timer goes on. Interval units, by prefix and in any case: `millisecond`, `second`,
`minute`, `hour`, `day` (`500-milliseconds`, `2-Minutes`, `1-day`).

Tasks are threads in a per-node `TaskRegistry`, stopped when the node shuts down
(`NodeMessage.close`), at most `cron_max_tasks` of them (anyone may start one: without a bound,
requests could start threads until the node fails). A task leaves the registry when it ends,
so a finished `once` task is "Task not found." to `stop`, as with the reference's `hb_name`.

Differences from the reference (docs/conformance.md, `dev_cron`):

* A Python thread cannot be killed: `stop` unregisters the task at once and no run starts
  after it, but a run already under way finishes (its result is dropped).
* Starting a task whose ID is already running starts nothing and answers the same ID
  (the reference starts a second worker that nothing can stop).
* Node shutdown stops the tasks; the reference's workers outlive the HTTP listener.
* At most `cron_max_tasks` tasks run at once (503 beyond); the reference has no bound.
* Interval errors are 400s with the messages the reference means to give (its own checks
  throw terms its `catch` does not match, so it crashes).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aonode.codecs import message_id
from aonode.core import authority, options
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.node import NODE_KEY, NodeMessage, handle
from aonode.core.terms import Result
from aonode.errors import AOError, BadMessage
from aonode.text import key_text

__all__ = ["CronDevice", "Task", "TaskRegistry", "parse_interval", "task_registry"]

log = logging.getLogger("aonode.cron")

# Unit prefix → milliseconds, checked in this order (`dev_cron:parse_time/1`).
UNITS: tuple[tuple[str, int], ...] = (
    ("millisecond", 1),
    ("second", 1000),
    ("minute", 60 * 1000),
    ("hour", 60 * 60 * 1000),
    ("day", 24 * 60 * 60 * 1000),
)
_AMOUNT = re.compile(r"\+?[0-9]+")
# The longest wait `threading.Event.wait` accepts, in milliseconds.
_MAX_INTERVAL_MS = int(min(threading.TIMEOUT_MAX, 10 * 365 * 24 * 3600) * 1000)
# How long node shutdown waits for runs under way to finish, in seconds, for all tasks.
SHUTDOWN_GRACE = 2.0

NO_PATH = b"No cron path found in message."
NO_INTERVAL = b"No interval found in message."
NO_TASK_ID = b"No task ID found in message."
NOT_FOUND = b"Task not found."
BAD_VALUE = b"Invalid interval value."


class IntervalError(BadMessage, ValueError):
    """An interval that `parse_interval` cannot read; the text is the answer's body. Still a
    ValueError, as it was before it joined the `aonode.errors` tree."""


def parse_interval(value: Any) -> int:
    """Milliseconds in an interval such as `500-milliseconds` or `2-Hours`.

    Raises:
        IntervalError: not `<amount>-<unit>`, an unknown unit, or not a positive amount.
    """
    if not isinstance(value, (bytes, str)):
        raise IntervalError("Invalid interval: expected <amount>-<unit>, such as 500-milliseconds.")
    amount, dash, unit = key_text(value, errors="replace").partition("-")
    if not dash or not _AMOUNT.fullmatch(amount.strip()):
        raise IntervalError("Invalid interval: expected <amount>-<unit>, such as 500-milliseconds.")
    lowered = unit.strip().lower()
    scale = next((ms for name, ms in UNITS if lowered.startswith(name)), None)
    if scale is None:
        raise IntervalError(f"Invalid time unit: {unit}")
    millis = int(amount) * scale
    if millis <= 0 or millis > _MAX_INTERVAL_MS:
        raise IntervalError(BAD_VALUE.decode())
    return millis


@dataclass(eq=False)
class Task:
    """One background task: its thread and the event that stops it."""

    id: str
    kind: str
    path: str
    interval_ms: int | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    runs: int = 0

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class TooManyTasks(AOError):
    """A node runs its `cron_max_tasks` tasks already; `limit` is that number."""

    status = 503

    def __init__(self, limit: int) -> None:
        super().__init__(f"This node runs {limit} cron tasks already (its cron_max_tasks); stop one first.")
        self.limit = limit


class TaskRegistry:
    """The running tasks of one node, by task ID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def lookup(self, task_id: str) -> Task | None:
        """The task registered as `task_id`, or None."""
        with self._lock:
            return self._tasks.get(task_id)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._tasks)

    def start(self, task: Task, body: Callable[[Task], None], limit: int | None = None) -> Task:
        """Register `task` and run `body(task)` on a daemon thread. When a live task already
        has that ID, nothing starts and that task is returned.

        Raises:
            RuntimeError: the node has shut down.
            TooManyTasks: `limit` tasks are running already.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the node is shutting down")
            found = self._tasks.get(task.id)
            if found is not None and not found.stopping.is_set():
                return found
            if limit is not None and len(self._tasks) >= limit:
                raise TooManyTasks(limit)
            task.thread = threading.Thread(
                target=self._run, args=(task, body), name=f"aonode-cron-{task.id[:8]}", daemon=True,
            )
            self._tasks[task.id] = task
            task.thread.start()
        return task

    def _run(self, task: Task, body: Callable[[Task], None]) -> None:
        try:
            body(task)
        finally:
            with self._lock:
                if self._tasks.get(task.id) is task:
                    del self._tasks[task.id]

    def stop(self, task_id: str) -> Task | None:
        """Unregister the task and tell it to stop; None when there is no such task."""
        with self._lock:
            task = self._tasks.pop(task_id, None)
        if task is not None:
            task.stopping.set()
        return task

    def stop_all(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop every task, refuse new ones, and give runs under way `grace` seconds to end."""
        with self._lock:
            self._closed = True
            tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.stopping.set()
        deadline = time.monotonic() + grace
        for task in tasks:
            if task.thread is not None:
                task.thread.join(max(0.0, deadline - time.monotonic()))


_REGISTRIES: weakref.WeakKeyDictionary[NodeMessage, TaskRegistry] = weakref.WeakKeyDictionary()
_DETACHED = TaskRegistry()  # tasks started by resolutions that no server holds
_REGISTRIES_LOCK = threading.Lock()


def task_registry(opts: Mapping[str, Any]) -> TaskRegistry:
    """The task registry of the node whose options these are."""
    holder = opts.get(NODE_KEY)
    if not isinstance(holder, NodeMessage):
        return _DETACHED
    with _REGISTRIES_LOCK:
        found = _REGISTRIES.get(holder)
        if found is None:
            found = _REGISTRIES[holder] = TaskRegistry()
            holder.on_close(found.stop_all)
    return found


def _runner(singleton: dict[str, Any], opts: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    """A function that runs `singleton` through the node's request pipeline."""
    holder = opts.get(NODE_KEY)
    if not isinstance(holder, NodeMessage):
        holder = NodeMessage(opts)  # resolved outside a server: these options are the node
    node: NodeMessage = holder
    runtime = {k: opts[k] for k in ("cache", authority.VERIFIED_REQUEST) if k in opts}
    return lambda: handle(singleton, node, runtime)


def _run_once(task: Task, run: Callable[[], dict[str, Any]]) -> None:
    """One run; a failure is logged, never raised."""
    task.runs += 1
    try:
        answer = run()
    except Exception:
        log.exception("cron task %s: running %s failed", task.id, task.path)
        return
    status = answer.get("status") if isinstance(answer, Mapping) else None
    if isinstance(status, int) and status >= 400:
        log.warning("cron task %s: %s answered %d: %r", task.id, task.path, status, answer.get("body"))
    else:
        log.debug("cron task %s: ran %s", task.id, task.path)


def _once_body(run: Callable[[], dict[str, Any]]) -> Callable[[Task], None]:
    def body(task: Task) -> None:
        if not task.stopping.is_set():
            _run_once(task, run)

    return body


def _every_body(run: Callable[[], dict[str, Any]], interval_ms: int) -> Callable[[Task], None]:
    def body(task: Task) -> None:
        while not task.stopping.is_set():
            _run_once(task, run)
            if task.stopping.wait(interval_ms / 1000):
                return

    return body


def _cron_path(request: Any, opts: Mapping[str, Any]) -> str | Result:
    found = get("cron-path", request, None, opts)
    if found is None:
        return Result("error", NO_PATH)
    if not isinstance(found, (bytes, str)) or not key_text(found, errors="replace").strip():
        return Result("error", b"cron-path must be a path, such as /~meta@1.0/info.")
    return key_text(found, errors="replace")


class CronDevice(Device):
    """`cron@1.0`: `once`, `every`, `stop` and `info`."""

    name = "cron@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["info", "once", "every", "stop"]}

    def info(self) -> dict[str, Any]:
        return {
            "status": 200,
            "body": {
                "description": b"Cron device for scheduling messages",
                "version": b"1.0",
                "paths": {
                    "info": b"Get device info",
                    "once": b"Schedule a one-time message",
                    "every": b"Schedule a recurring message",
                    "stop": b"Stop a scheduled task {task}",
                },
            },
        }

    def once(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        path = _cron_path(request, opts)
        if isinstance(path, Result):
            return path
        task_id = message_id(dict(request), committers="all")
        singleton = {**{k: v for k, v in request.items() if k != "cron-path"}, "path": path}
        task = Task(task_id, "once", path)
        return self._start(task, _once_body(_runner(singleton, opts)), opts)

    def every(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        path = _cron_path(request, opts)
        if isinstance(path, Result):
            return path
        interval = get("interval", request, None, opts)
        if interval is None:
            return Result("error", NO_INTERVAL)
        try:
            millis = parse_interval(interval)
        except IntervalError as exc:
            return Result("error", str(exc).encode())
        task_id = message_id(dict(request), committers="all")
        singleton = {**{k: v for k, v in request.items() if k not in ("cron-path", "interval")}, "path": path}
        task = Task(task_id, "every", path, interval_ms=millis)
        return self._start(task, _every_body(_runner(singleton, opts), millis), opts)

    @staticmethod
    def _start(task: Task, body: Callable[[Task], None], opts: Mapping[str, Any]) -> Result:
        limit = options.get(opts, "cron_max_tasks")
        try:
            started = task_registry(opts).start(task, body, limit if isinstance(limit, int) else None)
        except RuntimeError:
            return Result("error", {"status": 503, "body": b"The node is shutting down."})
        except TooManyTasks as exc:
            return Result("error", {"status": exc.status, "body": exc.message.encode()})
        log.info("cron task %s: %s %s", started.id, started.kind, started.path)
        return Result("ok", started.id.encode())

    def stop(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        task_id = get("task", request, None, opts)
        if task_id is None:
            return Result("error", NO_TASK_ID)
        if not isinstance(task_id, (bytes, str)):
            return Result("error", NOT_FOUND)
        task = task_registry(opts).stop(key_text(task_id, errors="replace"))
        if task is None:
            return Result("error", NOT_FOUND)
        log.info("cron task %s: stopped", task.id)
        return Result("ok", {
            "status": 200,
            "body": {"message": b"Task stopped successfully", "task_id": task.id.encode()},
        })
