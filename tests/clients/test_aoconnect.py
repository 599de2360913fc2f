"""@permaweb/aoconnect, unchanged from npm, against a real aonode node (issue 9, done-means 1
and 3): spawn, three messages, result, results and dryrun on a Lua process built here
(`aos_legacy.lua`), and the errors aoconnect reports for wrong input.

The npm packages are installed inside the run (the `aoconnect` fixture of conftest.py); Node.js
and npm must be on the machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, signed

from aonode.codecs import message_id
from aonode.crypto import Wallet

HERE = Path(__file__).parent
MODULE = (HERE / "aos_legacy.lua").read_bytes()


def upload_module(node: Node, wallet: Wallet) -> str:
    module = signed({"content-type": "application/lua", "body": MODULE}, wallet)
    with httpx.Client(base_url=node.url, timeout=30) as client:
        response = post(client, module, path="/~message@1.0")
    assert response.status_code < 500, response.text
    return message_id(module, committers="all")


def run_flow(node: Node, wallet_file: Path, module: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(HERE / "aoconnect_flow.mjs")], cwd=HERE, capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ["PATH"], "NODE_URL": node.url, "WALLET": str(wallet_file),
             "MODULE": module},
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.fixture(scope="module")
def flow(node: Node, aoconnect: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    wallet_file = tmp_path_factory.mktemp("wallet") / "wallet.json"
    wallet = Wallet.generate()
    wallet.save(wallet_file)
    return run_flow(node, wallet_file, upload_module(node, wallet))


def data(result: Any) -> Any:
    assert isinstance(result, dict) and "error" not in result, result
    return result["Output"]["data"]


def test_spawn_and_messages(flow: dict[str, Any]) -> None:
    assert isinstance(flow["spawn"], str) and len(flow["spawn"]) == 43
    assert isinstance(flow["spawn_missing_module"], str)
    assert [flow["message1"], flow["message2"], flow["message3"]] == [1, 2, 3]


def test_results_of_each_slot(flow: dict[str, Any]) -> None:
    assert data(flow["result1"]) == "20"
    assert data(flow["result2"]) == "42"
    assert data(flow["result3"]) == "Balance: 5"
    notice = flow["result3"]["Messages"]
    assert len(notice) == 1 and {"name": "Action", "value": "Credit-Notice"} in notice[0]["Tags"]
    assert flow["result1"]["Messages"] == [] and flow["result1"]["Spawns"] == []


def test_results_is_the_latest(flow: dict[str, Any]) -> None:
    edges = flow["results"]["edges"]
    assert len(edges) == 1 and edges[0]["cursor"] == "3"
    assert data(edges[0]["node"]) == "Balance: 5"


def test_dryrun_answers_without_changing_state(flow: dict[str, Any]) -> None:
    assert data(flow["dryrun"]) == "1000"
    # AOS's `print` is a JSON boolean, and `Output` has no `ao-types` (issue 18 item 2).
    assert flow["dryrun"]["Output"] == {"data": "1000", "prompt": "aos> ", "print": True}
    assert flow["result1"]["Output"] == {"data": "20", "prompt": "aos> ", "print": True}
    assert data(flow["after_dryrun"]) == "42"
    assert data(flow["info"]) == "Name: aoconnect-test"


def test_message_can_answer_its_id(flow: dict[str, Any]) -> None:
    assert isinstance(flow["message_id"], str) and len(flow["message_id"]) == 43


def test_generic_request(flow: dict[str, Any], node: Node) -> None:
    assert flow["request"]["status"] == 200
    assert flow["request"]["body"] == httpx.get(node.url + "/~meta@1.0/info/address").text


def test_request_whose_body_the_client_dropped(flow: dict[str, Any]) -> None:
    dropped = flow["request_dropped_body"]
    assert dropped["status"] == 400 and "carries none" in dropped["body"] and "ans104" in dropped["body"]
    assert flow["request_ans104"] == {"status": 200, "body": "two\nlines"}


@pytest.mark.parametrize(("step", "message"), [
    ("message_unknown_process", "Error sending message"),
    ("result_unknown_process", "Error getting result"),
    ("result_unscheduled_slot", "Error getting result"),
    ("result_bad_slot", "Error getting result"),
    ("message_missing_module", "Error sending message"),
])
def test_wrong_input_is_an_error_aoconnect_reports(flow: dict[str, Any], step: str, message: str) -> None:
    assert flow[step] == {"error": message}
