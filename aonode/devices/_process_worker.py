"""Live process states kept in memory (`dev_process_worker`, processes-compute.md §3.9).

The reference keeps one Erlang worker per process that holds the last computed state, so that
computing slot N+1 after slot N does not reload and normalise the state from the store. Here a
`Registry` per node (per message cache, so a node that restarts with a fresh cache starts cold)
holds, for each recently computed process, a `Live` entry:

    state   the process state after `slot`, live objects in `priv` included
    lock    a re-entrant lock: compute requests for one process run one at a time

Entries are kept in least-recently-used order: above `process_live_states` entries, above
`process_live_memory` bytes held by all entries together, or after `process_worker_max_idle` ms
unused, an entry is dropped (never while a request holds or waits for it), least recently used
first; an entry bigger than the whole budget is dropped as soon as its request ends. An entry's
size is measured when its state is kept and again at each trim: the bytes of every live object
in its `priv` that reports them (a Lua VM's `memory_used()`, a WASM instance's
`memory_size()`). Dropping loses nothing durable: the stored results and the latest snapshot
are in the store, and the next request for the process restores that snapshot and computes the
slots after it again (§3.4).

The registry also owns the background writer: it stores snapshots (packed off the request's
path) and, when `process_async_cache` is true, computed results; one thread, so writes land in
the order they were computed. Node shutdown (`NodeMessage.on_close`)
waits for it; so does interpreter exit, as for any `ThreadPoolExecutor`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from aonode.core import options
from aonode.errors import AOError

__all__ = ["Busy", "Live", "Registry", "memory_of", "registry"]

log = logging.getLogger(__name__)

# How long a compute request waits for another request computing the same process. A replay
# of many slots can legitimately take minutes; a wait longer than this is taken for a deadlock
# (two processes computing each other from two threads) and answered with a 503.
LOCK_TIMEOUT = 600.0
# How long a reader waits for the background writer (`Registry.drain`).
DRAIN_TIMEOUT = 30.0


class Busy(AOError):
    """Raised when a process stays locked by another compute request for too long."""

    status = 503


class Live:
    """The live state of one process (see the module docstring). `held` is one tuple, so a
    reader without the lock never sees a state with the slot of another."""

    __slots__ = ("held", "lock", "size", "used", "users")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.held: tuple[int, dict[str, Any]] | None = None
        self.used = time.monotonic()
        self.users = 0
        self.size = 0

    def keep(self, state: dict[str, Any], slot: int) -> None:
        """Remember `state` as the state after `slot`, unless a later one is already held."""
        held = self.held
        if held is None or slot >= held[0]:
            self.held = (slot, state)
            self.size = memory_of(state)

    def forget(self) -> None:
        """Drop the live state: an execution device may have changed its live objects (a Lua
        VM, a WASM memory) before failing, so the next request starts from the store."""
        self.held = None
        self.size = 0

    def at(self, slot: int) -> dict[str, Any] | None:
        """The live state if it is the state after exactly `slot`."""
        held = self.held
        return held[1] if held is not None and held[0] == slot else None

    def before(self, slot: int) -> dict[str, Any] | None:
        """The live state if it is a state before `slot` (so computing can go on from it)."""
        held = self.held
        return held[1] if held is not None and held[0] < slot else None


class Registry:
    """The live states and the result writer of one node."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: OrderedDict[str, Live] = OrderedDict()
        self._writer: ThreadPoolExecutor | None = None
        self._on_close: dict[str, Callable[[str, int, dict[str, Any]], None]] = {}
        self._last: Future[None] | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def memory(self) -> int:
        """The bytes the live states hold, as measured when each was kept."""
        with self._lock:
            return sum(live.size for live in self._live.values())

    def peek(self, proc_id: str) -> Live | None:
        """The entry of a process, if there is one (without creating or touching it)."""
        with self._lock:
            return self._live.get(proc_id)

    @contextlib.contextmanager
    def hold(self, proc_id: str, opts: Mapping[str, Any]) -> Iterator[Live]:
        """The entry of `proc_id`, locked for the block.

        Raises:
            Busy: another request held the process for longer than `LOCK_TIMEOUT`.
        """
        now = time.monotonic()
        with self._lock:
            live = self._live.get(proc_id)
            if live is None:
                live = self._live[proc_id] = Live()
            else:
                self._live.move_to_end(proc_id)
            live.used = now
            live.users += 1
            self._trim(opts, now)
        try:
            if not live.lock.acquire(timeout=LOCK_TIMEOUT):
                raise Busy(f"process {proc_id} is busy: another compute request has held it for {LOCK_TIMEOUT:.0f}s")
            try:
                yield live
            finally:
                live.lock.release()
        finally:
            with self._lock:
                live.users -= 1
                live.used = time.monotonic()
                self._trim(opts, live.used)

    def _trim(self, opts: Mapping[str, Any], now: float) -> None:
        capacity = _int_option(opts, "process_live_states", 64)
        budget = _int_option(opts, "process_live_memory", 768 * 1024 * 1024)
        max_idle = _int_option(opts, "process_worker_max_idle", 300_000) / 1000
        for live in self._live.values():  # a VM grows and shrinks after it is kept
            held = live.held
            live.size = memory_of(held[1]) if held is not None else 0
        total = sum(live.size for live in self._live.values())
        for proc_id, live in list(self._live.items()):  # least recently used first
            over = len(self._live) > capacity or total > budget
            idle = now - live.used > max_idle
            if not over and not idle:
                break
            if live.users == 0:
                del self._live[proc_id]
                total -= live.size
                if live.size:
                    log.info("process %s: live state of %d bytes dropped (%d bytes of live states, budget %d)",
                             proc_id, live.size, total, budget)

    def clear(self) -> None:
        """Forget every live state not in use."""
        with self._lock:
            for proc_id, live in list(self._live.items()):
                if live.users == 0:
                    del self._live[proc_id]

    def submit(self, write: Callable[[], None]) -> None:
        """Run `write` on the background writer (one thread: writes keep their order)."""
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aonode-process-cache")
            writer = self._writer
        self._last = writer.submit(_logged(write))

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait for every write submitted so far, leaving the writer running (a reader that
        needs the stored snapshots calls it first). After `timeout` seconds it stops waiting:
        the reader then finds an older snapshot, which costs time, never correctness."""
        last = self._last
        if last is None:
            return
        try:
            last.result(timeout=timeout)
        except FutureTimeout:
            log.warning("process: the background writer is still busy after %.0f s; going on without it", timeout)

    def flush(self) -> None:
        """Wait for every write submitted so far."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    def on_close(self, name: str, keep: Callable[[str, int, dict[str, Any]], None]) -> None:
        """Call `keep(proc_id, slot, state)` for each live state when the node shuts down, before
        they are dropped (so their progress can be stored). The first callback under a `name`
        stays; later ones under that name are ignored."""
        with self._lock:
            self._on_close.setdefault(name, keep)

    def close(self) -> None:
        """Hand each live state to the `on_close` callbacks, flush the writer and drop the live
        states (node shutdown). A failing callback is logged and skipped."""
        with self._lock:
            held = [(proc_id, live.held) for proc_id, live in self._live.items() if live.held is not None]
            callbacks = list(self._on_close.values())
        for keep in callbacks:
            for proc_id, (slot, state) in held:
                try:
                    keep(proc_id, slot, state)
                except Exception:
                    log.exception("process %s: keeping the live state at shutdown failed", proc_id)
        self.flush()
        self.clear()


