#!/usr/bin/env bash
# The time from claim to script start for a verified chain of 10 links:
# the worker binary (--policy policies/signing.lua, verify_chain_of_trust
# on) takes the roots of 5 chains built by tests/cot_chain.lua from the
# local Queue, and we print the time from its "claimed task" log line (and
# from the Queue's claim) to the task script's first instant, next to the
# same worker running tasks without chain of trust in the same run.
# tests/bench/cot_worker_bench.lua does the work; SW_BENCH_COT_CHAINS
# changes the number of chains. Figures only, no thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SW_BIN=${SW_BIN:-$PWD/$BUILD/scriptworker}
export SW_SHARED=${SW_SHARED:-$PWD/../shared}
"$SW_BIN" lua tests/bench/cot_worker_bench.lua
