"""`aonode.client.Client` against a real node (`aonode serve` in a temporary directory): upload a Lua
module, spawn a legacy process, message it, read results, dry-run, and the errors the node gives.
The requests are checked against the ones @permaweb/aoconnect 0.0.98 itself builds (when its npm
package is installed in tests/clients/node_modules)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aonode_process import Node, post, signed

from aonode.client import (
    ANS104_HEADERS,
    Client,
    ClientError,
    NodeUnavailable,
    Request,
    build_item,
    dryrun_request,
    message_request,
    parse_result,
    result_request,
    results_requests,
    sign_item,
    spawn_request,
)
from aonode.codecs import message_id, parse_item
from aonode.crypto import Wallet, b64url_encode
from aonode.errors import AOError

HERE = Path(__file__).parent
MODULE = (HERE / "aos_legacy.lua").read_bytes()
UNKNOWN = "A" * 43
PID, MODULE_ID, SCHEDULER = (b64url_encode(bytes([n]) * 32) for n in (1, 2, 3))


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def ao(node: Node, wallet: Wallet) -> Iterator[Client]:
    with Client(node.url, wallet, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def module(ao: Client) -> str:
    return ao.upload_module(MODULE)


@pytest.fixture(scope="module")
def flow(ao: Client, module: str) -> dict[str, Any]:
    """A process and three messages: two Evals that build X = 42, and a Credit of 5."""
    pid = ao.spawn(module, tags=[{"name": "Name", "value": "python-flow"}])  # aoconnect's form works too
    slots = [
        ao.message(pid, tags=[("Action", "Eval")], data="X = 1"),
        ao.message(pid, tags={"Action": "Eval"}, data="X = X + 41 return X"),
        ao.message(pid, tags={"Action": "Credit", "Quantity": "5"}),
    ]
    return {"pid": pid, "slots": slots}


def output(result: dict[str, Any]) -> Any:
    return result["Output"].get("data") if isinstance(result["Output"], dict) else result["Output"]


# --- the flow -------------------------------------------------------------------------------


def test_address_is_the_node_wallet(ao: Client, node: Node) -> None:
    assert ao.address() == Wallet.load(node.data_dir / "wallet.json").address


def test_upload_module_stores_it_under_its_id(ao: Client, node: Node, module: str) -> None:
    assert len(module) == 43
    assert httpx.get(f"{node.url}/{module}/body", timeout=10).content == MODULE
    assert ao.upload_module(MODULE) != module  # a new signature: a new message


def test_spawn_and_messages_take_consecutive_slots(flow: dict[str, Any]) -> None:
    assert len(flow["pid"]) == 43
    assert flow["slots"] == [1, 2, 3]  # slot 0 is the process itself


def test_result_of_each_slot(ao: Client, flow: dict[str, Any], wallet: Wallet) -> None:
    pid, (first, second, third) = flow["pid"], flow["slots"]
    boot = ao.result(pid, 0)
    assert boot["Error"] is None and output(boot) == ""
    assert output(ao.result(pid, first)) == ""
    answer = ao.result(pid, second)
    assert output(answer) == "42"
    assert answer["Messages"] == [] and answer["Spawns"] == [] and answer["Assignments"] == []
    credit = ao.result(pid, third)
    assert output(credit) == "Balance: 5"
    [notice] = credit["Messages"]
    assert notice["Target"] == wallet.address
    assert {"name": "Action", "value": "Credit-Notice"} in notice["Tags"]
    assert {"name": "Quantity", "value": "5"} in notice["Tags"]
    assert ao.result(pid, str(second)) == answer  # a slot may be given as text


def test_results_is_the_latest(ao: Client, flow: dict[str, Any]) -> None:
    [(slot, result)] = ao.results(flow["pid"])
    assert slot == flow["slots"][-1]
    assert result == ao.result(flow["pid"], slot)


def test_eval_error_is_a_result_not_a_failure(ao: Client, module: str) -> None:
    pid = ao.spawn(module)
    slot = ao.message(pid, tags={"Action": "Eval"}, data="error('boom')")
    result = ao.result(pid, slot)
    assert "boom" in str(result["Error"])


def test_dryrun_runs_without_changing_the_process(ao: Client, module: str) -> None:
    pid = ao.spawn(module, tags={"Name": "dry"})
    assert ao.message(pid, tags={"Action": "Eval"}, data="X = 42") == 1
    assert output(ao.dryrun(pid, tags={"Action": "Eval"}, data="X = 7 return X")) == "7"
    assert output(ao.dryrun(pid, tags={"Action": "Eval"}, data="return X")) == "42"
    assert output(ao.dryrun(pid, tags={"Action": "Info"})) == "Name: dry"
    assert output(ao.dryrun(pid, tags={"Action": "Credit", "Quantity": "5"})) == "Balance: 5"
    assert output(ao.dryrun(pid, tags={"Action": "Credit", "Quantity": "5"})) == "Balance: 5"
    # Nothing was scheduled: the next message takes slot 2 and sees the old X.
    slot = ao.message(pid, tags={"Action": "Eval"}, data="return X")
    assert slot == 2
    assert output(ao.result(pid, slot)) == "42"
    assert ao.results(pid)[0][0] == 2


@pytest.mark.parametrize("value", ["a b&c/d?e=f", "x=(y)", "100%", "ünï", "a+b", "~#'\\", '{"a":1}', "", "  "])
def test_dryrun_tags_reach_the_process_intact(ao: Client, flow: dict[str, Any], value: str) -> None:
    """The tags travel in the path, escaped (and quoted where the path syntax needs it)."""
    [notice] = ao.dryrun(flow["pid"], tags={"Action": "Credit", "Quantity": value})["Messages"]
    assert {"name": "Quantity", "value": value} in notice["Tags"]


def test_generic_request(ao: Client) -> None:
    assert ao.request("/hello", {"hello": "world"}).text == "world"
    assert ao.request("/hello", {"hello": "world", "big": "x" * 5000}, method="POST").text == "world"
    assert ao.request("/hello", {"hello": "world", "signing-format": "ans104"}).text == "world"
    assert ao.request("/~meta@1.0/info/address", sign=False).text == ao.address()
    assert ao.request("/nothing/here", check=False).status_code == 404


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["message", "result", "results", "dryrun"])
def test_unknown_process_is_404(ao: Client, call: str) -> None:
    with pytest.raises(ClientError) as caught:
        if call == "message":
            ao.message(UNKNOWN, data="1")
        elif call == "result":
            ao.result(UNKNOWN, 1)
        elif call == "results":
            ao.results(UNKNOWN)
        else:
            ao.dryrun(UNKNOWN)
    assert caught.value.status == 404
    assert isinstance(caught.value, AOError)
    assert "not found" in caught.value.message
    assert caught.value.body  # the node's whole answer is kept


@pytest.mark.parametrize("slot", [-1, "abc", "1.5"])
def test_bad_slot_is_400(ao: Client, flow: dict[str, Any], slot: int | str) -> None:
    with pytest.raises(ClientError) as caught:
        ao.result(flow["pid"], slot)
    assert caught.value.status == 400
    assert "slot" in caught.value.message


def test_slot_not_reached_yet_is_4xx(ao: Client, flow: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as caught:
        ao.result(flow["pid"], 1000)
    assert 400 <= caught.value.status < 500


@pytest.mark.parametrize("signing_format", ["httpsig", "ans104"])
def test_unsigned_message_is_refused(ao: Client, flow: dict[str, Any], signing_format: str) -> None:
    pid = flow["pid"]
    fields = {"target": pid, "Action": "Count", "signing-format": signing_format}
    with pytest.raises(ClientError) as caught:
        ao.request(f"/{pid}~process@1.0/push", fields, method="POST", sign=False)
    assert caught.value.status == 400, caught.value
    assert "not signed" in str(caught.value), caught.value


def test_spawn_with_a_module_the_node_lacks(ao: Client) -> None:
    missing = MODULE_ID
    with pytest.raises(ClientError) as caught:
        ao.spawn(missing)
    assert caught.value.status == 404
    assert missing in caught.value.message and "upload it first" in caught.value.message
    # Without the check the node schedules the process, and its first computation fails.
    pid = ao.spawn(missing, check_module=False)
    with pytest.raises(ClientError) as computed:
        ao.message(pid, data="1")
    assert computed.value.status == 404 and missing in computed.value.message


def test_arguments_that_cannot_be_requests(ao: Client, flow: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be an ID"):
        ao.result("not-an-id", 1)
    with pytest.raises(ValueError, match="must be an ID"):
        ao.spawn("nope")
    with pytest.raises(ValueError, match="field of the request"):
        ao.message(flow["pid"], tags={"data": "x"})
    with pytest.raises(ValueError, match="sub-path"):
        ao.dryrun(flow["pid"], tags={"Action": "(x)"})
    with pytest.raises(ValueError, match="dry-run tag name"):
        ao.dryrun(flow["pid"], tags={"A=B": "x"})


def test_node_not_running(wallet: Wallet) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", wallet, timeout=5) as client, pytest.raises(NodeUnavailable) as caught:
        client.address()
    assert caught.value.status == 503 and "cannot reach" in caught.value.message


def test_node_that_never_answers_times_out(wallet: Wallet) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)  # connections are accepted by the kernel, never answered
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with Client(url, wallet, timeout=0.5) as client, pytest.raises(NodeUnavailable) as caught:
            client.message(UNKNOWN, data="1")
    assert caught.value.status == 504 and "within 0.5 s" in caught.value.message


# --- the requests, without a node -----------------------------------------------------------


def tags_of(request: Request) -> list[tuple[str, str]]:
    return list(request.tags)


def test_spawn_request_shape() -> None:
    request = spawn_request(MODULE_ID, SCHEDULER, tags=[("Name", "n"), ("2", "b"), ("1", "a")])
    assert (request.method, request.path, request.target, request.data) == ("POST", "/push", "", b"1984")
    assert dict(request.headers) == dict(ANS104_HEADERS)
    assert tags_of(request) == [
        ("1", "a"), ("2", "b"),  # a JavaScript object puts index-like keys first
        ("device", "process@1.0"), ("scheduler-device", "scheduler@1.0"), ("push-device", "push@1.0"),
        ("execution-device", "genesis-wasm@1.0"), ("Authority", SCHEDULER), ("Scheduler", SCHEDULER),
        ("Module", MODULE_ID), ("Name", "n"), ("signing-format", "ans104"), ("accept-bundle", "true"),
        ("accept-codec", "httpsig@1.0"), ("Data-Protocol", "ao"), ("Type", "Process"), ("Variant", "ao.N.1"),
    ]


def test_message_request_shape() -> None:
    pid = PID
    request = message_request(pid, tags={"Action": "Eval", "Type": "x", "Variant": "y", "type": "z"}, data=b"")
    assert (request.path, request.target, request.data) == (f"/{pid}~process@1.0/push", pid, b"")
    assert tags_of(request) == [
        ("Action", "Eval"), ("signing-format", "ans104"), ("accept-bundle", "true"),
        ("require-codec", "application/json"), ("Data-Protocol", "ao"), ("Type", "Message"), ("Variant", "ao.N.1"),
    ]


def test_read_request_shapes() -> None:
    pid = PID
    result = result_request(pid, 7)
    assert (result.path, result.target, result.data) == (f"/{pid}~process@1.0/compute/results=7", pid, b"1984")
    current = results_requests(pid)
    assert (current.path, current.target, current.data) == (f"/{pid}/slot/current", "", b"")
    assert ("accept-codec", "httpsig@1.0") in current.tags
    latest = results_requests(pid, 7)
    assert (latest.path, latest.data) == (f"/{pid}/compute/results=7", b"")
    assert ("require-codec", "application/json") in latest.tags
    dry = dryrun_request(pid, tags={"Action": "Info", "Note": "a b&c d"})
    assert dry.path == f"/{pid}~process@1.0/as=execution/compute&Action=Info&Note=%22a%20b%26c%20d%22"
    assert [name for name, _ in dry.tags][0] == "signing-format"  # dry-run tags travel in the path only
    # `compute&Action=Credit&Quantity=5` is 32 bytes: the node would read it as an ID. Quotes lengthen it.
    credit = dryrun_request(pid, tags={"Action": "Credit", "Quantity": "5"})
    assert credit.path.endswith("/compute&Action=%22Credit%22&Quantity=5")


def test_signed_item_verifies_and_parses_back(wallet: Wallet) -> None:
    request = message_request(PID, tags={"Action": "Eval"}, data="1 + 1")
    item = sign_item(build_item(request), wallet)
    parsed = parse_item(item.serialize())
    parsed.verify()
    assert parsed.owner_address == wallet.address
    assert b64url_encode(parsed.target) == PID and parsed.data == b"1 + 1" and not parsed.anchor
    assert [(n.decode(), v.decode()) for n, v in parsed.tags] == list(request.tags)


def test_parse_result_defaults_and_missing_raw() -> None:
    assert parse_result(b'{"raw": {"Output": {"data": "1"}, "GasUsed": 3}}') == {
        "Output": {"data": "1"}, "Messages": [], "Assignments": [], "Spawns": [], "Error": None, "GasUsed": 3}
    with pytest.raises(ValueError, match="raw"):
        parse_result(b'{"results": {}}')


def test_parse_result_of_each_answer_shape() -> None:
    """`raw` (aoconnect 0.0.98's key) first, then `results/raw` (0.0.93's; a whole state has
    it), then a result made of a state's `results` without one (hyper-aos on lua@5.3a)."""
    defaults = {"Messages": [], "Assignments": [], "Spawns": [], "Error": None}
    both = {"raw": {"Output": {"data": "new"}}, "results": {"raw": {"Output": {"data": "old"}}}}
    assert parse_result(json.dumps(both).encode()) == {**defaults, "Output": {"data": "new"}}
    state = {"at-slot": 3, "results": {"raw": {"Output": {"data": "3", "print": True}}, "outbox": {}}}
    assert parse_result(json.dumps(state).encode()) == {**defaults, "Output": {"data": "3", "print": True}}
    lua = {"results": {"output": {"data": "hi", "prompt": "aos> "},
                       "outbox": {"2": {"Target": "b"}, "1": {"Target": "a"}}}}
    assert parse_result(json.dumps(lua).encode()) == {
        **defaults, "Output": {"data": "hi", "prompt": "aos> "},
        "Messages": [{"Target": "a", "Tags": []}, {"Target": "b", "Tags": []}]}
    failed = {"results": {"error": "boom", "outbox": {}}}
    assert parse_result(json.dumps(failed).encode())["Error"] == "boom"


