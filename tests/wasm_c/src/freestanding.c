/* Freestanding C (no libc) for wasm32 and wasm64: arithmetic, a host import, memory growth,
 * state kept in linear memory (for snapshots) and an endless loop (for fuel). */
#include <stddef.h>
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

void *malloc(size_t n); /* tiny_malloc.c */

__attribute__((import_module("env"), import_name("host_add"))) extern int32_t host_add(int32_t a, int32_t b);

EXPORT("add") int32_t add(int32_t a, int32_t b) { return a + b; }
EXPORT("mul64") int64_t mul64(int64_t a, int64_t b) { return a * b; }
EXPORT("half") double half(double x) { return x / 2; }

EXPORT("sum_to") int64_t sum_to(int32_t n) {
  int64_t s = 0;
  for (int32_t i = 1; i <= n; i++) s += i;
  return s;
}

EXPORT("call_host") int32_t call_host(int32_t a, int32_t b) { return host_add(a, b) * 2; }

/* memory.grow by `pages`: the previous size in pages, or -1 */
EXPORT("grow") intptr_t grow(intptr_t pages) { return (intptr_t)__builtin_wasm_memory_grow(0, (size_t)pages); }
EXPORT("mem_pages") intptr_t mem_pages(void) { return (intptr_t)__builtin_wasm_memory_size(0); }

/* fill n bytes at `off` with 0, 1, 2, ... and sum them back (pointer width, growth) */
EXPORT("poke_sum") int64_t poke_sum(uintptr_t off, int32_t n) {
  volatile uint8_t *p = (uint8_t *)off;
  int64_t s = 0;
  for (int32_t i = 0; i < n; i++) p[i] = (uint8_t)i;
  for (int32_t i = 0; i < n; i++) s += p[i];
  return s;
}

/* a linked list on the heap: what a snapshot must carry */
struct node { struct node *next; int64_t value; };
static struct node *head;
static int32_t count;

EXPORT("remember") int32_t remember(int64_t value) {
  struct node *n = malloc(sizeof *n);
  if (!n) return -1;
  n->value = value;
  n->next = head;
  head = n;
  return ++count;
}

EXPORT("recall") int64_t recall(void) { /* sum of value * position, so order matters */
  int64_t s = 0, i = count;
  for (struct node *n = head; n; n = n->next) s += n->value * i--;
  return s;
}

static volatile int64_t spins;
EXPORT("forever") void forever(void) {
  for (;;) spins++;
}
