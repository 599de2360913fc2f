"""Builds the C fixtures of the WASM tests (tests/wasm_c/src) into WebAssembly modules.

    toolchain()            clang + wasm-ld (LLVM 16 preferred; 14 and 17-19 also work), the
                           compiler-rt builtins for wasm32/wasm64, Debian's wasi-libc and
                           Binaryen's wasm-opt. Missing Debian packages are installed once with
                           `apt-get install -y` (as root, else with `sudo -n`), wasm-opt with
                           `npm ci` from package-lock.json into tests/wasm_c/node_modules; both
                           under a file lock, so parallel test workers install once. When that is
                           impossible, `ToolchainError` says what to install.
    freestanding(arch)     no libc: add/mul64/half/sum_to, call_host (imports env.host_add),
                           grow/mem_pages/poke_sum, remember/recall (a list on the heap),
                           forever (an endless loop); exports malloc/free
    wasi_write(arch)       no libc: greet(fd, n) writes "hello from C #<n>\\n" with fd_write
    em_heap(arch)          no libc: a heap grown the emscripten way (src/em_sbrk.c: sbrk asks the
                           host with the `env.emscripten_resize_heap` import), fill(n), heap_size(),
                           and the legacy loader's handle(msg, env); out of memory, it says so on
                           stderr (fd_write) as the AOS module does
    hello_libc()           wasm32-wasi reactor: greet(n) prints with wasi-libc's printf
    libc_files()           wasm32-wasi reactor: open_file() calls fopen (so _initialize scans the
                           preopened directories with fd_prestat_get)
    sjlj_wasm(arch)        setjmp/longjmp lowered to Wasm exception handling
                           (`-mexception-handling -mllvm -wasm-enable-sjlj` + src/wasm_sjlj_rt.c),
                           in the legacy exception form clang emits (try/catch: wasmtime needs
                           it translated); `exnref(path)` is the translated module
    sjlj_emscripten(arch, host_longjmp=False)
                           setjmp/longjmp lowered the emscripten way (`invoke_*` imports, setThrew),
                           longjmp through the `_emscripten_throw_longjmp` import, or with
                           host_longjmp through the older `emscripten_longjmp` import
    lua_process()          the AOS-style Lua 5.3 process (src/lua_handle.c, src/process.lua embedded
                           as a C string, src/instance_calls.S; Lua from lupa's sdist, downloaded
                           from PyPI on first use and cached in .cache/), wasm32-wasi reactor
                           exporting malloc, free and handle(msg, env); legacy exception form
                           (`exnref(lua_process())` for wasmtime); wasi-libc's malloc grows the
                           heap through src/em_sbrk.c, as an AOS (emscripten) module does

`arch` is "wasm32" or "wasm64". Every module is cached in .cache/wasm_c/ under a hash of its
sources, flags and tools, so only the first run builds (the Lua process: a few seconds). clang's
driver would run whatever `wasm-opt` is on PATH after linking (Debian's binaryen 108 breaks some
links), so clang runs with a no-op `wasm-opt` first on its PATH; the translation to exnref is a
separate step with the pinned Binaryen. AONODE_WASM_CLANG=14 (say) builds with that LLVM only.

    python tests/wasm_c/build.py      builds everything and prints the paths and timings
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE",
    "Toolchain",
    "ToolchainError",
    "em_heap",
    "exnref",
    "freestanding",
    "hello_libc",
    "libc_files",
    "lua_process",
    "sjlj_emscripten",
    "sjlj_wasm",
    "toolchain",
    "wasi_write",
]

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "wasm_c"

# LLVM versions in order of preference: 16 lowers setjmp/longjmp correctly for wasm64 too (14 does
# not); 20+ changed the exception-handling defaults and the runtime (src/wasm_sjlj_rt.c) for them.
VERSIONS = (16, 14, 19, 18, 17, 15)
APT_CHOICES = (16, 14)  # what to install when no usable version is there
WASI_INCLUDE = Path("/usr/include/wasm32-wasi")  # Debian's wasi-libc (multiarch layout)
WASI_LIB = Path("/usr/lib/wasm32-wasi")

LUPA_VERSION = "2.8"
LUPA_JSON = f"https://pypi.org/pypi/lupa/{LUPA_VERSION}/json"
LUPA_PROJECT_JSON = "https://pypi.org/pypi/lupa/json"

FREESTANDING = ("-nostdlib", "-Wl,--no-entry")
# What clang's output uses, named one by one: `--all-features` would also let Binaryen 132 write
# newer encodings (the compact import section) that wasmtime refuses.
WASM_OPT_FEATURES = ("--enable-exception-handling", "--enable-reference-types", "--enable-memory64",
                     "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
                     "--enable-nontrapping-float-to-int", "--enable-multivalue")
EXCEPTIONS = ("-mexception-handling", "-mllvm", "-wasm-enable-sjlj")


class ToolchainError(RuntimeError):
    """The toolchain is missing and cannot be installed here."""


@dataclass(frozen=True)
class Toolchain:
    version: int  # LLVM major version
    clang: Path
    wasm64: bool  # compiler-rt for wasm64 is installed
    wasm_opt: Path  # Binaryen's, from npm
    sysroot: Path  # Debian's wasi-libc seen as a sysroot
    shim: Path  # a folder with a no-op `wasm-opt`, first on clang's PATH
    identity: str  # `clang --version` and `wasm-opt --version`, part of every cache key

    @property
    def wasm64_sjlj(self) -> bool:
        """Whether setjmp/longjmp lowering works on wasm64 (LLVM 14's calls malloc with an i32 and
        wasm-ld links a trapping stub)."""
        return self.wasm64 and self.version >= 16

    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": f"{self.shim}{os.pathsep}{os.environ.get('PATH', '')}"}


# --- locks and processes --------------------------------------------------------------------


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock shared by every test worker on this machine."""
    with open(Path(tempfile.gettempdir()) / f"aonode-tests-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(cmd: Sequence[str | Path], what: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    if done.returncode != 0:
        raise ToolchainError(f"{what} failed ({done.returncode}): {' '.join(map(str, cmd))}\n"
                             f"{(done.stderr or done.stdout).strip()[-3000:]}")
    return done


# --- the toolchain --------------------------------------------------------------------------


def _llvm(version: int) -> tuple[Path, bool, bool]:
    """clang of `version`, and whether it can link wasm32 and wasm64 (wasm-ld, compiler-rt)."""
    base = Path(f"/usr/lib/llvm-{version}")
    clang, lld = base / "bin" / "clang", base / "bin" / "wasm-ld"
    if not (clang.exists() and lld.exists()):
        return clang, False, False
    rt = list((base / "lib" / "clang").glob("*/lib/wasi"))
    has = {arch: any((d / f"libclang_rt.builtins-{arch}.a").exists() for d in rt) for arch in ("wasm32", "wasm64")}
    return clang, has["wasm32"], has["wasm64"]


def _wasi_libc() -> bool:
    return (WASI_LIB / "libc.a").exists() and (WASI_INCLUDE / "stdio.h").exists()


def _pick(need_wasm64: bool) -> int | None:
    if not _wasi_libc():
        return None
    for version in VERSIONS:
        _, wasm32, wasm64 = _llvm(version)
        if wasm32 and (wasm64 or not need_wasm64):
            return version
    return None


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        raise ToolchainError("not root and no sudo")
    return subprocess.run([*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", *args],
                          capture_output=True, text=True, timeout=1800)


def _apt_knows(package: str) -> bool:
    return subprocess.run(["apt-cache", "show", package], capture_output=True).returncode == 0


def _install_llvm() -> None:
    """apt-get install clang, lld, compiler-rt for wasm32/wasm64 and wasi-libc (16, else 14)."""
    if shutil.which("apt-get") is None:
        raise ToolchainError("apt-get is not available")
    if not any(_apt_knows(f"clang-{v}") for v in APT_CHOICES):
        _apt("update", "-q")
    version = next((v for v in APT_CHOICES if _apt_knows(f"clang-{v}")), None)
    if version is None:
        raise ToolchainError(f"apt knows none of {', '.join(f'clang-{v}' for v in APT_CHOICES)}")
    packages = [f"clang-{version}", f"lld-{version}", f"libclang-rt-{version}-dev-wasm32",
                f"libclang-rt-{version}-dev-wasm64", "wasi-libc"]
    done = _apt("install", "-y", "-q", "--no-install-recommends", *packages)
    if done.returncode != 0:  # stale package lists: update and try again
        _apt("update", "-q")
        done = _apt("install", "-y", "-q", "--no-install-recommends", *packages)
    if done.returncode != 0:
        raise ToolchainError(f"apt-get install {' '.join(packages)} failed: {done.stderr.strip()[-1500:]}")


def _ensure_llvm() -> int:
    forced = os.environ.get("AONODE_WASM_CLANG")  # e.g. 14: build with that version only
    if forced:
        _, wasm32, _ = _llvm(int(forced))
        if not (wasm32 and _wasi_libc()):
            raise ToolchainError(f"AONODE_WASM_CLANG={forced}: clang-{forced}, lld-{forced}, "
                                 f"libclang-rt-{forced}-dev-wasm32 or wasi-libc is not installed")
        return int(forced)
    version = _pick(need_wasm64=True)
    if version is not None:
        return version
    with _locked("apt"):
        version = _pick(need_wasm64=True)
        if version is not None:
            return version
        try:
            _install_llvm()
        except ToolchainError as exc:
            fallback = _pick(need_wasm64=False)
            if fallback is not None:
                return fallback  # wasm32 only; the wasm64 tests say so
            raise ToolchainError(
                "The WASM tests compile C with clang. Install it with `sudo apt-get install clang-16 lld-16 "
                "libclang-rt-16-dev-wasm32 libclang-rt-16-dev-wasm64 wasi-libc` (or the -14 packages); "
                f"installing them here was not possible: {exc}") from None
    version = _pick(need_wasm64=True) or _pick(need_wasm64=False)
    if version is None:
        raise ToolchainError("clang, wasm-ld, compiler-rt for wasm or wasi-libc are missing after apt-get install")
    return version


def _ensure_wasm_opt() -> Path:
    """Binaryen's wasm-opt from npm: `npm ci` unless node_modules matches the lock file."""
    tool = HERE / "node_modules" / ".bin" / "wasm-opt"
    marker = HERE / "node_modules" / ".package-lock.json"
    lock_file = HERE / "package-lock.json"
    if tool.exists() and marker.exists() and marker.stat().st_mtime >= lock_file.stat().st_mtime:
        return tool
    for name in ("node", "npm"):
        if shutil.which(name) is None:
            raise ToolchainError(f"{name} is needed for Binaryen's wasm-opt (npm install binaryen); install Node.js")
    with _locked("npm"):
        if not (tool.exists() and marker.exists() and marker.stat().st_mtime >= lock_file.stat().st_mtime):
            _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], "npm ci (binaryen)", cwd=HERE)
    return tool


