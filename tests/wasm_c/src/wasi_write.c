/* WASI output without a libc: fd_write with two iovecs to stdout (fd 1) or any fd. Pointers and
 * lengths are size_t wide, so on wasm64 the import's signature is (iIII)i and the iovecs are 16 bytes. */
#include <stddef.h>
#include <stdint.h>

typedef struct { const void *buf; size_t len; } ciovec;

__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
extern int32_t fd_write(int32_t fd, const ciovec *iovs, size_t count, size_t *written);

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

/* writes "hello from C #<n>\n" to `fd`; the byte count the host reported, or -errno */
__attribute__((export_name("greet"))) int64_t greet(int32_t fd, int32_t n) {
  static char digits[12];
  char *d = digits + sizeof digits;
  *--d = '\n';
  do { *--d = (char)('0' + n % 10); n /= 10; } while (n > 0);
  static const char prefix[] = "hello from C #";
  ciovec iovs[2] = {{prefix, sizeof prefix - 1}, {d, length(d)}};
  size_t written = 0;
  int32_t err = fd_write(fd, iovs, 2, &written);
  return err ? -(int64_t)err : (int64_t)written;
}
