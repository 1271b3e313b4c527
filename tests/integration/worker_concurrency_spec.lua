-- Three worker binaries on one task queue of the local Queue with 60
-- tasks: every task is claimed, run and resolved exactly once, each by one
-- worker, with its own artifacts (no worker sees another's files).
local json = require("sw.json")
local slugid = require("sw.slugid")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local N = 60
local WORKERS = { "w1", "w2", "w3" }

describe("worker: three workers, one task queue", function()
  local fx, env
  local ids = {}
  local workers

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "three")
    for i = 1, N do
      local id = slugid.nice()
      ids[i] = id
      env:create_task({ files = { ["public/id.txt"] = id .. "\n" } }, { task_id = id, retries = 0 })
    end
    workers = env:start_workers(WORKERS)
    env:wait_all(ids, 120)
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("resolves every task exactly once: one run, completed", function()
    local tasks_by_worker = {}
    for _, id in ipairs(ids) do
      local st = fx:task_info(id).status
      assert.are.same({ id, "completed", 1, "completed" },
        { id, st.state, #st.runs, st.runs[1].reasonResolved }, env:task_log(id))
      local wid = st.runs[1].workerId
      tasks_by_worker[wid] = (tasks_by_worker[wid] or 0) + 1
    end
    local total = 0
    for wid, n in pairs(tasks_by_worker) do
      assert.truthy(workers[wid], "run by an unknown worker " .. wid)
      total = total + n
    end
    assert.are.equal(N, total)
    -- The Queue handed out exactly N claims.
    local claims = 0
    for _, w in pairs(workers) do
      for _ in w:log():gmatch("INFO claimed task ") do
        claims = claims + 1
      end
    end
    assert.are.equal(N, claims)
  end)

  it("uploads each task's own files, signed by the worker that ran it", function()
    for _, id in ipairs(ids) do
      local st = fx:task_info(id).status
      assert.are.equal(id .. "\n", assert(env:artifact(id, 0, "public/id.txt")).body)
      local cot = json.decode(assert(env:artifact(id, 0, "public/chain-of-trust.json")).body)
      assert.are.same({ id, st.runs[1].workerId }, { cot.taskId, cot.workerId })
      local names = {}
      for name in pairs(cot.artifacts) do
        names[#names + 1] = name
      end
      table.sort(names)
      assert.are.same({ "public/id.txt", "public/logs/live_backing.log" }, names)
    end
  end)

  it("every worker exits 0 on SIGTERM; nothing the Queue's schemas refuse", function()
    for _, name in ipairs(WORKERS) do
      assert.are.same({ code = 0 }, workers[name]:stop())
    end
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
