-- The worker binary against the local Queue: a task cancelled while its
-- script runs. The next reclaimTask answers 409, the worker stops the
-- script and reports nothing more for that run (it is no longer ours),
-- then takes the next task (docs/worker.md, "Reclaim").
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local REPORTS = { "reportCompleted", "reportFailed", "reportException", "createArtifact" }

local function counts(fx)
  local requests = fx:stats().requests
  local out = {}
  for _, k in ipairs(REPORTS) do
    out[k] = requests[k] or 0
  end
  return out
end

describe("worker: cancel during a run", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "cancel")
    -- reclaim every second, so the cancel is noticed at the next one
    worker = env:start_worker({ config = { reclaim_interval = 1 } })
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("stops the script and reports nothing after", function()
    local id = env:create_task({ print = { "working" }, sleep = 600, files = { ["public/a.txt"] = "a\n" } })
    local script = assert(env:wait_script(id, 0))
    local before = counts(fx)
    local st = fx:cancel(id)
    assert.are.same({ "exception", "canceled" }, { st.state, st.runs[1].reasonResolved })
    assert(worker:wait_log("reclaimTask answered 409: the task is no longer ours; stopping the task script"))
    assert.is_true(worker_env.group_ends(script.pid))
    assert.is_nil(env:script_state(id, 0).finish)
    -- The worker goes on: the next task runs, and before it nothing was
    -- reported or uploaded for the cancelled run.
    assert(worker:wait_log("task script ended status=1"))
    local next_id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(next_id).state)
    local log = worker:log()
    local cancelled = log:sub(1, (log:find("Going to run taskId " .. next_id, 1, true)))
    assert.is_nil(cancelled:find("reporting task", 1, true))
    assert.is_nil(cancelled:find("uploaded artifact", 1, true))
    local after = counts(fx)
    -- the next task: three artifacts (log, cot, sig) and one report
    assert.are.same({
      reportCompleted = before.reportCompleted + 1,
      reportFailed = before.reportFailed,
      reportException = before.reportException,
      createArtifact = before.createArtifact + 3,
    }, after)
    local final = fx:task_info(id)
    assert.are.same({ "exception", "canceled", 1 },
      { final.status.state, final.status.runs[1].reasonResolved, #final.status.runs })
    assert.are.same({}, final.artifacts[1])
  end)

  it("exits 0 on SIGTERM afterwards and sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
