"""Slow and greedy clients against a running node (issue 17 item 4): an unfinished head or body
is answered 408 and closed in bounded time, a huge chunk 413 at once, and one address cannot
hold more than its share of connections; other clients are served throughout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from aonode_process import Node, running

CONFIG = """http_header_timeout: 1000
idle_timeout: 2000
http_body_idle_timeout: 1000
http_body_timeout: 3000
http_max_connections_per_client: 8
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("slow-clients"), config=CONFIG) as started:
        yield started


def connect(node: Node) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    return sock


def read_all(sock: socket.socket, seconds: float = 10) -> tuple[bytes, float]:
    """Everything the node sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(seconds)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


def served(node: Node) -> bool:
    return httpx.get(f"{node.url}/~meta@1.0/info/address", timeout=5).status_code == 200


def test_an_unfinished_head_is_answered_408(node: Node) -> None:
    with connect(node) as sock:
        sock.sendall(b"GET /~meta@1.0/info HTTP/1.1\r\nhost: x\r\nx-slow: ")
        answer, took = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"http_header_timeout" in answer
    assert took < 5


def drip(sock: socket.socket, head: bytes, piece: bytes, every: float, seconds: float) -> tuple[bytes, float]:
    """Send `head`, then `piece` every `every` s until the node answers (or `seconds` pass):
    never idle, never done. The answer and how long it took."""
    sock.sendall(head)
    started = time.monotonic()
    sock.settimeout(every)
    answer = b""
    while time.monotonic() - started < seconds and not answer:
        try:
            sock.sendall(piece)
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
    return answer, time.monotonic() - started


def test_a_dripping_head_does_not_reset_the_clock(node: Node) -> None:
    with connect(node) as sock:
        answer, took = drip(sock, b"GET /~meta@1.0/info HTTP/1.1\r\n", b"x-drip: 1\r\n", 0.2, 8)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert took < 5


def test_an_idle_connection_is_closed(node: Node) -> None:
    with connect(node) as sock:
        answer, took = read_all(sock)
    assert answer == b""
    assert took < 5


def test_a_stalled_body_is_answered_408(node: Node) -> None:
    with connect(node) as sock:
        sock.sendall(b"POST /key1 HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nkey1")
        answer, took = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"http_body_idle_timeout" in answer
    assert took < 5


@pytest.mark.parametrize("request_bytes", [
    b"POST /key1 HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\nshort",
    b"POST /key1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n10\r\nonly",
    b"GET /~meta@1.0/info HTTP/1.1\r\nhost: x\r\nx-cut: ",
])
def test_a_request_cut_short_by_the_client_is_answered_400(node: Node, request_bytes: bytes) -> None:
    with connect(node) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)  # the client is done sending, mid-request
        answer, took = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"ended before its" in answer
    assert took < 5
    assert served(node)


def test_a_slow_body_is_answered_408_in_bounded_time(node: Node) -> None:
    with connect(node) as sock:
        head = b"POST /key1 HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n"
        answer, took = drip(sock, head, b"a", 0.3, 10)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert took < 6


@pytest.mark.parametrize(("size", "status"), [(2 ** 60, b"413"), (2 ** 28, b"413"), (2 ** 80, b"400")])
def test_a_huge_chunk_is_refused_at_once(node: Node, size: int, status: bytes) -> None:
    # Beyond 20 hex digits h11 itself refuses the chunk header (400).
    with connect(node) as sock:
        sock.sendall(b"POST /key1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                     + b"%x\r\nabc" % size)
        answer, took = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    if status == b"413":
        assert b"http_max_body" in answer
    assert took < 1


def test_one_address_cannot_hold_every_connection(node: Node) -> None:
    held = [connect(node) for _ in range(8)]
    try:
        with connect(node) as extra:
            answer, _ = read_all(extra, 5)
        assert answer.startswith(b"HTTP/1.1 429 ")
        assert b"http_max_connections_per_client" in answer
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if served(node):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    assert served(node)


def test_the_node_serves_while_clients_are_slow(node: Node) -> None:
    slow = [connect(node) for _ in range(4)]
    try:
        for sock in slow:
            sock.sendall(b"POST /key1 HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n")
        started = time.monotonic()
        assert served(node)
        assert time.monotonic() - started < 1
    finally:
        for sock in slow:
            sock.close()
