/*
 * log.c: sw.log, the one log sink. One line per event:
 *
 *   2026-11-21T12:00:00.123Z INFO [fXy3QW...] message key=value key="a b"
 *
 * on stderr, or appended to a file chosen with log.set_output(). The label
 * of the running task (the Taskcluster task id while a task runs) is added
 * by the sink itself, as OpenResty adds the current request. Every string
 * registered with log.add_secret() is replaced by "<redacted>" in every line
 * and in log.redact(s), so a token that reaches a message never prints.
 *
 * log.open_file() adds a second sink, the Python worker's log_dir/worker.log:
 * the same events, redacted the same way, in the Python logging format the
 * config gives (log_fmt, log_datefmt), reopened when the file is moved
 * (watch_log_file, as logging.WatchedFileHandler) or rotated by size
 * (log_max_bytes, log_max_backups, as logging.RotatingFileHandler).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sw.h"

#define SECRET_MIN_LEN 6
/* Lines written from C (sw_log) are cut to this many bytes. */
#define SW_LOG_LINE_MAX 2047
#define REDACTED "<redacted>"

static int log_level = SW_LOG_INFO;
static FILE* log_out = NULL; /* NULL = stderr */
static const char SECRETS_KEY = 's';
static const char* const level_names[] = {"error", "warn", "info", "debug",
                                          NULL};
static const char* const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* SW_LOG_LEVEL applies from the first line, even one C writes before any
 * Lua code has loaded sw.log. */
static void level_from_env(void) {
  static int done = 0;
  if (done) {
    return;
  }
  done = 1;
  const char* env = getenv("SW_LOG_LEVEL");
  for (int i = 0; env != NULL && level_names[i] != NULL; i++) {
    if (strcmp(env, level_names[i]) == 0) {
      log_level = i;
    }
  }
}

int sw_log_enabled(int level) {
  level_from_env();
  return level <= log_level;
}

/* Pushes the registry table of secrets (secret -> true). */
static void push_secrets(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &SECRETS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SECRETS_KEY);
  }
}

/* Pushes s with every occurrence of every secret replaced. Occurrences
 * are found in the original text and marked byte by byte, then each run
 * of marked bytes becomes one "<redacted>": the order of the secrets
 * (hash order) does not matter, a secret inside a longer one or
 * overlapping another is covered as a whole, and nothing a replacement
 * wrote can be matched again. */
void sw_log_push_redacted(lua_State* L, const char* s, size_t len) {
  luaL_checkstack(L, 6, "log");
  lua_pushlstring(L, s, len);
  int str = lua_gettop(L);
  s = lua_tolstring(L, str, &len);
  push_secrets(L);
  int secrets = lua_gettop(L);
  unsigned char* mark = NULL;
  lua_pushnil(L);
  while (lua_next(L, secrets) != 0) {
    lua_pop(L, 1);
    size_t slen;
    const char* secret = lua_tolstring(L, -1, &slen);
    if (secret == NULL || slen < SECRET_MIN_LEN || slen > len) {
      continue;
    }
    const char* p = s;
    const char* end = s + len;
    const char* hit;
    while ((hit = memmem(p, (size_t)(end - p), secret, slen)) != NULL) {
      if (mark == NULL) {
        /* Below the key on the stack; lua_next needs the key on top. */
        mark = (unsigned char*)lua_newuserdatauv(L, len, 0);
        memset(mark, 0, len);
        lua_insert(L, secrets + 1);
      }
      memset(mark + (hit - s), 1, slen);
      /* Overlapping occurrences ("aaaa" in "aaaaa") are each marked. */
      p = hit + 1;
    }
  }
  if (mark != NULL) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t i = 0;
    while (i < len) {
      if (mark[i]) {
        luaL_addstring(&b, REDACTED);
        while (i < len && mark[i]) {
          i++;
        }
      } else {
        size_t j = i;
        while (j < len && !mark[j]) {
          j++;
        }
        luaL_addlstring(&b, s + i, j - i);
        i = j;
      }
    }
    luaL_pushresult(&b);
    lua_replace(L, str);
  }
  lua_settop(L, str);
}

/* Pushes s with every control character (below 0x20, and DEL) escaped:
 * \n, \r, \t or \xNN. A name or message that holds a newline must not
 * start a line of its own (a script could forge one), and a NUL must not
 * cut the line short. */
