/*
 * main.c: the scriptworker executable. It creates the Lua state, puts the
 * sw.* modules in package.preload, points package.path at the Lua runtime
 * and hands the command line to lua/sw/cli.lua, whose return value is the
 * exit status. As in lua.c, everything runs inside lua_pcall so start-up
 * errors are reported cleanly and never crash.
 */
#include <errno.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sw.h"

#ifndef SW_LUA_DIR_INSTALLED
#define SW_LUA_DIR_INSTALLED "/usr/local/share/scriptworker"
#endif

static int is_dir(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Where the Lua runtime lives: $SW_HOME if set; else the source tree when
 * the binary runs from build/ (../lua next to it); else the installed share
 * directory, found relative to the binary (PREFIX/bin -> PREFIX/share).
 */
static void push_home(lua_State* L) {
  const char* env = getenv("SW_HOME");
  if (env != NULL && env[0] != '\0') {
    lua_pushstring(L, env);
    return;
  }
  char exe[PATH_MAX];
  size_t size = sizeof(exe);
  if (uv_exepath(exe, &size) == 0) {
    char* slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';
      lua_pushfstring(L, "%s/../lua/sw", exe);
      int in_tree = is_dir(lua_tostring(L, -1));
      lua_pop(L, 1);
      if (in_tree) {
        lua_pushfstring(L, "%s/..", exe);
        return;
      }
      lua_pushfstring(L, "%s/../share/scriptworker", exe);
      int installed = is_dir(lua_tostring(L, -1));
      if (installed) {
        return;
      }
      lua_pop(L, 1);
    }
  }
  lua_pushstring(L, SW_LUA_DIR_INSTALLED);
}

static int msghandler(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      return 1;
    }
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* stack: argc (light), argv (light). Returns the exit status. */
static int pmain(lua_State* L) {
  int argc = (int)lua_tointeger(L, 1);
  char** argv = (char**)lua_touserdata(L, 2);
  luaL_openlibs(L);
  sw_preload_all(L);

  /* package.path: the runtime first, then what Lua had (busted etc.). */
  push_home(L);
  const char* home = lua_tostring(L, -1);
  lua_getglobal(L, "package");
  /* No policies/ entry: policy files are loaded only by lua/sw/policy.lua,
     each in its own sandbox, never through require. */
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", home, home);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  lua_setglobal(L, "SW_HOME");

  lua_pushcfunction(L, msghandler);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sw.cli");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) {
    return lua_error(L);
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) {
    return lua_error(L);
  }
  return 1;
}

/* As lauxlib's: an error outside any pcall ends the process with a line. */
static int panic(lua_State* L) {
  const char* msg = lua_tostring(L, -1);
  fprintf(stderr, "scriptworker: unprotected error: %s\n",
          msg != NULL ? msg : "(no message)");
  return 0;
}

int main(int argc, char** argv) {
  /* The counting allocator lets sw.sandbox cap policy code's memory. */
  lua_State* L = lua_newstate(sw_sandbox_alloc, sw_sandbox_default());
  if (L == NULL) {
    fprintf(stderr, "scriptworker: cannot create Lua state: out of memory\n");
    return 1;
  }
  lua_atpanic(L, panic);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int code;
  if (status != LUA_OK) {
    const char* msg = lua_tostring(L, -1);
    fprintf(stderr, "scriptworker: %s\n", msg != NULL ? msg : "(no message)");
    code = 1;
  } else if (lua_isinteger(L, -1)) {
    code = (int)lua_tointeger(L, -1);
  } else {
    code = lua_toboolean(L, -1) ? 0 : 1;
  }
  lua_close(L);
  return code;
}
