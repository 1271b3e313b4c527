/*
 * proc.c: sw.proc, child processes the way the worker runs a task's script.
 *
 * proc.spawn starts a child in a new session and process group (libuv's
 * UV_PROCESS_DETACHED calls setsid), with exactly the environment it is
 * given, a working directory, /dev/null on stdin and one extra inherited
 * descriptor as fd 3 (TASKCLUSTER_CREDENTIALS_FD). stdout and stderr come
 * back through two pipes; every chunk is appended to the log file as it
 * arrives and, on request, kept in memory up to a bound.
 *
 * The C side is a small state machine per child (proc_t, malloc'd because
 * libuv owns its handles until their close callbacks):
 *
 *   running --exit_cb--> exited --both pipes at EOF, or drain timer--> done
 *
 * Waiters (tasks in p:wait) are resumed at "done", so the log is complete
 * when wait returns; a grandchild that keeps a pipe open only delays that
 * by the drain period. The memory is freed when the last of the four
 * handles (process, two pipes, drain timer) is closed and the Lua userdata
 * no longer points at it. A Process closed or collected while the child
 * runs kills the whole group with SIGKILL and lets libuv reap the child.
 * At lua_close a closer (sw_atclose) kills and reaps what is left, so no
 * child outlives the worker and nothing leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sw.h"

#define PROCESS_MT "sw.Process"
#define READ_CHUNK 65536
#define DEFAULT_MAX_CAPTURE (1024 * 1024)
#define DEFAULT_DRAIN_MS 1000
#define EXTRA_FD 3

extern char** environ;

typedef struct proc_s proc_t;
typedef struct waiter_s waiter_t;

/* Every live child of one Lua state, for the closer at lua_close. */
typedef struct {
  proc_t* head;
  lua_State* L; /* the main thread, to mark the list gone at close */
} proc_list_t;

typedef struct {
  char* data;
  size_t len;
  size_t cap;
} capture_t;

struct waiter_s {
  proc_t* p;
  sw_task_t* task;
  uv_timer_t timer; /* used when has_timer; the waiter is freed in its close
                       callback */
  int has_timer;
  waiter_t* next;
};

struct proc_s {
  uv_process_t process;
  uv_pipe_t pipes[2]; /* stdout, stderr */
  uv_timer_t drain;
  lua_State* L; /* the main thread, for log lines */
  proc_list_t* list;
  proc_t* prev;
  proc_t* next;
  void* ud; /* the Lua userdata while it points here */
  waiter_t* waiters;
  int pid;
  int open_handles; /* handles whose close callback has not run */
  int reading[2];   /* pipe i is still open for reading */
  int exited;
  int done;
  int64_t code;
  int signum;
  int log_fd;
  int log_err; /* first errno writing the log, 0 if none */
  char* log_path;
  int capture;
  int truncated;
  size_t max_capture;
  uint64_t drain_ms;
  capture_t out[2];
  char buf[READ_CHUNK];
};

typedef struct {
  proc_t* p; /* NULL once closed */
  int pid;
} proc_ud_t;

static const char LIST_KEY = 'p';

/* ---- signals ------------------------------------------------------------ */

static const struct {
  const char* name;
  int signum;
} signals[] = {
    {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},
    {"SIGILL", SIGILL},       {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},
    {"SIGBUS", SIGBUS},       {"SIGFPE", SIGFPE},   {"SIGKILL", SIGKILL},
    {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
    {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},
    {"SIGCHLD", SIGCHLD},     {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP},
    {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},
    {"SIGURG", SIGURG},       {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
    {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH},
    {"SIGIO", SIGIO},         {"SIGSYS", SIGSYS},   {NULL, 0}};

static void push_signame(lua_State* L, int signum) {
  for (int i = 0; signals[i].name != NULL; i++) {
    if (signals[i].signum == signum) {
      lua_pushstring(L, signals[i].name);
      return;
    }
  }
  lua_pushfstring(L, "SIG%d", signum);
}

/* ---- lifetime ----------------------------------------------------------- */

static void proc_free(proc_t* p) {
  if (p->list != NULL) {
    if (p->prev != NULL) {
      p->prev->next = p->next;
    } else {
      p->list->head = p->next;
    }
    if (p->next != NULL) {
      p->next->prev = p->prev;
    }
  }
  for (int i = 0; i < 2; i++) {
    free(p->out[i].data);
  }
  free(p->log_path);
  free(p);
}

static void handle_close_cb(uv_handle_t* h) {
  proc_t* p = (proc_t*)h->data;
  p->open_handles--;
  if (p->open_handles == 0 && p->ud == NULL) {
    proc_free(p);
  }
}

static void close_handle(uv_handle_t* h) {
  if (!uv_is_closing(h)) {
    uv_close(h, handle_close_cb);
  }
}

static void waiter_close_cb(uv_handle_t* h) { free(h->data); }

/* Unlinks w from its process and frees it (after its timer closes). */
static void waiter_release(waiter_t* w) {
  waiter_t** pp = &w->p->waiters;
  while (*pp != NULL) {
    if (*pp == w) {
      *pp = w->next;
      break;
    }
    pp = &(*pp)->next;
  }
  w->next = NULL;
  if (w->has_timer) {
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t*)&w->timer, waiter_close_cb);
  } else {
    free(w);
  }
}

