/*
 * sched.c: sw.sched, the coroutine scheduler on libuv.
 *
 * Every task is a Lua coroutine anchored in the registry until it ends. A
 * primitive that waits (sleep here, http.request and proc.wait elsewhere)
 * records a pending operation with a cancel function and yields; only loop
 * callbacks resume tasks, so Lua code reads as synchronous while the loop
 * serves the others (OpenResty's cosocket model). Tasks made runnable by Lua
 * itself (spawn, wake, the end of a task someone waits for) go on a ready
 * queue that an idle handle drains, so resumes never nest.
 *
 * The runtime (loop, ready queue, live tasks) lives in a userdata in the
 * registry created on first use; its __gc closes every handle and the loop.
 * Lua runs finalizers in reverse order of creation, so everything made on
 * the loop is finalized before the loop itself.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

typedef struct sw_rt_s sw_rt_t;

typedef struct closer_s {
  void (*fn)(void*);
  void* data;
  struct closer_s* next;
} closer_t;

struct sw_rt_s {
  uv_loop_t loop;
  uv_idle_t idle;
  lua_State* L; /* the main thread */
  sw_task_t* ready_head;
  sw_task_t* ready_tail;
  sw_task_t* live; /* every task not yet done */
  sw_task_t* current;
  sw_task_t* batch_end; /* last task of the batch idle_cb runs, or NULL */
  closer_t* closers;
  lua_Integer next_id;
  int nomem_msg_ref;  /* "out of memory", made up front: pushing it later */
  int nomem_code_ref; /* allocates nothing; so is "ENOMEM" */
  int running;        /* inside sched.run */
  int ready_active;
};

enum {
  T_READY = 1, /* queued, nargs values waiting on its stack */
  T_RUNNING,
  T_PENDING, /* yielded in a primitive */
  T_CLOSING, /* being cancelled: to-be-closed variables running */
  T_DONE
};

struct sw_task_s {
  sw_rt_t* rt;
  lua_State* co;
  lua_Integer id;
  int state;
  int nargs;
  int ref;        /* registry ref to this userdata, held until done */
  int co_ref;     /* registry ref to the coroutine, held until done */
  int result_ref; /* registry ref to {ok, values..., n = N} once done */
  int nomem;      /* done, but its results could not be kept */
  int label_ref;
  const char* label;
  int suspended; /* pending in sched.suspend, so wake() may resume it */
  int is_main;   /* the task of sched.run: its error is raised, not logged */
  sw_cancel_fn cancel;
  void* cancel_data;
  sw_task_t* next_ready;
  sw_task_t* prev_live;
  sw_task_t* next_live;
  sw_task_t* waiters;     /* tasks waiting for this one to end */
  sw_task_t* next_waiter; /* link in the waiters list of waiting_on */
  sw_task_t* waiting_on;
  uv_timer_t* wait_timer;
};

static const char RT_KEY = 'r';
#define TASK_MT "sw.Task"
#define HANDLE_MT "sw.Handle"

/* ---- runtime ---------------------------------------------------------- */

static void idle_cb(uv_idle_t* idle);

static void close_walk_cb(uv_handle_t* h, void* arg) {
  (void)arg;
  if (!uv_is_closing(h)) {
    uv_close(h, NULL);
  }
}

static int rt_gc(lua_State* L) {
  sw_rt_t* rt = (sw_rt_t*)lua_touserdata(L, 1);
  if (rt->L == NULL) {
    return 0;
  }
  for (closer_t* c = rt->closers; c != NULL;) {
    closer_t* next = c->next;
    c->fn(c->data);
    free(c);
    c = next;
  }
  rt->closers = NULL;
  /* Close callbacks of the handles modules closed themselves free their
   * memory; anything left is closed here so uv_loop_close succeeds. */
  uv_walk(&rt->loop, close_walk_cb, NULL);
  /* A uv_stop still pending (the main task of a deadlocked sched.run is
   * cancelled after the loop returned) makes the first uv_run return at
   * once, with the close callbacks not run and uv_loop_close failing:
   * run until nothing is left. */
  while (uv_run(&rt->loop, UV_RUN_DEFAULT) != 0) {
  }
  uv_loop_close(&rt->loop);
  rt->L = NULL;
  /* A finalizer that runs later (lua_close goes on) must find the loop
   * gone, not this closed one. */
  lua_pushboolean(L, 0);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  return 0;
}

static sw_rt_t* rt_get(lua_State* L) {
  int type = lua_rawgetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  if (type == LUA_TUSERDATA) {
    sw_rt_t* rt = (sw_rt_t*)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return rt;
  }
  lua_pop(L, 1);
  if (type != LUA_TNIL) {
    luaL_error(L, "sched: the event loop is closed");
  }
  lua_pushliteral(L, "out of memory");
  int msg_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushliteral(L, "ENOMEM");
  int code_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sw_rt_t* rt = (sw_rt_t*)lua_newuserdatauv(L, sizeof(sw_rt_t), 0);
  memset(rt, 0, sizeof(*rt));
  rt->nomem_msg_ref = msg_ref;
  rt->nomem_code_ref = code_ref;
  int err = uv_loop_init(&rt->loop);
  if (err != 0) {
    luaL_error(L, "sched: cannot create the event loop: %s", uv_strerror(err));
  }
  uv_idle_init(&rt->loop, &rt->idle);
  rt->idle.data = rt;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  rt->next_id = 1;
  lua_newtable(L);
  lua_pushcfunction(L, rt_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  /* A peer closing a connection must be an error value, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  return rt;
}

uv_loop_t* sw_loop(lua_State* L) { return &rt_get(L)->loop; }

int sw_atclose(lua_State* L, void (*fn)(void*), void* data) {
  sw_rt_t* rt = rt_get(L);
  closer_t* c = (closer_t*)malloc(sizeof(*c));
  if (c == NULL) {
    return -1;
  }
  c->fn = fn;
  c->data = data;
  c->next = rt->closers;
  rt->closers = c;
  return 0;
}

/* ---- task bookkeeping ------------------------------------------------- */

/*
 * Which task a thread belongs to: registry[TASKS_KEY][thread]. Lua's extra
 * space would be cheaper, but threads created before the scheduler's first
 * use (by busted, say) copy whatever the main thread's held, so it cannot be
 * trusted in the shared-library build.
 */
static const char TASKS_KEY = 't';

static void push_tasks(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &TASKS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TASKS_KEY);
  }
}

