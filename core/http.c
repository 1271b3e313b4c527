/* http.c: placeholder until the sw.http module lands. */
#include "sw.h"

int luaopen_sw_http(lua_State* L) {
  lua_newtable(L);
  return 1;
}
