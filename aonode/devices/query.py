"""`query@1.0`: search the node's message cache (`dev_query`, node-services.md §11.1-11.2).

    all          match spec = the whole request (also the default for any other key)
    base         match spec = the base message
    only         spec = the request's `only`: comma-separated key names (values from the request,
                 else the base), a list of names, or a map used as the spec
    has-results  true iff the JSON in the base's `body` (else the request's) has a non-empty
                 `data.transactions.edges` (the gateway client's multirequest admissibility test)
    graphql      the Arweave gateway GraphQL endpoint over this node's store (aonode.graphql):
                 `{query, variables?, operationName?}` as JSON `body` or as keys; a query running
                 past `query_timeout` ms (default 10000) stops with a 503

The spec leaves out `exclude` (default: path, commitments, return, exclude, only) and the keys
an HTTP request carries about its transport (method, host, accept, ...), which the reference's
tests never send but every real client does. `return`: `paths` (default; IDs), `count`,
`messages`, `first-path`, `first`/`first-message`, `boolean`. No match is `not_found`, except for
`count` (0) and `boolean` (false).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.terms import NOT_FOUND, Result
from aonode.errors import AOError, BadMessage
from aonode.graphql import SCHEMA, QueryTimeout, RequestError, execute
from aonode.message import normalize_key
from aonode.store.cache import MessageCache
from aonode.text import as_text

__all__ = ["QueryDevice", "has_results", "run_graphql"]

DEFAULT_EXCLUDE = ("path", "commitments", "return", "exclude", "only")
# What an HTTP request says about its own transport: never part of what is searched for.
TRANSPORT_KEYS = frozenset({
    "method", "host", "accept", "accept-encoding", "accept-language", "user-agent", "connection",
    "content-length", "content-type", "content-digest", "ao-peer", "ao-peer-port", "x-real-ip", "origin",
    "referer", "cache-control", "pragma", "priv", "signature", "signature-input", "ao-ids", "ao-types",
    "body-keys", "device", "accept-bundle", "accept-codec", "require-codec",
})
RETURN_MODES = ("paths", "count", "messages", "first-path", "first", "first-message", "boolean")
JSON = b"application/json"
DEFAULT_TIMEOUT_MS = 10_000


def _cache(opts: Mapping[str, Any]) -> MessageCache:
    cache = opts.get("cache")
    if not isinstance(cache, MessageCache):
        raise BadMessage("query@1.0: this node has no message cache to search")
    return cache


def _names(value: Any) -> list[str]:
    if isinstance(value, (bytes, str)):
        return [normalize_key(n.strip()) for n in as_text(value, errors="replace").split(",") if n.strip()]
    if isinstance(value, list):
        return [normalize_key(as_text(n, errors="replace")) for n in value]
    if isinstance(value, Mapping):  # a numbered map from a structured list
        ordered = sorted(value.items(), key=lambda kv: str(kv[0]))
        return [normalize_key(as_text(v, errors="replace")) for _, v in ordered]
    raise BadMessage(f"query@1.0: `only` must name keys, not a {type(value).__name__}")


def _spec(mode: str, base: Any, request: Mapping[str, Any]) -> dict[str, Any] | None:
    if mode == "all":
        return dict(request)
    if mode == "base":
        return dict(base) if isinstance(base, Mapping) else {}
    only = request.get("only")
    if only is None:
        return None
    if isinstance(only, Mapping) and not all(str(k).isdigit() for k in only):
        return dict(only)
    spec: dict[str, Any] = {}
    for name in _names(only):
        if name in request:
            spec[name] = request[name]
        elif isinstance(base, Mapping) and name in base:
            spec[name] = base[name]
    return spec


def _search(mode: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
    request = request if isinstance(request, Mapping) else {}
    spec = _spec(mode, base, request)
    if spec is None:
        return NOT_FOUND
    exclude = request.get("exclude")
    excluded = set(_names(exclude)) if exclude is not None else set(DEFAULT_EXCLUDE)
    if mode != "only":
        excluded |= TRANSPORT_KEYS
    spec = {k: v for k, v in spec.items() if k not in excluded and not k.startswith("!")}
    mode_out = normalize_key(as_text(request.get("return", "paths"), errors="replace"))
    if mode_out not in RETURN_MODES:
        raise BadMessage(f"query@1.0: `return` must be one of {', '.join(RETURN_MODES)}, not {mode_out!r}")
    if not spec:
        return NOT_FOUND if mode_out not in ("count", "boolean") else Result("ok", 0 if mode_out == "count" else False)
    cache = _cache(opts)
    try:
        found = list(cache.match(spec))
    except AOError as exc:
        raise BadMessage(f"query@1.0: this node's store cannot be searched: {exc.message}") from exc
    if mode_out == "count":
        return Result("ok", len(found))
    if mode_out == "boolean":
        return Result("ok", bool(found))
    if not found:
        return NOT_FOUND
    if mode_out == "paths":
        return Result("ok", found)
    if mode_out == "first-path":
        return Result("ok", found[0])
    if mode_out == "messages":
        return Result("ok", [cache.read(p) for p in found])
    return Result("ok", cache.read(found[0]))


def has_results(body: Any) -> bool:
    """Whether a gateway GraphQL answer (JSON text) has at least one transaction edge."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    data = body.get("data") if isinstance(body, Mapping) else None
    txs = data.get("transactions") if isinstance(data, Mapping) else None
    edges = txs.get("edges") if isinstance(txs, Mapping) else None
    return isinstance(edges, list) and len(edges) > 0