/* libuv's text for errno err (as in every other message), or strerror's
 * for an errno libuv does not know (uv_strerror would strdup one, a leak). */
static const char* errno_text(int err, char* buf, size_t size) {
  uv_strerror_r(uv_translate_sys_error(err), buf, size);
  return strncmp(buf, "Unknown", 7) == 0 ? strerror(err) : buf;
}

/* stack: +1, the status table of a finished process */
static int push_status(lua_State* L, void* data) {
  proc_t* p = (proc_t*)data;
  luaL_checkstack(L, 4, "proc.wait");
  lua_createtable(L, 0, 6);
  if (p->signum != 0) {
    push_signame(L, p->signum);
    lua_setfield(L, -2, "signal");
    lua_pushinteger(L, p->signum);
    lua_setfield(L, -2, "signum");
    lua_pushinteger(L, -(lua_Integer)p->signum);
  } else {
    lua_pushinteger(L, (lua_Integer)p->code);
  }
  lua_setfield(L, -2, "code");
  if (p->capture) {
    lua_pushlstring(L, p->out[0].len > 0 ? p->out[0].data : "", p->out[0].len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, p->out[1].len > 0 ? p->out[1].data : "", p->out[1].len);
    lua_setfield(L, -2, "stderr");
    if (p->truncated) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "truncated");
    }
  }
  if (p->log_err != 0) {
    char text[128];
    lua_pushfstring(L, "proc: log %s: %s", p->log_path,
                    errno_text(p->log_err, text, sizeof(text)));
    lua_setfield(L, -2, "log_error");
  }
  return 1;
}

/* Runs once the child has exited and both pipes are closed: the log is
 * complete, so every waiter gets the status. */
static void maybe_done(proc_t* p) {
  if (p->done || !p->exited || p->reading[0] || p->reading[1]) {
    return;
  }
  p->done = 1;
  uv_timer_stop(&p->drain);
  close_handle((uv_handle_t*)&p->drain);
  if (p->log_fd >= 0) {
    close(p->log_fd);
    p->log_fd = -1;
  }
  /* A resumed task may close the Process or cancel another waiter; p stays
   * allocated until the close callbacks run, and each waiter is unlinked
   * before its task runs. */
  while (p->waiters != NULL) {
    waiter_t* w = p->waiters;
    sw_task_t* t = w->task;
    waiter_release(w);
    sw_task_resume(t, push_status, p);
  }
}

static void close_pipe(proc_t* p, int i) {
  uv_handle_t* h = (uv_handle_t*)&p->pipes[i];
  p->reading[i] = 0;
  if (!uv_is_closing(h)) {
    uv_read_stop((uv_stream_t*)h);
    uv_close(h, handle_close_cb);
  }
}

/* ---- output ------------------------------------------------------------- */

static void log_write(proc_t* p, const char* data, size_t len) {
  if (p->log_fd < 0 || p->log_err != 0) {
    return;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(p->log_fd, data + off, len - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      p->log_err = errno;
      char text[128];
      sw_log(p->L, SW_LOG_WARN, "proc: pid %d: writing %s: %s", p->pid,
             p->log_path, errno_text(p->log_err, text, sizeof(text)));
      return;
    }
    off += (size_t)n;
  }
}

static void capture_add(proc_t* p, capture_t* c, const char* data, size_t len) {
  size_t room = p->max_capture - c->len;
  if (len > room) {
    len = room;
    p->truncated = 1;
  }
  if (len == 0) {
    return;
  }
  if (c->len + len > c->cap) {
    size_t cap = c->cap == 0 ? 4096 : c->cap;
    while (cap < c->len + len) {
      cap *= 2;
    }
    if (cap > p->max_capture) {
      cap = p->max_capture;
    }
    char* data2 = (char*)realloc(c->data, cap);
    if (data2 == NULL) {
      /* Keep what fits; the status says the capture is incomplete. */
      p->truncated = 1;
      return;
    }
    c->data = data2;
    c->cap = cap;
  }
  memcpy(c->data + c->len, data, len);
  c->len += len;
}

static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)suggested;
  proc_t* p = (proc_t*)h->data;
  buf->base = p->buf;
  buf->len = sizeof(p->buf);
}

