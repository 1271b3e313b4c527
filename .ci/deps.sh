#!/usr/bin/env bash
# Installs what scriptworker needs on Debian 12: build and test packages with
# apt-get (as root; otherwise prints the exact command and fails), then the
# local Queue's pinned npm packages with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev clang-format
  lua5.4 liblua5.4-dev lua-busted lua-check
  libuv1-dev libcurl4-openssl-dev libssl-dev openssl libsodium-dev
  libyaml-dev libyajl-dev libpcre2-dev zlib1g-dev
  mime-support python3 nodejs curl time
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "make deps: these packages are missing: ${missing[*]}" >&2
    echo "make deps: run as root: apt-get update && $cmd" >&2
    exit 1
  fi
  echo "make deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive $cmd
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "make deps: npm not found (Debian's nodejs from the image ships it)" >&2
  exit 1
fi
for lock in tests/*/package-lock.json; do
  [ -f "$lock" ] || continue
  dir=$(dirname "$lock")
  lock_sum=$(sha256sum "$lock" | cut -d' ' -f1)
  stamp=$dir/node_modules/.sw-lock-sha256
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "make deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
  fi
done
echo "make deps: ok"
