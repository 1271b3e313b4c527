/*
 * http.c: sw.http, HTTP requests that yield the calling task.
 *
 * libcurl's multi socket API driven by the libuv loop, the glue of curl's
 * docs/examples/multi-uv.c: CURLMOPT_SOCKETFUNCTION starts and stops one
 * uv_poll per socket, CURLMOPT_TIMERFUNCTION drives one uv_timer, and every
 * curl_multi_socket_action is followed by draining curl_multi_info_read.
 * CURLINFO_PRIVATE maps an easy handle back to its request, whose task is
 * resumed with the result (the sleep shape of core/sched.c).
 *
 * Curl's callbacks never run Lua: they fill C buffers or files, bounded by
 * max_body and HTTP_MAX_HEADER_BYTES, and the Lua values are built once the
 * transfer is done, under lua_pcall on the main thread (so running out of
 * memory there fails the request, not the process), then moved to the
 * task's thread. Redirects are followed here, not by curl, so the rules
 * are ours and testable: only when asked, at most max_redirects, without
 * Authorization, Cookie or Host once the origin changes, and as GET after a
 * 303 (or a 301/302 answering a POST).
 *
 * One context per Lua state (the multi handle, its timer and polls) is made
 * on first use and torn down through sw_atclose when the state closes.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sw.h"

/* Bytes of response header lines accepted per request hop. */
#define HTTP_MAX_HEADER_BYTES (64 * 1024)
/* max_body defaults: in memory, and streamed to a file. */
#define HTTP_MAX_BODY_MEMORY ((lua_Integer)256 << 20)
#define HTTP_MAX_BODY_FILE ((lua_Integer)16 << 30)
#define HTTP_TIMEOUT 60.0
#define HTTP_CONNECT_TIMEOUT 30.0
#define HTTP_MAX_REDIRECTS 5
#define HTTP_USER_AGENT "scriptworker/" SW_VERSION

typedef struct http_ctx_s http_ctx_t;
typedef struct http_req_s http_req_t;

typedef struct {
  char* data;
  size_t len;
  size_t cap;
} http_buf_t;

/* One uv_poll per socket curl asks us to watch. */
typedef struct http_sock_s {
  uv_poll_t poll;
  curl_socket_t fd;
  http_ctx_t* ctx;
  struct http_sock_s* prev;
  struct http_sock_s* next;
} http_sock_t;

struct http_ctx_s {
  lua_State* L; /* the main thread */
  uv_loop_t* loop;
  CURLM* multi;
  uv_timer_t* timer; /* malloc'd; freed in its close callback */
  http_req_t* reqs;  /* every request not yet finished */
  http_sock_t* socks;
  int nreqs;
};

struct http_req_s {
  http_ctx_t* ctx;
  sw_task_t* task;
  CURL* easy;
  http_req_t* prev;
  http_req_t* next;
  char* method;             /* of the current hop */
  char* url;                /* of the current hop */
  struct curl_slist* lines; /* the caller's headers, "Name: value" */
  struct curl_slist* sent;  /* the ones sent on the current hop */
  /* The request body: a string anchored in the registry, or a file. */
  int has_body;
  int body_ref;
  const char* body;
  size_t body_len;
  size_t body_pos;
  FILE* body_fp;
  char* body_path;
  curl_off_t body_size;
  /* The response. */
  FILE* out_fp;
  char* out_path;
  http_buf_t head; /* header lines of the last response, status line cut */
  http_buf_t resp; /* the body, unless to_file */
  size_t head_bytes;
  curl_off_t bytes;
  curl_off_t max_body;
  int body_started; /* the first body byte of this hop arrived */
  int discard;      /* this hop's body belongs to a redirect we follow */
  int decompress;
  int follow;
  long max_redirects;
  long redirects;
  int cross_origin;  /* the origin changed: credentials are gone */
  int body_dropped;  /* a redirect turned the request into a GET */
  uint64_t deadline; /* uv_hrtime() in ms */
  double timeout;
  /* Set by a callback that aborted the transfer, or by a failed step. */
  const char* fail_code;
  char fail_msg[512];
  char errbuf[CURL_ERROR_SIZE];
};

static const char CTX_KEY = 'h';

static const char* const secret_params[] = {"access_token",
                                            "bewit",
                                            "sig",
                                            "signature",
                                            "token",
                                            "x-amz-credential",
                                            "x-amz-security-token",
                                            "x-amz-signature",
                                            "x-goog-credential",
                                            "x-goog-signature",
                                            NULL};