static void read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  proc_t* p = (proc_t*)s->data;
  int i = s == (uv_stream_t*)&p->pipes[0] ? 0 : 1;
  if (nread > 0) {
    log_write(p, buf->base, (size_t)nread);
    if (p->capture) {
      capture_add(p, &p->out[i], buf->base, (size_t)nread);
    }
    return;
  }
  if (nread == 0) {
    return; /* EAGAIN */
  }
  /* EOF, or a read error that ends this stream just the same. */
  close_pipe(p, i);
  maybe_done(p);
}

static void drain_cb(uv_timer_t* timer) {
  proc_t* p = (proc_t*)timer->data;
  close_pipe(p, 0);
  close_pipe(p, 1);
  maybe_done(p);
}

static void exit_cb(uv_process_t* process, int64_t status, int signum) {
  proc_t* p = (proc_t*)process->data;
  p->exited = 1;
  p->code = status;
  p->signum = signum;
  close_handle((uv_handle_t*)process);
  if (p->reading[0] || p->reading[1]) {
    /* A grandchild may hold the pipes open for ever: give the output a
     * moment to arrive, then stop listening. */
    uv_timer_start(&p->drain, drain_cb, p->drain_ms, 0);
  }
  maybe_done(p);
}

/* ---- the Lua side ------------------------------------------------------- */

static proc_ud_t* check_ud(lua_State* L) {
  return (proc_ud_t*)luaL_checkudata(L, 1, PROCESS_MT);
}

static proc_t* check_open(lua_State* L) {
  proc_ud_t* u = check_ud(L);
  if (u->p == NULL) {
    luaL_error(L, "attempt to use a closed process");
  }
  return u->p;
}

/* Idempotent: __gc, __close and p:close(). A child still running gets
 * SIGKILL on its whole group; libuv reaps it and the handles close. */
static int process_close(lua_State* L) {
  proc_ud_t* u = check_ud(L);
  proc_t* p = u->p;
  if (p == NULL) {
    return 0;
  }
  u->p = NULL;
  p->ud = NULL;
  /* Not done: the child runs, or a grandchild may still hold the pipes. */
  if (!p->done) {
    kill(-p->pid, SIGKILL);
  }
  if (p->open_handles == 0) {
    proc_free(p);
  }
  return 0;
}

static int process_pid(lua_State* L) {
  lua_pushinteger(L, check_ud(L)->pid);
  return 1;
}

static const char* state_name(proc_ud_t* u) {
  if (u->p == NULL) {
    return "closed";
  }
  return u->p->exited ? "exited" : "running";
}

static int process_status(lua_State* L) {
  lua_pushstring(L, state_name(check_ud(L)));
  return 1;
}

static int process_tostring(lua_State* L) {
  proc_ud_t* u = check_ud(L);
  lua_pushfstring(L, "sw.Process (pid %d, %s)", u->pid, state_name(u));
  return 1;
}

static int parse_signal(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, idx);
    luaL_argcheck(L, n >= 0 && n < 65, idx, "signal number out of range");
    return (int)n;
  }
  const char* name = luaL_checkstring(L, idx);
  for (int i = 0; signals[i].name != NULL; i++) {
    if (strcmp(signals[i].name, name) == 0) {
      return signals[i].signum;
    }
  }
  return luaL_argerror(L, idx,
                       lua_pushfstring(L, "unknown signal name '%s'", name));
}

/* p:kill(sig) -> true | nil, msg, code. sig: a name ("SIGTERM") or a
 * number (0 only checks that the group exists). Goes to the whole group. */
