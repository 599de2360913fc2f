"""`cacheviz@1.0`: the store graph around a message (`dev_cacheviz`, node-services.md §9.2).

    json    {"nodes": [{id, label, type}], "links": [{source, target, label}]}; `type` is
            `composite` (a message: a group in the store), `simple` (a value) or `unknown`
            (a link to something this store does not hold). `target`: a path or ID to start
            from; `.` for every message; absent: the base itself (written to the store first)
            when it has keys besides `device`, else every message. `max-size` nodes at most
            (default 250), `render-data` (default false) adds the values' nodes.
    dot     the same graph as Graphviz `dot` text (`text/vnd.graphviz`)
    svg     the dot text drawn by Graphviz (`dot -Tsvg`); a 503 when Graphviz is not installed
    index   the interactive graph page (`graph.html`), which reads `json` relative to its URL
    js      the page's script

The graph follows the store's layout (`aonode.store.cache`): a message `U` is a group whose
children are its keys; `key+link` children hold the ID of a nested message, which becomes an
edge to that message; groups under a message (its commitments) are messages too.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from collections.abc import Mapping
from typing import Any

from aonode.codecs import with_only_committed
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.devices.hyperbuddy import static_file
from aonode.errors import BadMessage
from aonode.message import is_private
from aonode.store import MessageCache, Store
from aonode.text import as_text

__all__ = ["CacheVizDevice", "Graph", "store_graph", "to_dot"]

NAME = "cacheviz@1.0"
DEFAULT_MAX_SIZE = 250
MAX_MAX_SIZE = 5000
# Top-level groups of the store layout that are not messages.
_NOT_MESSAGES = frozenset({"data", "commitment-sets"})
_DOT_TIMEOUT = 20.0

Graph = dict[str, list[dict[str, str]]]


def _label(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def store_graph(store: Store, roots: list[str] | None, max_size: int = DEFAULT_MAX_SIZE,
                render_data: bool = False) -> Graph:
    """The graph of the store from `roots` (paths or IDs; None: every top-level message),
    breadth first, with at most `max_size` nodes. Links only join kept nodes."""
    nodes: dict[str, dict[str, str]] = {}
    links: list[dict[str, str]] = []
    if roots is None:
        roots = [n for n in (store.list("") or []) if n not in _NOT_MESSAGES]
    queue: deque[str] = deque()

    def add(path: str, kind: str, label: str | None = None) -> bool:
        if path in nodes:
            return True
        if len(nodes) >= max_size:
            return False
        nodes[path] = {"id": path, "label": label or _label(path), "type": kind}
        if kind == "composite":
            queue.append(path)
        return True

    for root in roots:
        if len(nodes) >= max_size:  # a store of millions: stop listing once the graph is full
            break
        resolved = store.resolve(root)
        kind = store.type(resolved)
        add(resolved, kind or "unknown", _label(root))
    while queue:
        here = queue.popleft()
        for name in store.list(here) or []:
            child = f"{here}/{name}"
            kind = store.type(child)
            if name.endswith("+link") and kind == "simple":
                target_id = as_text(store.read(child) or b"", errors="replace", atoms=True)
                target = store.resolve(target_id) if target_id else ""
                target_kind = store.type(target) if target else None
                if target and add(target, target_kind or "unknown", target_id):
                    links.append({"source": here, "target": target, "label": name[: -len("+link")]})
            elif kind == "composite":
                target = store.resolve(child)
                if add(target, "composite", name):
                    links.append({"source": here, "target": target, "label": name})
            elif render_data:
                target = store.resolve(child)
                if add(target, kind or "unknown", _label(target)):
                    links.append({"source": here, "target": target, "label": name})
    return {"nodes": list(nodes.values()), "links": links}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_COLOURS = {"composite": "lightcoral", "simple": "lightblue", "unknown": "lightgrey"}


def to_dot(graph: Graph) -> str:
    """The graph as Graphviz `dot` text."""
    lines = ["digraph store {", "  rankdir=LR;", "  node [style=filled, shape=box, fontname=monospace];"]
    for node in graph["nodes"]:
        shape = "box" if node["type"] == "composite" else "ellipse"
        lines.append(f"  {_quote(node['id'])} [label={_quote(node['label'][:24])}, shape={shape}, "
                     f"fillcolor={_COLOURS.get(node['type'], 'lightgrey')}];")
    for link in graph["links"]:
        lines.append(f"  {_quote(link['source'])} -> {_quote(link['target'])} [label={_quote(link['label'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _store(opts: Mapping[str, Any]) -> Store:
    cache = opts.get("cache")
    if not isinstance(cache, MessageCache):
        raise BadMessage("cacheviz@1.0 needs the node's store: resolve it through a node")
    return cache.store


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return int(as_text(value, errors="replace", atoms=True))
    except ValueError as exc:
        shown_value = as_text(value, errors="replace", atoms=True)[:40]
        raise BadMessage(f"cacheviz@1.0: '{shown_value}' is not a number") from exc


def _flag(value: Any) -> bool:
    if value is None:
        return False
    return value is True or as_text(value, errors="replace", atoms=True).lower() == "true"


class CacheVizDevice(Device):
    """`cacheviz@1.0`: the store graph as JSON, dot, SVG and an interactive page."""

    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["json", "dot", "svg", "index", "js"]}

    def _graph(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Graph:
        store = _store(opts)
        request = request if isinstance(request, Mapping) else {}
        target = request.get("target")
        roots: list[str] | None
        if target is not None:
            start = as_text(target, errors="replace", atoms=True)
            roots = None if start == "." else [start.strip("/")]
        elif isinstance(base, Mapping) and any(k != "device" and not is_private(k) for k in base):
            # A signed message (a process, say) is graphed as it is stored: its committed keys,
            # not the request's headers that reached this step with it.
            if "commitments" in base:
                message = with_only_committed(dict(base))  # its device is signed: it stays
            else:
                message = {k: v for k, v in base.items() if k != "device"}
            cache = opts["cache"]
            assert isinstance(cache, MessageCache)
            roots = [cache.write({k: v for k, v in message.items() if not is_private(k)})]
        else:
            roots = None
        max_size = min(max(1, _int(request.get("max-size"), DEFAULT_MAX_SIZE)), MAX_MAX_SIZE)
        return store_graph(store, roots, max_size, _flag(request.get("render-data")))

    def json(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        import json

        graph = self._graph(base, request, opts)
        return Result("ok", {"body": json.dumps(graph).encode(), "content-type": b"application/json"})

    def dot(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        text = to_dot(self._graph(base, request, opts))
        return Result("ok", {"body": text.encode(), "content-type": b"text/vnd.graphviz"})

    def svg(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        program = shutil.which("dot")
        if program is None:
            return Result("error", {"status": 503, "body": b"Graphviz is not installed on this node: `dot` was "
                                    b"not found. The graph is available as dot text (~cacheviz@1.0/dot)."})
        text = to_dot(self._graph(base, request, opts))
        try:
            done = subprocess.run([program, "-Tsvg"], input=text.encode(), capture_output=True,
                                  timeout=_DOT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return Result("error", {"status": 503, "body": b"Graphviz took too long to draw the graph."})
        if done.returncode != 0:
            return Result("error", {"status": 502, "body": b"Graphviz failed: " + done.stderr[:500]})
        return Result("ok", {"body": done.stdout, "content-type": b"image/svg+xml"})

    def index(self) -> Result:
        return Result("ok", {"body": static_file("graph.html") or b"", "content-type": b"text/html; charset=utf-8"})

    def js(self) -> Result:
        return Result("ok", {"body": static_file("graph.js") or b"", "content-type": b"text/javascript; charset=utf-8"})