static void push_escaped(lua_State* L, const char* s, size_t len) {
  size_t i = 0;
  while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != 0x7f) {
    i++;
  }
  if (i == len) {
    lua_pushlstring(L, s, len);
    return;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != 0x7f) {
      luaL_addchar(&b, (char)c);
    } else if (c == '\n') {
      luaL_addstring(&b, "\\n");
    } else if (c == '\r') {
      luaL_addstring(&b, "\\r");
    } else if (c == '\t') {
      luaL_addstring(&b, "\\t");
    } else {
      char hex[5];
      snprintf(hex, sizeof(hex), "\\x%02x", c);
      luaL_addstring(&b, hex);
    }
  }
  luaL_pushresult(&b);
}

/* The worker.log sink. fmt and datefmt are copies owned here. */
static struct {
  FILE* f;
  char* path;
  char* fmt;
  char* datefmt; /* NULL: Python's default, "%Y-%m-%d %H:%M:%S,mmm" */
  int watch;
  long long max_bytes;
  long long backups;
  dev_t dev;
  ino_t ino;
} file_sink;

static const char* const py_level_names[] = {"ERROR", "WARNING", "INFO",
                                             "DEBUG"};
static const int py_level_numbers[] = {40, 30, 20, 10};

/* One %(name)spec of a Python logging format. */
typedef struct {
  const char* name;
  size_t name_len;
  char flags[8];
  int width;     /* -1: none */
  int precision; /* -1: none */
  char conv;
  size_t len; /* bytes of the whole directive */
} py_directive;

/* Parses the directive at p ("%(" ...). Returns 1, or 0 when it is not a
 * complete one. */
static int parse_directive(const char* p, py_directive* d) {
  const char* q = p + 2;
  const char* close = strchr(q, ')');
  if (close == NULL) {
    return 0;
  }
  d->name = q;
  d->name_len = (size_t)(close - q);
  q = close + 1;
  size_t nflags = 0;
  while (*q != '\0' && strchr("-0 +#", *q) != NULL) {
    if (nflags + 1 < sizeof(d->flags)) {
      d->flags[nflags++] = *q;
    }
    q++;
  }
  d->flags[nflags] = '\0';
  d->width = -1;
  d->precision = -1;
  if (*q >= '0' && *q <= '9') {
    d->width = 0;
    while (*q >= '0' && *q <= '9') {
      if (d->width < 1000) {
        d->width = d->width * 10 + (*q - '0');
      }
      q++;
    }
  }
  if (*q == '.') {
    q++;
    d->precision = 0;
    while (*q >= '0' && *q <= '9') {
      if (d->precision < 1000) {
        d->precision = d->precision * 10 + (*q - '0');
      }
      q++;
    }
  }
  if (*q == '\0' || strchr("sdirfFeEgGxXo", *q) == NULL) {
    return 0;
  }
  d->conv = *q;
  d->len = (size_t)(q + 1 - p);
  return 1;
}

static int name_is(const py_directive* d, const char* name) {
  return strlen(name) == d->name_len && memcmp(d->name, name, d->name_len) == 0;
}

/* The LogRecord attributes a format may name, as in Python's logging. */
static const char* const py_string_fields[] = {
    "asctime", "levelname", "message",    "name",        "pathname", "filename",
    "module",  "funcName",  "threadName", "processName", "taskName", NULL};
static const char* const py_number_fields[] = {
    "levelno", "lineno",  "process",         "thread",
    "msecs",   "created", "relativeCreated", NULL};

static int known_field(const py_directive* d) {
  for (int i = 0; py_string_fields[i] != NULL; i++) {
    if (name_is(d, py_string_fields[i])) {
      return 1;
    }
  }
  for (int i = 0; py_number_fields[i] != NULL; i++) {
    if (name_is(d, py_number_fields[i])) {
      return 2;
    }
  }
  return 0;
}

/* Pushes nothing; returns NULL when fmt is a format Python's logging would
 * take, else a static description of the first problem (into buf). */
