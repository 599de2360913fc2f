"""Hostile Lua on a real `aonode serve` (issue 17, item 1): processes whose code never ends,
even under `pcall`, or whose pattern backtracks in C, answer every `now` with the limit (as
the failed slot's result, or as an error) while the node keeps serving other clients;
SIGTERM stops a node whose workers are all running such code."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from aonode_process import Node, running, signed
from processes.process_http import schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet

ENDLESS = {
    "pcall": "function compute(base) while true do pcall(function() while true do end end) end end",
    "xpcall": "function compute(base) while true do xpcall(error, function() while true do end end) end end",
    "pattern": 'function compute(base) return string.rep("a", 40):match(string.rep("a*", 40) .. "b") end',
    "coroutine": "function compute(base) local co = coroutine.wrap(function() while true do end end) "
                 "while true do pcall(co) end end",
}
LIMITS = ("instruction limit exceeded", "wall time limit exceeded", "the node is stopping")


def spawn(client: httpx.Client, node: Node, owner: Wallet, source: str) -> str:
    me = httpx.get(node.url + "/~meta@1.0/info/address").text
    process = signed({
        "device": "process@1.0", "type": "Process", "scheduler": me, "authority": me,
        "scheduler-device": "scheduler@1.0", "execution-device": "lua@5.3a",
        "module": {"content-type": "application/lua", "body": source}, "seed": uuid.uuid4().hex,
    }, owner)
    response = schedule(client, process)
    assert response.status_code == 200, response.text
    return message_id(process, committers="all")


def test_endless_lua_answers_errors_and_the_node_keeps_serving(tmp_path: Path) -> None:
    config = "lua_instruction_limit: 20000000\nlua_memory_limit: 67108864\nlua_wall_time_limit: 5\n"
    owner = Wallet.generate()
    with running(tmp_path / "node", config=config) as node:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            pids = [spawn(client, node, owner, source) for source in ENDLESS.values()]

            def now(i: int) -> httpx.Response:
                with httpx.Client(base_url=node.url, timeout=60) as own:
                    return own.get(f"/{pids[i % len(pids)]}/now")

            with ThreadPoolExecutor(16) as pool:
                answers = pool.map(now, range(16))
                time.sleep(0.3)  # every worker is busy now
                started = time.monotonic()
                info = client.get("/~meta@1.0/info/address")
                waited = time.monotonic() - started
                replies = list(answers)
            assert info.status_code == 200 and waited < 1.0, waited
            for i, reply in enumerate(replies):
                # The instruction limit fails the slot in the process itself: the slot's result
                # is the error (200) and the process goes on; wall time or shutdown fail the
                # request (5xx), which may succeed when asked again.
                if reply.status_code == 200:
                    reply = client.get(f"/{pids[i % len(pids)]}/now/results/error")
                    assert reply.status_code == 200, reply.text
                else:
                    assert reply.status_code >= 500, reply.text
                assert any(limit in reply.text for limit in LIMITS), reply.text[:500]
            assert client.get("/~meta@1.0/info/address").status_code == 200
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        node.process.wait(timeout=10)
        assert time.monotonic() - started < 10


def test_sigterm_stops_a_node_whose_workers_all_run_endless_lua(tmp_path: Path) -> None:
    # Limits far beyond the test: only the shutdown can end these calls.
    config = "lua_instruction_limit: 1000000000000000\nlua_wall_time_limit: 600\nshutdown_timeout: 8\n"
    owner = Wallet.generate()
    with running(tmp_path / "node", config=config) as node:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            pids = [spawn(client, node, owner, source) for source in ENDLESS.values()]
        ended: list[object] = []

        def now(i: int) -> None:
            try:
                with httpx.Client(base_url=node.url, timeout=30) as own:
                    ended.append(own.get(f"/{pids[i % len(pids)]}/now").status_code)
            except httpx.HTTPError as exc:
                ended.append(exc)

        threads = [threading.Thread(target=now, args=(i,), daemon=True) for i in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # the computations are running
        assert not ended
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        status = node.process.wait(timeout=10)
        assert time.monotonic() - started < 10
        assert status in (0, 1), node.log_text()
        for thread in threads:
            thread.join(timeout=5)
        assert len(ended) == 16
