"""`relay@1.0`: carry a message to another node or any HTTP(S) URL (node-services.md §2).

    call     send the message and return the peer's answer (its full response message)
    cast     send it in the background and answer `OK` at once
    request  a `request` hook that relays every inbound request through `call`

`call` (Base = M1, Request = M2):

1. The target is `M2[M2.target]` (else `M2.body`) when M2 has a `target` other than `self`;
   otherwise M1 (`hb_message:find_target`).
2. Each parameter is the first found, in this order ("T" is the target read as a plain
   message):

       path     M1.path, T.path, M2.relay-path, M1.relay-path             (required)
       device   M1.relay-device, T.relay-device, M2.relay-device          (else `device` is dropped)
       peer     M1.peer, T.peer, M2.peer                                   (else the path is a URL)
       method   M1.method, T.method, M2.relay-method, M1.relay-method, M2.method   (else GET)
       body     M1.body, T.body, M2.relay-body, M1.relay-body, M2.body     (else T's own)
       commit   T.commit-request, M2.relay-commit-request, M1.relay-commit-request,
                M2.commit-request, M1.commit-request                       (else false)

   M2.path is never used: it is `call`. The message sent is T with `method` and `path` set,
   `body` replaced when one was found, and `device` replaced by relay-device or removed.
3. With commit true, the node must allow it (`relay_allow_commit_request`, default false;
   otherwise `Forbidden`); the message is then signed with the node's wallet. Either way it
   must verify before it leaves. `"true"` from a query string counts as true (the reference
   crashes on it).
4. It is sent with the `http_client` set to T's `http-client`, M1's `relay-opts`
   `http_client`, or the `relay_http_client` option (default `httpc`, which follows
   redirects), M1's `relay-opts` client settings (`protocol`, timeouts, `http_reference`:
   router@1.0 `preprocess` passes a route node's `opts` so), and `http_only_result` false:
   by M1's `relay-route` (a route whose `nodes` get a multirequest) when given, else to `peer`
   when one is given (then to each of M1's `relay-fallbacks` in turn while the last peer could
   not be connected to: it never saw the request), else where the node's route table sends `path`
   (`client.request_routed`: an absolute URL goes there, a relative path to its route's node;
   no matching route answers 502).
5. Hop limit (aonode's own): the message goes with `ao-relay-hops`, the count of relays the
   request being served came through plus one (not signed over). When that would exceed
   `relay_max_hops` (default 8), nothing is sent: the answer is 508 Loop Detected saying why.
   A chain of relays through this node to itself so holds at most `relay_max_hops` + 1 worker
   threads, and its end answers at once instead of timing out. Relays to this node itself
   (a `peer`, fallback or absolute path at a loopback address or the node's `host`, on its
   `port`) that wait at once are at most half of `http_workers` per process; one more answers
   503 at once, so concurrent chains cannot take every thread and wait for themselves.
6. An `ok` answer comes back without `set-cookie`; any other answer (the peer's 4xx as
   `error`, 5xx as `failure`, a network failure as `error` with status 502/504) is returned
   unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from aonode.codecs import commit, verify
from aonode.core import options
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.node import HOPS_KEY, HOPS_OPTION
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.devices.message import ABSENT, lookup
from aonode.errors import BadMessage, Forbidden, InvalidSignature, Unauthorized
from aonode.message import Atom, is_private, sequence_index
from aonode.net import client
from aonode.text import key_text

__all__ = ["RelayDevice", "find_target", "hops_of"]

log = logging.getLogger(__name__)

# RFC 5842 §7.2: the server found an infinite loop (here: more relays than relay_max_hops).
LOOP_DETECTED = 508
# The reference's hb_opts default for `relay_http_client` (§2, §15).
DEFAULT_RELAY_HTTP_CLIENT = "httpc"
# The options a base's `relay-opts` may set: how the request travels, nothing else.
_CLIENT_OPTIONS = frozenset({"http_client", "protocol", "http_connect_timeout", "http_request_send_timeout",
                             "http_keepalive", "http_reference"})
# Devices whose keys read as plain message keys: reading through them costs a resolution for nothing.
_PLAIN_DEVICES = frozenset({"message@1.0", "relay@1.0"})


def _plain(key: str, msg: Any, opts: Mapping[str, Any]) -> Any:
    """`key` read from `msg` as `message@1.0` reads it, or ABSENT."""
    if not isinstance(msg, Mapping) or is_private(key):
        return ABSENT
    found = lookup(key, msg)
    return found if found is ABSENT else ensure_loaded(found, opts)


def _read(key: str, msg: Any, opts: Mapping[str, Any]) -> Any:
    """`key` read from `msg` through its device (`hb_ao:get`), or ABSENT."""
    if not isinstance(msg, Mapping):
        return ABSENT
    device = msg.get("device")
    if device is None or (isinstance(device, (str, bytes))
                          and key_text(device, errors="surrogateescape") in _PLAIN_DEVICES):
        return _plain(key, msg, opts)
    return get(key, msg, ABSENT, {**opts, "hashpath": "ignore", "cache_control": ["no-cache", "no-store"]})


def _first(sources: list[tuple[Any, str, bool]], opts: Mapping[str, Any]) -> Any:
    """`hb_ao:get_first`: the first `(msg, key, as_plain)` that has the key, else ABSENT."""
    for msg, key, as_plain in sources:
        found = _plain(key, msg, opts) if as_plain else _read(key, msg, opts)
        if found is not ABSENT and found != Atom("not_found"):
            return found
    return ABSENT


def find_target(base: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
    """The message a request acts on (`hb_message:find_target`): `base` for `target: self`
    (the default), else `request[target]`, else `request.body`."""
    target = request.get("target", b"self")
    name = key_text(target, errors="surrogateescape") if isinstance(target, (str, bytes)) else "self"
    if name == "self":
        return base
    if name in request:
        return request[name]
    return request.get("body")


def _relay_opts(m1: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
    """The client options the base's `relay-opts` sets (router@1.0 `preprocess` passes a
    route node's `opts` this way); only client settings are taken."""
    found = _plain("relay-opts", m1, opts)
    if not isinstance(found, Mapping):
        return {}
    named = {options.option_key(k): v for k, v in found.items()}
    return {k: v for k, v in named.items() if k in _CLIENT_OPTIONS}


