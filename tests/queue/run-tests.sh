#!/usr/bin/env bash
# Runs the Queue emulator's own tests with node's test runner and prints its
# summary (the "# tests/# pass/# fail" lines). Installs the pinned npm
# packages first when node_modules is missing (make deps does the same).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# One file at a time keeps the servers of different files from competing for
# the two CPUs; the spec reporter prints the summary at the end.
exec node --test --test-concurrency=1 --test-reporter=spec test/
