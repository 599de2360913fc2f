/* WASI output through Debian's wasi-libc (wasm32-wasi reactor): printf to stdout. */
#include <stdio.h>

__attribute__((export_name("greet"))) int greet(int n) {
  int written = printf("hello from wasi-libc, %d squared is %d\n", n, n * n);
  fflush(stdout);
  return written;
}
