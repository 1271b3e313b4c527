/*
 * regex.c: the sw.regex module, Python `re`-style regular expressions on top
 * of PCRE2 (8-bit code units, UTF mode, Unicode properties for \d \w \s as
 * Python 3 str patterns have them).
 *
 * A compiled pattern is an sw.Regex userdata. Each of the three ways to
 * match (search anywhere, match at the start, fullmatch the whole subject)
 * gets its own compiled code with the anchoring set at compile time, because
 * PCRE2's JIT refuses PCRE2_ANCHORED/PCRE2_ENDANCHORED passed at match time.
 * Only the search code is compiled up front; the other two on first use.
 *
 * Subjects are untrusted: every match runs under a match limit, a heap limit
 * and a bounded JIT stack, and hitting one returns nil, msg, "limit" instead
 * of backtracking for ever.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sw.h"

#define REGEX_MT "sw.Regex"
#define REGEX_CTX_MT "sw.regex.context"

/* Backtracking budget per match (PCRE2's default is 10 million). */
#define REGEX_MATCH_LIMIT 5000000
/* Heap the interpreter may use for backtracking frames, in KiB. */
#define REGEX_HEAP_LIMIT_KIB (64 * 1024)
/* JIT stack: starts small, grows up to this many bytes. */
#define REGEX_JIT_STACK_MIN (32 * 1024)
#define REGEX_JIT_STACK_MAX (1024 * 1024)
/* Compiled patterns kept by the module-level match/search/fullmatch. */
#define REGEX_CACHE_SIZE 64
/* Patterns longer than this are shortened in messages. */
#define REGEX_QUOTE_MAX 60

enum { MODE_SEARCH = 0, MODE_MATCH, MODE_FULL, MODE_COUNT };

static const uint32_t mode_options[MODE_COUNT] = {
    0, PCRE2_ANCHORED, PCRE2_ANCHORED | PCRE2_ENDANCHORED};

/* Per Lua state: the contexts every compile and match uses. */
typedef struct {
  pcre2_compile_context* cctx;
  pcre2_match_context* mctx;
  pcre2_jit_stack* jit;
} regex_ctx_t;

typedef struct {
  pcre2_code* code[MODE_COUNT];
  pcre2_match_data* md; /* shared by the modes; sized for ncap groups */
  char* pattern;        /* the pattern as given to PCRE2 (after \Z -> \z) */
  size_t len;
  uint32_t options;
  uint32_t ncap;
} sw_regex_t;

/* Pushes s (len bytes) in double quotes, shortened, with \ and " escaped
 * and control bytes as \ddd, for messages. */
static void push_quoted(lua_State* L, const char* s, size_t len) {
  luaL_Buffer b;
  size_t n = len > REGEX_QUOTE_MAX ? REGEX_QUOTE_MAX : len;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, (char)c);
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\%u", (unsigned)c);
      luaL_addstring(&b, esc);
    } else {
      luaL_addchar(&b, (char)c);
    }
  }
  luaL_addchar(&b, '"');
  if (n < len) {
    luaL_addstring(&b, "...");
  }
  luaL_pushresult(&b);
}

static const char* pcre2_message(int code, char* buf, size_t size) {
  if (pcre2_get_error_message(code, (PCRE2_UCHAR*)buf, size) < 0) {
    snprintf(buf, size, "PCRE2 error %d", code);
  }
  return buf;
}

static uint32_t parse_flags(lua_State* L, int arg) {
  size_t n;
  const char* f = luaL_optlstring(L, arg, "", &n);
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C;
  for (size_t i = 0; i < n; i++) {
    switch (f[i]) {
      case 'i':
        options |= PCRE2_CASELESS;
        break;
      case 'm':
        options |= PCRE2_MULTILINE;
        break;
      case 's':
        options |= PCRE2_DOTALL;
        break;
      case 'x':
        options |= PCRE2_EXTENDED;
        break;
      case 'a':
        options &= ~(uint32_t)PCRE2_UCP;
        break;
      default:
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "unknown flag '%c' (expected i, m, "
                                      "s, x or a)",
                                      f[i]));
    }
  }
  return options;
}

