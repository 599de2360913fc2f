"""Memos keyed by a message's key set keep no entry for a set above `MEMO_MAX_KEYS`: they are
bounded in entries, and a client's message may hold any number of keys."""

from __future__ import annotations

from aonode._memo import MEMO_MAX_KEYS
from aonode.codecs import httpsig
from aonode.message import _map_order, erlang_key_order


def test_a_large_key_set_is_answered_but_not_kept() -> None:
    for count, kept in ((MEMO_MAX_KEYS, True), (MEMO_MAX_KEYS + 1, False)):
        keys = [f"memo-bound-{count}-{i:05d}" for i in range(count)]
        assert sorted(erlang_key_order(keys)) == sorted(keys)
        numbered: dict[str, bytes | dict[str, bytes]] = {str(i): k.encode() for i, k in enumerate(keys, 1)}
        assert httpsig.committed_list({"committed": numbered}) == keys
        assert (tuple(keys) in _map_order._ORDERS) is kept
        assert (tuple(numbered.items()) in httpsig._COMMITTED) is kept
