/*
 * json.c: the sw.json module. Decoding drives yajl 2's SAX callbacks and
 * builds the Lua tables directly from them (no intermediate tree); encoding
 * walks the tables into a malloc'd buffer. The representation is the one
 * docs/CONVENTIONS.md fixes for every module: json.null is a light userdata,
 * arrays and objects carry json.array_mt / json.object_mt so that [] and {}
 * survive a round trip, integers stay Lua integers.
 *
 * Canonical output is Python's json.dumps(v, indent=2, sort_keys=True) byte
 * for byte: signed chain-of-trust artifacts are compared with what the
 * Python scriptworker writes, so every detail (separators, \u escapes,
 * float repr) follows CPython's json and float formatting code.
 *
 * Everything malloc'd during a call (the yajl handle, buffers) hangs off a
 * userdata marked to-be-closed, so a Lua error in the middle (out of memory,
 * say) still frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sw.h"

#define JSON_ARRAY_MT "sw.JsonArray"
#define JSON_OBJECT_MT "sw.JsonObject"
#define JSON_DECODER "sw.JsonDecoder"
#define JSON_ENCODER "sw.JsonEncoder"

#define JSON_DEFAULT_DEPTH 512
#define JSON_MAX_DEPTH 10000

/* json.null: a light userdata whose address no one else can produce. */
static char json_null_tag;
#define JSON_NULL ((void*)&json_null_tag)

/* strtod_l with the "C" locale: os.setlocale must not change what "1.5"
 * means. newlocale(LC_ALL_MASK, "C") hands back glibc's static C locale. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static double str_to_double(const char* s) {
  if (c_locale != (locale_t)0) {
    return strtod_l(s, NULL, c_locale);
  }
  return strtod(s, NULL);
}

/* ---------------------------------------------------------------------- */
/* UTF-8                                                                   */

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. Its code
 * point goes to *cp.
 */
static size_t utf8_seq(const unsigned char* s, size_t n, uint32_t* cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    if (n < 2 || (s[1] & 0xC0) != 0x80) {
      return 0;
    }
    *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : 0xBF;
    if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) {
      return 0;
    }
    *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xF4 ? 0x8F : 0xBF;
    if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 ||
        (s[3] & 0xC0) != 0x80) {
      return 0;
    }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
          (s[3] & 0x3Fu);
    return 4;
  }
  return 0;
}

/* Offset of the first ill-formed sequence in s, or n when s is valid. */
static size_t utf8_check(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) {
        break;
      }
      i += 8;
    }
    if (i >= n) {
      break;
    }
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t k = utf8_seq(s + i, n - i, &cp);
    if (k == 0) {
      return i;
    }
    i += k;
  }
  return n;
}

static char* put_utf8(char* o, uint32_t cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                                */

/*
 * A container's elements wait on the Lua stack above its slot and move into
 * the table when it closes, so the table is created at its final size: no
 * rehash on the way, which is most of the cost of building many small
 * tables. Past d->batch waiting slots they move early (the stack is
 * bounded; a big container then grows as usual).
 */
typedef struct {
  int slot;      /* the table's stack slot; a placeholder until it is made */
  int is_array;  /* else an object: keys and values alternate */
  int made;      /* the table exists */
  lua_Integer n; /* elements already in the table (arrays) */
} json_frame;

/*
 * The input of a keys decode (see "Top-level keys" below): a window on the
 * text, or on d->file which refill() slides along the file.
 */
typedef struct {
  const unsigned char* buf; /* the text itself, or d->file */
  size_t len;               /* bytes in buf */
  size_t pos;               /* next byte to look at */
  size_t keep;              /* first byte a refill must keep, or KEEP_NONE */
  size_t base;              /* offset of buf[0] in the input */
  int eof;                  /* nothing follows buf[len) */
} json_reader;

#define KEEP_NONE SIZE_MAX

typedef struct {
  lua_State* L;
  yajl_handle yajl;
  const unsigned char* text; /* what yajl parses now: all or a chunk */
  size_t len;
  size_t base;         /* offset of text in the input */
  int fd;              /* decode_file's file, or -1 */
  unsigned char* file; /* decode_file's buffer */
  size_t file_cap;
  json_frame* frames; /* one per open container */
  int depth;
  int max_depth;
  int batch;    /* waiting slots that make a container fill its table */
  int mt_array; /* stack slots of the two metatables */
  int mt_object;
  int top; /* the stack above the decoder's own slots */
  int gc_stopped;
  int finishing;      /* inside yajl_complete_parse: offsets are not ours */
  size_t last_end;    /* end of the last token a callback saw */
  int last_open;      /* that token was '[' or '{' */
  char* scratch;      /* strings with escapes are decoded here */
  size_t scratch_cap; /* its size */
  size_t err_pos;     /* a failure a callback found */
  char err_msg[256];
  int depth_base;           /* open containers around the text (keys: 1) */
  int replace;              /* replace_surrogates: lone ones become U+FFFD */
  const unsigned char* doc; /* the whole input if in memory (line numbers) */
  json_reader in;           /* keys decode */
  uint64_t key_lens[4];     /* keys decode: lengths (mod 256) of wanted keys */
  size_t key_max;           /* the longest wanted key */
  uint64_t skip_stack[JSON_MAX_DEPTH / 64 + 1]; /* skipped containers: 1 =
                                                   object, per level */
} json_decoder;

static void decoder_free(json_decoder* d) {
  if (d->yajl != NULL) {
    yajl_free(d->yajl);
    d->yajl = NULL;
  }
  if (d->fd >= 0) {
    close(d->fd);
    d->fd = -1;
  }
  free(d->file);
  d->file = NULL;
  free(d->frames);
  d->frames = NULL;
  free(d->scratch);
  d->scratch = NULL;
}

/* __close: also restarts the collector a big decode paused. __gc only
 * frees (lua_gc must not be called from a finalizer). */
static int decoder_close(lua_State* L) {
  json_decoder* d = (json_decoder*)luaL_checkudata(L, 1, JSON_DECODER);
  if (d->gc_stopped) {
    d->gc_stopped = 0;
    lua_gc(L, LUA_GCRESTART);
  }
  decoder_free(d);
  return 0;
}

static int decoder_gc(lua_State* L) {
  decoder_free((json_decoder*)luaL_checkudata(L, 1, JSON_DECODER));
  return 0;
}

static void note_end(json_decoder* d, int open) {
  d->last_end = d->finishing ? d->base + d->len
                             : d->base + yajl_get_bytes_consumed(d->yajl);
  d->last_open = open;
}

/* Record a failure found in a callback; the callback then returns 0. */
static int decode_fail(json_decoder* d, size_t pos, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int decode_fail(json_decoder* d, size_t pos, const char* fmt, ...) {
  va_list ap;
  d->err_pos = pos;
  va_start(ap, fmt);
  vsnprintf(d->err_msg, sizeof(d->err_msg), fmt, ap);
  va_end(ap);
  return 0;
}

/* The same for the keys scanner, whose functions return -1 on failure. */
static int scan_fail(json_decoder* d, size_t pos, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int scan_fail(json_decoder* d, size_t pos, const char* fmt, ...) {
  va_list ap;
  d->err_pos = pos;
  va_start(ap, fmt);
  vsnprintf(d->err_msg, sizeof(d->err_msg), fmt, ap);
  va_end(ap);
  return -1;
}

/* Move what waits above f's slot into its table, making it if need be. */
static void fill(json_decoder* d, json_frame* f) {
  lua_State* L = d->L;
  int n = lua_gettop(L) - f->slot;
  if (!f->made) {
    lua_createtable(L, f->is_array ? n : 0, f->is_array ? 0 : n / 2);
    lua_pushvalue(L, f->is_array ? d->mt_array : d->mt_object);
    lua_setmetatable(L, -2);
    lua_replace(L, f->slot);
    f->made = 1;
  }
  if (f->is_array) {
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(L, f->slot + i);
      lua_rawseti(L, f->slot, f->n + i);
    }
    f->n += n;
  } else {
    /* In order, so that of duplicate keys the last wins. */
    for (int i = 1; i < n; i += 2) {
      lua_pushvalue(L, f->slot + i);
      lua_pushvalue(L, f->slot + i + 1);
      lua_rawset(L, f->slot);
    }
  }
  lua_settop(L, f->slot);
}

/* A value is complete on top of the stack: it waits for its container,
 * which takes in a batch when too many wait. */
static void store(json_decoder* d) {
  if (d->depth > 0) {
    json_frame* f = &d->frames[d->depth - 1];
    if (lua_gettop(d->L) - f->slot >= d->batch) {
      fill(d, f);
    }
  }
}

static int on_null(void* ctx) {
  json_decoder* d = (json_decoder*)ctx;
  note_end(d, 0);
  lua_pushlightuserdata(d->L, JSON_NULL);
  store(d);
  return 1;
}

static int on_boolean(void* ctx, int b) {
  json_decoder* d = (json_decoder*)ctx;
  note_end(d, 0);
  lua_pushboolean(d->L, b);
  store(d);
  return 1;
}

/*
 * Integer syntax that fits in int64 becomes a Lua integer (exactly);
 * anything else, including integers beyond int64, a double via strtod.
 */
static int on_number(void* ctx, const char* s, size_t n) {
  json_decoder* d = (json_decoder*)ctx;
  lua_State* L = d->L;
  note_end(d, 0);
  int integral = 1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
      integral = 0;
      break;
    }
  }
  if (integral) {
    int neg = n > 0 && s[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    size_t i = neg ? 1 : 0;
    for (; i < n; i++) {
      unsigned digit = (unsigned)(s[i] - '0');
      if (v > (limit - digit) / 10) {
        break;
      }
      v = v * 10 + digit;
    }
    if (i == n) {
      lua_pushinteger(
          L, neg && v > 0 ? -(lua_Integer)(v - 1) - 1 : (lua_Integer)v);
      store(d);
      return 1;
    }
  }
  /* The text is not NUL-terminated (it may sit in yajl's buffer). */
  char small[64];
  char* buf = small;
  if (n >= sizeof(small)) {
    buf = (char*)malloc(n + 1);
    if (buf == NULL) {
      return decode_fail(d, d->last_end, "out of memory");
    }
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  double x = str_to_double(buf);
  if (buf != small) {
    free(buf);
  }
  lua_pushnumber(L, x);
  store(d);
  return 1;
}

static int scratch_reserve(json_decoder* d, size_t n) {
  if (n <= d->scratch_cap) {
    return 1;
  }
  size_t cap = d->scratch_cap ? d->scratch_cap : 256;
  while (cap < n) {
    cap *= 2;
  }
  char* p = (char*)realloc(d->scratch, cap);
  if (p == NULL) {
    return 0;
  }
  d->scratch = p;
  d->scratch_cap = cap;
  return 1;
}

static unsigned hex4(const unsigned char* p) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else {
      v |= c - 'A' + 10;
    }
  }
  return v;
}

