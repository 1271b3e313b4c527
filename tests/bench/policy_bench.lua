-- bench_policy.sh's measurement, run inside `scriptworker lua` from the
-- repository root. Figures of issue 9's "Benchmarks", no thresholds:
--
-- 1. Loading and validating the whole shipped policy set: sw.policy.load
--    of policies/ (every file compiled and run in its sandbox under the
--    budget, the shapes, the references between files, the digest), N
--    times in this process (SW_BENCH_POLICY_LOADS, default 50): mean and
--    median. Reference in the same run: sw.policy.digest of the folder
--    alone (reading and hashing the same files), the floor of any reload.
-- 2. The policies' cost per link on a chain of 10 links (tests/cot_chain.lua
--    on the local Queue), two ways:
--    a. inside the engine: sw.cot.verify.verify_chain runs in this process
--       R times (SW_BENCH_POLICY_VERIFIES, default 10) with sw.policy.call
--       wrapped to add up the time of every policy call it makes
--       (recognise, the task types' and worker implementations' verify,
--       the instance policy), next to the whole verification's time;
--    b. replaying the calls of one verification, with the arguments the
--       engine passed, K times (SW_BENCH_POLICY_REPLAYS, default 1000)
--       through sw.policy.call, next to the same functions called bare
--       (pcall, no budget hook) as the reference.
--    Per link means divided by the 11 tasks the policies judge: the 10
--    links and the root.
-- Not measured yet: the time from a write to the policy folder to the new
-- set in force ("write to live", goal under 1 s), which needs the reload
-- feature of the worker; it comes with that feature.
local root = os.getenv("PWD")
package.path = root .. "/tests/?.lua;" .. package.path

local fs = require("sw.fs")
local json = require("sw.json")
local log = require("sw.log")
local policy = require("sw.policy")
local queue = require("sw.queue")
local sched = require("sw.sched")
local config_mod = require("sw.config")
local verify = require("sw.cot.verify")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")

local DIR = root .. "/policies"
local LOADS = tonumber(os.getenv("SW_BENCH_POLICY_LOADS") or "") or 50
local VERIFIES = tonumber(os.getenv("SW_BENCH_POLICY_VERIFIES") or "") or 10
local REPLAYS = tonumber(os.getenv("SW_BENCH_POLICY_REPLAYS") or "") or 1000
local now = sched.monotonic

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

local function mean(xs)
  local sum = 0
  for _, x in ipairs(xs) do
    sum = sum + x
  end
  return sum / #xs
end

local function ratio(a, b)
  return b > 0 and string.format("%.1fx", a / b) or "-"
end

