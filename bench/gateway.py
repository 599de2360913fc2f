"""Loading a module from Arweave: first load (fetch + verify + cache) and later loads from the
node's store, against reading the same bytes directly from the gateway (arlocal), in one run.

arlocal (npm, started by tests/arweave/arlocal.py) holds a module published as an ANS-104 item
in a bundle. In this process, as process@1.0 and genesis-wasm@1.0 load a module by ID:

* (d) direct: `GET <arlocal>/<id>`, the module's bytes straight from the gateway (the reference);
* (f) first load: `MessageCache.read(id)` on a fresh store chain (LMDB, then the `gateway`
  store routed to arlocal): GraphQL by ID, `/raw/<id>` through a rewriting route, signature
  check, write to LMDB;
* (c) cached load: the same read again, now served from LMDB without asking arlocal;
* (n) over HTTP: `GET <node>/<id>/data` on an `aonode serve` node with that chain, after its
  first load (what a client of the node sees).

It prints each (median of `--repeat` runs; (f) once per fresh store) and the ratios d/c and d/n
(cached load as a fraction of the direct read's speed; the goal is at least 0.9).

    .venv/bin/python -P bench/gateway.py [--size BYTES] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "http")]

import httpx  # noqa: E402
from aonode_process import start, stop  # noqa: E402
from arweave.arlocal import ArLocal  # noqa: E402

from aonode.store import MessageCache, open_store  # noqa: E402


def chain(arlocal: ArLocal, lmdb: Path) -> list[dict[str, Any]]:
    local = [{"store-module": "lmdb", "name": str(lmdb)}]
    return [*local, {"store-module": "gateway", "local-store": local, "routes": arlocal.routes()}]


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024 * 1024, help="module size in bytes (default 1 MiB)")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    module = (b"\0asm\x01\0\0\0" + os.urandom(args.size))[: args.size]
    with tempfile.TemporaryDirectory(prefix="aonode-bench-gateway-") as tmp:
        work = Path(tmp)
        arlocal = ArLocal(work / "arlocal").start()
        node = None
        try:
            published = arlocal.publish([{"data": module, "tags": {"Content-Type": "application/wasm",
                                                                    "Data-Protocol": "ao", "Type": "Module"}}])
            uid = published.ids[0]
            with httpx.Client(timeout=60) as client:
                direct = [timed(lambda: client.get(f"{arlocal.url}/{uid}").raise_for_status())
                          for _ in range(args.repeat)]
            assert httpx.get(f"{arlocal.url}/{uid}").content == module

            firsts, cached = [], []
            for run in range(3):
                cache = MessageCache(open_store(chain(arlocal, work / f"lmdb-{run}")))
                firsts.append(timed(lambda c=cache: c.read(uid)))
            found = cache.read(uid)
            assert isinstance(found, dict) and found["data"] == module
            for _ in range(args.repeat):
                cached.append(timed(lambda: cache.read(uid)["data"]))

            config = work / "node.json"
            config.write_text(json.dumps({"store": chain(arlocal, work / "node-data" / "lmdb")}))
            node = start(work / "node", data_dir=work / "node-data", extra=["--config", str(config)])
            with httpx.Client(timeout=60) as client:
                assert client.get(f"{node.url}/{uid}/data").content == module  # the first load
                over_http = [timed(lambda: client.get(f"{node.url}/{uid}/data").raise_for_status())
                             for _ in range(args.repeat)]
            fetches = arlocal.requests("GET", f"/{uid}")
        finally:
            if node is not None:
                stop(node)
            arlocal.stop()

    d, f, c, n = (statistics.median(x) for x in (direct, firsts, cached, over_http))
    print(f"module: {args.size} bytes; {args.repeat} repeats (median); arlocal served its data {fetches} times")
    print(f"  (d) direct from arlocal     GET /<id>          {d * 1000:8.2f} ms")
    print(f"  (f) first load              fetch+verify+cache {f * 1000:8.2f} ms")
    print(f"  (c) cached load             store read         {c * 1000:8.2f} ms")
    print(f"  (n) cached, over HTTP       GET node/<id>/data {n * 1000:8.2f} ms")
    print(f"  d/c = {d / c:.2f}   d/n = {d / n:.2f}   (goal: cached load >= 0.9 of the direct read's speed)")


if __name__ == "__main__":
    main()
