"""Issue 19, done-means 2: modules that only Arweave (arlocal) has, run through aoconnect.

A Lua module and a WASM module are published to arlocal as ANS-104 items in one bundle, with
the npm packages `arweave` and `arbundles`. A node that has never seen them, whose store chain
ends in the `gateway` store (routes pointing at arlocal, `/raw/<id>` rewritten to arlocal's
`/<id>`; `/graphql` names a dead gateway first, then arlocal), spawns a process with each
module ID through @permaweb/aoconnect in mainnet mode, messages it and reads the results. The
module is fetched once (arlocal's request log), verified and then served from the node's own
store (it still loads with arlocal stopped). A module whose signature does not verify is
refused with a 4xx that says so.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime
from aonode_process import Node, free_port, start, stop
from arweave.arlocal import ArLocal, install_aoconnect

from aonode.crypto import Wallet

HERE = Path(__file__).parent
LUA_MODULE = (HERE.parent / "clients" / "aos_legacy.lua").read_bytes()
WASM_MODULE = bytes(wasmtime.wat2wasm((HERE.parent / "runtime" / "wat" / "ao_process.wat").read_text()))
MODULE_TAGS = {"Data-Protocol": "ao", "Type": "Module", "Variant": "ao.TN.1", "Input-Encoding": "JSON-1.0",
               "Output-Encoding": "JSON-1.0", "Memory-Limit": "1-gb", "Compute-Limit": "9000000000000"}


def node_config(arlocal: ArLocal, data_dir: Path, **extra: Any) -> dict[str, Any]:
    """The reference's default store chain (local store, then a gateway store narrowed to
    `Data-Protocol: ao`, then a plain one, both caching into the local store), routed to arlocal."""
    local = [{"store-module": "lmdb", "name": str(data_dir / "lmdb")}]
    # Two gateways for /graphql, tried in order: the first refuses connections.
    dead = f"http://127.0.0.1:{free_port()}"
    routes = [{"template": "/graphql", "nodes": [{"prefix": dead}, {"prefix": arlocal.url}]}, *arlocal.routes()[1:]]
    gateway = {"routes": routes, "http_connect_timeout": 2000, "http_request_send_timeout": 10000}
    return {
        "store": [*local,
                  {"store-module": "gateway", "subindex": [{"name": "Data-Protocol", "value": "ao"}],
                   "local-store": local, **gateway},
                  {"store-module": "gateway", "local-store": local, **gateway}],
        "routes": arlocal.routes(),
        **extra,
    }


def start_node(workdir: Path, config: dict[str, Any]) -> Node:
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    path = workdir / "node.json"
    path.write_text(json.dumps(config))
    return start(workdir, data_dir=data_dir, extra=["--config", str(path)])


@pytest.fixture(scope="module")
def published(arlocal: ArLocal) -> dict[str, str]:
    out = arlocal.publish([
        {"data": LUA_MODULE, "tags": {"Content-Type": "application/lua", "Module-Format": "lua", **MODULE_TAGS}},
        {"data": WASM_MODULE, "tags": {"Content-Type": "application/wasm",
                                       "Module-Format": "wasm32-unknown-emscripten", **MODULE_TAGS}},
    ], broken=[{"data": LUA_MODULE, "tags": {"Content-Type": "application/lua", **MODULE_TAGS}}])
    return {"lua": out.ids[0], "wasm": out.ids[1], "broken": out.raw_ids[0]}


@pytest.fixture(scope="module")
def node(arlocal: ArLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("gateway-node")
    started = start_node(workdir, node_config(arlocal, workdir / "data"))
    try:
        yield started
    finally:
        stop(started)


@pytest.fixture(scope="module")
def wallet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wallet") / "wallet.json"
    Wallet.generate().save(path)
    return path


def aoconnect_flow(node: Node, wallet_file: Path, module: str, evals: list[str]) -> dict[str, Any]:
    entry = install_aoconnect() / "@permaweb" / "aoconnect" / "dist" / "index.js"
    done = subprocess.run(
        ["node", str(HERE / "aoconnect_spawn.mjs")], cwd=HERE, capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ["PATH"], "NODE_URL": node.url, "WALLET": str(wallet_file), "MODULE": module,
             "EVALS": json.dumps(evals), "AOCONNECT": str(entry)})
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def outputs(flow: dict[str, Any]) -> list[Any]:
    assert isinstance(flow["spawn"], str) and len(flow["spawn"]) == 43, flow
    found = []
    for result in flow["results"]:
        assert isinstance(result, dict) and "error" not in result, flow
        output = result["Output"]
        found.append(output.get("data") if isinstance(output, dict) else output)
    return found


def test_lua_module_from_arweave(node: Node, arlocal: ArLocal, published: dict[str, str],
                                 wallet_file: Path) -> None:
    module = published["lua"]
    # The node has never seen it: nothing of it is in its store before the spawn.
    assert arlocal.requests("GET", f"/{module}") == 0
    flow = aoconnect_flow(node, wallet_file, module, ["X = 20 return X", "X = X + 22 return X"])
    assert outputs(flow) == ["20", "42"]
    # Fetched once (its data from arlocal's `/<id>`, reached by the rewritten `/raw/<id>`) ...
    assert arlocal.requests("GET", f"/{module}") == 1


def test_wasm_module_from_arweave(node: Node, arlocal: ArLocal, published: dict[str, str],
                                  wallet_file: Path) -> None:
    module = published["wasm"]
    flow = aoconnect_flow(node, wallet_file, module, ["1", "2"])
    # tests/runtime/wat/ao_process.wat counts its calls: the spawn is the first.
    assert outputs(flow) == ["2", "3"]
    assert arlocal.requests("GET", f"/{module}") == 1


def test_broken_module_is_refused_with_a_4xx_that_says_so(node: Node, published: dict[str, str]) -> None:
    module = published["broken"]
    answer = httpx.get(f"{node.url}/{module}", timeout=60)
    assert 400 <= answer.status_code < 500, answer.text
    assert "does not verify" in answer.text and module in answer.text


def test_modules_are_served_from_the_local_store_once_fetched(node: Node, arlocal: ArLocal,
                                                              published: dict[str, str], wallet_file: Path) -> None:
    arlocal.stop()
    try:
        flow = aoconnect_flow(node, wallet_file, published["lua"], ["return 7"])
        assert outputs(flow) == ["7"]
        answer = httpx.get(f"{node.url}/{published['wasm']}/data", timeout=60)
        assert answer.status_code == 200 and answer.content == WASM_MODULE
    finally:
        arlocal.start()
    assert arlocal.requests("GET", f"/{published['lua']}") == 1