/* ---- small pieces ----------------------------------------------------- */

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void set_fail(http_req_t* req, const char* code, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_fail(http_req_t* req, const char* code, const char* fmt, ...) {
  if (req->fail_code != NULL) {
    return; /* the first cause wins */
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(req->fail_msg, sizeof(req->fail_msg), fmt, ap);
  va_end(ap);
  req->fail_code = code;
}

/* Appends n bytes, never growing the buffer beyond limit bytes. */
static int buf_add(http_buf_t* b, const char* p, size_t n, size_t limit) {
  if (n == 0) {
    return 0;
  }
  if (n > b->cap - b->len) {
    size_t need = b->len + n;
    size_t cap = b->cap != 0 ? b->cap : 1024;
    while (cap < need) {
      cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > limit) {
      cap = need > limit ? need : limit;
    }
    char* d = (char*)realloc(b->data, cap);
    if (d == NULL) {
      return -1;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static void buf_free(http_buf_t* b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static char* dup_string(const char* s) {
  size_t n = strlen(s) + 1;
  char* d = (char*)malloc(n);
  if (d != NULL) {
    memcpy(d, s, n);
  }
  return d;
}

/* RFC 9110 token characters: header names and methods. */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return 1;
  }
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char* s, size_t len) {
  if (len == 0) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (!is_tchar((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

static int is_ows(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* ---- header blocks ---------------------------------------------------- */

enum { LINE_FIELD, LINE_CONT, LINE_SKIP };

typedef struct {
  const char* name;
  size_t name_len;
  const char* value; /* trimmed of SP, HTAB and CR at both ends */
  size_t value_len;
} http_field_t;

/*
 * Reads the line at *p (up to '\n' or end) and advances *p. LINE_FIELD is
 * "name: value" with a token name; LINE_CONT an obsolete folded line (it
 * starts with SP or HTAB; value holds it trimmed); LINE_SKIP anything else
 * (blank lines, status lines, names that are not tokens).
 */
static int next_line(const char** p, const char* end, http_field_t* f) {
  const char* s = *p;
  const char* nl = (const char*)memchr(s, '\n', (size_t)(end - s));
  const char* e = nl != NULL ? nl : end;
  *p = nl != NULL ? nl + 1 : end;
  if (s == e) {
    return LINE_SKIP;
  }
  const char* v;
  int kind;
  if (*s == ' ' || *s == '\t') {
    v = s;
    kind = LINE_CONT;
  } else {
    const char* colon = (const char*)memchr(s, ':', (size_t)(e - s));
    if (colon == NULL || !is_token(s, (size_t)(colon - s))) {
      return LINE_SKIP;
    }
    f->name = s;
    f->name_len = (size_t)(colon - s);
    v = colon + 1;
    kind = LINE_FIELD;
  }
  while (v < e && is_ows(*v)) {
    v++;
  }
  while (e > v && is_ows(e[-1])) {
    e--;
  }
  f->value = v;
  f->value_len = (size_t)(e - v);
  return kind;
}

/*
 * Pushes {name = value} for the header lines of one response: names
 * lower-cased, values trimmed, a repeated field joined with ", ", a folded
 * line appended to its field with one space, anything malformed skipped.
 */
int sw_http_push_headers(lua_State* L, const char* block, size_t len) {
  luaL_checkstack(L, 6, "http headers");
  lua_newtable(L);
  int tbl = lua_gettop(L);
  int have_name = 0; /* the name of the last field sits at tbl + 1 */
  const char* p = block;
  const char* end = block + len;
  while (len > 0 && p < end) {
    http_field_t f;
    int kind = next_line(&p, end, &f);
    if (kind == LINE_SKIP || (kind == LINE_CONT && !have_name)) {
      lua_settop(L, tbl);
      have_name = 0;
      continue;
    }
    if (kind == LINE_FIELD) {
      lua_settop(L, tbl);
      luaL_Buffer b;
      char* lower = luaL_buffinitsize(L, &b, f.name_len);
      for (size_t i = 0; i < f.name_len; i++) {
        char c = f.name[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
      }
      luaL_pushresultsize(&b, f.name_len);
      have_name = 1;
    } else if (f.value_len == 0) {
      continue;
    }
    /* stack: tbl, name */
    lua_pushvalue(L, tbl + 1);
    int old = lua_rawget(L, tbl) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
    if (old && f.value_len == 0) {
      lua_settop(L, tbl + 1); /* nothing to add to a value */
      continue;
    }
    if (old) {
      /* stack: tbl, name, old */
      if (kind == LINE_CONT) {
        lua_pushliteral(L, " ");
      } else {
        lua_pushliteral(L, ", ");
      }
      lua_pushlstring(L, f.value, f.value_len);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, f.value, f.value_len);
    }
    /* stack: tbl, name, value */
    lua_pushvalue(L, tbl + 1);
    lua_insert(L, -2);
    lua_rawset(L, tbl);
  }
  lua_settop(L, tbl);
  return 1;
}

/* The value of the first field called name (lower case) in a block. */
static const char* find_field(const http_buf_t* b, const char* name,
                              size_t* vlen) {
  size_t nlen = strlen(name);
  const char* p = b->data;
  const char* end = b->data + b->len;
  while (b->len > 0 && p < end) {
    http_field_t f;
    if (next_line(&p, end, &f) == LINE_FIELD && f.name_len == nlen &&
        strncasecmp(f.name, name, nlen) == 0) {
      *vlen = f.value_len;
      return f.value;
    }
  }
  return NULL;
}

/* ---- URLs in messages ------------------------------------------------- */

/* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static int is_scheme_char(char c, int first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
    return 1;
  }
  return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

static int is_secret_param(const char* name, size_t len) {
  for (int i = 0; secret_params[i] != NULL; i++) {
    if (strlen(secret_params[i]) == len &&
        strncasecmp(secret_params[i], name, len) == 0) {
      return 1;
    }
  }
  return 0;
}

/*
 * Pushes url with its secrets replaced by "<redacted>": the password of the
 * userinfo and the values of the query parameters of secret_params (Hawk
 * bewits, S3 and CloudFront signatures, tokens).
 */
static void push_redacted_url(lua_State* L, const char* url, size_t len) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char* end = url + len;
  const char* p = url;
  /* The authority follows "scheme://" at the very start, nowhere else. */
  const char* sep = url;
  while (sep < end && is_scheme_char(*sep, sep == url)) {
    sep++;
  }
  if (sep > url && end - sep >= 3 && memcmp(sep, "://", 3) == 0) {
    const char* auth = sep + 3;
    const char* auth_end = auth;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' &&
           *auth_end != '#') {
      auth_end++;
    }
    const char* at = NULL;
    for (const char* q = auth; q < auth_end; q++) {
      if (*q == '@') {
        at = q;
      }
    }
    const char* colon =
        at != NULL ? (const char*)memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon != NULL) {
      luaL_addlstring(&b, p, (size_t)(colon + 1 - p));
      luaL_addstring(&b, "<redacted>");
      p = at;
    } else if (at != NULL) {
      /* A lone user name in a URL is a token more often than not. */
      luaL_addlstring(&b, p, (size_t)(auth - p));
      luaL_addstring(&b, "<redacted>");
      p = at;
    }
  }
  const char* query = (const char*)memchr(p, '?', (size_t)(end - p));
  if (query == NULL) {
    luaL_addlstring(&b, p, (size_t)(end - p));
    luaL_pushresult(&b);
    return;
  }
  luaL_addlstring(&b, p, (size_t)(query + 1 - p));
  p = query + 1;
  const char* qend = (const char*)memchr(p, '#', (size_t)(end - p));
  if (qend == NULL) {
    qend = end;
  }
  while (p < qend) {
    const char* amp = (const char*)memchr(p, '&', (size_t)(qend - p));
    const char* pend = amp != NULL ? amp : qend;
    const char* eq = (const char*)memchr(p, '=', (size_t)(pend - p));
    if (eq != NULL && is_secret_param(p, (size_t)(eq - p))) {
      luaL_addlstring(&b, p, (size_t)(eq + 1 - p));
      luaL_addstring(&b, "<redacted>");
    } else {
      luaL_addlstring(&b, p, (size_t)(pend - p));
    }
    if (amp != NULL) {
      luaL_addchar(&b, '&');
    }
    p = amp != NULL ? amp + 1 : qend;
  }
  luaL_addlstring(&b, qend, (size_t)(end - qend));
  luaL_pushresult(&b);
}

/* Pushes "http.request: METHOD URL: detail", URL and registered secrets
 * redacted. */
static void push_message(lua_State* L, const char* method, const char* url,
                         const char* detail) {
  push_redacted_url(L, url, strlen(url));
  lua_pushfstring(L, "http.request: %s %s: %s", method, lua_tostring(L, -1),
                  detail);
  size_t len;
  const char* s = lua_tolstring(L, -1, &len);
  sw_log_push_redacted(L, s, len);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* ---- the multi handle and the loop ------------------------------------ */

static void check_multi_info(http_ctx_t* ctx);

static void free_handle_cb(uv_handle_t* h) { free(h); }

/* Keeps the loop alive only while requests are in flight, so the
 * scheduler can still tell a deadlock from idle keep-alive sockets. */
static void ctx_set_ref(http_ctx_t* ctx) {
  int on = ctx->nreqs > 0;
  void (*fn)(uv_handle_t*) = on ? uv_ref : uv_unref;
  fn((uv_handle_t*)ctx->timer);
  for (http_sock_t* s = ctx->socks; s != NULL; s = s->next) {
    fn((uv_handle_t*)&s->poll);
  }
}

static void sock_close(http_ctx_t* ctx, http_sock_t* s) {
  if (s->prev != NULL) {
    s->prev->next = s->next;
  } else {
    ctx->socks = s->next;
  }
  if (s->next != NULL) {
    s->next->prev = s->prev;
  }
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t*)&s->poll, free_handle_cb);
}

static void on_poll(uv_poll_t* poll, int status, int events) {
  http_sock_t* s = (http_sock_t*)poll->data;
  http_ctx_t* ctx = s->ctx;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) {
      flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
      flags |= CURL_CSELECT_OUT;
    }
  }
  int running;
  /* s may be closed by this call: only ctx is used afterwards. */
  CURLMcode mc = curl_multi_socket_action(ctx->multi, s->fd, flags, &running);
  if (mc != CURLM_OK) {
    sw_log(ctx->L, SW_LOG_ERROR, "http: curl_multi_socket_action: %s",
           curl_multi_strerror(mc));
  }
  check_multi_info(ctx);
}

static void on_timer(uv_timer_t* timer) {
  http_ctx_t* ctx = (http_ctx_t*)timer->data;
  int running;
  CURLMcode mc =
      curl_multi_socket_action(ctx->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  if (mc != CURLM_OK) {
    sw_log(ctx->L, SW_LOG_ERROR, "http: curl_multi_socket_action: %s",
           curl_multi_strerror(mc));
  }
  check_multi_info(ctx);
}

/* CURLMOPT_SOCKETFUNCTION: what to watch on socket fd. */
static int socket_cb(CURL* easy, curl_socket_t fd, int what, void* userp,
                     void* socketp) {
  (void)easy;
  http_ctx_t* ctx = (http_ctx_t*)userp;
  http_sock_t* s = (http_sock_t*)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      curl_multi_assign(ctx->multi, fd, NULL);
      sock_close(ctx, s);
    }
    return 0;
  }
  if (s == NULL) {
    s = (http_sock_t*)calloc(1, sizeof(*s));
    if (s == NULL) {
      return -1;
    }
    if (uv_poll_init_socket(ctx->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    s->fd = fd;
    s->ctx = ctx;
    s->next = ctx->socks;
    if (ctx->socks != NULL) {
      ctx->socks->prev = s;
    }
    ctx->socks = s;
    if (ctx->nreqs == 0) {
      uv_unref((uv_handle_t*)&s->poll);
    }
    if (curl_multi_assign(ctx->multi, fd, s) != CURLM_OK) {
      sock_close(ctx, s);
      return -1;
    }
  }
  int events = 0;
  if (what & CURL_POLL_IN) {
    events |= UV_READABLE;
  }
  if (what & CURL_POLL_OUT) {
    events |= UV_WRITABLE;
  }
  if (uv_poll_start(&s->poll, events, on_poll) != 0) {
    return -1;
  }
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: call socket_action(TIMEOUT) in ms milliseconds.
 * 0 becomes 1 so socket_action never runs inside curl's own call. */
static int timer_cb(CURLM* multi, long ms, void* userp) {
  (void)multi;
  http_ctx_t* ctx = (http_ctx_t*)userp;
  if (ms < 0) {
    uv_timer_stop(ctx->timer);
    return 0;
  }
  if (uv_timer_start(ctx->timer, on_timer, ms == 0 ? 1 : (uint64_t)ms, 0) !=
      0) {
    return -1;
  }
  return 0;
}

/* ---- requests --------------------------------------------------------- */

static void req_free(http_req_t* req) {
  http_ctx_t* ctx = req->ctx;
  if (req->easy != NULL) {
    curl_easy_cleanup(req->easy);
  }
  curl_slist_free_all(req->lines);
  curl_slist_free_all(req->sent);
  if (req->body_fp != NULL) {
    fclose(req->body_fp);
  }
  if (req->out_fp != NULL) {
    fclose(req->out_fp);
  }
  if (req->body_ref != LUA_NOREF) {
    luaL_unref(ctx->L, LUA_REGISTRYINDEX, req->body_ref);
  }
  free(req->method);
  free(req->url);
  free(req->body_path);
  free(req->out_path);
  buf_free(&req->head);
  buf_free(&req->resp);
  if (req->prev != NULL) {
    req->prev->next = req->next;
  } else {
    ctx->reqs = req->next;
  }
  if (req->next != NULL) {
    req->next->prev = req->prev;
  }
  ctx->nreqs--;
  if (ctx->nreqs == 0) {
    ctx_set_ref(ctx);
  }
  free(req);
}

/* Removes the easy handle; failures here only leak a connection. */
static void req_detach(http_req_t* req) {
  CURLMcode mc = curl_multi_remove_handle(req->ctx->multi, req->easy);
  if (mc != CURLM_OK) {
    sw_log(req->ctx->L, SW_LOG_WARN, "http: curl_multi_remove_handle: %s",
           curl_multi_strerror(mc));
  }
}

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

static long response_code(http_req_t* req) {
  long status = 0;
  if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status) !=
      CURLE_OK) {
    return 0;
  }
  return status;
}

/* Whether the response of this hop is a redirect we are going to follow. */
static int will_follow(http_req_t* req) {
  size_t vlen;
  return req->follow && is_redirect(response_code(req)) &&
         find_field(&req->head, "location", &vlen) != NULL;
}

static size_t header_cb(char* p, size_t size, size_t n, void* ud) {
  http_req_t* req = (http_req_t*)ud;
  size_t len = size * n;
  req->head_bytes += len;
  if (req->head_bytes > HTTP_MAX_HEADER_BYTES) {
    set_fail(req, "limit", "response headers exceed %d bytes",
             HTTP_MAX_HEADER_BYTES);
    return 0;
  }
  if (req->body_started) {
    return len; /* trailers */
  }
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    req->head.len = 0; /* a new response: a 1xx came before */
    return len;
  }
  if (buf_add(&req->head, p, len, HTTP_MAX_HEADER_BYTES) != 0) {
    set_fail(req, "curl", "out of memory");
    return 0;
  }
  return len;
}

/*
 * The first body byte of a hop: decide whether the body is kept (not when
 * it belongs to a redirect we follow), refuse a Content-Length above
 * max_body before keeping anything, and size the buffer once when the
 * length is known. Returns 0, or -1 with the failure recorded.
 */
static int body_begin(http_req_t* req) {
  req->body_started = 1;
  req->discard = will_follow(req);
  curl_off_t cl = -1;
  if (req->decompress ||
      curl_easy_getinfo(req->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) !=
          CURLE_OK) {
    return 0; /* decoded bodies have another length */
  }
  if (cl > req->max_body) {
    set_fail(req, "limit",
             "response body exceeds max_body (%lld bytes): Content-Length "
             "is %lld",
             (long long)req->max_body, (long long)cl);
    return -1;
  }
  if (cl > 0 && !req->discard && req->out_fp == NULL &&
      (size_t)cl > req->resp.cap) {
    char* d = (char*)realloc(req->resp.data, (size_t)cl);
    if (d != NULL) {
      req->resp.data = d;
      req->resp.cap = (size_t)cl;
    }
  }
  return 0;
}

static size_t write_cb(char* p, size_t size, size_t n, void* ud) {
  http_req_t* req = (http_req_t*)ud;
  size_t len = size * n;
  if (!req->body_started && body_begin(req) != 0) {
    return 0;
  }
  if ((curl_off_t)len > req->max_body - req->bytes) {
    set_fail(req, "limit", "response body exceeds max_body (%lld bytes)",
             (long long)req->max_body);
    return 0;
  }
  req->bytes += (curl_off_t)len;
  if (req->discard) {
    return len;
  }
  if (req->out_fp != NULL) {
    if (fwrite(p, 1, len, req->out_fp) != len) {
      set_fail(req, "file", "to_file %s: %s", req->out_path, strerror(errno));
      return 0;
    }
  } else if (buf_add(&req->resp, p, len, (size_t)req->max_body) != 0) {
    set_fail(req, "curl", "out of memory");
    return 0;
  }
  return len;
}

static size_t read_cb(char* buf, size_t size, size_t n, void* ud) {
  http_req_t* req = (http_req_t*)ud;
  size_t want = size * n;
  if (req->body_fp != NULL) {
    size_t got = fread(buf, 1, want, req->body_fp);
    if (got < want && ferror(req->body_fp)) {
      set_fail(req, "file", "body_file %s: %s", req->body_path,
               strerror(errno));
      return CURL_READFUNC_ABORT;
    }
    return got;
  }
  size_t left = req->body_len - req->body_pos;
  size_t k = want < left ? want : left;
  if (k > 0) {
    memcpy(buf, req->body + req->body_pos, k);
  }
  req->body_pos += k;
  return k;
}

/* Curl rewinds the body to resend it (a reused connection that died). */
static int seek_cb(void* ud, curl_off_t offset, int origin) {
  http_req_t* req = (http_req_t*)ud;
  if (origin != SEEK_SET || offset < 0 || offset > req->body_size) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  if (req->body_fp != NULL) {
    return fseeko(req->body_fp, (off_t)offset, SEEK_SET) == 0
               ? CURL_SEEKFUNC_OK
               : CURL_SEEKFUNC_FAIL;
  }
  req->body_pos = (size_t)offset;
  return CURL_SEEKFUNC_OK;
}

static const char* code_for(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "resolve";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return "tls";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return "closed";
    case CURLE_FILESIZE_EXCEEDED:
      return "limit";
    default:
      return "curl";
  }
}

/* Whether line "Name: value" (or "Name;" / "Name:") names one of names. */
static int line_is(const char* line, const char* const* names) {
  size_t n = strcspn(line, ":;");
  for (int i = 0; names[i] != NULL; i++) {
    if (strlen(names[i]) == n && strncasecmp(line, names[i], n) == 0) {
      return 1;
    }
  }
  return 0;
}

static const char* const credential_headers[] = {"authorization", "cookie",
                                                 "host", NULL};
static const char* const body_headers[] = {
    "content-encoding", "content-language", "content-length",
    "content-location", "content-type",     NULL};

#define SETOPT(easy, opt, val)                       \
  do {                                               \
    CURLcode rc_ = curl_easy_setopt(easy, opt, val); \
    if (rc_ != CURLE_OK) {                           \
      return rc_;                                    \
    }                                                \
  } while (0)

/* The options of the current hop: URL, headers, method, body, timeout. */
static CURLcode hop_options(http_req_t* req, long timeout_ms) {
  CURL* e = req->easy;
  curl_slist_free_all(req->sent);
  req->sent = NULL;
  for (struct curl_slist* l = req->lines; l != NULL; l = l->next) {
    if (req->cross_origin && line_is(l->data, credential_headers)) {
      continue;
    }
    if (req->body_dropped && line_is(l->data, body_headers)) {
      continue;
    }
    struct curl_slist* n = curl_slist_append(req->sent, l->data);
    if (n == NULL) {
      return CURLE_OUT_OF_MEMORY;
    }
    req->sent = n;
  }
  SETOPT(e, CURLOPT_URL, req->url);
  SETOPT(e, CURLOPT_HTTPHEADER, req->sent);
  SETOPT(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  int is_put = strcmp(req->method, "PUT") == 0;
  if (req->has_body) {
    SETOPT(e, CURLOPT_NOBODY, 0L);
    SETOPT(e, CURLOPT_UPLOAD, 1L);
    SETOPT(e, CURLOPT_INFILESIZE_LARGE, req->body_size);
    SETOPT(e, CURLOPT_CUSTOMREQUEST, is_put ? NULL : req->method);
  } else if (strcmp(req->method, "HEAD") == 0) {
    SETOPT(e, CURLOPT_UPLOAD, 0L);
    SETOPT(e, CURLOPT_CUSTOMREQUEST, NULL);
    SETOPT(e, CURLOPT_NOBODY, 1L);
  } else {
    SETOPT(e, CURLOPT_UPLOAD, 0L);
    SETOPT(e, CURLOPT_HTTPGET, 1L);
    SETOPT(e, CURLOPT_CUSTOMREQUEST,
           strcmp(req->method, "GET") == 0 ? NULL : req->method);
  }
  return CURLE_OK;
}

/* The options every hop shares. */
static CURLcode req_options(http_req_t* req, double connect_timeout,
                            double low_speed_time, long low_speed_limit,
                            const char* user_agent, const char* cainfo) {
  CURL* e = req->easy;
  SETOPT(e, CURLOPT_PRIVATE, req);
  SETOPT(e, CURLOPT_NOSIGNAL, 1L);
  SETOPT(e, CURLOPT_ERRORBUFFER, req->errbuf);
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  SETOPT(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
  SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (cainfo != NULL) {
    SETOPT(e, CURLOPT_CAINFO, cainfo);
  }
  SETOPT(e, CURLOPT_USERAGENT, user_agent);
  SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000.0));
  if (low_speed_time > 0) {
    /* Whole seconds for curl: round up. */
    long secs = (long)low_speed_time;
    SETOPT(e, CURLOPT_LOW_SPEED_TIME,
           (double)secs < low_speed_time ? secs + 1 : secs);
    SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, low_speed_limit);
  }
  if (req->decompress) {
    SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(e, CURLOPT_HTTP_CONTENT_DECODING, 1L);
  } else {
    SETOPT(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  }
  SETOPT(e, CURLOPT_HEADERFUNCTION, header_cb);
  SETOPT(e, CURLOPT_HEADERDATA, req);
  SETOPT(e, CURLOPT_WRITEFUNCTION, write_cb);
  SETOPT(e, CURLOPT_WRITEDATA, req);
  SETOPT(e, CURLOPT_READFUNCTION, read_cb);
  SETOPT(e, CURLOPT_READDATA, req);
  SETOPT(e, CURLOPT_SEEKFUNCTION, seek_cb);
  SETOPT(e, CURLOPT_SEEKDATA, req);
  return CURLE_OK;
}

/*
 * Starts the current hop: resets the per-response state, rewinds the body
 * and adds the easy handle with what is left of the total timeout. Returns
 * 0, or -1 with the failure recorded.
 */
static int hop_start(http_req_t* req) {
  req->head.len = 0;
  req->resp.len = 0;
  req->head_bytes = 0;
  req->bytes = 0;
  req->body_started = 0;
  req->discard = 0;
  req->errbuf[0] = '\0';
  req->body_pos = 0;
  if (req->body_fp != NULL && fseeko(req->body_fp, 0, SEEK_SET) != 0) {
    set_fail(req, "file", "body_file %s: %s", req->body_path, strerror(errno));
    return -1;
  }
  uint64_t now = now_ms();
  if (now >= req->deadline) {
    set_fail(req, "timeout", "timed out after %g seconds (timeout)",
             req->timeout);
    return -1;
  }
  CURLcode rc = hop_options(req, (long)(req->deadline - now));
  if (rc != CURLE_OK) {
    set_fail(req, "curl", "%s", curl_easy_strerror(rc));
    return -1;
  }
  CURLMcode mc = curl_multi_add_handle(req->ctx->multi, req->easy);
  if (mc != CURLM_OK) {
    set_fail(req, "curl", "%s", curl_multi_strerror(mc));
    return -1;
  }
  return 0;
}

static int url_part(CURLU* u, CURLUPart part, char** out) {
  return curl_url_get(u, part, out, CURLU_DEFAULT_PORT) == CURLUE_OK ? 0 : -1;
}

/*
 * Points the request at the Location of the response of this hop, per
 * RFC 9110 15.4 and the Fetch standard: relative references resolve
 * against the current URL, only http and https are followed, 303 (and 301
 * or 302 answering a POST) become GET without a body, and once the scheme,
 * host or port change the credentials stay behind. Returns 0 or -1.
 */
static int redirect(http_req_t* req, long status) {
  size_t vlen = 0;
  const char* loc = find_field(&req->head, "location", &vlen);
  if (req->redirects >= req->max_redirects) {
    set_fail(req, "redirect", "too many redirects (max_redirects is %ld)",
             req->max_redirects);
    return -1;
  }
  char* target = (char*)malloc(vlen + 1);
  CURLU* base = curl_url();
  CURLU* next = curl_url();
  char* parts[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  char* url = NULL;
  int ok = 0;
  if (target == NULL || base == NULL || next == NULL) {
    set_fail(req, "curl", "out of memory");
    goto done;
  }
  memcpy(target, loc, vlen);
  target[vlen] = '\0';
  if (curl_url_set(base, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
      curl_url_set(next, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
      curl_url_set(next, CURLUPART_URL, target,
                   CURLU_URLENCODE | CURLU_ALLOW_SPACE) != CURLUE_OK ||
      url_part(next, CURLUPART_URL, &url) != 0) {
    set_fail(req, "redirect", "%ld with an invalid Location header", status);
    goto done;
  }
  if (url_part(next, CURLUPART_SCHEME, &parts[3]) != 0) {
    set_fail(req, "redirect", "%ld with an invalid Location header", status);
    goto done;
  }
  if (strcasecmp(parts[3], "http") != 0 && strcasecmp(parts[3], "https") != 0) {
    set_fail(req, "redirect",
             "%ld to a %s URL, only http and https are followed", status,
             parts[3]);
    goto done;
  }
  if (url_part(base, CURLUPART_SCHEME, &parts[0]) != 0 ||
      url_part(base, CURLUPART_HOST, &parts[1]) != 0 ||
      url_part(base, CURLUPART_PORT, &parts[2]) != 0 ||
      url_part(next, CURLUPART_HOST, &parts[4]) != 0 ||
      url_part(next, CURLUPART_PORT, &parts[5]) != 0) {
    set_fail(req, "redirect", "%ld with an invalid Location header", status);
    goto done;
  }
  if (strcasecmp(parts[0], parts[3]) != 0 ||
      strcasecmp(parts[1], parts[4]) != 0 || strcmp(parts[2], parts[5]) != 0) {
    req->cross_origin = 1;
  }
  int to_get = status == 303 ? strcmp(req->method, "HEAD") != 0
                             : (status == 301 || status == 302) &&
                                   strcmp(req->method, "POST") == 0;
  if (to_get) {
    char* get = dup_string("GET");
    if (get == NULL) {
      set_fail(req, "curl", "out of memory");
      goto done;
    }
    free(req->method);
    req->method = get;
    req->body_dropped = req->has_body;
    req->has_body = 0;
  }
  char* copy = dup_string(url);
  if (copy == NULL) {
    set_fail(req, "curl", "out of memory");
    goto done;
  }
  free(req->url);
  req->url = copy;
  req->redirects++;
  ok = 1;
done:
  for (int i = 0; i < 6; i++) {
    curl_free(parts[i]);
  }
  curl_free(url);
  curl_url_cleanup(base);
  curl_url_cleanup(next);
  free(target);
  return ok ? 0 : -1;
}

/* Pushes what http.request returns for req on an empty stack; run under
 * lua_pcall (by sw_task_resume, or outcome below). */
static int push_outcome(lua_State* L, void* data) {
  http_req_t* req = (http_req_t*)data;
  lua_State* co = sw_task_thread(req->task);
  if (req->fail_code != NULL) {
    lua_pushnil(L);
    /* Both are NULL only when copying them ran out of memory. */
    push_message(L, req->method != NULL ? req->method : "?",
                 req->url != NULL ? req->url : "?", req->fail_msg);
    lua_pushstring(L, req->fail_code);
    if (sw_log_enabled(SW_LOG_DEBUG)) {
      sw_log(co, SW_LOG_DEBUG, "%s (%s)", lua_tostring(L, 2), req->fail_code);
    }
    return 3;
  }
  if (sw_log_enabled(SW_LOG_DEBUG)) {
    push_redacted_url(L, req->url, strlen(req->url));
    sw_log(co, SW_LOG_DEBUG, "http.request: %s %s: %ld, %lld bytes",
           req->method, lua_tostring(L, -1), response_code(req),
           (long long)req->bytes);
    lua_pop(L, 1);
  }
  char* eff = NULL;
  if (curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK ||
      eff == NULL) {
    eff = req->url;
  }
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer)response_code(req));
  lua_setfield(L, -2, "status");
  sw_http_push_headers(L, req->head.data, req->head.len);
  lua_setfield(L, -2, "headers");
  if (req->out_path == NULL) {
    lua_pushlstring(L, req->resp.data != NULL ? req->resp.data : "",
                    req->resp.len);
    lua_setfield(L, -2, "body");
  }
  lua_pushstring(L, eff);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, (lua_Integer)req->redirects);
  lua_setfield(L, -2, "redirects");
  lua_pushinteger(L, (lua_Integer)req->bytes);
  lua_setfield(L, -2, "bytes");
  return 1;
}

static int push_outcome_pcalled(lua_State* L) {
  http_req_t* req = (http_req_t*)lua_touserdata(L, 1);
  lua_settop(L, 0);
  return push_outcome(L, req);
}

/* Pushes the outcome of a request that never started on L and returns how
 * many values. */
static int outcome(lua_State* L, http_req_t* req) {
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) {
    return 0;
  }
  lua_pushcfunction(L, push_outcome_pcalled);
  lua_pushlightuserdata(L, req);
  if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushliteral(L, "http.request: out of memory");
    lua_pushliteral(L, "curl");
  }
  return lua_gettop(L) - top;
}

