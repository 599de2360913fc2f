"""The operator's first hour (issue 23, done-means 3), each item tried as a new user would: with
curl, the `aonode` command and `make`, against real nodes on loopback."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wasmtime
from aonode_process import Node, free_port, running, send_message
from console_helpers import PRINTER_LUA, ROOT, spawn_lua

from aonode.crypto import Wallet
from aonode.runtime.wasm import compile_module


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("first-hour") / "node"
    with running(work, config="# the operator's config\nhttp_workers: 4\n") as started:
        yield started


def aonode(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "AONODE_"))}
    return subprocess.run([sys.executable, "-m", "aonode.cli", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=timeout, check=False)


def test_curl_prints_the_node_info(node: Node) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed for this test (apt-get install curl)")
    address = Wallet.load(node.data_dir / "wallet.json").address
    done = subprocess.run([curl, "-s", f"localhost:{node.port}/~meta@1.0/info"], capture_output=True, text=True,
                          timeout=60, check=True)
    assert f"address: {address}" in done.stdout
    assert "http_workers: 4" in done.stdout  # the whole node message, as text
    # A data client still gets the message as headers, not a text page.
    plain = httpx.get(node.url + "/~meta@1.0/info", timeout=30)
    assert plain.content == b"" and plain.headers["address"] == address


def test_process_commands_take_the_node_from_the_environment_and_without_a_scheme(node: Node, tmp_path: Path) -> None:
    wallet = tmp_path / "w.json"
    Wallet.generate(bits=2048).save(wallet)  # signs as a 4096-bit key does, made in a tenth of the time
    module = tmp_path / "m.lua"
    module.write_text("function handle(msg, env) return {Output = {data = 'hi'}} end\n")
    from_env = aonode("process", "upload", str(module), "--wallet", str(wallet),
                      env={"AONODE_URL": f"localhost:{node.port}"})
    assert from_env.returncode == 0, from_env.stderr
    mid = from_env.stdout.strip()
    assert httpx.get(f"{node.url}/{mid}/body", timeout=30).text == module.read_text()
    flag = aonode("process", "upload", str(module), "--wallet", str(wallet), "--node", f"127.0.0.1:{node.port}/")
    assert flag.returncode == 0, flag.stderr
    wrong = aonode("process", "upload", str(module), "--wallet", str(wallet), "--node", "ftp://x")
    assert wrong.returncode == 2 and "is not a node URL" in wrong.stderr


def test_make_run_says_what_it_installs_and_installs_only_what_running_needs() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is needed for this test")
    run = subprocess.run([make, "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    installs = [line for line in run.stdout.splitlines() if "pip install" in line]
    assert installs and all("[test]" not in line and " -q" not in line for line in installs), installs
    assert any(line.rstrip().endswith("-e .") for line in installs)
    said = [line for line in run.stdout.splitlines() if line.startswith("echo")]
    assert any("installing aonode" in line for line in said)
    assert run.stdout.index("installing aonode") < run.stdout.index("pip install")  # said before it runs
    test = subprocess.run([make, "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "'.[test]'" in test.stdout  # the test tools belong to `make test`


def test_the_log_names_the_config_file(node: Node) -> None:
    log = node.log_text()
    config = (node.data_dir.parent / "node.flat").resolve()
    assert f"loaded the config file {config}" in log
    assert log.index("loaded the config file") < log.index("listening on")


def test_a_port_in_use_is_reported_before_claiming_to_listen(node: Node, tmp_path: Path) -> None:
    done = aonode("serve", "--port", str(node.port), "--host", "127.0.0.1", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{node.port}" in done.stderr and "in use" in done.stderr
    assert "listening on" not in done.stderr


def _start_with(work: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = work / "node.log"
    work.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "AONODE_"))}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "aonode.cli", "serve", "--port", str(port), "--host",
                                 "127.0.0.1", "--data-dir", str(work / "data"), *extra], cwd=work,
                                env={**clean, "PYTHONUNBUFFERED": "1", **env}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/metrics", timeout=1)
            return proc, url, log
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(log.read_text())


def _print_in_lua(client: httpx.Client, node: Node, owner: Wallet, word: str) -> None:
    pid = spawn_lua(client, node, owner, PRINTER_LUA)
    send_message(client, pid, owner, word=word)
    assert client.get(f"/{pid}/now/count").text == "2"  # slot 0 (the spawn) and the message


def test_log_level_and_hb_print_topics_change_what_is_logged(node: Node, tmp_path: Path) -> None:
    owner = Wallet.generate(bits=2048)
    with httpx.Client(base_url=node.url, timeout=120) as client:  # default: info, no topics
        _print_in_lua(client, node, owner, "quiet")
    quiet = node.log_text()
    assert "marker-quiet" not in quiet and '"event": "request"' in quiet
    proc, url, log = _start_with(tmp_path / "loud", {"HB_PRINT": "lua"}, "--log-level", "warning")
    try:
        fake = Node(url, int(url.rsplit(":", 1)[1]), tmp_path / "loud" / "data", log, proc)
        with httpx.Client(base_url=url, timeout=120) as client:
            _print_in_lua(client, fake, owner, "loud")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "marker-loud" in text  # Lua's print, at debug, through the `lua` topic
    assert '"event": "request"' not in text and "listening on" not in text  # info is off at warning


def test_an_unknown_device_error_lists_the_known_ones(node: Node) -> None:
    answer = httpx.get(node.url + "/~no-such-device@1.0/x", timeout=30)
    assert answer.status_code == 400
    assert "no-such-device@1.0" in answer.text
    for known in ("message@1.0", "process@1.0", "hyperbuddy@1.0", "lua@5.3a"):
        assert known in answer.text


def test_a_first_wasm_compile_logs_its_progress(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (func (export "f") (result i32) (i32.const 7)))'))
    with caplog.at_level(logging.INFO, logger="aonode.wasm"):
        compile_module(wasm, tmp_path / "cache")
    said = [r.getMessage() for r in caplog.records if r.name == "aonode.wasm"]
    assert any(s.startswith("compiling a WASM module") for s in said)
    assert any(s.startswith("compiled the WASM module in") for s in said)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aonode.wasm"):
        compile_module(wasm, tmp_path / "cache")  # from the cache: nothing to say
    assert not [r for r in caplog.records if r.name == "aonode.wasm"]


def test_the_dashboard_numbers_are_the_whole_nodes_with_several_workers(tmp_path: Path) -> None:
    """`make run` serves with one worker process per core; /metrics, answered by any one of them,
    carries the node's totals over all of them (the dashboard's numbers)."""
    with running(tmp_path / "node", extra=["--workers", "2"]) as started:
        with httpx.Client(base_url=started.url, timeout=30) as client:
            for _ in range(6):
                assert client.get("/~meta@1.0/info/address").status_code == 200
        time.sleep(2.5)  # each worker publishes its numbers once a second
        for _ in range(4):  # new connections: any worker may answer
            text = httpx.get(started.url + "/metrics", timeout=30).text
            totals = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                      if line.startswith("aonode_node_")}
            assert totals["aonode_node_workers"] == 2
            assert totals["aonode_node_requests_total"] >= 6
        shared = started.data_dir / "workers"
        assert len(list(shared.glob("*.json"))) == 2
    assert list(shared.glob("*.json")) == []  # a stopped worker takes its numbers away
