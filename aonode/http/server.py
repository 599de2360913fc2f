"""The node as an ASGI application (`hb_http_server`, resolution-paths-cache-node.md §10).

    app = create_app(opts)          # any ASGI server runs it; `aonode serve` uses uvicorn

Every HTTP request takes the same path:

    bytes --_inbound--> singleton --core.node.handle--> result --_outbound--> signed reply

Resolution is synchronous CPU (and store) work, so it runs on a thread pool of
`http_workers` threads; the event loop keeps accepting, reading bodies, and answering
`OPTIONS` and `/metrics` meanwhile. Routes the app answers itself, before any resolution:

    OPTIONS *         204 with permissive CORS headers (§10.2)
    GET /metrics      Prometheus metrics (`aonode.http.metrics`)
    GET /             302 to `default_request` (to `/~meta@1.0/info` when that names a device
                      this node cannot load)

Limits, each an option: `http_max_body` bytes of body (default 100 MiB; larger is 413) and
`http_max_header_size` bytes of header block (default 64 KiB; larger is 431). The ASGI
server enforces its own header limit too (`aonode serve` sets uvicorn's to the same value).
Any fault in a request becomes a reply with a status and a message; none stops the server.
A request whose path does not parse or is empty (`/?a=1`, `//`) is refused with a 400 before
anything is stored; headers that manage the connection are not keys of the request.

`store_all_signed` (default true): a signed request whose signature verified is written to
the message cache, so it can be read back by its ID. The reference writes every signed request,
verified or not, to a separate `cache-http` store; aonode writes verified ones to the node's
own store (docs/compat.md).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aonode.codecs import httpsig
from aonode.core import authority, events, hooks, hyperpath, options
from aonode.core.devices import DeviceNotLoadable, load_device
from aonode.core.names import host_name, names_message
from aonode.core.node import NodeMessage, handle
from aonode.core.resolver import ensure_loaded, resolve
from aonode.crypto import Wallet
from aonode.errors import AOError, BadMessage, EncodeError, NotFound
from aonode.http import _inbound, _node_totals, _outbound
from aonode.http.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from aonode.http.metrics import METRICS_PATH, Metrics
from aonode.message import Link, Message
from aonode.store import MessageCache, Store, open_store

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_HEADER_SIZE",
    "DEFAULT_WORKERS",
    "NodeApp",
    "create_app",
]

Scope = MutableMapping[str, Any]

# Messages nest as deep as the computation that made them: a push between two processes
# answers with one `resulted-in` level per delivered message, and encoding, hashing and
# storing walk them recursively. Python's default limits (1000 frames, the platform's thread
# stack) stop at about a hundred levels; these allow thousands.
RECURSION_LIMIT = 50_000
THREAD_STACK_BYTES = 256 * 1024 * 1024


def _allow_deep_messages() -> None:
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    if threading.stack_size() < THREAD_STACK_BYTES:
        threading.stack_size(THREAD_STACK_BYTES)  # threads started from now on (the workers)
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_MAX_BODY: int = options.DEFAULTS["http_max_body"]
DEFAULT_MAX_HEADER_SIZE: int = options.DEFAULTS["http_max_header_size"]
DEFAULT_WORKERS: int = options.DEFAULTS["http_workers"]
# Methods outside this set are counted as OTHER, so clients cannot create metric series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
_PREFLIGHT = {
    "access-control-allow-origin": b"*",
    "access-control-allow-headers": b"*",
    "access-control-allow-methods": b"GET, POST, PUT, DELETE, OPTIONS, PATCH",
}
_FALLBACK_INDEX = "/~meta@1.0/info"
_HOP_BY_HOP = httpsig.HOP_BY_HOP - {"content-length"}
_DEVICE_IN_PATH = re.compile(r"~([^/&?~]+)")

log = logging.getLogger("aonode.http")


# Command-line clients that read a reply as text: a bodiless message gets its text index.
_TEXT_CLIENTS = re.compile(r"^(curl|wget|httpie|xh)/", re.IGNORECASE)
_UI_INDEX: Mapping[str, Any] = options.DEFAULTS["default_index"]
# The device of the default index (the web console): it also serves the text index (`format`)
# and the browsers' error pages (`404`, `500`). Named by the default options, not imported: the
# HTTP layer reaches devices through the registry only.
_UI_DEVICE = _UI_INDEX["device"]
# An error page when the console has none: `{{error}}` and `{{status}}` are filled in.
_BARE_ERROR_PAGE = b"<pre>{{error}}</pre>"


def client_kind(headers: Mapping[str, bytes]) -> str:
    """`browser` (its `accept` names text/html), `text` (curl, wget, HTTPie, or `accept` names
    text/plain) or `data` (every other client, HyperBEAM's and aoconnect's included).

    Browsers get HTML: the message viewer as the index page of a bodiless message, and the
    404/500 pages for errors. Text clients get a bodiless message as indented text. Data
    clients get the message as it is: what they asked for is what they parse."""
    accept = headers.get("accept", b"").decode("latin-1").lower()
    if "text/html" in accept:
        return "browser"
    agent = headers.get("user-agent", b"").decode("latin-1")
    if "text/plain" in accept or _TEXT_CLIENTS.match(agent):
        return "text"
    return "data"


class _NodeCollector:
    """Prometheus series the dashboard reads besides the HTTP ones: the system load and the
    node-wide event counters (`aonode.core.events`; executions are `topic="process",event="executed"`)."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        load = GaugeMetricFamily("aonode_system_load1", "The system's load average over one minute.")
        try:
            load.add_metric([], os.getloadavg()[0])
        except OSError:  # not available on this platform
            pass
        yield load
        counted = CounterMetricFamily("aonode_events", "Node-wide events by topic and name.",
                                      labels=["topic", "event"])
        for topic, names in sorted(events.counters().items()):
            for name, n in sorted(names.items()):
                counted.add_metric([topic, name], n)
        yield counted


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _plain(status: int, text: str) -> _outbound.Response:
    headers = [(k.encode(), v) for k, v in _outbound.CORS_HEADERS.items()]
    return status, [*headers, (b"content-type", b"text/plain; charset=utf-8")], text.encode() + b"\n"