/*
 * Decode the raw string body t[0, end) (escapes already checked by yajl's
 * lexer; at offset at in the input) into d->scratch, refusing invalid UTF-8
 * and unpaired surrogates (or, with d->replace, turning those into U+FFFD).
 * yajl's own unescaping turns "\ud800" into "?" and pairs a high surrogate
 * with whatever \u escape follows, so we never use it.
 */
static int unescape(json_decoder* d, const unsigned char* t, size_t end,
                    size_t at, size_t* outlen) {
  if (!scratch_reserve(d, end + 1)) {
    return decode_fail(d, at, "out of memory");
  }
  char* o = d->scratch;
  size_t i = 0;
  while (i < end) {
    const unsigned char* run = t + i;
    const unsigned char* bs = (const unsigned char*)memchr(run, '\\', end - i);
    size_t runlen = bs == NULL ? end - i : (size_t)(bs - run);
    size_t bad = utf8_check(run, runlen);
    if (bad < runlen) {
      return decode_fail(d, at + i + bad,
                         "invalid UTF-8 sequence starting with 0x%02x in "
                         "string",
                         run[bad]);
    }
    memcpy(o, run, runlen);
    o += runlen;
    i += runlen;
    if (i >= end) {
      break;
    }
    size_t esc = i; /* t[i] == '\\' */
    unsigned char c = t[i + 1];
    i += 2;
    switch (c) {
      case 'b':
        *o++ = '\b';
        break;
      case 'f':
        *o++ = '\f';
        break;
      case 'n':
        *o++ = '\n';
        break;
      case 'r':
        *o++ = '\r';
        break;
      case 't':
        *o++ = '\t';
        break;
      case 'u': {
        uint32_t cp = hex4(t + i);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) {
          uint32_t lo = 0;
          if (cp <= 0xDBFF && i + 6 <= end && t[i] == '\\' && t[i + 1] == 'u') {
            lo = hex4(t + i + 2);
          }
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else if (d->replace) {
            cp = 0xFFFD; /* what follows is read on its own */
          } else {
            return decode_fail(d, at + esc,
                               "unpaired surrogate \\u%04x in string",
                               (unsigned)cp);
          }
        }
        o = put_utf8(o, cp);
        break;
      }
      default: /* '"', '\\', '/' */
        *o++ = (char)c;
        break;
    }
  }
  *outlen = (size_t)(o - d->scratch);
  return 1;
}

/*
 * Push a string or key the lexer reported, with its escapes undone; prev is
 * where the previous token ended.
 */
static int push_string(json_decoder* d, const unsigned char* s, size_t n,
                       size_t prev) {
  lua_State* L = d->L;
  uintptr_t text = (uintptr_t)d->text;
  uintptr_t p = (uintptr_t)s;
  if (!d->finishing && p >= text && p + n <= text + d->len) {
    /* No escapes: s points into the input, and was not checked yet. */
    size_t bad = utf8_check(s, n);
    if (bad < n) {
      return decode_fail(d, d->base + (size_t)(p - text) + bad,
                         "invalid UTF-8 sequence starting with 0x%02x in "
                         "string",
                         s[bad]);
    }
    lua_pushlstring(L, (const char*)s, n);
    return 1;
  }
  if (d->finishing) {
    /* Cannot happen (a string token never waits for more input), but if
     * it did we would have no raw text: refuse rather than guess. */
    return decode_fail(d, d->last_end, "unexpected string at end of input");
  }
  /* Escapes: find the raw token in this chunk. It ends at last_end (after
   * the closing quote); it starts at the first '"' after the previous
   * token, since only whitespace, ',' and ':' separate tokens. */
  size_t end = d->last_end - 1 - d->base;
  size_t q = prev > d->base ? prev - d->base : 0;
  while (q < end && d->text[q] != '"') {
    q++;
  }
  if (q >= end) {
    return decode_fail(d, d->last_end, "string token not found"); /* bug */
  }
  size_t len = 0;
  if (!unescape(d, d->text + q + 1, end - q - 1, d->base + q + 1, &len)) {
    return 0;
  }
  lua_pushlstring(L, d->scratch, len);
  return 1;
}

static int on_string(void* ctx, const unsigned char* s, size_t n) {
  json_decoder* d = (json_decoder*)ctx;
  size_t prev = d->last_end;
  note_end(d, 0);
  if (!push_string(d, s, n, prev)) {
    return 0;
  }
  store(d);
  return 1;
}

static int on_map_key(void* ctx, const unsigned char* s, size_t n) {
  json_decoder* d = (json_decoder*)ctx;
  size_t prev = d->last_end;
  note_end(d, 0);
  return push_string(d, s, n, prev); /* stack: object, key */
}

static int on_start(json_decoder* d, int is_array) {
  lua_State* L = d->L;
  note_end(d, 1);
  size_t at = d->last_end > 0 ? d->last_end - 1 : 0;
  if (d->depth + d->depth_base >= d->max_depth) {
    return decode_fail(d, at, "too deeply nested (max_depth %d)", d->max_depth);
  }
  /* The placeholder, a batch of waiting values, room for fill(). */
  if (!lua_checkstack(L, d->batch + 8)) {
    return decode_fail(d, at, "nesting too deep for the Lua stack");
  }
  lua_pushboolean(L, 0);
  json_frame* f = &d->frames[d->depth++];
  f->slot = lua_gettop(L);
  f->is_array = is_array;
  f->made = 0;
  f->n = 0;
  return 1;
}

static int on_start_map(void* ctx) { return on_start((json_decoder*)ctx, 0); }

static int on_start_array(void* ctx) { return on_start((json_decoder*)ctx, 1); }

static int on_end(void* ctx) {
  json_decoder* d = (json_decoder*)ctx;
  note_end(d, 0);
  fill(d, &d->frames[d->depth - 1]); /* the table is on top now */
  d->depth--;
  store(d);
  return 1;
}

static const yajl_callbacks decode_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number, /* the raw text: we convert it ourselves */
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* The yajl failures we put in our own words. */
enum {
  E_OTHER,
  E_COLON,
  E_MAPSEP,
  E_ARRSEP,
  E_KEY,
  E_VALUE,
  E_GARBAGE,
  E_EOF,
  E_CHAR,
  E_LITERAL,
  E_MINUS,
  E_POINT,
  E_EXPONENT,
  E_ESCAPE,
  E_CONTROL,
  E_HEX,
  E_COMMENT
};

static const struct {
  const char* text; /* yajl's message, without "parse error: " */
  int kind;
} yajl_errors[] = {
    {"object key and value must be separated by a colon (':')", E_COLON},
    {"after key and value, inside map, I expect ',' or '}'", E_MAPSEP},
    {"after array element, I expect ',' or ']'", E_ARRSEP},
    {"invalid object key (must be a string)", E_KEY},
    {"unallowed token at this point in JSON text", E_VALUE},
    {"trailing garbage", E_GARBAGE},
    {"premature EOF", E_EOF},
    {"invalid char in json text", E_CHAR},
    {"invalid string in json text", E_LITERAL},
    {"malformed number, a digit is required after the minus sign", E_MINUS},
    {"malformed number, a digit is required after the decimal point", E_POINT},
    {"malformed number, a digit is required after the exponent", E_EXPONENT},
    {"inside a string, '\\' occurs before a character which it may not",
     E_ESCAPE},
    {"invalid character inside string", E_CONTROL},
    {"invalid (non-hex) character occurs after '\\u' inside string", E_HEX},
    {"probable comment found in input text, comments are not enabled",
     E_COMMENT},
};

static int is_word_char(unsigned c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}

/* "'x'" for a printable character, "byte 0xNN" otherwise. */
static void describe_char(unsigned c, char* out, size_t size) {
  if (c == '\'') {
    snprintf(out, size, "\"'\"");
  } else if (c > 0x20 && c < 0x7F) {
    snprintf(out, size, "'%c'", (char)c);
  } else {
    snprintf(out, size, "byte 0x%02x", c);
  }
}

/* What starts at t[pos], for "got ...": "string", "'}'", "'tru'", ... */
static void describe_bytes(const unsigned char* t, size_t len, size_t pos,
                           char* out, size_t size) {
  if (pos >= len) {
    snprintf(out, size, "end of input");
  } else if (t[pos] == '"') {
    snprintf(out, size, "string");
  } else if (is_word_char(t[pos])) {
    size_t n = 0;
    while (pos + n < len && n < 16 && is_word_char(t[pos + n])) {
      n++;
    }
    int more = pos + n < len && is_word_char(t[pos + n]);
    snprintf(out, size, "'%.*s%s'", (int)n, (const char*)t + pos,
             more ? "..." : "");
  } else {
    describe_char(t[pos], out, size);
  }
}

/* The start of the token after from: whitespace, then maybe one ',' or
 * ':' (which the parser accepted), then whitespace. */
