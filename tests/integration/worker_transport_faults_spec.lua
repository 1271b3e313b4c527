-- The worker binary against the local Queue's transport faults
-- (docs/queue.md "Fault injection", docs/worker.md "Bad Queue answers"):
-- a claimWork answer cut short after the Queue claimed the task, an upload
-- cut while its body arrives, 409 and 429 answers, and refused
-- connections. The worker survives each, and every task ends resolved
-- with nothing lost.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: transport faults", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 3 })
    env = worker_env.new(fx, "transport")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  local function alive()
    assert.is_nil(worker:wait(0.01))
  end

  it("a claimWork answer cut halfway: the claim expires, the retry run completes", function()
    fx:set_faults({ seed = 1, rules = { claimWork = { truncateRate = 1, maxFaults = 1 } } })
    local id = env:create_task({ files = { ["public/a.txt"] = "a\n" } }, { retries = 2 })
    local st = env:wait_resolved(id, 60)
    fx:set_faults(nil)
    assert.are.same({ "completed", 2 }, { st.state, #st.runs })
    assert.are.same({ "exception", "claim-expired" }, { st.runs[1].state, st.runs[1].reasonResolved })
    assert.are.equal("a\n", assert(env:artifact(id, 1, "public/a.txt")).body)
    assert.truthy(worker:log():find("call=claimWork[^\n]*error=") or worker:log():find("claimWork failed", 1, true),
      worker:log())
    alive()
  end)

  it("an upload cut while its body arrives is retried; the task completes", function()
    fx:set_faults({ seed = 1, rules = { upload = { dropRate = 1, dropAfter = "request-body", maxFaults = 1 } } })
    local id = env:create_task({ random = { ["public/b.bin"] = { size = 50000, seed = 3 } } }, { retries = 0 })
    local st = env:wait_resolved(id)
    fx:set_faults(nil)
    assert.are.equal("completed", st.state)
    assert.are.equal(1, (fx:stats().faults.upload or {}).drop)
    assert.is_true(worker_env.bytes(50000, 3) == assert(env:artifact(id, 0, "public/b.bin")).body)
    alive()
  end)

  it("429 on claimWork: asked again later", function()
    fx:set_faults({ seed = 1, rules = { claimWork = { errorRate = 1, errorStatus = 429, maxFaults = 2 } } })
    local id = env:create_task({}, { retries = 0 })
    assert.are.equal("completed", env:wait_resolved(id).state)
    -- A long poll already under way when the faults were set may bring the
    -- task itself: the 429s then meet the polls after it.
    assert(worker:wait_log('claimWork failed error="claimWork: HTTP 429 TooManyRequests', 30), worker:log())
    fx:set_faults(nil)
    alive()
  end)

  it("409 on reportCompleted: logged, not fatal", function()
    fx:set_faults({ seed = 1, rules = { reportCompleted = { errorRate = 1, errorStatus = 409, maxFaults = 1 } } })
    local id = env:create_task({}, { retries = 0 })
    assert(worker:wait_log("report answered 409: the task is no longer ours"), worker:log())
    fx:set_faults(nil)
    -- the Queue never heard the report: the claim expires
    local st = env:wait_resolved(id, 60)
    assert.are.same({ "exception", "claim-expired" }, { st.runs[1].state, st.runs[1].reasonResolved })
    alive()
  end)

  it("refused connections for 2 s: the worker goes on", function()
    fx:refuse(2000)
    -- the emulator's admin API is refused too, until it listens again
    local id = worker_env.poll(10, function()
      local ok, task_id = pcall(env.create_task, env, {}, { retries = 0 })
      return ok and task_id
    end)
    assert(id, "the emulator did not listen again")
    assert.truthy(worker:log():find("transport connect", 1, true) or worker:log():find("transport closed", 1, true),
      worker:log())
    assert.are.equal("completed", env:wait_resolved(id, 60).state)
    alive()
  end)

  it("exits 0", function()
    assert.are.same({ code = 0 }, worker:stop())
  end)
end)
