"""hyperbuddy@1.0 and cacheviz@1.0 over HTTP, on a node in this process (httpx's ASGI transport):
files, metrics, events, format, throw, the index and error pages by kind of client, and the store
graph as JSON, dot and SVG (Debian's graphviz, installed by `make test`)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aonode_process import InProcess, post, send_message, signed
from console_helpers import PRINTER_LUA, spawn_lua_local

from aonode.codecs import message_id
from aonode.crypto import Wallet
from aonode.devices.hyperbuddy import error_page, format_message, static_file
from aonode.http.server import client_kind, create_app
from aonode.store._memory import MemoryStore

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    found = create_app({"store": MemoryStore(), "mode": "debug"})
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def node(app: Any) -> InProcess:
    return InProcess(app)


@pytest.mark.parametrize(("key", "content_type"), [
    ("dashboard", "text/html"), ("console", "text/html"), ("index", "text/html"), ("graph", "text/html"),
    ("styles.css", "text/css"), ("utils.js", "text/javascript"), ("dashboard.js", "text/javascript"),
])
def test_pages_and_files_are_served_by_the_node(node: InProcess, key: str, content_type: str) -> None:
    answer = node.get(f"/~hyperbuddy@1.0/{key}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(content_type)
    assert len(answer.content) > 100
    assert b"http://" not in answer.content and b"https://" not in answer.content  # nothing from a CDN


def test_only_console_files_are_served(node: InProcess) -> None:
    assert static_file("../devices/hyperbuddy.py") is None and static_file(".hidden.js") is None
    assert static_file("__init__.py") is None  # not a console file type
    assert node.get("/~hyperbuddy@1.0/missing.js").status_code == 404
    assert node.get("/~hyperbuddy@1.0/..%2F__init__.py").status_code in (400, 404)


def test_metrics_and_events(node: InProcess, app: Any) -> None:
    owner = Wallet.generate(bits=2048)
    pid = spawn_lua_local(node, app.wallet.address, owner, PRINTER_LUA)
    send_message(node, pid, owner, word="x")
    assert node.get(f"/{pid}/now/count").text == "2"
    metrics = node.get("/~hyperbuddy@1.0/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert "aonode_http_requests_total" in text and "aonode_system_load1" in text
    executed = [line for line in text.splitlines()
                if line.startswith('aonode_events_total{event="executed",topic="process"}')]
    assert executed and float(executed[0].split()[-1]) >= 2
    events = node.get("/~hyperbuddy@1.0/events/process/executed")
    assert events.status_code == 200 and int(events.text) >= 2


def test_format_shows_a_message_as_indented_text(node: InProcess) -> None:
    text = format_message({"a": b"1", "nested": {"b": 2, "c": [b"x", {"d": b"y"}]}, "priv_secret": b"no"})
    assert text.splitlines() == ["a: 1", "nested:", "  b: 2", "  c:", "    1: x", "    2:", "      d: y"]
    answer = node.get("/~message@1.0&greeting=hi/~hyperbuddy@1.0/format")
    assert answer.status_code == 200 and "greeting: hi" in answer.text
    signer = Wallet.generate(bits=2048)
    signed_text = format_message(signed({"greeting": "hi"}, signer))
    lines = signed_text.splitlines()
    assert lines[0] == "commitments:" and "greeting: hi" in lines
    assert any(f"rsa-pss-sha512, signed by {signer.address}, " in line for line in lines)


@pytest.mark.parametrize(("headers", "kind"), [
    ({"accept": "text/html"}, "browser"), ({"user-agent": "curl/8.5.0", "accept": "*/*"}, "text"),
    ({"accept": "text/plain"}, "text"), ({"accept": "*/*", "user-agent": "python-httpx/0.28"}, "data"),
    ({"accept": "application/json"}, "data"), ({}, "data"),
])
def test_client_kinds(headers: dict[str, str], kind: str) -> None:
    assert client_kind({k: v.encode() for k, v in headers.items()}) == kind


def test_a_bodiless_message_by_kind_of_client(node: InProcess) -> None:
    path = "/~message@1.0&greeting=hi"
    page = node.get(path, headers=BROWSER)
    assert page.headers["content-type"].startswith("text/html") and b"/~hyperbuddy@1.0/index.js" in page.content
    assert page.headers["greeting"] == "hi"  # the message is still all there, as headers
    text = node.get(path, headers={"user-agent": "curl/8.5.0"})
    assert text.headers["content-type"].startswith("text/plain") and "greeting: hi" in text.text.splitlines()
    assert "path: format" not in text.text and "device: hyperbuddy@1.0" not in text.text
    data = node.get(path)
    assert data.content == b"" and data.headers["greeting"] == "hi"
    bundled = node.get(path, headers={**BROWSER, "accept-bundle": "true"})
    assert bundled.content == b""  # a bundle asks for the message itself: no page


def test_errors_are_pages_for_browsers_only(node: InProcess) -> None:
    page = node.get("/~hyperbuddy@1.0/throw", headers=BROWSER)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert b"<h1>500</h1>" in page.content
    data = node.get("/~hyperbuddy@1.0/throw", headers={"accept": "application/json"})
    assert data.status_code == 500 and data.headers["content-type"] == "application/json"
    missing = node.get("/no-such-thing", headers=BROWSER)
    assert missing.status_code == 404 and b"not_found: /no-such-thing" in missing.content
    page_text = error_page(404, "not_found: /<script>alert(1)</script>")
    assert b"<script>alert" not in page_text and b"&lt;script&gt;alert(1)" in page_text  # escaped


def test_throw_is_refused_in_prod_mode() -> None:
    app = create_app({"store": MemoryStore(), "mode": "prod"})
    try:
        answer = InProcess(app).get("/~hyperbuddy@1.0/throw")
        assert answer.status_code == 400 and "unavailable in `prod` mode" in answer.text
    finally:
        app.close()


# --- cacheviz@1.0 -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored(node: InProcess) -> str:
    message = signed({"name": "tree", "child": {"leaf": "value", "n": 1}, "seed": uuid.uuid4().hex},
                     Wallet.generate(bits=2048))
    assert post(node, {**message, "path": "/~message@1.0/id"}).status_code == 200
    return message_id(message, committers="all")


def test_cacheviz_json_is_the_graph_around_a_message(node: InProcess, app: Any, stored: str) -> None:
    answer = node.get(f"/~cacheviz@1.0/json?target={stored}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    graph = json.loads(answer.content)
    ids = {n["id"]: n for n in graph["nodes"]}
    store = app.cache.store
    root = store.resolve(stored)
    assert ids[root]["type"] == "composite"
    child = [link for link in graph["links"] if link["source"] == root and link["label"] == "child"]
    assert len(child) == 1 and ids[child[0]["target"]]["type"] == "composite"
    assert {"source", "target", "label"} == set(graph["links"][0])
    with_data = json.loads(node.get(f"/~cacheviz@1.0/json?target={stored}&render-data=true").content)
    assert any(n["type"] == "simple" for n in with_data["nodes"])
    small = json.loads(node.get("/~cacheviz@1.0/json?target=.&max-size=2").content)
    assert len(small["nodes"]) == 2
    assert all(link["source"] in {n["id"] for n in small["nodes"]} for link in small["links"])
    bad = node.get("/~cacheviz@1.0/json?max-size=lots")
    assert bad.status_code == 400 and "not a number" in bad.text


def test_cacheviz_of_the_base_message(node: InProcess) -> None:
    graph = json.loads(node.get("/~message@1.0&colour=blue/~cacheviz@1.0/json").content)
    assert graph["nodes"] and graph["nodes"][0]["type"] == "composite"


def test_cacheviz_dot_and_svg(node: InProcess, app: Any, stored: str, monkeypatch: pytest.MonkeyPatch,
                              tmp_path: Path) -> None:
    dot = node.get(f"/~cacheviz@1.0/dot?target={stored}")
    assert dot.status_code == 200 and dot.headers["content-type"] == "text/vnd.graphviz"
    assert dot.text.startswith("digraph store {")
    assert f'"{app.cache.store.resolve(stored)}"' in dot.text and 'label="child"' in dot.text
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is missing: `make test` installs Debian's graphviz (tests/install-services)")
    svg = node.get(f"/~cacheviz@1.0/svg?target={stored}")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content and b"child" in svg.content
    monkeypatch.setenv("PATH", str(tmp_path))  # a node without Graphviz
    missing = node.get(f"/~cacheviz@1.0/svg?target={stored}")
    assert missing.status_code == 503 and "Graphviz is not installed" in missing.text


def test_cacheviz_page_and_script(node: InProcess, stored: str) -> None:
    page = node.get(f"/{stored}/~cacheviz@1.0/index", headers=BROWSER)
    assert page.status_code == 200 and b"/~cacheviz@1.0/js" in page.content
    script = node.get("/~cacheviz@1.0/js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
