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
  /* libuv's names first (ENOTSUP, not glibc's EOPNOTSUPP, for 95), then
   * glibc's for the errnos libuv does not map (EDQUOT, ESTALE, ...).
   * uv_err_name_r, because uv_err_name strdup's a name for those, which
   * nobody frees. */
  char buf[64];
  uv_err_name_r(uv_translate_sys_error(err), buf, sizeof(buf));
  if (strncmp(buf, "Unknown", 7) != 0) {
    return uv_err_name(uv_translate_sys_error(err)); /* a static string */
  }
  const char* name = strerrorname_np(err);
  return name != NULL ? name : "EUNKNOWN";
}

int sw_fail_errno(lua_State* L, const char* what, int err) {
  return sw_fail(L, sw_errno_name(err), "%s: %s", what, strerror(err));
}

int sw_fail_uv(lua_State* L, const char* what, int uverr) {
  /* The _r forms: the plain ones strdup a text for codes libuv does not
   * know, a leak. On Unix such a code is -errno. */
  char name[64];
  char msg[128];
  uv_err_name_r(uverr, name, sizeof(name));
  if (strncmp(name, "Unknown", 7) == 0 && uverr < 0) {
    return sw_fail(L, sw_errno_name(-uverr), "%s: %s", what, strerror(-uverr));
  }
  uv_strerror_r(uverr, msg, sizeof(msg));
  return sw_fail(L, name, "%s: %s", what, msg);
}
