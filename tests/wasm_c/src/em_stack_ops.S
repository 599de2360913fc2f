# stackSave/stackRestore for the emscripten-style sjlj fixture: the host saves the shadow stack
# pointer before an invoke_* call and restores it when a longjmp unwound through the call.
#ifdef __wasm64__
#define PTR i64
#else
#define PTR i32
#endif

.globaltype __stack_pointer, PTR

.globl stackSave
.type stackSave,@function
stackSave:
  .functype stackSave () -> (PTR)
  global.get __stack_pointer
  end_function

.globl stackRestore
.type stackRestore,@function
stackRestore:
  .functype stackRestore (PTR) -> ()
  local.get 0
  global.set __stack_pointer
  end_function
