#!/usr/bin/env bash
# sw.jsone's bounds: renders the worst case of each (substring search in
# `in` and split(), expression parsing and evaluation, template depth,
# slice start coercion, $sort by(x) given an array) with the default
# options and prints its wall time; the work, depth and size limits stop
# each within a second on an idle machine. Figures only, no thresholds
# (tests/unit/sw/jsone_bounds_spec.lua checks the behaviour).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SW=${SW_BIN:-$PWD/$BUILD/scriptworker}

echo "worst case of each sw.jsone bound, default budget (seconds per render)"
"$SW" lua tests/bench/jsone_bounds_bench.lua
