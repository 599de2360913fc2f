"""`copycat@1.0`: copy Arweave data into the node's store (`dev_copycat*`, node-services.md §11.5).

    graphql  index the items a gateway's GraphQL lists. The filter comes from the base and request
             merged: `query` (a text: the query as is, with `$after` for paging; a map: a tags
             filter from its keys and values), `tag` + `value`, `owner`, `recipient`, or `all`.
             Each edge is rebuilt as a data item with its data from `/raw/<id>`, verified
             (aonode.arweave.gateway.message_from_node) and written to the cache; an edge that
             cannot be fetched or does not verify is logged and skipped. Pages follow the last
             edge's `cursor` while `pageInfo.hasNextPage`, for at most `max-pages` pages (default
             and limit 10,000). Answers `{written, skipped, pages}`.
    arweave  index blocks: `arweave@2.9-pre/block` for each height from `from` (default: the
             current height) down to `to` + 1 (default 0), which writes each block to the block
             cache. Answers the last height indexed.

Indexing makes the node fetch and store what the filter names, so only the operator may ask
(anyone on an unclaimed node); the reference lets anyone. The indexing loop (`index_graphql`) takes
the page fetcher, data fetcher and writer as parameters: it does no I/O of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aonode.core.devices import Device
from aonode.core.node import is_operator
from aonode.core.resolver import resolve
from aonode.core.terms import Result
from aonode.errors import AOError, BadMessage
from aonode.text import as_text

__all__ = ["CopycatDevice", "Indexed", "filter_query", "index_graphql"]

log = logging.getLogger(__name__)

ITEM_SPEC = ("node { id anchor signature recipient owner { key } fee { winston } quantity { winston } "
             "tags { name value } data { size } } cursor")
PAGE_SIZE = 100
MAX_PAGES = 10_000  # a gateway that claims more pages forever is not followed forever
SUPPORTED = "query (a text or a map of tags), tag and value, owner, recipient, or all"


@dataclass(frozen=True)
class Indexed:
    written: int
    skipped: int
    pages: int


def _quoted(value: Any) -> str:
    return json.dumps(as_text(value, errors="replace"))


def filter_query(spec: Mapping[str, Any]) -> str | None:
    """The GraphQL query (with an `$after` variable) for a copycat filter, or None when the spec
    names no filter."""
    query = spec.get("query")
    if isinstance(query, (bytes, str)) and as_text(query, errors="replace").strip():
        return as_text(query, errors="replace")
    if isinstance(query, Mapping) and query:
        tags = ", ".join(f"{{name: {_quoted(k)}, values: [{_quoted(v)}]}}" for k, v in query.items())
        args = f"tags: [{tags}]"
    elif "tag" in spec and "value" in spec:
        args = f"tags: [{{name: {_quoted(spec['tag'])}, values: [{_quoted(spec['value'])}]}}]"
    elif "owner" in spec:
        args = f"owners: [{_quoted(spec['owner'])}]"
    elif "recipient" in spec:
        args = f"recipients: [{_quoted(spec['recipient'])}]"
    elif "all" in spec:
        args = ""
    else:
        return None
    inner = f"after: $after, first: {PAGE_SIZE}" + (f", {args}" if args else "")
    return (f"query($after: String) {{ transactions({inner}) {{ edges {{ {ITEM_SPEC} }} "
            "pageInfo { hasNextPage } } }")


def _page(answer: Any) -> tuple[list[Mapping[str, Any]], bool]:
    data = answer.get("data") if isinstance(answer, Mapping) else None
    txs = data.get("transactions") if isinstance(data, Mapping) else None
    if not isinstance(txs, Mapping):
        raise BadMessage(f"copycat@1.0: the gateway's answer has no transactions: {str(answer)[:300]}")
    edges = [e for e in txs.get("edges") or [] if isinstance(e, Mapping)]
    info = txs.get("pageInfo")
    more = bool(info.get("hasNextPage")) if isinstance(info, Mapping) else False
    return edges, more


def index_graphql(query: str, variables: Mapping[str, Any], fetch_page: Callable[[str, dict[str, Any]], Any],
                  store_node: Callable[[Mapping[str, Any]], None], max_pages: int = MAX_PAGES) -> Indexed:
    """Page through a GraphQL query and store each edge's node.

    Args:
        query: the query, taking `$after`.
        variables: its other variables.
        fetch_page: runs the query with the variables given, returns the decoded answer.
        store_node: fetches, verifies and stores one edge's `node`; raises AOError to skip it.
        max_pages: stop after this many pages.

    Raises:
        AOError: a page could not be fetched (what was stored before stays stored).
    """
    written = skipped = pages = 0
    after: str | None = None
    while pages < max_pages:
        answer = fetch_page(query, {**variables, "after": after} if after is not None else dict(variables))
        edges, more = _page(answer)
        pages += 1
        for edge in edges:
            node = edge.get("node")
            try:
                if not isinstance(node, Mapping):
                    raise BadMessage("an edge without a node")
                store_node(node)
                written += 1
            except AOError as exc:
                skipped += 1
                log.warning("copycat: skipped %s: %s", node.get("id") if isinstance(node, Mapping) else node, exc)
        cursor = edges[-1].get("cursor") if edges else None
        if not more or not isinstance(cursor, str) or cursor == after:
            break
        after = cursor
    return Indexed(written, skipped, pages)


def _gateway_store(opts: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], None]:
    from aonode.arweave import gateway

    cache = opts.get("cache")
    if cache is None:
        raise BadMessage("copycat@1.0: this node has no store to index into")

    def store_node(node: Mapping[str, Any]) -> None:
        size = node.get("data", {}).get("size") if isinstance(node.get("data"), Mapping) else 0
        sized = int(as_text(size or 0, errors="replace") or 0)
        body = gateway.data(as_text(node.get("id", ""), errors="replace"), opts) if sized else b""
        cache.write(gateway.message_from_node(node, body, opts))

    return store_node


def _fetch_page(opts: Mapping[str, Any], operation: str | None) -> Callable[[str, dict[str, Any]], Any]:
    from aonode.arweave import gateway

    return lambda query, variables: gateway.query(query, variables, opts, operation)


def _merged(base: Any, request: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for msg in (base, request):
        if isinstance(msg, Mapping):
            out.update({k: v for k, v in msg.items() if k not in ("path", "method", "device", "commitments")})
    return out


def _forbidden() -> Result:
    return Result("error", {"status": 403, "body": b"copycat@1.0: only the node's operator may index."})


class CopycatDevice(Device):
    name = "copycat@1.0"

    def graphql(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Index what a GraphQL filter names from the routed gateway into the cache."""
        if not isinstance(request, Mapping) or not is_operator(request, opts):
            return _forbidden()
        spec = _merged(base, request)
        query = filter_query(spec)
        if query is None:
            return Result("error", {"status": 400, "body": f"copycat@1.0: name a filter: {SUPPORTED}.".encode()})
        variables: Any = spec.get("variables", {})
        if isinstance(variables, (bytes, str)):
            try:
                variables = json.loads(variables)
            except ValueError as exc:
                raise BadMessage(f"copycat@1.0: `variables` is not JSON: {exc}") from exc
        if not isinstance(variables, Mapping):
            raise BadMessage("copycat@1.0: `variables` must be a JSON object")
        operation = spec.get("operationname", spec.get("operationName"))
        try:
            max_pages = int(as_text(spec.get("max-pages", MAX_PAGES), errors="replace"))
        except ValueError as exc:
            raise BadMessage(f"copycat@1.0: `max-pages` is a number of pages: {exc}") from exc
        named = as_text(operation, errors="replace") if operation else None
        done = index_graphql(query, variables, _fetch_page(opts, named),
                             _gateway_store(opts), max(1, min(max_pages, MAX_PAGES)))
        return Result("ok", {"written": done.written, "skipped": done.skipped, "pages": done.pages})

    def arweave(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Index blocks `from` down to `to` + 1 through arweave@2.9-pre's block cache."""
        if not isinstance(request, Mapping) or not is_operator(request, opts):
            return _forbidden()
        spec = _merged(base, request)
        device = {"device": "arweave@2.9-pre"}
        try:
            start = int(as_text(spec["from"], errors="replace")) if "from" in spec else None
            stop = int(as_text(spec.get("to", 0), errors="replace"))
        except ValueError as exc:
            raise BadMessage(f"copycat@1.0: `from` and `to` are block heights: {exc}") from exc
        if start is None:
            current = resolve(device, {"path": "current"}, opts)
            height = current.value.get("height") if current.ok and isinstance(current.value, Mapping) else None
            if height is None:
                return Result("error", {"status": 502, "body": b"copycat@1.0: the current height is unknown."})
            start = int(as_text(height, errors="replace"))
        for h in range(start, stop, -1):
            found = resolve(device, {"path": "block", "block": h}, opts)
            if not found.ok:
                return Result("error", {"status": 502, "body": f"copycat@1.0: block {h} failed: {found.value}"
                                                                .encode()})
        return Result("ok", stop)