static size_t token_after(const json_decoder* d, size_t from, int skip_sep) {
  const unsigned char* t = d->text;
  size_t p = from;
  for (int round = 0; round < 2; round++) {
    while (p < d->len &&
           (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')) {
      p++;
    }
    if (round == 0 && skip_sep && p < d->len && (t[p] == ',' || t[p] == ':')) {
      p++;
    } else {
      break;
    }
  }
  return p;
}

/* Turn yajl's error into our message and the byte offset it is about. */
static void diagnose(json_decoder* d, char* msg, size_t size, size_t* pos) {
  char yajl_msg[160] = "";
  unsigned char* e = yajl_get_error(d->yajl, 0, d->text, d->len);
  if (e != NULL) {
    const char* m = (const char*)e;
    const char* colon = strstr(m, "error: ");
    if (colon != NULL) {
      m = colon + 7;
    }
    snprintf(yajl_msg, sizeof(yajl_msg), "%s", m);
    yajl_free_error(d->yajl, e);
  }
  size_t n = strlen(yajl_msg);
  while (n > 0 && (yajl_msg[n - 1] == '\n' || yajl_msg[n - 1] == '.')) {
    yajl_msg[--n] = '\0';
  }
  int kind = E_OTHER;
  for (size_t i = 0; i < sizeof(yajl_errors) / sizeof(yajl_errors[0]); i++) {
    if (strcmp(yajl_msg, yajl_errors[i].text) == 0) {
      kind = yajl_errors[i].kind;
      break;
    }
  }
  /* Where yajl stopped: inside the token for string and number errors,
   * after it for the others. yajl_complete_parse parses a private " ", so
   * its offsets mean the end of the input. */
  size_t stop = d->finishing ? d->len : yajl_get_bytes_consumed(d->yajl);
  if (stop > d->len) {
    stop = d->len;
  }
  int after_value = d->last_end > 0 && !d->last_open;
  int skip_sep = after_value && kind != E_COLON && kind != E_MAPSEP &&
                 kind != E_ARRSEP && kind != E_GARBAGE;
  size_t tok = token_after(d, d->last_end, skip_sep);
  char got[48];
  describe_bytes(d->text, d->len, tok, got, sizeof(got));
  *pos = tok;
  switch (kind) {
    case E_COLON:
      snprintf(msg, size, "expected ':' after object key, got %s", got);
      break;
    case E_MAPSEP:
      snprintf(msg, size, "expected ',' or '}' after object member, got %s",
               got);
      break;
    case E_ARRSEP:
      snprintf(msg, size, "expected ',' or ']' after array element, got %s",
               got);
      break;
    case E_KEY:
      snprintf(msg, size, "expected a string for object key, got %s", got);
      break;
    case E_VALUE:
      snprintf(msg, size, "expected a value, got %s", got);
      break;
    case E_GARBAGE:
      snprintf(msg, size, "trailing garbage after JSON value, got %s", got);
      break;
    case E_EOF:
      *pos = d->len;
      snprintf(msg, size, "unexpected end of input");
      break;
    case E_CHAR:
      describe_char(tok < d->len ? d->text[tok] : 0, got, sizeof(got));
      snprintf(msg, size, "unexpected %s", got);
      break;
    case E_LITERAL:
      snprintf(msg, size, "invalid literal %s", got);
      break;
    case E_MINUS:
    case E_POINT:
    case E_EXPONENT:
      *pos = stop;
      snprintf(msg, size, "invalid number, expected a digit after the %s",
               kind == E_MINUS   ? "minus sign"
               : kind == E_POINT ? "decimal point"
                                 : "exponent");
      break;
    case E_ESCAPE:
      if (d->finishing || stop == 0) {
        *pos = stop;
        snprintf(msg, size, "invalid escape in string");
      } else {
        *pos = stop - 1; /* the backslash */
        describe_char(d->text[stop], got, sizeof(got));
        snprintf(msg, size, "invalid escape in string, '\\' followed by %s",
                 got);
      }
      break;
    case E_CONTROL:
      *pos = stop;
      snprintf(msg, size, "unescaped control character 0x%02x in string",
               stop < d->len ? d->text[stop] : 0);
      break;
    case E_HEX:
      *pos = stop;
      describe_char(stop < d->len ? d->text[stop] : 0, got, sizeof(got));
      snprintf(msg, size, "invalid \\u escape in string, got %s", got);
      break;
    case E_COMMENT:
      snprintf(msg, size, "comments are not allowed");
      break;
    default:
      snprintf(msg, size, "%s", yajl_msg[0] ? yajl_msg : "invalid JSON");
      break;
  }
}

/* A fresh yajl handle and parse state (decode_file may parse twice). */
static void parse_begin(json_decoder* d) {
  if (d->yajl != NULL) {
    yajl_free(d->yajl);
  }
  d->yajl = yajl_alloc(&decode_callbacks, NULL, d);
  if (d->yajl == NULL) {
    luaL_error(d->L, "json: out of memory");
  }
  yajl_config(d->yajl, yajl_dont_validate_strings, 1); /* ours is stricter */
  lua_settop(d->L, d->top);
  d->depth = 0;
  d->base = 0;
  d->finishing = 0;
  d->last_end = 0;
  d->last_open = 0;
}

/* The offset of the first '\v' or '\f' in t[0, n), or n. */
static size_t first_vt_ff(const unsigned char* t, size_t n) {
  const unsigned char* v = (const unsigned char*)memchr(t, '\v', n);
  size_t end = v != NULL ? (size_t)(v - t) : n;
  const unsigned char* f = (const unsigned char*)memchr(t, '\f', end);
  return f != NULL ? (size_t)(f - t) : end;
}

/* The first byte of t[from, len) that is not whitespace, or len. */
static size_t trailing_garbage(const unsigned char* t, size_t from,
                               size_t len) {
  for (size_t i = from; i < len; i++) {
    if (t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r') {
      return i;
    }
  }
  return len;
}

/* Parse all of d->text as one value: 1 leaves it on the stack; 0 puts the
 * offset in d->text of what is wrong in *pos and a message in what. */
static int parse_text(json_decoder* d, size_t* pos, char* what, size_t size) {
  parse_begin(d);
  yajl_status st = yajl_parse(d->yajl, d->text, d->len);
  if (st == yajl_status_ok) {
    d->finishing = 1;
    st = yajl_complete_parse(d->yajl);
  }
  int ok = 0;
  if (st == yajl_status_ok) {
    /* yajl holds back a string still open at the end of the input (in
     * case more comes) and then forgets it: refuse it here. */
    size_t tail = trailing_garbage(d->text, d->last_end, d->len);
    ok = tail == d->len;
    if (!ok) {
      char got[48];
      describe_bytes(d->text, d->len, tail, got, sizeof(got));
      *pos = tail;
      snprintf(what, size, "trailing garbage after JSON value, got %s", got);
    }
  } else if (st == yajl_status_client_canceled) {
    *pos = d->err_pos;
    snprintf(what, size, "%s", d->err_msg);
  } else {
    diagnose(d, what, size, pos);
  }
  if (!ok && *pos > d->len) {
    *pos = d->len;
  }
  /* yajl takes \v and \f for whitespace; RFC 8259 (and Python) do not,
   * and no valid text holds either byte raw. */
  size_t upto = ok ? d->len : *pos < d->len ? *pos + 1 : d->len;
  size_t vf = first_vt_ff(d->text, upto);
  if (vf < upto) {
    char got[48];
    describe_char(d->text[vf], got, sizeof(got));
    *pos = vf;
    snprintf(what, size, "unexpected %s", got);
    ok = 0;
  }
  if (ok) {
    return 1;
  }
  lua_settop(d->L, d->top);
  return 0;
}

/* Line and column (both from 1) of byte pos of the input: from d->doc if
 * it is in memory, else read again from d->fd. */
static void locate(json_decoder* d, size_t pos, size_t* line, size_t* col) {
  size_t ln = 1;
  size_t line_start = 0;
  if (d->doc != NULL) {
    const unsigned char* t = d->doc;
    const unsigned char* nl;
    while ((nl = (const unsigned char*)memchr(t + line_start, '\n',
                                              pos - line_start)) != NULL) {
      ln++;
      line_start = (size_t)(nl - t) + 1;
    }
  } else if (d->fd >= 0 && scratch_reserve(d, 1u << 16)) {
    size_t off = 0;
    while (off < pos) {
      size_t want = pos - off < (1u << 16) ? pos - off : (1u << 16);
      ssize_t n = pread(d->fd, d->scratch, want, (off_t)off);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      const char* t = d->scratch;
      const char* nl = t;
      while ((nl = (const char*)memchr(nl, '\n',
                                       (size_t)n - (size_t)(nl - t))) != NULL) {
        ln++;
        line_start = off + (size_t)(nl - t) + 1;
        nl++;
      }
      off += (size_t)n;
    }
  }
  *line = ln;
  *col = pos - line_start + 1;
}

/* nil, "json: [path: ]line L column C (byte pos): what", "parse". */
static int parse_failure(lua_State* L, json_decoder* d, const char* path,
                         size_t pos, const char* what) {
  size_t line, col;
  locate(d, pos, &line, &col);
  char where[96];
  snprintf(where, sizeof(where), "line %zu column %zu (byte %zu)", line, col,
           pos);
  if (path != NULL) {
    return sw_fail(L, "parse", "json: %s: %s: %s", path, where, what);
  }
  return sw_fail(L, "parse", "json: %s: %s", where, what);
}

/* Parse all of d->text and leave the value on the stack (returns 1), or
 * return nil, message, "parse"; the message names path if not NULL. */
static int decode_text(lua_State* L, json_decoder* d, const char* path) {
  char what[256];
  size_t pos;
  d->doc = d->text;
  if (parse_text(d, &pos, what, sizeof(what))) {
    return 1;
  }
  return parse_failure(L, d, path, pos, what);
}

/* ---------------------------------------------------------------------- */
/* Options                                                                 */

/* Raise unless every key of the options table at idx is in names. */
static void check_option_names(lua_State* L, int idx,
                               const char* const* names) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char* k = lua_tostring(L, -1);
      for (const char* const* n = names; *n != NULL; n++) {
        if (strcmp(k, *n) == 0) {
          known = 1;
          break;
        }
      }
    }
    if (!known) {
      lua_pushvalue(L, -1);
      const char* k = luaL_tolstring(L, -1, NULL);
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", k));
    }
  }
}

static int int_option(lua_State* L, int idx, const char* name, int def, int lo,
                      int hi) {
  int v = def;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    int ok;
    lua_Integer i = lua_tointegerx(L, -1, &ok);
    if (!ok || i < lo || i > hi) {
      luaL_argerror(L, idx,
                    lua_pushfstring(L,
                                    "option '%s' must be an integer "
                                    "from %d to %d",
                                    name, lo, hi));
    }
    v = (int)i;
  }
  lua_pop(L, 1);
  return v;
}

/* -1 when absent, else 0 or 1. */
static int bool_option(lua_State* L, int idx, const char* name) {
  int v = -1;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) {
      luaL_argerror(L, idx,
                    lua_pushfstring(L, "option '%s' must be a boolean", name));
    }
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

typedef struct {
  int max_depth;
  int replace; /* replace_surrogates */
  int keys;    /* a keys option was given */
} decode_opts;