/* Forgets the task of co; removing a key allocates nothing. */
static void tasks_clear(lua_State* co) {
  if (lua_rawgetp(co, LUA_REGISTRYINDEX, &TASKS_KEY) == LUA_TTABLE) {
    lua_pushthread(co);
    lua_pushnil(co);
    lua_rawset(co, -3);
  }
  lua_pop(co, 1);
}

sw_task_t* sw_task_current(lua_State* L) {
  if (!lua_checkstack(L, 3)) {
    return NULL;
  }
  /* Looked up without creating the table: this runs on suspended threads
   * from loop callbacks (log lines), where an allocation must not raise. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &TASKS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_pushthread(L);
  lua_rawget(L, -2);
  sw_task_t* t = (sw_task_t*)lua_touserdata(L, -1);
  lua_pop(L, 2);
  return t;
}

sw_task_t* sw_task_check(lua_State* L, const char* fname) {
  sw_task_t* t = sw_task_current(L);
  if (t == NULL) {
    luaL_error(L, "%s: not inside a task", fname);
  }
  if (t->state == T_CLOSING) {
    luaL_error(L, "%s: cannot wait while the task is being cancelled", fname);
  }
  if (t->state != T_RUNNING || t->cancel != NULL) {
    luaL_error(L, "%s: the task already waits for another operation", fname);
  }
  /* lua_yield would raise only after the primitive armed its timer or
   * request and marked the task pending: the stray callback would then
   * resume the task later, running or long gone. Refuse up front. */
  if (!lua_isyieldable(L)) {
    luaL_error(L,
               "%s: cannot wait inside a C call that does not allow yielding "
               "(table.sort, string.gsub, require...)",
               fname);
  }
  return t;
}

sw_task_t* sw_task_waitable(lua_State* L) {
  sw_task_t* t = sw_task_current(L);
  if (t == NULL || t->state != T_RUNNING || t->cancel != NULL ||
      !lua_isyieldable(L)) {
    return NULL;
  }
  return t;
}

lua_State* sw_task_thread(sw_task_t* t) { return t->co; }

void sw_task_set_pending(sw_task_t* t, sw_cancel_fn cancel, void* data) {
  /* A second operation would orphan the first: its callback would resume
   * the task while it waits for something else, or after it is gone.
   * sw_task_check refuses before anything starts; this is the backstop. */
  if (t->state != T_RUNNING || t->cancel != NULL) {
    sw_log(t->rt->L, SW_LOG_ERROR,
           "task %lld: a pending operation would be overwritten",
           (long long)t->id);
    abort();
  }
  t->state = T_PENDING;
  t->cancel = cancel;
  t->cancel_data = data;
}

void sw_task_clear_pending(sw_task_t* t) {
  t->cancel = NULL;
  t->cancel_data = NULL;
}

const char* sw_task_label(lua_State* L) {
  sw_task_t* t = sw_task_current(L);
  return t != NULL ? t->label : NULL;
}

static void ready_push(sw_task_t* t, int nargs) {
  sw_rt_t* rt = t->rt;
  t->state = T_READY;
  t->nargs = nargs;
  t->next_ready = NULL;
  if (rt->ready_tail != NULL) {
    rt->ready_tail->next_ready = t;
  } else {
    rt->ready_head = t;
  }
  rt->ready_tail = t;
  if (!rt->ready_active) {
    uv_idle_start(&rt->idle, idle_cb);
    rt->ready_active = 1;
  }
}

static void ready_remove(sw_task_t* t) {
  sw_rt_t* rt = t->rt;
  sw_task_t* prev = NULL;
  for (sw_task_t* p = rt->ready_head; p != NULL; p = p->next_ready) {
    if (p == t) {
      if (prev != NULL) {
        prev->next_ready = p->next_ready;
      } else {
        rt->ready_head = p->next_ready;
      }
      if (rt->ready_tail == t) {
        rt->ready_tail = prev;
      }
      if (rt->batch_end == t) {
        /* The batch now ends with the one before (none: it is over). */
        rt->batch_end = prev;
      }
      t->next_ready = NULL;
      return;
    }
    prev = p;
  }
}

static void live_remove(sw_task_t* t) {
  if (t->prev_live != NULL) {
    t->prev_live->next_live = t->next_live;
  } else if (t->rt->live == t) {
    t->rt->live = t->next_live;
  }
  if (t->next_live != NULL) {
    t->next_live->prev_live = t->prev_live;
  }
  t->prev_live = t->next_live = NULL;
}

static void push_task(lua_State* L, sw_task_t* t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
}

/* Pushes nil, "out of memory", "ENOMEM" (or false first, for a task's
 * results) on L without allocating; returns 3, or 0 when L has no room. */
static int push_nomem(sw_rt_t* rt, lua_State* L, int first_false) {
  if (!lua_checkstack(L, 3)) {
    return 0;
  }
  if (first_false) {
    lua_pushboolean(L, 0);
  } else {
    lua_pushnil(L);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->nomem_msg_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->nomem_code_ref);
  return 3;
}

/* Pushes the packed results of a finished task: ok, values... It
 * allocates nothing and never raises, so loop callbacks may push on a
 * suspended thread; returns -1 when L has no room for them. */
