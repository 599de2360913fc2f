"""genesis-wasm@1.0 with Lua modules, and the legacy message form (processes-compute.md §4.5,
§4.6, §6.6): the reference's dev_genesis_wasm tests in intent, on `tests/clients/aos_legacy.lua`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from process_helpers import node_opts
from wasm_c import build

from aonode.codecs import commit, encode, message_id
from aonode.codecs import json as json_codec
from aonode.core import get, resolve
from aonode.crypto import Wallet
from aonode.devices import _legacy_message as legacy
from aonode.runtime.wasm import WasmInstance
from aonode.store import MemoryStore, MessageCache

MODULE = (Path(__file__).parents[1] / "clients" / "aos_legacy.lua").read_bytes()
WAT = Path(__file__).parents[1] / "runtime" / "wat"


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def opts(wallet: Wallet) -> dict[str, Any]:
    return node_opts(wallet, MemoryStore())


def upload(opts: dict[str, Any], wallet: Wallet, source: bytes = MODULE,
           content_type: bytes = b"application/lua") -> str:
    module = commit({"content-type": content_type, "body": source}, wallet)
    opts["cache"].write(module)
    return message_id(module, committers="all")


def spawn(opts: dict[str, Any], wallet: Wallet, module: str, **tags: Any) -> dict[str, Any]:
    process = commit({
        "device": b"process@1.0", "type": b"Process", "scheduler-device": b"scheduler@1.0",
        "execution-device": b"genesis-wasm@1.0", "push-device": b"push@1.0",
        "scheduler": wallet.address.encode(), "authority": wallet.address.encode(),
        "module": module.encode(), **tags,
    }, wallet)
    scheduled = resolve(process, {"path": "push", "method": "POST", "body": process}, opts)
    assert scheduled.ok, scheduled
    return process


def send(process: dict[str, Any], opts: dict[str, Any], wallet: Wallet, **keys: Any) -> int:
    pid = message_id(process, committers="all")
    message = commit({"target": pid.encode(), "type": b"Message", **keys}, wallet)
    assignment = resolve(process, commit({"path": "schedule", "method": "POST", "body": message}, wallet), opts)
    assert assignment.ok, assignment
    return int(assignment.value["slot"])


def output(process: dict[str, Any], opts: dict[str, Any]) -> Any:
    return get("now/results/raw/Output/data", process, None, opts)


def failure(process: dict[str, Any], opts: dict[str, Any]) -> Any:
    """How the newest slot failed: `{status, body}`. A failure in the process itself (422) is
    that slot's result, and the process goes on; any other (a missing module) is an error."""
    found = resolve(process, {"path": "now/results"}, opts)
    if not found.ok:
        return found.value
    results = found.value
    assert results.get("status") == 422, results
    return {"status": results["status"], "body": results["error"]}


# --- dev_genesis_wasm.erl, in intent ------------------------------------------------------------


def test_spawn_and_execute_slot(wallet: Wallet, opts: dict[str, Any]) -> None:
    process = spawn(opts, wallet, upload(opts, wallet))
    send(process, opts, wallet, action=b"Eval", data=b"X = 2")
    send(process, opts, wallet, action=b"Eval", data=b"return X + 2")
    assert output(process, opts) == b"4"
    assert get("now/results/data", process, None, opts) == b"4"


def test_send_message_between_processes(wallet: Wallet, opts: dict[str, Any]) -> None:
    """The receiver's Credit-Notice goes back to the sender through push@1.0."""
    module = upload(opts, wallet)
    bank = spawn(opts, wallet, module)
    customer = spawn(opts, wallet, module)
    customer_id = message_id(customer, committers="all")
    slot = send(bank, opts, wallet, action=b"Credit", quantity=b"10", **{"from-process": customer_id.encode()})
    pushed = resolve(bank, {"path": "push", "slot": slot}, opts)
    assert pushed.ok, pushed
    assert get("now/results/raw/Output/data", bank, None, opts) == b"Balance: 10"
    # The notice reached the customer as a message in its Inbox.
    assert get("now/results/raw/Output/data", customer, None, opts) == b"New Message"


def test_dryrun_changes_nothing(wallet: Wallet, opts: dict[str, Any]) -> None:
    process = spawn(opts, wallet, upload(opts, wallet))
    for step in (b"Number = 5", b"Number = Number + 1", b"Number = Number + 1 return Number"):
        send(process, opts, wallet, action=b"Eval", data=step)
    assert output(process, opts) == b"7"
    dry = commit({"action": b"Eval", "data": b"Number = Number + 1 return 'The current number is ' .. Number .. '!'"},
                 wallet)
    answer = resolve(process, {"path": "as", "as": b"execution"}, opts)
    assert answer.ok
    ran = resolve(answer.value, {**dry, "path": "compute"}, opts)
    assert ran.ok and ran.value["raw"]["Output"]["data"] == b"The current number is 8!"
    send(process, opts, wallet, action=b"Eval", data=b"return Number")
    assert output(process, opts) == b"7"


