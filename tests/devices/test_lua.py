"""lua@5.3a: the reference's dev_lua tests (processes-compute.md §7) with Lua written here, and
the device's own contract: modules, arguments, results, sandboxes, snapshots."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aonode_process import InProcess
from process_helpers import base_process, node_opts, schedule

from aonode.core import get, resolve
from aonode.core.access import get_first
from aonode.crypto import Wallet
from aonode.devices.lua import LuaDevice, _request_field
from aonode.http import create_app
from aonode.runtime.lua import LuaVM
from aonode.runtime.lua_ao import AoLibrary
from aonode.store import LMDBStore, MemoryStore, MessageCache

SCRIPTS = Path(__file__).parent / "lua_scripts"
TEST_LUA = (SCRIPTS / "test.lua").read_bytes()


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def lua_module(source: bytes = TEST_LUA) -> dict[str, Any]:
    return {"content-type": b"application/lua", "body": source}


def lua_base(**keys: Any) -> dict[str, Any]:
    return {"device": b"lua@5.3a", "module": lua_module(), **keys}


def lua_process(wallet: Wallet, source: bytes = TEST_LUA) -> dict[str, Any]:
    return base_process(wallet, **{"execution-device": b"lua@5.3a", "module": lua_module(source),
                                   "authority": [wallet.address.encode()]})


# --- §7 dev_lua.erl ----------------------------------------------------------------------------


def test_simple_invocation() -> None:
    assert get("assoctable/b", lua_base(parameters=[])) == 2


def test_multiple_modules() -> None:
    second = b"function test_second_script()\n  return 4\nend\n"
    base = {"device": b"lua@5.3a", "module": [lua_module(), lua_module(second)], "parameters": []}
    assert get("assoctable/b", base) == 2
    assert get("test_second_script", base) == 4


def test_error_response() -> None:
    result = resolve(lua_base(parameters=[]), {"path": "error_response"})
    assert (result.status, result.value) == ("error", b"Very bad, but Lua caught it.")


def test_sandboxed_failure() -> None:
    assert resolve(lua_base(parameters=[]), {"path": "sandboxed_fail"}).value == 1
    failed = resolve(lua_base(parameters=[], sandbox=True), {"path": "sandboxed_fail"})
    assert failed.status == "error"
    assert b"attempt to call a string value" in failed.value["body"]


def test_ao_core_sandbox() -> None:
    base = lua_base(parameters=[], **{"device-sandbox": [b"message@1.0"]})
    relayed = resolve(base, {"path": "ao_relay"})
    assert relayed.status == "error" and b"relay@1.0" in relayed.value
    assert resolve(base, {"path": "ao_resolve"}).status == "ok"


def test_ao_core_resolution_from_lua() -> None:
    result = resolve(lua_base(parameters=[]), {"path": "ao_resolve"})
    assert (result.status, result.value) == ("ok", b"Hello, AO world!")


def test_invoke_non_compute_key() -> None:
    base = lua_base(**{"test-value": 42})
    first = resolve(base, {"path": "hello"})
    assert first.ok and first.value["test-value"] == 42 and first.value["hello"] == b"world"
    assert isinstance(first.value["priv"]["state"], LuaVM)
    second = resolve(base, {"path": "hello", "name": b"Alice"})
    assert second.value["hello"] == b"Alice"


def test_pure_lua_process(wallet: Wallet) -> None:
    opts = node_opts(wallet)
    proc = lua_process(wallet)
    schedule(proc, wallet, opts, action=b"Eval", data=b"ignored")
    assert get("now/results/output/body", proc, None, opts) == 42


def test_pure_lua_restore(wallet: Wallet) -> None:
    """Counting with `path: inc` messages: the count carries from slot to slot, through the
    live VM and, after the node's cache is new, through the stored snapshot."""
    store = MemoryStore()
    opts = node_opts(wallet, store)
    proc = lua_process(wallet)
    schedule(proc, wallet, opts, path=b"inc")
    assert get("now/count", proc, None, opts) == 1
    schedule(proc, wallet, opts, path=b"inc")
    assert get("now/count", proc, None, opts) == 2
    restarted = {**opts, "cache": MessageCache(store)}
    schedule(proc, wallet, restarted, path=b"inc")
    assert get("now/count", proc, None, restarted) == 3


