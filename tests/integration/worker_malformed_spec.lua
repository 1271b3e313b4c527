-- The worker binary against the local Queue: a task that fails the Python
-- worker's minimal task schema (payload.maxRunTime must be an integer) is
-- reported malformed-payload without running the script, the reason in
-- its live_backing.log; the worker goes on with the next task. (A task
-- without a payload cannot exist in a Queue: worker_run_task_spec.lua
-- covers that one.)
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: malformed tasks", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "malformed")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  local CASES = {
    { "a string", "600", "payload.maxRunTime: expected integer, got string" },
    { "a float", 1.5, "payload.maxRunTime: expected integer, got number" },
    { "a list", { 600 }, "payload.maxRunTime: expected integer, got array" },
    { "null", require("sw.json").null, "payload.maxRunTime: expected integer, got null" },
  }

  for _, c in ipairs(CASES) do
    it("maxRunTime " .. c[1] .. ": malformed-payload, the script never runs", function()
      local id = env:create_task({ exit = 0 }, { payload = { maxRunTime = c[2] } })
      local st = env:wait_resolved(id)
      assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
      assert.is_nil(env:script_state(id, 0))
      local msg = "the task does not match the minimal task schema: " .. c[3]
      local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
      assert.are.equal("Automation Error: " .. msg .. "\n", log)
      assert.truthy(worker:log():find("ERROR [" .. id .. "] " .. msg, 1, true))
      -- only the log: no chain of trust for a task that never ran
      local names = {}
      for name in pairs(env:artifact_list(id, 0)) do
        names[#names + 1] = name
      end
      assert.are.same({ "public/logs/live_backing.log" }, names)
    end)
  end

  for _, mrt in ipairs({ 0, -1 }) do
    it("maxRunTime " .. mrt .. ": malformed-payload, the script never runs", function()
      local id = env:create_task({ exit = 0 }, { payload = { maxRunTime = mrt } })
      local st = env:wait_resolved(id)
      assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
      assert.is_nil(env:script_state(id, 0))
      local msg = "payload.maxRunTime: expected a positive number of seconds, got " .. mrt
      local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
      assert.are.equal("Automation Error: " .. msg .. "\n", log)
    end)
  end

  it("runs a task without maxRunTime, and the next good task", function()
    local id = env:create_task({ exit = 0 }, { payload = { maxRunTime = worker_env.REMOVE } })
    assert.are.equal("completed", env:wait_resolved(id).state)
    assert.is_number(env:script_state(id, 0).finish)
  end)

  it("keeps running; sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