static void decode_options(lua_State* L, int idx, decode_opts* o) {
  static const char* const names[] = {"keys", "max_depth", "replace_surrogates",
                                      NULL};
  o->max_depth = JSON_DEFAULT_DEPTH;
  o->replace = 0;
  o->keys = 0;
  if (lua_isnoneornil(L, idx)) {
    return;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  check_option_names(L, idx, names);
  o->max_depth =
      int_option(L, idx, "max_depth", JSON_DEFAULT_DEPTH, 1, JSON_MAX_DEPTH);
  o->replace = bool_option(L, idx, "replace_surrogates") == 1;
  lua_getfield(L, idx, "keys");
  o->keys = !lua_isnil(L, -1);
  lua_pop(L, 1);
}

/* Inputs this large pause the collector while their tables are built:
 * nothing they allocate is garbage, and each collection cycle would walk
 * everything built so far. */
#define JSON_PAUSE_GC_AT (1u << 20)

#define JSON_CHUNK (1u << 20)

/* Push the decoder (to-be-closed) and the two metatables. */
static json_decoder* new_decoder(lua_State* L, int max_depth) {
  json_decoder* d = (json_decoder*)lua_newuserdatauv(L, sizeof(*d), 0);
  memset(d, 0, sizeof(*d));
  d->fd = -1;
  luaL_setmetatable(L, JSON_DECODER);
  lua_toclose(L, -1);
  d->L = L;
  d->max_depth = max_depth;
  /* At most depth x (batch + 3) slots wait: stay well inside the stack. */
  d->batch = (LUAI_MAXSTACK / 3) / max_depth;
  if (d->batch > 1024) {
    d->batch = 1024;
  } else if (d->batch < 16) {
    d->batch = 16;
  }
  d->frames = (json_frame*)malloc(sizeof(json_frame) * (size_t)max_depth);
  if (d->frames == NULL) {
    luaL_error(L, "json: out of memory");
  }
  luaL_checkstack(L, d->batch + 8, "json.decode");
  luaL_getmetatable(L, JSON_ARRAY_MT);
  d->mt_array = lua_gettop(L);
  luaL_getmetatable(L, JSON_OBJECT_MT);
  d->mt_object = lua_gettop(L);
  d->top = lua_gettop(L);
  return d;
}

static void pause_gc(json_decoder* d, size_t size) {
  if (size >= JSON_PAUSE_GC_AT && !d->gc_stopped &&
      lua_gc(d->L, LUA_GCISRUNNING)) {
    lua_gc(d->L, LUA_GCSTOP);
    d->gc_stopped = 1;
  }
}

static int keys_decode(lua_State* L, json_decoder* d, const char* path);

/* json.decode(text[, opts]) -> value | nil, msg, "parse" */
static int json_decode(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  decode_opts o;
  decode_options(L, 2, &o);
  lua_settop(L, 2);
  json_decoder* d = new_decoder(L, o.max_depth);
  d->replace = o.replace;
  if (o.keys) {
    d->doc = (const unsigned char*)text;
    d->in.buf = d->doc;
    d->in.len = len;
    d->in.keep = KEEP_NONE;
    d->in.eof = 1;
    return keys_decode(L, d, NULL);
  }
  pause_gc(d, len);
  d->text = (const unsigned char*)text;
  d->len = len;
  return decode_text(L, d, NULL);
}

static int file_reserve(json_decoder* d, size_t cap) {
  if (cap <= d->file_cap) {
    return 1;
  }
  unsigned char* p = (unsigned char*)realloc(d->file, cap);
  if (p == NULL) {
    return 0;
  }
  d->file = p;
  d->file_cap = cap;
  return 1;
}

/* Read d->fd from where it is to its end into d->file; 0 or an errno. */
static int read_all(json_decoder* d, size_t size_hint) {
  size_t len = 0;
  if (!file_reserve(d, size_hint + 1)) { /* +1: EOF needs no regrowth */
    return ENOMEM;
  }
  for (;;) {
    if (len == d->file_cap && !file_reserve(d, d->file_cap * 2)) {
      return ENOMEM;
    }
    ssize_t r = read(d->fd, d->file + len, d->file_cap - len);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (r == 0) {
      break;
    }
    len += (size_t)r;
  }
  d->text = d->file;
  d->len = len;
  return 0;
}

/*
 * Parse d->fd in chunks of about JSON_CHUNK, so the file is never in memory
 * whole. A chunk ends just after a newline: a newline cannot be inside a
 * valid token, so yajl never holds a token across chunks and every string
 * it reports lies in the current chunk. Returns 0 with the value on the
 * stack, -1 when the input is not valid JSON (the caller parses it again in
 * one piece for an exact message), or an errno value.
 */
static int decode_stream(json_decoder* d) {
  size_t have = 0; /* bytes in d->file not parsed yet */
  size_t base = 0; /* offset of d->file[0] in the file */
  int eof = 0;
  if (!file_reserve(d, JSON_CHUNK)) {
    return ENOMEM;
  }
  parse_begin(d);
  while (!eof) {
    if (have == d->file_cap && !file_reserve(d, d->file_cap * 2)) {
      return ENOMEM;
    }
    ssize_t r = read(d->fd, d->file + have, d->file_cap - have);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    eof = r == 0;
    size_t cut = have + (size_t)r;
    if (!eof) {
      /* Only the new bytes: what was left over has no newline. */
      const unsigned char* nl =
          (const unsigned char*)memrchr(d->file + have, '\n', (size_t)r);
      have += (size_t)r;
      if (nl == NULL) {
        continue; /* a longer piece: read on */
      }
      cut = (size_t)(nl - d->file) + 1;
    } else {
      have = cut;
    }
    d->text = d->file;
    d->len = cut;
    d->base = base;
    if (first_vt_ff(d->text, cut) < cut || /* see parse_text */
        yajl_parse(d->yajl, d->text, cut) != yajl_status_ok) {
      return -1;
    }
    memmove(d->file, d->file + cut, have - cut);
    have -= cut;
    base += cut;
  }
  /* The last chunk is still in d->file: its last piece after the value
   * must be whitespace (see parse_text). A string left open in an earlier
   * chunk would hold the newline that chunk ends with, which yajl refuses. */
  size_t last_base = d->base;
  size_t last_len = d->len;
  d->finishing = 1;
  d->base = base;
  d->len = 0;
  if (yajl_complete_parse(d->yajl) != yajl_status_ok) {
    return -1;
  }
  size_t from = d->last_end > last_base ? d->last_end - last_base : 0;
  if (trailing_garbage(d->file, from, last_len) != last_len) {
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Top-level keys: decode(text, {keys = {...}}), decode_file likewise      */

/*
 * Chain-of-trust verification needs a handful of entries of task-graph.json
 * (100 MB and more): the top-level object is parsed here token by token,
 * the values of wanted keys are cut out and decoded by yajl exactly as
 * decode would, and every other value is skipped by skip_value(), which
 * looks at 64 bytes at a time (bit masks of quotes, backslashes, brackets
 * and control characters, as simdjson's first stage does) and only stops
 * on brackets outside strings. A file is read through a window of about
 * 1 MiB that slides along it (refill); what a wanted value needs stays in
 * the window, so memory is that window plus the values kept.
 *
 * Every function below returns 0, -1 with d->err_pos / d->err_msg set (a
 * parse failure, offsets in the whole input), or an errno value.
 */

#define JSON_WINDOW (1u << 20)

/* Read more of d->fd into the window, dropping what lies before both
 * in.pos and in.keep. At the end of the file in.eof is set. */
static int refill(json_decoder* d) {
  json_reader* r = &d->in;
  if (r->eof) {
    return 0;
  }
  size_t from = r->keep < r->pos ? r->keep : r->pos;
  if (from > 0) {
    memmove(d->file, d->file + from, r->len - from);
    r->len -= from;
    r->pos -= from;
    r->base += from;
    if (r->keep != KEEP_NONE) {
      r->keep -= from;
    }
  }
  if (r->len == d->file_cap &&
      !file_reserve(d, d->file_cap ? d->file_cap * 2 : JSON_WINDOW)) {
    return ENOMEM;
  }
  r->buf = d->file;
  for (;;) {
    ssize_t n = read(d->fd, d->file + r->len, d->file_cap - r->len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (n == 0) {
      r->eof = 1;
    }
    r->len += (size_t)n;
    return 0;
  }
}

/* The byte at in.pos into *c, or -1 at the end of the input. */
static int peek(json_decoder* d, int* c) {
  json_reader* r = &d->in;
  while (r->pos >= r->len) {
    if (r->eof) {
      *c = -1;
      return 0;
    }
    int err = refill(d);
    if (err != 0) {
      return err;
    }
  }
  *c = r->buf[r->pos];
  return 0;
}

/* Skip whitespace; the next byte (or -1) into *c. */
static int skip_ws(json_decoder* d, int* c) {
  for (;;) {
    int err = peek(d, c);
    if (err != 0) {
      return err;
    }
    if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') {
      return 0;
    }
    d->in.pos++;
  }
}

/* Fail at in.pos with "<what>, got <token>", or with "unexpected end of
 * input" if nothing is left. */
static int fail_got(json_decoder* d, const char* what) {
  json_reader* r = &d->in;
  r->keep = KEEP_NONE; /* failing: nothing before pos matters any more */
  while (r->len - r->pos < 17 && !r->eof) {
    int err = refill(d);
    if (err != 0) {
      return err;
    }
  }
  if (r->pos >= r->len) {
    return scan_fail(d, r->base + r->len, "unexpected end of input");
  }
  char got[48];
  describe_bytes(r->buf, r->len, r->pos, got, sizeof(got));
  return scan_fail(d, r->base + r->pos, "%s, got %s", what, got);
}

typedef struct {
  uint64_t quote, backslash, open, close, control;
} json_masks;

/* Bit i of each mask: whether p[i] is '"', '\\', '[' or '{', ']' or '}',
 * a control character (below 0x20). */
static void block_masks(const unsigned char* p, json_masks* m) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i open = _mm_set1_epi8('{');  /* '[' | 0x20 == '{' */
  const __m128i close = _mm_set1_epi8('}'); /* ']' | 0x20 == '}' */
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i max_control = _mm_set1_epi8(0x1F);
  memset(m, 0, sizeof(*m));
  for (int k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i*)(const void*)(p + 16 * k));
    __m128i folded = _mm_or_si128(v, case_bit);
    __m128i low = _mm_min_epu8(v, max_control);
    int shift = 16 * k;
    m->quote |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote))
                << shift;
    m->backslash |=
        (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash))
        << shift;
    m->open |=
        (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open))
        << shift;
    m->close |=
        (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close))
        << shift;
    m->control |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(low, v))
                  << shift;
  }
#else
  memset(m, 0, sizeof(*m));
  for (int i = 0; i < 64; i++) {
    uint64_t bit = (uint64_t)1 << i;
    unsigned c = p[i];
    m->quote |= c == '"' ? bit : 0;
    m->backslash |= c == '\\' ? bit : 0;
    m->open |= (c | 0x20) == '{' ? bit : 0;
    m->close |= (c | 0x20) == '}' ? bit : 0;
    m->control |= c < 0x20 ? bit : 0;
  }
#endif
}

/* Bit i: the parity of bits 0..i of x. */
static uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

/*
 * Skip the array, object or string that starts at in.pos (the caller saw
 * its first byte); in.pos ends just after it. Checked on the way: brackets
 * balance and match, nesting stays within max_depth (the value sits in the
 * top-level object), strings end, hold no raw control character, and
 * backslashes appear only in strings. Not checked: what a backslash
 * escapes, UTF-8, and the tokens, commas and colons between brackets.
 *
 * A string longer than drop_after bytes stops being kept in the window
 * (in.keep is released and *dropped set): a key that long cannot be a
 * wanted one, and must not make the window grow.
 */
