"""The routing process a router node runs (`dynamic_router.lua`, node-services.md §3.10), and
the options that wire it to `router@1.0`.

`router_process(...)` is the `node_processes` entry; `router_options(...)` the node options:
the route table comes from the process, computed to its latest slot (`router_opts/provider`),
and registrations POSTed to `/~router@1.0/routes` are scheduled on it (`router_opts/registrar`).
Every value is text or a number, so the options can be written to a JSON config file as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

__all__ = ["PROVIDER_PATH", "ROUTER_PATH", "SCRIPT", "router_options", "router_process", "script_module"]

SCRIPT = "dynamic_router.lua"
ROUTER_PATH = "/router~node-process@1.0"
# `now`, not the reference's `compute`: `compute` without a slot answers the state last
# computed, so registrations would reach the table only after someone asked for `now`.
PROVIDER_PATH = ROUTER_PATH + "/now/routes~message@1.0"


def script_module() -> dict[str, Any]:
    """The module message `lua@5.3a` loads: the packaged `dynamic_router.lua`."""
    source = resources.files(__name__).joinpath(SCRIPT).read_text(encoding="utf-8")
    return {"content-type": "text/x-lua", "name": SCRIPT, "body": source}


def router_process(trusted_peers: Iterable[str] = (), is_admissible: Mapping[str, Any] | None = None,
                   **tunables: Any) -> dict[str, Any]:
    """The `node_processes` entry of the routing process.

    Args:
        trusted_peers: addresses whose registrations are admitted.
        is_admissible: a message resolved with each other registration; "true" admits it.
        tunables: `pricing_weight`, `performance_weight`, `score_preference`, `sampling_rate`,
            `performance_period`, `initial_performance` (as the script's state keys, `_` for `-`).
    """
    definition: dict[str, Any] = {
        "device": "process@1.0",
        "execution-device": "lua@5.3a",
        "scheduler-device": "scheduler@1.0",
        "module": script_module(),
    }
    peers = list(trusted_peers)
    if peers:
        definition["trusted-peer"] = peers
    if is_admissible is not None:
        definition["is-admissible"] = dict(is_admissible)
    for key, value in tunables.items():
        definition[key.replace("_", "-")] = value
    return definition


def router_options(trusted_peers: Iterable[str] = (), is_admissible: Mapping[str, Any] | None = None,
                   **tunables: Any) -> dict[str, Any]:
    """Node options for a router whose table is the routing process's, with registrations
    scheduled on it and every matching request relayed (`preprocess`)."""
    return {
        "node_processes": {"router": router_process(trusted_peers, is_admissible, **tunables)},
        "router_opts": {"provider": {"path": PROVIDER_PATH}, "registrar": {"path": ROUTER_PATH},
                        "registrar-path": "schedule"},
        "on": {"request": {"device": "router@1.0", "path": "preprocess"}},
    }
