"""`process@1.0`: an AO process, routed to its scheduler, execution and push devices
(processes-compute.md §3).

    schedule   run as the `scheduler` device (GET reads the schedule, POST adds to it)
    slot       run as the `scheduler` device (the current slot)
    results    the state's results; `results=N` gives slot N's (the form aoconnect uses)
    compute    the state after slot `compute` or `slot` of the request (§3.3); without one,
               the latest known state
    now        the state after the scheduler's current slot (§3.5)
    push       run as the `push` device (§6.4)
    snapshot   the execution device's snapshot of the state, in `Map` mode (§3.6)
    as         the state with its device swapped to `<as>-device` (default `execution`)

Any other key reads the message (`message@1.0`). "Run as K" (§3.2) deep-merges into the state
`device: <K-device>` (defaults: `scheduler@1.0`, `genesis-wasm@1.0`, `push@1.0`),
`input-prefix` (default `process`) and `output-prefixes: <K-output-prefixes>`, resolves the
request on it, and swaps the device back if the result still carries the swapped one.

A state carries the committed process definition under `process` (§1.4); the process ID is
that definition's ID over all its committers (§1.3).

Computing slot N (§3.3, §3.4), one request at a time per process:

1. the node's live state if it is the state after slot N, else the stored result
   `computed/<ProcID>/slot/N` (`_process_cache`);
2. otherwise a starting state: the node's live state if it is before N (`_process_worker`),
   else the latest stored snapshot at or below N, normalised by the execution device, else
   the execution device's `init` (`at-slot: -1`);
3. then, slot after slot: `next` from the scheduler, `compute` on the execution device with
   the assignment as the request (its `path`, default `compute`, picks the key), `at-slot`
   set, the result stored (with a snapshot when the policy says so, §3.6). The state at N is
   stored, and becomes the live state, with a snapshot unless this live state had one within
   the policy (`_due_at_target`).

Errors are results, never half-computed states: a scheduler error gets `phase: get-schedule`,
an execution error `phase: compute`, both with `attempted-slot`. A slot that is not a
non-negative integer is a 400. A slot that fails in the process itself (the execution device
answers 422: the code raised, or ran out of instructions, fuel or memory, as it would on any
node) is recorded as failed (`computed/<ProcID>/failed/<N>`): its results are the error, its
state is the state before it, and the process goes on (see `RESTART`).

Divergences from the reference, each deliberate (docs/compat.md):

* A computed state given as the base is not trusted as a starting point: computing always
  continues from the node's own live state, a stored snapshot or `init`, so a state a client
  altered can never be stored as the process's result.
* Results are written before `compute` returns unless `process_async_cache` is true (the
  reference writes asynchronously by default).
* An execution device with no `snapshot` key gets an empty snapshot (its whole state is the
  message); one with no `normalize` key restores the message as stored; one with no `init`
  starts from the process definition.
* `as` on a definition (a dry run) starts from a copy of the live state when it is the newest
  computed one: the live VM's raw snapshot read under the process's lock and written into
  fresh VMs, so the dry run never touches the live objects the next slot continues from and
  reads nothing from the store; otherwise from a stored snapshot (or `init`), with the slots
  after it computed again on that private copy.
* `now` before anything is scheduled answers the initial state without storing it (the
  reference stores it as slot -1).
* A compute request ends with a snapshot only when the live state had none within the
  snapshot policy (`_due_at_target`; the reference always stores one), and a stored snapshot
  carries `taken`, the time it was taken. A snapshot of `BACKGROUND_SNAPSHOT_BYTES` or more is
  read raw before the answer and packed and stored by a background writer after it; the
  states a request computes on its way to its target are stored in one store transaction.
  What is durable is the schedule (the scheduler's log); computed states and snapshots are a
  cache of it, computed again after a crash (docs/configuration.md, "What is durable").
* A slot that fails in the process itself does not stop the process (the reference fails
  every later computation at that slot, so one message could stop anyone's process).

Other devices compute in Python with `state_at(process, slot, opts)` (what `compute` answers)
and read the newest state with `latest_known(process, opts)`; through the resolver,
`resolve(As("process@1.0", process), {"path": "compute/results", "slot": N}, opts)`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from aonode.codecs import message_id, signers, with_only_committed
from aonode.core import events, options
from aonode.core.devices import Device
from aonode.core.path import parts
from aonode.core.resolver import resolve
from aonode.core.terms import Result
from aonode.devices import _process_cache as results_cache
from aonode.devices._process_worker import Live, registry
from aonode.devices.message import ABSENT, deep_merge, lookup
from aonode.errors import AOError, BadMessage, EncodeError
from aonode.message import Atom
from aonode.runtime import snapshot_body
from aonode.store import MessageCache
from aonode.text import key_text

__all__ = [
    "DEFAULT_DEVICES",
    "ProcessDevice",
    "ensure_process_key",
    "latest_known",
    "parse_slot",
    "process_id",
    "run_as",
    "state_at",
]

log = logging.getLogger(__name__)

NAME = b"process@1.0"
DEFAULT_DEVICES: Mapping[str, str] = {
    "scheduler": "scheduler@1.0",
    "execution": "genesis-wasm@1.0",
    "push": "push@1.0",
}
# Legacy-net processes run on genesis-wasm whatever the table says (§1.2).
LEGACY_VARIANT = "ao.TN.1"
NO_CACHED_STATE = b"No cached state available."
NOTHING_SCHEDULED = b"No message has been scheduled on this process yet."

_UNDEFINED = Atom("undefined")
_NOT_FOUND = Atom("not_found")
_INTEGER = re.compile(r"-?[0-9]+")


# --- small readers ---------------------------------------------------------------------------


def _raw(msg: Any, key: str, default: Any = None) -> Any:
    """`key` of `msg` read as `message@1.0` reads it (exact, then lower-cased), no device logic."""
    if not isinstance(msg, Mapping):
        return default
    found = lookup(key, msg)
    return default if found is ABSENT else found


def _integer(value: Any) -> int | None:
    """An integer given as an int or as decimal text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        text = key_text(value, errors="surrogateescape").strip()
        return int(text) if _INTEGER.fullmatch(text) else None
    return None


