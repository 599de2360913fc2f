/* sbrk the emscripten way: the heap grows by asking the host with `env.emscripten_resize_heap`
 * (emscripten's JavaScript runtime serves it with WebAssembly.Memory.grow, and so does aonode's
 * WASM host), never with memory.grow in the module. This is how an AOS module's malloc gets
 * memory beyond its initial pages. The break starts at the end of the initial memory (wasi-libc's
 * malloc already owns what is below it) and moves by any number of bytes; the host may grow the
 * memory by more than asked (emscripten over-grows by up to 20%), which later calls use. */
#include <stddef.h>
#include <stdint.h>
#ifdef __wasi__
#include <errno.h>
#endif

__attribute__((import_module("env"), import_name("emscripten_resize_heap")))
extern int emscripten_resize_heap(size_t requested);

static uintptr_t brk_end;

void *sbrk(intptr_t increment) {
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
  if (!brk_end) brk_end = have;
  uintptr_t old = brk_end, end = old + (uintptr_t)increment;
  if (increment < 0 || end < old || (end > have && !emscripten_resize_heap(end))) {
#ifdef __wasi__
    errno = ENOMEM;
#endif
    return (void *)-1;
  }
  brk_end = end;
  return (void *)old;
}
