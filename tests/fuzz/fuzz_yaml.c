/*
 * fuzz_yaml.c: libFuzzer target for sw.yaml. Each input runs in a fresh Lua
 * state through load (with small limits, then with the defaults) and
 * load_all. Beyond crashes, leaks and undefined behaviour, it aborts when
 * a call raises (bad input must give nil, msg, code, never an error), when
 * a failure is not nil + message + "parse"/"limit", or when a result breaks
 * the value rules: every table marked json.array_mt (keys exactly 1..n) or
 * json.object_mt, and no more nodes reachable, aliases expanded, than
 * max_nodes allowed.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

#define FUZZ_MAX_NODES 20000
#define FUZZ_MAX_DEPTH 64

/* Stack slots fuzz_run sets up. */
enum { S_JSON = 1, S_YAML, S_ARRAY_MT, S_OBJECT_MT, S_TEXT, S_OPTS, S_TOP };

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void fuzz_require(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "fuzz_yaml: %s\n", what);
    abort();
  }
}

/* Checks the value at idx and below; counts the nodes into *nodes. */
static void fuzz_walk(lua_State* L, int idx, int depth, long* nodes) {
  (*nodes)++;
  fuzz_require(*nodes <= FUZZ_MAX_NODES, "more nodes than max_nodes");
  if (lua_type(L, idx) != LUA_TTABLE) {
    return;
  }
  fuzz_require(depth <= FUZZ_MAX_DEPTH, "deeper than max_depth");
  fuzz_require(lua_getmetatable(L, idx), "a table without a mark");
  int is_array = lua_rawequal(L, -1, S_ARRAY_MT);
  fuzz_require(is_array || lua_rawequal(L, -1, S_OBJECT_MT),
               "a table marked neither array nor object");
  lua_pop(L, 1);
  luaL_checkstack(L, 4, "fuzz_yaml");
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    /* stack: key, value */
    int top = lua_gettop(L);
    if (is_array) {
      fuzz_require(lua_isinteger(L, top - 1) &&
                       lua_tointeger(L, top - 1) >= 1 &&
                       lua_tointeger(L, top - 1) <= len,
                   "an array with a key outside 1..n");
    } else {
      fuzz_walk(L, top - 1, depth + 1, nodes);
    }
    fuzz_walk(L, top, depth + 1, nodes);
    count++;
    lua_pop(L, 1);
  }
  fuzz_require(!is_array || count == len, "an array with holes");
}

/* Checks what yaml.<fn>(text, opts) returned; walks a result when asked. */
static void fuzz_call(lua_State* L, const char* fn, int with_opts, int walk) {
  lua_settop(L, S_TOP - 1);
  lua_getfield(L, S_YAML, fn);
  lua_pushvalue(L, S_TEXT);
  if (with_opts) {
    lua_pushvalue(L, S_OPTS);
  } else {
    lua_pushnil(L);
  }
  lua_call(L, 2, 3);
  /* stack: value or nil, message, code */
  if (lua_isnil(L, S_TOP)) {
    const char* code = lua_tostring(L, S_TOP + 2);
    fuzz_require(lua_type(L, S_TOP + 1) == LUA_TSTRING &&
                     strncmp(lua_tostring(L, S_TOP + 1), "yaml: ", 6) == 0,
                 "a failure without a message");
    fuzz_require(lua_type(L, S_TOP + 2) == LUA_TSTRING &&
                     (strcmp(code, "parse") == 0 || strcmp(code, "limit") == 0),
                 "a failure with an unknown code");
    return;
  }
  fuzz_require(lua_isnil(L, S_TOP + 1), "a value and a message");
  if (walk) {
    long nodes = 0;
    if (strcmp(fn, "load_all") == 0) {
      /* the stream's array is not a node; its documents share max_nodes */
      nodes = -1;
    }
    fuzz_walk(L, S_TOP, 0, &nodes);
  }
}

static int fuzz_run(lua_State* L) {
  const char* data = lua_touserdata(L, 1);
  size_t size = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sw.json");
  lua_call(L, 1, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sw.yaml");
  lua_call(L, 1, 1);
  lua_getfield(L, S_JSON, "array_mt");
  lua_getfield(L, S_JSON, "object_mt");
  lua_pushlstring(L, data, size);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, FUZZ_MAX_NODES);
  lua_setfield(L, S_OPTS, "max_nodes");
  lua_pushinteger(L, FUZZ_MAX_DEPTH);
  lua_setfield(L, S_OPTS, "max_depth");
  fuzz_call(L, "load", 1, 1);
  fuzz_call(L, "load_all", 1, 1);
  fuzz_call(L, "load", 0, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lua_State* L = luaL_newstate();
  fuzz_require(L != NULL, "luaL_newstate failed");
  luaL_openlibs(L);
  sw_preload_all(L);
  lua_pushcfunction(L, fuzz_run);
  lua_pushlightuserdata(L, (void*)data);
  lua_pushinteger(L, (lua_Integer)size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_yaml: raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_close(L);
  return 0;
}
