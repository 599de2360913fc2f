/* The module side of LLVM's emscripten-style setjmp/longjmp lowering (-mllvm -enable-emscripten-sjlj):
 * the lowered code calls setjmp-protected functions through host imports `invoke_<sig>(index, ...)`
 * and checks __THREW__/__threwValue afterwards. The host's part: call table[index], and when a
 * longjmp unwinds through it, restore the stack pointer (stackSave/stackRestore, em_stack_ops.S)
 * and call setThrew(1, 0).
 *
 * longjmp itself becomes a call to emscripten_longjmp(env, val). Built with -DHOST_LONGJMP it is an
 * import (emscripten's older protocol: the host calls setThrew(env, val) and unwinds); otherwise it
 * is defined here as newer emscripten does: setThrew(env, val), then the host import
 * _emscripten_throw_longjmp() unwinds. */
#include <stddef.h>
#include <stdint.h>

uintptr_t __THREW__ = 0;
int __threwValue = 0;

__attribute__((export_name("setThrew"))) void setThrew(uintptr_t threw, int value) {
  if (__THREW__ == 0) {
    __THREW__ = threw;
    __threwValue = value;
  }
}

#ifndef HOST_LONGJMP
__attribute__((import_module("env"), import_name("_emscripten_throw_longjmp"), noreturn))
extern void _emscripten_throw_longjmp(void);

__attribute__((noreturn)) void emscripten_longjmp(uintptr_t env, int val) {
  setThrew(env, val);
  _emscripten_throw_longjmp();
}
#endif

#include "compat/setjmp_table.h"
