/* Force-included into every C file of the Lua process (wasm32-wasi).
 *
 * A process has no files and no environment: Lua's file and environment functions are renamed to
 * stubs (wasi_stubs.c) that fail. This also keeps wasi-libc's preopen scan out of the module: that
 * constructor calls fd_prestat_get(3, 4, ...) until the host answers EBADF, and a host that
 * answers unknown imports with 0 (wasm-64@1.0 does) would make it loop forever. */
#define LUA_TMPNAMBUFSIZE 32
#define lua_tmpnam(b, e) { (void)(b); e = 1; }   /* os.tmpname() -> error */
#define fopen aonode_no_fopen                       /* io.open, loadfile, dofile, require -> nil, error */
#define freopen aonode_no_freopen
#define remove aonode_no_remove                     /* os.remove, os.rename -> nil, error */
#define rename aonode_no_rename
#define getenv aonode_no_getenv                     /* os.getenv, LUA_PATH -> nil */
