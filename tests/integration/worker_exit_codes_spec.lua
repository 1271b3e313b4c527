-- The worker binary against the local Queue: a script's exit code decides
-- the resolution (docs/worker.md, "Report"), checked through the Queue's
-- own record of each run.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

-- exit code -> {state, reasonResolved}
local EXPECTED = {
  { 0, "completed", "completed" },
  { 1, "failed", "failed" },
  { 2, "exception", "worker-shutdown" },
  { 3, "exception", "malformed-payload" },
  { 4, "exception", "resource-unavailable" },
  { 5, "exception", "internal-error" },
  -- "superseded", which today's Queue refuses as a reason (docs/worker.md)
  { 6, "exception", "resource-unavailable" },
  { 7, "exception", "intermittent-task" },
  { 241, "exception", "intermittent-task" },
  { 245, "exception", "intermittent-task" },
  -- not a status: failed, as in the Python worker
  { 42, "failed", "failed" },
  { 255, "failed", "failed" },
}

describe("worker: exit codes", function()
  local fx, env, worker
  local tasks = {}

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "exit")
    -- retries 0: exceptions such as worker-shutdown would otherwise add a
    -- retry run that the worker would claim again.
    for _, e in ipairs(EXPECTED) do
      tasks[#tasks + 1] = env:create_task({ exit = e[1] }, { retries = 0 })
    end
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  for i, e in ipairs(EXPECTED) do
    it(string.format("exit %d is %s (%s)", e[1], e[2], e[3]), function()
      local st = env:wait_resolved(tasks[i])
      assert.are.equal(1, #st.runs)
      assert.are.same({ runId = 0, state = e[2], reasonResolved = e[3] },
        { runId = st.runs[1].runId, state = st.runs[1].state, reasonResolved = st.runs[1].reasonResolved })
      assert.are.equal(e[2], st.state)
      -- The script ran once and its log ends with its exit code.
      local state = env:script_state(tasks[i], 0)
      assert.is_number(state.finish)
      local log = assert(env:artifact(tasks[i], 0, "public/logs/live_backing.log"))
      assert.are.equal("exit code: " .. e[1] .. "\n", log.body:match("[^\n]*\n$"))
    end)
  end

  it("names the superseded mapping in its log", function()
    assert.are.equal("status 6 is superseded, which the Queue refuses as an exception reason: "
      .. "reporting resource-unavailable instead",
      worker:log():match("INFO %[[%w_-]+%] (status 6 is superseded[^\n]*)"))
  end)

  it("maps the codes of a config's reversed_statuses, which replaces the default one", function()
    -- As in Python: STATUSES reversed, updated with the config's dict.
    local env2 = worker_env.new(fx, "reversed")
    local w2 = env2:start_worker({ config = { reversed_statuses = { ["42"] = "resource-unavailable" } } })
    local want = { [42] = { "exception", "resource-unavailable" }, [241] = { "failed", "failed" },
      [4] = { "exception", "resource-unavailable" } }
    for code, w in pairs(want) do
      local id = env2:create_task({ exit = code }, { retries = 0 })
      local st = env2:wait_resolved(id)
      assert.are.same({ code, w[1], w[2] }, { code, st.state, st.runs[1].reasonResolved })
    end
    assert.are.same({ code = 0 }, w2:stop())
    env2:cleanup()
  end)

  it("keeps running after every task, and exits 0 on SIGTERM", function()
    assert.are.equal("running", worker.process:status())
    assert.are.same({ code = 0 }, worker:stop())
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
