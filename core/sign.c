/*
 * sign.c: the sw.sign module, everything scriptworker needs from libsodium:
 * ed25519 key pairs, detached signatures and their verification, HMAC-SHA256
 * (Hawk), base64 in both alphabets, hex, random bytes, a constant-time
 * compare, key files (read, and written with an exact mode, atomically),
 * and sw.Signer, a secret key held in guarded memory.
 *
 * Keys and signatures are raw byte strings: a 32-byte seed (the private key
 * as the Python scriptworker stores it), a 32-byte public key, a 64-byte
 * signature. Argument types are checked and raise; wrong lengths come from
 * data (key files, signature files) and return nil, msg, "badkey" or
 * "badsig" instead. Secret key material this file copies onto the C stack is
 * wiped with sodium_memzero before returning; the Lua strings the caller
 * holds are out of our reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sw.h"

#define SEED_BYTES crypto_sign_SEEDBYTES
#define PUBLIC_BYTES crypto_sign_PUBLICKEYBYTES
#define SECRET_BYTES crypto_sign_SECRETKEYBYTES
#define SIG_BYTES crypto_sign_BYTES

/* Characters b64decode skips anywhere in its input (key files may end in a
 * newline, PEM-like text wraps lines). */
#define B64_IGNORE " \t\r\n"

/* ------------------------------------------------------------------ */
/* ed25519 */

static int fail_length(lua_State* L, const char* code, const char* what,
                       const char* expected, size_t got) {
  return sw_fail(L, code, "sign: %s must be %s bytes, got %d", what, expected,
                 (int)(got > INT_MAX ? INT_MAX : got));
}

/*
 * Expand a 32-byte seed or a 64-byte libsodium secret key (seed || public)
 * into sk. For the 64-byte form the public half must be the one the seed
 * derives: signing with a mismatched half would leak the key. Returns 0, or
 * -1 after pushing nil, msg, "badkey".
 */
static int expand_secret(lua_State* L, const char* key, size_t len,
                         unsigned char sk[SECRET_BYTES]) {
  unsigned char pk[PUBLIC_BYTES];
  if (len != SEED_BYTES && len != SECRET_BYTES) {
    fail_length(L, "badkey", "private key", "32 or 64", len);
    return -1;
  }
  crypto_sign_seed_keypair(pk, sk, (const unsigned char*)key);
  if (len == SECRET_BYTES &&
      sodium_memcmp(pk, key + SEED_BYTES, PUBLIC_BYTES) != 0) {
    sodium_memzero(sk, SECRET_BYTES);
    sw_fail(L, "badkey", "sign: private key: public half does not match");
    return -1;
  }
  return 0;
}

static int sign_keygen(lua_State* L) {
  unsigned char seed[SEED_BYTES];
  unsigned char pk[PUBLIC_BYTES];
  unsigned char sk[SECRET_BYTES];
  randombytes_buf(seed, sizeof(seed));
  crypto_sign_seed_keypair(pk, sk, seed);
  sodium_memzero(sk, sizeof(sk));
  /* The seed on our stack is wiped; the copy in the Lua string is the
   * caller's to keep. */
  luaL_checkstack(L, 2, "sign.keygen");
  lua_pushlstring(L, (const char*)seed, sizeof(seed));
  sodium_memzero(seed, sizeof(seed));
  lua_pushlstring(L, (const char*)pk, sizeof(pk));
  return 2;
}

static int sign_public_from_seed(lua_State* L) {
  size_t len;
  const char* key = luaL_checklstring(L, 1, &len);
  unsigned char sk[SECRET_BYTES];
  if (expand_secret(L, key, len, sk) != 0) {
    return 3;
  }
  lua_pushlstring(L, (const char*)sk + SEED_BYTES, PUBLIC_BYTES);
  sodium_memzero(sk, sizeof(sk));
  return 1;
}

