"""A Lua process on a real `aonode serve` (issue 8, done-means 2 and 3): spawned over HTTP, it
handles Eval messages with its state carried from one to the next and across a restart of the
node; its state is readable under `/now/...` and, published by `patch@1.0`, under
`/compute/...`; escapes and bombs give error results while the node keeps serving.

Issue 18 item 6, with `owner_check.lua` reading what hyper-aos reads: a dry run (no `body`)
gives the script its message as `req.body`; the owner's own Eval is trusted without the owner
in `authority` (commitments carry `alg`), a stranger's is not evaluated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, running, send_message, signed
from process_http import schedule

from aonode.client import Client, dryrun_request
from aonode.codecs import message_id
from aonode.crypto import Wallet

SCRIPTS = Path(__file__).parent.parent / "devices" / "lua_scripts"
AOS_LUA = (SCRIPTS / "aos.lua").read_bytes()
OWNER_CHECK_LUA = (SCRIPTS / "owner_check.lua").read_bytes()
# Small limits, so that a bomb fails in a fraction of a second.
CONFIG = "lua_instruction_limit: 20000000\nlua_memory_limit: 67108864\n"


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with running(tmp_path / "node", config=CONFIG) as started:
        yield started


def address(node: Node) -> str:
    return httpx.get(node.url + "/~meta@1.0/info/address").text


def spawn(client: httpx.Client, node: Node, owner: Wallet, **extra: Any) -> str:
    process = signed({
        "device": "process@1.0",
        "type": "Process",
        "scheduler": address(node),
        "authority": address(node),
        "scheduler-device": "scheduler@1.0",
        "execution-device": "lua@5.3a",
        "module": {"content-type": "application/lua", "body": AOS_LUA},
        "seed": uuid.uuid4().hex,
        **extra,
    }, owner)
    response = schedule(client, process)
    assert response.status_code == 200, response.text
    assert response.headers["slot"] == "0"
    return message_id(process, committers="all")


def evaluate(client: httpx.Client, pid: str, owner: Wallet, code: str) -> httpx.Response:
    send_message(client, pid, owner, action="Eval", data=code)
    return client.get(f"/{pid}/now/results/output/data")


def test_eval_state_carries_from_message_to_message_and_across_a_restart(tmp_path: Path, owner: Wallet) -> None:
    with running(tmp_path / "node", config=CONFIG) as node:
        with httpx.Client(base_url=node.url, timeout=120) as client:
            pid = spawn(client, node, owner)
            assert evaluate(client, pid, owner, "1 + 1").text == "2"
            define = "local n = 40\nfunction Next() n = n + 1 return n end\nreturn 'defined'"
            assert evaluate(client, pid, owner, define).text == "defined"
            assert evaluate(client, pid, owner, "Next()").text == "41"
            send_message(client, pid, owner, action="Ping", data="hello")
            assert client.get(f"/{pid}/now/results/output/data").text == "New Message"
            assert client.get(f"/{pid}/slot/current").text == "4"
    with running(tmp_path / "node", config=CONFIG) as node:  # the same data directory
        with httpx.Client(base_url=node.url, timeout=120) as client:
            assert evaluate(client, pid, owner, "Next() .. ' ' .. #Inbox").text == "42 1"
            assert client.get(f"/{pid}/compute/results/output/data", params={"slot": 3}).text == "41"


def test_state_read_under_now_and_published_by_patch(node: Node, owner: Wallet) -> None:
    with httpx.Client(base_url=node.url, timeout=120) as client:
        pid = spawn(client, node, owner, **{
            "execution-device": "stack@1.0",
            "device-stack": ["lua@5.3a", "patch@1.0"],
            "patch-from": "/results/outbox",
        })
        code = "Balances = {alice = 5, bob = 7}\nSend({method = 'PATCH', balances = Balances})\nreturn 'ok'"
        assert evaluate(client, pid, owner, code).text == "ok"
        assert client.get(f"/{pid}/now/balances/bob").text == "7"
        assert client.get(f"/{pid}/compute/balances/alice", params={"slot": 1}).text == "5"
        assert evaluate(client, pid, owner, "Balances.alice").text == "5"


BOMBS = {
    "os.execute": ("os.execute('touch /tmp/aonode-escaped')", "attempt to call a nil value"),
    "io.open": ("io.open('/etc/passwd')", "attempt to index a nil value"),
    "require": ("require('io')", "module 'io' not found"),
    "binary chunk": ("load(string.dump(function() end))()", "attempt to call a nil value"),
    "huge string": ("string.rep('x', 1 << 40)", "resulting string too large"),
    "memory": ("local t = {} for i = 1, 1e8 do t[i] = i end", "not enough memory"),
    # Whichever comes first with these limits: Lua's stack limit or the memory cap.
    "deep recursion": ("local function f() return 1 + f() end return f()", "stack overflow|not enough memory"),
}


def test_escapes_and_bombs_are_errors_and_the_node_keeps_serving(node: Node, owner: Wallet) -> None:
    with httpx.Client(base_url=node.url, timeout=120) as client:
        pid = spawn(client, node, owner)
        for name, (code, expected) in BOMBS.items():
            reply = evaluate(client, pid, owner, code)
            assert reply.status_code == 200, (name, reply.text)
            assert reply.text.startswith("Error: "), (name, reply.text)
            assert any(e in reply.text for e in expected.split("|")), (name, reply.text)
        assert not Path("/tmp/aonode-escaped").exists()
        assert evaluate(client, pid, owner, "'still here'").text == "still here"

        # Eval's pcall cannot catch the limit (issue 17): the slot fails, with the limit as its
        # result, and the process goes on from the state before it.
        assert evaluate(client, pid, owner, "Kept = 'before'").status_code == 200
        stuck = evaluate(client, pid, owner, "Kept = 'half way'; while true do end")
        assert stuck.status_code == 200 and "instruction limit exceeded" in stuck.text, stuck.text
        assert evaluate(client, pid, owner, "Kept").text == "before"
        assert evaluate(client, pid, owner, "6 * 7").text == "42"

        # A process whose own code loops: each slot fails with the limit as its result, every
        # time it is asked for, and the node answers everything else.
        endless = {"content-type": "application/lua", "body": "function compute(base) while true do end end"}
        looping = spawn(client, node, owner, module=endless)
        for _ in range(2):
            failed = client.get(f"/{looping}/now/results/error")
            assert failed.status_code == 200 and "instruction limit exceeded" in failed.text, failed.text
        fresh = spawn(client, node, owner)
        assert evaluate(client, fresh, owner, "'still serving'").text == "still serving"
        assert client.get("/~meta@1.0/info/address").status_code == 200


def test_dry_run_without_body_and_the_owner_trusted_without_being_an_authority(node: Node, owner: Wallet) -> None:
    module = {"content-type": "application/lua", "body": OWNER_CHECK_LUA}
    stranger = Wallet.generate()
    with httpx.Client(base_url=node.url, timeout=120) as client:
        pid = spawn(client, node, owner, module=module)  # `authority`: the node only

        # aoconnect's dry run: a signed ANS-104 item POSTed to `as=execution/compute&K=V`, no `body`.
        with Client(node.url, owner) as ao:
            reply = ao.send(dryrun_request(pid, tags={"Action": "Info"}, data="2 + 2"))
        assert reply.status_code == 200, reply.text
        output = reply.json()["results"]["output"]
        assert (output["action"], output["seen"]) == ("Info", "2 + 2")
        # hyper-aos trusts RSA-PSS-SHA512 (httpsig) signers only: an ANS-104 item is no owner's.
        assert output["data"] == "Message is not trusted."
        # The same as a plain GET, unsigned.
        plain = client.get(f"/{pid}~process@1.0/as=execution/compute&action=Eval&data=7/results/output/seen")
        assert (plain.status_code, plain.text) == (200, "7")

        assert evaluate(client, pid, owner, "1 + 1").text == "2"
        # A stranger's message is accepted (signed by its sender) but its Eval is not run: it
        # goes to Inbox, after the process's own definition (slot 0).
        assert evaluate(client, pid, stranger, "1 + 1").text == "New Message 2"
        # Pushed for another process, one that is not an authority: not trusted (as the
        # reference's aos_authority_not_trusted_test).
        send_message(client, pid, stranger, action="Eval", data="1 + 1", **{"from-process": "1234"})
        assert client.get(f"/{pid}/now/results/output/data").text == "Message is not trusted."
        assert evaluate(client, pid, owner, "3 * 3").text == "9"
        # A script error in a dry run is the script's (422), never the node's 500.
        raising = {"content-type": "application/lua",
                   "body": "function compute(base, req) error('broken by ' .. req.body.action) end"}
        failing = spawn(client, node, owner, module=raising)
        broken = client.get(f"/{failing}~process@1.0/as=execution/compute&action=Info")
        assert broken.status_code == 422 and "broken by Info" in broken.text, (broken.status_code, broken.text)


def test_dry_run_answers_the_legacy_result_where_both_aoconnect_versions_read_it(node: Node, owner: Wallet) -> None:
    """A dry run of a hyper-aos-style process answers its `results` also as a legacy result,
    `raw`, at the top (aoconnect 0.0.98) and under `results` (0.0.93): `Output` as the script
    gave it, each outbox message with `Target`, `Data` and its other keys as `Tags`."""
    with httpx.Client(base_url=node.url, timeout=120) as client:
        pid = spawn(client, node, owner)
        sender = {"From-Process": owner.address}  # trusted as the owner (aos.lua's rule)
        code = "Send({target = 'abc', data = 'hi', action = 'Ping'}) return 'sent'"
        with Client(node.url, owner) as ao:
            reply = ao.send(dryrun_request(pid, tags={"Action": "Eval", **sender}, data=code))
            assert reply.status_code == 200, reply.text
            answer = reply.json()
            expected = {
                "Output": {"data": "sent", "prompt": "aos> "},
                "Messages": [{"Target": "abc", "Data": "hi", "Tags": [{"name": "Action", "value": "Ping"}]}],
                "Spawns": [],
                "Assignments": [],
            }
            assert answer["raw"] == expected
            assert answer["results"]["raw"] == expected
            assert answer["results"]["output"]["data"] == "sent"  # the script's own shape stays
            # The Python client (as aoconnect) reads it.
            assert ao.dryrun(pid, tags={"Action": "Eval", **sender}, data="6 * 7")["Output"]["data"] == "42"
        # Scheduled slots keep the script's state as it returned it: no `raw`.
        send_message(client, pid, owner, action="Eval", data="1 + 1")
        assert client.get(f"/{pid}/now/raw").status_code == 404
        assert client.get(f"/{pid}/now/results/output/data").text == "2"