static int push_results(lua_State* L, sw_task_t* t) {
  if (t->nomem || t->result_ref == LUA_NOREF) {
    int n = push_nomem(t->rt, L, 1);
    return n > 0 ? n : -1;
  }
  if (!lua_checkstack(L, 2)) {
    return -1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->result_ref);
  lua_rawgeti(L, -1, 0); /* n, stored at index 0 */
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (!lua_checkstack(L, n)) {
    lua_pop(L, 1);
    return -1;
  }
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1 - (i - 1), i);
  }
  lua_remove(L, -(n + 1));
  return n;
}

static void wait_timer_close_cb(uv_handle_t* h) { free(h); }

static void stop_wait_timer(sw_task_t* w) {
  if (w->wait_timer != NULL) {
    uv_timer_stop(w->wait_timer);
    uv_close((uv_handle_t*)w->wait_timer, wait_timer_close_cb);
    w->wait_timer = NULL;
  }
}

static void unlink_waiter(sw_task_t* w) {
  sw_task_t* target = w->waiting_on;
  if (target == NULL) {
    return;
  }
  sw_task_t** pp = &target->waiters;
  while (*pp != NULL) {
    if (*pp == w) {
      *pp = w->next_waiter;
      break;
    }
    pp = &(*pp)->next_waiter;
  }
  w->next_waiter = NULL;
  w->waiting_on = NULL;
  stop_wait_timer(w);
}

typedef struct {
  sw_task_t* t;
  const char* msg; /* for a failure: false, msg, code are packed */
  const char* code;
} pack_args_t;

/* lua_pcall'd on the task's thread (finished, or reset by closethread, so
 * it may run a call): packs the values above the argument into a table
 * {values..., [0] = N} anchored in the registry. */
static int pack_results(lua_State* co) {
  pack_args_t* a = (pack_args_t*)lua_touserdata(co, 1);
  if (a->msg != NULL) {
    lua_settop(co, 1);
    lua_pushboolean(co, 0);
    lua_pushstring(co, a->msg);
    lua_pushstring(co, a->code);
  }
  int n = lua_gettop(co) - 1;
  lua_createtable(co, n + 1, 0);
  lua_insert(co, 2);
  for (int i = n; i >= 1; i--) {
    lua_rawseti(co, 2, i); /* pops value i from the top */
  }
  lua_pushinteger(co, n);
  lua_rawseti(co, 2, 0);
  a->t->result_ref = luaL_ref(co, LUA_REGISTRYINDEX);
  return 0;
}

/* Packs the n values on top of co, ok first (or the failure in a, with
 * n = 0), as the task's results. Running out of memory here must not raise
 * through the loop: the task then ends with false, "out of memory", "ENOMEM".
 */
static void pack_task_results(sw_task_t* t, int n, pack_args_t* a) {
  lua_State* co = t->co;
  if (lua_checkstack(co, 2)) {
    lua_pushcfunction(co, pack_results);
    lua_pushlightuserdata(co, a);
    lua_rotate(co, -(n + 2), 2);
    if (lua_pcall(co, n + 1, 0, 0) == LUA_OK) {
      return;
    }
  }
  t->result_ref = LUA_NOREF;
  t->nomem = 1;
}

/*
 * The task ends with the n values on top of its stack, ok (boolean) first,
 * or the failure in a. Packs them, wakes the waiters, drops the anchors.
 */
static void task_finish(sw_task_t* t, int n, pack_args_t* a) {
  lua_State* co = t->co;
  pack_task_results(t, n, a);
  t->state = T_DONE;
  if (t->is_main) {
    /* The end of sched.run's task may come from a callback early in a loop
     * turn (a timer); without uv_stop the same turn would go on to poll,
     * and block for as long as any handle (a child process) stays open. */
    uv_stop(&t->rt->loop);
  }
  t->suspended = 0;
  t->cancel = NULL;
  live_remove(t);
  lua_settop(co, 0);
  tasks_clear(co);

  while (t->waiters != NULL) {
    sw_task_t* w = t->waiters;
    t->waiters = w->next_waiter;
    w->next_waiter = NULL;
    w->waiting_on = NULL;
    stop_wait_timer(w);
    sw_task_clear_pending(w);
    int nr = push_results(w->co, t);
    ready_push(w, nr < 0 ? 0 : nr);
  }
  luaL_unref(co, LUA_REGISTRYINDEX, t->label_ref);
  t->label_ref = LUA_NOREF;
  t->label = NULL;
  /* The coroutine anchor goes last: co must stay alive while we use it. */
  lua_State* main = t->rt->L;
  luaL_unref(main, LUA_REGISTRYINDEX, t->co_ref);
  t->co_ref = LUA_NOREF;
  luaL_unref(main, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
}

static void task_fail(sw_task_t* t, const char* msg, const char* code) {
  lua_settop(t->co, 0);
  pack_args_t a = {t, msg, code};
  task_finish(t, 0, &a);
}

/* lua_pcall'd: the text of the error object at 1, as luaL_tolstring
 * makes it ("nil", "table: 0x...", or its __tostring). */
static int tostring_fn(lua_State* L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* lua_pcall'd: the error object at 1 as text, with the traceback of the
 * thread at 2 (a light userdata). */
static int error_text(lua_State* L) {
  lua_State* co = (lua_State*)lua_touserdata(L, 2);
  lua_settop(L, 1);
  lua_pushcfunction(L, tostring_fn);
  lua_insert(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    lua_pushliteral(L, "(error object has a __tostring that fails)");
  }
  luaL_traceback(L, co, lua_tostring(L, -1), 0);
  return 1;
}

static void task_run(sw_task_t* t, int nargs) {
  sw_rt_t* rt = t->rt;
  lua_State* co = t->co;
  sw_task_t* prev = rt->current;
  int nres = 0;
  t->state = T_RUNNING;
  rt->current = t;
  int status = lua_resume(co, rt->L, nargs, &nres);
  rt->current = prev;
  if (status == LUA_YIELD) {
    if (t->state == T_RUNNING) {
      /* A bare coroutine.yield() in task code: nothing would resume it. */
      lua_pop(co, nres);
      sw_closethread(co, rt->L);
      task_fail(t, "task yielded outside the scheduler (coroutine.yield)",
                "error");
    }
    return;
  }
  if (status == LUA_OK) {
    lua_pushboolean(co, 1);
    lua_insert(co, -(nres + 1));
    /* Only the results stay on the stack for packing. */
    int top = lua_gettop(co);
    if (top > nres + 1) {
      lua_rotate(co, 1, nres + 1);
      lua_settop(co, nres + 1);
    }
    pack_args_t a = {t, NULL, NULL};
    task_finish(t, nres + 1, &a);
    return;
  }
  /* An error, out of memory included: the task fails, the loop goes on.
   * The text of the error object may come from its __tostring, which can
   * raise, and the traceback allocates: both run under pcall on the main
   * thread. Raised on co (a dead thread, no handler), the error would
   * unwind straight through the loop to the outermost pcall, leaving the
   * scheduler half way. */
  lua_State* L = rt->L;
  if (!lua_checkstack(L, 4)) {
    sw_log(L, SW_LOG_ERROR, "task %lld: stack overflow", (long long)t->id);
    abort();
  }
  int base = lua_gettop(L);
  lua_pushcfunction(L, error_text);
  lua_xmove(co, L, 1);
  lua_pushlightuserdata(L, co);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->nomem_msg_ref);
  }
  const char* full = lua_tostring(L, -1);
  if (t->waiters == NULL && !t->is_main) {
    /* On co, whose label the line carries. */
    sw_log(co, SW_LOG_ERROR, "task %lld aborted: %s", (long long)t->id, full);
  }
  sw_closethread(co, L);
  task_fail(t, full, "error");
  lua_settop(L, base);
}

