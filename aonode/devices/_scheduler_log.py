"""The assignment log of `scheduler@1.0`: where assignments live in a store, how the next one
is made, and the per-process serialisation that keeps slots gapless (processes-compute.md
§2.5, §2.12; `dev_scheduler_cache`, `dev_scheduler_server`, `dev_scheduler_registry`).

Store layout (the reference's, under the `scheduler_store`, default the node's store):

    ~scheduler@1.0/assignments/<ProcID>/<slot>   link -> the assignment, written as a message
    ~scheduler@1.0/locations/<address>           link -> a signed scheduler-location record
    ~scheduler@1.0/signed/<ProcID>/<slot>        the assignment exactly as signed (aonode's own)
    ~scheduler@1.0/latest/<ProcID>               the highest slot written (aonode's own)
    ~scheduler@1.0/ids/<ProcID>/<MsgID>          the slot of a signed message (aonode's own)

The assignment is written to the message cache as in the reference, so it and its body can
be read by ID. The log itself is read from the `signed` copy: one value holding the whole
message with every commitment, nested ones included, exactly as it was signed, in one
lookup. The content-addressed cache merges the commitments of equal contents, and the log
must give back exactly the signatures it handed out.

The `latest` value spares reading a growing directory to find the last slot, so assigning
slot N costs the same for every N. It is only a hint: `latest` checks that the slot it names
exists and steps forward past slots written after it (a crash on a store without
transactions can leave it one behind), and lists the directory when it is missing.

Theory of operation for assigning (`ProcessScheduler.assign`). A slot must be unique,
gapless and durable before anyone hears of it, even with several threads of one node,
several node processes on one LMDB directory, or a SIGKILL at any instant. So one call
holds, in this order:

1. the scheduler's thread lock (threads of this process, one process ID);
2. an advisory file lock beside the store when the store is a plain directory (FSStore has
   no transactions; LMDB and memory stores need none, their write transaction is exclusive);
   over a Redis store, the process's scheduler lease instead (`_scheduler_lease`: one node,
   one worker at a time, its writes fenced);
3. the store's write transaction, inside which it reads the latest slot and hash chain,
   builds and signs the next assignment, writes it and its link, and commits (LMDB syncs).

Without a lease, the thread lock is let go once the slot's writes are ordered in the store,
before their commit: on LMDB the next slot's block then runs in the same group commit (it
reads this one's writes, and cannot commit without them), and every caller still returns
only after the commit that holds its slot. A failed commit fails every slot in it.

Nothing is remembered in memory until the commit returned, so a failure consumes no slot.

Idempotency. A client that loses its connection cannot know whether its message got a slot,
so it sends it again; that resend must not take a second slot. Inside the same transaction,
step 3 first looks the message's ID (over all committers, the ID the hash chain uses) up in
the `ids` index and, when found, answers the assignment already written instead of making a
new one. The index entry is written in the transaction that writes the assignment, so after
a crash both exist or neither (LMDB). On a store without transactions (FSStore) it is
written *before* the assignment and trusted only when the slot it names holds that very
message: a crash between the two leaves an entry that is ignored, never a slot without one.

Only signed messages are indexed. A signature (RSA-PSS salts are random) makes every send
of a signed message unique, so an equal ID means the same send; an unsigned message's ID
is its content, and two senders may well send equal contents. (The reference has no index:
a resend gets a new slot. docs/compat.md.)

The hash chain (§2.5): `chain' = SHA-256(chain || ID(message, all committers) as 43-char
text)`, starting from the empty chain. The assignment stores the chain as its 43-character
text; the next link always continues from the raw 32 bytes that text encodes. (The reference
keeps the raw bytes in memory but, after a restart, continues from the stored *text*, so its
chain changes rule wherever it restarted; aonode's chain has one rule from slot 0, which is
what lets anyone check it. docs/compat.md.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from aonode.codecs import commit, message_id, signers, structured, to_tabm, with_only_committed
from aonode.core.path import parts
from aonode.crypto import Wallet, b64url_decode, b64url_encode, sha256
from aonode.devices._scheduler_formats import BlockInfo, aos2_to_assignment
from aonode.errors import AOError, BadMessage
from aonode.message import TABM, Message
from aonode.store import FSStore, Store, StoreError, cache, split_path

if TYPE_CHECKING:
    from aonode.devices._scheduler_lease import SchedulerLease

__all__ = [
    "PREFIX",
    "ProcessScheduler",
    "Registry",
    "assignment_path",
    "build_assignment",
    "find_assigned",
    "latest",
    "next_hash_chain",
    "read",
    "read_location",
    "registry_for",
    "slots",
    "write",
    "write_location",
    "write_spawn",
]

PREFIX = "~scheduler@1.0"
"""The pseudo-path under which the scheduler keeps its data in a store."""

LEGACY_VARIANT = b"ao.TN.1"
VARIANT = b"ao.N.1"


# -- paths ------------------------------------------------------------------------------------


def _segment(value: Any, what: str) -> str:
    """A process ID or address as one path segment.

    Raises:
        BadMessage: it is not non-empty text without `/`.
    """
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    if not isinstance(text, str) or not text or "/" in text:
        raise BadMessage(f"scheduler@1.0: {what} must be non-empty text without '/', got {value!r}")
    return text


def _slot(value: Any) -> int:
    """A slot number: a non-negative integer, or its decimal text.

    Raises:
        BadMessage: anything else.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadMessage(f"scheduler@1.0: a slot must be a non-negative integer, got {value!r}")
    return value


