"""Everything `scheduler@1.0` asks of other machines (processes-compute.md §2.5-2.10): the
scheduler that owns a process (an aonode or HyperBEAM node, variant `ao.N.1`, or a legacy
SU, variant `ao.TN.1`), the Arweave gateway (block information, scheduler-location records
over GraphQL) and the bundler (uploads). All of it goes through `aonode.net.client`, so a
network failure is a `Result("error", {"status": 502 | 504, ...})`, never an exception. The
gateway is the `gateway` option when the node sets one; otherwise `/raw/...` and `/graphql`
go where the node's route table sends them (`client.request_routed`), as the reference's
gateway client does.

Differences from the reference (docs/compat.md):

* A remote schedule is asked for with `?from=<N>&to=<M>`; the reference sends
  `?from=&from=<N>`, which only works where the last of two equal keys wins.
* A spawn (a `Process` message) is forwarded to `/~scheduler@1.0/schedule`, which needs
  nothing but the message; the reference forwards it to `/<ProcID>/schedule`, which the
  remote scheduler can only answer when it already holds the process.
* Assignments already read from the local cache stop the remote read only when they reach
  `to` itself (the reference stops one short and loses slot `to`).
* A 307 from the remote is followed to its new `location` (at most `MAX_HOPS` times); the
  reference retries the same node forever.
* Legacy GETs send `process-id` besides `proc-id` (the 2026 legacy SU requires it), and a
  legacy edge is cached under the slot its `Nonce` tag names when its `cursor` is no number.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from aonode._memo import Memo
from aonode.codecs import ans104, encode, with_only_committed
from aonode.core import options
from aonode.core.terms import Result
from aonode.devices import _scheduler_log as log_store
from aonode.devices._scheduler_formats import (
    ZERO_ID,
    BlockInfo,
    aos2_to_assignment,
    aos2_to_assignments,
    assignments_to_bundle,
    gql_item_to_message,
    ordered_assignments,
)
from aonode.errors import AOError
from aonode.message import Message
from aonode.net import client
from aonode.store import Store, cache
from aonode.text import as_text

__all__ = [
    "MAX_HOPS",
    "MAX_QUERY",
    "block_info",
    "fetch_data",
    "gateway_scheduler_location",
    "get_remote_schedule",
    "local_assignments",
    "node_of",
    "now_ms",
    "post_remote_schedule",
    "remote_slot",
    "upload",
    "upload_async",
]

log = logging.getLogger("aonode.scheduler")

MAX_QUERY = 1000
"""The most assignments one schedule read returns (`MAX_ASSIGNMENT_QUERY_LEN`)."""
MAX_HOPS = 5
"""Redirects followed by one remote read before giving up."""
BLOCK_REFRESH_S = 15.0
"""How long the current Arweave block is reused before asking the gateway again (`ar_timestamp`)."""

_LEGACY = "ao.TN.1"
_ROUTES = {"http_client": "httpc"}  # remote schedulers may redirect; httpc follows, as in the reference


def now_ms() -> int:
    """The scheduler's wall clock in milliseconds (what assignments carry as `timestamp`)."""
    return time.time_ns() // 1_000_000


def node_of(location: str) -> str:
    """The node (`scheme://host:port`) of a redirect location, without path or query."""
    return client.split_url(location)[0]


def _variant(redirect: Mapping[str, Any]) -> str:
    return as_text(redirect.get("variant", b"ao.N.1"), errors="replace", none="") or "ao.N.1"


def _error(status: int, body: str, **extra: Any) -> Result:
    return Result("error", {"status": status, "body": body.encode(), **extra})


def _committed(result: Result) -> Result:
    """A remote answer without the transport keys the HTTP exchange added to it."""
    value = result.value
    if result.status == "ok" and isinstance(value, dict) and value.get("commitments"):
        return Result("ok", with_only_committed(value))
    return result


def _json_body(result: Result, what: str) -> Any:
    body = result.value.get("body") if isinstance(result.value, Mapping) else result.value
    try:
        return json.loads(body if isinstance(body, (bytes, str)) else b"")
    except ValueError as exc:
        raise AOError(f"scheduler@1.0: {what} is not JSON", status=502) from exc


