"""The reference's real AOS module (`aos-2-pure-xs.wasm`) under process@1.0, against the same
module on aonode's bare WASM host, in the same run.

The module is not ours to commit: it is read from `$AOS_WASM`, else `local/aos-2-pure-xs.wasm`
(the `local/` folder is git-ignored). Without it this prints how to get it and exits 0
("skipped"). It uses the legacy WASM exception opcodes, so Binaryen's `wasm-opt` translates it
(`$WASM_OPT`, else the one `tests/wasm_c` installs from npm, else PATH); the compiled forms go to
`.cache/aos_real/`.

One workload, `Action = Eval` of `1 + 1` from the owner (answer `2`), timed three ways under
each metering (`fuel`, the default, and `epoch`, the `wasm_metering` option):

    host      `aonode.runtime.wasm.WasmInstance`: per message, the message and env JSON written
              into memory the module's `malloc` gave, `handle` called, the answer read and
              parsed (`bench/aos.py`'s host, WASI and emscripten imports as stubs): the reference
    slots     process@1.0 on the AOS stack `[wasi@1.0, json-iface@1.0, wasm-64@1.0,
              multipass@1.0]`, LMDB store: one `now` over `--slots` scheduled messages
    dry runs  `as=execution` then `compute` with the same message, on a copy of the live state
    pairs     message+result: schedule one signed message, compute its slot (aoconnect's
              `message` then `result`), absolute (goal: 100/s)

Printed: each rate and its ratio to the host of the same metering (goals: slots 0.5, dry runs 0.3).

    .venv/bin/python -P bench/aos_real.py [--messages N] [--warmup N] [--rounds N] [--slots N]
                                          [--pairs N] [--dry-runs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from aonode.crypto import Wallet
from aonode.errors import Unsupported
from aonode.runtime.wasm import compile_module

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "aos_real"
WHERE = "https://github.com/samcamwilliams/HyperBEAM/raw/main/test/aos-2-pure-xs.wasm"


def load_aos_bench() -> ModuleType:
    """bench/aos.py, loaded by path (also when `-P` keeps bench/ off sys.path)."""
    spec = importlib.util.spec_from_file_location("aonode_bench_aos", Path(__file__).resolve().parent / "aos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def module_path() -> Path | None:
    given = os.environ.get("AOS_WASM")
    found = Path(given) if given else ROOT / "local" / "aos-2-pure-xs.wasm"
    return found if found.is_file() else None


def wasm_opt() -> str | None:
    given = os.environ.get("WASM_OPT")
    npm = ROOT / "tests" / "wasm_c" / "node_modules" / "binaryen" / "bin" / "wasm-opt"
    return given or (str(npm) if npm.exists() else shutil.which("wasm-opt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500, help="timed messages per host round")
    parser.add_argument("--warmup", type=int, default=100, help="untimed messages before them")
    parser.add_argument("--rounds", type=int, default=5, help="host rounds per metering (median kept)")
    parser.add_argument("--slots", type=int, default=100, help="slots computed by one `now`")
    parser.add_argument("--pairs", type=int, default=50, help="message+result pairs")
    parser.add_argument("--dry-runs", type=int, default=50, help="dry runs")
    args = parser.parse_args()
    wasm = module_path()
    if wasm is None:
        print("skipped: the reference's aos-2-pure-xs.wasm is not here. Get it into the git-ignored local/ "
              f"folder (`mkdir -p local && curl -L -o local/aos-2-pure-xs.wasm {WHERE}`) or point $AOS_WASM "
              "at it, then run this again.")
        return
    translator = wasm_opt()
    aos = load_aos_bench()
    image = wasm.read_bytes()
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        for metering in ("fuel", "epoch"):  # compiled once into the cache both hosts and the node load from
            compile_module(image, CACHE, wasm_opt=translator, metering=metering)
    except Unsupported:
        print("skipped: Binaryen's wasm-opt is needed to translate the module (`npm install binaryen`, then set "
              "$WASM_OPT or PATH).")
        return

    owner, scheduler = Wallet.generate(), Wallet.generate()
    keys = {"action": b"Eval", "data": b"1 + 1"}
    json_image_id = "I" * 43
    msg, env = aos.legacy_json(aos.process_message(owner, scheduler, json_image_id), json_image_id, owner, keys)
    rows = []
    for metering in ("fuel", "epoch"):
        rates = []
        for _ in range(args.rounds):
            per_s, _inside, last = aos.aonode_host(wasm, CACHE, msg, env, args.messages, args.warmup, metering)
            if last["Output"]["data"] != "2":
                raise SystemExit(f"the host answered {last['Output']!r}, not 2")
            rates.append(per_s)
        print(f"process@1.0 ({metering}), scheduling {args.slots} messages", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="aonode-bench-aos-real-") as directory:
            found = aos.process_rate(directory, image, CACHE, owner, owner, keys, args.slots, metering, args.pairs,
                                     args.dry_runs)
        if found["data"] != "2":
            raise SystemExit(f"process@1.0 answered {found['data']!r}, not 2")
        rows.append((metering, statistics.median(rates), found))

    print(f"aos-2-pure-xs.wasm ({len(image) // 1024} KiB), Eval `1 + 1`: host median of {args.rounds} rounds of "
          f"{args.messages}; process@1.0: one `now` over {args.slots} slots, {args.pairs} message+result pairs, "
          f"{args.dry_runs} dry runs, LMDB store")
    print(f"  {'meter':<7}{'host /s':>9}{'slots/s':>10}{'ratio':>7}{'dry runs/s':>12}{'ratio':>7}{'msg+result/s':>14}")
    for metering, host, found in rows:
        print(f"  {metering:<7}{host:>9.0f}{found['slots']:>10.1f}{found['slots'] / host:>7.3f}{found['dry']:>12.1f}"
              f"{found['dry'] / host:>7.3f}{found['pairs']:>14.1f}")
    print("  goals: slots >= 0.5 of the host, dry runs >= 0.3, message+result >= 100/s")


if __name__ == "__main__":
    main()