/*
 * Python's \Z is the very end of the subject, PCRE2's \z; PCRE2's \Z also
 * matches before a final newline. Rewrites \Z to \z outside \Q...\E in
 * place; the length does not change, so PCRE2's error offsets stay valid
 * for the pattern the caller wrote.
 */
static void translate_python(char* p, size_t len) {
  int quoted = 0;
  size_t i = 0;
  while (i + 1 < len) {
    if (p[i] != '\\') {
      i++;
      continue;
    }
    char c = p[i + 1];
    if (quoted) {
      if (c == 'E') {
        quoted = 0;
      }
    } else if (c == 'Q') {
      quoted = 1;
    } else if (c == 'Z') {
      p[i + 1] = 'z';
    }
    i += 2;
  }
}

static regex_ctx_t* get_ctx(lua_State* L) {
  return (regex_ctx_t*)lua_touserdata(L, lua_upvalueindex(1));
}

static sw_regex_t* check_regex(lua_State* L, int arg) {
  sw_regex_t* re = (sw_regex_t*)luaL_checkudata(L, arg, REGEX_MT);
  if (re->code[MODE_SEARCH] == NULL) {
    luaL_error(L, "attempt to use a closed sw.Regex");
  }
  return re;
}

static pcre2_code* compile_mode(regex_ctx_t* ctx, sw_regex_t* re, int mode,
                                int* errcode, PCRE2_SIZE* erroffset) {
  pcre2_code* code = pcre2_compile((PCRE2_SPTR)re->pattern, re->len,
                                   re->options | mode_options[mode], errcode,
                                   erroffset, ctx->cctx);
  if (code != NULL) {
    /* Without JIT support (or on failure) pcre2_match interprets. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  return code;
}

/* The compiled code for mode, compiling it on first use. */
static pcre2_code* get_code(lua_State* L, regex_ctx_t* ctx, sw_regex_t* re,
                            int mode) {
  if (re->code[mode] == NULL) {
    int errcode;
    PCRE2_SIZE erroffset;
    char msg[256];
    re->code[mode] = compile_mode(ctx, re, mode, &errcode, &erroffset);
    if (re->code[mode] == NULL) {
      /* The same pattern compiled for search, so this is out of memory. */
      luaL_error(L, "regex: %s", pcre2_message(errcode, msg, sizeof msg));
    }
  }
  return re->code[mode];
}

/* Compiles pattern p (len bytes) with options and pushes an sw.Regex, or
 * pushes nil, msg, "parse" and returns 3. Returns 1 on success. */
static int regex_new(lua_State* L, regex_ctx_t* ctx, int pattern_idx,
                     uint32_t options) {
  size_t len;
  const char* p = lua_tolstring(L, pattern_idx, &len);
  int errcode;
  PCRE2_SIZE erroffset;
  sw_regex_t* re = (sw_regex_t*)lua_newuserdatauv(L, sizeof *re, 1);
  memset(re, 0, sizeof *re);
  luaL_setmetatable(L, REGEX_MT);
  lua_pushvalue(L, pattern_idx);
  lua_setiuservalue(L, -2, 1);
  re->pattern = (char*)malloc(len + 1);
  if (re->pattern == NULL) {
    return luaL_error(L, "regex: out of memory");
  }
  memcpy(re->pattern, p, len);
  re->pattern[len] = '\0';
  re->len = len;
  re->options = options;
  translate_python(re->pattern, len);
  re->code[MODE_SEARCH] =
      compile_mode(ctx, re, MODE_SEARCH, &errcode, &erroffset);
  if (re->code[MODE_SEARCH] == NULL) {
    char msg[256];
    pcre2_message(errcode, msg, sizeof msg);
    push_quoted(L, p, len);
    return sw_fail(L, "parse", "regex: %s: offset %d: %s", lua_tostring(L, -1),
                   (int)erroffset, msg);
  }
  re->md = pcre2_match_data_create_from_pattern(re->code[MODE_SEARCH], NULL);
  if (re->md == NULL) {
    return luaL_error(L, "regex: out of memory");
  }
  pcre2_pattern_info(re->code[MODE_SEARCH], PCRE2_INFO_CAPTURECOUNT, &re->ncap);
  return 1;
}

/*
 * Runs one match. Returns PCRE2's result: > 0 on a match (the ovector in
 * re->md holds it), PCRE2_ERROR_NOMATCH, or another negative error.
 */
static int regex_exec(lua_State* L, regex_ctx_t* ctx, sw_regex_t* re, int mode,
                      const char* s, size_t len, size_t start, uint32_t opts) {
  pcre2_code* code = get_code(L, ctx, re, mode);
  return pcre2_match(code, (PCRE2_SPTR)s, len, start, opts, re->md, ctx->mctx);
}

/* Pushes nil, msg, code for a failed match (rc neither > 0 nor NOMATCH). */
static int push_exec_error(lua_State* L, sw_regex_t* re, int rc) {
  char msg[256];
  switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
      return sw_fail(L, "limit", "regex: match limit exceeded");
    case PCRE2_ERROR_BADUTFOFFSET:
      return sw_fail(L, "utf8",
                     "regex: start position is inside a UTF-8 character");
    default:
      break;
  }
  pcre2_message(rc, msg, sizeof msg);
  if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) {
    return sw_fail(L, "utf8",
                   "regex: invalid UTF-8 in subject at offset %d: %s",
                   (int)pcre2_get_startchar(re->md), msg);
  }
  return sw_fail(L, "regex", "regex: %s", msg);
}

