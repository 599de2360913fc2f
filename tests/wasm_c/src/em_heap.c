/* A module whose heap grows the emscripten way (em_sbrk.c), for wasm32 and wasm64, with the
 * legacy loader's handle(msg, env) and WASI output (fd_write), freestanding (no libc).
 *
 *   malloc/free          a bump allocator over sbrk (free does nothing)
 *   fill(n)              allocate n bytes and fill them: their sum, or -1 when malloc failed
 *   heap_size()          the memory's size in bytes
 *   handle(msg, env)     keeps four copies of `msg` (a process state that grows with every
 *                        message) and answers {"ok":true,"response":{"Output":{"data":"<bytes
 *                        kept>"}}}; when memory runs out it does what the AOS module does: says
 *                        "not enough memory for buffer allocation" on stderr and answers
 *                        something that is not JSON.
 * Every failed allocation is reported on stderr. */
#include <stddef.h>
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

void *sbrk(intptr_t increment); /* em_sbrk.c */

typedef struct { const void *buf; size_t len; } ciovec;

__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
extern int32_t fd_write(int32_t fd, const ciovec *iovs, size_t count, size_t *written);

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void say(int32_t fd, const char *s) {
  ciovec iov = {s, length(s)};
  size_t written = 0;
  fd_write(fd, &iov, 1, &written);
}

EXPORT("malloc") void *malloc(size_t n) {
  void *p = sbrk((intptr_t)((n + 15) & ~(size_t)15));
  if (p == (void *)-1) {
    say(2, "not enough memory for buffer allocation\n");
    return 0;
  }
  return p;
}

EXPORT("free") void free(void *p) { (void)p; }

EXPORT("heap_size") size_t heap_size(void) { return __builtin_wasm_memory_size(0) * 65536; }

EXPORT("fill") int64_t fill(size_t n) {
  volatile uint8_t *p = malloc(n);
  if (!p) return -1;
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    p[i] = (uint8_t)i;
    sum += p[i];
  }
  say(1, "filled\n");
  return sum;
}

static size_t kept;
static char answer[96];
static const char not_json[] = "Error: not enough memory";

EXPORT("handle") char *handle(char *msg, char *env) {
  (void)env;
  size_t n = length(msg);
  for (int copy = 0; copy < 4; copy++) {
    char *p = malloc(n);
    if (!p) return (char *)not_json;
    for (size_t i = 0; i < n; i++) p[i] = msg[i];
    kept += n;
  }
  static const char head[] = "{\"ok\":true,\"response\":{\"Output\":{\"data\":\"", tail[] = "\"}}}";
  char digits[24], *d = digits + sizeof digits;
  *--d = 0;
  size_t k = kept;
  do { *--d = (char)('0' + k % 10); k /= 10; } while (k);
  char *out = answer;
  for (const char *s = head; *s; s++) *out++ = *s;
  for (; *d; d++) *out++ = *d;
  for (const char *s = tail; *s; s++) *out++ = *s;
  *out = 0;
  return answer;
}
