/* regex.c: placeholder until the sw.regex module lands. */
#include "sw.h"

int luaopen_sw_regex(lua_State* L) {
  lua_newtable(L);
  return 1;
}
