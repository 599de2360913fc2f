;; emscripten's heap growth as an AOS module asks for it: the host grows the memory
;; (env.emscripten_resize_heap, size_t: i32 here) and may be told it grew.
(module
  (import "env" "emscripten_resize_heap" (func $resize (param i32) (result i32)))
  (import "env" "emscripten_notify_memory_growth" (func $notify (param i32)))
  (memory (export "memory") 1)
  (func (export "resize") (param i32) (result i32)
    (call $resize (local.get 0)))
  (func (export "notify")
    (call $notify (i32.const 0)))
  (func (export "pages") (result i32)
    (memory.size))
)
