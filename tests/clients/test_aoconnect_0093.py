"""@permaweb/aoconnect 0.0.93 (still pinned by operators' tools; npm alias `aoconnect-0093`)
against a real aonode node (issue 18 item 2). It asks `result` at
`/<pid>~process@1.0/compute=<slot>` and reads every legacy result at `results.raw`, where
0.0.98 asks `compute/results=<slot>` and reads `raw`: the node answers both."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aonode_process import Node
from test_aoconnect import data, upload_module

from aonode.crypto import Wallet

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def flow(node: Node, aoconnect: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    wallet_file = tmp_path_factory.mktemp("wallet") / "wallet.json"
    wallet = Wallet.generate()
    wallet.save(wallet_file)
    done = subprocess.run(
        ["node", str(HERE / "aoconnect_0093_flow.mjs")], cwd=HERE, capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ["PATH"], "NODE_URL": node.url, "WALLET": str(wallet_file),
             "MODULE": upload_module(node, wallet)},
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_messages(flow: dict[str, Any]) -> None:
    assert isinstance(flow["spawn"], str) and len(flow["spawn"]) == 43
    assert [flow["message1"], flow["message2"]] == [1, 2]


def test_result_of_each_slot(flow: dict[str, Any]) -> None:
    assert data(flow["result1"]) == "20"
    assert data(flow["result2"]) == "42"
    assert flow["result1"]["Messages"] == [] and flow["result1"]["Spawns"] == []


def test_results_is_the_latest(flow: dict[str, Any]) -> None:
    edges = flow["results"]["edges"]
    assert len(edges) == 1 and edges[0]["cursor"] == "2"
    assert data(edges[0]["node"]) == "42"


def test_dryrun_answers_without_changing_state(flow: dict[str, Any]) -> None:
    assert data(flow["dryrun"]) == "1000"
    assert flow["dryrun"]["Output"] == {"data": "1000", "prompt": "aos> ", "print": True}
    assert flow["result1"]["Output"] == {"data": "20", "prompt": "aos> ", "print": True}
    assert data(flow["info"]) == "Name: aoconnect-0093"
    assert data(flow["after_dryrun"]) == "42"