def assignment_path(proc_id: str, slot: int) -> str:
    """`~scheduler@1.0/assignments/<ProcID>/<slot>`.

    Raises:
        BadMessage: the process ID or slot is malformed.
    """
    return f"{PREFIX}/assignments/{_segment(proc_id, 'a process ID')}/{_slot(slot)}"


def _latest_path(proc_id: str) -> str:
    return f"{PREFIX}/latest/{_segment(proc_id, 'a process ID')}"


def _signed_path(proc_id: str, slot: int) -> str:
    return f"{PREFIX}/signed/{_segment(proc_id, 'a process ID')}/{_slot(slot)}"


def _id_path(proc_id: str, msg_id: str) -> str:
    return f"{PREFIX}/ids/{_segment(proc_id, 'a process ID')}/{_segment(msg_id, 'a message ID')}"


def _location_path(address: str) -> str:
    return f"{PREFIX}/locations/{_segment(address, 'an address')}"


# -- the pure part: hash chain and assignment -----------------------------------------------------


def next_hash_chain(previous: bytes, msg_id: str) -> bytes:
    """`SHA-256(previous || msg_id)`, where `msg_id` is the 43-character text of the message's
    ID over all its committers and `previous` is the previous chain's raw bytes (empty for the
    first assignment)."""
    return sha256(previous + msg_id.encode("ascii"))


def build_assignment(proc_id: str, slot: int, message: Message, hash_chain: bytes, block: BlockInfo,
                     now_ms: int) -> Message:
    """The unsigned assignment of `message` to `slot` (§2.5 step 4).

    Args:
        proc_id: the process (43-character ID).
        slot: the slot.
        message: the message, already reduced to its committed keys.
        hash_chain: the new chain (raw bytes); stored as its 43-character text.
        block: the Arweave block information.
        now_ms: the scheduler's wall clock in milliseconds.
    """
    raw_path = message.get("path", message.get("Path"))
    path = parts(raw_path) if raw_path is not None else None
    return {
        "path": b"compute" if path is None else [str(p).encode() for p in path],
        "data-protocol": b"ao",
        "variant": VARIANT,
        "process": proc_id.encode(),
        "epoch": b"0",
        "slot": slot,
        "block-height": block.height,
        "block-hash": block.hash.encode(),
        "block-timestamp": block.timestamp,
        "timestamp": now_ms,
        "hash-chain": b64url_encode(hash_chain).encode(),
        "body": message,
        "type": b"assignment",
    }


# -- the cache (dev_scheduler_cache) ------------------------------------------------------------


