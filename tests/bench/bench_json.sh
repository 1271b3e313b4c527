#!/usr/bin/env bash
# sw.json on a 128 MB task-graph.json (30000 tasks, written once by
# ../shared/tools/gen-task-graph.py and cached in $TMPDIR): json.decode_file,
# then json.encode(v, {canonical = true}), next to Python's json.load and
# the json.dumps(v, indent=2, sort_keys=True) that scriptworker signs with,
# each in its own process. Wall and CPU seconds, peak RSS so far (decode
# alone, then decode + encode), ratios python / ours. Then what chain of
# trust needs: json.decode_file(f, {keys = 10 taskIds}) in a process of its
# own, next to the same python json.load. No thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SW=${SW_BIN:-$PWD/$BUILD/scriptworker}
TASKS=${SW_BENCH_JSON_TASKS:-30000}
CACHE=${TMPDIR:-/tmp}/sw-bench
FILE=$CACHE/task-graph-$TASKS.json

if [ ! -s "$FILE" ]; then
  mkdir -p "$CACHE"
  echo "generating $FILE (once)..."
  python3 "${SW_SHARED:-../shared}/tools/gen-task-graph.py" "$TASKS" "$FILE.tmp"
  mv "$FILE.tmp" "$FILE"
fi

ours=$("$SW" lua tests/bench/json_bench.lua "$FILE")
# Ten taskIds spread over the graph: the top-level keys, at indent 2.
mapfile -t ids < <(grep -E '^  "[A-Za-z0-9_-]{22}": \{$' "$FILE" |
  awk -v n="$TASKS" 'NR % int(n / 10) == 1 { print substr($1, 2, 22) }' |
  head -n 10)
keys=$("$SW" lua tests/bench/json_bench.lua "$FILE" keys "${ids[@]}")

theirs=$(python3 - "$FILE" <<'PY'
import json, resource, sys, time

def step(name, fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    w1, c1 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("%s %.3f %.3f %.0f" % (name, w1 - w0, c1 - c0, peak))
    return result

def load():
    # Text mode, as scriptworker opens it (binary mode peaks ~120 MiB higher:
    # the bytes and the str exist at once).
    with open(sys.argv[1], encoding="utf-8") as f:
        return json.load(f)

value = step("decode", load)
text = step("encode", lambda: json.dumps(value, indent=2, sort_keys=True))
with open(sys.argv[1], "rb") as f:
    print("identical " + str(f.read() == text.encode()).lower())
PY
)

field() { # field STEP COLUMN TEXT
  echo "$3" | awk -v s="$1" -v c="$2" '$1 == s { print $c }'
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

echo "$(basename "$FILE"): $(stat -c %s "$FILE") bytes"
printf "%-46s %8s %8s %9s\n" "" "wall s" "CPU s" "peak MiB"
for s in decode encode; do
  if [ "$s" = decode ]; then
    mine="scriptworker json.decode_file"
    ref="python3 json.load"
  else
    mine="scriptworker json.encode canonical"
    ref="python3 json.dumps(indent=2, sort_keys=True)"
  fi
  printf "%-46s %8s %8s %9s\n" "$mine" "$(field $s 2 "$ours")" \
    "$(field $s 3 "$ours")" "$(field $s 4 "$ours")"
  printf "%-46s %8s %8s %9s\n" "$ref" "$(field $s 2 "$theirs")" \
    "$(field $s 3 "$theirs")" "$(field $s 4 "$theirs")"
  printf "%-46s %8s %8s %9s\n" "  python / ours" \
    "$(ratio "$(field $s 2 "$theirs")" "$(field $s 2 "$ours")")" \
    "$(ratio "$(field $s 3 "$theirs")" "$(field $s 3 "$ours")")" \
    "$(ratio "$(field $s 4 "$theirs")" "$(field $s 4 "$ours")")"
done
echo "canonical text identical to the file python wrote: ours $(field identical 2 "$ours"), python $(field identical 2 "$theirs")"
mine="scriptworker decode_file {keys = ${#ids[@]} ids}"
printf "%-46s %8s %8s %9s\n" "$mine" "$(field keys 2 "$keys")" \
  "$(field keys 3 "$keys")" "$(field keys 4 "$keys")"
printf "%-46s %8s %8s %9s\n" "python3 json.load (as above)" \
  "$(field decode 2 "$theirs")" "$(field decode 3 "$theirs")" \
  "$(field decode 4 "$theirs")"
printf "%-46s %8s %8s %9s\n" "  python / ours" \
  "$(ratio "$(field decode 2 "$theirs")" "$(field keys 2 "$keys")")" \
  "$(ratio "$(field decode 3 "$theirs")" "$(field keys 3 "$keys")")" \
  "$(ratio "$(field decode 4 "$theirs")" "$(field keys 4 "$keys")")"
echo "taskIds found with keys: $(field found 2 "$keys") of ${#ids[@]}"
