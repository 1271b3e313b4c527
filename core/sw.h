/*
 * sw.h: what the core's C files share. Each area lives in one file and
 * exposes one Lua module, "sw.<area>"; this header holds only the pieces two
 * or more areas need: the module openers, the error convention, the
 * scheduler's C API for primitives that yield, and the log sink.
 */
#ifndef SW_H
#define SW_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SW_VERSION "0.1.0"

/* Lua 5.4.6 renamed lua_resetthread; Debian 12 ships 5.4.4. */
#if LUA_VERSION_RELEASE_NUM >= 50406
#define sw_closethread(co, from) lua_closethread((co), (from))
#else
#define sw_closethread(co, from) lua_resetthread(co)
#endif

/* Module openers, one per core/<area>.c. */
int luaopen_sw_fs(lua_State* L);
int luaopen_sw_hash(lua_State* L);
int luaopen_sw_http(lua_State* L);
int luaopen_sw_json(lua_State* L);
int luaopen_sw_log(lua_State* L);
int luaopen_sw_proc(lua_State* L);
int luaopen_sw_regex(lua_State* L);
int luaopen_sw_sandbox(lua_State* L);
int luaopen_sw_sched(lua_State* L);
int luaopen_sw_sign(lua_State* L);
int luaopen_sw_yaml(lua_State* L);

/*
 * The counting allocator (core/sandbox.c): main.c creates its Lua state
 * with lua_newstate(sw_sandbox_alloc, sw_sandbox_default()), so that
 * sw.sandbox can cap what policy code allocates.
 */
typedef struct {
  size_t used;  /* bytes in use */
  size_t limit; /* 0: no limit */
  int tripped;  /* the limit refused an allocation */
} sw_sandbox_t;
void* sw_sandbox_alloc(void* ud, void* ptr, size_t osize, size_t nsize);
sw_sandbox_t* sw_sandbox_default(void);

/* Puts every sw.* module into package.preload (core/module.c). */
void sw_preload_all(lua_State* L);

/*
 * Expected failures return three values to Lua: nil, a message that starts
 * with what failed, and a short stable code ("timeout", "parse", "ENOENT").
 * Each of these pushes the three values and returns 3, so a C function can
 * end with `return sw_fail(L, "parse", "json: %s", msg);`.
 */
int sw_fail(lua_State* L, const char* code, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "<what>: <strerror(err)>", code = errno name ("ENOENT"). */
int sw_fail_errno(lua_State* L, const char* what, int err);
/* "<what>: <uv_strerror>", code = uv_err_name ("ECONNREFUSED"). */
int sw_fail_uv(lua_State* L, const char* what, int uverr);
/* The symbolic name of an errno value ("ENOENT"), or "EUNKNOWN". */
const char* sw_errno_name(int err);

/*
 * The scheduler (core/sched.c). Every task is a Lua coroutine. A primitive
 * that waits for I/O follows the shape of OpenResty's ngx.sleep:
 *
 *   sw_task_t* t = sw_task_check(L, "http.request");   raises outside a task
 *   ...start the operation on sw_loop(L)...
 *   sw_task_set_pending(t, my_cancel, op);
 *   return lua_yield(L, 0);
 *
 * and its completion callback does
 *
 *   sw_task_resume(t, push_my_results, op);
 *
 * where push_my_results(L, op) pushes the primitive's return values on L
 * and returns how many. It runs under lua_pcall on the main thread, never
 * on the suspended task, so running out of memory there resumes the task
 * with nil, "out of memory", "ENOMEM" instead of raising through uv_run.
 *
 * If the task is cancelled while the operation is pending, my_cancel(op) is
 * called instead: it must stop the operation and make sure the completion
 * callback never resumes the task (the task is gone once my_cancel returns).
 * When a function that takes a callback fails to start, it returns its error
 * and the callback is never called (libuv's rule).
 */
typedef struct sw_task_s sw_task_t;
typedef void (*sw_cancel_fn)(void* data);
typedef int (*sw_push_fn)(lua_State* L, void* data);

/* The event loop of this Lua state, created on first use. */
uv_loop_t* sw_loop(lua_State* L);
/* The running task, or NULL when L is not a task's coroutine. */
sw_task_t* sw_task_current(lua_State* L);
/* The running task; raises "<fname>: not inside a task" otherwise, and
 * when the task is being cancelled, already has a pending operation, or
 * cannot yield here (a C function without a continuation, such as
 * table.sort, is on the stack). */
sw_task_t* sw_task_check(lua_State* L, const char* fname);
/* The running task if a primitive may yield here, else NULL; never
 * raises (for primitives that fall back to blocking, like hash.file). */
sw_task_t* sw_task_waitable(lua_State* L);
lua_State* sw_task_thread(sw_task_t* t);
void sw_task_set_pending(sw_task_t* t, sw_cancel_fn cancel, void* data);
void sw_task_clear_pending(sw_task_t* t);
/* Resume a task suspended in a primitive with the values push(L, data)
 * leaves (none when push is NULL), and clear its pending operation. The
 * values are built under lua_pcall on the main thread and moved to the
 * task only once it has room, so this never raises; when either fails the
 * task gets nil, "out of memory", "ENOMEM". Only loop callbacks call this,
 * never the task itself. */
void sw_task_resume(sw_task_t* t, sw_push_fn push, void* data);
/* Seconds at idx (a number in [0, 1e9]) as whole milliseconds, rounded
 * up; raises "<fname>: seconds must be between 0 and 1e9" otherwise. */
uint64_t sw_seconds_to_ms(lua_State* L, int idx, const char* fname);
/* The label of the task running on L (for log lines), or NULL. */
const char* sw_task_label(lua_State* L);
/*
 * Run fn(data) when the loop of L shuts down (lua_close), before the
 * remaining handles are closed, so a module can free what it owns (the curl
 * multi handle, say). Returns 0, or -1 when out of memory.
 */
int sw_atclose(lua_State* L, void (*fn)(void*), void* data);

/* Parses a raw response header block (status line and header lines) and
 * pushes {name = value} with lower-cased names (core/http.c; fuzzed by
 * tests/fuzz/fuzz_http_headers.c). Returns 1. */
int sw_http_push_headers(lua_State* L, const char* block, size_t len);

/*
 * The log sink (core/log.c): one line per event on stderr with a UTC
 * timestamp, the level, the current task's label when inside a task, the
 * message, and every registered secret replaced by "<redacted>".
 */
enum { SW_LOG_ERROR = 0, SW_LOG_WARN, SW_LOG_INFO, SW_LOG_DEBUG };
void sw_log(lua_State* L, int level, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sw_log_enabled(int level);
/* Replace every registered secret in s (len bytes) and push the result. */
void sw_log_push_redacted(lua_State* L, const char* s, size_t len);

#endif /* SW_H */