static const char* check_py_format(const char* fmt, char* buf, size_t size) {
  for (const char* p = fmt; *p != '\0'; p++) {
    if (p[0] != '%' || p[1] != '(') {
      continue;
    }
    py_directive d;
    if (!parse_directive(p, &d)) {
      snprintf(buf, size, "incomplete directive at \"%.20s\"", p);
      return buf;
    }
    int kind = known_field(&d);
    if (kind == 0) {
      snprintf(buf, size, "unknown field %%(%.*s)", (int)d.name_len, d.name);
      return buf;
    }
    if (kind == 1 && strchr("sr", d.conv) == NULL) {
      snprintf(buf, size, "%%(%.*s)%c: a string field needs s or r",
               (int)d.name_len, d.name, d.conv);
      return buf;
    }
    p += d.len - 1;
  }
  return NULL;
}

/* Adds s (len bytes) with the width and precision of d, as Python's %s. */
static void add_padded(luaL_Buffer* b, const py_directive* d, const char* s,
                       size_t len) {
  if (d->precision >= 0 && (size_t)d->precision < len) {
    len = (size_t)d->precision;
  }
  size_t pad =
      d->width > 0 && (size_t)d->width > len ? (size_t)d->width - len : 0;
  int left = strchr(d->flags, '-') != NULL;
  if (!left) {
    for (size_t i = 0; i < pad; i++) {
      luaL_addchar(b, ' ');
    }
  }
  luaL_addlstring(b, s, len);
  if (left) {
    for (size_t i = 0; i < pad; i++) {
      luaL_addchar(b, ' ');
    }
  }
}

