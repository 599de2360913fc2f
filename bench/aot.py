"""A CPU-bound C kernel compiled natively (gcc -O2) and to WASM (clang -O2, wasm32), run in the
same process: native through ctypes, WASM through aonode's host (`aonode.runtime.wasm`: wasmtime,
Cranelift ahead-of-time, with the fuel metering every aonode call has, and without it). Prints
each time and the ratio WASM speed / native speed (goal: at least 0.9, the figure the AO-Core
launch claimed for AOT), plus the time to compile the module and to load it again from the
compiled-module cache.

    .venv/bin/python -P bench/aot.py [--rounds N]

Needs gcc and a clang with the wasm32 target and wasm-ld (Debian: `apt-get install clang lld`).
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from aonode.runtime import wasm

# The kernel: a sieve of Eratosthenes and a 64-bit mixing loop over it, on a static buffer, so
# the work is memory and integer arithmetic, as in a Lua interpreter's inner loops.
KERNEL = r"""
#define N 2000000
static unsigned char sieve[N];

unsigned long long kernel(int rounds) {
    unsigned long long acc = 1469598103934665603ULL;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < N; i++) sieve[i] = 1;
        sieve[0] = sieve[1] = 0;
        for (int i = 2; (long long)i * i < N; i++)
            if (sieve[i])
                for (int j = i * i; j < N; j += i) sieve[j] = 0;
        for (int i = 0; i < N; i++)
            if (sieve[i]) acc = (acc ^ (unsigned long long)i) * 1099511628211ULL;
    }
    return acc;
}
"""


def _clang() -> str:
    for name in ("clang-16", "clang-19", "clang-14", "clang"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("bench/aot.py needs clang with the wasm32 target (Debian: apt-get install clang lld)")


def build(tmp: Path) -> tuple[Path, bytes]:
    source = tmp / "kernel.c"
    source.write_text(KERNEL)
    native = tmp / "kernel.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(native), str(source)], check=True)
    module = tmp / "kernel.wasm"
    subprocess.run([_clang(), "--target=wasm32-unknown-unknown", "-O2", "-mbulk-memory", "-nostdlib", "-Wl,--no-entry",
                    "-Wl,--export=kernel", "-o", str(module), str(source)], check=True)
    return native, module.read_bytes()


def interleaved(runs: dict[str, object], rounds: int, repeat: int) -> dict[str, tuple[float, int]]:
    """name -> (median seconds, result) of `repeat` timed runs each, the runs taking turns so that
    a slow spell of a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            results[name] = run(rounds)  # type: ignore[operator]
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), results[name]) for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="kernel rounds per timed run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (the median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        native_path, code = build(tmp)
        lib = ctypes.CDLL(str(native_path))
        lib.kernel.restype = ctypes.c_ulonglong
        lib.kernel.argtypes = [ctypes.c_int]

        cache = tmp / "cache"
        start = time.perf_counter()
        module = wasm.compile_module(code, cache)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        wasm.compile_module(code, cache)
        load_s = time.perf_counter() - start

        instance = wasm.WasmInstance(module, lambda *a: [0])

        def metered(rounds: int) -> int:
            return int(instance.call("kernel", rounds)[0]) & (2**64 - 1)

        config = wasmtime.Config()
        config.cranelift_opt_level = "speed"
        plain_engine = wasmtime.Engine(config)
        store = wasmtime.Store(plain_engine)
        plain = wasmtime.Instance(store, wasmtime.Module(plain_engine, code), []).exports(store)["kernel"]

        def unmetered(rounds: int) -> int:
            return int(plain(store, rounds)) & (2**64 - 1)  # type: ignore[operator]

        for run in (lib.kernel, metered, unmetered):
            run(1)  # untimed: code and memory warm
        timed = interleaved({"native": lib.kernel, "metered": metered, "unmetered": unmetered}, args.rounds,
                            args.repeat)
        (native_s, expected), (metered_s, got), (unmetered_s, got_plain) = timed.values()
    if not expected == got == got_plain:
        sys.exit(f"results differ: native {expected}, aonode {got}, unmetered {got_plain}")
    print(f"C kernel ({args.rounds} sieve rounds of 2M), median of {args.repeat} interleaved runs")
    print(f"  native (gcc -O2)                      {native_s * 1000:9.1f} ms")
    print(f"  WASM under aonode (fuel metered)      {metered_s * 1000:9.1f} ms   ratio {native_s / metered_s:.2f}")
    print(f"  WASM, wasmtime without metering       {unmetered_s * 1000:9.1f} ms   ratio {native_s / unmetered_s:.2f}")
    print(f"  compile {compile_s * 1000:.1f} ms, load from the cache {load_s * 1000:.2f} ms "
          f"({compile_s / load_s:.0f}x faster)")


if __name__ == "__main__":
    main()
