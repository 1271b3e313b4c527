#!/usr/bin/env bash
# The worker's own cost per task on loopback, against the local Queue
# (tests/queue): the worker binary takes 50 tasks, each a script writing 10
# small artifacts, and we print the median (and p90) time from the Queue's
# claim to the script's first instant and from the script's last instant
# to the run's resolution, with the worker log's split of each; beside
# them, references measured in the same run (spawning the script alone;
# the same Queue calls from sw.queue alone). Then the worker's memory,
# VmRSS and VmHWM from /proc, idle and while running tasks, beside a bare
# `scriptworker lua`. tests/bench/worker_bench.lua does the work. Figures
# only, no thresholds. SW_BENCH_WORKER_TASKS changes the number of tasks.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SW_BIN=${SW_BIN:-$PWD/$BUILD/scriptworker}
"$SW_BIN" lua tests/bench/worker_bench.lua
