#!/usr/bin/env bash
# The policy runtime (issue 9): the time to load and validate the whole
# shipped policy set (sw.policy.load of policies/, averaged over 50 loads in
# one process, next to the digest of the same files), and the policies'
# cost per link of a chain of 10 links verified on the local Queue (the
# policy calls timed inside the engine, then replayed with and without the
# budget hook). The "write to live" figure comes with the reload feature.
# tests/bench/policy_bench.lua does the work. Figures only, no thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SW_BIN=${SW_BIN:-$PWD/$BUILD/scriptworker}
export SW_SHARED=${SW_SHARED:-$PWD/../shared}
"$SW_BIN" lua tests/bench/policy_bench.lua