def test_patches_in_the_outbox_are_applied_to_the_state(wallet: Wallet, opts: dict[str, Any]) -> None:
    source = MODULE + b"""
local inner = handle
function handle(msg, env)
    local result = inner(msg, env)
    if result.Messages then
        result.Messages[#result.Messages + 1] = { device = "patch@1.0", balance = tostring(Balance) }
    end
    return result
end
"""
    process = spawn(opts, wallet, upload(opts, wallet, source))
    send(process, opts, wallet, action=b"Credit", quantity=b"3")
    assert get("now/balance", process, None, opts) == b"3"
    assert get("now/results/outbox/1/Action", process, None, opts) == b"Credit-Notice"


def test_module_of_another_kind_is_422(wallet: Wallet, opts: dict[str, Any]) -> None:
    process = spawn(opts, wallet, upload(opts, wallet, b"print('hi')", b"text/plain"))
    send(process, opts, wallet, action=b"Eval", data=b"1")
    failed = failure(process, opts)
    assert failed["status"] == 422 and b"neither a Lua module" in failed["body"]


def test_wasm_module(wallet: Wallet, opts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A legacy WASM module (tests/runtime/wat/ao_process.wat: counts its calls, sends a Ping):
    handle(msg, env) with JSON strings; its memory is the snapshot."""
    image = bytes(wasmtime.wat2wasm((WAT / "ao_process.wat").read_text()))
    process = spawn(opts, wallet, upload(opts, wallet, image, b"application/wasm"))
    send(process, opts, wallet, action=b"Eval", data=b"1")
    assert output(process, opts) == b"2"  # slot 0 (the spawn) and slot 1
    assert get("now/results/outbox/1/Action", process, None, opts) == b"Ping"
    send(process, opts, wallet, action=b"Eval", data=b"2")
    restored: list[int] = []
    real = WasmInstance.restore
    monkeypatch.setattr(WasmInstance, "restore", lambda self, data: restored.append(len(data)) or real(self, data))
    restarted = {**opts, "cache": MessageCache(opts["cache"].store)}
    assert output(process, restarted) == b"3"
    assert restored == [65536]  # from slot 1's memory snapshot, not a replay


@pytest.mark.parametrize("arch", ["wasm32", "wasm64"])
def test_wasm_module_memory_grows_to_its_limit(wallet: Wallet, opts: dict[str, Any], arch: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """tests/wasm_c/src/em_heap.c: its heap grows the emscripten way (`emscripten_resize_heap`),
    and it keeps four copies of each message. Beyond the process's `Memory-Limit` it does what
    the AOS module does (stderr, then an answer that is not JSON): the slot fails with 422 and the
    module's reason, and the node serves on."""
    try:
        image = build.em_heap(arch).read_bytes()
    except build.ToolchainError as exc:
        pytest.fail(str(exc))
    module = upload(opts, wallet, image, b"application/wasm")
    data = b"x" * 100_000
    unlimited = spawn(opts, wallet, module)
    limited = spawn(opts, wallet, module, **{"memory-limit": b"1-mb"})
    send(limited, opts, wallet, action=b"Eval", data=data)
    assert int(output(limited, opts)) > 400_000  # beyond the module's initial 128 KiB
    send(limited, opts, wallet, action=b"Eval", data=data)
    with caplog.at_level(logging.DEBUG, logger="aonode.wasm"):
        failed = failure(limited, opts)
    assert failed["status"] == 422, failed
    assert b"JSON error parsing result output." in failed["body"]
    assert b"not enough memory for buffer allocation" in failed["body"]
    assert "WASM stderr: not enough memory for buffer allocation" in caplog.text
    assert failure(limited, opts)["status"] == 422  # asked again: the same answer
    for _ in range(3):
        send(unlimited, opts, wallet, action=b"Eval", data=data)
    assert int(output(unlimited, opts)) > 1_200_000  # the node's limit (1 GiB) is far


def test_missing_module_is_404(wallet: Wallet, opts: dict[str, Any]) -> None:
    process = spawn(opts, wallet, "M" * 43)
    send(process, opts, wallet, action=b"Eval", data=b"1")
    failed = failure(process, opts)
    assert failed["status"] == 404 and b"not in this node's store" in failed["body"]


# --- the legacy message form (§4.5, §4.6) -----------------------------------------------------------


def test_header_case() -> None:
    assert legacy.header_case("block-height") == "Block-Height"
    assert legacy.header_case("ao-types") == "Ao-Types"
    assert legacy.header_case("device-stack+link") == "Device-Stack+link"


def test_message_json(wallet: Wallet) -> None:
    message = commit({"action": b"Eval", "data": b"return 1+1", "target": b"P" * 43}, wallet)
    assignment = {"slot": 7, "block-height": 12, "timestamp": 1_700_000_000_000, "hash-chain": b"h",
                  "process": b"P" * 43}
    found = legacy.message_json(message, module="I" * 43, assignment=assignment)
    assert found["Id"] == message_id(message, committers="all")
    assert found["Owner"] == found["From"] == wallet.address
    assert found["Tags"] == [{"name": "Action", "value": "Eval"}]
    assert (found["Target"], found["Data"], found["Module"]) == ("P" * 43, "return 1+1", "I" * 43)
    assert (found["Block-Height"], found["Timestamp"], found["Nonce"]) == (12, 1_700_000_000_000, 7)
    forwarded = legacy.message_json({**message, "from-process": b"Q" * 43}, module="I" * 43)
    assert forwarded["From"] == "Q" * 43


def test_env_names_the_module_without_its_code(wallet: Wallet) -> None:
    module = commit({"content-type": b"application/wasm", "body": b"\0asm" + bytes(100), "name": b"m"}, wallet)
    env = legacy.env_json({"type": b"Process"}, "P" * 43, module, "I" * 43)
    assert env["Module"]["Id"] == "I" * 43
    assert {t["name"] for t in env["Module"]["Tags"]} == {"Content-Type", "Name"}


def test_results_of_a_legacy_answer() -> None:
    raw = {
        "Output": {"data": b"sent", "prompt": b"aos> "},
        "Messages": [{"Target": b"abc", "Data": b"hi", "anchor": b"1",
                      "Tags": [{"name": b"Action", "value": b"Ping"}, {"name": b"Reference", "value": b"1"}]}],
    }
    found = legacy.results(raw, "P" * 43, "I" * 43)
    assert found["data"] == b"sent"
    assert found["outbox"] == {"1": {"Target": b"abc", "Data": b"hi", "Action": b"Ping", "Reference": b"1",
                                     "Tags": raw["Messages"][0]["Tags"],
                                     "from-process": b"P" * 43, "from-image": b"I" * 43}}
    assert found["raw"]["Spawns"] == [] and found["raw"]["Assignments"] == []
    failed = legacy.results({"Error": b"boom"}, "P" * 43, "I" * 43)
    assert (failed["data"], failed["outbox"]) == (b"boom", {})


def test_dryrun_answer_is_read_by_both_aoconnect_versions(wallet: Wallet, opts: dict[str, Any]) -> None:
    """Issue 18 item 2: aoconnect 0.0.98 reads a dry run's legacy result at `raw`, 0.0.93 at
    `results.raw`; in JSON, AOS's `Output.print` is a boolean and `Output` has no `ao-types`."""
    source = MODULE + b"""
local inner = handle
function handle(msg, env)
    local result = inner(msg, env)
    if result.Output then result.Output.print = true; result.Output.quiet = false end
    return result
end
"""
    process = spawn(opts, wallet, upload(opts, wallet, source))
    send(process, opts, wallet, action=b"Eval", data=b"X = 20")
    # A computed slot's state carries the booleans under `results/raw`.
    computed = resolve(process, {"path": "now"}, opts)
    assert computed.ok
    stored = json.loads(encode(computed.value, json_codec.NAME, bundle=True))
    assert stored["results"]["raw"]["Output"]["print"] is True
    assert "ao-types" not in stored["results"]["raw"]["Output"]
    dry = commit({"action": b"Eval", "data": b"return X + 1"}, wallet)
    state = resolve(process, {"path": "as", "as": b"execution"}, opts)
    assert state.ok
    ran = resolve(state.value, {**dry, "path": "compute"}, opts)
    assert ran.ok
    answer = json.loads(encode(ran.value, json_codec.NAME, bundle=True))
    for raw in (answer["raw"], answer["results"]["raw"]):
        assert raw["Output"] == {"data": "21", "prompt": "aos> ", "print": True, "quiet": False}
        assert raw["Messages"] == [] and raw["Spawns"] == []