STACK_LUA = b"""
function compute(base, req)
    local msg = req.body or req
    base.results = {output = {data = "dry: " .. tostring(msg.action), prompt = "aos> ", print = true},
                    outbox = {["1"] = {Target = "abc", Action = "Ping"}}}
    return base
end
"""


def test_dryrun_of_a_stack_process(ao: Client, node: Node, wallet: Wallet) -> None:
    """Issue 18 item 2: `dryrun` on a `stack@1.0` process over `lua@5.3a`, whose answer is the
    process state with the legacy result its `results` stand for as `raw`; JSON booleans stay
    booleans."""
    process = signed({
        "device": "process@1.0", "type": "Process", "scheduler": ao.address(), "authority": ao.address(),
        "scheduler-device": "scheduler@1.0", "execution-device": "stack@1.0",
        "device-stack": ["lua@5.3a", "patch@1.0"], "patch-from": "/results/outbox",
        "module": {"content-type": "application/lua", "body": STACK_LUA}, "seed": os.urandom(8).hex(),
    }, wallet)
    with httpx.Client(base_url=node.url, timeout=30) as client:
        scheduled = post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process})
    assert scheduled.status_code == 200, scheduled.text
    found = ao.dryrun(message_id(process, committers="all"), tags={"Action": "Look"})
    assert found["Output"] == {"data": "dry: Look", "prompt": "aos> ", "print": True}
    assert found["Messages"] == [{"Target": "abc", "Tags": [{"name": "Action", "value": "Ping"}]}]
    assert found["Error"] is None


