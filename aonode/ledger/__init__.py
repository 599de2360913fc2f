"""The token ledger a node runs as a node process, and the p4 side that talks to it
(docs/payments.md, node-services.md §4.4).

* `token.lua`: the ledger itself, a `lua@5.3a` module for `process@1.0` (balances, transfers,
  credit-notices, sub-ledgers, charges by the node, each charge made once);
* `p4_client.lua`: the `ledger-device` module of a `p4@1.0` hook: reads balances from the
  process and pushes the node's charges into it.

`ledger_options()` builds the node options that wire them together; `python -m aonode.ledger`
prints them as a JSON config file for `aonode serve --config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = ["LEDGER_PATH", "P4_CLIENT", "TOKEN", "ledger_options", "ledger_process", "lua_module", "p4_hook"]

TOKEN = "token.lua"
P4_CLIENT = "p4_client.lua"
LEDGER_PATH = "/ledger~node-process@1.0"


def lua_module(name: str) -> dict[str, Any]:
    """The module message `lua@5.3a` loads: the packaged source `name` as `text/x-lua`."""
    source = resources.files(__name__).joinpath(name).read_bytes()
    return {"content-type": b"text/x-lua", "name": name.encode(), "body": source}


def ledger_process(balances: Mapping[str, int] | None = None, admin: str | None = None) -> dict[str, Any]:
    """The `node_processes` entry of the ledger: opening `balances` (address → amount); the
    admin who may charge is `admin`, else the node that runs it."""
    definition: dict[str, Any] = {
        "device": b"process@1.0",
        "execution-device": b"lua@5.3a",
        "scheduler-device": b"scheduler@1.0",
        "push-device": b"push@1.0",
        "module": lua_module(TOKEN),
        "balance": {address: int(amount) for address, amount in (balances or {}).items()},
    }
    if admin is not None:
        definition["admin"] = admin.encode()
    return definition


def p4_hook(pricing_device: str = "simple-pay@1.0", ledger_path: str = LEDGER_PATH) -> dict[str, Any]:
    """The `p4@1.0` handler message (for both `on/request` and `on/response`)."""
    return {
        "device": b"p4@1.0",
        "pricing-device": pricing_device.encode(),
        "ledger-device": b"lua@5.3a",
        "module": lua_module(P4_CLIENT),
        "ledger-path": ledger_path.encode(),
    }


def ledger_options(balances: Mapping[str, int] | None = None, admin: str | None = None,
                   price: int = 1) -> dict[str, Any]:
    """Node options: p4 charging `price` per message into a ledger process named `ledger`."""
    hook = p4_hook()
    return {
        "on": {"request": hook, "response": hook},
        "node_processes": {"ledger": ledger_process(balances, admin)},
        "simple_pay_price": price,
    }
