# A counter in a WebAssembly global, not in linear memory: memory snapshots do not carry it, so it
# counts the handle() calls of this instance only (lua_handle.c: InstanceCalls() in Lua). A test
# reads it to tell a state restored from a snapshot from one replayed message by message.
.globaltype instance_calls, i32
instance_calls:

.globl instance_calls_bump
.type instance_calls_bump,@function
instance_calls_bump:
  .functype instance_calls_bump () -> (i32)
  global.get instance_calls
  i32.const 1
  i32.add
  global.set instance_calls
  global.get instance_calls
  end_function

.globl instance_calls_get
.type instance_calls_get,@function
instance_calls_get:
  .functype instance_calls_get () -> (i32)
  global.get instance_calls
  end_function
