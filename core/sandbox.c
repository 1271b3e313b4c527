/*
 * sandbox.c: the memory limit of policy code (module sw.sandbox). The
 * executable creates its Lua state with sw_sandbox_alloc, an allocator that
 * counts the bytes in use and, while a limit is set, refuses any growth past
 * it: Lua then collects garbage and, if that is not enough, raises a memory
 * error in the code that allocated, which the caller's pcall catches. Under
 * stock Lua (busted loading sw_core.so) the state has another allocator and
 * sandbox.limit_memory returns nil: sw.policy falls back to watching
 * collectgarbage("count") from its count hook.
 */
#include <stdlib.h>

#include "sw.h"

/*
 * After the first refusal the limit grows by GRACE once, so that the
 * error's unwinding and the policy loader's hook (which needs a few small
 * tables) still work; the hook then stops the policy code outright.
 */
#define GRACE (1024 * 1024)

static sw_sandbox_t global_state;

void* sw_sandbox_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  sw_sandbox_t* s = (sw_sandbox_t*)ud;
  /* When ptr is NULL, osize is a type tag, not a size. */
  size_t old = ptr != NULL ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= old;
    return NULL;
  }
  if (s->limit != 0 && nsize > old && s->used + (nsize - old) > s->limit) {
    if (!s->tripped) {
      s->tripped = 1;
      s->limit += GRACE;
    }
    return NULL;
  }
  void* p = realloc(ptr, nsize);
  if (p == NULL) {
    return NULL;
  }
  s->used = s->used - old + nsize;
  return p;
}

sw_sandbox_t* sw_sandbox_default(void) { return &global_state; }

/* The state's counter, or NULL when the state does not use our allocator. */
static sw_sandbox_t* state_of(lua_State* L) {
  void* ud = NULL;
  lua_Alloc f = lua_getallocf(L, &ud);
  return f == sw_sandbox_alloc ? (sw_sandbox_t*)ud : NULL;
}

/*
 * sandbox.limit_memory(bytes) -> token | nil: from now on at most `bytes`
 * more may be in use than now. The token (the previous limit) goes to
 * restore_memory. nil when this state has no counting allocator.
 */
static int sandbox_limit_memory(lua_State* L) {
  lua_Integer bytes = luaL_checkinteger(L, 1);
  luaL_argcheck(L, bytes > 0, 1, "expected a positive number of bytes");
  sw_sandbox_t* s = state_of(L);
  if (s == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)s->limit);
  s->limit = s->used + (size_t)bytes;
  s->tripped = 0;
  return 1;
}

/*
 * sandbox.restore_memory(token) -> tripped: puts the previous limit back
 * (0: none); tripped is whether the limit refused an allocation since
 * limit_memory.
 */
static int sandbox_restore_memory(lua_State* L) {
  lua_Integer token = luaL_checkinteger(L, 1);
  sw_sandbox_t* s = state_of(L);
  if (s == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int tripped = s->tripped;
  s->limit = (size_t)token;
  s->tripped = 0;
  lua_pushboolean(L, tripped);
  return 1;
}

/* sandbox.memory_tripped() -> boolean: whether the current limit refused an
 * allocation. Allocates nothing. */
static int sandbox_memory_tripped(lua_State* L) {
  sw_sandbox_t* s = state_of(L);
  lua_pushboolean(L, s != NULL && s->tripped);
  return 1;
}

/* sandbox.memory() -> used, limit | nil: bytes in use and the limit (0:
 * none); nil without the counting allocator. */
static int sandbox_memory(lua_State* L) {
  sw_sandbox_t* s = state_of(L);
  if (s == NULL) {
    lua_pushnil(L);
    return 1;
  }
  size_t used = s->used, limit = s->limit;
  lua_pushinteger(L, (lua_Integer)used);
  lua_pushinteger(L, (lua_Integer)limit);
  return 2;
}

static const luaL_Reg sandbox_funcs[] = {
    {"limit_memory", sandbox_limit_memory},
    {"restore_memory", sandbox_restore_memory},
    {"memory_tripped", sandbox_memory_tripped},
    {"memory", sandbox_memory},
    {NULL, NULL}};

int luaopen_sw_sandbox(lua_State* L) {
  luaL_newlib(L, sandbox_funcs);
  return 1;
}
