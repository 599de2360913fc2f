"""`store-module: redis`: the store in Redis or a Redis Cluster (issue 20; the interface of
resolution-paths-cache-node.md §9.1, as `_lmdb` keeps it).

Every path is one Redis string, its value a tag byte and a payload, as in the LMDB store:

    0x01 + target path     a link
    0x02 + bytes           a value
    0x03                   a group; its child names are a Redis set beside it

Keys. `{<shard>}<namespace>:e:<path>` holds the entry and `{<shard>}<namespace>:c:<path>` the
child set of a group. The part in braces is a Redis Cluster hash tag: only it decides the
cluster slot, so every key with the same shard lives on one master. The shard is a short digest
of the path segment that names the message the path belongs to, so a message's keys live
together (what `MULTI` and scripts need, and fewer round trips to one master):

    <ID>/...                           the first segment (a message and its keys)
    data/<hash>, commitment-sets/<ID>  the second (flat namespaces of many small entries)
    ~<device>/<kind>/<ID>/...          the third (`~scheduler@1.0/assignments/<ProcID>/<slot>`,
                                       `.../signed/<ProcID>/..`, `latest/<ProcID>`,
                                       `ids/<ProcID>/..`: a process's log on one master)

The digest keeps braces in a path from changing the tag (Redis takes the first `{...}`).

Writes are not transactional here: `transaction()` runs the block as it goes (as the fs store
does). The writers order their writes so that a crash leaves nothing half-visible that matters
(parent groups before children, the entry before its name in the parent's set), and the
scheduler, which needs one writer per process, holds a lease (`_scheduler_lease`) and writes
its log through `fenced()`: every write to the process's shard then runs as a script that
checks the lease is still held, so a scheduler that lost its lease (a long pause) cannot write
a slot another one already wrote.

Durability. Redis acknowledges a write once its append-only file has it in memory; with
`appendfsync always` it is on disk before the answer, with `everysec` (Redis's and this store's
default) up to a second of writes is lost on a power cut or a kill of Redis itself (a kill of
the *node* loses nothing either way). The spec's `durability` (`everysec` or `always`) is set
on every master at open (`CONFIG SET appendonly yes`, `appendfsync`); `server` leaves the
server's own settings alone (a managed Redis that refuses `CONFIG`). With `always`, a store
that cannot make the server fsync every write refuses to open.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import redis
from redis.crc import key_slot

from aonode.store._base import (
    MAX_LINK_HOPS,
    Kind,
    Names,
    Store,
    StoreError,
    normalize_path,
    parent_and_name,
    resolve_links,
    split_path,
)

__all__ = ["DURABILITY", "RedisStore", "shard_of"]

log = logging.getLogger("aonode.store.redis")

DURABILITY = ("everysec", "always", "server")
"""`durability` values: the `appendfsync` policy set on the server, or `server` to leave it."""

DEFAULT_NAMESPACE = "aonode"

# Content-addressed values (`data/<hash>`) kept in memory once seen: how many, and up to what size.
KNOWN_DATA_ENTRIES = 16384
KNOWN_DATA_BYTES = 1024

_LINK, _VALUE, _GROUP = 1, 2, 3
_LINK_TAG, _VALUE_TAG, _GROUP_TAG = bytes([_LINK]), bytes([_VALUE]), bytes([_GROUP])

# Flat namespaces whose second segment names the entry (see the module docstring).
_FLAT = frozenset({"data", "commitment-sets"})

T = TypeVar("T")

# KEYS[1] the fence (lease) key, KEYS[2] the entry; ARGV[1] the token, ARGV[2] the payload.
_FENCED_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the scheduler lease is no longer held')
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


def shard_of(path: str) -> str:
    """The path segment whose digest is the hash tag of `path` (see the module docstring)."""
    segments = split_path(path)
    if not segments:
        return ""
    if segments[0] in _FLAT and len(segments) >= 2:
        return segments[1]
    if segments[0].startswith("~") and len(segments) >= 3:
        return segments[2]
    return segments[0]


# KEYS[1] the fence, KEYS[2..] the keys; ARGV[1] the token, then an (op, value) pair per key.
_FENCED_WRITES = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the scheduler lease is no longer held')
end
for i = 2, #KEYS do
  local op, value = ARGV[2 * i - 2], ARGV[2 * i - 1]
  if op == 'set' then
    redis.call('SET', KEYS[i], value)
  elseif op == 'setnx' then
    redis.call('SET', KEYS[i], value, 'NX')
  else
    redis.call('SADD', KEYS[i], value)
  end
end
return 1
"""