def _end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's headers without those that manage this one connection (`connection`,
    `keep-alive`, `transfer-encoding`, ...: RFC 9110 §7.6.1), unless a signature covers them.
    They are not part of the message: kept, they would be echoed into results, and a reply
    can only carry them in its body (`httpsig.HOP_BY_HOP`). `content-length` is left to
    `http_inbound_filter_keys`, as in the reference."""
    signed = b"".join(v for k, v in headers if k.lower() == b"signature-input")
    return [(k, v) for k, v in headers
            if k.lower().decode("latin-1") not in _HOP_BY_HOP or b'"' + k.lower() + b'"' in signed]


def _accept(request: Mapping[str, Any], node: Mapping[str, Any]) -> None:
    """Refuse, before anything is stored, a request whose path cannot be resolved: one that
    does not parse (a malformed segment, a bad scope, a signed scoped key) or that names
    nothing at all (`/?a=1`, `//`, `path: /`: the reference answers 500 "Attempted to resolve
    an empty message sequence."). A `request` hook may still route an empty path.

    Raises:
        BadMessage: the reason, as the 400's body.
    """
    steps = hyperpath.parse(request)
    if not steps and not hooks.handlers("request", node):
        raise BadMessage("The request's path is empty: there is nothing to resolve. Name a key, "
                         f"an ID or a device, as in {_FALLBACK_INDEX}.")


class NodeApp:
    """An aonode node as an ASGI 3 application. Build it with `create_app`.

    Attributes:
        node: the live node message.
        cache: the message cache over the node's store.
        metrics: the node's Prometheus metrics.
        wallet: the node's wallet.
    """

    def __init__(self, opts: Mapping[str, Any]) -> None:
        wallet = opts.get("priv_wallet")
        if not isinstance(wallet, Wallet):
            wallet = Wallet.generate()
        store = opts.get("store")
        self._owns_store = not isinstance(store, Store)
        self._store: Store = store if isinstance(store, Store) else open_store(options.get(opts, "store"))
        node: dict[str, Any] = {**opts, "priv_wallet": wallet}
        node.setdefault("force_signed", True)  # a server signs what it says (§10.1 set_default_opts)
        # The reference's default request hook needs auth-hook@1.0, which aonode does not have:
        # a node runs only the hooks its configuration names.
        node.setdefault("on", {})
        self.wallet = wallet
        self.node = NodeMessage(node)
        self.cache = MessageCache(self._store)
        self.metrics = Metrics()
        self.metrics.registry.register(_NodeCollector())
        self._started = time.time()
        # Several worker processes (`--workers`) share the node's totals through files.
        self.totals = _node_totals.Totals(
            Path(str(options.get(node, "data_dir"))) / _node_totals.FOLDER, self._snapshot,
            publish=int(options.get(node, "workers") or 1) > 1)
        self.totals.start()
        _allow_deep_messages()
        self._executor = ThreadPoolExecutor(
            max_workers=int(options.get(node, "http_workers", DEFAULT_WORKERS)), thread_name_prefix="aonode-http",
        )
        self._index_targets: dict[str, str] = {}
        self._closed = False
        self._run_start_hook()

    def __repr__(self) -> str:
        return f"NodeApp(address={self.wallet.address!r})"

    # --- life cycle -------------------------------------------------------------------

    def _run_start_hook(self) -> None:
        current = self.node.current()
        if not hooks.handlers("start", current):
            return
        result = hooks.on("start", {"body": current}, {**current, "cache": self.cache})
        body = result.value.get("body") if isinstance(result.value, Mapping) else None
        if result.status != "ok" or not isinstance(body, Mapping):
            raise AOError(f"the start hook did not return a node message (status {result.status})")
        self.node.replace(body)

    def close(self) -> None:
        """Finish the requests being resolved, stop the node's background tasks (`cron@1.0`),
        then close the store (if the app opened it)."""
        if self._closed:
            return
        self._closed = True
        self.totals.stop()
        self._executor.shutdown(wait=True)
        self.node.close()
        if self._owns_store:
            self._store.close()

    # --- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets are not part of the protocol
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = str(scope["method"]).upper()
        raw_path = scope.get("raw_path") or str(scope["path"]).encode("utf-8")
        query = scope.get("query_string") or b""
        target = raw_path + (b"?" + query if query else b"")
        self.metrics.in_flight.inc()
        status = 499  # the client went away before a reply
        try:
            response = await self._answer(method, raw_path, query, target, scope, receive)
            if response is not None:
                status = response[0]
                await self._send(send, response, head=method == "HEAD")
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            self.metrics.observe(method if method in _METHODS else "OTHER", status, seconds)
            log.info(json.dumps({
                "event": "request", "method": method, "path": target[:512].decode("latin-1"),
                "status": status, "ms": round(seconds * 1000, 2),
            }))

    async def _answer(self, method: str, raw_path: bytes, query: bytes, target: bytes, scope: Scope,
                      receive: Receive) -> _outbound.Response | None:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        node = self.node.current()
        max_header = int(options.get(node, "http_max_header_size", DEFAULT_MAX_HEADER_SIZE))
        if sum(len(k) + len(v) + 4 for k, v in headers) + len(target) > max_header:
            return _plain(431, f"Request headers are larger than {max_header} bytes.")
        if method == "OPTIONS":
            return 204, [(k.encode(), v) for k, v in _PREFLIGHT.items()], b""
        if raw_path == METRICS_PATH.encode() and not query and method in ("GET", "HEAD"):
            page = self.metrics.render() + _node_totals.render(self.totals.snapshots())
            return 200, [(b"content-type", METRICS_CONTENT_TYPE.encode())], page
        if raw_path == b"/" and not query and not await self._named_host(headers, node):
            return 302, [(b"location", self._index_target(node).encode()),
                         *((k.encode(), v) for k, v in _outbound.CORS_HEADERS.items())], b""
        max_body = int(options.get(node, "http_max_body", DEFAULT_MAX_BODY))
        try:
            body = await self._read_body(headers, receive, max_body)
        except _TooLarge:
            return _plain(413, f"Request body is larger than {max_body} bytes.")
        except _Disconnected:
            return None
        except ValueError:
            return _plain(400, "Bad content-length header.")
        client = scope.get("client")
        peer = str(client[0]) if client else None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._process, method, target, headers, body, peer)

    @staticmethod
    async def _read_body(headers: list[tuple[bytes, bytes]], receive: Receive, limit: int) -> bytes:
        for name, value in headers:
            if name.lower() == b"content-length" and int(value) > limit:
                raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                raise _Disconnected
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not event.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _send(send: Send, response: _outbound.Response, *, head: bool) -> None:
        status, headers, body = response
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    def _snapshot(self) -> dict[str, float]:
        """This worker's numbers for the node's totals (`_node_totals`)."""
        def total(metric: Any, suffix: str) -> float:
            return float(sum(sample.value for family in metric.collect() for sample in family.samples
                             if sample.name.endswith(suffix)))
        return {
            "pid": float(os.getpid()),
            "started": self._started,
            "requests": total(self.metrics.requests, "_total"),
            "executions": float(events.counters().get("process", {}).get("executed", 0)),
            "inflight": total(self.metrics.in_flight, "in_flight"),
        }

    # --- resolution (on a worker thread) --------------------------------------------

    async def _named_host(self, headers: list[tuple[bytes, bytes]], node: Mapping[str, Any]) -> bool:
        """Whether the `host` header names a message (name@1.0's request hook serves `/` then).
        Resolving the name may read the store or ask a resolver: on a worker thread."""
        if not node.get("name_resolvers"):
            return False
        host = next((v for k, v in headers if k.lower() == b"host"), None)
        if host_name(host) is None:
            return False
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, names_message, host, {**node, "cache": self.cache})

    def _index_target(self, node: Mapping[str, Any]) -> str:
        wanted = str(options.get(node, "default_request") or _FALLBACK_INDEX)
        found = self._index_targets.get(wanted)
        if found is None:
            device = _DEVICE_IN_PATH.search(wanted)
            found = wanted
            if device is not None:
                try:
                    load_device(device.group(1), node)
                except DeviceNotLoadable:
                    found = _FALLBACK_INDEX
            self._index_targets[wanted] = found
        return found

    def _process(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
                 peer: str | None) -> _outbound.Response:
        request: Mapping[str, Any] = {}
        try:
            self.node.catch_up(self._store)  # what an operator changed through another worker
            node = self.node.current()
            inbound = _inbound.to_singleton(method, target, _end_to_end(headers), body, node, peer=peer)
            request = inbound.singleton
            _accept(request, node)
            if inbound.signed is not None and inbound.signers and options.get(node, "store_all_signed"):
                self._store_signed(inbound.signed)
            runtime = {"cache": self.cache, authority.VERIFIED_REQUEST: inbound.signed,
                       "priv_metrics": self.metrics}
            message = handle(inbound.singleton, self.node, runtime)
        except AOError as exc:
            message = _outbound.error_message(exc)
        except RecursionError as exc:  # its traceback alone would be ~150,000 log lines
            log.error("request %s %r failed: %s", method, target[:200], exc)
            message = _outbound.error_message(exc)
        except Exception as exc:  # a bug in a device must cost one request, not the node
            log.exception("request %s %r failed", method, target[:200])
            message = _outbound.error_message(exc)
        return self._encode(message, request, headers)

    def _index_for(self, node: Mapping[str, Any], kind: str) -> _outbound.IndexFn | None:
        """The index of a bodiless reply for this kind of client (`generate_index`, §10.4).

        With the default index (`hyperbuddy@1.0`'s UI), a browser gets the message viewer, a
        text client the message as text (`format`), and a data client only an index its
        message's own device gives (no UI page in what it parses). An index the operator
        configured (`default_index`, `HB_INDEX`) is given to every client, as in the reference."""
        if not options.get(node, "generate_index"):
            return None
        configured = options.get(node, "default_index")
        if not _is_ui_index(configured):
            chosen: Any = configured
        elif kind == "browser":
            chosen = configured
        elif kind == "text":
            chosen = {"device": _UI_DEVICE, "path": "format"}
        else:
            chosen = None
        return lambda message: self._index(message, chosen)

    def _html_errors(self, request: Mapping[str, Any], raw: Mapping[str, bytes], default: str) -> bool:
        """Whether an error reply goes out as an HTML page: httpsig replies without a bundle (§10.4)."""
        bundle = _text(request.get("accept-bundle", raw.get("accept-bundle", b"false"))).strip().lower() == "true"
        return not bundle and _outbound.accept_to_codec(request, None, default) == httpsig.NAME

    def _error_page(self, status: int, message: Mapping[str, Any], request: Mapping[str, Any]) -> _outbound.Response:
        """The HTML page a browser gets for a 404 or any 5xx: the console's `404` or `500` page,
        with the error text (escaped) in place of `{{error}}` and the status in place of `{{status}}`."""
        template = self._console_page("404" if status == 404 else "500") or _BARE_ERROR_PAGE
        error = html.escape(_error_text(message, request))
        page = template.decode("utf-8").replace("{{error}}", error).replace("{{status}}", str(status)).encode("utf-8")
        headers = [(k.encode(), v) for k, v in _outbound.CORS_HEADERS.items()]
        return status, [*headers, (b"content-type", b"text/html; charset=utf-8")], page

    def _console_page(self, key: str) -> bytes | None:
        """The body the console device (`_UI_DEVICE`) serves for `key`, or None."""
        opts = {**self.node.current(), "cache": self.cache, "hashpath": "ignore",
                "cache_control": ["no-cache", "no-store"]}
        try:
            result = resolve({"device": _UI_DEVICE}, {"path": key}, opts)
        except Exception:  # a page is optional: any failure means the bare page
            return None
        body = result.value.get("body") if result.ok and isinstance(result.value, Mapping) else None
        return body if isinstance(body, bytes) else None

    def _store_signed(self, signed: Message) -> None:
        try:
            self.cache.write(signed)
        except AOError as exc:
            log.warning("could not store a signed request: %s", exc)

    def _link_loader(self, node: Mapping[str, Any]) -> Callable[[Link], Any]:
        """Reads a link of a bundled JSON reply from the node's stores (json@1.0 inlines links in
        a bundle, issue 18 item 4); a link the node lacks stays a link."""
        opts = {**node, "cache": self.cache, "hashpath": "ignore"}

        def load(link: Link) -> Any:
            try:
                return ensure_loaded(link, opts)
            except NotFound:
                return link
        return load

    def _index(self, message: Message, default_index: Any = None) -> Message | None:
        opts = {**self.node.current(), "cache": self.cache, "hashpath": "ignore",
                "cache_control": ["no-cache", "no-store"], "default_index": default_index}
        try:
            result = resolve(message, {"path": "index"}, opts)
        except Exception:  # an index page is optional: any failure means "no page"
            return None
        return result.value if result.ok and isinstance(result.value, dict) else None

    def _encode(self, message: Message, request: Mapping[str, Any], headers: list[tuple[bytes, bytes]]
                ) -> _outbound.Response:
        node = self.node.current()
        # The live node message's wallet: greenzone@1.0 `become` makes the node sign as the zone.
        signer = node.get("priv_wallet")
        wallet = (signer if isinstance(signer, Wallet) else self.wallet) if options.get(node, "force_signed") else None
        raw = {k.decode("latin-1").lower(): v for k, v in headers}
        kind = client_kind(raw)
        default = str(options.get(node, "default_codec") or _inbound.DEFAULT_CODEC)
        index = self._index_for(node, kind)
        status = _reply_status(message)
        if kind == "browser" and (status == 404 or status >= 500) and self._html_errors(request, raw, default):
            return self._error_page(status, message, request)
        try:
            return _outbound.encode_reply(message, request, wallet=wallet, index=index, request_headers=raw,
                                          default_codec=default, load=self._link_loader(node))
        except Exception as exc:
            log.warning("cannot encode a reply: %s", exc)
            problem = EncodeError(f"The result cannot be sent as HTTP: {exc}")
            try:
                return _outbound.encode_reply(_outbound.error_message(problem), {}, wallet=wallet,
                                              request_headers=raw)
            except Exception:
                return _plain(500, problem.message)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _reply_status(message: Any) -> int:
    """The HTTP status a result message will be sent with (500 for one that names none usable)."""
    raw = message.get("status", 200) if isinstance(message, Mapping) else 200
    try:
        status = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(_text(raw))
    except ValueError:
        return 500
    return status if 100 <= status <= 599 else 500


def _is_ui_index(value: Any) -> bool:
    return isinstance(value, Mapping) and dict(value) == dict(_UI_INDEX)


def _error_text(message: Mapping[str, Any], request: Mapping[str, Any]) -> str:
    explained = _outbound.explain(dict(message), request)
    body = explained.get("body")
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return str(body if body is not None else explained.get("status"))


def create_app(opts: Mapping[str, Any]) -> NodeApp:
    """Build a node from its options.

    Args:
        opts: the node message (`aonode.core.options`). `priv_wallet` is the node's `Wallet`
            (a new one when missing); `store` is a `Store`, or a store spec (default: LMDB
            under `data_dir`), which the app then opens and closes at shutdown.

    Raises:
        AOError: the store cannot be opened, or the `start` hook fails.
        ValueError: the store spec is malformed.
    """
    return NodeApp(opts)
