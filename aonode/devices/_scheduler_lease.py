"""Schedulers in a cluster: one node schedules a process at a time, by a lease in Redis
(issue 20; processes-compute.md §2.5 for what a scheduler must keep: gapless slots, one hash
chain).

Nodes that share a Redis scheduler store (`scheduler_store`, or the node's `store`, with a
`redis` store first) share every process's log, so any of them could assign the next slot.
They agree on who does with two keys per process, both in the process's cluster slot (the
hash tag of its log, `_redis`), set only by one Lua script (Redis runs a script alone, so no
consensus of our own is involved):

    lease   the URL of the node that schedules the process, expiring `scheduler_lease_time`
            ms after its last assignment (`PX`); renewed by every assignment it makes.
    mutex   a token of the one OS process (a worker of that node) assigning right now, with
            the same expiry; removed when the assignment is written.

A node asks for both before each assignment (`SchedulerLease.hold`):

* the lease is another node's: `LeaseHeld` with that node's URL; the scheduler device passes
  the message on to it (and answers 503 when it does not answer: it died, and its lease runs
  out within `scheduler_lease_time` ms, after which the next node to be asked takes over);
* the mutex is taken (another worker of this node is assigning): wait for it, up to
  `MUTEX_WAIT` seconds or the lease time, whichever is longer, then `StoreError` 503;
* otherwise the node holds both and assigns. Its writes to the process's log go through
  `RedisStore.fenced`, so each one checks the mutex is still its own: a node that paused past
  its lease (and was taken over) fails instead of writing a slot twice.

The log itself is the shared one, so whoever takes over continues the same slot sequence and
hash chain (it reads the latest slot and chain from the store, as after a restart). A node
that takes a process over from another (the lease's previous owner, kept without expiry, was
someone else) publishes a new scheduler-location record for the scheduler's address, with its
own URL, in the shared store (`_scheduler_log.write_location`), so readers of the location
find the node that schedules now.

Every node of the cluster runs with the same scheduler wallet (the process names one
scheduler address); the lease decides which node uses it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from aonode.codecs import commit
from aonode.core import options
from aonode.devices import _scheduler_log as log_store
from aonode.errors import AOError
from aonode.message import Message, sequence_index
from aonode.store import Store, StoreError
from aonode.store._redis import RedisStore

__all__ = ["LeaseHeld", "SchedulerLease", "attach", "redis_of"]

log = logging.getLogger("aonode.scheduler")

MUTEX_WAIT = 10.0
"""Seconds a worker waits for its node's other workers to finish assigning (at least the lease time)."""

WAIT_STEP = 0.002
"""Seconds between asks while another worker of this node holds the mutex (doubling, to 50 ms)."""

# KEYS: lease, mutex, owner. ARGV: this node's URL, this assignment's token, the lease time (ms).
_ACQUIRE = """
local lease = redis.call('GET', KEYS[1])
if lease and lease ~= ARGV[1] then
  return {'held', lease, redis.call('PTTL', KEYS[1])}
end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {'busy', '', redis.call('PTTL', KEYS[2])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
local owner = redis.call('GET', KEYS[3])
if owner ~= ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1])
end
return {'ok', owner or '', 0}
"""

# KEYS: mutex. ARGV: the token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseHeld(AOError):
    """Another node schedules the process; `holder` is its URL, `remaining_ms` its lease."""

    status = 503

    def __init__(self, proc_id: str, holder: str, remaining_ms: int) -> None:
        super().__init__(f"scheduler@1.0: process {proc_id} is scheduled by {holder} (its lease runs out "
                         f"in {max(remaining_ms, 0)} ms); ask it, or ask again after that")
        self.holder = holder
        self.remaining_ms = remaining_ms


def redis_of(store: Store) -> RedisStore | None:
    """The Redis store that takes a store's writes (it, or a chain's first), or None."""
    return store.writer if isinstance(store.writer, RedisStore) else None