class _Fence(threading.local):
    """The lease a thread writes under (`RedisStore.fenced`), if any."""

    key: bytes | None = None
    token: bytes = b""
    slot: int = -1


class _Txn(threading.local):
    """The writes a thread's `transaction()` block has made, kept until the block ends, and the
    entries it has read or written (so its reads see its writes, and repeat reads cost nothing)."""

    depth: int = 0
    entries: dict[str, bytes | None]
    writes: list[tuple[str, bytes, bool]]  # (path, payload, only if absent), in order
    members: dict[str, set[bytes]]  # group path -> names added to its child set
    created: set[str]  # groups this block made where nothing was: their children are all in `entries`

    def begin(self) -> None:
        self.entries, self.writes, self.members, self.created = {}, [], {}, set()

    def known(self, path: str) -> bool:
        """Whether the block knows what is at `path` without asking Redis."""
        return path in self.entries or path.rpartition("/")[0] in self.created



def _probed(raw: bytes | None) -> tuple[str | None, Kind | None, bytes | None]:
    """What `Store._probe` says of a raw entry."""
    if raw is None:
        return None, None, None
    if raw[0] == _LINK:
        return raw[1:].decode("utf-8", "surrogateescape"), None, None
    if raw[0] == _VALUE:
        return None, "simple", raw[1:]
    return None, "composite", None


