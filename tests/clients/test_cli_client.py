"""`aonode process ...` against a real node, run as users run it: `python -m aonode.cli` in a
subprocess, checking stdout, stderr and exit codes (0 on success, 1 for a refused request, 2 for
wrong usage; never a traceback)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node
from click.testing import CliRunner

from aonode.cli import main
from aonode.crypto import b64url_encode

HERE = Path(__file__).parent
MODULE_FILE = HERE / "aos_legacy.lua"
UNKNOWN = "A" * 43
MISSING = b64url_encode(bytes([2]) * 32)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def aonode(*args: str | Path, cwd: Path | None = None) -> Run:
    done = subprocess.run([sys.executable, "-m", "aonode.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-wallet") / "wallet.json"
    made = aonode("wallet", "new", path)
    assert made.code == 0, made.err
    return path


@pytest.fixture(scope="module")
def opts(node: Node, wallet: Path) -> list[str]:
    return ["--node", node.url, "--wallet", str(wallet)]


@pytest.fixture(scope="module")
def module(opts: list[str]) -> str:
    run = aonode("process", "upload", MODULE_FILE, *opts)
    assert run.code == 0, run.err
    return run.out.strip()


@pytest.fixture(scope="module")
def pid(module: str, opts: list[str]) -> str:
    run = aonode("process", "spawn", "--module", module, "--tag", "Name=cli-flow", *opts)
    assert run.code == 0, run.err
    return run.out.strip()


def data(result: dict[str, Any]) -> Any:
    return result["Output"]["data"]


def test_upload_prints_the_module_id(module: str, node: Node) -> None:
    assert len(module) == 43
    assert httpx.get(f"{node.url}/{module}/body", timeout=10).content == MODULE_FILE.read_bytes()


def test_flow(pid: str, opts: list[str], tmp_path: Path) -> None:
    assert len(pid) == 43
    slots = []
    for args in (["--tag", "Action=Eval", "--data", "X = 1"],
                 ["--tag", "Action=Eval", "--data", "X = X + 41 return X"],
                 ["--tag", "Action=Credit", "--tag", "Quantity=5"]):
        run = aonode("process", "message", *args, *opts, "--", pid)
        assert run.code == 0, run.err
        slots.append(run.out)
    assert slots == ["1\n", "2\n", "3\n"]  # a bare slot on stdout

    second = aonode("process", "result", *opts, "--", pid, "2")
    assert second.code == 0, second.err
    assert data(second.json()) == "42"
    assert second.json()["Messages"] == [] and second.json()["Error"] is None

    credit = aonode("process", "result", *opts, "--", pid, "3").json()
    assert data(credit) == "Balance: 5"
    assert {"name": "Action", "value": "Credit-Notice"} in credit["Messages"][0]["Tags"]

    results = aonode("process", "results", *opts, "--", pid)
    assert results.code == 0, results.err
    assert results.json() == [{"slot": 3, "result": credit}]

    # A dry run computes on the latest state and changes nothing.
    dry = aonode("process", "dryrun", "--tag", "Action=Eval", "--data", "X = 7 return X", *opts, "--", pid)
    assert dry.code == 0, dry.err
    assert data(dry.json()) == "7"
    assert data(aonode("process", "dryrun", "--tag", "Action=Info", *opts, "--", pid).json()) == "Name: cli-flow"
    code = tmp_path / "read.lua"
    code.write_text("return X")
    after = aonode("process", "message", "--tag", "Action=Eval", "--data-file", code, *opts, "--", pid)
    assert after.out == "4\n", after.err
    assert data(aonode("process", "result", *opts, "--", pid, "4").json()) == "42"


def test_unknown_process_fails_with_the_nodes_message(opts: list[str]) -> None:
    for args in (["result", UNKNOWN, "1"], ["results", UNKNOWN], ["message", UNKNOWN, "--data", "1"],
                 ["dryrun", UNKNOWN]):
        run = aonode("process", *args, *opts)
        assert run.code == 1, args
        assert run.out == ""
        assert run.err.startswith("Error: ") and " 404 " in run.err and "not found" in run.err, run.err


def test_bad_slot_fails_with_400(pid: str, opts: list[str]) -> None:
    run = aonode("process", "result", *opts, "--", pid, "abc")
    assert run.code == 1
    assert " 400 " in run.err and "slot" in run.err
    negative = aonode("process", "result", *opts, "--", pid, "-1")
    assert negative.code == 1 and " 400 " in negative.err, negative.err


def test_spawn_with_a_module_the_node_lacks(opts: list[str]) -> None:
    run = aonode("process", "spawn", "--module", MISSING, *opts)
    assert run.code == 1
    assert MISSING in run.err and "upload it first" in run.err
    assert aonode("process", "spawn", "--module", "nope", *opts).err.startswith("Error: the module must be an ID")


def test_usage_errors(pid: str, opts: list[str], node: Node, tmp_path: Path) -> None:
    no_wallet = aonode("process", "results", "--node", node.url, "--", pid)
    assert no_wallet.code == 2 and "--wallet" in no_wallet.err
    bad_tag = aonode("process", "message", "--tag", "NoEquals", *opts, "--", pid)
    assert bad_tag.code == 2 and "NAME=VALUE" in bad_tag.err
    (tmp_path / "d").write_text("x")
    both = aonode("process", "message", "--data", "x", "--data-file", tmp_path / "d", *opts, "--", pid)
    assert both.code == 2 and "not both" in both.err
    missing = aonode("process", "results", "--node", node.url, "--wallet", tmp_path / "none.json", "--", pid)
    assert missing.code == 1 and "cannot read the wallet" in missing.err
    (tmp_path / "junk.json").write_text("{}")
    junk = aonode("process", "results", "--node", node.url, "--wallet", tmp_path / "junk.json", "--", pid)
    assert junk.code == 1 and junk.err.startswith("Error: "), junk.err


def test_node_not_running(wallet: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = aonode("process", "results", UNKNOWN, "--node", f"http://127.0.0.1:{port}", "--wallet", wallet,
                 "--timeout", "5")
    assert run.code == 1 and "cannot reach" in run.err


def test_help_lists_the_commands() -> None:
    run = aonode("process", "--help")
    assert run.code == 0
    for command in ("upload", "spawn", "message", "result", "results", "dryrun"):
        assert command in run.out



def test_info_is_json_for_scripts_and_a_table_for_people(node: Node) -> None:
    # In-process (CliRunner: the real command, stdout and stderr captured apart) to spare two
    # interpreter start-ups; the commands above run as subprocesses.
    runner = CliRunner()
    as_json = runner.invoke(main, ["info", "--node", node.url, "--json"])
    assert as_json.exit_code == 0 and as_json.stderr == "", as_json.output
    found = json.loads(as_json.stdout)
    assert found["port"] == int(node.url.rsplit(":", 1)[1])
    table = runner.invoke(main, ["info", "--node", node.url], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and table.stderr == "", table.output  # no spinner: stderr is no terminal
    lines = table.stdout.splitlines()
    assert lines[0].strip() == f"{node.url}: {len(found)} options"
    assert any(line.startswith("│ port ") and f"│ {found['port']} " in line for line in lines), table.stdout


def test_info_of_a_node_that_is_not_running() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = CliRunner().invoke(main, ["info", "--node", f"127.0.0.1:{port}", "--timeout", "5"])
    assert run.exit_code == 1 and run.stdout == ""
    expected = f"Error: GET http://127.0.0.1:{port}/~meta@1.0/info: cannot reach the node"
    assert run.stderr.startswith(expected), run.stderr
