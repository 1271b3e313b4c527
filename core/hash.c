/*
 * hash.c: the sw.hash module, SHA-256 and SHA-512 of strings, files and
 * streams through OpenSSL's EVP interface. libcrypto picks the CPU's SHA
 * extensions (SHA-NI, AVX2), which makes it several times faster than
 * libsodium's portable SHA-2 on the artifacts we hash (hundreds of MB).
 *
 *   hash.string(data, alg[, format])  -> digest
 *   hash.file(path, alg[, format])    -> digest | nil, msg, code
 *   hash.new(alg)                     -> sw.Hash with update/digest/hex
 *
 * alg is "sha256" or "sha512"; format is "hex" (lowercase, the default) or
 * "raw" (the digest bytes). The digests are fetched once per Lua state and
 * held by a userdata that is upvalue 1 of every module function, so
 * lua_close releases them.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sw.h"

/* Large enough to make the read(2) cost vanish next to SHA-NI, small enough
 * to stay in L2 between read and digest. 64 KiB to 1 MiB measured the same
 * with bench_hash.sh; -DHASH_BLOCK=n overrides it for such experiments. */
#ifndef HASH_BLOCK
#define HASH_BLOCK (256 * 1024)
#endif

#define HASH_DIGESTS_MT "sw.hash.digests"
#define HASH_MT "sw.Hash"

enum { ALG_SHA256 = 0, ALG_SHA512, ALG_COUNT };
static const char* const alg_names[ALG_COUNT] = {"sha256", "sha512"};
static const char* const alg_fetch_names[ALG_COUNT] = {"SHA2-256", "SHA2-512"};

typedef struct {
  EVP_MD* md[ALG_COUNT];
} hash_digests_t;

typedef struct {
  EVP_MD_CTX* ctx; /* NULL once closed */
  int alg;
  int done; /* the digest has been taken; out/len hold it */
  unsigned int len;
  unsigned char out[EVP_MAX_MD_SIZE];
} hash_obj_t;

/* The algorithm named by argument arg; raises for anything else. */
static int check_alg(lua_State* L, int arg) {
  const char* name = luaL_checkstring(L, arg);
  for (int i = 0; i < ALG_COUNT; i++) {
    if (strcmp(name, alg_names[i]) == 0) {
      return i;
    }
  }
  return luaL_argerror(
      L, arg,
      lua_pushfstring(
          L, "unsupported algorithm \"%s\", expected sha256 or sha512", name));
}

static const EVP_MD* check_md(lua_State* L, int arg) {
  hash_digests_t* d = lua_touserdata(L, lua_upvalueindex(1));
  return d->md[check_alg(L, arg)];
}

/* 1 for "raw", 0 for "hex" (the default). */
static int check_raw(lua_State* L, int arg) {
  static const char* const formats[] = {"hex", "raw", NULL};
  return luaL_checkoption(L, arg, "hex", formats);
}

static void push_digest(lua_State* L, const unsigned char* out,
                        unsigned int len, int raw) {
  static const char digits[] = "0123456789abcdef";
  char hex[2 * EVP_MAX_MD_SIZE];
  if (raw) {
    lua_pushlstring(L, (const char*)out, len);
    return;
  }
  for (unsigned int i = 0; i < len; i++) {
    hex[2 * i] = digits[out[i] >> 4];
    hex[2 * i + 1] = digits[out[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (size_t)len);
}

/*
 * Digest the file at path into out. Returns 0, an errno value for open or
 * read failures, or -1 when libcrypto fails (out of memory).
 */
static int file_digest(const char* path, const EVP_MD* md, unsigned char* out,
                       unsigned int* len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  int err = 0;
  unsigned char* buf = malloc(HASH_BLOCK);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (buf == NULL) {
    err = ENOMEM;
  } else if (ctx == NULL || !EVP_DigestInit_ex2(ctx, md, NULL)) {
    err = -1;
  } else {
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
      ssize_t n = read(fd, buf, HASH_BLOCK);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        err = errno;
        break;
      }
      if (n == 0) {
        if (!EVP_DigestFinal_ex(ctx, out, len)) {
          err = -1;
        }
        break;
      }
      if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
        err = -1;
        break;
      }
    }
  }
  EVP_MD_CTX_free(ctx);
  free(buf);
  close(fd);
  return err;
}

