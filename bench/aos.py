"""Messages/s of the AOS-style Lua process module run by aonode, against a bare Node.js (V8)
host of the same module, in the same run.

The module is the project's Lua-in-WASM AOS-style process (`tests/wasm_c/build.py`,
`lua_process()`: Lua 5.3, `src/lua_handle.c`, `src/process.lua`, wasm32-wasi reactor exporting
`malloc`, `free` and `handle(msg, env)` over JSON strings); the first run builds it (clang,
Binaryen, Lua sources from lupa's sdist) into `.cache/wasm_c/`. Three workloads, one message
each, repeated:

    Eval    `Action = Eval` from the owner, `Data` a small Lua expression (`1 + 1`)
    Send    an Eval from the owner that calls `Send({Target = ..., Action = "Ping", Data = "x"})`
    Ping    `Action = Ping` from someone else: not an Eval, so it goes to the `Inbox`

The message and env JSON of each workload are generated once here with
`aonode.devices._legacy_message` (as `json-iface@1.0` does for a slot) and used by both hosts,
so the Lua work is identical. Each host keeps one live instance per workload and, per message,
writes the two JSON strings into memory the module's `malloc` gave, calls `handle`, reads the
NUL-terminated answer and parses it: `--warmup` messages untimed, then `--messages` timed.
Each workload runs `--rounds` rounds, V8 and aonode alternating, each on a fresh instance; the
median round of each host is kept (the machine may be shared).

    V8       `bench/aos_host.mjs` under `node` (legacy exception form, which V8 runs; WASI
             imports are stubs)
    aonode   `aonode.runtime.wasm.WasmInstance` (wasmtime, the module translated to exnref,
             fuel on, the node's default limits; the same WASI stubs, in Python): the host level
    epoch    the same aonode host under `wasm_metering: epoch` (wall-time limit, no fuel)
    process  `process@1.0` on the AOS stack `[wasi@1.0, json-iface@1.0, wasm-64@1.0,
             multipass@1.0]`, the node's own scheduler, LMDB store in a temporary directory,
             no snapshot between slots, under each meter: `--slots` signed messages scheduled
             (not timed), then one `now` computing them all, slot by slot (timed); then
             `--pairs` message+result pairs (schedule a signed message, compute its slot: what
             aoconnect's `message` then `result` ask) and `--dry-runs` dry runs of the same
             message (`as=execution`, then `compute` on that copy of the live state)

Printed for each workload and meter: V8 msgs/s, aonode host-level msgs/s and the ratio
aonode/V8 (goal: at least 1.0), process@1.0 slots/s and dry runs/s with their ratios to the host
of the same meter (issue 24's goals: 0.5 and 0.3), message+result pairs/s (goal: 100), and the
mean time inside `handle` (the WASM code alone: the rest of a
message is the host's copies, calls and JSON parsing) on V8, on aonode's host, and on a plain
wasmtime engine without fuel metering (the same module: what aonode's deterministic instruction
budget costs). The three must
answer the same. Also printed: the first load of the module (translation and compilation)
against a load from the compiled-module cache.

    .venv/bin/python -P bench/aos.py [--messages N] [--warmup N] [--rounds N] [--slots N]
                                     [--pairs N] [--dry-runs N]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import wasmtime

from aonode.codecs import commit, message_id
from aonode.core import get, resolve
from aonode.crypto import Wallet
from aonode.devices import _legacy_message as legacy
from aonode.devices._process_worker import registry
from aonode.runtime.wasm import WasmInstance, compile_module, signature
from aonode.store import LMDBStore, MessageCache

ROOT = Path(__file__).resolve().parents[1]
HOST = Path(__file__).resolve().parent / "aos_host.mjs"
STACK = [b"wasi@1.0", b"json-iface@1.0", b"wasm-64@1.0", b"multipass@1.0"]
SEND_TARGET = "S" * 43  # where the Send workload's Ping goes


def load_builder() -> ModuleType:
    """tests/wasm_c/build.py, loaded by path."""
    spec = importlib.util.spec_from_file_location("aonode_bench_wasm_c_build", ROOT / "tests" / "wasm_c" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def workloads(owner: Wallet, stranger: Wallet) -> dict[str, tuple[Wallet, dict[str, bytes]]]:
    """name -> (sender, the message's keys)."""
    send = f"Send({{Target = '{SEND_TARGET}', Action = 'Ping', Data = 'x'}}) return 'sent'"
    return {
        "Eval": (owner, {"action": b"Eval", "data": b"1 + 1"}),
        "Send": (owner, {"action": b"Eval", "data": send.encode()}),
        "Ping": (stranger, {"action": b"Ping", "data": b"x"}),
    }


EXPECTED = {"Eval": ("2", 0), "Send": ("sent", 1), "Ping": ("New Message", 0)}  # Output.data, messages sent


def process_message(owner: Wallet, scheduler: Wallet, image_id: str) -> dict[str, Any]:
    address = scheduler.address.encode()
    return commit({
        "device": b"process@1.0", "type": b"Process", "scheduler-device": b"scheduler@1.0",
        "scheduler-location": address, "authority": [address], "execution-device": b"stack@1.0",
        "device-stack": STACK, "passes": 2, "output-prefix": b"wasm", "input-prefix": b"process",
        "image": image_id.encode(), "seed": time.time_ns(),
    }, owner)


def legacy_json(process: dict[str, Any], image_id: str, sender: Wallet, keys: dict[str, bytes]) -> tuple[bytes, bytes]:
    """The message and env JSON json-iface@1.0 would hand to `handle` for one such message."""
    pid = message_id(process, committers="all")
    message = commit({"type": b"Message", "target": pid.encode(), **keys}, sender)
    assignment = {"process": pid.encode(), "slot": 1, "timestamp": int(time.time() * 1000), "block-height": 1_500_000,
                  "hash-chain": b"", "body": message}
    msg = legacy.message_json(message, module=image_id, assignment=assignment)
    env = legacy.env_json(process, pid, None, image_id)
    return legacy.encode(msg), legacy.encode(env)


def check(workload: str, who: str, data: Any, sent: int) -> None:
    want = EXPECTED[workload]
    if (data, sent) != want:
        raise SystemExit(f"{workload}: {who} answered data {data!r} with {sent} messages, expected {want}")


# --- aonode, host level ----------------------------------------------------------------------


class WasiStubs:
    """The WASI imports as stubs (the same as aos_host.mjs's)."""

    def __init__(self) -> None:
        self.instance: WasmInstance | None = None

    def __call__(self, module: str, field: str, args: list[Any], sig: str) -> list[Any]:
        instance = self.instance
        assert instance is not None
        if module == "wasi_snapshot_preview1":
            if field == "fd_write":
                _fd, iovs, count, written = args
                raw = instance.read(iovs, 8 * count)
                total = sum(int.from_bytes(raw[8 * i + 4:8 * i + 8], "little") for i in range(count))
                instance.write(written, total.to_bytes(4, "little"))
                return [0]
            if field == "clock_time_get":
                return [1]
            if field == "fd_prestat_get":
                return [8]
            if field in ("environ_sizes_get", "args_sizes_get"):
                instance.write(args[0], bytes(4))
                instance.write(args[1], bytes(4))
                return [0]
            if field == "proc_exit":
                raise RuntimeError(f"proc_exit({args[0]})")
        if module == "env" and field == "emscripten_resize_heap":
            # Only the plain wasmtime host gets here: WasmInstance serves the heap growth itself.
            grow = getattr(instance, "grow_to", None)
            return [1 if grow is not None and grow(int(args[0])) else 0]
        return [0] * (len(sig) - sig.index(")") - 1)


def aonode_host(exnref: Path, cache_dir: Path, msg: bytes, env: bytes, count: int, warmup: int,
                metering: str = "fuel") -> tuple[float, float, dict[str, Any]]:
    """Messages/s of `count` messages on one WasmInstance (after `warmup`) under `metering`, the
    mean µs inside `handle`, and the last response."""
    stubs = WasiStubs()
    module = compile_module(exnref.read_bytes(), cache_dir, metering=metering)
    # WasmInstance calls _initialize in its constructor: the stubs need the instance before that.
    instance = WasmInstance.__new__(WasmInstance)
    stubs.instance = instance
    instance.__init__(module, stubs, metering=metering)  # type: ignore[misc]

    inside = 0.0

    def one() -> dict[str, Any]:
        nonlocal inside
        msg_ptr = instance.write_string(msg)
        env_ptr = instance.write_string(env)
        entered = time.perf_counter()
        [pointer] = instance.call("handle", msg_ptr, env_ptr)
        inside += time.perf_counter() - entered
        answer = json.loads(instance.read_string(int(pointer)))
        if answer.get("ok") is not True:
            raise SystemExit(f"handle answered {answer!r}")
        return answer

    answer: dict[str, Any] = {}
    for _ in range(warmup):
        answer = one()
    inside = 0.0
    started = time.perf_counter()
    for _ in range(count):
        answer = one()
    return count / (time.perf_counter() - started), inside / count * 1e6, answer["response"]


def unmetered_handle(exnref: Path, msg: bytes, env: bytes, count: int, warmup: int) -> tuple[float, float, None]:
    """(0, the mean µs inside `handle`, None) on a plain wasmtime engine without fuel metering:
    what the metering costs. This host's other work goes through wasmtime-py's slow path, so only
    the time inside `handle` is comparable."""
    config = wasmtime.Config()
    config.wasm_memory64 = True
    config.wasm_exceptions = True
    config.cranelift_opt_level = "speed"
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, exnref.read_bytes())
    stubs = WasiStubs()
    plain = _PlainMemory(store)
    stubs.instance = plain  # type: ignore[assignment]
    imports = []
    for imp in module.imports:
        kind = imp.type
        assert isinstance(kind, wasmtime.FuncType)
        sig = signature(kind)

        def call(*args: Any, _module: str = imp.module, _field: str = imp.name or "", _sig: str = sig) -> Any:
            results = stubs(_module, _field, list(args), _sig)
            return results[0] if results else None

        imports.append(wasmtime.Func(store, kind, call))
    exports = wasmtime.Instance(store, module, imports).exports(store)
    plain.memory = exports["memory"]  # type: ignore[assignment]
    malloc, handle = exports["malloc"], exports["handle"]
    if "_initialize" in exports:
        exports["_initialize"](store)  # type: ignore[operator]

    def write(data: bytes) -> int:
        pointer = malloc(store, len(data) + 1)  # type: ignore[operator]
        plain.write(pointer, data + b"\0")
        return int(pointer)

    inside = 0.0
    for i in range(warmup + count):
        if i == warmup:
            inside = 0.0
        msg_ptr, env_ptr = write(msg), write(env)
        entered = time.perf_counter()
        handle(store, msg_ptr, env_ptr)  # type: ignore[operator]
        inside += time.perf_counter() - entered
    return 0.0, inside / count * 1e6, None


