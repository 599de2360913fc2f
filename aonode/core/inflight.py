"""Concurrent identical resolutions, computed once (`hb_persistent`, resolution-paths-cache-node.md §12).

A resolution belongs to a *group*: the device's `grouper(base, request, opts)` names it, or,
when the `await_inprogress` option is exactly True, the group is the pair (base, request)
without private keys. While one thread (the leader) computes a group, other threads asking
for the same group wait for the leader's result instead of computing it again. A thread
that asks for a group it is itself computing has made an infinite recursion: that is an
error (508) unless `allow_infinite` is set.

With the node default `await_inprogress = "named"`, only devices with their own grouper are
grouped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from aonode.codecs import fingerprint
from aonode.core import devices
from aonode.core.terms import Result

__all__ = ["group_of", "run"]

_lock = threading.Lock()
_running: dict[Any, tuple[int, Future[Result]]] = {}


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a message: its content, or its identity when it holds objects."""
    try:
        return fingerprint(value)
    except TypeError:
        return ("object", id(value))


def group_of(info: Mapping[str, Any], base: Any, request: Any, opts: Mapping[str, Any]) -> Any | None:
    """The group of a resolution, or None when it is not grouped."""
    if opts.get("await_inprogress", "named") is False:
        return None
    grouper = info.get("grouper")
    if grouper is not None:
        return devices.call(grouper, [base, request, opts])
    if opts.get("await_inprogress") is True:
        return (_freeze(base), _freeze(request))
    return None


def run(group: Any, compute: Callable[[], Result], opts: Mapping[str, Any]) -> Result:
    """Compute `group` once: the first caller runs `compute`, concurrent callers share its result.

    Exceptions raised by the leader are raised in every waiter too.
    """
    me = threading.get_ident()
    with _lock:
        current = _running.get(group)
        if current is None:
            future: Future[Result] = Future()
            _running[group] = (me, future)
            leader = True
        else:
            owner, future = current
            leader = False
    if not leader:
        if owner == me:
            if opts.get("allow_infinite"):
                return compute()
            return Result("error", {"status": 508, "body": b"Request creates infinite recursion."})
        return future.result()
    try:
        result = compute()
    except BaseException as exc:
        future.set_exception(exc)
        raise
    else:
        future.set_result(result)
        return result
    finally:
        with _lock:
            if _running.get(group, (None, None))[1] is future:
                del _running[group]
