"""The permaweb devices over HTTP on a real `aonode serve` (node-services.md §5, §10, §11):
cache@1.0 writes for `cache_writers` only, lookup@1.0 and aos-2 JSON, query@1.0 and its GraphQL
endpoint, local-name@1.0 and name@1.0 with the `host` request hook, manifest@1.0 serving an app,
whois@1.0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, result, signed, start, stop
from permaweb_helpers import item, wallet

from aonode.crypto import b64url_encode, sha256

OPERATOR = wallet(1)
WRITER = wallet(2)
MANIFEST_TYPE = "application/x.arweave-manifest+json"

PAGE = item(OPERATOR, [("Content-Type", "text/html")],
            b"<html><body><p id=out>waiting</p><script src='assets/app.js'></script></body></html>")
SCRIPT = item(OPERATOR, [("Content-Type", "application/javascript")],
              b"document.getElementById('out').textContent = 'script ran';")
NOT_FOUND_PAGE = item(OPERATOR, [("Content-Type", "text/html")], b"<html><body>fallback page</body></html>")


def _id(it: Any) -> str:
    return b64url_encode(it.id)


def manifest_item(version: str, fallback: Any = None, index: bool = True) -> Any:
    body: dict[str, Any] = {"manifest": "arweave/paths", "version": version,
                            "paths": {"index.html": {"id": _id(PAGE)}, "assets/app.js": {"id": _id(SCRIPT)}}}
    if index:
        body["index"] = {"path": "index.html"}
    if fallback is not None:
        body["fallback"] = {"id": _id(fallback)}
    return item(OPERATOR, [("Content-Type", MANIFEST_TYPE)], json.dumps(body).encode())


MANIFEST_V1 = manifest_item("0.1.0")
MANIFEST_V2 = manifest_item("0.2.0", fallback=NOT_FOUND_PAGE, index=False)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("permaweb-node")
    config = {
        "operator": OPERATOR.address,
        "cache_writers": [WRITER.address],
        "name_resolvers": [{"device": "local-name@1.0"}],
        "on": {"request": [{"device": "name@1.0", "path": "request"},
                           {"device": "manifest@1.0", "path": "request"}]},
    }
    (work / "node.json").write_text(json.dumps(config))
    started = start(work, extra=["--config", str(work / "node.json")])
    try:
        yield started
    finally:
        stop(started)


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def uploaded(client: httpx.Client) -> list[str]:
    ids = []
    for it in (PAGE, SCRIPT, NOT_FOUND_PAGE, MANIFEST_V1, MANIFEST_V2):
        msg = signed({"operation": "item", "body": it.serialize()}, WRITER)
        response = post(client, msg, path="/~cache@1.0/write")
        assert response.status_code == 200, response.text
        assert result(response) == _id(it).encode() or response.headers.get("path") == _id(it)
        ids.append(_id(it))
    return ids


def test_cache_write_needs_a_writer(client: httpx.Client) -> None:
    response = post(client, signed({"body": b"not from a writer"}, OPERATOR), path="/~cache@1.0/write")
    assert response.status_code == 403 and b"Not authorized" in response.content
    response = post(client, {"body": b"unsigned"}, path="/~cache@1.0/write")
    assert response.status_code == 403


def test_cache_write_binary_then_read_it(client: httpx.Client) -> None:
    data = b"bytes written through cache@1.0"
    response = post(client, signed({"body": data}, WRITER), path="/~cache@1.0/write")
    assert response.status_code == 200, response.text
    path = f"data/{b64url_encode(sha256(data))}"
    assert response.headers["path"] == path
    read = client.get("/~cache@1.0/read", params={"target": path})
    assert read.status_code == 200 and read.content == data
    assert client.get("/~cache@1.0/read", params={"target": "data/" + "A" * 43}).status_code == 404
    bad = post(client, signed({"operation": "move", "body": b"x"}, WRITER), path="/~cache@1.0/write")
    assert bad.status_code == 400 and b"Invalid write type." in bad.content
    empty = post(client, signed({"operation": "write"}, WRITER), path="/~cache@1.0/write")
    assert empty.status_code == 400 and b"No body to write." in empty.content


def test_cache_refuses_a_forged_item(client: httpx.Client) -> None:
    raw = bytearray(PAGE.serialize())
    raw[-1] ^= 1  # the data no longer matches the signature
    response = post(client, signed({"operation": "item", "body": bytes(raw)}, WRITER), path="/~cache@1.0/write")
    assert response.status_code == 422 and b"does not verify" in response.content


def test_lookup_reads_items_and_aos2(client: httpx.Client, uploaded: list[str]) -> None:
    response = client.get("/~lookup@1.0/read", params={"target": _id(PAGE)})
    assert response.status_code == 200 and b"script" in response.content
    aos2 = client.get("/~lookup@1.0/read", params={"target": _id(SCRIPT)}, headers={"accept": "application/aos-2"})
    assert aos2.status_code == 200 and aos2.headers["content-type"].startswith("application/aos-2")
    body = json.loads(aos2.content)
    assert body["Id"] == _id(SCRIPT) and body["Data"] == SCRIPT.data.decode()
    assert body["Owner"] == OPERATOR.address
    assert client.get("/~lookup@1.0/read", params={"target": "C" * 43}).status_code == 404


def test_graphql_over_http(client: httpx.Client, uploaded: list[str]) -> None:
    query = """query($owners: [String!]) { transactions(owners: $owners, tags: [{name: "Content-Type",
               values: ["text/html"]}], first: 1) { pageInfo { hasNextPage } edges { node { id data { type } } } } }"""
    response = client.post("/~query@1.0/graphql", json={"query": query, "variables": {"owners": [OPERATOR.address]}})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = json.loads(response.content)
    assert answer["data"]["transactions"]["pageInfo"]["hasNextPage"] is True
    assert answer["data"]["transactions"]["edges"][0]["node"]["id"] in {_id(PAGE), _id(NOT_FOUND_PAGE)}
    bad = client.post("/~query@1.0/graphql", json={"query": "{ transactions("})
    assert bad.status_code == 400 and "Syntax Error" in bad.text
    not_json = client.post("/~query@1.0/graphql", content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 400


def test_query_match_over_http(client: httpx.Client, uploaded: list[str]) -> None:
    response = client.get("/~query@1.0/only", params={"only": "content-type", "content-type": "application/javascript",
                                                      "return": "count"})
    assert response.status_code == 200, response.text
    assert result(response) == 1


def test_name_registered_by_the_operator_serves_the_app(client: httpx.Client, node: Node,
                                                         uploaded: list[str]) -> None:
    denied = post(client, signed({"key": "app", "value": _id(MANIFEST_V1)}, WRITER), path="/~local-name@1.0/register")
    assert denied.status_code == 403
    ok = post(client, signed({"key": "app", "value": _id(MANIFEST_V1)}, OPERATOR), path="/~local-name@1.0/register")
    assert ok.status_code == 200, ok.text
    named = client.get("/~name@1.0/app", params={"load": "false"})
    assert named.status_code == 200 and _id(MANIFEST_V1).encode() in named.content
    page = client.get("/", headers={"host": f"app.localhost:{node.port}"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html") and page.content == PAGE.data
    script = client.get("/assets/app.js", headers={"host": f"app.localhost:{node.port}"})
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    unknown = client.get("/", headers={"host": f"nobody.localhost:{node.port}"})
    assert unknown.status_code != 500


def test_manifest_paths(client: httpx.Client, uploaded: list[str]) -> None:
    for path in (f"/{_id(MANIFEST_V1)}", f"/{_id(MANIFEST_V1)}/", f"/{_id(MANIFEST_V1)}/index.html",
                 f"/{_id(MANIFEST_V1)}/index"):
        page = client.get(path)
        assert page.status_code == 200 and page.content == PAGE.data, path
        assert page.headers["content-type"].startswith("text/html")
    script = client.get(f"/{_id(MANIFEST_V1)}/assets/app.js")
    assert script.status_code == 200 and script.content == SCRIPT.data
    assert script.headers["content-type"].startswith("application/javascript")
    assert client.get(f"/{_id(MANIFEST_V1)}/missing.html").status_code == 404
    # v2: no index, a fallback for every unknown path.
    assert client.get(f"/{_id(MANIFEST_V2)}/").content == NOT_FOUND_PAGE.data
    assert client.get(f"/{_id(MANIFEST_V2)}/no/such/page").content == NOT_FOUND_PAGE.data
    assert client.get(f"/{_id(MANIFEST_V2)}/assets/app.js").content == SCRIPT.data


def test_whois_echo(client: httpx.Client) -> None:
    response = client.get("/~whois@1.0/echo", headers={"ao-peer-port": "1234"})
    assert response.status_code == 200 and response.content == b"127.0.0.1:1234"
    assert client.get("/~whois@1.0/echo").content == b"unknown"


def test_whois_node_learns_its_address(node: Node, tmp_path: Path) -> None:
    config = {"host_bootstrap_node": node.url}
    (tmp_path / "node.json").write_text(json.dumps(config))
    second = start(tmp_path, extra=["--config", str(tmp_path / "node.json")])
    try:
        response = httpx.get(second.url + "/~whois@1.0/node", timeout=30)
        assert response.status_code == 200, response.text
        assert response.content == f"127.0.0.1:{second.port}".encode()
    finally:
        stop(second)


def test_local_name_http(client: httpx.Client) -> None:
    ok = post(client, signed({"key": "name1", "value": "value1"}, OPERATOR), path="/~local-name@1.0/register")
    assert ok.status_code == 200, ok.text
    found = client.get("/~local-name@1.0/lookup", params={"key": "name1"})
    assert found.status_code == 200 and found.content == b"value1"


@pytest.mark.parametrize("kind", ["message", "binary"])
def test_cache_write_read_through_a_remote_node_store(client: httpx.Client, node: Node, tmp_path: Path,
                                                      kind: str) -> None:
    """The reference's cache_write_{message,binary}_test: written to a node whose cache_writers
    include the writer, then read from it by a `remote-node` store (verified, cached locally)."""
    from aonode.store import open_store
    from aonode.store.cache import MessageCache

    value: Any = signed({"test-key": f"remote {kind}"}, WRITER) if kind == "message" else b"remote binary"
    response = post(client, signed({"body": value}, WRITER), path="/~cache@1.0/write")
    assert response.status_code == 200, response.text
    path = response.headers["path"]
    if kind == "binary":
        assert client.get("/~cache@1.0/read", params={"target": path}).content == b"remote binary"
        return
    store = open_store([{"store-module": "remote-node", "node": node.url,
                         "local-store": [{"store-module": "lmdb", "name": str(tmp_path / "lmdb")}]}])
    try:
        from aonode.codecs import message_id

        read = MessageCache(store).read(message_id(value, "all"))
        assert isinstance(read, dict) and read["test-key"] == f"remote {kind}".encode()
    finally:
        store.close()


def test_v1_manifest_app_in_a_browser(node: Node, uploaded: list[str]) -> None:
    """The v1 form (`index.path`) in headless chromium, from the node's own store (arlocal cannot
    serve such a manifest raw; tests/permaweb/test_permaweb_arlocal.py serves the v2 forms)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{node.url}/{_id(MANIFEST_V1)}/")
            page.wait_for_function("document.getElementById('out').textContent !== 'waiting'", timeout=30_000)
            assert page.inner_text("#out") == "script ran" and not errors
        finally:
            browser.close()


@pytest.mark.parametrize("method, path, body, status", [
    ("POST", "/~query@1.0/graphql", b"[1, 2]", 400),
    ("GET", "/~query@1.0/graphql", None, 400),
    ("GET", "/~query@1.0/all?basic=x&return=bogus", None, 400),
    ("GET", "/~manifest@1.0/index", None, 400),
    ("GET", "/~name@1.0/nobody", None, 404),
    ("GET", "/~copycat@1.0/graphql?all=true", None, 403),
    ("GET", "/~cache@1.0/read", None, 400),
    ("GET", "/~lookup@1.0/read?target=", None, 400),
])
def test_bad_requests_get_clear_4xx(client: httpx.Client, method: str, path: str, body: bytes | None,
                                    status: int) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.content  # the body says why


def test_query_all_over_http_ignores_transport_keys(client: httpx.Client, uploaded: list[str]) -> None:
    """The reference's dev_query http_test: `all` with `return=first` over HTTP, where the request
    also carries what httpx sends about itself (host, accept, user-agent, ...)."""
    from urllib.parse import quote

    response = client.get(f"/~query@1.0/all?data={quote(SCRIPT.data.decode(), safe='')}&return=first")
    assert response.status_code == 200, response.text
    assert response.content == SCRIPT.data
