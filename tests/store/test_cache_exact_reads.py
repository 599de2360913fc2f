"""Reads by a signed ID are exact although commitments pool (issue 16, item 4).

The cache stores one content once, under its uncommitted ID `U`, and pools the commitments of
every signed copy there (as the reference does). Reading by `U` gives the pooled message; reading
by a commitment's ID, or by a message's ID over all its committers or all its commitments, gives
the message with exactly the commitments that ID names, whoever else stored the same content.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import BACKENDS, make_store, wallet

from aonode.codecs import DataItem, commit, decode, encode, message_id, verify
from aonode.crypto import Wallet, b64url_encode
from aonode.store import MemoryStore, Store, cache


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


CONTENT = {"device": b"process@1.0", "type": b"Process", "n": 7, "module": {"body": b"source"}}


def signed_ids(msg: dict[str, Any]) -> set[str]:
    return {cid for cid, c in msg["commitments"].items() if "committer" in c}


def assert_exact(read: Any, written: dict[str, Any]) -> None:
    """`read` is `written`: the same keys, the same commitments, the same IDs."""
    assert isinstance(read, dict)
    assert read == written
    verify(read)
    for selector in ("none", "all"):
        assert message_id(read, committers=selector) == message_id(written, committers=selector)
    assert message_id(read, commitments="all") == message_id(written, commitments="all")


def test_two_signers_of_one_content_read_apart(store: Store) -> None:
    alice, bob = commit(CONTENT, wallet(1)), commit(CONTENT, wallet(2))
    uid = cache.write(alice, store)
    assert cache.write(bob, store) == uid
    for msg in (alice, bob):
        for ref in (message_id(msg, committers="all"), message_id(msg, commitments="all")):
            assert_exact(cache.read(ref, store), msg)
    pooled = cache.read(uid, store)  # by the uncommitted ID: every commitment, as the reference
    assert isinstance(pooled, dict)
    assert set(pooled["commitments"]) == set(alice["commitments"]) | set(bob["commitments"])


def test_one_signer_twice_reads_apart(store: Store) -> None:
    """RSA-PSS is salted: one wallet signing one content twice makes two IDs."""
    first, second = commit(CONTENT, wallet(1)), commit(CONTENT, wallet(1))
    assert message_id(first, "all") != message_id(second, "all")
    cache.write(first, store)
    cache.write(second, store)
    assert_exact(cache.read(message_id(first, "all"), store), first)
    assert_exact(cache.read(message_id(second, "all"), store), second)


def test_a_later_copy_with_other_unsigned_commitments_changes_nothing(store: Store) -> None:
    """Bob's copy, signed with children inline (another HMAC commitment), adds to the pool but not
    to what Alice's IDs read as."""
    alice = commit(CONTENT, wallet(1))
    bob = commit(CONTENT, wallet(2), bundle=True)
    cache.write(alice, store)
    cache.write(bob, store)
    assert set(bob["commitments"]) - signed_ids(bob) != set(alice["commitments"]) - signed_ids(alice)
    assert_exact(cache.read(message_id(alice, "all"), store), alice)
    assert_exact(cache.read(message_id(alice, commitments="all"), store), alice)
    assert_exact(cache.read(message_id(bob, "all"), store), bob)


def test_co_signed_and_single_signed_forms_read_apart(store: Store) -> None:
    alone = commit(CONTENT, wallet(1))
    both = commit(alone, wallet(2))  # Alice's commitments, then Bob's
    assert len(signed_ids(both)) == 2
    cache.write(both, store)
    cache.write(alone, store)
    assert_exact(cache.read(message_id(both, "all"), store), both)
    assert_exact(cache.read(message_id(both, commitments="all"), store), both)
    # Alice's commitment, first written inside the co-signed form, names Alice's form.
    read = cache.read(message_id(alone, "all"), store)
    assert isinstance(read, dict) and message_id(read, "all") == message_id(alone, "all")
    assert signed_ids(read) == signed_ids(alone)
    verify(read)