static int sign_sign(lua_State* L) {
  size_t klen, mlen;
  const char* key = luaL_checklstring(L, 1, &klen);
  const char* msg = luaL_checklstring(L, 2, &mlen);
  unsigned char sk[SECRET_BYTES];
  unsigned char sig[SIG_BYTES];
  if (expand_secret(L, key, klen, sk) != 0) {
    return 3;
  }
  crypto_sign_detached(sig, NULL, (const unsigned char*)msg, mlen, sk);
  sodium_memzero(sk, sizeof(sk));
  lua_pushlstring(L, (const char*)sig, sizeof(sig));
  return 1;
}

/* Checks the lengths of a public key and a signature; returns 0, or 3
 * after pushing nil, msg, code. */
static int check_verify_args(lua_State* L, size_t pklen, size_t siglen) {
  if (pklen != PUBLIC_BYTES) {
    return fail_length(L, "badkey", "public key", "32", pklen);
  }
  if (siglen != SIG_BYTES) {
    return fail_length(L, "badsig", "signature", "64", siglen);
  }
  return 0;
}

static int sign_verify(lua_State* L) {
  size_t pklen, mlen, siglen;
  const char* pk = luaL_checklstring(L, 1, &pklen);
  const char* msg = luaL_checklstring(L, 2, &mlen);
  const char* sig = luaL_checklstring(L, 3, &siglen);
  int n = check_verify_args(L, pklen, siglen);
  if (n != 0) {
    return n;
  }
  int rc = crypto_sign_verify_detached((const unsigned char*)sig,
                                       (const unsigned char*)msg, mlen,
                                       (const unsigned char*)pk);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/*
 * Read the whole file at path into a malloc'd buffer (*out, *len; *out is
 * never NULL on success). Returns 0 or an errno value.
 */
static int read_whole(const char* path, unsigned char** out, size_t* len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  struct stat st;
  size_t cap = 64 * 1024;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
      (uintmax_t)st.st_size < SIZE_MAX - 1) {
    cap = (size_t)st.st_size + 1; /* +1: see EOF without a regrow */
  }
  unsigned char* buf = malloc(cap);
  size_t used = 0;
  int err = buf == NULL ? ENOMEM : 0;
  while (err == 0) {
    if (used == cap) {
      size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
      unsigned char* nbuf = ncap == cap ? NULL : realloc(buf, ncap);
      if (nbuf == NULL) {
        err = ENOMEM;
        break;
      }
      buf = nbuf;
      cap = ncap;
    }
    ssize_t n = read(fd, buf + used, cap - used);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      err = errno;
    } else if (n == 0) {
      break;
    } else {
      used += (size_t)n;
    }
  }
  close(fd);
  if (err != 0) {
    free(buf);
    return err;
  }
  *out = buf;
  *len = used;
  return 0;
}

static int sign_verify_file(lua_State* L) {
  size_t pklen, siglen;
  const char* pk = luaL_checklstring(L, 1, &pklen);
  const char* path = luaL_checkstring(L, 2);
  const char* sig = luaL_checklstring(L, 3, &siglen);
  int n = check_verify_args(L, pklen, siglen);
  if (n != 0) {
    return n;
  }
  unsigned char* msg = NULL;
  size_t mlen = 0;
  int err = read_whole(path, &msg, &mlen);
  if (err != 0) {
    const char* what = lua_pushfstring(L, "sign: %s", path);
    return sw_fail_errno(L, what, err);
  }
  int rc = crypto_sign_verify_detached((const unsigned char*)sig, msg, mlen,
                                       (const unsigned char*)pk);
  free(msg);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* ------------------------------------------------------------------ */
/* HMAC, compare, random */

static int sign_hmac_sha256(lua_State* L) {
  size_t klen, mlen;
  const char* key = luaL_checklstring(L, 1, &klen);
  const char* msg = luaL_checklstring(L, 2, &mlen);
  crypto_auth_hmacsha256_state st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  /* _init takes any key length (longer keys are hashed first, RFC 2104). */
  crypto_auth_hmacsha256_init(&st, (const unsigned char*)key, klen);
  crypto_auth_hmacsha256_update(&st, (const unsigned char*)msg, mlen);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof(st));
  lua_pushlstring(L, (const char*)mac, sizeof(mac));
  return 1;
}

