/*
 * yaml.c: the sw.yaml module. Loads YAML into the values every module
 * shares (tables marked with json.array_mt / json.object_mt, json.null),
 * building the Lua tables straight from libyaml's parser events.
 *
 * Plain scalars follow the YAML 1.1 resolver of PyYAML's safe_load (bools
 * such as yes/off, 010 == 8, 190:20:30, .inf), since the configs and
 * .taskcluster.yml files we read are written for the Python peer. An alias
 * shares the table of its anchor, but counts the full size of that node
 * towards max_nodes, so a "billion laughs" document is refused early
 * instead of blowing up whatever walks the result.
 *
 * Like PyYAML, errors of the syntax (libyaml) and of the structure
 * (undefined alias, second document) are reported first; an error in
 * building a value (an unknown tag, a bad merge) is kept until the end of
 * its document and reported then, unless a syntax error comes first.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sw.h"

#define YAML_HANDLE_MT "sw.YamlParser"
#define YAML_MAX_NODES 1000000
#define YAML_MAX_DEPTH 512
/* Each open collection takes up to four Lua stack slots (the stack holds
 * at most 1,000,000), so max_depth stays well below. */
#define YAML_DEPTH_CAP 100000
#define YAML_TAG "tag:yaml.org,2002:"
#define YAML_TAG_LEN (sizeof(YAML_TAG) - 1)

/* Upvalues of every module function, taken from sw.json at load time. */
#define UV_NULL lua_upvalueindex(1)
#define UV_ARRAY_MT lua_upvalueindex(2)
#define UV_OBJECT_MT lua_upvalueindex(3)

/* A plain "<<" key (PyYAML's merge tag), and a key whose pair is dropped
 * because building the key failed. Addresses Lua code cannot forge. */
static char merge_key;
static char discard_key;

/* The kind of a node: what an explicit tag asks for, or what the implicit
 * resolver found for a plain scalar. */
typedef enum {
  K_NONE,
  K_STR,
  K_INT,
  K_FLOAT,
  K_BOOL,
  K_NULL,
  K_TIMESTAMP,
  K_SEQ,
  K_MAP,
  K_MERGE,
  K_VALUE,
  K_OTHER
} yaml_kind_t;

/* One open sequence or mapping. Its Lua stack slots: the table, `aux`
 * (a mapping's merge sources, else nil) and `info` (its anchor's record,
 * else nil); a mapping's pending key sits above them. */
typedef struct {
  int is_map;
  int tbl;
  int aux;
  int info;
  int has_key;   /* mapping: a key waits on top of the stack */
  int merge_seq; /* sequence under a "<<" key: items must be mappings */
  lua_Integer n; /* sequence: items so far */
  int64_t size;  /* nodes below and including this one */
  yaml_mark_t mark;
} yaml_frame_t;

/* What must be freed however a load ends: the userdata "sw.YamlParser"
 * owns it and its __gc frees it when a Lua error cuts a load short. */
typedef struct {
  yaml_parser_t parser;
  yaml_event_t event;
  int parser_ok;
  int event_ok;
  FILE* file;
  yaml_frame_t* frames;
  size_t nframes;
  size_t cap;
  char* scratch;
  size_t scratch_cap;
} yaml_handle_t;

/* One call of load, load_all or load_file. */
typedef struct {
  lua_State* L;
  yaml_handle_t* h;
  const char* prefix; /* "yaml: " or "yaml: <path>: " */
  const char* input;
  size_t len;
  int64_t max_nodes;
  int64_t nodes;
  lua_Integer max_depth;
  int anchors;          /* stack index: name -> {value, size, line, col} */
  int err;              /* stack index: the message to report */
  const char* err_code; /* non-NULL once err holds an error */
  int deferred;         /* stack index: the first error building a value */
  int has_deferred;
} yaml_load_t;

/* ---- the handle ---- */

static void yaml_handle_free(yaml_handle_t* h) {
  if (h->event_ok) {
    yaml_event_delete(&h->event);
    h->event_ok = 0;
  }
  if (h->parser_ok) {
    yaml_parser_delete(&h->parser);
    h->parser_ok = 0;
  }
  if (h->file != NULL) {
    fclose(h->file);
    h->file = NULL;
  }
  free(h->frames);
  h->frames = NULL;
  h->nframes = 0;
  h->cap = 0;
  free(h->scratch);
  h->scratch = NULL;
  h->scratch_cap = 0;
}

static int yaml_handle_gc(lua_State* L) {
  yaml_handle_free(luaL_checkudata(L, 1, YAML_HANDLE_MT));
  return 0;
}

static yaml_handle_t* yaml_handle_new(lua_State* L) {
  yaml_handle_t* h = lua_newuserdatauv(L, sizeof(*h), 0);
  memset(h, 0, sizeof(*h));
  luaL_setmetatable(L, YAML_HANDLE_MT);
  return h;
}

static void yaml_nomem(lua_State* L) {
  lua_pushliteral(L, "not enough memory");
  lua_error(L);
}

/* The scratch buffer, at least n bytes. */
static char* yaml_scratch(lua_State* L, yaml_handle_t* h, size_t n) {
  if (n > h->scratch_cap) {
    size_t cap = n < 64 ? 64 : n;
    char* p = realloc(h->scratch, cap);
    if (p == NULL) {
      yaml_nomem(L);
    }
    h->scratch = p;
    h->scratch_cap = cap;
  }
  return h->scratch;
}

/* ---- messages ---- */

/* Pushes s (len bytes) quoted for a message, cut after 40 bytes. */
static void yaml_push_quoted(lua_State* L, const char* s, size_t len) {
  luaL_Buffer b;
  size_t n = len > 40 ? 40 : len;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, (char)ch);
    } else if (ch == '\n') {
      luaL_addstring(&b, "\\n");
    } else if (ch < 0x20 || ch == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\x%02X", ch);
      luaL_addstring(&b, esc);
    } else {
      luaL_addchar(&b, (char)ch);
    }
  }
  luaL_addchar(&b, '"');
  if (n < len) {
    luaL_addstring(&b, "...");
  }
  luaL_pushresult(&b);
}

static const char* yaml_node_name(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
    int is_map = lua_rawequal(L, -1, UV_OBJECT_MT);
    lua_pop(L, 1);
    return is_map ? "mapping" : "sequence";
  }
  return "scalar";
}

/* Pushes "<prefix>line L column C: <msg>", msg formatted by lua_pushvfstring
 * with ctx appended as " (<ctx> at line L column C)" when ctx is non-NULL. */
