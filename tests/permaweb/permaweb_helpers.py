"""Shared data for the permaweb device tests: signed ANS-104 items written to an LMDB store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aonode.codecs import DataItem, decode
from aonode.crypto import Wallet, b64url_encode
from aonode.store import LMDBStore
from aonode.store.cache import MessageCache

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
CAPACITY = 64 * 1024 * 1024


def wallet(n: int) -> Wallet:
    """The shared test wallet `key-<n>.json`."""
    return Wallet.load(FIXTURES / f"key-{n}.json")


def item(signer: Wallet, tags: list[tuple[str, str]], data: bytes = b"", target: bytes = b"",
         anchor: bytes = b"") -> DataItem:
    """A signed ANS-104 item."""
    return DataItem(tags=tags, data=data, target=target, anchor=anchor).sign(signer)


def store_items(cache: MessageCache, items: list[DataItem]) -> list[str]:
    """Write items to the cache as messages (as a gateway store would); their IDs."""
    out = []
    for it in items:
        msg: Any = decode(it.serialize(), "ans104@1.0")
        cache.write(msg)
        out.append(b64url_encode(it.id))
    return out


def lmdb_cache(root: Path) -> MessageCache:
    return MessageCache(LMDBStore(root, capacity=CAPACITY))
