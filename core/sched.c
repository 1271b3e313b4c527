/* sched.c: placeholder until the scheduler lands (being written now). */
#include <stdlib.h>

#include "sw.h"

uv_loop_t* sw_loop(lua_State* L) {
  (void)L;
  return uv_default_loop();
}
sw_task_t* sw_task_current(lua_State* L) {
  (void)L;
  return NULL;
}
sw_task_t* sw_task_check(lua_State* L, const char* fname) {
  luaL_error(L, "%s: not inside a task", fname);
  return NULL;
}
lua_State* sw_task_thread(sw_task_t* t) {
  (void)t;
  return NULL;
}
void sw_task_set_pending(sw_task_t* t, sw_cancel_fn cancel, void* data) {
  (void)t, (void)cancel, (void)data;
}
void sw_task_clear_pending(sw_task_t* t) { (void)t; }
void sw_task_resume(sw_task_t* t, int nargs) { (void)t, (void)nargs; }
const char* sw_task_label(lua_State* L) {
  (void)L;
  return NULL;
}
int sw_atclose(lua_State* L, void (*fn)(void*), void* data) {
  (void)L, (void)fn, (void)data;
  return 0;
}
int luaopen_sw_sched(lua_State* L) {
  lua_newtable(L);
  return 1;
}