static int kill_group(lua_State* L, int pgid, int sig) {
  if (kill(-pgid, sig) != 0) {
    int err = errno;
    lua_pushfstring(L, "proc.kill: process group %d", pgid);
    return sw_fail_uv(L, lua_tostring(L, -1), uv_translate_sys_error(err));
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int process_kill(lua_State* L) {
  proc_t* p = check_open(L);
  int sig = parse_signal(L, 2);
  return kill_group(L, p->pid, sig);
}

/* proc.kill_group(pgid, sig) -> true | nil, msg, code: a signal to a
 * process group this worker holds no handle of (the script of a worker
 * that was killed). pgid must be above 1: kill(-1) would signal every
 * process. */
static int proc_kill_group(lua_State* L) {
  lua_Integer pgid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pgid > 1 && pgid <= INT_MAX, 1, "not a process group id");
  int sig = parse_signal(L, 2);
  return kill_group(L, (int)pgid, sig);
}

static void wait_cancel(void* data) { waiter_release((waiter_t*)data); }

static int push_timeout(lua_State* L, void* data) {
  (void)data;
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  lua_pushliteral(L, "timeout");
  return 3;
}

static void wait_timeout_cb(uv_timer_t* timer) {
  waiter_t* w = (waiter_t*)timer->data;
  sw_task_t* t = w->task;
  waiter_release(w);
  sw_task_resume(t, push_timeout, NULL);
}

/* p:wait([timeout]) -> status | nil, "timeout", "timeout" */
static int process_wait(lua_State* L) {
  proc_t* p = check_open(L);
  int has_timeout = !lua_isnoneornil(L, 2);
  uint64_t ms = has_timeout ? sw_seconds_to_ms(L, 2, "proc.wait") : 0;
  if (p->done) {
    push_status(L, p);
    return 1;
  }
  sw_task_t* t = sw_task_check(L, "proc.wait");
  waiter_t* w = (waiter_t*)calloc(1, sizeof(*w));
  if (w == NULL) {
    return luaL_error(L, "proc.wait: out of memory");
  }
  w->p = p;
  w->task = t;
  if (has_timeout) {
    w->has_timer = 1;
    uv_timer_init(sw_loop(L), &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, wait_timeout_cb, ms, 0);
  }
  waiter_t** pp = &p->waiters;
  while (*pp != NULL) {
    pp = &(*pp)->next;
  }
  *pp = w;
  sw_task_set_pending(t, wait_cancel, w);
  return lua_yield(L, 0);
}

/* At lua_close: kill and reap every child left, close its handles (their
 * callbacks run in the scheduler's last loop turn and free the memory). */
static void list_close(void* data) {
  proc_list_t* list = (proc_list_t*)data;
  while (list->head != NULL) {
    proc_t* p = list->head;
    list->head = p->next;
    p->list = NULL;
    p->prev = p->next = NULL;
    if (p->ud != NULL) {
      ((proc_ud_t*)p->ud)->p = NULL;
      p->ud = NULL;
    }
    if (p->open_handles == 0) {
      proc_free(p);
      continue;
    }
    while (p->waiters != NULL) {
      waiter_release(p->waiters);
    }
    if (!p->exited) {
      kill(-p->pid, SIGKILL);
      /* Closing the handle takes it off libuv's list, so reap it here. */
      close_handle((uv_handle_t*)&p->process);
      while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR) {
      }
      p->exited = 1;
    }
    close_pipe(p, 0);
    close_pipe(p, 1);
    uv_timer_stop(&p->drain);
    close_handle((uv_handle_t*)&p->drain);
    if (p->log_fd >= 0) {
      close(p->log_fd);
      p->log_fd = -1;
    }
    p->done = 1;
  }
  /* lua_close goes on with other finalizers, which may still call in: the
   * key must not name freed memory. */
  lua_pushboolean(list->L, 0);
  lua_rawsetp(list->L, LUA_REGISTRYINDEX, &LIST_KEY);
  free(list);
}

static proc_list_t* get_list(lua_State* L) {
  int type = lua_rawgetp(L, LUA_REGISTRYINDEX, &LIST_KEY);
  if (type == LUA_TLIGHTUSERDATA) {
    proc_list_t* list = (proc_list_t*)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return list;
  }
  lua_pop(L, 1);
  if (type != LUA_TNIL) {
    luaL_error(L, "proc: the event loop is closed");
  }
  proc_list_t* list = (proc_list_t*)calloc(1, sizeof(*list));
  if (list == NULL) {
    return NULL;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  list->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (sw_atclose(L, list_close, list) != 0) {
    free(list);
    return NULL;
  }
  lua_pushlightuserdata(L, list);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &LIST_KEY);
  return list;
}

/* ---- descendants that leave the script's group -------------------------- */

/* proc.set_subreaper() -> true | nil, msg, code: orphans among this
 * process's descendants are re-parented to it instead of init (Linux
 * PR_SET_CHILD_SUBREAPER), so a task's double-forked daemons stay findable
 * and killable. */
