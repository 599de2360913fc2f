// Runtime helpers for LLVM's Wasm-EH based setjmp/longjmp lowering (-mllvm -wasm-enable-sjlj).
// Written from the call protocol visible in the generated code.
//  * LLVM >= 19: __wasm_setjmp(env,label,fid) / __wasm_setjmp_test(env,fid) / __wasm_longjmp(env,val)
//  * LLVM 14..18: saveSetjmp(env,label,table,size) + getTempRet0() / testSetjmp(id,table,size)
//                 / __wasm_longjmp(env,val); the lowered code malloc()s/free()s the table.
// __wasm_longjmp throws the __c_longjmp tag (clang tag index 1) with a pointer to {env,val}.
#include <stdint.h>
#include <stddef.h>

struct wasm_longjmp_args { void *env; int val; };
static struct wasm_longjmp_args longjmp_args;   // single-threaded module

__attribute__((noreturn)) void __wasm_longjmp(void *env, int val) {
  longjmp_args.env = env;
  longjmp_args.val = val == 0 ? 1 : val;
  __builtin_wasm_throw(1, &longjmp_args);
}

#include "compat/setjmp_table.h"
