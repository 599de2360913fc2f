"""Shared pieces of the scheduler@1.0 tests: wallets, the reference's test process, and
checks for assignments (signatures, the hash chain)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cache
from typing import Any

from oracle import FIXTURES

from aonode.codecs import message_id, signers, verify, with_only_committed
from aonode.crypto import Wallet, b64url_decode, sha256
from aonode.store import MemoryStore, MessageCache, Store


@cache
def wallet(n: int = 1) -> Wallet:
    """The shared test wallet `key-<n>.json` (fresh when the fixtures are absent)."""
    path = FIXTURES / f"key-{n}.json"
    return Wallet.load(path) if path.is_file() else Wallet.generate()


def scheduler_process(address: str, **extra: Any) -> dict[str, Any]:
    """`dev_scheduler:test_process/1`: a process whose own device is the scheduler."""
    return {
        "device": b"scheduler@1.0",
        "device-stack": [b"cron@1.0", b"wasm-64@1.0", b"poda@1.0"],
        "image": b"wasm-image-id",
        "type": b"Process",
        "scheduler-location": address.encode(),
        "test-random-seed": random.randint(1, 10**15 - 1),  # structured fields allow 15 digits
        **extra,
    }


def node_opts(owner: Wallet, store: Store | None = None, **extra: Any) -> dict[str, Any]:
    """Options of an in-process node: its wallet and a message cache over `store`."""
    return {"priv_wallet": owner, "cache": MessageCache(store if store is not None else MemoryStore()), **extra}


def check_assignment(assignment: dict[str, Any], signer: str) -> None:
    """The assignment and its body verify, and `signer` signed the assignment. Keys that are
    not committed are ignored: a reply over HTTP carries its `status` beside them."""
    verify(with_only_committed(assignment))
    assert signer in signers(assignment)
    body = assignment["body"]
    if body.get("commitments"):
        verify(with_only_committed(body))


def check_chain(assignments: Sequence[dict[str, Any]]) -> None:
    """Each `hash-chain` is SHA-256 of the previous one's raw bytes and the body's ID (43-char
    text); the first starts from nothing."""
    previous: bytes | None = None
    for a in assignments:
        msg_id = message_id(a["body"], committers="all").encode()
        chain = b64url_decode(a["hash-chain"].decode())
        if previous is None:
            assert chain == sha256(msg_id), f"slot {a['slot']}: the first link does not start the chain"
        else:
            assert chain == sha256(previous + msg_id), f"slot {a['slot']}: the hash chain is broken"
        previous = chain
