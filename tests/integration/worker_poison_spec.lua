-- The worker binary against the local Queue with poison tasks
-- (docs/worker.md "Bad Queue answers"): a payload nested deeper than 512
-- levels, or holding an unpaired surrogate, used to make the claimWork
-- answer undecodable, so the claimed task was never run nor reported.
-- Now the deep one is reported malformed-payload with the reason, and the
-- lone surrogate becomes U+FFFD and the task runs.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue
local slugid = require("sw.slugid")

describe("worker: poison tasks", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "poison")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  -- Creates a task from raw JSON text for its payload (sw.json would not
  -- encode what these tasks hold).
  local function create_raw(payload_text)
    local id = slugid.nice()
    local text = string.format('{"taskQueueId":"%s","payload":%s}', env.task_queue, payload_text)
    assert(fx:admin_raw("POST", "tasks/" .. id, text, { ["content-type"] = "application/json" }))
    return id
  end

  -- The task's status from the Queue (the fixture's task_info would decode
  -- the task definition too).
  local function wait_resolved(id)
    local q = fx:client("tester")
    local st = worker_env.poll(30, function()
      local s = require("sw.sched").run(function()
        return assert(q:call("status", id)).status
      end)
      return s.state ~= "pending" and s.state ~= "running" and s
    end)
    assert(st, worker:log())
    return st
  end

  it("a payload nested 600 levels deep: malformed-payload with the reason", function()
    local deep = string.rep("[", 600) .. string.rep("]", 600)
    local id = create_raw('{"maxRunTime":600,"test":{},"deep":' .. deep .. "}")
    local st = wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.is_nil(env:script_state(id, 0))
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.truthy(log:find("^Automation Error: task: cannot be written as task.json: %$%.payload%.deep%[1%]")
      and log:find("too deeply nested (max_depth 512)", 1, true), log)
    assert.truthy(worker:log():find("too deeply nested", 1, true))
  end)

  -- (The emulator's own validation overflows Node's stack at about 3,000
  -- levels; sw.queue decodes up to 10,000.)
  it("a payload nested 1,500 levels deep is still resolved", function()
    local deep = string.rep('{"a":', 1500) .. "1" .. string.rep("}", 1500)
    local id = create_raw('{"maxRunTime":600,"test":{},"deep":' .. deep .. "}")
    local st = wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload" }, { st.state, st.runs[1].reasonResolved })
  end)

  it("a lone surrogate becomes U+FFFD and the task runs", function()
    local id = create_raw('{"maxRunTime":600,"test":{"files":{"public/s.txt":"a\\ud800b\\udc00"}}}')
    local st = wait_resolved(id)
    assert.are.same({ "completed", 1 }, { st.state, #st.runs })
    assert.are.equal("a\xEF\xBF\xBDb\xEF\xBF\xBD", assert(env:artifact(id, 0, "public/s.txt")).body)
  end)

  it("keeps running", function()
    assert.are.same({ code = 0 }, worker:stop())
  end)
end)
