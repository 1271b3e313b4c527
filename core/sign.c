/* sign.c: placeholder until the sw.sign module lands. */
#include "sw.h"

int luaopen_sw_sign(lua_State* L) {
  lua_newtable(L);
  return 1;
}
