"""`greenzone@1.0`: a cluster of attested nodes of one operator that share an AES-256 zone key
and, optionally, one identity (`dev_green_zone`; node-services.md §7).

    init        (operator) start a zone on this node: a new zone key, the required config
                (`green_zone_required_config`, `"self"` = this node's own value)
    join        with an attestation in the request: the host side. The joiner's node message
                must carry the required config, its `snp@1.0` attestation must pass every
                check, and its `public_key` must be the signer's key; then the zone key is
                returned encrypted to that key (RSA PKCS#1 v1.5) and the joiner is recorded
                in `trusted_nodes`. Without one: (operator) the joiner side: attest this node,
                POST to `green_zone_peer_location`, accept a reply signed by
                `green_zone_peer_id` only, keep the zone key.
    key         the zone identity's wallet sealed under the zone key (AES-256-GCM)
    become      (operator) fetch `key` from the peer, open it with the zone key and sign as
                that identity from now on (the node's own wallet is kept in `identities`)
    is_trusted  "true" when a signer of the request is in `trusted_nodes`

The zone's state (zone key, members, required config, adopted identity) is written to
`<data_dir>/greenzone.json` (owner-only, atomically) before a change is answered, and read
back by the first greenzone@1.0 request after a restart (or after another worker process of
the node changed it), or at start-up when the node's `on/start` hook names
`{"device": "greenzone@1.0", "path": "start"}` (then a node that became a zone identity signs
as it from its first reply).

No response ever carries a private key in the clear: `join` answers with the host's *public*
key (the reference puts its private key tuple there), and the wallet leaves only sealed.
The reference lets anyone call `init`, `join` (client side) and `become`; here only the
operator may (`meta@1.0` `is_operator`). Key material is exchanged in HyperBEAM's Erlang term
forms (`aonode.tee.zone`), so aonode and HyperBEAM nodes can join each other's zones.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aonode.codecs import commit, signers, with_only_committed
from aonode.core import authority, options
from aonode.core.devices import Device
from aonode.core.node import NodeMessage, is_operator
from aonode.core.terms import Result
from aonode.crypto import Wallet, b64url_encode, sha256
from aonode.devices import snp
from aonode.errors import AOError, BadMessage, Conflict, DecodeError, Forbidden
from aonode.message import normalize_key
from aonode.net import client
from aonode.tee import attest, zone
from aonode.text import as_text

__all__ = ["GreenZoneDevice"]

NAME = "greenzone@1.0"
_NODE_KEY = "priv_node_message"
_ZONE_KEY = "priv_green_zone_aes"
_NOT_IN_ZONE = "Node not part of a green zone."
_BAD_PEER = "Received incorrect response from peer!"
_JOINED = b"Node joined green zone successfully."
_STATE_FILE = "greenzone.json"
_RESTORED = "priv_green_zone_restored"
# One change of a node's zone state at a time (a read-modify-write of the node message).
_LOCK = threading.Lock()


def _refuse(status: int, reason: str) -> Result:
    return Result("error", {"status": status, "body": reason.encode()})


def _holder(opts: Mapping[str, Any]) -> NodeMessage:
    found = opts.get(_NODE_KEY)
    if not isinstance(found, NodeMessage):
        raise AOError("greenzone@1.0 needs a running node: its node message is not held by a server", status=503)
    return found


def _state_path(node: Mapping[str, Any]) -> Path | None:
    data_dir = options.get(node, "data_dir")
    return Path(as_text(data_dir, errors="surrogateescape")) / _STATE_FILE if data_dir else None


def _stamp(node: Mapping[str, Any]) -> tuple[int, int]:
    """Which version of the saved state is on disk: (mtime in ns, size), or (0, 0) for none."""
    path = _state_path(node)
    try:
        found = path.stat() if path is not None else None
    except OSError:
        found = None
    return (found.st_mtime_ns, found.st_size) if found is not None else (0, 0)


def _save(node: dict[str, Any]) -> None:
    """Write the zone state of `node` durably (before the change is answered), and note in
    `node` which version of the file it holds."""
    path = _state_path(node)
    if path is None:
        return
    key = node.get(_ZONE_KEY)
    identity = (options.get(node, "identities") or {}).get("green-zone")
    zone_wallet = identity.get("priv_wallet") if isinstance(identity, Mapping) else None
    state = {
        "zone_key": base64.b64encode(key).decode() if isinstance(key, bytes) else None,
        "initialized": bool(options.get(node, "green_zone_initialized")),
        "required_opts": options.get(node, "green_zone_required_opts") or {},
        "trusted_nodes": options.get(node, "trusted_nodes") or {},
        "identity": zone_wallet.to_jwk() if isinstance(zone_wallet, Wallet) else None,
        "operator": (as_text(node["operator"], errors="surrogateescape")
                     if isinstance(zone_wallet, Wallet) and node.get("operator") else None),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, default=lambda value: as_text(value, errors="surrogateescape"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    node[_RESTORED] = _stamp(node)


def _restored(node: Mapping[str, Any]) -> dict[str, Any]:
    """`node` with the zone state saved in its data directory (unchanged when there is none)."""
    path = _state_path(node)
    out = {**node, _RESTORED: _stamp(node)}
    if path is None or not path.is_file():
        return out
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AOError(f"greenzone@1.0: {path} cannot be read: {exc}", status=503) from exc
    if state.get("zone_key"):
        out[_ZONE_KEY] = base64.b64decode(state["zone_key"])
    out["green_zone_initialized"] = bool(state.get("initialized"))
    out["green_zone_required_opts"] = state.get("required_opts") or {}
    out["trusted_nodes"] = state.get("trusted_nodes") or {}
    if state.get("identity"):
        identity = Wallet.from_jwk(state["identity"])
        identities = dict(options.get(node, "identities") or {})
        own = node.get("priv_wallet")
        if isinstance(own, Wallet) and own.address != identity.address:
            identities.setdefault("node", {"priv_wallet": own})
            out["operator"] = state.get("operator") or own.address
        identities["green-zone"] = {"priv_wallet": identity}
        out["identities"] = identities
        out["priv_wallet"] = identity
    return out


def _node(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The live node message, with the saved zone state read in when the file is newer than
    what it holds (after a restart, or a change made by another worker process)."""
    found = opts.get(_NODE_KEY)
    if not isinstance(found, NodeMessage):
        return dict(opts)
    if found.current().get(_RESTORED) != _stamp(found.current()):
        with _LOCK:
            if found.current().get(_RESTORED) != _stamp(found.current()):
                found.replace(_restored(found.current()))
    return found.current()


