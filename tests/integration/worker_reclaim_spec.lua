-- The worker binary against a local Queue whose claims last 60 s: a
-- 3-minute script survives because the worker reclaims the task well
-- before each claim lapses, and the script finds fresh temporary
-- credentials on fd 3 (docs/worker.md, "Reclaim"). The one slow spec.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: a 3-minute task under 60-second claims", function()
  local fx, env, worker, task_id, status

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 60 })
    env = worker_env.new(fx, "reclaim")
    worker = env:start_worker()
    task_id = env:create_task({ creds = true, sleep = 180 }, { retries = 0 })
    status = env:wait_resolved(task_id, 300)
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("completes the task in its first run", function()
    assert.are.same({ "completed", 1, "completed" }, { status.state, #status.runs, status.runs[1].reasonResolved })
    local script = env:script_state(task_id, 0)
    -- the script really ran past three claim periods
    assert.is_true(script.finish - script.start >= 180)
  end)

  it("reclaimed at least three times", function()
    assert.is_true((fx:stats().requests.reclaimTask or 0) >= 3)
    local n = 0
    for _ in worker:log():gmatch("DEBUG %[" .. task_id:gsub("%p", "%%%0") .. "%] reclaimed taken_until=") do
      n = n + 1
    end
    assert.is_true(n >= 3, "reclaims logged: " .. n)
  end)

  it("rewrote the credentials on fd 3: the script read other ones at the end", function()
    local creds = assert(env:artifact(task_id, 0, "public/creds.json"))
    local c = require("sw.json").decode(creds.body)
    local prefix = "^task%-client/" .. task_id:gsub("%p", "%%%0") .. "/0/on/wg%-1/w1/until/%d+%.?%d*$"
    assert.truthy(c.start.clientId:match(prefix), c.start.clientId)
    assert.truthy(c.finish.clientId:match(prefix), c.finish.clientId)
    assert.are_not.equal(c.start.clientId, c.finish.clientId)
    assert.are_not.equal(c.start.sha256, c.finish.sha256)
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
