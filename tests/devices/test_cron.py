"""Port of the reference's `dev_cron` tests (processes-compute.md §6.5, §7 dev_cron.erl),
through a real node (`create_app`, in process over httpx's ASGI transport) and real timers.

Timing is never asserted exactly: every wait polls for the outcome with a generous deadline,
so the tests hold on a loaded machine."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aonode.codecs import decode
from aonode.core import Result, resolve
from aonode.crypto import Wallet
from aonode.devices.cron import parse_interval, task_registry
from aonode.devices.test_device import Worker, register_worker, unregister_worker
from aonode.http import NodeApp, create_app
from aonode.store import MemoryStore

DEADLINE = 15.0  # seconds: how long a poll waits before the test fails
TRANSPORT = frozenset({"content-length", "date", "server", "connection", "transfer-encoding", "keep-alive"})


class Client:
    """GETs against an in-process node; answers decoded as `hb_http:get` returns them."""

    def __init__(self, app: NodeApp) -> None:
        self.app = app

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.get(path, params=params, headers={"accept-bundle": "true"})

        response = asyncio.run(go())
        wire = {k.lower(): v.encode("latin-1") for k, v in response.headers.items() if k.lower() not in TRANSPORT}
        if response.content:
            wire["body"] = response.content
        msg = decode(wire, "httpsig@1.0")
        assert isinstance(msg, dict)
        key = msg.get("ao-result")
        return response.status_code, msg.get(key.decode()) if isinstance(key, bytes) else msg


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def make(wallet: Wallet) -> Iterator[Callable[..., tuple[NodeApp, Client]]]:
    apps: list[NodeApp] = []

    def build(**opts: Any) -> tuple[NodeApp, Client]:
        app = create_app({"store": MemoryStore(), "priv_wallet": wallet, **opts})
        apps.append(app)
        return app, Client(app)

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def worker() -> Iterator[tuple[str, Worker]]:
    worker_id = f"worker-{time.monotonic_ns()}"
    found = Worker()
    register_worker(worker_id, found)
    yield worker_id, found
    unregister_worker(worker_id)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stopped(task: Any) -> bool:
    task.thread.join(DEADLINE)
    return not task.thread.is_alive()


# --- §7 dev_cron.erl -----------------------------------------------------------------------

def test_stop_once(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make()
    worker_id, _ = worker
    status, task_id = node.get("/~cron@1.0/once", **{
        "test-id": worker_id, "duration": "3000", "cron-path": "/~test-device@1.0/delay",
    })
    assert status == 200 and isinstance(task_id, bytes)
    registry = task_registry(app.node.current())
    task = registry.lookup(task_id.decode())
    assert task is not None and task.is_alive()
    wait_until(lambda: task.runs == 1, "the run to start")
    status, answer = node.get("/~cron@1.0/stop", task=task_id.decode())
    assert status == 200
    assert answer["status"] == 200
    assert answer["body"] == {"message": b"Task stopped successfully", "task_id": task_id}
    assert registry.lookup(task_id.decode()) is None
    # The run under way cannot be killed (a Python thread); it ends when the delay does.
    assert stopped(task)
    assert node.get("/~cron@1.0/stop", task=task_id.decode()) == (400, b"Task not found.")


def test_stop_every(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make()
    worker_id, counter = worker
    status, task_id = node.get("/~cron@1.0/every", **{
        "test-id": worker_id, "interval": "50-milliseconds", "cron-path": "/~test-device@1.0/increment_counter",
    })
    assert status == 200
    task = task_registry(app.node.current()).lookup(task_id.decode())
    assert task is not None and task.is_alive()
    wait_until(lambda: counter.count >= 2, "two runs")
    status, answer = node.get("/~cron@1.0/stop", task=task_id.decode())
    assert status == 200 and answer["status"] == 200
    assert task_registry(app.node.current()).lookup(task_id.decode()) is None
    assert stopped(task)
    final = counter.count
    assert final > 0
    time.sleep(0.2)
    assert counter.count == final  # no run after the stop
    assert node.get("/~cron@1.0/stop", task=task_id.decode()) == (400, b"Task not found.")


def test_once_executed(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make()
    worker_id, found = worker
    status, _ = node.get("/~cron@1.0/once", **{"test-id": worker_id, "cron-path": "/~test-device@1.0/update_state"})
    assert status == 200
    wait_until(lambda: found.state is not None, "the worker's state")
    assert found.state["test-id"] == worker_id.encode()
    assert "cron-path" not in found.state
    # A finished once-task leaves the registry.
    wait_until(lambda: len(task_registry(app.node.current())) == 0, "the task to end")


def test_every_worker_loop(make: Any, worker: tuple[str, Worker]) -> None:
    _, node = make()
    worker_id, counter = worker
    status, _ = node.get("/~cron@1.0/every", **{
        "test-id": worker_id, "interval": "100-milliseconds", "cron-path": "/~test-device@1.0/increment_counter",
    })
    assert status == 200
    wait_until(lambda: counter.count >= 3, "three runs")


# --- §6.5 rule by rule ---------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "message"), [
    ("/~cron@1.0/once", {"x": "1"}, b"No cron path found in message."),
    ("/~cron@1.0/every", {"interval": "1-second"}, b"No cron path found in message."),
    ("/~cron@1.0/every", {"cron-path": "/~meta@1.0/info"}, b"No interval found in message."),
    ("/~cron@1.0/every", {"cron-path": "/x", "interval": "5-fortnights"}, b"Invalid time unit: fortnights"),
    ("/~cron@1.0/every", {"cron-path": "/x", "interval": "0-seconds"}, b"Invalid interval value."),
    ("/~cron@1.0/every", {"cron-path": "/x", "interval": "500"},
     b"Invalid interval: expected <amount>-<unit>, such as 500-milliseconds."),
    ("/~cron@1.0/stop", {}, b"No task ID found in message."),
    ("/~cron@1.0/stop", {"task": "unknown"}, b"Task not found."),
])
def test_bad_input_is_a_400_with_a_message(make: Any, path: str, params: dict[str, str], message: bytes) -> None:
    app, node = make()
    assert node.get(path, **params) == (400, message)
    assert len(task_registry(app.node.current())) == 0


def test_info(make: Any) -> None:
    _, node = make()
    status, answer = node.get("/~cron@1.0/info")
    assert status == 200
    assert answer["body"]["description"] == b"Cron device for scheduling messages"
    assert set(answer["body"]["paths"]) == {"info", "once", "every", "stop"}


@pytest.mark.parametrize(("text", "millis"), [
    ("500-milliseconds", 500), ("1-millisecond", 1), ("2-Seconds", 2000), ("3-MINUTES", 180_000),
    ("1-hour", 3_600_000), ("2-days", 172_800_000), ("+4-secondsss", 4000),
])
def test_interval_units(text: str, millis: int) -> None:
    assert parse_interval(text.encode()) == millis


def test_task_id_is_the_request_id_and_repeats_start_nothing(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make()
    worker_id, counter = worker
    params = {"test-id": worker_id, "interval": "1-hour", "cron-path": "/~test-device@1.0/increment_counter"}
    first = node.get("/~cron@1.0/every", **params)
    second = node.get("/~cron@1.0/every", **params)
    assert first == second and first[0] == 200
    assert task_registry(app.node.current()).ids() == [first[1].decode()]
    wait_until(lambda: counter.count >= 1, "the first run")
    time.sleep(0.1)
    assert counter.count == 1  # one task, whose next run is an hour away


def test_failing_runs_are_logged_and_the_loop_goes_on(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def tick() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first tick fails")
        if len(calls) == 2:
            return Result("error", b"second tick refuses")
        return {"status": 200}

    _, node = make(preloaded_devices={"flaky@1.0": {"tick": tick}})
    with caplog.at_level(logging.INFO, logger="aonode.cron"):
        status, _ = node.get("/~cron@1.0/every", **{"interval": "30-milliseconds", "cron-path": "/~flaky@1.0/tick"})
        assert status == 200
        wait_until(lambda: len(calls) >= 3, "runs after the failures")
    messages = [r.getMessage() for r in caplog.records]
    assert any("running /~flaky@1.0/tick failed" in m for m in messages)
    assert any("/~flaky@1.0/tick answered 400" in m and "second tick refuses" in m for m in messages)


def test_node_shutdown_stops_the_tasks(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make()
    worker_id, counter = worker
    status, task_id = node.get("/~cron@1.0/every", **{
        "test-id": worker_id, "interval": "50-milliseconds", "cron-path": "/~test-device@1.0/increment_counter",
    })
    assert status == 200
    registry = task_registry(app.node.current())
    task = registry.lookup(task_id.decode())
    wait_until(lambda: counter.count >= 1, "a run")
    app.close()
    assert len(registry) == 0 and stopped(task)
    final = counter.count
    time.sleep(0.15)
    assert counter.count == final


def test_no_more_tasks_than_cron_max_tasks(make: Any, worker: tuple[str, Worker]) -> None:
    app, node = make(cron_max_tasks=2)
    worker_id, _ = worker
    started = []
    for hours in (1, 2):
        status, task_id = node.get("/~cron@1.0/every", **{
            "test-id": worker_id, "interval": f"{hours}-hour", "cron-path": "/~test-device@1.0/increment_counter",
        })
        assert status == 200
        started.append(task_id.decode())
    full = {"test-id": worker_id, "interval": "3-hour", "cron-path": "/~test-device@1.0/increment_counter"}
    status, answer = node.get("/~cron@1.0/every", **full)
    assert status == 503 and b"runs 2 cron tasks already" in answer["body"]
    assert node.get("/~cron@1.0/every", **{**full, "interval": "1-hour"})[0] == 200  # a running task: the same ID
    assert node.get("/~cron@1.0/stop", task=started[0])[0] == 200
    assert node.get("/~cron@1.0/every", **full)[0] == 200  # room again
    assert len(task_registry(app.node.current())) == 2


def test_nodes_keep_their_own_tasks(make: Any, worker: tuple[str, Worker]) -> None:
    first, node = make()
    second, _ = make()
    worker_id, _ = worker
    _, task_id = node.get("/~cron@1.0/every", **{
        "test-id": worker_id, "interval": "1-hour", "cron-path": "/~test-device@1.0/increment_counter",
    })
    assert task_registry(first.node.current()).ids() == [task_id.decode()]
    assert task_registry(second.node.current()).ids() == []


def test_resolved_without_a_server(worker: tuple[str, Worker]) -> None:
    worker_id, found = worker
    result = resolve({"device": b"cron@1.0"}, {
        "path": "once", "test-id": worker_id.encode(), "cron-path": b"/~test-device@1.0/update_state",
    })
    assert result.status == "ok" and isinstance(result.value, bytes)
    wait_until(lambda: found.state is not None, "the worker's state")
    assert found.state["test-id"] == worker_id.encode()
