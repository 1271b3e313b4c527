/*
 * test_fs_fsync.c: gzip_file and copy_file make their output durable (an
 * fsync of the file and one of its directory) unless opts.fsync is false,
 * which the worker passes for temporary outputs it removes after use.
 * fsync is wrapped to count its calls.
 */
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sw.h"

static int passed = 0;
static int failed = 0;
static int fsyncs = 0;

int fsync(int fd) {
  fsyncs++;
  int (*f)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return f(fd);
}

static void check_count(const char* what, int want) {
  if (fsyncs == want) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s: want %d fsyncs, got %d\n", what, want, fsyncs);
  }
}

/* Runs chunk with the directory as ...; counts the fsyncs it made. */
static void run(lua_State* L, const char* dir, const char* chunk) {
  fsyncs = 0;
  if (luaL_loadstring(L, chunk) != LUA_OK) {
    fprintf(stderr, "chunk: %s\n", lua_tostring(L, -1));
    failed++;
    return;
  }
  lua_pushstring(L, dir);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "chunk: %s\n", lua_tostring(L, -1));
    failed++;
  }
}

int main(void) {
  char dir[] = "/tmp/sw-fsync-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  sw_preload_all(L);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.write_file_atomic(d .. '/f', ('x'):rep(100000)))\n");
  check_count("write_file_atomic", 2);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.gzip_file(d .. '/f', d .. '/a.gz'))\n");
  check_count("gzip_file", 2);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.gzip_file(d .. '/f', d .. '/b.gz', nil, {fsync = false}))\n");
  check_count("gzip_file, fsync = false", 0);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.copy_file(d .. '/f', d .. '/c'))\n");
  check_count("copy_file", 2);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.copy_file(d .. '/f', d .. '/e', nil, {fsync = false}))\n");
  check_count("copy_file, fsync = false", 0);
  /* Inside a task, on the thread pool, the same. */
  run(L, dir,
      "local fs, sched, d = require('sw.fs'), require('sw.sched'), ...\n"
      "sched.run(function()\n"
      "  assert(fs.gzip_file(d .. '/f', d .. '/g.gz', 1, {fsync = false}))\n"
      "end)\n");
  check_count("gzip_file in a task, fsync = false", 0);
  run(L, dir,
      "local fs, d = require('sw.fs'), ...\n"
      "assert(fs.rmtree(d))\n");
  lua_close(L);
  if (access(dir, F_OK) == 0) {
    failed++;
    fprintf(stderr, "FAIL: %s is left\n", dir);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