def _sysroot() -> Path:
    """Debian's wasi-libc behind a folder of its own, so that clang does not see /usr/include."""
    root = CACHE / "sysroot"
    for kind, target in (("include", WASI_INCLUDE), ("lib", WASI_LIB)):
        link = root / kind / "wasm32-wasi"
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                link.symlink_to(target)
    return root


def _shim() -> Path:
    folder = CACHE / "shim"
    tool = folder / "wasm-opt"
    if not tool.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"wasm-opt.{os.getpid()}"
        partial.write_text("#!/bin/sh\n# no-op: clang's driver must not post-process its output\nexit 0\n")
        partial.chmod(0o755)
        os.replace(partial, tool)
    return folder


@functools.lru_cache(maxsize=1)
def toolchain() -> Toolchain:
    """The tools, installed when missing (raises ToolchainError when that is not possible)."""
    version = _ensure_llvm()
    wasm_opt = _ensure_wasm_opt()
    clang, _, wasm64 = _llvm(version)
    identity = (_run([clang, "--version"], "clang --version").stdout.splitlines()[0] + " / "
                + _run([wasm_opt, "--version"], "wasm-opt --version").stdout.strip())
    return Toolchain(version, clang, wasm64, wasm_opt, _sysroot(), _shim(), identity)


# --- building ---------------------------------------------------------------------------------


