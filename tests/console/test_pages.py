"""The web console in a real browser (issue 23, done-means 1): Debian's chromium, headless, driven
by playwright, against a real `aonode serve`. One node and one browser for the module.

Each test writes a screenshot of its page under the test run's output (`conftest.screenshots`);
docs/screenshots/ holds committed copies linked from the README."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, running, signed
from console_helpers import evaluate, screenshots, spawn_lua

from aonode.codecs import message_id
from aonode.crypto import Wallet
from aonode.ledger import ledger_process

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def operator() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, operator: Wallet) -> Iterator[Node]:
    """A node that runs the packaged Lua token ledger (engineer B's, `aonode.ledger`) as its
    `ledger` node process, with 1000 for the operator: the dashboard shows the ledger tab."""
    work = tmp_path_factory.mktemp("console") / "node"
    work.mkdir(parents=True)
    operator.save(work / "operator.json")
    ledger = ledger_process({operator.address: 1000})
    (work / "config.json").write_text(json.dumps({"node_processes": {"ledger": jsonable(ledger)}}))
    flags = ["--config", str(work / "config.json"), "--wallet", str(work / "operator.json")]
    with running(work, extra=flags) as started:
        yield started


def jsonable(value: Any) -> Any:
    """Options as a JSON config file holds them (bytes as text)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=120) as found:
        yield found


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return Wallet.generate(bits=2048)


@pytest.fixture(scope="module")
def process(client: httpx.Client, node: Node, owner: Wallet) -> dict[str, Any]:
    """A Lua process with three Evals: slot 1 sets X, slot 2 prints, sends a message to the owner and
    returns X + 1, slot 3 returns X * 2."""
    pid = spawn_lua(client, node, owner)
    send = f"Send({{Target = '{owner.address}', Action = 'Hello', Data = 'hi'}})"
    outputs = [evaluate(client, pid, owner, code)
               for code in ("X = 41", f"print('seen') {send} return X + 1", "return X * 2")]
    return {"pid": pid, "outputs": outputs}


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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page's scripts failed: {errors}"


def shot(page: Any, name: str) -> Path:
    path = screenshots() / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_dashboard_renders_live_numbers_from_the_node(page: Any, node: Node, client: httpx.Client,
                                                      process: dict[str, Any]) -> None:
    address = client.get("/~meta@1.0/info/address").text
    page.goto(node.url + "/")
    assert page.url.endswith("/~hyperbuddy@1.0/dashboard")  # GET / redirects to the dashboard
    page.wait_for_function("Number(document.body.dataset.polls || 0) >= 1")
    assert page.text_content("#address") == address
    first = int(page.text_content("#requests") or "0")
    executions = int(page.text_content("#executions") or "0")
    assert executions >= 4  # the process's slots 0-3 were computed by this node
    for _ in range(5):  # traffic while the page polls: the number moves
        client.get("/~meta@1.0/info/address")
    page.wait_for_function(f"Number(document.getElementById('requests').textContent) >= {first + 5}")
    page.wait_for_function("Number(document.body.dataset.polls || 0) >= 3")
    assert re.fullmatch(r"(\d+m )?\d+s", page.text_content("#uptime") or "")
    assert float(page.text_content("#load") or "nan") >= 0
    devices = page.locator("tr.device td:first-child").all_text_contents()
    assert {"hyperbuddy@1.0", "cacheviz@1.0", "process@1.0", "lua@5.3a"} <= set(devices)
    shot(page, "dashboard")
    page.click("#ledger-tab")  # the node runs a ledger process: its tab reads the operator's balance
    page.wait_for_function("/^\\d+$/.test(document.getElementById('ledger-balance').textContent)")
    assert page.text_content("#ledger-balance") == "1000"
    assert page.text_content("#ledger-path") == f"/ledger~node-process@1.0/now/balance/{address}"
    shot(page, "ledger")


def test_console_checks_the_reply_signature_and_shows_its_signer(page: Any, node: Node, client: httpx.Client) -> None:
    address = client.get("/~meta@1.0/info/address").text
    page.goto(node.url + "/~hyperbuddy@1.0/console")
    page.fill("#path", "/~message@1.0&greeting=hello/greeting")
    page.click("#go")
    page.wait_for_function("Number(document.body.dataset.checked || 0) > 0")
    assert page.text_content("#status") == "200 OK"
    assert page.text_content("#reply-body") == "hello"
    rows = page.locator("table.sigs tr.ok")
    signers = rows.locator("td.signer").all_text_contents()
    assert address in signers
    assert all(v == "verified" for v in page.locator("table.sigs td.verdict").all_text_contents())
    shot(page, "console")
    # Any method and body: a POST whose JSON body is the message (sent as application/json).
    page.evaluate("delete document.body.dataset.checked")
    page.select_option("#method", "POST")
    page.fill("#path", "/key1")
    page.fill("#body", '{"key1": "from the console"}')
    page.click("#go")
    page.wait_for_function("Number(document.body.dataset.checked || 0) > 0")
    assert page.text_content("#status") == "200 OK"
    assert page.text_content("#reply-body") == "from the console"
    assert address in page.locator("table.sigs tr.ok td.signer").all_text_contents()