static int skip_value(json_decoder* d, size_t drop_after, int* dropped) {
  json_reader* r = &d->in;
  int string_mode = r->buf[r->pos] == '"';
  size_t start = r->base + r->pos;
  uint64_t in_string = 0; /* all ones: the last block ended in a string */
  uint64_t escape = 0;    /* 1: it ended with a backslash that escapes */
  int depth = 0;
  for (;;) {
    size_t avail = r->len - r->pos;
    const unsigned char* p = r->buf + r->pos;
    unsigned char tail[64];
    int last = 0;
    if (avail < 64) {
      if (!r->eof) {
        if (dropped != NULL && r->keep != KEEP_NONE &&
            r->base + r->pos - start > drop_after) {
          r->keep = KEEP_NONE;
          *dropped = 1;
        }
        int err = refill(d);
        if (err != 0) {
          return err;
        }
        continue;
      }
      if (avail == 0) {
        return scan_fail(d, r->base + r->len, "unexpected end of input");
      }
      memset(tail, ' ', sizeof(tail)); /* spaces change nothing */
      memcpy(tail, p, avail);
      p = tail;
      last = 1;
    }
    json_masks m;
    block_masks(p, &m);
    /* A backslash escapes the next byte unless it is escaped itself. */
    uint64_t escaped = escape;
    uint64_t escapers = m.backslash & ~escape;
    escape = 0;
    while (escapers != 0) {
      uint64_t bit = escapers & (~escapers + 1);
      if (bit >> 63) {
        escape = 1;
        break;
      }
      escaped |= bit << 1;
      escapers &= ~(bit | (bit << 1));
    }
    uint64_t quotes = m.quote & ~escaped;
    /* In a string: from an opening quote up to its closing quote. */
    uint64_t inside = prefix_xor(quotes) ^ in_string;
    in_string = 0 - (inside >> 63);
    uint64_t errors = (m.control & inside) | (m.backslash & ~inside);
    /* Only what comes before the first error counts. */
    uint64_t before = errors != 0 ? (errors & (~errors + 1)) - 1 : ~(uint64_t)0;
    uint64_t events =
        string_mode ? quotes & ~inside : (m.open | m.close) & ~inside;
    events &= before;
    while (events != 0) {
      int i = __builtin_ctzll(events);
      events &= events - 1;
      if (string_mode) {
        r->pos += (size_t)i + 1;
        return 0;
      }
      unsigned c = p[i];
      uint64_t bit = (uint64_t)1 << (depth & 63);
      if (c == '[' || c == '{') {
        if (depth + 1 >= d->max_depth) {
          return scan_fail(d, r->base + r->pos + (size_t)i,
                           "too deeply nested (max_depth %d)", d->max_depth);
        }
        if (c == '{') {
          d->skip_stack[depth >> 6] |= bit;
        } else {
          d->skip_stack[depth >> 6] &= ~bit;
        }
        depth++;
        continue;
      }
      depth--;
      bit = (uint64_t)1 << (depth & 63);
      int object = (d->skip_stack[depth >> 6] & bit) != 0;
      if (object != (c == '}')) {
        return scan_fail(d, r->base + r->pos + (size_t)i,
                         "mismatched '%c', expected '%c'", (char)c,
                         object ? '}' : ']');
      }
      if (depth == 0) {
        r->pos += (size_t)i + 1;
        return 0;
      }
    }
    if (errors != 0) {
      int i = __builtin_ctzll(errors);
      size_t at = r->base + r->pos + (size_t)i;
      if (p[i] == '\\') {
        return scan_fail(d, at, "unexpected '\\'");
      }
      return scan_fail(d, at, "unescaped control character 0x%02x in string",
                       p[i]);
    }
    if (last) {
      return scan_fail(d, r->base + r->len, "unexpected end of input");
    }
    r->pos += 64;
  }
}

/* Advance past the byte at in.pos and peek at the next. */
static int next(json_decoder* d, int* c) {
  d->in.pos++;
  return peek(d, c);
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Skip the run of digits at in.pos, of which there must be at least one
 * (else fail: "invalid number, expected a digit after the <after>"). */
static int skip_digits(json_decoder* d, int* c, const char* after) {
  if (!is_digit(*c)) {
    return scan_fail(d, d->in.base + d->in.pos,
                     "invalid number, expected a digit after the %s", after);
  }
  while (is_digit(*c)) {
    int err = next(d, c);
    if (err != 0) {
      return err;
    }
  }
  return 0;
}

#define TRY(call)          \
  do {                     \
    int try_err_ = (call); \
    if (try_err_ != 0) {   \
      return try_err_;     \
    }                      \
  } while (0)

/* Skip the number at in.pos (RFC 8259 syntax, checked). */
static int skip_number(json_decoder* d) {
  int c;
  TRY(peek(d, &c));
  if (c == '-') {
    TRY(next(d, &c));
    if (!is_digit(c)) {
      return scan_fail(d, d->in.base + d->in.pos,
                       "invalid number, expected a digit after the minus "
                       "sign");
    }
  }
  if (c == '0') {
    TRY(next(d, &c));
  } else {
    TRY(skip_digits(d, &c, "minus sign"));
  }
  if (c == '.') {
    TRY(next(d, &c));
    TRY(skip_digits(d, &c, "decimal point"));
  }
  if (c == 'e' || c == 'E') {
    TRY(next(d, &c));
    if (c == '+' || c == '-') {
      TRY(next(d, &c));
    }
    TRY(skip_digits(d, &c, "exponent"));
  }
  return 0;
}

/* Skip true, false or null at in.pos. */
static int skip_literal(json_decoder* d) {
  size_t at = d->in.base + d->in.pos;
  char word[20];
  size_t n = 0;
  int c;
  TRY(peek(d, &c));
  while (c >= 0 && is_word_char((unsigned)c)) {
    if (n < 17) {
      word[n++] = (char)c;
    }
    TRY(next(d, &c));
  }
  word[n] = '\0';
  if (strcmp(word, "true") != 0 && strcmp(word, "false") != 0 &&
      strcmp(word, "null") != 0) {
    return scan_fail(d, at, "invalid literal '%.16s%s'", word,
                     n > 16 ? "..." : "");
  }
  return 0;
}

/* The escapes of a top-level key t[0, n) (at offset at) are all valid;
 * unescape() takes that for granted. */
static int check_escapes(json_decoder* d, const unsigned char* t, size_t n,
                         size_t at) {
  char got[48];
  for (size_t i = 0; i < n; i++) {
    if (t[i] != '\\') {
      continue;
    }
    unsigned c = t[i + 1]; /* t[n] is the closing quote */
    if (c == 'u') {
      for (size_t k = i + 2; k < i + 6; k++) {
        unsigned h = k < n ? t[k] : '"';
        if (!((h >= '0' && h <= '9') ||
              ((h | 0x20) >= 'a' && (h | 0x20) <= 'f'))) {
          describe_char(h, got, sizeof(got));
          return scan_fail(d, at + k, "invalid \\u escape in string, got %s",
                           got);
        }
      }
      i += 5;
    } else if (c != 0 && strchr("\"\\/bfnrt", (int)c) != NULL) {
      i++;
    } else {
      describe_char(c, got, sizeof(got));
      return scan_fail(d, at + i,
                       "invalid escape in string, '\\' followed by %s", got);
    }
  }
  return 0;
}

/* A key for a message: quoted, cut at 64 bytes, non-printables as \xNN. */
static void quote_key(const char* k, size_t n, char* out, size_t size) {
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < n && i < 64 && o + 8 < size; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c < 0x20 || c == 0x7F || c == '"' || c == '\\') {
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  if (n > 64 && o + 4 < size) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o++] = '"';
  out[o] = '\0';
}

/*
 * The key whose string token is window[kstart, in.pos): check it as decode
 * would and, if it is wanted (in the set at set_idx), push it (*wanted =
 * 1). Unless dropped (too long to be wanted: only skip_value's checks).
 */
static int take_key(json_decoder* d, size_t kstart, int set_idx, int* wanted) {
  json_reader* r = &d->in;
  const unsigned char* body = r->buf + kstart + 1;
  size_t n = r->pos - kstart - 2;
  size_t at = r->base + kstart + 1;
  const char* key = (const char*)body;
  size_t len = n;
  *wanted = 0;
  if (memchr(body, '\\', n) != NULL) {
    TRY(check_escapes(d, body, n, at));
    if (!unescape(d, body, n, at, &len)) {
      return -1;
    }
    key = d->scratch;
  } else {
    size_t bad = utf8_check(body, n);
    if (bad < n) {
      return scan_fail(d, at + bad,
                       "invalid UTF-8 sequence starting with 0x%02x in string",
                       body[bad]);
    }
  }
  if (len > d->key_max || !((d->key_lens[(len >> 6) & 3] >> (len & 63)) & 1)) {
    return 0;
  }
  lua_pushlstring(d->L, key, len);
  if (lua_rawget(d->L, set_idx) == LUA_TNIL) {
    lua_pop(d->L, 1);
    return 0;
  }
  lua_pop(d->L, 1);
  lua_pushlstring(d->L, key, len);
  *wanted = 1;
  return 0;
}

/* Skip (or cut out, when in.keep marks its start) the value at in.pos,
 * whose first byte is c. */
static int skip_any(json_decoder* d, int c) {
  if (c == '{' || c == '[' || c == '"') {
    return skip_value(d, 0, NULL);
  }
  if (c == '-' || is_digit(c)) {
    return skip_number(d);
  }
  if (c >= 0 && is_word_char((unsigned)c)) {
    return skip_literal(d);
  }
  return fail_got(d, "expected a value");
}

/* Decode window[in.keep, in.pos), a wanted value, and set it in the result
 * table at res_idx under the key on top of the stack. */
static int take_value(json_decoder* d, int res_idx) {
  json_reader* r = &d->in;
  lua_State* L = d->L;
  int top = d->top;
  d->top = lua_gettop(L);
  d->text = r->buf + r->keep;
  d->len = r->pos - r->keep;
  d->depth_base = 1;
  pause_gc(d, d->len);
  char what[256];
  size_t pos;
  int ok = parse_text(d, &pos, what, sizeof(what));
  d->top = top;
  d->depth_base = 0;
  if (!ok) {
    return scan_fail(d, r->base + r->keep + pos, "%s", what);
  }
  lua_rawset(L, res_idx);
  return 0;
}