static int proc_set_subreaper(lua_State* L) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return sw_fail_uv(L, "proc.set_subreaper", uv_translate_sys_error(errno));
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* proc.kill_pid(pid, sig) -> true | nil, msg, code: a signal to one
 * process (a descendant that left the script's group). */
static int proc_kill_pid(lua_State* L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 1 && pid <= INT_MAX, 1, "not a process id");
  int sig = parse_signal(L, 2);
  if (kill((pid_t)pid, sig) != 0) {
    int err = errno;
    lua_pushfstring(L, "proc.kill_pid: process %d", (int)pid);
    return sw_fail_uv(L, lua_tostring(L, -1), uv_translate_sys_error(err));
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* proc.reap(pid) -> true (reaped) | false: collects the exit status of a
 * child this worker did not start through proc.spawn (an orphan it
 * inherited as subreaper or PID 1). A child of a live Process is left to
 * libuv, which needs its status. */
static int proc_reap(lua_State* L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 1 && pid <= INT_MAX, 1, "not a process id");
  proc_list_t* list = get_list(L);
  for (proc_t* p = list != NULL ? list->head : NULL; p != NULL; p = p->next) {
    if (p->pid == (int)pid && !p->exited) {
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  pid_t r;
  do {
    r = waitpid((pid_t)pid, NULL, WNOHANG);
  } while (r < 0 && errno == EINTR);
  lua_pushboolean(L, r == (pid_t)pid);
  return 1;
}

/* proc.user(name) -> {uid, gid, home} | nil, msg, code: a local user and
 * its primary group, for running the task script as that user. */
static int proc_user(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  errno = 0;
  struct passwd* pw = getpwnam(name);
  if (pw == NULL) {
    return sw_fail(L, "ENOENT", "proc.user: %s: no such user", name);
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)pw->pw_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)pw->pw_gid);
  lua_setfield(L, -2, "gid");
  lua_pushstring(L, pw->pw_dir != NULL ? pw->pw_dir : "/");
  lua_setfield(L, -2, "home");
  return 1;
}

/* ---- proc.spawn --------------------------------------------------------- */

typedef struct {
  char** argv;
  char** env;
  const char* cwd;
  const char* log;
  const char* extra_path;
  int extra_fd; /* -1: none */
  int uid;      /* -1: the worker's own */
  int gid;
  int capture;
  size_t max_capture;
  uint64_t drain_ms;
} spawn_opts_t;

static const char* const option_names[] = {
    "argv",        "capture", "cwd",         "drain", "env", "extra_fd", "gid",
    "inherit_env", "log",     "max_capture", "stdin", "uid", NULL};

/* A string without NUL bytes, for argv and the environment. */
static const char* check_cstring(lua_State* L, int idx, const char* what) {
  size_t len;
  const char* s = lua_tolstring(L, idx, &len);
  if (s == NULL || strlen(s) != len) {
    luaL_error(L, "proc.spawn: %s must be a string without NUL bytes", what);
  }
  return s;
}

/* stack: opts at 1, anchor table at `keep` (it holds the strings made
 * here). Raises on every programming error, before anything is opened. */
static void parse_argv(lua_State* L, int keep, spawn_opts_t* o) {
  if (lua_getfield(L, 1, "argv") != LUA_TTABLE) {
    luaL_error(L, "proc.spawn: argv must be a non-empty array of strings");
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n < 1 || n > 65536) {
    luaL_error(L, "proc.spawn: argv must be a non-empty array of strings");
  }
  o->argv = (char**)lua_newuserdatauv(L, sizeof(char*) * (size_t)(n + 1), 0);
  lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
      luaL_error(L, "proc.spawn: argv[%d] must be a string, got %s", (int)i,
                 luaL_typename(L, -1));
    }
    o->argv[i - 1] = (char*)check_cstring(L, -1, "argv");
    lua_pop(L, 1); /* still anchored by the argv table */
  }
  o->argv[n] = NULL;
  lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
}

/* Builds "K=V" strings in the anchor table, then the NULL-ended array. */
static void parse_env(lua_State* L, int keep, spawn_opts_t* o) {
  lua_newtable(L); /* the "K=V" strings */
  int strs = lua_gettop(L);
  lua_Integer count = 0;
  int env_type = lua_getfield(L, 1, "env");
  if (env_type != LUA_TNIL && env_type != LUA_TTABLE) {
    luaL_error(L, "proc.spawn: env must be a table of strings, got %s",
               lua_typename(L, env_type));
  }
  int env = lua_gettop(L);
  lua_getfield(L, 1, "inherit_env");
  int inherit = lua_toboolean(L, -1);
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) {
    luaL_error(L, "proc.spawn: inherit_env must be a boolean");
  }
  lua_pop(L, 1);
  if (inherit) {
    for (char** e = environ; *e != NULL; e++) {
      const char* eq = strchr(*e, '=');
      if (eq == NULL) {
        continue;
      }
      if (env_type == LUA_TTABLE) {
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        int overridden = lua_rawget(L, env) != LUA_TNIL;
        lua_pop(L, 1);
        if (overridden) {
          continue;
        }
      }
      lua_pushstring(L, *e);
      lua_rawseti(L, strs, ++count);
    }
  }
  if (env_type == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, env) != 0) {
      /* stack: strs, env, key, value */
      if (lua_type(L, -2) != LUA_TSTRING) {
        luaL_error(L, "proc.spawn: env keys must be strings, got %s",
                   luaL_typename(L, -2));
      }
      const char* k = lua_tostring(L, -2);
      if (k[0] == '\0' || strchr(k, '=') != NULL ||
          strlen(k) != lua_rawlen(L, -2)) {
        luaL_error(L, "proc.spawn: env key \"%s\" is not a variable name", k);
      }
      int vt = lua_type(L, -1);
      if (vt != LUA_TSTRING && vt != LUA_TNUMBER) {
        luaL_error(L, "proc.spawn: env.%s must be a string, got %s", k,
                   luaL_typename(L, -1));
      }
      lua_pushvalue(L, -1); /* convert a copy, never the key under next */
      const char* v = check_cstring(L, -1, "an env value");
      lua_pushfstring(L, "%s=%s", k, v);
      lua_rawseti(L, strs, ++count);
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1); /* env */
  o->env = (char**)lua_newuserdatauv(L, sizeof(char*) * (size_t)(count + 1), 0);
  for (lua_Integer i = 1; i <= count; i++) {
    lua_rawgeti(L, strs, i);
    o->env[i - 1] = (char*)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  o->env[count] = NULL;
  lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
  lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1); /* strs */
}

