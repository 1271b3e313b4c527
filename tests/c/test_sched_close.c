/*
 * test_sched_close.c: lua_close runs finalizers newest first, so the
 * scheduler's runtime (and the child list of sw.proc it closes) go before
 * any object made earlier. A finalizer of such an object that still calls
 * sw.sched or sw.proc must get an error, not the closed loop or the freed
 * list the registry used to name (the sanitizer run shows the latter as a
 * use after free).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "sw.h"

static int passed = 0;
static int failed = 0;
static char notes[2][256];

/* note(i, msg): keeps what a finalizer saw, for after lua_close. */
static int l_note(lua_State* L) {
  lua_Integer i = luaL_checkinteger(L, 1);
  const char* msg = luaL_optstring(L, 2, "(no error)");
  if (i >= 1 && i <= 2) {
    snprintf(notes[i - 1], sizeof(notes[0]), "%s", msg);
  }
  return 0;
}

static void check_has(const char* what, const char* got, const char* want) {
  if (strstr(got, want) != NULL) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s: want \"%s\" in \"%s\"\n", what, want, got);
  }
}

static const char chunk[] =
    /* Made before the scheduler's runtime, so finalized after it. */
    "EARLY = setmetatable({}, {__gc = function()\n"
    "  local sched, proc = require('sw.sched'), require('sw.proc')\n"
    "  note(1, select(2, pcall(sched.after, 1, function() end)))\n"
    "  note(2, select(2, pcall(proc.reap, 999999)))\n"
    "end})\n"
    "local sched, proc = require('sw.sched'), require('sw.proc')\n"
    "sched.run(function()\n"
    "  local p = assert(proc.spawn({argv = {'/bin/true'}}))\n"
    "  p:wait()\n"
    "  p:close()\n"
    "end)\n";

int main(void) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  sw_preload_all(L);
  lua_register(L, "note", l_note);
  if (luaL_dostring(L, chunk) != LUA_OK) {
    fprintf(stderr, "chunk: %s\n", lua_tostring(L, -1));
    failed++;
  }
  lua_close(L);
  check_has("sched after close", notes[0], "event loop is closed");
  check_has("proc after close", notes[1], "event loop is closed");
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