# --- the device's own contract ------------------------------------------------------------------


def test_functions_lists_the_global_functions() -> None:
    base = resolve(lua_base(), {"path": "init"}).value
    names = resolve(base, {"path": "functions"}).value
    assert b"assoctable" in names and b"inc" in names and b"print" in names


def test_keys_of_the_base_are_read_not_called() -> None:
    base = lua_base(hello=b"stored")
    assert get("hello", base) == b"stored"


def test_missing_function_is_an_error() -> None:
    result = resolve(lua_base(parameters=[]), {"path": "no_such_function"})
    assert result.status == "error" and b"no_such_function" in result.value["body"]


def test_lua_error_is_a_422_with_a_trace() -> None:
    # 422: the script failed, as it would on any node (a process records the slot as failed).
    source = b"function boom()\n  error('it broke')\nend\n"
    result = resolve({"device": b"lua@5.3a", "module": lua_module(source), "parameters": []}, {"path": "boom"})
    assert result.status == "error"
    assert result.value["status"] == 422
    assert result.value["body"] == b"module-1:2: it broke" or result.value["body"].endswith(b":2: it broke")
    assert any(b"boom" in line for line in result.value["trace"])


def test_returning_no_value_or_three_is_a_422() -> None:
    source = b"function none() end\nfunction three() return 1, 2, 3 end\n"
    for name in ("none", "three"):
        result = resolve({"device": b"lua@5.3a", "module": lua_module(source), "parameters": []}, {"path": name})
        assert result.status == "error" and result.value["status"] == 422, (name, result.value)


SEES = b"""
function sees(base, req)
  local c = base.process.commitments.c1
  base.alg, base.other = c.alg, base.process.commitments.c2.alg
  base.body = type(req.body) == "table" and req.body.action or "none"
  base.keeps = req.Path or req.path
  return base
end
"""


def test_a_process_function_sees_alg_and_a_dry_run_gets_its_message_as_body() -> None:
    process = {"authority": b"x", "commitments": {
        "c1": {"commitment-device": b"httpsig@1.0", "type": b"rsa-pss-sha512", "committer": b"me"},
        "c2": {"commitment-device": b"ans104@1.0", "type": b"rsa-pss-sha256"}}}
    base = {"device": b"lua@5.3a", "module": lua_module(SEES), "process": process}
    result = resolve(base, {"path": "sees", "Action": b"Eval", "data": b"1"})
    assert result.ok, result.value
    assert (result.value["alg"], result.value["other"]) == (b"rsa-pss-sha512", b"ans104@1.0/rsa-pss-sha256")
    assert (result.value["body"], result.value["keeps"]) == (b"Eval", b"sees")
    assert result.value["process"] == process  # the state keeps its own definition, without `alg`
    # An assignment's body is the message: given as it is.
    scheduled = resolve(base, {"path": "sees", "body": {"action": b"Ping"}})
    assert scheduled.ok and scheduled.value["body"] == b"Ping"


def test_no_body_is_added_outside_a_process() -> None:
    base = {"device": b"lua@5.3a", "module": lua_module(b"function f(b, r) return {t = type(r.body)} end")}
    assert resolve(base, {"path": "f"}).value["t"] == b"nil"


def test_request_selects_function_and_parameters() -> None:
    source = b"function add(a, b) return a + b end\n"
    base = {"device": b"lua@5.3a", "module": lua_module(source)}
    result = resolve(base, {"path": "anything", "function": b"add", "parameters": [2, 3]})
    assert (result.status, result.value) == ("ok", 5)