/* The top-level object: wanted members into the table at res_idx. */
static int keys_scan(json_decoder* d, int set_idx, int res_idx) {
  json_reader* r = &d->in;
  lua_State* L = d->L;
  size_t drop_after = 6 * d->key_max + 2; /* \uXXXX: 6 bytes for 1 */
  if (drop_after < 4096) {
    drop_after = 4096;
  }
  int c;
  TRY(skip_ws(d, &c));
  if (c != '{') {
    return fail_got(d, "expected an object (option 'keys')");
  }
  TRY(next(d, &c));
  TRY(skip_ws(d, &c));
  if (c == '}') {
    r->pos++;
  } else {
    for (;;) {
      if (c != '"') {
        return fail_got(d, "expected a string for object key");
      }
      r->keep = r->pos;
      int dropped = 0;
      TRY(skip_value(d, drop_after, &dropped));
      if (r->keep != KEEP_NONE && r->pos - r->keep > drop_after) {
        dropped = 1; /* the same whether the window had to move or not */
      }
      int wanted = 0;
      if (!dropped) {
        size_t kstart = r->keep;
        TRY(take_key(d, kstart, set_idx, &wanted)); /* key pushed if wanted */
        if (wanted) {
          lua_pushvalue(L, -1);
          if (lua_rawget(L, res_idx) != LUA_TNIL) {
            char q[300];
            size_t kn;
            const char* k = lua_tolstring(L, -2, &kn);
            quote_key(k, kn, q, sizeof(q));
            return scan_fail(d, r->base + kstart,
                             "duplicate key %s (option "
                             "'keys')",
                             q);
          }
          lua_pop(L, 1);
        }
      }
      r->keep = KEEP_NONE;
      TRY(skip_ws(d, &c));
      if (c != ':') {
        return fail_got(d, "expected ':' after object key");
      }
      TRY(next(d, &c));
      TRY(skip_ws(d, &c));
      if (wanted) {
        r->keep = r->pos;
      }
      TRY(skip_any(d, c));
      if (wanted) {
        TRY(take_value(d, res_idx));
        r->keep = KEEP_NONE;
      }
      TRY(skip_ws(d, &c));
      if (c == '}') {
        r->pos++;
        break;
      }
      if (c != ',') {
        return fail_got(d, "expected ',' or '}' after object member");
      }
      TRY(next(d, &c));
      TRY(skip_ws(d, &c));
    }
  }
  TRY(skip_ws(d, &c));
  if (c >= 0) {
    return fail_got(d, "trailing garbage after JSON value");
  }
  return 0;
}

/* decode or decode_file with opts.keys (opts at stack slot 2), d->in set up
 * on the input: the result table, or nil, msg, code. */
static int keys_decode(lua_State* L, json_decoder* d, const char* path) {
  lua_getfield(L, 2, "keys");
  if (!lua_istable(L, -1)) {
    return luaL_argerror(L, 2, "option 'keys' must be an array of strings");
  }
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  lua_createtable(L, 0, (int)(n < 1024 ? n : 1024));
  int set_idx = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, list, i) != LUA_TSTRING) {
      return luaL_argerror(L, 2, "option 'keys' must be an array of strings");
    }
    size_t len = lua_rawlen(L, -1);
    d->key_lens[(len >> 6) & 3] |= (uint64_t)1 << (len & 63);
    if (len > d->key_max) {
      d->key_max = len;
    }
    lua_pushboolean(L, 1);
    lua_rawset(L, set_idx);
  }
  lua_newtable(L);
  lua_pushvalue(L, d->mt_object);
  lua_setmetatable(L, -2);
  int res_idx = lua_gettop(L);
  d->top = res_idx;
  if (d->fd >= 0 && !d->in.eof) {
    if (!file_reserve(d, JSON_WINDOW)) {
      return luaL_error(L, "json: out of memory");
    }
    d->in.buf = d->file;
  }
  int err = keys_scan(d, set_idx, res_idx);
  if (err == 0) {
    lua_settop(L, res_idx);
    return 1;
  }
  if (err < 0) {
    return parse_failure(L, d, path, d->err_pos, d->err_msg);
  }
  lua_pushfstring(L, "json: %s", path != NULL ? path : "");
  return sw_fail_errno(L, lua_tostring(L, -1), err);
}

/* json.decode_file(path[, opts]) -> value | nil, msg, code */
static int json_decode_file(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  decode_opts o;
  decode_options(L, 2, &o);
  lua_settop(L, 2);
  json_decoder* d = new_decoder(L, o.max_depth); /* before open: may raise */
  d->replace = o.replace;
  do {
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (d->fd < 0 && errno == EINTR);
  if (d->fd < 0) {
    int err = errno;
    lua_pushfstring(L, "json: %s", path);
    return sw_fail_errno(L, lua_tostring(L, -1), err);
  }
  int fd = d->fd;
  struct stat st;
  int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  size_t size = regular && st.st_size > 0 ? (size_t)st.st_size : 0;
  int err = -1;
  if (o.keys) {
    d->in.keep = KEEP_NONE;
    if (regular) {
      return keys_decode(L, d, path); /* in pieces, as it is read */
    }
    err = read_all(d, 65536); /* a pipe, say: line numbers need it all */
    if (err == 0) {
      d->doc = d->text;
      d->in.buf = d->text;
      d->in.len = d->len;
      d->in.eof = 1;
      return keys_decode(L, d, path);
    }
    lua_pushfstring(L, "json: %s", path);
    return sw_fail_errno(L, lua_tostring(L, -1), err);
  }
  pause_gc(d, size);
  if (regular) {
    err = decode_stream(d);
    if (err == 0) {
      return 1;
    }
    if (err < 0 && lseek(fd, 0, SEEK_SET) != 0) {
      err = errno;
    }
  }
  if (err < 0) {
    err = read_all(d, size > 0 ? size : 65536);
    if (err == 0) {
      return decode_text(L, d, path);
    }
  }
  lua_settop(L, d->top);
  lua_pushfstring(L, "json: %s", path);
  return sw_fail_errno(L, lua_tostring(L, -1), err);
}

/* ---------------------------------------------------------------------- */
/* Float formatting: CPython's repr(float)                                 */

/* |x| rounded to p significant digits: the digits into dig, returns the
 * decimal exponent of the first one. */
static int round_digits(double ax, int p, char* dig) {
  char tmp[48];
  snprintf(tmp, sizeof(tmp), "%.*e", p - 1, ax);
  int k = 0;
  const char* q = tmp;
  for (; *q != '\0' && *q != 'e'; q++) {
    if (*q >= '0' && *q <= '9') {
      dig[k++] = *q; /* skips the radix character, whatever the locale */
    }
  }
  return *q == 'e' ? atoi(q + 1) : 0;
}

/* The value of dig[0..p) x 10^(exp10 - p + 1), read back as a double. */
static double digits_value(const char* dig, int p, int exp10) {
  char tmp[48];
  memcpy(tmp, dig, (size_t)p);
  snprintf(tmp + p, sizeof(tmp) - (size_t)p, "e%d", exp10 - p + 1);
  return str_to_double(tmp);
}

/* Add one unit in the last place of dig[0..p); returns the new exponent. */
static int bump_digits(char* dig, int p, int exp10) {
  int i = p - 1;
  while (i >= 0 && dig[i] == '9') {
    dig[i--] = '0';
  }
  if (i >= 0) {
    dig[i]++;
    return exp10;
  }
  dig[0] = '1'; /* 99..9 + 1 = 100..0: one more digit, dropped as a 0 */
  return exp10 + 1;
}

/*
 * The shortest digit string that reads back as ax (finite, > 0), as
 * David Gay's dtoa mode 0 (behind Python's repr) finds it.
 *
 * If any string of 15 digits or fewer reads back, it is the 15-digit
 * rounding of ax with zeros dropped: a double's half gap is below 1.2e-16
 * of its value, less than half a unit in the 15th digit. Otherwise the 16-
 * then the 17-digit rounding (17 always reads back). Subnormals have fewer
 * significant bits, so there we search all lengths: a rounding that reads
 * back means every longer one does. Powers of two differ:
 * the gap below is half the gap above, so a rounding can fall just outside
 * below while the next number of as many digits above reads back; there we
 * try each length and that neighbour.
 */
static int shortest_digits(double ax, char* dig, int* decpt) {
  uint64_t bits;
  memcpy(&bits, &ax, sizeof(bits));
  int pow2 = (bits & 0xFFFFFFFFFFFFFull) == 0 && (bits >> 52) > 1;
  int p;
  int exp10 = 0;
  if ((bits >> 52) == 0) {
    int lo = 1;
    int hi = 17;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      exp10 = round_digits(ax, mid, dig);
      if (digits_value(dig, mid, exp10) == ax) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    p = lo;
    exp10 = round_digits(ax, p, dig);
  } else if (!pow2) {
    for (p = 15; p < 17; p++) {
      exp10 = round_digits(ax, p, dig);
      if (digits_value(dig, p, exp10) == ax) {
        break;
      }
    }
    if (p == 17) {
      exp10 = round_digits(ax, p, dig);
    }
  } else {
    for (p = 1; p < 17; p++) {
      exp10 = round_digits(ax, p, dig);
      double v = digits_value(dig, p, exp10);
      if (v == ax) {
        break;
      }
      if (v < ax) {
        char up[20];
        memcpy(up, dig, (size_t)p);
        int e2 = bump_digits(up, p, exp10);
        if (digits_value(up, p, e2) == ax) {
          memcpy(dig, up, (size_t)p);
          exp10 = e2;
          break;
        }
      }
    }
    if (p == 17) {
      exp10 = round_digits(ax, p, dig);
    }
  }
  while (p > 1 && dig[p - 1] == '0') {
    p--;
  }
  *decpt = exp10 + 1;
  return p;
}

/*
 * repr(x) for a finite double, as CPython's format_float_short does it for
 * 'r': exponent notation when the decimal point would sit more than 16
 * digits right or 4 or more zeros left ("1e+16", "1e-05"), else positional
 * with at least one digit after the point ("1.0", "0.0001").
 */
static size_t format_double(double x, char* out) {
  char dig[24];
  int nd;
  int decpt;
  char* o = out;
  if (signbit(x)) {
    *o++ = '-';
    x = -x;
  }
  if (x == 0) {
    dig[0] = '0';
    nd = 1;
    decpt = 1;
  } else {
    nd = shortest_digits(x, dig, &decpt);
  }
  int use_exp = decpt <= -4 || decpt > 16;
  int exp = 0;
  if (use_exp) {
    exp = decpt - 1;
    decpt = 1;
  }
  int vstart = decpt <= 0 ? decpt - 1 : 0;
  int vend = nd;
  if (!use_exp) {
    vend = vend > decpt ? vend : decpt + 1;
  } else {
    vend = vend > decpt ? vend : decpt;
  }
  for (int i = vstart; i < vend; i++) {
    if (i == decpt) {
      *o++ = '.';
    }
    *o++ = (i >= 0 && i < nd) ? dig[i] : '0';
  }
  if (use_exp) {
    o += snprintf(o, 8, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  }
  return (size_t)(o - out);
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                                */

typedef struct {
  const char* s;
  size_t n;
  lua_Integer slot; /* where the key string is anchored in the key table */
} json_key;

typedef struct {
  const char* key; /* NULL for an array index */
  size_t n;
  lua_Integer index;
} json_step;

typedef struct {
  lua_State* L;
  char* buf;
  size_t len;
  size_t cap;
  int indent; /* -1: compact */
  int sort_keys;
  int ascii;
  int max_depth;
  int depth;         /* tables open */
  const void** open; /* those tables, outermost first */
  json_step* path;   /* how each open table reached its current child */
  json_key* keys;    /* object keys being sorted, a stack shared by levels */
  size_t nkeys;
  size_t keys_cap;
  int mt_array; /* stack slots */
  int mt_object;
  int keytab;
} json_encoder;

static int encoder_close(lua_State* L) {
  json_encoder* e = (json_encoder*)luaL_checkudata(L, 1, JSON_ENCODER);
  free(e->buf);
  e->buf = NULL;
  free(e->open);
  e->open = NULL;
  free(e->path);
  e->path = NULL;
  free(e->keys);
  e->keys = NULL;
  return 0;
}

static void grow(json_encoder* e, size_t need) {
  size_t cap = e->cap ? e->cap : 4096;
  while (cap - e->len < need) {
    if (cap > SIZE_MAX / 2) {
      luaL_error(e->L, "json: output too large");
    }
    cap *= 2;
  }
  char* p = (char*)realloc(e->buf, cap);
  if (p == NULL) {
    luaL_error(e->L, "json: out of memory");
  }
  e->buf = p;
  e->cap = cap;
}

static inline char* reserve(json_encoder* e, size_t n) {
  if (e->cap - e->len < n) {
    grow(e, n);
  }
  return e->buf + e->len;
}

static void put(json_encoder* e, const char* s, size_t n) {
  memcpy(reserve(e, n), s, n);
  e->len += n;
}

static void put_newline(json_encoder* e, int level) {
  if (e->indent < 0) {
    return;
  }
  size_t n = (size_t)e->indent * (size_t)level;
  char* o = reserve(e, n + 1);
  o[0] = '\n';
  memset(o + 1, ' ', n);
  e->len += n + 1;
}

static void put_integer(json_encoder* e, lua_Integer v) {
  char tmp[24];
  char* end = tmp + sizeof(tmp);
  char* p = end;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) {
    *--p = '-';
  }
  put(e, p, (size_t)(end - p));
}

static const char hexdigits[] = "0123456789abcdef";

static char* put_u_escape(char* o, unsigned v) {
  o[0] = '\\';
  o[1] = 'u';
  o[2] = hexdigits[(v >> 12) & 0xF];
  o[3] = hexdigits[(v >> 8) & 0xF];
  o[4] = hexdigits[(v >> 4) & 0xF];
  o[5] = hexdigits[v & 0xF];
  return o + 6;
}

/*
 * Write s as a JSON string, escaped as Python's json module does (with
 * ensure_ascii when e->ascii). Returns n, or the offset of the first byte
 * that is not well-formed UTF-8 (nothing sensible is written then).
 */
static size_t put_string(json_encoder* e, const char* str, size_t n) {
  const unsigned char* s = (const unsigned char*)str;
  unsigned limit = e->ascii ? 0x7F : 0x80; /* first byte not copied */
  char* o = reserve(e, n + 2);
  *o++ = '"';
  e->len++;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] >= 0x20 && s[j] < limit && s[j] != '"' &&
           s[j] != '\\') {
      j++;
    }
    if (j > i) {
      put(e, (const char*)s + i, j - i);
    }
    if (j >= n) {
      break;
    }
    unsigned c = s[j];
    o = reserve(e, 12);
    char* start = o;
    if (c >= 0x80) {
      uint32_t cp;
      size_t k = utf8_seq(s + j, n - j, &cp);
      if (k == 0) {
        return j;
      }
      if (!e->ascii) {
        memcpy(o, s + j, k);
        o += k;
      } else if (cp >= 0x10000) {
        cp -= 0x10000;
        o = put_u_escape(o, 0xD800 | (cp >> 10));
        o = put_u_escape(o, 0xDC00 | (cp & 0x3FF));
      } else {
        o = put_u_escape(o, cp);
      }
      i = j + k;
    } else {
      *o++ = '\\';
      switch (c) {
        case '"':
        case '\\':
          *o++ = (char)c;
          break;
        case '\b':
          *o++ = 'b';
          break;
        case '\f':
          *o++ = 'f';
          break;
        case '\n':
          *o++ = 'n';
          break;
        case '\r':
          *o++ = 'r';
          break;
        case '\t':
          *o++ = 't';
          break;
        default:
          o = put_u_escape(o - 1, c);
          break;
      }
      i = j + 1;
    }
    e->len += (size_t)(o - start);
  }
  *reserve(e, 1) = '"';
  e->len++;
  return n;
}

