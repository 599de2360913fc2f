;; emscripten_resize_heap of a wasm64 (MEMORY64) module: size_t is an i64.
(module
  (import "env" "emscripten_resize_heap" (func $resize (param i64) (result i32)))
  (memory (export "memory") i64 1 4096)
  (func (export "resize") (param i64) (result i32)
    (call $resize (local.get 0)))
)