/*
 * Inside a task, hash.file runs file_digest on libuv's thread pool and
 * yields, so downloads and other tasks go on while a large artifact is
 * hashed (and several artifacts hash in parallel). The request owns copies
 * of everything it needs; a cancelled task only loses its claim (task =
 * NULL), and the after-work callback, which libuv always calls, frees it.
 */
typedef struct {
  uv_work_t req;
  sw_task_t* task; /* NULL once the task was cancelled */
  EVP_MD* md;      /* a reference of our own */
  int raw;
  int err;
  int status; /* of the work request (UV_ECANCELED) */
  unsigned int len;
  unsigned char out[EVP_MAX_MD_SIZE];
  char path[]; /* NUL-terminated */
} hash_work_t;

static void work_free(hash_work_t* w) {
  EVP_MD_free(w->md);
  free(w);
}

static void work_run(uv_work_t* req) {
  hash_work_t* w = (hash_work_t*)req->data;
  w->err = file_digest(w->path, w->md, w->out, &w->len);
}

/* Pushes the result of a digest on L: 1 value, or 3 on failure. */
static int push_result(lua_State* L, const char* path, int err,
                       const unsigned char* out, unsigned int len, int raw) {
  if (err < 0) {
    return sw_fail(L, "crypto", "hash: %s: libcrypto failed", path);
  }
  if (err > 0) {
    const char* what = lua_pushfstring(L, "hash: %s", path);
    int n = sw_fail_errno(L, what, err);
    lua_remove(L, -n - 1);
    return n;
  }
  push_digest(L, out, len, raw);
  return 1;
}

static int push_work_result(lua_State* L, void* data) {
  hash_work_t* w = (hash_work_t*)data;
  if (w->status != 0) {
    return sw_fail_uv(L, "hash", w->status);
  }
  return push_result(L, w->path, w->err, w->out, w->len, w->raw);
}

static void work_done(uv_work_t* req, int status) {
  hash_work_t* w = (hash_work_t*)req->data;
  sw_task_t* t = w->task;
  if (t != NULL) {
    w->status = status;
    sw_task_resume(t, push_work_result, w);
  }
  work_free(w);
}

static void work_cancel(void* data) {
  hash_work_t* w = (hash_work_t*)data;
  w->task = NULL;
  /* Succeeds only if no thread has started it; either way work_done runs
   * on the loop and frees w. */
  (void)uv_cancel((uv_req_t*)&w->req);
}

static int hash_file(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  const EVP_MD* md = check_md(L, 2);
  int raw = check_raw(L, 3);
  /* Blocking outside a task, in a non-yieldable call (such as a
   * metamethod) or while the task is being cancelled. */
  sw_task_t* t = sw_task_waitable(L);
  if (t != NULL) {
    size_t plen = strlen(path);
    hash_work_t* w = malloc(sizeof(*w) + plen + 1);
    if (w == NULL) {
      return luaL_error(L, "hash.file: out of memory");
    }
    memcpy(w->path, path, plen + 1);
    w->req.data = w;
    w->task = t;
    w->raw = raw;
    w->err = 0;
    w->len = 0;
    w->md = (EVP_MD*)md;
    if (!EVP_MD_up_ref(w->md)) {
      free(w);
      return luaL_error(L, "hash.file: libcrypto failed");
    }
    int rc = uv_queue_work(sw_loop(L), &w->req, work_run, work_done);
    if (rc != 0) {
      work_free(w);
      return sw_fail_uv(L, "hash.file", rc);
    }
    sw_task_set_pending(t, work_cancel, w);
    return lua_yield(L, 0);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  int err = file_digest(path, md, out, &len);
  return push_result(L, path, err, out, len, raw);
}

static int hash_string(lua_State* L) {
  size_t size;
  const char* data = luaL_checklstring(L, 1, &size);
  const EVP_MD* md = check_md(L, 2);
  int raw = check_raw(L, 3);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(data, size, out, &len, md, NULL)) {
    return luaL_error(L, "hash: libcrypto failed");
  }
  push_digest(L, out, len, raw);
  return 1;
}

/* The streaming object. Created closed, then opened (liolib's newprefile),
 * so a memory error part-way leaves a valid userdata for __gc. */
