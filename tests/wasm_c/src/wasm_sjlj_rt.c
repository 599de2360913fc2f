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

#if __clang_major__ >= 19
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
void *realloc(void *p, size_t n);
static uint32_t temp_ret0;
static uintptr_t setjmp_id;
typedef struct { uintptr_t id; uint32_t label; } table_entry;
uint32_t getTempRet0(void) { return temp_ret0; }
void setTempRet0(uint32_t v) { temp_ret0 = v; }
table_entry *saveSetjmp(uintptr_t *env, uint32_t label, table_entry *table, uint32_t size) {
  *env = ++setjmp_id;
  for (uint32_t i = 0; i < size; i++) {
    if (table[i].id == 0) {
      table[i].id = setjmp_id;
      table[i].label = label;
      table[i + 1].id = 0;           // table has size+1 slots
      temp_ret0 = size;
      return table;
    }
  }
  size *= 2;
  table = (table_entry *)realloc(table, sizeof(table_entry) * (size + 1));
  uint32_t i = size / 2;
  table[i].id = setjmp_id; table[i].label = label; table[i + 1].id = 0;
  temp_ret0 = size;
  return table;
}
uint32_t testSetjmp(uintptr_t id, table_entry *table, uint32_t size) {
  for (uint32_t i = 0; i < size; i++) {
    if (table[i].id == 0) break;
    if (table[i].id == id) return table[i].label;
  }
  return 0;
}
#endif
