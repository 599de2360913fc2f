"""router@1.0 `preprocess` and p4@1.0 as request hooks of one node (node-services.md §3.6,
§4.1, §17.3 item 4: several request-hook handlers): p4 prices and checks the request before
anything is relayed, so an unfunded signer's routed request is refused with 402 and the worker
never receives it, while a funded one is relayed (and charged).

Regression: preprocess answered `{body}` without the hook's `request`, so p4, after it, saw no
request and admitted everything: unsigned requests were relayed free and unfunded ones were
relayed, refused only afterwards by the response hook's charge.

The worker is a loopback HTTP server that records what reaches it: what is tested is whether
the router node sends anything, and that is seen where it arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from payments_helpers import ask, node_with, p4_options, wallet

from aonode.crypto import Wallet

PRICE = 10


class Worker:
    """A loopback HTTP server that answers 200 to everything and records each request's path."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                seen.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", "6")
                self.end_headers()
                self.wfile.write(b"worked")

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    found = Worker()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def funded() -> Wallet:
    return wallet()


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, worker: Worker, funded: Wallet) -> Iterator[httpx.Client]:
    options = p4_options(
        "simple-pay@1.0", "simple-pay@1.0",
        request_first={"device": "router@1.0", "path": "preprocess"},  # before p4, as in the reference's §3.6
        simple_pay_price=PRICE,
        simple_pay_ledger={funded.address: 1000},
        routes=[{"template": "^/work/", "node": {"prefix": worker.url}}],
    )
    with node_with(tmp_path_factory.mktemp("router-p4"), options) as node, \
            httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


def _balance(client: httpx.Client, who: Wallet) -> Any:
    answer = ask(client, "/~p4@1.0/balance", who)
    assert answer.status_code == 200, answer.text
    from aonode_process import response_message

    return response_message(answer).get("body")


def test_an_unfunded_signers_routed_request_is_refused_before_it_is_relayed(
        router: httpx.Client, worker: Worker) -> None:
    before = len(worker.seen)
    unfunded = ask(router, "/work/x", wallet(), k="v")
    assert unfunded.status_code == 402 and b"Insufficient funds" in unfunded.content, unfunded.text
    unsigned = ask(router, "/work/y", None, k="v")
    assert unsigned.status_code == 400 and b"not signed" in unsigned.content, unsigned.text
    assert worker.seen[before:] == []


def test_a_funded_signers_routed_request_is_relayed_and_charged(
        router: httpx.Client, worker: Worker, funded: Wallet) -> None:
    before_seen, before_balance = len(worker.seen), _balance(router, funded)
    answer = ask(router, "/work/z", funded, k="v")
    assert answer.status_code == 200 and b"worked" in answer.content, answer.text
    assert len(worker.seen) == before_seen + 1
    # priced as the relay's two messages (relay@1.0 and its `call`)
    assert _balance(router, funded) == before_balance - 2 * PRICE
