"""`scheduler@1.0`: give each message of a process its slot, and serve the schedule
(`dev_scheduler`, processes-compute.md §2).

    status      `{address, processes: [IDs scheduled here], cache-control: no-store}`
    schedule    POST (`method`): assign the message to the next slot, or register a process
                (the message's `type` is `Process`); GET: read the schedule (`from`, `to`,
                `accept`), as a bundle or, for `accept: application/aos-2`, the legacy JSON
    slot        `{process, current, timestamp, block-height, block-hash, addresses, ...}`
    next        the assignment after the state's `at-slot`, for process@1.0 (see `next`)
    location    POST: make or cache a scheduler-location record; GET: read one
    record      a `location` POST (what HyperBEAM peers send their notifications to)
    checkpoint  the base, unchanged
    (default)   any other exported key (`init`) behaves like `schedule`

The process of a request is found by `find_target_id` (§2.2) and the message to schedule by
`find_message_to_schedule` (§2.3). `find_server` decides who schedules it (§2.4 step 3): this
node (a `ProcessScheduler`, when a scheduler it names is a local identity) or a remote
scheduler (a redirect, followed when `scheduler_follow_redirects` is true).

Every answer is a `Result`; bad input gives an `error` with an HTTP status and a `body` that
says what was wrong (4xx), never an exception. Assigning is in `_scheduler_log`, the formats
in `_scheduler_formats`, locations in `_scheduler_locations`, the network in
`_scheduler_remote`.

Differences from the reference (docs/compat.md):

* Scheduling is idempotent: a signed message scheduled again on the same process (a client's
  retry, by any path: `schedule`, `push`) answers the assignment of its first slot; the
  reference gives it a new slot. The index is in `_scheduler_log` ("Idempotency").
* `scheduling_mode: aggressive` answers after the assignment is durable, like
  `local_confirmation`: a slot a client was told of is never lost. `disabled` refuses with 503.
* A negative `from` counts as 0 whether it came as a number or as text; a `from` or `to` that
  is not an integer is a 400 (the reference crashes).
* `next` reads a missing `at-slot` as -1, and keeps no look-ahead worker: the assignment after
  `at-slot` is read from the local log, else from the schedule (whose tail is kept in `priv`).
* A process ID given as the `process` key of the base is used as the ID (the reference hashes it).
* When a spawn is forwarded to a remote scheduler, the process is cached here too, so later
  messages to it can be routed without asking the gateway.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from aonode.codecs import message_id, verify, with_only_committed
from aonode.core import options
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.crypto import Wallet, b64url_encode
from aonode.devices import _scheduler_lease as leases
from aonode.devices import _scheduler_locations as locations
from aonode.devices import _scheduler_log as log_store
from aonode.devices import _scheduler_remote as remote
from aonode.devices._scheduler_formats import (
    AOS2,
    assignments_to_aos2,
    assignments_to_bundle,
    ordered_assignments,
    slot_of,
)
from aonode.devices._scheduler_log import ProcessScheduler, registry_for
from aonode.devices.message import ABSENT, lookup
from aonode.errors import AOError, BadMessage, DecodeError, EncodeError, InvalidSignature, NotFound
from aonode.message import Message, is_id
from aonode.store import Store, cache, open_store
from aonode.text import as_text

__all__ = [
    "SchedulerDevice",
    "find_message_to_schedule",
    "find_target_id",
    "read_assignment",
    "read_assignments",
]

EXPORTS = ("location", "status", "next", "schedule", "slot", "init", "checkpoint", "record")
PRIV_KEY = "scheduler@1.0"
"""The `priv` key under which `next` keeps the assignments it read ahead (`{assignments: [...]}`)."""

INVALID_COMMITMENTS = b"Message invalid: Committed components cannot be validated."
INVALID_MESSAGE = b"Message is not valid."
NOT_YET = b"Requested slot not yet available in schedule."
UNPROCESSABLE_SLOT = b"Unprocessable slot value received in assignment."
WRONG_SLOT = b"Received assignment slot does not match expected slot."


# -- reading messages ------------------------------------------------------------------------


def _get(key: str, msg: Any, opts: Mapping[str, Any]) -> Any:
    """`key` of a message as `message@1.0` reads it (links loaded), or None."""
    if not isinstance(msg, Mapping):
        return None
    found = lookup(key, msg)
    return None if found is ABSENT else ensure_loaded(found, opts)


def _is_process(msg: Any, opts: Mapping[str, Any]) -> bool:
    return as_text(_get("type", msg, opts), errors="surrogateescape", none="") == "Process"


def _human_id(value: Any) -> str:
    if isinstance(value, bytes) and len(value) == 32:
        return b64url_encode(value)
    return as_text(value, errors="surrogateescape", none="")


def _error(status: int, body: str | bytes, **extra: Any) -> Result:
    text = body if isinstance(body, bytes) else body.encode()
    return Result("error" if status < 500 else "failure", {"status": status, "body": text, **extra})


def _answers_errors(fn: Callable[..., Result]) -> Callable[..., Result]:
    """Turn the AOErrors a key's function raises into error results carrying their status."""

    @functools.wraps(fn)
    def wrapper(self: Any, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        try:
            return fn(self, base, request, opts)
        except AOError as exc:
            return _error(exc.status, exc.message)

    return wrapper


def find_target_id(base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> str:
    """The process a request is about (§2.2): the request's `target`; the request's ID when it
    is a process; the ID of the base's `process`; the base's ID when it is a process; else the
    request's ID. IDs are over all committers."""
    target = _get("target", request, opts)
    if target is not None:
        return _human_id(target)
    if _is_process(request, opts):
        return message_id(dict(request), committers="all")
    process = _get("process", base, opts)
    if isinstance(process, Mapping):
        return message_id(dict(process), committers="all")
    if isinstance(process, (str, bytes)) and is_id(process):
        return _human_id(process)
    if _is_process(base, opts):
        return message_id(dict(base), committers="all")
    return message_id(dict(request), committers="all")


def find_message_to_schedule(request: Mapping[str, Any], opts: Mapping[str, Any]) -> Message:
    """The message a POST schedules (§2.3): the whole request for `subject: self`, the key
    `subject` names, else `body`, else the request.

    Raises:
        BadMessage: the subject names a missing key, or the message is not a map.
    """
    subject = _get("subject", request, opts)
    if subject is None:
        found = _get("body", request, opts)
        found = request if found is None else found
    elif as_text(subject, errors="surrogateescape", none="") == "self":
        found = request
    else:
        found = _get(as_text(subject, errors="surrogateescape", none=""), request, opts)
        if found is None:
            named = as_text(subject, errors="surrogateescape", none="")
            raise BadMessage(f"scheduler@1.0: the subject {named!r} names no key of the request")
    if not isinstance(found, Mapping):
        raise BadMessage("scheduler@1.0: the message to schedule must be a message, not a binary")
    return dict(found)


def _int_param(request: Mapping[str, Any], key: str, opts: Mapping[str, Any]) -> int | None:
    value = _get(key, request, opts)
    if value is None or value in (b"", ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(as_text(value, errors="surrogateescape", none=""))
    except ValueError:
        got = as_text(value, errors="surrogateescape", none="")
        raise BadMessage(f"scheduler@1.0: {key!r} must be an integer slot, got {got!r}") from None


# -- stores ------------------------------------------------------------------------------------


def _scheduler_store(opts: Mapping[str, Any]) -> Store:
    """The `scheduler_store` option (a store or a store spec), else the node's store."""
    spec = options.get(opts, "scheduler_store")
    if isinstance(spec, Store):
        return spec
    if spec:
        return open_store(spec)
    found = getattr(opts.get("cache"), "store", None)
    if isinstance(found, Store):
        return found
    raise AOError("scheduler@1.0 needs a store: run it with a message cache (opts['cache']) "
                  "or set scheduler_store")


def _main_store(opts: Mapping[str, Any]) -> Store:
    found = getattr(opts.get("cache"), "store", None)
    return found if isinstance(found, Store) else _scheduler_store(opts)


def _read_message(ref: str, opts: Mapping[str, Any]) -> Any:
    found = cache.read(ref, _main_store(opts))
    if found is None and _scheduler_store(opts) is not _main_store(opts):
        found = cache.read(ref, _scheduler_store(opts))
    return found


def read_assignment(proc_id: str, slot: int, opts: Mapping[str, Any]) -> Message | None:
    """The assignment of a process at a slot from this node's log (scheduled here, or cached
    from a remote scheduler), or None. For process@1.0 and tests.

    Raises:
        BadMessage: the process ID or slot is malformed.
        StoreError: the store failed.
    """
    return log_store.read(proc_id, slot, _scheduler_store(opts))


def read_assignments(proc_id: str, from_: int, to: int | None, opts: Mapping[str, Any]) -> list[Message]:
    """The contiguous assignments `from_..to` (inclusive; `to` None: up to the latest) held in
    this node's log, at most 1001 of them, in slot order."""
    return remote.local_assignments(proc_id, from_, to, _scheduler_store(opts))[0]


# -- who schedules a process (§2.4 step 3) -----------------------------------------------------


def _find_process_message(proc_id: str, base: Mapping[str, Any], to_sched: Message | None,
                          opts: Mapping[str, Any]) -> Message:
    process = _get("process", base, opts)
    if isinstance(process, Mapping):
        return dict(process)
    if to_sched is not None and message_id(to_sched, committers="all") == proc_id:
        return to_sched
    try:
        if message_id(dict(base), committers="all") == proc_id:
            return dict(base)
    except (EncodeError, TypeError):
        pass  # a base holding objects (a map device) is no process definition
    found = _read_message(proc_id, opts) if is_id(proc_id) else None
    if not isinstance(found, Mapping):
        raise NotFound(f"Process {proc_id} is not available on this node.")
    return dict(found)


def find_server(proc_id: str, base: Mapping[str, Any], to_sched: Message | None,
                opts: Mapping[str, Any]) -> ProcessScheduler | Message:
    """This node's scheduler of the process, or a redirect to the one that schedules it.

    Raises:
        NotFound: the process is unknown here, or its scheduler's location is.
        BadMessage: the process names no scheduler.
    """
    hint = locations.get_hint(proc_id, opts)
    if hint is not None:
        return locations.redirect_to(hint)
    store = _scheduler_store(opts)
    registry = registry_for(store)
    found = registry.find(proc_id)
    if found is not None:
        return found
    process = _find_process_message(proc_id, base, to_sched, opts)
    named = next((v for v in (_get("scheduler", process, opts), _get("scheduler-location", process, opts),
                              _get("scheduler-location", to_sched, opts)) if v is not None), None)
    if named is None:
        raise BadMessage("No scheduler information provided.")
    entries = locations.parse_schedulers(named)
    wallets = locations.local_wallets(opts)
    mine: dict[str, Wallet] = {}
    for entry in entries:
        wallet = wallets.get(entry)
        if wallet is not None:
            mine.setdefault(wallet.address, wallet)
    if mine:
        return registry.start(proc_id, process, store, list(mine.values()))
    return locations.find_remote_scheduler(proc_id, entries, store, opts)


def _follow(opts: Mapping[str, Any]) -> bool:
    return options.get(opts, "scheduler_follow_redirects") is not False


# -- verification (§2.4 step 4) ----------------------------------------------------------------


def _verify_mode(opts: Mapping[str, Any]) -> str:
    value = options.get(opts, "verify_assignments")
    text = (as_text(value, errors="surrogateescape", none="").lower() if not isinstance(value, bool)
            else ("true" if value else "false"))
    return text if text in ("true", "false", "accept_unsigned") else "true"


def _invalid(message: Message, opts: Mapping[str, Any]) -> bytes | None:
    """Why `message` cannot be scheduled, or None when it can."""
    mode = _verify_mode(opts)
    if mode == "false":
        return None
    try:
        # Every commitment must hold, with the committer its key implies; a message whose
        # claimed signature fails is invalid, not unsigned.
        who = verify(message)
    except (InvalidSignature, AOError):
        return b"Given message is invalid: a signature does not verify."
    if not who and mode != "accept_unsigned":
        return b"Given message is invalid: it is not signed, and this scheduler only accepts signed messages."
    return None


class SchedulerDevice(Device):
    """`scheduler@1.0` (see the module docstring)."""

    name = "scheduler@1.0"

    def device_info(self, base: Any = None, opts: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        return {"exports": list(EXPORTS), "excludes": ["set", "keys"], "default": self._default}

    def _default(self, key: str, base: Mapping[str, Any], request: Mapping[str, Any],
                 opts: Mapping[str, Any]) -> Result:
        return self.schedule(base, request, opts)

    def checkpoint(self, base: Any) -> Any:
        """The base, unchanged."""
        return base

    # -- status ------------------------------------------------------------------------------

    @_answers_errors
    def status(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The node's scheduler address and the processes it has scheduled since it started."""
        wallet = opts.get("priv_wallet")
        return Result("ok", {
            "address": wallet.address.encode() if isinstance(wallet, Wallet) else b"",
            "processes": [p.encode() for p in registry_for(_scheduler_store(opts)).processes()],
            "cache-control": b"no-store",
        })

    # -- schedule ----------------------------------------------------------------------------

    @_answers_errors
    def schedule(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """POST: schedule the message; GET (the default): read the schedule."""
        method = as_text(_get("method", request, opts) or b"GET", errors="surrogateescape", none="").upper()
        if method == "POST":
            return self._post_schedule(base, request, opts)
        if method in ("GET", "HEAD"):
            return self._get_schedule(base, request, opts)
        return _error(405, f"schedule answers GET (read the schedule) and POST (schedule a message), not {method}")

    def _post_schedule(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        to_sched = find_message_to_schedule(request, opts)
        if _is_process(to_sched, opts):
            proc_id = message_id(to_sched, committers="all")
        else:
            target = _get("target", to_sched, opts)
            proc_id = _human_id(target) if target is not None else find_target_id(base, request, opts)
        try:
            only = with_only_committed(to_sched)
        except AOError as exc:
            return _error(400, INVALID_COMMITMENTS, reason=exc.message.encode())
        server = find_server(proc_id, base, to_sched, opts)
        if isinstance(server, ProcessScheduler):
            return self._assign(server, only, opts)
        if not _follow(opts):
            return Result("ok", server)
        if _is_process(only, opts):
            cache.write(only, _main_store(opts))
        return remote.post_remote_schedule(locations.without_hint(proc_id), server, only, opts)

    def _assign(self, server: ProcessScheduler, message: Message, opts: Mapping[str, Any]) -> Result:
        reason = _invalid(message, opts)
        if reason is not None:
            return _error(400, INVALID_MESSAGE, reason=reason)
        mode = as_text(options.get(opts, "scheduling_mode"), errors="surrogateescape", none="")
        if mode == "disabled":
            return _error(503, "Scheduling is disabled on this node (scheduling_mode: disabled).")
        if _is_process(message, opts):
            cache.write(message, _main_store(opts))
            remote.upload_async(message, opts)
        leases.attach(server, opts)  # over a shared Redis store, one node at a time assigns
        try:
            assignment = server.assign(message, now_ms=remote.now_ms(), block=remote.block_info(opts))
        except leases.LeaseHeld as held:
            forwarded = remote.post_remote_schedule(server.proc_id, locations.redirect_to(held.holder), message, opts)
            if forwarded.status == "ok":
                return forwarded
            return _error(503, f"{held.message}; it did not answer ({forwarded.status})")
        if mode == "remote_confirmation":
            remote.upload(assignment, opts)
        else:
            remote.upload_async(assignment, opts)
        return Result("ok", assignment)

    def _get_schedule(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        proc_id = find_target_id(base, request, opts)
        from_ = max(_int_param(request, "from", opts) or 0, 0)
        to = _int_param(request, "to", opts)
        accept = unquote(as_text(_get("accept", request, opts) or b"application/http",
                                 errors="surrogateescape", none=""))
        server = find_server(proc_id, base, None, opts)
        if isinstance(server, ProcessScheduler):
            found, more = remote.local_assignments(proc_id, from_, to, server.store)
            block = remote.block_info(opts)
            formatter = assignments_to_aos2 if accept == AOS2 else assignments_to_bundle
            return Result("ok", formatter(proc_id, found, more, block))
        if not _follow(opts):
            return Result("ok", server)
        result = remote.get_remote_schedule(locations.without_hint(proc_id), from_, to, server,
                                            _scheduler_store(opts), opts)
        if result.status != "ok" or accept != AOS2:
            return result
        bundle = result.value
        return Result("ok", assignments_to_aos2(
            proc_id, ordered_assignments(bundle.get("assignments") or {}), bundle.get("continues") is True,
            remote.block_info(opts),
        ))

    # -- slot --------------------------------------------------------------------------------

    @_answers_errors
    def slot(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The last slot assigned to the process (-1 before the first)."""
        proc_id = find_target_id(base, request, opts)
        server = find_server(proc_id, base, None, opts)
        if isinstance(server, ProcessScheduler):
            block = remote.block_info(opts)
            return Result("ok", {
                "process": proc_id.encode(),
                "current": server.current(),
                "timestamp": block.timestamp,
                "block-height": block.height,
                "block-hash": block.hash.encode(),
                "cache-control": b"no-store",
                "addresses": [a.encode() for a in server.addresses],
            })
        if not _follow(opts):
            return Result("ok", server)
        return remote.remote_slot(locations.without_hint(proc_id), server, opts)

    # -- next (for process@1.0) ----------------------------------------------------------------

    @_answers_errors
    def next(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The assignment for slot `at-slot + 1` of the process in the base (§2.8).

        Returns:
            `ok` with `{body: <assignment>, state: <base with priv.scheduler@1.0.assignments =
            the assignments read ahead>}`; or `error` with `{status: 404, reason}` when the
            slot is not scheduled yet, or the assignment found is for another slot (with
            `expected-slot` and `unexpected-slot`); `failure` (500) for an assignment whose
            slot is no integer.
        """
        last = _int_param(base, "at-slot", opts)
        last = -1 if last is None else last
        found_priv = base.get("priv")
        priv: Mapping[str, Any] = found_priv if isinstance(found_priv, Mapping) else {}
        found_held = priv.get(PRIV_KEY)
        held: Mapping[str, Any] = found_held if isinstance(found_held, Mapping) else {}
        assignments = list(held.get("assignments") or [])
        if not assignments:
            found = self._next_from_log(base, request, last, opts)
            if isinstance(found, Result):
                return found
            assignments = found
        if not assignments:
            return Result("error", {"status": 404, "reason": NOT_YET})
        head, tail = assignments[0], assignments[1:]
        try:
            slot = slot_of(head)
        except DecodeError:
            return Result("failure", {"status": 500, "reason": UNPROCESSABLE_SLOT})
        if slot != last + 1:
            return Result("error", {"status": 404, "reason": WRONG_SLOT, "unexpected-slot": slot,
                                    "expected-slot": last + 1})
        state = dict(base)
        if options.get(opts, "scheduler_in_memory_cache") is not False:
            state["priv"] = {**priv, PRIV_KEY: {"assignments": tail}}
        return Result("ok", {"body": head, "state": state})

    def _next_from_log(self, base: Mapping[str, Any], request: Mapping[str, Any], last: int,
                       opts: Mapping[str, Any]) -> list[Any] | Result:
        """Slot `last + 1` from the local log, else every later slot the schedule holds."""
        proc_id = _process_id(base, request, opts)
        if options.get(opts, "scheduler_ignore_local_cache") is not True and locations.get_hint(proc_id, opts) is None:
            found = log_store.read(proc_id, last + 1, _scheduler_store(opts))
            if found is not None:
                return [found]
        result = self._get_schedule(base, {"method": b"GET", "from": last},
                                    {**opts, "scheduler_follow_redirects": True})
        if result.status != "ok":
            return result
        held = result.value.get("assignments") if isinstance(result.value, Mapping) else None
        later = [a for a in ordered_assignments(held or {}) if isinstance(a, Mapping) and slot_of(a) > last]
        return later

    # -- location ----------------------------------------------------------------------------

    @_answers_errors
    def location(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """POST: make (operator) or cache (foreign) a scheduler-location record; GET: read one."""
        if as_text(_get("method", request, opts) or b"GET", errors="surrogateescape", none="").upper() == "POST":
            return locations.post_location(base, request, opts, _scheduler_store(opts))
        return locations.get_location(request, opts, _scheduler_store(opts))

    @_answers_errors
    def record(self, base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """A `location` POST, where HyperBEAM peers send location notifications."""
        return locations.post_location(base, request, opts, _scheduler_store(opts))


def _process_id(base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> str:
    """`dev_process:process_id`: the ID of the base's `process`, else `find_target_id`."""
    process = _get("process", base, opts)
    if isinstance(process, Mapping):
        return message_id(dict(process), committers="all")
    return find_target_id(base, request, opts)