typedef struct {
  sw_push_fn push;
  void* data;
} push_call_t;

static int push_trampoline(lua_State* L) {
  push_call_t* c = (push_call_t*)lua_touserdata(L, 1);
  lua_settop(L, 0);
  return c->push(L, c->data);
}

void sw_task_resume(sw_task_t* t, sw_push_fn push, void* data) {
  sw_rt_t* rt = t->rt;
  lua_State* L = rt->L;
  lua_State* co = t->co;
  sw_task_clear_pending(t);
  int n = 0;
  if (push != NULL) {
    /* Built on the main thread under pcall: an error raised on co, a
     * suspended thread without a handler, would kill it and unwind
     * through uv_run. Moved over only once co is known to have room. */
    int top = lua_gettop(L);
    n = -1;
    if (lua_checkstack(L, 2)) {
      push_call_t c = {push, data};
      lua_pushcfunction(L, push_trampoline);
      lua_pushlightuserdata(L, &c);
      if (lua_pcall(L, 1, LUA_MULTRET, 0) == LUA_OK &&
          lua_checkstack(co, lua_gettop(L) - top + 1)) {
        n = lua_gettop(L) - top;
        lua_xmove(L, co, n);
      }
    }
    lua_settop(L, top);
    if (n < 0) {
      /* The primitive then returns nothing at all if even these three
       * values find no room: still nil to its caller. */
      n = push_nomem(rt, co, 0);
    }
  }
  task_run(t, n);
}

static void idle_cb(uv_idle_t* idle) {
  sw_rt_t* rt = (sw_rt_t*)idle->data;
  /* Run the tasks queued so far; ones queued meanwhile wait for the next
   * turn so I/O is polled between batches. The end of the batch lives in
   * rt so that cancelling that task (ready_remove) moves it: a local copy
   * would never be met again and the batch would run for as long as
   * tasks keep yielding, starving timers and I/O. */
  rt->batch_end = rt->ready_tail;
  while (rt->batch_end != NULL && rt->ready_head != NULL) {
    sw_task_t* t = rt->ready_head;
    rt->ready_head = t->next_ready;
    if (rt->ready_head == NULL) {
      rt->ready_tail = NULL;
    }
    t->next_ready = NULL;
    if (t == rt->batch_end) {
      rt->batch_end = NULL;
    }
    task_run(t, t->nargs);
  }
  rt->batch_end = NULL;
  if (rt->ready_head == NULL && rt->ready_active) {
    uv_idle_stop(&rt->idle);
    rt->ready_active = 0;
  }
}

/* Cancels a task that is not running; returns 1 if it was live. */
static int task_cancel(sw_task_t* t) {
  if (t->state == T_DONE || t->state == T_CLOSING) {
    return 0;
  }
  lua_State* co = t->co;
  if (t->state == T_READY) {
    ready_remove(t);
  } else if (t->state == T_PENDING) {
    sw_cancel_fn cancel = t->cancel;
    void* data = t->cancel_data;
    sw_task_clear_pending(t);
    if (cancel != NULL) {
      cancel(data);
    }
  }
  t->suspended = 0;
  t->state = T_CLOSING;
  lua_settop(co, 0);
  /* Runs the coroutine's pending to-be-closed variables. */
  int status = sw_closethread(co, t->rt->L);
  if (status != LUA_OK) {
    /* Only a string is shown as is: converting a number, or formatting a
     * description, would allocate on co, and a raise there would unwind
     * past the caller. */
    int is_str = lua_type(co, -1) == LUA_TSTRING;
    sw_log(t->rt->L, SW_LOG_WARN,
           "task %lld: error while closing after cancel: %s%s%s",
           (long long)t->id, is_str ? "" : "(a ",
           is_str ? lua_tostring(co, -1) : luaL_typename(co, -1),
           is_str ? "" : " value)");
  }
  task_fail(t, "cancelled", "cancelled");
  return 1;
}

/* ---- sw.Task ---------------------------------------------------------- */

static sw_task_t* check_task(lua_State* L, int idx) {
  return (sw_task_t*)luaL_checkudata(L, idx, TASK_MT);
}

