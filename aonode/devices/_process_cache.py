"""The result cache of `process@1.0` (`dev_process_cache`, processes-compute.md §3.7, §6.8).

Every computed state of a process is a message in the content-addressed cache, reachable by
two links:

    computed/<ProcID>/slot/<N>      the state after slot N
    computed/<ProcID>/<ID>          the same state by its own ID (`message_id`, default
                                    commitments: the ID a plain `id` key resolution gives)
    computed/<ProcID>/failed/<N>    the error of slot N, when it failed in the process itself

`latest` lists the numeric names under `computed/<ProcID>/slot`, drops those above the limit,
and scans from the highest down for the first state that has the required path (e.g.
`snapshot`: the states a process can be restored from). A path segment is found either as a
key of the stored message or as `<key>+link` (how the cache stores a child message), so
`["snapshot"]` and `["snapshot+link"]` ask the same question.

All functions take the message cache (`aonode.store.MessageCache`: what the resolver
receives as `opts["cache"]`) and never raise for a miss: they return None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aonode.codecs import message_id
from aonode.core.path import parts
from aonode.message import Value, normalize_key
from aonode.store import MessageCache, Store
from aonode.store import cache as store_cache
from aonode.store.cache import LINK_SUFFIX

__all__ = ["PREFIX", "failure", "latest", "path", "prepare", "read", "record_failure", "slots", "write"]

PREFIX = "computed"


def path(proc_id: str, ref: int | str | None = None) -> str:
    """The cache path of a result: `computed/<ProcID>/slot/<N>` for an integer `ref`,
    `computed/<ProcID>/<ref>` for a message ID, `computed/<ProcID>/slot` for None."""
    if ref is None:
        return f"{PREFIX}/{proc_id}/slot"
    if isinstance(ref, int) and not isinstance(ref, bool):
        return f"{PREFIX}/{proc_id}/slot/{ref}"
    return f"{PREFIX}/{proc_id}/{ref}"


def write(proc_id: str, slot: int, msg: Value, cache: MessageCache) -> str:
    """Store a computed state and link it by slot and by its ID, in one store transaction.

    Returns:
        The slot path (`computed/<ProcID>/slot/<slot>`).

    Raises:
        EncodeError: the state holds a value no message can carry.
        StoreError: the store failed.
    """
    return cache.store.transact(prepare(proc_id, slot, msg, cache))


def prepare(proc_id: str, slot: int, msg: Value, cache: MessageCache) -> Callable[[], str]:
    """`write`'s CPU work (the state's encoding and IDs) done now: the function returned puts
    it, inside the caller's store transaction, and returns what `write` returns.

    Raises:
        EncodeError: the state holds a value no message can carry.
    """
    slot_path = path(proc_id, slot)
    prepared = store_cache.prepare(msg, cache.store)
    # Without commitments a message's ID is the uncommitted ID the cache stored it under.
    committed = isinstance(msg, dict) and bool(msg.get("commitments"))
    by_id = path(proc_id, message_id(msg)) if committed else None

    def put() -> str:
        root = prepared.apply()
        cache.link(root, slot_path)
        cache.link(root, by_id or path(proc_id, root))
        return slot_path

    return put


def _failure_path(proc_id: str, slot: int) -> str:
    return f"{PREFIX}/{proc_id}/failed/{slot}"


def record_failure(proc_id: str, slot: int, error: Value, cache: MessageCache) -> None:
    """Record that slot `slot` failed in the process itself (deterministically), with `error`:
    its computation is skipped from now on, on every replay (see `process@1.0`).

    Raises:
        EncodeError: `error` has no wire form.
        StoreError: the store failed.
    """
    with cache.store.transaction():
        cache.link(cache.write(error), _failure_path(proc_id, slot))


def failure(proc_id: str, slot: int, cache: MessageCache) -> Value | None:
    """The error recorded for slot `slot` by `record_failure`, or None."""
    found = _failure_path(proc_id, slot)
    # Asked before every slot, and almost never there: whether it is costs one store lookup.
    return cache.read(found) if cache.store.type(found) is not None else None


def read(proc_id: str, ref: int | str, cache: MessageCache) -> Value | None:
    """The state after slot `ref` (an int), or the state whose ID is `ref`; None if absent.

    Raises:
        StoreError: the store failed or is corrupt.
    """
    return cache.read(path(proc_id, ref))


def slots(proc_id: str, store: Store) -> list[int]:
    """The slots with a stored result, in ascending order (`hb_cache:list_numbered`)."""
    names = store.list(path(proc_id)) or []
    out = []
    for name in names:
        try:
            out.append(int(name))
        except ValueError:
            continue
    return sorted(out)


def _has_path(root: str, required: list[str], store: Store) -> bool:
    """Whether the message stored at `root` has the key path `required` (children followed)."""
    current = root
    for i, segment in enumerate(required):
        last = i == len(required) - 1
        candidate = f"{current}/{segment}"
        if store.type(candidate) is not None:
            current = candidate
            continue
        if segment.endswith(LINK_SUFFIX):
            return False
        ref = store.read(f"{candidate}{LINK_SUFFIX}")
        if ref is None:
            return False
        if last:
            return True
        current = ref.decode("ascii", "replace")
    return True


def latest(
    proc_id: str, cache: MessageCache, required: Any = None, limit: int | None = None
) -> tuple[int, Value] | None:
    """The highest slot (at most `limit`) whose stored state has the key path `required`
    (`"deep/key"` or a list of keys), with that state; None when there is none.

    Raises:
        StoreError: the store failed or is corrupt.
    """
    needed = [normalize_key(part) for part in parts(required) or []]
    store = cache.store
    for slot in reversed(slots(proc_id, store)):
        if limit is not None and slot > limit:
            continue
        if needed and not _has_path(path(proc_id, slot), needed, store):
            continue
        found = cache.read(path(proc_id, slot))
        if found is not None:
            return slot, found
    return None
