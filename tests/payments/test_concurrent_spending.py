"""Issue 21, "done" item 3: 16 clients spend one account at once (1,000 signed requests) on a
real node charging through `simple-pay@1.0`, and the node is killed with SIGKILL in the middle
of it and started again on the same store.

Every request a client sent is sent again, byte for byte, until it gets an answer (200 or 402),
as a client whose connection broke would. In the end the account's balance must be exactly its
top-up minus the price of every request answered 200: no charge lost to the kill, none made
twice for a request sent twice, none made for a request that was refused. The overdraw rule
(docs/payments.md) keeps the balance from ever going below zero here, since every request costs
exactly its estimate.

The Lua token ledger, killed the same way, keeps its balances and its record of charged
requests (its state is recomputed from the ledger process's log)."""

from __future__ import annotations

import json
import queue
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from aonode_process import Node, post, signed, start, stop, to_http
from payments_helpers import ask, body, jsonable, ledger_balance, lua_ledger_options, p4_options, wallet

from aonode.crypto import Wallet

CLIENTS = 16
REQUESTS = 1000
PRICE = 2  # `/~message@1.0&n=N/n`: two messages at `simple_pay_price` 1
AFFORDABLE = 400  # the top-up pays for this many of the requests, not for all of them
KILL_AFTER = 300  # answers before the SIGKILL


