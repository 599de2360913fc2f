/* What the Lua process uses instead of files, the environment and a shell (see compat/lua_wasi.h),
 * and the libc functions Lua 5.3 references that Debian's wasi-libc does not define. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

FILE *aonode_no_fopen(const char *path, const char *mode) {
  (void)path;
  (void)mode;
  errno = EACCES;
  return NULL;
}

FILE *aonode_no_freopen(const char *path, const char *mode, FILE *stream) {
  (void)stream;
  return aonode_no_fopen(path, mode);
}

int aonode_no_remove(const char *path) {
  (void)path;
  errno = EACCES;
  return -1;
}

int aonode_no_rename(const char *from, const char *to) {
  (void)to;
  return aonode_no_remove(from);
}

char *aonode_no_getenv(const char *name) {
  (void)name;
  return NULL;
}

FILE *tmpfile(void) { /* io.tmpfile() -> nil, error */
  errno = ENOTSUP;
  return NULL;
}

int system(const char *cmd) { /* os.execute() -> no shell */
  return cmd ? -1 : 0;
}
