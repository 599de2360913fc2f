"""The permaweb devices against arlocal (issue 19, done-means 3 and 4). Items are published to
arlocal with the npm packages `arweave` and `arbundles` (tests/arweave/arlocal.py); the node has
never seen them and reaches arlocal only through its store chain and routes.

* Item 3: an app (an HTML page and a JS asset under a manifest, and a v2 manifest with a
  `fallback`) is served at `/<manifest-id>/` and at a name registered with local-name@1.0, in
  headless chromium, which must run the page's script. (A v1 manifest, `index.path`, cannot be
  read raw from arlocal; see the `app` fixture.)
* Item 4: copycat@1.0 indexes arlocal's items into the node's store; then the queries aoconnect,
  ao-scheduler-utils and the reference's gateway client send (tests/permaweb/gateway_queries.json)
  get the same answers from `/~query@1.0/graphql` as from arlocal's `/graphql`, pagination included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, signed, start, stop
from arweave.arlocal import ArLocal, arlocal_module
from permaweb_helpers import FIXTURES, wallet

from aonode.arweave import _gql

__all__ = ["arlocal_module"]

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        # app.localhost must reach the node on 127.0.0.1 whatever the resolver says about *.localhost.
        "--host-resolver-rules=MAP *.localhost 127.0.0.1"]
MANIFEST_TYPE = "application/x.arweave-manifest+json"
OPERATOR = wallet(1)
SCHEDULER_KEY = FIXTURES / "key-2.json"
QUERIES = json.loads((Path(__file__).parent / "gateway_queries.json").read_text())

PAGE = (b"<!doctype html><html><head><title>permaweb app</title></head><body><p id='out'>waiting</p>"
        b"<script src='assets/app.js'></script></body></html>")
SCRIPT = b"document.getElementById('out').textContent = 'script ran on ' + location.host;"
FALLBACK = b"<!doctype html><html><body><p id='out'>fallback page</p></body></html>"


def node_config(arlocal: ArLocal, data_dir: Path) -> dict[str, Any]:
    """The reference's default store chain (local LMDB, a gateway store narrowed to
    `Data-Protocol: ao`, a plain one, both caching locally), routed to arlocal; names and the
    request hooks that serve apps."""
    local = [{"store-module": "lmdb", "name": str(data_dir / "lmdb")}]
    gateway = {"routes": arlocal.routes(), "http_connect_timeout": 2000, "http_request_send_timeout": 10000}
    return {
        "store": [*local,
                  {"store-module": "gateway", "subindex": [{"name": "Data-Protocol", "value": "ao"}],
                   "local-store": local, **gateway},
                  {"store-module": "gateway", "local-store": local, **gateway}],
        "routes": arlocal.routes(),
        "operator": OPERATOR.address,
        "name_resolvers": [{"device": "local-name@1.0"}],
        "on": {"request": [{"device": "name@1.0", "path": "request"},
                           {"device": "manifest@1.0", "path": "request"}]},
    }


@pytest.fixture(scope="module")
def app(arlocal_module: ArLocal) -> dict[str, str]:
    """The app on arlocal: its files in one bundle, then the two manifests naming them."""
    files = arlocal_module.publish([
        {"data": PAGE, "tags": {"Content-Type": "text/html"}},
        {"data": SCRIPT, "tags": {"Content-Type": "application/javascript"}},
        {"data": FALLBACK, "tags": {"Content-Type": "text/html"}},
    ])
    page, script, fallback = files.ids
    paths = {"index.html": {"id": page}, "assets/app.js": {"id": script}}
    # arlocal answers `/<id>` of a manifest whose index is a `path` (the v1 form) with the index
    # page instead of the manifest, and has no other raw data route, so no node can read such a
    # manifest from it: over arlocal the app's index names its item (the v2 form). The v1 form is
    # served in a browser from the node's own store in test_permaweb_http.
    v1 = {"manifest": "arweave/paths", "version": "0.2.0", "index": {"id": page}, "paths": paths}
    v2 = {"manifest": "arweave/paths", "version": "0.2.0", "fallback": {"id": fallback}, "paths": paths}
    manifests = arlocal_module.publish([
        {"data": json.dumps(v1).encode(), "tags": {"Content-Type": MANIFEST_TYPE}},
        {"data": json.dumps(v2).encode(), "tags": {"Content-Type": MANIFEST_TYPE}},
    ])
    return {"page": page, "script": script, "fallback": fallback, "v1": manifests.ids[0], "v2": manifests.ids[1],
            "bundles": ",".join(files.bundles + manifests.bundles)}


@pytest.fixture(scope="module")
def ao_items(arlocal_module: ArLocal) -> dict[str, str]:
    """AO records as a real network has them: a scheduler location (own wallet), a module, two
    processes and two messages to the first process."""
    bundles: list[str] = []
    location = arlocal_module.publish([{"data": b"", "tags": [
        ("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Scheduler-Location"),
        ("Url", "http://127.0.0.1:1"), ("Time-To-Live", "3600000")]}], wallet=SCHEDULER_KEY)
    bundles += location.bundles
    scheduler = json.loads(SCHEDULER_KEY.read_text())
    from aonode.crypto import Wallet

    scheduler_address = Wallet.from_jwk(scheduler).address
    published = arlocal_module.publish([{"data": b"-- lua module", "tags": [
        ("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Module"), ("Module-Format", "lua"),
        ("Content-Type", "text/lua")]}])
    module, bundles = published.ids[0], bundles + published.bundles
    published = arlocal_module.publish([{"data": b"", "tags": [
        ("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Process"), ("Module", module),
        ("Scheduler", scheduler_address), ("Name", f"p{i}")]} for i in range(3)])
    processes, bundles = published.ids, bundles + published.bundles
    published = arlocal_module.publish([{"data": f"msg {i}".encode(), "target": processes[0], "tags": [
        ("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Message"), ("Action", "Eval")]}
        for i in range(2)])
    messages, bundles = published.ids, bundles + published.bundles
    return {"scheduler": scheduler_address, "location": location.ids[0], "module": module,
            "process": processes[0], "messages": ",".join(messages), "bundles": ",".join(bundles)}


@pytest.fixture(scope="module")
def node(arlocal_module: ArLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("permaweb-arlocal")
    (work / "node.json").write_text(json.dumps(node_config(arlocal_module, work / "data")))
    started = start(work, data_dir=work / "data", extra=["--config", str(work / "node.json")])
    try:
        yield started
    finally:
        stop(started)


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (tests/install-services)")
    with playwright_api.sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield found
        finally:
            found.close()


def _open(browser: Any, url: str) -> tuple[str, dict[str, str]]:
    """Load `url` in a fresh page; the `#out` text once the page's script has run, and the
    content type of every response by path."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    types: dict[str, str] = {}
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: types.__setitem__(httpx.URL(r.url).path, r.headers.get("content-type", "")))
    try:
        page.goto(url)
        page.wait_for_function("document.getElementById('out').textContent !== 'waiting'")
        text = page.inner_text("#out")
    finally:
        context.close()
    assert not errors, errors
    return text, types


