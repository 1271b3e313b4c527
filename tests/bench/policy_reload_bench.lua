-- The policy reload's costs (tests/bench/bench_policy_reload.sh): the time
-- to load and validate the shipped policy set (sw.policy.load) and to build
-- a reload's whole new pair (sw.config.load_with_policy, what sw.reload
-- runs), medians; then, against a running worker binary, the time from a
-- write under its policy folder to the "policy set reloaded" line in its
-- log. Figures only.
local config_mod = require("sw.config")
local fs = require("sw.fs")
local json = require("sw.json")
local policy = require("sw.policy")
local proc = require("sw.proc")
local sched = require("sw.sched")

local root = assert(fs.realpath(arg[0]:match("^(.*)/tests/bench/[^/]*$") or "."))
local bin = os.getenv("SW_BIN") or (root .. "/build/scriptworker")
local runs = tonumber(os.getenv("SW_BENCH_RELOAD_RUNS") or "") or 30

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

local function p90(xs)
  table.sort(xs)
  return xs[math.max(1, math.ceil(#xs * 0.9))]
end

local dir = assert(fs.tmpdir("/tmp/sw-bench-reload-"))
local policies = dir .. "/policies"
assert(os.execute(string.format("cp -r '%s/policies' '%s'", root, policies)))
local cfg = {
  provisioner_id = "bench", worker_type = "reload", worker_group = "bench", worker_id = "w1",
  -- Nothing listens there: claimWork fails and the worker keeps polling,
  -- which is all a reload needs.
  taskcluster_root_url = "http://127.0.0.1:9",
  credentials = { clientId = "bench", accessToken = "bench-access-token" },
  work_dir = dir .. "/work", artifact_dir = dir .. "/artifacts", task_log_dir = dir .. "/artifacts/public/logs",
  log_dir = dir .. "/log", task_script = { "/bin/true" }, poll_interval = 5, sign_chain_of_trust = false,
  queue_retries = 1, cot_product = "firefox", ed25519_private_key_path = dir .. "/unused_key",
}
local config_path = dir .. "/config.yaml"
assert(fs.write_file_atomic(config_path, assert(json.encode(cfg)), tonumber("600", 8)))

-- 1. Load and validate, in this process.
local loads, pairs_ = {}, {}
for _ = 1, runs do
  local t0 = sched.monotonic()
  assert(policy.load(policies))
  loads[#loads + 1] = (sched.monotonic() - t0) * 1000
  t0 = sched.monotonic()
  local c, msgs = config_mod.load_with_policy(config_path, { policy_file = policies .. "/signing.lua" })
  assert(c, table.concat(type(msgs) == "table" and msgs or {}, "\n"))
  pairs_[#pairs_ + 1] = (sched.monotonic() - t0) * 1000
end
local files = #assert(policy.load(policies)).files
print(string.format("policy set: %d files", files))
print(string.format("%-44s median %7.2f ms  p90 %7.2f ms", "load + validate (policy.load)", median(loads), p90(loads)))
print(string.format("%-44s median %7.2f ms  p90 %7.2f ms", "full reload (config.load_with_policy)",
  median(pairs_), p90(pairs_)))

-- 2. Write to live, against the worker binary.
local log_path = dir .. "/worker.log"
local w = assert(proc.spawn({
  argv = { bin, "--policy", policies .. "/signing.lua", config_path },
  env = { PATH = os.getenv("PATH"), HOME = dir },
  log = log_path,
}))
local function log_text()
  return fs.read_file(log_path) or ""
end
local function count(pattern)
  local n = 0
  for _ in log_text():gmatch(pattern) do
    n = n + 1
  end
  return n
end
local function wait_for(fn, seconds)
  local deadline = sched.monotonic() + seconds
  while sched.monotonic() < deadline do
    if fn() then
      return true
    end
    sched.sleep(0.002)
  end
  return false
end
assert(wait_for(function()
  return log_text():find("reloading the policy set on SIGHUP and on changes", 1, true)
end, 20), log_text())
local firefox = policies .. "/products/firefox.lua"
local base = assert(fs.read_file(firefox))
local lives = {}
local write_runs = math.min(runs, 20)
for i = 1, write_runs do
  local before = count("policy set reloaded")
  local t0 = sched.monotonic()
  assert(fs.write_file_atomic(firefox, base .. "-- edit " .. i .. "\n", tonumber("644", 8)))
  assert(wait_for(function()
    return count("policy set reloaded") > before
  end, 10), log_text())
  lives[#lives + 1] = (sched.monotonic() - t0) * 1000
  -- Let the debounce window close before the next write.
  sched.sleep(0.3)
end
local reload_ms = {}
for ms in log_text():gmatch("policy set reloaded[^\n]-load_ms=([%d.]+)") do
  reload_ms[#reload_ms + 1] = tonumber(ms)
end
print(string.format("%-44s median %7.2f ms  p90 %7.2f ms  (%d writes; the debounce waits %d ms of quiet)",
  "write to new set in force (worker log)", median(lives), p90(lives), write_runs, 200))
print(string.format("%-44s median %7.2f ms  p90 %7.2f ms", "reload inside the worker (its load_ms)",
  median(reload_ms), p90(reload_ms)))
w:kill("SIGTERM")
w:wait(20)
fs.rmtree(dir)
