"""The message cache's suites (test_cache, test_cache_exact_reads: content addressing, exact
reads by signed ID through `commitment-sets/<ID>`) on the Redis store: a real redis-server and a
real 3-master Redis Cluster (issue 20)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator

import pytest
import services
import test_cache
import test_cache_exact_reads

from aonode.store._redis import RedisStore

# Both suites' tests that take a `store`, renamed so that equal names do not collide, run with
# this module's `store` (the others do not depend on the backend and run in their own modules).
for _suite, _prefix in ((test_cache, "test_cache__"), (test_cache_exact_reads, "test_exact__")):
    for _name, _fn in vars(_suite).items():
        if _name.startswith("test_") and callable(_fn) and "store" in inspect.signature(_fn).parameters:
            globals()[_prefix + _name[len("test_"):]] = _fn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    with services.redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisCluster]:
    with services.redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture(params=["redis", "cluster"])
def store(request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if request.param == "cluster":
        made = RedisStore.from_url(request.getfixturevalue("cluster").url, cluster=True, namespace=namespace)
    else:
        made = RedisStore.from_url(request.getfixturevalue("server").url, namespace=namespace)
    yield made
    if not made.closed:
        made.reset()
        made.close()
