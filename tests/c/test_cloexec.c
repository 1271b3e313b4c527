/*
 * test_cloexec.c: every descriptor the core opens is close-on-exec, so a
 * child (the task's script) never inherits a key file, a log or a socket
 * of the worker. The test wraps open, openat, fopen, mkostemp and opendir:
 * each call made from the core (code linked into this executable, not the
 * shared libraries) has its result checked with fcntl(F_GETFD). Then it
 * drives every sw.* function that opens a file.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sw.h"

extern char __executable_start;
extern char etext;

static int passed = 0;
static int failed = 0;
static int opens = 0;

/* hash.file opens its file on libuv's thread pool: atomic counters. */
#define CHECK(cond, ...)                                \
  do {                                                  \
    if (cond) {                                         \
      __atomic_add_fetch(&passed, 1, __ATOMIC_RELAXED); \
    } else {                                            \
      __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED); \
      fprintf(stderr, "FAIL: ");                        \
      fprintf(stderr, __VA_ARGS__);                     \
      fprintf(stderr, "\n");                            \
    }                                                   \
  } while (0)

static int from_core(const void* ra) {
  return (const char*)ra >= &__executable_start && (const char*)ra < &etext;
}

static void check_fd(const void* ra, const char* fn, const char* path, int fd) {
  if (fd < 0 || !from_core(ra)) {
    return;
  }
  __atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
  int flags = fcntl(fd, F_GETFD);
  CHECK(flags >= 0 && (flags & FD_CLOEXEC) != 0,
        "%s(\"%s\") returned fd %d without FD_CLOEXEC", fn, path, fd);
}

static void* real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == NULL) {
    fprintf(stderr, "test_cloexec: no %s\n", name);
    abort();
  }
  return f;
}

int open(const char* path, int flags, ...);
int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int (*f)(const char*, int, ...) =
      (int (*)(const char*, int, ...))real("open");
  int fd = f(path, flags, mode);
  check_fd(__builtin_return_address(0), "open", path, fd);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...);
int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int (*f)(int, const char*, int, ...) =
      (int (*)(int, const char*, int, ...))real("openat");
  int fd = f(dirfd, path, flags, mode);
  check_fd(__builtin_return_address(0), "openat", path, fd);
  return fd;
}

FILE* fopen(const char* path, const char* mode) {
  FILE* (*f)(const char*, const char*) =
      (FILE * (*)(const char*, const char*)) real("fopen");
  FILE* fp = f(path, mode);
  if (fp != NULL) {
    check_fd(__builtin_return_address(0), "fopen", path, fileno(fp));
  }
  return fp;
}

int mkostemp(char* tmpl, int flags) {
  int (*f)(char*, int) = (int (*)(char*, int))real("mkostemp");
  int fd = f(tmpl, flags);
  check_fd(__builtin_return_address(0), "mkostemp", tmpl, fd);
  return fd;
}

DIR* opendir(const char* path) {
  DIR* (*f)(const char*) = (DIR * (*)(const char*)) real("opendir");
  DIR* d = f(path);
  if (d != NULL) {
    check_fd(__builtin_return_address(0), "opendir", path, dirfd(d));
  }
  return d;
}

/* Every function of the core that opens something, on files in dir. */
static const char script[] =
    "local dir = ...\n"
    "local fs, json, yaml = require('sw.fs'), require('sw.json'), "
    "require('sw.yaml')\n"
    "local hash, sign, log = require('sw.hash'), require('sw.sign'), "
    "require('sw.log')\n"
    "local proc, http, sched = require('sw.proc'), require('sw.http'), "
    "require('sw.sched')\n"
    "local function ok(v, msg) assert(v ~= nil, msg) return v end\n"
    "ok(fs.write_file_atomic(dir .. '/a.json', '{\"a\": [1]}\\n'))\n"
    "ok(fs.write_file_atomic(dir .. '/a.yml', 'a: [1]\\n'))\n"
    "ok(json.decode_file(dir .. '/a.json'))\n"
    "ok(yaml.load_file(dir .. '/a.yml'))\n"
    "ok(fs.read_file(dir .. '/a.json'))\n"
    "ok(fs.copy_file(dir .. '/a.json', dir .. '/b.json'))\n"
    "ok(fs.gzip_file(dir .. '/a.json', dir .. '/a.json.gz'))\n"
    "ok(fs.gunzip_file(dir .. '/a.json.gz', dir .. '/c.json'))\n"
    "ok(fs.mkdirp(dir .. '/d/e'))\n"
    "ok(fs.listdir(dir))\n"
    "ok(fs.walk(dir))\n"
    "ok(hash.file(dir .. '/a.json', 'sha256'))\n"
    "local seed, pk = sign.keygen()\n"
    "ok(sign.write_key_file(dir .. '/key', sign.b64encode(seed)))\n"
    "ok(sign.read_key_file(dir .. '/key'))\n"
    "ok(sign.load_signer(dir .. '/key'))\n"
    "ok(sign.verify_file(pk, dir .. '/a.json', string.rep('x', 64)))\n"
    "ok(log.set_output(dir .. '/log'))\n"
    "log.set_output(nil)\n"
    "sched.run(function()\n"
    "  local st = ok(proc.run{argv = {'/bin/true'}, log = dir .. '/p.log',\n"
    "                         extra_fd = dir .. '/key'})\n"
    "  assert(st.code == 0)\n"
    "  ok(hash.file(dir .. '/a.json', 'sha512'))\n"
    "  local res, msg, code = http.request{url = 'http://127.0.0.1:1/',\n"
    "    to_file = dir .. '/out', body_file = dir .. '/a.json',\n"
    "    method = 'PUT', timeout = 5}\n"
    "  assert(res == nil and code == 'connect', msg)\n"
    "end)\n"
    "ok(fs.rmtree(dir))\n";

int main(void) {
  char dir[] = "/tmp/sw-cloexec-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  sw_preload_all(L);
  int rc = luaL_loadbuffer(L, script, sizeof(script) - 1, "=test_cloexec");
  if (rc == LUA_OK) {
    lua_pushstring(L, dir);
    rc = lua_pcall(L, 1, 0, 0);
  }
  CHECK(rc == LUA_OK, "script: %s", lua_tostring(L, -1));
  lua_close(L);
  /* Only a count that can fail: the wrappers must have seen the opens. */
  CHECK(opens >= 20, "only %d opens seen from the core", opens);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