static void yaml_push_message(yaml_load_t* c, yaml_mark_t mark, const char* ctx,
                              const yaml_mark_t* ctx_mark, const char* fmt,
                              va_list ap) {
  lua_State* L = c->L;
  luaL_checkstack(L, 4, "yaml");
  lua_pushfstring(L, "%sline %I column %I: ", c->prefix,
                  (lua_Integer)mark.line + 1, (lua_Integer)mark.column + 1);
  lua_pushvfstring(L, fmt, ap);
  if (ctx != NULL) {
    lua_pushfstring(L, " (%s at line %I column %I)", ctx,
                    (lua_Integer)ctx_mark->line + 1,
                    (lua_Integer)ctx_mark->column + 1);
    lua_concat(L, 3);
  } else {
    lua_concat(L, 2);
  }
}

/* Records the error to report now; returns -1 for `return yaml_fail(...)`. */
static int yaml_fail(yaml_load_t* c, const char* code, yaml_mark_t mark,
                     const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  yaml_push_message(c, mark, NULL, NULL, fmt, ap);
  va_end(ap);
  lua_replace(c->L, c->err);
  c->err_code = code;
  return -1;
}

/* Records the message on top (popped) as an error in building a value:
 * reported at the end of the document unless another error comes first.
 * Only the first one counts. */
static void yaml_defer_top(yaml_load_t* c) {
  if (c->has_deferred) {
    lua_pop(c->L, 1);
    return;
  }
  lua_replace(c->L, c->deferred);
  c->has_deferred = 1;
}

/* yaml_defer_top of a message formatted as yaml_push_message does. */
static void yaml_defer(yaml_load_t* c, yaml_mark_t mark, const char* ctx,
                       const yaml_mark_t* ctx_mark, const char* fmt, ...) {
  va_list ap;
  if (c->has_deferred) {
    return;
  }
  va_start(ap, fmt);
  yaml_push_message(c, mark, ctx, ctx_mark, fmt, ap);
  va_end(ap);
  yaml_defer_top(c);
}

/* Pushes "<prefix>line L column C: <msg>". */
static void yaml_push_error(yaml_load_t* c, yaml_mark_t mark, const char* fmt,
                            ...) {
  va_list ap;
  va_start(ap, fmt);
  yaml_push_message(c, mark, NULL, NULL, fmt, ap);
  va_end(ap);
}

/* Line and column (1-based) of byte offset off, for reader errors, which
 * libyaml reports by offset only. */
static void yaml_locate(const char* s, size_t len, size_t off, size_t* line,
                        size_t* col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\n' || (ch == '\r' && (i + 1 >= len || s[i + 1] != '\n'))) {
      (*line)++;
      *col = 1;
    } else if (ch != '\r' && (ch & 0xC0) != 0x80) {
      (*col)++;
    }
  }
}

/* The error libyaml reported, recorded with code "parse". */
static int yaml_parser_fail(yaml_load_t* c) {
  yaml_parser_t* p = &c->h->parser;
  const char* problem = p->problem != NULL ? p->problem : "unknown error";
  if (p->error == YAML_MEMORY_ERROR) {
    yaml_nomem(c->L);
  }
  if (p->error == YAML_READER_ERROR) {
    char value[16] = "";
    size_t line;
    size_t col;
    if (p->problem_value != -1) {
      snprintf(value, sizeof(value), " (0x%02X)", (unsigned)p->problem_value);
    }
    yaml_locate(c->input, c->len, p->problem_offset, &line, &col);
    lua_pushfstring(c->L, "%sline %I column %I (byte %I): %s%s", c->prefix,
                    (lua_Integer)line, (lua_Integer)col,
                    (lua_Integer)p->problem_offset, problem, value);
    lua_replace(c->L, c->err);
    c->err_code = "parse";
    return -1;
  }
  if (p->context != NULL) {
    return yaml_fail(c, "parse", p->problem_mark,
                     "%s (%s at line %I column %I)", problem, p->context,
                     (lua_Integer)p->context_mark.line + 1,
                     (lua_Integer)p->context_mark.column + 1);
  }
  return yaml_fail(c, "parse", p->problem_mark, "%s", problem);
}

/* The next event into h->event; -1 (error recorded) on a syntax error. */
static int yaml_next(yaml_load_t* c) {
  yaml_handle_t* h = c->h;
  if (h->event_ok) {
    yaml_event_delete(&h->event);
    h->event_ok = 0;
  }
  if (!yaml_parser_parse(&h->parser, &h->event)) {
    return yaml_parser_fail(c);
  }
  h->event_ok = 1;
  return 0;
}

/* ---- the YAML 1.1 resolver of PyYAML ---- */

static int yaml_isdigit(char ch) { return ch >= '0' && ch <= '9'; }

/* [0-9_]* */
static const char* yaml_skip_digits_(const char* p, const char* e) {
  while (p < e && (yaml_isdigit(*p) || *p == '_')) {
    p++;
  }
  return p;
}

/* [-+]? */
static const char* yaml_skip_sign(const char* p, const char* e) {
  if (p < e && (*p == '-' || *p == '+')) {
    p++;
  }
  return p;
}

/* (?::[0-5]?[0-9])+ : at least one group; *pp moves past the groups. */
static int yaml_match_sexagesimal(const char** pp, const char* e) {
  const char* p = *pp;
  int groups = 0;
  while (p < e && *p == ':') {
    p++;
    if (p + 1 < e && *p >= '0' && *p <= '5' && yaml_isdigit(p[1])) {
      p += 2;
    } else if (p < e && yaml_isdigit(*p)) {
      p++;
    } else {
      return 0;
    }
    groups++;
  }
  *pp = p;
  return groups > 0;
}

/* (?:[eE][-+][0-9]+)?$ */
static int yaml_match_exponent_end(const char* p, const char* e) {
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p >= e || (*p != '-' && *p != '+')) {
      return 0;
    }
    p++;
    if (p >= e || !yaml_isdigit(*p)) {
      return 0;
    }
    while (p < e && yaml_isdigit(*p)) {
      p++;
    }
  }
  return p == e;
}