def _fallbacks(m1: Any, opts: Mapping[str, Any]) -> list[str]:
    """The base's `relay-fallbacks`: peers to try, in order, when `peer` cannot be connected to."""
    found = _plain("relay-fallbacks", m1, opts)
    if isinstance(found, Mapping):
        found = [found[k] for k in sorted(found, key=sequence_index)]
    if not isinstance(found, (list, tuple)):
        return []
    return [key_text(peer, errors="surrogateescape") for peer in found if isinstance(peer, (str, bytes))]


def hops_of(opts: Mapping[str, Any]) -> int:
    """How many relays the request being served came through (its `ao-relay-hops`; 0 without).

    Raises:
        BadMessage: the count is not a non-negative integer.
    """
    found = opts.get(HOPS_OPTION)
    if found is None:
        return 0
    text = key_text(found, errors="surrogateescape") if isinstance(found, (str, bytes)) else str(found)
    if not text.strip().isdigit() or len(text.strip()) > 6:
        raise BadMessage(f"relay@1.0: {HOPS_KEY} must be a small non-negative integer, not {text[:40]!r}")
    return int(text.strip())


_SELF_LOCK = threading.Lock()
_self_waiting = 0  # relays of this process to this node itself now waiting for their answer


def _self_addressed(url: str, opts: Mapping[str, Any]) -> bool:
    """Whether `url` (a peer or an absolute URL) is this node: a loopback or unspecified
    address, or the node's `host`, at the node's `port` (or `port_external`)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    own_ports = {options.get(opts, "port"), options.get(opts, "port_external")}
    if port not in {int(p) for p in own_ports if isinstance(p, int) or (isinstance(p, str) and p.isdigit())}:
        return False
    host = (parts.hostname or "").lower()
    own_host = key_text(options.get(opts, "host") or "", errors="surrogateescape").lower()
    return host in ("localhost", "0.0.0.0", "::", "::1", own_host) or host.startswith("127.")


@contextmanager
def _self_slot(urls: list[str], opts: Mapping[str, Any]) -> Iterator[bool]:
    """A place among the relays to this node itself that may wait at once (half of
    `http_workers`): True when taken (or not needed), False when every place is taken.

    A relay to the node itself holds this worker thread until another one answers it: were
    every thread so waiting, none would be left to answer, and each would wait for its
    timeout. With at most half of them waiting, the rest always answer (a hop that finds no
    place answers 503 at once, and the chain unwinds)."""
    global _self_waiting
    if not any(_self_addressed(url, opts) for url in urls):
        yield True
        return
    limit = max(1, int(options.get(opts, "http_workers")) // 2)
    with _SELF_LOCK:
        taken = _self_waiting < limit
        if taken:
            _self_waiting += 1
    try:
        yield taken
    finally:
        if taken:
            with _SELF_LOCK:
                _self_waiting -= 1


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, (str, bytes))
                             and key_text(value, errors="surrogateescape").lower() == "true")


class RelayDevice(Device):
    """Relays messages to peers over HTTP (`dev_relay`)."""

    name = "relay@1.0"

    def device_info(self, base: Any = None, opts: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        return {"exports": ["call", "cast", "request"]}

    def call(self, m1: Mapping[str, Any], m2: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """Send the target to its peer and return the answer.

        Raises:
            BadMessage: no path to relay to, or the target is not a message.
            Forbidden: `commit-request` is asked and `relay_allow_commit_request` is not true.
            Unauthorized: signing is asked and the node has no wallet.
            InvalidSignature: the message to send carries a commitment that does not verify.
        """
        target = ensure_loaded(find_target(m1, m2), opts)
        if not isinstance(target, Mapping):
            raise BadMessage("relay@1.0 call: the target to relay is not a message")
        path = _first([(m1, "path", False), (target, "path", True), (m2, "relay-path", False),
                       (m1, "relay-path", False)], opts)
        if path is ABSENT:
            raise BadMessage("relay@1.0 call: no path to relay to (give relay-path)")
        device = _first([(m1, "relay-device", False), (target, "relay-device", True),
                         (m2, "relay-device", False)], opts)
        peer = _first([(m1, "peer", False), (target, "peer", True), (m2, "peer", False)], opts)
        method = _first([(m1, "method", False), (target, "method", True), (m2, "relay-method", False),
                         (m1, "relay-method", False), (m2, "method", False)], opts)
        body = _first([(m1, "body", False), (target, "body", True), (m2, "relay-body", False),
                       (m1, "relay-body", False), (m2, "body", False)], opts)
        sign = _first([(target, "commit-request", True), (m2, "relay-commit-request", False),
                       (m1, "relay-commit-request", False), (m2, "commit-request", False),
                       (m1, "commit-request", False)], opts)
        method_text = "GET" if method is ABSENT else key_text(method, errors="surrogateescape")
        outbound: dict[str, Any] = dict(target)
        if body is not ABSENT:
            outbound["body"] = body
        outbound["method"] = method_text
        outbound["path"] = path
        if device is ABSENT:
            outbound.pop("device", None)
        else:
            outbound["device"] = device
        if sign is not ABSENT and _truthy(sign):
            if opts.get("relay_allow_commit_request") is not True:
                raise Forbidden("relay@1.0: commit-request is not allowed on this node "
                                "(relay_allow_commit_request is not true)")
            wallet = opts.get("priv_wallet")
            if wallet is None:
                raise Unauthorized("relay@1.0: commit-request needs a node wallet (priv_wallet)")
            outbound = commit(outbound, wallet)
        try:
            verify(outbound)
        except InvalidSignature as exc:
            raise InvalidSignature("relay@1.0: the message to relay does not verify") from exc
        hops = hops_of(opts) + 1
        limit = options.get(opts, "relay_max_hops")
        if hops > int(limit):
            # A chain of relays (through this node to itself, or a routing loop between nodes):
            # each hop holds a worker thread until the next answers, so it ends here.
            return Result("error", {"status": LOOP_DETECTED, "body": (
                f"relay@1.0: this request came through {hops - 1} relays ({HOPS_KEY}); relaying it again "
                f"would exceed relay_max_hops ({limit}): a relay loop?").encode()})
        outbound[HOPS_KEY] = str(hops).encode()  # after signing: not part of what a signature covers
        http_client = _plain("http-client", target, opts)
        if http_client is ABSENT:
            http_client = _relay_opts(m1, opts).get("http_client", opts.get("relay_http_client",
                                                                             DEFAULT_RELAY_HTTP_CLIENT))
        http_opts = {**opts, **_relay_opts(m1, opts), "http_client": key_text(http_client, errors="surrogateescape"),
                     "http_only_result": False}
        relay_route = _plain("relay-route", m1, opts)
        if peer is not ABSENT:
            urls = [key_text(peer, errors="surrogateescape"), *_fallbacks(m1, opts)]
        else:
            urls = [key_text(path, errors="surrogateescape")]
        with _self_slot(urls, opts) as slot:
            if not slot:
                return Result("error", {"status": 503, "body": (
                    b"relay@1.0: as many relays to this node itself as may wait at once (half of http_workers) "
                    b"are waiting already: relaying to itself now could leave no thread to answer")})
            return self._send(m1, relay_route, peer, outbound, method_text, path, http_opts, opts)

    def _send(self, m1: Mapping[str, Any], relay_route: Any, peer: Any, outbound: dict[str, Any], method_text: str,
              path: Any, http_opts: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """Send `outbound` where `call` decided, and return the answer (see `call`)."""
        if isinstance(relay_route, Mapping):
            result = client.request_routed(outbound, {**http_opts, "routes": [relay_route]})
        elif peer is ABSENT:
            result = client.request_routed(outbound, http_opts)
        else:
            peer_text, path_text = key_text(peer, errors="surrogateescape"), key_text(path, errors="surrogateescape")
            result = client.request(method_text, peer_text, outbound, http_opts, path=path_text)
            for fallback in _fallbacks(m1, opts):  # peers to try while the last one cannot be reached
                if not client.unreached(result):
                    break
                result = client.request(method_text, fallback, outbound, http_opts, path=path_text)
        if result.status == "ok" and isinstance(result.value, Mapping):
            return Result("ok", {k: v for k, v in result.value.items() if k != "set-cookie"})
        return result

    def cast(self, m1: Mapping[str, Any], m2: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """Run `call` on a background thread and answer `OK` at once; its outcome is only logged."""
        snapshot = dict(opts)

        def run() -> None:
            try:
                result = self.call(m1, m2, snapshot)
                log.debug("relay@1.0 cast finished: %s", result.status)
            except Exception:  # a background relay has no caller to report to
                log.warning("relay@1.0 cast failed", exc_info=True)

        threading.Thread(target=run, name="relay-cast", daemon=True).start()
        return Result("ok", b"OK")

    def request(self, m1: Mapping[str, Any], m2: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The `request` hook: replace the inbound request with a `call` that relays it whole."""
        original = _read("request", m2, opts)
        return Result("ok", {
            "body": [
                {"device": "relay@1.0"},
                {"path": "call", "target": "body", "body": None if original is ABSENT else original},
            ],
        })