/* The string stays alive in the opts table after the pop. */
static const char* opt_string(lua_State* L, const char* key) {
  int t = lua_getfield(L, 1, key);
  if (t != LUA_TNIL && t != LUA_TSTRING) {
    luaL_error(L, "proc.spawn: %s must be a string, got %s", key,
               lua_typename(L, t));
  }
  const char* s = t == LUA_TSTRING ? check_cstring(L, -1, key) : NULL;
  lua_pop(L, 1);
  return s;
}

static void parse_opts(lua_State* L, int keep, spawn_opts_t* o) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    lua_pop(L, 1);
    const char* k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    int known = 0;
    for (int i = 0; option_names[i] != NULL; i++) {
      known = known || strcmp(option_names[i], k) == 0;
    }
    if (!known) {
      luaL_error(L, "proc.spawn: unknown option %s",
                 lua_pushfstring(L, "'%s'", luaL_tolstring(L, -1, NULL)));
    }
  }
  parse_argv(L, keep, o);
  parse_env(L, keep, o);
  o->cwd = opt_string(L, "cwd");
  o->log = opt_string(L, "log");
  if (lua_getfield(L, 1, "stdin") != LUA_TNIL) {
    luaL_error(L, "proc.spawn: stdin must be nil (the child reads /dev/null)");
  }
  lua_pop(L, 1);
  o->extra_fd = -1;
  o->extra_path = NULL;
  int t = lua_getfield(L, 1, "extra_fd");
  if (t == LUA_TSTRING) {
    o->extra_path = lua_tostring(L, -1);
  } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
    lua_Integer fd = lua_tointeger(L, -1);
    if (fd < 0 || fd > INT32_MAX) {
      luaL_error(L, "proc.spawn: extra_fd must be a descriptor >= 0");
    }
    o->extra_fd = (int)fd;
  } else if (t != LUA_TNIL) {
    luaL_error(L, "proc.spawn: extra_fd must be a path or an integer fd");
  }
  lua_pop(L, 1);
  o->uid = o->gid = -1;
  const char* const ids[] = {"uid", "gid"};
  for (int i = 0; i < 2; i++) {
    t = lua_getfield(L, 1, ids[i]);
    if (t != LUA_TNIL) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
          lua_tointeger(L, -1) > INT32_MAX) {
        luaL_error(L, "proc.spawn: %s must be an integer >= 0", ids[i]);
      }
      *(i == 0 ? &o->uid : &o->gid) = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  t = lua_getfield(L, 1, "capture");
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
    luaL_error(L, "proc.spawn: capture must be a boolean");
  }
  o->capture = lua_toboolean(L, -1);
  lua_pop(L, 1);
  o->max_capture = DEFAULT_MAX_CAPTURE;
  t = lua_getfield(L, 1, "max_capture");
  if (t != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0) {
      luaL_error(L, "proc.spawn: max_capture must be an integer >= 0");
    }
    o->max_capture = (size_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  o->drain_ms = DEFAULT_DRAIN_MS;
  if (lua_getfield(L, 1, "drain") != LUA_TNIL) {
    o->drain_ms = sw_seconds_to_ms(L, -1, "proc.spawn: drain");
  }
  lua_pop(L, 1);
}

/*
 * Python's close_fds=True: no descriptor of the worker but 0-2 and the
 * extra fd reaches the child. libuv has no hook between fork and exec, so
 * mark everything from 3 up close-on-exec in the parent (libuv dup2s the
 * extra fd into place, which clears the flag on the child's copy).
 */
static void cloexec_all(void) {
#ifdef CLOSE_RANGE_CLOEXEC
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
    return;
  }
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) {
    max = 65536;
  }
  for (int fd = 3; fd < (int)max; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) {
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
}

static int fail_path(lua_State* L, const char* what, const char* path,
                     int err) {
  lua_pushfstring(L, "proc.spawn: %s%s", what, path);
  return sw_fail_uv(L, lua_tostring(L, -1), uv_translate_sys_error(err));
}

/*
 * Checks cwd and opens the log and the extra fd. Returns 0, or pushes nil,
 * msg, code and returns 3 with nothing left open. *extra gets the fd the
 * child inherits as fd 3 (-1: none), *opened the one to close after the
 * spawn (-1: none).
 */