static int yaml_equals(const char* s, size_t n, const char* word) {
  return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* PyYAML's float pattern, one alternative at a time:
 *   [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
 *   \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
 *   [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
 *   [-+]?\.(?:inf|Inf|INF)
 *   \.(?:nan|NaN|NAN) */
static int yaml_is_float(const char* s, size_t n) {
  const char* e = s + n;
  const char* p = yaml_skip_sign(s, e);
  if (p < e && yaml_isdigit(*p)) {
    p = yaml_skip_digits_(p + 1, e);
    if (p < e && *p == '.') {
      return yaml_match_exponent_end(yaml_skip_digits_(p + 1, e), e);
    }
    if (!yaml_match_sexagesimal(&p, e) || p >= e || *p != '.') {
      return 0;
    }
    return yaml_skip_digits_(p + 1, e) == e;
  }
  if (p < e && *p == '.') {
    size_t rest = (size_t)(e - p);
    if (yaml_equals(p, rest, ".inf") || yaml_equals(p, rest, ".Inf") ||
        yaml_equals(p, rest, ".INF")) {
      return 1;
    }
    if (p != s) {
      return 0; /* a sign before .5 or .nan: a string */
    }
    if (yaml_equals(s, n, ".nan") || yaml_equals(s, n, ".NaN") ||
        yaml_equals(s, n, ".NAN")) {
      return 1;
    }
    if (p + 1 < e && yaml_isdigit(p[1])) {
      return yaml_match_exponent_end(yaml_skip_digits_(p + 2, e), e);
    }
  }
  return 0;
}

/* Runs of the characters in set, from p. */
static const char* yaml_skip_set(const char* p, const char* e,
                                 const char* set) {
  while (p < e && *p != '\0' && strchr(set, *p) != NULL) {
    p++;
  }
  return p;
}

/* PyYAML's int pattern:
 *   [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*)
 *   | [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+ */
static int yaml_is_int(const char* s, size_t n) {
  const char* e = s + n;
  const char* p = yaml_skip_sign(s, e);
  if (p >= e || !yaml_isdigit(*p)) {
    return 0;
  }
  if (*p == '0') {
    if (p + 1 == e) {
      return 1;
    }
    if (p[1] == 'b') {
      return p + 2 < e && yaml_skip_set(p + 2, e, "01_") == e;
    }
    if (p[1] == 'x') {
      return p + 2 < e &&
             yaml_skip_set(p + 2, e, "0123456789abcdefABCDEF_") == e;
    }
    return yaml_skip_set(p + 1, e, "01234567_") == e;
  }
  p = yaml_skip_digits_(p + 1, e);
  if (p == e) {
    return 1;
  }
  return yaml_match_sexagesimal(&p, e) && p == e;
}

/* The kind of a plain scalar without a tag (or with the tag "!"). Dates
 * and times stay strings, so the timestamp rule needs no code here. */
static yaml_kind_t yaml_resolve(const char* s, size_t n) {
  static const char* const bools[] = {
      "yes",   "Yes",   "YES",   "no", "No", "NO", "true", "True", "TRUE",
      "false", "False", "FALSE", "on", "On", "ON", "off",  "Off",  "OFF"};
  if (n == 0 || yaml_equals(s, n, "~") || yaml_equals(s, n, "null") ||
      yaml_equals(s, n, "Null") || yaml_equals(s, n, "NULL")) {
    return K_NULL;
  }
  if (n <= 5) {
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
      if (yaml_equals(s, n, bools[i])) {
        return K_BOOL;
      }
    }
  }
  if (yaml_equals(s, n, "<<")) {
    return K_MERGE;
  }
  if (yaml_equals(s, n, "=")) {
    return K_VALUE;
  }
  if (yaml_is_float(s, n)) {
    return K_FLOAT;
  }
  if (yaml_is_int(s, n)) {
    return K_INT;
  }
  return K_STR;
}

static yaml_kind_t yaml_tag_kind(const char* tag) {
  static const struct {
    const char* name;
    yaml_kind_t kind;
  } tags[] = {{"str", K_STR},    {"int", K_INT},   {"float", K_FLOAT},
              {"bool", K_BOOL},  {"null", K_NULL}, {"timestamp", K_TIMESTAMP},
              {"seq", K_SEQ},    {"map", K_MAP},   {"merge", K_MERGE},
              {"value", K_VALUE}};
  if (tag == NULL || strcmp(tag, "!") == 0) {
    return K_NONE;
  }
  if (strncmp(tag, YAML_TAG, YAML_TAG_LEN) != 0) {
    return K_OTHER;
  }
  for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
    if (strcmp(tag + YAML_TAG_LEN, tags[i].name) == 0) {
      return tags[i].kind;
    }
  }
  return K_OTHER;
}

/* ---- constructors ---- */

/* s (n bytes) without its '_', lowercased when lower, NUL-terminated in
 * the scratch buffer; NULL when s holds a NUL byte (no number does). */
static char* yaml_clean(yaml_load_t* c, const char* s, size_t n, int lower) {
  char* out;
  size_t k = 0;
  if (memchr(s, '\0', n) != NULL) {
    return NULL;
  }
  out = yaml_scratch(c->L, c->h, n + 1);
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '_') {
      continue;
    }
    if (lower && ch >= 'A' && ch <= 'Z') {
      ch = (char)(ch - 'A' + 'a');
    }
    out[k++] = ch;
  }
  out[k] = '\0';
  return out;
}

/* The digits of s in base 2, 8, 10 or 16: 1 with *u when the magnitude
 * fits in 64 bits, 2 with *d (correctly rounded) when it does not, 0 when
 * s is empty or holds anything else. */
static int yaml_digits(const char* s, int base, uint64_t* u, double* d) {
  int bits = base == 2 ? 1 : base == 8 ? 3 : 4;
  uint64_t top = 0;
  int exp = 0;
  uint64_t sticky = 0;
  int big = 0;
  if (*s == '\0') {
    return 0;
  }
  for (const char* p = s; *p != '\0'; p++) {
    unsigned v;
    if (yaml_isdigit(*p)) {
      v = (unsigned)(*p - '0');
    } else if (*p >= 'a' && *p <= 'f') {
      v = (unsigned)(*p - 'a' + 10);
    } else if (*p >= 'A' && *p <= 'F') {
      v = (unsigned)(*p - 'A' + 10);
    } else {
      return 0;
    }
    if (v >= (unsigned)base) {
      return 0;
    }
    if (base == 10) {
      if (top > (UINT64_MAX - v) / 10) {
        big = 1;
      } else {
        top = top * 10 + v;
      }
    } else if (big) {
      /* top keeps the leading 64 bits; the rest only decides rounding
       * (and past 2^4096 the result is infinite anyway) */
      if (exp < 4096) {
        exp += bits;
      }
      sticky |= v;
    } else if ((top >> (64 - bits)) == 0) {
      top = (top << bits) | v;
    } else {
      int len = 64;
      while (!(top >> (len - 1))) {
        len--;
      }
      int drop = len + bits - 64;
      top = (top << (bits - drop)) | (v >> drop);
      sticky |= v & ((1u << drop) - 1);
      exp += drop;
      big = 1;
    }
  }
  if (!big) {
    *u = top;
    return 1;
  }
  if (base == 10) {
    *d = strtod(s, NULL); /* digits only: no locale involved */
  } else {
    *d = ldexp((double)(top | (sticky != 0)), exp);
  }
  return 2;
}

/* Pushes sign * magnitude: an integer when it fits in 64 bits, else the
 * nearest float (PyYAML keeps Python's big int). */
