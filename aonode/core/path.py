"""Path parts, request popping and path matching (`hb_path`, resolution-paths-cache-node.md §4.1).

A request's `path` may be a binary (`"a/b/c"`), a list of parts (nested lists are
flattened), an integer or an `As`. These functions turn it into the list of keys a
resolution walks, one key per step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aonode.core.terms import As
from aonode.message import Atom, normalize_key

__all__ = ["hd", "matches", "parts", "pop", "regex_matches", "to_binary", "tl"]

Part = Any  # a key (str), or an As for `{as, Device, Msg}` parts


def parts(path: Any) -> list[Part] | None:
    """The path parts of a path value (`term_to_path_parts`).

    `"a/b/c"` → `["a", "b", "c"]`; `"/"` → `[]`; `""` or `[]` → None (no path).
    Empty segments are dropped; nested lists are flattened.
    """
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    if path is None or path == "" or path == []:
        return None
    if isinstance(path, str):
        if path == "/":
            return []
        if "/" not in path:
            return [path]
        return [p for p in path.split("/") if p]
    if isinstance(path, As):
        return [As(normalize_key(path.device), path.message)]
    if isinstance(path, bool) or path is None:
        return [normalize_key(path)]
    if isinstance(path, int):
        return [str(path)]
    if isinstance(path, Atom):
        return [path.name]
    if isinstance(path, (list, tuple)):
        out: list[Part] = []
        for item in path:
            sub = parts(item)
            if sub:
                out.extend(sub)
        return out
    raise TypeError(f"a path cannot be a {type(path).__name__}")


def _path_of(msg: Mapping[str, Any]) -> Any:
    for key in ("path", "Path"):
        if key in msg:
            return msg[key]
    return None


def pop(msg: Mapping[str, Any] | list[Any]) -> tuple[Part, dict[str, Any] | list[Any] | None] | None:
    """Split off the first path part: `(first, rest)`, where rest keeps the remaining parts
    as a list in `path` (or is None when nothing remains). None when there is no path."""
    if isinstance(msg, list):
        found = parts(msg)
        if not found:
            return None
        return found[0], (found[1:] or None)
    found = parts(_path_of(msg))
    if not found:
        return None
    if len(found) == 1:
        return found[0], None
    return found[0], {**msg, "path": found[1:]}


def hd(msg: Mapping[str, Any] | list[Any]) -> Part | None:
    """The first key of a request's path, or None."""
    popped = pop(msg)
    return None if popped is None else popped[0]


def tl(msg: Mapping[str, Any] | list[Any]) -> dict[str, Any] | list[Any] | None:
    """The request without its first path part, or None when no part would remain."""
    popped = pop(msg)
    return None if popped is None else popped[1]


def to_binary(path: Any) -> str:
    """Join path parts with `/`, without a leading slash: `["a", ["b", "//b"], "c"]` → `"a/b/b/c"`."""
    found = parts(path) or []
    return "/".join(normalize_key(p) if not isinstance(p, As) else p.device for p in found)


def matches(key1: Any, key2: Any) -> bool:
    """Keys equal after normalisation, ignoring case."""
    return normalize_key(key1).lower() == normalize_key(key2).lower()


def _leading_slash(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def regex_matches(path: Any, pattern: Any) -> bool:
    """An unanchored regex search of `pattern` in `path`, both given a leading `/`
    (the pattern keeps its own start when it begins with `^`). A bad pattern is no match."""
    text = _leading_slash(to_binary(path) if not isinstance(path, str) else path)
    regex = pattern if isinstance(pattern, str) else normalize_key(pattern)
    if not regex.startswith("^"):
        regex = _leading_slash(regex)
    try:
        return re.search(regex, text) is not None
    except re.error:
        return False
