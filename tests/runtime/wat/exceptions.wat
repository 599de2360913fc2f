;; WASM exceptions in the standard (exnref) form: thrown and caught inside the module, and one
;; that escapes to the host.
(module
  (tag $oops (param i32))
  (func $thrower (param i32)
    (throw $oops (local.get 0)))
  (func (export "catch_it") (param i32) (result i32)
    (block $caught (result i32)
      (try_table (catch $oops $caught)
        (call $thrower (local.get 0)))
      (i32.const -1)))
  (func (export "escape") (param i32)
    (call $thrower (local.get 0)))
)