static void yaml_push_signed(lua_State* L, int neg, int kind, uint64_t u,
                             double d) {
  if (kind == 2) {
    lua_pushnumber(L, neg ? -d : d);
  } else if (!neg && u <= (uint64_t)LUA_MAXINTEGER) {
    lua_pushinteger(L, (lua_Integer)u);
  } else if (neg && u <= (uint64_t)LUA_MAXINTEGER) {
    lua_pushinteger(L, -(lua_Integer)u);
  } else if (neg && u == (uint64_t)LUA_MAXINTEGER + 1) {
    lua_pushinteger(L, LUA_MININTEGER);
  } else {
    lua_pushnumber(L, neg ? -(double)u : (double)u);
  }
}

/* Sexagesimal "a:b:c" (decimal parts) = (a*60 + b)*60 + c, in s which
 * is modified. Returns 0 when a part is not decimal digits. */
static int yaml_push_sexagesimal_int(lua_State* L, char* s, int neg) {
  uint64_t u = 0;
  double d = 0;
  int kind = 1;
  char* part = s;
  for (;;) {
    char* colon = strchr(part, ':');
    uint64_t pu;
    double pd;
    if (colon != NULL) {
      *colon = '\0';
    }
    int pk = yaml_digits(part, 10, &pu, &pd);
    if (pk == 0) {
      return 0;
    }
    if (kind == 1 && pk == 1 && u <= (UINT64_MAX - pu) / 60) {
      u = u * 60 + pu;
    } else {
      if (kind == 1) {
        d = (double)u;
        kind = 2;
      }
      d = d * 60 + (pk == 1 ? (double)pu : pd);
    }
    if (colon == NULL) {
      break;
    }
    part = colon + 1;
  }
  yaml_push_signed(L, neg, kind, u, d);
  return 1;
}

/* PyYAML's construct_yaml_int on s (n bytes): pushes the value, or
 * returns 0 when s is not an int it would build (explicit !!int). */
static int yaml_push_int(yaml_load_t* c, const char* s, size_t n) {
  char* v = yaml_clean(c, s, n, 0);
  int neg;
  uint64_t u = 0;
  double d = 0;
  int kind;
  if (v == NULL) {
    return 0;
  }
  neg = *v == '-';
  if (*v == '-' || *v == '+') {
    v++;
  }
  if (strcmp(v, "0") == 0) {
    lua_pushinteger(c->L, 0);
    return 1;
  }
  if (v[0] == '0' && v[1] == 'b') {
    kind = yaml_digits(v + 2, 2, &u, &d);
  } else if (v[0] == '0' && v[1] == 'x') {
    kind = yaml_digits(v + 2, 16, &u, &d);
  } else if (v[0] == '0') {
    kind = yaml_digits(v + 1, 8, &u, &d);
  } else if (strchr(v, ':') != NULL) {
    return yaml_push_sexagesimal_int(c->L, v, neg);
  } else {
    kind = yaml_digits(v, 10, &u, &d);
  }
  if (kind == 0) {
    return 0;
  }
  yaml_push_signed(c->L, neg, kind, u, d);
  return 1;
}

/* A literal Python's float() takes (lowercase, no '_', no sign):
 * inf, infinity, nan, or digits with a point and an exponent. */
static int yaml_is_py_float(const char* s) {
  const char* p = s;
  size_t digits = 0;
  if (strcmp(s, "inf") == 0 || strcmp(s, "infinity") == 0 ||
      strcmp(s, "nan") == 0) {
    return 1;
  }
  for (; yaml_isdigit(*p); p++) {
    digits++;
  }
  if (*p == '.') {
    for (p++; yaml_isdigit(*p); p++) {
      digits++;
    }
  }
  if (digits == 0) {
    return 0;
  }
  if (*p == 'e') {
    p++;
    if (*p == '-' || *p == '+') {
      p++;
    }
    if (!yaml_isdigit(*p)) {
      return 0;
    }
    while (yaml_isdigit(*p)) {
      p++;
    }
  }
  return *p == '\0';
}

/* A literal Python's float() takes, to *d; 0 when s is not one.
 * lua_stringtonumber copes with a locale whose decimal point is not '.'. */