class SchedulerLease:
    """The lease of one process on one Redis store, asked for by one node.

    Args:
        store: the Redis store holding the process's log.
        proc_id: the process.
        holder: this node's URL (what another node forwards messages to).
        ttl_ms: how long the lease outlives the holder's last assignment.
    """

    def __init__(self, store: RedisStore, proc_id: str, holder: str, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError(f"the lease time must be positive, got {ttl_ms}")
        self.store = store
        self.proc_id = proc_id
        self.holder = holder
        self.ttl_ms = ttl_ms
        shard = f"{log_store.PREFIX}/lease/{proc_id}"
        self.lease_key = store.lease_key(shard, "holder")
        self.mutex_key = store.lease_key(shard, "mutex")
        self.owner_key = store.lease_key(shard, "owner")

    def __repr__(self) -> str:
        return f"SchedulerLease({self.proc_id!r}, holder={self.holder!r})"

    def _acquire(self, token: bytes) -> tuple[str, str, int]:
        try:
            found = self.store.client.eval(_ACQUIRE, 3, self.lease_key, self.mutex_key, self.owner_key,
                                           self.holder.encode(), token, str(self.ttl_ms).encode())
        except Exception as exc:  # redis-py raises its own errors; the store's words for them
            raise StoreError(f"scheduler@1.0: the Redis lease of {self.proc_id} failed: {exc}", status=503) from exc
        state, who, remaining = found
        return (state.decode() if isinstance(state, bytes) else str(state),
                who.decode() if isinstance(who, bytes) else str(who), int(remaining))

    @contextlib.contextmanager
    def hold(self) -> Iterator[str]:
        """Hold the lease and the mutex for one assignment; the block's writes to the process's
        log are fenced by the mutex. Yields the lease's previous owner ('' for none).

        Raises:
            LeaseHeld: another node holds the lease.
            StoreError: 503 when this node's other workers kept the mutex past the wait, or
                Redis failed.
        """
        token = f"{os.getpid()}-{uuid.uuid4().hex}".encode()
        # The mutex of a worker that died expires with the lease, so waiting always ends; the
        # bound only keeps a request from waiting behind a long queue of its siblings.
        deadline = time.monotonic() + max(self.ttl_ms / 1000, MUTEX_WAIT)
        pause = WAIT_STEP
        while True:
            state, who, remaining = self._acquire(token)
            if state == "ok":
                break
            if state == "held":
                raise LeaseHeld(self.proc_id, who, remaining)
            if time.monotonic() > deadline:
                raise StoreError(f"scheduler@1.0: process {self.proc_id} is being assigned by another worker "
                                 "that has not finished within the lease time; ask again", status=503)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        try:
            with self.store.fenced(self.mutex_key, token):
                yield who
        finally:
            with contextlib.suppress(Exception):  # an unreleased mutex expires with the lease
                self.store.client.eval(_RELEASE, 1, self.mutex_key, token)


def own_url(opts: Mapping[str, Any]) -> str:
    """This node's URL as peers reach it (`port_external` over `port`)."""
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    scheme = "http" if text(options.get(opts, "protocol", "http1")) == "http1" else "https"
    port = options.get(opts, "port_external") or options.get(opts, "port")
    return f"{scheme}://{text(options.get(opts, 'host'))}:{text(port)}"


def attach(server: log_store.ProcessScheduler, opts: Mapping[str, Any]) -> None:
    """Give a process's scheduler a lease when its store is Redis (nothing otherwise, or when
    it has one already)."""
    if server.lease is not None:
        return
    store = redis_of(server.store)
    if store is None:
        return
    ttl = int(options.get(opts, "scheduler_lease_time"))
    server.lease = SchedulerLease(store, server.proc_id, own_url(opts), ttl)
    server.on_takeover = lambda previous: publish_location(server, previous, opts)


def publish_location(server: log_store.ProcessScheduler, previous: str, opts: Mapping[str, Any]) -> None:
    """After taking a process over: a new signed scheduler-location record for each of the
    scheduler's addresses, naming this node, in the shared store. Failures are logged (the
    slot is already written; the next takeover tries again)."""
    assert server.lease is not None
    url = server.lease.holder
    ttl = options.get(opts, "scheduler_location_ttl")
    for wallet in server.wallets:
        try:
            known = log_store.read_location(wallet.address, server.store)
            nonce = known.get("nonce") if known is not None else None
            previous_nonce = sequence_index(nonce) if isinstance(nonce, (int, bytes, str)) else 0
            record: Message = {
                "data-protocol": b"ao",
                "variant": b"ao.N.1",
                "type": b"scheduler-location",
                "url": url.encode(),
                "nonce": previous_nonce + 1,
                "time-to-live": int(ttl),
                "codec-device": b"httpsig@1.0",
            }
            log_store.write_location(commit(record, wallet), server.store)
            log.info("scheduler: took %s over from %s; location of %s is now %s", server.proc_id,
                     previous or "nobody", wallet.address, url)
        except (AOError, ValueError) as exc:
            log.warning("scheduler: could not publish the location of %s after taking %s over: %s",
                        wallet.address, server.proc_id, exc)