def _pack(msg: Mapping[str, Any]) -> bytes:
    """A message as one value that decodes to exactly it: its TABM with children and
    commitments inline, as JSON with every binary in base64url."""
    tabm = to_tabm(dict(msg), bundle=True)

    def tree(node: Mapping[str, Any]) -> dict[str, Any]:
        return {k: tree(v) if isinstance(v, Mapping) else b64url_encode(v) for k, v in node.items()}

    assert isinstance(tabm, dict)  # a map gives a map
    return json.dumps(tree(tabm), separators=(",", ":")).encode()


def _unpack(raw: bytes) -> Message:
    """The message `_pack` made.

    Raises:
        StoreError: the value is not one `_pack` made (a corrupt store).
    """
    def tree(node: Any) -> TABM:
        if not isinstance(node, dict):
            raise ValueError("not an object")
        return {k: tree(v) if isinstance(v, dict) else b64url_decode(v) for k, v in node.items()}

    try:
        found = structured.to_wire(tree(json.loads(raw)))
    except (ValueError, TypeError, AOError) as exc:
        raise StoreError(f"scheduler@1.0: a stored assignment is corrupt: {exc}") from exc
    if not isinstance(found, dict):
        raise StoreError("scheduler@1.0: a stored assignment is not a message")
    return found


def _put(assignment: Mapping[str, Any], proc_id: str, slot: int, store: Store) -> str:
    """Write an assignment at its slot (inside the caller's transaction)."""
    return _Prepared(assignment, store).put(proc_id, slot, store)


class _Prepared:
    """An assignment's writes worked out ahead of the transaction that puts them."""

    def __init__(self, assignment: Mapping[str, Any], store: Store) -> None:
        self.assignment = assignment
        self.message = cache.prepare(dict(assignment), store)
        self.packed = _pack(assignment)

    def put(self, proc_id: str, slot: int, store: Store) -> str:
        """Write the assignment at its slot (inside the caller's transaction)."""
        uid = self.message.apply()
        store.write(_signed_path(proc_id, slot), self.packed)
        _link_slot(uid, proc_id, slot, store)
        return uid


def _link_slot(uid: str, proc_id: str, slot: int, store: Store) -> None:
    store.make_link(uid, assignment_path(proc_id, slot))
    pointer = _latest_path(proc_id)
    known = store.read(pointer)
    if known is None or not known.isdigit() or int(known) < slot:
        store.write(pointer, str(slot).encode())


def write(assignment: Mapping[str, Any], store: Store) -> str:
    """Write an assignment and link it at its process and slot, in one store transaction.

    Returns:
        The stored message's ID (without commitments).

    Raises:
        BadMessage: the assignment lacks a usable `process` or `slot`.
        EncodeError: it holds a value with no encoding.
        StoreError: the store failed.
    """
    if not isinstance(assignment, Mapping):
        raise BadMessage("scheduler@1.0: an assignment must be a message")
    proc_id = _segment(assignment.get("process"), "an assignment's process")
    slot = _slot(assignment.get("slot"))
    with store.transaction():
        return _put(assignment, proc_id, slot, store)


def read(proc_id: str, slot: int, store: Store) -> Message | None:
    """The assignment at a slot, or None. A legacy (`ao.TN.1`) edge cached from a remote
    scheduler is converted (§2.12); anything else is returned as stored.

    Raises:
        BadMessage: the process ID or slot is malformed.
        DecodeError: a stored legacy edge is malformed.
        StoreError: the store failed.
    """
    raw = store.read(_signed_path(proc_id, slot))
    found = _unpack(raw) if raw is not None else cache.read(assignment_path(proc_id, slot), store)
    if not isinstance(found, dict):
        return None
    if found.get("variant") == LEGACY_VARIANT:
        return aos2_to_assignment(found, read_message=lambda ref: cache.read(ref, store))
    return found


def slots(proc_id: str, store: Store) -> list[int]:
    """Every slot stored for the process, ascending (`list/2`)."""
    names = store.list(f"{PREFIX}/assignments/{_segment(proc_id, 'a process ID')}") or []
    return sorted(int(name) for name in names if name.isdigit())


