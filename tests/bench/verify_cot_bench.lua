-- bench_verify_cot.sh's measurement, run inside `scriptworker lua` from the
-- repository root as `verify_cot_bench.lua GRAPH` (GRAPH: the output of
-- shared/tools/gen-task-graph.py 30000).
--
-- On the local Queue (anonymous reads of tasks and public artifacts), a
-- chain of 10 links built by tests/cot_chain.lua whose decision's
-- task-graph.json is GRAPH with the chain's own entries merged in, then
-- `scriptworker verify-cot --task-type signing --no-check-task ROOT CONFIG`
-- under /usr/bin/time, RUNS times (SW_BENCH_COT_RUNS, default 3): wall,
-- CPU (user + system) and peak RSS of each run and their medians. In the
-- same run, the reference: `python3 -c 'import json,sys;
-- json.load(open(sys.argv[1]))'` on the same merged file, which is where
-- the Python scriptworker spends most of its verification. Then start-up:
-- `scriptworker --version` next to `python3 -c pass` (median wall of 20
-- runs, peak RSS). The Python scriptworker's published figures are printed
-- for context. Figures and ratios only, no thresholds.
local root = os.getenv("PWD")
package.path = root .. "/tests/?.lua;" .. package.path

local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")

local GRAPH = assert(..., "usage: verify_cot_bench.lua GRAPH")
local BIN = os.getenv("SW_BIN") or (root .. "/build/scriptworker")
local RUNS = tonumber(os.getenv("SW_BENCH_COT_RUNS") or "") or 3
local STARTUP_RUNS = 20
local TIME = "/usr/bin/time"

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function median(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local function column(rows, key)
  local out = {}
  for i, r in ipairs(rows) do
    out[i] = r[key]
  end
  return out
end

-- Runs argv under /usr/bin/time; returns {wall, cpu, rss_mib, code,
-- stdout, stderr}. The time file is separate from the command's stderr.
local function timed(argv, tmp)
  local tfile = tmp .. "/time.txt"
  os.remove(tfile)
  local full = { TIME, "-f", "%e %U %S %M", "-o", tfile }
  table.move(argv, 1, #argv, #full + 1, full)
  local st = assert(proc.run({ argv = full, inherit_env = true, timeout = 600, max_capture = 1 << 20 }))
  local text = assert(fs.read_file(tfile), "no output from " .. TIME)
  local e, u, s, m = text:match("([%d.]+) ([%d.]+) ([%d.]+) (%d+)%s*$")
  assert(e, TIME .. ": unexpected output " .. text)
  return { wall = tonumber(e), cpu = tonumber(u) + tonumber(s), rss_mib = tonumber(m) / 1024, code = st.code,
    stdout = st.stdout, stderr = st.stderr }
end

-- Median wall seconds of `n` runs of argv (timed here, to the
-- microsecond), then the CPU seconds and peak RSS (MiB) of one run under
-- /usr/bin/time.
local function startup(argv, n, tmp)
  local walls = {}
  for i = 1, n do
    local t0 = sched.monotonic()
    local st = assert(proc.run({ argv = argv, inherit_env = true, timeout = 30 }))
    walls[i] = sched.monotonic() - t0
    assert(st.code == 0, argv[1] .. " exited with " .. tostring(st.code))
  end
  local one = timed(argv, tmp)
  return median(walls), one.cpu, one.rss_mib
end

local function ratio(a, b)
  return b > 0 and string.format("%.2fx", a / b) or "-"
end

local function main()
  local tmp = assert(fs.tmpdir("/tmp/sw-bench-cot-"))
  local fx = support_queue.start({
    anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
  })
  local chain
  local ok, err = pcall(function()
    -- 10 links: decision, docker-image, build, 6 l10n, signing; the root
    -- is a signing task whose parent is the decision.
    chain = cot_chain.build({
      root_type = "signing",
      shape = { signing = true, n_extra = 6 },
      graph_file = GRAPH,
      root_provisioner = "proj-releng",
      root_worker_type = fx:unique_queue("cot"):match("/(.*)$"),
    })
    assert(#chain:links() == 10, "expected a chain of 10 links, got " .. #chain:links())
    local merged = chain.artifacts[chain.decision.id]["public/task-graph.json"]
    assert(type(merged) == "table" and merged.path, "the decision's task graph is not file-backed")
    local graph_bytes = assert(fs.stat(merged.path)).size
    local t0 = sched.monotonic()
    chain:load(fx)
    local load_s = sched.monotonic() - t0
    local config = tmp .. "/config.json"
    assert(fs.write_file_atomic(config, assert(json.encode(chain:config(fx)))))

    local argv = { BIN, "verify-cot", "--task-type", "signing", "--no-check-task", "--cleanup", chain.root_task_id,
      config }
    local ours = {}
    for i = 1, RUNS do
      local r = timed(argv, tmp)
      if r.code ~= 0 or not r.stdout:find("chain of trust verified (10 links", 1, true) then
        error(string.format("verify-cot exited with %s:\n%s\n%s", tostring(r.code), r.stdout, r.stderr), 0)
      end
      ours[i] = r
    end
    local ref_argv = { "python3", "-c", "import json,sys; json.load(open(sys.argv[1]))", merged.path }
    local theirs = {}
    for i = 1, RUNS do
      theirs[i] = timed(ref_argv, tmp)
      assert(theirs[i].code == 0, "python3 json.load failed: " .. theirs[i].stderr)
    end
    local sw_start, sw_cpu, sw_rss = startup({ BIN, "--version" }, STARTUP_RUNS, tmp)
    local py_start, py_cpu, py_rss = startup({ "python3", "-c", "pass" }, STARTUP_RUNS, tmp)

    say("chain of 10 links on the local Queue; the decision's task-graph.json: %d bytes (%.1f MiB; "
      .. "the %s entries of %s plus the chain's own), loaded in %.1f s", graph_bytes, graph_bytes / 1048576,
      "30000", GRAPH:match("[^/]+$"), load_s)
    say("%-52s %8s %8s %9s", string.format("(median of %d runs)", RUNS), "wall s", "CPU s", "peak MiB")
    local o = { wall = median(column(ours, "wall")), cpu = median(column(ours, "cpu")),
      rss = median(column(ours, "rss_mib")) }
    local p = { wall = median(column(theirs, "wall")), cpu = median(column(theirs, "cpu")),
      rss = median(column(theirs, "rss_mib")) }
    say("%-52s %8.2f %8.2f %9.1f", "scriptworker verify-cot (whole verification)", o.wall, o.cpu, o.rss)
    say("%-52s %8.2f %8.2f %9.1f", "python3 json.load of the same file (reference)", p.wall, p.cpu, p.rss)
    say("%-52s %8s %8s %9s", "  json.load / verify-cot", ratio(p.wall, o.wall), ratio(p.cpu, o.cpu),
      ratio(p.rss, o.rss))
    for i, r in ipairs(ours) do
      say("  verify-cot run %d: wall %.2f s, CPU %.2f s, %.1f MiB; json.load run %d: wall %.2f s, CPU %.2f s, "
        .. "%.1f MiB", i, r.wall, r.cpu, r.rss_mib, i, theirs[i].wall, theirs[i].cpu, theirs[i].rss_mib)
    end
    say("start-up (median wall of %d runs; CPU and peak RSS of one, CPU to 10 ms):", STARTUP_RUNS)
    say("  scriptworker --version  %7.1f ms wall %5.2f s CPU %7.1f MiB", sw_start * 1000, sw_cpu, sw_rss)
    say("  python3 -c pass         %7.1f ms wall %5.2f s CPU %7.1f MiB   (python / ours: %s wall, %s RSS)",
      py_start * 1000, py_cpu, py_rss, ratio(py_start, sw_start), ratio(py_rss, sw_rss))
    say("the Python scriptworker's published figures (this machine kind, not measured here): json.load of "
      .. "this graph 1.6-1.8 s and 459 MiB; one parent-task v2 check 10 ms; process start-up 0.23 s and 43 MiB")
    say("  against them (the goal of issue 8: 5x faster, a third of the memory): verify-cot's %.2f s is %s "
      .. "faster than their json.load alone at 1.7 s; its %.1f MiB is %.2f of 459 MiB", o.wall, ratio(1.7, o.wall),
      o.rss, o.rss / 459)
    local s = fx:stats()
    assert(s.requestSchemaFailures == 0 and s.responseSchemaFailures == 0, "schema failures in the local Queue")
  end)
  if chain then
    chain:cleanup()
  end
  fx:stop()
  fs.rmtree(tmp)
  if not ok then
    error(err, 0)
  end
end

main()
