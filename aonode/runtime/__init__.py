"""Runtimes that execute process code: the Lua host (`lua`) and its `ao` library (`lua_ao`), and
the WASM host (`wasm`)."""