/* Append one step of a path: .name, ["odd key"] or [3]. */
static size_t format_step(const json_step* st, char* out, size_t size) {
  if (st->key == NULL) {
    return (size_t)snprintf(out, size, "[%lld]", (long long)st->index);
  }
  const unsigned char* k = (const unsigned char*)st->key;
  int ident = st->n > 0 && st->n <= 64 && !(k[0] >= '0' && k[0] <= '9');
  for (size_t i = 0; ident && i < st->n; i++) {
    ident = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
            (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
  }
  if (ident) {
    return (size_t)snprintf(out, size, ".%.*s", (int)st->n, st->key);
  }
  char tmp[200];
  size_t t = 0;
  for (size_t i = 0; i < st->n && t < 160; i++) {
    if (i == 40) {
      t += (size_t)snprintf(tmp + t, sizeof(tmp) - t, "...");
      break;
    }
    if (k[i] == '"' || k[i] == '\\') {
      tmp[t++] = '\\';
      tmp[t++] = (char)k[i];
    } else if (k[i] < 0x20 || k[i] >= 0x7F) {
      t += (size_t)snprintf(tmp + t, sizeof(tmp) - t, "\\x%02x", k[i]);
    } else {
      tmp[t++] = (char)k[i];
    }
  }
  tmp[t] = '\0';
  return (size_t)snprintf(out, size, "[\"%s\"]", tmp);
}

/* "$.a.b[2]" for the first levels steps of the path, shortened when deep. */
static void format_path(const json_encoder* e, int levels, char* out,
                        size_t size) {
  size_t n = (size_t)snprintf(out, size, "$");
  for (int i = 0; i < levels && n < size; i++) {
    if (levels > 24 && i == 8) {
      n += (size_t)snprintf(out + n, size - n, "...");
      i = levels - 12;
    }
    if (n < size) {
      n += format_step(&e->path[i], out + n, size - n);
    }
  }
}

/* Push "json: <path>: <what>" (path of the first levels steps); the caller
 * unwinds with -1 and json.encode returns it. */
static int encode_fail(json_encoder* e, int levels, const char* fmt, ...)
    __attribute__((format(printf, 3, 4), noinline));

static int encode_fail(json_encoder* e, int levels, const char* fmt, ...) {
  char path[1024];
  char what[1280];
  va_list ap;
  format_path(e, levels, path, sizeof(path));
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  lua_pushfstring(e->L, "json: %s: %s", path, what);
  return -1;
}

typedef struct {
  lua_Integer count;   /* keys */
  lua_Integer strings; /* string keys */
  lua_Integer ints;    /* positive integer keys */
  lua_Integer max;     /* the largest of those */
  int other_type;      /* type of a key that is neither, or LUA_TNONE */
} json_census;

/*
 * Count the keys of the table at idx by kind. With e, also push every
 * string key on e's key stack (and anchor it in the key table) for sorting.
 */
static void take_census(lua_State* L, int idx, json_census* c,
                        json_encoder* e) {
  memset(c, 0, sizeof(*c));
  c->other_type = LUA_TNONE;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    c->count++;
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING) {
      c->strings++;
      if (e != NULL) {
        if (e->nkeys == e->keys_cap) {
          size_t cap = e->keys_cap ? e->keys_cap * 2 : 64;
          json_key* k = (json_key*)realloc(e->keys, cap * sizeof(json_key));
          if (k == NULL) {
            luaL_error(L, "json: out of memory");
          }
          e->keys = k;
          e->keys_cap = cap;
        }
        json_key* k = &e->keys[e->nkeys++];
        k->s = lua_tolstring(L, -1, &k->n);
        k->slot = (lua_Integer)e->nkeys;
        lua_pushvalue(L, -1);
        lua_rawseti(L, e->keytab, k->slot);
      }
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      lua_Integer k = lua_tointeger(L, -1);
      c->ints++;
      if (k > c->max) {
        c->max = k;
      }
    } else if (c->other_type == LUA_TNONE) {
      c->other_type = kt;
    }
  }
}

enum { KIND_NONE, KIND_ARRAY, KIND_OBJECT };

/* Which mark the table at idx carries. */
static int table_mark(lua_State* L, int idx, int mt_array, int mt_object) {
  int kind = KIND_NONE;
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, mt_array)) {
      kind = KIND_ARRAY;
    } else if (lua_rawequal(L, -1, mt_object)) {
      kind = KIND_OBJECT;
    }
    lua_pop(L, 1);
  }
  return kind;
}

/* Is an unmarked table with this census an array (1), an object (0) or
 * neither (-1)? Keys exactly 1..n make an array; {} is an object. */
static int census_shape(const json_census* c) {
  if (c->strings == c->count) {
    return 0;
  }
  if (c->ints == c->count && c->max == c->count) {
    return 1;
  }
  return -1;
}

static int compare_keys(const void* a, const void* b) {
  const json_key* x = (const json_key*)a;
  const json_key* y = (const json_key*)b;
  int r = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  if (r != 0) {
    return r;
  }
  return x->n < y->n ? -1 : x->n > y->n;
}

static int encode_value(json_encoder* e, int idx);

static int encode_key(json_encoder* e, const char* k, size_t n) {
  size_t bad = put_string(e, k, n);
  if (bad < n) {
    return encode_fail(e, e->depth - 1,
                       "invalid UTF-8 in object key at byte %zu", bad);
  }
  if (e->indent >= 0) {
    put(e, ": ", 2);
  } else {
    put(e, ":", 1);
  }
  return 0;
}

static int encode_array(json_encoder* e, int idx, lua_Integer n) {
  lua_State* L = e->L;
  json_step* step = &e->path[e->depth - 1];
  put(e, "[", 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) {
      put(e, ",", 1);
    }
    put_newline(e, e->depth);
    step->key = NULL;
    step->index = i;
    lua_rawgeti(L, idx, i);
    if (encode_value(e, lua_gettop(L)) < 0) {
      return -1;
    }
    lua_pop(L, 1);
  }
  if (n > 0) {
    put_newline(e, e->depth - 1);
  }
  put(e, "]", 1);
  return 0;
}