def _logged(write: Callable[[], None]) -> Callable[[], None]:
    """`write`, with a failure logged: nobody waits on a background write's outcome, and a lost
    write loses only time (the state is computed again from the schedule)."""
    def run() -> None:
        try:
            write()
        except Exception:
            log.exception("process: a background write of a computed state failed")

    return run


def memory_of(state: Mapping[str, Any]) -> int:
    """The bytes held by the live objects in `state`'s `priv` (see the module docstring)."""
    return _measure(state.get("priv"), 0)


def _measure(value: Any, depth: int) -> int:
    if isinstance(value, Mapping) and depth < 4:
        return sum(_measure(v, depth + 1) for v in value.values())
    for method in ("memory_used", "memory_size"):
        found = getattr(value, method, None)
        if callable(found):
            try:
                return int(found())
            except Exception:  # a closed instance, a VM in an odd state: counted as nothing
                return 0
    return 0


def _int_option(opts: Mapping[str, Any], key: str, fallback: int) -> int:
    value = options.get(opts, key, fallback)
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return fallback


_REGISTRIES: weakref.WeakKeyDictionary[Any, Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()
_DETACHED = Registry()  # for resolutions with no message cache


def registry(opts: Mapping[str, Any]) -> Registry:
    """The registry of the node whose options these are (one per message cache)."""
    cache = opts.get("cache")
    if cache is None:
        return _DETACHED
    with _REGISTRIES_LOCK:
        try:
            found = _REGISTRIES.get(cache)
        except TypeError:  # a cache object that cannot be weakly referenced
            return _DETACHED
        if found is not None:
            return found
        found = _REGISTRIES[cache] = Registry()
    from aonode.core.node import NODE_KEY, NodeMessage

    holder = opts.get(NODE_KEY)
    if isinstance(holder, NodeMessage):
        holder.on_close(found.close)
    return found
