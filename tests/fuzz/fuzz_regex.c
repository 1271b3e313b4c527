/*
 * fuzz_regex.c: libFuzzer target for sw.regex. An input is
 * <flags byte><pattern>\0<subject>\0<replacement>; each runs in a fresh Lua
 * state. Beyond crashes, leaks and undefined behaviour, it aborts when a
 * call raises (bad patterns, subjects and templates must give nil, msg,
 * code), when a failure has an unexpected code, or when a result breaks the
 * match rules: find's span is the text of group 0, fullmatch reaches the
 * end of the subject, and escape(s) fully matches s.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void fuzz_require(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "fuzz_regex: %s\n", what);
    abort();
  }
}

/* Run in Lua: every rule is checked there and reported with error(). */
static const char fuzz_script[] =
    "local regex, pattern, flags, subject, repl = ...\n"
    "local function failed(what, codes, r, msg, code)\n"
    "  if r ~= nil then return false end\n"
    "  if msg == nil then return true end -- no match\n"
    "  assert(type(msg) == 'string', what .. ': message not a string')\n"
    "  assert(codes[code], what .. ': unexpected code ' .. tostring(code))\n"
    "  return true\n"
    "end\n"
    "local MATCH = {limit = true, utf8 = true}\n"
    "local r, msg, code = regex.compile(pattern, flags)\n"
    "if failed('compile', {parse = true}, r, msg, code) then return end\n"
    "for _, m in ipairs({'match', 'search', 'fullmatch'}) do\n"
    "  local g, e, c = r[m](r, subject)\n"
    "  if not failed(m, MATCH, g, e, c) then\n"
    "    assert(type(g[0]) == 'string', m .. ': group 0 not a string')\n"
    "    if m == 'fullmatch' then -- a suffix, as \\K may move the start\n"
    "      assert(#g[0] == 0 or subject:sub(-#g[0]) == g[0],\n"
    "             'fullmatch: does not reach the end')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local s, e, g = r:find(subject)\n"
    "if s ~= nil then\n"
    "  assert(subject:sub(s, e) == g[0], 'find: span is not group 0')\n"
    "else\n"
    "  failed('find', MATCH, s, e, g)\n"
    "end\n"
    "local out, n, c = r:gsub(subject, repl)\n"
    "if out == nil then\n"
    "  assert(n ~= nil, 'gsub: nil without a message')\n"
    "  failed('gsub', {parse = true, limit = true, utf8 = true}, out, n, c)\n"
    "else\n"
    "  assert(type(out) == 'string' and math.type(n) == 'integer', 'gsub')\n"
    "end\n"
    "out = r:gsub(subject, function(grp) return grp[1] or '' end)\n"
    "local esc = regex.escape(subject)\n"
    "local f, fm, fc = regex.fullmatch(esc, subject)\n"
    "if f == nil and fm ~= nil then\n"
    "  assert(fc == 'parse' or fc == 'utf8', 'escape: ' .. fm)\n"
    "else\n"
    "  assert(f and f[0] == subject, 'escape: no full match')\n"
    "end\n";

static size_t fuzz_field(const uint8_t* data, size_t size, size_t* pos) {
  size_t start = *pos;
  while (*pos < size && data[*pos] != 0) {
    (*pos)++;
  }
  size_t n = *pos - start;
  if (*pos < size) {
    (*pos)++; /* the NUL */
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char flag_chars[] = "imsxa";
  char flags[8];
  size_t nf = 0;
  size_t pos = 1;
  if (size == 0) {
    return 0;
  }
  for (int i = 0; i < 5; i++) {
    if (data[0] & (1u << i)) {
      flags[nf++] = flag_chars[i];
    }
  }
  size_t p_at = pos;
  size_t p_len = fuzz_field(data, size, &pos);
  size_t s_at = pos;
  size_t s_len = fuzz_field(data, size, &pos);
  size_t r_at = pos;
  size_t r_len = size - pos;

  lua_State* L = luaL_newstate();
  fuzz_require(L != NULL, "no Lua state");
  luaL_openlibs(L);
  fuzz_require(luaL_loadbuffer(L, fuzz_script, sizeof fuzz_script - 1,
                               "=fuzz_regex") == LUA_OK,
               "script does not load");
  luaL_requiref(L, "sw.regex", luaopen_sw_regex, 0);
  lua_pushlstring(L, (const char*)data + p_at, p_len);
  lua_pushlstring(L, flags, nf);
  lua_pushlstring(L, (const char*)data + s_at, s_len);
  lua_pushlstring(L, (const char*)data + r_at, r_len);
  if (lua_pcall(L, 5, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_regex: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_close(L);
  return 0;
}