class Run:
    """The shared state of the clients: where the node is, and what each request got."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.answers: dict[int, int] = {}
        self.broken = 0  # sends that got no answer (the node was down)

    def answered(self, index: int, status: int) -> int:
        with self.lock:
            self.answers[index] = status
            return len(self.answers)


def _client(run: Run, wire: list[tuple[dict[str, str], bytes, str]], work: queue.Queue[int | None],
            kill: threading.Event) -> None:
    url, client = run.url, httpx.Client(base_url=run.url, timeout=60)
    try:
        while (index := work.get()) is not None:
            headers, content, path = wire[index]
            while True:
                run.up.wait()
                if run.url != url:
                    client.close()
                    url, client = run.url, httpx.Client(base_url=run.url, timeout=60)
                try:
                    response = client.post(path, headers=headers, content=content)
                except httpx.TransportError:
                    with run.lock:
                        run.broken += 1
                    run.up.wait(timeout=0.05)
                    continue  # the same bytes again, as a client whose connection broke
                assert response.status_code in (200, 402), response.text
                if run.answered(index, response.status_code) >= KILL_AFTER:
                    kill.set()
                break
    finally:
        client.close()


def _start(workdir: Path, data: Path, options: Mapping[str, Any]) -> Node:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.json"
    config.write_text(json.dumps(jsonable(options)))
    return start(workdir, extra=["--config", str(config)], data_dir=data)


def _spend_with_a_sigkill(tmp_path: Path, options: Mapping[str, Any], user: Wallet,
                          top_up: Callable[[httpx.Client], None]) -> tuple[Run, int]:
    """16 clients send the 1,000 requests of `user`, the node is killed with SIGKILL after
    `KILL_AFTER` answers and started again on its store; every request gets an answer. The
    run and the user's balance in the end."""
    data = tmp_path / "data"
    node = _start(tmp_path / "first", data, options)
    try:
        with httpx.Client(base_url=node.url, timeout=30) as client:
            top_up(client)
        wire = []
        for n in range(REQUESTS):
            path = f"/~message@1.0&n={n}/n"
            headers, content = to_http(signed({"path": path}, user))
            wire.append((headers, content, path))
        run, kill = Run(node.url), threading.Event()
        work: queue.Queue[int | None] = queue.Queue()
        for index in range(REQUESTS):
            work.put(index)
        for _ in range(CLIENTS):
            work.put(None)
        clients = [threading.Thread(target=_client, args=(run, wire, work, kill)) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        assert kill.wait(timeout=120), "the clients did not get far enough to kill the node"
        run.up.clear()
        assert stop(node, signal.SIGKILL) == -signal.SIGKILL
        node = _start(tmp_path / "second", data, options)
        run.url = node.url
        run.up.set()
        for thread in clients:
            thread.join(timeout=300)
            assert not thread.is_alive()
        with httpx.Client(base_url=node.url, timeout=30) as client:
            balance = body(ask(client, "/~p4@1.0/balance", user))
    finally:
        stop(node)
    assert len(run.answers) == REQUESTS
    assert run.broken > 0, "the kill broke no request in flight: it tested nothing"
    return run, balance


def _served(run: Run) -> int:
    return sum(1 for status in run.answers.values() if status == 200)


def test_sixteen_clients_and_a_sigkill_neither_lose_nor_make_money(tmp_path: Path) -> None:
    operator, user = wallet(), wallet()
    options = p4_options("simple-pay@1.0", "simple-pay@1.0", operator=operator.address)

    def top_up(client: httpx.Client) -> None:
        topped = ask(client, "/~simple-pay@1.0/topup", operator, amount=PRICE * AFFORDABLE, recipient=user.address)
        assert (topped.status_code, body(topped)) == (200, PRICE * AFFORDABLE)

    run, balance = _spend_with_a_sigkill(tmp_path, options, user, top_up)
    served = _served(run)
    assert balance == PRICE * AFFORDABLE - PRICE * served
    assert served == AFFORDABLE  # every unit of the top-up was spent, and no more
    assert balance >= -PRICE


def test_sixteen_clients_and_a_sigkill_on_the_lua_ledger(tmp_path: Path) -> None:
    # The Lua ledger's balances are read from its newest computed state, the charges scheduled
    # after it counted as reserved (docs/payments.md, "The overdraw rule"): the same money
    # rule, with the ledger computing in the background.
    operator, user = wallet(), wallet()
    options = lua_ledger_options({operator.address: 10 * PRICE * AFFORDABLE}, operator=operator.address)

    def top_up(client: httpx.Client) -> None:
        transfer = signed({"action": "Transfer", "recipient": user.address, "quantity": PRICE * AFFORDABLE}, operator)
        pushed = post(client, signed({"path": "/ledger~node-process@1.0/push", "body": transfer}, operator))
        assert pushed.status_code == 200, pushed.text
        assert ledger_balance(client, user.address) == PRICE * AFFORDABLE

    run, balance = _spend_with_a_sigkill(tmp_path, options, user, top_up)
    served = _served(run)
    assert balance == PRICE * AFFORDABLE - PRICE * served  # no charge lost, none made twice
    assert balance >= -PRICE
    # A check may count a charge both in the balance and as reserved for a moment (the safe
    # side): it can then refuse a request the account could have paid, at most one per client
    # at a time.
    assert AFFORDABLE - CLIENTS <= served <= AFFORDABLE


def test_the_lua_ledger_keeps_its_balances_and_charges_through_a_sigkill(tmp_path: Path) -> None:
    operator, user = wallet(), wallet()
    options = lua_ledger_options({operator.address: 1_000}, operator=operator.address)
    data = tmp_path / "data"
    node = _start(tmp_path / "first", data, options)
    try:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            transfer = signed({"action": "Transfer", "recipient": user.address, "quantity": 20}, operator)
            pushed = post(client, signed({"path": "/ledger~node-process@1.0/push", "body": transfer}, operator))
            assert pushed.status_code == 200, pushed.text
            paid = [signed({"path": f"/~message@1.0&n={n}/n"}, user) for n in range(5)]
            for message in paid:
                assert post(client, message).status_code == 200
            assert ledger_balance(client, user.address) == 20 - 5 * PRICE
        assert stop(node, signal.SIGKILL) == -signal.SIGKILL
        node = _start(tmp_path / "second", data, options)
        with httpx.Client(base_url=node.url, timeout=60) as client:
            assert ledger_balance(client, user.address) == 20 - 5 * PRICE
            assert ledger_balance(client, operator.address) == 1_000 - 20 + 5 * PRICE
            # The charges' request IDs survived too: the same requests again cost nothing.
            for message in paid:
                assert post(client, message).status_code == 200
            assert ledger_balance(client, user.address) == 20 - 5 * PRICE
    finally:
        stop(node)