/* The request is over: resume its task with the outcome. */
static void req_finish(http_req_t* req) {
  if (req->out_fp != NULL) {
    FILE* fp = req->out_fp;
    req->out_fp = NULL;
    if (fclose(fp) != 0) {
      set_fail(req, "file", "to_file %s: %s", req->out_path, strerror(errno));
    }
  }
  if (req->body_fp != NULL) {
    fclose(req->body_fp);
    req->body_fp = NULL;
  }
  /* req stays listed until it is freed, after the task has run: nothing
   * the task does reaches it, since the resume cleared its pending
   * operation. */
  sw_task_resume(req->task, push_outcome, req);
  req_free(req);
}

/* CURLMSG_DONE for req: follow a redirect or finish. */
static void req_done(http_req_t* req, CURLcode rc) {
  req_detach(req);
  if (rc == CURLE_OK && req->fail_code == NULL) {
    long status = response_code(req);
    if (will_follow(req)) {
      if (redirect(req, status) == 0 && hop_start(req) == 0) {
        return;
      }
    }
  } else if (req->fail_code == NULL) {
    set_fail(req, code_for(rc), "%s",
             req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror(rc));
  }
  req_finish(req);
}

static void check_multi_info(http_ctx_t* ctx) {
  for (;;) {
    int pending;
    CURLMsg* msg = curl_multi_info_read(ctx->multi, &pending);
    if (msg == NULL) {
      break;
    }
    if (msg->msg != CURLMSG_DONE) {
      continue;
    }
    CURLcode rc = msg->data.result;
    char* priv = NULL;
    if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) !=
            CURLE_OK ||
        priv == NULL) {
      continue;
    }
    /* Resumes a task, which may start or cancel other requests: curl
     * drops the messages of removed handles, so the loop stays valid. */
    req_done((http_req_t*)priv, rc);
  }
}