def _status(result: Result) -> int:
    value = result.value
    status = value.get("status") if isinstance(value, Mapping) else None
    return status if isinstance(status, int) else (200 if result.status == "ok" else 500)


# -- block information and uploads ---------------------------------------------------------------

# The last block read from each gateway, and when (time.monotonic()).
_BLOCK: Memo[str, tuple[float, BlockInfo]] = Memo(64)


def block_info(opts: Mapping[str, Any]) -> BlockInfo:
    """The current Arweave block (`ar_timestamp:get`): zeros in `debug` mode (the reference's
    default); in `prod` the gateway's `/block/current`, reused for `BLOCK_REFRESH_S` seconds.
    A gateway that cannot be reached gives the last known block, else zeros."""
    if as_text(options.get(opts, "mode"), errors="replace", none="") != "prod":
        return BlockInfo.zero()
    gateway = as_text(options.get(opts, "gateway"), errors="replace", none="")
    cached = _BLOCK.get(gateway)
    if cached is not None and time.monotonic() - cached[0] < BLOCK_REFRESH_S:
        return cached[1]
    result = client.get(gateway, "/block/current", {**opts, "http_only_result": False})
    try:
        if result.status != "ok":
            raise AOError(f"the gateway answered {_status(result)}")
        fields = _json_body(result, "the gateway's block")
        block = BlockInfo(int(fields["timestamp"]), int(fields["height"]), str(fields["indep_hash"]))
    except (AOError, KeyError, TypeError, ValueError) as exc:
        log.warning("scheduler: cannot read the current block from %s: %s", gateway, exc)
        return cached[1] if cached is not None else BlockInfo.zero()
    _BLOCK.put(gateway, (time.monotonic(), block))
    return block


