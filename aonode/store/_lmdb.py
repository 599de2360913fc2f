"""`hb_store_lmdb`: the embedded default store (resolution-paths-cache-node.md §9.2).

One flat LMDB key space with full paths as keys (`a/b/c`, UTF-8). Each value
starts with one tag byte, as the reference's RocksDB store does:

    0x01 + target path     a link
    0x02 + bytes           a value
    0x03                   a group (children are the keys below `path/`)

This diverges from the reference's LMDB encoding, where a group is the literal
value `group` and a link is `link:<target>`: there, a genuine value equal to
`group` or starting with `link:` is misread (§15.2 pitfall 13). With a tag
byte every value reads back as written.

Durability: the environment syncs on every commit (`sync`, `metasync`), so a
write that has returned survives SIGKILL or power loss. A killed process
leaves its reader slot behind; `reader_check()` at open clears such slots, and
LMDB's writer mutex is process-shared and robust, so a writer killed mid-commit
does not block the next one (the half-written transaction is simply absent).

Concurrency: LMDB allows one environment per file per process, so every
LMDBStore on one directory shares one environment (reference counted; the
first open's capacity applies). Each thread gets its own read transactions.
`transaction()` gives the calling thread a write transaction for its block,
`snapshot()` a read transaction; operations inside either block run in it.

Group commit (issue 20, 21). Every commit costs two fsyncs (data, then the meta page), which
dominated writes under concurrency: each request's transaction queued on LMDB's one writer and
paid its own fsyncs. So the writes of concurrent threads share one LMDB transaction and one
commit (`_Batch`), leader/follower style: a writer that finds no batch running becomes its
leader, begins the LMDB transaction, runs its own block, then runs the blocks of the writers
that queued meanwhile, one at a time, each in a nested transaction of its own (a block that
raises rolls back its own writes only), and commits once for all. A writer that gives its
block as a function (`transact`, and every single write) has it run by the leader, in the
leader's thread; only a `with transaction()` block is handed the transaction to run in its own
thread. The difference matters across OS processes: the batch holds LMDB's writer lock, which
every worker of the node shares, and a hand-over waits for the other thread to get the GIL
back from the request threads running meanwhile (measured at about half the time a batch held
the lock, under a mixed load of 16 clients). A writer's
`transaction()` (or single write) returns only after the commit that covers it, so a caller
told "done" is durable exactly as before. A lone writer waits for nothing: it leads at once
and commits when its block ends. Several OS processes on one directory (`--workers`) still
take turns on LMDB's writer lock, a batch at a time. Inside a block the thread reads its own
writes and those of the batch's earlier blocks, which commit with it; other threads see none
of them until the commit. Contract for callers, as with any exclusive writer lock: a block
must not wait for another thread's write (nor for a lock such a writer holds while it waits
for its commit); the blocks here are short store work. A caller that serialises its blocks with
a lock of its own (the scheduler, one process's slots) lets it go in `transaction(ordered=...)`
and, when a thread waits for it, says so first (`expect_writer`): the batch then waits for that
thread's block (`EXPECT_WAIT` at most) instead of committing without it.

Growth (issue 17): the map size (`capacity`) only bounds the file, and a full map used to turn
every write into a 507. Now, before a write transaction that is not nested in another, the
store checks the room left in the map; with less than `GROW_BELOW` of it left, the map doubles
(`env.set_mapsize`). A single write that still finds the map full grows it the same way and
runs again (up to `GROW_ATTEMPTS` times); a `transaction()` block, whose work cannot be replayed
here, fails with a 503 to be asked again, the map grown. The map never grows past the file's
size plus the free space of its disk less `DISK_RESERVE`: when that leaves no room, the disk
itself is full and the answer is a 507 that says so (as is a write the disk refuses, ENOSPC).
LMDB remaps the file on a resize, so no transaction of this OS process may be open meanwhile:
every transaction passes a gate (`_Gate`) that a resize closes while it waits for the open ones
to end. Another OS process on the same directory (a worker of `aonode serve --workers`) finds
the larger map when it next begins a transaction (LMDB says MAP_RESIZED) and adopts it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias, TypeVar

import lmdb

from aonode.store._base import (
    MAX_LINK_HOPS,
    Kind,
    Names,
    Store,
    StoreError,
    normalize_path,
    parent_and_name,
    resolve_links,
)

__all__ = ["DEFAULT_CAPACITY", "LMDBStore"]

# The reference's default map size. The file is sparse: the map size only bounds its growth.
DEFAULT_CAPACITY = 16 * 1024**3
# The map grows when less than this fraction of it is free, and doubles.
GROW_BELOW = 0.25
# A single write that finds the map full grows it (doubling) and runs again, this many times in all.
GROW_ATTEMPTS = 8
# Disk space left free whatever the map's size: the rest of the node (logs, the fs store) needs some.
DISK_RESERVE = 64 * 1024 * 1024
# How long a resize waits for the open transactions of this OS process to end.
RESIZE_WAIT = 30.0
# Concurrent read transactions across all processes; each thread holds at most one per store.
MAX_READERS = 256

_LINK, _VALUE, _GROUP = 1, 2, 3
_LINK_TAG, _VALUE_TAG, _GROUP_TAG = bytes([_LINK]), bytes([_VALUE]), bytes([_GROUP])

T = TypeVar("T")
Txn: TypeAlias = "lmdb.Transaction[bytes]"


class _Local(threading.local):
    """The transaction a thread is inside (`transaction()` or `snapshot()`), if any."""

    txn: Txn | None = None
    write: bool = False


class _Gate:
    """Counts the open transactions; `closed()` waits until none is open and keeps new ones out."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = 0
        self._closed = False

    def enter(self) -> None:
        with self._changed:
            while self._closed:
                self._changed.wait()
            self._open += 1

    def leave(self) -> None:
        with self._changed:
            self._open -= 1
            if self._open == 0:
                self._changed.notify_all()

    @contextlib.contextmanager
    def closed(self, timeout: float) -> Iterator[bool]:
        """The block runs with no transaction open (True), or after `timeout` seconds with some
        still open (False); new transactions wait for the block either way."""
        with self._changed:
            while self._closed:
                self._changed.wait()
            self._closed = True
            ready = self._changed.wait_for(lambda: self._open == 0, timeout)
        try:
            yield ready
        finally:
            with self._changed:
                self._closed = False
                self._changed.notify_all()


