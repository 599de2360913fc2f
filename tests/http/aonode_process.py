"""Helpers for the HTTP node tests: start `aonode serve` as a real process on a loopback port,
send messages to it, and read its signed answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aonode.codecs import commit, decode, encode, verify, with_only_committed
from aonode.crypto import Wallet

# Headers a server or the transport adds: they are not part of any message.
TRANSPORT = frozenset({"content-length", "date", "server", "connection", "transfer-encoding", "keep-alive"})


@dataclass
class Node:
    url: str
    port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "AONODE_", "LUA_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(workdir: Path, *, config: str | None = None, extra: list[str] | None = None,
          data_dir: Path | None = None, port: int | None = None,
          pythonpath: list[Path] | None = None) -> Node:
    """Start `aonode serve` in `workdir` and wait until it answers.

    `pythonpath`: folders the node imports extra modules from (test devices named in the
    config's `preloaded_devices`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = data_dir or workdir / "data"
    if "--config" not in (extra or []):
        config = config or ""
        if "gateway_store" not in config:
            # Tests are hermetic: no Arweave gateway in the store chain unless a test routes one.
            config = (config if not config or config.endswith("\n") else config + "\n") + "gateway_store: false\n"
        (workdir / "node.flat").write_text(config)
        extra = ["--config", str(workdir / "node.flat"), *(extra or [])]
    env = _clean_env()
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    # A port found free may be taken by another test's node before this one binds it: then the
    # node says so and exits, and another port is tried. Until this node's own log says it
    # listens, an answer on the port may be the other node's.
    for _attempt in range(5):
        node = _launch(port or free_port(), data, workdir, extra or [], env)
        if node is not None:
            return node
        if port is not None:
            break
    raise RuntimeError(f"aonode serve could not listen on a free port:\n{node_log(workdir)}")


def node_log(workdir: Path) -> str:
    """The newest node log in `workdir`."""
    logs = sorted(workdir.glob("node-*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text(errors="replace") if logs else ""


def _launch(port: int, data: Path, workdir: Path, extra: list[str], env: dict[str, str]) -> Node | None:
    """The node on `port`, once it answers; None when the port was taken before it bound it."""
    cmd = [sys.executable, "-m", "aonode.cli", "serve", "--port", str(port), "--host", "127.0.0.1",
           "--data-dir", str(data), *extra]
    log = workdir / f"node-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    node = Node(f"http://127.0.0.1:{port}", port, data, log, process)
    listening = f"listening on http://127.0.0.1:{port} "
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = node.log_text()
            if "cannot listen on" in text:
                return None
            raise RuntimeError(f"aonode serve exited with {process.returncode}:\n{text}")
        if listening in node.log_text():
            try:
                httpx.get(node.url + "/metrics", timeout=1)
                return node
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    stop(node)
    raise RuntimeError(f"aonode serve did not answer in time:\n{node.log_text()}")


def stop(node: Node, sig: int = signal.SIGTERM) -> int:
    """Stop the node (SIGTERM: graceful) and return its exit status."""
    if node.process.poll() is None:
        node.process.send_signal(sig)
        try:
            node.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
    return node.process.returncode


@contextmanager
def running(workdir: Path, **kw: Any) -> Iterator[Node]:
    node = start(workdir, **kw)
    try:
        yield node
    finally:
        stop(node)


# --- messages over HTTP ---------------------------------------------------------------------

def to_http(msg: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """A message as request headers and body (httpsig@1.0, nested messages inline)."""
    wire = encode(dict(msg), "httpsig@1.0", bundle=True)
    body = wire.pop("body", b"")
    return {k: v.decode("latin-1") for k, v in wire.items()}, body


def signed(msg: Mapping[str, Any], wallet: Wallet) -> dict[str, Any]:
    return commit(dict(msg), wallet, bundle=True)


def post(client: Any, msg: Mapping[str, Any], *, path: str | None = None,
         headers: Mapping[str, str] | None = None) -> httpx.Response:
    """POST a message (signed or not) the way HyperBEAM's client does: its `path` is the URL path."""
    hdrs, body = to_http(msg)
    hdrs.update({"accept-bundle": "true", **(headers or {})})
    url = path or str(msg.get("path", "/"))
    response: httpx.Response = client.post(url, headers=hdrs, content=body)
    return response


def send_message(client: Any, pid: str, sender: Wallet, **keys: Any) -> int:
    """Schedule a message signed by `sender` on process `pid`; its slot."""
    message = signed({"target": pid, "type": "Message", **keys}, sender)
    response = post(client, {"path": f"/{pid}/schedule", "method": "POST", "body": message})
    assert response.status_code == 200, response.text
    return int(response.headers["slot"])


def response_message(response: httpx.Response) -> dict[str, Any]:
    """The message a response carries (headers and body decoded as httpsig@1.0)."""
    wire = {k.lower(): v.encode("latin-1") for k, v in response.headers.items() if k.lower() not in TRANSPORT}
    if response.content:
        wire["body"] = response.content
    msg = decode(wire, "httpsig@1.0")
    assert isinstance(msg, dict)
    return msg


def verified(response: httpx.Response) -> dict[str, Any]:
    """The committed part of a response, after checking its signatures (raises if they fail)."""
    msg = with_only_committed(response_message(response))
    assert "commitments" in msg, "the response is not signed"
    verify(msg)
    return msg


def result(response: httpx.Response) -> Any:
    """What `hb_http` returns: the `ao-result` key's value, else the whole message."""
    msg = response_message(response)
    key = msg.get("ao-result")
    if isinstance(key, bytes):
        return msg.get(key.decode())
    return msg


class InProcess:
    """A client for an ASGI app in this process (httpx's ASGI transport), with a sync interface."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        import asyncio

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.request(method, url, **kw)

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)