def test_console_says_when_a_signature_does_not_verify(page: Any, node: Node) -> None:
    """The check is real: a reply whose signed body or header was changed on the way fails in the page."""
    page.route("**/~meta@1.0/info/address", lambda route: route.fulfill(
        response=route.fetch(), body="an impostor's address"))
    page.route("**/~message@1.0&who=alice/who", lambda route: route.fulfill(
        response=(fetched := route.fetch()), headers={**fetched.headers, "ao-result": "who"}))
    page.goto(node.url + "/~hyperbuddy@1.0/console")
    page.fill("#path", "/~meta@1.0/info/address")
    page.click("#go")
    page.wait_for_function("Number(document.body.dataset.checked || 0) > 0")
    verdicts = page.locator("table.sigs td.verdict").all_text_contents()
    assert verdicts and all(v.startswith("FAILED") for v in verdicts), verdicts
    assert "content-digest" in verdicts[0]
    page.evaluate("delete document.body.dataset.checked")
    page.fill("#path", "/~message@1.0&who=alice/who")
    page.click("#go")
    page.wait_for_function("Number(document.body.dataset.checked || 0) > 0")
    verdicts = page.locator("table.sigs td.verdict").all_text_contents()
    assert verdicts and all(v.startswith("FAILED") for v in verdicts), verdicts


def test_index_page_of_a_signed_message_shows_its_commitments(page: Any, node: Node, client: httpx.Client) -> None:
    author = Wallet.generate(bits=2048)
    message = signed({"greeting": "hello", "count": 3}, author)
    response = post(client, {**message, "path": "/~message@1.0/id"})  # stored: a verified signed request
    assert response.status_code == 200, response.text
    mid = message_id(message, committers="all")
    page.goto(f"{node.url}/{mid}")
    page.wait_for_selector("body[data-loaded='true']")
    signers = page.locator("table.sigs tr.ok td.signer").all_text_contents()
    assert author.address in signers
    keys = {row.get_attribute("data-key"): row for row in page.locator("tr.key").all()}
    assert "greeting" in keys and "count" in keys
    assert keys["greeting"].locator(".badge.signed").count() == 1
    assert keys["count"].locator("td:nth-child(2)").text_content() == "integer"
    shot(page, "message")


def test_process_page_shows_the_state_at_a_chosen_slot(page: Any, node: Node, process: dict[str, Any],
                                                      owner: Wallet) -> None:
    pid = process["pid"]
    assert process["outputs"][1:] == ["seen\n42", "82"]
    page.goto(f"{node.url}/{pid}")
    page.wait_for_selector("#process:not(.hidden)")
    assert page.text_content("h1").startswith("Process")
    page.wait_for_selector("table.sigs")
    # The definition was signed with its module inline (a bundle): checked against the bundled reply.
    assert owner.address in page.locator("table.sigs tr.ok td.signer").all_text_contents()
    page.wait_for_function("document.getElementById('p-current').textContent === '3'")
    page.wait_for_selector("tr.slot[data-slot='3']")
    assert page.locator("tr.slot").count() == 4
    page.fill("#state-slot", "2")
    page.click("#state-form button")
    page.wait_for_function("document.body.dataset.stateSlot === '2'")
    assert page.text_content("#state-output") == "seen\n42"
    sent = page.locator("table.outbox tr.sent")
    assert sent.count() == 1  # the slot's outbox: one message, to the owner, linked
    assert sent.locator("td:nth-child(3)").text_content() == "Hello"
    assert sent.locator("a").get_attribute("href") == f"/{owner.address}"
    assert page.get_attribute("#state-link", "href") == f"/{pid}/compute?slot=2"
    assert page.url.endswith("#slot=2")  # the view has a URL to share
    shot(page, "process")
    page.goto(f"{node.url}/{pid}#slot=3")  # and that URL opens the same view
    page.wait_for_function("document.body.dataset.stateSlot === '3'")
    assert page.text_content("#state-output") == "82"


def test_404_is_a_page_for_a_browser_and_data_for_a_client(page: Any, node: Node) -> None:
    answer = page.goto(node.url + "/no-such-key-here")
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert page.text_content("h1") == "404"
    assert "no-such-key-here" in (page.text_content("#error") or "")
    shot(page, "404")
    as_json = httpx.get(node.url + "/no-such-key-here", headers={"accept": "application/json"}, timeout=30)
    assert as_json.status_code == 404
    assert as_json.headers["content-type"] == "application/json"
    assert "no-such-key-here" in as_json.json()["body"]
    plain = httpx.get(node.url + "/no-such-key-here", timeout=30)  # a data client: the message
    assert plain.status_code == 404 and "<html" not in plain.text


def test_store_graph_page_draws_the_graph_around_a_message(page: Any, node: Node, process: dict[str, Any]) -> None:
    page.goto(f"{node.url}/{process['pid']}/~cacheviz@1.0/index?render-data=true")
    page.wait_for_function("Number(document.body.dataset.nodes || 0) > 1")
    assert page.locator("g.node").count() > 1
    # The process as stored (its signed keys), not the browser's headers that came with the request.
    labels = page.locator("svg text").all_text_contents()
    assert "execution-device" in labels and "module" in labels and "user-agent" not in labels
    shot(page, "graph")
