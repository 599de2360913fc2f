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

static uint32_t temp_ret0;
uint32_t getTempRet0(void) { return temp_ret0; }
void setTempRet0(uint32_t v) { temp_ret0 = v; }

#if __clang_major__ >= 19
/* LLVM >= 19: the jmp_buf holds {function invocation id, label} */
struct jmp_impl { void *fid; uint32_t label; };
void __wasm_setjmp(void *env, uint32_t label, void *fid) {
  struct jmp_impl *jb = (struct jmp_impl *)env;
  jb->fid = fid;
  jb->label = label;
}
uint32_t __wasm_setjmp_test(void *env, void *fid) {
  struct jmp_impl *jb = (struct jmp_impl *)env;
  return jb->fid == fid ? jb->label : 0;
}
#else
/* LLVM 14-18: a per-function table of {setjmp id, label}, grown with realloc */
void *realloc(void *p, size_t n);
static uintptr_t setjmp_id;
typedef struct { uintptr_t id; uint32_t label; } table_entry;
table_entry *saveSetjmp(uintptr_t *env, uint32_t label, table_entry *table, uint32_t size) {
  *env = ++setjmp_id;
  for (uint32_t i = 0; i < size; i++)
    if (table[i].id == 0) {
      table[i].id = setjmp_id;
      table[i].label = label;
      table[i + 1].id = 0;
      temp_ret0 = size;
      return table;
    }
  size *= 2;
  table = (table_entry *)realloc(table, sizeof(table_entry) * (size + 1));
  uint32_t i = size / 2;
  table[i].id = setjmp_id;
  table[i].label = label;
  table[i + 1].id = 0;
  temp_ret0 = size;
  return table;
}
uint32_t testSetjmp(uintptr_t id, table_entry *table, uint32_t size) {
  for (uint32_t i = 0; i < size && table[i].id; i++)
    if (table[i].id == id) return table[i].label;
  return 0;
}
#endif
