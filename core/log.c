/* log.c: placeholder until the log sink lands (being written now). */
#include <stdarg.h>
#include <stdio.h>

#include "sw.h"

void sw_log(lua_State* L, int level, const char* fmt, ...) {
  (void)L, (void)level;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
int sw_log_enabled(int level) { return level <= SW_LOG_INFO; }
void sw_log_push_redacted(lua_State* L, const char* s, size_t len) {
  lua_pushlstring(L, s, len);
}
int luaopen_sw_log(lua_State* L) {
  lua_newtable(L);
  return 1;
}
