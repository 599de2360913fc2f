/* Minimal <setjmp.h> for wasm32-wasi builds using LLVM's Wasm-EH setjmp/longjmp lowering
 * (-mexception-handling -mllvm -wasm-enable-sjlj). Debian's wasi-libc (2022) ships no setjmp.h.
 * LLVM rewrites calls to setjmp/longjmp; the helpers live in wasm_sjlj_rt.c. */
#ifndef WASMTOOL_SETJMP_H
#define WASMTOOL_SETJMP_H
typedef unsigned long jmp_buf[4];  /* LLVM>=19 stores {fid,label}; LLVM 14-18 stores an id in [0] */
int setjmp(jmp_buf env) __attribute__((returns_twice));
void longjmp(jmp_buf env, int val) __attribute__((noreturn));
#define _setjmp setjmp
#define _longjmp longjmp
#endif