AOCONNECT_CAPTURE = """
import fs from 'node:fs'
const { connect, createSigner } = await import(process.env.PACKAGE)
const jwk = JSON.parse(fs.readFileSync(process.env.WALLET))
const { PID, MODULE, SCHEDULER } = process.env
const calls = []
globalThis.fetch = async (url, init = {}) => {
  const body = init.body ? Buffer.from(await new Response(init.body).arrayBuffer()).toString('base64') : ''
  const headers = Object.fromEntries(new Headers(init.headers ?? {}))
  calls.push({ method: init.method ?? 'GET', url: String(url), headers, body })
  const path = new URL(url).pathname
  if (path.endsWith('/info/address')) return new Response(SCHEDULER)
  if (path === '/push') return new Response('', { headers: { process: PID } })
  if (path.endsWith('/slot/current')) return new Response('3')
  if (path.endsWith('/push')) return new Response(JSON.stringify({ slot: 1 }))
  return new Response(JSON.stringify({ raw: { Output: { data: 'x' } } }))
}
const ao = connect({ MODE: 'mainnet', URL: 'http://node.test', signer: createSigner(jwk) })
await ao.spawn({ module: MODULE, tags: [{ name: 'Name', value: 'n' }, { name: 'App', value: 'a' }], data: 'hi' })
await ao.message({ process: PID, tags: [{ name: 'Action', value: 'Eval' }], data: '1 + 1' })
await ao.message({ process: PID, tags: [{ name: 'Action', value: 'Credit' }, { name: 'Quantity', value: '5' }] })
await ao.result({ process: PID, slot: 2 })
await ao.results({ process: PID })
await ao.dryrun({ process: PID, tags: [{ name: 'Action', value: 'Info' }], data: 'x' })
console.log(JSON.stringify(calls))
process.exit(0)  // 0.0.93 keeps a timer alive
"""


