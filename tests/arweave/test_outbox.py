"""Two workers' outboxes on one directory: an upload is tried by one of them at a time, and its
submitter hears the bundler's own answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aonode.arweave.outbox import Outbox
from aonode.arweave.upload import Delivery, Upload


class _SlowRefusal(BaseHTTPRequestHandler):
    """Refuses every upload, a moment after saying it has one."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        self.rfile.read(int(self.headers.get("content-length", 0)))
        server.posts += 1  # type: ignore[attr-defined]
        server.receiving.set()  # type: ignore[attr-defined]
        server.release.wait(10)  # type: ignore[attr-defined]
        body = b'{"error": "tags too long"}'
        self.send_response(400)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bundler() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowRefusal)
    server.posts, server.receiving, server.release = 0, threading.Event(), threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_another_workers_round_leaves_an_upload_its_submitter_is_trying(tmp_path: Path,
                                                                       bundler: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{bundler.server_address[1]}"
    mine, theirs = Outbox(tmp_path, {}), Outbox(tmp_path, {})
    upload = Upload("m.ans104@1.0", "m", "ans104@1.0", url, {}, b"item")
    answers: list[Delivery] = []
    submitter = threading.Thread(target=lambda: answers.append(mine.submit(upload)))
    submitter.start()
    assert bundler.receiving.wait(10)  # type: ignore[attr-defined]
    assert theirs.round() == 0
    bundler.release.set()  # type: ignore[attr-defined]
    submitter.join(10)
    assert bundler.posts == 1  # type: ignore[attr-defined]
    [answer] = answers
    assert (answer.accepted, answer.status) == (False, 400) and b"tags too long" in answer.answer
    assert theirs.rejected() == ["m.ans104@1.0"] and theirs.pending() == []
