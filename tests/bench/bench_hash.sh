#!/usr/bin/env bash
# sw.hash.file against `openssl dgst` on the same 256 MiB file, sha256 and
# sha512, best of 3 wall-clock runs each, alternating (whole processes,
# start-up included on both sides; inside `scriptworker lua` the file is
# hashed on the thread pool, as the worker does it). The file is fixed pseudo-random content (AES-CTR
# keystream under an all-zero key), cached in /tmp across runs and read once
# before timing so both sides hash from the page cache. Prints MB/s and our
# speed as a ratio of openssl's (the target is 0.9 or more), and checks that
# both give the same digest.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SW=${SW_BIN:-$PWD/$BUILD/scriptworker}
FILE=${SW_BENCH_HASH_FILE:-/tmp/sw-bench-hash-256M.bin}
SIZE=$((256 * 1024 * 1024))
RUNS=${SW_BENCH_RUNS:-3}

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne "$SIZE" ]; then
  echo "creating $FILE (256 MiB)"
  openssl enc -aes-128-ctr -K 00000000000000000000000000000000 \
    -iv 00000000000000000000000000000000 -nosalt -in /dev/zero 2>/dev/null |
    head -c "$SIZE" >"$FILE.tmp" || true
  mv "$FILE.tmp" "$FILE"
fi
cat "$FILE" >/dev/null

now() { date +%s%N; }

# timed VAR CMD...: runs CMD once; keeps the smallest time (ns) in VAR and
# CMD's stdout in OUT.
timed() {
  local var=$1 t0 t1
  shift
  t0=$(now)
  OUT=$("$@")
  t1=$(now)
  if [ "${!var}" -eq 0 ] || [ $((t1 - t0)) -lt "${!var}" ]; then
    printf -v "$var" '%d' $((t1 - t0))
  fi
}

ours() {
  SW_BENCH_FILE=$FILE SW_BENCH_ALG=$1 "$SW" lua -e \
    'print(assert(require("sw.hash").file(os.getenv("SW_BENCH_FILE"), os.getenv("SW_BENCH_ALG"))))'
}

status=0
echo "hashing $FILE, best of $RUNS"
for alg in sha256 sha512; do
  # Alternate the two so a busy machine slows both alike.
  ref_ns=0
  our_ns=0
  for _ in $(seq "$RUNS"); do
    timed ref_ns openssl dgst "-$alg" "$FILE"
    ref_digest=${OUT##* }
    timed our_ns ours "$alg"
    our_digest=$OUT
  done
  awk -v a="$alg" -v r="$ref_ns" -v o="$our_ns" -v s="$SIZE" 'BEGIN {
    r /= 1e9; o /= 1e9
    printf "%s: openssl dgst %7.0f MB/s (%.3f s)  scriptworker %7.0f MB/s (%.3f s)  ratio %.2f\n",
      a, s / r / 1e6, r, s / o / 1e6, o, r / o }'
  if [ "$ref_digest" != "$our_digest" ]; then
    echo "$alg: DIGESTS DIFFER: openssl $ref_digest, scriptworker $our_digest"
    status=1
  fi
done
exit $status
