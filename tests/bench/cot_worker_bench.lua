-- bench_cot_worker.sh's measurement, run inside `scriptworker lua` from the
-- repository root. The real worker (SW_BIN, --policy policies/signing.lua,
-- verify_chain_of_trust on) takes the roots of N chains of 10 links
-- (SW_BENCH_COT_CHAINS, default 5) built by tests/cot_chain.lua with their
-- ordinary small task graphs, one after the other, from the local Queue.
-- Per task:
--   claimed -> script start   the worker's "claimed task" log line to the
--                             script's own first instant ($EPOCHREALTIME
--                             of tests/bench/worker_task.sh): the whole
--                             chain-of-trust verification is in it
--   Queue claim -> start      the run's `started` (the Queue's claim) to
--                             the script's first instant
-- next to the same for a task without chain of trust on the same worker
-- kind (verify_chain_of_trust off, the same script), measured in the same
-- run. Figures only, no thresholds.
local root = os.getenv("PWD")
package.path = root .. "/tests/?.lua;" .. package.path

local fs = require("sw.fs")
local json = require("sw.json")
local slugid = require("sw.slugid")
local task = require("sw.task")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")
local worker_env = require("integration.fixtures.worker_env")

local N = tonumber(os.getenv("SW_BENCH_COT_CHAINS") or "") or 5
local SCRIPT = root .. "/tests/bench/worker_task.sh"
local POLICY = root .. "/policies/signing.lua"

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

local function ms(x)
  return string.format("%7.1f ms", x * 1000)
end

local function list(xs)
  local out = {}
  for i, x in ipairs(xs) do
    out[i] = string.format("%.0f", x * 1000)
  end
  return table.concat(out, " ")
end

-- The log time of the worker's "claimed task" line for task `id`.
local function claimed_at(text, id)
  for line in text:gmatch("[^\n]+") do
    if line:find("INFO claimed task", 1, true) and line:find("taskId=" .. id, 1, true) then
      return task.parse_time(line:match("^(%S+)"))
    end
  end
  return nil
end

-- The seconds of the chain-of-trust verification of task `id` (its
-- "Good." line), or nil when the worker's log has none.
local function verified_in(text, id)
  for line in text:gmatch("[^\n]+") do
    if line:find("[" .. id .. "] Good.", 1, true) then
      return tonumber(line:match("seconds=([%d.]+)"))
    end
  end
  return nil
end

-- Runs the worker on `ids` (already created on env's queue) and returns
-- {claimed_to_start = {...}, queue_to_start = {...}, verify = {...}} in
-- seconds (verify: only with chain of trust; every task must have one).
local function measure(fx, env, ids, config)
  local cfg = env:config("w1", config)
  cfg.task_script = json.array({ "bash", SCRIPT, cfg.artifact_dir, env.state_dir })
  local path = env:write_config("w1", cfg)
  local w = env:start_worker({ config_path = path, args = { "--policy", POLICY, path } })
  local r = { claimed_to_start = {}, queue_to_start = {}, verify = {} }
  local ok, err = pcall(function()
    for _, id in ipairs(ids) do
      local st = env:wait_resolved(id, 300)
      if st.state ~= "completed" then
        error(string.format("%s: %s\n%s", id, st.state, w:log()), 0)
      end
    end
    local log = w:log()
    for _, id in ipairs(ids) do
      local times = assert(json.decode(assert(fs.read_file(env.state_dir .. "/" .. id .. ".0.json"))))
      local run = fx:task_info(id).status.runs[1]
      local claimed = assert(claimed_at(log, id), id .. ": no \"claimed task\" line in the worker's log")
      r.claimed_to_start[#r.claimed_to_start + 1] = times.start - claimed
      r.queue_to_start[#r.queue_to_start + 1] = times.start - task.parse_time(run.started)
      local v = verified_in(log, id)
      if config.verify_chain_of_trust then
        r.verify[#r.verify + 1] = assert(v, id .. ": the worker's log has no verified chain of trust")
      else
        assert(v == nil, id .. ": a chain of trust was verified with verify_chain_of_trust off")
      end
    end
  end)
  local st = w:stop()
  if not ok then
    error(err, 0)
  end
  assert(st.code == 0, "the worker exited with " .. tostring(st.code))
  return r
end

local function main()
  local fx = support_queue.start({
    poll_seconds = 1,
    anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
  })
  local envs = {}
  local ok, err = pcall(function()
    -- N chains whose roots wait on one queue, claimed one after the other.
    local env = worker_env.new(fx, "cot")
    envs[#envs + 1] = env
    local ids, config = {}, nil
    for i = 1, N do
      local chain = cot_chain.build({
        root_type = "signing",
        shape = { signing = true, n_extra = 6 },
        root_provisioner = worker_env.PROVISIONER,
        root_worker_type = env.worker_type,
      })
      assert(#chain:links() == 10, "expected a chain of 10 links, got " .. #chain:links())
      chain:load(fx)
      ids[i] = chain.root_task_id
      config = config or chain:config(fx)
    end
    local cot = measure(fx, env, ids, config)

    -- The reference: tasks without chain of trust, the same script, the
    -- same worker binary and policy set.
    local plain_env = worker_env.new(fx, "plain")
    envs[#envs + 1] = plain_env
    local plain_ids = {}
    for i = 1, N do
      plain_ids[i] = plain_env:create_task(nil, { task_id = slugid.nice() })
    end
    local plain = measure(fx, plain_env, plain_ids, { verify_chain_of_trust = false })

    say("claim -> script start, %d verified chains of 10 links (small task graphs), one worker, "
      .. "median (each, ms):", N)
    say("  worker log \"claimed task\" -> script start  %s   (%s)", ms(median(cot.claimed_to_start)),
      list(cot.claimed_to_start))
    say("  the Queue's claim -> script start           %s   (%s)", ms(median(cot.queue_to_start)),
      list(cot.queue_to_start))
    say("  of which the verification (its \"Good.\" line) %s   (%s)", ms(median(cot.verify)), list(cot.verify))
    say("  reference, %d tasks without chain of trust: \"claimed task\" -> script start %s, "
      .. "Queue claim -> script start %s", N, ms(median(plain.claimed_to_start)), ms(median(plain.queue_to_start)))
    local s = fx:stats()
    assert(s.requestSchemaFailures == 0 and s.responseSchemaFailures == 0, "schema failures in the local Queue")
  end)
  for _, env in ipairs(envs) do
    env:cleanup()
  end
  fx:stop()
  if not ok then
    error(err, 0)
  end
end

main()
