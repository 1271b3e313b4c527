/*
 * fuzz_http_headers.c: libFuzzer target for the response header parser of
 * core/http.c (sw_http_push_headers), which reads bytes an untrusted server
 * sent. Beyond the sanitizers it checks what the parser promises: every
 * name is a non-empty lower-case token, and every value is a string
 * without LF and without SP, HTAB or CR at either end.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int parse(lua_State* L) {
  const char* data = (const char*)lua_touserdata(L, 1);
  size_t size = (size_t)lua_tointeger(L, 2);
  sw_http_push_headers(L, data, size);
  return 1;
}

static int name_ok(const char* s, size_t len) {
  if (len == 0) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
    if (!ok) {
      return 0;
    }
  }
  return 1;
}

static int edge(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int value_ok(const char* s, size_t len) {
  if (memchr(s, '\n', len) != NULL) {
    return 0;
  }
  return len == 0 || (!edge(s[0]) && !edge(s[len - 1]));
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static lua_State* L = NULL;
  if (L == NULL) {
    L = luaL_newstate();
    if (L == NULL) {
      abort();
    }
  }
  lua_settop(L, 0);
  lua_pushcfunction(L, parse);
  lua_pushlightuserdata(L, (void*)data);
  lua_pushinteger(L, (lua_Integer)size);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, 1)) {
    abort();
  }
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    size_t nlen;
    size_t vlen;
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      abort();
    }
    const char* name = lua_tolstring(L, -2, &nlen);
    const char* value = lua_tolstring(L, -1, &vlen);
    if (!name_ok(name, nlen) || !value_ok(value, vlen)) {
      abort();
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  return 0;
}
