#!/usr/bin/env bash
# ed25519 signs and verifications per second of one 1 KiB message with
# sw.sign (libsodium), in a Lua loop inside `scriptworker lua`: signing with
# a sw.Signer (key expanded once) and with sign.sign(seed), which derives the
# public key again on every call. The reference
# beside it is the same loop in Python: PyNaCl (libsodium) when installed,
# else `cryptography` (OpenSSL), which the Python scriptworker itself uses.
# `openssl` has no raw ed25519 loop to compare with. No thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SW=${SW_BIN:-$PWD/$BUILD/scriptworker}
N=${SW_BENCH_ED25519_N:-20000}

SW_BENCH_N=$N "$SW" lua -e '
local sign = require("sw.sign")
local n = tonumber(os.getenv("SW_BENCH_N"))
local seed, public = sign.keygen()
local msg = string.rep("0123456789abcdef", 64)
local signer = sign.signer(seed)
local sig = sign.sign(seed, msg)
local best_sign, best_verify, best_signer = math.huge, math.huge, math.huge
for _ = 1, 3 do
  local t0 = os.clock()
  for _ = 1, n do
    sig = sign.sign(seed, msg)
  end
  local t1 = os.clock()
  for _ = 1, n do
    assert(sign.verify(public, msg, sig))
  end
  local t2 = os.clock()
  for _ = 1, n do
    sig = signer:sign(msg)
  end
  local t3 = os.clock()
  best_sign = math.min(best_sign, t1 - t0)
  best_verify = math.min(best_verify, t2 - t1)
  best_signer = math.min(best_signer, t3 - t2)
end
print(string.format("%-30s: %8.0f verify/s %8.0f sign/s", "scriptworker sw.Signer",
  n / best_verify, n / best_signer))
print(string.format("%-30s: %8s verify/s %8.0f sign/s", "scriptworker sign.sign(seed)", "",
  n / best_sign))
'

ref=$(cat <<'PY'
import os, sys, time
n = int(os.environ["SW_BENCH_N"])
msg = b"0123456789abcdef" * 64
try:
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    vk = sk.verify_key
    name = "python PyNaCl (libsodium)"
    do_sign = lambda: sk.sign(msg).signature
    do_verify = lambda s: vk.verify(msg, s)
except ImportError:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    sk = Ed25519PrivateKey.generate()
    vk = sk.public_key()
    name = "python cryptography (OpenSSL)"
    do_sign = lambda: sk.sign(msg)
    do_verify = lambda s: vk.verify(s, msg)
sig = do_sign()
best_sign = best_verify = float("inf")
for _ in range(3):
    t0 = time.process_time()
    for _ in range(n):
        sig = do_sign()
    t1 = time.process_time()
    for _ in range(n):
        do_verify(sig)
    t2 = time.process_time()
    best_sign = min(best_sign, t1 - t0)
    best_verify = min(best_verify, t2 - t1)
print("%-30s: %8.0f verify/s %8.0f sign/s" % (name, n / best_verify, n / best_sign))
PY
)
if command -v python3 >/dev/null &&
  python3 -c 'import nacl.signing' 2>/dev/null ||
  python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null; then
  SW_BENCH_N=$N python3 -c "$ref"
else
  echo "reference: none (python3 with PyNaCl or cryptography not available)"
fi
echo "($N operations on a 1 KiB message, best of 3, CPU time)"
