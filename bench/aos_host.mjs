// A bare Node.js (V8) host of the AOS-style Lua process module, for bench/aos.py.
//
//     node bench/aos_host.mjs MODULE.wasm MSG.json ENV.json MESSAGES [WARMUP]
//
// One instance, kept live: `_initialize`, then WARMUP untimed and MESSAGES timed messages, each
// the same JSON write / handle / read as json-iface@1.0 does: the message and the env (bytes
// encoded once, as the Python side does) are copied into memory the module's `malloc` gave,
// with a NUL; `handle(msg, env)` runs (it frees them); the NUL-terminated answer it returns is
// decoded and parsed with JSON.parse. WASI imports are stubs: fd_write discards the output (and
// says it wrote it all), clock_time_get answers errno 1, fd_prestat_get EBADF, environ/args
// sizes zero, proc_exit throws; any other import returns 0.
//
// Prints one line of JSON: {"messages", "seconds", "per_s", "handle_us", "last"} (`handle_us`: the
// mean time inside `handle` of the timed messages; `last`: the last answer's `response`).
import { readFileSync } from "node:fs";

const [modulePath, msgPath, envPath, countText, warmupText = "0"] = process.argv.slice(2);
const count = Number(countText);
const warmup = Number(warmupText);

const module = new WebAssembly.Module(readFileSync(modulePath));
let memory = null;
let bytes = null;

function view() {
  if (bytes === null || bytes.buffer !== memory.buffer) bytes = new Uint8Array(memory.buffer);
  return bytes;
}

class ProcExit extends Error {}

const EBADF = 8;
const wasi = {
  fd_write(fd, iovs, iovsLen, nwritten) {
    const data = new DataView(memory.buffer);
    let total = 0;
    for (let i = 0; i < iovsLen; i++) total += data.getUint32(iovs + 8 * i + 4, true);
    data.setUint32(nwritten, total, true);
    return 0;
  },
  clock_time_get() { return 1; },
  fd_prestat_get() { return EBADF; },
  environ_sizes_get(count, size) {
    const data = new DataView(memory.buffer);
    data.setUint32(count, 0, true);
    data.setUint32(size, 0, true);
    return 0;
  },
  args_sizes_get(count, size) { return wasi.environ_sizes_get(count, size); },
  proc_exit(code) { throw new ProcExit(`proc_exit(${code})`); },
};

// The module's malloc asks the host to grow the heap (emscripten's JavaScript does it so): grow
// the memory to the requested size, as aonode's WASM host does.
const emscripten = {
  emscripten_resize_heap(requested) {
    const missing = requested - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return 1;
  },
};

const imports = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind !== "function") throw new Error(`cannot provide ${imp.module}.${imp.name} (${imp.kind})`);
  imports[imp.module] ??= {};
  imports[imp.module][imp.name] = (imp.module === "wasi_snapshot_preview1" && wasi[imp.name])
    || (imp.module === "env" && emscripten[imp.name]) || (() => 0);
}

const instance = new WebAssembly.Instance(module, imports);
const { malloc, handle, _initialize } = instance.exports;
memory = instance.exports.memory;
if (_initialize) _initialize();

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const msg = encoder.encode(readFileSync(msgPath, "utf8"));
const env = encoder.encode(readFileSync(envPath, "utf8"));

function writeString(data) {
  const pointer = malloc(data.length + 1);
  if (!pointer) throw new Error("malloc failed");
  const mem = view();
  mem.set(data, pointer);
  mem[pointer + data.length] = 0;
  return pointer;
}

function readString(pointer) {
  const mem = view();
  const end = mem.indexOf(0, pointer);
  if (end < 0) throw new Error("no NUL before the end of memory");
  return decoder.decode(mem.subarray(pointer, end));
}

let handleNs = 0n; // time inside `handle` alone

function one() {
  const msgPtr = writeString(msg);
  const envPtr = writeString(env);
  const entered = process.hrtime.bigint();
  const pointer = handle(msgPtr, envPtr);
  handleNs += process.hrtime.bigint() - entered;
  const answer = JSON.parse(readString(pointer));
  if (answer.ok !== true) throw new Error(`handle answered ${JSON.stringify(answer)}`);
  return answer;
}

let last = null;
for (let i = 0; i < warmup; i++) last = one();
handleNs = 0n;
const started = process.hrtime.bigint();
for (let i = 0; i < count; i++) last = one();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const handleUs = Number(handleNs) / 1000 / count;
console.log(JSON.stringify({ messages: count, seconds, per_s: count / seconds, handle_us: handleUs, last: last.response }));
