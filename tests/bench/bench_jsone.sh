#!/usr/bin/env bash
# sw.jsone rendering a real action template: the chain-of-trust v4
# retrigger pair (shared/conformance/scriptworker/cotv4/retrigger_template.json
# with retrigger_context.json, whose `now` pins the clock), rendered N times
# (default 100) inside `scriptworker lua`, timed per render with a monotonic
# clock. The reference beside it is the npm package json-e 4.8.4
# (tests/jsone, `make deps`) rendering the same pair N times in Node, timed
# the same way. Both get the same deterministic as_slugid(name) (in the
# Python scriptworker the context holds taskgraph's memoised slugid
# generator). Prints the first (cold) render and the median and minimum of
# all N, then checks both rendered the same task. No thresholds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SW=${SW_BIN:-$PWD/$BUILD/scriptworker}
N=${SW_BENCH_JSONE_N:-100}
DIR=${SW_SHARED:-../shared}/conformance/scriptworker/cotv4
if [ ! -f tests/jsone/node_modules/json-e/package.json ]; then
  echo "bench_jsone: json-e is not installed in tests/jsone; run \`make deps\`" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "rendering cotv4/retrigger_template.json $N times (ms per render)"

SW_BENCH_N=$N SW_BENCH_DIR=$DIR SW_BENCH_OUT=$tmp/ref.json node -e '
const fs = require("fs");
const jsone = require("./tests/jsone/node_modules/json-e");
const n = Number(process.env.SW_BENCH_N), dir = process.env.SW_BENCH_DIR;
const template = JSON.parse(fs.readFileSync(dir + "/retrigger_template.json", "utf8"));
const context = JSON.parse(fs.readFileSync(dir + "/retrigger_context.json", "utf8"));
context.as_slugid = name => ("slug" + name + "0123456789abcdefghijkl").slice(0, 22);
const times = [];
let result;
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  result = jsone(template, context);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
fs.writeFileSync(process.env.SW_BENCH_OUT, JSON.stringify(result));
const first = times[0];
times.sort((a, b) => a - b);
console.log(`REF ${first} ${times[Math.floor(n / 2)]} ${times[0]}`);
' >"$tmp/ref.txt"

SW_BENCH_N=$N SW_BENCH_DIR=$DIR SW_BENCH_REF=$tmp/ref.json "$SW" lua -e '
local json = require("sw.json")
local jsone = require("sw.jsone")
local ok, sched = pcall(require, "sw.sched")
local clock = ok and sched.monotonic or os.clock
local n, dir = tonumber(os.getenv("SW_BENCH_N")), os.getenv("SW_BENCH_DIR")
local function load(path)
  local f = assert(io.open(path, "rb"))
  local v = assert(json.decode(f:read("a")))
  f:close()
  return v
end
local template = load(dir .. "/retrigger_template.json")
local context = load(dir .. "/retrigger_context.json")
context.as_slugid = function(name)
  return ("slug" .. name .. "0123456789abcdefghijkl"):sub(1, 22)
end
local times, result = {}, nil
for i = 1, n do
  local t0 = clock()
  local err
  result, err = jsone.render(template, context)
  times[i] = (clock() - t0) * 1000
  assert(result ~= nil, err)
end
local first = times[1]
table.sort(times)
print(string.format("OURS %.6f %.6f %.6f", first, times[n // 2 + 1], times[1]))
-- the same task as json-e rendered?
package.path = "tests/?.lua;" .. package.path
local d = require("jsone.compare").diff(load(os.getenv("SW_BENCH_REF")), result)
print("SAME " .. tostring(d == nil) .. " " .. tostring(d))
' >"$tmp/ours.txt"

read -r _ r_first r_median r_min <"$tmp/ref.txt"
read -r _ o_first o_median o_min < <(grep '^OURS' "$tmp/ours.txt")
same=$(grep '^SAME' "$tmp/ours.txt" | cut -d' ' -f2)
diff=$(grep '^SAME' "$tmp/ours.txt" | cut -d' ' -f3-)
awk -v of="$o_first" -v om="$o_median" -v on="$o_min" \
  -v rf="$r_first" -v rm="$r_median" -v rn="$r_min" 'BEGIN {
  printf "%-28s: first %7.3f  median %7.3f  min %7.3f\n", "scriptworker sw.jsone", of, om, on
  printf "%-28s: first %7.3f  median %7.3f  min %7.3f\n", "node json-e 4.8.4", rf, rm, rn
  printf "median ratio ours/node: %.2f (the Python json-e of the Python scriptworker takes about 1.5 ms)\n", om / rm
}'
if [ "$same" != "true" ]; then
  echo "bench_jsone: sw.jsone and json-e rendered different tasks: $diff" >&2
  exit 1
fi
echo "both rendered the same task"