/* Pushes the groups of the last match as {[0]=whole, [1]=g1, ...,
 * name=...}; a group that took no part in the match is false. */
static void push_groups(lua_State* L, sw_regex_t* re, const char* s) {
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(re->md);
  uint32_t namecount = 0;
  uint32_t entrysize = 0;
  PCRE2_SPTR table = NULL;
  pcre2_code* code = re->code[MODE_SEARCH];
  lua_createtable(L, (int)re->ncap, 0);
  for (uint32_t i = 0; i <= re->ncap; i++) {
    if (ov[2 * i] == PCRE2_UNSET) {
      lua_pushboolean(L, 0);
    } else {
      lua_pushlstring(L, s + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    }
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &namecount);
  if (namecount == 0) {
    return;
  }
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entrysize);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < namecount; i++) {
    PCRE2_SPTR entry = table + (size_t)i * entrysize;
    lua_Integer n = (lua_Integer)((entry[0] << 8) | entry[1]);
    const char* name = (const char*)(entry + 2);
    /* With (?J) a name can label several groups: the first set one wins. */
    /* stack: groups */
    if (lua_getfield(L, -1, name) == LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    lua_rawgeti(L, -1, n);
    lua_setfield(L, -2, name);
  }
}

/* Converts a Lua init position (1-based, negative from the end) to a byte
 * offset; returns 0 when init lies beyond len + 1 (no match possible). */
static int get_start(lua_State* L, int arg, size_t len, size_t* start) {
  lua_Integer init = luaL_optinteger(L, arg, 1);
  if (init < 0) {
    init = (lua_Integer)len + init + 1;
    if (init < 1) {
      init = 1;
    }
  } else if (init == 0) {
    init = 1;
  }
  if ((lua_Unsigned)init > (lua_Unsigned)len + 1) {
    return 0;
  }
  *start = (size_t)init - 1;
  return 1;
}

/* Pushes the result of matching s from start in mode: the groups (with the
 * 1-based span first when span is set), nil for no match, or nil, msg,
 * code. Returns the number of values pushed. */
