/*
 * fs.c: the sw.fs module, files and directories for the worker: walking the
 * artifact tree, rm -rf of the work dirs, mkdir -p, atomic writes, a join
 * that refuses to leave its root, and gzip through zlib.
 *
 * Every expected failure returns nil, "fs.<function>: <path>: <strerror>",
 * "<ERRNO>". Nothing here calls back into Lua while it holds a file
 * descriptor, a DIR or malloc'd memory, except through a guard userdata
 * whose __gc releases them, so a Lua error (out of memory) cannot leak.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "sw.h"

#define FS_GUARD_MT "sw.fs.guard"
#define FS_LIST_MT "sw.fs.list"
#define FS_SNAP_MT "sw.fs.snapshot"

#define FS_CHUNK (64 * 1024)
/* Symbolic links followed while resolving one safe_join (Linux: 40). */
#define FS_MAX_LINKS 40
/* Default output limit of gunzip_string. */
#define FS_GUNZIP_STRING_MAX (256 * 1024 * 1024)

/* Returned by the gzip loops besides errno values. */
#define FS_EPARSE (-1)
#define FS_ELIMIT (-2)

/* ---- failures ---------------------------------------------------------- */

/* nil, "fs.<fn>: <path>: <strerror(err)>", "<ERRNO>" */
static int fail_path(lua_State* L, const char* fn, const char* path, int err) {
  const char* what = lua_pushfstring(L, "fs.%s: %s", fn, path);
  return sw_fail_errno(L, what, err);
}

/* nil, "fs.<fn>: <a> -> <b>: <strerror(err)>", "<ERRNO>" */
static int fail_path2(lua_State* L, const char* fn, const char* a,
                      const char* b, int err) {
  const char* what = lua_pushfstring(L, "fs.%s: %s -> %s", fn, a, b);
  return sw_fail_errno(L, what, err);
}

/* ---- small helpers ----------------------------------------------------- */

/* A mode argument: an integer (0 to 07777) or a string of octal digits. */
static mode_t opt_mode(lua_State* L, int arg, mode_t def) {
  if (lua_isnoneornil(L, arg)) {
    return def;
  }
  if (lua_type(L, arg) == LUA_TSTRING) {
    size_t n;
    const char* s = lua_tolstring(L, arg, &n);
    unsigned long v = 0;
    int ok = n > 0 && n <= 5;
    for (size_t i = 0; ok && i < n; i++) {
      ok = s[i] >= '0' && s[i] <= '7';
      v = v * 8 + (unsigned long)(s[i] - '0');
    }
    luaL_argcheck(L, ok && v <= 07777, arg, "invalid mode (expected octal)");
    return (mode_t)v;
  }
  lua_Integer m = luaL_checkinteger(L, arg);
  luaL_argcheck(L, m >= 0 && m <= 07777, arg, "mode out of range");
  return (mode_t)m;
}

/* An optional byte limit: nil means def, else an integer >= 0. */
static lua_Integer opt_limit(lua_State* L, int arg, lua_Integer def) {
  lua_Integer v = luaL_optinteger(L, arg, def);
  luaL_argcheck(L, v >= 0 || v == def, arg, "negative size limit");
  return v;
}

/* nil, "<what>: more than <max> bytes", "limit" (lua_pushfstring has no
 * 64-bit format that printf checking accepts). */
static int fail_limit(lua_State* L, const char* what, lua_Integer max) {
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)max);
  return sw_fail(L, "limit", "%s: more than %s bytes", what, num);
}

static int write_all(int fd, const void* p, size_t n) {
  const char* c = (const char*)p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static ssize_t read_some(int fd, void* p, size_t n) {
  for (;;) {
    ssize_t r = read(fd, p, n);
    if (r >= 0 || errno != EINTR) {
      return r;
    }
  }
}

/* "a/b" from a and b (no double slash when a ends with one); NULL when out
 * of memory. */
static char* path_join(const char* a, const char* b) {
  size_t la = strlen(a);
  size_t lb = strlen(b);
  int slash = la > 0 && a[la - 1] != '/';
  char* p = (char*)malloc(la + (size_t)slash + lb + 1);
  if (p == NULL) {
    return NULL;
  }
  memcpy(p, a, la);
  if (slash) {
    p[la] = '/';
  }
  memcpy(p + la + (size_t)slash, b, lb + 1);
  return p;
}

static const char* type_name(mode_t m) {
  if (S_ISREG(m)) {
    return "file";
  }
  if (S_ISDIR(m)) {
    return "dir";
  }
  if (S_ISLNK(m)) {
    return "link";
  }
  return "other";
}

static int has_nul(const char* s, size_t n) { return memchr(s, '\0', n) != 0; }

/* A path argument: a string without NUL bytes. */
static const char* check_path(lua_State* L, int arg) {
  size_t n;
  const char* s = luaL_checklstring(L, arg, &n);
  luaL_argcheck(L, !has_nul(s, n), arg, "path contains a NUL byte");
  return s;
}

/* ---- the guard: descriptors, a temp file and zlib state ---------------- */

typedef struct {
  int in;
  int out;
  char* tmp; /* temp file of an atomic write, unlinked unless committed */
  char* dir; /* its directory, fsync'd after the rename */
  int zmode; /* 0 none, 1 deflate, 2 inflate */
  z_stream zs;
  unsigned char* ibuf;
  unsigned char* obuf;
} guard_t;

static void guard_release(guard_t* g) {
  if (g->in >= 0) {
    close(g->in);
    g->in = -1;
  }
  if (g->out >= 0) {
    close(g->out);
    g->out = -1;
  }
  if (g->tmp != NULL) {
    unlink(g->tmp);
    free(g->tmp);
    g->tmp = NULL;
  }
  free(g->dir);
  g->dir = NULL;
  if (g->zmode == 1) {
    deflateEnd(&g->zs);
  } else if (g->zmode == 2) {
    inflateEnd(&g->zs);
  }
  g->zmode = 0;
  free(g->ibuf);
  g->ibuf = NULL;
  free(g->obuf);
  g->obuf = NULL;
}

static int guard_gc(lua_State* L) {
  guard_release((guard_t*)luaL_checkudata(L, 1, FS_GUARD_MT));
  return 0;
}

/* A guard holding nothing; with bufs, two FS_CHUNK buffers. Returns 0 or
 * ENOMEM (then guard_release frees what was allocated). */
static int guard_init(guard_t* g, int bufs) {
  memset(g, 0, sizeof *g);
  g->in = -1;
  g->out = -1;
  if (bufs) {
    g->ibuf = (unsigned char*)malloc(FS_CHUNK);
    g->obuf = (unsigned char*)malloc(FS_CHUNK);
    if (g->ibuf == NULL || g->obuf == NULL) {
      return ENOMEM;
    }
  }
  return 0;
}

/* Pushes a new guard holding nothing; with bufs, two FS_CHUNK buffers. */
static guard_t* guard_new(lua_State* L, int bufs) {
  guard_t* g = (guard_t*)lua_newuserdatauv(L, sizeof *g, 0);
  memset(g, 0, sizeof *g);
  g->in = -1;
  g->out = -1;
  luaL_setmetatable(L, FS_GUARD_MT);
  if (guard_init(g, bufs) != 0) {
    luaL_error(L, "fs: out of memory");
  }
  return g;
}

/*
 * Atomic replacement of path: a temp file ".<name>.XXXXXX" beside it, its
 * mode set with fchmod (the umask does not apply), which atomic_commit
 * fsyncs, renames over path and follows with an fsync of the directory.
 * Until then guard_release removes the temp file. Returns 0 or errno.
 */
static int atomic_open(guard_t* g, const char* path, mode_t mode) {
  size_t len = strlen(path);
  if (len == 0) {
    return ENOENT;
  }
  if (path[len - 1] == '/') {
    return EISDIR;
  }
  const char* slash = strrchr(path, '/');
  size_t dirlen = slash == NULL ? 0 : (size_t)(slash - path) + 1;
  const char* base = path + dirlen;
  char* tmp = (char*)malloc(len + 9);
  char* dir = dirlen == 0 ? strdup(".") : strndup(path, dirlen);
  if (tmp == NULL || dir == NULL) {
    /* Not in g yet: guard_release would unlink the uninitialised tmp. */
    free(tmp);
    free(dir);
    return ENOMEM;
  }
  /* At most 200 bytes of the name, so the temp name fits in NAME_MAX. */
  snprintf(tmp, len + 9, "%.*s.%.200s.XXXXXX", (int)dirlen, path, base);
  g->tmp = tmp;
  g->dir = dir;
  int fd = mkostemp(g->tmp, O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    free(g->tmp);
    g->tmp = NULL;
    return err;
  }
  g->out = fd;
  if (fchmod(fd, mode) < 0) {
    return errno;
  }
  return 0;
}

/* With durable 0 (a temporary output, removed after use) neither the
 * file nor the directory is fsync'd: the rename alone still keeps readers
 * from seeing a partial file. */
static int atomic_commit_opt(guard_t* g, const char* path, int durable) {
  int fd = g->out;
  if (durable && fsync(fd) < 0) {
    return errno;
  }
  g->out = -1;
  if (close(fd) < 0) {
    return errno;
  }
  if (rename(g->tmp, path) < 0) {
    return errno;
  }
  free(g->tmp);
  g->tmp = NULL;
  if (!durable) {
    return 0;
  }
  /* Make the rename durable. Some file systems cannot fsync a directory
   * (EINVAL); the data itself is already on disk then. */
  int dfd = open(g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int err = fsync(dfd) < 0 && errno != EINVAL ? errno : 0;
    close(dfd);
    return err;
  }
  return 0;
}

static int atomic_commit(guard_t* g, const char* path) {
  return atomic_commit_opt(g, path, 1);
}

/* Opens src for reading into g->in; fills st. Returns 0 or errno. */
static int open_input(guard_t* g, const char* src, struct stat* st) {
  g->in = open(src, O_RDONLY | O_CLOEXEC);
  if (g->in < 0) {
    return errno;
  }
  if (fstat(g->in, st) < 0) {
    return errno;
  }
  if (S_ISDIR(st->st_mode)) {
    return EISDIR;
  }
  return 0;
}

/* ---- stat -------------------------------------------------------------- */

static void push_stat(lua_State* L, const struct stat* st) {
  lua_createtable(L, 0, 7);
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st->st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushnumber(L, (lua_Number)st->st_mtim.tv_sec +
                        (lua_Number)st->st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st->st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st->st_gid);
  lua_setfield(L, -2, "gid");
  lua_pushinteger(L, (lua_Integer)st->st_ino);
  lua_setfield(L, -2, "ino");
}

static int fs_stat(lua_State* L) {
  const char* path = check_path(L, 1);
  struct stat st;
  if (stat(path, &st) < 0) {
    return fail_path(L, "stat", path, errno);
  }
  push_stat(L, &st);
  return 1;
}

static int fs_lstat(lua_State* L) {
  const char* path = check_path(L, 1);
  struct stat st;
  if (lstat(path, &st) < 0) {
    return fail_path(L, "lstat", path, errno);
  }
  push_stat(L, &st);
  return 1;
}

static int fs_exists(lua_State* L) {
  const char* path = check_path(L, 1);
  struct stat st;
  lua_pushboolean(L, stat(path, &st) == 0);
  return 1;
}

/* ---- single calls ------------------------------------------------------ */

static int fs_readlink(lua_State* L) {
  const char* path = check_path(L, 1);
  size_t size = 256;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char* p = luaL_prepbuffsize(&b, size);
    ssize_t n = readlink(path, p, size);
    if (n < 0) {
      return fail_path(L, "readlink", path, errno);
    }
    if ((size_t)n < size) {
      luaL_addsize(&b, (size_t)n);
      luaL_pushresult(&b);
      return 1;
    }
    size *= 2; /* the target may have been cut short: try again */
  }
}

