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
  sw_log_push_redacted(L, msg, len);
  size_t rlen;
  const char* red = lua_tolstring(L, -1, &rlen);
  push_escaped(L, red, rlen);
  lua_remove(L, -2);
  red = lua_tolstring(L, -1, &rlen);
  if (rlen > max) {
    rlen = max;
  }
  const char* label = sw_task_label(L);
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
  lua_pop(L, label != NULL ? 2 : 1);
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
   * full (in a userdata: a memory error then leaks nothing). */
  if (!lua_checkstack(L, 1)) {
    va_end(again);
    return;
  }
  char* big = (char*)lua_newuserdatauv(L, (size_t)n + 1, 0);
  vsnprintf(big, (size_t)n + 1, fmt, again);
  va_end(again);
  write_line(L, level, big, (size_t)n, SW_LOG_LINE_MAX);
  lua_pop(L, 1);
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
