"""Message IDs and hashpaths (messages-codecs-ids.md §5).

* The unsigned ID of a message without commitments is the `constant:ao` HMAC of
  its `httpsig@1.0` signature base over all of its keys, with nested maps and
  lists replaced by `key+link: <child ID>` (so an ID never covers nested
  content directly, only the children's IDs).
* A message with commitments has the IDs of the selected commitments, summed
  modulo 2**256 when there are several (§4.5 selection; §5.3).
* A hashpath is `<base>/<request-id>`; each step folds the previous two parts
  with SHA-256 (§5.4).
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from typing import Any, Literal, Union, cast

from aonode._memo import Memo
from aonode.codecs import _spring2025, httpsig, structured
from aonode.crypto import accumulate, b64url_decode, b64url_encode, sha256, sha256_chain
from aonode.errors import BadMessage, NotFound
from aonode.message import TABM, Atom, Link, Message, Value, is_private, normalize_key

__all__ = ["Selector", "fingerprint", "hashpath", "message_id", "remember_id", "select_commitments", "to_tabm"]

Selector = Union[Literal["none", "all"], list[str]]


def to_tabm(msg: Value, *, bundle: bool = False) -> TABM | bytes:
    """The TABM of a rich message: children as `key+link` IDs, or inline when `bundle`.

    Memoised by content (`fingerprint`); the caller gets its own copy, which it may change.

    Raises:
        EncodeError: a value has no encoding.
    """
    if isinstance(msg, (bytes, str)):
        return structured.from_wire(msg)
    try:
        found_print = fingerprint(msg)
    except TypeError:  # no wire form: the conversion says where
        found_print = None
    # Only an exact fingerprint (the marshal form, key order included) names one TABM: the
    # canonical one ignores the order of commitments, which their encodings keep.
    if not (isinstance(found_print, tuple) and found_print[0] == "m"):
        return structured.from_wire(msg, link=None if bundle else _child_id)
    key = ("tabm", found_print, bundle)
    dump = _TABMS.get(key)
    if dump is None:
        tabm = structured.from_wire(msg, link=None if bundle else _child_id)
        dump = marshal.dumps(tabm, 2)
        if len(dump) > _TABM_LIMIT:
            return tabm
        _TABMS.put(key, dump)
        return tabm
    # A TABM is bytes and dicts only: its marshal form is an exact copy, made at C speed.
    found: TABM = marshal.loads(dump)
    return found


def _child_id(child: Value) -> str:
    if isinstance(child, Mapping) and _spring2025.carries_own_commitments(child):
        # A part signed in the spring-2025 form: main reads it as a message without
        # commitments (its signature headers are plain keys), and links it by that ID.
        child = {k: v for k, v in child.items() if k != "commitments"}
    return message_id(child, committers="all")


def select_commitments(
    commitments: Mapping[str, bytes | TABM], committers: Selector = "none", ids: Selector = "none"
) -> list[str]:
    """The IDs of the commitments that `committers` and `ids` select (§4.5).

    With neither selecting anything, the default: `httpsig@1.0` commitments without a committer.

    Raises:
        NotFound: a requested committer has no commitment.
    """
    chosen: list[str] = []
    by_committer = {
        cid: c.get("committer") for cid, c in commitments.items() if isinstance(c, dict)
    }
    if committers == "all":
        chosen += [cid for cid, who in by_committer.items() if who is not None]
    elif isinstance(committers, list):
        for address in committers:
            found = [cid for cid, who in by_committer.items() if who == address.encode()]
            if not found:
                raise NotFound(f"requested committer {address} has no commitment")
            chosen += found
    if ids == "all":
        chosen += list(commitments)
    elif isinstance(ids, list):
        chosen += [cid for cid in ids if cid in commitments]
    if not chosen:
        chosen = [
            cid for cid, c in commitments.items()
            if isinstance(c, dict) and c.get("commitment-device") == b"httpsig@1.0" and "committer" not in c
        ]
    return list(dict.fromkeys(chosen))


# IDs of recently seen messages. An ID costs an HMAC over a rebuilt signature base (about
# 100 µs for a small nested message); a fingerprint costs a few µs, and resolutions ask for
# the IDs of the same bases and requests again and again (hashpaths, the cache).
_MEMO: Memo[tuple[object, str, str], str] = Memo(4096)


# TABMs by content, kept as their marshal form (a copy for every caller). A reply is turned
# into its TABM to be signed and again to be encoded, and repeated messages (the node's info,
# a process definition) come again and again.
_TABMS: Memo[tuple[str, object, bool], bytes] = Memo(512)
_TABM_LIMIT = 64 * 1024

# Whole messages up to this size (serialised) get the quick fingerprint below.
_QUICK_LIMIT = 64 * 1024


def fingerprint(value: object) -> object:
    """A hashable value such that two messages with equal fingerprints have equal IDs.

    A plain dict or list of plain values (bytes, text, numbers, booleans, None, lists, tuples, dicts:
    what decoded messages hold) is fingerprinted by the SHA-256 of its `marshal` form without its
    top-level private keys: C speed, exact about types (`True`, `1` and `1.0` differ) and about
    key order (so the same message built in another order is merely a second entry). Anything
    else, or anything larger than 64 KiB serialised, gets the SHA-256 of its canonical form,
    which ignores key order and private keys at every level. Either way a fingerprint is small,
    whatever the message's size.

    Raises:
        TypeError: the value holds something with no wire form (a function, an object).
    """
    if type(value) is list or type(value) is dict:
        public: Any = value if type(value) is list else {
            k: v for k, v in cast(dict[Any, Any], value).items() if not (isinstance(k, str) and is_private(k))}
        try:
            dump = marshal.dumps(public, 2)  # version 2: no back-references, so no identity in it
        except ValueError:  # an Atom, a Link, a live object: the structural form decides
            pass
        else:
            if len(dump) <= _QUICK_LIMIT:
                return ("m", sha256(dump))
    # A digest, not the structure itself: the memo keeps thousands of fingerprints, and a
    # large message's structure would keep a copy of its shape alive with each.
    return ("c", sha256(marshal.dumps(_canonical(value), 2)))  # type: ignore[arg-type]


def _canonical(value: object) -> object:
    """A marshal-able value equal for two messages exactly when their IDs must be equal.

    Scalars carry their type, since `True == 1 == 1.0` in Python but not on the wire; key
    order does not matter to IDs, so map items are sorted; private keys never count.

    Raises:
        TypeError: the value holds something with no wire form (a function, an object).
    """
    if isinstance(value, bytes):
        return ("b", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, bool) or value is None:
        return ("a", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, float):
        return ("f", value.hex())
    if isinstance(value, Atom):
        return ("t", value.name)
    if isinstance(value, Link):
        return ("k", value.id, value.lazy)
    if isinstance(value, Mapping):
        items = [(k, _canonical(v)) for k, v in value.items() if not (isinstance(k, str) and is_private(k))]
        if not all(isinstance(k, str) for k, _ in items):
            raise TypeError("a map key must be text")
        return ("m", tuple(sorted(items, key=lambda item: item[0])))
    if isinstance(value, (list, tuple)):
        return ("l", tuple(_canonical(v) for v in value))
    raise TypeError(f"a {type(value).__name__} has no wire form")


def message_id(msg: Value, committers: Selector = "none", commitments: Selector = "none") -> str:
    """The ID of a message (`hb_message:id/3`), memoised by content; see `_message_id`."""
    try:
        key = (fingerprint(msg), repr(committers), repr(commitments))
    except TypeError:
        return _message_id(msg, committers, commitments)
    return _MEMO.get_or_compute(key, lambda: _message_id(msg, committers, commitments))


def remember_id(msg: Message | list[Value], uid: str) -> None:
    """Record `uid`, computed elsewhere (the cache's write), as the ID of `msg`, a message
    without commitments: its ID by every selector, since it has no commitment to select.
    A message with commitments, or without a fingerprint, is not recorded."""
    if isinstance(msg, dict) and msg.get("commitments"):
        return
    try:
        found = fingerprint(msg)
    except TypeError:
        return
    for selector in (("none", "none"), ("all", "none"), ("none", "all")):
        _MEMO.put((found, repr(selector[0]), repr(selector[1])), uid)


def _message_id(msg: Value, committers: Selector = "none", commitments: Selector = "none") -> str:
    """The ID of a message (`hb_message:id/3`).

    Args:
        msg: a rich message, list or binary (a binary's ID is its SHA-256).
        committers: `"none"` gives the unsigned ID; `"all"` or a list of addresses sums the
            IDs of those signers' commitments.
        commitments: `"all"` or a list selects commitments by ID instead.

    Raises:
        EncodeError: a value has no encoding.
        NotFound: a requested committer has no commitment.
    """
    if isinstance(msg, (bytes, str)):
        return b64url_encode(sha256(msg if isinstance(msg, bytes) else msg.encode()))
    tabm = to_tabm(msg)
    assert isinstance(tabm, dict)
    existing = tabm.get("commitments")
    if isinstance(existing, dict) and existing:
        chosen = select_commitments(existing, committers, commitments)
        if chosen:
            return b64url_encode(accumulate([b64url_decode(cid) for cid in chosen]))
        tabm = {k: v for k, v in tabm.items() if k != "commitments"}
    unsigned = httpsig.commit(tabm, type="unsigned")
    new = unsigned["commitments"]
    assert isinstance(new, dict)
    return next(iter(new))


def _all_commitments_id(msg: Message) -> str | None:
    """`message_id(msg, commitments="all")` of a message with commitments, read from the
    commitments alone (they name the IDs it sums), without encoding the rest of the message
    (a scheduled assignment, new on every slot, carries its whole message); None without any."""
    found = msg.get("commitments")
    if not isinstance(found, Mapping) or not found or b"commitments" in cast(Mapping[object, object], msg):
        return None  # (a binary key `commitments` would be the encoding's too)
    return b64url_encode(accumulate([b64url_decode(normalize_key(cid)) for cid in found]))


def hashpath(base: Message | str, request: Message | str | bytes) -> str:
    """The hashpath of applying `request` to `base` (`hb_path:hashpath/2`, `sha-256-chain`).

    Args:
        base: a message (its `priv.hashpath`, else the ID of all its commitments) or a hashpath.
        request: the request; one with nothing but `path` contributes its first path part. A
            bare key is the request `{path: key}`, as the resolver takes it.

    Raises:
        BadMessage: the base hashpath is malformed.
    """
    if isinstance(base, str):
        previous = base
    else:
        priv = base.get("priv")
        found = priv.get("hashpath") if isinstance(priv, dict) else None
        previous = found.decode() if isinstance(found, bytes) else found if isinstance(found, str) else (
            message_id(base, commitments="all")
        )
    if isinstance(request, (str, bytes)):
        request = {"path": request}
    rest = {k: v for k, v in request.items() if k not in ("path", "hashpath", "priv")}
    if rest:
        part = _all_commitments_id(request) or message_id(request, commitments="all")
    else:
        path = request.get("path", b"")
        text = path.decode() if isinstance(path, bytes) else str(path)
        part = next((p for p in text.split("/") if p), "")
    segments = previous.split("/")
    if len(segments) == 1:
        return f"{previous}/{part}"
    if len(segments) != 2:
        raise BadMessage(f"hashpath {previous!r} has more than two parts")
    first, second = segments
    second_bytes = b64url_decode(second) if len(second) == 43 else second.encode()
    return f"{b64url_encode(sha256_chain(b64url_decode(first), second_bytes))}/{part}"
