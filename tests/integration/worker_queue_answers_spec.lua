-- The worker binary against a local Queue that answers 200 with bodies of
-- the wrong shape (docs/worker.md "Bad Queue answers"): an answer that
-- cannot be read at all is a failed call, asked again; a claim without a
-- readable taskId, runId or credentials cannot be resolved and is logged;
-- a claim that can be resolved always is, malformed-payload when its task
-- definition is unusable. The worker never dies on any of them.
local json = require("sw.json")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

-- Waits until the emulator has injected `n` badBody (or html) faults on
-- `key` in total.
local function wait_faults(fx, key, kind, n)
  return worker_env.poll(30, function()
    local f = fx:stats().faults[key] or {}
    return (f[kind] or 0) >= n
  end)
end

describe("worker: Queue answers of the wrong shape", function()
  local fx, env, worker
  local injected = 0

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "answers")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  local UNREADABLE = {
    { "{}", "expected an object with a tasks array, got {}" },
    { "[]", "expected an object with a tasks array, got []" },
    { '"str"', 'expected an object with a tasks array, got \\"str\\"' },
    { "null", "expected an object with a tasks array, got null" },
    { '{"tasks":{"a":1}}', "tasks: expected an array, got an object" },
    { '{"tasks": ', "MalformedResponse" },
  }
  for _, c in ipairs(UNREADABLE) do
    it("claimWork answering " .. c[1] .. " is a failed call, asked again", function()
      injected = injected + 1
      fx:set_faults({ seed = 1, rules = { claimWork = { badBodyRate = 1, badBody = c[1], maxFaults = 1 } } })
      assert.is_true(wait_faults(fx, "claimWork", "badBody", injected) == true)
      assert.truthy(worker:wait_log("claimWork failed[^\n]*" .. c[2]:gsub("%p", "%%%0"), 20), worker:log())
      assert.is_nil(worker:wait(0.01))
    end)
  end

  it("claimWork answering an HTML page is a failed call", function()
    fx:set_faults({ seed = 1, rules = { claimWork = { htmlRate = 1, maxFaults = 1 } } })
    assert.is_true(wait_faults(fx, "claimWork", "html", 1) == true)
    -- the second one: the cut-off body above was the first
    assert.truthy(worker_env.poll(20, function()
      local n = 0
      for _ in worker:log():gmatch("claimWork failed[^\n]*MalformedResponse") do
        n = n + 1
      end
      return n >= 2
    end), worker:log())
    assert.is_nil(worker:wait(0.01))
  end)

  local CLAIMS = {
    { "{}", "status.taskId: expected a string" },
    { "null", "expected an object, got null" },
    { '"x"', "expected an object, got string" },
    { '{"runId":0,"credentials":{"clientId":"a","accessToken":"bbbbbbbb"}}', "status.taskId: expected a string" },
    { '{"status":{"taskId":"AAAAAAAAAAAAAAAAAAAAAA"},"runId":0,"credentials":null}', "credentials: expected" },
    { '{"status":{"taskId":"AAAAAAAAAAAAAAAAAAAAAA"},"runId":"0","credentials":{}}', "runId: expected an integer" },
  }
  for _, c in ipairs(CLAIMS) do
    it('a claim {"tasks":[' .. c[1] .. ']} that cannot be resolved is logged', function()
      injected = injected + 1
      fx:set_faults({ seed = 1, rules = { claimWork = {
        badBodyRate = 1, badBody = '{"tasks":[' .. c[1] .. ']}', maxFaults = 1 } } })
      assert.is_true(wait_faults(fx, "claimWork", "badBody", injected) == true)
      assert.truthy(worker:wait_log("a claimed task cannot be resolved[^\n]*" .. c[2]:gsub("%p", "%%%0"), 20),
        worker:log())
      assert.is_nil(worker:wait(0.01))
    end)
  end

  -- A real claim (taskId, runId, credentials), its task definition replaced.
  local TASKS = {
    { "missing", nil, "task: expected the task definition (an object), got nothing" },
    { "a string", "x", "task: expected the task definition (an object), got string" },
    { "an array", json.array({}), "task: expected the task definition (an object), got array" },
  }
  for _, c in ipairs(TASKS) do
    it("a claim whose task is " .. c[1] .. " is resolved malformed-payload", function()
      fx:set_faults(nil)
      local claimed = fx:create_and_claim()
      local entry = {
        status = claimed.claim.status, runId = claimed.claim.runId, credentials = claimed.claim.credentials,
        takenUntil = claimed.claim.takenUntil, task = c[2],
      }
      injected = injected + 1
      fx:set_faults({ seed = 1, rules = { claimWork = {
        badBodyRate = 1, badBody = assert(json.encode({ tasks = { entry } })), maxFaults = 1 } } })
      local st = worker_env.poll(30, function()
        local s = fx:task_info(claimed.task_id).status
        return s.state ~= "running" and s
      end)
      assert.truthy(st, worker:log())
      assert.are.same({ "exception", "malformed-payload" }, { st.state, st.runs[1].reasonResolved })
      assert.truthy(worker:log():find(c[3], 1, true), worker:log())
    end)
  end

  it("a reclaim answer without credentials is a failed reclaim; the task completes", function()
    fx:set_faults({ seed = 1, rules = { reclaimTask = { badBodyRate = 1, badBody = '{"credentials":null}',
      maxFaults = 2 } } })
    local w2 = env:start_worker({ worker_id = "w2", config = { reclaim_interval = 1 } })
    worker:stop()
    local id = env:create_task({ creds = true, sleep = 4 })
    local st = env:wait_resolved(id, 60)
    assert.are.same({ "completed", "completed" }, { st.state, st.runs[1].reasonResolved })
    assert.truthy(w2:log():find("reclaimTask failed error=\"reclaimTask: answer: credentials: expected", 1, true),
      w2:log())
    assert.is_true((fx:stats().faults.reclaimTask or {}).badBody == 2)
    assert.are.same({ code = 0 }, w2:stop())
  end)

  it("still runs tasks and exits 0", function()
    fx:set_faults(nil)
    worker = env:start_worker({ worker_id = "w3" })
    local id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(id).state)
    assert.are.same({ code = 0 }, worker:stop())
  end)
end)
