/*
 * test_sched_nomem.c: running out of memory while a loop callback builds
 * the values a suspended task is resumed with must fail that one operation
 * (nil, "out of memory", "ENOMEM"), not raise through uv_run and leave the
 * scheduler broken. The Lua state runs on an allocator that can be told to
 * fail the n-th growing allocation from now (and Lua's retry of it).
 *
 * First a primitive of this file fails its own push deterministically; then
 * a sweep moves the one failure across every allocation of a run that uses
 * the real primitives (hash.file and fs.snapshot on the thread pool,
 * proc.wait, sleep, task:wait with and without a timeout): each run must
 * end (with results or a Lua error), and the scheduler must then run a
 * task normally.
 */
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sw.h"

static int passed = 0;
static int failed = 0;
static long fail_in = 0; /* fail the fail_in-th growing allocation; 0 off */
static long failures = 0;
static int retry_fails = 0;

static void* test_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  /* Lua relies on shrinking never failing; only growth may. A failed
   * allocation is retried once after an emergency collection, so the
   * retry fails too. */
  if ((fail_in > 0 || retry_fails > 0) && (ptr == NULL || nsize > osize)) {
    if (retry_fails > 0) {
      retry_fails--;
      return NULL;
    }
    if (--fail_in == 0) {
      failures++;
      retry_fails = 1;
      return NULL;
    }
  }
  return realloc(ptr, nsize);
}

static void check(int ok, const char* what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s\n", what);
  }
}

/* arm(n): the n-th growing allocation from now fails, once. */
static int l_arm(lua_State* L) {
  fail_in = (long)luaL_checkinteger(L, 1);
  return 0;
}

static int l_disarm(lua_State* L) {
  (void)L;
  fail_in = 0;
  retry_fails = 0;
  return 0;
}

/* ---- a primitive whose push runs out of memory ------------------------ */

typedef struct {
  uv_timer_t timer;
  sw_task_t* task;
} op_t;

static void op_close_cb(uv_handle_t* h) { free(h->data); }

static void op_cancel(void* data) {
  op_t* op = (op_t*)data;
  uv_close((uv_handle_t*)&op->timer, op_close_cb);
}

/* Arms a failure of the very next allocation, then allocates. */
static int push_big(lua_State* L, void* data) {
  (void)data;
  fail_in = 1;
  lua_createtable(L, 0, 64);
  return 1;
}

static void op_timer_cb(uv_timer_t* timer) {
  op_t* op = (op_t*)timer->data;
  uv_close((uv_handle_t*)&op->timer, op_close_cb);
  sw_task_resume(op->task, push_big, NULL);
}

/* failing_op() -> what push_big would return, after a loop turn */
static int l_failing_op(lua_State* L) {
  sw_task_t* t = sw_task_check(L, "failing_op");
  op_t* op = (op_t*)calloc(1, sizeof(*op));
  if (op == NULL) {
    return luaL_error(L, "failing_op: out of memory");
  }
  op->task = t;
  uv_timer_init(sw_loop(L), &op->timer);
  op->timer.data = op;
  uv_timer_start(&op->timer, op_timer_cb, 1, 0);
  sw_task_set_pending(t, op_cancel, op);
  return lua_yield(L, 0);
}

/* Runs chunk (which returns one value) and returns that value as an
 * integer, or -1 when it raised (the message goes to stderr). */
static long run_chunk(lua_State* L, const char* chunk) {
  int top = lua_gettop(L);
  long r = -1;
  if (luaL_loadstring(L, chunk) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "chunk failed: %s\n", lua_tostring(L, -1));
  } else {
    r = (long)lua_tointeger(L, -1);
  }
  lua_settop(L, top);
  return r;
}

static const char direct_chunk[] =
    "local sched = require('sw.sched')\n"
    "return sched.run(function()\n"
    "  local v, msg, code = failing_op()\n"
    "  if v == nil and msg == 'out of memory' and code == 'ENOMEM' then\n"
    "    return 1\n"
    "  end\n"
    "  return 0\n"
    "end)\n";

/* One run of the real primitives; returns how many of them came back
 * with ENOMEM, or raises (a Lua error of the task, out of memory). */
