;; An AO-style process module for json-iface@1.0, in WAT: exports malloc, free and
;; handle(msg, env) -> a pointer to a JSON result. Each call prints "hello" through WASI fd_write
;; and answers with the number of calls so far (kept in memory, so it survives snapshots) and a
;; Ping message to "abc".
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 1024) "{\"ok\":true,\"response\":{\"Output\":{\"data\":\"N\",\"prompt\":\"aos> \"},\"Messages\":[{\"Target\":\"abc\",\"Data\":\"hi\",\"Tags\":[{\"name\":\"Action\",\"value\":\"Ping\"}]}]}}\00")
  (data (i32.const 3000) "hello\n")
  (func $malloc (export "malloc") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7))
                               (i32.const -8)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.const 1)))))
    (local.get $at))
  (func (export "free") (param i32))
  (func (export "handle") (param $msg i32) (param $env i32) (result i32)
    (local $count i32)
    ;; an iovec at 2064: (ptr 3000, len 6); bytes written go to 2080
    (i32.store (i32.const 2064) (i32.const 3000))
    (i32.store (i32.const 2068) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 2064) (i32.const 1) (i32.const 2080)))
    (local.set $count (i32.add (i32.load (i32.const 2048)) (i32.const 1)))
    (i32.store (i32.const 2048) (local.get $count))
    (i32.store8 (i32.const 1065) (i32.add (i32.const 48) (i32.rem_u (local.get $count) (i32.const 10))))
    (i32.const 1024))
)