def test_module_without_modules_is_an_error() -> None:
    with pytest.raises(Exception, match="no-modules-found"):
        resolve({"device": b"lua@5.3a"}, {"path": "x"})


def test_module_by_id(wallet: Wallet) -> None:
    cache = MessageCache(MemoryStore())
    module_id = cache.write(lua_module())
    base = {"device": b"lua@5.3a", "module": module_id.encode(), "parameters": []}
    assert get("assoctable/b", base, None, {"cache": cache}) == 2


def test_missing_module_id_is_404() -> None:
    base = {"device": b"lua@5.3a", "module": b"A" * 43}
    with pytest.raises(Exception, match="not found") as caught:
        resolve(base, {"path": "x"}, {"cache": MessageCache(MemoryStore())})
    assert getattr(caught.value, "status", None) == 404


def test_module_that_does_not_compile_is_an_error() -> None:
    result = resolve({"device": b"lua@5.3a", "module": lua_module(b"function (")}, {"path": "init"})
    assert result.status == "error" and result.value["status"] == 400


def test_snapshot_and_normalize_round_trip() -> None:
    source = b"counter = 0\nfunction bump(base) counter = counter + 1 return {n = counter} end\n"
    base = resolve({"device": b"lua@5.3a", "module": lua_module(source), "parameters": []}, {"path": "init"}).value
    for _ in range(3):
        bumped = resolve(base, {"path": "bump"})
    assert bumped.value["n"] == 3
    snap = resolve(base, {"path": "snapshot"}).value
    stored = {k: v for k, v in base.items() if k != "priv"}
    restored = resolve({**stored, "snapshot": snap}, {"path": "normalize"}).value
    assert resolve(restored, {"path": "bump"}).value["n"] == 4


def test_normalize_without_snapshot_is_an_error() -> None:
    result = LuaDevice().normalize({"device": b"lua@5.3a"}, {}, {})
    assert (result.status, result.value) == ("error", b"no_lua_state_snapshot_found")


# --- §7 dev_lua.erl, the AOS tests, on tests/devices/lua_scripts/aos.lua --------------------------

AOS_LUA = (SCRIPTS / "aos.lua").read_bytes()
EVAL_COUNT = b"""
Count = 0
function add()
    Send({Target = 'Foo', Data = 'Bar' });
    Count = Count + 1
end
add()
return Count
"""


def test_invoke_aos(wallet: Wallet) -> None:
    opts = node_opts(wallet)
    proc = lua_process(wallet, AOS_LUA)
    schedule(proc, wallet, opts, action=b"Eval", body=lua_module(EVAL_COUNT))
    output = get("now/results/output", proc, None, opts)
    assert (output["data"], output["prompt"]) == (b"1", b"aos> ")
    sent = get("now/results/outbox/1", proc, None, opts)
    assert (sent["Target"], sent["Data"]) == (b"Foo", b"Bar")
    schedule(proc, wallet, opts, action=b"Eval", data=b"Count + 41")
    assert get("now/results/output/data", proc, None, opts) == b"42"


def test_aos_authority_not_trusted(wallet: Wallet) -> None:
    opts = node_opts(wallet)
    proc = lua_process(wallet, AOS_LUA)
    schedule(proc, wallet, opts, action=b"Eval", data=b"1 + 1", **{"from-process": b"1234"})
    assert get("now/results/output/data", proc, None, opts) == b"Message is not trusted."