static int fs_realpath(lua_State* L) {
  const char* path = check_path(L, 1);
  char buf[PATH_MAX];
  if (realpath(path, buf) == NULL) {
    return fail_path(L, "realpath", path, errno);
  }
  lua_pushstring(L, buf);
  return 1;
}

static int fs_rename(lua_State* L) {
  const char* src = check_path(L, 1);
  const char* dst = check_path(L, 2);
  if (rename(src, dst) < 0) {
    return fail_path2(L, "rename", src, dst, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int fs_remove(lua_State* L) {
  const char* path = check_path(L, 1);
  if (remove(path) < 0) {
    return fail_path(L, "remove", path, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int fs_chmod(lua_State* L) {
  const char* path = check_path(L, 1);
  luaL_checkany(L, 2);
  mode_t mode = opt_mode(L, 2, 0);
  if (chmod(path, mode) < 0) {
    return fail_path(L, "chmod", path, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int fs_symlink(lua_State* L) {
  const char* target = check_path(L, 1);
  const char* link = check_path(L, 2);
  if (symlink(target, link) < 0) {
    return fail_path2(L, "symlink", link, target, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* tmpdir([prefix[, dir]]): mkdtemp of <dir>/<prefix>XXXXXX. As Python's
 * mkdtemp joins them, an absolute prefix ("/tmp/sw-demo-") stands alone. */
static int fs_tmpdir(lua_State* L) {
  const char* prefix = lua_isnoneornil(L, 1) ? "sw-" : check_path(L, 1);
  const char* dir = luaL_optstring(L, 2, NULL);
  if (dir == NULL) {
    dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0') {
      dir = "/tmp";
    }
  }
  if (prefix[0] == '/') {
    lua_pushfstring(L, "%sXXXXXX", prefix);
  } else {
    lua_pushfstring(L, "%s/%sXXXXXX", dir, prefix);
  }
  /* mkdtemp writes into the template: work on a copy Lua does not own. */
  size_t n;
  const char* tmpl = lua_tolstring(L, -1, &n);
  char* buf = (char*)lua_newuserdatauv(L, n + 1, 0);
  memcpy(buf, tmpl, n + 1);
  if (mkdtemp(buf) == NULL) {
    return fail_path(L, "tmpdir", tmpl, errno);
  }
  lua_pushstring(L, buf);
  return 1;
}

/* mkdir -p: every missing directory of path, with mode (umask applies). */
static int fs_mkdirp(lua_State* L) {
  const char* path = check_path(L, 1);
  mode_t mode = opt_mode(L, 2, 0777);
  size_t len = strlen(path);
  char* buf = (char*)lua_newuserdatauv(L, len + 1, 0);
  struct stat st;
  memcpy(buf, path, len + 1);
  while (len > 1 && buf[len - 1] == '/') {
    buf[--len] = '\0';
  }
  if (len == 0) {
    return fail_path(L, "mkdirp", path, ENOENT);
  }
  for (size_t i = 1; i <= len; i++) {
    if (i < len && buf[i] != '/') {
      continue;
    }
    if (i < len && buf[i - 1] == '/') {
      continue; /* "a//b" */
    }
    buf[i] = '\0';
    if (mkdir(buf, mode) < 0) {
      int err = errno;
      if (err != EEXIST) {
        return fail_path(L, "mkdirp", path, err);
      }
      if (stat(buf, &st) < 0) {
        return fail_path(L, "mkdirp", path, errno);
      }
      if (!S_ISDIR(st.st_mode)) {
        return fail_path(L, "mkdirp", path, i < len ? ENOTDIR : EEXIST);
      }
    }
    if (i < len) {
      buf[i] = '/';
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- rmtree ------------------------------------------------------------ */

/* A growable path for messages: the place rmtree failed. */
typedef struct {
  char* s;
  size_t len;
  size_t cap;
} pathbuf_t;

static int pb_append(pathbuf_t* pb, const char* part, size_t n) {
  if (pb->len + n + 1 > pb->cap) {
    size_t cap = (pb->len + n + 1) * 2;
    char* s = (char*)realloc(pb->s, cap);
    if (s == NULL) {
      return ENOMEM;
    }
    pb->s = s;
    pb->cap = cap;
  }
  memcpy(pb->s + pb->len, part, n);
  pb->len += n;
  pb->s[pb->len] = '\0';
  return 0;
}

/* Appends "/name" (just "name" after a trailing slash). */
static int pb_push(pathbuf_t* pb, const char* name) {
  if (pb->len > 0 && pb->s[pb->len - 1] != '/') {
    int err = pb_append(pb, "/", 1);
    if (err != 0) {
      return err;
    }
  }
  return pb_append(pb, name, strlen(name));
}

static void pb_truncate(pathbuf_t* pb, size_t len) {
  pb->len = len;
  pb->s[len] = '\0';
}

/* One open directory of rmtree: its stream, whether the current pass over
 * it found an entry, and where its name and its parent's path end in pb. */
typedef struct {
  DIR* d;
  int found;
  size_t name_off;
  size_t parent_len;
} rm_frame_t;

/*
 * Removes name in directory parent_fd and everything below it, never
 * following a symbolic link (a link is unlinked; directories are opened
 * with O_NOFOLLOW relative to their parent). pb holds the path of name; on
 * failure it is left naming the entry that failed. Returns 0 or errno.
 *
 * Each level holds one descriptor, so the depth is bounded by the
 * descriptor limit. The levels are a heap array, not C recursion: with a
 * high RLIMIT_NOFILE a tree tens of thousands deep (which a task can make
 * in its work dir) would otherwise overflow the stack and crash the
 * worker that cleans up after it.
 */
static int rm_at(int parent_fd, const char* name, pathbuf_t* pb) {
  struct stat st;
  if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    return errno == ENOENT ? 0 : errno;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT) {
      return errno;
    }
    return 0;
  }
  rm_frame_t* frames = NULL;
  size_t n = 0;
  size_t cap = 0;
  int err = 0;
  int fd =
      openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const char* child = NULL; /* a directory to open below the top frame */
  size_t child_parent_len = 0;
  if (fd < 0) {
    return errno == ENOENT ? 0 : errno;
  }
  for (;;) {
    if (fd >= 0) {
      /* Enter the directory fd (name, or child of the top frame). */
      if (n == cap) {
        size_t ncap = cap == 0 ? 16 : cap * 2;
        rm_frame_t* nf = (rm_frame_t*)realloc(frames, ncap * sizeof(*nf));
        if (nf == NULL) {
          close(fd);
          err = ENOMEM;
          break;
        }
        frames = nf;
        cap = ncap;
      }
      DIR* d = fdopendir(fd);
      if (d == NULL) {
        err = errno;
        close(fd);
        break;
      }
      frames[n].d = d;
      frames[n].found = 0;
      frames[n].name_off = child != NULL ? pb->len - strlen(child) : 0;
      frames[n].parent_len = child != NULL ? child_parent_len : 0;
      n++;
      fd = -1;
      child = NULL;
    }
    rm_frame_t* f = &frames[n - 1];
    /* Pass over the directory until a pass finds nothing left: readdir
     * may skip entries while the directory changes under it. */
    errno = 0;
    struct dirent* de = readdir(f->d);
    if (de == NULL) {
      if (errno != 0) {
        err = errno;
        break;
      }
      if (f->found) {
        f->found = 0;
        rewinddir(f->d);
        continue;
      }
      /* Empty: remove it from its parent (the frame below, or parent_fd
       * with name for the top). */
      closedir(f->d);
      n--;
      int pfd = n > 0 ? dirfd(frames[n - 1].d) : parent_fd;
      const char* pname = n > 0 ? pb->s + f->name_off : name;
      if (unlinkat(pfd, pname, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        err = errno;
        break;
      }
      if (n == 0) {
        break;
      }
      pb_truncate(pb, f->parent_len);
      continue;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      continue;
    }
    f->found = 1;
    size_t len = pb->len;
    err = pb_push(pb, de->d_name);
    if (err != 0) {
      break;
    }
    int dfd = dirfd(f->d);
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) {
        err = errno;
        break;
      }
    } else if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT) {
        err = errno;
        break;
      }
    } else {
      fd = openat(dfd, de->d_name,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno != ENOENT) {
        err = errno;
        break;
      }
      if (fd >= 0) {
        child = de->d_name;
        child_parent_len = len;
        continue; /* pb keeps naming the directory entered */
      }
    }
    pb_truncate(pb, len);
  }
  for (size_t i = 0; i < n; i++) {
    closedir(frames[i].d);
  }
  free(frames);
  return err;
}

/* rm -rf path, refusing "/" (*unsafe set). pb names the entry that failed
 * (the caller frees pb->s). Returns 0 or errno. */
static int rmtree_run(const char* path, pathbuf_t* pb, int* unsafe) {
  char real[PATH_MAX];
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
      realpath(path, real) != NULL && strcmp(real, "/") == 0) {
    *unsafe = 1;
    return 0;
  }
  int err = pb_append(pb, path, strlen(path));
  if (err == 0) {
    err = rm_at(AT_FDCWD, path, pb);
  }
  return err;
}

/* ---- walk and listdir -------------------------------------------------- */

typedef struct {
  char* path;  /* relative to the root, '/'-separated */
  long parent; /* index of the directory it was read from; -1: the root */
  const char* type;
  int descend; /* a directory to read: a dir, or a followed link to one */
  struct stat st;
  /* snapshot: the SHA-256 and SHA-512 of the bytes copied */
  unsigned char sha256[32];
  unsigned char sha512[64];
} entry_t;

typedef struct {
  entry_t* v;
  size_t n;
  size_t cap;
  char* errpath; /* the path that failed */
} list_t;

static void list_release(list_t* l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].path);
  }
  free(l->v);
  l->v = NULL;
  l->n = 0;
  l->cap = 0;
  free(l->errpath);
  l->errpath = NULL;
}

static int list_gc(lua_State* L) {
  list_release((list_t*)luaL_checkudata(L, 1, FS_LIST_MT));
  return 0;
}

static list_t* list_new(lua_State* L) {
  list_t* l = (list_t*)lua_newuserdatauv(L, sizeof *l, 0);
  memset(l, 0, sizeof *l);
  luaL_setmetatable(L, FS_LIST_MT);
  return l;
}

/* Appends e (taking its path); frees the path when out of memory. */
static int list_push(list_t* l, const entry_t* e) {
  if (l->n == l->cap) {
    size_t cap = l->cap == 0 ? 64 : l->cap * 2;
    entry_t* v = (entry_t*)realloc(l->v, cap * sizeof *v);
    if (v == NULL) {
      free(e->path);
      return ENOMEM;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *e;
  return 0;
}

static int entry_cmp(const void* a, const void* b) {
  /* strcmp compares as unsigned char: bytewise, as Python sorts str
   * paths of UTF-8 names (code point order = UTF-8 byte order). */
  return strcmp(((const entry_t*)a)->path, ((const entry_t*)b)->path);
}

/* A followed link to a directory that is one of its own ancestors. */
static int is_loop(const list_t* l, long parent, const struct stat* root,
                   const struct stat* st) {
  for (long p = parent; p >= 0; p = l->v[p].parent) {
    if (l->v[p].st.st_dev == st->st_dev && l->v[p].st.st_ino == st->st_ino) {
      return 1;
    }
  }
  return root->st_dev == st->st_dev && root->st_ino == st->st_ino;
}

/*
 * Reads directory root/<entry parent> (root itself when parent is -1) and
 * appends its entries. Returns 0 or errno with l->errpath set.
 */
static int walk_dir(list_t* l, const char* root, long parent, int follow,
                    const struct stat* rootst) {
  const char* rel = parent < 0 ? NULL : l->v[parent].path;
  char* full = rel == NULL ? strdup(root) : path_join(root, rel);
  int err = 0;
  if (full == NULL) {
    return ENOMEM;
  }
  DIR* d = opendir(full);
  if (d == NULL) {
    l->errpath = full;
    return errno;
  }
  for (;;) {
    errno = 0;
    struct dirent* de = readdir(d);
    if (de == NULL) {
      err = errno;
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      continue;
    }
    entry_t e = {NULL, parent, NULL, 0, {0}, {0}, {0}};
    char* cfull = path_join(full, de->d_name);
    e.path = rel == NULL ? strdup(de->d_name) : path_join(rel, de->d_name);
    if (cfull == NULL || e.path == NULL) {
      free(cfull);
      free(e.path);
      err = ENOMEM;
      break;
    }
    if (lstat(cfull, &e.st) < 0) {
      err = errno;
      free(e.path);
      if (err == ENOENT) { /* removed since readdir saw it */
        free(cfull);
        err = 0;
        continue;
      }
      l->errpath = cfull;
      break;
    }
    if (follow && S_ISLNK(e.st.st_mode)) {
      struct stat target;
      if (stat(cfull, &target) == 0) { /* a dangling link stays a link */
        e.st = target;
        if (S_ISDIR(target.st_mode) && is_loop(l, parent, rootst, &target)) {
          free(e.path);
          l->errpath = cfull;
          err = ELOOP;
          break;
        }
      }
    }
    free(cfull);
    e.type = type_name(e.st.st_mode);
    e.descend = S_ISDIR(e.st.st_mode);
    err = list_push(l, &e);
    if (err != 0) {
      break;
    }
  }
  closedir(d);
  if (err != 0 && l->errpath == NULL) {
    l->errpath = full;
  } else {
    free(full);
  }
  return err;
}

static int opt_flag(lua_State* L, int arg, const char* key, int def) {
  if (lua_isnoneornil(L, arg)) {
    return def;
  }
  int t = lua_getfield(L, arg, key);
  int v = def;
  if (t == LUA_TBOOLEAN) {
    v = lua_toboolean(L, -1);
  } else if (t != LUA_TNIL) {
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "opts.%s: expected boolean, got %s", key,
                                  luaL_typename(L, -1)));
  }
  lua_pop(L, 1);
  return v;
}

static int fs_walk(lua_State* L) {
  const char* root = check_path(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
  }
  int dirs = opt_flag(L, 2, "dirs", 0);
  int files = opt_flag(L, 2, "files", 1);
  int follow = opt_flag(L, 2, "follow", 0);
  int info = opt_flag(L, 2, "info", 0);
  struct stat rootst;
  if (stat(root, &rootst) < 0) {
    return fail_path(L, "walk", root, errno);
  }
  if (!S_ISDIR(rootst.st_mode)) {
    return fail_path(L, "walk", root, ENOTDIR);
  }
  list_t* l = list_new(L);
  int err = walk_dir(l, root, -1, follow, &rootst);
  for (size_t i = 0; err == 0 && i < l->n; i++) {
    if (l->v[i].descend) {
      err = walk_dir(l, root, (long)i, follow, &rootst);
    }
  }
  if (err != 0) {
    return fail_path(L, "walk", l->errpath != NULL ? l->errpath : root, err);
  }
  if (l->n > 1) { /* qsort wants a valid pointer even for 0 items */
    qsort(l->v, l->n, sizeof *l->v, entry_cmp);
  }
  lua_createtable(L, (int)l->n, 0);
  lua_Integer k = 0;
  for (size_t i = 0; i < l->n; i++) {
    const entry_t* e = &l->v[i];
    if (S_ISDIR(e->st.st_mode) ? !dirs : !files) {
      continue;
    }
    if (info) {
      lua_createtable(L, 0, 5);
      lua_pushstring(L, e->path);
      lua_setfield(L, -2, "path");
      lua_pushstring(L, e->type);
      lua_setfield(L, -2, "type");
      lua_pushinteger(L, (lua_Integer)e->st.st_size);
      lua_setfield(L, -2, "size");
      lua_pushinteger(L, (lua_Integer)(e->st.st_mode & 07777));
      lua_setfield(L, -2, "mode");
      lua_pushnumber(L, (lua_Number)e->st.st_mtim.tv_sec +
                            (lua_Number)e->st.st_mtim.tv_nsec / 1e9);
      lua_setfield(L, -2, "mtime");
    } else {
      lua_pushstring(L, e->path);
    }
    lua_rawseti(L, -2, ++k);
  }
  list_release(l);
  return 1;
}

static int fs_listdir(lua_State* L) {
  const char* path = check_path(L, 1);
  list_t* l = list_new(L);
  int err = 0;
  DIR* d = opendir(path);
  if (d == NULL) {
    return fail_path(L, "listdir", path, errno);
  }
  for (;;) {
    errno = 0;
    struct dirent* de = readdir(d);
    if (de == NULL) {
      err = errno;
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      continue;
    }
    entry_t e = {strdup(de->d_name), -1, NULL, 0, {0}, {0}, {0}};
    err = e.path == NULL ? ENOMEM : list_push(l, &e);
    if (err != 0) {
      break;
    }
  }
  closedir(d);
  if (err != 0) {
    return fail_path(L, "listdir", path, err);
  }
  if (l->n > 1) { /* qsort wants a valid pointer even for 0 items */
    qsort(l->v, l->n, sizeof *l->v, entry_cmp);
  }
  lua_createtable(L, (int)l->n, 0);
  for (size_t i = 0; i < l->n; i++) {
    lua_pushstring(L, l->v[i].path);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  list_release(l);
  return 1;
}

/* ---- safe_join --------------------------------------------------------- */

/* Drops the last component of the absolute path in pb ("/a/b" -> "/a"). */
static void pb_pop(pathbuf_t* pb) {
  char* slash = strrchr(pb->s, '/');
  pb_truncate(pb,
              slash == NULL || slash == pb->s ? 1 : (size_t)(slash - pb->s));
}

/*
 * Resolves rel under the canonical directory real the way the kernel would,
 * component by component with lstat and readlink, so that a symbolic link
 * anywhere along the way is followed (up to FS_MAX_LINKS). Components that
 * do not exist yet are taken as written. Returns 0 with the absolute result
 * in out (malloc'd by the caller's pathbuf), or errno.
 */
static int resolve_under(const char* real, const char* rel, pathbuf_t* out) {
  pathbuf_t rest = {NULL, 0, 0};
  pathbuf_t link = {NULL, 0, 0};
  size_t pos = 0;
  int links = 0;
  int err = pb_append(out, real, strlen(real));
  if (err == 0) {
    err = pb_append(&rest, rel, strlen(rel));
  }
  while (err == 0 && pos < rest.len) {
    const char* comp = rest.s + pos;
    const char* slash = strchr(comp, '/');
    size_t n = slash == NULL ? strlen(comp) : (size_t)(slash - comp);
    pos += n + 1;
    if (n == 0 || (n == 1 && comp[0] == '.')) {
      continue;
    }
    if (n == 2 && comp[0] == '.' && comp[1] == '.') {
      pb_pop(out); /* only link targets bring ".." here */
      continue;
    }
    size_t before = out->len;
    if (out->len > 1) {
      err = pb_append(out, "/", 1);
    }
    if (err == 0) {
      err = pb_append(out, comp, n);
    }
    if (err != 0) {
      break;
    }
    struct stat st;
    if (lstat(out->s, &st) < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        continue; /* does not exist (yet): nothing to follow */
      }
      err = errno;
      break;
    }
    if (!S_ISLNK(st.st_mode)) {
      continue;
    }
    if (++links > FS_MAX_LINKS) {
      err = ELOOP;
      break;
    }
    /* Read the target, then go on with target + "/" + what is left. */
    size_t size = 256;
    ssize_t got;
    for (;;) {
      link.len = 0;
      if (link.cap < size + 1) {
        char* s = (char*)realloc(link.s, size + 1);
        if (s == NULL) {
          err = ENOMEM;
          break;
        }
        link.s = s;
        link.cap = size + 1;
      }
      got = readlink(out->s, link.s, size);
      if (got < 0) {
        err = errno;
        break;
      }
      if ((size_t)got < size) {
        link.len = (size_t)got;
        link.s[got] = '\0';
        break;
      }
      size *= 2;
    }
    if (err != 0) {
      break;
    }
    pb_truncate(out, before);
    if (link.s[0] == '/') {
      pb_truncate(out, 1);
      out->s[0] = '/';
    }
    if (pos < rest.len) {
      err = pb_append(&link, "/", 1);
      if (err == 0) {
        err = pb_append(&link, rest.s + pos, rest.len - pos);
      }
    }
    pathbuf_t swap = rest;
    rest = link;
    link = swap;
    pos = 0;
  }
  free(rest.s);
  free(link.s);
  return err;
}

static int is_inside(const char* root, const char* path) {
  size_t n = strlen(root);
  if (strcmp(root, "/") == 0) {
    return 1;
  }
  return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int fs_safe_join(lua_State* L) {
  size_t rootlen;
  size_t rellen;
  const char* root = luaL_checklstring(L, 1, &rootlen);
  const char* rel = luaL_checklstring(L, 2, &rellen);
  char real[PATH_MAX];
  luaL_Buffer b;
  int parts = 0;
  if (has_nul(rel, rellen) || has_nul(root, rootlen)) {
    return sw_fail(L, "unsafe", "fs.safe_join: %s: NUL byte refused", rel);
  }
  if (rel[0] == '/') {
    return sw_fail(L, "unsafe", "fs.safe_join: %s: absolute path refused", rel);
  }
  /* The lexical result: root, then rel without empty and "." parts. */
  while (rootlen > 1 && root[rootlen - 1] == '/') {
    rootlen--;
  }
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, root, rootlen);
  for (size_t i = 0; i < rellen;) {
    size_t j = i;
    while (j < rellen && rel[j] != '/') {
      j++;
    }
    size_t n = j - i;
    if (n == 2 && rel[i] == '.' && rel[i + 1] == '.') {
      return sw_fail(L, "unsafe", "fs.safe_join: %s: \"..\" component refused",
                     rel);
    }
    if (n > 0 && !(n == 1 && rel[i] == '.')) {
      if (rootlen != 1 || root[0] != '/' || parts > 0) {
        luaL_addchar(&b, '/');
      }
      luaL_addlstring(&b, rel + i, n);
      parts++;
    }
    i = j + 1;
  }
  if (parts == 0) {
    return sw_fail(L, "unsafe", "fs.safe_join: %s: empty path refused", rel);
  }
  luaL_pushresult(&b);
  if (realpath(root, real) == NULL) {
    return fail_path(L, "safe_join", root, errno);
  }
  pathbuf_t out = {NULL, 0, 0};
  int err = resolve_under(real, rel, &out);
  if (err != 0) {
    free(out.s);
    if (err == ELOOP) {
      return sw_fail(L, "unsafe", "fs.safe_join: %s: %s", rel, strerror(err));
    }
    return fail_path(L, "safe_join", lua_tostring(L, -1), err);
  }
  if (!is_inside(real, out.s)) {
    lua_pushfstring(L, "fs.safe_join: %s: resolves to %s, outside %s", rel,
                    out.s, real);
    free(out.s);
    lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushliteral(L, "unsafe");
    return 3;
  }
  free(out.s);
  return 1;
}

/* ---- whole files ------------------------------------------------------- */

static int fs_read_file(lua_State* L) {
  const char* path = check_path(L, 1);
  lua_Integer max = opt_limit(L, 2, -1);
  guard_t* g = guard_new(L, 0);
  struct stat st;
  luaL_Buffer b;
  lua_Integer total = 0;
  int err = open_input(g, path, &st);
  if (err != 0) {
    guard_release(g);
    return fail_path(L, "read_file", path, err);
  }
  if (max >= 0 && S_ISREG(st.st_mode) && st.st_size > max) {
    guard_release(g);
    return fail_limit(
        L, lua_pushfstring(L, "fs.read_file: %s: file too large", path), max);
  }
  luaL_buffinit(L, &b);
  for (;;) {
    char* p = luaL_prepbuffsize(&b, FS_CHUNK);
    ssize_t n = read_some(g->in, p, FS_CHUNK);
    if (n < 0) {
      err = errno;
      guard_release(g);
      return fail_path(L, "read_file", path, err);
    }
    if (n == 0) {
      break;
    }
    total += n;
    if (max >= 0 && total > max) {
      guard_release(g);
      return fail_limit(
          L, lua_pushfstring(L, "fs.read_file: %s: file too large", path), max);
    }
    luaL_addsize(&b, (size_t)n);
  }
  guard_release(g);
  luaL_pushresult(&b);
  return 1;
}

static int fs_write_file_atomic(lua_State* L) {
  const char* path = check_path(L, 1);
  size_t len;
  const char* data = luaL_checklstring(L, 2, &len);
  mode_t mode = opt_mode(L, 3, 0644);
  guard_t* g = guard_new(L, 0);
  int err = atomic_open(g, path, mode);
  if (err == 0) {
    err = write_all(g->out, data, len);
  }
  if (err == 0) {
    err = atomic_commit(g, path);
  }
  guard_release(g);
  if (err != 0) {
    return fail_path(L, "write_file_atomic", path, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* Copies src over dst atomically (mode: src's with keep_mode). Returns 0
 * or errno, with *src_failed set when the error is src's. */
static int copy_run(const char* src, const char* dst, int keep_mode,
                    mode_t mode, int durable, int* src_failed) {
  guard_t g;
  int err = guard_init(&g, 1);
  struct stat st;
  if (err == 0) {
    err = open_input(&g, src, &st);
    *src_failed = err != 0;
  }
  if (err != 0) {
    guard_release(&g);
    return err;
  }
  if (keep_mode) {
    mode = st.st_mode & 07777;
  }
  err = atomic_open(&g, dst, mode);
  while (err == 0) {
    ssize_t n = read_some(g.in, g.ibuf, FS_CHUNK);
    if (n < 0) {
      err = errno;
      *src_failed = 1;
    } else if (n == 0) {
      err = atomic_commit_opt(&g, dst, durable);
      break;
    } else {
      err = write_all(g.out, g.ibuf, (size_t)n);
    }
  }
  guard_release(&g);
  return err;
}

/* ---- gzip -------------------------------------------------------------- */

/*
 * The two gzip loops read from and write to either a file (g->in, g->out)
 * or a Lua string and buffer. A source yields the next chunk (n = 0 at the
 * end); a sink takes output. Both return 0 or errno.
 */
typedef struct {
  guard_t* g;
  const char* str; /* string source: the rest of it */
  size_t strlen;
  luaL_Buffer* buf; /* string sink */
  int read_err;     /* errno of a failed read (the source's fault) */
} gz_io_t;

static int gz_source(gz_io_t* io, unsigned char** p, size_t* n) {
  if (io->str != NULL) {
    *p = (unsigned char*)io->str;
    *n = io->strlen;
    io->str = NULL;
    io->strlen = 0;
    return 0;
  }
  if (io->g->in < 0) {
    *n = 0;
    return 0;
  }
  ssize_t r = read_some(io->g->in, io->g->ibuf, FS_CHUNK);
  if (r < 0) {
    io->read_err = errno;
    return errno;
  }
  *p = io->g->ibuf;
  *n = (size_t)r;
  return 0;
}

static int gz_sink(gz_io_t* io, const unsigned char* p, size_t n) {
  if (io->buf != NULL) {
    luaL_addlstring(io->buf, (const char*)p, n);
    return 0;
  }
  return write_all(io->g->out, p, n);
}

static int gz_deflate(gz_io_t* io, int level) {
  guard_t* g = io->g;
  z_stream* zs = &g->zs;
  int flush = Z_NO_FLUSH;
  if (deflateInit2(zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return ENOMEM;
  }
  g->zmode = 1;
  while (flush != Z_FINISH) {
    unsigned char* p = NULL;
    size_t n = 0;
    int err = gz_source(io, &p, &n);
    if (err != 0) {
      return err;
    }
    flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    while (n > 0 || flush == Z_FINISH) {
      /* Feed at most UINT_MAX bytes at a time (avail_in is an uInt). */
      uInt take = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
      zs->next_in = p;
      zs->avail_in = take;
      int rc;
      do {
        zs->next_out = g->obuf;
        zs->avail_out = FS_CHUNK;
        rc = deflate(zs, flush);
        err = gz_sink(io, g->obuf, FS_CHUNK - zs->avail_out);
        if (err != 0) {
          return err;
        }
      } while (zs->avail_out == 0);
      p += take;
      n -= take;
      if (rc == Z_STREAM_END) {
        break;
      }
    }
  }
  return 0;
}

/*
 * Inflates gzip data, member after member as gzip(1) and Python do; zero
 * bytes between or after members are padding. Returns 0, errno, FS_EPARSE
 * (with *msg) or FS_ELIMIT when the output would pass max (max < 0: none).
 */
static int gz_inflate(gz_io_t* io, lua_Integer max, const char** msg) {
  guard_t* g = io->g;
  z_stream* zs = &g->zs;
  lua_Integer total = 0;
  int in_member = 0; /* inside a member that has not ended yet */
  if (inflateInit2(zs, 15 + 16) != Z_OK) {
    return ENOMEM;
  }
  g->zmode = 2;
  *msg = NULL;
  for (;;) {
    unsigned char* p = NULL;
    size_t n = 0;
    int err = gz_source(io, &p, &n);
    if (err != 0) {
      return err;
    }
    if (n == 0) {
      if (in_member) {
        *msg = "unexpected end of data";
        return FS_EPARSE;
      }
      return 0;
    }
    while (n > 0) {
      if (!in_member) {
        while (n > 0 && *p == 0) { /* padding */
          p++;
          n--;
        }
        if (n == 0) {
          break;
        }
        in_member = 1;
      }
      uInt take = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
      zs->next_in = p;
      zs->avail_in = take;
      int rc;
      do {
        zs->next_out = g->obuf;
        zs->avail_out = FS_CHUNK;
        rc = inflate(zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
          *msg = zs->msg != NULL ? zs->msg : zError(rc);
          return rc == Z_MEM_ERROR ? ENOMEM : FS_EPARSE;
        }
        size_t out = FS_CHUNK - zs->avail_out;
        total += (lua_Integer)out;
        if (max >= 0 && total > max) {
          return FS_ELIMIT;
        }
        err = gz_sink(io, g->obuf, out);
        if (err != 0) {
          return err;
        }
        if (rc == Z_BUF_ERROR) {
          break; /* no progress without more input */
        }
        /* A full output buffer may leave output pending in zlib. */
      } while (rc != Z_STREAM_END && (zs->avail_in > 0 || zs->avail_out == 0));
      size_t used = take - zs->avail_in;
      p += used;
      n -= used;
      if (rc == Z_STREAM_END) {
        in_member = 0;
        inflateReset(zs);
      }
    }
  }
}

static int check_level(lua_State* L, int arg) {
  lua_Integer level = luaL_optinteger(L, arg, Z_DEFAULT_COMPRESSION);
  luaL_argcheck(L, level >= -1 && level <= 9, arg, "level must be -1 to 9");
  return (int)level;
}

static int fs_gzip_string(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  int level = check_level(L, 2);
  guard_t* g = guard_new(L, 1);
  luaL_Buffer b;
  gz_io_t io = {g, s, len, &b, 0};
  luaL_buffinit(L, &b);
  int err = gz_deflate(&io, level);
  if (err != 0) {
    return luaL_error(L, "fs.gzip_string: %s", strerror(err));
  }
  luaL_pushresult(&b);
  guard_release(g);
  return 1;
}

static int fs_gunzip_string(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  lua_Integer max = opt_limit(L, 2, FS_GUNZIP_STRING_MAX);
  guard_t* g = guard_new(L, 1);
  luaL_Buffer b;
  gz_io_t io = {g, s, len, &b, 0};
  const char* msg;
  luaL_buffinit(L, &b);
  /* An empty string holds no member at all: empty output, as Python. */
  int err = gz_inflate(&io, max, &msg);
  if (err == FS_EPARSE) {
    sw_fail(L, "parse", "fs.gunzip_string: invalid gzip data: %s", msg);
    guard_release(g);
    return 3;
  }
  guard_release(g);
  if (err == FS_ELIMIT) {
    return fail_limit(L, "fs.gunzip_string: output too large", max);
  }
  if (err != 0) {
    return luaL_error(L, "fs.gunzip_string: %s", strerror(err));
  }
  luaL_pushresult(&b);
  return 1;
}

/* Gzips src into dst atomically. Returns 0 or errno, with *src_failed set
 * when the error is src's. */
static int gzip_run(const char* src, const char* dst, int level, int durable,
                    int* src_failed) {
  guard_t g;
  int err = guard_init(&g, 1);
  gz_io_t io = {&g, NULL, 0, NULL, 0};
  struct stat st;
  if (err == 0) {
    err = open_input(&g, src, &st);
    *src_failed = err != 0;
  }
  if (err == 0) {
    err = atomic_open(&g, dst, st.st_mode & 07777);
  }
  if (err == 0) {
    err = gz_deflate(&io, level);
  }
  if (err == 0) {
    err = atomic_commit_opt(&g, dst, durable);
  }
  guard_release(&g);
  if (io.read_err != 0) {
    *src_failed = 1;
  }
  return err;
}

/* ---- the thread pool: copy_file, gzip_file, rmtree --------------------- */

/*
 * Inside a task these run on libuv's thread pool and yield, as hash.file
 * does, so a large artifact or a deep work dir does not stop the loop;
 * elsewhere (or where the task cannot yield) they run inline. A pool job
 * owns copies of its paths; a cancelled task only drops its claim (task =
 * NULL), and the after-work callback, which libuv always calls, frees it.
 */
enum { JOB_COPY, JOB_GZIP, JOB_RMTREE };

typedef struct {
  uv_work_t req;
  sw_task_t* task; /* NULL once the task was cancelled */
  int op;
  int status; /* of the work request */
  const char* src;
  const char* dst; /* NULL for rmtree */
  mode_t mode;
  int keep_mode;
  int level;
  int durable;
  int err;
  int src_failed;
  int unsafe;
  pathbuf_t pb; /* rmtree: the entry that failed */
  char paths[]; /* a pool job's copies of src and dst */
} fs_job_t;

static const char* const job_names[] = {"copy_file", "gzip_file", "rmtree"};

static void job_run(fs_job_t* j) {
  switch (j->op) {
    case JOB_COPY:
      j->err = copy_run(j->src, j->dst, j->keep_mode, j->mode, j->durable,
                        &j->src_failed);
      break;
    case JOB_GZIP:
      j->err = gzip_run(j->src, j->dst, j->level, j->durable, &j->src_failed);
      break;
    default:
      j->err = rmtree_run(j->src, &j->pb, &j->unsafe);
      break;
  }
}

/* What the function returns: true, or nil, msg, code. */
static int job_push(lua_State* L, void* data) {
  fs_job_t* j = (fs_job_t*)data;
  const char* name = job_names[j->op];
  if (j->status != 0) {
    lua_pushfstring(L, "fs.%s", name);
    return sw_fail_uv(L, lua_tostring(L, -1), j->status);
  }
  if (j->unsafe) {
    return sw_fail(L, "unsafe", "fs.rmtree: %s: refusing to remove /", j->src);
  }
  if (j->err != 0) {
    const char* where = j->src;
    if (j->op == JOB_RMTREE) {
      where = j->pb.s != NULL ? j->pb.s : j->src;
    } else if (!j->src_failed) {
      where = j->dst;
    }
    return fail_path(L, name, where, j->err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static void job_free(fs_job_t* j) {
  free(j->pb.s);
  free(j);
}

static void job_work(uv_work_t* req) { job_run((fs_job_t*)req->data); }

static void job_done(uv_work_t* req, int status) {
  fs_job_t* j = (fs_job_t*)req->data;
  if (j->task != NULL) {
    j->status = status;
    sw_task_resume(j->task, job_push, j);
  }
  job_free(j);
}

static void job_cancel(void* data) {
  fs_job_t* j = (fs_job_t*)data;
  j->task = NULL;
  /* Succeeds only if no thread has started it; either way job_done runs
   * on the loop and frees j. */
  (void)uv_cancel((uv_req_t*)&j->req);
}

/* Runs the job described by proto (paths borrowed from the Lua stack):
 * on the pool when the running task may yield, inline otherwise. */
static int job_start(lua_State* L, const fs_job_t* proto) {
  sw_task_t* t = sw_task_waitable(L);
  if (t == NULL) {
    fs_job_t j = *proto;
    job_run(&j);
    /* pb is read by the push and freed after; a memory error in between
     * would leak it, as any raise from a C function that holds memory. */
    int n = job_push(L, &j);
    free(j.pb.s);
    return n;
  }
  size_t ls = strlen(proto->src) + 1;
  size_t ld = proto->dst != NULL ? strlen(proto->dst) + 1 : 0;
  fs_job_t* j = (fs_job_t*)malloc(sizeof *j + ls + ld);
  if (j == NULL) {
    return luaL_error(L, "fs.%s: out of memory", job_names[proto->op]);
  }
  *j = *proto;
  memcpy(j->paths, proto->src, ls);
  j->src = j->paths;
  if (proto->dst != NULL) {
    memcpy(j->paths + ls, proto->dst, ld);
    j->dst = j->paths + ls;
  }
  j->req.data = j;
  j->task = t;
  int rc = uv_queue_work(sw_loop(L), &j->req, job_work, job_done);
  if (rc != 0) {
    job_free(j);
    lua_pushfstring(L, "fs.%s", job_names[proto->op]);
    return sw_fail_uv(L, lua_tostring(L, -1), rc);
  }
  sw_task_set_pending(t, job_cancel, j);
  return lua_yield(L, 0);
}

/* opts.fsync (default true): false for a temporary output, which then
 * costs no fsync of the file and its directory. */
static int opt_durable(lua_State* L, int arg) {
  if (!lua_isnoneornil(L, arg)) {
    luaL_checktype(L, arg, LUA_TTABLE);
  }
  return opt_flag(L, arg, "fsync", 1);
}

/* fs.rmtree(path) -> true | nil, msg, code */
static int fs_rmtree(lua_State* L) {
  fs_job_t j;
  memset(&j, 0, sizeof j);
  j.op = JOB_RMTREE;
  j.src = check_path(L, 1);
  return job_start(L, &j);
}

/* fs.copy_file(src, dst[, mode[, opts]]) -> true | nil, msg, code */
static int fs_copy_file(lua_State* L) {
  fs_job_t j;
  memset(&j, 0, sizeof j);
  j.op = JOB_COPY;
  j.src = check_path(L, 1);
  j.dst = check_path(L, 2);
  j.keep_mode = lua_isnoneornil(L, 3);
  j.mode = opt_mode(L, 3, 0);
  j.durable = opt_durable(L, 4);
  return job_start(L, &j);
}

/* fs.gzip_file(src, dst[, level[, opts]]) -> true | nil, msg, code */
static int fs_gzip_file(lua_State* L) {
  fs_job_t j;
  memset(&j, 0, sizeof j);
  j.op = JOB_GZIP;
  j.src = check_path(L, 1);
  j.dst = check_path(L, 2);
  j.level = check_level(L, 3);
  j.durable = opt_durable(L, 4);
  return job_start(L, &j);
}

static int fs_gunzip_file(lua_State* L) {
  const char* src = check_path(L, 1);
  const char* dst = check_path(L, 2);
  lua_Integer max = opt_limit(L, 3, -1);
  guard_t* g = guard_new(L, 1);
  gz_io_t io = {g, NULL, 0, NULL, 0};
  struct stat st;
  const char* msg = NULL;
  int err = open_input(g, src, &st);
  if (err != 0) {
    guard_release(g);
    return fail_path(L, "gunzip_file", src, err);
  }
  err = atomic_open(g, dst, st.st_mode & 07777);
  if (err == 0) {
    err = gz_inflate(&io, max, &msg);
  }
  if (err == 0) {
    err = atomic_commit(g, dst);
  }
  if (err == FS_EPARSE) {
    sw_fail(L, "parse", "fs.gunzip_file: %s: invalid gzip data: %s", src, msg);
    guard_release(g);
    return 3;
  }
  guard_release(g);
  if (err == FS_ELIMIT) {
    return fail_limit(
        L, lua_pushfstring(L, "fs.gunzip_file: %s: output too large", src),
        max);
  }
  if (err != 0) {
    return fail_path(L, "gunzip_file", io.read_err != 0 ? src : dst, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- files in directories the task script can write ------------------- */

/*
 * The work and artifact directories are the script's: whatever the worker
 * writes there after the script could run is created anew, never opened by
 * a name the script may have turned into a symbolic or hard link. An
 * existing entry (not a directory) is unlinked, then the file is created
 * with O_EXCL | O_NOFOLLOW. Returns the descriptor or -errno.
 */
static int create_new(const char* path, mode_t mode, int flags) {
  for (int tries = 0; tries < 8; tries++) {
    int fd =
        open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) {
      if (fchmod(fd, mode) < 0) {
        int err = errno;
        close(fd);
        return -err;
      }
      return fd;
    }
    if (errno != EEXIST) {
      return -errno;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
      return -errno;
    }
  }
  return -EEXIST;
}

/* fs.write_new(path, data[, mode]) -> true | nil, msg, code */
static int fs_write_new(lua_State* L) {
  const char* path = check_path(L, 1);
  size_t len;
  const char* data = luaL_checklstring(L, 2, &len);
  mode_t mode = opt_mode(L, 3, 0644);
  int fd = create_new(path, mode, O_WRONLY);
  if (fd < 0) {
    return fail_path(L, "write_new", path, -fd);
  }
  int err = write_all(fd, data, len);
  if (close(fd) < 0 && err == 0) {
    err = errno;
  }
  if (err != 0) {
    return fail_path(L, "write_new", path, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

#define FS_FILE_MT "sw.fs.File"

typedef struct {
  int fd;
} file_ud_t;

static file_ud_t* file_new(lua_State* L) {
  file_ud_t* f = (file_ud_t*)lua_newuserdatauv(L, sizeof *f, 0);
  f->fd = -1;
  luaL_setmetatable(L, FS_FILE_MT);
  return f;
}

static file_ud_t* file_check(lua_State* L) {
  file_ud_t* f = (file_ud_t*)luaL_checkudata(L, 1, FS_FILE_MT);
  if (f->fd < 0) {
    luaL_error(L, "fs.File: the file is closed");
  }
  return f;
}

static int file_close(lua_State* L) {
  file_ud_t* f = (file_ud_t*)luaL_checkudata(L, 1, FS_FILE_MT);
  if (f->fd >= 0) {
    close(f->fd);
    f->fd = -1;
  }
  return 0;
}

/*
 * fs.create(path[, mode]) -> sw.fs.File | nil, msg, code: path created anew
 * (create_new) and kept open for reading and writing, so that later
 * rewrites go to this file whatever the script does to its name.
 */
static int fs_create(lua_State* L) {
  const char* path = check_path(L, 1);
  mode_t mode = opt_mode(L, 2, 0600);
  file_ud_t* f = file_new(L);
  int fd = create_new(path, mode, O_RDWR);
  if (fd < 0) {
    return fail_path(L, "create", path, -fd);
  }
  f->fd = fd;
  return 1;
}

/* file:rewrite(data) -> true | nil, msg, code: the whole content replaced
 * through the descriptor (a reader seeks to 0 and reads again). */
static int file_rewrite(lua_State* L) {
  file_ud_t* f = file_check(L);
  size_t len;
  const char* data = luaL_checklstring(L, 2, &len);
  int err = ftruncate(f->fd, 0) < 0 ? errno : 0;
  size_t off = 0;
  while (err == 0 && off < len) {
    ssize_t w = pwrite(f->fd, data + off, len - off, (off_t)off);
    if (w < 0 && errno != EINTR) {
      err = errno;
    } else if (w > 0) {
      off += (size_t)w;
    }
  }
  if (err != 0) {
    return sw_fail_errno(L, "fs.File:rewrite", err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int file_fd(lua_State* L) {
  lua_pushinteger(L, file_check(L)->fd);
  return 1;
}

/* file:reader() -> sw.fs.File: a second, read-only descriptor of the same
 * file (for a child that must not write it), opened through /proc. */
static int file_reader(lua_State* L) {
  file_ud_t* f = file_check(L);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", f->fd);
  file_ud_t* r = file_new(L);
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    return fail_path(L, "File:reader", path, errno);
  }
  return 1;
}

/* file:chown(uid, gid) -> true | nil, msg, code (fchown). */
static int file_chown(lua_State* L) {
  file_ud_t* f = file_check(L);
  lua_Integer uid = luaL_checkinteger(L, 2);
  lua_Integer gid = luaL_checkinteger(L, 3);
  luaL_argcheck(L, uid >= 0 && uid <= INT32_MAX, 2, "uid out of range");
  luaL_argcheck(L, gid >= 0 && gid <= INT32_MAX, 3, "gid out of range");
  if (fchown(f->fd, (uid_t)uid, (gid_t)gid) < 0) {
    return sw_fail_errno(L, "fs.File:chown", errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* fs.chown(path, uid, gid) -> true | nil, msg, code; a symbolic link
 * itself, never its target (lchown). */
static int fs_chown(lua_State* L) {
  const char* path = check_path(L, 1);
  lua_Integer uid = luaL_checkinteger(L, 2);
  lua_Integer gid = luaL_checkinteger(L, 3);
  luaL_argcheck(L, uid >= 0 && uid <= INT32_MAX, 2, "uid out of range");
  luaL_argcheck(L, gid >= 0 && gid <= INT32_MAX, 3, "gid out of range");
  if (lchown(path, (uid_t)uid, (gid_t)gid) < 0) {
    return fail_path(L, "chown", path, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- snapshot ---------------------------------------------------------- */

static void push_hex(lua_State* L, const unsigned char* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char hex[128];
  for (size_t i = 0; i < n && i < 64; i++) {
    hex[2 * i] = digits[p[i] >> 4];
    hex[2 * i + 1] = digits[p[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (n < 64 ? n : 64));
}

/* Directory levels a snapshot enters (each holds two descriptors). */
#define FS_SNAPSHOT_DEPTH 64

typedef struct {
  list_t* out; /* type NULL: copied (st_size: bytes); else why refused */
  int rootfd;  /* the source root, for links resolved beneath it */
  const struct stat* protect;
  size_t nprotect;
  pathbuf_t rel; /* the entry's path relative to the root */
  unsigned char* buf;
} snap_t;

static int snap_note(snap_t* s, const char* why, off_t size) {
  entry_t e;
  memset(&e, 0, sizeof e);
  e.path = strdup(s->rel.s);
  e.parent = -1;
  e.type = why;
  if (e.path == NULL) {
    return ENOMEM;
  }
  e.st.st_size = size;
  return list_push(s->out, &e);
}

/* A copied file: its size and inode (of the copy) and its digests. */
static int snap_copied(snap_t* s, const struct stat* copy,
                       const unsigned char* sha256,
                       const unsigned char* sha512) {
  entry_t e;
  memset(&e, 0, sizeof e);
  e.path = strdup(s->rel.s);
  e.parent = -1;
  if (e.path == NULL) {
    return ENOMEM;
  }
  e.st = *copy;
  memcpy(e.sha256, sha256, sizeof e.sha256);
  memcpy(e.sha512, sha512, sizeof e.sha512);
  return list_push(s->out, &e);
}

/* Opens the target of the link at s->rel without leaving the root:
 * openat2 RESOLVE_BENEATH; where the kernel has no openat2, links are
 * refused. Returns the descriptor or -errno. */
static int open_beneath(snap_t* s) {
#ifdef SYS_openat2
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, s->rootfd, s->rel.s, &how, sizeof how);
  return fd < 0 ? -errno : (int)fd;
#else
  (void)s;
  return -ENOSYS;
#endif
}

/* Checks the open file fd and copies it as name into destdir. Returns 0
 * (also when refused, which is noted) or errno. */
static int snap_file(snap_t* s, int fd, int destdir, const char* name) {
  struct stat st;
  if (fstat(fd, &st) < 0) {
    return errno;
  }
  if (!S_ISREG(st.st_mode)) {
    return snap_note(s, "special", 0);
  }
  for (size_t i = 0; i < s->nprotect; i++) {
    if (s->protect[i].st_dev == st.st_dev &&
        s->protect[i].st_ino == st.st_ino) {
      return snap_note(s, "protected", 0);
    }
  }
  if (st.st_nlink > 1) {
    return snap_note(s, "hardlink", 0);
  }
  int out = openat(destdir, name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    return errno;
  }
  /* Both digests are taken from the bytes as they are copied, so the
   * chain of trust and the object upload need not read the file again
   * (and describe exactly what the copy holds). */
  EVP_MD_CTX* c256 = EVP_MD_CTX_new();
  EVP_MD_CTX* c512 = EVP_MD_CTX_new();
  int err = 0;
  if (c256 == NULL || c512 == NULL ||
      !EVP_DigestInit_ex2(c256, EVP_sha256(), NULL) ||
      !EVP_DigestInit_ex2(c512, EVP_sha512(), NULL)) {
    err = ENOMEM;
  }
  while (err == 0) {
    ssize_t n = read_some(fd, s->buf, FS_CHUNK);
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) {
      break;
    }
    if (!EVP_DigestUpdate(c256, s->buf, (size_t)n) ||
        !EVP_DigestUpdate(c512, s->buf, (size_t)n)) {
      err = ENOMEM;
      break;
    }
    err = write_all(out, s->buf, (size_t)n);
  }
  unsigned char d256[32];
  unsigned char d512[64];
  if (err == 0 && (!EVP_DigestFinal_ex(c256, d256, NULL) ||
                   !EVP_DigestFinal_ex(c512, d512, NULL))) {
    err = ENOMEM;
  }
  EVP_MD_CTX_free(c256);
  EVP_MD_CTX_free(c512);
  struct stat copy;
  if (err == 0 && fstat(out, &copy) < 0) {
    err = errno;
  }
  if (close(out) < 0 && err == 0) {
    err = errno;
  }
  return err != 0 ? err : snap_copied(s, &copy, d256, d512);
}

static int snap_dir(snap_t* s, int srcfd, int destfd, int depth);

/* One directory entry of snap_dir. */
static int snap_entry(snap_t* s, int dirfd_, int destfd, const char* name,
                      int depth) {
  struct stat st;
  if (fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    return errno == ENOENT ? 0 : errno;
  }
  if (S_ISDIR(st.st_mode)) {
    if (depth >= FS_SNAPSHOT_DEPTH) {
      return snap_note(s, "deep", 0);
    }
    int sfd =
        openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) {
      return errno == ENOENT ? 0 : errno;
    }
    if (mkdirat(destfd, name, 0700) < 0) {
      int err = errno;
      close(sfd);
      return err;
    }
    int dfd =
        openat(destfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
      int err = errno;
      close(sfd);
      return err;
    }
    int err = snap_dir(s, sfd, dfd, depth + 1); /* closes sfd */
    close(dfd);
    return err;
  }
  int fd;
  if (S_ISLNK(st.st_mode)) {
    fd = open_beneath(s);
    if (fd < 0) { /* leaves src, dangles, or no openat2 */
      return snap_note(s, "link", 0);
    }
  } else if (S_ISREG(st.st_mode)) {
    fd = openat(dirfd_, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      return errno == ENOENT  ? 0
             : errno == ELOOP ? snap_note(s, "link", 0)
                              : errno;
    }
  } else {
    return snap_note(s, "special", 0);
  }
  int err = snap_file(s, fd, destfd, name);
  close(fd);
  return err;
}

/* Copies directory srcfd (which it closes) into destfd. */
static int snap_dir(snap_t* s, int srcfd, int destfd, int depth) {
  DIR* d = fdopendir(srcfd);
  if (d == NULL) {
    int err = errno;
    close(srcfd);
    return err;
  }
  int err = 0;
  while (err == 0) {
    errno = 0;
    struct dirent* de = readdir(d);
    if (de == NULL) {
      err = errno;
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      continue;
    }
    size_t len = s->rel.len;
    if (len > 0) {
      err = pb_append(&s->rel, "/", 1);
    }
    if (err == 0) {
      err = pb_append(&s->rel, de->d_name, strlen(de->d_name));
    }
    if (err == 0) {
      err = snap_entry(s, dirfd(d), destfd, de->d_name, depth);
    }
    if (err == 0) {
      pb_truncate(&s->rel, len);
    }
  }
  closedir(d);
  return err;
}

/* A snapshot's work, done on the thread pool inside a task (inline
 * outside one): nothing in it touches Lua until snap_push. One allocation
 * holds the job, the protected files' stat and copies of both paths. */
typedef struct {
  uv_work_t req;
  sw_task_t* task; /* NULL once the task was cancelled */
  int status;      /* of the work request */
  const char* src;
  const char* dest;
  const struct stat* prot;
  size_t np;
  list_t list;  /* what was copied and refused */
  int err;      /* errno of the failure, 0 if none */
  char* failed; /* the path that failed (malloc'd), or NULL */
  char data[];  /* prot, then src, then dest */
} snap_job_t;

/* Copies job->src into job->dest (see fs.snapshot); fills job->list, or
 * job->err and job->failed. */
static void snap_run(snap_job_t* job) {
  unsigned char* buf = (unsigned char*)malloc(FS_CHUNK);
  snap_t s = {&job->list, -1, job->prot, job->np, {NULL, 0, 0}, buf};
  const char* failed = job->src;
  /* The relative path starts empty (allocated before anything is open). */
  int err = buf == NULL ? ENOMEM : pb_append(&s.rel, "", 0);
  int sfd = -1;
  if (err == 0) {
    sfd = open(job->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    err = sfd < 0 ? errno : 0;
  }
  if (err == 0) {
    s.rootfd = open(job->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s.rootfd < 0) {
      err = errno;
      close(sfd);
    }
  }
  int dfd = -1;
  if (err == 0) {
    failed = job->dest;
    if (mkdir(job->dest, 0700) < 0) {
      err = errno;
    } else {
      dfd = open(job->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      err = dfd < 0 ? errno : 0;
    }
    if (err != 0) {
      close(sfd);
    }
  }
  if (err == 0) {
    failed = job->src;
    err = snap_dir(&s, sfd, dfd, 0); /* closes sfd */
  }
  if (dfd >= 0) {
    close(dfd);
  }
  if (s.rootfd >= 0) {
    close(s.rootfd);
  }
  free(buf);
  job->err = err;
  if (err != 0) {
    /* The entry that failed, when it was below src. A failure to note it
     * leaves job->failed NULL: the message then names src. */
    char where[PATH_MAX];
    if (failed == job->src && s.rel.len > 0) {
      snprintf(where, sizeof where, "%s/%s", job->src, s.rel.s);
      failed = where;
    }
    job->failed = strdup(failed);
  } else if (job->list.n > 1) {
    qsort(job->list.v, job->list.n, sizeof *job->list.v, entry_cmp);
  }
  free(s.rel.s);
}

static void snap_free(snap_job_t* job) {
  list_release(&job->list);
  free(job->failed);
  free(job);
}

/* What fs.snapshot returns: files, refused, or nil, msg, code. */
static int snap_push(lua_State* L, void* data) {
  snap_job_t* job = (snap_job_t*)data;
  if (job->status != 0) {
    return sw_fail_uv(L, "fs.snapshot", job->status);
  }
  if (job->err != 0) {
    return fail_path(L, "snapshot",
                     job->failed != NULL ? job->failed : job->src, job->err);
  }
  const list_t* l = &job->list;
  lua_createtable(L, (int)(l->n < INT_MAX ? l->n : 0), 0);
  lua_newtable(L);
  lua_Integer nf = 0;
  lua_Integer nr = 0;
  for (size_t i = 0; i < l->n; i++) {
    const entry_t* e = &l->v[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, e->path);
    lua_setfield(L, -2, "name");
    if (e->type == NULL) {
      lua_pushinteger(L, (lua_Integer)e->st.st_size);
      lua_setfield(L, -2, "size");
      lua_pushinteger(L, (lua_Integer)e->st.st_ino);
      lua_setfield(L, -2, "ino");
      push_hex(L, e->sha256, sizeof e->sha256);
      lua_setfield(L, -2, "sha256");
      push_hex(L, e->sha512, sizeof e->sha512);
      lua_setfield(L, -2, "sha512");
      lua_rawseti(L, -3, ++nf);
    } else {
      lua_pushstring(L, e->type);
      lua_setfield(L, -2, "why");
      lua_rawseti(L, -2, ++nr);
    }
  }
  return 2;
}

static void snap_work(uv_work_t* req) { snap_run((snap_job_t*)req->data); }

static void snap_done(uv_work_t* req, int status) {
  snap_job_t* job = (snap_job_t*)req->data;
  if (job->task != NULL) {
    job->status = status;
    sw_task_resume(job->task, snap_push, job);
  }
  snap_free(job);
}

static void snap_cancel(void* data) {
  snap_job_t* job = (snap_job_t*)data;
  job->task = NULL;
  /* Succeeds only if no thread has started it; either way snap_done runs
   * on the loop and frees the job. */
  (void)uv_cancel((uv_req_t*)&job->req);
}

/* The job of an inline snapshot, freed by the box's __gc if building the
 * results raises (out of memory). */
static int snap_box_gc(lua_State* L) {
  snap_job_t** box = (snap_job_t**)luaL_checkudata(L, 1, FS_SNAP_MT);
  if (*box != NULL) {
    snap_free(*box);
    *box = NULL;
  }
  return 0;
}

/*
 * fs.snapshot(src, dest[, protect]) -> files, refused | nil, msg, code
 *
 * Copies every regular file under src into the new directory dest (0700),
 * each opened once, relative to its directory's descriptor without
 * following links (a symbolic link only to a file beneath src, through
 * openat2 RESOLVE_BENEATH), and checked on the open descriptor: a regular
 * file, one link, and not one of the files named in protect (compared by
 * device and inode). What is copied is exactly what was read from that
 * descriptor, so whatever later reads dest reads what was checked.
 * files: {name, size, ino, sha256, sha512} sorted by name; refused:
 * {name, why} with why one of "link" (a symbolic link that leaves src or
 * dangles), "special" (not a regular file), "hardlink" (more than one
 * link), "protected" (a file of protect), "deep" (a directory below
 * FS_SNAPSHOT_DEPTH levels). Inside a task the copy runs on libuv's
 * thread pool and the task waits for it, so the loop (reclaims, signals)
 * goes on meanwhile; elsewhere it blocks.
 */
static int fs_snapshot(lua_State* L) {
  const char* src = check_path(L, 1);
  const char* dest = check_path(L, 2);
  size_t nprot = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    nprot = (size_t)lua_rawlen(L, 3);
  }
  size_t ls = strlen(src) + 1;
  size_t ld = strlen(dest) + 1;
  if (nprot > 4096) {
    return luaL_error(L, "fs.snapshot: at most 4096 protected paths");
  }
  /* Boxed at once, so that a raise below frees the job. */
  snap_job_t** box = (snap_job_t**)lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, FS_SNAP_MT);
  snap_job_t* job = (snap_job_t*)calloc(
      1, sizeof *job + nprot * sizeof(struct stat) + ls + ld);
  if (job == NULL) {
    return luaL_error(L, "fs.snapshot: out of memory");
  }
  *box = job;
  struct stat* prot = (struct stat*)(void*)job->data;
  char* paths = job->data + nprot * sizeof(struct stat);
  memcpy(paths, src, ls);
  memcpy(paths + ls, dest, ld);
  job->src = paths;
  job->dest = paths + ls;
  job->prot = prot;
  for (size_t i = 1; i <= nprot; i++) {
    lua_rawgeti(L, 3, (lua_Integer)i);
    const char* p = lua_tostring(L, -1);
    if (p != NULL && stat(p, &prot[job->np]) == 0) {
      job->np++;
    }
    lua_pop(L, 1);
  }
  sw_task_t* t = sw_task_waitable(L);
  if (t == NULL) {
    snap_run(job);
    int n = snap_push(L, job);
    /* stack: box, results */
    *box = NULL;
    snap_free(job);
    return n;
  }
  job->req.data = job;
  job->task = t;
  int rc = uv_queue_work(sw_loop(L), &job->req, snap_work, snap_done);
  if (rc != 0) {
    return sw_fail_uv(L, "fs.snapshot", rc); /* the box frees the job */
  }
  /* The loop owns the job now: snap_done frees it. */
  *box = NULL;
  sw_task_set_pending(t, snap_cancel, job);
  return lua_yield(L, 0);
}

/* ---- the module -------------------------------------------------------- */

static const luaL_Reg file_methods[] = {
    {"chown", file_chown},   {"close", file_close},     {"fd", file_fd},
    {"reader", file_reader}, {"rewrite", file_rewrite}, {NULL, NULL}};

static const luaL_Reg fs_funcs[] = {{"chmod", fs_chmod},
                                    {"chown", fs_chown},
                                    {"create", fs_create},
                                    {"copy_file", fs_copy_file},
                                    {"exists", fs_exists},
                                    {"gunzip_file", fs_gunzip_file},
                                    {"gunzip_string", fs_gunzip_string},
                                    {"gzip_file", fs_gzip_file},
                                    {"gzip_string", fs_gzip_string},
                                    {"listdir", fs_listdir},
                                    {"lstat", fs_lstat},
                                    {"mkdirp", fs_mkdirp},
                                    {"read_file", fs_read_file},
                                    {"readlink", fs_readlink},
                                    {"realpath", fs_realpath},
                                    {"remove", fs_remove},
                                    {"rename", fs_rename},
                                    {"rmtree", fs_rmtree},
                                    {"safe_join", fs_safe_join},
                                    {"snapshot", fs_snapshot},
                                    {"stat", fs_stat},
                                    {"symlink", fs_symlink},
                                    {"tmpdir", fs_tmpdir},
                                    {"walk", fs_walk},
                                    {"write_file_atomic", fs_write_file_atomic},
                                    {"write_new", fs_write_new},
                                    {NULL, NULL}};

int luaopen_sw_fs(lua_State* L) {
  luaL_newmetatable(L, FS_GUARD_MT);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_LIST_MT);
  lua_pushcfunction(L, list_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_SNAP_MT);
  lua_pushcfunction(L, snap_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_FILE_MT);
  lua_pushcfunction(L, file_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, file_close);
  lua_setfield(L, -2, "__close");
  luaL_newlib(L, file_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, fs_funcs);
  return 1;
}