def capture(tmp_path: Path, wallet: Wallet, package: str) -> list[dict[str, Any]]:
    """The requests aoconnect (`package`) sends for one call of each verb."""
    wallet.save(tmp_path / "wallet.json")
    done = subprocess.run(
        ["node", "--input-type=module", "-e", AOCONNECT_CAPTURE], cwd=HERE, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "WALLET": str(tmp_path / "wallet.json"), "PID": PID,
                         "MODULE": MODULE_ID, "SCHEDULER": SCHEDULER, "PACKAGE": package})
    assert done.returncode == 0, done.stderr
    calls: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return calls


def test_requests_of_aoconnect_0093(tmp_path: Path, wallet: Wallet, aoconnect: Path) -> None:
    """0.0.93 (npm alias `aoconnect-0093`) asks `compute=<slot>` where 0.0.98 asks
    `compute/results=<slot>`; its other requests are 0.0.98's."""
    old = capture(tmp_path, wallet, "aoconnect-0093")
    new = capture(tmp_path, wallet, "@permaweb/aoconnect")
    paths = [urlsplit(call["url"]).path for call in old]
    assert paths[4] == f"/{PID}~process@1.0/compute=2" and paths[6] == f"/{PID}/compute=3"
    assert paths[7] == f"/{PID}~process@1.0/as=execution/compute&Action=Info"
    for index in (0, 1, 2, 3, 5, 7):
        assert paths[index] == urlsplit(new[index]["url"]).path