static int do_match(lua_State* L, regex_ctx_t* ctx, sw_regex_t* re, int mode,
                    const char* s, size_t len, size_t start, int span) {
  int rc = regex_exec(L, ctx, re, mode, s, len, start, 0);
  if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushnil(L);
    return 1;
  }
  if (rc < 0) {
    return push_exec_error(L, re, rc);
  }
  if (span) {
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(re->md);
    lua_pushinteger(L, (lua_Integer)ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)ov[1]);
  }
  push_groups(L, re, s);
  return span ? 3 : 1;
}

/* The methods: r:<mode>(subject[, init]). */
static int method_match(lua_State* L, int mode, int span) {
  sw_regex_t* re = check_regex(L, 1);
  size_t len;
  size_t start;
  const char* s = luaL_checklstring(L, 2, &len);
  if (!get_start(L, 3, len, &start)) {
    lua_pushnil(L);
    return 1;
  }
  return do_match(L, get_ctx(L), re, mode, s, len, start, span);
}

static int regex_match(lua_State* L) { return method_match(L, MODE_MATCH, 0); }

static int regex_search(lua_State* L) {
  return method_match(L, MODE_SEARCH, 0);
}

static int regex_fullmatch(lua_State* L) {
  return method_match(L, MODE_FULL, 0);
}

static int regex_find(lua_State* L) { return method_match(L, MODE_SEARCH, 1); }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_octal(char c) { return c >= '0' && c <= '7'; }

