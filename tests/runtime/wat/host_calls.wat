;; Host calls: a loop on an import, emscripten's JavaScript memcpy, an import returning a double
;; (aonode's WASM host tests).
(module
  (import "env" "tick" (func $tick))
  (import "env" "_emscripten_memcpy_js" (func $memcpy (param i32 i32 i32)))
  (import "env" "now" (func $now (result f64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func (export "spin")
    (loop $again (call $tick) (br $again)))
  (func (export "copy") (param i32 i32 i32)
    (call $memcpy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "now") (result f64)
    (call $now))
)