# The most blocks one commit covers: a bound on how long the first of them waits for the last.
MAX_BATCH = 64
# How long a batch waits for a writer announced by `expect_writer` before it commits without it.
EXPECT_WAIT = 0.05


class _Member:
    """One writer waiting in (or leading) a batch: the hand-over of the transaction and the result.

    A member with a `work` function (`transact`) has it run by whichever thread leads the batch,
    so the batch never waits for that member's thread to be scheduled; a member without one
    (`transaction()`, a `with` block) is handed the transaction and runs its block itself."""

    def __init__(self, work: Callable[[], Any] | None = None, ordered: Callable[[], None] | None = None) -> None:
        self.turn = threading.Event()  # set by the leader: run your block now (or lead, if `lead`)
        self.finished = threading.Event()  # set by the member: my block has ended
        self.done = threading.Event()  # set by the leader: the commit covering the block has ended
        self.lead = False
        self.parent: Txn | None = None
        self.error: BaseException | None = None  # the commit's failure, for every member
        self.map_full = False  # the member's block found the map full
        self.work = work
        self.ordered = ordered
        self.result: Any = None  # what `work` returned
        self.raised: BaseException | None = None  # what `work` raised (its writes rolled back)


class _Batch:
    """The writers of one OS process that share the next commit (see "Group commit")."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leading = False
        self.queue: deque[_Member] = deque()
        self.commits = 0  # LMDB write transactions committed by batches (for tests and benchmarks)
        self.arrived = threading.Condition(self.lock)
        self.expected = 0  # writers announced (`expect_writer`) that have not joined yet

    def join(self, member: _Member) -> bool:
        """Queue `member`; True when it leads (no batch was running), else wait for its turn."""
        with self.lock:
            if self.expected:
                self.expected -= 1
            if not self.leading:
                self.leading = True
                return True
            self.queue.append(member)
            self.arrived.notify_all()
        member.turn.wait()  # a member with `work` is woken to lead, or once its work is committed
        return member.lead

    def next(self) -> _Member | None:
        """The next queued writer; when none is queued but one was announced, wait a moment for it."""
        with self.lock:
            if not self.queue and self.expected:
                self.arrived.wait_for(lambda: bool(self.queue) or not self.expected, EXPECT_WAIT)
                if not self.queue:
                    self.expected = 0  # it did not come in time: commit without it
            return self.queue.popleft() if self.queue else None

    def announce(self) -> None:
        with self.lock:
            if self.leading:
                self.expected += 1

    def hand_on(self) -> None:
        """The leader is done: the first writer still queued leads the next batch."""
        with self.lock:
            if not self.queue:
                self.leading = False
                return
            heir = self.queue.popleft()
        heir.lead = True
        heir.turn.set()


class _Shared:
    """One open environment and the stores using it."""

    def __init__(self, env: lmdb.Environment, path: str) -> None:
        self.env = env
        self.path = path
        self.users = 0
        self.local = _Local()
        self.db = env.open_db()
        self.max_key = env.max_key_size()
        self.gate = _Gate()
        self.grow_lock = threading.Lock()
        self.batch = _Batch()

    def room(self) -> tuple[int, int]:
        """The map size and the bytes of it in use (up to the last page written)."""
        info = self.env.info()
        return int(info["map_size"]), (int(info["last_pgno"]) + 1) * int(self.env.stat()["psize"])

    def grow(self, full: bool = False) -> None:
        """Double the map (at most to what the disk can hold); `full`: a write found it full.
        Called with no transaction open on this thread.

        Raises:
            StoreError: 507 when the disk has no room for a larger map; 503 when the open
                transactions did not end in time.
        """
        with self.grow_lock:
            size, used = self.room()
            if not full and size - used >= size * GROW_BELOW:
                return  # another thread grew it meanwhile
            data = os.path.join(self.path, "data.mdb")
            on_disk = os.path.getsize(data) if os.path.exists(data) else 0
            ceiling = on_disk + max(0, shutil.disk_usage(self.path).free - DISK_RESERVE)
            wanted = min(2 * size, ceiling)
            if wanted <= size:
                raise _disk_full(self.path, f"the LMDB map of {size} bytes is full")
            with self.gate.closed(RESIZE_WAIT) as ready:
                if not ready:
                    raise StoreError("store: the LMDB map is full and could not grow while other requests "
                                     "read it; ask again", status=503)
                try:
                    self.env.set_mapsize(wanted)
                except lmdb.Error as exc:
                    raise StoreError(f"store: the LMDB map could not grow to {wanted} bytes: {exc}") from exc

    def begin(self, write: bool) -> Txn:
        """A new transaction; the caller has entered the gate. When another OS process has grown
        the map (a worker of `aonode serve --workers`), LMDB refuses until this one adopts the
        new size: adopt it, then begin again.

        Raises:
            StoreError: LMDB failed (503 when the map could not be adopted in time).
        """
        try:
            return self.env.begin(write=write)
        except lmdb.MapResizedError:
            pass
        except lmdb.Error as exc:
            raise _store_error(exc) from exc
        self.gate.leave()  # adopting waits for this process's open transactions, ours included
        try:
            with self.grow_lock, self.gate.closed(RESIZE_WAIT) as ready:
                if not ready:
                    raise StoreError("store: another process grew the LMDB map and it could not be adopted "
                                     "while other requests read it; ask again", status=503)
                try:
                    self.env.set_mapsize(0)  # 0: the size the other process set
                except lmdb.Error as exc:
                    raise _store_error(exc) from exc
        finally:
            self.gate.enter()
        try:
            return self.env.begin(write=write)
        except lmdb.Error as exc:
            raise _store_error(exc) from exc

    def ensure_room(self) -> None:
        """Grow the map if less than `GROW_BELOW` of it is free (before a write transaction)."""
        size, used = self.room()
        if size - used < size * GROW_BELOW:
            with contextlib.suppress(StoreError):  # the write itself says what is wrong, if anything
                self.grow()


# New directories 0700; LMDB creates `data.mdb` and `lock.mdb` with this mode less the execute bits: 0600.
_MODE = 0o700

_OPEN: dict[str, _Shared] = {}
_OPEN_LOCK = threading.Lock()


def _disk_full(path: str, what: str) -> StoreError:
    free = shutil.disk_usage(path).free
    return StoreError(f"store: the disk holding {path!r} is full: {what}, {free} bytes free on the disk, "
                      f"{DISK_RESERVE} of them kept in reserve; free space on that disk or move the data "
                      "directory", status=507)


class _MapFull(StoreError):
    """The map is full (it may still grow)."""

    status = 507


def _raise_commit_error(failure: BaseException | None) -> None:
    """Raise a batch's commit failure (an LMDB error as a `StoreError`), if it had one."""
    if isinstance(failure, lmdb.Error):
        raise _store_error(failure) from failure
    if failure is not None:
        raise failure