class _PlainMemory:
    """The read/write a WasiStubs needs, on a plain wasmtime instance's memory."""

    def __init__(self, store: wasmtime.Store) -> None:
        self.store = store
        self.memory: wasmtime.Memory | None = None

    def read(self, offset: int, length: int) -> bytes:
        assert self.memory is not None
        return bytes(self.memory.read(self.store, offset, offset + length))

    def write(self, offset: int, data: bytes) -> None:
        assert self.memory is not None
        self.memory.write(self.store, data, offset)

    def grow_to(self, size: int) -> bool:
        """Grow the memory to at least `size` bytes (emscripten's heap growth)."""
        assert self.memory is not None
        missing = -(-(size - self.memory.data_len(self.store)) // 65536)
        if missing > 0:
            self.memory.grow(self.store, missing)
        return True


# --- V8 ----------------------------------------------------------------------------------------


def v8_host(node: str, legacy_module: Path, msg: bytes, env: bytes, count: int, warmup: int
            ) -> tuple[float, float, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="aonode-bench-aos-") as directory:
        msg_file, env_file = Path(directory) / "msg.json", Path(directory) / "env.json"
        msg_file.write_bytes(msg)
        env_file.write_bytes(env)
        done = subprocess.run([node, str(HOST), str(legacy_module), str(msg_file), str(env_file), str(count),
                               str(warmup)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the Node host failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return float(report["per_s"]), float(report["handle_us"]), report["last"]


# --- aonode, process@1.0 ---------------------------------------------------------------------


def process_rate(directory: str, image: bytes, cache_dir: Path, owner: Wallet, sender: Wallet,
                 keys: dict[str, bytes], slots: int, metering: str, pairs: int, dry_runs: int) -> dict[str, Any]:
    """process@1.0 under `metering` on one process: slots/s of one `now` over `slots` scheduled
    messages; then message+result pairs/s (schedule one message, compute its slot and read its
    results: what aoconnect's `message` then `result` ask), and dry runs/s of the same message
    (`as=execution` then `compute`, on a copy of the live state); the last slot's data and
    outbox size."""
    node_wallet = Wallet.generate()
    store = LMDBStore(directory, capacity=1024 * 1024 * 1024)
    try:
        opts = {
            "priv_wallet": node_wallet,
            "cache": MessageCache(store),
            "process_snapshot_slots": None,
            "process_snapshot_time": None,
            "wasm_cache_dir": str(cache_dir),
            "wasm_metering": metering,
        }
        image_id = opts["cache"].write({"content-type": b"application/wasm", "body": image})
        process = process_message(owner, node_wallet, image_id)

        def schedule() -> int:
            message = commit({"type": b"Message", **keys}, sender)
            request = commit({"path": "schedule", "method": "POST", "body": message}, sender)
            result = resolve(process, request, opts)
            if not result.ok:
                raise SystemExit(f"scheduling failed: {result.value!r}")
            return int(result.value["slot"])

        def now() -> dict[str, Any]:
            state = get("now", process, None, opts)
            if not isinstance(state, dict):
                raise SystemExit(f"now failed: {state!r}")
            return state

        schedule()
        first = now()  # the instance started and one message handled, not timed
        for _ in range(slots):
            schedule()
        started = time.perf_counter()
        state = now()
        elapsed = time.perf_counter() - started
        if state.get("at-slot") != first.get("at-slot") + slots:
            raise SystemExit(f"now stopped at slot {state.get('at-slot')!r}, not {first.get('at-slot') + slots}")
        results = state["results"]
        data = results["data"]

        started = time.perf_counter()
        for _ in range(pairs):
            slot = schedule()
            computed = resolve(process, {"path": "compute", "slot": slot}, opts)
            if not computed.ok or computed.value["results"]["data"] != data:
                raise SystemExit(f"message+result: slot {slot} answered {computed.value!r}")
        pair_s = time.perf_counter() - started

        dry_message = {"path": "compute", **keys, "from": sender.address.encode()}
        started = time.perf_counter()
        for _ in range(dry_runs):
            copy = resolve(process, {"path": "as", "as": b"execution"}, opts)
            ran = resolve(copy.value, dry_message, opts) if copy.ok else copy
            if not ran.ok:
                raise SystemExit(f"dry run failed: {ran.value!r}")
        dry_s = time.perf_counter() - started
        return {"slots": slots / elapsed, "pairs": pairs / pair_s, "dry": dry_runs / dry_s,
                "data": data.decode() if isinstance(data, bytes) else data,
                "sent": len(results.get("outbox") or {})}
    finally:
        registry(opts).flush()  # background snapshot writes, before the store closes
        store.close()


def _median(values: list[float]) -> float:
    """The median, or NaN for a host that did not run."""
    return statistics.median(values) if values else float("nan")


def compile_and_load(legacy_image: bytes, wasm_opt: str) -> tuple[float, float]:
    """Seconds to compile the legacy-exception module as the node does the first time it sees it
    (translation to exnref by wasm-opt, then Cranelift), and to load it again from the cache."""
    with tempfile.TemporaryDirectory(prefix="aonode-bench-aos-cache-") as directory:
        started = time.perf_counter()
        compile_module(legacy_image, Path(directory), wasm_opt=wasm_opt)
        compiled = time.perf_counter()
        compile_module(legacy_image, Path(directory), wasm_opt=wasm_opt)
        return compiled - started, time.perf_counter() - compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="timed messages per workload and host")
    parser.add_argument("--warmup", type=int, default=200, help="untimed messages before them")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per host and workload (median kept)")
    parser.add_argument("--slots", type=int, default=100, help="slots computed by one `now` per workload")
    parser.add_argument("--pairs", type=int, default=50, help="message+result pairs per workload")
    parser.add_argument("--dry-runs", type=int, default=50, help="dry runs per workload")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node (Node.js) is needed for the V8 host")
    build = load_builder()
    try:
        legacy_module = build.lua_process()
        exnref = build.exnref(legacy_module)
    except build.ToolchainError as exc:
        raise SystemExit(str(exc)) from None
    cache_dir = build.CACHE / "cwasm"
    image = exnref.read_bytes()
    compile_s, load_s = compile_and_load(legacy_module.read_bytes(), str(build.toolchain().wasm_opt))
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()

    owner, stranger, scheduler = Wallet.generate(), Wallet.generate(), Wallet.generate()
    json_image_id = "I" * 43
    json_process = process_message(owner, scheduler, json_image_id)
    rows: list[tuple[Any, ...]] = []
    v8_failure: str | None = None
    for name, (sender, keys) in workloads(owner, stranger).items():
        msg, env = legacy_json(json_process, json_image_id, sender, keys)
        print(f"{name}: {len(msg)} + {len(env)} bytes of JSON a message; {args.rounds} rounds", file=sys.stderr)
        rates: dict[str, list[float]] = {"V8": [], "aonode": [], "epoch": []}
        inside: dict[str, list[float]] = {"V8": [], "aonode": [], "epoch": [], "no fuel": []}
        for round_ in range(args.rounds):
            # The hosts in turn, starting with a different one each round, so that a slow spell
            # of a shared machine does not fall on one host only.
            hosts: list[tuple[str, Callable[..., tuple[float, float, Any]]]] = [
                ("V8", functools.partial(v8_host, node, legacy_module)),
                ("aonode", functools.partial(aonode_host, exnref, cache_dir)),
                ("epoch", functools.partial(aonode_host, exnref, cache_dir, metering="epoch")),
                ("no fuel", functools.partial(unmetered_handle, exnref)),
            ]
            if v8_failure is not None:
                hosts = hosts[1:]
            answers: dict[str, Any] = {}
            turn = round_ % len(hosts)
            for host, run in hosts[turn:] + hosts[:turn]:
                try:
                    per_s, inside_us, last = run(msg, env, args.messages, args.warmup)
                except SystemExit as exc:
                    if host != "V8":
                        raise
                    # The V8 column is a comparison, not the goal's reference (the wasmtime host is):
                    # without it the rest is still measured, and the failure is printed.
                    v8_failure = str(exc).strip().splitlines()[-1]
                    print(f"{name}: the V8 host failed, its columns are left out: {v8_failure}", file=sys.stderr)
                    continue
                inside[host].append(inside_us)
                if last is not None:
                    check(name, host, last["Output"]["data"], len(last["Messages"]))
                    rates[host].append(per_s)
                    answers[host] = last
            if not answers["aonode"] == answers["epoch"] == answers.get("V8", answers["aonode"]):
                raise SystemExit(f"{name}: the hosts answered differently: {answers!r}")
        for metering, host in (("fuel", "aonode"), ("epoch", "epoch")):
            print(f"{name}: process@1.0 ({metering}), scheduling {args.slots} messages", file=sys.stderr)
            with tempfile.TemporaryDirectory(prefix="aonode-bench-aos-") as directory:
                found = process_rate(directory, image, cache_dir, owner, sender, keys, args.slots, metering,
                                     args.pairs, args.dry_runs)
            check(name, "process@1.0", found["data"], found["sent"])
            rows.append((name, metering, _median(rates["V8"]), statistics.median(rates[host]), found,
                         *(_median(inside[h]) for h in ("V8", host, "no fuel"))))

    print(f"AOS-style Lua process (wasm32-wasi): {args.messages} messages per host after {args.warmup} untimed, "
          f"median of {args.rounds} rounds; process@1.0: one `now` over {args.slots} slots, then {args.pairs} "
          f"message+result pairs and {args.dry_runs} dry runs, LMDB store")
    print(f"  {'workload':<9}{'meter':<6}{f'V8 ({version}) /s':>18}{'aonode host /s':>15}{'/V8':>7}"
          f"{'slots/s':>9}{'/host':>7}{'dry runs/s':>11}{'/host':>7}{'msg+result/s':>13}"
          f"{'in handle µs: V8 / aonode / no fuel':>38}")
    for name, metering, v8_per_s, host_per_s, found, v8_us, host_us, plain_us in rows:
        print(f"  {name:<9}{metering:<6}{v8_per_s:>18.0f}{host_per_s:>15.0f}{host_per_s / v8_per_s:>7.3f}"
              f"{found['slots']:>9.1f}{found['slots'] / host_per_s:>7.3f}{found['dry']:>11.1f}"
              f"{found['dry'] / host_per_s:>7.3f}{found['pairs']:>13.1f}"
              f"{f'{v8_us:.0f} / {host_us:.0f} / {plain_us:.0f}':>38}")
    print(f"  module ({len(legacy_module.read_bytes()) // 1024} KiB): first load (exnref translation + compile) "
          f"{compile_s:.2f} s, load from the compiled-module cache {load_s * 1000:.1f} ms "
          f"({compile_s / load_s:.0f}x faster)")


if __name__ == "__main__":
    main()
