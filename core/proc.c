/* proc.c: placeholder until the sw.proc module lands. */
#include "sw.h"

int luaopen_sw_proc(lua_State* L) {
  lua_newtable(L);
  return 1;
}
