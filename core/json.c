/* json.c: placeholder until the sw.json module lands. */
#include "sw.h"

int luaopen_sw_json(lua_State* L) {
  lua_newtable(L);
  return 1;
}