static int yaml_py_float(lua_State* L, const char* s, double* d) {
  if (!yaml_is_py_float(s)) {
    return 0;
  }
  if (strcmp(s, "nan") == 0) {
    *d = NAN;
  } else if (s[0] == 'i') {
    *d = HUGE_VAL;
  } else if (lua_stringtonumber(L, s) == 0) {
    return 0;
  } else {
    *d = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  return 1;
}

/* PyYAML's construct_yaml_float on s (n bytes): pushes the value, or
 * returns 0 when s is not a float it would build (explicit !!float). */
static int yaml_push_float(yaml_load_t* c, const char* s, size_t n) {
  char* v = yaml_clean(c, s, n, 1);
  double sign;
  double value;
  double part_value;
  if (v == NULL) {
    return 0;
  }
  sign = *v == '-' ? -1.0 : 1.0;
  if (*v == '-' || *v == '+') {
    v++;
  }
  if (strcmp(v, ".inf") == 0) {
    value = sign * HUGE_VAL;
  } else if (strcmp(v, ".nan") == 0) {
    value = NAN;
  } else if (strchr(v, ':') != NULL) {
    /* the parts from the right, as PyYAML sums them: 1, 60, 3600... */
    double base = 1;
    value = 0;
    for (;;) {
      char* colon = strrchr(v, ':');
      char* part = colon != NULL ? colon + 1 : v;
      if (!yaml_py_float(c->L, part, &part_value)) {
        return 0;
      }
      value += part_value * base;
      base *= 60;
      if (colon == NULL) {
        break;
      }
      *colon = '\0';
    }
    value *= sign;
  } else if (yaml_py_float(c->L, v, &part_value)) {
    value = sign * part_value;
  } else {
    return 0;
  }
  lua_pushnumber(c->L, value);
  return 1;
}

/* PyYAML's bool_values, any case (explicit !!bool). */
static int yaml_push_bool(yaml_load_t* c, const char* s, size_t n) {
  static const char* const truths[] = {"yes", "true", "on"};
  static const char* const lies[] = {"no", "false", "off"};
  char* v = yaml_clean(c, s, n, 1);
  if (v == NULL || strlen(v) != n) {
    return 0; /* it had a '_' */
  }
  for (int i = 0; i < 3; i++) {
    if (strcmp(v, truths[i]) == 0 || strcmp(v, lies[i]) == 0) {
      lua_pushboolean(c->L, strcmp(v, truths[i]) == 0);
      return 1;
    }
  }
  return 0;
}

/* n digits, min to max of them. */
static int yaml_skip_ndigits(const char** pp, const char* e, int min, int max) {
  const char* p = *pp;
  int k = 0;
  while (k < max && p < e && yaml_isdigit(*p)) {
    p++;
    k++;
  }
  *pp = p;
  return k >= min;
}

static int yaml_skip_char(const char** pp, const char* e, char ch) {
  if (*pp < e && **pp == ch) {
    (*pp)++;
    return 1;
  }
  return 0;
}

/* The constructor's timestamp pattern (explicit !!timestamp):
 *   YYYY-M?M-D?D((T|t|[ \t]+)h?h:mm:ss(\.f*)?([ \t]*(Z|[-+]h?h(:mm)?))?)? */
static int yaml_is_timestamp(const char* s, size_t n) {
  const char* e = s + n;
  const char* p = s;
  const char* q;
  if (!yaml_skip_ndigits(&p, e, 4, 4) || !yaml_skip_char(&p, e, '-') ||
      !yaml_skip_ndigits(&p, e, 1, 2) || !yaml_skip_char(&p, e, '-') ||
      !yaml_skip_ndigits(&p, e, 1, 2)) {
    return 0;
  }
  if (p == e) {
    return 1;
  }
  if (*p == 'T' || *p == 't') {
    p++;
  } else {
    q = yaml_skip_set(p, e, " \t");
    if (q == p) {
      return 0;
    }
    p = q;
  }
  if (!yaml_skip_ndigits(&p, e, 1, 2) || !yaml_skip_char(&p, e, ':') ||
      !yaml_skip_ndigits(&p, e, 2, 2) || !yaml_skip_char(&p, e, ':') ||
      !yaml_skip_ndigits(&p, e, 2, 2)) {
    return 0;
  }
  if (yaml_skip_char(&p, e, '.')) {
    while (p < e && yaml_isdigit(*p)) {
      p++;
    }
  }
  q = yaml_skip_set(p, e, " \t");
  if (yaml_skip_char(&q, e, 'Z')) {
    p = q;
  } else if (yaml_skip_char(&q, e, '-') || yaml_skip_char(&q, e, '+')) {
    if (!yaml_skip_ndigits(&q, e, 1, 2)) {
      return 0;
    }
    if (yaml_skip_char(&q, e, ':') && !yaml_skip_ndigits(&q, e, 2, 2)) {
      return 0;
    }
    p = q;
  }
  return p == e;
}

/* ---- building the tree ---- */

static yaml_frame_t* yaml_top(yaml_load_t* c) {
  return c->h->nframes > 0 ? &c->h->frames[c->h->nframes - 1] : NULL;
}

static int yaml_key_position(yaml_load_t* c) {
  yaml_frame_t* f = yaml_top(c);
  return f != NULL && f->is_map && !f->has_key;
}

static int yaml_is_light(lua_State* L, int idx, const void* p) {
  return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == p;
}

/* Whether the next node is merged: the value of a "<<" key or an item of
 * its list. Only its pairs are used then, never the node itself. */
static int yaml_merge_position(yaml_load_t* c) {
  yaml_frame_t* f = yaml_top(c);
  if (f == NULL) {
    return 0;
  }
  if (f->is_map) {
    return f->has_key && yaml_is_light(c->L, -1, &merge_key);
  }
  return f->merge_seq;
}

/* Counts size more nodes against max_nodes. */
static int yaml_count(yaml_load_t* c, int64_t size, yaml_mark_t mark) {
  if (size > c->max_nodes - c->nodes) {
    return yaml_fail(c, "limit", mark,
                     "more than %I nodes (max_nodes), counting each alias as "
                     "a copy of its node",
                     (lua_Integer)c->max_nodes);
  }
  c->nodes += size;
  return 0;
}

/* Replaces the value on top with json.null. */
static void yaml_replace_null(lua_State* L) {
  lua_pop(L, 1);
  lua_pushvalue(L, UV_NULL);
}

/* The sequence on top is the value of a "<<" key: each item must be a
 * mapping. Items written inline were checked as they came (merge_seq);
 * this catches the items of a sequence reached through an alias. */
static void yaml_check_merge_list(yaml_load_t* c, yaml_frame_t* f,
                                  yaml_mark_t mark) {
  lua_State* L = c->L;
  luaL_checkstack(L, 2, "yaml");
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i <= n; i++) {
    lua_rawgeti(L, -1, i);
    if (strcmp(yaml_node_name(L, -1), "mapping") != 0) {
      yaml_defer(c, mark, "while constructing a mapping", &f->mark,
                 "expected a mapping for merging, but found %s",
                 yaml_node_name(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* Adds the value on top of the stack (of size nodes, starting at mark) to
 * the open collection, or leaves it there as the document's root. */
static void yaml_add(yaml_load_t* c, int64_t size, yaml_mark_t mark) {
  lua_State* L = c->L;
  yaml_frame_t* f = yaml_top(c);
  if (yaml_is_light(L, -1, &merge_key) && !yaml_key_position(c)) {
    yaml_defer(c, mark, NULL, NULL,
               "could not determine a constructor for the tag '" YAML_TAG
               "merge'");
    yaml_replace_null(L);
  }
  if (f == NULL) {
    return;
  }
  f->size += size;
  if (!f->is_map) {
    if (f->merge_seq && strcmp(yaml_node_name(L, -1), "mapping") != 0) {
      yaml_frame_t* map = f - 1;
      yaml_defer(c, mark, "while constructing a mapping", &map->mark,
                 "expected a mapping for merging, but found %s",
                 yaml_node_name(L, -1));
    }
    lua_rawseti(L, f->tbl, ++f->n);
    return;
  }
  if (!f->has_key) {
    /* stack: key */
    if (lua_type(L, -1) == LUA_TTABLE) {
      yaml_defer(c, mark, "while constructing a mapping", &f->mark,
                 "found unhashable key");
      lua_pop(L, 1);
      lua_pushlightuserdata(L, &discard_key);
    } else if (lua_type(L, -1) == LUA_TNUMBER &&
               lua_tonumber(L, -1) != lua_tonumber(L, -1)) {
      yaml_defer(c, mark, "while constructing a mapping", &f->mark,
                 "found a NaN key, which a Lua table cannot hold");
      lua_pop(L, 1);
      lua_pushlightuserdata(L, &discard_key);
    }
    f->has_key = 1;
    return;
  }
  /* stack: key, value */
  f->has_key = 0;
  if (yaml_is_light(L, -2, &discard_key)) {
    lua_pop(L, 2);
  } else if (yaml_is_light(L, -2, &merge_key)) {
    const char* kind = yaml_node_name(L, -1);
    if (strcmp(kind, "scalar") == 0) {
      yaml_defer(c, mark, "while constructing a mapping", &f->mark,
                 "expected a mapping or list of mappings for merging, but "
                 "found scalar");
    } else {
      if (strcmp(kind, "sequence") == 0) {
        yaml_check_merge_list(c, f, mark);
      }
      /* the merge sources in order, applied when the mapping ends */
      if (lua_isnil(L, f->aux)) {
        lua_newtable(L);
        lua_replace(L, f->aux);
      }
      lua_rawseti(L, f->aux, (lua_Integer)lua_rawlen(L, f->aux) + 1);
    }
    lua_settop(L, f->info);
  } else {
    lua_rawset(L, f->tbl);
  }
}

/* Copies the pairs of the mapping on top whose keys dst lacks; pops it. */
static void yaml_merge_from(lua_State* L, int dst) {
  luaL_checkstack(L, 3, "yaml");
  if (strcmp(yaml_node_name(L, -1), "mapping") == 0) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      /* stack: src, key, value */
      lua_pushvalue(L, -2);
      if (lua_rawget(L, dst) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, dst);
      } else {
        lua_pop(L, 2);
      }
    }
  }
  lua_pop(L, 1);
}

/* PyYAML's flatten_mapping: its own keys win, then the later "<<" keys
 * over the earlier, and in "<<: [*a, *b]" a over b. */
static void yaml_apply_merges(yaml_load_t* c, yaml_frame_t* f) {
  lua_State* L = c->L;
  luaL_checkstack(L, 3, "yaml");
  for (lua_Integer j = (lua_Integer)lua_rawlen(L, f->aux); j >= 1; j--) {
    lua_rawgeti(L, f->aux, j);
    if (lua_getmetatable(L, -1) && lua_rawequal(L, -1, UV_OBJECT_MT)) {
      lua_pop(L, 1);
      yaml_merge_from(L, f->tbl);
      continue;
    }
    lua_pop(L, 1);
    /* stack: a sequence of mappings */
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i <= n; i++) {
      lua_rawgeti(L, -1, i);
      yaml_merge_from(L, f->tbl);
    }
    lua_pop(L, 1);
  }
}

/* Registers the anchor of the node starting at mark; the node's value is
 * on top of the stack. Pushes its record {value, size, line, col}. */
static int yaml_anchor(yaml_load_t* c, const char* anchor, int64_t size,
                       yaml_mark_t mark) {
  lua_State* L = c->L;
  luaL_checkstack(L, 3, "yaml");
  if (lua_getfield(L, c->anchors, anchor) != LUA_TNIL) {
    lua_rawgeti(L, -1, 3);
    lua_rawgeti(L, -2, 4);
    return yaml_fail(c, "parse", mark,
                     "found duplicate anchor '%s' (first occurrence at line "
                     "%I column %I)",
                     anchor, lua_tointeger(L, -2), lua_tointeger(L, -1));
  }
  lua_pop(L, 1);
  lua_createtable(L, 4, 0);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, (lua_Integer)size);
  lua_rawseti(L, -2, 2);
  lua_pushinteger(L, (lua_Integer)mark.line + 1);
  lua_rawseti(L, -2, 3);
  lua_pushinteger(L, (lua_Integer)mark.column + 1);
  lua_rawseti(L, -2, 4);
  lua_pushvalue(L, -1);
  lua_setfield(L, c->anchors, anchor);
  return 0;
}

