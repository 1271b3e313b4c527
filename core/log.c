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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Replaces every occurrence of secret in *buf (*len bytes, malloc'd) by
 * REDACTED; returns 0, or -1 when out of memory (*buf is then freed). */
static int replace_all(char** buf, size_t* len, const char* secret,
                       size_t slen) {
  const char* cur = *buf;
  const char* end = cur + *len;
  size_t hits = 0;
  for (const char* p = cur;
       (p = memmem(p, (size_t)(end - p), secret, slen)) != NULL; p += slen) {
    hits++;
  }
  if (hits == 0) {
    return 0;
  }
  size_t rlen = strlen(REDACTED);
  size_t nlen = *len - hits * slen + hits * rlen;
  char* out = (char*)malloc(nlen + 1);
  if (out == NULL) {
    free(*buf);
    *buf = NULL;
    return -1;
  }
  char* o = out;
  const char* p = cur;
  const char* hit;
  while ((hit = memmem(p, (size_t)(end - p), secret, slen)) != NULL) {
    memcpy(o, p, (size_t)(hit - p));
    o += hit - p;
    memcpy(o, REDACTED, rlen);
    o += rlen;
    p = hit + slen;
  }
  memcpy(o, p, (size_t)(end - p));
  out[nlen] = '\0';
  free(*buf);
  *buf = out;
  *len = nlen;
  return 0;
}

/*
 * A malloc'd copy of s with every registered secret replaced, or NULL when
 * out of memory or stack. Built in C, so it allocates nothing on L and
 * never raises: sw_log runs from loop callbacks on suspended threads, where
 * a raise would kill the thread and unwind through the loop.
 */
static char* redact_c(lua_State* L, const char* s, size_t len,
                      size_t* out_len) {
  if (!lua_checkstack(L, 4)) {
    return NULL;
  }
  char* buf = (char*)malloc(len + 1);
  if (buf == NULL) {
    return NULL;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &SECRETS_KEY) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pop(L, 1);
      /* Only string keys: lua_tolstring would convert a number in place,
       * which allocates and confuses lua_next. */
      size_t slen = 0;
      const char* secret =
          lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &slen) : NULL;
      if (secret != NULL && slen >= SECRET_MIN_LEN &&
          replace_all(&buf, &len, secret, slen) != 0) {
        lua_pop(L, 2);
        return NULL;
      }
    }
  }
  lua_pop(L, 1);
  *out_len = len;
  return buf;
}

static int push_copy(lua_State* L) {
  lua_pushlstring(L, (const char*)lua_touserdata(L, 1),
                  (size_t)lua_tointeger(L, 2));
  return 1;
}

void sw_log_push_redacted(lua_State* L, const char* s, size_t len) {
  size_t rlen = 0;
  char* red = redact_c(L, s, len, &rlen);
  if (red == NULL) {
    luaL_error(L, "log: out of memory");
    return;
  }
  /* A raise here must not leak red: the copy runs under pcall, and the
   * error goes on only once red is freed. redact_c made room for these. */
  lua_pushcfunction(L, push_copy);
  lua_pushlightuserdata(L, red);
  lua_pushinteger(L, (lua_Integer)rlen);
  int status = lua_pcall(L, 2, 1, 0);
  free(red);
  if (status != LUA_OK) {
    lua_error(L);
  }
}

/* Writes msg with the secrets redacted, then cut to max bytes: cutting
 * first could leave the head of a secret that straddles the cut. */
static void write_line(lua_State* L, int level, const char* msg, size_t len,
                       size_t max) {
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
  size_t rlen = 0;
  char* red = redact_c(L, msg, len, &rlen);
  static const char withheld[] = "(log line withheld: out of memory)";
  const char* text = red != NULL ? red : withheld;
  if (red == NULL) {
    rlen = sizeof(withheld) - 1;
  }
  if (rlen > max) {
    rlen = max;
  }
  const char* label = sw_task_label(L);
  FILE* out = log_out != NULL ? log_out : stderr;
  if (label != NULL) {
    fprintf(out, "%s %s [%s] %.*s\n", stamp, level_tags[level], label,
            (int)rlen, text);
  } else {
    fprintf(out, "%s %s %.*s\n", stamp, level_tags[level], (int)rlen, text);
  }
  fflush(out);
  free(red);
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
  const char* v = luaL_tolstring(L, -1, NULL);
  /* stack: key, value, tostring(value) */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, ' ');
  luaL_addstring(&b, k);
  luaL_addchar(&b, '=');
  if (v[0] == '\0' || strpbrk(v, " \t\"=") != NULL) {
    luaL_addchar(&b, '"');
    for (const char* p = v; *p != '\0'; p++) {
      if (*p == '"' || *p == '\\') {
        luaL_addchar(&b, '\\');
      }
      luaL_addchar(&b, *p);
    }
    luaL_addchar(&b, '"');
  } else {
    luaL_addstring(&b, v);
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
                                     {"debug", log_debug},
                                     {"enabled", log_enabled},
                                     {"error", log_error},
                                     {"info", log_info},
                                     {"level", log_level_name},
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