def test_children_keep_their_signer_inside_parents(store: Store) -> None:
    alice, bob = commit(CONTENT, wallet(1)), commit(CONTENT, wallet(2))
    parents = [{"process": alice, "slot": 1}, {"process": bob, "slot": 1}]
    for parent in parents:
        cache.write(parent, store)
    for parent in parents:
        assert_exact(cache.read(message_id(parent), store), parent)


def _item(signer: Wallet, anchor: bytes) -> DataItem:
    unsigned = DataItem(tags=[("Type", "Process"), ("Device", "process@1.0"), ("Name", "demo")], data=b"1984",
                        anchor=anchor)
    return unsigned.sign(signer)


@pytest.mark.parametrize("how", ["two-anchors", "two-signers", "same-anchor-twice"])
def test_ans104_items_of_one_content_keep_their_item_ids(store: Store, how: str) -> None:
    first = _item(wallet(1), os.urandom(32) if how == "two-anchors" else b"")
    second = _item(wallet(2) if how == "two-signers" else wallet(1), os.urandom(32) if how == "two-anchors" else b"")
    messages = [decode(item.serialize(), "ans104@1.0") for item in (first, second)]
    assert message_id(messages[0]) == message_id(messages[1])  # one content, one uncommitted ID
    for msg in messages:
        assert isinstance(msg, dict)
        cache.write(msg, store)
    for item, msg in zip((first, second), messages, strict=True):
        item_id = b64url_encode(item.id)
        read = cache.read(item_id, store)
        assert isinstance(msg, dict)
        assert_exact(read, msg)
        assert message_id(read, committers="all") == item_id
        assert encode(read, "ans104@1.0") == item.serialize()  # byte for byte: the item, its ID


def test_httpsig_reads_encode_to_their_own_signature(store: Store) -> None:
    alice, bob = commit(CONTENT, wallet(1)), commit(CONTENT, wallet(2))
    cache.write(alice, store)
    cache.write(bob, store)
    read = cache.read(message_id(alice, "all"), store)
    assert isinstance(read, dict)
    back = decode(encode(read, "httpsig@1.0"), "httpsig@1.0")
    assert isinstance(back, dict)
    verify(back)
    assert message_id(back, "all") == message_id(alice, "all")


def test_an_unsigned_commitment_names_itself_alone() -> None:
    """An unsigned ANS-104 item with an upper-case tag carries one commitment that is not the
    HMAC; its ID reads as that commitment alone, whatever was signed over the same content."""
    unsigned = decode(DataItem(tags=[("Content-Type", "text/plain"), ("a", "1")], data=b"x").serialize(),
                      "ans104@1.0")
    assert isinstance(unsigned, dict)
    (cid,) = unsigned["commitments"]
    store = MemoryStore()
    cache.write(unsigned, store)
    cache.write(commit({k: v for k, v in unsigned.items() if k != "commitments"}, wallet(2)), store)
    assert cache.read(cid, store) == unsigned


def test_a_store_written_without_records_still_reads_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores written before the records: a signed commitment ID names itself and the unsigned
    commitments; an accumulated ID the signers that sum to it."""
    monkeypatch.setattr(cache, "_record_set", lambda *args: None)
    store = MemoryStore()
    alice, bob = commit(CONTENT, wallet(1)), commit(CONTENT, wallet(2))
    carol_and_dave = commit(commit(CONTENT, wallet(3)), wallet(4))
    for msg in (alice, bob, carol_and_dave):
        cache.write(msg, store)
    for msg in (alice, bob, carol_and_dave):
        read = cache.read(message_id(msg, "all"), store)
        assert isinstance(read, dict)
        assert message_id(read, "all") == message_id(msg, "all")
        assert signed_ids(read) == signed_ids(msg)
        verify(read)