def test_app_served_at_manifest_id_in_a_browser(browser: Any, node: Node, app: dict[str, str]) -> None:
    text, types = _open(browser, f"{node.url}/{app['v1']}/")
    assert text == f"script ran on 127.0.0.1:{node.port}"
    assert types[f"/{app['v1']}/"].startswith("text/html")
    assert types[f"/{app['v1']}/assets/app.js"].startswith("application/javascript")


def test_app_served_at_a_name_in_a_browser(browser: Any, client: httpx.Client, node: Node,
                                           app: dict[str, str]) -> None:
    registered = post(client, signed({"key": "myapp", "value": app["v1"]}, OPERATOR), path="/~local-name@1.0/register")
    assert registered.status_code == 200, registered.text
    text, types = _open(browser, f"http://myapp.localhost:{node.port}/")
    assert text == f"script ran on myapp.localhost:{node.port}"
    assert types["/"].startswith("text/html") and types["/assets/app.js"].startswith("application/javascript")


def test_v2_manifest_fallback(browser: Any, client: httpx.Client, node: Node, app: dict[str, str]) -> None:
    text, _ = _open(browser, f"{node.url}/{app['v2']}/no/such/page")
    assert text == "fallback page"
    script = client.get(f"/{app['v2']}/assets/app.js")
    assert script.status_code == 200 and script.content == SCRIPT
    v1_missing = client.get(f"/{app['v1']}/no/such/page")
    assert v1_missing.status_code == 404