def _graphql_request(request: Mapping[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """The query, variables and operation name of a GraphQL request (JSON body, else keys)."""
    fields: Mapping[str, Any] = {}
    body = request.get("body")
    if isinstance(body, (bytes, str)) and body.strip():
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise BadMessage(f"query@1.0/graphql: the body is not JSON: {exc}") from exc
        if not isinstance(parsed, Mapping):
            raise BadMessage("query@1.0/graphql: the body must be a JSON object {query, variables?, operationName?}")
        fields = parsed
    elif isinstance(body, Mapping):
        fields = body
    query = fields.get("query", request.get("query"))
    variables: Any = fields.get("variables", request.get("variables"))
    operation = fields.get("operationName", request.get("operationname", request.get("operationName")))
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    if not isinstance(query, str) or not query.strip():
        raise BadMessage("query@1.0/graphql: a request needs a `query` (JSON body {query, variables?})")
    if isinstance(variables, (bytes, str)):
        try:
            variables = json.loads(variables) if as_text(variables, errors="replace").strip() else {}
        except ValueError as exc:
            raise BadMessage(f"query@1.0/graphql: `variables` is not JSON: {exc}") from exc
    if variables is None:
        variables = {}
    if not isinstance(variables, Mapping):
        raise BadMessage("query@1.0/graphql: `variables` must be a JSON object")
    variables = _plain(variables)
    if isinstance(operation, bytes):
        operation = operation.decode("utf-8", "replace")
    if operation is not None and not isinstance(operation, str):
        raise BadMessage("query@1.0/graphql: `operationName` must be a string")
    return query, dict(variables), operation or None


def _plain(value: Any) -> Any:
    """JSON-shaped data from a decoded request: numbered maps (structured@1.0 lists) as lists,
    binaries as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        keys = list(value)
        if keys and all(isinstance(k, str) and k.isdigit() for k in keys) and \
                sorted(int(k) for k in keys) == list(range(1, len(keys) + 1)):
            return [_plain(value[str(i)]) for i in range(1, len(keys) + 1)]
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def run_graphql(query: str, variables: Mapping[str, Any], operation: str | None, cache: MessageCache,
                timeout_ms: float | None = None) -> tuple[int, dict[str, Any]]:
    """Execute a gateway GraphQL query over `cache`: `(HTTP status, response map)`; 400 for a
    query that cannot run, 503 for one that ran past `timeout_ms`."""
    try:
        timeout = timeout_ms / 1000 if timeout_ms is not None else None
        return 200, execute(SCHEMA, query, variables, operation, cache, timeout)
    except QueryTimeout as exc:
        return 503, {"errors": [{"message": str(exc)}]}
    except RequestError as exc:
        return 400, {"errors": [{"message": str(exc)}]}


class QueryDevice(Device):
    name = "query@1.0"

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"excludes": ["keys", "set"],
                "default": lambda key, base, request, opts: _search("all", base, request, opts)}

    def all(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Stored messages with every key and value of the request."""
        return _search("all", base, request, opts)

    def base(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Stored messages with every key and value of the base."""
        return _search("base", base, request, opts)

    def only(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Stored messages with the keys the request's `only` names."""
        return _search("only", base, request, opts)

    def has_results(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Whether a GraphQL answer in the base's (else the request's) `body` has any edges."""
        body = get("body", base, None, opts) if isinstance(base, Mapping) else None
        if body is None and isinstance(request, Mapping):
            body = request.get("body", b"{}")
        return Result("ok", has_results(body if body is not None else b"{}"))

    def graphql(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The gateway GraphQL endpoint: the JSON answer, 400 for a query that cannot run."""
        query, variables, operation = _graphql_request(request if isinstance(request, Mapping) else {})
        timeout = opts.get("query_timeout", DEFAULT_TIMEOUT_MS)
        timeout_ms = float(timeout) if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else None
        status, answer = run_graphql(query, variables, operation, _cache(opts), timeout_ms)
        body = json.dumps(answer, separators=(",", ":")).encode()
        return Result("ok" if status == 200 else "error",
                      {"status": status, "content-type": JSON, "body": body})
