#!/usr/bin/env bash
# make bench: runs every tests/bench/bench_*.sh in order. Each prints its
# figures next to a reference measured in the same run (ratios, not limits).
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
for b in tests/bench/bench_*.sh; do
  [ -f "$b" ] || continue
  echo "== $(basename "$b" .sh)"
  bash "$b" || { echo "$b failed"; status=1; }
done
exit $status