def test_requests_are_the_ones_aoconnect_sends(tmp_path: Path, wallet: Wallet, aoconnect: Path) -> None:
    """Run aoconnect with a recording `fetch` and compare every request with the client's."""
    pid, module, scheduler = PID, MODULE_ID, SCHEDULER
    calls = capture(tmp_path, wallet, "@permaweb/aoconnect")
    ours = [
        Request("GET", "/~meta@1.0/info/address"),
        spawn_request(module, scheduler, tags={"Name": "n", "App": "a"}, data="hi"),
        message_request(pid, tags={"Action": "Eval"}, data="1 + 1"),
        message_request(pid, tags={"Action": "Credit", "Quantity": "5"}),
        result_request(pid, 2),
        results_requests(pid),
        results_requests(pid, 3),
        dryrun_request(pid, tags={"Action": "Info"}, data="x"),
    ]
    assert len(calls) == len(ours)
    for call, mine in zip(calls, ours, strict=True):
        assert call["method"] == mine.method
        assert call["url"] == "http://node.test" + mine.path
        if not mine.is_ans104:
            assert not call["body"]
            continue
        assert {k.lower(): v for k, v in call["headers"].items()} == {k.lower(): v for k, v in mine.headers.items()}
        item = parse_item(base64.b64decode(call["body"]))
        item.verify()
        assert [(n.decode(), v.decode()) for n, v in item.tags] == list(mine.tags), call["url"]
        assert (b64url_encode(item.target) if item.target else "") == mine.target
        assert (item.data, item.anchor) == (mine.data, b"")


def test_outbox_keys_a_script_chose_never_break_the_result() -> None:
    """hyper-aos outboxes are Lua tables: any key a script wrote orders, none raises."""
    from aonode.hyper_aos import legacy_result

    outbox = {"2": {"target": "b"}, "①": {"target": "circled"}, "1" * 5000: {"target": "long"}, "1": {"target": "a"}}
    found = legacy_result({"output": "hi", "outbox": outbox})
    assert found is not None
    assert [m["Target"] for m in found["Messages"]] == ["circled", "long", "a", "b"]
