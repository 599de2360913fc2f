"""The web console's dashboard: its first render in a real browser, on a node whose store holds
10,000 messages, against a static page of the same size served from disk, in one run.

1. A data directory is filled with `--messages` messages (default 10,000) through the message
   cache, then `aonode serve` starts on it (a subprocess, loopback).
2. A static server (Python's `http.server`, a subprocess) serves one HTML file as large as
   everything the dashboard's first render transfers (its HTML, scripts, styles and the
   answers it reads), measured from the browser in a warm-up load.
3. Debian's chromium (headless, playwright) loads each page `--rounds` times, each in a fresh
   browser context (no cache): the dashboard is rendered when its identity, devices and first
   metrics poll are on the page; the static page when its `load` event has fired. Medians.

It prints both medians and the ratio dashboard/static; the goal is a first render under 1 s.

    .venv/bin/python bench/console.py [--messages N] [--rounds N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
RENDERED = ("Number(document.body.dataset.polls || 0) >= 1 && document.querySelectorAll('tr.device').length > 0"
            " && document.getElementById('address').textContent.length === 43")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill_store(data: Path, count: int) -> float:
    """Write `count` distinct small messages into the node's default store under `data`."""
    from aonode.core import options
    from aonode.store import MessageCache, open_store

    store = open_store(options.get({"data_dir": str(data)}, "store"))
    started = time.perf_counter()
    try:
        cache = MessageCache(store)
        for n in range(count):
            cache.write({"kind": b"bench", "n": n, "text": f"message number {n}".encode(),
                         "nested": {"square": n * n}})
    finally:
        store.close()
    return time.perf_counter() - started


def wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def measure(browser: Any, url: str, ready: str | None, rounds: int) -> tuple[list[float], int]:
    """Seconds from navigation to `ready` (a JS condition; None: the load event), per round, and
    the bytes the last round transferred."""
    times: list[float] = []
    transferred = 0
    for _ in range(rounds):
        context = browser.new_context()
        page = context.new_page()
        sizes: list[int] = []
        page.on("response", lambda r, sizes=sizes: sizes.append(int(r.headers.get("content-length") or 0)))
        started = time.perf_counter()
        page.goto(url, wait_until="load")
        if ready is not None:
            page.wait_for_function(ready, timeout=60_000)
        times.append(time.perf_counter() - started)
        transferred = sum(sizes)  # what the page had received when it was rendered
        context.close()
    return times, transferred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seconds = fill_store(work / "data", args.messages)
        print(f"store: {args.messages} messages written in {seconds:.1f} s")
        port, static_port = free_port(), free_port()
        node = subprocess.Popen([sys.executable, "-m", "aonode.cli", "serve", "--port", str(port), "--host",
                                 "127.0.0.1", "--data-dir", str(work / "data"), "--log-level", "warning"],
                                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        static_dir = work / "static"
        static_dir.mkdir()
        static = subprocess.Popen([sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1",
                                   "--directory", str(static_dir)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for(f"http://127.0.0.1:{port}/metrics", node)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                dashboard = f"http://127.0.0.1:{port}/~hyperbuddy@1.0/dashboard"
                _, size = measure(browser, dashboard, RENDERED, 1)  # warm-up; its size sets the static page's
                filler = "<p>" + "x" * 96 + "</p>\n"
                body = "<!DOCTYPE html><html><head><title>static</title></head><body>\n"
                body += filler * max(1, (size - len(body)) // len(filler)) + "</body></html>\n"
                (static_dir / "page.html").write_text(body)
                wait_for(f"http://127.0.0.1:{static_port}/page.html", static)
                static_times, static_size = measure(browser, f"http://127.0.0.1:{static_port}/page.html", None,
                                                    args.rounds)
                dash_times, _ = measure(browser, dashboard, RENDERED, args.rounds)
                browser.close()
        finally:
            for proc in (node, static):
                proc.terminate()
                proc.wait(timeout=30)
    dash, ref = statistics.median(dash_times), statistics.median(static_times)
    print(f"dashboard first render (node with {args.messages} messages): median {dash * 1000:.0f} ms "
          f"(min {min(dash_times) * 1000:.0f}, max {max(dash_times) * 1000:.0f}; {size} bytes transferred)")
    print(f"static page of the same size ({static_size} bytes) from http.server: median {ref * 1000:.0f} ms")
    print(f"ratio dashboard/static: {dash / ref:.2f}   goal: first render under 1000 ms: "
          f"{'met' if dash < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