/* stack: fn, args... at positions first..top */
static sw_task_t* task_new(lua_State* L, int first) {
  sw_rt_t* rt = rt_get(L);
  int top = lua_gettop(L);
  int nargs = top - first;
  luaL_checktype(L, first, LUA_TFUNCTION);
  sw_task_t* t = (sw_task_t*)lua_newuserdatauv(L, sizeof(sw_task_t), 0);
  memset(t, 0, sizeof(*t));
  t->ref = t->co_ref = t->result_ref = t->label_ref = LUA_NOREF;
  luaL_setmetatable(L, TASK_MT);
  t->rt = rt;
  t->id = rt->next_id++;
  lua_State* co = lua_newthread(L);
  t->co = co;
  /* Everything that allocates runs on L, the caller: raised on co, a
   * thread that is not running, an error would kill co and unwind past
   * the caller to the outermost pcall. */
  push_tasks(L);
  lua_pushvalue(L, -2);
  lua_pushlightuserdata(L, t);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  t->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* Inherit the label of the spawning task. */
  sw_task_t* parent = sw_task_current(L);
  if (parent != NULL && parent->label != NULL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, parent->label_ref);
    t->label = lua_tostring(L, -1);
    t->label_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* Move fn and args to the coroutine. */
  if (!lua_checkstack(co, nargs + 1)) {
    luaL_error(L, "spawn: too many arguments");
  }
  for (int i = first; i <= top; i++) {
    lua_pushvalue(L, i);
  }
  lua_xmove(L, co, nargs + 1);
  t->next_live = rt->live;
  if (rt->live != NULL) {
    rt->live->prev_live = t;
  }
  rt->live = t;
  ready_push(t, nargs);
  return t; /* the userdata is on top of L */
}

static int task_gc(lua_State* L) {
  sw_task_t* t = (sw_task_t*)luaL_checkudata(L, 1, TASK_MT);
  /* The results stay for task:wait while the userdata lives, no longer. */
  luaL_unref(L, LUA_REGISTRYINDEX, t->result_ref);
  t->result_ref = LUA_NOREF;
  /* Only reachable while live at lua_close: stop its pending operation so
   * no callback touches freed memory. */
  if (t->state == T_PENDING && t->cancel != NULL) {
    sw_cancel_fn cancel = t->cancel;
    sw_task_clear_pending(t);
    cancel(t->cancel_data);
  }
  if (t->wait_timer != NULL) {
    stop_wait_timer(t);
  }
  if (t->state == 0) {
    /* task_new ran out of memory before the task was queued. */
    luaL_unref(L, LUA_REGISTRYINDEX, t->co_ref);
    t->co_ref = LUA_NOREF;
  }
  /* Still live only at lua_close (or never started): the thread's entry
   * must not go on naming this userdata once it is freed. */
  if (t->state != T_DONE && t->co != NULL && lua_checkstack(L, 3) &&
      lua_rawgetp(L, LUA_REGISTRYINDEX, &TASKS_KEY) == LUA_TTABLE) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->co_ref);
    if (lua_type(L, -1) == LUA_TTHREAD) {
      lua_pushnil(L);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    } else {
      lua_pop(L, 2);
    }
  } else if (t->state != T_DONE) {
    lua_settop(L, 1);
  }
  t->co = NULL;
  return 0;
}

static const char* state_name(int state) {
  switch (state) {
    case T_READY:
      return "ready";
    case T_RUNNING:
      return "running";
    case T_PENDING:
      return "pending";
    case T_CLOSING:
      return "closing";
    default:
      return "done";
  }
}

static int task_tostring(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  lua_pushfstring(L, "sw.Task (id %I, %s)", (LUAI_UACINT)t->id,
                  state_name(t->state));
  return 1;
}

static int task_status(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  lua_pushstring(L, t->suspended ? "suspended" : state_name(t->state));
  return 1;
}

static int task_id(lua_State* L) {
  lua_pushinteger(L, check_task(L, 1)->id);
  return 1;
}

static int task_cancel_m(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  if (t->state == T_RUNNING) {
    return luaL_error(L, "task:cancel: a task cannot cancel itself");
  }
  lua_pushboolean(L, task_cancel(t));
  return 1;
}

static int task_wake(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  if (t->state != T_PENDING || !t->suspended) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int n = lua_gettop(L) - 1;
  /* Checked before anything changes, and raised here, on the caller: a
   * raise on t->co would kill the suspended task. */
  if (!lua_checkstack(t->co, n + 1)) {
    return luaL_error(L, "task:wake: too many values");
  }
  t->suspended = 0;
  sw_task_clear_pending(t);
  lua_xmove(L, t->co, n);
  ready_push(t, n);
  lua_pushboolean(L, 1);
  return 1;
}

static void wait_cancel(void* data) { unlink_waiter((sw_task_t*)data); }

static int push_timeout(lua_State* L, void* data) {
  (void)data;
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  lua_pushliteral(L, "timeout");
  return 3;
}

static void wait_timeout_cb(uv_timer_t* timer) {
  sw_task_t* w = (sw_task_t*)timer->data;
  unlink_waiter(w);
  sw_task_resume(w, push_timeout, NULL);
}

uint64_t sw_seconds_to_ms(lua_State* L, int idx, const char* fname) {
  lua_Number s = luaL_checknumber(L, idx);
  if (!(s >= 0) || s > 1e9) {
    luaL_error(L, "%s: seconds must be between 0 and 1e9, got %f", fname,
               (double)s);
  }
  double ms = s * 1000.0;
  uint64_t r = (uint64_t)ms;
  if ((double)r < ms) {
    r++;
  }
  return r;
}

/* task:wait([timeout]) -> true, results... | false, msg, code | nil,
 * "timeout", "timeout" */
