"""Helpers for the process tests that run against real `aonode serve` processes: spawn a
process, schedule signed messages, read the schedule back and check it."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from aonode_process import Node, post, response_message

from aonode.codecs import message_id, verify, with_only_committed
from aonode.crypto import Wallet

HERE = Path(__file__).parent
# Nodes load `counter@1.0` from this folder.
CONFIG = "preloaded_devices/counter@1.0: counter_device:CounterDevice\n"


def node_wallet(node: Node) -> Wallet:
    return Wallet.load(node.data_dir / "wallet.json")


def process_message(scheduler: str, owner: Wallet, **extra: Any) -> dict[str, Any]:
    """A signed process definition run by `counter@1.0`, scheduled by `scheduler`."""
    from aonode_process import signed

    return signed({
        "device": "process@1.0",
        "type": "Process",
        "scheduler": scheduler,
        "authority": scheduler,
        "scheduler-device": "scheduler@1.0",
        "execution-device": "counter@1.0",
        "test-random-seed": uuid.uuid4().hex,
        **extra,
    }, owner)


def schedule(client: httpx.Client, body: Mapping[str, Any]) -> httpx.Response:
    """POST `body` (a signed message) to the node's scheduler."""
    return post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": dict(body)})


def assignment_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response_message(response)


def read_schedule(client: httpx.Client, pid: str, start: int, end: int) -> dict[int, dict[str, Any]]:
    """Every assignment from `start` to `end`, following `continues` pages."""
    out: dict[int, dict[str, Any]] = {}
    cursor = start
    while cursor <= end:
        response = client.get("/~scheduler@1.0/schedule", params={"target": pid, "from": cursor, "to": end},
                              headers={"accept-bundle": "true"})
        assert response.status_code == 200, response.text
        page = response_message(response)
        found = page.get("assignments") or {}
        slots = sorted(int(k) for k in found)
        if not slots:
            break
        for slot in slots:
            out[slot] = found[str(slot)]
        cursor = slots[-1] + 1
    return out


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def check_chain(assignments: Mapping[int, Mapping[str, Any]], pid: str) -> None:
    """Slots 0..N are present, each assignment verifies and names `pid`, and each hash chain
    link is SHA-256(previous link's raw bytes || the scheduled message's ID)."""
    previous = b""
    for slot in range(len(assignments)):
        assignment = assignments[slot]
        committed = with_only_committed(dict(assignment))
        verify(committed)
        assert committed["slot"] == slot
        assert committed["process"] == pid.encode()
        body = committed["body"]
        link = hashlib.sha256(previous + message_id(with_only_committed(body), committers="all").encode()).digest()
        assert committed["hash-chain"] == _b64(link), f"hash chain breaks at slot {slot}"
        previous = link
