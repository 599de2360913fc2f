"""The AOS execution stack `[wasi@1.0, json-iface@1.0, wasm-64@1.0, multipass@1.0]` on a
module written here (tests/runtime/wat/ao_process.wat): the reference's dev_json_iface and
dev_wasi tests in intent, through process@1.0."""

from __future__ import annotations

import pytest
from process_helpers import aos_process, node_opts, schedule

from aonode.codecs import message_id
from aonode.core import get, resolve
from aonode.crypto import Wallet
from aonode.devices.wasi import stdout
from aonode.runtime.wasm import WasmInstance
from aonode.store import MemoryStore, MessageCache


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def test_aos_stack_computes_slots(wallet: Wallet) -> None:
    opts = node_opts(wallet, MemoryStore())
    proc = aos_process(wallet, opts)
    schedule(proc, wallet, opts, action=b"Eval", data=b"return 1+1")
    state = resolve(proc, {"path": "now"}, opts)
    assert state.ok, state
    results = state.value["results"]
    assert results["data"] == b"1"  # the module's count of the messages it handled
    assert results["raw"]["Output"]["prompt"] == b"aos> "
    ping = results["outbox"]["1"]
    assert (ping["Target"], ping["Action"]) == (b"abc", b"Ping")
    assert ping["from-process"] == message_id(proc, committers="all").encode()
    assert stdout(state.value) == b"hello\n"
    schedule(proc, wallet, opts, action=b"Eval", data=b"again")
    again = resolve(proc, {"path": "now"}, opts).value
    assert again["results"]["data"] == b"2" and stdout(again) == b"hello\n" * 2


def test_memory_survives_a_restart(wallet: Wallet, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    opts = node_opts(wallet, store)
    proc = aos_process(wallet, opts)
    schedule(proc, wallet, opts, action=b"Eval", data=b"1")
    assert get("now/results/data", proc, None, opts) == b"1"
    schedule(proc, wallet, opts, action=b"Eval", data=b"2")
    restarted = {**opts, "cache": MessageCache(store)}
    restored: list[int] = []
    real = WasmInstance.restore
    monkeypatch.setattr(WasmInstance, "restore", lambda self, data: restored.append(len(data)) or real(self, data))
    assert get("now/results/data", proc, None, restarted) == b"2"
    assert restored == [65536]  # the count came from slot 0's memory snapshot, not a replay


def test_message_and_env_reach_the_module(wallet: Wallet) -> None:
    """The strings handed to `handle` are the legacy message and env, as JSON."""
    opts = node_opts(wallet, MemoryStore())
    proc = aos_process(wallet, opts)
    schedule(proc, wallet, opts, action=b"Eval", data=b"return 1+1")
    state = resolve(proc, {"path": "now"}, opts).value
    assert "function" not in state and "parameters" not in state


def test_dry_run_answers_the_legacy_result_where_aoconnect_reads_it(wallet: Wallet) -> None:
    """Issue 18 item 2: a dry run (`as=execution/compute`) of the AOS stack answers its state
    with the legacy result at `raw` (aoconnect 0.0.98) and `results/raw` (0.0.93); the kept
    state has no top-level `raw`."""
    opts = node_opts(wallet, MemoryStore())
    proc = aos_process(wallet, opts)
    schedule(proc, wallet, opts, action=b"Eval", data=b"return 1+1")
    assert get("now/results/data", proc, None, opts) == b"1"
    state = resolve(proc, {"path": "as", "as": b"execution"}, opts)
    assert state.ok, state
    ran = resolve(state.value, {"path": "compute", "action": b"Eval", "data": b"dry"}, opts)
    assert ran.ok, ran
    assert ran.value["raw"] == ran.value["results"]["raw"]
    assert ran.value["raw"]["Output"]["prompt"] == b"aos> "
    assert "dry-run" not in ran.value.get("priv", {})
    kept = resolve(proc, {"path": "now"}, opts).value
    assert "raw" not in kept and kept["results"]["data"] == b"1"