static int task_wait(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  if (t->state == T_DONE) {
    int n = push_results(L, t);
    return n >= 0 ? n : luaL_error(L, "task:wait: too many results");
  }
  sw_task_t* me = sw_task_check(L, "task:wait");
  if (me == t) {
    return luaL_error(L, "task:wait: a task cannot wait for itself");
  }
  uint64_t ms = 0;
  int has_timeout = !lua_isnoneornil(L, 2);
  if (has_timeout) {
    ms = sw_seconds_to_ms(L, 2, "task:wait");
  }
  if (has_timeout) {
    uv_timer_t* timer = (uv_timer_t*)malloc(sizeof(uv_timer_t));
    if (timer == NULL) {
      return luaL_error(L, "task:wait: out of memory");
    }
    uv_timer_init(&me->rt->loop, timer);
    timer->data = me;
    uv_timer_start(timer, wait_timeout_cb, ms, 0);
    me->wait_timer = timer;
  }
  me->waiting_on = t;
  me->next_waiter = t->waiters;
  t->waiters = me;
  sw_task_set_pending(me, wait_cancel, me);
  return lua_yield(L, 0);
}

static int task_label(lua_State* L) {
  sw_task_t* t = check_task(L, 1);
  if (t->label == NULL) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, t->label);
  }
  return 1;
}

/* ---- module functions ------------------------------------------------- */

static int sched_spawn(lua_State* L) {
  task_new(L, 1);
  return 1;
}

static int sched_current(lua_State* L) {
  sw_task_t* t = sw_task_current(L);
  if (t == NULL) {
    lua_pushnil(L);
  } else {
    push_task(L, t);
  }
  return 1;
}

static void sleep_close_cb(uv_handle_t* h) { free(h); }

static void sleep_cancel(void* data) {
  uv_timer_t* timer = (uv_timer_t*)data;
  uv_timer_stop(timer);
  uv_close((uv_handle_t*)timer, sleep_close_cb);
}

static void sleep_cb(uv_timer_t* timer) {
  sw_task_t* t = (sw_task_t*)timer->data;
  uv_close((uv_handle_t*)timer, sleep_close_cb);
  sw_task_resume(t, NULL, NULL);
}

static int sched_sleep(lua_State* L) {
  uint64_t ms = sw_seconds_to_ms(L, 1, "sleep");
  sw_task_t* t = sw_task_check(L, "sleep");
  if (ms == 0) {
    /* Timers run before the ready queue in a loop turn: sleep(0) means
     * "let the others run", so it queues the task behind them instead. */
    ready_push(t, 0);
    return lua_yield(L, 0);
  }
  uv_timer_t* timer = (uv_timer_t*)malloc(sizeof(uv_timer_t));
  if (timer == NULL) {
    return luaL_error(L, "sleep: out of memory");
  }
  uv_timer_init(&t->rt->loop, timer);
  timer->data = t;
  uv_timer_start(timer, sleep_cb, ms, 0);
  sw_task_set_pending(t, sleep_cancel, timer);
  return lua_yield(L, 0);
}

/* sched.yield(): let every other ready task run, then continue. */
static int sched_yield_(lua_State* L) {
  sw_task_t* t = sw_task_check(L, "yield");
  ready_push(t, 0);
  return lua_yield(L, 0);
}

static void suspend_cancel(void* data) { ((sw_task_t*)data)->suspended = 0; }

/* sched.suspend(): park until task:wake(...) and return its values. */
static int sched_suspend(lua_State* L) {
  sw_task_t* t = sw_task_check(L, "suspend");
  t->suspended = 1;
  sw_task_set_pending(t, suspend_cancel, t);
  return lua_yield(L, 0);
}

static int sched_label(lua_State* L) {
  sw_task_t* t = sw_task_current(L);
  if (lua_gettop(L) >= 1) {
    if (t == NULL) {
      return luaL_error(L, "label: not inside a task");
    }
    const char* s = NULL;
    if (!lua_isnil(L, 1)) {
      s = luaL_checkstring(L, 1);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, t->label_ref);
    t->label_ref = LUA_NOREF;
    t->label = NULL;
    if (s != NULL) {
      lua_pushvalue(L, 1);
      t->label = s;
      t->label_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
  }
  if (t == NULL || t->label == NULL) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, t->label);
  }
  return 1;
}

static int sched_now(lua_State* L) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) {
    return luaL_error(L, "now: gettimeofday failed");
  }
  lua_pushnumber(L, (lua_Number)tv.tv_sec + (lua_Number)tv.tv_usec / 1e6);
  return 1;
}

static int sched_monotonic(lua_State* L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

/*
 * sched.run(fn, ...): runs fn in a task with the loop turning until it ends
 * and returns its results (raising its error). Tasks still alive then are
 * cancelled. Called inside a task it simply calls fn.
 */
static int run_cont(lua_State* L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);
}

static int sched_run(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (sw_task_current(L) != NULL) {
    /* lua_callk so fn may yield through this C function. */
    lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, run_cont);
    return run_cont(L, LUA_OK, 0);
  }
  sw_rt_t* rt = rt_get(L);
  if (rt->running) {
    return luaL_error(L, "run: the loop is already running");
  }
  /* Marked running only once the main task exists: a memory error in
   * task_new would otherwise leave the loop "already running" for good. */
  sw_task_t* main = task_new(L, 1);
  rt->running = 1;
  main->is_main = 1;
  int main_idx = lua_gettop(L);
  int deadlock = 0;
  while (main->state != T_DONE) {
    int alive = uv_run(&rt->loop, UV_RUN_ONCE);
    if (!alive && main->state != T_DONE && rt->ready_head == NULL) {
      deadlock = 1;
      break;
    }
  }
  while (rt->live != NULL) {
    task_cancel(rt->live);
  }
  rt->running = 0;
  if (deadlock) {
    return luaL_error(L,
                      "run: the main task waits for something that can "
                      "never happen (no pending I/O, timer or task)");
  }
  lua_settop(L, main_idx);
  int n = push_results(L, main);
  if (n < 0) {
    return luaL_error(L, "run: too many results");
  }
  if (!lua_toboolean(L, -n)) {
    lua_pushvalue(L, -n + 1);
    return lua_error(L);
  }
  return n - 1;
}