def _exists(proc_id: str, slot: int, store: Store) -> bool:
    return store.type(assignment_path(proc_id, slot)) is not None


def _prefetch(paths: Sequence[str], store: Store) -> None:
    """Ask the store for these paths and their prefixes at once (one round trip to Redis; see
    `Store.prefetch`), before the lookups that need them."""
    wanted: dict[str, None] = {}
    for path in paths:
        segments = split_path(path)
        wanted.update(dict.fromkeys("/".join(segments[:n]) for n in range(1, len(segments) + 1)))
    store.prefetch(list(wanted))


def _latest_slot(proc_id: str, store: Store) -> int | None:
    known = store.read(_latest_path(proc_id))
    if known is not None and known.isdigit():
        slot = int(known)
        _prefetch([assignment_path(proc_id, slot), assignment_path(proc_id, slot + 1),
                   _signed_path(proc_id, slot)], store)
    if known is not None and known.isdigit() and _exists(proc_id, int(known), store):
        slot = int(known)
    else:
        found = slots(proc_id, store)
        if not found:
            return None
        slot = found[-1]
    while _exists(proc_id, slot + 1, store):
        slot += 1
    return slot


def latest(proc_id: str, store: Store) -> tuple[int, bytes] | None:
    """The highest slot of the process and the `hash-chain` stored with it (43-character text),
    or None when it has no assignments (`latest/2`).

    Raises:
        BadMessage: the process ID is malformed.
        StoreError: the store failed.
    """
    slot = _latest_slot(proc_id, store)
    if slot is None:
        return None
    found = read(proc_id, slot, store)
    value = found.get("hash-chain") if found is not None else None
    return slot, value if isinstance(value, bytes) else b""


def find_assigned(proc_id: str, msg_id: str, store: Store) -> Message | None:
    """The assignment that already gives the message `msg_id` (its ID over all committers) a
    slot of the process, or None when it has none.

    The `ids` index is trusted only when the slot it names holds that very message: on a store
    without transactions a crash can leave an entry written ahead of its assignment.

    Raises:
        BadMessage: the process ID or message ID is malformed.
        StoreError: the store failed.
    """
    raw = store.read(_id_path(proc_id, msg_id))
    if raw is None or not raw.isdigit():
        return None
    found = read(proc_id, int(raw), store)
    body = found.get("body") if found is not None else None
    if not isinstance(body, Mapping):
        return None
    try:
        same = message_id(dict(body), committers="all") == msg_id
    except AOError:
        same = False  # a body that no longer encodes is no proof either way: assign afresh
    return found if same else None


def write_spawn(process: Mapping[str, Any], store: Store) -> str:
    """Write a process definition to the store (`write_spawn/2`).

    Raises:
        EncodeError, StoreError: as `cache.write`.
    """
    return cache.write(dict(process), store)


def write_location(record: Mapping[str, Any], store: Store) -> list[str]:
    """Cache a scheduler-location record and link it under every signer's address.

    Returns:
        The signers it was linked under.

    Raises:
        BadMessage: the record has no signer.
        EncodeError, StoreError: as `cache.write`.
    """
    who = signers(dict(record))
    if not who:
        raise BadMessage("scheduler@1.0: a scheduler-location record must be signed")
    with store.transaction():
        uid = cache.write(dict(record), store)
        for address in who:
            store.make_link(uid, _location_path(address))
    return who


def read_location(address: str, store: Store) -> Message | None:
    """The cached scheduler-location record of an address, or None."""
    try:
        path = _location_path(address)
    except BadMessage:
        return None
    found = cache.read(path, store)
    return found if isinstance(found, dict) else None


# -- serial assignment (dev_scheduler_server) -----------------------------------------------------


