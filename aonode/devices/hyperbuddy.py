"""`hyperbuddy@1.0`: the node's web console (`dev_hyperbuddy`, node-services.md §9.1).

Pages, scripts and styles are files of this package (`aonode/console/static/`), served by the
node itself: no CDN, everything works offline.

    dashboard   the operator's dashboard: address, uptime, load, requests and executions
                (from the node's own Prometheus metrics, charted live), devices, ledger
    console     an HTTP console: any method, path and body; the reply's signature checked
    index       the message viewer, the index page of any message a browser asks for; a
                process's page (schedule, state at a slot, results) when the message is one
    graph       the store graph page (`cacheviz@1.0` serves its data)
    404 / 500   error pages for browsers (`error_page`)
    <file>      any other file of the console (`styles.css`, `utils.js`, ...)
    metrics     the node's Prometheus metrics (the server passes them as `priv_metrics`)
    events      the node-wide event counters (`aonode.core.events`)
    format      the base and the request as indented text (the text index for curl)
    throw       a 500, to show the 500 page, in `debug` mode only (else a 400)

Differences from the reference (docs/compat.md): the pages are aonode's own, and `index`,
`console` and the process views are aonode's designs over the same HyperPATHs. `format` is
aonode's text layout.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from aonode.core import events, options
from aonode.core.devices import Device
from aonode.core.terms import NOT_FOUND, Result
from aonode.errors import AOError
from aonode.message import Atom, Link, is_private
from aonode.text import as_text

__all__ = ["CONTENT_TYPES", "HyperbuddyDevice", "error_page", "format_message", "static_file"]

NAME = "hyperbuddy@1.0"

CONTENT_TYPES: Mapping[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".png": b"image/png",
    ".svg": b"image/svg+xml",
    ".ico": b"image/x-icon",
}

# Keys that name a page; other keys name a file by its own name.
_PAGES: Mapping[str, str] = {
    "index": "index.html",
    "dashboard": "dashboard.html",
    "console": "console.html",
    "graph": "graph.html",
    "404": "404.html",
    "500": "500.html",
}


@lru_cache(maxsize=64)
def static_file(name: str) -> bytes | None:
    """The bytes of the console file `name` (a plain file name, no folders), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    if os.path.splitext(name)[1] not in CONTENT_TYPES:
        return None
    found = resources.files("aonode.console").joinpath("static", name)
    if not found.is_file():
        return None
    return found.read_bytes()


def _file_message(name: str) -> dict[str, Any] | None:
    data = static_file(name)
    if data is None:
        return None
    return {"body": data, "content-type": CONTENT_TYPES[os.path.splitext(name)[1]]}


def error_page(status: int, error: str) -> bytes:
    """The HTML page a browser gets for a 404 (`404.html`) or any 5xx (`500.html`), with the
    error text (escaped) in place of `{{error}}` and the status in place of `{{status}}`."""
    template = static_file("404.html" if status == 404 else "500.html") or b"<pre>{{error}}</pre>"
    text = template.decode("utf-8")
    return text.replace("{{error}}", html.escape(error)).replace("{{status}}", str(status)).encode("utf-8")


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes of binary>"
        shown = text if len(text) <= 400 else text[:400] + f"... ({len(value)} bytes)"
        return shown.replace("\n", "\\n")
    if isinstance(value, Link):
        return f"-> {value.id}"
    if isinstance(value, Atom):
        return value.name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _commitment_line(cid: str, commitment: Any) -> str:
    if not isinstance(commitment, Mapping):
        return f"{cid}: {_scalar(commitment)}"
    kind = _scalar(commitment.get("type", commitment.get("commitment-device", b"?")))
    committer = commitment.get("committer")
    who = f"signed by {_scalar(committer)}" if committer is not None else "no signer"
    covered = commitment.get("committed")
    count = len(covered) if isinstance(covered, (Mapping, list)) else 0
    return f"{cid}: {kind}, {who}, {count} keys"


def format_message(value: Any, indent: int = 0) -> str:
    """`value` as indented text, one key a line, nested messages and lists below their key;
    each commitment in one line (its type, signer and how many keys it covers). Private keys
    are left out."""
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            return pad + "{}"
        lines = []
        for key in sorted(value, key=str):
            if is_private(str(key)):
                continue
            child = value[key]
            if key == "commitments" and isinstance(child, Mapping) and child:
                lines.append(f"{pad}commitments:")
                lines.extend(f"{pad}  {_commitment_line(str(c), child[c])}" for c in sorted(child, key=str))
                continue
            if isinstance(child, (Mapping, list)) and child:
                lines.append(f"{pad}{key}:")
                lines.append(format_message(child, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(child) if not isinstance(child, (Mapping, list)) else '{}'}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for i, child in enumerate(value, 1):
            if isinstance(child, (Mapping, list)) and child:
                lines.append(f"{pad}{i}:")
                lines.append(format_message(child, indent + 1))
            else:
                lines.append(f"{pad}{i}: {_scalar(child)}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _without(message: Any, *drop: str) -> Any:
    if not isinstance(message, Mapping):
        return message
    return {k: v for k, v in message.items() if k not in drop and not is_private(str(k))}


class HyperbuddyDevice(Device):
    """`hyperbuddy@1.0`: the web console's pages and the keys they read."""

    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"default": self._serve, "excludes": ["set", "keys"]}

    def _serve(self, key: str, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        found = _file_message(_PAGES.get(key, key))
        return Result("ok", found) if found is not None else NOT_FOUND

    def metrics(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        registry = opts.get("priv_metrics")
        render = getattr(registry, "render", None)
        if render is None:
            return Result("ok", {"body": b"Prometheus metrics disabled.", "content-type": b"text/plain"})
        return Result("ok", {"body": render(), "content-type": b"text/plain; version=0.0.4; charset=utf-8"})

    def events(self) -> dict[str, Any]:
        return {topic: dict(counts) for topic, counts in events.counters().items()}

    def format(self, base: Any, request: Any) -> dict[str, Any]:
        asked = _without(request, "path")
        # The text index (a request that is only `path: format`) shows the message alone, without
        # the `device` and `path` the index message (`{device: hyperbuddy@1.0, path: format}`) added.
        message = _without(base, "device")
        if isinstance(message, Mapping) and as_text(message.get("path", b""), errors="replace", atoms=True) == "format":
            message = _without(message, "path")
        shown: Any = {"base": message, "request": asked} if asked else message
        return {"body": (format_message(shown) + "\n").encode("utf-8"), "content-type": b"text/plain; charset=utf-8"}

    def throw(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        if as_text(options.get(opts, "mode"), errors="replace", atoms=True) == "debug":
            # A 500 on purpose: no traceback in the log, since any client may ask for it.
            raise AOError("Forced-throw: the 500 page, as asked for (mode is debug).", status=500)
        raise AOError("Forced-throw unavailable in `prod` mode.", status=400)