static int is_ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Adds group g of the match in ov (nothing when unset) to b. */
static void add_group(luaL_Buffer* b, const char* s, const PCRE2_SIZE* ov,
                      uint32_t g) {
  if (ov[2 * g] != PCRE2_UNSET) {
    luaL_addlstring(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
  }
}

typedef struct {
  size_t pos;       /* 0-based offset of the error in the template */
  const char* what; /* static text */
  char detail[64];  /* or formatted text when what is NULL */
} template_error_t;

/* \g<...>: resolves the group name or number between the angle brackets. */
static int template_group(sw_regex_t* re, const char* t, size_t tlen, size_t* i,
                          uint32_t* group, template_error_t* err) {
  size_t at = *i; /* the backslash */
  size_t j = at + 2;
  if (j >= tlen || t[j] != '<') {
    err->pos = j;
    err->what = "missing <";
    return -1;
  }
  size_t open = ++j;
  if (open >= tlen) {
    err->pos = open;
    err->what = "missing group name";
    return -1;
  }
  while (j < tlen && t[j] != '>') {
    j++;
  }
  if (j >= tlen) {
    err->pos = open;
    err->what = "missing >, unterminated name";
    return -1;
  }
  size_t n = j - open;
  if (n == 0) {
    err->pos = open;
    err->what = "missing group name";
    return -1;
  }
  int numeric = 1;
  for (size_t k = open; k < j; k++) {
    numeric = numeric && is_digit(t[k]);
  }
  if (numeric) {
    uint64_t g = 0;
    for (size_t k = open; k < j && g <= UINT32_MAX; k++) {
      g = g * 10 + (uint64_t)(t[k] - '0');
    }
    if (g > re->ncap) {
      err->pos = open;
      err->what = NULL;
      snprintf(err->detail, sizeof err->detail, "invalid group reference %.*s",
               (int)(n > 20 ? 20 : n), t + open);
      return -1;
    }
    *group = (uint32_t)g;
  } else {
    char name[40];
    int num = PCRE2_ERROR_NOSUBSTRING;
    if (n < sizeof name) {
      memcpy(name, t + open, n);
      name[n] = '\0';
      num = pcre2_substring_number_from_name(re->code[MODE_SEARCH],
                                             (PCRE2_SPTR)name);
    }
    if (num < 0) {
      err->pos = open;
      err->what = NULL;
      snprintf(err->detail, sizeof err->detail, "unknown group name '%.*s'",
               (int)(n > 32 ? 32 : n), t + open);
      return -1;
    }
    *group = (uint32_t)num;
  }
  *i = j + 1;
  return 0;
}

/*
 * Runs a Python re.sub template (t, tlen): with b == NULL it only checks
 * it, otherwise it adds the expansion for the match ov on s to b. Returns 0,
 * or -1 with err filled in. Escapes as Python's: \1..\99 and \g<name|n>,
 * octal \0 and \ooo, \a \b \f \n \r \t \v \\; other ASCII letters are
 * errors; any other escaped byte stays as written, backslash included.
 */
static int template_run(sw_regex_t* re, const char* t, size_t tlen,
                        const char* s, const PCRE2_SIZE* ov, luaL_Buffer* b,
                        template_error_t* err) {
  static const char simple_from[] = "abfnrtv\\";
  static const char simple_to[] = "\a\b\f\n\r\t\v\\";
  size_t i = 0;
  while (i < tlen) {
    size_t lit = i;
    while (i < tlen && t[i] != '\\') {
      i++;
    }
    if (b != NULL && i > lit) {
      luaL_addlstring(b, t + lit, i - lit);
    }
    if (i >= tlen) {
      break;
    }
    if (i + 1 >= tlen) {
      err->pos = i;
      err->what = "bad escape (end of pattern)";
      return -1;
    }
    char c = t[i + 1];
    const char* simple = strchr(simple_from, c);
    uint32_t group;
    if (c == 'g') {
      if (template_group(re, t, tlen, &i, &group, err) < 0) {
        return -1;
      }
      if (b != NULL) {
        add_group(b, s, ov, group);
      }
    } else if (c == '0' || (is_octal(c) && i + 3 < tlen && is_octal(t[i + 2]) &&
                            is_octal(t[i + 3]))) {
      /* Octal: \0, \0o, \0oo, or exactly three octal digits. */
      unsigned v = 0;
      size_t j = i + 1;
      size_t k = 0;
      while (k < 3 && j < tlen && is_octal(t[j])) {
        v = v * 8 + (unsigned)(t[j] - '0');
        j++;
        k++;
      }
      if (v > 0377) {
        err->pos = i;
        err->what = NULL;
        snprintf(err->detail, sizeof err->detail,
                 "octal escape value \\%.3s outside of range 0-0o377",
                 t + i + 1);
        return -1;
      }
      if (b != NULL) {
        luaL_addchar(b, (char)v);
      }
      i = j;
    } else if (is_digit(c)) {
      group = (uint32_t)(c - '0');
      size_t j = i + 2;
      if (j < tlen && is_digit(t[j])) {
        group = group * 10 + (uint32_t)(t[j] - '0');
        j++;
      }
      if (group > re->ncap) {
        err->pos = i;
        err->what = NULL;
        snprintf(err->detail, sizeof err->detail, "invalid group reference %u",
                 (unsigned)group);
        return -1;
      }
      if (b != NULL) {
        add_group(b, s, ov, group);
      }
      i = j;
    } else if (c != '\0' && simple != NULL) {
      if (b != NULL) {
        luaL_addchar(b, simple_to[simple - simple_from]);
      }
      i += 2;
    } else if (is_ascii_letter(c)) {
      err->pos = i;
      err->what = NULL;
      snprintf(err->detail, sizeof err->detail, "bad escape \\%c", c);
      return -1;
    } else {
      if (b != NULL) {
        luaL_addlstring(b, t + i, 2);
      }
      i += 2;
    }
  }
  return 0;
}

/* Adds the UTF-8 character at s[pos] to b; returns its length. */
static size_t add_char(luaL_Buffer* b, const char* s, size_t len, size_t pos) {
  unsigned char c = (unsigned char)s[pos];
  size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
  if (pos + n > len) {
    n = len - pos;
  }
  luaL_addlstring(b, s + pos, n);
  return n;
}

/* re:gsub(subject, repl[, n]) -> result, count: Python re.sub. */
static int regex_gsub(lua_State* L) {
  regex_ctx_t* ctx = get_ctx(L);
  sw_regex_t* re = check_regex(L, 1);
  size_t len;
  size_t tlen = 0;
  const char* s = luaL_checklstring(L, 2, &len);
  const char* t = NULL;
  int is_fn = lua_type(L, 3) == LUA_TFUNCTION;
  lua_Integer max_n = luaL_optinteger(L, 4, -1);
  template_error_t err;
  luaL_Buffer b;
  lua_Integer count = 0;
  size_t pos = 0;
  uint32_t opts = 0;
  int retry_empty = 0;
  if (!is_fn) {
    luaL_argexpected(L, lua_type(L, 3) == LUA_TSTRING, 3, "string or function");
    t = lua_tolstring(L, 3, &tlen);
    if (template_run(re, t, tlen, NULL, NULL, NULL, &err) < 0) {
      push_quoted(L, t, tlen);
      return sw_fail(L, "parse", "regex: replacement %s: position %d: %s",
                     lua_tostring(L, -1), (int)err.pos,
                     err.what != NULL ? err.what : err.detail);
    }
  }
  luaL_buffinit(L, &b);
  while ((max_n < 0 || count < max_n) && pos <= len) {
    int rc;
    if (retry_empty) {
      /* After an empty match, look for a non-empty one at the same place
       * before moving on by one character (Python 3.7+ semantics). */
      rc = regex_exec(L, ctx, re, MODE_MATCH, s, len, pos,
                      opts | PCRE2_NOTEMPTY_ATSTART);
    } else {
      rc = regex_exec(L, ctx, re, MODE_SEARCH, s, len, pos, opts);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (!retry_empty || pos >= len) {
        break;
      }
      pos += add_char(&b, s, len, pos);
      retry_empty = 0;
      continue;
    }
    if (rc < 0) {
      return push_exec_error(L, re, rc);
    }
    opts = PCRE2_NO_UTF_CHECK;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(re->md);
    size_t ms = ov[0];
    size_t me = ov[1];
    luaL_addlstring(&b, s + pos, ms - pos);
    if (is_fn) {
      /* The function may run this regex again: keep ms/me, not ov. */
      lua_pushvalue(L, 3);
      push_groups(L, re, s);
      lua_call(L, 1, 1);
      if (re->code[MODE_SEARCH] == NULL) {
        /* The function closed the regex (a <close> variable): its code
         * and match data are gone. */
        return luaL_error(L, "attempt to use a closed sw.Regex");
      }
      int ty = lua_type(L, -1);
      if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
        luaL_addvalue(&b);
      } else if (ty == LUA_TNIL ||
                 (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        luaL_addlstring(&b, s + ms, me - ms);
      } else {
        return luaL_error(L, "regex: invalid replacement value (a %s)",
                          luaL_typename(L, -1));
      }
    } else {
      template_run(re, t, tlen, s, ov, &b, &err);
    }
    count++;
    pos = me;
    retry_empty = ms == me;
  }
  if (pos < len) {
    luaL_addlstring(&b, s + pos, len - pos);
  }
  luaL_pushresult(&b);
  lua_pushinteger(L, count);
  return 2;
}

/* re:info() -> {pattern=, flags=, groups=n, jit=bool, names={name=n}} */
static int regex_info(lua_State* L) {
  sw_regex_t* re = check_regex(L, 1);
  uint32_t namecount = 0;
  uint32_t entrysize = 0;
  PCRE2_SPTR table = NULL;
  char flags[8];
  size_t nf = 0;
  lua_createtable(L, 0, 4);
  lua_getiuservalue(L, 1, 1);
  lua_setfield(L, -2, "pattern");
  if (re->options & PCRE2_CASELESS) {
    flags[nf++] = 'i';
  }
  if (re->options & PCRE2_MULTILINE) {
    flags[nf++] = 'm';
  }
  if (re->options & PCRE2_DOTALL) {
    flags[nf++] = 's';
  }
  if (re->options & PCRE2_EXTENDED) {
    flags[nf++] = 'x';
  }
  if (!(re->options & PCRE2_UCP)) {
    flags[nf++] = 'a';
  }
  lua_pushlstring(L, flags, nf);
  lua_setfield(L, -2, "flags");
  lua_pushinteger(L, (lua_Integer)re->ncap);
  lua_setfield(L, -2, "groups");
  size_t jitsize = 0;
  pcre2_pattern_info(re->code[MODE_SEARCH], PCRE2_INFO_JITSIZE, &jitsize);
  lua_pushboolean(L, jitsize > 0);
  lua_setfield(L, -2, "jit");
  lua_newtable(L);
  pcre2_pattern_info(re->code[MODE_SEARCH], PCRE2_INFO_NAMECOUNT, &namecount);
  pcre2_pattern_info(re->code[MODE_SEARCH], PCRE2_INFO_NAMEENTRYSIZE,
                     &entrysize);
  pcre2_pattern_info(re->code[MODE_SEARCH], PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < namecount; i++) {
    PCRE2_SPTR entry = table + (size_t)i * entrysize;
    const char* name = (const char*)(entry + 2);
    if (lua_getfield(L, -1, name) == LUA_TNIL) {
      lua_pushinteger(L, (lua_Integer)((entry[0] << 8) | entry[1]));
      lua_setfield(L, -3, name);
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "names");
  return 1;
}

static int regex_gc(lua_State* L) {
  sw_regex_t* re = (sw_regex_t*)luaL_checkudata(L, 1, REGEX_MT);
  for (int m = 0; m < MODE_COUNT; m++) {
    pcre2_code_free(re->code[m]);
    re->code[m] = NULL;
  }
  pcre2_match_data_free(re->md);
  re->md = NULL;
  free(re->pattern);
  re->pattern = NULL;
  return 0;
}

static int regex_tostring(lua_State* L) {
  size_t len;
  const char* p;
  sw_regex_t* re = (sw_regex_t*)luaL_checkudata(L, 1, REGEX_MT);
  if (re->code[MODE_SEARCH] == NULL) {
    lua_pushliteral(L, "sw.Regex (closed)");
    return 1;
  }
  lua_getiuservalue(L, 1, 1);
  p = lua_tolstring(L, -1, &len);
  push_quoted(L, p, len);
  lua_pushfstring(L, "sw.Regex (%s)", lua_tostring(L, -1));
  return 1;
}

/* regex.compile(pattern[, flags]) -> sw.Regex | nil, msg, "parse" */
static int regex_compile(lua_State* L) {
  luaL_checkstring(L, 1);
  uint32_t options = parse_flags(L, 2);
  return regex_new(L, get_ctx(L), 1, options);
}

/*
 * The module-level match/search/fullmatch compile through a cache of
 * REGEX_CACHE_SIZE patterns keyed by flags and pattern (upvalue 2). The
 * cache's integer keys 1..n hold the keys in insertion order as a ring and
 * key 0 the next slot, so the oldest entry leaves first.
 */
static int module_call(lua_State* L, int mode) {
  regex_ctx_t* ctx = get_ctx(L);
  int cache = lua_upvalueindex(2);
  size_t len;
  luaL_checkstring(L, 1);
  const char* s = luaL_checklstring(L, 2, &len);
  uint32_t options = parse_flags(L, 3);
  lua_settop(L, 3);
  lua_pushstring(L, luaL_optstring(L, 3, ""));
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, 1);
  lua_concat(L, 3);
  /* stack: pattern, subject, flags, key */
  lua_pushvalue(L, 4);
  if (lua_rawget(L, cache) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    int n = regex_new(L, ctx, 1, options);
    if (n != 1) {
      return n;
    }
    /* stack: pattern, subject, flags, key, regex */
    lua_rawgeti(L, cache, 0);
    lua_Integer slot = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 1;
    lua_pop(L, 1);
    if (lua_rawgeti(L, cache, slot) != LUA_TNIL) {
      lua_pushnil(L);
      lua_rawset(L, cache); /* evict the oldest pattern */
    } else {
      lua_pop(L, 1);
    }
    lua_pushvalue(L, 4);
    lua_rawseti(L, cache, slot);
    lua_pushinteger(L, slot % REGEX_CACHE_SIZE + 1);
    lua_rawseti(L, cache, 0);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 5);
    lua_rawset(L, cache);
  }
  sw_regex_t* re = (sw_regex_t*)lua_touserdata(L, 5);
  return do_match(L, ctx, re, mode, s, len, 0, 0);
}

