"""The outbound HTTP client: send a message to another node, get its answer as a message
(`hb_http:request` and `hb_http_client`; node-services.md §14.1-14.2,
resolution-paths-cache-node.md §10.6).

    request(method, node, message_or_path, opts) -> Result

1. Preparation (§14.1): private keys are dropped; `accept-bundle: true` is added unless the
   message says otherwise; `ao-peer-port` is the message's, else option `port_external`,
   else `port`. The message is encoded by its `codec-device` (default `httpsig@1.0`, with
   nested messages inline as the reference's `bundle => true`; `ans104@1.0` sends a data
   item; any other codec sends the other keys as headers and `body` raw). With `sign=True`
   an unsigned message is first committed with the `priv_wallet` option.
2. Transport (§14.2): one shared `httpx.Client` (connection pooling, keep-alive for
   `http_keepalive` ms). `http_connect_timeout` (ms) bounds connecting and
   `http_request_send_timeout` (ms) bounds the whole exchange, body included: it is the
   timeout of every single read and write, and the total is checked between reads, so a
   peer that stalls or drips bytes holds the caller for at most twice that long. Redirects are followed only when the
   `http_client` option is `httpc` (the reference's httpc follows them, gun does not).
3. Response (§14.1): header names are lower-cased; hop-by-hop headers are dropped;
   `set-cookie` lines go to `priv/set-cookie`. With `http_only_result` (default true) and
   an `ao-result: K` header, only the value of K is returned. Otherwise the response is
   decoded by its `codec-device` header (`ans104@1.0`, falling back to `httpsig@1.0`),
   with an integer `status`. A response that carries commitments must verify (over its
   committed keys only: headers a proxy or server adds do not count, §10.2).
4. Status (§14.1): 201 → `created`, < 400 → `ok`, < 500 → `error`, else `failure`.

Failures of the network never raise: a timeout gives `Result("error", {"status": 504, ...})`,
a refused or broken connection `Result("error", {"status": 502, ...})` (no connection at all
is marked `priv/unreached`: see `unreached`), a response whose status is not 100-599 a 502, a response whose
signature does not verify `Result("error", {"status": 502, ...})`; each `body` says what
happened and to whom.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from aonode.codecs import ans104, commit, decode, encode, httpsig, verify, with_only_committed
from aonode.core import options, routes
from aonode.core.stored_routes import stored_table
from aonode.core.terms import Result
from aonode.errors import AOError, InvalidSignature, Unauthorized
from aonode.message import Message, is_private, normalize_key
from aonode.net import _multi
from aonode.text import key_text

__all__ = [
    "BAD_GATEWAY",
    "GATEWAY_TIMEOUT",
    "RouteError",
    "close",
    "find_route",
    "get",
    "load_routes",
    "post",
    "request",
    "request_routed",
    "shared_client",
    "split_url",
    "status_to_result",
    "unreached",
]

log = logging.getLogger(__name__)

# The statuses of a failed exchange, as a proxy answers them (RFC 9110 §15.6.3, §15.6.5).
BAD_GATEWAY = 502
GATEWAY_TIMEOUT = 504

# Used when the options carry no value at all; the hb_opts defaults (§15) normally win.
_CONNECT_TIMEOUT_MS = 5000
_REQUEST_TIMEOUT_MS = 60000
_KEEPALIVE_MS = 120000
# As many pooled connections as a busy relay or router needs to a handful of peers.
_MAX_CONNECTIONS = 100
_MAX_KEEPALIVE = 20

# Transport-level headers: they describe one hop, not the message.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-encoding", "upgrade"})
# httpx's default request headers that HyperBEAM's clients do not send: they would arrive at a
# peer as message keys.
_DROPPED_DEFAULTS = ("user-agent", "accept-encoding", "connection", "accept")

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _ms(opts: Mapping[str, Any], key: str, fallback: int) -> float:
    value = options.get(opts, key, fallback)
    try:
        return max(float(value), 1.0) / 1000.0
    except (TypeError, ValueError):
        return fallback / 1000.0


def shared_client(opts: Mapping[str, Any] | None = None) -> httpx.Client:
    """The process-wide pooled client, made on first use (keep-alive from `http_keepalive`).

    Timeouts are set per request, so one client serves callers with different options.
    """
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            keepalive = _ms(opts or {}, "http_keepalive", _KEEPALIVE_MS)
            client = httpx.Client(
                limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_KEEPALIVE,
                                    keepalive_expiry=keepalive),
                trust_env=False,
            )
            for name in _DROPPED_DEFAULTS:
                client.headers.pop(name, None)
            _client = client
        return _client


def close() -> None:
    """Close the shared client and its pooled connections (the next request opens a new one)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def status_to_result(status: int) -> str:
    """The Result status of an HTTP status (`response_status_to_atom`, §14.1)."""
    if status == 201:
        return "created"
    if status < 400:
        return "ok"
    if status < 500:
        return "error"
    return "failure"


