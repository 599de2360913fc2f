"""Helpers for the payment tests: node configurations with `p4@1.0` and the ledgers, started
as real `aonode serve` processes, and signed requests to them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from aonode_process import Node, post, response_message, running, signed, to_http

from aonode.crypto import Wallet
from aonode.ledger import ledger_process, p4_hook

# `simple_pay_price` of the shared nodes (conftest.py).
SIMPLE_PAY_PRICE = 10
LUA_PRICE = 1


def wallet() -> Wallet:
    """A client wallet for the tests: a 2048-bit RSA key, which signs and verifies as a 4096-bit
    one does (RSA-PSS, the address is the hash of the modulus) and takes 0.2 s to make instead of
    about 2 s on this machine."""
    return Wallet.generate(bits=2048)


def jsonable(value: Any) -> Any:
    """Options as a JSON config file holds them (bytes as text)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def p4_options(pricing: str, ledger: str, *, request_first: Mapping[str, Any] | None = None,
               **extra: Any) -> dict[str, Any]:
    """Options with p4 as request and response hook over the given devices (after the request
    handler `request_first`, when given)."""
    hook = {"device": "p4@1.0", "pricing-device": pricing, "ledger-device": ledger}
    request: Any = hook if request_first is None else [dict(request_first), hook]
    return {"on": {"request": request, "response": hook}, **extra}


def lua_ledger_options(balances: Mapping[str, int], **extra: Any) -> dict[str, Any]:
    """Options charging through the packaged Lua token ledger, run as the node process `ledger`."""
    hook = p4_hook()
    return {"on": {"request": hook, "response": hook},
            "node_processes": {"ledger": ledger_process(balances)}, **extra}


@contextmanager
def node_with(workdir: Path, options: Mapping[str, Any], *, data_dir: Path | None = None,
              wallet: Wallet | None = None) -> Iterator[Node]:
    """A real node started with `options` as its JSON config file."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.json"
    config.write_text(json.dumps(jsonable(options)))
    extra = ["--config", str(config)]
    if wallet is not None:
        wallet.save(workdir / "node-wallet.json")
        extra += ["--wallet", str(workdir / "node-wallet.json")]
    with running(workdir, extra=extra, data_dir=data_dir) as node:
        yield node


def ask(client: httpx.Client, path: str, wallet: Wallet | None = None, *, method: str = "POST",
        **keys: Any) -> httpx.Response:
    """Send `path` (with `keys`) signed by `wallet`, or unsigned, as HyperBEAM's client does."""
    message = {"path": path, **keys}
    if wallet is not None:
        message = signed(message, wallet)
    if method == "POST":
        return post(client, message)
    headers, content = to_http(message)
    headers["accept-bundle"] = "true"
    return client.request(method, path, headers=headers, content=content)


def body(response: httpx.Response) -> Any:
    """The answer's `body`, as the node typed it."""
    return response_message(response).get("body")


def ledger_balance(client: httpx.Client, address: str) -> int:
    """A balance in the Lua ledger, read as `aos` reads it (unsigned GET, text)."""
    response = client.get(f"/ledger~node-process@1.0/now/balance/{address}")
    if response.status_code == 404:
        return 0
    assert response.status_code == 200, response.text
    return int(response.text)