static int sign_equal(lua_State* L) {
  size_t alen, blen;
  const char* a = luaL_checklstring(L, 1, &alen);
  const char* b = luaL_checklstring(L, 2, &blen);
  lua_pushboolean(L, alen == blen && sodium_memcmp(a, b, alen) == 0);
  return 1;
}

static int sign_random_bytes(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= INT_MAX, 1, "out of range");
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, (size_t)n);
  randombytes_buf(p, (size_t)n);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* ------------------------------------------------------------------ */
/* base64 and hex */

static void push_b64(lua_State* L, const char* s, size_t len, int variant) {
  luaL_argcheck(L, len < (SIZE_MAX / 4) * 3 - 3, 1, "too long");
  size_t size = sodium_base64_encoded_len(len, variant); /* with the NUL */
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, size);
  sodium_bin2base64(p, size, (const unsigned char*)s, len, variant);
  luaL_pushresultsize(&b, size - 1);
}

/*
 * Decode len bytes of s; on success push the bytes and return 1, else push
 * nil, msg, "parse" and return 3. The message gives the 1-based byte where
 * decoding stopped.
 */
static int decode_b64(lua_State* L, const char* fname, const char* s,
                      size_t len, const char* ignore, int variant) {
  luaL_Buffer b;
  size_t bin_len = 0;
  const char* end = NULL;
  unsigned char* p = (unsigned char*)luaL_buffinitsize(L, &b, len / 4 * 3 + 3);
  int rc = sodium_base642bin(p, len / 4 * 3 + 3, s, len, ignore, &bin_len, &end,
                             variant);
  if (rc == 0 && end == s + len) {
    luaL_pushresultsize(&b, bin_len);
    return 1;
  }
  if (end != NULL && end < s + len) {
    return sw_fail(L, "parse", "%s: invalid base64 at byte %d", fname,
                   (int)(end - s) + 1);
  }
  return sw_fail(L, "parse", "%s: invalid base64: truncated or bad padding",
                 fname);
}

static int sign_b64decode(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  return decode_b64(L, "b64decode", s, len, B64_IGNORE,
                    sodium_base64_VARIANT_ORIGINAL);
}

static int sign_b64encode(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  push_b64(L, s, len, sodium_base64_VARIANT_ORIGINAL);
  return 1;
}