static int encode_object(json_encoder* e, int idx, size_t kbase,
                         lua_Integer n) {
  lua_State* L = e->L;
  put(e, "{", 1);
  if (e->sort_keys) {
    if (n > 1) {
      qsort(e->keys + kbase, (size_t)n, sizeof(json_key), compare_keys);
    }
    for (lua_Integer i = 0; i < n; i++) {
      /* e->keys may move while the value is encoded: copy the entry. */
      json_key k = e->keys[kbase + (size_t)i];
      if (i > 0) {
        put(e, ",", 1);
      }
      put_newline(e, e->depth);
      if (encode_key(e, k.s, k.n) < 0) {
        return -1;
      }
      json_step* step = &e->path[e->depth - 1];
      step->key = k.s;
      step->n = k.n;
      lua_rawgeti(L, e->keytab, k.slot);
      lua_rawget(L, idx);
      if (encode_value(e, lua_gettop(L)) < 0) {
        return -1;
      }
      lua_pop(L, 1);
    }
  } else {
    lua_Integer i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* stack: key, value */
      size_t kn;
      const char* k = lua_tolstring(L, -2, &kn); /* a string: checked */
      if (i++ > 0) {
        put(e, ",", 1);
      }
      put_newline(e, e->depth);
      if (encode_key(e, k, kn) < 0) {
        return -1;
      }
      json_step* step = &e->path[e->depth - 1];
      step->key = k;
      step->n = kn;
      if (encode_value(e, lua_gettop(L)) < 0) {
        return -1;
      }
      lua_pop(L, 1);
    }
  }
  if (n > 0) {
    put_newline(e, e->depth - 1);
  }
  put(e, "}", 1);
  return 0;
}

/* Out of line, like encode_fail: its buffers must not weigh on every
 * level of the encoder's recursion (up to JSON_MAX_DEPTH levels deep). */
static __attribute__((noinline)) int cycle_fail(json_encoder* e, int level) {
  char where[1024];
  format_path(e, level, where, sizeof(where));
  return encode_fail(e, e->depth,
                     "cycle: the table is already being encoded at %s", where);
}

static int encode_table(json_encoder* e, int idx) {
  lua_State* L = e->L;
  const void* self = lua_topointer(L, idx);
  for (int i = 0; i < e->depth; i++) {
    if (e->open[i] == self) {
      return cycle_fail(e, i);
    }
  }
  if (e->depth >= e->max_depth) {
    return encode_fail(e, e->depth, "too deeply nested (max_depth %d)",
                       e->max_depth);
  }
  if (!lua_checkstack(L, 8)) {
    return encode_fail(e, e->depth, "nesting too deep for the Lua stack");
  }
  int kind = table_mark(L, idx, e->mt_array, e->mt_object);
  size_t kbase = e->nkeys;
  json_census c;
  take_census(L, idx, &c, e->sort_keys && kind != KIND_ARRAY ? e : NULL);
  int as_array;
  if (kind == KIND_ARRAY) {
    if (c.ints != c.count || c.max != c.count) {
      return encode_fail(e, e->depth,
                         "array has keys other than 1..n (%lld keys, "
                         "largest index %lld)",
                         (long long)c.count, (long long)c.max);
    }
    as_array = 1;
  } else if (kind == KIND_OBJECT) {
    if (c.strings != c.count) {
      return encode_fail(
          e, e->depth, "object key must be a string, got %s",
          c.other_type != LUA_TNONE ? lua_typename(L, c.other_type) : "number");
    }
    as_array = 0;
  } else {
    as_array = census_shape(&c);
    if (as_array < 0) {
      return encode_fail(e, e->depth,
                         "table is neither an array (keys 1..n) nor an "
                         "object (string keys)");
    }
  }
  e->open[e->depth++] = self;
  int r = as_array ? encode_array(e, idx, c.count)
                   : encode_object(e, idx, kbase, c.count);
  if (r < 0) {
    return r;
  }
  e->depth--;
  e->nkeys = kbase;
  return 0;
}

/* Out of line: its buffer must not weigh on every level of the recursion
 * through encode_value. */
static __attribute__((noinline)) void put_double(json_encoder* e, double x) {
  char tmp[40];
  put(e, tmp, format_double(x, tmp));
}

static int encode_value(json_encoder* e, int idx) {
  lua_State* L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) {
        put(e, "true", 4);
      } else {
        put(e, "false", 5);
      }
      return 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        put_integer(e, lua_tointeger(L, idx));
      } else {
        double x = (double)lua_tonumber(L, idx);
        if (!isfinite(x)) {
          return encode_fail(e, e->depth, "cannot encode %s",
                             isnan(x) ? "NaN"
                             : x > 0  ? "Infinity"
                                      : "-Infinity");
        }
        put_double(e, x);
      }
      return 0;
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);
      size_t bad = put_string(e, s, n);
      if (bad < n) {
        return encode_fail(e, e->depth, "invalid UTF-8 in string at byte %zu",
                           bad);
      }
      return 0;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == JSON_NULL) {
        put(e, "null", 4);
        return 0;
      }
      return encode_fail(e, e->depth,
                         "cannot encode a light userdata other than "
                         "json.null");
    case LUA_TTABLE:
      return encode_table(e, idx);
    default:
      return encode_fail(e, e->depth, "cannot encode a %s value",
                         luaL_typename(L, idx));
  }
}

/* json.encode(value[, opts]) -> string | nil, msg, "encode" */
static int json_encode(lua_State* L) {
  static const char* const names[] = {"canonical", "ensure_ascii", "indent",
                                      "max_depth", "sort_keys",    NULL};
  luaL_checkany(L, 1);
  int indent = -1;
  int sort_keys = 0;
  int ascii = 0;
  int max_depth = JSON_DEFAULT_DEPTH;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_option_names(L, 2, names);
    int canonical = bool_option(L, 2, "canonical");
    int sk = bool_option(L, 2, "sort_keys");
    int ea = bool_option(L, 2, "ensure_ascii");
    lua_getfield(L, 2, "indent");
    int has_indent = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (canonical == 1) {
      if (sk >= 0 || ea >= 0 || has_indent) {
        luaL_argerror(L, 2,
                      "option 'canonical' fixes indent, sort_keys and "
                      "ensure_ascii");
      }
      indent = 2;
      sk = 1;
      ea = 1;
    } else {
      indent = int_option(L, 2, "indent", -1, 0, 64);
    }
    sort_keys = sk == 1;
    ascii = ea == 1;
    max_depth =
        int_option(L, 2, "max_depth", JSON_DEFAULT_DEPTH, 1, JSON_MAX_DEPTH);
  }
  lua_settop(L, 2);
  json_encoder* e = (json_encoder*)lua_newuserdatauv(L, sizeof(*e), 0);
  memset(e, 0, sizeof(*e));
  luaL_setmetatable(L, JSON_ENCODER);
  lua_toclose(L, -1);
  e->L = L;
  e->indent = indent;
  e->sort_keys = sort_keys;
  e->ascii = ascii;
  e->max_depth = max_depth;
  e->open = (const void**)malloc(sizeof(void*) * (size_t)max_depth);
  e->path = (json_step*)malloc(sizeof(json_step) * (size_t)max_depth);
  if (e->open == NULL || e->path == NULL) {
    return luaL_error(L, "json: out of memory");
  }
  grow(e, 1); /* e->buf is never NULL from here */
  luaL_getmetatable(L, JSON_ARRAY_MT);
  e->mt_array = lua_gettop(L);
  luaL_getmetatable(L, JSON_OBJECT_MT);
  e->mt_object = lua_gettop(L);
  lua_newtable(L);
  e->keytab = lua_gettop(L);
  if (lua_isnil(L, 1)) {
    return sw_fail(L, "encode", "json: $: cannot encode nil");
  }
  if (encode_value(e, 1) < 0) {
    return sw_fail(L, "encode", "%s", lua_tostring(L, -1));
  }
  lua_pushlstring(L, e->buf, e->len);
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Marks and types                                                         */

static int mark(lua_State* L, const char* mt) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
  }
  luaL_setmetatable(L, mt);
  return 1;
}

/* json.array([t]) -> t, marked as an array */
static int json_array(lua_State* L) { return mark(L, JSON_ARRAY_MT); }

/* json.object([t]) -> t, marked as an object */
static int json_object(lua_State* L) { return mark(L, JSON_OBJECT_MT); }

/* The JSON type of the value at idx, or NULL. */
static const char* type_of(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      return "boolean";
    case LUA_TNUMBER:
      return "number";
    case LUA_TSTRING:
      return "string";
    case LUA_TLIGHTUSERDATA:
      return lua_touserdata(L, idx) == JSON_NULL ? "null" : NULL;
    case LUA_TTABLE: {
      luaL_getmetatable(L, JSON_ARRAY_MT);
      luaL_getmetatable(L, JSON_OBJECT_MT);
      int top = lua_gettop(L);
      int kind = table_mark(L, idx, top - 1, top);
      lua_pop(L, 2);
      if (kind != KIND_NONE) {
        return kind == KIND_ARRAY ? "array" : "object";
      }
      json_census c;
      take_census(L, idx, &c, NULL);
      int shape = census_shape(&c);
      return shape < 0 ? NULL : shape ? "array" : "object";
    }
    default:
      return NULL;
  }
}

/* json.is_array(v) -> boolean */
static int json_is_array(lua_State* L) {
  luaL_checkany(L, 1);
  const char* t = type_of(L, 1);
  lua_pushboolean(L, t != NULL && strcmp(t, "array") == 0);
  return 1;
}

/* json.type(v) -> "null"|"boolean"|"number"|"string"|"array"|"object"|nil */
static int json_type(lua_State* L) {
  luaL_checkany(L, 1);
  const char* t = type_of(L, 1);
  if (t == NULL) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, t);
  }
  return 1;
}

static const luaL_Reg json_functions[] = {{"array", json_array},
                                          {"decode", json_decode},
                                          {"decode_file", json_decode_file},
                                          {"encode", json_encode},
                                          {"is_array", json_is_array},
                                          {"object", json_object},
                                          {"type", json_type},
                                          {NULL, NULL}};

int luaopen_sw_json(lua_State* L) {
  pthread_once(&c_locale_once, c_locale_init);
  luaL_newmetatable(L, JSON_DECODER);
  lua_pushcfunction(L, decoder_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, decoder_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, JSON_ENCODER);
  lua_pushcfunction(L, encoder_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, encoder_close);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 2);

  luaL_newlib(L, json_functions);
  lua_pushlightuserdata(L, JSON_NULL);
  lua_setfield(L, -2, "null");
  luaL_newmetatable(L, JSON_ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  luaL_newmetatable(L, JSON_OBJECT_MT);
  lua_setfield(L, -2, "object_mt");
  return 1;
}