/* regex.match(pattern, subject[, flags]) and friends. */
static int regex_mod_match(lua_State* L) { return module_call(L, MODE_MATCH); }

static int regex_mod_search(lua_State* L) {
  return module_call(L, MODE_SEARCH);
}

static int regex_mod_fullmatch(lua_State* L) {
  return module_call(L, MODE_FULL);
}

/* regex.escape(s): Python re.escape (3.7+): a backslash before each of
 * ()[]{}?*+-|^$\.&~# and whitespace. */
static int regex_escape(lua_State* L) {
  static const char special[] = "()[]{}?*+-|^$\\.&~# \t\n\r\v\f";
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '\0' && strchr(special, s[i]) != NULL) {
      luaL_addchar(&b, '\\');
    }
    luaL_addchar(&b, s[i]);
  }
  luaL_pushresult(&b);
  return 1;
}

static int ctx_gc(lua_State* L) {
  regex_ctx_t* ctx = (regex_ctx_t*)luaL_checkudata(L, 1, REGEX_CTX_MT);
  pcre2_compile_context_free(ctx->cctx);
  ctx->cctx = NULL;
  pcre2_match_context_free(ctx->mctx);
  ctx->mctx = NULL;
  pcre2_jit_stack_free(ctx->jit);
  ctx->jit = NULL;
  return 0;
}

