"""LMDB in front of Redis (issue 20): a message write asks Redis nothing (its existence checks
go to the store that takes the writes, `Store.writer`); a read asks Redis a path's prefixes
together (one MGET); what the chain reads is unchanged (the cache suites run on the chain here,
with a real redis-server)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import services
import test_cache_exact_reads
from store_helpers import wallet

from aonode.codecs import commit, message_id
from aonode.store import LMDBStore, cache
from aonode.store._chain import StoreChain
from aonode.store._redis import RedisStore

# The exact-reads suite (commitment sets, IDs of several signers: what `prefetch` asks for) on the chain.
for _name, _fn in vars(test_cache_exact_reads).items():
    if _name.startswith("test_") and callable(_fn) and "store" in inspect.signature(_fn).parameters:
        globals()["test_chain_exact__" + _name[len("test_"):]] = _fn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    with services.redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


def _chain(server: services.RedisServer, directory: Path, namespace: str) -> StoreChain:
    return StoreChain([LMDBStore(directory, capacity=64 * 1024 * 1024),
                       RedisStore.from_url(server.url, namespace=namespace)])


@pytest.fixture
def store(server: services.RedisServer, tmp_path: Path) -> Iterator[StoreChain]:
    with _chain(server, tmp_path / "lmdb", f"t{uuid.uuid4().hex[:12]}") as chain:
        yield chain


def _calls(server: services.RedisServer) -> dict[str, int]:
    stats = server.client().info("commandstats")
    return {name: int(stat["calls"]) for name, stat in stats.items() if name in ("cmdstat_get", "cmdstat_mget")}


def _asked(server: services.RedisServer, before: dict[str, int]) -> dict[str, int]:
    return {name: calls - before.get(name, 0) for name, calls in _calls(server).items()
            if calls != before.get(name, 0)}


def test_a_message_write_asks_redis_nothing(server: services.RedisServer, tmp_path: Path) -> None:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    with _chain(server, tmp_path / "lmdb", namespace) as chain:
        cache.write(commit({"first": b"write"}, wallet(1)), chain)  # makes LMDB's top groups (`data`, ...)
        messages = [commit({"type": b"Message", "action": b"Eval", "data": f"hello {i}".encode(), "n": i},
                           wallet(1)) for i in range(3)]
        uids = []
        for msg in messages:
            before = _calls(server)
            uids.append(cache.write(msg, chain))
            asked = _asked(server, before)
            # It was 36 GETs, then one MGET and five GETs (`prefetch`): LMDB takes the writes, so
            # only LMDB is asked what is there yet.
            assert asked == {}, asked
        for uid, msg in zip(uids, messages, strict=True):
            found = cache.read(uid, chain)
            assert isinstance(found, dict) and found["n"] == msg["n"]
            signed = cache.read(message_id(msg, committers="all"), chain)
            assert isinstance(signed, dict) and message_id(signed, committers="all") == message_id(msg, "all")


def test_what_redis_holds_is_written_again_to_lmdb(server: services.RedisServer, tmp_path: Path) -> None:
    """A message another node stored in the shared Redis: the chain's write gives it the same
    ID and writes it to LMDB too (a local copy, rather than a round trip to Redis per check);
    it reads the same, and LMDB's own entries still shadow Redis's."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    with RedisStore.from_url(server.url, namespace=namespace) as shared:
        uid = cache.write({"from": b"another node", "n": 7}, shared)
        shared.write("shadowed", b"in redis")
    with _chain(server, tmp_path / "lmdb", namespace) as chain:
        chain.write("shadowed", b"in lmdb")
        assert cache.write({"from": b"another node", "n": 7}, chain) == uid
        first = chain.first
        assert first.type(cache.data_path(b"another node")) == "simple"
        assert first.type(uid) == "composite"
        assert cache.read(uid, chain) == {"from": b"another node", "n": 7}
        with chain.transaction():
            chain.prefetch(["shadowed", "missing/path"])
            assert chain.read("shadowed") == b"in lmdb"
            assert chain.read("missing/path") is None


def test_a_read_asks_redis_once_for_all_the_prefixes(server: services.RedisServer, tmp_path: Path) -> None:
    """A path missing from LMDB (a node's change count on every request) walks its prefixes for
    links: one MGET for all of them, not a GET per prefix; a link held in Redis is still followed."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    with RedisStore.from_url(server.url, namespace=namespace) as shared:
        shared.write("real/deep/value", b"found")
        shared.make_link("real", "alias")
    with _chain(server, tmp_path / "lmdb", namespace) as chain:
        before = _calls(server)
        assert chain.read("~meta@1.0/changes/run/count") is None
        assert _asked(server, before) == {"cmdstat_mget": 1}
        assert chain.read("alias/deep/value") == b"found"
        assert chain.type("alias/deep") == "composite"
        assert chain.list("alias") == ["deep"]