def parse_slot(value: Any) -> int:
    """The slot a request asks for.

    Raises:
        BadMessage: the value is not a non-negative integer (or its decimal text).
    """
    found = _integer(value)
    if found is None or found < 0:
        raise BadMessage(f"process@1.0: the slot to compute must be a non-negative integer, got {value!r}")
    return found


def _cache(opts: Mapping[str, Any]) -> MessageCache | None:
    found = opts.get("cache")
    return found if isinstance(found, MessageCache) else None


def _clock(opts: Mapping[str, Any]) -> float:
    """Seconds since the epoch; the `clock` option (a callable) stands in for the wall clock in tests."""
    clock = opts.get("clock")
    return float(clock()) if callable(clock) else time.time()


def _without(msg: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k not in keys}


# --- the process key and run_as (§1.4, §3.2) ---------------------------------------------------


def ensure_process_key(base: Mapping[str, Any], opts: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with the committed process definition under `process` (§1.4).

    A base with no `process` key is the definition itself: the state is the definition without
    its commitments, plus the committed definition under `process`. A definition that lost its
    signers (it was cast to another device) is read back from the cache by its ID first.

    Raises:
        BadMessage: the base is no message; or it lost its signers and its content is stored
            with several signed commitments, so it could be several processes (see
            `_stored_definition`).
    """
    if not isinstance(base, Mapping):
        raise BadMessage("process@1.0: the process must be a message")
    if "process" in base:
        return dict(base)
    definition: Mapping[str, Any] = base
    if not signers(dict(base)):
        cache = _cache(opts)
        found = _stored_definition(base, cache) if cache is not None else None
        if found is not None:
            definition = found
    committed = with_only_committed(_without(definition, "priv"))
    return {**_without(base, "commitments"), "process": committed}


def _stored_definition(base: Mapping[str, Any], cache: MessageCache) -> dict[str, Any] | None:
    """The stored definition whose content `base` (without commitments) has, if one process has it.

    The cache keeps one content once, with the commitments of every signed copy of it: the same
    definition signed by two wallets, or twice by one (another anchor, another salt), is two
    processes with one uncommitted ID. Reading that ID gives them all, whose ID is neither's, so
    with more than one signed commitment the base cannot say which process it is, and guessing
    would run one process's slots under another's ID. (A `~process@1.0` cast keeps the
    commitments: it sets `device` to the value it has.)
    """
    try:
        found = cache.read(message_id(dict(base), committers="all"))
    except (AOError, TypeError):
        return None
    if not isinstance(found, dict):
        return None
    commitments = found.get("commitments")
    signed = [c for c in commitments.values() if isinstance(c, Mapping) and "committer" in c] \
        if isinstance(commitments, Mapping) else []
    if len(signed) > 1:
        raise BadMessage("process@1.0: the process definition lost its signatures, and its content is the "
                         f"definition of {len(signed)} signed processes: address the process by its ID")
    return found


def _definition(state: Mapping[str, Any]) -> dict[str, Any]:
    found = state.get("process")
    if not isinstance(found, Mapping):
        raise BadMessage("process@1.0: the state has no process definition")
    return dict(found)


def process_id(state: Mapping[str, Any], *, committed: bool = True) -> str:
    """The ID of the process a state belongs to: its definition's ID over all committers, or
    with `committed=False` its uncommitted ID (`dev_process:process_id/3`)."""
    definition = _definition(state) if "process" in state else dict(state)
    return message_id(definition, committers="all" if committed else "none")


def _initial_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state `init` starts from: the committed definition's keys, and the definition."""
    definition = _definition(state)
    return {**_without(definition, "commitments", "priv"), "process": definition}


def _default_device(state: Mapping[str, Any], key: str) -> str:
    if key == "execution" and _raw(_raw(state, "process", {}), "variant") in (LEGACY_VARIANT, LEGACY_VARIANT.encode()):
        return "genesis-wasm@1.0"
    return DEFAULT_DEVICES.get(key, "message@1.0")


def _as_device(state: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The state prepared to run as `key` (§3.2 step 2)."""
    return deep_merge(state, {
        "device": _raw(state, f"{key}-device") or _default_device(state, key),
        "input-prefix": _raw(state, "input-prefix", b"process"),
        "output-prefixes": _raw(state, f"{key}-output-prefixes", _UNDEFINED),
    })


def run_as(key: str, base: Mapping[str, Any], request: Any, opts: Mapping[str, Any]) -> Result:
    """Resolve `request` on `base` with its device swapped to the `<key>-device` (§3.2)."""
    original = base.get("device")
    prepared = _as_device(ensure_process_key(base, opts), key)
    if not isinstance(request, Mapping):
        request = {"path": request}
    result = resolve(prepared, request, opts)
    value = result.value
    if result.ok and isinstance(value, Mapping) and value.get("device") == prepared["device"]:
        swapped = dict(value)
        if original is None:
            swapped.pop("device", None)
        else:
            swapped["device"] = original
        return Result("ok", swapped)
    return result


def _failed(result: Result, phase: str, slot: int) -> Result:
    """An error result of computing `slot`, tagged with where it failed."""
    value = result.value
    found = dict(value) if isinstance(value, Mapping) else {"error": value}
    return Result("error", {**found, "phase": phase.encode(), "attempted-slot": slot})


def _error(status: int, body: str, **extra: Any) -> Result:
    return Result("error", {"status": status, "body": body.encode(), **extra})


def _guarded(key: str, base: Mapping[str, Any], request: Any, opts: Mapping[str, Any]) -> Result:
    """`run_as`, with an `AOError` raised by the device turned into an error result."""
    try:
        return run_as(key, base, request, opts)
    except AOError as exc:
        return _error(exc.status, exc.message)


# --- snapshots and storing results (§3.6) ------------------------------------------------------


def _policy_number(opts: Mapping[str, Any], key: str) -> int | None:
    value = options.get(opts, key)
    if value is None or value is False or value in (b"false", "false", _UNDEFINED, "undefined"):
        return None
    found = _integer(value)
    if found is None or found <= 0:
        log.warning("process@1.0: option %s = %r is not a positive integer; ignored", key, value)
        return None
    return found


def _should_snapshot(slot: int, state: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    every = _policy_number(opts, "process_snapshot_slots")
    if every is not None and slot % every == 0:
        return True
    seconds = _policy_number(opts, "process_snapshot_time")
    if seconds is None:
        return False
    priv = state.get("priv")
    last = priv.get("last-snapshot") if isinstance(priv, Mapping) else None
    return not isinstance(last, (int, float)) or _clock(opts) > last + seconds


def _due_at_target(slot: int, state: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether the state a compute request ends at gets a snapshot. The reference forces one
    every time; for a large VM that writes the whole VM per request (issue 17). Here it is
    skipped while this live state had one less than `process_snapshot_time` seconds and
    `process_snapshot_slots` slots ago: if the live state is dropped (or the node restarts),
    the slots since are computed again from that snapshot. Without a time rule, every request
    ends with a snapshot, as in the reference."""
    seconds = _policy_number(opts, "process_snapshot_time")
    priv = state.get("priv")
    last = priv.get("last-snapshot") if isinstance(priv, Mapping) else None
    last_slot = priv.get("last-snapshot-slot") if isinstance(priv, Mapping) else None
    if seconds is None or not isinstance(last, (int, float)) or not isinstance(last_slot, int):
        return True
    every = _policy_number(opts, "process_snapshot_slots")
    return _clock(opts) > last + seconds or (every is not None and slot - last_slot >= every)


def _snapshot(state: Mapping[str, Any], opts: Mapping[str, Any], *, raw: bool = False) -> Result:
    """The execution device's snapshot of `state` (`{path: snapshot, mode: Map}`); with `raw`,
    its VM bodies unpacked (`snapshot_body`: a copy in memory, or packed later off the request's path)."""
    quiet = {**opts, "cache_control": ["no-cache", "no-store"], "hashpath": "ignore"}
    if raw:
        quiet[snapshot_body.RAW_OPTION] = True
    result = _guarded("execution", state, {"path": "snapshot", "mode": b"Map"}, quiet)
    if result.status == "error" and result.value == _NOT_FOUND:
        result = Result("ok", {})  # a device with no snapshot keeps all its state in the message
    if not result.ok:
        return result
    snap = dict(result.value) if isinstance(result.value, Mapping) else {"body": result.value}
    priv = dict(snap.get("priv") or {})
    slot = state.get("at-slot", "not_found")
    priv["additional-hashpaths"] = [f"{process_id(state)}/snapshot/{slot}".encode()]
    return Result("ok", {**snap, "cache-control": [b"store"], "priv": priv})


def _write(proc_id: str, slot: int, msg: dict[str, Any], cache: MessageCache) -> None:
    put = _prepared(proc_id, slot, msg, cache)
    if put is not None:
        cache.store.transact(put)


def _prepared(proc_id: str, slot: int, msg: dict[str, Any], cache: MessageCache) -> Callable[[], str] | None:
    """The state's writes worked out (`results_cache.prepare`), or None when it has no wire form."""
    try:
        return results_cache.prepare(proc_id, slot, msg, cache)
    except EncodeError as exc:
        log.warning("process %s: the state after slot %d has no wire form and is not stored: %s",
                    proc_id, slot, exc)
        return None


# A snapshot this big or bigger is packed and stored by the background writer; a smaller one
# (a few Lua tables, a small WASM memory) takes less time to write now than the state twice.
BACKGROUND_SNAPSHOT_BYTES = 1 << 20


def _store_result(force: bool, proc_id: str, slot: int, state: dict[str, Any], opts: Mapping[str, Any],
                  pending: list[tuple[int, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Store the state after `slot`, with a snapshot when forced or due; return it without one.
    With `pending` (the states a request computes on its way to its target), a state with no
    snapshot is added to it instead, and `_flush` stores them all in one store transaction (one
    commit for the request, not one a slot).

    The state itself is written before this returns (unless `process_async_cache`). A snapshot
    is read raw here, while the live VM is at `slot` (the next slot changes it), and packed and
    written by the registry's background writer, off the request's path: until then the stored
    state after `slot` has no snapshot, and a node killed in between restores an older one and
    computes the slots after it again from the schedule (the durable record)."""
    cache = _cache(opts)
    if cache is None:
        return state
    background = options.get(opts, "process_async_cache") is True
    if force or _should_snapshot(slot, state, opts):
        snap = _snapshot(state, opts, raw=True)
        if snap.ok:
            now = int(_clock(opts))
            priv = {**(state.get("priv") or {}), "last-snapshot": now, "last-snapshot-slot": slot}
            state = {**state, "priv": priv}
            raw = snap.value
            with_snapshot = state

            def write_snapshot() -> None:
                _write(proc_id, slot, {**with_snapshot, "snapshot": {**snapshot_body.pack_tree(raw), "taken": now}},
                       cache)

            if background or snapshot_body.size(raw) >= BACKGROUND_SNAPSHOT_BYTES:
                if not background:
                    _write(proc_id, slot, state, cache)
                registry(opts).submit(write_snapshot)
            else:
                write_snapshot()  # small: cheaper to write now than to write the state twice
            return state
        log.warning("process %s: no snapshot at slot %d: %r", proc_id, slot, snap.value)
    if background:
        registry(opts).submit(lambda: _write(proc_id, slot, state, cache))
    elif pending is not None:
        pending.append((slot, state))
    else:
        _write(proc_id, slot, state, cache)
    return state


def _flush(proc_id: str, pending: list[tuple[int, dict[str, Any]]], opts: Mapping[str, Any]) -> None:
    """Store the states of `pending` together, and empty it."""
    cache = _cache(opts)
    if not pending or cache is None:
        return
    puts = [put for put in (_prepared(proc_id, slot, state, cache) for slot, state in pending) if put is not None]
    if puts:
        cache.store.transact(lambda: [put() for put in puts])
    pending.clear()


# --- loading a starting state (§3.4) -----------------------------------------------------------


def _init(state: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    initial = _initial_state(state)
    result = _guarded("execution", initial, {"path": "init"}, opts)
    if result.status == "error" and result.value == _NOT_FOUND:
        result = Result("ok", initial)  # a device with no `init` starts from the definition
    if not result.ok or not isinstance(result.value, Mapping):
        return _failed(result, "init", 0)
    return Result("ok", {**result.value, "device": NAME, "initialized": b"true", "at-slot": -1})


def _restore(state: Mapping[str, Any], proc_id: str, limit: int | None, opts: Mapping[str, Any]) -> Result:
    """The latest stored snapshot at or below `limit`, normalised; else a fresh `init`."""
    cache = _cache(opts)
    if cache is not None:
        registry(opts).drain()  # a snapshot still on its way to the store is the newest one
    found = results_cache.latest(proc_id, cache, "snapshot", limit) if cache is not None else None
    if found is None or not isinstance(found[1], dict):
        return _init(state, opts)
    return _from_snapshot(state, proc_id, found[0], dict(found[1]), opts)


def _from_snapshot(state: Mapping[str, Any], proc_id: str, slot: int, stored: dict[str, Any],
                   opts: Mapping[str, Any]) -> Result:
    """The state after `slot` rebuilt from `stored` (a state with its `snapshot`): fresh live
    objects, normalised by the execution device; `init` when the snapshot does not restore."""
    loaded: dict[str, Any] = {**stored, "process": _definition(state), "initialized": b"true", "at-slot": slot}
    normalized = _guarded("execution", loaded, {"path": "normalize"}, {**opts, "hashpath": "ignore"})
    if normalized.ok and isinstance(normalized.value, Mapping):
        loaded = dict(normalized.value)
    elif not (normalized.status == "error" and normalized.value == _NOT_FOUND):
        log.warning("process %s: the snapshot at slot %d does not normalise (%r); starting from init",
                    proc_id, slot, normalized.value)
        return _init(state, opts)
    # When the snapshot was taken, so that `_due_at_target` counts from it, not from the restore.
    taken = _integer(_raw(stored.get("snapshot"), "taken"))
    if taken is not None:
        old = loaded.get("priv")
        loaded["priv"] = {**(old if isinstance(old, Mapping) else {}), "last-snapshot": taken,
                          "last-snapshot-slot": slot}
    return Result("ok", {**_without(loaded, "snapshot"), "device": NAME, "at-slot": slot})


# --- computing (§3.3) -----------------------------------------------------------------------


def _compute_slot(proc_id: str, state: dict[str, Any], assignment: Mapping[str, Any], expected: int,
                  target: int, opts: Mapping[str, Any], pending: list[tuple[int, dict[str, Any]]],
                  keep: bool = True) -> Result:
    """Apply one assignment to `state` (the state before slot `expected`); a state before the
    target is stored with the others of this request (`pending`, see `_store_result`). With
    `keep` false (a dry run's private replay) nothing is stored, a failure included."""
    slot = _integer(_raw(assignment, "slot"))
    if slot is None:
        return _error(500, "Unprocessable slot value received in assignment.")
    if slot != expected:
        return _error(500, "Received assignment slot does not match expected slot.",
                      **{"unexpected-slot": slot, "expected-slot": expected})
    cache = _cache(opts)
    failed = results_cache.failure(proc_id, slot, cache) if cache is not None else None
    if isinstance(failed, Mapping):
        # This slot failed in the process itself before: it changes nothing but its results.
        return Result("ok", {**state, "results": _failed_results(failed), "device": NAME, "at-slot": slot})
    request = assignment if parts(_raw(assignment, "path")) else {**assignment, "path": "compute"}
    result = _guarded("execution", _without(state, "results"), request, opts)
    events.count("process", "executed")  # the dashboard's "executions" (core/events.py)
    if not result.ok:
        if cache is not None and _in_the_process(result):
            if keep:
                results_cache.record_failure(proc_id, slot, _failure(result), cache)
            return Result(RESTART, slot)
        return result
    if not isinstance(result.value, Mapping):
        return _error(500, f"The execution device returned {type(result.value).__name__}, not a state.")
    # The definition is the process's, whatever the execution device did with the state (a Lua
    # or WASM round trip does not keep every type of its values).
    new = {**result.value, "device": NAME, "at-slot": slot, "process": state["process"]}
    if slot != target and keep:
        new = _store_result(False, proc_id, slot, new, opts, pending)
    return Result("ok", new)


# A slot's computation that fails in the process itself (its code raised, ran out of
# instructions, fuel or memory: the execution device answers 422) fails the same way on every
# node and every replay. It must not stop the process, or any sender could stop anyone's
# process with one message: the slot is recorded as failed, its results are the error, and the
# state is the state before it. That state is computed again from the last snapshot (`RESTART`),
# since the failed call may have changed a live VM half way.
RESTART = "restart"
_MAX_RESTARTS = 64


def _in_the_process(result: Result) -> bool:
    value = result.value
    return isinstance(value, Mapping) and value.get("status") == 422


def _failure(result: Result) -> dict[str, Any]:
    value = result.value if isinstance(result.value, Mapping) else {}
    body = value.get("body", b"")
    reason = body if isinstance(body, bytes) else key_text(body, errors="surrogateescape").encode()
    return {"status": 422, "body": reason or b"The process failed on this slot."}


def _failed_results(failed: Mapping[str, Any]) -> dict[str, Any]:
    """The results of a failed slot: the error, in the legacy shape (`raw.Error`), as AOS's
    printed output (`output.data`) and plain (`error`)."""
    reason = failed.get("body", b"")
    return {"status": 422, "error": reason, "data": reason, "outbox": {}, "patches": {}, "output": {"data": reason},
            "raw": {"Error": reason, "Output": {"data": b""}, "Messages": [], "Spawns": [], "Assignments": []}}


def _compute_to(proc_id: str, state: dict[str, Any], target: int, live: Live, opts: Mapping[str, Any],
                keep: bool = True) -> Result:
    """Apply assignments to `state` until it is the state after `target`; the states on the way
    are stored before this returns, whatever it returns. With `keep` false (a dry run's private
    replay, which holds no process lock) nothing is stored."""
    pending: list[tuple[int, dict[str, Any]]] = []
    try:
        return _compute_steps(proc_id, state, target, live, opts, pending, keep)
    finally:
        _flush(proc_id, pending, opts)


# The most computed states kept for one store transaction (a long replay is stored as it goes).
_BATCH = 256


def _compute_steps(proc_id: str, state: dict[str, Any], target: int, live: Live, opts: Mapping[str, Any],
                   pending: list[tuple[int, dict[str, Any]]], keep: bool = True) -> Result:
    while True:
        current = _integer(state.get("at-slot"))
        if current is None:
            return _error(500, f"The process state has no valid at-slot: {state.get('at-slot')!r}.")
        if current > target:
            return _error(409, f"Slot {target} is before the state being computed from (slot {current}).",
                          **{"target-slot": target, "current-slot": current})
        if current == target:
            state = {**state, "device": NAME}
            if target < 0:
                return Result("ok", state)  # nothing scheduled yet: the initial state, not stored
            if keep:
                # The target's state joins the others in one commit, unless it takes a snapshot.
                state = _store_result(_due_at_target(target, state, opts), proc_id, target, state, opts, pending)
                _flush(proc_id, pending, opts)
            live.keep(state, target)
            return Result("ok", state)
        attempted = current + 1
        found = _guarded("scheduler", state, {"path": "next"}, opts)
        if not found.ok:
            return _failed(found, "get-schedule", attempted)
        body, after = _raw(found.value, "body"), _raw(found.value, "state")
        if not isinstance(body, Mapping) or not isinstance(after, Mapping):
            return _failed(_error(502, "The scheduler's next answer has no body and state."), "get-schedule", attempted)
        computed = _compute_slot(proc_id, dict(after), body, attempted, target, opts, pending, keep)
        if computed.status == RESTART or not computed.ok:
            # The states computed so far are stored before the live one goes, so that the
            # newest state known never goes back to an older stored one meanwhile.
            _flush(proc_id, pending, opts)
            live.forget()
            return computed if computed.status == RESTART else _failed(computed, "compute", attempted)
        state = computed.value
        live.keep(state, attempted)
        if len(pending) >= _BATCH:
            _flush(proc_id, pending, opts)


def state_at(base: Mapping[str, Any], slot: int, opts: Mapping[str, Any]) -> Result:
    """The state of the process `base` (a definition or a state) after `slot`: what
    `compute` with `slot` answers, for callers in Python (push@1.0 and others).

    Raises:
        BadMessage: `base` is not a process message, or `slot` is negative.
        Busy: the process stayed locked by another request for too long (503).
    """
    if slot < -1:
        raise BadMessage(f"process@1.0: the slot to compute must be a non-negative integer, got {slot}")
    state = ensure_process_key(base, opts)
    proc_id = process_id(state)
    registry(opts).on_close("process@1.0", _keep_at_shutdown(opts))
    with registry(opts).hold(proc_id, opts) as live:
        ready = live.at(slot)
        if ready is not None:
            return Result("ok", ready)
        cache = _cache(opts)
        if cache is not None and slot >= 0:
            stored = results_cache.read(proc_id, slot, cache)
            if isinstance(stored, dict):
                return Result("ok", _without(stored, "snapshot"))
        for _ in range(_MAX_RESTARTS):
            start = live.before(slot)
            if start is None:
                loaded = _restore(state, proc_id, slot, opts)
                if not loaded.ok:
                    return loaded
                start = loaded.value
            computed = _compute_to(proc_id, start, slot, live, opts)
            if computed.status != RESTART:
                return computed
        return _error(503, f"Process {proc_id}: more than {_MAX_RESTARTS} slots failed in one computation; "
                      "ask again to go on.")


def _stored_after(proc_id: str, slot: int, cache: MessageCache) -> bool:
    """Whether a state after a slot later than `slot` is stored. States are stored slot after
    slot, but for the slots that failed in the process (their state is the one before them):
    the first later slot that did not fail says."""
    after = slot + 1
    while results_cache.failure(proc_id, after, cache) is not None:
        after += 1
    return cache.store.type(results_cache.path(proc_id, after)) is not None


def latest_known(base: Mapping[str, Any], opts: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The latest state of a process this node knows without computing (live or stored)."""
    proc_id = process_id(ensure_process_key(base, opts))
    live = registry(opts).peek(proc_id)
    held = live.held if live is not None else None
    cache = _cache(opts)
    if held is not None and (cache is None or not _stored_after(proc_id, held[0], cache)):
        return held  # no state after it is stored (listing every stored slot would cost more)
    stored = results_cache.slots(proc_id, cache.store) if cache is not None else []
    if held is not None and (not stored or held[0] >= stored[-1]):
        return held
    if cache is not None:
        found = results_cache.latest(proc_id, cache)
        if found is not None and isinstance(found[1], dict):
            return found[0], _without(found[1], "snapshot")
    return None


# --- the device ---------------------------------------------------------------------------


class ProcessDevice(Device):
    name = "process@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"grouper": _group}

    def schedule(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return run_as("scheduler", base, request, opts)

    def slot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return run_as("scheduler", base, request, opts)

    def push(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return run_as("push", ensure_process_key(base, opts), request, opts)

    def snapshot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return _snapshot(ensure_process_key(base, opts), opts)

    def compute(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        target = _raw(request, "compute")
        if target is None:
            target = _raw(request, "slot")
        if target is None:
            return self.now(base, request, {**opts, "process_now_from_cache": True})
        return state_at(base, parse_slot(target), opts)

    def results(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The state's `results`; with `results=N` (aoconnect's `compute/results=N`), the
        results of slot N, computed or read for that slot when the state is another."""
        wanted = _raw(request, "results")
        slot = parse_slot(wanted) if wanted is not None else None
        state: Any = base
        if slot is not None and "process" in base and _integer(_raw(base, "at-slot")) != slot:
            found = state_at(base, slot, opts)
            if not found.ok:
                return found
            state = found.value
        value = state.get("results") if isinstance(state, Mapping) else None
        return Result("error", _NOT_FOUND) if value is None else Result("ok", value)

    def now(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        state = ensure_process_key(base, opts)
        mode = options.get(opts, "process_now_from_cache")
        if mode not in (False, None, "false", b"false"):
            found = latest_known(state, opts)
            if found is not None:
                return Result("ok", found[1])
            if mode not in ("always", b"always", Atom("always")):
                return self.now(base, request, {**opts, "process_now_from_cache": False})
            return Result("failure", NO_CACHED_STATE)
        current = resolve(state, {"path": "slot/current"}, {**opts, "hashpath": "ignore"})
        if not current.ok:
            return current
        slot = _integer(current.value)
        if slot is None:
            return _error(502, f"The scheduler's current slot is not an integer: {current.value!r}.")
        return state_at(state, max(slot, -1), opts)

    def as_(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        state = ensure_process_key(base, opts)
        if key_text(_raw(state, "initialized", b""), errors="surrogateescape") != "true":
            limit = _integer(_raw(request, "slot"))
            loaded = _dry_run_start(state, process_id(state), limit, opts)
            if not loaded.ok:
                return loaded
            state = loaded.value
        key = _raw(request, "as") or _raw(request, "as-device") or b"execution"
        return Result("ok", _as_device(state, key_text(key, errors="surrogateescape")))


def _keep_at_shutdown(opts: Mapping[str, Any]) -> Callable[[str, int, dict[str, Any]], None]:
    """What a shutdown does with a live state: store it with a snapshot when its newest one is
    older (a compute request may have skipped it, `_due_at_target`), so a restart continues
    from it instead of computing those slots again."""
    def keep(proc_id: str, slot: int, state: dict[str, Any]) -> None:
        priv = state.get("priv")
        if not (isinstance(priv, Mapping) and priv.get("last-snapshot-slot") == slot):
            _store_result(True, proc_id, slot, state, opts)

    return keep


def _dry_run_start(state: Mapping[str, Any], proc_id: str, limit: int | None, opts: Mapping[str, Any]) -> Result:
    """The state an `as` (a dry run) starts from: a copy with its own live objects, never the
    live state itself, at the newest computed slot (at or below `limit`).

    The live state, when it is that newest state, is copied in memory (`_live_copy`). Otherwise
    the newest stored snapshot is restored; it may be older than the newest state (a compute
    request skips its snapshot while a recent one exists, `_due_at_target`, and a large one is
    stored in the background): then the slots after it are computed again on this private copy.
    """
    cache = _cache(opts)
    computed = [n for n in results_cache.slots(proc_id, cache.store) if limit is None or n <= limit] \
        if cache is not None else []
    newest = computed[-1] if computed else None
    copied = _live_copy(state, proc_id, limit, newest, opts)
    if copied is not None:
        return copied
    loaded = _restore(state, proc_id, limit, opts)
    if not loaded.ok or cache is None:
        return loaded
    restored = _integer(loaded.value.get("at-slot"))
    if newest is None or restored is None or restored >= newest:
        return loaded
    # A private Live, and nothing stored: this runs without the process's lock.
    replayed = _compute_to(proc_id, dict(loaded.value), newest, Live(), opts, keep=False)
    if replayed.status == RESTART:
        return _error(503, f"Process {proc_id}: a slot failed while its newest state was computed for a dry run; "
                      "ask again.")
    return replayed


def _live_copy(state: Mapping[str, Any], proc_id: str, limit: int | None, newest: int | None,
               opts: Mapping[str, Any]) -> Result | None:
    """A dry run's starting state copied from the live state, or None when there is no live
    state at or below `limit` and at least as new as the newest stored one (`newest`).

    The copy is the live VM's raw snapshot (a WASM memory, a Lua dump), taken under the
    process's lock so no computation changes it meanwhile, and written into fresh VMs by the
    execution device's `normalize`: the live objects are never shared with the dry run, and
    nothing is read from the store or deflated."""
    with registry(opts).hold(proc_id, opts) as live:
        held = live.held
        if held is None or (limit is not None and held[0] > limit) or (newest is not None and held[0] < newest):
            return None
        slot, current = held
        snap = _snapshot(current, opts, raw=True)
    if not snap.ok:
        return None  # the slower way (a stored snapshot) gives the answer, or the error
    return _from_snapshot(state, proc_id, slot, {**_without(current, "priv"), "snapshot": snap.value}, opts)


def _group(base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
    """With `process_workers`, concurrent compute requests for one process and slot share one
    computation (`dev_process_worker:group/3`); otherwise resolutions are not grouped."""
    if options.get(opts, "process_workers") is not True or not isinstance(request, Mapping):
        return None
    found = parts(_raw(request, "path"))
    if not found or key_text(found[0], errors="surrogateescape") != "compute" or not isinstance(base, Mapping):
        return None
    try:
        proc_id = process_id(ensure_process_key(base, opts))
    except AOError:
        return None
    slot = _raw(request, "compute", _raw(request, "slot"))
    return ("process@1.0", proc_id, _integer(slot) if _integer(slot) is not None else slot)
