"""`router@1.0`: the node's route table as a device, worker registration, and the
route-and-relay request hook (`dev_router`, node-services.md §3).

    routes      GET: the route table (`router_opts/provider`'s answer, else `routes`).
                POST: add a route, when a verified signer of the request is in
                `route_owners` (default: the operator), or hand it to `router_opts/registrar`.
    route       where the request (its `route-path`, else `path`) goes: a URI text, or
                `{uri, opts}`, or the route with its chosen `nodes` (several nodes).
    match       the first route of the base's `routes` that the request matches.
    register    POST each `router_opts/offered` entry, signed by this node (or by its identity
                `as` names, when the operator asks), to its `registration-peer`'s
                `/~router@1.0/routes` (a worker announcing itself).
    preprocess  a `request` hook: a request the route table sends elsewhere is relayed
                (relay@1.0 -> the peer's apply@1.0), the rest runs here.
    info        what the device offers.

Routes POST (no registrar): the keys the owner's signature covers form the new route (`path`,
`method` and `commitments` left out), first of the routes without a `priority`; the table is
sorted by `priority` (numbers first, ascending; the order is otherwise kept). A registration
(`action: register` with a `route` map of `template`, `prefix`, `price`, ... as `register`
sends) adds the worker as a node of the route with that `template` (a new route with strategy
`strategy` from the offer, else `Random`, when there is none), replacing an earlier node with
the same `prefix`. An accepted change is kept in the node's store (`aonode.core.stored_routes`,
durably before the answer) and applied over the `routes` option wherever the table is read, so every worker
process of the node and every later start has it; a signed change is applied once, and its
replay answers `Route added.` again and changes nothing. Without a store, the change goes into
the live node message only.

Differences from the reference (docs/compat.md): only verified, key-bound signers count as
owners and only what they signed is added; a registration becomes a node of its template's
route and is idempotent (the reference adds the registration message itself as a route);
`priority` given as text sorts as a number; failing registrations are errors, not crashes;
`preprocess` keeps the route's rewritten path and its node `opts` (the reference drops both),
tries the strategy's next choices when the chosen worker cannot be connected to,
routes by the request's `path` (never its `route-path`), does not relay requests whose path
is itself a URL, and relays several chosen nodes as a multirequest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import commit, signers
from aonode.core import authority, hyperpath, options, routes
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded, resolve_many
from aonode.core.stored_routes import record_change, table_with
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.errors import AOError, Conflict
from aonode.message import Atom, normalize_key
from aonode.net import client
from aonode.store import Store
from aonode.text import as_text

__all__ = ["NO_TEMPLATE", "RouterDevice", "preprocess_body"]

NO_TEMPLATE = "No matching template found in the given routes."
ROUTE_ADDED = b"Route added."
# Options a route node's `opts` may set on the relayed request (client settings only).
_CLIENT_OPTIONS = frozenset({"http_client", "protocol", "http_connect_timeout", "http_request_send_timeout",
                             "http_keepalive", "http_reference"})


def _route_text(value: Any) -> str:
    """A setting as text: bytes losslessly, an atom by name, a str or number as `str()` gives it
    (`True` for a boolean), anything else in its key form (`normalize_key`)."""
    if isinstance(value, (bytes, str, int, float, Atom)):
        return as_text(value, errors="surrogateescape", atoms=True)
    return normalize_key(value)


def _holder(opts: Mapping[str, Any]) -> Any:
    from aonode.core.node import NODE_KEY, NodeMessage

    found = opts.get(NODE_KEY)
    return found if isinstance(found, NodeMessage) else None


def _store_of(opts: Mapping[str, Any]) -> Store | None:
    store = getattr(opts.get("cache"), "store", None)
    return store if isinstance(store, Store) else None


def _operator(opts: Mapping[str, Any]) -> str | None:
    found = options.get(opts, "operator")
    if found is not None:
        return _route_text(found)
    wallet = opts.get("priv_wallet")
    return wallet.address if isinstance(wallet, Wallet) else None


def route_owners(opts: Mapping[str, Any]) -> list[str]:
    """Who may add routes: `route_owners`, else the operator (the node's address by default)."""
    found = options.get(opts, "route_owners", None)
    if found is None:
        operator = _operator(opts)
        return [operator] if operator else []
    items = found if isinstance(found, (list, tuple)) else _route_text(found).split(",")
    return [_route_text(item).strip() for item in items if _route_text(item).strip()]


def _user_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The user's request as it is relayed: an unsigned one gets an `unsigned` (HMAC)
    commitment, so keys the relay adds cannot pass for the user's."""
    found = dict(request)
    if not signers(found):
        found = commit({k: v for k, v in found.items() if k != "commitments"}, type="unsigned")
    return found


def preprocess_body(request: Mapping[str, Any], found: routes.Target | routes.Multi,
                    commit_request: bool) -> list[dict[str, Any]]:
    """The messages that relay `request` where `found` says (§3.6): relay@1.0 POSTs an
    apply@1.0 message to the peer, whose apply@1.0 resolves the user's request with the
    routed path."""
    if isinstance(found, routes.Target):
        peer, path = client.split_url(found.uri)
        node_opts = {options.option_key(k): v for k, v in found.opts.items()}
        relay: dict[str, Any] = {"device": "relay@1.0", "relay-device": "apply@1.0", "method": "POST",
                                 "peer": peer}
        kept = {k: v for k, v in node_opts.items() if k in _CLIENT_OPTIONS}
        if kept:
            relay["relay-opts"] = kept
        # Where to go when the chosen node cannot be connected to: the strategy's next choices
        # that give the same path.
        fallbacks = [peer_of for peer_of, same in ((client.split_url(t.uri)[0], client.split_url(t.uri)[1] == path)
                                                   for t in found.fallbacks) if same]
        if fallbacks:
            relay["relay-fallbacks"] = fallbacks
    else:
        # Several nodes: a multirequest to each node's peer, by a one-route table; the user path
        # is the first node's rewritten path.
        path = client.split_url(found.nodes[0].uri)[1]
        settings = {k: v for k, v in found.route.items() if k not in ("nodes", "template", "node", "reference")}
        nodes = [{"prefix": client.split_url(t.uri)[0], "opts": dict(t.opts)} for t in found.nodes]
        relay = {"device": "relay@1.0", "relay-device": "apply@1.0", "method": "POST",
                 "relay-route": {**settings, "strategy": "All", "nodes": nodes}}
    if commit_request:
        relay["commit-request"] = True
    user = _user_request(request)
    proxied = {"device": "apply@1.0", "path": "user-path", "source": "user-message", "user-path": path,
               "user-message": user}
    return [relay, {"path": "call", "target": "proxy-message", "proxy-message": proxied}]


class RouterDevice(Device):
    """`router@1.0` (see the module docstring)."""

    name = "router@1.0"

    def device_info(self, base: Any = None, opts: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        return {"exports": ["info", "routes", "route", "match", "register", "preprocess"]}

    def info(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "description": "Routes outbound requests by the node's route table; relays requests to workers",
            "version": "1.0",
            "api": {
                "routes": {"description": "GET the route table; POST (signed by a route owner) adds a route"},
                "route": {"description": "Where a request goes", "required_params": ["route-path"]},
                "match": {"description": "The first route of the base's `routes` the request matches"},
                "register": {"description": "Announce this node's `router_opts/offered` routes to their routers"},
                "preprocess": {"description": "Request hook: relay requests the route table sends elsewhere"},
            },
        }

    # --- routes ---

    def routes(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The route table, or (POST) add to it."""
        if _route_text(request.get("method", "GET")).upper() != "POST":
            try:
                return Result("ok", routes.route_list(client.load_routes(opts)))
            except AOError as exc:
                return Result("error", {"status": exc.status, "body": exc.message.encode()})
        router_opts = options.get(opts, "router_opts", {})
        registrar = router_opts.get("registrar") if isinstance(router_opts, Mapping) else None
        if registrar is not None:
            return self._to_registrar(registrar, router_opts, request, opts)
        holder = _holder(opts)
        node = holder.current() if holder is not None else opts
        context = {**node, **{k: opts[k] for k in (authority.VERIFIED_REQUEST, "cache") if k in opts}}
        owners = route_owners(node)
        signer = next((s for s in authority.signed_by(request, context) if s in owners), None)
        if signer is None:
            return Result("error", {"status": 403, "body": b"not_authorized: routes are added only by a "
                                                           b"signer in route_owners"})
        said = authority.vouched(request, context, signer)
        change = authority.change_id(request, context, signer)
        store = _store_of(context)
        try:
            table_with(routes.route_list(options.get(node, "routes", [])), said)  # refuses a malformed change
            if store is not None:
                record_change(store, change, said)
            elif holder is not None:
                signed = authority.authority(request, context)
                entry = {k: v for k, v in signed.items() if k in said or k == "commitments"}
                table = table_with(routes.route_list(options.get(node, "routes", [])), said)
                holder.adopt({"routes": table}, {**entry, "change": "routes"}, once=change)
            else:
                return Result("error", {"status": 503, "body": b"this node has neither a store nor a live node "
                                                               b"message: its routes cannot be changed"})
        except Conflict:
            return Result("ok", ROUTE_ADDED)  # the same signed change, again: applied once already
        except AOError as exc:
            return Result("error", {"status": exc.status, "body": exc.message.encode()})
        return Result("ok", ROUTE_ADDED)

    def _to_registrar(self, registrar: Any, router_opts: Mapping[str, Any], request: Mapping[str, Any],
                      opts: Mapping[str, Any]) -> Result:
        """Hand the request to the registrar (`registrar` path, then the request with its path
        replaced by `registrar-path`), e.g. scheduling it on a routing process."""
        singleton = registrar if isinstance(registrar, Mapping) else {"path": _route_text(registrar)}
        forwarded = dict(request)
        if "registrar-path" in router_opts:
            forwarded["path"] = router_opts["registrar-path"]
        try:
            found = resolve_many([*hyperpath.parse(singleton), forwarded], opts)
        except AOError as exc:
            return Result("error", {"status": exc.status, "body": exc.message.encode()})
        if found.status not in ("ok", "created"):
            return found
        return Result("ok", ROUTE_ADDED)

    # --- route and match ---

    def route(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """Where `request` goes by the node's routes."""
        try:
            found = client.find_route(request, opts)
        except AOError as exc:
            return Result("error", {"status": exc.status, "body": exc.message.encode()})
        if found is None:
            return Result("error", {"status": 404, "body": f"no_matches: no route matches the path "
                                                           f"'{routes.target_path(request)[:300]}'".encode()})
        return Result("ok", _describe(found))

    def match(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The first route of the base's `routes` that `request` matches."""
        table = ensure_loaded(base.get("routes", []), opts) if isinstance(base, Mapping) else []
        found = routes.match_route(request, table)
        if found is None:
            return Result("error", {"status": 404, "body": b"no_matching_route"})
        return Result("ok", found)

    # --- register ---

    def register(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """POST this node's offered routes to their routers, signed by this node."""
        router_opts = options.get(opts, "router_opts", {})
        offered = router_opts.get("offered") if isinstance(router_opts, Mapping) else None
        entries = routes.route_list(offered) if isinstance(offered, Mapping) and "registration-peer" not in offered \
            else ([offered] if isinstance(offered, Mapping) else routes.route_list(offered))
        if not entries:
            return Result("error", {"status": 400, "body": b"router_opts/offered names no route to register"})
        wallet = opts.get("priv_wallet")
        identity = request.get("as")
        if identity is not None:
            # Another of the node's identities signs (`hb_opts:as`): asked by the operator only.
            from aonode.devices._scheduler_locations import local_wallets

            operator = _operator(opts)
            if operator is None or operator not in authority.signed_by(request, opts):
                return Result("error", {"status": 403, "body": b"register `as` another identity is for the "
                                                               b"operator alone"})
            wallet = local_wallets(opts).get(_route_text(identity))
            if wallet is None:
                return Result("error", {"status": 400, "body": f"this node has no identity "
                                                               f"'{_route_text(identity)[:100]}'".encode()})
        if not isinstance(wallet, Wallet):
            return Result("error", {"status": 503, "body": b"register needs the node's wallet (priv_wallet)"})
        for entry in entries:
            peer = entry.get("registration-peer")
            if not isinstance(peer, (str, bytes)):
                return Result("error", {"status": 400, "body": b"an offered route has no registration-peer"})
            offer = {k: v for k, v in entry.items() if k != "registration-peer"}
            # `path` is left unsigned: a registrar replaces it (`registrar-path`) and schedules
            # the registration itself (`subject: self`), whose signature must still hold.
            message = {**commit({"method": "POST", "subject": "self", "action": "register", "route": offer},
                                wallet), "path": "/~router@1.0/routes"}
            answer = client.request("POST", _route_text(peer), message, {**opts, "http_only_result": False},
                                    path="/~router@1.0/routes")
            if answer.status not in ("ok", "created"):
                body = answer.value.get("body", b"") if isinstance(answer.value, Mapping) else answer.value
                shown = body[:300].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:300]
                status = answer.value.get("status", 502) if isinstance(answer.value, Mapping) else 502
                return Result("error", {"status": 502 if int(status) < 400 else int(status),
                                        "body": f"registration with {_route_text(peer)} failed: {shown}".encode()})
        return Result("ok", b"Routes registered.")

    # --- preprocess ---

    def preprocess(self, base: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        """The `request` hook: relay the request when the route table sends it elsewhere."""
        singleton = request.get("request")
        body = request.get("body")
        if not isinstance(singleton, Mapping):
            return Result("ok", {**request, "body": body})
        found: routes.Target | routes.Multi | None
        if routes.target_path(singleton).startswith(("http://", "https://")):
            found = None  # a path that is itself a URL is never relayed: the node is not an open proxy
        else:
            try:
                # By the request's own path: a `route-path` key is a question for `route`, not
                # a way to send the request elsewhere.
                found = client.find_route({k: v for k, v in singleton.items() if k != "route-path"}, opts)
            except AOError as exc:
                return Result("error", {"status": exc.status, "body": exc.message.encode()})
        if found is None:
            if _route_text(options.get(opts, "router_preprocess_default", "local")) == "error":
                return Result("ok", {**request, "body": [{"status": 404, "message": NO_TEMPLATE, "body": NO_TEMPLATE}]})
            return Result("ok", {**request, "body": body})
        commit_request = (isinstance(base, Mapping)
                          and _route_text(base.get("commit-request", "false")).lower() == "true")
        try:
            return Result("ok", {**request, "body": preprocess_body(singleton, found, commit_request)})
        except AOError as exc:  # the request cannot be wrapped (a value no codec expresses)
            return Result("error", {"status": 400 if exc.status == 500 else exc.status,
                                    "body": f"the request cannot be relayed: {exc.message}".encode()})


def _describe(found: routes.Target | routes.Multi) -> Any:
    if isinstance(found, routes.Target):
        if not found.node:
            return found.uri
        return {"uri": found.uri, "opts": dict(found.opts)}
    return {**found.route, "nodes": [{**t.node, "uri": t.uri} for t in found.nodes]}

