"""Which IDs a cache write may make names of its message (review findings of 2026-12-07).

A message's other IDs (its commitments', its committers') become links to it. None of them
may take a name another message already has: not through an HMAC commitment over fewer keys
(its ID is the ID of those keys as a message of its own), not by re-pointing a commitment ID
an earlier write linked, and not when the other message is held only by a later store of a
chain."""

from __future__ import annotations

import pytest
from store_helpers import wallet

from aonode.codecs import commit, message_id, verify
from aonode.store import MemoryStore, StoreChain, cache


def _plain(found: object) -> dict[str, object]:
    assert isinstance(found, dict)
    return {k: v for k, v in found.items() if k != "commitments"}


def _subset_hmac_over(keys: list[str]) -> dict[str, object]:
    """A message signed over {a, b} that also carries an HMAC over `keys` alone."""
    signed = commit({"a": b"victim value", "b": b"attacker"}, wallet(1))
    return commit(signed, type="unsigned", committed=keys)


@pytest.mark.parametrize("victim_first", [True, False])
def test_an_hmac_over_fewer_keys_names_no_other_message(victim_first: bool) -> None:
    victim = {"a": b"victim value"}
    attacker = _subset_hmac_over(["a"])
    assert message_id(victim) in attacker["commitments"]  # its ID is the victim's
    assert verify(attacker)
    store = MemoryStore()
    order = [victim, attacker] if victim_first else [attacker, victim]
    for msg in order:
        cache.write(msg, store)
    assert _plain(cache.read(message_id(victim), store)) == victim
    assert _plain(cache.read(message_id(attacker, committers="all"), store)) == _plain(attacker)


def test_a_name_a_later_store_of_the_chain_holds_is_not_taken() -> None:
    victim = {"a": b"victim value"}
    local, shared = MemoryStore(), MemoryStore()
    cache.write(victim, shared)  # another node's write, in the shared store only
    chain = StoreChain([local, shared])
    cache.write(_subset_hmac_over(["a"]), chain)
    assert _plain(cache.read(message_id(victim), chain)) == victim


def test_a_commitment_id_keeps_the_message_it_was_first_written_for() -> None:
    victim = commit({"a": b"1"}, wallet(2))
    cid = next(c for c, x in victim["commitments"].items() if "committer" in x)
    # The victim's signature over `a` holds for any message with the same `a`.
    attacker = commit({"a": b"1", "b": b"evil", "commitments": {cid: victim["commitments"][cid]}},
                      type="unsigned", committed=["a", "b"])
    store = MemoryStore()
    cache.write(victim, store)
    cache.write(attacker, store)
    assert _plain(cache.read(cid, store)) == {"a": b"1"}