/* The value of a scalar event, pushed; never fails (a value that cannot
 * be built defers its error and becomes json.null). */
static void yaml_push_scalar(yaml_load_t* c, const yaml_event_t* ev) {
  lua_State* L = c->L;
  const char* s = (const char*)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char* tag = (const char*)ev->data.scalar.tag;
  yaml_kind_t kind = yaml_tag_kind(tag);
  const char* what = NULL;
  if (kind == K_NONE) {
    kind = ev->data.scalar.plain_implicit ? yaml_resolve(s, n) : K_STR;
  }
  switch (kind) {
    case K_NONE:
    case K_STR:
      lua_pushlstring(L, s, n);
      return;
    case K_NULL:
      lua_pushvalue(L, UV_NULL);
      return;
    case K_BOOL:
      if (yaml_push_bool(c, s, n)) {
        return;
      }
      what = "bool";
      break;
    case K_INT:
      if (yaml_push_int(c, s, n)) {
        return;
      }
      what = "int";
      break;
    case K_FLOAT:
      if (yaml_push_float(c, s, n)) {
        return;
      }
      what = "float";
      break;
    case K_TIMESTAMP:
      if (yaml_is_timestamp(s, n)) {
        lua_pushlstring(L, s, n);
        return;
      }
      what = "timestamp";
      break;
    case K_MERGE:
      lua_pushlightuserdata(L, &merge_key);
      return;
    case K_VALUE:
      if (yaml_key_position(c)) {
        lua_pushlstring(L, s, n); /* PyYAML makes a "=" key a string */
        return;
      }
      yaml_defer(c, ev->start_mark, NULL, NULL,
                 "could not determine a constructor for the tag '%s'",
                 YAML_TAG "value");
      lua_pushvalue(L, UV_NULL);
      return;
    case K_SEQ:
    case K_MAP:
      yaml_defer(c, ev->start_mark, NULL, NULL,
                 "expected a %s node, but found scalar",
                 kind == K_SEQ ? "sequence" : "mapping");
      lua_pushvalue(L, UV_NULL);
      return;
    case K_OTHER:
      yaml_defer(c, ev->start_mark, NULL, NULL,
                 "could not determine a constructor for the tag '%s'", tag);
      lua_pushvalue(L, UV_NULL);
      return;
  }
  yaml_push_quoted(L, s, n);
  yaml_defer(c, ev->start_mark, NULL, NULL, "invalid %s %s", what,
             lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushvalue(L, UV_NULL);
}

static int yaml_on_scalar(yaml_load_t* c) {
  const yaml_event_t* ev = &c->h->event;
  const char* anchor = (const char*)ev->data.scalar.anchor;
  if (yaml_count(c, 1, ev->start_mark) < 0) {
    return -1;
  }
  luaL_checkstack(c->L, 4, "yaml");
  yaml_push_scalar(c, ev);
  if (anchor != NULL) {
    if (yaml_anchor(c, anchor, 1, ev->start_mark) < 0) {
      return -1;
    }
    lua_pop(c->L, 1);
  }
  yaml_add(c, 1, ev->start_mark);
  return 0;
}

static int yaml_on_start(yaml_load_t* c, int is_map) {
  lua_State* L = c->L;
  yaml_handle_t* h = c->h;
  const yaml_event_t* ev = &h->event;
  const char* anchor = (const char*)(is_map ? ev->data.mapping_start.anchor
                                            : ev->data.sequence_start.anchor);
  const char* tag = (const char*)(is_map ? ev->data.mapping_start.tag
                                         : ev->data.sequence_start.tag);
  yaml_kind_t kind = yaml_tag_kind(tag);
  yaml_frame_t* parent = yaml_top(c);
  yaml_frame_t* f;
  int merged = yaml_merge_position(c);
  int bad_tag =
      kind == K_OTHER || (kind != K_NONE && kind != (is_map ? K_MAP : K_SEQ));
  if (yaml_count(c, 1, ev->start_mark) < 0) {
    return -1;
  }
  if ((lua_Integer)h->nframes >= c->max_depth) {
    return yaml_fail(c, "limit", ev->start_mark,
                     "more than %I nested collections (max_depth)",
                     c->max_depth);
  }
  if (h->nframes == h->cap) {
    size_t cap = h->cap == 0 ? 16 : h->cap * 2;
    yaml_frame_t* frames = realloc(h->frames, cap * sizeof(*frames));
    if (frames == NULL) {
      yaml_nomem(L);
    }
    h->frames = frames;
    h->cap = cap;
    parent = yaml_top(c);
  }
  luaL_checkstack(L, 6, "yaml");
  lua_newtable(L);
  lua_pushvalue(L, is_map ? UV_OBJECT_MT : UV_ARRAY_MT);
  lua_setmetatable(L, -2);
  lua_pushnil(L); /* aux */
  if (anchor != NULL) {
    lua_pushvalue(L, -2);
    if (yaml_anchor(c, anchor, -1, ev->start_mark) < 0) {
      return -1;
    }
    lua_remove(L, -2);
  } else {
    lua_pushnil(L);
  }
  if (bad_tag) {
    /* stack: table, aux, anchor record or nil */
    if (kind == K_OTHER) {
      yaml_push_error(c, ev->start_mark,
                      "could not determine a constructor for the tag '%s'",
                      tag);
    } else {
      yaml_push_error(c, ev->start_mark, "expected a %s node, but found %s",
                      kind == K_SEQ   ? "sequence"
                      : kind == K_MAP ? "mapping"
                                      : "scalar",
                      is_map ? "mapping" : "sequence");
    }
    if (!merged) {
      yaml_defer_top(c);
    } else if (anchor != NULL) {
      /* PyYAML ignores the tag of a merged node, but not when an alias
       * later uses the node itself */
      lua_rawseti(L, -2, 5);
    } else {
      lua_pop(L, 1);
    }
  }
  f = &h->frames[h->nframes++];
  memset(f, 0, sizeof(*f));
  f->is_map = is_map;
  f->tbl = lua_gettop(L) - 2;
  f->aux = f->tbl + 1;
  f->info = f->tbl + 2;
  f->size = 1;
  f->mark = ev->start_mark;
  f->merge_seq = !is_map && merged && parent->is_map;
  return 0;
}

static void yaml_on_end(yaml_load_t* c) {
  lua_State* L = c->L;
  yaml_frame_t f = c->h->frames[c->h->nframes - 1];
  if (f.is_map && !lua_isnil(L, f.aux)) {
    yaml_apply_merges(c, &f);
  }
  if (!lua_isnil(L, f.info)) {
    lua_pushinteger(L, (lua_Integer)f.size);
    lua_rawseti(L, f.info, 2);
  }
  lua_settop(L, f.tbl);
  c->h->nframes--;
  yaml_add(c, f.size, f.mark);
}

static int yaml_on_alias(yaml_load_t* c) {
  lua_State* L = c->L;
  const yaml_event_t* ev = &c->h->event;
  const char* anchor = (const char*)ev->data.alias.anchor;
  int64_t size;
  yaml_mark_t mark = ev->start_mark;
  int merged = yaml_merge_position(c);
  luaL_checkstack(L, 4, "yaml");
  if (lua_getfield(L, c->anchors, anchor) == LUA_TNIL) {
    return yaml_fail(c, "parse", ev->start_mark, "found undefined alias '%s'",
                     anchor);
  }
  lua_rawgeti(L, -1, 2);
  size = (int64_t)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (size < 0) {
    return yaml_fail(c, "parse", ev->start_mark,
                     "alias '%s' inside its own node (recursive structures "
                     "are not supported)",
                     anchor);
  }
  if (yaml_count(c, size, ev->start_mark) < 0) {
    return -1;
  }
  if (lua_rawgeti(L, -1, 5) != LUA_TNIL && !merged) {
    yaml_defer_top(c);
  } else {
    lua_pop(L, 1);
  }
  /* errors about the value point at the node, as PyYAML's do */
  lua_rawgeti(L, -1, 3);
  lua_rawgeti(L, -2, 4);
  mark.line = (size_t)lua_tointeger(L, -2) - 1;
  mark.column = (size_t)lua_tointeger(L, -1) - 1;
  lua_pop(L, 2);
  lua_rawgeti(L, -1, 1);
  lua_remove(L, -2);
  yaml_add(c, size, mark);
  return 0;
}

/* Builds one document, its DOCUMENT-START event just read; leaves its
 * value on top of the stack. Its anchors are forgotten after it. */
static int yaml_document(yaml_load_t* c) {
  lua_State* L = c->L;
  int base = lua_gettop(L);
  lua_newtable(L);
  lua_replace(L, c->anchors);
  for (;;) {
    int rc = 0;
    if (yaml_next(c) < 0) {
      return -1;
    }
    switch (c->h->event.type) {
      case YAML_SCALAR_EVENT:
        rc = yaml_on_scalar(c);
        break;
      case YAML_SEQUENCE_START_EVENT:
        rc = yaml_on_start(c, 0);
        break;
      case YAML_MAPPING_START_EVENT:
        rc = yaml_on_start(c, 1);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        yaml_on_end(c);
        break;
      case YAML_ALIAS_EVENT:
        rc = yaml_on_alias(c);
        break;
      case YAML_DOCUMENT_END_EVENT:
        if (lua_gettop(L) == base) {
          lua_pushvalue(L, UV_NULL); /* not reached: libyaml sends a node */
        }
        return 0;
      default:
        break;
    }
    if (rc < 0) {
      return -1;
    }
  }
}

/* Reports the error building a value that waited for the end of the
 * document, if any. */
static int yaml_check_deferred(yaml_load_t* c) {
  if (!c->has_deferred) {
    return 0;
  }
  lua_pushvalue(c->L, c->deferred);
  lua_replace(c->L, c->err);
  c->err_code = "parse";
  return -1;
}

/* ---- the module functions ---- */

static void yaml_options(lua_State* L, int arg, yaml_load_t* c) {
  c->max_nodes = YAML_MAX_NODES;
  c->max_depth = YAML_MAX_DEPTH;
  if (lua_isnoneornil(L, arg)) {
    return;
  }
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    /* stack: name, value */
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    const char* name =
        lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    if (strcmp(name, "max_nodes") == 0) {
      luaL_argcheck(L, isnum && v >= 1, arg,
                    "max_nodes must be a positive integer");
      c->max_nodes = (int64_t)v;
    } else if (strcmp(name, "max_depth") == 0) {
      luaL_argcheck(L, isnum && v >= 1 && v <= YAML_DEPTH_CAP, arg,
                    "max_depth must be an integer from 1 to 100000");
      c->max_depth = v;
    } else {
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "unknown option '%s'",
                                    luaL_tolstring(L, -2, NULL)));
    }
    lua_pop(L, 1);
  }
}