/* Adds the number v with directive d, as Python's % operator would. */
static void add_number(luaL_Buffer* b, const py_directive* d, double v,
                       int integral) {
  char spec[32];
  char out[2100];
  char conv = d->conv;
  if (conv == 's' || conv == 'r') {
    /* str() of the value: an int as such, a float as Python prints it. */
    if (integral) {
      snprintf(out, sizeof(out), "%lld", (long long)v);
    } else {
      /* The shortest text that reads back as v, as Python's repr. */
      for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, sizeof(out), "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
          break;
        }
      }
      if (strpbrk(out, ".en") == NULL) {
        strcat(out, ".0");
      }
    }
    add_padded(b, d, out, strlen(out));
    return;
  }
  int n;
  if (strchr("dixXo", conv) != NULL) {
    if (conv == 'i') {
      conv = 'd';
    }
    n = snprintf(spec, sizeof(spec), "%%%s", d->flags);
    if (d->width >= 0) {
      n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%d", d->width);
    }
    snprintf(spec + n, sizeof(spec) - (size_t)n, "ll%c", conv);
    n = snprintf(out, sizeof(out), spec, (long long)v);
  } else {
    n = snprintf(spec, sizeof(spec), "%%%s", d->flags);
    if (d->width >= 0) {
      n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%d", d->width);
    }
    if (d->precision >= 0) {
      n += snprintf(spec + n, sizeof(spec) - (size_t)n, ".%d", d->precision);
    }
    snprintf(spec + n, sizeof(spec) - (size_t)n, "%c", conv);
    n = snprintf(out, sizeof(out), spec, v);
  }
  if (n > 0) {
    luaL_addlstring(b, out,
                    (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
  }
}

/* Pushes the worker.log line (with its newline) of one event. */
static void push_file_line(lua_State* L, int level, const char* msg, size_t len,
                           const char* label, const uv_timeval64_t* tv) {
  char asctime[300];
  time_t secs = (time_t)tv->tv_sec;
  struct tm tm;
  localtime_r(&secs, &tm);
  int msecs = (int)(tv->tv_usec / 1000);
  if (file_sink.datefmt != NULL) {
    if (strftime(asctime, sizeof(asctime), file_sink.datefmt, &tm) == 0) {
      asctime[0] = '\0';
    }
  } else {
    size_t n = strftime(asctime, sizeof(asctime), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(asctime + n, sizeof(asctime) - n, ",%03d", msecs);
  }
  double created = (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char* p = file_sink.fmt; *p != '\0'; p++) {
    py_directive d;
    if (p[0] == '%' && p[1] == '%') {
      luaL_addchar(&b, '%');
      p++;
      continue;
    }
    if (p[0] != '%' || p[1] != '(' || !parse_directive(p, &d)) {
      luaL_addchar(&b, *p);
      continue;
    }
    p += d.len - 1;
    if (name_is(&d, "message")) {
      /* The task label, which the stderr line puts before the message,
       * is part of the message here: the format has no place for it. */
      size_t total = len + (label != NULL ? strlen(label) + 3 : 0);
      if (label == NULL && d.width <= 0 && d.precision < 0) {
        luaL_addlstring(&b, msg, len);
      } else {
        char* tmp = (char*)malloc(total + 1);
        if (tmp == NULL) {
          luaL_addlstring(&b, msg, len);
          continue;
        }
        size_t off = 0;
        if (label != NULL) {
          off = (size_t)snprintf(tmp, total + 1, "[%s] ", label);
        }
        memcpy(tmp + off, msg, len);
        add_padded(&b, &d, tmp, off + len);
        free(tmp);
      }
    } else if (name_is(&d, "asctime")) {
      add_padded(&b, &d, asctime, strlen(asctime));
    } else if (name_is(&d, "levelname")) {
      add_padded(&b, &d, py_level_names[level], strlen(py_level_names[level]));
    } else if (name_is(&d, "levelno")) {
      add_number(&b, &d, py_level_numbers[level], 1);
    } else if (name_is(&d, "process")) {
      add_number(&b, &d, (double)getpid(), 1);
    } else if (name_is(&d, "msecs")) {
      add_number(&b, &d, (double)msecs, 0);
    } else if (name_is(&d, "created")) {
      add_number(&b, &d, created, 0);
    } else if (known_field(&d) == 2) {
      add_number(&b, &d, 0, !name_is(&d, "relativeCreated"));
    } else if (name_is(&d, "name") || name_is(&d, "module") ||
               name_is(&d, "processName")) {
      add_padded(&b, &d, "scriptworker", 12);
    } else if (name_is(&d, "threadName")) {
      add_padded(&b, &d, "MainThread", 10);
    } else {
      add_padded(&b, &d, "", 0);
    }
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
}

static int file_sink_open(void) {
  FILE* f = fopen(file_sink.path, "ae");
  if (f == NULL) {
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0) {
    file_sink.dev = st.st_dev;
    file_sink.ino = st.st_ino;
  }
  file_sink.f = f;
  return 0;
}

static void file_sink_close(void) {
  if (file_sink.f != NULL) {
    fclose(file_sink.f);
    file_sink.f = NULL;
  }
}

/* logging.handlers.RotatingFileHandler.doRollover: path.N-1 -> path.N, ...,
 * path -> path.1; then a new path. */
static void file_sink_rotate(void) {
  file_sink_close();
  size_t size = strlen(file_sink.path) + 32;
  char* src = (char*)malloc(size);
  char* dst = (char*)malloc(size);
  if (src != NULL && dst != NULL) {
    for (long long i = file_sink.backups - 1; i > 0; i--) {
      snprintf(src, size, "%s.%lld", file_sink.path, i);
      snprintf(dst, size, "%s.%lld", file_sink.path, i + 1);
      if (access(src, F_OK) == 0) {
        unlink(dst);
        rename(src, dst);
      }
    }
    snprintf(dst, size, "%s.1", file_sink.path);
    unlink(dst);
    rename(file_sink.path, dst);
  }
  free(src);
  free(dst);
  file_sink_open();
}

/* Appends one line to worker.log: reopened first when watched and moved,
 * rotated first when it would reach max_bytes. A failure to write is
 * dropped: the stderr line of the same event is still written. */
static void file_sink_write(const char* line, size_t len) {
  if (file_sink.path == NULL) {
    return;
  }
  if (file_sink.watch) {
    struct stat st;
    if (stat(file_sink.path, &st) != 0 || st.st_dev != file_sink.dev ||
        st.st_ino != file_sink.ino) {
      file_sink_close();
    }
  }
  if (file_sink.f == NULL && file_sink_open() != 0) {
    return;
  }
  if (!file_sink.watch && file_sink.max_bytes > 0 && file_sink.backups > 0) {
    long pos = ftell(file_sink.f);
    if (pos > 0 && (long long)pos + (long long)len >= file_sink.max_bytes) {
      file_sink_rotate();
      if (file_sink.f == NULL) {
        return;
      }
    }
  }
  fwrite(line, 1, len, file_sink.f);
  fflush(file_sink.f);
}

typedef struct {
  int level;
  const char* msg;
  size_t len;
  size_t max;
  const char* label;
} line_args_t;

/* Writes msg with the secrets redacted, then cut to max bytes: cutting
 * first could leave the head of a secret that straddles the cut. Runs
 * under lua_pcall (write_line). */
static int write_line_body(lua_State* L) {
  line_args_t* a = (line_args_t*)lua_touserdata(L, 1);
  lua_settop(L, 0);
  int level = a->level;
  const char* msg = a->msg;
  size_t len = a->len;
  size_t max = a->max;
  char stamp[40];
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) {
    tv.tv_sec = 0;
    tv.tv_usec = 0;
  }
  time_t secs = (time_t)tv.tv_sec;
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ", (int)(tv.tv_usec / 1000));
  sw_log_push_redacted(L, msg, len);
  size_t rlen;
  const char* red = lua_tolstring(L, -1, &rlen);
  push_escaped(L, red, rlen);
  lua_remove(L, -2);
  red = lua_tolstring(L, -1, &rlen);
  if (rlen > max) {
    rlen = max;
  }
  const char* label = a->label;
  if (label != NULL) {
    /* A task id comes from the Queue: escaped like the rest. */
    push_escaped(L, label, strlen(label));
    label = lua_tostring(L, -1);
    lua_insert(L, -2);
  }
  FILE* out = log_out != NULL ? log_out : stderr;
  if (label != NULL) {
    fprintf(out, "%s %s [%s] %.*s\n", stamp, level_tags[level], label,
            (int)rlen, red);
  } else {
    fprintf(out, "%s %s %.*s\n", stamp, level_tags[level], (int)rlen, red);
  }
  fflush(out);
  if (file_sink.path != NULL) {
    push_file_line(L, level, red, rlen, label, &tv);
    size_t flen;
    const char* fline = lua_tolstring(L, -1, &flen);
    file_sink_write(fline, flen);
    lua_pop(L, 1);
  }
  lua_pop(L, label != NULL ? 2 : 1);
  return 0;
}

/* Writes a log line without ever raising: sw_log runs from loop callbacks
 * on suspended threads, where an error (out of memory, no stack) would
 * kill the thread and unwind through uv_run. The line is built under
 * lua_pcall, on L when it runs, else on the main thread (which a loop
 * callback runs inside of); when even that fails, a fixed line says so. */
static void write_line(lua_State* L, int level, const char* msg, size_t len,
                       size_t max) {
  line_args_t a = {level, msg, len, max, sw_task_label(L)};
  lua_State* M = L;
  if (lua_status(L) != LUA_OK) {
    M = NULL;
    if (lua_checkstack(L, 1)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
      M = lua_tothread(L, -1);
      lua_pop(L, 1);
    }
  }
  if (M != NULL && lua_checkstack(M, 2)) {
    int top = lua_gettop(M);
    lua_pushcfunction(M, write_line_body);
    lua_pushlightuserdata(M, &a);
    int status = lua_pcall(M, 1, 0, 0);
    lua_settop(M, top);
    if (status == LUA_OK) {
      return;
    }
  }
  FILE* out = log_out != NULL ? log_out : stderr;
  fprintf(out, "%s (a log line was withheld: out of memory)\n",
          level_tags[level]);
  fflush(out);
}

void sw_log(lua_State* L, int level, const char* fmt, ...) {
  if (!sw_log_enabled(level)) {
    return;
  }
  char buf[SW_LOG_LINE_MAX + 1];
  va_list ap;
  va_list again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(again);
    return;
  }
  if ((size_t)n < sizeof(buf)) {
    va_end(again);
    write_line(L, level, buf, (size_t)n, SW_LOG_LINE_MAX);
    return;
  }
  /* The whole text is redacted before the line is cut, so format it in
   * full (with malloc: nothing here may raise). */
  char* big = (char*)malloc((size_t)n + 1);
  if (big == NULL) {
    va_end(again);
    write_line(L, level, "(log line withheld: out of memory)", 34,
               SW_LOG_LINE_MAX);
    return;
  }
  vsnprintf(big, (size_t)n + 1, fmt, again);
  va_end(again);
  write_line(L, level, big, (size_t)n, SW_LOG_LINE_MAX);
  free(big);
}

/* Pushes a table of the string keys of the table at idx, sorted, so lines
 * are stable. */
static void push_sorted_keys(lua_State* L, int idx) {
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer nkeys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, keys, ++nkeys);
    }
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, keys);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
}

