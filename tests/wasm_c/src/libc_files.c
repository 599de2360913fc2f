/* wasi-libc with file access: linking fopen brings in wasi-libc's preopen scan, a constructor run by
 * _initialize that calls fd_prestat_get(3), fd_prestat_get(4), ... until the host answers EBADF. */
#include <errno.h>
#include <stdio.h>

__attribute__((export_name("open_file"))) int open_file(void) {
  FILE *f = fopen("/data/missing.txt", "r");
  if (f) {
    fclose(f);
    return 0;
  }
  return errno;
}