/* Sets up c for input (len bytes) with the options at arg: pushes the
 * handle and the slots for anchors, the error and the deferred error. */
static void yaml_begin(lua_State* L, yaml_load_t* c, const char* input,
                       size_t len, int opts_arg, const char* prefix) {
  memset(c, 0, sizeof(*c));
  c->L = L;
  c->input = input;
  c->len = len;
  c->prefix = prefix;
  yaml_options(L, opts_arg, c);
  luaL_checkstack(L, 8, "yaml");
  c->h = yaml_handle_new(L);
  if (!yaml_parser_initialize(&c->h->parser)) {
    yaml_nomem(L);
  }
  c->h->parser_ok = 1;
  yaml_parser_set_input_string(&c->h->parser, (const unsigned char*)input, len);
  lua_pushnil(L);
  c->anchors = lua_gettop(L);
  lua_pushnil(L);
  c->err = lua_gettop(L);
  lua_pushnil(L);
  c->deferred = lua_gettop(L);
}

/* Frees the parser now and returns nil, message, code. */
static int yaml_end_fail(yaml_load_t* c) {
  yaml_handle_free(c->h);
  lua_pushnil(c->L);
  lua_pushvalue(c->L, c->err);
  lua_pushstring(c->L, c->err_code);
  return 3;
}

