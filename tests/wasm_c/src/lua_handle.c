/* An AOS-style process module: Lua 5.3 (from lupa's sdist) in a wasm32-wasi reactor.
 *
 * Exports malloc, free and handle(msg, env). `msg` and `env` are the legacy message and env as
 * NUL-terminated JSON written with this module's malloc (what json-iface@1.0 does); handle takes
 * them over (frees them) and returns a NUL-terminated JSON string {"ok":true,"response":{...}},
 * valid until the next call. The JSON and the AOS-like semantics are in Lua (process.lua, embedded
 * by build.py as PROCESS_LUA): its chunk returns the Lua handler, kept in the registry so that the
 * process's own code cannot replace it. The Lua state lives in linear memory, so a snapshot of the
 * memory carries it (globals persist across calls and restores).
 *
 * For the tests, Lua's InstanceCalls() is the number of handle() calls this instance made: the
 * counter is a WebAssembly global (instance_calls.S), which memory snapshots do not carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "process_lua.h"

#define EXPORT(name) __attribute__((export_name(name)))

static lua_State *L;
static int handler = LUA_NOREF;
static char *last; /* the previous answer, freed on the next call */
int instance_calls_bump(void); /* instance_calls.S */
int instance_calls_get(void);

static char out_of_memory[] = "{\"ok\":true,\"response\":{\"Error\":\"not enough memory\"}}";

EXPORT("malloc") void *process_malloc(size_t n) { return malloc(n); }
EXPORT("free") void process_free(void *p) { free(p); }

static char *copy(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

/* {"ok":true,"response":{"Error":"<why>"}}, `why` escaped for JSON */
static char *error_json(const char *why) {
  static const char head[] = "{\"ok\":true,\"response\":{\"Error\":\"", tail[] = "\"}}";
  size_t n = strlen(why);
  char *r = malloc(sizeof head + 6 * n + sizeof tail), *p = r;
  if (!r) return NULL;
  memcpy(p, head, sizeof head - 1);
  p += sizeof head - 1;
  for (const unsigned char *c = (const unsigned char *)why; *c; c++) {
    if (*c == '"' || *c == '\\') {
      *p++ = '\\';
      *p++ = (char)*c;
    } else if (*c < 0x20 || *c == 0x7f) {
      p += sprintf(p, "\\u%04x", *c);
    } else {
      *p++ = (char)*c;
    }
  }
  memcpy(p, tail, sizeof tail); /* with the NUL */
  return r;
}

static int lua_instance_calls(lua_State *L) {
  lua_pushinteger(L, instance_calls_get());
  return 1;
}

static const char *start(void) {
  L = luaL_newstate();
  if (!L) return "cannot create the Lua state";
  luaL_openlibs(L);
  lua_register(L, "InstanceCalls", lua_instance_calls);
  if (luaL_loadbuffer(L, PROCESS_LUA, sizeof PROCESS_LUA - 1, "=process") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    const char *why = lua_tostring(L, -1);
    return why ? why : "the process code failed";
  }
  if (!lua_isfunction(L, -1)) return "the process code returned no handler";
  handler = luaL_ref(L, LUA_REGISTRYINDEX);
  return NULL;
}

EXPORT("handle") char *handle(char *msg, char *env) {
  instance_calls_bump();
  free(last);
  last = NULL;
  if (handler == LUA_NOREF) {
    const char *why = start();
    if (why) {
      last = error_json(why);
      free(msg);
      free(env);
      if (L) {
        lua_close(L);
        L = NULL;
      }
      return last ? last : out_of_memory;
    }
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, handler);
  lua_pushstring(L, msg ? msg : "");
  lua_pushstring(L, env ? env : "");
  free(msg);
  free(env);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    const char *why = lua_tostring(L, -1);
    last = error_json(why ? why : "(error object is not a string)");
  } else {
    size_t n;
    const char *answer = lua_tolstring(L, -1, &n);
    last = answer ? copy(answer, n) : error_json("the handler returned no string");
  }
  lua_settop(L, 0);
  return last ? last : out_of_memory;
}