static const luaL_Reg regex_funcs[] = {
    {"compile", regex_compile},         {"escape", regex_escape},
    {"fullmatch", regex_mod_fullmatch}, {"match", regex_mod_match},
    {"search", regex_mod_search},       {NULL, NULL}};

static const luaL_Reg regex_methods[] = {{"find", regex_find},
                                         {"fullmatch", regex_fullmatch},
                                         {"gsub", regex_gsub},
                                         {"info", regex_info},
                                         {"match", regex_match},
                                         {"search", regex_search},
                                         {NULL, NULL}};

static const luaL_Reg regex_meta[] = {{"__close", regex_gc},
                                      {"__gc", regex_gc},
                                      {"__index", NULL},
                                      {"__tostring", regex_tostring},
                                      {NULL, NULL}};

int luaopen_sw_regex(lua_State* L) {
  regex_ctx_t* ctx = (regex_ctx_t*)lua_newuserdatauv(L, sizeof *ctx, 0);
  memset(ctx, 0, sizeof *ctx);
  luaL_newmetatable(L, REGEX_CTX_MT);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  ctx->cctx = pcre2_compile_context_create(NULL);
  ctx->mctx = pcre2_match_context_create(NULL);
  ctx->jit =
      pcre2_jit_stack_create(REGEX_JIT_STACK_MIN, REGEX_JIT_STACK_MAX, NULL);
  if (ctx->cctx == NULL || ctx->mctx == NULL) {
    return luaL_error(L, "regex: out of memory");
  }
  /* Python: only \n ends a line for ., ^ and $. */
  pcre2_set_newline(ctx->cctx, PCRE2_NEWLINE_LF);
  pcre2_set_match_limit(ctx->mctx, REGEX_MATCH_LIMIT);
  pcre2_set_heap_limit(ctx->mctx, REGEX_HEAP_LIMIT_KIB);
  if (ctx->jit != NULL) {
    pcre2_jit_stack_assign(ctx->mctx, NULL, ctx->jit);
  }
  lua_newtable(L); /* the pattern cache */
  /* stack: ctx, cache */
  luaL_newmetatable(L, REGEX_MT);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, regex_meta, 2);
  luaL_newlibtable(L, regex_methods);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, regex_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  /* stack: ctx, cache */
  luaL_newlibtable(L, regex_funcs);
  lua_insert(L, -3);
  luaL_setfuncs(L, regex_funcs, 2);
  return 1;
}
