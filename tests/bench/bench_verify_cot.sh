#!/usr/bin/env bash
# `scriptworker verify-cot` of a chain of 10 links on loopback (the local
# Queue), whose decision task-graph.json holds the 30000 tasks of
# ../shared/tools/gen-task-graph.py (128 MB, generated once and cached in
# $TMPDIR/sw-bench, shared with bench_json.sh) plus the chain's own entries:
# wall, CPU and peak RSS (/usr/bin/time), next to python3's json.load of
# the same file measured in the same run, the ratios, the Python
# scriptworker's published figures, and start-up (`scriptworker --version`
# next to `python3 -c pass`). tests/bench/verify_cot_bench.lua does the
# work; SW_BENCH_COT_RUNS changes the number of runs (default 3). Figures
# only, no thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SW_BIN=${SW_BIN:-$PWD/$BUILD/scriptworker}
export SW_SHARED=${SW_SHARED:-$PWD/../shared}
TASKS=30000
CACHE=${TMPDIR:-/tmp}/sw-bench
FILE=$CACHE/task-graph-$TASKS.json

if [ ! -x /usr/bin/time ]; then
  echo "bench_verify_cot: /usr/bin/time is missing (package time; make deps installs it)" >&2
  exit 1
fi
if [ ! -s "$FILE" ]; then
  mkdir -p "$CACHE"
  echo "generating $FILE (once)..."
  python3 "$SW_SHARED/tools/gen-task-graph.py" "$TASKS" "$FILE.tmp.$$"
  mv "$FILE.tmp.$$" "$FILE"
fi
"$SW_BIN" lua tests/bench/verify_cot_bench.lua "$FILE"