def _store_error(exc: lmdb.Error) -> StoreError:
    if isinstance(exc, lmdb.MapFullError):
        return _MapFull("store: the LMDB map is full")
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc):
        return StoreError(f"store: the disk is full: {exc}", status=507)
    if isinstance(exc, lmdb.ReadersFullError):
        return StoreError("store: too many concurrent LMDB readers", status=503)
    return StoreError(f"store: LMDB failed: {exc}")


def _acquire(path: str, capacity: int) -> _Shared:
    with _OPEN_LOCK:
        shared = _OPEN.get(path)
        if shared is None:
            try:
                os.makedirs(path, mode=_MODE, exist_ok=True)
                env = lmdb.open(path, map_size=capacity, subdir=True, max_dbs=0, max_readers=MAX_READERS,
                                readahead=False, sync=True, metasync=True, lock=True, mode=_MODE)
                # Free the reader slots of processes that died (SIGKILL) while reading.
                env.reader_check()
            except lmdb.Error as exc:
                raise _store_error(exc) from exc
            except OSError as exc:
                raise StoreError(f"store: cannot open LMDB directory {path!r}: {exc}") from exc
            shared = _OPEN[path] = _Shared(env, path)
        shared.users += 1
        return shared


def _release(shared: _Shared) -> None:
    with _OPEN_LOCK:
        shared.users -= 1
        if shared.users == 0:
            _OPEN.pop(shared.path, None)
            shared.env.close()