/* ---- handles: timers, signals, file watches --------------------------- */

typedef struct {
  uv_handle_t* h; /* malloc'd; freed in the close callback */
  lua_State* L;
  int ref;    /* self anchor while open */
  int fn_ref; /* callback */
  int kind;
} handle_t;

enum { H_TIMER, H_SIGNAL, H_WATCH };

static void handle_close_cb(uv_handle_t* h) { free(h); }

/* Allocates nothing, so a loop callback may call it. */
static void handle_release(lua_State* L, handle_t* hd) {
  if (hd->h == NULL) {
    return;
  }
  hd->h->data = NULL;
  uv_close(hd->h, handle_close_cb);
  hd->h = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, hd->fn_ref);
  hd->fn_ref = LUA_NOREF;
  luaL_unref(L, LUA_REGISTRYINDEX, hd->ref);
  hd->ref = LUA_NOREF;
}

static int handle_close(lua_State* L) {
  handle_release(L, (handle_t*)luaL_checkudata(L, 1, HANDLE_MT));
  return 0;
}

static int handle_tostring(lua_State* L) {
  handle_t* hd = (handle_t*)luaL_checkudata(L, 1, HANDLE_MT);
  static const char* kinds[] = {"timer", "signal", "watch"};
  lua_pushfstring(L, "sw.Handle (%s%s)", kinds[hd->kind],
                  hd->h == NULL ? ", closed" : "");
  return 1;
}

typedef struct {
  handle_t* hd;
  sw_push_fn push; /* the callback's arguments, or NULL */
  void* data;
} fire_args_t;

/* lua_pcall'd on the main thread: spawns the handle's callback. */
static int fire_spawn(lua_State* L) {
  fire_args_t* a = (fire_args_t*)lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->hd->fn_ref);
  if (a->push != NULL) {
    a->push(L, a->data);
  }
  task_new(L, 1);
  return 0;
}

/* Spawns the handle's callback as a new task with the values push leaves.
 * Under pcall: running out of memory drops this one firing (logged)
 * instead of raising through the loop. */
static void handle_fire(handle_t* hd, sw_push_fn push, void* data) {
  static const char* kinds[] = {"timer", "signal", "watch"};
  lua_State* L = hd->L;
  int top = lua_gettop(L);
  fire_args_t a = {hd, push, data};
  if (!lua_checkstack(L, 2)) {
    sw_log(L, SW_LOG_ERROR, "sched: %s callback dropped: stack overflow",
           kinds[hd->kind]);
    return;
  }
  lua_pushcfunction(L, fire_spawn);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    sw_log(L, SW_LOG_ERROR, "sched: %s callback dropped: %s", kinds[hd->kind],
           lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                          : "(an error object)");
  }
  lua_settop(L, top);
}

static handle_t* handle_new(lua_State* L, int fn_idx, int kind, size_t size) {
  luaL_checktype(L, fn_idx, LUA_TFUNCTION);
  rt_get(L);
  handle_t* hd = (handle_t*)lua_newuserdatauv(L, sizeof(handle_t), 0);
  memset(hd, 0, sizeof(*hd));
  hd->ref = hd->fn_ref = LUA_NOREF;
  luaL_setmetatable(L, HANDLE_MT);
  hd->h = (uv_handle_t*)malloc(size);
  if (hd->h == NULL) {
    luaL_error(L, "sched: out of memory");
  }
  hd->kind = kind;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  hd->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_pushvalue(L, fn_idx);
  hd->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  hd->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return hd;
}

static void timer_fire_cb(uv_timer_t* timer) {
  handle_t* hd = (handle_t*)timer->data;
  if (hd == NULL) {
    return;
  }
  int once = uv_timer_get_repeat(timer) == 0;
  handle_fire(hd, NULL, NULL);
  if (once) {
    handle_release(hd->L, hd);
  }
}

static int timer_start(lua_State* L, int repeat) {
  uint64_t ms = sw_seconds_to_ms(L, 1, repeat ? "every" : "after");
  handle_t* hd = handle_new(L, 2, H_TIMER, sizeof(uv_timer_t));
  uv_timer_init(sw_loop(L), (uv_timer_t*)hd->h);
  hd->h->data = hd;
  uv_timer_start((uv_timer_t*)hd->h, timer_fire_cb, ms, repeat ? ms : 0);
  return 1;
}

/* sched.after(seconds, fn) -> handle: spawns fn once. */
static int sched_after(lua_State* L) { return timer_start(L, 0); }

/* sched.every(seconds, fn) -> handle: spawns fn every period. */
static int sched_every(lua_State* L) { return timer_start(L, 1); }

