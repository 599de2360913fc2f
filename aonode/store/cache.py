"""The content-addressed message cache (`hb_cache`, resolution-paths-cache-node.md §8.1-8.4).

Layout in a store (§8.1), for a message whose ID without commitments is `U`:

    data/<b64url(sha256(bytes))>     value   every binary, deduplicated
    U                                group   the message
    U/<key>                          link    -> data/<hash> of the key's TABM value
    U/<key>+link                     link    -> data/<hash> of a child message's ID
    U/ao-types                       link    -> data/<hash> of the key types
    U/commitments                    link    -> C = b64url(sha256("U/commitments"))
    C/<commitment ID>                link    -> the commitment, written as a message
    <alternative ID>                 link    -> U  (each commitment ID, and the IDs of all
                                                    commitments and of all committers)
    commitment-sets/<alternative ID> value   the commitment IDs that alternative names,
                                             comma-separated (aonode only, see below)

So `"U/<key>"` is both a key of a stored message and the hashpath of resolving
that key on it. A key holding `/` or `%`, or an empty key, is stored with those
characters percent-escaped (`%2F`, `%25`; the empty key as `%`), so a path
segment is always exactly one key.

`write` keeps only the keys some commitment covers (`with_only_committed`, over
every commitment rather than the default and signed ones only), converts it to a
TABM with `structured@1.0`, writes nested maps and lists as their own messages
(the TABM refers to them as `key+link: <ID of all committers>`), and puts all
of it in one store transaction (`Store.transact`). That work is done before the
transaction (`prepare`), which is held for the existence checks and puts alone; a
message the store already holds, by the written-memo, takes no write transaction
at all. What it asks of the store while writing (is this binary, this message,
this name there yet?) it asks of the store that takes
the writes (`Store.writer`, a chain's first store): what only a later store of a
chain holds is written again to the first, rather than looked up in every store
(for LMDB in front of Redis, a round trip to Redis per key). `read` returns the message fully loaded:
children inline, commitments eagerly read, values with the types they were
written with. A child that is not in the store stays a `Link`.

Divergences from the reference, each for a reason:

* `read("<ID>/<key>")` decodes a typed value with its message's `ao-types`
  (the reference returns the raw bytes), and finds a child message stored as
  `<key>+link` (the reference finds nothing).
* Commitments of one content signed separately accumulate under one `U` (as in
  the reference), but a read names exactly one message. Reading by `U` returns
  the pooled message, every commitment. Reading by any other ID (a commitment's,
  a message's over all its committers or all its commitments), at the top level
  or through a parent's `+link`, returns only the commitments that ID names, so
  `message_id(read(X), "all") == X` and another writer of the same content
  cannot change what `X` reads as (a process's definition, say). Which ones an
  ID names is written down, not searched for: `write` records, first writer
  first, `commitment-sets/<X>` for each alternative `X` of a message with
  commitments `K`: a signed commitment `X` names itself and the unsigned
  commitments of `K` (its HMAC), an unsigned one itself alone, and the IDs of
  all committers and of all commitments name `K`. Without a record (an older
  store), a commitment ID names itself (with the pooled unsigned commitments if
  it is signed), and an accumulated ID the largest set of signers that sums to
  it. A child reached through a link naming its uncommitted ID gets no
  commitments, so a child that carried only an HMAC commitment loses it (its
  IDs are unchanged).
* Keys are kept if any commitment covers them; the reference's
  `with_only_committed` looks at the default and the signed commitments only.
* `read_resolved(ID, map)` uses the request's ID over all commitments, as
  hashpaths do, so a result written at `hashpath(base, request)` is found.
* `match` ignores `ao-types`: a typed value matches its text form.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aonode._memo import Memo
from aonode.codecs import (
    carries_own_commitments,
    fingerprint,
    hashpath,
    httpsig,
    message_id,
    remember_id,
    select_commitments,
    structured,
    to_tabm,
    without_false_commitments,
)
from aonode.crypto import accumulate, b64url_decode, b64url_encode, sha256
from aonode.errors import BadMessage, DecodeError, EncodeError
from aonode.message import TABM, Link, Message, Value, is_id, to_bytes
from aonode.store._base import Names, Store, StoreError, normalize_path
from aonode.store._memory import MemoryStore
from aonode.text import as_text

__all__ = [
    "MessageCache",
    "PreparedWrite",
    "commitments_base",
    "data_path",
    "link",
    "match",
    "prepare",
    "read",
    "read_resolved",
    "write",
    "write_binary",
    "write_hashpath",
]

DATA = "data"
COMMITMENTS = "commitments"
SETS = "commitment-sets"
TYPES = "ao-types"
LINK_SUFFIX = structured.LINK_SUFFIX
# Deeper nesting than this only comes from a corrupt store (a child linking to its ancestor).
MAX_NESTING = 100
# Above this many signers of one content, finding the subset a parent refers to is not attempted.
MAX_FIT_SIGNERS = 10

_ESCAPE = re.compile(r"%(25|2F)")
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def data_path(data: bytes) -> str:
    """The path of a binary in the cache: `data/<b64url(sha256(data))>`."""
    return f"{DATA}/{b64url_encode(sha256(data))}"


def commitments_base(uid: str) -> str:
    """The group holding the commitments of the message `uid` (§8.1 `CommBase`)."""
    return b64url_encode(sha256(f"{uid}/{COMMITMENTS}".encode()))


def _segment(key: str) -> str:
    if not key:
        return "%"
    return key.replace("%", "%25").replace("/", "%2F") if "%" in key or "/" in key else key


def _key_of(segment: str) -> str:
    if segment == "%":
        return ""
    return _ESCAPE.sub(lambda m: "%" if m.group(1) == "25" else "/", segment) if "%" in segment else segment


def _accumulate(ids: list[str]) -> str:
    try:
        return b64url_encode(accumulate([b64url_decode(cid) for cid in ids]))
    except (ValueError, DecodeError) as exc:
        raise DecodeError(f"cache: a commitment key is not an ID: {ids!r}") from exc


def _all_committers_id(uid: str, commitments: Mapping[str, Any]) -> str:
    """`message_id(msg, "all")` of the message `uid` with these commitments."""
    chosen = select_commitments(commitments, committers="all") if commitments else []
    return _accumulate(chosen) if chosen else uid


# -- writing (§8.2) -----------------------------------------------------------------------------


def write(msg: Value, store: Store) -> str:
    """Write a message, list or binary to the cache, atomically where the store can.

    Returns:
        The message's ID without commitments (`message_id` of it stripped of `commitments`),
        or `data/<hash>` for a binary.

    Raises:
        EncodeError: the message holds a value with no encoding, a map as its `device`, or a
            commitment that is not a map.
        BadMessage: a commitment has no `committed` list.
        StoreError: the store failed.
    """
    prepared = prepare(msg, store)
    found = _already_written(prepared.planned, prepared.writer)
    if found is not None:
        return found
    return store.transact(prepared.apply)


@dataclass(frozen=True)
class PreparedWrite:
    """A write worked out ahead of its transaction (`prepare`)."""

    planned: bytes | _Plan
    writer: Store

    def apply(self) -> str:
        """Put the write in the store (inside the caller's transaction); what `write` returns.

        Raises:
            StoreError: the store failed.
        """
        return _apply_value(self.planned, self.writer)


def prepare(msg: Value, store: Store) -> PreparedWrite:
    """The CPU work of writing `msg` to `store` (commitments checked, TABM, IDs), done now, so
    that a caller whose transaction must hold other writes too can hold it for the puts alone:
    `prepare(msg, store).apply()` inside the transaction is `write(msg, store)`.

    Raises:
        As `write`, but StoreError.
    """
    writer = store.writer
    return PreparedWrite(_plan_value(msg, writer), writer)


def _already_written(planned: bytes | _Plan, store: Store) -> str | None:
    """What `write` returns, when the write is in the store already as far as what is committed
    shows (and this thread's open transaction, if any): then there is nothing to write and no
    need for a write transaction (LMDB: its writer lock, which every worker shares). Content
    addressing makes a yes final; a None only means the write is applied, which looks again."""
    if isinstance(planned, bytes):
        path = data_path(planned)
        return path if store.type(path) == "simple" else None
    return planned.ids[0] if planned.group is None and _is_written(planned, store) else None


def _plan_value(msg: Value, store: Store) -> bytes | _Plan:
    if isinstance(msg, (bytes, str)):
        return to_bytes(msg)
    if isinstance(msg, (dict, list)):
        return _plan(msg, store)
    raise EncodeError(f"cache: a message must be a map, list or binary, got {type(msg).__name__}")


def _apply_value(planned: bytes | _Plan, store: Store) -> str:
    if isinstance(planned, bytes):
        return _write_data(planned, store)
    return _apply(planned, store)[0]


def _write_data(data: bytes, store: Store) -> str:
    path = data_path(data)
    if store.type(path) != "simple":  # content-addressed: if it is there, it is this
        store.write(path, data)
    return path


class _Written:
    """Messages recently written to one store, by content fingerprint: `(uid, all-committers ID)`.

    An HTTP node stores the base, request and result of every step (`cache_control: always`),
    and most of them repeat or nest what was just written (the node message behind
    `/~meta@1.0/info`, a scheduled message inside its assignment). Content addressing makes a
    repeated write a no-op, so it is skipped, once the store confirms the message is there (a
    reset or a rolled-back transaction empties it). A `Memo` (bounded, locked) per store.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._found: Memo[object, tuple[str, str]] = Memo(self.SIZE)

    def get(self, key: object) -> tuple[str, str] | None:
        return self._found.get(key)

    def put(self, key: object, ids: tuple[str, str]) -> None:
        self._found.put(key, ids)


_WRITTEN: weakref.WeakKeyDictionary[Store, _Written] = weakref.WeakKeyDictionary()
_WRITTEN_LOCK = threading.Lock()


def _written(store: Store) -> _Written:
    with _WRITTEN_LOCK:
        found = _WRITTEN.get(store)
        if found is None:
            found = _WRITTEN[store] = _Written()
        return found


@dataclass
class _Group:
    """A group to write: a message's TABM, or one commitment's, as `(segment, binary)` pairs."""

    name: str
    values: list[tuple[str, bytes]]


@dataclass
class _Plan:
    """What writing one map or list does to a store, worked out before its transaction.

    Planning is the CPU work of a write (checking commitments, the TABM, the IDs); applying
    (`_apply`) only asks the store what is there and puts what is not, so a transaction (and
    with LMDB, the writer lock every worker process shares) is held for the puts alone. A plan
    made from the written-memo (`ids` known, `group` None) is checked against the store when
    applied, and worked out in full then if the store lacks it.
    """

    msg: Message | list[Value]
    key: object | None
    ids: tuple[str, str]
    group: _Group | None = None
    children: list[_Plan] = field(default_factory=list)
    commitments: list[tuple[str, _Group]] = field(default_factory=list)
    named: dict[str, list[str]] = field(default_factory=dict)
    probes: list[str] = field(default_factory=list)


def _plan(msg: Message | list[Value], store: Store) -> _Plan:
    """The plan for writing a map or list to `store` (its written-memo consulted)."""
    try:
        key: object = fingerprint(msg)
    except TypeError:
        key = None  # planning below raises the EncodeError that says why
    if key is not None:
        known = _written(store).get(key)
        if known is not None:
            return _Plan(msg, key, known)
    return _plan_new(msg, key, store)


def _is_written(plan: _Plan, store: Store) -> bool:
    """Whether the memo's write of `plan` is in the store. The memo may name a write whose
    transaction was rolled back: the unsigned content can be there from another write, so the
    ID of all committers must be there too."""
    uid, everyone = plan.ids
    return store.type(uid) == "composite" and (everyone == uid or store.type(everyone) is not None)


def _paths_of(plan: _Plan, into: list[str]) -> list[str]:
    """Every path applying `plan` asks the store about, its children's too."""
    uid, everyone = plan.ids
    if plan.group is None:
        into += [uid, everyone]
        return into
    for child in plan.children:
        _paths_of(child, into)
    into += plan.probes
    if plan.commitments:
        base = commitments_base(uid)
        into += [base, f"{uid}/{COMMITMENTS}"]
        for cid, group in plan.commitments:
            into += [group.name, f"{base}/{_segment(cid)}", *(data_path(v) for _, v in group.values)]
    return into


def _apply(plan: _Plan, store: Store, *, top: bool = True) -> tuple[str, str]:
    """Put what `plan` writes that `store` lacks; its ID without commitments and of all
    committers. `store` is the store that takes the writes: a later store of a chain may hold
    a message under one of this one's other IDs, which a link here then shadows, but only
    with the same content (`_names_the_message`)."""
    if top:
        # Every existence check of the write, asked at once (Redis: one MGET, not one per message).
        store.prefetch([DATA, SETS, *_paths_of(plan, [])])
    if plan.group is None:
        if _is_written(plan, store):
            return plan.ids
        plan = _plan_new(plan.msg, plan.key, store)  # the memo's write was rolled back
        store.prefetch(_paths_of(plan, []))
    assert plan.group is not None
    for child in plan.children:
        _apply(child, store, top=False)
    uid, _ = plan.ids
    store.make_group(uid)
    store.make_links([(_write_data(value, store), f"{uid}/{segment}") for segment, value in plan.group.values])
    if plan.commitments:
        base = commitments_base(uid)
        store.make_group(base)
        for cid, group in plan.commitments:
            store.make_group(group.name)
            store.make_links([(_write_data(value, store), f"{group.name}/{segment}")
                              for segment, value in group.values])
            store.make_link(group.name, f"{base}/{_segment(cid)}")
        store.make_link(base, f"{uid}/{COMMITMENTS}")
    for alternative, chosen in plan.named.items():
        if alternative != uid and _link_alternative(uid, alternative, store):
            _record_set(alternative, chosen, store)
    if plan.key is not None:
        _written(store).put(plan.key, plan.ids)
        msg = plan.msg
        if isinstance(msg, dict) and not _has_commitments(msg):
            # One ID system: the ID just computed for the write is the message's ID, which
            # hashpaths and `id` ask for next (`message_id`'s memo).
            remember_id(msg, uid)
    return plan.ids


def _has_commitments(value: Value) -> bool:
    """Whether any map in `value` carries commitments: the write may then drop some (false
    ones, and the keys they alone covered), so its ID need not be `message_id` of `value`."""
    if isinstance(value, dict):
        return bool(value.get(COMMITMENTS)) or any(_has_commitments(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_commitments(v) for v in value)
    return False


def _group_values(tabm: TABM, what: str) -> list[tuple[str, bytes]]:
    values = []
    for key, value in tabm.items():
        if not isinstance(value, bytes):
            raise EncodeError(f"cache: {what}key {key!r} did not convert to a binary")
        values.append((_segment(key), value))
    return values


def _plan_new(msg: Message | list[Value], key: object | None, store: Store) -> _Plan:
    commitments: dict[str, TABM | bytes] = {}
    body: Message | list[Value] = msg
    original = msg
    if isinstance(msg, dict):
        if isinstance(msg.get("device"), Mapping):
            raise EncodeError("cache: a message whose device is a map cannot be written")
        # A commitment proven false for this content (a request step carrying its HTTP
        # request's signatures over another `path`, a forged committer) is not written with
        # it: its ID would then name content it never covered.
        msg = without_false_commitments(msg)
        found = msg.get(COMMITMENTS)
        if isinstance(found, Mapping) and found:
            commitments = structured.binary_tree(found)
        if carries_own_commitments(msg):
            # A part signed in the spring-2025 form: its `signature` and `signature-input` are
            # keys of the message (as main reads it), which its commitments do not list.
            body = {k: v for k, v in msg.items() if k != COMMITMENTS}
        else:
            body = _only_committed(msg, commitments)
    children: list[_Plan] = []

    def child_id(child: Message | list[Value]) -> str:
        planned = _plan(child, store)
        children.append(planned)
        # Linked by the ID `message_id` links it by (`aonode.codecs._ids`): a spring-2025 part
        # by its ID without commitments, as main does.
        return planned.ids[0] if isinstance(child, dict) and carries_own_commitments(child) else planned.ids[1]

    tabm = structured.from_wire(body, link=child_id)
    assert isinstance(tabm, dict)  # a map or list gives a map
    uid = _unsigned_id(tabm)
    # The IDs first, so that a commitment key that is no ID fails before anything is written.
    all_committers = _all_committers_id(uid, commitments)
    all_commitments = _accumulate(list(commitments)) if commitments else uid
    group = _Group(uid, _group_values(tabm, ""))
    planned_commitments = [(cid, _plan_commitment(cid, commitment, child_id))
                           for cid, commitment in commitments.items()]
    unsigned = [cid for cid, c in commitments.items() if not _signed(c)]
    kept = set(body) if isinstance(body, dict) else set()
    named: dict[str, list[str]] = {
        cid: [cid, *(u for u in unsigned if u != cid)] if _signed(c) else [cid]
        for cid, c in commitments.items() if _names_the_message(c, kept)
    }
    named.setdefault(all_committers, list(commitments))
    named.setdefault(all_commitments, list(commitments))
    alternatives = set(named) - {uid}
    probes = [uid, *(data_path(v) for v in tabm.values() if isinstance(v, bytes)),
              *alternatives, *(f"{SETS}/{a}" for a in alternatives)]
    return _Plan(original, key, (uid, all_committers), group, children, planned_commitments, named, probes)


def _plan_commitment(cid: str, commitment: TABM | bytes, child_id: Callable[[Any], str]) -> _Group:
    """One commitment as a group of its own, at a name unique to that commitment.

    A commitment's content ID cannot name it: IDs leave out `signature` and `signature-input`
    (they are httpsig's transport fields), so two commitments by one signer over the same keys
    would share a group and the later signature would overwrite the earlier one.
    """
    if not isinstance(commitment, dict):
        raise EncodeError(f"cache: commitment {cid!r} is not a map")
    tabm = structured.from_wire(cast(Message, commitment), link=child_id)
    assert isinstance(tabm, dict)
    name = b64url_encode(sha256(b"commitment/" + _unsigned_id(tabm).encode() + b"/" + cid.encode()))
    return _Group(name, _group_values(tabm, "commitment "))


def _signed(commitment: object) -> bool:
    return isinstance(commitment, Mapping) and "committer" in commitment


def _names_the_message(commitment: object, kept: set[str]) -> bool:
    """Whether a commitment's ID may become a name of the message: only when it covers every
    key the message keeps, so that whatever an ID names is exactly the content its commitment
    signed. A commitment over fewer keys names nothing here: another message may carry it over
    other keys (a signature over `a` holds for any message with the same `a`), and an
    `httpsig@1.0` HMAC over fewer keys has the ID of those keys as a message of their own.
    Two writes, even to two stores of a chain, can then give one ID only to one content."""
    if not isinstance(commitment, Mapping) or "committed" not in commitment:
        return True  # lists no keys: covers what the message keeps (`_only_committed`)
    try:
        covered = {key.removesuffix(LINK_SUFFIX) for key in httpsig.committed_list(commitment)}
    except (BadMessage, TypeError, ValueError):
        return False
    return covered >= kept


def _only_committed(msg: Message, commitments: Mapping[str, TABM | bytes]) -> Message:
    """The keys of `msg` that some commitment covers (all of them when none lists keys).

    `with_only_committed` keeps the keys of the default and the signed commitments only, so a
    message whose one commitment is neither (an unsigned ANS-104 item with upper-case tags) would
    lose every key; the union over all commitments keeps what any of them vouches for.
    """
    covered: set[str] = set()
    for commitment in commitments.values():
        if isinstance(commitment, dict) and "committed" in commitment:
            covered.update(key.removesuffix(LINK_SUFFIX) for key in httpsig.committed_list(commitment))
    return {k: v for k, v in msg.items() if k != COMMITMENTS and (not covered or k in covered)}


def _unsigned_id(tabm: TABM) -> str:
    # The ID without commitments, as message_id computes it, from the TABM already built.
    commitments = httpsig.commit(tabm, type="unsigned")[COMMITMENTS]
    assert isinstance(commitments, dict)
    return next(iter(commitments))


def _link_alternative(uid: str, alternative: str, store: Store) -> bool:
    """Link `alternative` to `uid`; False when it cannot name the message: it is not an ID, a
    stored message has it as its own, or an earlier write gave it to another message (the
    first keeps it: a later message carrying the same commitment has more keys than it
    signed)."""
    if not _ID_SHAPE.fullmatch(alternative):
        return False  # only an ID may become a top-level name (never, say, `data`)
    target = store.resolve(alternative)
    if target == uid:
        return True
    if target == alternative:
        if store.type(alternative) == "composite":
            return False  # a stored message already has this ID as its own
    elif store.type(target) is not None:
        return False  # a link to another stored message
    store.make_link(uid, alternative)
    return True


def _record_set(alternative: str, chosen: list[str], store: Store) -> None:
    """Record which commitments `alternative` names, unless an earlier write did."""
    path = f"{SETS}/{alternative}"
    if store.type(path) is None:
        store.write(path, ",".join(chosen).encode())


def _recorded_set(want: str, store: Store) -> list[str] | None:
    if not _ID_SHAPE.fullmatch(want):
        return None
    found = store.read(f"{SETS}/{want}")
    return found.decode("ascii", "replace").split(",") if found else None


def write_binary(path: str, data: bytes, store: Store) -> None:
    """Write `data` under `data/<hash>` and link it at `path` (e.g. a hashpath).

    Raises:
        StoreError: the store failed or `path` is a group.
    """
    store.transact(lambda: store.make_link(_write_data(data, store.writer), path))


def write_hashpath(msg: Value, store: Store) -> str:
    """Write a message and, if it carries `priv.hashpath`, link it there too.

    Returns:
        What `write` returns.

    Raises:
        As `write`.
    """
    prepared = prepare(msg, store)
    priv = msg.get("priv") if isinstance(msg, dict) else None
    found = priv.get("hashpath") if isinstance(priv, dict) else None
    hashpath = as_text(found, errors="surrogateescape") if isinstance(found, (bytes, str)) else ""

    def apply() -> str:
        stored = prepared.apply()
        if normalize_path(hashpath):
            store.make_link(stored, hashpath)
        return stored

    return store.transact(apply)


def link(existing: str, new: str, store: Store) -> None:
    """Make `new` a link to `existing` (`hb_cache:link`)."""
    store.make_link(existing, new)


# -- reading (§8.3, §8.4) -----------------------------------------------------------------------


def read(path: str | bytes, store: Store) -> Value | None:
    """Read a message, binary or value from the cache.

    Args:
        path: a message's ID (without commitments, of a commitment, of all commitments or of
            all committers; 43 characters, or 32 raw bytes), `<ID>/<key>` (or any path
            through links and keys), or `data/<hash>`.

    Returns:
        The message fully loaded, the binary, the key's value (typed as written), or None
        when nothing is stored there. Read by a commitment's ID or an ID over all committers
        or all commitments, a message has exactly the commitments that ID names (so
        `message_id(read(X), committers="all") == X` for a signed `X`), whoever else stored
        the same content; read by its uncommitted ID, or by a path through other links (a
        hashpath, `computed/...`), it has every commitment stored for its content (pooled,
        as in the reference).

    Raises:
        StoreError: the store failed, or holds links that loop or lead nowhere.
        DecodeError: stored key types are malformed.
    """
    text = normalize_path(_id_text(path))
    if not text:
        return None
    with store.snapshot():
        return _read(text, store, 0, None, exact=True)


def _read(path: str, store: Store, depth: int, want: str | None, *, exact: bool = False) -> Value | None:
    """What `path` holds. `want`: the ID the message is read by, whose commitments it keeps
    (None: all of them). `exact`: a top-level read, by `want = path` when that is an ID linking
    to a message stored under another (a commitment's ID, or an accumulated one)."""
    if depth > MAX_NESTING:
        raise StoreError(f"cache: messages nested more than {MAX_NESTING} deep at {path!r} (a corrupt store?)")
    resolved = store.resolve(path)
    if exact and resolved != path and _ID_SHAPE.fullmatch(path):
        want = path
    kind = store.type(resolved)
    if kind == "composite":
        return _load(resolved, store, depth, want)
    if kind == "simple":
        data = store.read(resolved)
        return data if data is None else _typed(path, data, store)
    # A miss: keys holding child messages are stored as `<key>+link`, so walk the path key by
    # key, stepping into a child wherever the plain key is absent.
    parts = path.split("/")
    current = parts[0]
    for segment in parts[1:]:
        candidate = f"{current}/{segment}"
        if not segment.endswith(LINK_SUFFIX) and store.type(candidate) is None:
            ref = store.read(f"{candidate}{LINK_SUFFIX}")
            if ref is not None:
                current = _reference(ref, candidate)
                continue
        current = candidate
    if current == path:
        return None
    return _read(current, store, depth + 1, None if "/" in current else current)


def _reference(ref: bytes, where: str) -> str:
    try:
        text = ref.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text or "/" in text:
        raise StoreError(f"cache: {where!r} holds a corrupt message reference")
    return text


def _typed(path: str, data: bytes, store: Store) -> Value:
    """A key's value, decoded with the `ao-types` of the message it belongs to."""
    parent, _, last = path.rpartition("/")
    if not parent or parent == DATA or last == TYPES:
        return data
    root = store.resolve(parent)
    if store.type(root) != "composite":
        return data
    types = store.read(f"{root}/{TYPES}")
    type_name = structured.parse_types(types).get(_key_of(last)) if types is not None else None
    return structured.decode_typed(data, type_name) if type_name else data


def _load(root: str, store: Store, depth: int, want: str | None) -> Value:
    flat: TABM = {}
    commitments: dict[str, TABM] = {}
    for name in store.list(root) or ():
        if name == COMMITMENTS:
            # Reached through a parent's link naming the uncommitted ID, the child was written
            # without signers: commitments here came from writes of the same content elsewhere
            # (they accumulate under one ID). Skipping them keeps the child as written, and
            # breaks the loop of a commitment whose own `committed` list is this very content.
            if want != root:
                commitments = _load_commitments(root, store, depth)
            continue
        data = store.read(f"{root}/{name}")
        if data is None:
            raise StoreError(f"cache: {root}/{name} is listed but holds no value (an incomplete store?)")
        flat[_key_of(name)] = data
    rich = structured.to_wire(flat)
    if isinstance(rich, list):
        return [_inline(item, store, depth) for item in rich]
    if not isinstance(rich, dict):
        raise StoreError(f"cache: {root!r} did not load as a message")
    out: Message = {key: _inline(value, store, depth) for key, value in rich.items()}
    if want is not None and commitments:
        commitments = _fit(commitments, want, root, store)
    if commitments:
        out[COMMITMENTS] = commitments  # type: ignore[assignment]
    return out


def _inline(value: Value, store: Store, depth: int) -> Value:
    if isinstance(value, Link):
        if not value.id or "/" in value.id:
            return value
        loaded = _read(value.id, store, depth + 1, value.id)
        return loaded if isinstance(loaded, (dict, list)) else value
    if isinstance(value, list):
        return [_inline(item, store, depth) for item in value]
    return value


def _load_commitments(root: str, store: Store, depth: int) -> dict[str, TABM]:
    base = store.resolve(f"{root}/{COMMITMENTS}")
    out: dict[str, TABM] = {}
    for name in store.list(base) or ():
        commitment = _read(f"{base}/{name}", store, depth + 1, None)
        if not isinstance(commitment, dict):
            raise StoreError(f"cache: commitment {name!r} of {root!r} is not a message")
        try:
            out[_key_of(name)] = structured.binary_tree(commitment)
        except (TypeError, ValueError, EncodeError) as exc:
            raise StoreError(f"cache: commitment {name!r} of {root!r} is incomplete") from exc
    return out


def _fit(commitments: dict[str, TABM], want: str, uid: str, store: Store) -> dict[str, TABM]:
    """The commitments of the message `uid` that the ID `want` names (see the module docstring):
    the recorded set; without a record, the commitment `want` (and the unsigned ones, if it is
    signed), else the largest set of signers whose IDs sum to `want`, else all of them."""
    recorded = _recorded_set(want, store)
    if recorded is not None and all(cid in commitments for cid in recorded):
        chosen = set(recorded)
        return {cid: c for cid, c in commitments.items() if cid in chosen}
    found = commitments.get(want)
    if found is not None:
        if not _signed(found):
            return {want: found}
        return {cid: c for cid, c in commitments.items() if cid == want or not _signed(c)}
    if _all_committers_id(uid, commitments) == want or _accumulate(list(commitments)) == want:
        return commitments
    signed = [cid for cid, c in commitments.items() if _signed(c)]
    if len(signed) > MAX_FIT_SIGNERS:
        return commitments
    for size in range(len(signed) - 1, 1, -1):
        for subset in itertools.combinations(signed, size):
            candidate = {cid: c for cid, c in commitments.items() if cid in subset or not _signed(c)}
            if _all_committers_id(uid, candidate) == want:
                return candidate
    return commitments


def _id_text(value: str | bytes) -> str:
    if isinstance(value, bytes) and len(value) == 32:
        return b64url_encode(value)
    return as_text(value, errors="surrogateescape")


def _is_id(value: object) -> bool:
    return isinstance(value, (str, bytes)) and is_id(value)


def read_resolved(base: Value, request: Value, store: Store) -> Value | None:
    """The cached result of applying `request` to `base` (§8.3), or None.

    ID and ID reads `"<base>/<request>"`; ID and map reads `"<base>/<request ID>"`; map and map
    reads `hashpath(base, request)`. Anything else has no cached result.

    Raises:
        As `read`; BadMessage for a malformed base hashpath.
    """
    try:
        if _is_id(base) and _is_id(request):
            assert isinstance(base, (str, bytes)) and isinstance(request, (str, bytes))
            return read(f"{_id_text(base)}/{_id_text(request)}", store)
        if _is_id(base) and isinstance(request, dict):
            assert isinstance(base, (str, bytes))
            return read(f"{_id_text(base)}/{message_id(request, commitments='all')}", store)
        if isinstance(base, dict) and isinstance(request, dict):
            return read(hashpath(base, request), store)
    except EncodeError:
        return None  # a request with no ID cannot have a cached result
    return None


def match(spec: Message, store: Store) -> Names:
    """The IDs of stored messages holding every key and value of `spec` (§8.3; LMDB only).

    Raises:
        Unsupported: the store cannot search.
        EncodeError: `spec` holds a value with no encoding.
    """
    tabm = to_tabm(spec)
    assert isinstance(tabm, dict)
    pairs = [(_segment(k), data_path(v)) for k, v in tabm.items() if k != TYPES and isinstance(v, bytes)]
    return store.match(pairs)


class MessageCache:
    """The cache bound to one store: what the resolver receives as `opts["cache"]`.

    Args:
        store: the store; None gives an unbounded in-memory store.
    """

    def __init__(self, store: Store | None = None) -> None:
        self.store: Store = store if store is not None else MemoryStore()

    def __repr__(self) -> str:
        return f"MessageCache({self.store!r})"

    def write(self, msg: Value) -> str:
        """See `write`."""
        return write(msg, self.store)

    def read(self, path: str | bytes) -> Value | None:
        """See `read`."""
        return read(path, self.store)

    def read_resolved(self, base: Value, request: Value) -> Value | None:
        """See `read_resolved`."""
        return read_resolved(base, request, self.store)

    def write_binary(self, path: str, data: bytes) -> None:
        """See `write_binary`."""
        write_binary(path, data, self.store)

    def write_hashpath(self, msg: Value) -> str:
        """See `write_hashpath`."""
        return write_hashpath(msg, self.store)

    def link(self, existing: str, new: str) -> None:
        """See `link`."""
        link(existing, new, self.store)

    def match(self, spec: Message) -> Names:
        """See `match`."""
        return match(spec, self.store)
