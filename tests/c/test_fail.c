/*
 * test_fail.c: the three-value failures of core/fail.c. Every errno gets
 * its own symbolic code, including those libuv has no name for (EDQUOT on
 * a full quota, ESTALE on NFS), and naming them allocates nothing (the
 * sanitizer run checks for leaks).
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "sw.h"

static int passed = 0;
static int failed = 0;

static void check_str(const char* what, const char* want, const char* got) {
  if (got != NULL && strcmp(want, got) == 0) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s: want \"%s\", got \"%s\"\n", what, want,
            got != NULL ? got : "(null)");
  }
}

/* sw_fail_errno(L, "x", err) must give nil, "x: <strerror>", code. */
static void check_errno(int err, const char* code) {
  lua_State* L = luaL_newstate();
  int n = sw_fail_errno(L, "x", err);
  char want[128];
  snprintf(want, sizeof(want), "x: %s", strerror(err));
  if (n == 3 && lua_isnil(L, -3)) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: errno %d: not nil, msg, code\n", err);
  }
  check_str("message", want, lua_tostring(L, -2));
  check_str("code", code, lua_tostring(L, -1));
  check_str("sw_errno_name", code, sw_errno_name(err));
  lua_close(L);
}

/* sw_fail_uv(L, "y", uverr) must give nil, "y: <text>", code. */
static void check_uv(int uverr, const char* text, const char* code) {
  lua_State* L = luaL_newstate();
  int n = sw_fail_uv(L, "y", uverr);
  char want[128];
  snprintf(want, sizeof(want), "y: %s", text);
  if (n == 3 && lua_isnil(L, -3)) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: uv error %d: not nil, msg, code\n", uverr);
  }
  check_str("message", want, lua_tostring(L, -2));
  check_str("code", code, lua_tostring(L, -1));
  lua_close(L);
}

int main(void) {
  check_errno(ENOENT, "ENOENT");
  check_errno(EACCES, "EACCES");
  check_errno(ENOTSUP, "ENOTSUP"); /* libuv's name, not EOPNOTSUPP */
  check_errno(EDQUOT, "EDQUOT");
  check_errno(ESTALE, "ESTALE");
  check_errno(EUCLEAN, "EUCLEAN");
  check_errno(ENODATA, "ENODATA");
  check_errno(0x7fff, "EUNKNOWN");
  check_uv(UV_ENOENT, "no such file or directory", "ENOENT");
  check_uv(UV_ECONNREFUSED, "connection refused", "ECONNREFUSED");
  check_uv(-EDQUOT, "Disk quota exceeded", "EDQUOT");
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
