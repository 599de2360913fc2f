"""Cache-control directives and their precedence (`hb_cache_control`, resolution-paths-cache-node.md §8.6).

Theory of operation. Three sources may say whether a resolution looks its result
up in the cache and whether it stores the result: the node options (their
`cache_control` option), the messages of the step (their `cache-control` key),
and, for `hashpath`, the options alone. Each source is parsed into `Directives`,
three fields that are true, false or undefined (`None`), by the rules in
`_RULES`:

    store           true if `always`; else false if `no-store`; else true if `store`
    lookup          true if `always`; else false if `no-cache`; else true if `cache`
    only_if_cached  true if `only-if-cached`

A directive value is one name or a list of names; each element is normalised as
a key and compared exactly, so the single string `"no-cache, no-store"` matches
nothing (§15.2 pitfall 17). Options with `hashpath: ignore` also force
`store = false`: a result with a wrong hashpath must not be cached.

`derive` starts from `DEFAULT_SETTINGS` (store false, lookup true) and lets each
source, lowest priority first, overwrite the fields it defines:

    lookups: the request (Msg2), then the base (Msg1), then the options
    stores:  the request (Msg2), then the result (Msg3), then the options

The options always win. Sources that are not maps (IDs, binaries) say nothing.
When the options do not set `cache_control`, the node default
`["no-cache", "no-store"]` applies (options.DEFAULTS), so a bare resolution
neither looks up nor stores; HTTP requests merge `http_extra_opts`
(`cache_control: ["always"]`) to turn both on.

Pure logic: nothing here touches a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aonode.core import options
from aonode.message import normalize_key

__all__ = [
    "DEFAULT_SETTINGS",
    "Directives",
    "Settings",
    "derive",
    "from_message",
    "from_opts",
    "lookup_enabled",
    "only_if_cached",
    "parse",
    "store_enabled",
]


@dataclass(frozen=True, slots=True)
class Directives:
    """What one source says; `None` means it says nothing about that field."""

    store: bool | None = None
    lookup: bool | None = None
    only_if_cached: bool | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings a resolution step runs with, after every source has been applied."""

    store: bool
    lookup: bool
    only_if_cached: bool


# `?DEFAULT_STORE_OPT` and `?DEFAULT_LOOKUP_OPT`.
DEFAULT_SETTINGS = Settings(store=False, lookup=True, only_if_cached=False)

# `specifiers_to_cache_settings`: per field, the first directive present decides.
_RULES: dict[str, tuple[tuple[str, bool], ...]] = {
    "store": (("always", True), ("no-store", False), ("store", True)),
    "lookup": (("always", True), ("no-cache", False), ("cache", True)),
    "only_if_cached": (("only-if-cached", True),),
}


def _names(value: object) -> set[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    names = set()
    for item in items:
        try:
            names.add(normalize_key(item))
        except TypeError:
            continue  # A value that is no key (a map, a link) can match no directive.
    return names


def parse(value: object) -> Directives:
    """Parse a `cache-control` value: one directive (str, bytes or atom) or a list of them.

    Elements are compared exactly after key normalisation: `"no-cache, no-store"` is one
    unknown directive, not two.
    """
    names = _names(value)
    found: dict[str, bool | None] = {}
    for field, rules in _RULES.items():
        found[field] = next((result for name, result in rules if name in names), None)
    return Directives(**found)


def from_message(message: object) -> Directives:
    """The directives in a message's `cache-control` key; a non-map or a message without one says nothing."""
    if not isinstance(message, Mapping) or "cache-control" not in message:
        return Directives()
    return parse(message["cache-control"])


def from_opts(opts: Mapping[str, Any]) -> Directives:
    """The directives of the node options: `cache_control` (default `[no-cache, no-store]`), and
    `store = false` when `hashpath` is `ignore`."""
    directives = parse(options.get(opts, "cache_control"))
    hashpath = options.get(opts, "hashpath")
    try:
        ignore = normalize_key(hashpath) == "ignore"
    except TypeError:
        ignore = False
    return replace(directives, store=False) if ignore else directives


def derive(opts: Mapping[str, Any], sources: Iterable[object]) -> Settings:
    """Apply `sources` (messages, lowest priority first), then the options, over `DEFAULT_SETTINGS`.

    `derive_cache_settings` in the reference; non-map sources are skipped. Each source
    overwrites only the fields it defines.
    """
    store, lookup, only = DEFAULT_SETTINGS.store, DEFAULT_SETTINGS.lookup, DEFAULT_SETTINGS.only_if_cached
    for directives in [*(from_message(s) for s in sources), from_opts(opts)]:
        if directives.store is not None:
            store = directives.store
        if directives.lookup is not None:
            lookup = directives.lookup
        if directives.only_if_cached is not None:
            only = directives.only_if_cached
    return Settings(store=store, lookup=lookup, only_if_cached=only)


def lookup_enabled(opts: Mapping[str, Any], base: object, request: object) -> bool:
    """Whether stage 2 may look the result of `request` on `base` up (request < base < options)."""
    return derive(opts, (request, base)).lookup


def only_if_cached(opts: Mapping[str, Any], base: object, request: object) -> bool:
    """Whether a lookup miss must fail with 504 instead of computing (request < base < options).

    The reference consults it only when `lookup_enabled` is true.
    """
    return derive(opts, (request, base)).only_if_cached


def store_enabled(opts: Mapping[str, Any], request: object, result: object) -> bool:
    """Whether stage 10 writes the step to the cache (request < result < options).

    The base is deliberately not a source: it may describe its own caching without
    affecting its outputs.
    """
    return derive(opts, (request, result)).store
