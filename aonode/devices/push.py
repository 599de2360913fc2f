"""`push@1.0`: compute a process's slot and deliver its outbox to the target processes
(processes-compute.md §6.4).

    push   with `slot`: push that slot; without: schedule the request on the process first
           (a `Process` body is a spawn and answers with its assignment)

Pushing slot S of process P:

1. compute `compute/results` of P at S;
2. for each outbox entry (keys lower-cased) with a `target`: evaluate it first when it has a
   `resolve` path (an "oracle" call); read the target process from the cache; add the origin
   keys (`data-protocol: ao`, `variant: ao.N.1`, `type: Message`, `from-process`,
   `from-uncommitted`, `from-base`, `from-scheduler`, `from-authority`); sign it under the
   target's security policy; schedule it on the target (a 307 is followed to the remote
   scheduler; a 422 from a legacy scheduler retries signed as ANS-104);
3. push the slot the target assigned, with `result-depth` one lower, and so on downstream.

The answer maps each outbox key to `{id, target, slot, resulted-in}` (or an error descriptor
`{response: error, status?, target?, reason}`), plus `slot`, `process`, and the computed
`results` while `result-depth` (default 1) is above 0.

Signing policy for a delivered message: the target's `policy` message yields
`accept-committers`; else the target's `authority` list; of those, every address that is a
local identity of this node signs (the node wallet, or a wallet under the `identities`
option). Nobody → the node wallet when `push_always_sign` (default true).

The reference recurses once per downstream message; here the work runs from an explicit
stack in the same depth-first order, so a long ping-pong between processes cannot exhaust
Python's recursion limit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aonode import codecs
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.resolver import resolve, resolve_path
from aonode.core.terms import As, Result
from aonode.crypto import Wallet
from aonode.devices import _scheduler_locations as locations
from aonode.devices.process import process_id
from aonode.errors import AOError, BadMessage
from aonode.message import is_private, sequence_index
from aonode.net import client
from aonode.store import Store
from aonode.text import as_text

__all__ = ["PushDevice", "local_wallets"]

log = logging.getLogger("aonode.push")

PLAIN: Mapping[str, Any] = {"hashpath": "ignore"}
# Where the signed form of each delivered outbox entry is recorded (see `_signed_once`).
SENT = "~push@1.0/sent"
ALWAYS = ["always"]


class PushDevice(Device):
    name = "push@1.0"

    def push(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        process = {**base, "device": "process@1.0"} if isinstance(base, Mapping) else base
        request = request if isinstance(request, Mapping) else {}
        if _plain_get(request, "slot") is None:
            scheduled = _schedule_initial(process, request, opts)
            if not scheduled.ok:
                return scheduled
            assignment = scheduled.value
            if _find_type(assignment) == "Process":
                return assignment
            job: Mapping[str, Any] = assignment
        else:
            job = request
        mode = _optional_text(_first([(request, "push-mode"), (process, "push-mode"), (process, "process/push-mode")],
                            b"sync"))
        if mode == "async":
            threading.Thread(target=_push_logged, args=(process, job, opts), daemon=True,
                             name="aonode-push").start()
            return {"status": 202, "slot": _plain_get(job, "slot"), "body": b"Push started."}
        if mode != "sync":
            raise BadMessage(f"push-mode must be sync or async, not {mode!r}")
        answer = do_push(process, job, opts)
        body = _plain_get(job, "body")
        if isinstance(answer, dict) and isinstance(body, Mapping) and "id" not in answer:
            # aoconnect's message({returnMessageId: true}) reads the scheduled message's ID here.
            answer = {**answer, "id": codecs.message_id(dict(body), committers="all").encode()}
        return answer


def _push_logged(process: Mapping[str, Any], job: Mapping[str, Any], opts: Mapping[str, Any]) -> None:
    try:
        outcome = do_push(process, job, opts)
        if isinstance(outcome, Result) and not outcome.ok:
            log.warning("async push failed: %r", outcome.value)
    except Exception:
        log.exception("async push failed")


# --- the push itself --------------------------------------------------------------------


@dataclass
class _Push:
    """Push slot `slot` of `process`; `into[key]` receives the answer (the root has no key)."""

    process: Mapping[str, Any]
    slot: Any
    depth: int
    into: dict[str, Any]
    key: str | None
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Deliver:
    """Deliver outbox entry `key` of a computed slot; the record goes to `into[key]`."""

    entry: Mapping[str, Any]
    origin: Mapping[str, Any]
    depth: int
    into: dict[str, Any]
    key: str


def do_push(process: Mapping[str, Any], job: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    """Push the slot named by `job["slot"]` and everything it causes downstream.

    Returns the answer message, or an error `Result` when the first compute fails.
    """
    depth = _int(_plain_get(job, "result-depth"), 1)
    root: dict[str, Any] = {}
    stack: list[_Push | _Deliver] = [_Push(process, _plain_get(job, "slot"), depth, root, None)]
    first_error: Result | None = None
    while stack:
        item = stack.pop()
        if isinstance(item, _Deliver):
            follow = _deliver(item, opts)
            if follow is not None:
                stack.append(follow)
            continue
        outcome = _compute_and_plan(item, opts)
        if isinstance(outcome, Result):
            if item.key is None:
                first_error = outcome
            else:  # a downstream push failed: its record says so
                item.into[item.key] = {"response": b"error", "target": item.into.get("target"),
                                       "reason": outcome.value}
            continue
        stack.extend(reversed(outcome))  # depth-first, in outbox order
    if first_error is not None:
        return first_error
    return root.get("answer", {})


def _compute_and_plan(item: _Push, opts: Mapping[str, Any]) -> list[_Deliver] | Result:
    process = item.process
    computed = resolve(As("process@1.0", process), {"path": "compute/results", "slot": item.slot},
                       {**opts, "hashpath": "ignore"})
    if not computed.ok:
        return computed
    results = computed.value if isinstance(computed.value, Mapping) else {}
    pid = process_id(process)
    answer: dict[str, Any] = {}
    if item.depth > 0:
        answer.update({k: v for k, v in results.items() if not is_private(k)})
    answer.update({"slot": item.slot, "process": pid})
    if item.key is None:
        item.into["answer"] = answer
    else:
        item.into[item.key] = answer
    outbox = results.get("outbox")
    if not isinstance(outbox, Mapping) or not outbox:
        return []
    definition = _definition(process)
    origin = {
        "process": pid,
        "slot": item.slot,
        "from-uncommitted": process_id(process, committed=False),
        "from-base": _base_id(definition),
        "from-scheduler": definition.get("scheduler"),
        "from-authority": definition.get("authority"),
    }
    plan: list[_Deliver] = []
    for key in _outbox_keys(outbox):
        entry = outbox[key]
        lowered = {k.lower(): v for k, v in entry.items() if not is_private(k)} if isinstance(entry, Mapping) else None
        out_key = key.lower()
        if lowered is None or "target" not in lowered:
            answer[out_key] = {"response": b"error", "status": 404, "outbox-index": out_key,
                               "reason": b"Target process not available.", "message": entry}
            continue
        plan.append(_Deliver(lowered, origin, item.depth, answer, out_key))
    # Later keys of the answer (slot, process, results) win over outbox keys, as in the reference.
    return plan


def _deliver(item: _Deliver, opts: Mapping[str, Any]) -> _Push | None:
    entry = dict(item.entry)
    if "resolve" in entry:
        evaluated = _evaluate(entry, opts)
        if isinstance(evaluated, Result):
            item.into[item.key] = {"response": b"error", "target": item.origin["process"], "status": 400,
                                   "outbox-index": item.key, "reason": evaluated.value, "source": item.entry}
            return None
        entry = evaluated
    target = _optional_text(entry.get("target")) or ""
    target_id = target.split("?", 1)[0].split("&", 1)[0]
    cache = opts.get("cache")
    target_process = cache.read(target_id) if cache is not None else None
    if not isinstance(target_process, Mapping):
        item.into[item.key] = {"response": b"error", "status": 404, "target": target.encode(),
                               "reason": b"Could not access target process!"}
        return None
    scheduled = _schedule_result(target_process, entry, {**item.origin, "outbox-key": item.key}, opts)
    if not scheduled.ok:
        item.into[item.key] = {"response": b"error", "target": target_id.encode(), "reason": scheduled.value}
        return None
    assignment = scheduled.value
    slot = _plain_get(assignment, "slot")
    pushed = _plain_get(assignment, "body")
    record: dict[str, Any] = {
        "id": codecs.message_id(dict(pushed), committers="all") if isinstance(pushed, Mapping) else None,
        "target": target_id.encode(),
        "slot": slot,
    }
    item.into[item.key] = {k: v for k, v in record.items() if v is not None}
    return _Push({**target_process, "device": "process@1.0"}, slot, item.depth - 1, item.into[item.key],
                 "resulted-in")


def _evaluate(entry: dict[str, Any], opts: Mapping[str, Any]) -> dict[str, Any] | Result:
    """An outbox entry with `resolve`: resolve the entry (without `target`) along that path,
    and deliver the result to the same target."""
    request = {k: v for k, v in entry.items() if k != "target"}
    request["path"] = entry["resolve"]
    try:
        result = resolve_path(request, {**opts, "force_message": True})
    except AOError as exc:
        return Result("error", str(exc).encode())
    if not result.ok or not isinstance(result.value, Mapping):
        return Result("error", result.value)
    return {**result.value, "target": entry["target"]}


# --- scheduling ---------------------------------------------------------------------------


def _schedule_initial(process: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    result = resolve(process, {**request, "path": "schedule", "method": "POST"}, opts)
    if not result.ok:
        return result
    status = _plain_get(result.value, "status")
    if status in (None, 200):
        return result
    if status == 307:
        return _remote_schedule(_optional_text(_plain_get(result.value, "location")) or "", request, opts)
    return Result("error", result.value)


def _schedule_result(target: Mapping[str, Any], entry: Mapping[str, Any], origin: Mapping[str, Any],
                     opts: Mapping[str, Any], codec: str = "httpsig@1.0") -> Result:
    augmented = _augment(entry, origin)
    signed = _signed_once(augmented, target, codec, origin, opts)
    if not codecs.signers(signed):
        return Result("error", b"Application of security policy failed: No identities matching authority were found.")
    result = resolve(As("process@1.0", target), {"path": "schedule", "method": "POST", "body": signed},
                     {**opts, "cache_control": ALWAYS})
    value = result.value
    status = _plain_get(value, "status") if isinstance(value, Mapping) else None
    if result.ok and status in (None, 200):
        return result
    if result.ok and status == 307:
        wallet = opts.get("priv_wallet")
        plain = {**augmented, "target": (_optional_text(augmented.get("target")) or "").split("?", 1)[0].encode()}
        resigned = codecs.commit(plain, wallet) if isinstance(wallet, Wallet) else signed
        return _remote_schedule(_optional_text(_plain_get(value, "location")) or "", resigned, opts)
    if status == 422 and codec == "httpsig@1.0":
        return _schedule_result(target, entry, origin, opts, "ans104@1.0")
    return Result("error", value)


def _sent_path(origin: Mapping[str, Any], codec: str) -> str | None:
    key = origin.get("outbox-key")
    if key is None or "/" in str(key):
        return None
    return f"{SENT}/{_optional_text(origin['process'])}/{_optional_text(origin['slot'])}/{key}/{codec}"


def _signed_once(augmented: Mapping[str, Any], target: Mapping[str, Any], codec: str, origin: Mapping[str, Any],
                 opts: Mapping[str, Any]) -> Any:
    """`augmented` signed under the target's policy, the same signed message every time this
    slot's outbox entry is delivered: a retried push then resends a message its target has
    scheduled already (scheduling is idempotent by ID), instead of a fresh signature, a new ID
    and a second slot. The signed message is written, and its ID recorded under
    `~push@1.0/sent/<process>/<slot>/<outbox key>/<codec>` with the content's ID, before it is
    sent."""
    cache = opts.get("cache")
    store = getattr(cache, "store", None)
    path = _sent_path(origin, codec)
    if cache is None or not isinstance(store, Store) or path is None:
        return apply_security(augmented, target, codec, opts)
    content = codecs.message_id(dict(augmented))
    record = store.read(path)
    if record is not None:
        recorded_content, _, signed_id = record.decode("ascii", "replace").partition(" ")
        earlier = cache.read(signed_id) if recorded_content == content else None
        if isinstance(earlier, Mapping) and codecs.signers(dict(earlier)):
            return dict(earlier)
    signed = apply_security(augmented, target, codec, opts)
    if isinstance(signed, Mapping) and codecs.signers(dict(signed)):
        with store.transaction():
            cache.write(dict(signed))
            store.write(path, f"{content} {codecs.message_id(dict(signed), committers='all')}".encode())
    return signed


def _remote_schedule(location: str, message: Mapping[str, Any], opts: Mapping[str, Any], hops: int = 5) -> Result:
    if hops <= 0:
        return Result("error", {"status": 508, "body": b"Too many scheduler redirects."})
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return Result("error", {"status": 502, "body": f"Bad scheduler location: {location!r}".encode()})
    node = f"{parts.scheme}://{parts.netloc}"
    path = "/schedule" if _find_type(message) == "Process" else (parts.path or "/schedule")
    cache = opts.get("cache")
    if cache is not None:
        cache.write(dict(message))  # keep our own copy of what we sent
    body = {k: v for k, v in message.items() if k != "path"}
    answer = client.post(node, body, opts, path=path)
    if not answer.ok:
        return answer
    if _plain_get(answer.value, "status") == 307:
        return _remote_schedule(_optional_text(_plain_get(answer.value, "location")) or "", message, opts, hops - 1)
    return answer


def _augment(entry: Mapping[str, Any], origin: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in entry.items() if k != "commitments"}
    out.update({
        "data-protocol": b"ao",
        "variant": b"ao.N.1",
        "type": b"Message",
        "from-process": _bin(origin["process"]),
        "from-uncommitted": _bin(origin["from-uncommitted"]),
        "from-base": _bin(origin["from-base"]),
    })
    for key in ("from-scheduler", "from-authority"):
        if origin.get(key) is not None:
            out[key] = origin[key]
    return out


# --- security policy ----------------------------------------------------------------------


def apply_security(msg: Mapping[str, Any], target: Mapping[str, Any], codec: str, opts: Mapping[str, Any]) -> Any:
    """`msg` signed by the local identities the target process accepts (see the module doc)."""
    committers: list[str] | None = None
    policy = target.get("policy")
    if policy is not None:
        try:
            found = resolve(policy, {"path": "accept-committers"}, {**opts, **PLAIN})
            if found.ok:
                committers = _addresses(found.value)
        except AOError as exc:
            log.info("push: the target's policy failed (%s); using its authority", exc)
    if committers is None and target.get("authority") is not None:
        committers = _addresses(target["authority"])
    if committers is None:
        wallet = opts.get("priv_wallet")
        committers = [wallet.address] if isinstance(wallet, Wallet) else []
    unsigned = {k: v for k, v in msg.items() if k != "commitments"}
    wallets = local_wallets(committers, opts)
    if not wallets:
        wallet = opts.get("priv_wallet")
        if opts.get("push_always_sign", True) and isinstance(wallet, Wallet):
            wallets = [wallet]
    signed: Any = unsigned
    for wallet in wallets:
        signed = codecs.commit_as(codec, signed, wallet)
    return signed


def local_wallets(addresses: list[str], opts: Mapping[str, Any]) -> list[Wallet]:
    """The wallets of this node (its own and those under `identities`) whose address is listed,
    in the order listed; unknown addresses are skipped."""
    known = {address: wallet for address, wallet in locations.local_wallets(opts).items()
             if address == wallet.address}
    for address in addresses:
        if address not in known:
            log.warning("push: %s is not an identity of this node; not signing as it", address)
    return [known[a] for a in dict.fromkeys(addresses) if a in known]


# --- small helpers ------------------------------------------------------------------------


def _definition(process: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = process.get("process")
    return inner if isinstance(inner, Mapping) else process


def _base_id(definition: Mapping[str, Any]) -> str:
    stripped = {k: v for k, v in definition.items() if k not in ("authority", "scheduler", "commitments")}
    return codecs.message_id(stripped)


def _outbox_keys(outbox: Mapping[str, Any]) -> list[str]:
    keys = [k for k in outbox if not is_private(k)]
    return sorted(keys, key=lambda k: (0, sequence_index(k), k) if k.isascii() and k.isdigit() else (1, 0, k))


def _addresses(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [a for a in (_optional_text(v) for v in value) if a]
    if isinstance(value, Mapping):
        return [a for a in (_optional_text(value[k]) for k in sorted(value, key=str)) if a]
    text = _optional_text(value) or ""
    return [part.strip().strip('"') for part in text.split(",") if part.strip().strip('"')]


def _find_type(msg: Any) -> str | None:
    if not isinstance(msg, Mapping):
        return None
    found = msg.get("type")
    if (found is None or _optional_text(found) == "assignment") and isinstance(msg.get("body"), Mapping):
        found = msg["body"].get("type")  # an assignment's type is that of the message it assigns
    return _optional_text(found)


def _first(pairs: list[tuple[Any, str]], default: Any) -> Any:
    for msg, path in pairs:
        value = get(path, msg, None, PLAIN) if isinstance(msg, Mapping) else None
        if value is not None:
            return value
    return default


def _plain_get(msg: Any, key: str) -> Any:
    if not isinstance(msg, Mapping):
        return None
    if key in msg:
        return msg[key]
    return msg.get(key.lower())


def _optional_text(value: Any) -> str | None:
    """Bytes or text as text (lossy); None for any other value."""
    return as_text(value, errors="replace") if isinstance(value, (bytes, str)) else None


def _bin(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _int(value: Any, default: int) -> int:
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return default