/* Pushes " key=value" for key i of the keys table, the value quoted when
 * it is empty or holds a space, a tab, a quote or '='. One value in, one
 * out: the line's buffer below is left as it was. */
static void push_field(lua_State* L, int fields, int keys, lua_Integer i) {
  lua_rawgeti(L, keys, i);
  const char* k = lua_tostring(L, -1);
  lua_getfield(L, fields, k);
  size_t vlen;
  const char* v = luaL_tolstring(L, -1, &vlen);
  /* stack: key, value, tostring(value) */
  int quote = vlen == 0;
  for (size_t j = 0; j < vlen && !quote; j++) {
    quote = v[j] == ' ' || v[j] == '\t' || v[j] == '"' || v[j] == '=';
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, ' ');
  luaL_addstring(&b, k);
  luaL_addchar(&b, '=');
  if (quote) {
    luaL_addchar(&b, '"');
    for (size_t j = 0; j < vlen; j++) {
      if (v[j] == '"' || v[j] == '\\') {
        luaL_addchar(&b, '\\');
      }
      luaL_addchar(&b, v[j]);
    }
    luaL_addchar(&b, '"');
  } else {
    /* Whole, NULs included: the line escapes them. */
    luaL_addlstring(&b, v, vlen);
  }
  luaL_pushresult(&b);
  lua_replace(L, -4);
  lua_pop(L, 2);
}

