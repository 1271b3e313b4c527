/* fs.c: placeholder until the sw.fs module lands. */
#include "sw.h"

int luaopen_sw_fs(lua_State* L) {
  lua_newtable(L);
  return 1;
}