local function bench_load()
  local loads, digests = {}, {}
  local set
  for i = 1, LOADS do
    local t0 = now()
    local errs
    set, errs = policy.load(DIR)
    loads[i] = now() - t0
    assert(set, "policies/ does not load: " .. table.concat(errs or {}, "\n"))
  end
  for i = 1, LOADS do
    local t0 = now()
    local d = assert(policy.digest(DIR))
    digests[i] = now() - t0
    assert(d == set.digest, "the digest of policies/ changed during the run")
  end
  say("loading and validating the shipped policy set (%d files), %d loads in one process:", #set.files, LOADS)
  say("  sw.policy.load(policies/)      mean %7.2f ms, median %7.2f ms", mean(loads) * 1000, median(loads) * 1000)
  say("  reference, sw.policy.digest    mean %7.2f ms, median %7.2f ms   (load / digest: %s)",
    mean(digests) * 1000, median(digests) * 1000, ratio(median(loads), median(digests)))
end

-- sw.policy.call wrapped: adds up its time; records the calls when
-- `recording` is a table.
local spent, calls, recording = 0, 0, nil
local real_call = policy.call
local function timed_call(set, file, fn, ...)
  local t0 = now()
  local res = table.pack(real_call(set, file, fn, ...))
  spent = spent + (now() - t0)
  calls = calls + 1
  if recording then
    recording[#recording + 1] = table.pack(set, file, fn, ...)
  end
  return table.unpack(res, 1, res.n)
end

local function bench_links(fx, tmp)
  local chain = cot_chain.build({
    root_type = "signing",
    shape = { signing = true, n_extra = 6 },
    root_provisioner = "proj-releng",
    root_worker_type = fx:unique_queue("policy"):match("/(.*)$"),
  })
  assert(#chain:links() == 10, "expected a chain of 10 links, got " .. #chain:links())
  chain:load(fx)
  local config_path = tmp .. "/config.json"
  assert(fs.write_file_atomic(config_path, assert(json.encode(chain:config(fx)))))
  local config, creds, info = config_mod.load_with_policy(config_path, {
    policy_file = DIR .. "/signing.lua",
    verify_only = true,
  })
  assert(config, "config: " .. table.concat(type(creds) == "table" and creds or {}, "\n"))
  config.cot_job_type = "signing"
  local q = queue.new({ root_url = config.taskcluster_root_url, credentials = creds, retries = 4 })
  local def = assert(q:call("task", chain.root_task_id))

  local whole, in_policy, n_calls = {}, {}, 0
  local recorded, judged
  local saved = log.set_level("warn")
  policy.call = timed_call
  local ok, err = pcall(function()
    for r = 1, VERIFIES do
      local work = assert(fs.tmpdir(tmp .. "/work-"))
      config.work_dir = work
      spent, calls = 0, 0
      recording = r == 1 and {} or nil
      local t0 = now()
      local vok, res = verify.verify_chain({ config = config, policy = info.policy, queue = q,
        task_id = chain.root_task_id, task = def, work_dir = work, check_task = false,
        keys_from_config = info.keys_from_config })
      whole[r] = now() - t0
      assert(vok, res)
      assert(#res.links == 10, "verified " .. #res.links .. " links, expected 10")
      in_policy[r] = spent
      n_calls = calls
      if r == 1 then
        recorded = recording
        judged = #res.links + 1
      end
      fs.rmtree(work)
    end
  end)
  policy.call = real_call
  recording = nil
  log.set_level(saved)
  chain:cleanup()
  if not ok then
    error(err, 0)
  end
  assert(#recorded > 0, "the verification made no policy call")

  -- b: the recorded calls again, through the budget and bare.
  local replay, bare = {}, {}
  for k = 1, REPLAYS do
    local t0 = now()
    for _, c in ipairs(recorded) do
      -- recognise answers false for the other implementations: only a
      -- raised error (third value "error") is wrong here
      local _, msg, code = real_call(c[1], c[2], c[3], table.unpack(c, 4, c.n))
      assert(code ~= "error", msg)
    end
    replay[k] = now() - t0
  end
  for k = 1, REPLAYS do
    local t0 = now()
    for _, c in ipairs(recorded) do
      assert(pcall(c[2][c[3]], table.unpack(c, 4, c.n)))
    end
    bare[k] = now() - t0
  end

  local per = function(x)
    return x / judged * 1000
  end
  say("policy cost on a chain of 10 links (%d policy calls per verification; per link = / %d, the links and the "
    .. "root):", n_calls, judged)
  say("  a. in the engine, %d verifications: policies %7.3f ms per link (median; %.2f ms per chain), "
    .. "whole verification %.1f ms per chain (%.1f%% in the policies)", VERIFIES, per(median(in_policy)),
    median(in_policy) * 1000, median(whole) * 1000, median(in_policy) / median(whole) * 100)
  say("  b. the same calls replayed %d times: %7.3f ms per link through sw.policy.call (median), reference "
    .. "%7.3f ms per link called bare (budget / bare: %s)", REPLAYS, per(median(replay)), per(median(bare)),
    ratio(median(replay), median(bare)))
  say("  write to live (a policy file written -> the new set in force): not measured, the worker has no "
    .. "reload yet")
end

local function main()
  bench_load()
  local tmp = assert(fs.tmpdir("/tmp/sw-bench-policy-"))
  local fx = support_queue.start({
    anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
  })
  local ok, err = pcall(bench_links, fx, tmp)
  fx:stop()
  fs.rmtree(tmp)
  if not ok then
    error(err, 0)
  end
end

main()
