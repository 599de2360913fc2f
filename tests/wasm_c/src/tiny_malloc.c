/* A bump allocator for the freestanding fixtures (free does nothing; realloc copies).
 * Exported, so that the host can write strings into the module's memory. */
#include <stddef.h>
#include <stdint.h>

extern unsigned char __heap_base;
static uintptr_t brk_ptr;

__attribute__((export_name("malloc"))) void *malloc(size_t n) {
  if (!brk_ptr) brk_ptr = (uintptr_t)&__heap_base;
  uintptr_t p = (brk_ptr + 15) & ~(uintptr_t)15;
  uintptr_t end = p + n;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return 0;
  brk_ptr = end;
  return (void *)p;
}

__attribute__((export_name("free"))) void free(void *p) { (void)p; }

void *realloc(void *old, size_t n) {
  unsigned char *p = malloc(n);
  if (old && p)
    for (size_t i = 0; i < n; i++) p[i] = ((unsigned char *)old)[i]; /* over-reading is fine in a bump heap */
  return p;
}