def _key(*parts: object, files: Sequence[Path] = ()) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _cached(name: str, key: str, make: Callable[[Path], None]) -> Path:
    """`CACHE/<name>-<key>.wasm`, made by `make(target)` unless it exists."""
    target = CACHE / f"{name}-{key}.wasm"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(f"wasm-c-{name}"):
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            make(partial)
            os.replace(partial, target)
    return target


def _check_arch(arch: str) -> Toolchain:
    tools = toolchain()
    if arch not in ("wasm32", "wasm64"):
        raise ValueError(f"arch must be wasm32 or wasm64, not {arch!r}")
    if arch == "wasm64" and not tools.wasm64:
        raise ToolchainError(f"clang-{tools.version} has no compiler-rt for wasm64 "
                             f"(apt-get install libclang-rt-{tools.version}-dev-wasm64)")
    return tools


def build(name: str, sources: Sequence[str], *, arch: str = "wasm32", flags: Sequence[str] = (),
          wasi: bool = False) -> Path:
    """Compile and link `sources` (files in src/) with `flags` into a cached module."""
    tools = _check_arch(arch)
    files = [SRC / s for s in sources]
    if wasi:
        if arch != "wasm32":
            raise ToolchainError("Debian's wasi-libc is wasm32 only")
        target = ["--target=wasm32-wasi", f"--sysroot={tools.sysroot}", "-mexec-model=reactor", "-Wl,--strip-debug"]
    else:
        target = [f"--target={arch}-unknown-unknown"]
    cmd = [str(tools.clang), *target, "-O2", *flags]
    key = _key(tools.identity, cmd[1:], files=[*files, *sorted((SRC / "compat").iterdir())])

    def make(out: Path) -> None:
        _run([*cmd, "-o", out, *files], f"building {name}", cwd=SRC, env=tools.env())

    return _cached(f"{name}-{arch}", key, make)


