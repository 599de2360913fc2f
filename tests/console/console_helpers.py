"""Helpers of the console tests: where screenshots go, and Lua processes on a real node."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from aonode_process import Node, send_message, signed

from aonode.codecs import message_id
from aonode.crypto import Wallet

ROOT = Path(__file__).resolve().parents[2]
AOS_LUA = (ROOT / "tests" / "devices" / "lua_scripts" / "aos.lua").read_bytes()
AOS_LEGACY = (ROOT / "tests" / "clients" / "aos_legacy.lua").read_bytes()


def screenshots() -> Path:
    """The folder the browser tests write their screenshots to: `AONODE_TEST_OUTPUT`/screenshots,
    default `test-output/screenshots` in the repository (ignored by git; docs/screenshots holds
    the committed copies)."""
    base = Path(os.environ.get("AONODE_TEST_OUTPUT") or ROOT / "test-output")
    out = base / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def node_address(node: Node) -> str:
    return httpx.get(node.url + "/~meta@1.0/info/address", timeout=30).text


# A Lua process that calls Lua's own `print` (aos replaces it) and counts its slots.
PRINTER_LUA = b"""
function compute(state, assignment)
  print("marker-" .. tostring(assignment.body.word))
  state.count = (state.count or 0) + 1
  return state
end
"""


def spawn_lua(client: httpx.Client, node: Node, owner: Wallet, module: bytes = AOS_LUA, **extra: Any) -> str:
    """A `lua@5.3a` process running `module` (tests/devices/lua_scripts/aos.lua), scheduled on `node`."""
    return spawn_lua_local(client, node_address(node), owner, module, **extra)


def spawn_lua_local(client: Any, address: str, owner: Wallet, module: bytes = AOS_LUA, **extra: Any) -> str:
    """`spawn_lua` through any client with `post` (an in-process node too), scheduled by `address`."""
    process = signed({
        "device": "process@1.0",
        "type": "Process",
        "scheduler": address,
        "authority": address,
        "scheduler-device": "scheduler@1.0",
        "execution-device": "lua@5.3a",
        "module": {"content-type": "application/lua", "body": module},
        "seed": uuid.uuid4().hex,
        **extra,
    }, owner)
    from aonode_process import post

    response = post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process})
    assert response.status_code == 200, response.text
    return message_id(process, committers="all")


def evaluate(client: httpx.Client, pid: str, owner: Wallet, code: str) -> str:
    slot = send_message(client, pid, owner, action="Eval", data=code)
    return client.get(f"/{pid}/compute/results/output/data", params={"slot": slot}).text
