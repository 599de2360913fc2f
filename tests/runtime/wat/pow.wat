;; pow(base, exp) by an imported my_lib.mul; remembers the last result in memory at 0.
(module
  (import "my_lib" "mul" (func $mul (param i32 i32) (result i32)))
  (import "my_lib" "unserved" (func $unserved (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "pow") (param $base i32) (param $exp i32) (result i32)
    (local $acc i32)
    (local.set $acc (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $exp)))
        (local.set $acc (call $mul (local.get $acc) (local.get $base)))
        (local.set $exp (i32.sub (local.get $exp) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 0) (local.get $acc))
    (local.get $acc))
  (func (export "last") (result i32)
    (i32.load (i32.const 0)))
  (func (export "ask_nobody") (result i32)
    (call $unserved (i32.const 9)))
  (func (export "forever")
    (loop $again (br $again)))
)