/* The task was cancelled: stop the transfer, never resume. */
static void req_cancel(void* data) {
  http_req_t* req = (http_req_t*)data;
  req_detach(req);
  req_free(req);
}

/* ---- the context ------------------------------------------------------ */

/* At lua_close: drop every request, then curl, then our handles. */
static void ctx_close(void* data) {
  http_ctx_t* ctx = (http_ctx_t*)data;
  while (ctx->reqs != NULL) {
    http_req_t* req = ctx->reqs;
    sw_task_clear_pending(req->task);
    req_detach(req);
    req_free(req);
  }
  /* May call socket_cb to remove sockets, so the handles go after it. */
  curl_multi_cleanup(ctx->multi);
  while (ctx->socks != NULL) {
    sock_close(ctx, ctx->socks);
  }
  uv_timer_stop(ctx->timer);
  uv_close((uv_handle_t*)ctx->timer, free_handle_cb);
  lua_pushboolean(ctx->L, 0);
  lua_rawsetp(ctx->L, LUA_REGISTRYINDEX, &CTX_KEY);
  curl_global_cleanup();
  free(ctx);
}

static http_ctx_t* ctx_get(lua_State* L) {
  int type = lua_rawgetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
  http_ctx_t* ctx = (http_ctx_t*)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (type == LUA_TLIGHTUSERDATA) {
    return ctx;
  }
  if (type != LUA_TNIL) {
    luaL_error(L, "http.request: the event loop is closed");
  }
  uv_loop_t* loop = sw_loop(L);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    luaL_error(L, "http.request: curl_global_init failed");
  }
  ctx = (http_ctx_t*)calloc(1, sizeof(*ctx));
  uv_timer_t* timer = (uv_timer_t*)malloc(sizeof(uv_timer_t));
  CURLM* multi = curl_multi_init();
  if (ctx == NULL || timer == NULL || multi == NULL ||
      sw_atclose(L, ctx_close, ctx) != 0) {
    free(ctx);
    free(timer);
    if (multi != NULL) {
      curl_multi_cleanup(multi);
    }
    curl_global_cleanup();
    luaL_error(L, "http.request: out of memory");
  }
  uv_timer_init(loop, timer);
  timer->data = ctx;
  uv_unref((uv_handle_t*)timer);
  ctx->timer = timer;
  ctx->multi = multi;
  ctx->loop = loop;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ctx->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb) !=
          CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, ctx) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERDATA, ctx) != CURLM_OK) {
    luaL_error(L, "http.request: cannot set up the curl multi handle");
  }
  lua_pushlightuserdata(L, ctx);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
  return ctx;
}