def _fail(status: int, text: str) -> Result:
    return Result("error", {"status": status, "body": text.encode()})


def _unreached(status: int, text: str) -> Result:
    """A failure before any byte reached the peer (no connection): safe to try another node."""
    return Result("error", {"status": status, "body": text.encode(), "priv": {"unreached": True}})


def unreached(result: Result) -> bool:
    """Whether `result` is a failure to connect at all: the peer never saw the request, so
    sending it to another node cannot apply it twice."""
    value = result.value
    priv = value.get("priv") if isinstance(value, Mapping) else None
    return result.status == "error" and isinstance(priv, Mapping) and priv.get("unreached") is True


def split_url(url: str) -> tuple[str, str]:
    """Split an absolute URL into the node (`scheme://host:port`) and the path with its query.

    A peer without a scheme is `https` when its port is 443, else `http` (`hb_http_client`,
    §14.2). A URL without a port uses its scheme's port.
    """
    if "://" not in url:
        port = url.rsplit(":", 1)[1].split("/", 1)[0] if ":" in url else ""
        url = ("https://" if port == "443" else "http://") + url
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return f"{parts.scheme}://{parts.netloc}", path


def _normalize_path(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _prepare(message: Mapping[str, Any], opts: Mapping[str, Any]) -> Message:
    """§14.1 preparation: keys normalised, private keys dropped, `accept-bundle` and `ao-peer-port`."""
    msg: dict[str, Any] = {normalize_key(k): v for k, v in message.items()}
    msg = {k: v for k, v in msg.items() if not is_private(k)}
    msg.setdefault("accept-bundle", True)
    if "ao-peer-port" not in msg:
        port = options.get(opts, "port_external", None)
        if port is None:
            port = options.get(opts, "port", None)
        if port is not None:
            msg["ao-peer-port"] = port
    return msg


def _encode(message: Message, codec: str) -> tuple[dict[str, bytes], bytes]:
    """The headers and body of a prepared message in `codec`.

    Raises:
        EncodeError: the message holds a value the codec cannot express.
    """
    if codec == ans104.NAME:
        body = encode(with_only_committed(message) if message.get("commitments") else message, ans104.NAME)
        accept_bundle = message.get("accept-bundle", True)
        headers = {
            "codec-device": b"ans104@1.0",
            "content-type": b"application/ans104",
            "accept-bundle": b"true" if accept_bundle in (True, b"true", "true") else b"false",
        }
        return headers, body if isinstance(body, bytes) else b""
    if codec == httpsig.NAME:
        wire = encode(message, httpsig.NAME, bundle=True)
        body = wire.pop("body", b"")
        return wire, body
    headers = {}
    for key, value in message.items():
        if key == "body":
            continue
        headers[key] = value if isinstance(value, bytes) else str(value).encode()
    raw = message.get("body", b"")
    return headers, raw if isinstance(raw, bytes) else str(raw).encode()


def _headers_of(response: httpx.Response) -> tuple[dict[str, bytes], list[bytes]]:
    headers: dict[str, bytes] = {}
    cookies: list[bytes] = []
    for raw_name, value in response.headers.raw:
        name = raw_name.decode("latin-1").lower()
        if name == "set-cookie":
            cookies.append(value)
        elif name not in _HOP_BY_HOP:
            headers[name] = headers[name] + b", " + value if name in headers else value
    return headers, cookies


def _decode(status: int, headers: dict[str, bytes], body: bytes) -> Message:
    """The response as a message (`outbound_result_to_message`), with an integer `status`.

    A response that is not a valid `httpsig@1.0` message (any web page) is kept as its
    headers plus `body`.
    """
    if headers.get("codec-device") == b"ans104@1.0":
        try:
            item = decode(body, ans104.NAME)
            if isinstance(item, dict):
                return {**item, "status": status}
        except AOError:
            pass
    if b'"content-length"' not in headers.get("signature-input", b""):
        # It describes this HTTP body; kept as a key it would mislead whoever re-encodes the message.
        headers = {k: v for k, v in headers.items() if k != "content-length"}
    wire = {**headers, "status": str(status).encode()}
    if body:
        wire["body"] = body
    try:
        found = decode(wire, httpsig.NAME)
    except AOError:
        found = None
    msg: dict[str, Any] = dict(found) if isinstance(found, dict) else {k: v for k, v in wire.items()}
    msg["status"] = status
    return msg


def _exchange(client: httpx.Client, method: str, url: str, headers: Mapping[str, bytes], body: bytes,
              opts: Mapping[str, Any]) -> tuple[int, dict[str, bytes], list[bytes], bytes] | Result:
    connect = _ms(opts, "http_connect_timeout", _CONNECT_TIMEOUT_MS)
    deadline = _ms(opts, "http_request_send_timeout", _REQUEST_TIMEOUT_MS)
    timeout = httpx.Timeout(deadline, connect=min(connect, deadline))
    started = time.monotonic()
    follow = key_text(options.get(opts, "http_client", "gun"), errors="surrogateescape") == "httpc"
    try:
        raw = [(k.encode("utf-8", "surrogateescape"), v) for k, v in headers.items()]
        req = client.build_request(method, url, headers=raw, content=body or None, timeout=timeout)
        response = client.send(req, stream=True, follow_redirects=follow)
        try:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() - started > deadline:
                    raise httpx.ReadTimeout("the whole response took longer than http_request_send_timeout")
        finally:
            response.close()
    except httpx.ConnectTimeout as exc:
        return _unreached(GATEWAY_TIMEOUT, f"{method} {url}: no connection after "
                                           f"{time.monotonic() - started:.3f}s ({exc})")
    except httpx.ConnectError as exc:
        return _unreached(BAD_GATEWAY, f"{method} {url}: {type(exc).__name__}: {exc or 'connection failed'}")
    except httpx.TimeoutException as exc:
        return _fail(GATEWAY_TIMEOUT, f"{method} {url}: timed out after {time.monotonic() - started:.3f}s ({exc})")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        return _fail(BAD_GATEWAY, f"{method} {url}: the request cannot be sent: {exc}")
    except httpx.HTTPError as exc:
        return _fail(BAD_GATEWAY, f"{method} {url}: {type(exc).__name__}: {exc or 'connection failed'}")
    if not 100 <= response.status_code <= 599:
        # RFC 9110 §15: a status is 100-599. Passed on, 999 would be this node's own status (a 500).
        return _fail(BAD_GATEWAY, f"{method} {url}: the peer answered an invalid HTTP status "
                                  f"{response.status_code} (RFC 9110 allows 100-599)")
    found, cookies = _headers_of(response)
    return response.status_code, found, cookies, b"".join(chunks)


def request(
    method: str,
    node: str,
    message_or_path: Mapping[str, Any] | str | bytes | None = None,
    opts: Mapping[str, Any] | None = None,
    *,
    path: str | bytes | None = None,
    sign: bool = False,
    client: httpx.Client | None = None,
) -> Result:
    """Send a message to `node` and return its answer (`hb_http:request/5`).

    Args:
        method: the HTTP method (`GET`, `POST`, ...).
        node: the peer, `http://host:port` (a bare `host:port` works too; see `split_url`).
        message_or_path: the message to send, or just a path (sent as `{"path": path}`).
        opts: node options: `http_connect_timeout`, `http_request_send_timeout`,
            `http_keepalive`, `http_only_result`, `http_client`, `port`/`port_external`,
            `priv_wallet` (for `sign`).
        path: the URL path to send to; defaults to the message's `path`, else `/`.
        sign: commit an unsigned message with `opts["priv_wallet"]` before sending.
        client: an `httpx.Client` to use instead of the shared one (tests, mocks).

    Returns:
        `Result(status, value)`: status from the HTTP status (see `status_to_result`); value
        the decoded response message (with an integer `status`) or, with `http_only_result`
        and an `ao-result` header, the value of the key it names. Network failures and
        unverifiable responses give `Result("error", {"status": 502 | 504, "body": ...})`.

    Raises:
        Unauthorized: `sign` is asked and the options hold no `priv_wallet`.
        EncodeError: the message holds a value its codec cannot express.
    """
    opts = opts if opts is not None else {}
    if message_or_path is None:
        message: Mapping[str, Any] = {}
    elif isinstance(message_or_path, (str, bytes)):
        message = {"path": key_text(message_or_path, errors="surrogateescape")}
    else:
        message = message_or_path
    if sign and not message.get("commitments"):
        wallet = opts.get("priv_wallet")
        if wallet is None:
            raise Unauthorized("cannot sign the outbound request: the options hold no priv_wallet")
        message = commit(dict(message), wallet)
    target = _normalize_path(key_text(path if path is not None else message.get("path", "/"), errors="surrogateescape"))
    prepared = _prepare(message, opts)
    codec = key_text(prepared.get("codec-device", httpsig.NAME), errors="surrogateescape")
    headers, body = _encode(prepared, codec)
    url = node.rstrip("/") + target
    if "://" not in url:
        url = "".join(split_url(url))
    started = time.monotonic()
    outcome = _exchange(client or shared_client(opts), method.upper(), url, headers, body, opts)
    took_ms = int((time.monotonic() - started) * 1000)
    if isinstance(outcome, Result):
        failed = outcome.value.get("status", BAD_GATEWAY) if isinstance(outcome.value, Mapping) else BAD_GATEWAY
        _monitor(method.upper(), target, int(failed), took_ms, opts)
        return outcome
    status, resp_headers, cookies, resp_body = outcome
    _monitor(method.upper(), target, status, took_ms, opts)
    return _response(status, resp_headers, cookies, resp_body, url, target, opts)


# Monitor reports in flight at once; more are dropped (a report is a measurement, not a duty).
_MONITOR_SLOTS = threading.BoundedSemaphore(16)


def _monitor(method: str, path: str, status: int, took_ms: int, opts: Mapping[str, Any]) -> None:
    """The HTTP monitor (§14.2): when option `http_monitor` is a message, resolve it in the
    background with `body` = a report signed by the node (`request-method`, `request-path`,
    `status-class` (`2xx`...), `duration` in ms, `path: duration`, `method: POST`, and the
    request's `http_reference` as `reference` when the route gave one). The monitor's own
    requests are not monitored."""
    monitor = opts.get("http_monitor")
    wallet = opts.get("priv_wallet")
    if not isinstance(monitor, Mapping) or wallet is None or not _MONITOR_SLOTS.acquire(blocking=False):
        return
    report: dict[str, Any] = {"request-method": method, "request-path": path, "status-class": f"{status // 100}xx",
                              "duration": took_ms, "path": "duration", "method": "POST"}
    reference = opts.get("http_reference")
    if reference is not None:
        report["reference"] = key_text(reference, errors="surrogateescape")
    quiet = {k: v for k, v in opts.items() if k not in ("http_monitor", "http_reference")}

    def run() -> None:
        from aonode.core.resolver import resolve_path

        try:
            found = resolve_path({**monitor, "body": commit(report, wallet)}, quiet)
            if not found.ok:
                log.debug("the HTTP monitor answered %s", found.status)
        except Exception:  # a background report has no caller to tell
            log.warning("the HTTP monitor failed", exc_info=True)
        finally:
            _MONITOR_SLOTS.release()

    threading.Thread(target=run, name="http-monitor", daemon=True).start()


def _response(status: int, headers: dict[str, bytes], cookies: list[bytes], body: bytes, url: str, path: str,
              opts: Mapping[str, Any]) -> Result:
    msg = _decode(status, headers, body)
    if msg.get("commitments"):
        try:
            verify(with_only_committed(msg))
        except InvalidSignature:
            return _fail(BAD_GATEWAY, f"the response from {url} carries a signature that does not verify")
        except AOError as exc:
            return _fail(BAD_GATEWAY, f"the response from {url} cannot be verified: {exc.message}")
    if cookies:
        msg["priv"] = {"set-cookie": list[Any](cookies)}
    kind = status_to_result(status)
    result_key = headers.get("ao-result")
    if result_key is not None and options.get(opts, "http_only_result", True):
        key = key_text(result_key, errors="surrogateescape")
        if key in msg:
            return Result(kind, msg[key])
        if key == "body":
            return Result(kind, b"")
        return Result("failure", f"Result key '{key}' not found in response from '{url}' for path "
                                 f"'{path}': ".encode() + body)
    return Result(kind, msg)


# Set while this thread resolves the route provider.
_loading = threading.local()


class RouteError(AOError):
    """No usable route: the route provider failed or the matched route is malformed (502)."""

    status = BAD_GATEWAY


def load_routes(opts: Mapping[str, Any]) -> Any:
    """The node's route table (§3.2 `load_routes`): the result of resolving
    `router_opts/provider` (or the older `route_provider`) when one is set, else `routes` with
    the routes POSTs the node's store keeps applied (`aonode.core.stored_routes.stored_table`).

    The provider is resolved on every call, so a routing process's latest table is used; while
    it resolves, requests it sends itself are routed by `routes` (no provider loop).

    Raises:
        RouteError: the provider does not resolve.
    """
    router_opts = options.get(opts, "router_opts", {})
    provider = router_opts.get("provider") if isinstance(router_opts, Mapping) else None
    if provider is None:
        provider = options.get(opts, "route_provider", None)
    if provider is None or getattr(_loading, "active", False):
        # A provider whose resolution sends requests of its own routes them by the static table.
        return stored_table(options.get(opts, "routes", []), opts)
    from aonode.core.resolver import ensure_loaded, resolve_path

    if isinstance(provider, (Mapping, str, bytes)):
        singleton = provider
    else:
        singleton = {"path": key_text(provider, errors="surrogateescape")}
    _loading.active = True
    try:
        found = resolve_path(singleton, {**opts, "hashpath": "ignore"})
    except AOError as exc:
        raise RouteError(f"the route provider failed: {exc.message}") from exc
    finally:
        _loading.active = False
    if not found.ok:
        raise RouteError(f"the route provider failed: {found.status}: {_shown(found.value)}")
    return ensure_loaded(found.value, opts)


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("body", value.get("reason", ""))
    if isinstance(value, bytes):
        return value[:300].decode("utf-8", "replace")
    return str(value)[:300]


def routed_to(message: Mapping[str, Any], opts: Mapping[str, Any]) -> str:
    """Where `request_routed` sends `message`, for error messages: the URI, or the URIs of a
    multirequest joined by ` and `; "no route" when the table has none for it."""
    try:
        found = find_route(message, opts)
    except RouteError:
        return "no route"
    if found is None:
        return "no route"
    if isinstance(found, routes.Target):
        return found.uri
    return " and ".join(node.uri for node in found.nodes)


def find_route(message: Mapping[str, Any], opts: Mapping[str, Any]) -> routes.Target | routes.Multi | None:
    """Where the node's route table sends `message` (`dev_router:route/2`); see
    `aonode.core.routes.route`.

    Raises:
        RouteError: the route provider failed, or the matched route is malformed.
    """
    table = load_routes(opts)
    try:
        return routes.route(message, table)
    except ValueError as exc:
        raise RouteError(f"the route for this request is malformed: {exc}") from exc


def _node_opts(target: routes.Target) -> dict[str, Any]:
    """A route node's `opts` as option keys (`http-client` and `http_client` alike)."""
    return {options.option_key(k): v for k, v in target.opts.items()}


def _send_to(target: routes.Target, method: str, message: Mapping[str, Any], opts: Mapping[str, Any],
             sign: bool, client: httpx.Client | None) -> Result:
    node, path = split_url(target.uri)
    rest = {k: v for k, v in message.items() if k not in ("path", "host", "route-path")}
    return request(method, node, rest, {**opts, **_node_opts(target)}, path=path, sign=sign, client=client)


def _admissible(answer: Mapping[str, Any], admissible: Any, opts: Mapping[str, Any]) -> bool:
    """Resolve `admissible` (its `path`, default `is-admissible`) against `answer`: true when it
    says `true`."""
    from aonode.core.resolver import resolve

    if not isinstance(admissible, Mapping):
        return False
    path = admissible.get("path", "is-admissible")
    base = {k: v for k, v in admissible.items() if k != "path"}
    try:
        found = resolve(base, {**answer, "path": path}, {**opts, "hashpath": "ignore"})
    except AOError:
        return False
    return found.ok and (found.value is True or (isinstance(found.value, (str, bytes))
                                                 and key_text(found.value, errors="surrogateescape").lower() == "true"))


def request_routed(message: Mapping[str, Any], opts: Mapping[str, Any] | None = None, *,
                   sign: bool = False, client: httpx.Client | None = None) -> Result:
    """Send a message where the node's route table says (`hb_http:request/2`, §3.2, §14.1).

    The route is found by the message's `route-path`, else `path`
    (`aonode.core.routes.route`): an absolute `http(s)://` path goes there; a relative one to
    the URI its route gives (with that node's `opts` over `opts`; when that node cannot be
    connected to, the strategy's next choices in turn: it never saw the request); a route with several nodes
    (strategy All, or `choose` above 1) is a multirequest (`aonode.net._multi`). The method is
    the message's `method` (default `GET`); `path`, `route-path` and `host` are not sent as keys.

    Returns:
        as `request`; no matching route gives `Result("error", {"status": 502, ...})` naming
        the path, as does a failing route provider or a malformed route.

    Raises:
        Unauthorized: `sign` is asked and the options hold no `priv_wallet`.
        EncodeError: the message holds a value its codec cannot express.
    """
    opts = opts if opts is not None else {}
    method = key_text(message.get("method", "GET"), errors="surrogateescape")
    try:
        found = find_route(message, opts)
    except RouteError as exc:
        return _fail(BAD_GATEWAY, exc.message)
    if found is None:
        where = routes.target_path(message)
        return _fail(BAD_GATEWAY, f"no viable route for path '{where[:300]}': no route of the node's table "
                                  "matches it (and it is not an absolute http(s):// URL)")
    if isinstance(found, routes.Target):
        result = _send_to(found, method, message, opts, sign, client)
        for fallback in found.fallbacks:  # the strategy's next choices, while nodes cannot be reached
            if not unreached(result):
                break
            result = _send_to(fallback, method, message, opts, sign, client)
        return result
    try:
        config = _multi.settings(found.route, message, opts)
    except ValueError as exc:
        return _fail(BAD_GATEWAY, f"the route for this request is malformed: {exc}")
    outbound = _multi.strip(message)
    return _multi.run(found.nodes, config,
                      lambda target: _send_to(target, method, outbound, opts, sign, client),
                      lambda answer, admissible: _admissible(answer, admissible, opts))


def get(node: str, message_or_path: Mapping[str, Any] | str | bytes = "/", opts: Mapping[str, Any] | None = None,
        **kw: Any) -> Result:
    """`request("GET", ...)` (`hb_http:get`); keyword arguments as for `request`."""
    return request("GET", node, message_or_path, opts, **kw)


def post(node: str, message_or_path: Mapping[str, Any] | str | bytes, opts: Mapping[str, Any] | None = None,
         **kw: Any) -> Result:
    """`request("POST", ...)` (`hb_http:post`); keyword arguments as for `request`."""
    return request("POST", node, message_or_path, opts, **kw)
