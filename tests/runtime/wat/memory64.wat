;; A memory64 module: 64-bit addresses.
(module
  (memory (export "memory") i64 1)
  (func (export "store") (param i64 i32)
    (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i64) (result i32)
    (i32.load (local.get 0)))
  (func (export "grow") (param i64) (result i64)
    (memory.grow (local.get 0)))
)