/* ---- http.request ----------------------------------------------------- */

typedef struct {
  const char* method;
  const char* url;
  const char* body_file;
  const char* to_file;
  const char* user_agent;
  const char* cainfo;
  int headers_idx; /* 0 when absent */
  int body_idx;
  double timeout;
  double connect_timeout;
  double low_speed_time;
  lua_Integer low_speed_limit;
  lua_Integer max_body;
  lua_Integer max_redirects;
  int follow;
  int decompress;
} http_opts_t;

static const char* const option_names[] = {"body",
                                           "body_file",
                                           "cainfo",
                                           "connect_timeout",
                                           "decompress",
                                           "follow_redirects",
                                           "headers",
                                           "low_speed_limit",
                                           "low_speed_time",
                                           "max_body",
                                           "max_redirects",
                                           "method",
                                           "timeout",
                                           "to_file",
                                           "url",
                                           "user_agent",
                                           NULL};

/* Pushes opts[key] (raw, so the value stays anchored by the table). */
static int opt_get(lua_State* L, const char* key) {
  lua_pushstring(L, key);
  return lua_rawget(L, 1);
}

static const char* opt_string(lua_State* L, const char* key, const char* def) {
  int t = opt_get(L, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (t != LUA_TSTRING) {
    luaL_error(L, "http.request: option '%s' must be a string, got %s", key,
               luaL_typename(L, -1));
  }
  size_t len;
  const char* s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) {
    luaL_error(L, "http.request: option '%s' contains a NUL byte", key);
  }
  lua_pop(L, 1);
  return s;
}

