"""An ANS-104 data item survives the cache: its commitment verifies and its IDs hold, in the
cache and after conversion to httpsig@1.0 and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from store_helpers import TEST_CAPACITY, wallet

from aonode.codecs import decode, encode, message_id, verify
from aonode.codecs._dataitem import DataItem
from aonode.crypto import Ed25519Key, b64url_encode
from aonode.store import LMDBStore, MemoryStore, cache

TAG_SETS = {
    "mixed-case-tags": [("Content-Type", "text/plain"), ("App-Name", "aonode"), ("a", "1")],
    "sorted-lowercase-tags": [("a", "1"), ("b", "2")],
}


def _signer(name: str) -> Any:
    return wallet() if name == "rsa" else Ed25519Key.from_seed(bytes(range(32)))


@pytest.mark.parametrize("tags", list(TAG_SETS.values()), ids=list(TAG_SETS))
@pytest.mark.parametrize("signer, signature_type", [("rsa", 1), ("ed25519", 2)])
def test_signed_item_round_trips_through_the_cache(tmp_path: Path, tags: list[tuple[str, str]], signer: str,
                                                   signature_type: int) -> None:
    item = DataItem(signature_type=signature_type, tags=tags, data=b"hello world", target=bytes(range(32)),
                    anchor=bytes(32)).sign(_signer(signer))
    msg = decode(item.serialize(), "ans104@1.0")
    assert isinstance(msg, dict)
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        uid = cache.write(msg, store)
        for ref in (b64url_encode(item.id), uid):
            read = cache.read(ref, store)
            assert isinstance(read, dict) and read == msg
            verify(read)
            assert message_id(read, "all") == message_id(msg, "all") == b64url_encode(item.id)
            assert message_id(read, "none") == message_id(msg, "none")
            assert encode(read, "ans104@1.0") == item.serialize()  # byte for byte
        read = cache.read(b64url_encode(item.id), store)
        assert isinstance(read, dict)
        back = decode(encode(read, "httpsig@1.0"), "httpsig@1.0")
        assert isinstance(back, dict)
        verify(back)
        assert message_id(back, "all") == message_id(read, "all")
        assert message_id(back, "none") == message_id(read, "none")


def test_item_inside_a_message_keeps_the_parent_id() -> None:
    item = DataItem(signature_type=2, tags=[("Action", "Eval")], data=b"1 + 1").sign(_signer("ed25519"))
    child = decode(item.serialize(), "ans104@1.0")
    parent = {"message": child, "slot": 3}
    store = MemoryStore()
    uid = cache.write(parent, store)
    read = cache.read(uid, store)
    assert read == parent and message_id(read, "all") == message_id(parent, "all")
    assert isinstance(read, dict)
    verify(read["message"])


def test_unsigned_item_keeps_its_keys() -> None:
    """An unsigned item with an upper-case tag carries one commitment that is neither signed nor
    the default: the cache must still keep every key it covers."""
    item = DataItem(tags=[("Content-Type", "text/plain"), ("a", "1")], data=b"body")
    msg = decode(item.serialize(), "ans104@1.0")
    assert isinstance(msg, dict) and msg.get("commitments")
    store = MemoryStore()
    read = cache.read(cache.write(msg, store), store)
    assert read == msg and message_id(read, "all") == message_id(msg, "all")