def _update(opts: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    holder = _holder(opts)
    with _LOCK:
        new = {**holder.current(), **changes}
        _save(new)
        holder.replace(new)


def _wallet(node: Mapping[str, Any]) -> Wallet:
    wallet = node.get("priv_wallet")
    if not isinstance(wallet, Wallet):
        raise AOError("the node has no wallet", status=503)
    return wallet


def _zone_wallet(node: Mapping[str, Any]) -> Wallet:
    identity = (options.get(node, "identities") or {}).get("green-zone")
    found = identity.get("priv_wallet") if isinstance(identity, Mapping) else None
    return found if isinstance(found, Wallet) else _wallet(node)


def _peer(node: Mapping[str, Any]) -> tuple[str, str] | None:
    location, peer_id = options.get(node, "green_zone_peer_location"), options.get(node, "green_zone_peer_id")
    if not location or not peer_id:
        return None
    return as_text(location, errors="surrogateescape"), as_text(peer_id, errors="surrogateescape")


def _signed_by(response: Mapping[str, Any], peer_id: str) -> bool:
    try:
        return peer_id in signers(with_only_committed(dict(response)))
    except AOError:
        return False


def _same(a: Any, b: Any) -> bool:
    return a == b or as_text(a, errors="surrogateescape") == as_text(b, errors="surrogateescape")


def _check_required(peer_node: Any, required: Mapping[str, Any]) -> None:
    """The joiner's node message carries every required option, and its history never
    contradicts one (`hb_opts:ensure_node_history`)."""
    if not required:
        return
    if not isinstance(peer_node, Mapping):
        raise Forbidden("invalid_join_request: the join request has no signed node-message")
    for key, value in required.items():
        if key not in peer_node or not _same(peer_node[key], value):
            raise Forbidden(f"invalid_join_request: the joiner's {key} is not the zone's required value")
    history = peer_node.get("node_history") or peer_node.get("node-history") or []
    for entry in history if isinstance(history, list) else []:
        if isinstance(entry, Mapping):
            for key, value in required.items():
                if key in entry and not _same(entry[key], value):
                    raise Forbidden(f"invalid_join_request: the joiner's node history changed {key}")


class GreenZoneDevice(Device):
    name = NAME

    def device_info(self, base: Any, opts: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"exports": ["info", "init", "join", "key", "become", "is_trusted", "start"]}

    def start(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The `start` hook: the node message (the request's `body`) with its saved zone state."""
        body = request.get("body") if isinstance(request, Mapping) else None
        if not isinstance(body, Mapping):
            raise BadMessage("greenzone@1.0 start is a start hook: it takes the node message as `body`")
        return Result("ok", {"body": _restored(body)})

    def info(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        return Result("ok", {"status": 200, "body": {
            "description": "Green zones: attested nodes of one operator that share a key and an identity",
            "version": "1.0",
            "api": {
                "init": "POST, operator: start a green zone on this node",
                "join": "POST: admit an attested node (with a report), or (operator) join green_zone_peer_location",
                "key": "GET: the zone identity, sealed under the zone key",
                "become": "POST, operator: take the zone identity of green_zone_peer_location",
                "is_trusted": "GET: whether the request's signer is a member",
            },
        }})

    def init(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Start a zone on this node (operator only; once)."""
        if not isinstance(request, Mapping) or not is_operator(request, opts):
            return _refuse(403, "Only the node's operator may initialise a green zone.")
        node = _node(opts)
        if options.get(node, "green_zone_initialized"):
            raise Conflict("Green zone already initialized.")
        required = options.get(node, "green_zone_required_config") or {}
        if not isinstance(required, Mapping):
            raise BadMessage("green_zone_required_config must be a map of option to value")
        processed = {normalize_key(k): (options.get(node, k) if as_text(v, errors="surrogateescape") == "self" else v)
                     for k, v in required.items()}
        _wallet(node)
        key = node.get(_ZONE_KEY)
        _update(opts, {
            _ZONE_KEY: key if isinstance(key, bytes) and len(key) == zone.ZONE_KEY_SIZE else zone.new_zone_key(),
            "trusted_nodes": {},
            "green_zone_required_opts": processed,
            "green_zone_initialized": True,
        })
        return Result("ok", {"status": 200, "body": b"Green zone initialized successfully."})

    def join(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Admit an attested joiner (a request with a `report`), or join the configured peer."""
        if not isinstance(request, Mapping):
            raise BadMessage("join needs a message")
        carried, _ = snp.attestation_of(request, opts)
        if "report" in carried or "report" in request or isinstance(request.get("body"), Mapping):
            return self._admit(request, opts)
        return self._join_peer(request, opts)

    def _admit(self, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        node = _node(opts)
        key = node.get(_ZONE_KEY)
        if not isinstance(key, bytes):
            return _refuse(400, _NOT_IN_ZONE)
        message, who = snp.attestation_of(request, opts)
        _check_required(message.get("node-message"), options.get(node, "green_zone_required_opts") or {})
        attested = attest.check(message, who, {**opts, **{k: v for k, v in node.items() if k.startswith("snp_")}})
        raw_key = message.get("public_key")
        if not isinstance(raw_key, (str, bytes)):
            raise BadMessage("join: the attestation needs a signed public_key ({{rsa, 65537}, N} as base64)")
        try:
            term = base64.b64decode(raw_key, validate=True)
        except ValueError as exc:
            raise DecodeError("join: public_key is not base64") from exc
        public = zone.public_key_from_term(term)
        modulus = public.public_numbers().n
        if b64url_encode(sha256(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"))) != attested.address:
            raise Forbidden("join: public_key is not the key of the attested address")
        with _LOCK:
            holder = _holder(opts)
            current = holder.current()
            members = dict(options.get(current, "trusted_nodes") or {})
            members[attested.address] = {"report": as_text(message["report"], errors="surrogateescape"),
                                         "public_key": as_text(raw_key, errors="surrogateescape")}
            updated = {**current, "trusted_nodes": members}
            _save(updated)
            holder.replace(updated)
        me = _zone_wallet(node)
        return Result("ok", {
            "status": 200,
            "body": _JOINED,
            "node-address": me.address,
            "zone-key": zone.wrap_zone_key(key, public),
            "public_key": base64.b64encode(zone.public_term(me)).decode(),
        })

    def _join_peer(self, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
        if not is_operator(request, opts):
            return _refuse(403, "Only the node's operator may make it join a green zone.")
        node = _node(opts)
        if isinstance(node.get(_ZONE_KEY), bytes):
            raise Conflict("Node already part of green zone.")
        peer = _peer(node)
        if peer is None:
            return _refuse(400, "join: set green_zone_peer_location and green_zone_peer_id to join a zone")
        location, peer_id = peer
        wallet = _wallet(node)
        attestation = snp.generate_attestation({**opts, **node})
        attestation["public_key"] = base64.b64encode(zone.public_term(wallet)).decode()
        signed = commit(attestation, wallet, bundle=True)
        result = client.request("POST", location, signed, {**node, "http_only_result": False},
                                path="/~greenzone@1.0/join")
        reply = result.value if isinstance(result.value, Mapping) else {}
        status = int(reply.get("status", 502)) if isinstance(reply.get("status", 502), int) else 502
        if result.status != "ok":
            if status in (502, 504) and not reply.get("commitments"):
                return _refuse(503, "Peer node is unreachable.")
            reason = reply.get("body", b"")
            text = as_text(reason, errors="surrogateescape") if isinstance(reason, (bytes, str)) else "refused"
            return _refuse(status if 400 <= status < 500 else 502, f"The green zone host refused: {text}")
        if not _signed_by(reply, peer_id):
            return _refuse(502, _BAD_PEER)
        wrapped = with_only_committed(dict(reply)).get("zone-key")
        if not isinstance(wrapped, (str, bytes)):
            return _refuse(502, _BAD_PEER)
        zone_key = zone.unwrap_zone_key(wrapped, wallet)
        with _LOCK:
            holder = _holder(opts)
            current = holder.current()
            if isinstance(current.get(_ZONE_KEY), bytes):
                raise Conflict("Node already part of green zone.")
            updated = {**current, _ZONE_KEY: zone_key}
            _save(updated)
            holder.replace(updated)
        return Result("ok", {"status": 200, "body": _JOINED})

    def key(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The zone identity's wallet, sealed under the zone key."""
        node = _node(opts)
        key = node.get(_ZONE_KEY)
        if not isinstance(key, bytes):
            return _refuse(400, _NOT_IN_ZONE)
        sealed, iv = zone.seal_wallet(_zone_wallet(node), key)
        return Result("ok", {"status": 200, "encrypted_key": sealed, "iv": iv})

    def become(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Take the peer's zone identity (operator only)."""
        if not isinstance(request, Mapping) or not is_operator(request, opts):
            return _refuse(403, "Only the node's operator may make it take another identity.")
        node = _node(opts)
        key = node.get(_ZONE_KEY)
        if not isinstance(key, bytes):
            return _refuse(400, _NOT_IN_ZONE)
        peer = _peer(node)
        if peer is None:
            return _refuse(400, "become: set green_zone_peer_location and green_zone_peer_id")
        location, peer_id = peer
        result = client.request("GET", location, {}, {**node, "http_only_result": False},
                                path="/~greenzone@1.0/key")
        reply = result.value if isinstance(result.value, Mapping) else {}
        if result.status != "ok":
            return _refuse(503, "Peer node is unreachable.") if not reply.get("commitments") else \
                _refuse(502, _BAD_PEER)
        if not _signed_by(reply, peer_id):
            return _refuse(502, _BAD_PEER)
        said = with_only_committed(dict(reply))
        sealed, iv = said.get("encrypted_key"), said.get("iv")
        if not isinstance(sealed, (str, bytes)) or not isinstance(iv, (str, bytes)):
            return _refuse(502, _BAD_PEER)
        identity = zone.open_wallet(sealed, iv, key)
        if identity.address != peer_id:
            return _refuse(502, "The peer's zone identity is not green_zone_peer_id.")
        with _LOCK:
            holder = _holder(opts)
            current = holder.current()
            own = _wallet(current)
            identities = dict(options.get(current, "identities") or {})
            identities["green-zone"] = {"priv_wallet": identity}
            identities.setdefault("node", {"priv_wallet": own})
            operator = options.get(current, "operator") or own.address
            updated = {**current, "identities": identities, "priv_wallet": identity, "operator": operator}
            _save(updated)
            holder.replace(updated)
        return Result("ok", {"status": 200, "body": {
            "message": "Successfully adopted target node identity", "peer-location": location, "peer-id": peer_id,
        }})

    def is_trusted(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """"true" when a verified signer of the request is a zone member."""
        members = options.get(_node(opts), "trusted_nodes") or {}
        who = authority.signed_by(request, opts) if isinstance(request, Mapping) else []
        return Result("ok", b"true" if any(w in members for w in who) else b"false")
