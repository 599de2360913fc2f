"""`manifest@1.0`: Arweave path manifests (`dev_manifest`, node-services.md §10.2).

A manifest is JSON in the base's `data` (else `body`):

    {"manifest": "arweave/paths", "version": "0.1.0" | "0.2.0",
     "index": {"path": "index.html"} | {"id": ID},
     "fallback": {"id": ID},                          (v2 only)
     "paths": {"index.html": {"id": ID}, "assets/app.js": {"id": ID}, ...}}

    index   the item `index.path` names (or `index.id`)
    <K>     the item at path K. Keys of `paths` are flat and hold `/` (`assets/app.js`), while a
            request path arrives one segment at a time: a segment that is only a directory
            (`assets`) gives a *view* of the manifest under that prefix, on which the next segment
            continues. Nested maps in `paths` (HyperBEAM's test manifests) are walked the same way.
            A path that names nothing gives the `fallback` item (v2), else 404.

The served item answers as `{content-type, body}` with the item's data, so a browser gets the page
itself; an item that is itself a manifest answers as a manifest, so paths continue into it.

Unlike the reference (which resolves only single segments, has no `fallback` and applies only to
messages that say `device: manifest@1.0`), a message whose `content-type` is
`application/x.arweave-manifest+json` is a manifest (`aonode.core.devices.message_device`), and
the `request` hook `{"device": "manifest@1.0", "path": "request"}` makes `/<manifest-id>` (and
`/<manifest-id>/`) serve the index, as gateways do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.errors import AOError, BadMessage
from aonode.message import is_id
from aonode.text import as_text

__all__ = ["CONTENT_TYPE", "ManifestDevice", "is_manifest", "parse_manifest"]

CONTENT_TYPE = "application/x.arweave-manifest+json"
NAME = "manifest@1.0"
VIEW = "manifest-prefix"
ROUTE_PATH = "route-path"
_ABSENT: Any = object()
MAX_MANIFEST = 10 * 1024 * 1024


def is_manifest(msg: Any) -> bool:
    """Whether a message is an Arweave path manifest by its content type."""
    if not isinstance(msg, Mapping):
        return False
    ct = msg.get("content-type", msg.get("Content-Type"))
    return isinstance(ct, (bytes, str)) and as_text(ct, errors="replace").split(";")[0].strip().lower() == CONTENT_TYPE


def parse_manifest(base: Any) -> dict[str, Any]:
    """The manifest JSON of a message (its `data`, else its `body`).

    Raises:
        BadMessage: no manifest there, or not a JSON object with a `paths` map.
    """
    raw = base.get("data", base.get("body")) if isinstance(base, Mapping) else None
    if isinstance(raw, Mapping):
        manifest: Any = raw
    elif isinstance(raw, (bytes, str)):
        if len(raw) > MAX_MANIFEST:
            raise BadMessage(f"manifest@1.0: a manifest is at most {MAX_MANIFEST} bytes")
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            raise BadMessage(f"manifest@1.0: the manifest is not JSON: {exc}") from exc
    else:
        raise BadMessage("manifest@1.0: the message holds no manifest (no `data` or `body`)")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("paths", {}), dict):
        raise BadMessage("manifest@1.0: a manifest is a JSON object whose `paths` is an object")
    return manifest


def _not_found(what: str) -> Result:
    return Result("error", {"status": 404, "body": f"manifest@1.0: {what}".encode()})


def _load(ref: Any, opts: Mapping[str, Any]) -> Result:
    """The item an entry `{"id": ID}` names, in served form."""
    target = ref.get("id") if isinstance(ref, Mapping) else ref
    if not isinstance(target, str) or not is_id(target):
        return _not_found(f"a manifest entry names no valid ID: {ref!r}")
    cache = opts.get("cache")
    try:
        found = cache.read(target) if cache is not None else None
    except AOError as exc:
        return Result("error", {"status": exc.status or 502, "body": f"manifest@1.0: {exc.message}".encode()})
    if found is None:
        return _not_found(f"item {target} is not available")
    return Result("ok", served(found))


def served(item: Any) -> Any:
    """An item as a response: its data with its content type (a manifest stays a manifest)."""
    if not isinstance(item, Mapping) or is_manifest(item):
        return item
    data = item.get("data", item.get("body", b""))
    if isinstance(data, Mapping):
        return item
    out: dict[str, Any] = {"body": data if isinstance(data, bytes) else as_text(data, errors="replace").encode()}
    ct = item.get("content-type")
    if isinstance(ct, (bytes, str)):
        out["content-type"] = ct
    return out


def _entry(paths: Mapping[str, Any], path: str) -> tuple[str, Any]:
    """`("item", entry)`, `("dir", None)` when `path` is a prefix of some entries, or `("none", None)`."""
    if path in paths:
        found = paths[path]
        if isinstance(found, Mapping) and "id" not in found:
            return "dir", None
        return "item", found
    # Nested maps: walk segment by segment.
    node: Any = paths
    for segment in path.split("/"):
        if not isinstance(node, Mapping) or segment not in node:
            node = None
            break
        node = node[segment]
    if isinstance(node, Mapping):
        return ("item", node) if "id" in node else ("dir", None)
    prefix = path + "/"
    if any(k.startswith(prefix) for k in paths):
        return "dir", None
    return "none", None


def _prefix(base: Any) -> str:
    found = base.get(VIEW, b"") if isinstance(base, Mapping) else b""
    return as_text(found, errors="replace")


def route(key: str, base: Any, opts: Mapping[str, Any]) -> Result:
    """The item at `key` (below the base's view prefix), a view for a directory, else fallback."""
    manifest = parse_manifest(base)
    paths = manifest.get("paths", {})
    full = _prefix(base) + key
    kind, entry = _entry(paths, full)
    if kind == "item":
        return _load(entry, opts)
    if kind == "dir":
        data = base.get("data", base.get("body"))
        return Result("ok", {"device": NAME, "content-type": CONTENT_TYPE, "data": data, VIEW: full + "/"})
    fallback = manifest.get("fallback")
    if isinstance(fallback, Mapping) and "id" in fallback:
        return _load(fallback, opts)
    return _not_found(f"no path {full!r} in this manifest")


def index(base: Any, opts: Mapping[str, Any]) -> Result:
    """The manifest's index item (`index.path` or `index.id`), else its fallback, else 404."""
    manifest = parse_manifest(base)
    found = manifest.get("index")
    if isinstance(found, Mapping):
        if "id" in found:
            return _load(found, opts)
        if isinstance(found.get("path"), str):
            return route(found["path"], {k: v for k, v in base.items() if k != VIEW}, opts)
    if "index" in manifest.get("paths", {}):
        return route("index", base, opts)  # a manifest with a literal `index` entry (HyperBEAM's tests)
    fallback = manifest.get("fallback")
    if isinstance(fallback, Mapping) and "id" in fallback:
        return _load(fallback, opts)
    return _not_found("the manifest has no index")


class ManifestDevice(Device):
    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"excludes": ["keys", "set", "committers", "id", "commit", "verify"],
                "default": lambda key, base, request, opts: route(key, base, opts)}

    def index(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The manifest's index page."""
        return index(base, opts)

    def route(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The entry at the request's `route-path` (a whole path, `/` included)."""
        path = request.get(ROUTE_PATH) if isinstance(request, Mapping) else None
        key = as_text(path, errors="replace").strip("/") if isinstance(path, (bytes, str)) else ""
        if not key or (key == "index" and "index" not in parse_manifest(base).get("paths", {})):
            return index(base, opts)
        return route(key, base, opts)

    def request(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """`request` hook: `/<manifest-id>` and `/<manifest-id>/` serve the manifest's index, and
        `/<manifest-id>/a/b.js` the entry `a/b.js` as one path (so a v2 `fallback` answers for
        any depth).

        Takes `{request, body: parsed steps}`; acts when the first step is the ID of a stored
        manifest. Anything else passes through unchanged."""
        if not isinstance(request, Mapping):
            return Result("ok", request)
        steps = request.get("body")
        if not isinstance(steps, list) or not steps or not isinstance(steps[0], (str, bytes)):
            return Result("ok", request)
        ref = as_text(steps[0], errors="replace")
        cache = opts.get("cache")
        if not is_id(ref) or cache is None:
            return Result("ok", request)
        try:
            found = cache.read(ref)
        except AOError:
            return Result("ok", request)  # the resolution itself will say what is wrong
        if not is_manifest(found):
            return Result("ok", request)
        rest = steps[1:]
        if not rest:
            return Result("ok", {**request, "body": [ref, {"path": "index", "method": b"GET"}]})
        singleton = request.get("request")
        shared = {k: v for k, v in singleton.items() if k != "path"} if isinstance(singleton, Mapping) else {}
        segments = [as_text(step["path"], errors="replace") for step in rest
                    if isinstance(step, Mapping) and "path" in step
                    and all(k == "path" or shared.get(k, _ABSENT) == v for k, v in step.items())]
        if len(segments) != len(rest):
            return Result("ok", request)  # a step with keys of its own: resolve it segment by segment
        whole = {**shared, "path": "route", ROUTE_PATH: "/".join(segments)}
        return Result("ok", {**request, "body": [ref, whole]})
