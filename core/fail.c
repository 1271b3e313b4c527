/*
 * fail.c: the three-value convention for expected failures (nil, message,
 * code), shared by every module.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "sw.h"

int sw_fail(lua_State* L, const char* code, const char* fmt, ...) {
  va_list ap;
  luaL_checkstack(L, 3, "sw_fail");
  lua_pushnil(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushstring(L, code);
  return 3;
}

const char* sw_errno_name(int err) {
  /* uv_err_name knows every errno libuv maps, which is all we meet. */
  const char* name = uv_err_name(uv_translate_sys_error(err));
  if (name == NULL || strncmp(name, "Unknown", 7) == 0) {
    return "EUNKNOWN";
  }
  return name;
}

int sw_fail_errno(lua_State* L, const char* what, int err) {
  return sw_fail(L, sw_errno_name(err), "%s: %s", what, strerror(err));
}

int sw_fail_uv(lua_State* L, const char* what, int uverr) {
  return sw_fail(L, uv_err_name(uverr), "%s: %s", what, uv_strerror(uverr));
}