def exnref(module: Path) -> Path:
    """`module` with its legacy exception opcodes translated (`wasm-opt --translate-to-exnref`)."""
    tools = toolchain()
    key = _key(tools.identity, WASM_OPT_FEATURES, files=[module])

    def make(out: Path) -> None:
        _run([tools.wasm_opt, *WASM_OPT_FEATURES, "--translate-to-exnref", "--strip-debug", module, "-o", out],
             f"wasm-opt --translate-to-exnref {module.name}")

    return _cached(module.stem.rsplit("-", 1)[0] + "-exnref", key, make)


def freestanding(arch: str = "wasm32") -> Path:
    return build("freestanding", ["freestanding.c", "tiny_malloc.c"], arch=arch, flags=FREESTANDING)


def wasi_write(arch: str = "wasm32") -> Path:
    return build("wasi-write", ["wasi_write.c"], arch=arch, flags=FREESTANDING)


def em_heap(arch: str = "wasm32") -> Path:
    return build("em-heap", ["em_heap.c", "em_sbrk.c"], arch=arch, flags=FREESTANDING)


def hello_libc() -> Path:
    return build("hello-libc", ["hello_libc.c"], wasi=True)


def libc_files() -> Path:
    return build("libc-files", ["libc_files.c"], wasi=True)


