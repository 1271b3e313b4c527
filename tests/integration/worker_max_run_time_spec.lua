-- The worker binary against the local Queue: a script is stopped at
-- payload.maxRunTime or task_max_timeout, whichever is smaller (SIGTERM,
-- then SIGKILL after script_stop_grace), and the task is reported with
-- task_max_timeout_status (docs/worker.md, "Time limit").
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: maximum run time", function()
  local fx

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
  end)

  teardown(function()
    worker_env.finish(fx)
  end)

  local function check(o)
    local env = worker_env.new(fx, o.name)
    local w = env:start_worker({ config = o.config })
    local id = env:create_task(o.test, { payload = { maxRunTime = o.max_run_time }, retries = 0 })
    local st = env:wait_resolved(id)
    local script = env:script_state(id, 0)
    assert.is_true(worker_env.group_ends(script.pid))
    assert.is_nil(script.finish)
    assert.are.same({ o.state, o.reason, 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.truthy(w:log():find(string.format(
      "Exceeded the maximum run time of %d seconds; stopping the task script", o.limit), 1, true))
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal(o.log, log)
    -- what the script wrote before is uploaded; no chain of trust for a
    -- run stopped half-way
    assert.are.equal("before\n", assert(env:artifact(id, 0, "public/before.txt")).body)
    assert.is_nil(env:artifact_list(id, 0)["public/chain-of-trust.json"])
    assert.are.same({ code = 0 }, w:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
    env:cleanup()
  end

  it("payload.maxRunTime below task_max_timeout: stopped, reported with the default status (failed)", function()
    check({
      name = "payload",
      test = { print = { "running" }, files = { ["public/before.txt"] = "before\n" }, sleep = 600 },
      max_run_time = 2,
      limit = 2,
      state = "failed",
      reason = "failed",
      log = "running\nAutomation Error: the task script was killed by signal 15\n",
    })
  end)

  it("task_max_timeout below payload.maxRunTime, with task_max_timeout_status 4", function()
    check({
      name = "config",
      config = { task_max_timeout = 2, task_max_timeout_status = 4, script_stop_grace = 1 },
      -- ignores SIGTERM: killed after script_stop_grace
      test = { trap_term = true, files = { ["public/before.txt"] = "before\n" }, sleep = 600 },
      max_run_time = 600,
      limit = 2,
      state = "exception",
      reason = "resource-unavailable",
      log = "task.lua: ignoring SIGTERM\nAutomation Error: the task script was killed by signal 9\n",
    })
  end)
end)