static const char sweep_chunk[] =
    "local sched, hash, proc = require('sw.sched'), require('sw.hash'),\n"
    "  require('sw.proc')\n"
    "local fs = require('sw.fs')\n"
    "local n = ...\n"
    "local ok, res = pcall(sched.run, function()\n"
    "  local enomem = 0\n"
    "  local function count(_, _, code)\n"
    "    if code == 'ENOMEM' then enomem = enomem + 1 end\n"
    "  end\n"
    "  arm(n)\n"
    "  count(hash.file(PATH, 'sha256'))\n"
    "  count(fs.snapshot(DIR, DIR .. '.' .. n))\n"
    "  local p = proc.spawn({argv = {'/bin/true'}})\n"
    "  if p then count(p:wait()); p:close() end\n"
    "  sched.sleep(0.001)\n"
    "  local child = sched.spawn(function() sched.sleep(0.001) return 1 end)\n"
    "  count(child:wait())\n"
    "  local idle = sched.spawn(function() sched.suspend() end)\n"
    "  count(idle:wait(0.001))\n"
    "  disarm()\n"
    "  return enomem\n"
    "end)\n"
    "disarm()\n"
    "if ok then return res end\n"
    "return -2\n";

static const char healthy_chunk[] =
    "local sched = require('sw.sched')\n"
    "return sched.run(function()\n"
    "  local t = sched.spawn(function() sched.sleep(0.001) return 41 end)\n"
    "  local ok, v = t:wait()\n"
    "  return ok and v + 1 or 0\n"
    "end)\n";

int main(void) {
  char path[] = "/tmp/sw-sched-nomem-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, "data", 4) != 4) {
    perror("mkstemp");
    return 1;
  }
  close(fd);
  /* A tree to snapshot: one file; each run copies it to DIR.<n>. */
  char dir[] = "/tmp/sw-sched-nomem-dir-XXXXXX";
  char file[sizeof dir + 8];
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(file, sizeof file, "%s/f", dir);
  fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, "data", 4) != 4) {
    perror("open");
    return 1;
  }
  close(fd);
  lua_State* L = lua_newstate(test_alloc, NULL);
  if (L == NULL) {
    return 1;
  }
  luaL_openlibs(L);
  sw_preload_all(L);
  lua_register(L, "arm", l_arm);
  lua_register(L, "disarm", l_disarm);
  lua_register(L, "failing_op", l_failing_op);
  lua_pushstring(L, path);
  lua_setglobal(L, "PATH");
  lua_pushstring(L, dir);
  lua_setglobal(L, "DIR");

  failures = 0;
  check(run_chunk(L, direct_chunk) == 1,
        "a push that runs out of memory resumes with nil, msg, ENOMEM");
  check(failures == 1, "exactly one allocation failed");
  check(run_chunk(L, healthy_chunk) == 42, "the scheduler runs afterwards");

  /* The sweep: each n puts the failure one allocation further on, until a
   * run passes with no failure left to hit. */
  long enomem_runs = 0;
  long error_runs = 0;
  long broken = 0;
  long n = 1;
  for (; n < 20000; n++) {
    failures = 0;
    int top = lua_gettop(L);
    if (luaL_loadstring(L, sweep_chunk) != LUA_OK) {
      fprintf(stderr, "sweep chunk: %s\n", lua_tostring(L, -1));
      failed++;
      break;
    }
    lua_pushinteger(L, n);
    long r = -3;
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
      r = (long)lua_tointeger(L, -1);
    }
    lua_settop(L, top);
    fail_in = 0;
    if (r > 0) {
      enomem_runs++;
    } else if (r < 0) {
      error_runs++;
    }
    if (run_chunk(L, healthy_chunk) != 42) {
      broken++;
      fprintf(stderr, "scheduler broken after a failure at allocation %ld\n",
              n);
      break;
    }
    if (failures == 0) {
      break; /* the failure point is past the end of the run */
    }
  }
  printf("sweep: %ld runs, %ld with ENOMEM results, %ld raised\n", n,
         enomem_runs, error_runs);
  check(broken == 0, "the scheduler survives a failure at every allocation");
  check(n < 20000, "the sweep reaches a run without failure");
  check(enomem_runs > 0, "some failures land in a callback's push");
  lua_close(L);
  remove(path);
  /* The copies the runs made, and the tree. */
  char cmd[2 * sizeof dir + 32];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'.*", dir, dir);
  check(system(cmd) == 0, "the snapshots are removed");
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
