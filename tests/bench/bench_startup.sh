#!/usr/bin/env bash
# Start-up: `scriptworker --version` wall time (median of 200 runs) and
# peak RSS, next to `lua5.4 -e ''` and `python3 -c 'import json'` (what the
# Python scriptworker's interpreter costs before importing anything of its
# own) measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${SW_BIN:-build/scriptworker}
python3 - "$BIN" <<'PY'
import os, resource, statistics, subprocess, sys, time

def measure(argv, runs=200):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    # Peak RSS of one run, from wait4's rusage (kilobytes on Linux).
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execvp(argv[0], argv)
    _, _, ru = os.wait4(pid, 0)
    return statistics.median(times) * 1000, ru.ru_maxrss / 1024

bin_ = sys.argv[1]
rows = [
    ("scriptworker --version", [bin_, "--version"]),
    ("lua5.4 -e ''", ["lua5.4", "-e", ""]),
    ("python3 -c 'import json'", ["python3", "-c", "import json"]),
]
results = {name: measure(argv) for name, argv in rows}
ours_ms, ours_rss = results["scriptworker --version"]
print(f"{'command':28} {'median ms':>10} {'peak RSS MiB':>13}")
for name, (ms, rss) in results.items():
    print(f"{name:28} {ms:10.2f} {rss:13.1f}")
py_ms, py_rss = results["python3 -c 'import json'"]
print(f"ratio python3/scriptworker: time {py_ms / ours_ms:.1f}x, RSS {py_rss / ours_rss:.1f}x")
PY