@contextlib.contextmanager
def _exclusive(store: Store) -> Iterator[str | None]:
    """Exclude other processes from assigning on a store without transactions (FSStore)."""
    target = store.writer
    if not isinstance(target, FSStore):
        yield None
        return
    fd = os.open(target.root + ".scheduler-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield None
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class _Waiters:
    """How many threads wait for a lock (a counter with a lock of its own: `+=` is not atomic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self.count += delta


class _Held:
    """A lock held from the `with` until `release()` or the block's end, whichever is first;
    `waiting` counts the threads waiting for it (shared by every `_Held` of one lock)."""

    def __init__(self, lock: threading.Lock, waiting: _Waiters, store: Store | None = None) -> None:
        self._lock = lock
        self._waiting = waiting
        self._store = store
        self._held = False

    def __enter__(self) -> _Held:
        self._waiting.add(1)
        try:
            self._lock.acquire()
        finally:
            self._waiting.add(-1)
        self._held = True
        return self

    def release(self) -> None:
        """Let the lock go; inside the store's transaction (`ordered`), when a thread waits for
        it, tell the store that thread's transaction follows (`Store.expect_writer`)."""
        if self._held:
            if self._store is not None and self._waiting.count > 0:
                self._store.expect_writer()
            self._held = False
            self._lock.release()

    def __exit__(self, *exc: object) -> None:
        self.release()


class ProcessScheduler:
    """The scheduler of one process on one store: it hands out the process's slots in order.

    Args:
        proc_id: the process ID (43 characters).
        store: the scheduler store.
        wallets: the keys that sign each assignment (the local identities named as the
            process's scheduler), in the order the process lists them.
    """

    def __init__(self, proc_id: str, store: Store, wallets: Sequence[Wallet]) -> None:
        self.proc_id = _segment(proc_id, "a process ID")
        self.store = store
        self.wallets = list(wallets)
        self._lock = threading.Lock()
        self._waiting = _Waiters()  # threads waiting for `_lock` (see `_Held`)
        # Over a shared Redis store: the lease that makes this node the process's one scheduler,
        # and what to do on taking the process over from another node (`_scheduler_lease.attach`).
        self.lease: SchedulerLease | None = None
        self.on_takeover: Callable[[str], None] | None = None
        # The slot and chain (43-character text) of this scheduler's last assignment, set inside
        # its transaction: a guess for the next one to sign ahead (`_expected_latest`).
        self._tail: tuple[int, bytes] | None = None

    def __repr__(self) -> str:
        return f"ProcessScheduler({self.proc_id!r})"

    @property
    def addresses(self) -> list[str]:
        """The addresses that sign this process's assignments."""
        return [w.address for w in self.wallets]

    def current(self) -> int:
        """The last assigned slot, -1 before the first (read from the store, so other node
        processes sharing it are counted)."""
        found = _latest_slot(self.proc_id, self.store)
        return -1 if found is None else found

    def assign(self, message: Mapping[str, Any], *, now_ms: int, block: BlockInfo) -> Message:
        """Give `message` the next slot: build, sign, write durably, then return the assignment.
        A signed message that already has a slot gets that slot's assignment back, unchanged
        (see "Idempotency" in the module docstring).

        Args:
            message: the message to schedule (only its committed keys are kept).
            now_ms: the wall clock in milliseconds, stamped as `timestamp`.
            block: the block information to stamp.

        Returns:
            The signed assignment, already committed to the store (for a resend: the one
            written the first time).

        Raises:
            EncodeError: the message holds a value with no encoding.
            StoreError: the store failed (no slot was consumed).
        """
        only = with_only_committed(dict(message))
        msg_id = message_id(only, committers="all")
        indexed = bool(signers(only))
        lease = self.lease

        def signed(after: tuple[int, bytes] | None) -> tuple[int, bytes, _Prepared]:
            slot, previous = (0, b"") if after is None else (after[0] + 1, b64url_decode(after[1]))
            chain = next_hash_chain(previous, msg_id)
            assignment = self._sign(build_assignment(self.proc_id, slot, only, chain, block, now_ms))
            return slot, chain, _Prepared(assignment, self.store)

        def assign() -> tuple[Message, bool]:
            _prefetch([_id_path(self.proc_id, msg_id), _latest_path(self.proc_id)], self.store)
            if indexed:
                again = find_assigned(self.proc_id, msg_id, self.store)
                if again is not None:
                    return again, False
            after = latest(self.proc_id, self.store)
            slot, chain, prepared = ahead if after == expected else signed(after)
            if indexed:
                # Before the assignment: without transactions, a crash in between leaves an
                # entry `find_assigned` ignores rather than a slot a resend cannot find.
                self.store.write(_id_path(self.proc_id, msg_id), str(slot).encode())
            prepared.put(self.proc_id, slot, self.store)
            self._tail = (slot, b64url_encode(chain).encode("ascii"))
            return cast(Message, prepared.assignment), True

        # The thread lock is let go as soon as the slot's writes are ordered in the store (LMDB:
        # in the group commit's batch), not after their commit: the next message of this process
        # then takes the next slot in the same commit, and each caller still returns only once
        # its slot is durable. Under a lease (Redis) it is held to the end, as the lease is.
        with _Held(self._lock, self._waiting, self.store) as held:
            with lease.hold() if lease is not None else _exclusive(self.store) as owner_before:
                # Signed (and its writes worked out) before the transaction, so that LMDB's writer
                # lock, which every worker of the node shares, is held for the puts alone; checked
                # inside it against the slot actually there, and signed again there in the rare
                # case another worker took that slot meanwhile. A message sent again is answered
                # before any signing (and again inside, where it counts).
                if indexed:
                    again = find_assigned(self.proc_id, msg_id, self.store)
                    if again is not None:
                        return again
                expected = self._expected_latest()
                ahead = signed(expected)
                assignment, new = self.store.transact(assign, ordered=held.release if lease is None else None)
        if not new:
            return assignment
        if lease is not None and owner_before != lease.holder and self.on_takeover is not None:
            self.on_takeover(owner_before or "")
        return assignment

    def _expected_latest(self) -> tuple[int, bytes] | None:
        """What `latest` will most likely find inside the next assignment's transaction: this
        scheduler's own last assignment (perhaps not committed yet, which only its transaction
        sees), unless the store already holds a later slot (another worker's). Under a lease
        (Redis) no other node assigns while this one holds it, so its own last assignment is
        taken without asking the store (a round trip or more)."""
        tail = self._tail
        if tail is not None and self.lease is not None:
            return tail
        stored = _latest_slot(self.proc_id, self.store)
        if tail is not None and (stored is None or tail[0] >= stored):
            return tail
        return latest(self.proc_id, self.store)

    def _sign(self, assignment: Message) -> Message:
        # The reference folds right: the last wallet signs first.
        for wallet in reversed(self.wallets):
            assignment = commit(assignment, wallet)
        return assignment


class Registry:
    """The process schedulers of one store (`dev_scheduler_registry`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, ProcessScheduler] = {}

    def find(self, proc_id: str) -> ProcessScheduler | None:
        """The scheduler of a process, if this node has started one."""
        with self._lock:
            return self._servers.get(proc_id)

    def start(self, proc_id: str, process: Mapping[str, Any] | None, store: Store,
              wallets: Sequence[Wallet]) -> ProcessScheduler:
        """The scheduler of a process, started (and the process written to the store) if
        there is none yet.

        Raises:
            EncodeError, StoreError: the process cannot be written.
        """
        found = self.find(proc_id)
        if found is not None:
            return found
        if process is not None:
            # The scheduler is the provider of last resort for its processes' definitions.
            write_spawn(process, store)
        with self._lock:
            return self._servers.setdefault(proc_id, ProcessScheduler(proc_id, store, wallets))

    def processes(self) -> list[str]:
        """The IDs of the processes with a started scheduler, in the order they started."""
        with self._lock:
            return list(self._servers)


_REGISTRIES: weakref.WeakKeyDictionary[Store, Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry_for(store: Store) -> Registry:
    """The registry of a scheduler store (one per store object, for the life of the store)."""
    with _REGISTRIES_LOCK:
        found = _REGISTRIES.get(store)
        if found is None:
            found = _REGISTRIES[store] = Registry()
        return found
