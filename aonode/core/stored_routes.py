"""The node's route table with the routes POSTs its store keeps (`router@1.0`'s accepted
changes, node-services.md §3): what `aonode.net.client` routes by, and what `router@1.0`
changes.

    table_with(table, said)        the table after one routes POST (a route, or a registration)
    record_change(store, id, said) keep an accepted POST in the store, once per signed change
    stored_table(table, opts)      the `routes` option with every kept POST applied, oldest first

A routes POST (no registrar): the keys the owner's signature covers form the new route (`path`,
`method` and `commitments` left out), first of the routes without a `priority`; the table is
sorted by `priority` (numbers first, ascending; the order is otherwise kept). A registration
(`action: register` with a `route` map of `template`, `prefix`, `price`, ...) adds the worker as
a node of the route with that `template` (a new route with strategy `strategy` from the offer,
else `Random`, when there is none), replacing an earlier node with the same `prefix`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from aonode.core import routes
from aonode.errors import AOError, BadMessage, Conflict
from aonode.message import Atom, normalize_key
from aonode.store import Store
from aonode.text import key_text

__all__ = ["CHANGES", "record_change", "stored_table", "table_with"]

CHANGES = "~router@1.0/changes"
"""Where accepted routes POSTs are kept in the store (one entry per signed change)."""
# Keys of a routes POST that say how it travelled, not what the route is.
_NOT_ROUTE_KEYS = frozenset({"path", "method", "commitments", "accept-bundle", "ao-peer-port", "ao-peer"})
# Keys of an offered route that describe the offer rather than the node.
_OFFER_ONLY = frozenset({"template", "registration-peer", "strategy", "choose", "priority"})


def _store_of(opts: Mapping[str, Any]) -> Store | None:
    store = getattr(opts.get("cache"), "store", None)
    return store if isinstance(store, Store) else None


def _priority(route: Any) -> tuple[int, float]:
    value = route.get("priority") if isinstance(route, Mapping) else None
    if value is None:
        return (1, 0.0)
    try:
        return (0, float(key_text(value, errors="surrogateescape", floats=True)))
    except ValueError:
        return (1, 0.0)


def _registration(offered: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The template and the node map of an offered route.

    Raises:
        BadMessage: the offer has no `prefix` (a node must say where it is).
    """
    node = {k: v for k, v in offered.items() if normalize_key(k) not in _OFFER_ONLY}
    if "prefix" not in node:
        raise BadMessage("a registration's route needs a `prefix` (where the worker is reached)")
    return offered.get("template"), node


def table_with(table: list[Any], said: Mapping[str, Any]) -> list[Any]:
    """The route table after a routes POST whose signed keys are `said` (see the module
    docstring), sorted by priority.

    Raises:
        BadMessage: a registration without a `route` map or `prefix`, or an empty route.
    """
    new = [dict(r) if isinstance(r, Mapping) else r for r in table]
    action = said.get("action")
    if action is not None and key_text(action, errors="surrogateescape", floats=True).lower() == "register":
        offered = said.get("route")
        if not isinstance(offered, Mapping):
            raise BadMessage("a registration needs a `route` message (template, prefix, ...)")
        template, node = _registration(offered)
        for entry in new:
            if isinstance(entry, dict) and entry.get("template") == template and "nodes" in entry:
                nodes = [n for n in routes.route_list(entry["nodes"]) if n.get("prefix") != node["prefix"]]
                entry["nodes"] = [*nodes, node]
                break
        else:
            route: dict[str, Any] = {"template": template, "strategy": offered.get("strategy", "Random"),
                                     "nodes": [node]}
            if template is None:
                route.pop("template")
            for key in ("choose", "priority"):
                if key in offered:
                    route[key] = offered[key]
            new.append(route)
    else:
        route = {k: v for k, v in said.items() if normalize_key(k) not in _NOT_ROUTE_KEYS}
        if "node" not in route and "nodes" not in route:
            raise BadMessage("a route needs `node` or `nodes` (signed by a route owner)")
        new.insert(0, route)
    return sorted(new, key=_priority)


def _plain_value(value: Any) -> Any:
    """`value` as JSON can hold it: text for bytes and atoms, maps with text keys."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Atom):
        return value.name
    if isinstance(value, Mapping):
        return {normalize_key(k): _plain_value(v) for k, v in value.items() if not str(k).startswith("priv")}
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record_change(store: Store, change: str, said: Mapping[str, Any]) -> None:
    """Keep an accepted routes POST (`said`, the keys its owner signed) in the store, durably,
    under its signed change's ID, so that every worker of the node and every later start sees
    it (`stored_table`).

    Raises:
        Conflict: this change was recorded before (a replay).
    """
    path = f"{CHANGES}/{change}"
    with store.transaction():
        if store.type(path) is not None:
            raise Conflict(f"this routes change ({change}) was applied already")
        entry = {"at": time.time_ns(), "change": _plain_value({k: v for k, v in said.items() if k != "commitments"})}
        store.write(path, json.dumps(entry, sort_keys=True).encode())


_TABLES: dict[tuple[int, str, tuple[str, ...]], list[Any]] = {}


def stored_table(table: Any, opts: Mapping[str, Any]) -> Any:
    """`table` (the `routes` option) with the routes POSTs kept in the node's store applied,
    oldest first; `table` itself when the store has none (or the options name no store)."""
    store = _store_of(opts)
    names = store.list(CHANGES) if store is not None else None
    if store is None or not names:
        return table
    base = json.dumps(_plain_value(routes.route_list(table)), sort_keys=True)
    key = (id(store), base, tuple(names))
    found = _TABLES.get(key)
    if found is None:
        changes = []
        for name in names:
            raw = store.read(f"{CHANGES}/{name}")
            try:
                entry = json.loads(raw) if raw is not None else None
            except ValueError:
                entry = None
            if isinstance(entry, dict) and isinstance(entry.get("change"), dict):
                changes.append((int(entry.get("at", 0)), name, entry["change"]))
        found = routes.route_list(table)
        for _, _, change in sorted(changes, key=lambda c: (c[0], c[1])):
            try:
                found = table_with(found, change)
            except AOError:
                continue  # was valid when accepted; a table that changed since may not take it
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[key] = found
    return found