static const struct {
  const char* name;
  int signum;
} signals[] = {{"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},   {"SIGHUP", SIGHUP},
               {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {NULL, 0}};

static int push_signal_name(lua_State* L, void* data) {
  lua_pushstring(L, (const char*)data);
  return 1;
}

static void signal_cb(uv_signal_t* sig, int signum) {
  handle_t* hd = (handle_t*)sig->data;
  if (hd == NULL) {
    return;
  }
  for (int i = 0; signals[i].name != NULL; i++) {
    if (signals[i].signum == signum) {
      handle_fire(hd, push_signal_name, (void*)signals[i].name);
    }
  }
}

/* sched.on_signal(name, fn) -> handle: spawns fn(name) on each delivery. */
static int sched_on_signal(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  int signum = 0;
  for (int i = 0; signals[i].name != NULL; i++) {
    if (strcmp(signals[i].name, name) == 0) {
      signum = signals[i].signum;
    }
  }
  luaL_argcheck(L, signum != 0, 1, "unknown signal name");
  handle_t* hd = handle_new(L, 2, H_SIGNAL, sizeof(uv_signal_t));
  uv_signal_init(sw_loop(L), (uv_signal_t*)hd->h);
  hd->h->data = hd;
  int err = uv_signal_start((uv_signal_t*)hd->h, signal_cb, signum);
  if (err != 0) {
    lua_pushcfunction(L, handle_close);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return sw_fail_uv(L, "on_signal", err);
  }
  return 1;
}

typedef struct {
  const char* filename;
  int events;
  int status;
} watch_args_t;

static int push_watch_args(lua_State* L, void* data) {
  watch_args_t* a = (watch_args_t*)data;
  if (a->filename != NULL) {
    lua_pushstring(L, a->filename);
  } else {
    lua_pushnil(L);
  }
  lua_createtable(L, 0, 3);
  lua_pushboolean(L, (a->events & UV_RENAME) != 0);
  lua_setfield(L, -2, "rename");
  lua_pushboolean(L, (a->events & UV_CHANGE) != 0);
  lua_setfield(L, -2, "change");
  if (a->status < 0) {
    char text[128];
    uv_strerror_r(a->status, text, sizeof(text));
    lua_pushstring(L, text);
    lua_setfield(L, -2, "error");
  }
  return 2;
}

static void watch_cb(uv_fs_event_t* ev, const char* filename, int events,
                     int status) {
  handle_t* hd = (handle_t*)ev->data;
  if (hd == NULL) {
    return;
  }
  watch_args_t a = {filename, events, status};
  handle_fire(hd, push_watch_args, &a);
}

/* sched.watch(path, fn) -> handle: spawns fn(filename, events) when path
 * (a file or a directory) changes. */
static int sched_watch(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  handle_t* hd = handle_new(L, 2, H_WATCH, sizeof(uv_fs_event_t));
  uv_fs_event_init(sw_loop(L), (uv_fs_event_t*)hd->h);
  hd->h->data = hd;
  int err = uv_fs_event_start((uv_fs_event_t*)hd->h, watch_cb, path, 0);
  if (err != 0) {
    lua_pushcfunction(L, handle_close);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    lua_pushfstring(L, "watch: %s", path);
    return sw_fail_uv(L, lua_tostring(L, -1), err);
  }
  return 1;
}

/*
 * The parts that read best in Lua, built on the primitives above:
 * wait_all, and a counting semaphore whose waiters survive cancellation
 * (a cancelled waiter is skipped; a holder releases through <close>).
 */
static const char sched_lua[] =
    "local M = ...\n"
    "function M.wait_all(tasks, timeout)\n"
    "  local out = {}\n"
    "  local deadline = timeout and (M.monotonic() + timeout)\n"
    "  for i, t in ipairs(tasks) do\n"
    "    local left = deadline and math.max(0, deadline - M.monotonic())\n"
    "    out[i] = table.pack(t:wait(left))\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local Sem = {}\n"
    "Sem.__index = Sem\n"
    "Sem.__name = 'sw.Semaphore'\n"
    "function M.semaphore(n)\n"
    "  assert(math.type(n) == 'integer' and n >= 1,\n"
    "         'semaphore: count must be a positive integer')\n"
    "  return setmetatable({count = n, waiters = {}}, Sem)\n"
    "end\n"
    "function Sem:acquire()\n"
    "  if self.count > 0 then\n"
    "    self.count = self.count - 1\n"
    "    return true\n"
    "  end\n"
    "  local me = M.current()\n"
    "  if not me then error('semaphore:acquire: not inside a task', 2) end\n"
    "  self.waiters[#self.waiters + 1] = me\n"
    "  M.suspend()\n"
    "  return true\n"
    "end\n"
    "function Sem:release()\n"
    "  while #self.waiters > 0 do\n"
    "    local w = table.remove(self.waiters, 1)\n"
    "    if w:wake() then return end\n"
    "  end\n"
    "  self.count = self.count + 1\n"
    "end\n"
    "function Sem:with(fn, ...)\n"
    "  self:acquire()\n"
    "  local guard <close> = setmetatable({}, {__close = function()\n"
    "    self:release() end})\n"
    "  return fn(...)\n"
    "end\n"
    "return M\n";

static const luaL_Reg sched_funcs[] = {
    {"after", sched_after},         {"current", sched_current},
    {"every", sched_every},         {"label", sched_label},
    {"monotonic", sched_monotonic}, {"now", sched_now},
    {"on_signal", sched_on_signal}, {"run", sched_run},
    {"sleep", sched_sleep},         {"spawn", sched_spawn},
    {"suspend", sched_suspend},     {"watch", sched_watch},
    {"yield", sched_yield_},        {NULL, NULL}};

static const luaL_Reg task_methods[] = {{"cancel", task_cancel_m},
                                        {"id", task_id},
                                        {"label", task_label},
                                        {"status", task_status},
                                        {"wait", task_wait},
                                        {"wake", task_wake},
                                        {NULL, NULL}};

static const luaL_Reg task_meta[] = {
    {"__gc", task_gc}, {"__tostring", task_tostring}, {NULL, NULL}};

static const luaL_Reg handle_methods[] = {{"close", handle_close},
                                          {NULL, NULL}};

static const luaL_Reg handle_meta[] = {{"__close", handle_close},
                                       {"__gc", handle_close},
                                       {"__tostring", handle_tostring},
                                       {NULL, NULL}};

static void new_class(lua_State* L, const char* name, const luaL_Reg* meta,
                      const luaL_Reg* methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int luaopen_sw_sched(lua_State* L) {
  new_class(L, TASK_MT, task_meta, task_methods);
  new_class(L, HANDLE_MT, handle_meta, handle_methods);
  luaL_newlib(L, sched_funcs);
  if (luaL_loadbuffer(L, sched_lua, sizeof(sched_lua) - 1, "=sw.sched") !=
      LUA_OK) {
    return lua_error(L);
  }
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  return 1;
}
