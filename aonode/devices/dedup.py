"""`dedup@1.0`: let each subject through once (`dev_dedup`, processes-compute.md §6.1).

Every key except `keys`, `set`, `id` and `commit` (answered by `message@1.0`) runs the check:

1. The subject key is the base's `dedup-subject`, else the request's, else `body`. The
   subject is the whole request when that key is `request`, else the value of the subject
   key in the base, else in the request. All reads are plain `message@1.0` reads.
2. Only the first pass of a stack checks (`pass` absent or 1); a missing subject passes too.
3. The subject's ID over all its commitments is looked up in the base's `dedup` list: seen
   → `skip` with the base unchanged (a stack stops its pass there); new → `ok` with the ID
   put at the head of `dedup`.

The seen list lives in the message itself, so it travels with the state and is part of its ID.

Differences from the reference (docs/conformance.md, `dev_dedup`): the reference names
`id` and `commit` in an `exclude` info key, which its resolver ignores, so there they run the
dedup check (and return a message instead of an ID); aonode excludes them as intended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import message_id
from aonode.core.access import set_values
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, lookup
from aonode.errors import BadMessage
from aonode.message import Atom, normalize_key

__all__ = ["DedupDevice"]

_EXCLUDED = ("keys", "set", "id", "commit")


def _raw(key: str, msg: Any, opts: Mapping[str, Any]) -> Any:
    """`key` in `msg` as `message@1.0` reads it (whatever the message's device), or ABSENT."""
    if not isinstance(msg, Mapping):
        return ABSENT
    found = lookup(key, msg)
    return found if found is ABSENT else ensure_loaded(found, opts)


def _key_text(value: Any) -> str:
    if isinstance(value, (str, bytes, Atom, int)) and not isinstance(value, bool):
        return normalize_key(value)
    raise BadMessage(f"dedup-subject must name a key, not a {type(value).__name__}")


def _is_first_pass(base: Any, opts: Mapping[str, Any]) -> bool:
    found = _raw("pass", base, opts)
    if found is ABSENT:
        return True
    if isinstance(found, bytes):
        return found.strip() == b"1"
    return not isinstance(found, bool) and found == 1


def _seen(base: Any, opts: Mapping[str, Any]) -> list[Any]:
    found = _raw("dedup", base, opts)
    if found is ABSENT:
        return []
    if isinstance(found, Mapping):  # a list that travelled as a numbered message
        return [found[k] for k in sorted((k for k in found if k.isdigit()), key=int)]
    if isinstance(found, list):
        return found
    raise BadMessage(f"the dedup list must be a list of IDs, not a {type(found).__name__}")


def _as_bytes(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else value


class DedupDevice(Device):
    """`dedup@1.0`: every key but `keys`/`set`/`id`/`commit` is a deduplication step."""

    name = "dedup@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"default": self._handle, "excludes": list(_EXCLUDED)}

    def _handle(self, key: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        subject_key = _raw("dedup-subject", base, opts)
        if subject_key is ABSENT:
            subject_key = _raw("dedup-subject", request, opts)
        subject_key = "body" if subject_key is ABSENT else _key_text(subject_key)
        if subject_key == "request":
            subject = request
        else:
            subject = _raw(subject_key, base, opts)
            if subject is ABSENT:
                subject = _raw(subject_key, request, opts)
        if not _is_first_pass(base, opts) or subject is ABSENT:
            return Result("ok", base)
        subject_id = message_id(subject, committers="all").encode()
        seen = _seen(base, opts)
        if subject_id in (_as_bytes(s) for s in seen):
            return Result("skip", base)
        return Result("ok", set_values(base, {"dedup": [subject_id, *seen]}, opts))