static double opt_seconds(lua_State* L, const char* key, double def) {
  int t = opt_get(L, key);
  double v = def;
  if (t != LUA_TNIL) {
    v = (double)lua_tonumber(L, -1);
    if (t != LUA_TNUMBER || !(v > 0) || v > 1e6) {
      luaL_error(L,
                 "http.request: option '%s' must be a number of seconds "
                 "above 0 and at most 1e6",
                 key);
    }
  }
  lua_pop(L, 1);
  return v;
}

static lua_Integer opt_count(lua_State* L, const char* key, lua_Integer def) {
  int t = opt_get(L, key);
  lua_Integer v = def;
  if (t != LUA_TNIL) {
    int isint = 0;
    v = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint || v < 0) {
      luaL_error(L, "http.request: option '%s' must be an integer >= 0", key);
    }
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State* L, const char* key) {
  int t = opt_get(L, key);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
    luaL_error(L, "http.request: option '%s' must be a boolean, got %s", key,
               luaL_typename(L, -1));
  }
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Raises on a bad header table; header values may be false (remove curl's
 * own header of that name). */
static void check_headers(lua_State* L, int idx) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    /* stack: key, value */
    if (lua_type(L, -2) != LUA_TSTRING) {
      luaL_error(L, "http.request: header names must be strings, got %s",
                 luaL_typename(L, -2));
    }
    size_t nlen;
    const char* name = lua_tolstring(L, -2, &nlen);
    if (!is_token(name, nlen)) {
      luaL_error(L, "http.request: header name '%s' is not a valid token",
                 name);
    }
    int vt = lua_type(L, -1);
    if (vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (vt != LUA_TSTRING) {
      luaL_error(L,
                 "http.request: header '%s' must be a string or false, got %s",
                 name, luaL_typename(L, -1));
    }
    size_t vlen;
    const char* v = lua_tolstring(L, -1, &vlen);
    for (size_t i = 0; i < vlen; i++) {
      if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') {
        luaL_error(L, "http.request: header '%s' contains CR, LF or NUL", name);
      }
    }
    lua_pop(L, 1);
  }
}