/* One document from c: json.null for an empty stream, an error when a
 * second document follows (PyYAML's get_single_node). */
static int yaml_run_single(yaml_load_t* c) {
  lua_State* L = c->L;
  int base = lua_gettop(L);
  if (yaml_next(c) < 0) { /* STREAM-START */
    return yaml_end_fail(c);
  }
  if (yaml_next(c) < 0) {
    return yaml_end_fail(c);
  }
  if (c->h->event.type == YAML_STREAM_END_EVENT) {
    yaml_handle_free(c->h);
    lua_pushvalue(L, UV_NULL);
    return 1;
  }
  if (yaml_document(c) < 0 || yaml_next(c) < 0) {
    return yaml_end_fail(c);
  }
  if (c->h->event.type != YAML_STREAM_END_EVENT) {
    yaml_fail(c, "parse", c->h->event.start_mark,
              "expected a single document in the stream, but found another "
              "document");
    return yaml_end_fail(c);
  }
  if (yaml_check_deferred(c) < 0) {
    return yaml_end_fail(c);
  }
  yaml_handle_free(c->h);
  lua_settop(L, base + 1);
  return 1;
}

static int yaml_load(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  yaml_load_t c;
  yaml_begin(L, &c, text, len, 2, "yaml: ");
  return yaml_run_single(&c);
}

/* load_all(text[, opts]) -> array of documents. */
static int yaml_load_all(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  yaml_load_t c;
  int docs;
  lua_Integer n = 0;
  yaml_begin(L, &c, text, len, 2, "yaml: ");
  lua_newtable(L);
  lua_pushvalue(L, UV_ARRAY_MT);
  lua_setmetatable(L, -2);
  docs = lua_gettop(L);
  if (yaml_next(&c) < 0) { /* STREAM-START */
    return yaml_end_fail(&c);
  }
  for (;;) {
    if (yaml_next(&c) < 0) {
      return yaml_end_fail(&c);
    }
    if (c.h->event.type == YAML_STREAM_END_EVENT) {
      break;
    }
    if (yaml_document(&c) < 0 || yaml_check_deferred(&c) < 0) {
      return yaml_end_fail(&c);
    }
    lua_rawseti(L, docs, ++n);
  }
  yaml_handle_free(c.h);
  lua_settop(L, docs);
  return 1;
}

/* load_file(path[, opts]): the file's one document; errors name the path. */
static int yaml_load_file(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  const char* prefix;
  yaml_handle_t* h;
  luaL_Buffer b;
  yaml_load_t c;
  size_t len;
  const char* text;
  lua_settop(L, 2);
  prefix = lua_pushfstring(L, "yaml: %s: ", path);
  h = yaml_handle_new(L);
  h->file = fopen(path, "rbe");
  if (h->file == NULL) {
    /* Arguments are evaluated in no set order: lua_pushfstring (which may
     * run a finalizer) must not come before errno is read. */
    int err = errno;
    return sw_fail_errno(L, lua_pushfstring(L, "yaml: %s", path), err);
  }
  luaL_buffinit(L, &b);
  for (;;) {
    char* p = luaL_prepbuffer(&b);
    size_t got = fread(p, 1, LUAL_BUFFERSIZE, h->file);
    luaL_addsize(&b, got);
    if (got < LUAL_BUFFERSIZE) {
      break;
    }
  }
  if (ferror(h->file)) {
    int err = errno;
    yaml_handle_free(h);
    return sw_fail_errno(L, lua_pushfstring(L, "yaml: %s", path), err);
  }
  luaL_pushresult(&b);
  yaml_handle_free(h);
  text = lua_tolstring(L, -1, &len);
  yaml_begin(L, &c, text, len, 2, prefix);
  return yaml_run_single(&c);
}

static const luaL_Reg yaml_functions[] = {{"load", yaml_load},
                                          {"load_all", yaml_load_all},
                                          {"load_file", yaml_load_file},
                                          {NULL, NULL}};

static const luaL_Reg yaml_metamethods[] = {
    {"__close", yaml_handle_gc}, {"__gc", yaml_handle_gc}, {NULL, NULL}};

int luaopen_sw_yaml(lua_State* L) {
  luaL_newmetatable(L, YAML_HANDLE_MT);
  luaL_setfuncs(L, yaml_metamethods, 0);
  lua_pop(L, 1);
  /* stack: json; then json.null, json.array_mt, json.object_mt */
  luaL_requiref(L, "sw.json", luaopen_sw_json, 0);
  if (lua_getfield(L, -1, "null") != LUA_TLIGHTUSERDATA) {
    return luaL_error(L, "sw.yaml: sw.json has no null (a light userdata)");
  }
  if (lua_getfield(L, -2, "array_mt") != LUA_TTABLE) {
    return luaL_error(L, "sw.yaml: sw.json has no array_mt table");
  }
  if (lua_getfield(L, -3, "object_mt") != LUA_TTABLE) {
    return luaL_error(L, "sw.yaml: sw.json has no object_mt table");
  }
  lua_createtable(L, 0, 3);
  lua_insert(L, -4);
  luaL_setfuncs(L, yaml_functions, 3);
  return 1;
}