def test_aos_state_survives_a_restart(wallet: Wallet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Functions defined by Eval (closures over private state) and the Inbox come back from
    the snapshot: a node restarted on a copy of the store computes the next slot as the node
    that kept its VM live."""
    store = LMDBStore(tmp_path / "live", capacity=64 * 1024 * 1024)
    opts = node_opts(wallet, store, process_snapshot_slots=2)
    proc = lua_process(wallet, AOS_LUA)
    make_counter = b"local n = 10\nfunction Next() n = n + 1 return n end\nreturn Next()"
    schedule(proc, wallet, opts, action=b"Eval", data=make_counter)
    schedule(proc, wallet, opts, action=b"Ping", data=b"hello")
    schedule(proc, wallet, opts, action=b"Eval", data=b"Next()")
    assert get("now/results/output/data", proc, None, opts) == b"12"
    schedule(proc, wallet, opts, action=b"Eval", data=b"Next() .. ' ' .. #Inbox")
    shutil.copytree(tmp_path / "live", tmp_path / "copy")
    copy = LMDBStore(tmp_path / "copy", capacity=64 * 1024 * 1024)
    try:
        restarted = node_opts(wallet, copy, process_snapshot_slots=2)
        restores: list[bytes] = []
        real_restore = LuaVM.restore.__func__  # type: ignore[attr-defined]
        monkeypatch.setattr(LuaVM, "restore", classmethod(
            lambda cls, data, *a, **kw: restores.append(data) or real_restore(cls, data, *a, **kw)))
        from_snapshot = resolve(proc, {"path": "compute", "slot": 3}, restarted)
        from_live_vm = resolve(proc, {"path": "compute", "slot": 3}, opts)
        assert from_snapshot.value["results"]["output"]["data"] == b"13 1"
        assert len(restores) == 1  # the VM came from the snapshot at slot 2, not from a replay
        assert from_live_vm.value["results"] == from_snapshot.value["results"]
        assert from_live_vm.value["priv"]["state"] is not from_snapshot.value["priv"]["state"]
    finally:
        copy.close()
        store.close()


# --- §7 dev_lua.erl: lua_http_hook_test ---------------------------------------------------------


def test_lua_http_hook() -> None:
    app = create_app({"store": MemoryStore(), "priv_wallet": Wallet.generate(), "on": {"request": lua_base()}})
    try:
        response = InProcess(app).get("/hello?hello=world")
        assert (response.status_code, response.text) == (200, "i like turtles")
    finally:
        app.close()


# --- §7 dev_lua_test.erl: every `*_test` function of every script must return ok ------------------


def _script_tests() -> list[tuple[str, str]]:
    found = []
    for script in sorted(SCRIPTS.glob("*.lua")):
        vm = LuaVM(AoLibrary())
        vm.load_module(script.name, script.read_bytes())
        found += [(script.name, name) for name in vm.functions() if name.endswith("_test")]
    return found


@pytest.mark.parametrize(("script", "function"), _script_tests())
def test_lua_script_function(script: str, function: str) -> None:
    base = {"device": b"lua@5.3a", "module": lua_module((SCRIPTS / script).read_bytes()), "parameters": []}
    result = resolve(base, {"path": function})
    assert result.status == "ok", result.value


def test_script_runner_skips_functions_not_named_test() -> None:
    assert ("meta-test.lua", "meta_test_ignored") not in _script_tests()
    assert ("meta-test.lua", "basic_test") in _script_tests()
@pytest.mark.parametrize("request_message", [
    {"body": {"function": b"f", "parameters": [1]}, "function": b"g"},
    {"body": {"Function": b"f"}, "function": b"g"},
    {"body": {"x": 1}, "function": b"g", "Parameters": {"1": b"a"}},
    {"body": b"a binary", "function": b"g"},
    {"body": {"device": b"message@1.0", "function": b"f"}, "function": b"g"},
    {"function": b"g"},
    {"body": {"function": None}, "function": b"g"},
    {},
])
def test_the_function_and_parameters_are_read_as_resolutions_read_them(request_message: dict[str, Any]) -> None:
    # A slot's request is read directly (`_request_field`): it must find what `get_first`
    # finds through resolutions.
    for key in ("function", "parameters"):
        assert _request_field(request_message, key, {}) == \
            get_first([(request_message, f"body/{key}"), (request_message, key)], None, {})
