"""Names the node's `name_resolvers` know, and the name a request's `host` header carries
(node-services.md §5.3).

    resolve_name(key, opts)     the first `ok` answer of the resolvers to `{path: lookup, key}`
    host_name(host)             the first label of a host name (`myapp` of `myapp.example.com`)
    names_message(host, opts)   whether that name resolves to a message ID

`name@1.0` serves these as a device and as a `request` hook; the HTTP server asks
`names_message` whether `/` on a named host is that message rather than the dashboard.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from aonode.core.resolver import resolve
from aonode.errors import AOError
from aonode.message import is_id
from aonode.text import as_text

__all__ = ["host_name", "names_message", "resolve_name"]


def resolve_name(key: str, opts: Mapping[str, Any]) -> Any:
    """The value the first resolver gives for `key`, or None."""
    resolvers = opts.get("name_resolvers") or []
    if isinstance(resolvers, Mapping):
        resolvers = [resolvers]
    for resolver in resolvers:
        if not isinstance(resolver, Mapping):
            continue
        try:
            found = resolve(dict(resolver), {"path": "lookup", "key": key}, {**opts, "hashpath": "ignore"})
        except AOError:
            continue
        if found.ok and found.value is not None:
            return found.value
    return None


def host_name(host: Any) -> str | None:
    """The name a `host` header carries: its first label, when there are more (not an IP)."""
    if not isinstance(host, (bytes, str)):
        return None
    text = as_text(host, errors="replace").strip().lower()
    if text.startswith("["):
        return None  # an IPv6 literal
    text = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    labels = text.split(".")
    return labels[0] if len(labels) >= 2 and labels[0] else None


def names_message(host: Any, opts: Mapping[str, Any]) -> bool:
    """Whether `host` carries a name that resolves to a message ID (so `/` is that message)."""
    name = host_name(host)
    if name is None:
        return False
    try:
        found = resolve_name(name, opts)
    except AOError:
        return False
    return isinstance(found, (bytes, str)) and is_id(as_text(found, errors="replace"))