# -- item 4: the node's GraphQL against arlocal's -----------------------------------------------


def _fill(value: Any, items: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return items[value[1:]]
    if isinstance(value, list):
        return [_fill(v, items) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, items) for k, v in value.items()}
    return value


def _normal(data: Any) -> Any:
    """An answer with edges in ID order and cursors dropped (each server orders and names pages
    its own way; the sets and the fields must agree)."""
    if isinstance(data, dict):
        out = {k: _normal(v) for k, v in data.items() if k != "cursor"}
        if "edges" in out and isinstance(out["edges"], list):
            out["edges"] = sorted(out["edges"], key=lambda e: json.dumps(e, sort_keys=True))
        return out
    if isinstance(data, list):
        return [_normal(v) for v in data]
    return data


def _node_graphql(client: httpx.Client, query: str, variables: dict[str, Any]) -> Any:
    response = client.post("/~query@1.0/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _all_pages(fetch: Any, query: str, variables: dict[str, Any]) -> tuple[list[Any], int]:
    edges: list[Any] = []
    pages = 0
    cursor = None
    while True:
        data = fetch(query, {**variables, "cursor": cursor})
        pages += 1
        edges += data["transactions"]["edges"]
        if not data["transactions"]["pageInfo"]["hasNextPage"]:
            return edges, pages
        cursor = data["transactions"]["edges"][-1]["cursor"]
        assert pages < 20


@pytest.fixture(scope="module")
def indexed(client: httpx.Client, arlocal_module: ArLocal, ao_items: dict[str, str], app: dict[str, str]) -> Any:
    """copycat@1.0 copies every item arlocal lists into the node's store (fetched, verified)."""
    refused = post(client, signed({"all": "true"}, wallet(2)), path="/~copycat@1.0/graphql")
    assert refused.status_code == 403
    response = post(client, signed({"all": "true"}, OPERATOR), path="/~copycat@1.0/graphql")
    assert response.status_code == 200, response.text
    return response


def test_copycat_indexed_every_item(indexed: Any, ao_items: dict[str, str], app: dict[str, str]) -> None:
    published = 1 + 1 + 3 + 2 + 3 + 2  # location, module, processes, messages, app files, manifests
    assert int(indexed.headers["written"]) == published
    # arlocal lists the L1 transactions that carry the bundles too: they are no data items.
    bundles = ao_items["bundles"].split(",") + app["bundles"].split(",")
    assert int(indexed.headers["skipped"]) == len(bundles) == 6


@pytest.mark.parametrize("name", [k for k in QUERIES if not k.startswith("_")])
def test_client_queries_match_arlocal(name: str, client: httpx.Client, arlocal_module: ArLocal,
                                      ao_items: dict[str, str], indexed: Any) -> None:
    spec = QUERIES[name]
    variables = _fill(spec["variables"], ao_items)
    if spec.get("paged"):
        theirs, their_pages = _all_pages(arlocal_module.graphql, spec["query"], variables)
        ours, our_pages = _all_pages(lambda q, v: _node_graphql(client, q, v), spec["query"], variables)
        assert len(theirs) == 3 and our_pages == their_pages == 2
        assert sorted(map(json.dumps, _normal(ours))) == sorted(map(json.dumps, _normal(theirs)))
        return
    theirs = arlocal_module.graphql(spec["query"], variables)
    ours = _node_graphql(client, spec["query"], variables)
    assert theirs["transactions"]["edges"], f"arlocal found nothing for {name}: the test data is wrong"
    assert json.dumps(_normal(ours), indent=1, sort_keys=True) == json.dumps(_normal(theirs), indent=1, sort_keys=True)


@pytest.mark.parametrize("name", ["read", "scheduler-location"])
def test_reference_gateway_client_queries_match_arlocal(name: str, client: httpx.Client, arlocal_module: ArLocal,
                                                         ao_items: dict[str, str], indexed: Any) -> None:
    if name == "read":
        query = _gql.read_query([{"name": "Data-Protocol", "value": "ao"}])
        variables: dict[str, Any] = {"transactionIds": [ao_items["module"]]}
    else:
        query = _gql.scheduler_location_query()
        variables = {"SchedulerAddrs": [ao_items["scheduler"]]}
    theirs = arlocal_module.graphql(query, variables)
    ours = _node_graphql(client, query, variables)
    assert len(theirs["transactions"]["edges"]) == 1
    assert _normal(ours) == _normal(theirs)


def test_copycat_blocks_then_blocks_query_matches_arlocal(client: httpx.Client, arlocal_module: ArLocal,
                                                          ao_items: dict[str, str]) -> None:
    """copycat@1.0 `arweave` indexes blocks through arweave@2.9-pre's block cache; the node's
    `blocks` and `block` answers are arlocal's."""
    height = int(httpx.get(arlocal_module.url + "/info", timeout=10).json()["height"])
    low = max(height - 2, 1)
    response = post(client, signed({"from": str(height), "to": str(low - 1)}, OPERATOR), path="/~copycat@1.0/arweave")
    assert response.status_code == 200, response.text
    query = ("query($min: Int, $max: Int) { blocks(height: {min: $min, max: $max}) "
             "{ edges { node { id height previous timestamp } } } }")
    variables = {"min": low, "max": height}
    theirs = arlocal_module.graphql(query, variables)
    ours = _node_graphql(client, query, variables)
    assert len(theirs["blocks"]["edges"]) == height - low + 1

    def without_time(data: Any) -> Any:
        return _normal({"edges": [{"node": {k: v for k, v in e["node"].items() if k != "timestamp"}}
                                  for e in data["blocks"]["edges"]]})

    assert without_time(ours) == without_time(theirs)
    # arlocal's GraphQL and its /block JSON can disagree on a timestamp by a second; the node
    # answers the block's own field, so that is what it is compared with.
    for edge in ours["blocks"]["edges"]:
        block = httpx.get(f"{arlocal_module.url}/block/height/{edge['node']['height']}", timeout=10).json()
        assert edge["node"]["timestamp"] == int(block["timestamp"])
    one = theirs["blocks"]["edges"][0]["node"]
    single = _node_graphql(client, "query($id: String!) { block(id: $id) { id height } }", {"id": one["id"]})
    assert single["block"] == {"id": one["id"], "height": one["height"]}


def test_copycat_query_text_and_max_pages(client: httpx.Client, ao_items: dict[str, str]) -> None:
    query = ('query($after: String) { transactions(after: $after, first: 2, tags: [{name: "Type", values: '
             '["Process"]}]) { edges { ' + _gql.ITEM_SPEC + " } pageInfo { hasNextPage } } }")
    response = post(client, signed({"query": query, "max-pages": "1"}, OPERATOR), path="/~copycat@1.0/graphql")
    assert response.status_code == 200, response.text
    assert (response.headers["written"], response.headers["skipped"], response.headers["pages"]) == ("2", "0", "1")
    response = post(client, signed({"query": query}, OPERATOR), path="/~copycat@1.0/graphql")
    assert (response.headers["written"], response.headers["pages"]) == ("3", "2")
    bad = post(client, signed({"nothing": "x"}, OPERATOR), path="/~copycat@1.0/graphql")
    assert bad.status_code == 400 and b"name a filter" in bad.content