class LMDBStore(Store):
    """A store in an LMDB environment at directory `path` (created if missing).

    Args:
        path: the environment's directory.
        capacity: the LMDB map size in bytes, the most the store can hold.

    Raises:
        StoreError: the environment cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str], capacity: int = DEFAULT_CAPACITY) -> None:
        self.path = os.path.realpath(path)
        self._shared = _acquire(self.path, capacity)

    def __repr__(self) -> str:
        return f"LMDBStore({self.path!r})"

    # -- transactions -------------------------------------------------------------------------

    def _run(self, write: bool, fn: Callable[[Txn], T]) -> T:
        """Run `fn` in the thread's current transaction, or in a new one: a read transaction of
        its own, or a place in the next write batch (a write that finds the map full grows it
        and runs once more)."""
        self._check_open()
        shared = self._shared
        local = shared.local
        txn = local.txn
        if txn is not None and (local.write or not write):
            try:
                return fn(txn)
            except lmdb.Error as exc:
                raise _store_error(exc) from exc
        if not write:
            return self._alone(fn)

        def in_batch() -> T:
            batched = local.txn  # the thread that leads the batch: its transaction for this write
            assert batched is not None
            try:
                return fn(batched)
            except lmdb.Error as exc:
                raise _store_error(exc) from exc

        return self.transact(in_batch)

    def _alone(self, fn: Callable[[Txn], T]) -> T:
        """`fn` in a new read transaction of its own."""
        gate = self._shared.gate
        gate.enter()
        try:
            with self._shared.begin(False) as txn:
                return fn(txn)
        except lmdb.Error as exc:
            raise _store_error(exc) from exc
        finally:
            gate.leave()

    @contextlib.contextmanager
    def _batched(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """A write transaction for the block, in the next batch (see "Group commit"): the block
        runs in a nested transaction of the batch's, and the context ends once the commit that
        covers it has ended. A block that raises rolls back its own writes only.

        Raises:
            StoreError: the commit failed (`_MapFull` when the block or the commit found the map
                full); the block's writes are then not stored.
        """
        member = _Member()
        if not self._shared.batch.join(member):
            parent = member.parent
            assert parent is not None
            try:
                with self._nested(parent, member, ordered):
                    yield
            finally:
                member.finished.set()
            member.done.wait()
            _raise_commit_error(member.error)
            return
        parent = self._open_batch()
        members = [member]
        own: BaseException | None = None
        try:
            with self._nested(parent, member, ordered):
                yield
        except BaseException as exc:  # re-raised below, once the others are committed
            own = exc
        _raise_commit_error(self._close_batch(parent, members))
        if own is not None:
            raise own

    def _batched_work(self, work: Callable[[], T], ordered: Callable[[], None] | None) -> T:
        """`work()` in the next batch, run by the batch's leader (this thread or another); its
        result once the commit that covers it has ended (see `transact`)."""
        member = _Member(work, ordered)
        if self._shared.batch.join(member):
            parent = self._open_batch()
            self._run_work(parent, member)
            _raise_commit_error(self._close_batch(parent, [member]))
        else:
            _raise_commit_error(member.error)
        if member.raised is not None:
            raise member.raised
        return member.result  # type: ignore[no-any-return]

    def _open_batch(self) -> Txn:
        """The leader's write transaction (LMDB's writer lock, across OS processes)."""
        shared = self._shared
        shared.gate.enter()
        try:
            return shared.begin(True)
        except BaseException:
            shared.gate.leave()
            shared.batch.hand_on()
            raise

    def _run_work(self, parent: Txn, member: _Member) -> None:
        assert member.work is not None
        try:
            with self._nested(parent, member, member.ordered):
                member.result = member.work()
        except BaseException as exc:  # the member's own failure, raised in its own thread
            member.raised = exc

    def _close_batch(self, parent: Txn, members: list[_Member]) -> BaseException | None:
        """The leader, its own block done: add the writers queued meanwhile (running their work
        here, or handing each its turn), commit once for all, and tell every member. Returns the
        commit's failure (None when it committed)."""
        shared = self._shared
        batch = shared.batch
        failure: BaseException | None = None
        try:
            while len(members) < MAX_BATCH and not any(m.map_full for m in members):
                follower = batch.next()
                if follower is None:
                    break
                members.append(follower)
                if follower.work is not None:
                    self._run_work(parent, follower)
                    continue
                follower.parent = parent
                follower.turn.set()
                follower.finished.wait()
            parent.commit()  # the one commit (and its fsyncs) for every block of the batch
            with batch.lock:
                batch.commits += 1
        except BaseException as exc:
            failure = exc
            with contextlib.suppress(lmdb.Error):
                parent.abort()
        finally:
            shared.gate.leave()
            for follower in members[1:]:
                follower.error = failure
                follower.done.set()
                if follower.work is not None:
                    follower.turn.set()
            batch.hand_on()
        return failure

    @contextlib.contextmanager
    def _nested(self, parent: Txn, member: _Member, ordered: Callable[[], None] | None) -> Iterator[None]:
        """The thread's writes in a transaction nested in the batch's `parent` for the block;
        `ordered` runs once they are in it."""
        local = self._shared.local
        outer, outer_write = local.txn, local.write
        try:
            child = self._shared.env.begin(write=True, parent=parent)
        except lmdb.Error as exc:
            raise _store_error(exc) from exc
        local.txn, local.write = child, True
        try:
            try:
                yield
            except BaseException as exc:
                child.abort()
                member.map_full = isinstance(exc, _MapFull)
                raise
            try:
                child.commit()  # into the parent: no disk write yet
            except lmdb.Error as exc:
                error = _store_error(exc)
                member.map_full = isinstance(error, _MapFull)
                raise error from exc
        finally:
            local.txn, local.write = outer, outer_write
        if ordered is not None:
            ordered()

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """One write transaction for the block; it commits (durably) before the block's `with`
        returns, and its writes are dropped if the block raises. Nested blocks join it. The
        commit may also cover the blocks of other threads (see "Group commit"); `ordered` is
        called when the block's writes are in the batch, before the commit (`Store.transaction`)."""
        self._check_open()
        shared = self._shared
        local = shared.local
        if local.txn is not None and local.write:
            yield  # the outer block's batch: blocks of other threads come after the outer block
            if ordered is not None:
                ordered()
            return
        outer = local.txn
        if outer is None:
            shared.ensure_room()
        try:
            with self._batched(ordered):
                yield
        except _MapFull:
            if outer is not None:
                raise
            shared.grow(full=True)  # raises 507 when the disk is full
            raise StoreError("store: the LMDB map was full and has grown; ask again", status=503) from None

    def transact(self, work: Callable[[], T], ordered: Callable[[], None] | None = None) -> T:
        """`work()` in one write transaction, committed (durably) before this returns its result;
        its writes are dropped if it raises (`Store.transact`). Inside a transaction it joins it.
        Otherwise it joins the next batch, whose leader runs it, in whatever thread leads: no
        thread waits for this one to be scheduled while holding LMDB's writer lock. A work that
        finds the map full runs again once the map has grown; when the batch's commit finds it
        full after `ordered` was called (which is called once at most), the answer is a 503, as
        for `transaction()`."""
        self._check_open()
        shared = self._shared
        local = shared.local
        if local.txn is not None and local.write:
            result = work()
            if ordered is not None:
                ordered()
            return result
        alone = local.txn is None
        if alone:
            shared.ensure_room()
        called: list[bool] = []

        def once() -> None:
            if not called:
                called.append(True)
                if ordered is not None:
                    ordered()

        for attempt in range(GROW_ATTEMPTS):
            try:
                return self._batched_work(work, once)
            except _MapFull:
                if attempt == GROW_ATTEMPTS - 1 or not alone:
                    raise
                shared.grow(full=True)
                if called:
                    # The batch's commit found the map full after `ordered` had let the caller's
                    # lock go: running the work again now would run it without that lock.
                    raise StoreError("store: the LMDB map was full and has grown; ask again",
                                     status=503) from None
        raise AssertionError("unreachable")

    def expect_writer(self) -> None:
        """Called inside `transaction()`, before letting go a lock another thread waits for to
        begin its own transaction: the batch waits a moment (`EXPECT_WAIT` at most) for it
        before committing, so that both share the commit (see `Store.expect_writer`)."""
        self._shared.batch.announce()  # nothing when no batch is running

    @property
    def commits(self) -> int:
        """How many write transactions this OS process has committed on the environment."""
        return self._shared.batch.commits

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction for the block (or the thread's current transaction)."""
        self._check_open()
        local = self._shared.local
        if local.txn is not None:
            yield
            return
        gate = self._shared.gate
        gate.enter()
        try:
            try:
                txn = self._shared.begin(False)
            except lmdb.Error as exc:
                raise _store_error(exc) from exc
            local.txn = txn
            try:
                yield
            finally:
                local.txn = None
                txn.abort()
        finally:
            gate.leave()

    # -- keys and entries ---------------------------------------------------------------------

    def _key(self, path: str) -> bytes | None:
        """The key of `path`, or None when no key can be that long (nothing is stored there)."""
        key = path.encode("utf-8", "surrogateescape")
        return key if 0 < len(key) <= self._shared.max_key else None

    def _write_key(self, path: str) -> bytes:
        key = self._key(path)
        if key is None:
            raise StoreError(f"store: path of {len(path.encode('utf-8', 'surrogateescape'))} bytes is empty or "
                             f"longer than LMDB's key limit of {self._shared.max_key}")
        return key

    def _entry(self, txn: Txn, path: str) -> bytes | None:
        key = path.encode("utf-8", "surrogateescape")
        if not 0 < len(key) <= self._shared.max_key:
            return None
        raw = txn.get(key)
        if raw is not None and (not raw or raw[0] > _GROUP or raw[0] < _LINK):
            raise StoreError(f"store: corrupt LMDB entry at {path!r}")
        return raw

    def _target_in(self, txn: Txn, path: str) -> str | None:
        raw = self._entry(txn, path)
        return raw[1:].decode("utf-8", "surrogateescape") if raw is not None and raw[0] == _LINK else None

    def _lookup(self, txn: Txn, path: str) -> tuple[str, bytes] | None:
        """The resolved path and its (non-link) entry, or None when nothing is there.

        The direct lookup comes first, as in the reference: a full path is usually stored as a
        key or a link; only a miss walks the prefixes for links (never for `data/` paths, which
        are content-addressed leaves).
        """
        followed = 0
        walked = False
        while True:
            raw = self._entry(txn, path)
            if raw is not None and raw[0] != _LINK:
                return path, raw
            if raw is None:
                if walked or "/" not in path or path.startswith("data/"):
                    return None
                resolved = resolve_links(path, lambda p: self._target_in(txn, p))
                if resolved == path:
                    return None
                path, walked = resolved, True
                continue
            followed += 1
            if followed > MAX_LINK_HOPS:
                raise StoreError(f"store: more than {MAX_LINK_HOPS} links followed from {path!r} (a link loop?)")
            path, walked = normalize_path(raw[1:].decode("utf-8", "surrogateescape")), False

    # -- primitives ---------------------------------------------------------------------------

    def _link_target(self, path: str) -> str | None:
        return self._run(False, lambda txn: self._target_in(txn, path))

    def _get(self, path: str) -> bytes | None:
        raw = self._run(False, lambda txn: self._entry(txn, path))
        return raw[1:] if raw is not None and raw[0] == _VALUE else None

    def _kind(self, path: str) -> Kind | None:
        raw = self._run(False, lambda txn: self._entry(txn, path))
        return None if raw is None else "simple" if raw[0] == _VALUE else "composite" if raw[0] == _GROUP else None

    def _children(self, path: str) -> Names | None:
        return self._run(False, lambda txn: self._children_in(txn, path))

    def _probe(self, path: str) -> tuple[str | None, Kind | None, bytes | None]:
        raw = self._run(False, lambda txn: self._entry(txn, path))
        if raw is None:
            return None, None, None
        if raw[0] == _LINK:
            return raw[1:].decode("utf-8", "surrogateescape"), None, None
        return (None, "simple", raw[1:]) if raw[0] == _VALUE else (None, "composite", None)

    def _children_in(self, txn: Txn, path: str) -> Names | None:
        if path:
            raw = self._entry(txn, path)
            if raw is None or raw[0] != _GROUP:
                return None
            prefix = self._write_key(path) + b"/"
        else:
            prefix = b""
        names: set[bytes] = set()
        cursor = txn.cursor()
        more = cursor.set_range(prefix)
        while more:
            key = cursor.key()
            if not key.startswith(prefix):
                break
            name, below, _ = key[len(prefix):].partition(b"/")
            names.add(name)
            # Skip the child's whole subtree: every key under `name/` sorts before `name0`.
            more = cursor.set_range(prefix + name + b"0") if below else cursor.next()
        return sorted(name.decode("utf-8", "surrogateescape") for name in names)

    # -- readers (one transaction each, direct lookups first) ---------------------------------

    def read(self, path: str) -> bytes | None:
        # The hottest call: `_run` written out, without a closure.
        path = normalize_path(path)
        if self._closed:
            self._check_open()
        txn = self._shared.local.txn
        try:
            if txn is not None:
                found = self._lookup(txn, path)
            else:
                gate = self._shared.gate
                gate.enter()
                try:
                    with self._shared.begin(False) as txn:
                        found = self._lookup(txn, path)
                finally:
                    gate.leave()
        except lmdb.Error as exc:
            raise _store_error(exc) from exc
        return found[1][1:] if found is not None and found[1][0] == _VALUE else None

    def type(self, path: str) -> Kind | None:
        path = normalize_path(path)
        found = self._run(False, lambda txn: self._lookup(txn, path))
        return None if found is None else "simple" if found[1][0] == _VALUE else "composite"

    def resolve(self, path: str) -> str:
        return self._run(False, lambda txn: resolve_links(path, lambda p: self._target_in(txn, p)))

    def list(self, path: str) -> Names | None:
        path = normalize_path(path)

        def children(txn: Txn) -> Names | None:
            if not path:
                return self._children_in(txn, "")
            found = self._lookup(txn, path)
            return self._children_in(txn, found[0]) if found is not None and found[1][0] == _GROUP else None

        return self._run(False, children)

    # -- writers ------------------------------------------------------------------------------

    def _destination(self, txn: Txn, path: str) -> bytes:
        """The key to write `path` at: its parent resolved through links, missing parent groups
        created, and no group at the destination itself."""
        parent, name = parent_and_name(path)
        return self._destination_in(txn, self._parent(txn, parent) if parent else "", name)

    def _destination_in(self, txn: Txn, resolved: str, name: str) -> bytes:
        """The key to write `name` at under `resolved` (a parent `_parent` gave): no group there."""
        destination = f"{resolved}/{name}" if resolved else name
        key = self._write_key(destination)
        current = txn.get(key)
        if current is not None and current[:1] == _GROUP_TAG:
            raise StoreError(f"store: {destination!r} is a group and cannot be replaced")
        return key

    def _parent(self, txn: Txn, parent: str) -> str:
        """`parent` resolved through links, with the groups it lacks created."""
        seen: dict[str, bytes | None] = {}

        def entry(p: str) -> bytes | None:
            if p not in seen:
                seen[p] = self._entry(txn, p)
            return seen[p]

        def target(p: str) -> str | None:
            raw = entry(p)
            return raw[1:].decode("utf-8", "surrogateescape") if raw is not None and raw[0] == _LINK else None

        resolved = resolve_links(parent, target)
        walked = ""
        for segment in resolved.split("/") if resolved else ():
            walked = f"{walked}/{segment}" if walked else segment
            raw = entry(walked)
            if raw is None:
                txn.put(self._write_key(walked), _GROUP_TAG)
            elif raw[0] != _GROUP:
                raise StoreError(f"store: cannot put under {walked!r}, which is not a group")
        return resolved

    def write(self, path: str, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        self._run(True, lambda txn: txn.put(self._destination(txn, path), _VALUE_TAG + value))

    def make_group(self, path: str) -> None:
        def make(txn: Txn) -> None:
            resolved = resolve_links(path, lambda p: self._target_in(txn, p))
            raw = self._entry(txn, resolved)
            if raw is not None and raw[0] == _GROUP:
                return
            if raw is not None:
                raise StoreError(f"store: {resolved!r} holds a value and cannot become a group")
            txn.put(self._destination(txn, resolved), _GROUP_TAG)

        self._run(True, make)

    def make_link(self, existing: str, new: str) -> None:
        existing, new = normalize_path(existing), normalize_path(new)
        if existing == new:
            return
        target = self._write_key(existing)
        self._run(True, lambda txn: txn.put(self._destination(txn, new), _LINK_TAG + target))

    def make_links(self, links: Sequence[tuple[str, str]]) -> None:
        pairs = [(normalize_path(existing), normalize_path(new)) for existing, new in links]

        def put(txn: Txn) -> None:
            parents: dict[str, str] = {}
            for existing, new in pairs:
                if existing == new:
                    continue
                parent, name = parent_and_name(new)
                if any(_under(known, new) or _under(resolved, new) for known, resolved in parents.items()):
                    parents.clear()  # this link changes where a parent seen before leads
                if parent and parent not in parents:
                    parents[parent] = self._parent(txn, parent)
                key = self._destination_in(txn, parents[parent] if parent else "", name)
                txn.put(key, _LINK_TAG + self._write_key(existing))

        self._run(True, put)

    def reset(self) -> None:
        self._run(True, lambda txn: txn.drop(self._shared.db, delete=False))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self._shared)

    # -- match (§9.2) -------------------------------------------------------------------------

    def match(self, pairs: Sequence[tuple[str, str]]) -> Names:
        """The groups whose child `key` links to `target` for every `(key, target)` pair (a full
        scan, as in the reference). No pairs match nothing."""
        wanted: dict[bytes, bytes] = {}
        for key, target in pairs:
            name, value = key.encode("utf-8", "surrogateescape"), _LINK_TAG + self._write_key(normalize_path(target))
            if wanted.setdefault(name, value) != value:
                return []
        if not wanted:
            return []

        def scan(txn: Txn) -> Names:
            found: dict[bytes, set[bytes]] = {name: set() for name in wanted}
            for key, value in txn.cursor():
                parent, _, name = key.rpartition(b"/")
                if parent and wanted.get(name) == value:
                    found[name].add(parent)
            groups = set.intersection(*found.values())
            return sorted(group.decode("utf-8", "surrogateescape") for group in groups)

        return self._run(False, scan)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
