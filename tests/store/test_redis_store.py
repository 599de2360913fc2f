"""The Redis store (issue 20) against a real redis-server and a real 3-master Redis Cluster:
the backend conformance suite (test_store_backends) on each, alone and chained with LMDB, plus
what only Redis has (hash tags, durability settings, the fence)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import services
import test_store_backends as conformance
from store_helpers import TEST_CAPACITY, wallet

from aonode.codecs import commit
from aonode.store import LMDBStore, Store, StoreChain, StoreError, cache, open_store
from aonode.store._redis import RedisStore, shard_of

# Every test of the conformance suite, run here with this module's `store` fixture.
globals().update({name: fn for name, fn in vars(conformance).items() if name.startswith("test_")})

KINDS = ["redis", "cluster", "lmdb-then-redis", "redis-then-lmdb"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    with services.redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisCluster]:
    with services.redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


def _redis_store(kind: str, request: pytest.FixtureRequest) -> RedisStore:
    namespace = f"t{uuid.uuid4().hex[:12]}"  # a fresh store on the shared server
    if kind == "cluster":
        running = request.getfixturevalue("cluster")
        return RedisStore.from_url(running.url, cluster=True, namespace=namespace)
    return RedisStore.from_url(request.getfixturevalue("server").url, namespace=namespace)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind = request.param
    made: Store
    if kind in ("redis", "cluster"):
        made = _redis_store(kind, request)
    elif kind == "lmdb-then-redis":
        made = StoreChain([LMDBStore(tmp_path / "lmdb", capacity=TEST_CAPACITY), _redis_store("redis", request)])
    else:
        made = StoreChain([_redis_store("redis", request), LMDBStore(tmp_path / "lmdb", capacity=TEST_CAPACITY)])
    yield made
    if not made.closed:  # the server outlives the test: leave nothing behind on it
        made.reset()
        made.close()


def test_a_message_lives_on_one_shard() -> None:
    uid = "A" * 43
    assert shard_of(f"{uid}/key") == shard_of(uid) == uid
    assert shard_of(f"data/{uid}") == uid and shard_of(f"commitment-sets/{uid}") == uid
    assert shard_of(f"~scheduler@1.0/assignments/{uid}/7") == shard_of(f"~scheduler@1.0/ids/{uid}/x") == uid
    assert shard_of("") == ""


def test_a_signed_message_round_trips_on_the_cluster(cluster: services.RedisCluster) -> None:
    """The message cache over the cluster: exact reads by signed ID, keys spread over the masters."""
    store = RedisStore.from_url(cluster.url, cluster=True, namespace=f"t{uuid.uuid4().hex[:12]}")
    try:
        signed = [commit({"n": n, "body": b"x" * n, "nested": {"k": str(n).encode()}}, wallet(1)) for n in range(30)]
        ids = [cache.write(msg, store) for msg in signed]
        for uid, msg in zip(ids, signed, strict=True):
            found = cache.read(uid, store)
            assert isinstance(found, dict) and found["n"] == msg["n"] and found["nested"]["k"] == msg["nested"]["k"]
        counts = []
        for master in cluster.masters:
            with master.client() as client:
                counts.append(sum(1 for _ in client.scan_iter(match=f"*}}{store.namespace}:*".encode())))
        assert all(count > 0 for count in counts), counts  # every master holds some of it
    finally:
        store.reset()
        store.close()


def test_open_store_opens_redis_once(server: services.RedisServer) -> None:
    spec = {"store-module": "redis", "url": server.url, "namespace": f"t{uuid.uuid4().hex[:12]}"}
    first = open_store(spec)
    try:
        assert isinstance(first, RedisStore) and open_store(dict(spec)) is first
        with pytest.raises(ValueError, match="url"):
            open_store({"store-module": "redis"})
        with pytest.raises(ValueError, match="durability"):
            open_store({**spec, "namespace": "other", "durability": "sometimes"})
    finally:
        first.close()


def test_durability_is_set_on_the_server(server: services.RedisServer) -> None:
    store = RedisStore.from_url(server.url, namespace=f"t{uuid.uuid4().hex[:12]}", durability="always")
    try:
        with server.client() as client:
            assert client.config_get("appendfsync") == {"appendfsync": "always"}
            assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        store.close()
        RedisStore.from_url(server.url, namespace="x").close()  # back to everysec for the other tests
    with server.client() as client:
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}


def test_unreachable_redis_is_a_503() -> None:
    with pytest.raises(StoreError) as caught:
        RedisStore.from_url(f"redis://127.0.0.1:{services.free_port()}", namespace="x")
    assert caught.value.status == 503


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_fenced_writes_need_the_lease(kind: str, request: pytest.FixtureRequest) -> None:
    store = _redis_store(kind, request)
    try:
        proc = "P" * 43
        lease = store.lease_key(f"~scheduler@1.0/x/{proc}", "scheduler")
        store.client.set(lease, b"mine")
        with store.fenced(lease, b"mine"):
            store.write(f"~scheduler@1.0/latest/{proc}", b"1")
        store.client.set(lease, b"someone else")
        with store.fenced(lease, b"mine"), pytest.raises(StoreError) as caught:
            store.write(f"~scheduler@1.0/latest/{proc}", b"2")
        assert caught.value.status == 503
        assert store.read(f"~scheduler@1.0/latest/{proc}") == b"1"
        with store.fenced(lease, b"mine"):  # another shard is not fenced
            store.write("elsewhere", b"ok")
        assert store.read("elsewhere") == b"ok"
    finally:
        store.reset()
        store.close()


def test_acknowledged_writes_survive_a_redis_kill_under_always(tmp_path: Path) -> None:
    with services.redis_server(tmp_path / "r", appendfsync="always") as running:
        store = RedisStore.from_url(running.url, namespace="durable", durability="always")
        signed = commit({"durable": b"yes"}, wallet(1))
        uid = cache.write(signed, store)
        for n in range(50):
            store.write(f"count/{n}", str(n).encode())
        store.close()
        running.kill()  # SIGKILL: nothing gets flushed on the way out
        running.restart()
        again = RedisStore.from_url(running.url, namespace="durable", durability="always")
        try:
            assert cache.read(uid, again)["durable"] == b"yes"
            assert [again.read(f"count/{n}") for n in range(50)] == [str(n).encode() for n in range(50)]
        finally:
            again.close()


def test_a_redis_failure_is_a_store_error(tmp_path: Path) -> None:
    with services.redis_server(tmp_path / "r") as running:
        store = RedisStore.from_url(running.url, namespace="gone")
        running.kill()
        with pytest.raises(StoreError) as caught:
            store.write("a", b"1")
        assert caught.value.status == 503
        store.close()
    assert isinstance(redis.RedisError(), Exception)