/* log.<level>(msg[, fields]) */
static int log_at(lua_State* L, int level) {
  if (!sw_log_enabled(level)) {
    return 0;
  }
  size_t len;
  const char* msg = luaL_tolstring(L, 1, &len);
  if (lua_istable(L, 2)) {
    /* A luaL_Buffer owns the stack above it: everything else (the keys,
     * each field) is pushed before it or handed over with luaL_addvalue,
     * never left in between, or a buffer that grows would take the wrong
     * slot for its box (and free it while still writing). */
    int msg_idx = lua_gettop(L);
    push_sorted_keys(L, 2);
    int keys = lua_gettop(L);
    lua_Integer nkeys = (lua_Integer)lua_rawlen(L, keys);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushvalue(L, msg_idx);
    luaL_addvalue(&b);
    for (lua_Integer i = 1; i <= nkeys; i++) {
      push_field(L, 2, keys, i);
      luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    msg = lua_tolstring(L, -1, &len);
  }
  write_line(L, level, msg, len, (size_t)-1);
  return 0;
}

static int log_error(lua_State* L) { return log_at(L, SW_LOG_ERROR); }
static int log_warn(lua_State* L) { return log_at(L, SW_LOG_WARN); }
static int log_info(lua_State* L) { return log_at(L, SW_LOG_INFO); }
static int log_debug(lua_State* L) { return log_at(L, SW_LOG_DEBUG); }

/* log.set_level("debug"|"info"|"warn"|"error") -> previous level name */
static int log_set_level(lua_State* L) {
  int level = luaL_checkoption(L, 1, NULL, level_names);
  lua_pushstring(L, level_names[log_level]);
  log_level = level;
  return 1;
}

static int log_level_name(lua_State* L) {
  lua_pushstring(L, level_names[log_level]);
  return 1;
}

/* log.enabled(level) -> boolean, so callers skip building costly lines. */
static int log_enabled(lua_State* L) {
  int level = luaL_checkoption(L, 1, NULL, level_names);
  lua_pushboolean(L, sw_log_enabled(level));
  return 1;
}

/* log.set_output(path|nil) -> true | nil, msg, code. nil means stderr. */
static int log_set_output(lua_State* L) {
  const char* path = luaL_optstring(L, 1, NULL);
  FILE* f = NULL;
  if (path != NULL) {
    f = fopen(path, "ae");
    if (f == NULL) {
      /* Before any Lua call: an allocation may run a finalizer. */
      int err = errno;
      lua_pushfstring(L, "log.set_output: %s", path);
      return sw_fail_errno(L, lua_tostring(L, -1), err);
    }
  }
  if (log_out != NULL) {
    fclose(log_out);
  }
  log_out = f;
  lua_pushboolean(L, 1);
  return 1;
}

static void file_sink_reset(void) {
  file_sink_close();
  free(file_sink.path);
  free(file_sink.fmt);
  free(file_sink.datefmt);
  memset(&file_sink, 0, sizeof(file_sink));
}

static char* dup_or_null(const char* s) { return s != NULL ? strdup(s) : NULL; }

/* log.check_format(fmt) -> true | nil, msg, "format": whether fmt is a
 * Python logging format worker.log can follow. */
static int log_check_format(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  char buf[200];
  const char* problem = check_py_format(fmt, buf, sizeof(buf));
  if (problem != NULL) {
    return sw_fail(L, "format", "%s", problem);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* log.open_file(path, {format=, datefmt=, watch=, max_bytes=, backups=})
 * -> true | nil, msg, code: every later line also goes to path in that
 * format. log.open_file(nil) closes it. */
static int log_open_file(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    file_sink_reset();
    lua_pushboolean(L, 1);
    return 1;
  }
  const char* path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "format");
  const char* fmt = luaL_optstring(L, -1, "%(message)s");
  lua_getfield(L, 2, "datefmt");
  const char* datefmt = luaL_optstring(L, -1, NULL);
  lua_getfield(L, 2, "watch");
  int watch = lua_toboolean(L, -1);
  lua_getfield(L, 2, "max_bytes");
  lua_Integer max_bytes = luaL_optinteger(L, -1, 0);
  lua_getfield(L, 2, "backups");
  lua_Integer backups = luaL_optinteger(L, -1, 0);
  char buf[200];
  const char* problem = check_py_format(fmt, buf, sizeof(buf));
  if (problem != NULL) {
    return sw_fail(L, "format", "%s", problem);
  }
  file_sink_reset();
  file_sink.path = strdup(path);
  file_sink.fmt = strdup(fmt);
  file_sink.datefmt = dup_or_null(datefmt);
  if (file_sink.path == NULL || file_sink.fmt == NULL ||
      (datefmt != NULL && file_sink.datefmt == NULL)) {
    file_sink_reset();
    return luaL_error(L, "log.open_file: out of memory");
  }
  file_sink.watch = watch;
  file_sink.max_bytes = (long long)max_bytes;
  file_sink.backups = (long long)backups;
  if (file_sink_open() != 0) {
    int err = errno;
    file_sink_reset();
    return sw_fail_errno(L, path, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* log.add_secret(s): s never appears in a log line again. Strings shorter
 * than SECRET_MIN_LEN are refused: redacting "a" would destroy every line. */
static int log_add_secret(lua_State* L) {
  size_t len;
  luaL_checklstring(L, 1, &len);
  if (len < SECRET_MIN_LEN) {
    return sw_fail(L, "short",
                   "log.add_secret: a secret must have at least %d bytes",
                   SECRET_MIN_LEN);
  }
  push_secrets(L);
  lua_pushvalue(L, 1);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pushboolean(L, 1);
  return 1;
}

static int log_remove_secret(lua_State* L) {
  luaL_checkstring(L, 1);
  push_secrets(L);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  lua_rawset(L, -3);
  return 0;
}

/* log.redact(s) -> s with every registered secret replaced. */
static int log_redact(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  sw_log_push_redacted(L, s, len);
  return 1;
}

static const luaL_Reg log_funcs[] = {{"add_secret", log_add_secret},
                                     {"check_format", log_check_format},
                                     {"debug", log_debug},
                                     {"enabled", log_enabled},
                                     {"error", log_error},
                                     {"info", log_info},
                                     {"level", log_level_name},
                                     {"open_file", log_open_file},
                                     {"redact", log_redact},
                                     {"remove_secret", log_remove_secret},
                                     {"set_level", log_set_level},
                                     {"set_output", log_set_output},
                                     {"warn", log_warn},
                                     {NULL, NULL}};

int luaopen_sw_log(lua_State* L) {
  level_from_env();
  luaL_newlib(L, log_funcs);
  return 1;
}