static int hash_new(lua_State* L) {
  hash_digests_t* d = lua_touserdata(L, lua_upvalueindex(1));
  int alg = check_alg(L, 1);
  hash_obj_t* h = lua_newuserdatauv(L, sizeof(*h), 0);
  h->ctx = NULL;
  h->alg = alg;
  h->done = 0;
  h->len = 0;
  luaL_setmetatable(L, HASH_MT);
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL) {
    return luaL_error(L, "hash.new: out of memory");
  }
  if (!EVP_DigestInit_ex2(h->ctx, d->md[alg], NULL)) {
    return luaL_error(L, "hash.new: libcrypto failed");
  }
  return 1;
}

static hash_obj_t* check_hash(lua_State* L) {
  hash_obj_t* h = luaL_checkudata(L, 1, HASH_MT);
  if (h->ctx == NULL) {
    luaL_error(L, "attempt to use a closed sw.Hash");
  }
  return h;
}

static int hash_obj_update(lua_State* L) {
  hash_obj_t* h = check_hash(L);
  size_t size;
  const char* data = luaL_checklstring(L, 2, &size);
  if (h->done) {
    return luaL_error(L, "sw.Hash: update after digest");
  }
  if (!EVP_DigestUpdate(h->ctx, data, size)) {
    return luaL_error(L, "sw.Hash: libcrypto failed");
  }
  lua_settop(L, 1);
  return 1;
}

/* Finishes the digest on first use; later calls return the same value. */
static int obj_finish(lua_State* L, hash_obj_t* h, int raw) {
  if (!h->done) {
    if (!EVP_DigestFinal_ex(h->ctx, h->out, &h->len)) {
      return luaL_error(L, "sw.Hash: libcrypto failed");
    }
    h->done = 1;
  }
  push_digest(L, h->out, h->len, raw);
  return 1;
}

static int hash_obj_digest(lua_State* L) {
  hash_obj_t* h = check_hash(L);
  return obj_finish(L, h, check_raw(L, 2));
}

static int hash_obj_hex(lua_State* L) {
  hash_obj_t* h = check_hash(L);
  return obj_finish(L, h, 0);
}

static int hash_obj_gc(lua_State* L) {
  hash_obj_t* h = luaL_checkudata(L, 1, HASH_MT);
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
  return 0;
}

static int hash_obj_tostring(lua_State* L) {
  hash_obj_t* h = luaL_checkudata(L, 1, HASH_MT);
  if (h->ctx == NULL) {
    lua_pushliteral(L, "sw.Hash (closed)");
  } else {
    lua_pushfstring(L, "sw.Hash (%s%s)", alg_names[h->alg],
                    h->done ? ", digested" : "");
  }
  return 1;
}

static int hash_digests_gc(lua_State* L) {
  hash_digests_t* d = luaL_checkudata(L, 1, HASH_DIGESTS_MT);
  for (int i = 0; i < ALG_COUNT; i++) {
    EVP_MD_free(d->md[i]);
    d->md[i] = NULL;
  }
  return 0;
}

static const luaL_Reg hash_funcs[] = {{"file", hash_file},
                                      {"new", hash_new},
                                      {"string", hash_string},
                                      {NULL, NULL}};

static const luaL_Reg hash_methods[] = {{"digest", hash_obj_digest},
                                        {"hex", hash_obj_hex},
                                        {"update", hash_obj_update},
                                        {NULL, NULL}};

static const luaL_Reg hash_metamethods[] = {{"__close", hash_obj_gc},
                                            {"__gc", hash_obj_gc},
                                            {"__index", NULL},
                                            {"__tostring", hash_obj_tostring},
                                            {NULL, NULL}};

int luaopen_sw_hash(lua_State* L) {
  luaL_newmetatable(L, HASH_MT);
  luaL_setfuncs(L, hash_metamethods, 0);
  luaL_newlibtable(L, hash_methods);
  luaL_setfuncs(L, hash_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_newlibtable(L, hash_funcs);
  hash_digests_t* d = lua_newuserdatauv(L, sizeof(*d), 0);
  for (int i = 0; i < ALG_COUNT; i++) {
    d->md[i] = NULL;
  }
  if (luaL_newmetatable(L, HASH_DIGESTS_MT)) {
    lua_pushcfunction(L, hash_digests_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  for (int i = 0; i < ALG_COUNT; i++) {
    d->md[i] = EVP_MD_fetch(NULL, alg_fetch_names[i], NULL);
    if (d->md[i] == NULL) {
      return luaL_error(L, "sw.hash: libcrypto has no %s", alg_fetch_names[i]);
    }
  }
  /* stack: module, digests */
  luaL_setfuncs(L, hash_funcs, 1);
  return 1;
}
