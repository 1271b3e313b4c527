#!/usr/bin/env bash
# Policy hot reload (issue 9): load + validate of the shipped set, a full
# reload's set and config, and the time from a write under a running
# worker's policy folder to the new set in force (its log line).
# tests/bench/policy_reload_bench.lua does the work. Figures only.
# SW_BENCH_RELOAD_RUNS changes the number of runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SW_BIN=${SW_BIN:-$PWD/$BUILD/scriptworker}
"$SW_BIN" lua tests/bench/policy_reload_bench.lua