static void parse_opts(lua_State* L, http_opts_t* o) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char* k = lua_tostring(L, -1);
      for (int i = 0; option_names[i] != NULL; i++) {
        known = known || strcmp(k, option_names[i]) == 0;
      }
    }
    if (!known) {
      luaL_error(L, "http.request: unknown option '%s'",
                 luaL_tolstring(L, -1, NULL));
    }
  }
  memset(o, 0, sizeof(*o));
  o->url = opt_string(L, "url", NULL);
  if (o->url == NULL) {
    luaL_error(L, "http.request: option 'url' is required");
  }
  o->method = opt_string(L, "method", "GET");
  if (!is_token(o->method, strlen(o->method))) {
    luaL_error(L, "http.request: method '%s' is not a valid token", o->method);
  }
  o->body_file = opt_string(L, "body_file", NULL);
  o->to_file = opt_string(L, "to_file", NULL);
  o->user_agent = opt_string(L, "user_agent", HTTP_USER_AGENT);
  o->cainfo = opt_string(L, "cainfo", NULL);
  o->timeout = opt_seconds(L, "timeout", HTTP_TIMEOUT);
  o->connect_timeout = opt_seconds(L, "connect_timeout", HTTP_CONNECT_TIMEOUT);
  o->low_speed_time = opt_seconds(L, "low_speed_time", 0);
  o->low_speed_limit = opt_count(L, "low_speed_limit", 1);
  o->max_body =
      opt_count(L, "max_body",
                o->to_file != NULL ? HTTP_MAX_BODY_FILE : HTTP_MAX_BODY_MEMORY);
  o->max_redirects = opt_count(L, "max_redirects", HTTP_MAX_REDIRECTS);
  o->follow = opt_bool(L, "follow_redirects");
  o->decompress = opt_bool(L, "decompress");
  int t = opt_get(L, "body");
  if (t != LUA_TNIL && t != LUA_TSTRING) {
    luaL_error(L, "http.request: option 'body' must be a string, got %s",
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  if (t == LUA_TSTRING) {
    o->body_idx = 1;
    if (o->body_file != NULL) {
      luaL_error(L,
                 "http.request: options 'body' and 'body_file' exclude "
                 "each other");
    }
  }
  t = opt_get(L, "headers");
  if (t != LUA_TNIL && t != LUA_TTABLE) {
    luaL_error(L, "http.request: option 'headers' must be a table, got %s",
               luaL_typename(L, -1));
  }
  if (t == LUA_TTABLE) {
    check_headers(L, lua_gettop(L));
    o->headers_idx = lua_gettop(L);
  } else {
    lua_pop(L, 1);
  }
}

/* "Name: value" lines for curl; "Name;" sends an empty value, "Name:"
 * removes curl's own header. Returns 0 or -1 (out of memory). */
static int build_lines(lua_State* L, int idx, struct curl_slist** out) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    size_t nlen;
    size_t vlen = 0;
    const char* name = lua_tolstring(L, -2, &nlen);
    const char* v = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
      v = lua_tolstring(L, -1, &vlen);
    }
    char* line = (char*)malloc(nlen + vlen + 3);
    if (line == NULL) {
      lua_pop(L, 2);
      return -1;
    }
    memcpy(line, name, nlen);
    if (v == NULL) {
      memcpy(line + nlen, ":", 2);
    } else if (vlen == 0) {
      memcpy(line + nlen, ";", 2);
    } else {
      memcpy(line + nlen, ": ", 2);
      memcpy(line + nlen + 2, v, vlen);
      line[nlen + 2 + vlen] = '\0';
    }
    struct curl_slist* n = curl_slist_append(*out, line);
    free(line);
    if (n == NULL) {
      lua_pop(L, 2);
      return -1;
    }
    *out = n;
    lua_pop(L, 1);
  }
  return 0;
}