class RedisStore(Store):
    """A store in Redis (one server, or a Redis Cluster).

    Args:
        client: a `redis.Redis` or `redis.RedisCluster` client (bytes responses).
        namespace: the prefix of every key, so that several stores can share one Redis.
        durability: `everysec`, `always` or `server` (see the module docstring).

    Raises:
        StoreError: Redis cannot be reached, or `always` durability cannot be set.
    """

    def __init__(self, client: redis.Redis | redis.RedisCluster, namespace: str = DEFAULT_NAMESPACE,
                 durability: str = "everysec") -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
        if "{" in namespace or "}" in namespace:
            raise ValueError("a Redis store namespace must not hold braces (they are the cluster hash tag)")
        self.client = client
        self.cluster = isinstance(client, redis.RedisCluster)
        self.namespace = namespace
        self.durability = durability
        self._fence = _Fence()
        self._txn = _Txn()
        self._known_data: dict[str, bytes] = {}  # see `_remember`
        self._known_lock = threading.Lock()
        self._ns = namespace.encode() + b":"
        self._call(self.client.ping)
        if durability != "server":
            self._set_durability(durability)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, namespace: str = DEFAULT_NAMESPACE,
                 durability: str = "everysec") -> RedisStore:
        """A store on the Redis at `url` (`redis://host:port/db`); `cluster`: a Redis Cluster, of
        which `url` names any one node."""
        try:
            client: redis.Redis | redis.RedisCluster = (
                redis.RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url))
        except (redis.RedisError, ValueError) as exc:
            raise StoreError(f"store: cannot reach Redis at {url}: {exc}", status=503) from exc
        return cls(client, namespace, durability)

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"RedisStore({kind}, namespace={self.namespace!r})"

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_open()
        try:
            return fn(*args)
        except redis.ResponseError as exc:
            if str(exc).startswith("FENCED"):
                raise StoreError(f"store: {exc}", status=503) from exc
            raise StoreError(f"store: Redis refused a command: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreError(f"store: Redis failed: {exc}", status=503) from exc

    def _set_durability(self, policy: str) -> None:
        """`appendonly yes` and `appendfsync <policy>` on every master."""
        try:
            if self.cluster:
                assert isinstance(self.client, redis.RedisCluster)
                targets = redis.RedisCluster.PRIMARIES
                self.client.config_set("appendonly", "yes", target_nodes=targets)
                self.client.config_set("appendfsync", policy, target_nodes=targets)
                found: Any = self.client.config_get("appendfsync", target_nodes=targets)
                # One answer per master ({node: {appendfsync: ...}}), or one merged answer.
                answers = list(found.values()) if all(isinstance(v, dict) for v in found.values()) else [found]
                values = [answer.get("appendfsync") for answer in answers]
            else:
                self.client.config_set("appendonly", "yes")
                self.client.config_set("appendfsync", policy)
                single: Any = self.client.config_get("appendfsync")
                values = [single.get("appendfsync")]
        except redis.RedisError as exc:
            if policy == "always":
                raise StoreError(f"store: Redis would not fsync every write (appendfsync always): {exc}") from exc
            log.warning("Redis refused CONFIG SET appendfsync %s (%s); its own settings apply", policy, exc)
            return
        got = {v.decode() if isinstance(v, bytes) else v for v in values}
        if got != {policy}:
            raise StoreError(f"store: Redis reports appendfsync {sorted(map(str, got))}, not {policy}")

    def _key(self, path: str, kind: bytes) -> bytes:
        shard = hashlib.blake2b(shard_of(path).encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
        return b"{" + shard.encode() + b"}" + self._ns + kind + path.encode("utf-8", "surrogateescape")

    def _entry_key(self, path: str) -> bytes:
        return self._key(path, b"e:")

    def _set_key(self, path: str) -> bytes:
        return self._key(path, b"c:")

    def _entries(self, paths: builtins.list[str]) -> builtins.list[bytes | None]:
        """The raw entries of several paths, in one round trip."""
        txn = self._txn
        if txn.depth:
            wanted = [p for p in dict.fromkeys(paths) if not txn.known(p)]
            for path, raw in zip(wanted, self._fetch(wanted), strict=True):
                txn.entries[path] = raw
            return [txn.entries.get(p) for p in paths]
        return self._fetch(paths)

    def _fetch(self, paths: builtins.list[str]) -> builtins.list[bytes | None]:
        remembered = {p: raw for p in paths if (raw := self._known_data.get(p)) is not None}
        if remembered:  # content-addressed values seen before: no need to ask
            wanted = [p for p in paths if p not in remembered]
            asked = dict(zip(wanted, self._fetch(wanted), strict=True))
            return [remembered[p] if p in remembered else asked[p] for p in paths]
        if not paths:
            return []
        if len(paths) == 1:
            return [self._fetch_one(paths[0])]
        keys = [self._entry_key(p) for p in paths]
        found = self._call(self.client.mget, keys) if not self.cluster else self._call(self._pipelined_get, keys)
        out: builtins.list[bytes | None] = []
        for path, raw in zip(paths, found, strict=True):
            checked = self._checked(path, raw)
            self._remember(path, checked)
            out.append(checked)
        return out

    def _pipelined_get(self, keys: builtins.list[bytes]) -> builtins.list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        return list(pipe.execute())

    def _checked(self, path: str, raw: Any) -> bytes | None:
        if raw is None:
            return None
        if not isinstance(raw, bytes) or not raw or raw[0] > _GROUP or raw[0] < _LINK:
            raise StoreError(f"store: corrupt Redis entry at {path!r}")
        return raw

    def _entry(self, path: str) -> bytes | None:
        txn = self._txn
        if txn.depth:
            if not txn.known(path):
                txn.entries[path] = self._fetch_one(path)
            return txn.entries.get(path)
        return self._fetch_one(path)

    def _fetch_one(self, path: str) -> bytes | None:
        if not path:
            return None
        if path in self._known_data:
            return self._known_data[path]
        raw = self._checked(path, self._call(self.client.get, self._entry_key(path)))
        self._remember(path, raw)
        return raw

    def _remember(self, path: str, raw: bytes | None) -> None:
        """Keep a `data/<hash>` value that exists: it is content-addressed, so it never changes
        (short of a `reset()`, which empties this memory too; a reset by another process is not
        seen here, so reset a shared store only with its nodes stopped)."""
        if raw is not None and raw[0] == _VALUE and path.startswith("data/") and len(raw) <= KNOWN_DATA_BYTES:
            with self._known_lock:
                known = self._known_data
                if len(known) >= KNOWN_DATA_ENTRIES:
                    known.pop(next(iter(known)))
                known[path] = raw

    def _members(self, path: str) -> builtins.list[str]:
        """The child names of the group at exactly `path`, with those this transaction added."""
        names = set(self._call(self.client.smembers, self._set_key(path)))
        if self._txn.depth:
            names |= self._txn.members.get(path, set())
        return sorted(n if isinstance(n, str) else n.decode("utf-8", "surrogateescape") for n in names)

    # -- primitives ---------------------------------------------------------------------------

    def _link_target(self, path: str) -> str | None:
        raw = self._entry(path)
        return raw[1:].decode("utf-8", "surrogateescape") if raw is not None and raw[0] == _LINK else None

    def _get(self, path: str) -> bytes | None:
        raw = self._entry(path)
        return raw[1:] if raw is not None and raw[0] == _VALUE else None

    def _kind(self, path: str) -> Kind | None:
        raw = self._entry(path)
        return None if raw is None else "simple" if raw[0] == _VALUE else "composite" if raw[0] == _GROUP else None

    def _children(self, path: str) -> Names | None:
        if path:
            raw = self._entry(path)
            if raw is None or raw[0] != _GROUP:
                return None
        return self._members(path)

    def _probe(self, path: str) -> tuple[str | None, Kind | None, bytes | None]:
        return _probed(self._entry(path))

    def _probe_many(self, paths: Sequence[str]) -> builtins.list[tuple[str | None, Kind | None, bytes | None]]:
        return [_probed(raw) for raw in self._entries(builtins.list(paths))]

    def prefetch(self, paths: Sequence[str]) -> None:
        """Inside `transaction()`: fetch the entries of `paths` the block does not know yet, in
        one round trip (MGET), so that its lookups of them ask Redis nothing more."""
        if self._txn.depth:
            self._entries([normalize_path(p) for p in paths])

    # -- readers: the direct lookup first, as the LMDB store --------------------------------

    def _lookup(self, path: str) -> tuple[str, bytes] | None:
        """The resolved path and its (non-link) entry, or None when nothing is there."""
        followed = 0
        walked = False
        while True:
            raw = self._entry(path)
            if raw is not None and raw[0] != _LINK:
                return path, raw
            if raw is None:
                if walked or "/" not in path or path.startswith("data/"):
                    return None
                resolved = resolve_links(path, self._link_target)
                if resolved == path:
                    return None
                path, walked = resolved, True
                continue
            followed += 1
            if followed > MAX_LINK_HOPS:
                raise StoreError(f"store: more than {MAX_LINK_HOPS} links followed from {path!r} (a link loop?)")
            path, walked = normalize_path(raw[1:].decode("utf-8", "surrogateescape")), False

    def read(self, path: str) -> bytes | None:
        found = self._lookup(normalize_path(path))
        return found[1][1:] if found is not None and found[1][0] == _VALUE else None

    def type(self, path: str) -> Kind | None:
        found = self._lookup(normalize_path(path))
        return None if found is None else "simple" if found[1][0] == _VALUE else "composite"

    def list(self, path: str) -> Names | None:
        path = normalize_path(path)
        if not path:
            return self._children("")
        found = self._lookup(path)
        if found is None or found[1][0] != _GROUP:
            return None
        return self._members(found[0])

    # -- writers ------------------------------------------------------------------------------

    def _destination(self, path: str) -> tuple[str, builtins.list[str]]:
        """Where to write `path`: its parent resolved through links, and the parent groups
        that are missing and must be made first (outermost first).

        Raises:
            StoreError: a segment on the way holds a value, or the destination is a group.
        """
        parent, name = parent_and_name(path)
        prefixes: builtins.list[str] = []
        walked = ""
        for segment in split_path(parent):
            walked = f"{walked}/{segment}" if walked else segment
            prefixes.append(walked)
        found = dict(zip([*prefixes, path], self._entries([*prefixes, path]), strict=True))
        if any(raw is not None and raw[0] == _LINK for p, raw in found.items() if p != path):
            # A link on the way: resolve one segment at a time, then look again.
            def target(p: str) -> str | None:
                if p not in found:
                    found[p] = self._entry(p)
                raw = found[p]
                return raw[1:].decode("utf-8", "surrogateescape") if raw is not None and raw[0] == _LINK else None

            resolved = resolve_links(parent, target)
            destination = f"{resolved}/{name}" if resolved else name
            prefixes = []
            walked = ""
            for segment in split_path(resolved):
                walked = f"{walked}/{segment}" if walked else segment
                prefixes.append(walked)
            found = dict(zip([*prefixes, destination], self._entries([*prefixes, destination]), strict=True))
        else:
            destination = path
        missing: builtins.list[str] = []
        for prefix in prefixes:
            raw = found[prefix]
            if raw is None:
                missing.append(prefix)
            elif raw[0] != _GROUP:
                raise StoreError(f"store: cannot put {name!r} under {prefix!r}, which is not a group")
        current = found[destination]
        if current is not None and current[0] == _GROUP:
            raise StoreError(f"store: {destination!r} is a group and cannot be replaced")
        return destination, missing

    def _put(self, destination: str, payload: bytes, missing: builtins.list[str]) -> None:
        """Make the missing parent groups, then write the entry and name it in its parent."""
        txn = self._txn
        if txn.depth:
            for group in missing:
                parent, name = parent_and_name(group)
                txn.entries[group] = _GROUP_TAG
                txn.created.add(group)
                txn.writes.append((group, _GROUP_TAG, True))
                txn.members.setdefault(parent, set()).add(name.encode("utf-8", "surrogateescape"))
            parent, name = parent_and_name(destination)
            if payload == _GROUP_TAG and txn.entries.get(destination) is None:
                txn.created.add(destination)
            txn.entries[destination] = payload
            txn.writes.append((destination, payload, False))
            txn.members.setdefault(parent, set()).add(name.encode("utf-8", "surrogateescape"))
            return
        pipe = self.client.pipeline(transaction=False)
        for group in missing:
            parent, name = parent_and_name(group)
            pipe.set(self._entry_key(group), _GROUP_TAG, nx=True)
            pipe.sadd(self._set_key(parent), name.encode("utf-8", "surrogateescape"))
        key = self._entry_key(destination)
        parent, name = parent_and_name(destination)
        fence = self._fence
        if fence.key is not None and self._slot(key) == fence.slot:
            # Cluster pipelines run no scripts: the groups first, then the fenced entry alone.
            self._execute(pipe)
            self._call(self.client.eval, _FENCED_SET, 2, fence.key, key, fence.token, payload)
            pipe = self.client.pipeline(transaction=False)
        else:
            pipe.set(key, payload)
        pipe.sadd(self._set_key(parent), name.encode("utf-8", "surrogateescape"))
        self._execute(pipe)

    def _execute(self, pipe: Any) -> None:
        for result in self._call(pipe.execute, False):
            if isinstance(result, redis.ResponseError):
                raise StoreError(f"store: Redis refused a write: {result}")

    def _slot(self, key: bytes) -> int:
        return int(key_slot(key))

    def write(self, path: str, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        self._check_open()
        destination, missing = self._destination(normalize_path(path))
        self._put(destination, _VALUE_TAG + bytes(value), missing)

    def make_group(self, path: str) -> None:
        self._check_open()
        resolved = self.resolve(path)
        raw = self._entry(resolved)
        if raw is not None and raw[0] == _GROUP:
            return
        if raw is not None:
            raise StoreError(f"store: {resolved!r} holds a value and cannot become a group")
        destination, missing = self._destination(resolved)
        self._put(destination, _GROUP_TAG, missing)

    def make_link(self, existing: str, new: str) -> None:
        existing, new = normalize_path(existing), normalize_path(new)
        if existing == new:
            return
        if not existing:
            raise StoreError("store: a link must name a path")
        self._check_open()
        destination, missing = self._destination(new)
        self._put(destination, _LINK_TAG + existing.encode("utf-8", "surrogateescape"), missing)

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """The block's writes are kept (its reads see them) and sent when it ends, in one round
        trip per master; nothing is sent if it raises. Writes to a fenced process log (see
        `fenced`) land together, in one script that first checks the lease. Not atomic across
        masters: the log's entries go last, after everything they refer to. Nested blocks join."""
        self._check_open()
        txn = self._txn
        if txn.depth:
            txn.depth += 1
            try:
                yield
            finally:
                txn.depth -= 1
            if ordered is not None:
                ordered()
            return
        txn.begin()
        txn.depth = 1
        try:
            yield
            writes, members = txn.writes, txn.members
        finally:
            txn.depth = 0
            txn.entries = {}
        self._flush(writes, members)
        if ordered is not None:
            ordered()

    def _flush(self, writes: builtins.list[tuple[str, bytes, bool]], members: dict[str, set[bytes]]) -> None:
        fence = self._fence
        fenced: builtins.list[tuple[bytes, bytes, bytes]] = []  # (op, key, argument)
        pipe = self.client.pipeline(transaction=False)
        for path, payload, only_new in writes:
            key = self._entry_key(path)
            if fence.key is not None and self._slot(key) == fence.slot:
                fenced.append((b"setnx" if only_new else b"set", key, payload))
            elif only_new:
                pipe.set(key, payload, nx=True)
            else:
                pipe.set(key, payload)
        for group, names in members.items():
            key = self._set_key(group)
            if fence.key is not None and self._slot(key) == fence.slot:
                fenced.extend((b"sadd", key, name) for name in names)
            else:
                pipe.sadd(key, *names)
        self._execute(pipe)
        for path, payload, _ in writes:
            self._remember(path, payload)
        if fenced:
            assert fence.key is not None
            keys = [fence.key, *(key for _, key, _ in fenced)]
            args = [fence.token, *(item for op, _, value in fenced for item in (op, value))]
            self._call(self.client.eval, _FENCED_WRITES, len(keys), *keys, *args)

    @contextlib.contextmanager
    def fenced(self, lease_key: bytes, token: bytes) -> Iterator[None]:
        """Inside the block, this thread's writes of entries in the lease key's cluster slot
        happen only while Redis still holds `token` at `lease_key` (else StoreError 503)."""
        fence = self._fence
        outer = fence.key, fence.token, fence.slot
        fence.key, fence.token, fence.slot = lease_key, token, self._slot(lease_key)
        try:
            yield
        finally:
            fence.key, fence.token, fence.slot = outer

    def lease_key(self, shard_path: str, name: str) -> bytes:
        """A key beside the entries of `shard_path`'s shard (same cluster slot), for a lease."""
        return self._key(shard_path, b"lease:" + name.encode() + b":")

    def reset(self) -> None:
        """Remove every key of this store's namespace (on every master)."""
        with self._known_lock:
            self._known_data.clear()
        pattern = b"*}" + self._ns + b"*"
        keys = list(self._call(lambda: list(self.client.scan_iter(match=pattern, count=1000))))
        for start in range(0, len(keys), 500):
            pipe = self.client.pipeline(transaction=False)
            for key in keys[start:start + 500]:
                pipe.delete(key)
            self._call(pipe.execute)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(redis.RedisError):
                self.client.close()
