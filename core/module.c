/*
 * module.c: registers every sw.* module in package.preload. The executable
 * calls sw_preload_all() at start-up; built as build/sw_core.so the same
 * code lets stock Lua 5.4 (and so busted) do `require "sw_core"` once and
 * then `require "sw.json"` and the rest.
 */
#include "sw.h"

static const luaL_Reg modules[] = {
    {"sw.fs", luaopen_sw_fs},       {"sw.hash", luaopen_sw_hash},
    {"sw.http", luaopen_sw_http},   {"sw.json", luaopen_sw_json},
    {"sw.log", luaopen_sw_log},     {"sw.proc", luaopen_sw_proc},
    {"sw.regex", luaopen_sw_regex}, {"sw.sandbox", luaopen_sw_sandbox},
    {"sw.sched", luaopen_sw_sched}, {"sw.sign", luaopen_sw_sign},
    {"sw.yaml", luaopen_sw_yaml},   {NULL, NULL}};

void sw_preload_all(lua_State* L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg* m = modules; m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

int luaopen_sw_core(lua_State* L);

int luaopen_sw_core(lua_State* L) {
  sw_preload_all(L);
  lua_newtable(L);
  lua_pushliteral(L, SW_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