/*
 * A request linked into ctx, holding the body string (anchored in the
 * registry) and copies of what outlives this call. Raises only before it
 * holds anything, so an out-of-memory error leaks nothing.
 */
static http_req_t* req_new(lua_State* L, http_ctx_t* ctx, sw_task_t* t,
                           const http_opts_t* o) {
  int body_ref = LUA_NOREF;
  size_t body_len = 0;
  const char* body = NULL;
  if (o->body_idx) {
    opt_get(L, "body");
    body = lua_tolstring(L, -1, &body_len);
    body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  http_req_t* req = (http_req_t*)calloc(1, sizeof(*req));
  if (req == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, body_ref);
    luaL_error(L, "http.request: out of memory");
    return NULL;
  }
  req->ctx = ctx;
  req->task = t;
  req->next = ctx->reqs;
  if (ctx->reqs != NULL) {
    ctx->reqs->prev = req;
  }
  ctx->reqs = req;
  ctx->nreqs++;
  if (ctx->nreqs == 1) {
    ctx_set_ref(ctx);
  }
  req->body_ref = body_ref;
  req->body = body;
  req->body_len = body_len;
  req->max_body = (curl_off_t)o->max_body;
  req->max_redirects = (long)o->max_redirects;
  req->follow = o->follow;
  req->decompress = o->decompress;
  req->timeout = o->timeout;
  req->deadline = now_ms() + (uint64_t)(o->timeout * 1000.0);
  return req;
}

/* Refuses what is not an absolute http(s) URL, which curl would guess a
 * scheme for. Returns 0 or -1. */
static int check_url(http_req_t* req, const char* url) {
  CURLU* u = curl_url();
  char* scheme = NULL;
  if (u == NULL) {
    set_fail(req, "curl", "out of memory");
    return -1;
  }
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc == CURLUE_OK) {
    uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  }
  curl_url_cleanup(u);
  if (uc != CURLUE_OK) {
    set_fail(req, "curl", "invalid URL (%s)", curl_url_strerror(uc));
  } else if (strcasecmp(scheme, "http") != 0 &&
             strcasecmp(scheme, "https") != 0) {
    set_fail(req, "curl", "unsupported scheme '%s'", scheme);
  }
  curl_free(scheme);
  return req->fail_code != NULL ? -1 : 0;
}

/* Opens body_file (a regular file, for its size) and to_file. */
static int open_files(http_req_t* req, const http_opts_t* o) {
  if (o->body_file != NULL) {
    req->body_path = dup_string(o->body_file);
    if (req->body_path == NULL) {
      set_fail(req, "curl", "out of memory");
      return -1;
    }
    req->body_fp = fopen(o->body_file, "rbe");
    struct stat st;
    if (req->body_fp == NULL || fstat(fileno(req->body_fp), &st) != 0) {
      set_fail(req, "file", "body_file %s: %s", o->body_file, strerror(errno));
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      set_fail(req, "file", "body_file %s: not a regular file", o->body_file);
      return -1;
    }
    req->has_body = 1;
    req->body_size = (curl_off_t)st.st_size;
  }
  if (o->to_file != NULL) {
    req->out_path = dup_string(o->to_file);
    if (req->out_path == NULL) {
      set_fail(req, "curl", "out of memory");
      return -1;
    }
    req->out_fp = fopen(o->to_file, "wbe");
    if (req->out_fp == NULL) {
      set_fail(req, "file", "to_file %s: %s", o->to_file, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* Everything before the first hop. Returns 0, or -1 with the failure
 * recorded. */
static int req_prepare(lua_State* L, http_req_t* req, const http_opts_t* o) {
  req->method = dup_string(o->method);
  req->url = dup_string(o->url);
  req->easy = curl_easy_init();
  if (req->method == NULL || req->url == NULL || req->easy == NULL ||
      (o->headers_idx != 0 &&
       build_lines(L, o->headers_idx, &req->lines) != 0)) {
    set_fail(req, "curl", "out of memory");
    return -1;
  }
  CURLcode rc = req_options(req, o->connect_timeout, o->low_speed_time,
                            (long)o->low_speed_limit, o->user_agent, o->cainfo);
  if (rc != CURLE_OK) {
    set_fail(req, "curl", "%s", curl_easy_strerror(rc));
    return -1;
  }
  if (check_url(req, o->url) != 0 || open_files(req, o) != 0) {
    return -1;
  }
  if (req->body != NULL || strcmp(o->method, "POST") == 0 ||
      strcmp(o->method, "PUT") == 0 || strcmp(o->method, "PATCH") == 0) {
    /* POST, PUT and PATCH always carry a body, if empty (Content-Length:
     * 0), as some servers insist on one. */
    if (!req->has_body) {
      req->has_body = 1;
      req->body_size = (curl_off_t)req->body_len;
    }
  }
  return 0;
}

/* http.request{url = ..., ...} -> res | nil, msg, code */
static int http_request(lua_State* L) {
  http_opts_t o;
  parse_opts(L, &o);
  sw_task_t* t = sw_task_check(L, "http.request");
  http_ctx_t* ctx = ctx_get(L);
  http_req_t* req = req_new(L, ctx, t, &o);
  if (req_prepare(L, req, &o) != 0 || hop_start(req) != 0) {
    /* Never started: the failure is returned without yielding. */
    int n = outcome(L, req);
    req_free(req);
    return n;
  }
  sw_task_set_pending(t, req_cancel, req);
  return lua_yield(L, 0);
}

/* http.redact_url(url) -> url with its secrets replaced by "<redacted>" */
static int http_redact_url(lua_State* L) {
  size_t len;
  const char* url = luaL_checklstring(L, 1, &len);
  push_redacted_url(L, url, len);
  return 1;
}

static const luaL_Reg http_funcs[] = {
    {"redact_url", http_redact_url}, {"request", http_request}, {NULL, NULL}};

int luaopen_sw_http(lua_State* L) {
  luaL_newlib(L, http_funcs);
  lua_pushinteger(L, HTTP_MAX_HEADER_BYTES);
  lua_setfield(L, -2, "MAX_HEADER_BYTES");
  lua_pushinteger(L, HTTP_MAX_BODY_MEMORY);
  lua_setfield(L, -2, "MAX_BODY");
  lua_pushliteral(L, HTTP_USER_AGENT);
  lua_setfield(L, -2, "USER_AGENT");
  return 1;
}