def sjlj_wasm(arch: str = "wasm32") -> Path:
    tools = _check_arch(arch)
    if arch == "wasm64" and not tools.wasm64_sjlj:
        raise ToolchainError(f"clang-{tools.version} lowers setjmp/longjmp wrongly for wasm64 (use clang-16+)")
    return build("sjlj-wasm", ["sjlj_test.c", "wasm_sjlj_rt.c", "tiny_malloc.c"], arch=arch,
                 flags=[*FREESTANDING, *EXCEPTIONS])


def sjlj_emscripten(arch: str = "wasm32", *, host_longjmp: bool = False) -> Path:
    flags = [*FREESTANDING, "-mllvm", "-enable-emscripten-sjlj", "-mmutable-globals", "-Wl,--export-table",
             "-Wl,--export=stackSave", "-Wl,--export=stackRestore"]
    if host_longjmp:
        flags += ["-DHOST_LONGJMP", "-Wl,--allow-undefined"]
    return build("sjlj-emscripten-host" if host_longjmp else "sjlj-emscripten",
                 ["sjlj_test.c", "em_sjlj_rt.c", "em_stack_ops.S", "tiny_malloc.c"], arch=arch, flags=flags)


# --- the Lua process --------------------------------------------------------------------------


def _lupa_sdist() -> Path:
    """lupa's sdist (for the Lua 5.3 sources it bundles), from PyPI, cached under .cache/."""
    tarball = ROOT / ".cache" / f"lupa-{LUPA_VERSION}.tar.gz"
    if tarball.exists():
        return tarball
    import httpx

    with _locked("lupa-sdist"):
        if tarball.exists():
            return tarball
        try:
            found = httpx.get(LUPA_JSON, timeout=60, follow_redirects=True)
            if found.status_code == 404:  # some mirrors only serve the project's page: its `releases`
                found = httpx.get(LUPA_PROJECT_JSON, timeout=60, follow_redirects=True)
                files = found.raise_for_status().json()["releases"][LUPA_VERSION]
            else:
                files = found.raise_for_status().json()["urls"]
            [sdist] = [u for u in files if u["packagetype"] == "sdist"]
            data = httpx.get(sdist["url"], timeout=300, follow_redirects=True).raise_for_status().content
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise ToolchainError(f"could not download lupa {LUPA_VERSION}'s sdist from PyPI: {exc}") from None
        if hashlib.sha256(data).hexdigest() != sdist["digests"]["sha256"]:
            raise ToolchainError(f"{sdist['url']}: SHA-256 does not match PyPI's")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, tarball)
    return tarball


def _lua_sources() -> Path:
    """The Lua 5.3 folder of lupa's sdist, extracted (only its .c and .h files) into the cache."""
    tarball = _lupa_sdist()
    folder = CACHE / f"lua53-{_key(files=[tarball])}"
    if (folder / "lua.h").exists():
        return folder
    with _locked("lua-sources"):
        if not (folder / "lua.h").exists():
            prefix = f"lupa-{LUPA_VERSION}/third-party/lua53/"
            partial = folder.with_name(folder.name + f".{os.getpid()}.tmp")
            partial.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tarball) as tar:
                for member in tar.getmembers():
                    name = member.name[len(prefix):] if member.name.startswith(prefix) else ""
                    if member.isfile() and re.fullmatch(r"[a-z0-9_]+\.[ch]", name):
                        source = tar.extractfile(member)
                        assert source is not None
                        (partial / name).write_bytes(source.read())
            if not (partial / "lua.h").exists():
                raise ToolchainError(f"{tarball.name} has no {prefix}lua.h")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(partial, folder)
    return folder


def _c_string(name: str, data: bytes) -> str:
    """`static const char <name>[] = {...};` holding `data` and a NUL."""
    out = io.StringIO()
    out.write(f"/* generated by tests/wasm_c/build.py */\nstatic const char {name}[] = {{\n")
    for i in range(0, len(data), 20):
        out.write("".join(f"{b}," for b in data[i:i + 20]) + "\n")
    out.write("0};\n")
    return out.getvalue()


