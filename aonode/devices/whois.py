"""`whois@1.0`: how a node is reached (`dev_whois`, node-services.md §11.3).

    echo   the caller's address as this node sees it: `ao-peer` (`<x-real-ip or socket IP>:<the
           caller's ao-peer-port>`), else `unknown`
    node   this node's own address. With `host_bootstrap_node` set, asks it once (`GET
           <node>/~whois@1.0/echo`, sending this node's port as `ao-peer-port`) and keeps the
           answer for the node's life; else the `host` option unless it is a default
           (`unknown`, `localhost`). Neither: 404 "No bootstrap node configured."; a bootstrap
           node that does not answer: 502 naming it.

In aonode `host` is also the address the server binds (`aonode serve --host`), so unlike the
reference a configured bootstrap node takes precedence over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core import options
from aonode.core.devices import Device
from aonode.core.node import NODE_KEY, NodeMessage
from aonode.core.terms import Result
from aonode.text import as_text

__all__ = ["WhoisDevice", "ensure_host"]

UNSET = ("", "unknown", "localhost")
LEARNED = "priv_whois_host"  # private: never shown in the node message


def ensure_host(opts: Mapping[str, Any]) -> Result:
    """This node's address: the `host` option, else learned from `host_bootstrap_node`."""
    learned = opts.get(LEARNED)
    if isinstance(learned, str):
        return Result("ok", learned.encode())
    host = as_text(opts.get("host", "unknown"), errors="replace")
    bootstrap = opts.get("host_bootstrap_node")
    if not isinstance(bootstrap, (bytes, str)) or not as_text(bootstrap, errors="replace"):
        if host not in UNSET:
            return Result("ok", host.encode())
        return Result("error", {"status": 404, "body": b"No bootstrap node configured."})
    from aonode.net.client import request_routed

    node = as_text(bootstrap, errors="replace").rstrip("/")
    port = options.get(opts, "port_external") or options.get(opts, "port")
    # Through the route table like every outbound request (an absolute URL goes where it says).
    answer = request_routed({"path": f"{node}/~whois@1.0/echo", "method": "GET",
                             "ao-peer-port": str(port).encode()}, opts)
    body = answer.value.get("body") if answer.ok and isinstance(answer.value, Mapping) else answer.value
    if not answer.ok or not isinstance(body, (bytes, str)) or as_text(body, errors="replace") in ("", "unknown"):
        return Result("error", {"status": 502, "body": f"whois@1.0: bootstrap node {node} did not say who we are"
                                                      .encode()})
    learned = as_text(body, errors="replace")
    holder = opts.get(NODE_KEY)
    if isinstance(holder, NodeMessage):
        holder.replace({**holder.current(), LEARNED: learned})
    return Result("ok", learned.encode())


class WhoisDevice(Device):
    name = "whois@1.0"

    def echo(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The caller's `ao-peer`, or `unknown`."""
        peer = request.get("ao-peer") if isinstance(request, Mapping) else None
        return Result("ok", peer if isinstance(peer, (bytes, str)) and peer else b"unknown")

    def node(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """This node's address (learned from the bootstrap node when not configured)."""
        return ensure_host(opts)
