/*
 * fuzz_json.c: libFuzzer target for sw.json. Each input runs in a fresh Lua
 * state: json.decode(input) must never raise, and must give either a value
 * or nil + "json: line ..." + "parse". A value must encode canonically
 * (unless it holds a number beyond double range, the only thing JSON can
 * carry that encode refuses), decode again, and encode to the same bytes;
 * compact output must decode to the same canonical text too. Last, decode
 * runs again with the allocator nearly out of memory, so the error paths
 * that unwind through yajl's callbacks must free what they hold (the leak
 * checker runs after every input, when the state is closed).
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

#define FUZZ_MEMORY_LIMIT (256u << 20)

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

typedef struct {
  size_t used;
  size_t limit;
} fuzz_heap;

/* lua_Alloc with a budget, so memory errors can be provoked. */
static void* fuzz_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  fuzz_heap* h = (fuzz_heap*)ud;
  size_t old = ptr != NULL ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    h->used -= old;
    return NULL;
  }
  if (nsize > old && h->used + (nsize - old) > h->limit) {
    return NULL;
  }
  void* p = realloc(ptr, nsize);
  if (p != NULL) {
    h->used = h->used - old + nsize;
  }
  return p;
}

static void fuzz_require(int ok, const char* what, lua_State* L) {
  if (!ok) {
    const char* top = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    fprintf(stderr, "fuzz_json: %s (%s)\n", what, top);
    abort();
  }
}

/* Stack slot 1 is the module. Calls json.<fn>(arg at idx, opts), opts a
 * table {canonical = true} / {sort_keys = true} or nothing; returns the
 * number of results, all left on the stack above base. */
static int fuzz_call(lua_State* L, const char* fn, int idx, const char* opt) {
  int base = lua_gettop(L);
  lua_getfield(L, 1, fn);
  lua_pushvalue(L, idx);
  int nargs = 1;
  if (opt != NULL) {
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, opt);
    nargs = 2;
  }
  fuzz_require(lua_pcall(L, nargs, LUA_MULTRET, 0) == LUA_OK,
               "json call raised", L);
  return lua_gettop(L) - base;
}

static int starts_with(lua_State* L, int idx, const char* prefix) {
  const char* s = lua_tostring(L, idx);
  return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void fuzz_run(lua_State* L, fuzz_heap* heap, const uint8_t* data,
                     size_t size) {
  luaL_requiref(L, "sw.json", luaopen_sw_json, 0); /* slot 1 */
  lua_pushlstring(L, (const char*)data, size);     /* slot 2 */
  int n = fuzz_call(L, "decode", 2, NULL);         /* value at 3 */
  if (n == 3) {
    fuzz_require(lua_isnil(L, 3), "a failure whose first value is not nil", L);
    fuzz_require(starts_with(L, 4, "json: line "), "odd parse message", L);
    fuzz_require(starts_with(L, 5, "parse") && lua_rawlen(L, 5) == 5,
                 "a failure whose code is not \"parse\"", L);
  } else {
    fuzz_require(n == 1, "decode returned neither 1 nor 3 values", L);
    n = fuzz_call(L, "encode", 3, "canonical"); /* canonical at 4 */
    if (n == 3) {
      fuzz_require(starts_with(L, 6, "encode"), "encode failed oddly", L);
      fuzz_require(strstr(lua_tostring(L, 5), "Infinity") != NULL,
                   "encode refused what decode made", L);
    } else {
      fuzz_require(n == 1 && lua_isstring(L, 4), "no canonical text", L);
      fuzz_require(fuzz_call(L, "decode", 4, NULL) == 1,
                   "canonical text does not decode", L); /* 5 */
      fuzz_require(fuzz_call(L, "encode", 5, "canonical") == 1,
                   "decoded canonical text does not encode", L); /* 6 */
      fuzz_require(lua_rawequal(L, 4, 6), "canonical text changed", L);
      fuzz_require(fuzz_call(L, "encode", 3, "sort_keys") == 1,
                   "no compact text", L); /* 7 */
      fuzz_require(fuzz_call(L, "decode", 7, NULL) == 1,
                   "compact text does not decode", L); /* 8 */
      fuzz_require(fuzz_call(L, "encode", 8, "canonical") == 1,
                   "decoded compact text does not encode", L); /* 9 */
      fuzz_require(lua_rawequal(L, 4, 9), "compact text changed", L);
    }
  }
  /* Again with a few KiB of memory left, by the input's size. */
  lua_settop(L, 2);
  lua_getfield(L, 1, "decode");
  lua_pushvalue(L, 2);
  heap->limit = heap->used + 256 + (size % 64) * 64;
  int status = lua_pcall(L, 1, LUA_MULTRET, 0);
  heap->limit = FUZZ_MEMORY_LIMIT;
  /* luaL_checkstack reports its failed allocation as "stack overflow". */
  fuzz_require(status == LUA_OK || status == LUA_ERRMEM ||
                   (status == LUA_ERRRUN && starts_with(L, -1, "stack")),
               "decode raised something other than a memory error", L);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_heap heap = {0, FUZZ_MEMORY_LIMIT};
  lua_State* L = lua_newstate(fuzz_alloc, &heap);
  if (L == NULL) {
    return 0;
  }
  fuzz_run(L, &heap, data, size);
  lua_close(L);
  return 0;
}
