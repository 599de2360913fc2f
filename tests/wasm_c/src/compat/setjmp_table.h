/* The setjmp bookkeeping LLVM's two setjmp/longjmp lowerings call (the emscripten-style one,
 * em_sjlj_rt.c, and the WASM-exception one, wasm_sjlj_rt.c): where a setjmp's label is kept and
 * found again. Included by both. */
#ifndef AONODE_SETJMP_TABLE_H
#define AONODE_SETJMP_TABLE_H
#include <stddef.h>
#include <stdint.h>

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

#endif