def _commitments(msg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = msg.get("commitments")
    if not isinstance(found, Mapping):
        return {}
    return {str(cid): c for cid, c in found.items() if isinstance(c, Mapping)}


def _uploads(msg: Message, opts: Mapping[str, Any]) -> list[tuple[str, Message]]:
    """The (bundler, message) posts that upload `msg`: one per commitment device it carries
    that has a bundler configured."""
    devices = {as_text(c.get("commitment-device"), errors="replace", none="") for c in _commitments(msg).values()}
    posts: list[tuple[str, Message]] = []
    bundler = options.get(opts, "bundler_httpsig")
    if "httpsig@1.0" in devices and bundler:
        posts.append((as_text(bundler, errors="replace", none=""), {**msg, "path": "/tx"}))
    bundler = options.get(opts, "bundler_ans104")
    if "ans104@1.0" in devices and bundler:
        item = encode(with_only_committed(msg), ans104.NAME)
        posts.append((as_text(bundler, errors="replace", none=""),
                      {"path": "/tx", "content-type": b"application/octet-stream", "body": item}))
    return posts


def upload(msg: Message, opts: Mapping[str, Any]) -> list[Result]:
    """Send a message to the bundler once per commitment device it carries (`hb_client:upload`):
    `ans104@1.0` items to `bundler_ans104`, `httpsig@1.0` messages to `bundler_httpsig` (no
    default, so they stay local unless one is configured).

    Raises:
        EncodeError: an ANS-104-signed message has no item form.
    """
    return [client.post(bundler, post, opts) for bundler, post in _uploads(msg, opts)]


def upload_async(msg: Message, opts: Mapping[str, Any]) -> None:
    """`upload` on a background thread; failures are only logged (nobody waits for them)."""
    try:
        posts = _uploads(msg, opts)
    except AOError as exc:
        log.info("scheduler: not uploading a message: %s", exc)
        return
    if posts:
        _background("scheduler-upload", lambda: [client.post(bundler, post, opts) for bundler, post in posts])


def _background(name: str, work: Callable[[], Any]) -> None:
    def run() -> None:
        try:
            work()
        except Exception:  # a background task has no caller to report to
            log.warning("scheduler: %s failed", name, exc_info=True)

    threading.Thread(target=run, name=name, daemon=True).start()


# -- the gateway: scheduler-location records (hb_gateway_client) ---------------------------------

_LOCATION_QUERY = (
    "query($SchedulerAddrs: [String!]!) { transactions(owners: $SchedulerAddrs, "
    'tags: { name: "Type" values: ["Scheduler-Location"] }, first: 1){ edges { node { id anchor '
    "signature recipient owner { key } fee { winston } quantity { winston } tags { name value } "
    "data { size } } cursor } } }"
)


def _to_gateway(method: str, message: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    """Send `message` to the Arweave gateway: to the `gateway` option when the node sets one
    (tests and operators point it at their own gateway), else where the node's route table
    sends its path (`/raw/...`, `/graphql`: the reference's gateway client routes them)."""
    http_opts = {**opts, "http_only_result": False}
    if "gateway" in opts:
        return client.request(method, as_text(opts["gateway"], errors="replace", none=""), message, http_opts)
    return client.request_routed({**message, "method": method}, http_opts)


def fetch_data(item_id: str, opts: Mapping[str, Any]) -> bytes:
    """The data of a transaction from the gateway's `/raw/<id>`.

    Raises:
        AOError: the gateway does not have it (502).
    """
    result = _to_gateway("GET", {"path": f"/raw/{quote(item_id, safe='')}"}, opts)
    body = result.value.get("body") if isinstance(result.value, Mapping) else None
    if result.status != "ok" or not isinstance(body, bytes):
        raise AOError(f"scheduler@1.0: the gateway has no data for {item_id}", status=502)
    return body


class GatewayUnavailable(AOError):
    """The gateway could not be asked where a scheduler is (502; 504 when it was too slow)."""

    status = 502


def gateway_scheduler_location(address: str, opts: Mapping[str, Any]) -> Message | None:
    """The newest `Type: Scheduler-Location` transaction owned by `address`, as a message, from
    the gateway's GraphQL endpoint (`/graphql` through the node's routes, or `<gateway>/graphql`
    when the `gateway` option is given); None when the gateway knows none.

    Raises:
        GatewayUnavailable: the gateway did not answer, or answered something unusable.
    """
    gateway = (as_text(options.get(opts, "gateway"), errors="replace", none="") if "gateway" in opts
               else "the routed gateway (/graphql)")
    query = json.dumps({"query": _LOCATION_QUERY, "variables": {"SchedulerAddrs": [address]}}).encode()
    result = _to_gateway("POST", {"path": "/graphql", "content-type": b"application/json", "body": query}, opts)
    if result.status != "ok":
        status = _status(result)
        raise GatewayUnavailable(f"{gateway} did not say where scheduler {address} is: it answered {status}",
                                 status=504 if status in (408, 504) else 502)
    try:
        found = _json_body(result, "the GraphQL answer")
        edges = found["data"]["transactions"]["edges"]
        if not edges:
            return None
        return gql_item_to_message(edges[0]["node"], lambda ref: fetch_data(ref, opts))
    except (AOError, KeyError, TypeError, IndexError) as exc:
        raise GatewayUnavailable(f"{gateway} gave an unusable location record for scheduler {address}: "
                                 f"{exc}") from exc


# -- remote scheduling (§2.10), slots (§2.7) and schedules (§2.6) -------------------------------


def post_remote_schedule(proc_id: str, redirect: Mapping[str, Any], message: Message,
                         opts: Mapping[str, Any]) -> Result:
    """Schedule `message` on the remote scheduler a redirect names; its answer is returned.

    `ao.N.1`: `POST <node>/<ProcID>/schedule` with the message as `body` (a spawn goes to
    `/~scheduler@1.0/schedule`). `ao.TN.1`: the message must carry an ANS-104 signature; its
    item is posted to the legacy SU, whose assignment is then read and converted.
    """
    node = node_of(as_text(redirect.get("location"), errors="replace", none=""))
    remote_opts = {**opts, **_ROUTES}
    if _variant(redirect) != _LEGACY:
        spawn = message.get("type") in (b"Process", "Process")
        path = "/~scheduler@1.0/schedule" if spawn else f"/{proc_id}/schedule"
        return _committed(client.post(node, {"path": path, "method": b"POST", "body": message}, remote_opts))
    return _post_legacy(proc_id, node, message, remote_opts)


def _post_legacy(proc_id: str, node: str, message: Message, opts: Mapping[str, Any]) -> Result:
    only_ans104 = {cid: c for cid, c in _commitments(message).items()
                   if as_text(c.get("commitment-device"), errors="replace", none="") == ans104.NAME}
    if not any("committer" in c for c in only_ans104.values()):
        return _error(422, "Process resides on legacy scheduler. Message must be signed with ANS-104.")
    try:
        item = encode(with_only_committed({**message, "commitments": {k: dict(c) for k, c in only_ans104.items()}}),
                      ans104.NAME)
    except AOError:
        return _error(422, "Incorrect encoding. Scheduler has variant: ao.TN.1")
    posted = client.post(node, {"content-type": b"application/octet-stream", "body": item},
                         {**opts, "http_only_result": False}, path=f"/?proc-id={proc_id}")
    if posted.status != "ok":
        return posted
    answer = _json_body(posted, "the legacy scheduler's answer")
    assigned_id = as_text(answer.get("id"), errors="replace", none="")
    assigned = client.get(node, f"/{assigned_id}?process-id={proc_id}", {**opts, "http_only_result": False})
    if assigned.status != "ok":
        return assigned
    return Result("ok", aos2_to_assignment(_json_body(assigned, "the legacy assignment")))


def _new_redirect(result: Result, variant: str) -> Mapping[str, Any] | None:
    value = result.value if isinstance(result.value, Mapping) else {}
    location = value.get("location")
    return {"location": location, "variant": variant.encode()} if location else None


def remote_slot(proc_id: str, redirect: Mapping[str, Any], opts: Mapping[str, Any], hops: int = 0) -> Result:
    """The current slot of a process from its remote scheduler (§2.7)."""
    node = node_of(as_text(redirect.get("location"), errors="replace", none=""))
    if _variant(redirect) != _LEGACY:
        return _committed(client.get(node, f"/{proc_id}/slot", {**opts, **_ROUTES}))
    got = client.get(node, f"/{proc_id}/latest?proc-id={proc_id}&process-id={proc_id}",
                     {**opts, **_ROUTES, "http_only_result": False})
    status = _status(got)
    if status == 200:
        assignment = aos2_to_assignment(_json_body(got, "the legacy scheduler's latest assignment"))
        return Result("ok", {
            "process": proc_id.encode(),
            "current": assignment.get("slot"),
            "timestamp": assignment.get("timestamp"),
            "block-height": assignment.get("block-height"),
            "block-hash": ZERO_ID.encode(),
            "cache-control": b"no-store",
        })
    moved = _new_redirect(got, _LEGACY) if status == 307 else None
    if moved is not None and hops < MAX_HOPS:
        return remote_slot(proc_id, moved, opts, hops + 1)
    return got if got.status != "ok" else Result("error", got.value)


def local_assignments(proc_id: str, from_: int, to: int | None, store: Store) -> tuple[list[Message], bool]:
    """The contiguous assignments `from_..to` in the local cache (`to` defaults to the latest
    slot), at most `MAX_QUERY + 1` of them, and whether `to` was cut short (§2.6)."""
    if to is None:
        found = log_store.latest(proc_id, store)
        if found is None:
            return [], False
        to = found[0]
    last = from_ + MAX_QUERY if to - from_ > MAX_QUERY else to
    out: list[Message] = []
    for slot in range(max(from_, 0), last + 1):
        assignment = log_store.read(proc_id, slot, store)
        if assignment is None:
            break  # the schedule is the contiguous prefix
        out.append(assignment)
    return out, last < to


def _cache_remote(assignments: list[Message], store: Store, opts: Mapping[str, Any]) -> None:
    def work() -> None:
        for assignment in assignments:
            try:
                log_store.write(assignment, store)
            except AOError as exc:  # only a cache: a bad entry is skipped
                log.info("scheduler: not caching a remote assignment: %s", exc)

    if options.get(opts, "scheduler_async_remote_cache") is False:
        work()
    else:
        _background("scheduler-remote-cache", work)


def _legacy_nonce(edge: Mapping[str, Any]) -> int | None:
    """The `Nonce` tag of a legacy edge's assignment."""
    node = edge.get("node")
    assignment = node.get("assignment") if isinstance(node, Mapping) else None
    tags = assignment.get("tags") if isinstance(assignment, Mapping) else None
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and tag.get("name") == "Nonce":
            try:
                return int(str(tag.get("value")))
            except ValueError:
                return None
    return None


def get_remote_schedule(proc_id: str, from_: int, to: int | None, redirect: Mapping[str, Any], store: Store,
                        opts: Mapping[str, Any]) -> Result:
    """The schedule `from_..to` of a process another scheduler owns: what the local cache
    holds, then the rest from the remote, which is cached too (§2.6 "Remote")."""
    local, _ = local_assignments(proc_id, from_, to, store)
    start = from_ + len(local)
    if to is not None and start > to:
        return Result("ok", assignments_to_bundle(proc_id, local, False, block_info(opts)))
    current: Mapping[str, Any] = redirect
    for _hop in range(MAX_HOPS + 1):
        fetched = _fetch_schedule(proc_id, start, to, current, store, opts)
        if isinstance(fetched, Result):
            if _status(fetched) == 307 and (moved := _new_redirect(fetched, _variant(current))) is not None:
                current = moved
                continue
            return fetched
        remote, more = fetched
        return Result("ok", assignments_to_bundle(proc_id, local + remote, more, block_info(opts)))
    return _error(508, f"Too many redirects reading the schedule of {proc_id}.")


def _fetch_schedule(proc_id: str, start: int, to: int | None, redirect: Mapping[str, Any], store: Store,
                    opts: Mapping[str, Any]) -> tuple[list[Message], bool] | Result:
    node = node_of(as_text(redirect.get("location"), errors="replace", none=""))
    legacy = _variant(redirect) == _LEGACY
    if legacy:
        path = (f"/{proc_id}?proc-id={proc_id}&process-id={proc_id}&from-nonce={start - 1}"
                + (f"&to-nonce={to}" if to is not None else "") + f"&limit={MAX_QUERY}")
    else:
        path = f"/{proc_id}/schedule?from={start}" + (f"&to={to}" if to is not None else "")
    got = client.get(node, path, {**opts, **_ROUTES, "http_only_result": False})
    if got.status != "ok" or _status(got) != 200:
        return got if got.status != "ok" else Result("error", got.value)
    if not legacy:
        bundle = _committed(got).value
        remote = [a for a in ordered_assignments(bundle.get("assignments") or {}) if isinstance(a, Mapping)]
        _cache_remote([dict(a) for a in remote], store, opts)
        return [dict(a) for a in remote], bundle.get("continues") in (True, b"true", "true")
    page = _json_body(got, "the legacy schedule")
    edges = [e for e in page.get("edges") or [] if isinstance(e, Mapping)]
    cached = []
    for edge in edges:
        nonce = _legacy_nonce(edge)
        cursor = edge.get("cursor")
        slot = cursor if isinstance(cursor, int) else nonce
        if slot is not None:
            cached.append({**edge, "variant": b"ao.TN.1", "slot": slot, "process": proc_id.encode()})
    _cache_remote(cached, store, opts)
    wanted = [e for e in edges if (n := _legacy_nonce(e)) is not None and n >= start and (to is None or n <= to)]
    bundle = aos2_to_assignments(proc_id, {"edges": wanted}, lambda ref: _read_cached(ref, store))
    held = bundle["assignments"]
    assert isinstance(held, dict)  # assignments_to_bundle makes a map
    return [dict(a) for a in ordered_assignments(held)], False


def _read_cached(ref: str, store: Store) -> Any:
    return cache.read(ref, store)
