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
 *
 * The keys option (KEYS_CHECK below) must never raise either, and must
 * agree with the full decode whenever that gives an object: the same
 * values for the keys asked, or a duplicate-key failure. It also runs
 * nearly out of memory. replace_surrogates must change nothing on input
 * that decodes without it.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
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

/* Called with the module and the input; raises when a property fails. */
static const char KEYS_CHECK[] =
    "local json, text = ...\n"
    "local function canon(v) return json.encode(v, {canonical = true}) end\n"
    "local function failure(v, msg, code)\n"
    "  assert(v == nil and type(msg) == 'string' and code == 'parse' and\n"
    "         msg:sub(1, 11) == 'json: line ', 'odd keys failure')\n"
    "end\n"
    "local full = json.decode(text)\n"
    "local v, msg, code = json.decode(text, {keys = {'a', '', '0'}})\n"
    "if v == nil then failure(v, msg, code)\n"
    "else assert(getmetatable(v) == json.object_mt, 'keys: not an object')\n"
    "end\n"
    "if type(full) == 'table' and getmetatable(full) == json.object_mt then\n"
    "  local want = {'\\0missing'}\n"
    "  for k in pairs(full) do\n"
    "    if #want < 9 then want[#want + 1] = k end\n"
    "  end\n"
    "  local got, m2, c2 = json.decode(text, {keys = want})\n"
    "  if got == nil then\n"
    "    failure(got, m2, c2)\n"
    "    assert(m2:find('duplicate key', 1, true), 'keys refused: ' .. m2)\n"
    "  else\n"
    "    local expect = json.object()\n"
    "    for _, k in ipairs(want) do expect[k] = full[k] end\n"
    "    assert(canon(expect) == canon(got), 'keys disagree with decode')\n"
    "  end\n"
    "end\n"
    "local r, m3, c3 = json.decode(text, {replace_surrogates = true})\n"
    "if r == nil then failure(r, m3, c3) end\n"
    "if full ~= nil then\n"
    "  assert(canon(r) == canon(full), 'replace_surrogates changed a value')\n"
    "end\n";

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
  lua_settop(L, 2);
  luaL_requiref(L, "_G", luaopen_base, 1); /* for KEYS_CHECK */
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  lua_settop(L, 2);
  fuzz_require(luaL_loadbuffer(L, KEYS_CHECK, sizeof(KEYS_CHECK) - 1,
                               "=keys_check") == LUA_OK,
               "keys check does not load", L);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  fuzz_require(lua_pcall(L, 2, 0, 0) == LUA_OK, "keys check failed", L);
  /* The keys scanner with a few KiB of memory left. */
  lua_settop(L, 2);
  lua_getfield(L, 1, "decode");
  lua_pushvalue(L, 2);
  lua_createtable(L, 0, 1);
  lua_createtable(L, 2, 0);
  lua_pushliteral(L, "a");
  lua_rawseti(L, -2, 1);
  lua_pushliteral(L, "");
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "keys");
  heap->limit = heap->used + 256 + (size % 64) * 64;
  int kstatus = lua_pcall(L, 2, LUA_MULTRET, 0);
  heap->limit = FUZZ_MEMORY_LIMIT;
  fuzz_require(kstatus == LUA_OK || kstatus == LUA_ERRMEM ||
                   (kstatus == LUA_ERRRUN && starts_with(L, -1, "stack")),
               "keys decode raised something other than a memory error", L);
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