/* URL-safe alphabet; the padding is optional but, when present, complete. */
static int sign_b64url_decode(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  size_t bare = len;
  while (bare > 0 && len - bare < 2 && s[bare - 1] == '=') {
    bare--;
  }
  if (bare != len && len % 4 != 0) {
    return sw_fail(L, "parse",
                   "b64url_decode: invalid base64: truncated or bad padding");
  }
  return decode_b64(L, "b64url_decode", s, bare, NULL,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int sign_b64url_encode(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  int pad = lua_toboolean(L, 2);
  push_b64(L, s, len,
           pad ? sodium_base64_VARIANT_URLSAFE
               : sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 1;
}

static int sign_hex(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len < SIZE_MAX / 2, 1, "too long");
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, 2 * len + 1);
  sodium_bin2hex(p, 2 * len + 1, (const unsigned char*)s, len);
  luaL_pushresultsize(&b, 2 * len);
  return 1;
}

static int sign_unhex(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  if (len % 2 != 0) {
    return sw_fail(L, "parse", "unhex: odd number of digits");
  }
  luaL_Buffer b;
  size_t bin_len = 0;
  const char* end = NULL;
  unsigned char* p = (unsigned char*)luaL_buffinitsize(L, &b, len / 2 + 1);
  int rc = sodium_hex2bin(p, len / 2 + 1, s, len, NULL, &bin_len, &end);
  if (rc == 0 && end == s + len) {
    luaL_pushresultsize(&b, bin_len);
    return 1;
  }
  return sw_fail(L, "parse", "unhex: invalid hex at byte %d",
                 (int)(end != NULL ? end - s : 0) + 1);
}

/* ------------------------------------------------------------------ */
/* key files */

static int write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return errno;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Best effort: fsync the directory holding path so the new name survives a
 * crash. Modifies path temporarily. */
static void sync_parent(char* path) {
  char* slash = strrchr(path, '/');
  const char* dir = ".";
  if (slash == path) {
    dir = "/";
  } else if (slash != NULL) {
    *slash = '\0';
    dir = path;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (slash != NULL) {
    *slash = '/';
  }
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

/*
 * Write data to path with exactly this mode (the umask does not apply), all
 * or nothing: the bytes go to a fresh temporary file beside path (created
 * 0600 by mkostemp, then fchmod'ed, written and fsync'ed), which is then
 * renamed over path, or, without overwrite, hard-linked to path, which fails
 * with EEXIST if path exists, even when another process races us. Returns 0
 * or an errno value.
 */
static int write_file_atomic(const char* path, const char* data, size_t len,
                             mode_t mode, int overwrite) {
  static const char suffix[] = ".tmpXXXXXX";
  size_t plen = strlen(path);
  char* tmp = malloc(plen + sizeof(suffix));
  if (tmp == NULL) {
    return ENOMEM;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, suffix, sizeof(suffix));
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    free(tmp);
    return err;
  }
  int err = 0;
  if (fchmod(fd, mode) != 0) {
    err = errno;
  }
  if (err == 0) {
    err = write_all(fd, data, len);
  }
  if (err == 0 && fsync(fd) != 0) {
    err = errno;
  }
  if (close(fd) != 0 && err == 0) {
    err = errno;
  }
  if (err == 0 && overwrite && rename(tmp, path) != 0) {
    err = errno;
  } else if (err == 0 && !overwrite && link(tmp, path) != 0) {
    err = errno;
  }
  if (err != 0 || !overwrite) {
    (void)unlink(tmp);
  }
  if (err == 0) {
    sync_parent(tmp);
  }
  free(tmp);
  return err;
}

/* Key files hold 44 bytes of base64; anything this large is not one. */
#define KEY_FILE_MAX 4096

/*
 * Read a key file as the Python scriptworker writes it: the base64 of 32
 * bytes (a seed or a public key), with or without surrounding whitespace.
 * On success fills out and returns 0 with nothing pushed; otherwise pushes
 * nil, msg, code and returns 3. The file's text and the decoded bytes are
 * wiped from the stack buffers either way.
 */
static int read_key(lua_State* L, const char* path,
                    unsigned char out[SEED_BYTES]) {
  char text[KEY_FILE_MAX + 1];
  unsigned char key[KEY_FILE_MAX];
  size_t len = 0, key_len = 0;
  const char* end = NULL;
  int err = 0;
  /* O_NONBLOCK: a FIFO (or a device) at the key's path must not hang
   * start-up; only a regular file is read. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  int special = 0;
  struct stat st;
  if (fd < 0) {
    err = errno;
  } else if (fstat(fd, &st) != 0) {
    err = errno;
    close(fd);
    fd = -1;
  } else if (!S_ISREG(st.st_mode)) {
    special = 1;
    close(fd);
    fd = -1;
  }
  while (fd >= 0 && len < sizeof(text)) {
    ssize_t n = read(fd, text + len, sizeof(text) - len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    len += (size_t)n;
  }
  if (fd >= 0) {
    close(fd);
  }
  int rc = -1;
  if (err == 0 && len <= KEY_FILE_MAX) {
    rc = sodium_base642bin(key, sizeof(key), text, len, B64_IGNORE, &key_len,
                           &end, sodium_base64_VARIANT_ORIGINAL);
  }
  sodium_memzero(text, sizeof(text));
  int ok = rc == 0 && end == text + len && key_len == SEED_BYTES;
  if (ok) {
    memcpy(out, key, SEED_BYTES);
  }
  sodium_memzero(key, sizeof(key));
  if (ok) {
    return 0;
  }
  if (err != 0) {
    const char* what = lua_pushfstring(L, "sign: %s", path);
    return sw_fail_errno(L, what, err);
  }
  if (special) {
    return sw_fail(L, "badkey", "sign: %s: not a regular file", path);
  }
  if (len > KEY_FILE_MAX) {
    return sw_fail(L, "badkey", "sign: %s: not a key file (over %d bytes)",
                   path, KEY_FILE_MAX);
  }
  if (rc != 0 || end != text + len) {
    return sw_fail(L, "badkey", "sign: %s: not a key file (invalid base64)",
                   path);
  }
  return sw_fail(L, "badkey", "sign: %s: key must be 32 bytes, got %d", path,
                 (int)key_len);
}

static int sign_read_key_file(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  unsigned char key[SEED_BYTES];
  int n = read_key(L, path, key);
  if (n != 0) {
    return n;
  }
  lua_pushlstring(L, (const char*)key, sizeof(key));
  sodium_memzero(key, sizeof(key));
  return 1;
}

/* A mode from an integer (384) or an octal string ("0600", "644"). */
static mode_t check_mode(lua_State* L, int arg) {
  lua_Integer mode = 0600;
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char* s = lua_tostring(L, arg);
    char* end = NULL;
    errno = 0;
    long v = strtol(s, &end, 8);
    luaL_argcheck(L, s[0] >= '0' && s[0] <= '7' && *end == '\0' && errno == 0,
                  arg, "octal mode expected");
    mode = v;
  } else if (!lua_isnoneornil(L, arg)) {
    mode = luaL_checkinteger(L, arg);
  }
  luaL_argcheck(L, mode >= 0 && mode <= 0777, arg, "mode out of range");
  return (mode_t)mode;
}

static int sign_write_key_file(lua_State* L) {
  size_t len;
  const char* path = luaL_checkstring(L, 1);
  const char* data = luaL_checklstring(L, 2, &len);
  mode_t mode = check_mode(L, 3);
  int overwrite = lua_toboolean(L, 4);
  int err = write_file_atomic(path, data, len, mode, overwrite);
  if (err != 0) {
    const char* what = lua_pushfstring(L, "sign: %s", path);
    return sw_fail_errno(L, what, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------------------ */
/* sw.Signer: an expanded secret key in guarded memory (sodium_malloc:
 * guard pages, mlock'd, wiped by sodium_free), so a long-running worker can
 * sign without the seed ever being a Lua string (load_signer) and without
 * deriving the public key again for every signature. */

#define SIGNER_MT "sw.Signer"

typedef struct {
  unsigned char* sk; /* SECRET_BYTES from sodium_malloc; NULL once closed */
} signer_t;

/* Pushes a closed signer, then gives it its memory (liolib's order). */
static signer_t* new_signer(lua_State* L) {
  signer_t* s = lua_newuserdatauv(L, sizeof(*s), 0);
  s->sk = NULL;
  luaL_setmetatable(L, SIGNER_MT);
  s->sk = sodium_malloc(SECRET_BYTES);
  if (s->sk == NULL) {
    luaL_error(L, "sign: out of memory");
  }
  return s;
}

static void signer_free(signer_t* s) {
  if (s->sk != NULL) {
    sodium_free(s->sk);
    s->sk = NULL;
  }
}

static int sign_signer(lua_State* L) {
  size_t len;
  const char* key = luaL_checklstring(L, 1, &len);
  signer_t* s = new_signer(L);
  if (expand_secret(L, key, len, s->sk) != 0) {
    signer_free(s);
    return 3;
  }
  return 1;
}

static int sign_load_signer(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  signer_t* s = new_signer(L);
  unsigned char seed[SEED_BYTES];
  unsigned char pk[PUBLIC_BYTES];
  int n = read_key(L, path, seed);
  if (n != 0) {
    signer_free(s);
    return n;
  }
  crypto_sign_seed_keypair(pk, s->sk, seed);
  sodium_memzero(seed, sizeof(seed));
  return 1;
}

static signer_t* check_signer(lua_State* L) {
  signer_t* s = luaL_checkudata(L, 1, SIGNER_MT);
  if (s->sk == NULL) {
    luaL_error(L, "attempt to use a closed sw.Signer");
  }
  return s;
}

static int signer_sign(lua_State* L) {
  signer_t* s = check_signer(L);
  size_t mlen;
  const char* msg = luaL_checklstring(L, 2, &mlen);
  unsigned char sig[SIG_BYTES];
  crypto_sign_detached(sig, NULL, (const unsigned char*)msg, mlen, s->sk);
  lua_pushlstring(L, (const char*)sig, sizeof(sig));
  return 1;
}

static int signer_public(lua_State* L) {
  signer_t* s = check_signer(L);
  lua_pushlstring(L, (const char*)s->sk + SEED_BYTES, PUBLIC_BYTES);
  return 1;
}

static int signer_gc(lua_State* L) {
  signer_free(luaL_checkudata(L, 1, SIGNER_MT));
  return 0;
}

static int signer_tostring(lua_State* L) {
  signer_t* s = luaL_checkudata(L, 1, SIGNER_MT);
  lua_pushstring(L, s->sk == NULL ? "sw.Signer (closed)" : "sw.Signer");
  return 1;
}

/* ------------------------------------------------------------------ */

static const luaL_Reg sign_funcs[] = {
    {"b64decode", sign_b64decode},
    {"b64encode", sign_b64encode},
    {"b64url_decode", sign_b64url_decode},
    {"b64url_encode", sign_b64url_encode},
    {"equal", sign_equal},
    {"hex", sign_hex},
    {"hmac_sha256", sign_hmac_sha256},
    {"keygen", sign_keygen},
    {"load_signer", sign_load_signer},
    {"public_from_seed", sign_public_from_seed},
    {"random_bytes", sign_random_bytes},
    {"read_key_file", sign_read_key_file},
    {"sign", sign_sign},
    {"signer", sign_signer},
    {"unhex", sign_unhex},
    {"verify", sign_verify},
    {"verify_file", sign_verify_file},
    {"write_key_file", sign_write_key_file},
    {NULL, NULL}};

static const luaL_Reg signer_methods[] = {
    {"public", signer_public}, {"sign", signer_sign}, {NULL, NULL}};

static const luaL_Reg signer_metamethods[] = {{"__close", signer_gc},
                                              {"__gc", signer_gc},
                                              {"__index", NULL},
                                              {"__tostring", signer_tostring},
                                              {NULL, NULL}};

int luaopen_sw_sign(lua_State* L) {
  /* 0: initialised now, 1: already; thread-safe and cheap to repeat. */
  if (sodium_init() < 0) {
    return luaL_error(L, "sw.sign: libsodium failed to initialise");
  }
  luaL_newmetatable(L, SIGNER_MT);
  luaL_setfuncs(L, signer_metamethods, 0);
  luaL_newlibtable(L, signer_methods);
  luaL_setfuncs(L, signer_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, sign_funcs);
  lua_pushinteger(L, SEED_BYTES);
  lua_setfield(L, -2, "SEED_BYTES");
  lua_pushinteger(L, PUBLIC_BYTES);
  lua_setfield(L, -2, "PUBLIC_KEY_BYTES");
  lua_pushinteger(L, SIG_BYTES);
  lua_setfield(L, -2, "SIGNATURE_BYTES");
  return 1;
}
