/* hash.c: placeholder until the sw.hash module lands. */
#include "sw.h"

int luaopen_sw_hash(lua_State* L) {
  lua_newtable(L);
  return 1;
}