LUA_FLAGS = ("-std=c99", "-DLUA_COMPAT_5_2", "-D_WASI_EMULATED_SIGNAL", "-D_WASI_EMULATED_PROCESS_CLOCKS",
             *EXCEPTIONS, "-Wno-deprecated-declarations", "-Wno-string-plus-int")
# A 1 MiB shadow stack placed below the data (--stack-first): an overflow traps instead of
# overwriting the heap.
LUA_LINK = ("-lwasi-emulated-signal", "-lwasi-emulated-process-clocks", "-Wl,-z,stack-size=1048576",
            "-Wl,--stack-first", "-Wl,--strip-debug")


def lua_process() -> Path:
    """The AOS-style Lua process module (wasm32-wasi; legacy exception form)."""
    tools = toolchain()
    lua = _lua_sources()
    core = sorted(p for p in lua.glob("*.c") if p.name not in ("lua.c", "luac.c", "onelua.c", "ltests.c"))
    ours = [SRC / "lua_handle.c", SRC / "wasm_sjlj_rt.c", SRC / "wasi_stubs.c", SRC / "em_sbrk.c",
            SRC / "instance_calls.S"]
    process = SRC / "process.lua"
    target = ["--target=wasm32-wasi", f"--sysroot={tools.sysroot}"]
    key = _key(tools.identity, target, LUA_FLAGS, LUA_LINK,
               files=[*core, *sorted(lua.glob("*.h")), *ours, process, *sorted((SRC / "compat").iterdir())])

    def make(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="wasm-c-lua-") as tmp:
            work = Path(tmp)
            (work / "process_lua.h").write_text(_c_string("PROCESS_LUA", process.read_bytes()))
            cflags = [*target, "-O2", *LUA_FLAGS, f"-I{SRC / 'compat'}", f"-I{lua}", f"-I{work}",
                      "-include", str(SRC / "compat" / "lua_wasi.h")]

            def compile_one(source: Path) -> Path:
                obj = work / f"{source.stem}.o"
                _run([tools.clang, *cflags, "-c", source, "-o", obj], f"compiling {source.name}", env=tools.env())
                return obj

            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                objects = list(pool.map(compile_one, [*core, *ours]))
            _run([tools.clang, *target, "-mexec-model=reactor", "-O2", *objects, *LUA_LINK, "-o", out],
                 "linking the Lua process", env=tools.env())

    return _cached("lua-process-wasm32", key, make)


def main() -> None:
    started = time.monotonic()
    tools = toolchain()
    print(f"toolchain: {tools.identity} (clang-{tools.version}, wasm64: {tools.wasm64}) "
          f"{time.monotonic() - started:.1f}s")
    archs = ["wasm32", "wasm64"] if tools.wasm64 else ["wasm32"]
    steps: list[tuple[str, Callable[[], Path]]] = []
    for arch in archs:
        steps += [(f"freestanding {arch}", lambda a=arch: freestanding(a)),
                  (f"wasi_write {arch}", lambda a=arch: wasi_write(a)),
                  (f"em_heap {arch}", lambda a=arch: em_heap(a)),
                  (f"sjlj_emscripten {arch}", lambda a=arch: sjlj_emscripten(a)),
                  (f"sjlj_emscripten host {arch}", lambda a=arch: sjlj_emscripten(a, host_longjmp=True))]
        if arch == "wasm32" or tools.wasm64_sjlj:
            steps.append((f"sjlj_wasm {arch} (exnref)", lambda a=arch: exnref(sjlj_wasm(a))))
    steps += [("hello_libc", hello_libc), ("libc_files", libc_files), ("lua_process", lua_process),
              ("lua_process (exnref)", lambda: exnref(lua_process()))]
    for label, step in steps:
        begun = time.monotonic()
        path = step()
        print(f"{label}: {path.relative_to(ROOT)} {path.stat().st_size} B {time.monotonic() - begun:.1f}s")


if __name__ == "__main__":
    try:
        main()
    except ToolchainError as exc:
        sys.exit(str(exc))