static int open_files(lua_State* L, const spawn_opts_t* o, proc_t* p,
                      int* extra, int* opened) {
  struct stat st;
  *extra = o->extra_fd;
  *opened = -1;
  if (o->cwd != NULL && stat(o->cwd, &st) != 0) {
    return fail_path(L, "cwd ", o->cwd, errno);
  }
  if (o->cwd != NULL && !S_ISDIR(st.st_mode)) {
    return fail_path(L, "cwd ", o->cwd, ENOTDIR);
  }
  if (o->extra_path != NULL) {
    *opened = open(o->extra_path, O_RDONLY | O_CLOEXEC);
    if (*opened < 0) {
      return fail_path(L, "extra_fd ", o->extra_path, errno);
    }
    *extra = *opened;
  } else if (*extra >= 0 && fcntl(*extra, F_GETFD) < 0) {
    int err = errno;
    lua_pushfstring(L, "%d", *extra);
    return fail_path(L, "extra_fd ", lua_tostring(L, -1), err);
  }
  if (o->log != NULL) {
    p->log_fd = open(o->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (p->log_fd < 0) {
      int err = errno;
      if (*opened >= 0) {
        close(*opened);
        *opened = -1;
      }
      return fail_path(L, "log ", o->log, err);
    }
  }
  return 0;
}

/*
 * Inits p's four handles and starts the child. Returns 0, or a libuv error
 * with the handles closing (the last close callback frees p, whose ud is
 * NULL) and the log closed.
 */
static int start_child(uv_loop_t* loop, const spawn_opts_t* o, proc_t* p,
                       int extra) {
  int piped = o->capture || o->log != NULL;
  uv_pipe_init(loop, &p->pipes[0], 0);
  uv_pipe_init(loop, &p->pipes[1], 0);
  uv_timer_init(loop, &p->drain);
  p->pipes[0].data = p->pipes[1].data = p->drain.data = p->process.data = p;
  p->open_handles = 4; /* uv_spawn inits the process handle even on error */

  uv_stdio_container_t stdio[4];
  memset(stdio, 0, sizeof(stdio));
  stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null */
  for (int i = 1; i <= 2; i++) {
    if (piped) {
      stdio[i].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
      stdio[i].data.stream = (uv_stream_t*)&p->pipes[i - 1];
    } else {
      stdio[i].flags = UV_IGNORE;
    }
  }
  stdio[EXTRA_FD].flags = UV_INHERIT_FD;
  stdio[EXTRA_FD].data.fd = extra;

  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.exit_cb = exit_cb;
  po.file = o->argv[0];
  po.args = o->argv;
  po.env = o->env;
  po.cwd = o->cwd;
  po.flags = UV_PROCESS_DETACHED; /* setsid: a new session and group */
  /* libuv drops the supplementary groups (setgroups(0)) before setgid and
   * setuid in the child. */
  if (o->uid >= 0) {
    po.flags |= UV_PROCESS_SETUID;
    po.uid = (uv_uid_t)o->uid;
  }
  if (o->gid >= 0) {
    po.flags |= UV_PROCESS_SETGID;
    po.gid = (uv_gid_t)o->gid;
  }
  po.stdio_count = extra >= 0 ? EXTRA_FD + 1 : EXTRA_FD;
  po.stdio = stdio;
  cloexec_all();
  int err = uv_spawn(loop, &p->process, &po);
  if (err != 0) {
    if (p->log_fd >= 0) {
      close(p->log_fd);
      p->log_fd = -1;
    }
    close_handle((uv_handle_t*)&p->process);
    close_handle((uv_handle_t*)&p->pipes[0]);
    close_handle((uv_handle_t*)&p->pipes[1]);
    close_handle((uv_handle_t*)&p->drain);
    return err;
  }
  p->pid = p->process.pid;
  for (int i = 0; i < 2; i++) {
    if (piped &&
        uv_read_start((uv_stream_t*)&p->pipes[i], alloc_cb, read_cb) == 0) {
      p->reading[i] = 1;
    } else {
      close_pipe(p, i);
    }
  }
  return 0;
}

/* proc.spawn{argv = {...}, ...} -> sw.Process | nil, msg, code */
static int proc_spawn(lua_State* L) {
  spawn_opts_t o;
  memset(&o, 0, sizeof(o));
  lua_settop(L, 1);
  lua_newtable(L); /* keep: anchors what the C arrays point into */
  int keep = lua_gettop(L);
  parse_opts(L, keep, &o);
  uv_loop_t* loop = sw_loop(L);
  proc_list_t* list = get_list(L);
  if (list == NULL) {
    return luaL_error(L, "proc.spawn: out of memory");
  }
  /* Created closed, opened below: an error part-way leaves it valid. */
  proc_ud_t* u = (proc_ud_t*)lua_newuserdatauv(L, sizeof(proc_ud_t), 0);
  int ud_idx = lua_gettop(L);
  u->p = NULL;
  u->pid = 0;
  luaL_setmetatable(L, PROCESS_MT);
  char* log_path = o.log != NULL ? strdup(o.log) : NULL;
  proc_t* p = (proc_t*)calloc(1, sizeof(*p));
  if (p == NULL || (o.log != NULL && log_path == NULL)) {
    free(p);
    free(log_path);
    return luaL_error(L, "proc.spawn: out of memory");
  }
  p->log_fd = -1;
  p->log_path = log_path;
  p->capture = o.capture;
  p->max_capture = o.max_capture;
  p->drain_ms = o.drain_ms;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  p->L = lua_tothread(L, -1);
  lua_pop(L, 1);

  int extra, opened;
  int nret = open_files(L, &o, p, &extra, &opened);
  if (nret != 0) {
    free(p->log_path);
    free(p);
    return nret;
  }
  int err = start_child(loop, &o, p, extra);
  if (opened >= 0) {
    close(opened); /* the child has its copy */
  }
  if (err != 0) {
    lua_pushfstring(L, "proc.spawn: %s", o.argv[0]);
    return sw_fail_uv(L, lua_tostring(L, -1), err);
  }
  p->list = list;
  p->next = list->head;
  if (list->head != NULL) {
    list->head->prev = p;
  }
  list->head = p;
  lua_settop(L, ud_idx);
  u->p = p;
  u->pid = p->pid;
  p->ud = u;
  if (sw_log_enabled(SW_LOG_DEBUG)) {
    sw_log(L, SW_LOG_DEBUG, "proc: started %s pid=%d", o.argv[0], p->pid);
  }
  return 1;
}

/*
 * The parts that read best in Lua: stop (TERM, grace, KILL, as Python
 * scriptworker's TaskProcess.stop) and run (spawn + wait with capture).
 */
static const char proc_lua[] =
    "local M, methods = ...\n"
    "local sched = require('sw.sched')\n"
    "function methods.stop(self, grace)\n"
    "  if grace == nil then grace = 10 end\n"
    "  if type(grace) ~= 'number' or not (grace >= 0) then\n"
    "    error('process:stop: grace must be a number of seconds >= 0', 2)\n"
    "  end\n"
    "  if self:status() == 'running' and not sched.current() then\n"
    "    error('proc.stop: not inside a task', 2)\n"
    "  end\n"
    "  self:kill('SIGTERM')\n"
    "  local armed = true\n"
    "  local _escalate <close> = setmetatable({}, {__close = function()\n"
    "    if armed and self:status() ~= 'closed' then self:kill('SIGKILL') end\n"
    "  end})\n"
    "  local st = self:wait(grace)\n"
    "  self:kill('SIGKILL')\n"
    "  if not st then st = self:wait() end\n"
    "  armed = false\n"
    "  return st\n"
    "end\n"
    "function M.run(opts)\n"
    "  if type(opts) ~= 'table' then\n"
    "    error('bad argument #1 to \\'run\\' (table expected, got '\n"
    "          .. type(opts) .. ')', 2)\n"
    "  end\n"
    "  local o = {}\n"
    "  for k, v in pairs(opts) do o[k] = v end\n"
    "  local timeout = o.timeout\n"
    "  o.timeout = nil\n"
    "  if o.capture == nil then o.capture = true end\n"
    "  local p, msg, code = M.spawn(o)\n"
    "  if not p then return nil, msg, code end\n"
    "  local _p <close> = p\n"
    "  local st = p:wait(timeout)\n"
    "  if not st then\n"
    "    return nil, string.format('proc.run: %s: timed out after %g s',\n"
    "                              o.argv[1], timeout), 'timeout'\n"
    "  end\n"
    "  return st\n"
    "end\n"
    "return M\n";

static const luaL_Reg proc_funcs[] = {{"kill_group", proc_kill_group},
                                      {"kill_pid", proc_kill_pid},
                                      {"reap", proc_reap},
                                      {"set_subreaper", proc_set_subreaper},
                                      {"spawn", proc_spawn},
                                      {"user", proc_user},
                                      {NULL, NULL}};

static const luaL_Reg process_methods[] = {
    {"close", process_close},   {"kill", process_kill}, {"pid", process_pid},
    {"status", process_status}, {"wait", process_wait}, {NULL, NULL}};

static const luaL_Reg process_meta[] = {{"__close", process_close},
                                        {"__gc", process_close},
                                        {"__tostring", process_tostring},
                                        {NULL, NULL}};

int luaopen_sw_proc(lua_State* L) {
  luaL_newmetatable(L, PROCESS_MT);
  luaL_setfuncs(L, process_meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, process_methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  /* stack: mt, methods */
  luaL_newlib(L, proc_funcs);
  if (luaL_loadbuffer(L, proc_lua, sizeof(proc_lua) - 1, "=sw.proc") !=
      LUA_OK) {
    return lua_error(L);
  }
  /* stack: mt, methods, M, chunk */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -4);
  lua_call(L, 2, 1);
  return 1;
}
