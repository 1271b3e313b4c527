/*
 * test_fs_nomem.c: an atomic write that runs out of memory before its
 * temp file exists must not unlink anything. strndup is wrapped to fail on
 * demand and unlink to count its calls.
 */
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sw.h"

static int passed = 0;
static int failed = 0;
static int fail_strndup = 0;
static int unlinks = 0;

char* strndup(const char* s, size_t n) {
  if (fail_strndup) {
    return NULL;
  }
  char* (*f)(const char*, size_t) =
      (char* (*)(const char*, size_t))dlsym(RTLD_NEXT, "strndup");
  return f(s, n);
}

int unlink(const char* path) {
  unlinks++;
  int (*f)(const char*) = (int (*)(const char*))dlsym(RTLD_NEXT, "unlink");
  return f(path);
}

static void check(int ok, const char* what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s\n", what);
  }
}

int main(void) {
  char dir[] = "/tmp/sw-nomem-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  sw_preload_all(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sw.fs");
  lua_call(L, 1, 1);
  /* stack: fs */
  lua_getfield(L, 1, "write_file_atomic");
  lua_pushfstring(L, "%s/f", dir);
  lua_pushliteral(L, "data");
  fail_strndup = 1;
  unlinks = 0;
  lua_call(L, 2, 3);
  fail_strndup = 0;
  check(lua_isnil(L, -3), "write_file_atomic returns nil");
  check(lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "ENOMEM") == 0,
        "code is ENOMEM");
  check(unlinks == 0, "nothing unlinked before the temp file exists");
  lua_settop(L, 1);
  /* And with memory, the same call works and leaves one file. */
  lua_getfield(L, 1, "write_file_atomic");
  lua_pushfstring(L, "%s/f", dir);
  lua_pushliteral(L, "data");
  lua_call(L, 2, 1);
  check(lua_toboolean(L, -1), "write_file_atomic succeeds");
  lua_close(L);
  char path[64];
  snprintf(path, sizeof(path), "%s/f", dir);
  check(remove(path) == 0, "the file exists");
  check(rmdir(dir) == 0, "nothing else is left");
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
