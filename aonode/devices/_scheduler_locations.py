"""Where a process's scheduler is, and scheduler-location records (processes-compute.md §2.4
steps 3a-3e, §2.11).

A process names its scheduler(s) in `scheduler` (or `scheduler-location`): a list, or text
with commas. An entry that is a local identity of this node makes this node the scheduler.
Otherwise the scheduler is found, entry by entry, through a `?hint=<url>` in the entry, a
location record cached here, or the newest `Scheduler-Location` record on the gateway; the
answer is a redirect message `{status: 307, location, body, variant}`.

A location record (`POST location`) is signed by the operator of the node it describes:
`{data-protocol: ao, variant: ao.N.1, type: scheduler-location, url, nonce, time-to-live,
codec-device}`. A record signed by someone else is cached as it is (a foreign record).

Differences from the reference (docs/compat.md):

* The entries of a scheduler list are tried in order and the first that resolves wins (the
  reference tries the tail first and crashes unless later entries fail with `not_found`).
* Signatures are checked: a request counts as the operator's only when its signature holds,
  and a foreign record is cached only when its signatures hold.
* Nonces: the operator's known nonce is the highest of the gateway's record (as in the
  reference) and the record cached here; a foreign record must carry a nonce above the one
  cached for each of its signers (the reference compares it with this node's own nonce).
* A `location` POST without `target` that is itself unsigned but has a message as its `body`
  acts on the body (the reference acts on the unsigned request and caches nothing useful).
* Peers in `scheduler_location_notify_peers` are sent the record at `/~scheduler@1.0/location`
  (the reference posts to `record`, a key no scheduler exports); `record` is accepted here
  too, as a synonym of a `location` POST.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aonode.codecs import ans104, commit, decode, signers, to_tabm, with_only_committed
from aonode.core import authority, options
from aonode.core.terms import Result
from aonode.crypto import Wallet, b64url_encode
from aonode.devices import _scheduler_log as log_store
from aonode.devices import _scheduler_remote as remote
from aonode.errors import AOError, BadMessage, EncodeError, NotFound
from aonode.message import Message, is_id, sequence_index
from aonode.net import client
from aonode.store import Store
from aonode.text import as_text

__all__ = [
    "find_remote_scheduler",
    "get_hint",
    "get_location",
    "local_wallets",
    "parse_schedulers",
    "post_location",
    "redirect_to",
    "without_hint",
]

log = logging.getLogger("aonode.scheduler")

DEFAULT_VARIANT = b"ao.N.1"


def parse_schedulers(value: Any) -> list[str]:
    """The scheduler entries of a `scheduler` value: a list as it is; text with `"` removed,
    split on `,`, empty entries dropped (`parse_schedulers/1`)."""
    if isinstance(value, (list, tuple)):
        return [as_text(v, errors="surrogateescape", none="") for v in value]
    if isinstance(value, Mapping):
        return [as_text(v, errors="surrogateescape", none="")
                for _, v in sorted(value.items(), key=lambda kv: sequence_index(kv[0]))]
    text = as_text(value, errors="surrogateescape", none="")
    return [part.strip() for part in text.replace('"', "").split(",") if part.strip()]


def local_wallets(opts: Mapping[str, Any]) -> dict[str, Wallet]:
    """The identities this node can sign as (`hb_opts:identities`), by address and by name.

    The node's wallet (`priv_wallet`) is one; each entry of `identities` is another, under its
    name and its wallet's address. A named identity without a wallet of its own signs with the
    node's wallet, as the reference's option merge gives it.
    """
    node = opts.get("priv_wallet")
    found: dict[str, Wallet] = {}
    named = options.get(opts, "identities") or {}
    for name, sub in named.items() if isinstance(named, Mapping) else ():
        wallet = sub if isinstance(sub, Wallet) else None
        if isinstance(sub, Mapping):
            wallet = sub.get("priv_wallet", sub.get("priv-wallet"))
        if isinstance(wallet, Wallet):
            found[as_text(name, errors="surrogateescape", none="")] = wallet
            found[wallet.address] = wallet
        elif isinstance(node, Wallet):
            found[as_text(name, errors="surrogateescape", none="")] = node
    if isinstance(node, Wallet):
        found.setdefault(node.address, node)
    return found


def get_hint(text: Any, opts: Mapping[str, Any]) -> str | None:
    """The `hint` query value in `<ID>?hint=<url>`, when `scheduler_follow_hints` allows it."""
    if options.get(opts, "scheduler_follow_hints") is False or not isinstance(text, (str, bytes)):
        return None
    pieces = as_text(text, errors="surrogateescape", none="").split("?")
    if len(pieces) != 2:
        return None
    hint = dict(parse_qsl(pieces[1], keep_blank_values=True)).get("hint")
    return hint or None


def without_hint(target: Any) -> str:
    """The process ID in a target that may carry `?hint=...` or `&...`.

    Raises:
        BadMessage: what is left is not an ID.
    """
    if isinstance(target, bytes) and len(target) == 32:
        return b64url_encode(target)
    text = as_text(target, errors="surrogateescape", none="")
    head = text.replace("&", "?").split("?", 1)[0]
    if not head or not is_id(head):
        raise BadMessage(f"scheduler@1.0: {text!r} is not a process ID")
    return head


def redirect_to(location: Any) -> Message:
    """The redirect to a scheduler (`generate_redirect/3`): `location` is a URL, or a location
    record whose `url` (else `location`) is used and whose `variant` is passed on."""
    if isinstance(location, Mapping):
        variant = location.get("variant", DEFAULT_VARIANT)
        url = as_text(location.get("url", location.get("location", b"/")), errors="surrogateescape", none="")
    else:
        variant, url = DEFAULT_VARIANT, as_text(location, errors="surrogateescape", none="")
    return {
        "status": 307,
        "location": url.encode(),
        "body": f"Redirecting to scheduler: {url}".encode(),
        "variant": (variant if isinstance(variant, bytes)
                    else as_text(variant, errors="surrogateescape", none="").encode()),
    }


def find_remote_scheduler(proc_id: str, entries: list[str], store: Store, opts: Mapping[str, Any]) -> Message:
    """A redirect to the first of `entries` whose location is known (hint, cache, gateway).

    Raises:
        NotFound: none of them has a known location.
    """
    failures: list[remote.GatewayUnavailable] = []
    for entry in entries:
        hint = get_hint(entry, opts)
        if hint is not None:
            return redirect_to(hint)
        record = log_store.read_location(entry, store)
        if record is None:
            try:
                record = remote.gateway_scheduler_location(entry, opts)
            except remote.GatewayUnavailable as exc:
                failures.append(exc)
                continue
            if record is None:
                continue
            try:
                log_store.write_location(record, store)
            except AOError as exc:  # the redirect still works; only the cache is lost
                log.info("scheduler: not caching the location of %s: %s", entry, exc)
        return redirect_to(record)
    if failures:
        raise remote.GatewayUnavailable(
            f"Cannot locate the scheduler of process {proc_id} (schedulers: {', '.join(entries)}): "
            + "; ".join(exc.message for exc in failures), status=max(exc.status for exc in failures))
    raise NotFound(f"No scheduler location is known for process {proc_id} (schedulers: {', '.join(entries)}).")


# -- location records (§2.11) ---------------------------------------------------------------------


def _int(value: Any, what: str) -> int:
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"scheduler@1.0: {what} must be an integer, got {value!r}") from exc


def _nonce_of(record: Mapping[str, Any] | None) -> int:
    if record is None:
        return -1
    try:
        return _int(record.get("nonce", 0), "a record's nonce")
    except BadMessage:
        return -1


def _verified(msg: Message, opts: Mapping[str, Any], is_request: bool) -> list[str]:
    """The signers of `msg` whose signatures hold and are bound to their keys."""
    return authority.signed_by(msg, opts) if is_request else signers(msg)


def _first(pairs: list[tuple[Mapping[str, Any], str]]) -> Any:
    for msg, key in pairs:
        if isinstance(msg, Mapping) and msg.get(key) is not None:
            return msg[key]
    return None


def _commit_as(record: Message, codec: str, wallet: Wallet) -> Message:
    if codec == "httpsig@1.0":
        return commit(record, wallet)
    if codec == ans104.NAME:
        tabm = to_tabm(record, bundle=True)
        assert isinstance(tabm, dict)
        signed = decode(ans104.to_wire(ans104.commit(tabm, wallet)), ans104.NAME)
        if not isinstance(signed, dict):
            raise EncodeError("scheduler@1.0: the signed location record is not a message")
        return signed
    raise BadMessage(f"scheduler@1.0: a location record cannot be signed with {codec!r}; "
                     "use httpsig@1.0 or ans104@1.0")


def _own_url(opts: Mapping[str, Any]) -> str:
    protocol = as_text(options.get(opts, "protocol", "http1"), errors="surrogateescape", none="")
    port = as_text(options.get(opts, "port_external") or options.get(opts, "port"), errors="surrogateescape", none="")
    host = as_text(options.get(opts, "host"), errors="surrogateescape", none="")
    return f"{'http' if protocol == 'http1' else 'https'}://{host}:{port}"


def _nonce_error(new: int, existing: int, who: list[str]) -> Result:
    return Result("error", {
        "status": 400,
        "body": b"Known nonce higher than requested nonce.",
        "requested-nonce": new,
        "existing-nonce": existing,
        "signers": [s.encode() for s in who],
    })


def post_location(base: Mapping[str, Any], request: Mapping[str, Any], opts: Mapping[str, Any],
                  store: Store) -> Result:
    """`POST location`: make and sign this node's record (request signed by the operator), or
    cache a foreign one (§2.11).

    Raises:
        BadMessage: the target or a value is malformed.
    """
    target = _first([(base, "target"), (request, "target")])
    name = as_text(target, errors="surrogateescape", none="") if target is not None else "request"
    if target is None and not signers(dict(request)) and isinstance(request.get("body"), Mapping):
        # An unsigned request carrying a record as its body means that record (the reference
        # would cache the unsigned request, under no signer: nothing a redirect can find).
        name = "body"
    if name == "self":
        chosen: Any = base
    elif name == "request":
        chosen = request
    else:
        chosen = request.get(name)
        if not isinstance(chosen, Mapping):
            raise BadMessage(f"scheduler@1.0: the location target {name!r} names no message in the request")
    # A request's own keys count only as its signers committed them (the HTTP request itself).
    only = with_only_committed(authority.authority(chosen, opts) if chosen is request else dict(chosen))
    who = _verified(only, opts, chosen is request)
    wallet = opts.get("priv_wallet")
    if isinstance(wallet, Wallet) and wallet.address in who:
        return _own_location(base, only, wallet, opts, store)
    claimed = signers(only)
    existing = max((_nonce_of(log_store.read_location(s, store)) for s in claimed), default=-1)
    new = _int(only["nonce"], "nonce") if "nonce" in only else existing + 1
    if new <= existing:
        return _nonce_error(new, existing, claimed)
    if not who or who != claimed:
        return Result("error", {
            "status": 400,
            "body": b"Failed to store new scheduler location.",
            "reason": b"The record is not signed, or a signature does not verify.",
        })
    log_store.write_location(only, store)
    return Result("ok", only)


def _own_location(base: Mapping[str, Any], only: Message, wallet: Wallet, opts: Mapping[str, Any],
                  store: Store) -> Result:
    me = wallet.address
    try:
        gateway = remote.gateway_scheduler_location(me, opts)
    except remote.GatewayUnavailable as exc:  # a new record needs no gateway; its nonce is then ours alone
        log.info("scheduler: %s", exc.message)
        gateway = None
    existing = max(_nonce_of(gateway), _nonce_of(log_store.read_location(me, store)))
    new = _int(only["nonce"], "nonce") if "nonce" in only else existing + 1
    if new <= existing:
        return _nonce_error(new, existing, signers(only))
    ttl = _first([(base, "time-to-live"), (only, "time-to-live")])
    ttl = options.get(opts, "scheduler_location_ttl") if ttl is None else _int(ttl, "time-to-live")
    url = only.get("url")
    codec = as_text(_first([(base, "require-codec"), (only, "require-codec")]) or b"httpsig@1.0",
                    errors="surrogateescape", none="")
    record: Message = {
        "data-protocol": b"ao",
        "variant": DEFAULT_VARIANT,
        "type": b"scheduler-location",
        "url": url if isinstance(url, bytes) else (
            _own_url(opts) if url is None else as_text(url, errors="surrogateescape", none="")).encode(),
        "nonce": new,
        "time-to-live": ttl,
        "codec-device": codec.encode(),
    }
    signed = _commit_as(record, codec, wallet)
    log_store.write_location(signed, store)
    remote.upload_async(signed, opts)
    for peer in options.get(opts, "scheduler_location_notify_peers") or []:
        to = as_text(peer, errors="surrogateescape", none="")
        sent = client.post(to, {**signed, "method": b"POST"}, opts, path="/~scheduler@1.0/location")
        log.info("scheduler: told %s of this node's location: %s", to, sent.status)
    return Result("ok", signed)


def get_location(request: Mapping[str, Any], opts: Mapping[str, Any], store: Store) -> Result:
    """`GET location?address=<addr>` (default: this node): `{body: record}`, or a 404 message."""
    address = request.get("address")
    if address is None:
        wallet = opts.get("priv_wallet")
        address = wallet.address if isinstance(wallet, Wallet) else b""
    text = as_text(address, errors="surrogateescape", none="")
    record = log_store.read_location(text, store)
    if record is None:
        return Result("ok", {"status": 404, "body": f"No location found for address: {text}".encode()})
    return Result("ok", {"body": record})
