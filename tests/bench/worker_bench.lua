-- bench_worker.sh's measurement, run inside `scriptworker lua` from the
-- repository root. The worker binary (SW_BIN) takes N tasks (default 50)
-- from the local Queue, each running tests/bench/worker_task.sh (10 small
-- text artifacts). Per task:
--   claim -> script start   the run's `started` (the Queue's claim) to the
--                           script's own first instant
--   script exit -> resolved the script's last instant to the run's
--                           `resolved` (reportCompleted processed)
-- with the worker log's own split of each, and next to references
-- measured in the same run: spawning the same script from Lua (proc.spawn)
-- and the same Queue calls (claimWork, 13 uploads 10 at a time,
-- reportCompleted) made with sw.queue alone. Memory: the worker's VmRSS
-- and VmHWM (/proc/<pid>/status) idle and while running the tasks, next to
-- a bare `scriptworker lua` that only sleeps. Figures only, no thresholds.
local root = os.getenv("PWD")
package.path = root .. "/tests/?.lua;" .. package.path

local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local slugid = require("sw.slugid")
local task = require("sw.task")
local support_queue = require("support_queue")
local worker_env = require("integration.fixtures.worker_env")

local N = tonumber(os.getenv("SW_BENCH_WORKER_TASKS") or "") or 50
local SCRIPT = root .. "/tests/bench/worker_task.sh"

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function sorted(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  return s
end

local function median(xs)
  local s = sorted(xs)
  if #s == 0 then
    return 0 / 0
  end
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local function p90(xs)
  local s = sorted(xs)
  return s[math.max(1, math.ceil(#s * 0.9))]
end

local function ms(x)
  return string.format("%7.1f ms", x * 1000)
end

-- {VmRSS = kB, VmHWM = kB} of a process.
local function memory(pid)
  local text = fs.read_file("/proc/" .. pid .. "/status") or ""
  return {
    VmRSS = tonumber(text:match("VmRSS:%s*(%d+)")),
    VmHWM = tonumber(text:match("VmHWM:%s*(%d+)")),
  }
end

-- Log timestamps ("2026-01-01T00:00:00.123Z ...") of the worker's lines.
local function log_times(text, id)
  local t = {}
  for line in text:gmatch("[^\n]+") do
    local stamp = line:match("^(%S+)")
    local when = task.parse_time(stamp)
    if line:find("INFO claimed task", 1, true) and line:find("taskId=" .. id, 1, true) then
      t.claimed = when
    elseif line:find("[" .. id .. "] task script started", 1, true) then
      t.started = when
    elseif line:find("[" .. id .. "] task script ended", 1, true) then
      t.ended = when
    elseif line:find("[" .. id .. "] reporting task completed", 1, true) then
      t.reporting = when
    end
  end
  return t
end

local function measure_worker(fx)
  local env = worker_env.new(fx, "bench")
  local cfg = env:config("w1")
  local w = env:start_worker({
    config = { task_script = json.array({ "bash", SCRIPT, cfg.artifact_dir, env.state_dir }) },
  })
  assert(w:wait_log("scriptworker starting", 30), "the worker did not start:\n" .. w:log())
  -- idle: a few empty claimWork polls
  sched.sleep(3)
  local idle = memory(w:pid())

  local ids = {}
  for i = 1, N do
    ids[i] = env:create_task(nil, { task_id = slugid.nice() })
  end
  local peak_rss, rss_samples = 0, {}
  local sampler = sched.spawn(function()
    while true do
      local m = memory(w:pid())
      if m.VmRSS then
        peak_rss = math.max(peak_rss, m.VmRSS)
        rss_samples[#rss_samples + 1] = m.VmRSS
      end
      sched.sleep(0.01)
    end
  end)
  for _, id in ipairs(ids) do
    local st = env:wait_resolved(id, 300)
    assert(st.state == "completed", id .. ": " .. st.state)
  end
  sampler:cancel()
  local running = memory(w:pid())
  running.peak_rss = peak_rss
  running.median_rss = median(rss_samples)

  local log = w:log()
  local r = { claim_to_start = {}, exit_to_resolved = {}, log_claim_to_spawn = {}, log_end_to_report = {},
    log_report_to_resolved = {} }
  for _, id in ipairs(ids) do
    local run = fx:task_info(id).status.runs[1]
    local times = assert(json.decode(assert(fs.read_file(env.state_dir .. "/" .. id .. ".0.json"))))
    local started, resolved = task.parse_time(run.started), task.parse_time(run.resolved)
    r.claim_to_start[#r.claim_to_start + 1] = times.start - started
    r.exit_to_resolved[#r.exit_to_resolved + 1] = resolved - times.finish
    local lt = log_times(log, id)
    r.log_claim_to_spawn[#r.log_claim_to_spawn + 1] = lt.started - lt.claimed
    r.log_end_to_report[#r.log_end_to_report + 1] = lt.reporting - lt.ended
    r.log_report_to_resolved[#r.log_report_to_resolved + 1] = resolved - lt.reporting
  end
  assert(w:stop().code == 0)
  env:cleanup()
  return r, idle, running
end

-- Reference 1: proc.spawn of the same script, to its first instant.
local function reference_spawn()
  local dir = assert(fs.tmpdir("/tmp/sw-bench-spawn-"))
  local out = {}
  for i = 1, N do
    local id = "spawn" .. i
    local t0 = sched.now()
    local p = assert(proc.spawn({
      argv = { "bash", SCRIPT, dir .. "/artifacts", dir },
      env = { PATH = os.getenv("PATH"), TASK_ID = id, RUN_ID = "0" },
      cwd = dir,
      log = dir .. "/log",
    }))
    assert(p:wait(30).code == 0)
    p:close()
    local times = assert(json.decode(assert(fs.read_file(dir .. "/" .. id .. ".0.json"))))
    out[i] = times.start - t0
  end
  fs.rmtree(dir)
  return out
end

-- Reference 2: the Queue calls of one task's end (13 uploads, 10 at a
-- time, then reportCompleted) with sw.queue alone, from the claim answer
-- to the report answer.
local function reference_calls(fx)
  local dir = assert(fs.tmpdir("/tmp/sw-bench-calls-"))
  local files = {}
  for i = 0, 9 do
    files[#files + 1] = { "public/bench/file" .. i .. ".txt", "text/plain", string.format("artifact %d\n", i) }
  end
  files[#files + 1] = { "public/logs/live_backing.log", "text/plain", "exit code: 0\n" }
  files[#files + 1] = { "public/chain-of-trust.json", "application/json", string.rep("{}", 700) }
  files[#files + 1] = { "public/chain-of-trust.json.sig", "application/pgp-signature", string.rep("s", 64) }
  for i, f in ipairs(files) do
    f.path = dir .. "/" .. i
    assert(fs.write_file_atomic(f.path, f[3]))
  end
  local task_queue = fx:unique_queue("calls")
  local worker = fx:client("worker", { retries = 5, backoff_base = 0.1 })
  local out = {}
  for i = 1, N do
    local id = fx:create_task({ taskQueueId = task_queue })
    local res = assert(worker:call("claimWork", task_queue, { workerGroup = "wg-1", workerId = "ref", tasks = 1 }))
    local claim = assert(res.tasks[1])
    assert(claim.status.taskId == id)
    local q = worker:with_credentials(claim.credentials)
    local t0 = sched.now()
    local sem = sched.semaphore(10)
    local jobs = {}
    for j, f in ipairs(files) do
      jobs[j] = sched.spawn(function()
        return sem:with(function()
          return assert(q:upload_artifact(id, 0, f[1], { path = f.path, content_type = f[2],
            expires = claim.task.expires }))
        end)
      end)
    end
    sched.wait_all(jobs)
    assert(q:call("reportCompleted", id, 0))
    out[i] = sched.now() - t0
  end
  fs.rmtree(dir)
  return out
end

-- Reference 3: the memory of a bare `scriptworker lua` that sleeps.
local function reference_memory()
  local p = assert(proc.spawn({
    argv = { worker_env.BIN, "lua", "-e", "require('sw.sched').sleep(3)" },
    env = { PATH = os.getenv("PATH") },
  }))
  sched.sleep(1.5)
  local m = memory(p:pid())
  p:wait(10)
  p:close()
  return m
end

local function main()
  local fx = support_queue.start({ poll_seconds = 1, claim_seconds = 60 })
  local ok, err = pcall(function()
    local r, idle, running = measure_worker(fx)
    local spawn = reference_spawn()
    local calls = reference_calls(fx)
    local bare = reference_memory()
    say("worker per-task overhead, %d tasks of 10 small artifacts each (median / p90):", N)
    say("  claim -> script start    %s / %s   reference, proc.spawn of the script alone: %s / %s",
      ms(median(r.claim_to_start)), ms(p90(r.claim_to_start)), ms(median(spawn)), ms(p90(spawn)))
    say("  script exit -> resolved  %s / %s   reference, the same Queue calls from sw.queue: %s / %s",
      ms(median(r.exit_to_resolved)), ms(p90(r.exit_to_resolved)), ms(median(calls)), ms(p90(calls)))
    say("  from the worker's log: claimed -> script started %s, script ended -> reporting %s, "
      .. "reporting -> resolved %s (medians)", ms(median(r.log_claim_to_spawn)), ms(median(r.log_end_to_report)),
      ms(median(r.log_report_to_resolved)))
    say("worker memory: idle VmRSS %d kB (VmHWM %d kB); running tasks: VmRSS median %d kB, peak %d kB, "
      .. "VmHWM %d kB", idle.VmRSS, idle.VmHWM, running.median_rss, running.peak_rss, running.VmHWM)
    say("  reference, a bare `scriptworker lua` sleeping: VmRSS %d kB (VmHWM %d kB)", bare.VmRSS, bare.VmHWM)
    local s = fx:stats()
    assert(s.requestSchemaFailures == 0 and s.responseSchemaFailures == 0, "schema failures in the local Queue")
  end)
  fx:stop()
  if not ok then
    error(err, 0)
  end
end

main()
